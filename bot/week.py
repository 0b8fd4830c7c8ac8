"""The agent's week in numbers: what the weekly digest shows and the draft 周工作总结 is written from.

A week is the agent's local Monday–Sunday (in their zone, so a DST change inside it is no special case: days
are local dates, instants are compared in UTC through `bot.timezones.to_utc`). Everything here is counted from
what the agent already told the bot — reflections, clients, the contact log, follow-ups — and from nothing
else: no other agent's rows, no client phone numbers (the draft never needs one).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta

from sqlalchemy import ColumnElement, Row, and_, case, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import InstrumentedAttribute

from bot import tips as rotation
from bot.history import stage_move
from bot.i18n import t
from bot.models import Agent, Client, ContactLog, FollowUp, Reflection
from bot.reflections import streak
from bot.statuses import CONTACT_KINDS, ClientEvent, FollowUpStatus, ReflectionStatus, WeakSpot
from bot.timezones import local_datetime, local_today, to_utc
from bot.tip_library import library


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
    """The one tip for next week, and why: `reason` is a `WeakSpot`, told in one line by `reason_text`
    (catalog `week`, keys `week.reason.<reason>`)."""

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


# ------------------------------------------------------------------------------------------------ the numbers


# A reflection as the week reads it: day, status, clients, mood, went_well, to_improve, lesson, tomorrow.
ReflectionRow = Row[date, str, int | None, int | None, str | None, str | None, str | None, str | None]


def bounds(week: Week, zone: str) -> tuple[datetime, ...]:
    """The UTC instants of the eight local midnights that start Monday … Sunday and end Sunday.

    Days are local dates, so a day may be 23 or 25 hours long across a DST change; nothing adds 24 hours.
    """
    return tuple(to_utc(week.start + timedelta(days=n), time(0), zone) for n in range(8))


def day_of(column: InstrumentedAttribute[datetime | None], edges: tuple[datetime, ...]) -> ColumnElement[int]:
    """Which day of the week (0 = Monday) an instant falls on, in SQL: the local midnights are compared in UTC, so
    both backends bucket alike without any time-zone function of their own."""
    return case(*((column < edge, n) for n, edge in enumerate(edges[1:7])), else_=6)


async def _reflections(session: AsyncSession, agent_id: int, week: Week) -> list[ReflectionRow]:
    rows = await session.execute(
        select(
            Reflection.day,
            Reflection.status,
            Reflection.clients,
            Reflection.mood,
            Reflection.went_well,
            Reflection.to_improve,
            Reflection.lesson,
            Reflection.tomorrow,
        ).where(Reflection.agent_id == agent_id, Reflection.day >= week.start, Reflection.day <= week.end)
    )
    return list(rows.all())


async def _new_clients(session: AsyncSession, agent_id: int, start: datetime, end: datetime) -> int:
    found = await session.execute(
        select(func.count()).where(Client.agent_id == agent_id, Client.created_at >= start, Client.created_at < end)
    )
    return int(found.scalar_one())


async def _contacts(
    session: AsyncSession, agent_id: int, edges: tuple[datetime, ...]
) -> tuple[dict[str, int], dict[str, int], list[int]]:
    """Contacts by kind, stage moves by the stage moved to, and contacts per day: one grouped query."""
    logged = (
        select(
            day_of(ContactLog.at, edges).label("day"),
            ContactLog.kind.label("kind"),
            case((ContactLog.kind == ClientEvent.STAGE, ContactLog.note), else_=None).label("move"),
        )
        .join(Client, Client.id == ContactLog.client_id)
        .where(
            Client.agent_id == agent_id,
            ContactLog.at >= edges[0],
            ContactLog.at < edges[7],
            ContactLog.kind.in_([*CONTACT_KINDS, ClientEvent.STAGE]),
        )
        .subquery()
    )
    # Grouped outside: PostgreSQL does not see a CASE with bound values in GROUP BY as the one in the select list.
    rows = await session.execute(
        select(logged.c.day, logged.c.kind, logged.c.move, func.count()).group_by(
            logged.c.day, logged.c.kind, logged.c.move
        )
    )
    kinds: dict[str, int] = {}
    moves: dict[str, int] = {}
    per_day = [0] * 7
    for day, kind, move, count in rows.all():
        if kind == ClientEvent.STAGE:
            if (moved := stage_move(move)) is not None:
                moves[moved[1]] = moves.get(moved[1], 0) + count
            continue
        kinds[kind] = kinds.get(kind, 0) + count
        per_day[day] += count
    order: dict[str, int] = {kind: n for n, kind in enumerate(CONTACT_KINDS)}
    return dict(sorted(kinds.items(), key=lambda item: order[item[0]])), moves, per_day


@dataclass(frozen=True)
class _FollowUps:
    done: int = 0
    on_time: int = 0
    late: int = 0
    overdue: int = 0
    per_day: tuple[int, ...] = (0,) * 7


async def _follow_ups(
    session: AsyncSession, agent_id: int, week: Week, edges: tuple[datetime, ...], zone: str, now: datetime
) -> _FollowUps:
    """Done in the week (on time: by the end of the local day it was due), and due in it, past and still open."""
    start, end = edges[0], edges[7]
    rows = await session.execute(
        select(FollowUp.status, FollowUp.due_at, FollowUp.done_at).where(
            FollowUp.agent_id == agent_id,
            or_(
                and_(FollowUp.status == FollowUpStatus.DONE, FollowUp.done_at >= start, FollowUp.done_at < end),
                and_(
                    FollowUp.status == FollowUpStatus.OPEN,
                    FollowUp.due_at >= start,
                    FollowUp.due_at < end,
                    FollowUp.due_at < now,
                ),
            ),
        )
    )
    done = on_time = overdue = 0
    per_day = [0] * 7
    for status, due_at, done_at in rows.all():
        if status == FollowUpStatus.OPEN or done_at is None:  # (a done one has its time: the query asked for it)
            overdue += 1
            continue
        done_day = local_today(done_at, zone)
        done += 1
        on_time += done_day <= local_today(due_at, zone)
        per_day[(done_day - week.start).days] += 1
    return _FollowUps(done, on_time, done - on_time, overdue, tuple(per_day))


def _average(moods: Iterable[int]) -> float | None:
    given = list(moods)
    return round(sum(given) / len(given), 1) if given else None


async def _counted(
    session: AsyncSession, agent: Agent, week: Week, now: datetime
) -> tuple[Numbers, list[ReflectionRow]]:
    """The week's numbers, and its reflection rows (the report chooses the agent's lines from them)."""
    zone = agent.timezone
    edges = bounds(week, zone)
    reflections = await _reflections(session, agent.id, week)
    kinds, moves, contacts_per_day = await _contacts(session, agent.id, edges)
    follow_ups = await _follow_ups(session, agent.id, week, edges, zone, now)
    # A mood (and a client count) answered in a check-in left unfinished still counts: it is what the agent said.
    moods = {row.day: row.mood for row in reflections if row.mood is not None}
    days = tuple(
        Day(day, contacts_per_day[n], follow_ups.per_day[n], moods.get(day)) for n, day in enumerate(week.days)
    )
    numbers = Numbers(
        week=week,
        reflections_done=sum(row.status == ReflectionStatus.DONE for row in reflections),
        streak=await streak(session, agent, min(local_today(now, zone), week.end)),
        clients_received=sum(row.clients or 0 for row in reflections),
        new_clients=await _new_clients(session, agent.id, edges[0], edges[7]),
        contacts=kinds,
        follow_ups_done=follow_ups.done,
        done_on_time=follow_ups.on_time,
        done_late=follow_ups.late,
        still_overdue=follow_ups.overdue,
        stage_moves=moves,
        mood_average=_average(day.mood for day in days if day.mood is not None),
        days=days,
    )
    return numbers, reflections


async def numbers(session: AsyncSession, agent: Agent, week: Week, now: datetime) -> Numbers:
    """The agent's own counts for one local Monday–Sunday (`now` decides what is still overdue, and the streak of
    the week in progress)."""
    counted, _ = await _counted(session, agent, week, now)
    return counted


# ------------------------------------------------------------------------------------- the agent's own lines


def choose(lines: Sequence[Written], limit: int = 3) -> tuple[Written, ...]:
    """At most `limit` lines, chosen, never rewritten: the most recent, then the longest of the rest, then the next
    most recent, and so on; the same text only once (its latest day). Returned in day order.

    A week of long answers becomes three lines the agent recognises as their own, and the freshest is never lost.
    """
    latest: dict[str, tuple[int, Written]] = {}
    for position, line in enumerate(lines):
        text = line.text.strip()
        if not text:
            continue
        earlier = latest.get(text)
        if earlier is None or line.day >= earlier[1].day:  # a later position on the same day is the later line
            latest[text] = (position, Written(line.day, text))
    left = sorted(latest.values(), key=lambda item: (item[1].day, item[0]))  # oldest … most recent
    chosen: list[tuple[int, Written]] = []
    while left and len(chosen) < limit:
        # Turn about: the most recent, then the longest (of equals, the most recent).
        pick = left[-1] if len(chosen) % 2 == 0 else max(reversed(left), key=lambda item: len(item[1].text))
        chosen.append(pick)
        left.remove(pick)
    return tuple(line for _, line in sorted(chosen, key=lambda item: (item[1].day, item[0])))


def _lines(rows: Iterable[ReflectionRow], question: str) -> list[Written]:
    return [Written(row.day, text) for row in rows if (text := getattr(row, question))]


# --------------------------------------------------------------------------------------------- the week's tip

# The tip library's topic for each weak spot.
TOPICS: dict[WeakSpot, str] = {
    WeakSpot.OVERDUE: "follow-up",
    WeakSpot.LOW_MOOD: "mindset",
    WeakSpot.NO_NEW_CLIENTS: "prospecting",
    WeakSpot.NO_REFLECTIONS: "self-management",
    WeakSpot.STEADY: "follow-up",
}
LOW_MOOD = 2.5


def weak_spot(this: Numbers) -> WeakSpot:
    """The week's weakest spot, in the order it costs an agent most: promises to clients first, then their own
    spirits, then the pipeline, then the habit of reflecting."""
    if this.still_overdue >= 2 or this.done_late > this.done_on_time:
        return WeakSpot.OVERDUE
    if this.mood_average is not None and this.mood_average <= LOW_MOOD:
        return WeakSpot.LOW_MOOD
    if this.new_clients == 0:
        return WeakSpot.NO_NEW_CLIENTS
    if this.reflections_done == 0:
        return WeakSpot.NO_REFLECTIONS
    return WeakSpot.STEADY


async def choose_tip(this: Numbers, agent_id: int, session: AsyncSession) -> TipChoice | None:
    """The agent's next tip of the weak spot's topic in their own rotation (`bot.tips.choose`); if they rated down
    every tip of it, the next of the whole library. Not counted as shown: the digest counts it when it is sent."""
    reason = weak_spot(this)
    topic = TOPICS[reason]
    tips = library()
    seen = await rotation.states(session, agent_id)
    tip = rotation.choose(tips, agent_id, seen, topic) or rotation.choose_any(tips, agent_id, seen)
    if tip is None:
        return None
    return TipChoice(tip.id, topic if topic in tip.topics else tip.topics[0], reason)


def reason_text(language: str, reason: str, this: Numbers) -> str:
    """The tip's reason in one line, with the week's own number where one helps."""
    if reason == WeakSpot.OVERDUE:
        return t(language, "week.reason.overdue", count=this.still_overdue + this.done_late)
    if reason == WeakSpot.LOW_MOOD:
        return t(language, "week.reason.low_mood", mood=f"{this.mood_average or 0:.1f}")
    if reason == WeakSpot.NO_NEW_CLIENTS:
        return t(language, "week.reason.no_new_clients")
    if reason == WeakSpot.NO_REFLECTIONS:
        return t(language, "week.reason.no_reflections")
    return t(language, "week.reason.steady")


# ------------------------------------------------------------------------------------------------ the report

BOOKED_LIMIT = 10
OVERDUE_NAMES = 3


def _open_due_in(agent: Agent, week: Week) -> list[ColumnElement[bool]]:
    edges = bounds(week, agent.timezone)
    return [
        FollowUp.agent_id == agent.id,
        FollowUp.status == FollowUpStatus.OPEN,
        FollowUp.due_at >= edges[0],
        FollowUp.due_at < edges[7],
    ]


async def _booked(session: AsyncSession, agent: Agent, week: Week) -> tuple[Booked, ...]:
    rows = await session.execute(
        select(FollowUp.due_at, Client.name, FollowUp.note)
        .join(Client, Client.id == FollowUp.client_id)
        .where(*_open_due_in(agent, week))
        .order_by(FollowUp.due_at, FollowUp.id)
        .limit(BOOKED_LIMIT)
    )
    return tuple(Booked(local_datetime(at, agent.timezone), name, note) for at, name, note in rows.all())


async def _overdue_clients(session: AsyncSession, agent: Agent, week: Week, now: datetime) -> tuple[str, ...]:
    """Clients with a follow-up due in the week, past and still open: the longest waiting first, each once."""
    oldest = func.min(FollowUp.due_at)
    rows = await session.execute(
        select(Client.name)
        .select_from(FollowUp)
        .join(Client, Client.id == FollowUp.client_id)
        .where(*_open_due_in(agent, week), FollowUp.due_at < now)
        .group_by(Client.id, Client.name)
        .order_by(oldest, Client.id)
        .limit(OVERDUE_NAMES)
    )
    return tuple(rows.scalars())


async def report(session: AsyncSession, agent: Agent, now: datetime, *, last: bool = False) -> Report:
    """The week of the agent's local today so far (or, `last`, the week before it), with its own week before."""
    this_week = Week.containing(local_today(now, agent.timezone))
    return await report_for(session, agent, now, this_week.before() if last else this_week)


def digest_week(day: date) -> Week:
    """The week a digest sent on local `day` is about: on Monday to Wednesday the week that just ended (a Monday
    09:00 digest looks back), from Thursday to Sunday the week in progress (Sunday 20:00 closes it)."""
    this = Week.containing(day)
    return this.before() if day.isoweekday() <= 3 else this


async def report_for(session: AsyncSession, agent: Agent, now: datetime, this_week: Week) -> Report:
    """Everything the digest and the draft say about `this_week`, counted at `now`."""
    this, reflections = await _counted(session, agent, this_week, now)
    return Report(
        agent_id=agent.id,
        language=agent.language,
        zone=agent.timezone,
        now=now,
        this=this,
        last=await numbers(session, agent, this_week.before(), now),
        lessons=choose(_lines(reflections, "lesson")),
        went_well=choose(_lines(reflections, "went_well")),
        to_improve=choose(_lines(reflections, "to_improve")),
        plans=choose(_lines(reflections, "tomorrow")),
        booked=await _booked(session, agent, this_week.after()),
        overdue_clients=await _overdue_clients(session, agent, this_week, now),
        tip=await choose_tip(this, agent.id, session),
    )
