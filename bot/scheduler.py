"""The durable scheduling engine: every message that must reach an agent at a time is a `Delivery` row.

A periodic sweep (APScheduler ticks it; tests call it directly) claims the rows that are due, renders each
through the module that owns its kind, sends it, and confirms it:

    pending ──claim──▶ claimed ──last check──▶ sending ──Telegram said yes──▶ sent ──▶ bookkeeping (next tip …)
       ▲                  │                       ├─ agent blocked the bot ─▶ held (agent inactive, all theirs held)
       │                  │                       ├─ RetryAfter / network error ─▶ pending again after a delay
       │                  │                       └─ Telegram refused the message itself ─▶ failed
       │                  └─ nothing to send any more (follow-up done) ─▶ cancelled
       └──── the owning process died (bot.ownership), or its lease ran out ────┘

Claiming is UPDATE … RETURNING over `SELECT … ORDER BY due_at LIMIT n FOR UPDATE SKIP LOCKED`, keeping the
first row of each agent (Telegram's ~1 message/s per chat; the agent's other due rows stay untouched for the next
claim), so several processes on one PostgreSQL never take the same row; SQLite runs one process. It goes by tiers,
the order of bot.statuses.SendPriority, in one transaction, an agent taken by one tier skipped by the next:

    1. nudges (a follow-up's, ⏰ Later's: times an agent chose)    up to `batch`, through their own partial index
    2. rows whose lease ran out (every `rescue_every`)              what is left of `batch`
    3. recurring prompts, daily tips, team digests                  a share: `recurring_batch`, ~3 s of sends
    4. the waves (the weekly digest, a broadcast)                   what room the share left (`wave_batch`)

The nudges and the rows of tier 2 are sent first, then the share, a few rows at a time (`wave_concurrency`), so
that slots are always left for nudges. While the prompts or a wave last, a sweep claims the next share as soon as
the last rows of the one before are in hand, so the sends never pause; and while a share is being sent, the nudges
falling due are claimed every second (`nudge_every`, tier 1 alone) and sent at once. 100k agents' 09:00 prompts
are thus never all claimed ahead of a nudge due at 09:01: it waits at most a second for its claim, then for the
share's few rows already at the send budget (bot.send_budget, which lets it ahead of them too), never for the share
(tests/bot/test_tiers.py; docs/benchmarks.md, "Weekly digest: 100k agents").

What can go wrong, and why nothing is lost or doubled:
- A process dies: its rows carry its owner key, and the next sweep of any process (the restarted one's first
  included) sees that owner's lock gone and puts them back (bot.ownership), seconds later, not a lease later.
- A process stalls and its row is taken over (lease ran out, lock lost): the row becomes `sending` only through
  one conditional UPDATE that checks status, owner and attempt together, right before the send and after the
  wait for the send budget, so a stalled sender whose row was re-claimed never sends it.
- A process dies after Telegram accepted a message and before our commit: that row is sent again (at-least-once),
  never dropped. Only rows in `sending` can be in that window, and there are at most `concurrency` of them per
  process at any instant (`Engine.in_flight`, measured in docs/benchmarks.md).
- Once Telegram accepted a message it is committed as sent first; what follows (the next occurrence of a
  recurring kind, a tip counted as shown) runs in its own transaction, and if it fails it is logged and the
  kind's repair runs instead. Nothing that happens after a send sends it again.

Each row's steps (render, last check, confirmation, the kind's bookkeeping) are transactions of their own, and the
rows of a sweep that reach the same step together share one (bot.grouped: group commit): one commit, and for the
last check and the confirmation one statement, for all of them. Each row's step is still committed before that
row goes on, so the guarantees above hold row by row; grouping only cuts the commits and round trips a backlog
costs (docs/benchmarks.md, "Deliveries per second").

The sweep knows nothing of Telegram: a `Sender` does the sending and a `Budget` says when it may.
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from collections.abc import Awaitable, Callable, Collection, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Literal, Protocol, cast

from sqlalchemy import ColumnElement, Table, and_, bindparam, func, literal_column, or_, select, tuple_, update
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from bot.bulk import insert_rows, loaded, new_row
from bot.clock import Clock
from bot.db import insert_or_skip
from bot.grouped import Grouped
from bot.models import NUDGE_KINDS, WAVE_KINDS, Agent, Delivery
from bot.ownership import IN_HAND, Ownership, ownership_for
from bot.statuses import DeliveryStatus, SendPriority, priority_of

log = logging.getLogger(__name__)

PENDING, CLAIMED, SENDING, SENT = (
    DeliveryStatus.PENDING,
    DeliveryStatus.CLAIMED,
    DeliveryStatus.SENDING,
    DeliveryStatus.SENT,
)
FAILED, CANCELLED, HELD = DeliveryStatus.FAILED, DeliveryStatus.CANCELLED, DeliveryStatus.HELD
# What a change of plan (a follow-up done, a setting changed) may still cancel: anything not yet past the last check.
CANCELLABLE = (PENDING, HELD, CLAIMED)


@dataclass(frozen=True)
class Outgoing:
    """A message as the domain describes it: text (Telegram HTML) and buttons as (label, callback data); with a
    `photo` (PNG bytes, the digest's chart) the text is its caption, which the renderer keeps within Telegram's
    1024 characters."""

    text: str
    buttons: Sequence[Sequence[tuple[str, str]]] = ()
    photo: bytes | None = None


class AgentUnreachable(Exception):
    """The agent blocked the bot or deleted their account: stop sending to them."""


class RetryLater(Exception):
    """Telegram asked us to slow down (429): send again after `seconds`, without counting an attempt."""

    def __init__(self, seconds: float) -> None:
        super().__init__(f"retry after {seconds}s")
        self.seconds = seconds


class TransientFailure(Exception):
    """The network or Telegram failed for now: retry with backoff, up to a bound."""


class PermanentFailure(Exception):
    """Telegram refused the message itself (bad request): retrying would fail the same way."""


class Sender(Protocol):
    async def send(self, chat_id: int, message: Outgoing) -> int:
        """Send and return the message id; raise one of the failures above."""
        ...


class Budget(Protocol):
    async def acquire(self, chat_id: int, priority: SendPriority) -> None:
        """Wait until a scheduled message to `chat_id` may go (the deployment's share of Telegram's limits, replies
        first, then by priority)."""
        ...


Render = Callable[[AsyncSession, Delivery, Agent, datetime], Awaitable[Outgoing | None]]
RenderMany = Callable[[AsyncSession, Sequence[tuple[Delivery, Agent]], datetime], Awaitable[Sequence[Outgoing | None]]]
AfterSent = Callable[[AsyncSession, Delivery, Agent, datetime], Awaitable[None]]


@dataclass(frozen=True)
class Kind:
    """How one kind of delivery is rendered, and what happens once it was sent (recurring kinds reschedule).

    `after_skipped` runs when the renderer had nothing to send (today's reflection already done): a recurring
    kind must schedule its next occurrence then too, or its chain would end. `repair` runs when `after_sent`
    failed (the message stays sent): it must leave the kind's chain intact with as little as possible.
    """

    render: Render
    after_sent: AfterSent | None = None
    after_skipped: AfterSent | None = None
    repair: AfterSent | None = None
    # `render` for the rows of a group at once, a result per row in order (the sweep renders the rows that reach
    # the render together in one transaction): a kind that reads more rows per delivery reads them for all.
    render_many: RenderMany | None = None
    # Its render waits on more than the database (the digest's chart, drawn in a worker): each row is rendered in
    # a transaction of its own, concurrently with the others, instead of one after the other in a group's.
    renders_alone: bool = False


# How a claimed delivery can end a sweep: the counters of a SweepReport, and the outcomes counted by kind.
OUTCOMES = ("sent", "retried", "failed", "held", "cancelled", "taken_over")


@dataclass
class SweepReport:
    claimed: int = 0
    sent: int = 0
    late: int = 0
    cancelled: int = 0
    retried: int = 0
    failed: int = 0
    held: int = 0
    taken_over: int = 0
    # The outcomes again by (kind, outcome), for the process's metrics (runtime.metrics), which the engine
    # does not know.
    by_kind: Counter[tuple[str, str]] = field(default_factory=Counter)

    def add(self, other: SweepReport, kind: str | None = None) -> None:
        """Add another report; `kind` says that `other` is one delivery's, of that kind."""
        for name in vars(self):
            if name != "by_kind":
                setattr(self, name, getattr(self, name) + getattr(other, name))
        self.by_kind.update(other.by_kind)
        if kind is not None:
            self.by_kind.update({(kind, outcome): n for outcome in OUTCOMES if (n := getattr(other, outcome))})


@dataclass
class EngineSettings:
    batch: int = 200
    lease: timedelta = timedelta(minutes=5)
    late_after: timedelta = timedelta(minutes=2)
    max_attempts: int = 5
    backoff: timedelta = timedelta(seconds=10)
    # Deliveries rendered and sent at once; it also bounds how many can be in flight (past the last check).
    concurrency: int = 16
    # How often a sweep also looks for rows whose process died (always at start).
    rescue_every: timedelta = timedelta(seconds=5)
    # Rows of the recurring tier (daily tips, reflection prompts, team digests) one claim takes at most: a share,
    # ~3 s of sends at Telegram's ~30 messages/s (~9 s for each of three processes sharing them), so 100k agents'
    # 09:00 prompts are claimed a share at a time, never all ahead of a nudge due at 09:01.
    recurring_batch: int = 90
    # Rows of the wave kinds (the weekly digest, a broadcast) one claim takes at most, less the recurring rows it
    # took: a wave waits for the prompts, and a claim is at most one share beyond its nudges. A sweep goes on to
    # `wave_shares` shares while the prompts or a wave last, each claimed before the last one's sends end (no pause
    # between them); then it ends, and the next sweep checks for processes that died.
    wave_batch: int = 90
    wave_shares: int = 10
    # While a share is being sent, the nudges falling due are claimed this often, and sent at once (goal: ≤ 5 s
    # late), not when the next share is claimed.
    nudge_every: timedelta = timedelta(seconds=1)
    # Rows of the shares (recurring and wave) in flight at once (a digest holds its photo, its upload body, a
    # pooled connection): fewer than `concurrency`, since at ~30 messages/s a few keep the pace fed, and the
    # slots left are the nudges', which never wait for a share's.
    wave_concurrency: int = 8


@dataclass
class Claimed:
    id: int
    agent_id: int
    attempts: int
    due_at: datetime
    owner: int
    # Taken as part of a share (the recurring tier's or a wave's): delivered after the nudges and rows whose lease
    # ran out, a few at a time (`wave_concurrency`).
    share: bool = False
    # Its kind, so a sweep's report can count each outcome under it (SweepReport.by_kind).
    kind: str = ""


# How a row can end at its render: a SweepReport counter.
_Ended = Literal["taken_over", "cancelled"]


@dataclass(frozen=True)
class _Rendered:
    outgoing: Outgoing
    chat_id: int
    kind: str
    late: bool


@dataclass(frozen=True)
class _Groups:
    render: Grouped[Claimed, _Rendered | _Ended]
    last_check: Grouped[Claimed, bool]
    confirm: Grouped[tuple[Claimed, int], None]
    after_sent: Grouped[tuple[Claimed, AfterSent], None]


@dataclass
class Engine:
    sessions: async_sessionmaker[AsyncSession]
    clock: Clock
    sender: Sender
    kinds: dict[str, Kind]
    settings: EngineSettings = field(default_factory=EngineSettings)
    budget: Budget | None = None
    # Who this process is to the others (bot.ownership); derived from the database when not given.
    ownership: Ownership | None = None
    # Rows of this process past the last check and not yet committed as sent or failed, now and at most.
    in_flight: int = field(default=0, init=False)
    most_in_flight: int = field(default=0, init=False)
    # One sweep at a time in a process (the start-up sweep and the ticks may overlap); processes share via the DB.
    _sweeping: asyncio.Lock = field(default_factory=asyncio.Lock, init=False, repr=False)
    _started: bool = field(default=False, init=False, repr=False)
    _rescued_at: datetime | None = field(default=None, init=False, repr=False)
    _stuck_checked_at: datetime | None = field(default=None, init=False, repr=False)
    # Whether the last claim left due rows behind (a full batch, or a full share).
    backlog: bool = field(default=False, init=False)
    _grouped: _Groups | None = field(default=None, init=False, repr=False)

    async def start(self) -> None:
        """Say this process is alive (its ownership lock), then take back what a dead process left claimed."""
        if self._started:
            return
        if self.ownership is None:
            bind = self.sessions.kw.get("bind")
            assert isinstance(bind, AsyncEngine), "the session factory must be bound to an engine"
            self.ownership = ownership_for(bind)
        await self.ownership.start()
        self._started = True
        await self.rescue()

    async def stop(self) -> None:
        if self._started and self.ownership is not None:
            await self.ownership.stop()
        self._started = False

    async def rescue(self) -> int:
        """Put back to pending the rows claimed by processes that are gone (see bot.ownership)."""
        assert self.ownership is not None
        self._rescued_at = self.clock.now()
        async with self.sessions() as session, session.begin():
            count = await self.ownership.rescue(session)
        if count:
            log.info("took back %d deliveries claimed by a process that is gone", count)
        return count

    async def sweep(self) -> SweepReport:
        """Claim what is due now and deliver it; returns what happened (for logs, tests and benchmarks)."""
        async with self._sweeping:
            await self.start()
            if self._rescued_at is None or self.clock.now() - self._rescued_at >= self.settings.rescue_every:
                await self.rescue()
            return await self._sweep()

    async def _sweep(self) -> SweepReport:
        report = SweepReport()
        claimed = await self.claim()
        report.claimed = len(claimed)
        if not claimed:
            return report
        semaphore = asyncio.Semaphore(self.settings.concurrency)
        share_room = min(self.settings.wave_concurrency, self.settings.concurrency)
        share_semaphore = asyncio.Semaphore(share_room)

        async def one(item: Claimed) -> None:
            async with semaphore:
                report.add(await self.deliver_safely(item), kind=item.kind)

        async def one_of_share(item: Claimed) -> None:
            async with share_semaphore:  # the slots left are the nudges'
                await one(item)

        async with asyncio.TaskGroup() as shares:

            def start_nudges(nudges: Sequence[Claimed]) -> None:
                report.claimed += len(nudges)
                for item in nudges:
                    shares.create_task(one(item))

            for number in range(self.settings.wave_shares):
                # The nudges (and rows whose lease ran out) are all sent before this share begins: started
                # together, the order of sends would follow whichever render got the database first.
                async with asyncio.TaskGroup() as group:  # in due order, `concurrency` at a time
                    for item in claimed:
                        if not item.share:
                            group.create_task(one(item))
                # Recurring rows first, then the wave's: the semaphore lets them in in that order.
                share = [shares.create_task(one_of_share(item)) for item in claimed if item.share]
                last = not share or not self.backlog or number == self.settings.wave_shares - 1
                # The next share (and whatever fell due meanwhile) is claimed as soon as this one's last rows are
                # all in hand, so the sends never pause between shares for a claim and a render; the last share is
                # waited for. Nudges falling due meanwhile are claimed every second, and sent at once.
                await self._while_sending(share, 0 if last else share_room, start_nudges)
                if last:
                    break
                claimed = await self.claim()
                report.claimed += len(claimed)
        return report

    async def _while_sending(
        self, share: Sequence[asyncio.Task[None]], keep: int, start_nudges: Callable[[Sequence[Claimed]], None]
    ) -> None:
        """Wait until at most `keep` rows of the share are still being delivered, claiming the nudges that fall due
        every `nudge_every` meanwhile (by the engine's clock, or by the event loop's when nothing ends for that
        long) and starting them at once."""
        loop = asyncio.get_running_loop()
        every = self.settings.nudge_every
        next_tick, next_instant = loop.time() + every.total_seconds(), self.clock.now() + every
        while len(running := [task for task in share if not task.done()]) > keep:
            await asyncio.wait(running, timeout=max(0.0, next_tick - loop.time()), return_when=asyncio.FIRST_COMPLETED)
            if loop.time() >= next_tick or self.clock.now() >= next_instant:
                start_nudges(await self.claim_nudges())
                next_tick, next_instant = loop.time() + every.total_seconds(), self.clock.now() + every

    async def deliver_safely(self, item: Claimed) -> SweepReport:
        """A bug while rendering or sending one delivery must not stop the others: retry it, bounded."""
        try:
            return await self.deliver(item)
        except Exception as error:
            log.exception("delivery %s: unexpected error", item.id)
            report = SweepReport()
            await self._retry_or_fail(item, repr(error), report)
            return report

    async def claim(self) -> list[Claimed]:
        """Mark due rows as ours, one per agent, and commit before anything is sent, in tiers:

        1. the nudges (bot.statuses: a follow-up's, ⏰ Later's), oldest first, up to `batch`;
        2. rows whose lease ran out, with what is left of `batch` (looked for every `rescue_every`, as the rows of
           a process that died are: such a row is a lease late already);
        3. the recurring tier (daily tips, reflection prompts, team digests: every kind but the nudges' and the
           waves'), a share of `recurring_batch` at most;
        4. the wave kinds (the weekly digest, a broadcast: bot.models.WAVE_KINDS), with the room the recurring rows
           left of `wave_batch` (and of `batch`).

        An agent with a row in one tier gets none in the later ones. Returned in that order, which is the order
        they are sent in. Three statements (four every `rescue_every`), each an ordered range of one index that stops
        at its LIMIT: one with an OR across statuses would read and sort every due digest of a wave (24 ms at 89k
        due, against 0.1 ms)."""
        await self.start()
        assert self.ownership is not None
        now, owner = self.clock.now(), self.ownership.key
        batch = self.settings.batch
        # Literals, not parameters: they let both databases use the partial index on exactly these rows.
        recurring = and_(
            Delivery.status == literal_column(f"'{PENDING}'"),
            Delivery.kind.not_in([literal_column(f"'{kind}'") for kind in WAVE_KINDS]),
            _waiting_its_time(now),
        )
        # A lease that ran out: the process is alive but stuck (a dead one's rows were rescued). Such a row was due
        # when claimed; saying so lets SQLite's planner, which cannot tell a rare status from a common one, search
        # the status index instead of reading the table (36 ms a claim at 300k rows).
        stuck = or_(
            *(and_(Delivery.status == status, Delivery.due_at <= now, Delivery.lease_until < now) for status in IN_HAND)
        )
        wave = and_(Delivery.status == PENDING, _waiting_its_time(now))
        async with self.sessions() as session, session.begin():
            first = await self._claim_some(session, _nudges(now), batch, (), now, owner)
            busy = {c.agent_id for c in first}
            if self._stuck_checked_at is None or now - self._stuck_checked_at >= self.settings.rescue_every:
                self._stuck_checked_at = now
                first += await self._claim_some(session, stuck, batch - len(first), busy, now, owner)
                busy = {c.agent_id for c in first}
            share_room = min(batch - len(first), self.settings.recurring_batch)
            share = await self._claim_some(session, recurring, share_room, busy, now, owner, share=True)
            busy |= {c.agent_id for c in share}
            room = min(batch - len(first), self.settings.wave_batch) - len(share)
            rest = await self._claim_some(session, wave, room, busy, now, owner, share=True)
        # More is due than this claim took (a full batch, a full share, or no room left to look at the wave): sweep
        # again at once (runtime.delivery.sweep_tick).
        full_share = len(share) >= share_room or room <= 0 or len(rest) >= room
        self.backlog = len(first) >= batch or (share_room > 0 and full_share)
        return first + share + rest

    async def claim_nudges(self) -> list[Claimed]:
        """The first tier alone (`claim`'s nudges), as a sweep claims it every second while a share is sent."""
        await self.start()
        assert self.ownership is not None
        now = self.clock.now()
        async with self.sessions() as session, session.begin():
            return await self._claim_some(session, _nudges(now), self.settings.batch, (), now, self.ownership.key)

    async def _claim_some(
        self,
        session: AsyncSession,
        where: ColumnElement[bool],
        limit: int,
        busy_agents: Collection[int],
        now: datetime,
        owner: int,
        *,
        share: bool = False,
    ) -> list[Claimed]:
        """One UPDATE … RETURNING over the first `limit` rows matching `where` (skipping rows other processes
        hold), keeping the first of each agent not in `busy_agents`."""
        if limit <= 0:
            return []
        if busy_agents:
            where = and_(where, Delivery.agent_id.not_in(sorted(busy_agents)))
        due = (
            select(Delivery.id, Delivery.agent_id, Delivery.due_at)
            .where(where)
            .order_by(Delivery.due_at)  # not also by id: among 100k equal due times that would sort them all
            .limit(limit)
            .with_for_update(skip_locked=True)
            .subquery()
        )
        # One message per chat per sweep: the first due row of each agent; the others are not touched at all.
        ranked = select(
            due.c.id, func.row_number().over(partition_by=due.c.agent_id, order_by=(due.c.due_at, due.c.id)).label("n")
        ).subquery()
        first_of_each_agent = select(ranked.c.id).where(ranked.c.n == 1)
        rows = (
            await session.execute(
                update(Delivery)
                .where(Delivery.id.in_(first_of_each_agent))
                .values(
                    status=CLAIMED,
                    claimed_by=owner,
                    lease_until=now + self.settings.lease,
                    attempts=Delivery.attempts + 1,
                )
                .returning(Delivery.id, Delivery.agent_id, Delivery.attempts, Delivery.due_at, Delivery.kind)
                .execution_options(synchronize_session=False)
            )
        ).all()
        claimed = (Claimed(*row[:4], owner=owner, share=share, kind=row[4]) for row in rows)
        return sorted(claimed, key=lambda c: (c.due_at, c.id))

    async def deliver(self, item: Claimed) -> SweepReport:
        report = SweepReport()
        kind = self.kinds.get(item.kind)
        if kind is not None and kind.renders_alone:
            async with self.sessions() as session, session.begin():
                rendered = (await self._render_all(session, [item]))[0]
        else:
            rendered = await self._groups().render.run(item)
        if isinstance(rendered, str):
            setattr(report, rendered, 1)
            return report
        if self.budget is not None:
            # After rendering and before the last check: whatever the wait (replies first, a 429's pause), the row
            # is checked again right after it, and the send follows at once (no database work in between to bunch
            # evenly paced sends into Telegram's window).
            await self.budget.acquire(rendered.chat_id, priority_of(rendered.kind))
        if not await self._groups().last_check.run(item):
            report.taken_over += 1
            return report
        self.in_flight += 1
        self.most_in_flight = max(self.most_in_flight, self.in_flight)
        try:
            await self._send(item, rendered.chat_id, rendered.outgoing, rendered.kind, rendered.late, report)
        finally:
            self.in_flight -= 1
        return report

    def grouping(self) -> dict[str, tuple[int, int]]:
        """Per step, how many groups ran and how many rows they held (the benchmark reports the mean size)."""
        if self._grouped is None:
            return {}
        return {name: (group.groups, group.rows) for name, group in vars(self._grouped).items()}

    def _groups(self) -> _Groups:
        """The engine's per-row steps, each grouped with the rows that reach it at the same time (bot.grouped)."""
        if self._grouped is None:
            self._grouped = _Groups(
                render=Grouped(self.sessions, self._render_all),
                last_check=Grouped(self.sessions, self._last_check_all),
                confirm=Grouped(self.sessions, self._confirm_all),
                after_sent=Grouped(self.sessions, self._run_hooks),
            )
        return self._grouped

    async def _render_all(self, session: AsyncSession, items: Sequence[Claimed]) -> list[_Rendered | _Ended]:
        """Each row as its kind renders it now, or the outcome that ends it here: "taken_over" (the row is not
        ours any more) or "cancelled" (nothing to send any more: cancelled, or held for an agent who blocked the
        bot; a recurring kind then schedules its next occurrence). The rows and their agents in one statement, and
        the rows of a kind that renders many at once (`Kind.render_many`) together."""
        now = self.clock.now()
        found = await _deliveries_and_agents(session, items)
        by_kind: dict[str, list[tuple[Delivery, Agent]]] = {}
        for delivery, agent in found.values():
            delivery.late = delivery.due_at < now - self.settings.late_after
            if delivery.kind in self.kinds and agent.active:
                by_kind.setdefault(delivery.kind, []).append((delivery, agent))
        outgoing: dict[int, Outgoing | None] = {}
        for name, rows in by_kind.items():
            kind = self.kinds[name]
            if kind.render_many is not None:
                rendered = await kind.render_many(session, rows, now)
            else:
                rendered = [await kind.render(session, delivery, agent, now) for delivery, agent in rows]
            outgoing.update((delivery.id, message) for (delivery, _), message in zip(rows, rendered, strict=True))
        return [await self._rendered(session, item, found.get(item.id), outgoing.get(item.id), now) for item in items]

    async def _rendered(
        self,
        session: AsyncSession,
        item: Claimed,
        found: tuple[Delivery, Agent] | None,
        outgoing: Outgoing | None,
        now: datetime,
    ) -> _Rendered | _Ended:
        if found is None:
            return "taken_over"
        delivery, agent = found
        if outgoing is None:
            kind = self.kinds.get(delivery.kind)
            verdict = CANCELLED if agent.active else HELD
            if not await self._still_ours(session, item, status=verdict, lease_until=None):
                return "taken_over"  # another sweep has it now (and may have sent it): not ours to cancel
            if kind and kind.after_skipped and agent.active:
                await kind.after_skipped(session, delivery, agent, now)
            return "cancelled"
        return _Rendered(outgoing, agent.chat_id, delivery.kind, delivery.late)

    async def _last_check_all(self, session: AsyncSession, items: Sequence[Claimed]) -> list[bool]:
        """claimed → sending for each row still ours (same owner, same attempt, still claimed), in one statement
        (the rows' locks decide a race); whether each row was."""
        lease_until = self.clock.now() + self.settings.lease
        claims = [(item.id, item.attempts, item.owner) for item in items]
        result = await session.execute(
            update(Delivery)
            .where(tuple_(Delivery.id, Delivery.attempts, Delivery.claimed_by).in_(claims), Delivery.status == CLAIMED)
            .values(status=SENDING, lease_until=lease_until)
            .returning(Delivery.id)
            .execution_options(synchronize_session=False)
        )
        ours = set(result.scalars())
        return [item.id in ours for item in items]

    @staticmethod
    async def _still_ours(session: AsyncSession, item: Claimed, **values: object) -> bool:
        """Apply `values` to the row if this claim still holds it, in one statement (the row's lock decides a race)."""
        result = await session.execute(
            update(Delivery)
            .where(
                Delivery.id == item.id,
                Delivery.status == CLAIMED,
                Delivery.claimed_by == item.owner,
                Delivery.attempts == item.attempts,
            )
            .values(**values)
            .execution_options(synchronize_session=False)
        )
        return getattr(result, "rowcount", 0) == 1

    async def _send(
        self, item: Claimed, chat_id: int, outgoing: Outgoing, kind: str, late: bool, report: SweepReport
    ) -> None:
        try:
            message_id = await self.sender.send(chat_id, outgoing)
        except AgentUnreachable as error:
            await self._agent_unreachable(item, str(error))
            report.held += 1
        except RetryLater as error:
            await self._again(item, timedelta(seconds=error.seconds), count_attempt=False, error=str(error))
            report.retried += 1
        except TransientFailure as error:
            await self._retry_or_fail(item, str(error), report)
        except PermanentFailure as error:
            await self._fail(item, str(error))
            report.failed += 1
        else:
            await self._confirm(item, message_id)
            report.sent += 1
            report.late += int(late)
            await self._after_sent(item, kind)

    async def _retry_or_fail(self, item: Claimed, error: str, report: SweepReport) -> None:
        """Back off exponentially (backoff, 2×, 4× …) and give up after `max_attempts`, logged."""
        if item.attempts >= self.settings.max_attempts:
            await self._fail(item, f"gave up after {item.attempts} attempts: {error}")
            report.failed += 1
        else:
            await self._again(item, self.settings.backoff * 2 ** (item.attempts - 1), True, error)
            report.retried += 1

    async def _confirm(self, item: Claimed, message_id: int) -> None:
        """Telegram has it: committed as sent before anything else happens."""
        await self._groups().confirm.run((item, message_id))

    async def _confirm_all(self, session: AsyncSession, sent: Sequence[tuple[Claimed, int]]) -> list[None]:
        now = self.clock.now()
        connection = await session.connection()
        await connection.execute(_CONFIRM, [{"b_id": item.id, "b_sent_at": now, "b_message_id": m} for item, m in sent])
        return [None] * len(sent)

    async def _after_sent(self, item: Claimed, kind_name: str) -> None:
        """The kind's bookkeeping, in a transaction of its own; if it fails, its repair keeps the chain going."""
        kind = self.kinds.get(kind_name)
        if kind is None or kind.after_sent is None:
            return
        try:
            await self._groups().after_sent.run((item, kind.after_sent))
        except Exception:
            log.exception("delivery %s was sent, but what follows a send failed; repairing", item.id)
            if kind.repair is None:
                return
            try:
                await self._groups().after_sent.run((item, kind.repair))
            except Exception:
                log.exception("delivery %s: the repair failed too", item.id)

    async def _run_hooks(self, session: AsyncSession, hooks: Sequence[tuple[Claimed, AfterSent]]) -> list[None]:
        now = self.clock.now()
        found = await _deliveries_and_agents(session, [item for item, _ in hooks])
        for item, hook in hooks:
            if (row := found.get(item.id)) is not None:
                await hook(session, *row, now)
        return [None] * len(hooks)

    async def _again(self, item: Claimed, delay: timedelta, count_attempt: bool, error: str) -> None:
        now = self.clock.now()
        async with self.sessions() as session, session.begin():
            attempts = Delivery.attempts if count_attempt else Delivery.attempts - 1
            await session.execute(
                update(Delivery)
                .where(Delivery.id == item.id, Delivery.status.in_(IN_HAND))
                .values(status=PENDING, lease_until=now + delay, attempts=attempts, last_error=error[:500])
            )
        log.warning("delivery %s: %s; again in %ss", item.id, error, int(delay.total_seconds()))

    async def _fail(self, item: Claimed, error: str) -> None:
        """Given up: the lease ends now, so the row says when it failed (bot.stats counts the last hour's)."""
        async with self.sessions() as session, session.begin():
            await session.execute(
                update(Delivery)
                .where(Delivery.id == item.id)
                .values(status=FAILED, lease_until=self.clock.now(), last_error=error[:500])
            )
        log.error("delivery %s failed: %s", item.id, error)

    async def _agent_unreachable(self, item: Claimed, error: str) -> None:
        """Held, not failed: when the agent writes again it is sent (bot.recurring.resume_agent)."""
        now = self.clock.now()
        async with self.sessions() as session, session.begin():
            await session.execute(
                update(Delivery)
                .where(Delivery.id == item.id)
                .values(status=HELD, lease_until=None, attempts=Delivery.attempts - 1, last_error=error[:500])
            )
            agent = await session.get(Agent, item.agent_id)
            if agent is not None:
                agent.active, agent.updated_at = False, now
            await hold_agent(session, item.agent_id)
        log.info("agent %s cannot be reached (%s): their deliveries are held", item.agent_id, error)


def _waiting_its_time(now: datetime) -> ColumnElement[bool]:
    """Due, and not waiting for a retry."""
    return and_(Delivery.due_at <= now, or_(Delivery.lease_until.is_(None), Delivery.lease_until <= now))


def _nudges(now: datetime) -> ColumnElement[bool]:
    """The nudges due now: exactly the rows of the partial index bot.models.NUDGE_INDEX (literals, as there)."""
    return and_(
        Delivery.status == literal_column(f"'{PENDING}'"),
        Delivery.kind.in_([literal_column(f"'{kind}'") for kind in NUDGE_KINDS]),
        _waiting_its_time(now),
    )


async def _deliveries_and_agents(session: AsyncSession, items: Sequence[Claimed]) -> dict[int, tuple[Delivery, Agent]]:
    """The claimed rows with their agents in one statement (a sweep does this for every row it delivers), by id;
    a row or agent that is gone is missing."""
    rows = await session.execute(
        select(Delivery, Agent)
        .join(Agent, Agent.id == Delivery.agent_id)
        .where(Delivery.id.in_([item.id for item in items]))
    )
    agents = {item.id: item.agent_id for item in items}
    return {row[0].id: (row[0], row[1]) for row in rows if agents.get(row[0].id) == row[1].id}


# A row Telegram accepted: one statement for every row of a group (executemany).
_DELIVERIES = cast(Table, Delivery.__table__)
_CONFIRM = (
    update(_DELIVERIES)
    .where(_DELIVERIES.c.id == bindparam("b_id"))
    .values(status=SENT, sent_at=bindparam("b_sent_at"), message_id=bindparam("b_message_id"))
)


# One waiting delivery, the rest of its columns the model's defaults (pending, no attempts, not late).
_NEW = new_row(_DELIVERIES, ("agent_id", "kind", "subject_id", "due_at", "created_at"))
_ADD = loaded(Delivery, _NEW)


async def schedule(
    session: AsyncSession, *, agent_id: int, kind: str, due_at: datetime, now: datetime, subject_id: int | None = None
) -> Delivery:
    """Add a delivery; it is sent by the first sweep at or after `due_at`."""
    delivery: Delivery = (await session.scalars(_ADD, _new(Planned(agent_id, kind, due_at, subject_id), now))).one()
    return delivery


@dataclass(frozen=True)
class Planned:
    agent_id: int
    kind: str
    due_at: datetime
    subject_id: int | None = None
    subject_key: str | None = None


async def schedule_few(session: AsyncSession, planned: Sequence[Planned], now: datetime) -> None:
    """`schedule` for the one or two deliveries one answer adds (a follow-up's nudge and its showing's review) in
    one statement, nothing read back. (Thousands at once go through `schedule_many`'s bulk write.)"""
    await session.execute(_NEW, [_new(p, now) for p in planned])


def _new(p: Planned, now: datetime) -> dict[str, object]:
    """`_NEW`'s parameters for one planned delivery."""
    return {"agent_id": p.agent_id, "kind": p.kind, "subject_id": p.subject_id, "due_at": p.due_at, "created_at": now}


async def schedule_many(session: AsyncSession, planned: Sequence[Planned], now: datetime) -> None:
    """Add many deliveries in one bulk write (imports, bulk follow-ups): the same rows as `schedule`, far faster."""
    await insert_rows(
        session,
        Delivery.__table__,  # type: ignore[arg-type]
        ["agent_id", "kind", "subject_id", "due_at", "status", "attempts", "late", "created_at"],
        [(p.agent_id, p.kind, p.subject_id, p.due_at, PENDING, 0, False, now) for p in planned],
    )


async def schedule_once(
    session: AsyncSession, *, agent_id: int, kind: str, due_at: datetime, now: datetime, subject_key: str | None = None
) -> bool:
    """Add the waiting delivery of a kind an agent has at most one of (bot.models.ONE_WAITING_KINDS), unless one
    is already waiting: the unique index decides, so two processes racing here add one. True if added."""
    return await schedule_once_many(session, [Planned(agent_id, kind, due_at, subject_key=subject_key)], now) == 1


async def schedule_once_many(session: AsyncSession, planned: Sequence[Planned], now: datetime) -> int:
    """`schedule_once` for many agents in one statement (the start-up check); returns how many were added."""
    if not planned:
        return 0
    rows = [
        {
            "agent_id": p.agent_id,
            "kind": p.kind,
            "subject_id": p.subject_id,
            "subject_key": p.subject_key,
            "due_at": p.due_at,
            "status": PENDING,
            "attempts": 0,
            "late": False,
            "created_at": now,
        }
        for p in planned
    ]
    result = await session.execute(insert_or_skip(session, Delivery).values(rows).on_conflict_do_nothing())
    return int(getattr(result, "rowcount", 0) or 0)


async def cancel(session: AsyncSession, kind: str, subject_id: int) -> int:
    """Cancel what is still waiting to be sent for a subject (a follow-up done or moved); a row already past the
    last check before its send cannot be stopped any more."""
    result = await session.execute(
        update(Delivery)
        .where(Delivery.kind == kind, Delivery.subject_id == subject_id, Delivery.status.in_(CANCELLABLE))
        .values(status=CANCELLED)
    )
    return int(getattr(result, "rowcount", 0) or 0)


async def cancel_waiting(session: AsyncSession, agent_id: int, kind: str) -> None:
    """Cancel what is still waiting of one kind for one agent (a recurring prompt being replaced)."""
    await session.execute(
        update(Delivery)
        .where(Delivery.agent_id == agent_id, Delivery.kind == kind, Delivery.status.in_(CANCELLABLE))
        .values(status=CANCELLED)
    )


async def hold_agent(session: AsyncSession, agent_id: int) -> None:
    """Keep an unreachable agent's deliveries without sending them."""
    await session.execute(
        update(Delivery).where(Delivery.agent_id == agent_id, Delivery.status == PENDING).values(status=HELD)
    )


async def resume_held(session: AsyncSession, agent_id: int, except_kinds: Sequence[str] = ()) -> None:
    """The agent is back: what was held is sent (late where it fell due meanwhile), but for `except_kinds`, whose
    owner reschedules them instead (a prompt from three days ago is stale; the next one is not)."""
    await session.execute(
        update(Delivery)
        .where(Delivery.agent_id == agent_id, Delivery.status == HELD, Delivery.kind.not_in(except_kinds))
        .values(status=PENDING)
    )
