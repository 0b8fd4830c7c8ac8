"""`agentcoach broadcast FILE`: an announcement to every active agent, queued and then sent by the engine.

1. The file is read and checked before anything is queued: UTF-8, not empty, valid Telegram HTML (checked the way
   the in-process Bot API checks every reply, runtime.local_api), and one message long (4,096 characters once the
   HTML is read, as handlers.replies counts them). A broadcast is never split: each agent gets it in one piece.
2. The operator confirms ("send to N active agents? [y/N]"), or gives --yes; without a terminal to ask on and
   without --yes, nothing happens.
3. The copies are queued (bot.broadcasts: one per active agent, never a second one on a re-run).
4. This process runs the engine itself, at Telegram's pace, until no copy of this broadcast is waiting or in
   flight, printing where it is every few seconds. The engine sends whatever else is due meanwhile (it is the
   engine). On PostgreSQL a serving bot's engine may take some copies too: each is claimed by one process. On
   SQLite a running bot owns the database (bot.ownership: one process per file), so the copies are only queued
   and that bot sends them.

Killed at any point (kill -9 included), the same command again resumes: the broadcast is found by its text, nothing
is queued twice, what was sent is not sent again, and the copies the dead process held are taken back by the
engine's start (at most the ones in flight at the kill can go twice, as for any delivery: bot.scheduler).
"""

from __future__ import annotations

import asyncio
import contextlib
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from telegram.error import InvalidToken
from telegram.error import TelegramError as BotApiError

from bot import broadcasts
from bot.config import Settings
from bot.db import engine_from_settings, session_factory, upgrade
from bot.models import Broadcast
from bot.ownership import DatabaseInUse
from bot.scheduler import Engine
from bot.text import clean
from handlers.context import Services
from handlers.replies import MESSAGE_LIMIT, split_html
from runtime.delivery import SWEEP_INTERVAL_SECONDS, engine_of
from runtime.local_api import TelegramError, plain_text

PROGRESS_EVERY = 3.0  # seconds between progress lines


class AnnouncementRefused(Exception):
    """The file cannot be broadcast as it is; the message is the one line the operator needs."""


def read_announcement(path: Path) -> str:
    """The announcement in `path`, cleaned like any stored text (bot.text) and trimmed; raises AnnouncementRefused."""
    try:
        data = path.read_bytes()
    except OSError as error:
        raise AnnouncementRefused(f"cannot read {path}: {error.strerror or error}") from None
    try:
        text = clean(data.decode("utf-8")).strip()
    except UnicodeDecodeError as error:
        raise AnnouncementRefused(f"{path} is not UTF-8 text (byte {error.start} cannot be read)") from None
    try:
        shown = plain_text(text, "HTML")
    except TelegramError as error:
        reason = error.description.removeprefix("Bad Request: ")
        raise AnnouncementRefused(
            f"{path} is not valid Telegram HTML ({reason}); write &amp; &lt; &gt; for & < >"
        ) from None
    if not shown.strip():
        raise AnnouncementRefused(f"{path} is empty: there is nothing to send")
    if len(split_html(text)) > 1:
        width = len(shown.encode("utf-16-le")) // 2
        raise AnnouncementRefused(
            f"{path} is {width} characters once its HTML is read; one Telegram message holds {MESSAGE_LIMIT:,}"
        )
    return text


@dataclass(frozen=True)
class Plan:
    """What the confirmation asks about: how many agents, and how far an earlier run of the same text got."""

    agents: int
    before: broadcasts.Progress | None  # None: a new broadcast

    def question(self) -> str:
        resumed = f" (resuming: {self.before.line()})" if self.before is not None else ""
        return f"send to {self.agents} active agents{resumed}? [y/N] "


async def plan(settings: Settings, text: str) -> Plan:
    """Look without writing (beyond migrating): the operator has not said yes yet."""
    engine = engine_from_settings(settings)
    try:
        await upgrade(engine)
        async with session_factory(engine)() as session:
            agents = await broadcasts.active_agents(session)
            digest = broadcasts.text_digest(text)
            found = (await session.execute(select(Broadcast.id).where(Broadcast.digest == digest))).scalar()
            before = await broadcasts.progress(session, found) if found is not None else None
    finally:
        await engine.dispose()
    return Plan(agents, before)


