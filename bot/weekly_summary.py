"""The draft 周工作总结: the weekly work summary an agent hands their manager, written from a `bot.week.Report`.

Pure: no database, no Telegram. Every sentence is a template from `content/summary/<language>.yaml` filled with the
report's numbers, or a line the agent wrote, as written (lessons, what went well, what to improve, plans), or a
follow-up they booked. Nothing is invented: a number that is zero is left out, a section with nothing in it is
left out (the opening and the plan always stay), and a thin week gets a short honest draft. No phone number
survives: one typed into a reflection or a note becomes "***" (`redact`). docs/digest-summary.md says where each
line comes from.
"""

from __future__ import annotations

import html
import io
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import date
from functools import cache
from typing import Any

import phonenumbers
import yaml
from pydantic import BaseModel, ConfigDict, Field, model_validator

from bot.i18n import EN, LANGUAGES, ZH_HANS, ZH_HANT, derived_traditional, placeholders, plural_count, plural_rule
from bot.statuses import CONTACT_KINDS, STAGES
from bot.text import clean
from bot.week import Numbers, Report, Week, Written
from content import content_path

REDACTED = "***"
PHONE_REGION = "CN"
# A phone number phonenumbers does not recognise (a typo, a short landline): seven digits or more, allowing single
# spaces, dashes or dots between them. Dates written as 2026-12-01 and long prices are caught too: privacy first.
_DIGIT_RUN = re.compile(r"\+?\d(?:[ \-.]?\d){6,}")
# What XML 1.0 (and so a .docx) cannot hold, beyond the controls `bot.text.clean` already drops.
_NOT_XML = re.compile("[\ufffe\uffff\ud800-\udfff]")

# Section keys, in the seeds' order.
OPENING, DID, LEARNED, SHORT, PLAN = "opening", "did", "learned", "short", "plan"
# A week whose counts add up to this or less is thin: the opening says little was recorded.
THIN = 2
# The fonts a .docx asks for: Latin, and East Asian (Chinese shows in Word and WPS; both fall back to 宋体).
LATIN_FONT = "Calibri"
EAST_ASIAN_FONT = "Microsoft YaHei"
WORD_LANGUAGE = {ZH_HANS: "zh-CN", ZH_HANT: "zh-TW", EN: "en-GB"}


# The names each template is filled with (dotted path in the YAML → names). A template must use all of them, so a
# translation can never drop a number; `dates.range_same_month` may leave out `start` or `start_day` (the
# languages write a range in one month differently).
PLACEHOLDERS: dict[str, frozenset[str]] = {
    "title": frozenset({"range"}),
    "dates.day": frozenset({"day", "month"}),
    "dates.range": frozenset({"start", "end"}),
    "dates.range_same_month": frozenset({"start", "start_day", "end"}),
    "opening.facts": frozenset({"range", "facts"}),
    "opening.thin": frozenset({"range", "facts"}),
    "opening.empty": frozenset({"range"}),
    **{f"facts.{name}": frozenset({"count"}) for name in ("reflections", "clients_received", "new_clients")},
    **{f"facts.{name}": frozenset({"count"}) for name in ("contacts", "follow_ups", "stage_moves", "still_overdue")},
    **{f"did.{name}": frozenset({"count", "last"}) for name in ("reflections", "clients_received", "new_clients")},
    "did.streak": frozenset({"count"}),
    "did.contacts": frozenset({"count", "last", "kinds"}),
    "did.follow_ups": frozenset({"count", "last", "split"}),
    "did.on_time": frozenset({"count"}),
    "did.late": frozenset({"count"}),
    "did.move": frozenset({"count", "stage"}),
    "did.follow_up_split": frozenset({"parts"}),
    "did.stage_moves": frozenset({"moves"}),
    "did.last_week": frozenset({"count"}),
    **{f"kinds.{kind.value}": frozenset({"count"}) for kind in CONTACT_KINDS},
    "short.overdue": frozenset({"count"}),
    "short.overdue_names": frozenset({"count", "names"}),
    "short.overdue_only_names": frozenset({"names"}),
    "plan.booked": frozenset({"weekday", "time", "client", "note"}),
    "plan.booked_no_note": frozenset({"weekday", "time", "client"}),
    "plan.tip": frozenset({"tip"}),
}
OPTIONAL_PLACEHOLDERS: dict[str, frozenset[str]] = {"dates.range_same_month": frozenset({"start", "start_day"})}


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


