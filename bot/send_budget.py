"""One send budget for the whole deployment: Telegram's ~30 messages/s per bot, ~1 message/s per chat, replies first.

Telegram counts per bot token, not per process. python-telegram-bot's AIORateLimiter paces one process (N
processes send N × 30/s together), has no per-chat limit, and treats a reply to what an agent just did like any
queued nudge. Here every message of every process takes a *slot* from one store (bot.budget_stores: this
process's memory on SQLite, PostgreSQL's `send_budget` row, or Redis with REDIS_URL), so that:

- the deployment sends at most `SEND_RATE` messages in any second: slots are `(1 + LATENESS_S) / SEND_RATE`
  apart, which leaves room in every second for a send the event loop woke up to 33 ms late, and a slot's holder
  sleeps until it (bursts smoothed: never two slots at once);
- a chat gets at most one message a second: a chat's next slot is at least `CHAT_GAP_S` after its last;
- the order is the priority (bot.statuses.SendPriority): a reply may reserve a slot however far ahead the queue
  runs; a follow-up nudge only while the slots already handed out end within `HORIZON_S[NUDGE]` (0.3 s); the
  recurring prompts within 0.2 s; digests and broadcasts within 0.1 s. So the slots handed out ahead of time are
  never more than 0.3 s of scheduled sends: a reply waits for at most those, in any process, even in a wave, and a
  wave of prompts takes slots only when no nudge wants one. In each process one waiter per priority asks the store
  at a time (the others queue behind it, FIFO), so the store sees a few requests per slot, and a send woken more
  than 33 ms after its slot (a GC pause, a busy CPU) gives it up and takes another rather than crowd the next ones
  into one second (bench/send_budget.py saw 31 in a second without it);
- a RetryAfter from Telegram pauses the whole deployment: the process that met it writes the pause to the store,
  every reservation refuses until it ends, and a slot reserved before it is given up if the pause began while its
  holder slept. A reply then waits and tries again (the agent is looking at the chat); a scheduled message is
  handed back to the engine (`bot.scheduler.RetryLater`), which puts its row back to pending without counting an
  attempt. Each 429 is one WARNING line;
- the store being gone (Redis restarted) costs no message: the database stands in, and behind the database a
  conservative share in this process (`SEND_RATE` / the processes alive), logged once (bot.budget_stores).

Edits of a message (the button the agent just pressed) spend the deployment's budget but not the chat's second:
Telegram's per-chat limit is on messages, and an edit that waited a second would make every button feel broken.
Button answers (answerCallbackQuery), chat actions and getUpdates are not messages and are not paced.

Every few seconds the process writes what it spent to `send_budget_processes` (sends/s by priority, queue depth,
time waited, pauses): `agentcoach stats` shows the deployment's; /metrics shows this process's.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

from sqlalchemy.ext.asyncio import AsyncEngine

from bot.budget_report import write_report
from bot.budget_stores import BudgetStore, FallbackStore, Grant, MemoryStore, PostgresStore, RedisStore
from bot.statuses import SEND_PRIORITIES, SendPriority

log = logging.getLogger(__name__)

TELEGRAM_MESSAGES_PER_SECOND = 30
# Room in every second for a send that went up to this late (an event loop busy elsewhere, a slow request): one
# message's worth at Telegram's 30/s, which paces 30 at 29.03/s.
LATENESS_S = 1 / 30
CHAT_GAP_S = 1.0 + LATENESS_S
# How far ahead of now each priority may hold a slot (module docstring). Replies: as far as it takes.
HORIZON_S = {
    SendPriority.REPLY: float("inf"),
    SendPriority.NUDGE: 0.3,
    SendPriority.RECURRING: 0.2,
    SendPriority.BULK: 0.1,
}
# A send woken later than LATENESS_S after its slot gives the slot up and takes another, this many times at most.
MAX_GIVEN_UP = 2
# Asking again sooner than this is not worth a round trip to the store.
MIN_RETRY_S = 0.002
REPORT_EVERY_S = 5.0


class BudgetMetrics(Protocol):
    """Who hears of the budget's waits and sends (runtime.metrics counts them for Prometheus)."""

    def waiting(self, priority: SendPriority, change: int) -> None: ...
    def waited(self, priority: SendPriority, seconds: float) -> None: ...
    def sent(self, priority: SendPriority) -> None: ...
    def paused(self) -> None: ...