async def send(settings: Settings, text: str, out: TextIO) -> int:
    """Queue the copies, then send them with this process's engine (or leave them to the bot that owns SQLite)."""
    from handlers.digest import close_charts
    from runtime.app import build_application

    token = settings.token()
    assert token is not None
    engine = engine_from_settings(settings)
    sessions = session_factory(engine)
    clock = settings.clock()
    app = build_application(Services(settings, sessions, clock), token=token, base_url=settings.telegram_api_base_url)
    delivery_engine = engine_of(app)
    try:
        await upgrade(engine)  # as `agentcoach run` does; a no-op on a database that is up to date
        async with sessions() as session, session.begin():
            broadcast, _ = await broadcasts.find_or_create(session, text, clock.now())
        added = await broadcasts.enqueue(sessions, broadcast.id, clock.now())
        async with sessions() as session:
            total = (await broadcasts.progress(session, broadcast.id)).total
        label = f"broadcast #{broadcast.id}"
        queued = f"queued {added}" if added == total else f"queued {added} more ({total} in all)"
        try:
            await delivery_engine.start()  # the ownership lock: refused while a bot runs on this SQLite file
        except DatabaseInUse:
            say(out, f"{label}: {queued}; the running bot will send them")
            return 0
        try:
            await app.initialize()
        except InvalidToken:  # (its message holds the token)
            say(out, f"{label}: {queued}, but Telegram rejected TELEGRAM_BOT_TOKEN; fix it and run the command again")
            return 1
        except BotApiError as error:
            reason = str(error).replace(token, "<token>")
            say(out, f"{label}: {queued}, but Telegram cannot be reached ({reason}); run the command again")
            return 1
        say(out, f"{label}: {queued}; sending")
        try:
            done = await sweep_until_sent(
                delivery_engine, sessions, broadcast.id, lambda found: say(out, f"{label}: {found.line()}")
            )
        finally:
            await app.shutdown()
        say(out, f"{label} done: {done.line()}")
        return 0
    finally:
        await delivery_engine.stop()
        await close_charts()
        await engine.dispose()


async def sweep_until_sent(
    engine: Engine,
    sessions: async_sessionmaker[AsyncSession],
    broadcast_id: int,
    report: Callable[[broadcasts.Progress], None],
    every: float = PROGRESS_EVERY,
) -> broadcasts.Progress:
    """Sweep (as the bot's tick does) until none of the broadcast's copies is waiting or in flight, reporting the
    progress every `every` seconds meanwhile (one sweep of a wave can last many seconds)."""

    async def where() -> broadcasts.Progress:
        async with sessions() as session:
            return await broadcasts.progress(session, broadcast_id)

    async def keep_reporting() -> None:
        while True:
            await asyncio.sleep(every)
            report(await where())

    reporter = asyncio.create_task(keep_reporting())
    try:
        while not (found := await where()).done:
            swept = await engine.sweep()
            if not swept.claimed and not engine.backlog:  # waiting for a retry, or for another process's sends
                await asyncio.sleep(SWEEP_INTERVAL_SECONDS)
        return found
    finally:
        reporter.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await reporter


def say(out: TextIO, line: str) -> None:
    print(f"agentcoach: {line}", file=out, flush=True)


def broadcast_command(settings: Settings, path: Path, *, yes: bool) -> int:
    """The command: check the file, confirm, queue and send. Exit 0 when done (or handed to the running bot)."""
    try:
        text = read_announcement(path)
    except AnnouncementRefused as error:
        print(f"agentcoach: {error}", file=sys.stderr)
        return 2
    if settings.token() is None:
        print("agentcoach: TELEGRAM_BOT_TOKEN is not set: a broadcast is sent through Telegram", file=sys.stderr)
        return 2
    if not yes and not sys.stdin.isatty():
        print("agentcoach: no terminal to confirm on; add --yes to send without asking", file=sys.stderr)
        return 2
    if not yes:
        planned = asyncio.run(plan(settings, text))
        try:
            answer = input(planned.question())
        except EOFError:  # Ctrl-D: a no
            answer = ""
        if answer.strip().lower() not in ("y", "yes"):
            print("agentcoach: nothing sent", file=sys.stderr)
            return 1
    try:
        return asyncio.run(send(settings, text, sys.stdout))
    except KeyboardInterrupt:
        print("agentcoach: interrupted; run the same command again to send the rest", file=sys.stderr)
        return 130
