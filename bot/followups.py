"""Follow-ups: promises to get back to a client at a time, their nudges, and what to suggest next.

A follow-up owns one pending `Delivery` (kind "followup") while it is open; snoozing or rescheduling moves
it by cancelling that delivery and scheduling a new one, in the same transaction. Everything is looked up
through the agent who owns it, so one agent can never act on another's follow-ups.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from sqlalchemy import Table, and_, bindparam, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.bulk import insert_rows_with_ids, loaded, new_row
from bot.clients import MAX_ID, crossings_changed, last_contacts, owns
from bot.models import Agent, Client, ContactLog, FollowUp
from bot.scheduler import Planned, cancel, schedule, schedule_few, schedule_many
from bot.showing_times import book_review, is_showing, keep_in_step, showing_end
from bot.statuses import DeliveryKind, FollowUpStatus
from bot.timezones import local_datetime, local_day_bounds, to_utc

KIND = DeliveryKind.FOLLOWUP
OPEN, DONE, CANCELLED = FollowUpStatus.OPEN, FollowUpStatus.DONE, FollowUpStatus.CANCELLED

# How soon to follow up, by the client's stage: a new lead cools fast, a closed client is checked on monthly.
CADENCE_DAYS = {"new": 1, "interested": 2, "viewing": 2, "deposit": 3, "closed": 30, "lost": 60}
EVENING = time(19, 0)
MORNING = time(9, 0)
# A suggestion keeps this far from every follow-up the agent already booked (any client): half an hour is one call
# or message and its note. A clash moves it on by the same step, to the first free slot.
SLOT = timedelta(minutes=30)
# Later than any follow-up can be set (the buttons' minute counts stop at 2160).
FAR_FUTURE = datetime(9999, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class Nudge:
    """What a follow-up's nudge shows, gathered in one query."""

    follow_up: FollowUp
    client: Client
    last_contact: ContactLog | None


def works_on(agent: Agent, day: date) -> bool:
    """Whether `day` is one of the agent's work days (an agent with none set works every day)."""
    return not agent.work_days or str(day.isoweekday()) in agent.work_days


def next_work_day(agent: Agent, day: date) -> date:
    """`day` itself if the agent works then, else the first work day after it (a week always holds one)."""
    # work_days always holds an ISO digit (bot.preferences.parse_work_days), so a week always holds one.
    return next(day + timedelta(days=n) for n in range(7) if works_on(agent, day + timedelta(days=n)))


def on_next_work_day(agent: Agent, moment: datetime) -> datetime | None:
    """For a time on one of the agent's days off: the same wall time on the next work day; else None."""
    local = local_datetime(moment, agent.timezone)
    work_day = next_work_day(agent, local.date())
    if work_day == local.date():
        return None
    return to_utc(work_day, local.time().replace(tzinfo=None), agent.timezone)


@dataclass(frozen=True)
class Suggestion:
    """The next follow-up the bot proposes, and why it is not exactly N days ahead at the follow-up hour."""

    at: datetime
    after_day_off: bool
    """The cadence landed on a day off: moved to the next work day."""
    after_booked: bool
    """That time was already booked (another follow-up within `SLOT`): moved to the first free slot."""


def suggest(agent: Agent, stage: str, now: datetime, booked: Collection[datetime] = ()) -> Suggestion:
    """The next follow-up for a client in `stage`: N local days ahead by the cadence, on a work day, at the
    agent's follow-up hour, then on by `SLOT` steps while a booked follow-up is less than `SLOT` away."""
    day = local_datetime(now, agent.timezone).date() + timedelta(days=CADENCE_DAYS.get(stage, 1))
    work_day = next_work_day(agent, day)
    first = to_utc(work_day, agent.followup_time, agent.timezone)
    at = clear_of(first, booked)
    return Suggestion(at, work_day != day, at != first)


def clear_of(at: datetime, booked: Collection[datetime]) -> datetime:
    """`at`, or on by `SLOT` steps to the first time at least `SLOT` away from every booked one."""
    while any(abs(taken - at) < SLOT for taken in booked):
        at += SLOT
    return at


async def booked_times(session: AsyncSession, agent_id: int) -> list[datetime]:
    """When every open follow-up of the agent is due (any client)."""
    return [follow_up.due_at for follow_up, _ in await open_between(session, agent_id, None, FAR_FUTURE)]


def suggested_time(agent: Agent, stage: str, now: datetime) -> datetime:
    """`suggest`'s time, with nothing booked."""
    return suggest(agent, stage, now).at


