"""The gate every update passes, by long polling or by webhook: one chat's updates one after the other, each update
applied once, and one log line and the metrics per update.

Several processes may serve one PostgreSQL database (webhooks behind a reverse proxy), so nothing here relies on
process memory for correctness:

- **One chat at a time.** An update takes its chat's lock before anything is read and keeps it until its replies
  are sent. On PostgreSQL that is a session-level advisory lock in the two-int4 form, class `CHAT_LOCKS` and the
  chat id folded to 32 bits, on a connection the gate keeps for itself (`GateLine`; its `objsubid` is 2, so
  `bot.ownership`, which reads owner keys with `objsubid = 1`, never mistakes it for a live process). Inside one
  process an asyncio lock per chat comes first, so waiting within a process never holds a connection. On
  SQLite (one process per file, `bot.ownership`) the asyncio lock is all it takes.
- **Once.** Under that lock: an update id already in `handled_updates` is skipped ("duplicate"); otherwise the
  update is handled and its id remembered before the lock goes. A crash in between leaves the id unremembered,
  so Telegram's retry handles it again: at least once, never twice after it was handled (bot.handled_updates).
- **Cheap.** Two round trips per update on PostgreSQL, two trips to aiosqlite's thread on SQLite, at the driver
  (bot.handled_updates says why).
- **Seen.** One line per update on the `agentcoach.updates` logger (id, handler, milliseconds, outcome; the
  fields also in the record's `extra`), never the text: a handler is named by the callback registered for it.

The poller's own lock is here too: two pollers on one token only fight over getUpdates, so a second `agentcoach
run` on the same PostgreSQL database stops before it calls Telegram (`take_poller_lock`).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine
from telegram import Update
from telegram.ext import Application, BaseHandler

from bot.handled_updates import KEPT_FOR, Ledger, prune
from handlers.context import SERVICES_KEY, Services
from runtime.metrics import UPDATE_SECONDS, UPDATES

log = logging.getLogger("agentcoach.updates")

# Classes of our two-int4 advisory locks ("ac" and a number): chats, and the one poller of a database.
CHAT_LOCKS = 0x6163_0001
POLLER_LOCK = 0x6163_0002
# Updates handled at once by one process (webhook requests; polling hands them over one by one). Each holds a
# gate connection (kept open afterwards, so at most this many) and, while its transaction runs, another: with
# SQLAlchemy's default pool (5 + 10), the ownership and poller locks and the sweep beside them, transactions
# always find a free connection. A bigger pool (bot.db) may take more: raise both together.
IN_FLIGHT = 8
# Every so many remembered updates the table is pruned of ids older than a day (the first time at the first).
PRUNE_EVERY = 1000

NO_HANDLER = "none"


class Outcome(StrEnum):
    """How an update ended, in its log line and the metrics' label."""

    OK = "ok"
    ERROR = "error"
    DUPLICATE = "duplicate"


@dataclass
class Handling:
    """The update in hand, filled in as it goes: the callback that took it, and whether it ended in an error."""

    update_id: int
    handler: str = NO_HANDLER
    outcome: Outcome = Outcome.OK


_handling: ContextVar[Handling | None] = ContextVar("agentcoach_handling", default=None)


Callback = Callable[[Any, Any], Coroutine[Any, Any, Any]]


def named(callback: Callback) -> Callback:
    """The callback, telling the update in hand its name when it runs (PTB has already chosen it by then)."""
    name = f"{callback.__module__}.{callback.__qualname__}"

    @functools.wraps(callback)
    async def run(update: Any, context: Any) -> Any:
        handling = _handling.get()
        if handling is not None:
            handling.handler = name
        return await callback(update, context)

    return run


def chat_key(chat_id: int) -> int:
    """A chat id (up to 52 bits, negative for groups) folded into the int4 of an advisory lock. Two chats that fold
    alike only wait for each other."""
    folded = (chat_id ^ (chat_id >> 32)) & 0xFFFF_FFFF
    return folded - (1 << 32) if folded >= 1 << 31 else folded