Plural = list[str]  # one form per plural category of the language


class ListWords(_Strict):
    sep: str
    last: str


class Dates(_Strict):
    months: list[str] = Field(min_length=12, max_length=12)
    weekdays: list[str] = Field(min_length=7, max_length=7)
    day: str
    range: str
    range_same_month: str


class Headings(_Strict):
    did: str
    learned: str
    short: str
    plan: str


class Opening(_Strict):
    facts: str
    thin: str
    empty: str


class Facts(_Strict):
    reflections: Plural
    clients_received: Plural
    new_clients: Plural
    contacts: Plural
    follow_ups: Plural
    stage_moves: Plural
    still_overdue: Plural


class Did(_Strict):
    reflections: Plural
    streak: Plural
    clients_received: Plural
    new_clients: Plural
    contacts: Plural
    follow_ups: Plural
    on_time: Plural
    late: Plural
    move: Plural
    follow_up_split: str
    stage_moves: str
    last_week: str


class Kinds(_Strict):
    call: Plural
    message: Plural
    visit: Plural
    viewing: Plural


class Stages(_Strict):
    new: str
    interested: str
    viewing: str
    deposit: str
    closed: str
    lost: str


class Short(_Strict):
    overdue: Plural
    overdue_names: Plural
    overdue_only_names: str


class Plan(_Strict):
    booked: str
    booked_no_note: str
    tip: str
    empty: str


class Template(_Strict):
    """One language's words for the draft: `content/summary/<language>.yaml`."""

    title: str
    file_stem: str = Field(min_length=1)
    list: ListWords
    dates: Dates
    headings: Headings
    opening: Opening
    facts: Facts
    did: Did
    kinds: Kinds
    stages: Stages
    short: Short
    plan: Plan

    @model_validator(mode="after")
    def _placeholders_known(self) -> Template:
        for path, text in strings(self.model_dump()):
            used = placeholders(text)
            allowed = PLACEHOLDERS.get(path, frozenset())
            if unknown := used - allowed:
                raise ValueError(f"{path}: unknown placeholder(s) {sorted(unknown)} in {text!r}")
            if missing := allowed - OPTIONAL_PLACEHOLDERS.get(path, frozenset()) - used:
                raise ValueError(f"{path}: placeholder(s) {sorted(missing)} missing from {text!r}")
        return self


def strings(tree: Any, path: str = "") -> Iterator[tuple[str, str]]:
    """Every string of a template tree with its dotted path (a list's items share their list's path)."""
    if isinstance(tree, dict):
        for key, value in tree.items():
            yield from strings(value, f"{path}.{key}" if path else str(key))
    elif isinstance(tree, list):
        for value in tree:
            yield from strings(value, path)
    elif isinstance(tree, str):
        yield path, tree


def _plural_lists(tree: Any, path: str = "") -> Iterator[tuple[str, list[str]]]:
    if isinstance(tree, dict):
        for key, value in tree.items():
            yield from _plural_lists(value, f"{path}.{key}" if path else str(key))
    elif isinstance(tree, list) and not path.startswith("dates."):
        yield path, tree


def _read(language: str) -> dict[str, Any] | None:
    node = content_path("summary", f"{language}.yaml")
    if not node.is_file():
        return None
    data = yaml.safe_load(node.read_text(encoding="utf-8"))
    if not isinstance(data, dict):
        raise ValueError(f"content/summary/{language}.yaml is not a mapping")
    return data