def snooze_options(agent: Agent, now: datetime, due_at: datetime | None = None) -> dict[str, datetime]:
    """An hour later; that evening (if still half an hour ahead); the morning after — all in the agent's zone,
    and all counted from the later of now and the follow-up's own time, so a snooze never brings it forward."""
    start = max(now, due_at) if due_at is not None else now
    day = local_datetime(start, agent.timezone).date()
    options = {"hour": start + timedelta(hours=1)}
    evening = to_utc(day, EVENING, agent.timezone)
    if evening > start + timedelta(minutes=30):
        options["evening"] = evening
    options["morning"] = to_utc(day + timedelta(days=1), MORNING, agent.timezone)
    return options


def snooze_wording(agent: Agent, now: datetime, options: dict[str, datetime], due_at: datetime) -> dict[str, str]:
    """How each option reads from now: "in an hour" or "an hour later" (after a due time still ahead), "this
    evening" or "that evening", "tomorrow morning" or "the morning after" (catalog keys `snooze.<wording>`)."""
    today = local_datetime(now, agent.timezone).date()
    wording = {}
    for name, moment in options.items():
        day = local_datetime(moment, agent.timezone).date()
        if name == "hour":
            wording[name] = "hour" if due_at <= now else "hour_later"
        elif name == "evening":
            wording[name] = "evening" if day == today else "evening_later"
        else:
            wording[name] = "morning" if day == today + timedelta(days=1) else "morning_later"
    return wording


def past_today(moment: datetime, now: datetime, zone_name: str) -> datetime | None:
    """A clock time already past today ("下午三点半" typed at 17:00): the same wall time tomorrow; else None
    (a time still ahead, or a past day, which is refused as it is)."""
    if moment > now or local_datetime(moment, zone_name).date() != local_datetime(now, zone_name).date():
        return None
    return tomorrow_same_time(moment, zone_name)


@dataclass(frozen=True)
class ExampleDays:
    """The days the "couldn't read that time" answer names, computed from the agent's today so none is past."""

    weekday: date
    """Two days ahead, to be written by its weekday."""
    next_week: bool
    """That weekday is in next Monday–Sunday week ("下周二" rather than "周二")."""
    day: date
    """Five days ahead, to be written as a date."""
    same_year: bool
    """That date is in this year (written without one)."""
    iso_day: date
    """Nine days ahead, for the ISO form."""


def example_days(now: datetime, zone_name: str) -> ExampleDays:
    today = local_datetime(now, zone_name).date()
    weekday, day = today + timedelta(days=2), today + timedelta(days=5)
    return ExampleDays(
        weekday=weekday,
        next_week=weekday.isocalendar()[:2] != today.isocalendar()[:2],
        day=day,
        same_year=day.year == today.year,
        iso_day=today + timedelta(days=9),
    )


def tomorrow_same_time(moment: datetime, zone_name: str) -> datetime:
    """The same local wall time on the next local day (a clock time already past today, offered for tomorrow)."""
    local = local_datetime(moment, zone_name)
    return to_utc(local.date() + timedelta(days=1), local.time().replace(tzinfo=None), zone_name)


def same_wall_time(moment: datetime, old_zone: str, new_zone: str) -> datetime:
    """The instant showing in `new_zone` the wall time `moment` showed in `old_zone`."""
    local = local_datetime(moment, old_zone)
    return to_utc(local.date(), local.time().replace(tzinfo=None), new_zone)


_FOLLOW_UPS: Table = FollowUp.__table__  # type: ignore[assignment]
_NEW_COLUMNS = ("agent_id", "client_id", "due_at", "note", "status", "outcome", "done_at", "created_at", "updated_at")
_ADD = loaded(FollowUp, new_row(_FOLLOW_UPS, _NEW_COLUMNS))


async def add_follow_up(
    session: AsyncSession,
    agent: Agent,
    client: Client,
    due_at: datetime,
    note: str | None,
    now: datetime,
    *,
    review_showing: bool = True,
) -> FollowUp:
    """A follow-up and its nudge; a showing's (bot.showing_times) also its review, unless `review_showing` is off
    (a 回访 booked by a review is about a showing, not one)."""
    values = {
        "agent_id": agent.id,
        "client_id": client.id,
        "due_at": due_at,
        "note": note or None,
        "status": OPEN,
        "outcome": None,
        "done_at": None,
        "created_at": now,
        "updated_at": now,
    }
    follow_up: FollowUp = (await session.scalars(_ADD, values)).one()
    deliveries = [Planned(agent.id, KIND, due_at, follow_up.id)]
    if review_showing and is_showing(note):
        ends_at = showing_end(due_at, note)
        await book_review(session, agent.id, client.id, follow_up.id, ends_at, note, now, along=deliveries)
    await schedule_few(session, deliveries, now)  # the nudge and the review's delivery: one statement
    return follow_up