class ChatLocks:
    """An asyncio lock per chat, kept only while some update of the chat holds or waits for it."""

    def __init__(self) -> None:
        self._locks: dict[int, tuple[asyncio.Lock, list[int]]] = {}

    @contextlib.asynccontextmanager
    async def held(self, chat_id: int) -> AsyncIterator[None]:
        entry = self._locks.get(chat_id)
        if entry is None:
            entry = self._locks[chat_id] = (asyncio.Lock(), [0])
        lock, users = entry
        users[0] += 1
        try:
            async with lock:
                yield
        finally:
            users[0] -= 1
            if not users[0]:
                del self._locks[chat_id]

    def __len__(self) -> int:
        return len(self._locks)


class GateLine:
    """A connection the gate keeps for itself, spoken to at the driver: the chat's lock and the ledger.

    Two round trips per update on PostgreSQL: the lock and the check in one, the mark and the unlock in the other
    (after the commit, so the next holder of the lock sees the mark). A line whose state is in doubt (a statement
    interrupted or failed, or the lock still held because the handling itself was interrupted) is closed, never
    reused: the server drops a closed session's locks."""

    def __init__(self, connection: AsyncConnection, driver: Any) -> None:
        self.connection, self.driver = connection, driver
        self.ledger = Ledger(connection.dialect, driver)
        self.in_doubt = False
        self._key: int | None = None

    async def enter(self, update_id: int, chat_id: int | None) -> bool:
        """Take the chat's lock (PostgreSQL) and tell whether the update was already handled."""
        self._key = chat_key(chat_id) if chat_id is not None and self.ledger.postgres else None
        take = f"SELECT pg_advisory_lock({CHAT_LOCKS}, {self._key})" if self._key is not None else None
        self.in_doubt = True
        duplicate = await self.ledger.seen(update_id, first=take)
        self.in_doubt = self._key is not None  # until the lock is let go
        return duplicate

    async def leave(self, handled: int | None, now: datetime) -> None:
        """Remember the `handled` update (None: nothing to remember), then let go of the chat's lock."""
        release = f"SELECT pg_advisory_unlock({CHAT_LOCKS}, {self._key})" if self._key is not None else None
        self.in_doubt = True
        if handled is not None:
            await self.ledger.remember(handled, now, then=release)
        elif release is not None:
            await self.driver.execute(release)
        self.in_doubt = False

    def closed(self) -> bool:
        """The server ended the session (a restart): asyncpg notices without a round trip."""
        is_closed = getattr(self.driver, "is_closed", None)
        return bool(is_closed()) if callable(is_closed) else False

    async def drop(self) -> None:
        with contextlib.suppress(Exception):
            await self.connection.invalidate()
        with contextlib.suppress(Exception):
            await self.connection.close()


