"""What an operator asks of a running bot (`agentcoach stats`): who it serves, what is due, late, stuck or failing.

Four aggregate queries: the agents; the waiting rows by status and the due ones, each a range of the index the
engine keeps (`ix_deliveries_status_due`); the last hour's sent and failed rows, one pass over the table (no index
holds rows by when they were sent; docs/operations.md has the figures at 100k deliveries and what an index on
(status, sent_at) would change).

The definitions, said once here and in the command's header:
- an agent is **active** when they finished onboarding and have not blocked the bot (`Agent.active`): the agents
  the bot sends its recurring messages to (bot.recurring). The rest are **onboarding** or **blocked**. No
  last-seen time is stored, so "active" says reachable, not busy.
- a delivery is **due** when it is pending and its time has come (some of them waiting out a retry's delay),
  **overdue** when it is still pending more than the engine's lateness threshold (2 min) after its time, and
  **late** once sent when it went out past that threshold (`Delivery.late`, set by the engine).
- **sent / failed in the last hour** count rows by when that happened: `sent_at`, and for a failed row the end
  of its lease, which the engine sets to the instant it gave up.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta

from sqlalchemy import and_, case, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.models import Agent, Delivery
from bot.scheduler import EngineSettings
from bot.statuses import DeliveryStatus

LAST_HOUR = timedelta(hours=1)
# The engine's own threshold: a row sent later than this after its time is marked late.
LATE_AFTER = EngineSettings().late_after
WAITING = (DeliveryStatus.PENDING, DeliveryStatus.CLAIMED, DeliveryStatus.SENDING, DeliveryStatus.HELD)


@dataclass(frozen=True)
class KindHour:
    """One kind of delivery over the last hour."""

    sent: int = 0
    late: int = 0  # of the sent, how many went out late
    failed: int = 0


@dataclass(frozen=True)
class Stats:
    now: datetime
    agents_active: int
    agents_onboarding: int
    agents_blocked: int
    due: int  # pending, due_at <= now
    due_retrying: int  # of those, waiting out a retry's delay (lease_until > now)
    overdue: int  # pending, due more than LATE_AFTER ago
    oldest_due_at: datetime | None  # the oldest due pending row's time
    scheduled: int  # pending, not due yet
    claimed: int  # taken by a sweep, not sent yet
    sending: int  # past the last check: the request to Telegram may be on its way
    held: int  # kept for agents who blocked the bot
    last_hour: dict[str, KindHour] = field(default_factory=dict)  # by kind, only kinds with something in it

    @property
    def agents_inactive(self) -> int:
        return self.agents_onboarding + self.agents_blocked

    @property
    def in_flight(self) -> int:
        return self.claimed + self.sending

    @property
    def oldest_due_age(self) -> timedelta | None:
        return None if self.oldest_due_at is None else self.now - self.oldest_due_at

    def hour_total(self) -> KindHour:
        hours = self.last_hour.values()
        return KindHour(sum(h.sent for h in hours), sum(h.late for h in hours), sum(h.failed for h in hours))


async def gather_stats(session: AsyncSession, now: datetime) -> Stats:
    """The numbers at `now`, read in one transaction (a consistent picture on PostgreSQL's snapshot, too)."""
    agents = await _agents(session)
    by_status = dict(
        (
            await session.execute(
                select(Delivery.status, func.count()).where(Delivery.status.in_(WAITING)).group_by(Delivery.status)
            )
        ).all()
    )
    due, retrying, overdue, oldest = (
        await session.execute(
            select(
                func.count(),
                func.coalesce(func.sum(case((Delivery.lease_until > now, 1), else_=0)), 0),
                func.coalesce(func.sum(case((Delivery.due_at < now - LATE_AFTER, 1), else_=0)), 0),
                func.min(Delivery.due_at),
            ).where(Delivery.status == DeliveryStatus.PENDING, Delivery.due_at <= now)
        )
    ).one()
    return Stats(
        now=now,
        agents_active=agents.get((True, True), 0),
        agents_onboarding=agents.get((True, False), 0),
        agents_blocked=agents.get((False, True), 0) + agents.get((False, False), 0),
        due=due,
        due_retrying=int(retrying),
        overdue=int(overdue),
        oldest_due_at=oldest,
        scheduled=by_status.get(DeliveryStatus.PENDING, 0) - due,
        claimed=by_status.get(DeliveryStatus.CLAIMED, 0),
        sending=by_status.get(DeliveryStatus.SENDING, 0),
        held=by_status.get(DeliveryStatus.HELD, 0),
        last_hour=await _last_hour(session, now - LAST_HOUR),
    )


async def _agents(session: AsyncSession) -> dict[tuple[bool, bool], int]:
    """Agents counted by (not blocked, onboarded)."""
    onboarded = Agent.setup_step.is_(None)
    rows = await session.execute(select(Agent.active, onboarded, func.count()).group_by(Agent.active, onboarded))
    return {(bool(active), bool(done)): count for active, done, count in rows.all()}


async def _last_hour(session: AsyncSession, since: datetime) -> dict[str, KindHour]:
    """Sent (only a sent row has a `sent_at`) and failed since `since`, by kind, in one pass over the table.

    No index holds these rows by time, and the status index would lead to a random read for each of the many sent
    rows; a plain scan reads the table in order (117 ms at 100k rows, against ~450 ms through the status index, on
    this loaded machine; 3.3 s at 1M: docs/operations.md says what an index on (status, sent_at) would do). It is
    grouped by an expression of the kind, not the column, because SQLite would otherwise read the whole table
    through ix_deliveries_kind_subject to have it in kind order (270 ms).
    """
    kind = func.lower(Delivery.kind)
    rows = await session.execute(
        select(kind, Delivery.status, func.count(), func.coalesce(func.sum(case((Delivery.late, 1), else_=0)), 0))
        .where(
            or_(
                Delivery.sent_at >= since,
                and_(Delivery.status == DeliveryStatus.FAILED, Delivery.lease_until >= since),
            )
        )
        .group_by(kind, Delivery.status)
    )
    hour: dict[str, KindHour] = {}
    for name, status, count, late in rows.all():
        was = hour.get(name, KindHour())
        if status == DeliveryStatus.SENT:
            hour[name] = replace(was, sent=count, late=int(late))
        elif status == DeliveryStatus.FAILED:
            hour[name] = replace(was, failed=count)
    return dict(sorted(hour.items()))