@dataclass(frozen=True)
class PlannedFollowUp:
    agent_id: int
    client_id: int
    due_at: datetime
    note: str | None = None


async def add_follow_ups(session: AsyncSession, planned: Sequence[PlannedFollowUp], now: datetime) -> list[int]:
    """Many follow-ups and their nudges in two bulk writes (an import, a team lead's hand-over); a showing's review is
    one insert more, its delivery written with the nudges."""
    ids = await insert_rows_with_ids(
        session,
        FollowUp.__table__,  # type: ignore[arg-type]
        ["agent_id", "client_id", "due_at", "note", "status", "created_at", "updated_at"],
        [(p.agent_id, p.client_id, p.due_at, p.note or None, OPEN, now, now) for p in planned],
    )
    added = list(zip(planned, ids, strict=True))
    deliveries = [Planned(p.agent_id, KIND, p.due_at, follow_up_id) for p, follow_up_id in added]
    for p, follow_up_id in added:
        if is_showing(p.note):  # a showing's review, as `add_follow_up` books it
            ends_at = showing_end(p.due_at, p.note)
            await book_review(session, p.agent_id, p.client_id, follow_up_id, ends_at, p.note, now, along=deliveries)
    await schedule_many(session, deliveries, now)
    return ids


async def owned_follow_up(session: AsyncSession, agent_id: int, follow_up_id: int) -> FollowUp | None:
    """The follow-up if it belongs to this agent, else None (forged or stale buttons land here)."""
    if not 0 < follow_up_id < MAX_ID:
        return None  # a forged id the integer column could not even hold
    follow_up = await session.get(FollowUp, follow_up_id)
    return follow_up if follow_up is not None and follow_up.agent_id == agent_id else None


async def move(session: AsyncSession, follow_up: FollowUp, due_at: datetime, now: datetime) -> None:
    """Snooze or reschedule: the old nudge is cancelled and a new one scheduled, atomically."""
    await cancel(session, KIND, follow_up.id)
    follow_up.due_at, follow_up.status, follow_up.updated_at = due_at, OPEN, now
    await schedule(session, agent_id=follow_up.agent_id, kind=KIND, subject_id=follow_up.id, due_at=due_at, now=now)
    await keep_in_step(session, follow_up, now)


async def replace(
    session: AsyncSession,
    old: FollowUp,
    agent: Agent,
    client: Client,
    due_at: datetime,
    note: str | None,
    now: datetime,
) -> FollowUp:
    """The new follow-up instead of `old`: the old one is cancelled with its nudge, in the same transaction."""
    await cancel(session, KIND, old.id)
    old.status, old.updated_at = CANCELLED, now
    await keep_in_step(session, old, now)
    return await add_follow_up(session, agent, client, due_at, note, now)


_OPEN_FOR_CLIENT = (
    select(FollowUp)
    .where(
        FollowUp.agent_id == bindparam("agent_id"),
        FollowUp.client_id == bindparam("client_id"),
        FollowUp.status == OPEN,
    )
    .order_by(FollowUp.due_at, FollowUp.id)
)


async def open_for_client(session: AsyncSession, agent_id: int, client_id: int) -> list[FollowUp]:
    """The client's open follow-ups, earliest first (asked about before another is added)."""
    return list((await session.scalars(_OPEN_FOR_CLIENT, {"agent_id": agent_id, "client_id": client_id})).all())


_CLIENT_WITH_OPEN = (
    select(Client, FollowUp)
    .outerjoin(
        FollowUp,
        and_(FollowUp.client_id == Client.id, FollowUp.agent_id == bindparam("agent_id"), FollowUp.status == OPEN),
    )
    .where(Client.id == bindparam("client_id"))
    .order_by(FollowUp.due_at, FollowUp.id)
)