class GateLines:
    """The gate's connections: one per update in hand (at most IN_FLIGHT), kept open between updates, because
    taking one from SQLAlchemy's pool for every update costs a ping on PostgreSQL and a reset on both. They are
    never handed back to the pool (their settings are the gate's): one in doubt is closed."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine
        self._idle: list[GateLine] = []

    @contextlib.asynccontextmanager
    async def line(self) -> AsyncIterator[GateLine]:
        line = await self._take()
        try:
            yield line
        finally:
            if line.in_doubt:
                await line.drop()
            else:
                self._idle.append(line)

    async def _take(self) -> GateLine:
        while self._idle:
            line = self._idle.pop()
            if not line.closed():
                return line
            await line.drop()
        connection = await self.engine.connect()
        line = GateLine(connection, (await connection.get_raw_connection()).driver_connection)
        try:
            await line.ledger.prepare()
        except BaseException:
            await line.drop()
            raise
        return line

    async def close(self) -> None:
        idle, self._idle = self._idle, []
        for line in idle:
            await line.drop()


class GatedApplication(Application[Any, Any, Any, Any, Any, Any]):
    """python-telegram-bot's Application with every update passing the gate (see the module's docstring)."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.chat_locks = ChatLocks()
        self._in_flight = asyncio.Semaphore(IN_FLIGHT)
        self._lines: GateLines | None = None
        self._remembered = 0

    def add_handler(self, handler: BaseHandler[Any, Any, Any], group: int = 0) -> None:
        handler.callback = named(handler.callback)
        super().add_handler(handler, group)

    async def process_update(self, update: object) -> None:
        if not isinstance(update, Update):
            await super().process_update(update)
            return
        started = time.perf_counter()
        handling = Handling(update.update_id)
        reset = _handling.set(handling)
        try:
            await self._gated(update, handling)
        except BaseException:  # interrupted (shut down, cancelled): not handled, whatever it got to
            handling.outcome = Outcome.ERROR
            raise
        finally:
            _handling.reset(reset)
            seen_update(handling, time.perf_counter() - started)

    async def process_error(self, update: object | None, error: Exception, *args: Any, **kwargs: Any) -> bool:
        handling = _handling.get()
        if handling is not None and isinstance(update, Update) and update.update_id == handling.update_id:
            handling.outcome = Outcome.ERROR
        return await super().process_error(update, error, *args, **kwargs)

    async def shutdown(self) -> None:
        await super().shutdown()
        if self._lines is not None:
            await self._lines.close()

    async def _gated(self, update: Update, handling: Handling) -> None:
        services: Services = self.bot_data[SERVICES_KEY]
        if self._lines is None:
            self._lines = GateLines(services.sessions.kw["bind"])
        chat = update.effective_chat
        chat_id = chat.id if chat is not None else None
        handled = False
        async with self._chat_lock(chat_id), self._in_flight:  # (waiting for its chat takes no place in flight)
            try:
                async with self._lines.line() as line:
                    if await line.enter(update.update_id, chat_id):
                        handling.outcome = Outcome.DUPLICATE
                        await line.leave(None, services.clock.now())
                        return
                    await super().process_update(update)  # (if this is interrupted, the line is closed)
                    handled = True
                    await line.leave(update.update_id, services.clock.now())
                await self._prune_now_and_then(services)
            except Exception as error:
                if not handled:  # the database failed the gate itself: the error handler says sorry
                    await self.process_error(update, error)
                    return
                log.warning(  # the agent has the replies; only a redelivery of this update would repeat them
                    "update %s was handled, but the gate could not mark it so: %s",
                    update.update_id,
                    type(error).__name__,
                    extra={"update_id": update.update_id},
                )

    @contextlib.asynccontextmanager
    async def _chat_lock(self, chat_id: int | None) -> AsyncIterator[None]:
        """Within the process, first: an update waiting for another of its chat holds no connection."""
        if chat_id is None:
            yield
            return
        async with self.chat_locks.held(chat_id):
            yield

    async def _prune_now_and_then(self, services: Services) -> None:
        if self._remembered % PRUNE_EVERY == 0:
            async with services.sessions() as session, session.begin():
                await prune(session, services.clock.now() - KEPT_FOR)
        self._remembered += 1


def seen_update(handling: Handling, seconds: float) -> None:
    """The update's log line and metrics."""
    UPDATES.labels(handling.handler, handling.outcome).inc()
    UPDATE_SECONDS.labels(handling.handler).observe(seconds)
    if log.isEnabledFor(logging.INFO):
        milliseconds = round(seconds * 1000, 1)
        fields = {
            "update_id": handling.update_id,
            "handler": handling.handler,
            "duration_ms": milliseconds,
            "outcome": handling.outcome,
        }
        log.info(
            "update %s %s %s %.1f ms",
            handling.update_id,
            handling.handler,
            handling.outcome,
            milliseconds,
            extra=fields,
        )


class PollerRunning(Exception):
    """Another `agentcoach run` polls for this database: the message is the one line an operator needs."""


async def take_poller_lock(engine: AsyncEngine) -> Callable[[], Awaitable[None]] | None:
    """On PostgreSQL, the lock that says "this process polls for this database", held on a connection of its own
    for the process's life; returns how to let go of it. None on SQLite, where `bot.ownership`'s file lock already
    keeps a second process off the database."""
    if engine.dialect.name != "postgresql":
        return None
    connection = await engine.connect()
    await connection.execution_options(isolation_level="AUTOCOMMIT")
    taken = await connection.scalar(text("SELECT pg_try_advisory_lock(:class, 0)"), {"class": POLLER_LOCK})
    if not taken:
        await connection.close()
        url = make_url(str(engine.url))
        raise PollerRunning(
            f"another agentcoach poller is running on this database ({url.host}:{url.port or 5432}/{url.database}):"
            " stop it first, or serve from several processes with `agentcoach run --webhook`"
        )

    async def release() -> None:
        with contextlib.suppress(Exception):  # closing the session is what lets go of the lock
            await connection.invalidate()
        await connection.close()

    return release