def _derive_traditional(hans: dict[str, Any]) -> dict[str, Any]:
    """zh-Hans words in Traditional script, the same way as the catalogs (OpenCC s2twp, then the glossary)."""
    flat: dict[str, str] = {}

    def collect(tree: Any, path: str) -> None:
        if isinstance(tree, dict):
            for key, value in tree.items():
                collect(value, f"{path}/{key}")
        elif isinstance(tree, list):
            for n, value in enumerate(tree):
                collect(value, f"{path}/{n}")
        else:
            flat[path] = str(tree)

    def rebuild(tree: Any, path: str) -> Any:
        if isinstance(tree, dict):
            return {key: rebuild(value, f"{path}/{key}") for key, value in tree.items()}
        if isinstance(tree, list):
            return [rebuild(value, f"{path}/{n}") for n, value in enumerate(tree)]
        return derived[path]

    collect(hans, "")
    derived = derived_traditional(flat)
    result: dict[str, Any] = rebuild(hans, "")
    return result


def _merge(base: dict[str, Any], overrides: dict[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in overrides.items():
        inner = isinstance(value, dict) and isinstance(merged.get(key), dict)
        merged[key] = _merge(merged[key], value) if inner else value
    return merged


def load_template(language: str, data: dict[str, Any]) -> Template:
    """Validate one language's words: the schema, the placeholders, and one form per plural category."""
    found = Template.model_validate(data)
    forms = plural_count(language)
    for path, values in _plural_lists(found.model_dump()):
        if len(values) != forms:
            raise ValueError(f"{path}: {language} has {forms} plural form(s), the template gives {len(values)}")
    return found


@cache
def template(language: str) -> Template:
    """The words of `language` (zh-Hant: derived from zh-Hans, then its own overrides), validated once."""
    if language not in LANGUAGES:
        language = ZH_HANS
    if language == ZH_HANT:
        hans = _read(ZH_HANS)
        assert hans is not None, "content/summary/zh-Hans.yaml is missing"
        data = _merge(_derive_traditional(hans), _read(ZH_HANT) or {})
    else:
        found = _read(language)
        if found is None:
            raise FileNotFoundError(f"content/summary/{language}.yaml is missing")
        data = found
    return load_template(language, data)


# ---------------------------------------------------------------------------------------------------------------
# Privacy


def redact(text: str) -> str:
    """`text` without phone numbers: every number phonenumbers finds (region CN), then any 7+ digit run, → ***."""
    spans = [(match.start, match.end) for match in phonenumbers.PhoneNumberMatcher(text, PHONE_REGION)]
    for start, end in reversed(spans):
        text = text[:start] + REDACTED + text[end:]
    return _DIGIT_RUN.sub(REDACTED, text)


def _own(text: str) -> str:
    """A line the agent wrote, as written: without phone numbers, characters no document can hold, outer spaces."""
    return redact(_NOT_XML.sub("", clean(text))).strip()


# ---------------------------------------------------------------------------------------------------------------
# The draft


@dataclass(frozen=True)
class Section:
    """One part of the draft: a heading (none for the opening), prose paragraphs, and bullet lines."""

    key: str
    heading: str | None
    paragraphs: tuple[str, ...] = ()
    bullets: tuple[str, ...] = ()


@dataclass(frozen=True)
class Draft:
    """The weekly work summary, ready to render as Markdown, .docx or Telegram messages."""

    language: str
    week: Week
    title: str
    sections: tuple[Section, ...]

    def section(self, key: str) -> Section | None:
        return next((s for s in self.sections if s.key == key), None)


def draft(report: Report, tip_text: str | None = None) -> Draft:
    """The draft of `report`'s week, in the report's language."""
    language = report.language if report.language in LANGUAGES else ZH_HANS
    words = _Words(language, template(language))
    this = report.this
    sections = [Section(OPENING, None, paragraphs=(words.opening(this),))]
    did = words.did(this, report.last)
    if did:
        sections.append(Section(DID, words.tpl.headings.did, bullets=tuple(did)))
    learned = _written(report.lessons, report.went_well)
    if learned:
        sections.append(Section(LEARNED, words.tpl.headings.learned, bullets=learned))
    short = (*_written(report.to_improve), *words.overdue(this.still_overdue, report.overdue_clients))
    if short:
        sections.append(Section(SHORT, words.tpl.headings.short, bullets=short))
    sections.append(Section(PLAN, words.tpl.headings.plan, bullets=words.plan(report, tip_text)))
    return Draft(language, this.week, words.title(this.week), tuple(sections))


def _written(*groups: Sequence[Written]) -> tuple[str, ...]:
    """The agent's lines, as written and in the report's order, each once."""
    lines: list[str] = []
    for group in groups:
        for written in group:
            text = _own(written.text)
            if text and text not in lines:
                lines.append(text)
    return tuple(lines)


class _Words:
    """One language's template, filled in."""

    def __init__(self, language: str, tpl: Template) -> None:
        self.language = language
        self.tpl = tpl

    def plural(self, forms: Sequence[str], count: int, **values: str) -> str:
        form = forms[min(plural_rule(self.language)(abs(count)), len(forms) - 1)]
        return form.format(count=count, **values)

    def join(self, items: Sequence[str]) -> str:
        words = self.tpl.list
        if len(items) <= 1:
            return "".join(items)
        return words.sep.join(items[:-1]) + words.last + items[-1]

    def day(self, day: date) -> str:
        return self.tpl.dates.day.format(day=day.day, month=self.tpl.dates.months[day.month - 1])

    def range(self, week: Week) -> str:
        dates = self.tpl.dates
        start, end = self.day(week.start), self.day(week.end)
        if week.start.month == week.end.month:
            return dates.range_same_month.format(start=start, start_day=week.start.day, end=end)
        return dates.range.format(start=start, end=end)

    def title(self, week: Week) -> str:
        return self.tpl.title.format(range=self.range(week))

    def opening(self, this: Numbers) -> str:
        facts = self.tpl.facts
        counted = [
            (facts.reflections, this.reflections_done),
            (facts.clients_received, this.clients_received),
            (facts.new_clients, this.new_clients),
            (facts.contacts, this.contacts_total),
            (facts.follow_ups, this.follow_ups_done),
            (facts.stage_moves, sum(this.stage_moves.values())),
        ]
        found = [self.plural(forms, n) for forms, n in counted if n]
        week = self.range(this.week)
        if this.empty:
            return self.tpl.opening.empty.format(range=week)
        if not found:  # only follow-ups left overdue: that is what the week holds
            found = [self.plural(facts.still_overdue, this.still_overdue)]
        activity = this.reflections_done + this.new_clients + this.contacts_total + this.follow_ups_done
        activity += (1 if this.clients_received else 0) + sum(this.stage_moves.values())
        chosen = self.tpl.opening.thin if activity <= THIN else self.tpl.opening.facts
        return chosen.format(range=week, facts=self.join(found))

    def did(self, this: Numbers, last: Numbers) -> list[str]:
        did = self.tpl.did
        compare = not last.empty  # last week beside this one, when there was a last week to speak of

        def was(n: int) -> str:
            return did.last_week.format(count=n) if compare else ""

        lines: list[str] = []
        if this.reflections_done:
            lines.append(self.plural(did.reflections, this.reflections_done, last=was(last.reflections_done)))
        if this.streak:
            lines.append(self.plural(did.streak, this.streak))
        if this.clients_received:
            lines.append(self.plural(did.clients_received, this.clients_received, last=was(last.clients_received)))
        if this.new_clients:
            lines.append(self.plural(did.new_clients, this.new_clients, last=was(last.new_clients)))
        if this.contacts_total:
            kinds = self.tpl.kinds.model_dump()
            parts = [self.plural(kinds[k.value], this.contacts[k.value]) for k in CONTACT_KINDS if this.contacts.get(k)]
            lines.append(
                self.plural(did.contacts, this.contacts_total, last=was(last.contacts_total), kinds=self.join(parts))
            )
        if this.follow_ups_done:
            parts = [self.plural(did.on_time, this.done_on_time)] if this.done_on_time else []
            parts += [self.plural(did.late, this.done_late)] if this.done_late else []
            split = did.follow_up_split.format(parts=self.join(parts)) if parts else ""
            lines.append(self.plural(did.follow_ups, this.follow_ups_done, last=was(last.follow_ups_done), split=split))
        stages = self.tpl.stages.model_dump()
        moves = [
            self.plural(did.move, this.stage_moves[s.value], stage=stages[s.value])
            for s in STAGES
            if this.stage_moves.get(s.value)
        ]
        if moves:
            lines.append(did.stage_moves.format(moves=self.join(moves)))
        return lines

    def overdue(self, count: int, clients: Sequence[str]) -> tuple[str, ...]:
        short = self.tpl.short
        names = self.join([name for name in (_own(c) for c in clients) if name])
        if count and names:
            return (self.plural(short.overdue_names, count, names=names),)
        if count:
            return (self.plural(short.overdue, count),)
        if names:
            return (short.overdue_only_names.format(names=names),)
        return ()

    def plan(self, report: Report, tip_text: str | None) -> tuple[str, ...]:
        plan = self.tpl.plan
        lines = list(_written(report.plans))
        for booked in sorted(report.booked, key=lambda b: b.at):
            weekday = self.tpl.dates.weekdays[booked.at.weekday()]
            time, client, note = booked.at.strftime("%H:%M"), _own(booked.client), _own(booked.note or "")
            if note:
                lines.append(plan.booked.format(weekday=weekday, time=time, client=client, note=note))
            else:
                lines.append(plan.booked_no_note.format(weekday=weekday, time=time, client=client))
        tip = _own(tip_text or "")
        if tip:
            lines.append(plan.tip.format(tip=tip))
        return tuple(lines) or (plan.empty,)


# ---------------------------------------------------------------------------------------------------------------
# Renderings


def file_name(draft: Draft, extension: str) -> str:
    """周工作总结_2026-11-30.docx, weekly-summary_2026-11-30.md: the Monday of the week, in the draft's language."""
    return f"{template(draft.language).file_stem}_{draft.week.start.isoformat()}.{extension.lstrip('.')}"


def as_markdown(draft: Draft) -> str:
    """`# title`, `## heading` per section, prose paragraphs and `- ` bullets (a line break inside one indented)."""
    blocks = [f"# {draft.title}"]
    for section in draft.sections:
        if section.heading:
            blocks.append(f"## {section.heading}")
        blocks.extend(section.paragraphs)
        if section.bullets:
            blocks.append("\n".join("- " + bullet.replace("\n", "\n  ") for bullet in section.bullets))
    return "\n\n".join(blocks) + "\n"


def as_docx(draft: Draft) -> bytes:
    """A Word document the agent can edit and hand in: Heading 1 title, Heading 2 sections, List Bullet lines.

    python-docx (and lxml under it, ~10 MiB) is imported here, on the first draft, not by the bot at start-up."""
    from docx import Document

    document = Document()
    _set_fonts(document, draft.language)
    document.core_properties.title = draft.title
    document.add_heading(draft.title, level=1)
    for section in draft.sections:
        if section.heading:
            document.add_heading(section.heading, level=2)
        for paragraph in section.paragraphs:
            document.add_paragraph(paragraph)
        for bullet in section.bullets:
            document.add_paragraph(bullet, style="List Bullet")
    buffer = io.BytesIO()
    document.save(buffer)
    return buffer.getvalue()


def _set_fonts(document: Any, language: str) -> None:
    """Name an East Asian font on Normal and the headings, so Chinese shows in Word and WPS, not as boxes."""
    from docx.oxml.ns import qn

    for name in ("Normal", "Title", "Heading 1", "Heading 2"):
        style = document.styles[name]
        if name == "Normal":
            style.font.name = LATIN_FONT
        r_pr = style.element.get_or_add_rPr()
        fonts = r_pr.get_or_add_rFonts()
        # A theme font wins over a named one: the headings' theme East Asian font is dropped.
        for attribute in ("w:eastAsiaTheme", "w:hint"):
            fonts.attrib.pop(qn(attribute), None)
        fonts.set(qn("w:eastAsia"), EAST_ASIAN_FONT)
        if name == "Normal":
            lang = r_pr.find(qn("w:lang"))
            if lang is None:
                lang = r_pr.makeelement(qn("w:lang"), {})
                r_pr.append(lang)
            lang.set(qn("w:eastAsia"), WORD_LANGUAGE[ZH_HANT if language == ZH_HANT else ZH_HANS])
            lang.set(qn("w:val"), WORD_LANGUAGE[language])


def _utf16(text: str) -> int:
    """A message's length as Telegram counts it (UTF-16 code units): never less than `len`."""
    return len(text.encode("utf-16-le")) // 2


def _lines(draft: Draft) -> list[list[str]]:
    """The draft as Telegram HTML, one list of lines per block (the title, then each section)."""
    blocks = [[f"<b>{html.escape(draft.title, quote=False)}</b>"]]
    for section in draft.sections:
        lines = [f"<b>{html.escape(section.heading, quote=False)}</b>"] if section.heading else []
        lines += [html.escape(p, quote=False) for p in section.paragraphs]
        lines += ["• " + html.escape(b, quote=False) for b in section.bullets]
        blocks.append(lines)
    return blocks


def as_messages(draft: Draft, limit: int = 4096) -> list[str]:
    """The draft as Telegram HTML messages of at most `limit` (UTF-16 units): split between sections, else between
    lines; only a single line longer than `limit` is cut, and never inside an HTML entity."""
    if limit < MIN_LIMIT:
        raise ValueError(f"a message limit below {MIN_LIMIT} cannot hold a heading")
    parts: list[str] = []
    current = ""

    def add(piece: str, separator: str) -> None:
        nonlocal current
        joined = current + separator + piece if current else piece
        if _utf16(joined) <= limit:
            current = joined
            return
        if _utf16(piece) <= limit:  # a whole line moves to the next message
            parts.append(current)
            current = piece
            return
        # Only a line longer than a whole message is cut: its first piece fills what is left of this one.
        prefix = current + separator if current else ""
        chunks = _cut(piece, limit, room=limit - _utf16(prefix))
        if chunks[0]:
            current = prefix + chunks[0]
        for chunk in chunks[1:]:
            if current:
                parts.append(current)
            current = chunk

    for block in _lines(draft):
        text = "\n".join(block)
        if current and _utf16(current + "\n\n" + text) <= limit:
            current += "\n\n" + text
            continue
        if current:
            parts.append(current)
            current = ""
        for n, line in enumerate(block):
            add(line, "\n" if n else "")
    if current:
        parts.append(current)
    return parts


_ENTITY = re.compile(r"&(?:[a-z]+|#x?[0-9a-f]+);", re.IGNORECASE)
_TAG = re.compile(r"</?b>")
# The shortest limit a split can keep: a heading's tags and a few characters.
MIN_LIMIT = 64


def _cut(line: str, limit: int, room: int) -> list[str]:
    """A line in pieces: the first of at most `room` UTF-16 units (it may be empty), the others of at most `limit`;
    each cut between characters and outside entities and tags."""
    chunks: list[str] = []
    current, size, space = "", 0, max(room, 0)
    for atom in _atoms(line):
        width = _utf16(atom)
        if size + width > space:
            chunks.append(current)
            current, size, space = "", 0, limit
        current += atom
        size += width
    chunks.append(current)
    return chunks


def _atoms(line: str) -> list[str]:
    """What may not be cut: an entity (&amp;), a tag (<b>), or one character."""
    atoms: list[str] = []
    index = 0
    while index < len(line):
        match = _ENTITY.match(line, index) or _TAG.match(line, index)
        end = match.end() if match else index + 1
        atoms.append(line[index:end])
        index = end
    return atoms
