"""Where the deployment's send budget lives: in this process (SQLite: one process), in PostgreSQL, or in Redis.

Every store hands out the same thing, a *slot*: an instant at which one message may go, on one grid for the whole
deployment (`interval` apart: Telegram's ~30 messages/s, with room for lateness) and at least `chat_gap` after the
chat's last slot (Telegram's ~1 message/s per chat). A reservation is one atomic step on the shared state:

    paused (a RetryAfter)                         → not reserved; try again when the pause ends
    slot = max(now, next free slot)
    slot more than `horizon` ahead                → not reserved; try again when it is within the horizon
    the chat's next time is later than the slot   → not reserved; try again when the chat is free
    otherwise                                     → reserved: the next free slot moves one interval on, the chat's
                                                    next time to slot + chat_gap; the caller sleeps until the slot

The horizon is the priority (runtime.send_budget): a reply may reserve far ahead, a digest only when the queue is
almost empty, so the slots handed out ahead of time are never more than a fraction of a second of scheduled sends
and a reply is never queued behind a wave. Reservations, not held tokens: a process that dies holds no share (its
last few reserved slots, at most a horizon's worth, go unused). Times are the store's own clock (PostgreSQL's
`clock_timestamp()`, Redis' TIME), so the processes' clocks never need to agree; callers get back seconds to
wait, never instants.

Why this is ours: the libraries for a shared bucket (`limits` 5.8 with its Redis and async storages; PTB's
AIORateLimiter on aiolimiter) answer "may I, now?" (hit / test) for one key at a time. What the budget needs is
"when may I?" for two keys at once (the deployment's and the chat's, both or neither), with the order set by
priority, in one round trip: a waiter polling `hit` would burst at each second's start and could not keep a reply
ahead of a wave. GCRA with reservations is a dozen lines in each store (Python, one SQL transaction, one Lua
script) and the tests hold all three to the same rules (tests/runtime/test_budget_stores.py).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from typing import Any, Protocol, TypeVar

from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncEngine

log = logging.getLogger(__name__)

T = TypeVar("T")

# A chat's next time is forgotten this long after it passed (the table and the Redis keys stay small).
CHAT_MEMORY_S = 60.0
# How often a process measures again how the store's clock stands to its own.
CLOCK_CHECK_EVERY_S = 60.0


class StoreClock:
    """How the store's clock stands to this process's monotonic clock, so a slot (an instant on the store's
    clock) becomes a wait here that does not depend on how long the answer took to come back: the offset from
    the quickest of a few round trips (NTP's idea), measured again every minute."""

    def __init__(self, read: Callable[[], Awaitable[float]], samples: int = 5) -> None:
        self._read = read
        self._samples = samples
        self._offset: float | None = None
        self._checked_at = 0.0

    async def offset(self) -> float:
        if self._offset is None or time.monotonic() - self._checked_at > CLOCK_CHECK_EVERY_S:
            best: tuple[float, float] | None = None
            for _ in range(self._samples):
                sent = time.monotonic()
                theirs = await self._read()
                back = time.monotonic()
                if best is None or back - sent < best[0]:
                    best = (back - sent, theirs - (sent + back) / 2)
            assert best is not None
            self._offset, self._checked_at = best[1], time.monotonic()
        return self._offset

    async def wait_until(self, instant: float) -> float:
        """Seconds from now (here) until `instant` (the store's clock)."""
        return max(0.0, instant - await self.offset() - time.monotonic())


@dataclass(frozen=True)
class Grant:
    """A store's answer: `reserved` and `wait` seconds until the slot, or not and `wait` seconds until it is worth
    asking again; `chat_busy` says the chat was the reason (the caller waits without holding its turn)."""

    reserved: bool
    wait: float
    chat_busy: bool = False


@dataclass(frozen=True)
class BudgetState:
    """What `agentcoach stats` shows of the shared state: seconds of sends already handed out, the pause left."""

    backlog_s: float
    paused_for: float
    pauses: int


class BudgetStore(Protocol):
    @property
    def name(self) -> str:
        """What `agentcoach stats` calls it: memory, postgresql, redis, or a fallback."""
        ...

    async def reserve(self, chat_id: int | None, horizon: float, interval: float, chat_gap: float) -> Grant:
        """One reservation step (the module's docstring): atomic against every other process of the store."""
        ...

    async def pause(self, seconds: float) -> None:
        """Telegram said RetryAfter: nothing is reserved for anyone before `seconds` from now."""
        ...

    async def paused_for(self) -> float:
        """Seconds left of a pause (0: none)."""
        ...

    async def state(self) -> BudgetState: ...

    async def close(self) -> None: ...


def decide(
    now: float,
    next_slot: float,
    paused_until: float,
    chat_next: float | None,
    horizon: float,
    interval: float,
) -> tuple[Grant, float]:
    """The reservation rule on plain numbers (the memory store's, and the PostgreSQL store's between its read and
    its write): the grant and the new next free slot. The Lua script in `RedisStore` is the same rule."""
    if paused_until > now:
        return Grant(False, paused_until - now), next_slot
    slot = max(now, next_slot)
    if slot - now > horizon:
        return Grant(False, slot - now - horizon), next_slot
    if chat_next is not None and chat_next > slot:
        return Grant(False, chat_next - slot, chat_busy=True), next_slot
    return Grant(True, slot - now), slot + interval


class MemoryStore:
    """The budget of one process (SQLite runs one), or a process's conservative share while the shared one cannot
    be reached. `clock` is monotonic seconds (tests give their own)."""

    name = "memory"

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self.next_slot = 0.0
        self.paused_until = 0.0
        self.pauses = 0
        self.chats: dict[int, float] = {}
        self._pruned_at = 0.0

    async def reserve(self, chat_id: int | None, horizon: float, interval: float, chat_gap: float) -> Grant:
        now = self.clock()
        chat_next = self.chats.get(chat_id) if chat_id is not None else None
        grant, self.next_slot = decide(now, self.next_slot, self.paused_until, chat_next, horizon, interval)
        if grant.reserved and chat_id is not None:
            self.chats[chat_id] = now + grant.wait + chat_gap
            if now - self._pruned_at > CHAT_MEMORY_S:
                self._pruned_at = now
                self.chats = {chat: at for chat, at in self.chats.items() if at > now}
        return grant

    async def pause(self, seconds: float) -> None:
        self.pauses += 1
        self.paused_until = max(self.paused_until, self.clock() + seconds)

    async def paused_for(self) -> float:
        return max(0.0, self.paused_until - self.clock())

    async def state(self) -> BudgetState:
        now = self.clock()
        return BudgetState(max(0.0, self.next_slot - now), max(0.0, self.paused_until - now), self.pauses)

    async def close(self) -> None:
        """Nothing to release."""


_NOW = "extract(epoch from clock_timestamp())::float8"
# The lock first, then the read: in one statement, a reservation that waited for the lock would see the row's
# newest version but the chat's time as it was before the wait (READ COMMITTED's snapshot is the statement's).
_LOCK = text("SELECT 1 FROM send_budget WHERE id = 1 FOR UPDATE")
_READ = text(
    f"SELECT next_slot, paused_until, {_NOW}, "
    "(SELECT next_at FROM send_budget_chats WHERE chat_id = :chat) FROM send_budget WHERE id = 1"
)
_MOVE = text("UPDATE send_budget SET next_slot = :slot WHERE id = 1")
_MOVE_AND_CHAT = text(
    "WITH moved AS (UPDATE send_budget SET next_slot = :slot WHERE id = 1) "
    "INSERT INTO send_budget_chats (chat_id, next_at) VALUES (:chat, :next_at) "
    "ON CONFLICT (chat_id) DO UPDATE SET next_at = excluded.next_at"
)
_PAUSE = text(
    f"UPDATE send_budget SET paused_until = greatest(paused_until, {_NOW} + :seconds), pauses = pauses + 1 WHERE id = 1"
)
_PAUSED_FOR = text(f"SELECT greatest(0, paused_until - {_NOW}) FROM send_budget WHERE id = 1")
_STATE = text(
    f"SELECT greatest(0, next_slot - {_NOW}), greatest(0, paused_until - {_NOW}), pauses FROM send_budget WHERE id = 1"
)
_FORGET_CHATS = text(f"DELETE FROM send_budget_chats WHERE next_at < {_NOW} - :memory")
_FIRST_ROW = text(
    "INSERT INTO send_budget (id, next_slot, paused_until, pauses) VALUES (1, 0, 0, 0) ON CONFLICT (id) DO NOTHING"
)


class PostgresStore:
    """The budget in the database every process already shares: one row locked for the moment of a reservation
    (three statements and the commit, ~1 ms), and the chats' next times in a table pruned as they pass."""

    name = "postgresql"

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine
        self._ready = False
        self._pruned_at = 0.0
        self.clock = StoreClock(self._now)

    async def _now(self) -> float:
        async with self.engine.connect() as connection:
            return float((await connection.execute(text(f"SELECT {_NOW}"))).scalar_one())

    async def _first_row(self) -> None:
        if not self._ready:
            async with self.engine.begin() as connection:
                await connection.execute(_FIRST_ROW)
            self._ready = True

    async def reserve(self, chat_id: int | None, horizon: float, interval: float, chat_gap: float) -> Grant:
        await self._first_row()
        await self.clock.offset()  # measured (now and then) before the reservation, never between it and its use
        async with self.engine.begin() as connection:
            await connection.execute(_LOCK)
            next_slot, paused_until, now, chat_next = (await connection.execute(_READ, {"chat": chat_id})).one()
            grant, slot = decide(now, next_slot, paused_until, chat_next, horizon, interval)
            if grant.reserved:
                if chat_id is None:
                    await connection.execute(_MOVE, {"slot": slot})
                else:
                    moved = {"slot": slot, "chat": chat_id, "next_at": now + grant.wait + chat_gap}
                    await connection.execute(_MOVE_AND_CHAT, moved)
        if grant.reserved:  # the slot on the database's clock, as a wait from the instant the answer is here
            grant = replace(grant, wait=await self.clock.wait_until(now + grant.wait))
        if grant.reserved and time.monotonic() - self._pruned_at > CHAT_MEMORY_S:
            self._pruned_at = time.monotonic()
            async with self.engine.begin() as connection:
                await connection.execute(_FORGET_CHATS, {"memory": CHAT_MEMORY_S})
        return grant

    async def pause(self, seconds: float) -> None:
        await self._first_row()
        async with self.engine.begin() as connection:
            await connection.execute(_PAUSE, {"seconds": seconds})

    async def paused_for(self) -> float:
        await self._first_row()
        async with self.engine.connect() as connection:
            return float((await connection.execute(_PAUSED_FOR)).scalar_one())

    async def state(self) -> BudgetState:
        await self._first_row()
        async with self.engine.connect() as connection:
            backlog, paused, pauses = (await connection.execute(_STATE)).one()
        return BudgetState(float(backlog), float(paused), int(pauses))

    async def close(self) -> None:
        """The engine belongs to the process."""


# KEYS: the state hash, the chat's key (or a dummy). ARGV: horizon, interval, chat gap, whether there is a chat.
_RESERVE_LUA = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local next_slot = tonumber(redis.call('HGET', KEYS[1], 'next_slot') or '0')
local paused = tonumber(redis.call('HGET', KEYS[1], 'paused_until') or '0')
local horizon, interval, gap = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
if paused > now then return {0, tostring(paused - now), 0, tostring(now)} end
local slot = math.max(now, next_slot)
if slot - now > horizon then return {0, tostring(slot - now - horizon), 0, tostring(now)} end
if ARGV[4] == '1' then
  local chat_next = tonumber(redis.call('GET', KEYS[2]) or '0')
  if chat_next > slot then return {0, tostring(chat_next - slot), 1, tostring(now)} end
  redis.call('SET', KEYS[2], tostring(slot + gap), 'PX', math.ceil((slot - now + gap) * 1000) + 1000)
end
redis.call('HSET', KEYS[1], 'next_slot', tostring(slot + interval))
return {1, tostring(slot - now), 0, tostring(now)}
"""
_PAUSE_LUA = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local paused = tonumber(redis.call('HGET', KEYS[1], 'paused_until') or '0')
redis.call('HSET', KEYS[1], 'paused_until', tostring(math.max(paused, now + tonumber(ARGV[1]))))
redis.call('HINCRBY', KEYS[1], 'pauses', 1)
return 1
"""
_STATE_LUA = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local next_slot = tonumber(redis.call('HGET', KEYS[1], 'next_slot') or '0')
local paused = tonumber(redis.call('HGET', KEYS[1], 'paused_until') or '0')
local pauses = tonumber(redis.call('HGET', KEYS[1], 'pauses') or '0')
return {tostring(math.max(0, next_slot - now)), tostring(math.max(0, paused - now)), pauses}
"""


class RedisStore:
    """The budget in Redis (REDIS_URL): one Lua script per reservation, atomic on the server. `prefix` keeps two
    deployments (or two tests) on one Redis apart; the bot token's id is a natural one."""

    name = "redis"

    def __init__(self, url: str, prefix: str = "agentcoach:budget", timeout: float = 0.5) -> None:
        from redis.asyncio import Redis  # only a deployment with REDIS_URL loads the client

        self.redis: Any = Redis.from_url(url, socket_timeout=timeout, socket_connect_timeout=timeout)
        self.prefix = prefix
        self.state_key = f"{prefix}:state"
        self._reserve = self.redis.register_script(_RESERVE_LUA)
        self._pause = self.redis.register_script(_PAUSE_LUA)
        self._state = self.redis.register_script(_STATE_LUA)
        self.clock = StoreClock(self._now)

    async def _now(self) -> float:
        seconds, microseconds = await self.redis.time()
        return float(seconds) + float(microseconds) / 1_000_000

    async def reserve(self, chat_id: int | None, horizon: float, interval: float, chat_gap: float) -> Grant:
        chat_key = f"{self.prefix}:chat:{chat_id if chat_id is not None else '-'}"
        has_chat = "1" if chat_id is not None else "0"
        await self.clock.offset()  # measured (now and then) before the reservation, never between it and its use
        reserved, wait, chat_busy, now = await self._reserve(
            keys=[self.state_key, chat_key], args=[horizon, interval, chat_gap, has_chat]
        )
        if reserved:
            return Grant(True, await self.clock.wait_until(float(now) + float(wait)))
        return Grant(False, float(wait), chat_busy=bool(chat_busy))

    async def pause(self, seconds: float) -> None:
        await self._pause(keys=[self.state_key], args=[seconds])

    async def paused_for(self) -> float:
        return (await self.state()).paused_for

    async def state(self) -> BudgetState:
        backlog, paused, pauses = await self._state(keys=[self.state_key])
        return BudgetState(float(backlog), float(paused), int(pauses))

    async def close(self) -> None:
        await self.redis.aclose()


# What a store that cannot be reached raises: the network, Redis, the database. Anything else is a bug.
def unreachable_errors() -> tuple[type[BaseException], ...]:
    errors: tuple[type[BaseException], ...] = (OSError, asyncio.TimeoutError, SQLAlchemyError)
    try:
        from redis.exceptions import RedisError
    except ImportError:  # pragma: no cover - redis is a dependency
        return errors
    return (*errors, RedisError)


class FallbackStore:
    """A shared store with a stand-in for when it cannot be reached (Redis restarted, the network gone): each
    failure is answered by `fallback` (the database behind Redis; behind the database, a conservative share in
    this process), one WARNING when it starts and one INFO when the shared store answers again, tried every
    `retry_every` seconds. `share` divides the rate while on a memory fallback (how many processes were alive)."""

    def __init__(
        self,
        primary: BudgetStore,
        fallback: BudgetStore,
        retry_every: float = 10.0,
        share: Callable[[], int] = lambda: 1,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.primary, self.fallback = primary, fallback
        self.retry_every = retry_every
        self.share = share
        self.clock = clock
        self._down_since: float | None = None
        self._errors = unreachable_errors()

    @property
    def name(self) -> str:
        return self.primary.name if self._down_since is None else f"{self.fallback.name} (fallback)"

    def _use_primary(self) -> bool:
        return self._down_since is None or self.clock() - self._down_since >= self.retry_every

    def _failed(self, error: BaseException) -> None:
        if self._down_since is None:
            log.warning(
                "send budget: %s cannot be reached (%s); using %s until it answers again",
                self.primary.name,
                type(error).__name__,
                self.fallback.name if self.fallback.name != "memory" else "a conservative share in this process",
            )
        self._down_since = self.clock()

    def _answered(self) -> None:
        if self._down_since is not None:
            log.info("send budget: %s answers again", self.primary.name)
            self._down_since = None

    async def _ask(self, question: Callable[[BudgetStore], Awaitable[T]]) -> T:
        """The primary store's answer (unless it failed less than `retry_every` ago), else the fallback's."""
        if self._use_primary():
            try:
                answer = await question(self.primary)
            except self._errors as error:
                self._failed(error)
            else:
                self._answered()
                return answer
        return await question(self.fallback)

    async def reserve(self, chat_id: int | None, horizon: float, interval: float, chat_gap: float) -> Grant:
        def alone(store: BudgetStore) -> float:  # on its own, this process may only spend its share
            return interval * max(1, self.share()) if store is self.fallback and store.name == "memory" else interval

        return await self._ask(lambda store: store.reserve(chat_id, horizon, alone(store), chat_gap))

    async def pause(self, seconds: float) -> None:
        await self._ask(lambda store: store.pause(seconds))

    async def paused_for(self) -> float:
        return await self._ask(lambda store: store.paused_for())

    async def state(self) -> BudgetState:
        try:
            return await self.primary.state()
        except self._errors:
            return await self.fallback.state()

    async def close(self) -> None:
        await self.primary.close()
        await self.fallback.close()