class NoMetrics:
    """Nobody listening (tests, benchmarks)."""

    def waiting(self, priority: SendPriority, change: int) -> None:
        """Not counted."""

    def waited(self, priority: SendPriority, seconds: float) -> None:
        """Not counted."""

    def sent(self, priority: SendPriority) -> None:
        """Not counted."""

    def paused(self) -> None:
        """Not counted."""


class SendBudget:
    """This process's way into the deployment's budget (the engine's `Budget`, and the rate limiter's in
    runtime.send_budget). `rate` 0 sends at once (the local shell, tests); `sleep` and `clock` are injected by
    tests; `metrics` hears of every wait and send (runtime.metrics: Prometheus)."""

    def __init__(
        self,
        rate: float = TELEGRAM_MESSAGES_PER_SECOND,
        store: BudgetStore | None = None,
        *,
        chat_gap: float = CHAT_GAP_S,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        clock: Callable[[], float] = time.monotonic,
        metrics: BudgetMetrics | None = None,
    ) -> None:
        self.rate = rate
        self.metrics: BudgetMetrics = metrics if metrics is not None else NoMetrics()
        self.interval = (1 + LATENESS_S) / rate if rate > 0 else 0.0
        self.store: BudgetStore = store if store is not None else MemoryStore(clock)
        self.chat_gap = chat_gap
        self._sleep = sleep
        self._clock = clock
        self._paused_until = 0.0  # this process's own knowledge of a pause: no round trip needed
        # One waiter per priority asks the store at a time (a reply's turn lasts one round trip: it may reserve
        # any slot); 50 replies asking at once would queue 50 transactions on the one budget row.
        self._turns: dict[SendPriority, asyncio.Lock] = {priority: asyncio.Lock() for priority in SEND_PRIORITIES}
        self.waiting: Counter[SendPriority] = Counter()
        self.sent: Counter[SendPriority] = Counter()
        self.waited: dict[SendPriority, float] = {}  # seconds, by priority
        self.granted: Counter[SendPriority] = Counter()
        self.pauses = 0
        self._scheduled_to: dict[int, SendPriority] = {}
        self.processes = 1  # alive in the deployment, as the last report found (a fallback share divides by it)
        self._reporter: asyncio.Task[None] | None = None

    @property
    def paced(self) -> bool:
        return self.rate > 0

    def local_pause(self) -> float:
        return max(0.0, self._paused_until - self._clock())

    async def pause(self, seconds: float) -> None:
        """Telegram said "retry after": nothing of the deployment is sent before then."""
        self.pauses += 1
        self.metrics.paused()
        self._paused_until = max(self._paused_until, self._clock() + seconds)
        if self.paced:
            await self.store.pause(seconds)

    async def acquire(self, chat_id: int | None, priority: SendPriority, *, message: bool = True) -> None:
        """Wait for this send's slot: the pause, the priority's turn, the deployment's pace and the chat's second
        (for a message; an edit only spends the pace)."""
        started = self._clock()
        self.waiting[priority] += 1
        self.metrics.waiting(priority, 1)
        try:
            if self.paced:
                await self._take_slot(chat_id if message else None, priority)
            elif (pause := self.local_pause()) > 0:
                await self._sleep(pause)
        finally:
            self.waiting[priority] -= 1
            self.metrics.waiting(priority, -1)
        waited = self._clock() - started
        if chat_id is not None and priority is not SendPriority.REPLY:
            self._scheduled_to[chat_id] = priority  # what the send that follows is counted as (count_sent)
        self.granted[priority] += 1
        self.waited[priority] = self.waited.get(priority, 0.0) + waited
        self.metrics.waited(priority, waited)

    async def _take_slot(self, chat_id: int | None, priority: SendPriority) -> None:
        turn = self._turns[priority]
        horizon = HORIZON_S[priority]
        given_up = 0
        while True:
            async with turn:
                grant = await self._ask(chat_id, horizon)
            if not grant.reserved:  # the chat had a message less than a second ago: wait, not holding the turn
                await self._sleep(max(grant.wait, MIN_RETRY_S))
                continue
            if grant.wait <= 0:
                return
            slot_at = self._clock() + grant.wait
            await self._sleep(grant.wait)
            # A pause that began while this waited for its slot (another process met a 429): give the slot up.
            if self.local_pause() <= 0 and await self.store.paused_for() <= 0:
                # Woken too late (a GC pause, a busy CPU): sent now, it would crowd the next slots into one second.
                # The slot is given up and a new one taken, twice at most (then it goes, late).
                if self._clock() - slot_at <= LATENESS_S or given_up >= MAX_GIVEN_UP:
                    return
                given_up += 1

    async def _ask(self, chat_id: int | None, horizon: float) -> Grant:
        """Ask the store until it grants a slot or says the chat is busy (waits in between, holding the turn)."""
        while True:
            if (pause := self.local_pause()) > 0:
                await self._sleep(pause)
                continue
            grant = await self.store.reserve(chat_id, horizon, self.interval, self.chat_gap)
            if grant.reserved or grant.chat_busy:
                return grant
            await self._sleep(max(grant.wait, MIN_RETRY_S))

    def count_sent(self, chat_id: int | None, priority: SendPriority | None) -> None:
        """Telegram accepted a message: counted under its priority (a scheduled one's is the one its slot was
        granted for, `priority` None)."""
        if priority is None:
            found = self._scheduled_to.pop(chat_id, None) if chat_id is not None else None
            priority = found or SendPriority.NUDGE
        self.sent[priority] += 1
        self.metrics.sent(priority)

    # ---------------------------------------------------------------- what `agentcoach stats` shows

    def report(self, over: float) -> dict[str, Any]:
        """What this process spent since the last report (`over` seconds), for `send_budget_processes`; resets
        the counters it reports as rates."""
        sent = {str(p): round(self.sent[p] / over, 2) for p in SEND_PRIORITIES} if over > 0 else {}
        granted = [p for p in SEND_PRIORITIES if self.granted[p]]
        waits = {str(p): round(self.waited.get(p, 0.0) / self.granted[p], 4) for p in granted}
        report = {
            "store": self.store.name,
            "rate": self.rate,
            "sends_per_s": sent,
            "waiting": {str(p): self.waiting[p] for p in SEND_PRIORITIES},
            "mean_wait_s": waits,
            "pauses": self.pauses,
        }
        self.sent.clear()
        self.waited.clear()
        self.granted.clear()
        return report

    def start_reporting(self, engine: AsyncEngine, process_key: int) -> None:
        """Write this process's report every few seconds until `stop`."""

        async def loop() -> None:
            last = self._clock()
            while True:
                await asyncio.sleep(REPORT_EVERY_S)
                now = self._clock()
                try:
                    self.processes = await write_report(engine, process_key, self.report(now - last))
                except Exception:  # the next report is a few seconds away; sending must not stop for this
                    log.warning("send budget: could not write this process's report", exc_info=True)
                last = now

        if self._reporter is None:
            self._reporter = asyncio.create_task(loop(), name="send-budget-report")

    async def stop(self) -> None:
        if self._reporter is not None:
            self._reporter.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._reporter
            self._reporter = None
        await self.store.close()


def budget_prefix(token: str) -> str:
    """Where a bot's budget is kept in Redis: one budget per bot token (its public id, never its secret)."""
    return f"agentcoach:budget:{token.partition(':')[0]}"


def shared_store(engine: AsyncEngine, redis_url: str | None, prefix: str, share: Callable[[], int]) -> BudgetStore:
    """The store for this deployment: memory on SQLite (one process); on PostgreSQL the database, or Redis with
    the database behind it; behind the database, a conservative share in this process."""
    if engine.dialect.name != "postgresql":
        if redis_url:
            log.info("send budget: SQLite runs one process, so its budget is kept in memory (REDIS_URL unused)")
        return MemoryStore()
    database = FallbackStore(PostgresStore(engine), MemoryStore(), share=share)
    if redis_url:
        return FallbackStore(RedisStore(redis_url, prefix=prefix), database, share=share)
    return database