async def client_with_open(
    session: AsyncSession, agent_id: int, client_id: int
) -> tuple[Client, list[FollowUp]] | None:
    """`owned_client` and `open_for_client` in one statement: the agent's client and its open follow-ups, earliest
    first (a draft's ✅ needs both: a statement less than reading them in turn)."""
    if not 0 < client_id < MAX_ID:
        return None  # a forged id the database's integer column could not even hold
    rows = (await session.execute(_CLIENT_WITH_OPEN, {"agent_id": agent_id, "client_id": client_id})).all()
    client: Client | None = rows[0][0] if rows else None
    if client is None or not owns(client, agent_id):
        return None
    return client, [row[1] for row in rows if row[1] is not None]


async def suggestion_for(session: AsyncSession, agent: Agent, stage: str, now: datetime) -> Suggestion:
    """`suggest`, keeping clear of every open follow-up the agent has booked (any client)."""
    return suggest(agent, stage, now, await booked_times(session, agent.id))


async def keep_local_times(
    session: AsyncSession, agent: Agent, old_zone: str, changed_at: datetime, now: datetime
) -> list[tuple[FollowUp, Client]]:
    """After a zone change: every open, future follow-up untouched since `changed_at` moved to the wall time it
    had in `old_zone`, nudges included (`move`). Ones changed since (or pressed twice) are left alone."""
    moved = []
    for follow_up, client in await open_between(session, agent.id, now, FAR_FUTURE):
        if follow_up.updated_at > changed_at:
            continue
        due = same_wall_time(follow_up.due_at, old_zone, agent.timezone)
        if due > now and due != follow_up.due_at:
            await move(session, follow_up, due, now)
            moved.append((follow_up, client))
    return moved


async def mark_done(session: AsyncSession, follow_up: FollowUp, now: datetime) -> None:
    """Done: its pending nudge is cancelled; the outcome, if any, comes later (`set_outcome`)."""
    await cancel(session, KIND, follow_up.id)
    follow_up.status, follow_up.done_at, follow_up.updated_at = DONE, now, now
    await crossings_changed(session, follow_up.agent_id, now, sooner=False)  # a follow-up done is a real contact


async def set_outcome(follow_up: FollowUp, outcome: str, now: datetime) -> None:
    follow_up.outcome, follow_up.updated_at = outcome, now


async def nudges_for(session: AsyncSession, follow_up_ids: Collection[int]) -> dict[int, Nudge]:
    """Each follow-up with its client and the client's last contact, by follow-up id (one that is gone, or whose
    client is, is left out), in two statements whatever their number: the engine renders a group of nudges at once."""
    rows = (
        await session.execute(
            select(FollowUp, Client).where(FollowUp.id.in_(sorted(set(follow_up_ids))), Client.id == FollowUp.client_id)
        )
    ).all()
    contacts = await last_contacts(session, [row[1].id for row in rows])
    return {row[0].id: Nudge(row[0], row[1], contacts.get(row[1].id)) for row in rows}


# /today, /overdue and every suggestion run these: built once, with and without a start.
_OPEN_BEFORE = (
    select(FollowUp, Client)
    .join(Client, Client.id == FollowUp.client_id)
    .where(
        FollowUp.agent_id == bindparam("agent_id"),
        FollowUp.status == OPEN,
        FollowUp.due_at < bindparam("end", type_=FollowUp.due_at.type),
    )
    .order_by(FollowUp.due_at)
)
_OPEN_BETWEEN = _OPEN_BEFORE.where(FollowUp.due_at >= bindparam("start", type_=FollowUp.due_at.type))


async def open_between(
    session: AsyncSession, agent_id: int, start: datetime | None, end: datetime
) -> list[tuple[FollowUp, Client]]:
    """Open follow-ups of the agent due in [start, end), earliest first, with their clients."""
    if start is None:
        rows = await session.execute(_OPEN_BEFORE, {"agent_id": agent_id, "end": end})
    else:
        rows = await session.execute(_OPEN_BETWEEN, {"agent_id": agent_id, "start": start, "end": end})
    return [(row[0], row[1]) for row in rows.all()]


async def due_today(session: AsyncSession, agent: Agent, now: datetime) -> list[tuple[FollowUp, Client]]:
    """Open follow-ups due during the agent's local today (past ones included)."""
    today = local_datetime(now, agent.timezone).date()
    return await open_between(session, agent.id, *local_day_bounds(today, agent.timezone))


async def overdue(session: AsyncSession, agent: Agent, now: datetime) -> list[tuple[FollowUp, Client]]:
    return await open_between(session, agent.id, None, now)
