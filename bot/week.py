"""The agent's week in numbers: what the weekly digest shows and the draft 周工作总结 is written from.

A week is the agent's local Monday–Sunday (in their zone, so a DST change inside it is no special case: days
are local dates, instants are compared in UTC through `bot.timezones.to_utc`). Everything here is counted from
what the agent already told the bot — reflections, clients, the contact log, follow-ups — and from nothing
else: no other agent's rows, no client phone numbers (the draft never needs one).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta


@dataclass(frozen=True)
class Week:
    """A local Monday–Sunday."""

    start: date  # the Monday

    @property
    def end(self) -> date:
        """The Sunday."""
        return self.start + timedelta(days=6)

    @property
    def days(self) -> list[date]:
        return [self.start + timedelta(days=n) for n in range(7)]

    def before(self) -> Week:
        return Week(self.start - timedelta(days=7))

    def after(self) -> Week:
        return Week(self.start + timedelta(days=7))

    @staticmethod
    def containing(day: date) -> Week:
        return Week(day - timedelta(days=day.weekday()))


@dataclass(frozen=True)
class Day:
    """One day of the chart: contacts logged, follow-ups done, and the mood the reflection gave (1–5)."""

    day: date
    contacts: int = 0
    follow_ups_done: int = 0
    mood: int | None = None


@dataclass(frozen=True)
class Numbers:
    """The counts of one week (`bot.week.numbers`); every count is the agent's own."""

    week: Week
    reflections_done: int = 0
    streak: int = 0  # the reflection streak at the week's end (or now, for the week in progress)
    clients_received: int = 0  # the sum of the daily answers "how many clients today"
    new_clients: int = 0  # registered in the week (archived ones included)
    contacts: dict[str, int] = field(default_factory=dict)  # ContactKind → count, kinds with none left out
    follow_ups_done: int = 0
    done_on_time: int = 0  # done by the end of the local day it was due
    done_late: int = 0
    still_overdue: int = 0  # due in the week, before now, and still open
    stage_moves: dict[str, int] = field(default_factory=dict)  # Stage moved to → count
    mood_average: float | None = None  # over the days that have a mood
    days: tuple[Day, ...] = ()  # Monday … Sunday

    @property
    def contacts_total(self) -> int:
        return sum(self.contacts.values())

    @property
    def empty(self) -> bool:
        """Nothing at all happened: the digest is one short line, the draft says so honestly."""
        return not (
            self.reflections_done
            or self.clients_received
            or self.new_clients
            or self.contacts_total
            or self.follow_ups_done
            or self.still_overdue
            or self.stage_moves
        )


@dataclass(frozen=True)
class Written:
    """A line the agent wrote, as written, and the local day it was about."""

    day: date
    text: str


@dataclass(frozen=True)
class Booked:
    """A follow-up already booked: when (local), for which client (name only), and its note."""

    at: datetime  # local, aware
    client: str
    note: str | None


@dataclass(frozen=True)
class TipChoice:
    """The one tip for next week, and why (a reason key of the `digest` catalog: `digest.reason.<reason>`)."""

    tip_id: str
    topic: str
    reason: str


@dataclass(frozen=True)
class Report:
    """Everything the digest and the draft say about one week, with the week before beside it."""

    agent_id: int
    language: str
    zone: str
    now: datetime  # when it was made (UTC)
    this: Numbers
    last: Numbers
    # Chosen, not invented: at most three per section, the most recent and the longest first, as written.
    lessons: tuple[Written, ...] = ()
    went_well: tuple[Written, ...] = ()
    to_improve: tuple[Written, ...] = ()
    plans: tuple[Written, ...] = ()  # tomorrow-plans still open (the latest reflection's, then others)
    booked: tuple[Booked, ...] = ()  # follow-ups booked in the week after `this`
    overdue_clients: tuple[str, ...] = ()  # names of clients whose follow-up is still overdue (at most three)
    tip: TipChoice | None = None
