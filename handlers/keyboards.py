"""Inline keyboards and their callback data: packed as `prefix:action:value…`, checked against Telegram's 64 bytes.

Callback data comes back from Telegram as any string at all (an old button, a forged press), so it is read by one
checked codec: a `Layout` names the prefix, the action and a typed `Field` for each part after them (a bounded
ASCII number, an ISO day, a choice from a set, a short ASCII token…). `Layout.decode` never raises: it returns
the typed values, each within its bounds, or None, and the handler then answers None with the stale-button notice.
Trailing fields may be left out when they have a default (`Trailing`), so buttons already in chats keep working.

Times travel as `21.30` (no colon) so that the separator stays unambiguous.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, time
from typing import Any, Generic, TypeVar, cast, overload

from telegram import InlineKeyboardButton, InlineKeyboardMarkup

from bot.i18n import LANGUAGES, t
from bot.preferences import format_time, weekday_name
from bot.timezones import COMMON_ZONES

MAX_CALLBACK_BYTES = 64
SEPARATOR = ":"
CHECK = "✓ "

T = TypeVar("T")
A = TypeVar("A")
B = TypeVar("B")
C = TypeVar("C")
D = TypeVar("D")


def pack(*parts: object) -> str:
    data = SEPARATOR.join(str(part) for part in parts)
    if len(data.encode()) > MAX_CALLBACK_BYTES:
        raise ValueError(f"callback data over {MAX_CALLBACK_BYTES} bytes: {data!r}")
    return data


def parts_of(data: object) -> list[str] | None:
    """The fields of callback data, or None when it cannot be ours (not text, empty, over 64 bytes, bad UTF-8)."""
    if not isinstance(data, str) or not data:
        return None
    try:
        size = len(data.encode())
    except UnicodeEncodeError:  # a lone surrogate: no button of ours carries one
        return None
    return data.split(SEPARATOR) if size <= MAX_CALLBACK_BYTES else None


def action_of(data: object) -> str | None:
    """The second field (the action), to choose which layout reads the rest; None if there is none."""
    parts = parts_of(data)
    return parts[1] if parts is not None and len(parts) > 1 else None


# -- fields ---------------------------------------------------------------------------------------------------


class Field(Generic[T]):
    """One part of callback data: `read` gives its typed value, or None if the text is not one (never raises)."""

    def read(self, raw: str) -> T | None:
        raise NotImplementedError


@dataclass(frozen=True)
class Number(Field[int]):
    """A whole number in [low, high], written with ASCII digits only: `"²".isdigit()` is True, yet int() refuses
    it, and an unbounded one overflows a date or an SQL integer."""

    low: int
    high: int

    def read(self, raw: str) -> int | None:
        if not (raw.isascii() and raw.isdigit()) or len(raw) > len(str(self.high)):
            return None
        value = int(raw)
        return value if self.low <= value <= self.high else None


_ISO_DAY = re.compile(r"\d{4}-\d{2}-\d{2}", re.ASCII)


@dataclass(frozen=True)
class Day(Field[date]):
    """A calendar day written YYYY-MM-DD (ASCII), between `first` and `last`."""

    first: date = date(2000, 1, 1)
    last: date = date(2999, 12, 31)

    def read(self, raw: str) -> date | None:
        if not _ISO_DAY.fullmatch(raw):
            return None
        try:
            day = date(int(raw[:4]), int(raw[5:7]), int(raw[8:]))
        except ValueError:  # 2026-02-30
            return None
        return day if self.first <= day <= self.last else None


_CLOCK = re.compile(r"(\d{2})\.(\d{2})", re.ASCII)


@dataclass(frozen=True)
class Clock(Field[time]):
    """A time of day as `time_value` writes it (`21.30`)."""

    def read(self, raw: str) -> time | None:
        found = _CLOCK.fullmatch(raw)
        if found is None:
            return None
        hour, minute = int(found.group(1)), int(found.group(2))
        return time(hour, minute) if hour < 24 and minute < 60 else None


class Choice(Field[str]):
    """One of a fixed set of words."""

    def __init__(self, *values: str) -> None:
        self.values = frozenset(values)

    def read(self, raw: str) -> str | None:
        return raw if raw in self.values else None


_TOKEN = re.compile(r"[A-Za-z0-9_.+/\-]+", re.ASCII)


@dataclass(frozen=True)
class Token(Field[str]):
    """A short ASCII word (a tip id, a topic id, a zone name): letters, digits and `_ . + / -`; what it names is
    checked again where it is used."""

    longest: int = 40

    def read(self, raw: str) -> str | None:
        return raw if len(raw) <= self.longest and _TOKEN.fullmatch(raw) else None


@dataclass(frozen=True)
class Either(Field[Any]):
    """The first of two fields that reads the text (e.g. `-` or a day)."""

    first: Field[Any]
    second: Field[Any]

    def read(self, raw: str) -> Any:
        found = self.first.read(raw)
        return found if found is not None else self.second.read(raw)


@dataclass(frozen=True)
class Trailing(Field[T]):
    """A trailing field that older or shorter buttons leave out; `default` stands for it then."""

    field: Field[T]
    default: T

    def read(self, raw: str) -> T | None:
        return self.field.read(raw)


# -- layouts --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Layout(Generic[T]):
    """`prefix:action:<fields…>` for one action (or a set of actions sharing their fields)."""

    prefix: str
    actions: frozenset[str]
    fields: tuple[Field[Any], ...]
    sizes: frozenset[int] | None = None  # how many fields may be given (default: any, down to the optional ones)

    def decode(self, data: object) -> T | None:
        """The action and the typed values, or None for anything else; never raises."""
        parts = parts_of(data)
        if parts is None or len(parts) < 2 or parts[0] != self.prefix or parts[1] not in self.actions:
            return None
        given = parts[2:]
        required = sum(not isinstance(field, Trailing) for field in self.fields)
        sizes = self.sizes or frozenset(range(required, len(self.fields) + 1))
        if len(given) not in sizes or len(given) > len(self.fields):
            return None
        values: list[Any] = [parts[1]]
        for index, field in enumerate(self.fields):
            if index >= len(given):
                if not isinstance(field, Trailing):
                    return None
                values.append(field.default)
                continue
            value = field.read(given[index])
            if value is None:
                return None
            values.append(value)
        return cast(T, tuple(values))


Actions = str | Sequence[str]


def _actions(actions: Actions) -> frozenset[str]:
    return frozenset([actions] if isinstance(actions, str) else actions)


@overload
def layout(prefix: str, actions: Actions, /, *, sizes: Sequence[int] | None = None) -> Layout[tuple[str]]: ...
@overload
def layout(
    prefix: str, actions: Actions, a: Field[A], /, *, sizes: Sequence[int] | None = None
) -> Layout[tuple[str, A]]: ...
@overload
def layout(
    prefix: str, actions: Actions, a: Field[A], b: Field[B], /, *, sizes: Sequence[int] | None = None
) -> Layout[tuple[str, A, B]]: ...
@overload
def layout(
    prefix: str, actions: Actions, a: Field[A], b: Field[B], c: Field[C], /, *, sizes: Sequence[int] | None = None
) -> Layout[tuple[str, A, B, C]]: ...
@overload
def layout(
    prefix: str,
    actions: Actions,
    a: Field[A],
    b: Field[B],
    c: Field[C],
    d: Field[D],
    /,
    *,
    sizes: Sequence[int] | None = None,
) -> Layout[tuple[str, A, B, C, D]]: ...
def layout(prefix: str, actions: Actions, /, *fields: Field[Any], sizes: Sequence[int] | None = None) -> Layout[Any]:
    """The layout of `prefix:<one of actions>:<fields…>`; its `decode` gives (action, *typed values)."""
    return Layout(prefix, _actions(actions), tuple(fields), frozenset(sizes) if sizes is not None else None)


def time_value(at: time) -> str:
    return f"{at.hour:02d}.{at.minute:02d}"


def inline(rows: Sequence[Sequence[tuple[str, str]]]) -> list[list[InlineKeyboardButton]]:
    """Buttons given as (label, callback data), the way the domain describes them (`bot.scheduler.Outgoing`)."""
    return [[InlineKeyboardButton(label, callback_data=data) for label, data in row] for row in rows]


def button(text: str, *parts: object) -> InlineKeyboardButton:
    return InlineKeyboardButton(text, callback_data=pack(*parts))


def grid(buttons: Sequence[InlineKeyboardButton], per_row: int) -> list[list[InlineKeyboardButton]]:
    return [list(buttons[i : i + per_row]) for i in range(0, len(buttons), per_row)]


def mark(label: str, chosen: bool) -> str:
    return CHECK + label if chosen else label


def language_rows(prefix: str, current: str) -> list[list[InlineKeyboardButton]]:
    # Each language is named in itself, so every agent can find theirs.
    return [[button(mark(t(code, "language.name"), code == current), prefix, "language", code) for code in LANGUAGES]]


def timezone_rows(prefix: str, lang: str, current: str) -> list[list[InlineKeyboardButton]]:
    buttons = [
        button(mark(t(lang, f"zone.{name}"), name == current), prefix, "timezone", name) for name in COMMON_ZONES
    ]
    return grid(buttons, 3)


def time_rows(
    prefix: str, step: str, options: Sequence[time], current: time | None
) -> list[list[InlineKeyboardButton]]:
    buttons = [button(mark(format_time(at), at == current), prefix, step, time_value(at)) for at in options]
    return grid(buttons, 3)


def weekday_rows(
    prefix: str, step: str, lang: str, days: Sequence[int], current: int
) -> list[list[InlineKeyboardButton]]:
    buttons = [button(mark(weekday_name(day, lang), day == current), prefix, step, day) for day in days]
    return grid(buttons, 4)


def workday_rows(prefix: str, lang: str, chosen: str) -> list[list[InlineKeyboardButton]]:
    days = [button(mark(weekday_name(day, lang), str(day) in chosen), prefix, "workdays", day) for day in range(1, 8)]
    return [*grid(days, 4), [button(t(lang, "button.done"), prefix, "workdays", "done")]]


def markup(rows: list[list[InlineKeyboardButton]]) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup(rows)


def paging_row(labels: tuple[str, str], page: int, pages: int, *parts: object) -> list[list[InlineKeyboardButton]]:
    """◀️ / ▶️ for a paged list (none on a single page); the page number is the last callback field."""
    previous, following = labels
    row = []
    if page > 0:
        row.append(button(previous, *parts, page - 1))
    if page < pages - 1:
        row.append(button(following, *parts, page + 1))
    return [row] if row else []
