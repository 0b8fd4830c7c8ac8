"""Issue 14: updates handled per second by one process, with the floors beside them in the same run.

    .venv/bin/python -m bench.updates --backend sqlite|postgresql|both [--cycles 400] [--repeats 5] [--cpu 1]

The real handler stack (`runtime.app.build_application`, every handler, `prepare` run as the shell does) is fed
Update objects built from JSON one at a time through `Application.process_update`, as polling and webhook mode
do; the timed span includes `Update.de_json`. At the HTTP boundary a fake Bot API (`FastBotAPI`, a PTB
`BaseRequest`) answers every call at once with valid JSON (the message it would send back, reply_markup included)
and records nothing; `--api local` also measures `runtime.local_api.LocalBotAPI`, which checks the HTML and
records every call, to show what it costs.

The database: `agents` onboarded agents (default 10,000) seeded in bulk (`seed`), each with the client 王先生 (no
follow-ups), the client 李女士 with one follow-up due later today, and today's reflection waiting at its third
question. One `cycle` per agent is the mix, in the order an agent would send it: /tip, 👍 on that tip, /today,
a typed reflection answer, `/followup 王先生 明天下午3点 带看新房` and its ✅ confirm press. Each repeat uses agents
no earlier repeat touched, so every repeat sees the same state. The clock is fixed (Wednesday 10:00 in Shanghai).

Floors in the same run, on the same fake Bot API: a bare python-telegram-bot `CommandHandler` that replies
(no database), and the same plus one ORM transaction reading one agent row (`SELECT … WHERE telegram_user_id`,
commit); then the mix's own floors (bench/mix_floor.py): the mix's statements and replies with none of the bot's
code, and the same with the update gate, the send budget and the time phrase the issues require. Per repeat all
run in turn, so machine load hits them alike; the figures are medians over repeats.

Counted per update: SQL statements (SQLAlchemy's `before_cursor_execute`), commits, and aiosqlite thread round
trips (calls of `aiosqlite.Connection._execute`, through which every cursor, fetch, close and commit goes).
`--profile FILE` writes a cProfile of one extra run of ours. The process is pinned to one core (`--cpu`).
`seed`, `cycle` and `KINDS` are importable: the multi-process benchmark behind nginx reuses them.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import itertools
import json
import logging
import os
import platform
import pstats
import statistics
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import aiosqlite
import asyncpg  # type: ignore[import-untyped]
from sqlalchemy import event, select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker
from telegram import Update
from telegram.constants import ParseMode
from telegram.ext import Application, CommandHandler, ContextTypes, Defaults
from telegram.request import BaseRequest, RequestData

from bench import database
from bench.report import Goal, Result, render, save
from bot.clock import ManualClock
from bot.config import load_settings
from bot.logs import configure_logging
from bot.models import Agent
from bot.tip_library import library
from bot.tips import choose
from handlers.context import Services
from runtime.app import build_application, prepare
from runtime.local_api import BOT_USER, LocalBotAPI

RESULTS = Path(__file__).resolve().parent / "results"
TOKEN = "123456:BENCH-UPDATES"
# Wednesday 2026-12-09, 10:00 in Shanghai (every seeded agent's zone): a work day, "明天下午3点" is Thursday 15:00.
NOW = datetime(2026, 12, 9, 2, 0, tzinfo=UTC)
ZONE_OFFSET = timedelta(hours=8)
KINDS = ("tip", "tip_up", "today", "reflection", "followup", "confirm")
FOLLOWUP_LINE = "/followup 王先生 明天下午3点 带看新房"
REFLECTION_ANSWER = "今天带看了两套房子，客户对第二套很满意"
MIX_FLOOR = "floor: the mix's statements and replies"
MIX_FLOOR_REQUIRED = "floor: the same + gate, send budget, time phrase"
USER_BASE = 10_000_000  # bench.database's agents: telegram user and chat id = USER_BASE + agent number
FIRST_CLIENT, SECOND_CLIENT = "王先生", "李女士"


def local_today(now: datetime = NOW) -> date:
    return (now + ZONE_OFFSET).date()


# ---------------------------------------------------------------------------------------------- seeding


async def seed(db: database.Database, agents: int, now: datetime = NOW) -> float:
    """`agents` onboarded agents with the mix's state (see the module docstring), in bulk; returns the seconds."""
    started = time.perf_counter()
    seeder = database.Seeder(db, agents, now)
    postgres = db.backend == "postgresql"

    def as_json(value: dict[str, Any]) -> Any:
        return json.dumps(value) if postgres else value  # asyncpg's COPY takes json as text

    day = local_today(now)
    due_today = now + timedelta(hours=6)  # 16:00 local
    copy = seeder._copy
    # Agents 1..n as bench.database lays them out (user and chat id USER_BASE + n), each with a waiting prompt.
    await copy("agents", lambda i: database._agent(i, now), 1, agents + 1)
    prompts = database.PROMPT_IDS
    await copy("deliveries", lambda i: database._prompt(i - prompts, now), prompts + 1, prompts + agents + 1)
    await copy("clients", lambda i: _client(i, agents, now), 1, 2 * agents + 1)
    await copy("follow_ups", lambda i: _follow_up(i, agents, due_today, now), 1, agents + 1)
    await copy("deliveries", lambda i: database._pending(i, i, "followup", i, due_today, now), 1, agents + 1)
    await copy("reflections", lambda i: _reflection(i, day, now, as_json), 1, agents + 1)
    if postgres:  # the table has no id sequence for the copy's setval to move
        connection = await asyncpg.connect(db.url.replace("postgresql+asyncpg://", "postgresql://", 1))
        try:
            rows = [_waiting(i, day, now, as_json) for i in range(1, agents + 1)]
            await connection.copy_records_to_table(
                "conversation_states", records=[tuple(row.values()) for row in rows], columns=list(rows[0])
            )
        finally:
            await connection.close()
    else:
        await copy("conversation_states", lambda i: _waiting(i, day, now, as_json), 1, agents + 1)
    await seeder.settle()
    return time.perf_counter() - started


def _client(i: int, agents: int, now: datetime) -> dict[str, Any]:
    agent = (i - 1) % agents + 1
    return database._client(agent, now) | {"id": i, "name": FIRST_CLIENT if i <= agents else SECOND_CLIENT}


def _follow_up(i: int, agents: int, due: datetime, now: datetime) -> dict[str, Any]:
    return {
        "id": i,
        "agent_id": i,
        "client_id": agents + i,  # 李女士
        "due_at": due,
        "note": database.NOTE,
        "status": "open",
        "outcome": None,
        "done_at": None,
        "created_at": now,
        "updated_at": now,
    }


def _reflection(i: int, day: date, now: datetime, as_json: Callable[[dict[str, Any]], Any]) -> dict[str, Any]:
    return {
        "id": i,
        "agent_id": i,
        "day": day,
        "status": "open",
        "step": "went_well",
        "clients": 3,
        "mood": 4,
        "went_well": None,
        "to_improve": None,
        "lesson": None,
        "tomorrow": None,
        "voice": as_json({}),
        "tip_id": None,
        "created_at": now,
        "updated_at": now,
        "completed_at": None,
    }


def _waiting(i: int, day: date, now: datetime, as_json: Callable[[dict[str, Any]], Any]) -> dict[str, Any]:
    return {
        "chat_id": USER_BASE + i,
        "flow": "reflect",
        "step": "went_well",
        "data": as_json({"day": day.isoformat()}),
        "updated_at": now,
    }


# ---------------------------------------------------------------------------------------------- the mix

_update_ids = itertools.count(1)


def _user(agent: int) -> dict[str, Any]:
    # The name and chat the seeded agent has, so no update rewrites the agent row.
    return {"id": USER_BASE + agent, "is_bot": False, "first_name": f"Agent {agent}", "language_code": "zh-hans"}


def _chat(agent: int) -> dict[str, Any]:
    return {"id": USER_BASE + agent, "type": "private", "first_name": f"Agent {agent}"}


def message_update(agent: int, text: str, now: datetime = NOW) -> dict[str, Any]:
    """What Telegram sends for a typed message (a leading /command gets its entity)."""
    message: dict[str, Any] = {
        "message_id": next(_update_ids),
        "date": int(now.timestamp()),
        "chat": _chat(agent),
        "from": _user(agent),
        "text": text,
    }
    if text.startswith("/"):
        message["entities"] = [{"type": "bot_command", "offset": 0, "length": len(text.split()[0])}]
    return {"update_id": next(_update_ids), "message": message}


def press_update(
    agent: int, data: str, message_id: int, keyboard: list[list[tuple[str, str]]], now: datetime = NOW
) -> dict[str, Any]:
    """A button press on the bot's message `message_id`, which shows `keyboard`."""
    message = {
        "message_id": message_id,
        "date": int(now.timestamp()),
        "chat": _chat(agent),
        "from": BOT_USER,
        "text": "…",
        "reply_markup": {
            "inline_keyboard": [[{"text": label, "callback_data": value} for label, value in row] for row in keyboard]
        },
    }
    query = {"id": f"q{next(_update_ids)}", "from": _user(agent), "chat_instance": str(agent), "data": data}
    return {"update_id": next(_update_ids), "callback_query": query | {"message": message}}


def cycle(agent: int, last_sent: Callable[[int], int] = lambda chat: 1) -> Iterator[tuple[str, dict[str, Any]]]:
    """The mix for one seeded agent, (kind, update JSON) in order; lazy, so a press names the message the bot
    sent just before (`last_sent(chat id)`: its message id; the fake Bot API here does not check it)."""
    chat = USER_BASE + agent
    tip = choose(library(), agent, {})  # what /tip shows an agent who has seen none
    assert tip is not None
    yield "tip", message_update(agent, "/tip")
    rating = [[("👍", f"tip:up:{tip.id}:-"), ("👎", f"tip:down:{tip.id}:-"), ("⭐", f"tip:save:{tip.id}:-")]]
    yield "tip_up", press_update(agent, f"tip:up:{tip.id}:-", last_sent(chat), rating)
    yield "today", message_update(agent, "/today")
    yield "reflection", message_update(agent, REFLECTION_ANSWER)  # before /followup, which takes over the chat
    yield "followup", message_update(agent, FOLLOWUP_LINE)
    yield "confirm", press_update(agent, f"fu:ok:{agent}", last_sent(chat), [[("✅", f"fu:ok:{agent}")]])


# ---------------------------------------------------------------------------------------------- fake Bot API

_TRUE = json.dumps({"ok": True, "result": True}).encode()
_MESSAGE_METHODS = frozenset({"sendMessage", "editMessageText", "editMessageReplyMarkup", "sendPhoto", "sendDocument"})


class FastBotAPI(LocalBotAPI):
    """Answers every Bot API call at once with what Telegram would return (the sent or edited message, or True),
    keeping only the last message id per chat: none of LocalBotAPI's checks and records."""

    def __init__(self) -> None:
        super().__init__()
        self.message_ids: dict[int, int] = {}

    def last_sent(self, chat_id: int) -> int:
        return self.message_ids.get(chat_id, 1)

    async def do_request(
        self,
        url: str,
        method: str,
        request_data: RequestData | None = None,
        read_timeout: Any = None,
        write_timeout: Any = None,
        connect_timeout: Any = None,
        pool_timeout: Any = None,
    ) -> tuple[int, bytes]:
        name = url.rsplit("/", 1)[-1]
        if name == "getMe":
            return 200, json.dumps({"ok": True, "result": BOT_USER}).encode()
        if name not in _MESSAGE_METHODS or request_data is None:
            return 200, _TRUE
        params = request_data.parameters
        chat_id = int(str(params.get("chat_id", 0)))
        if name.startswith("send"):
            message_id = self.message_ids[chat_id] = self.message_ids.get(chat_id, 0) + 1
        else:
            message_id = int(str(params.get("message_id", 1)))
        message: dict[str, Any] = {
            "message_id": message_id,
            "date": int(time.time()),
            "chat": {"id": chat_id, "type": "private"},
            "from": BOT_USER,
            "text": params.get("text", ""),
        }
        if "reply_markup" in params:
            message["reply_markup"] = params["reply_markup"]
        return 200, json.dumps({"ok": True, "result": message}).encode()


# ---------------------------------------------------------------------------------------------- counting


@dataclass
class Counts:
    """Statements, commits and aiosqlite thread round trips since the counters were installed."""

    statements: int = 0
    commits: int = 0
    round_trips: int = 0
    by_kind: dict[str, Counter[str]] = field(default_factory=dict)

    def snapshot(self) -> tuple[int, int, int]:
        return self.statements, self.commits, self.round_trips


COUNTS = Counts()


def count_statements(engine: AsyncEngine) -> None:
    def statement(*_: Any) -> None:
        COUNTS.statements += 1

    def commit(*_: Any) -> None:
        COUNTS.commits += 1

    event.listen(engine.sync_engine, "before_cursor_execute", statement)
    event.listen(engine.sync_engine, "commit", commit)


def count_round_trips() -> None:
    """Every call aiosqlite hands to its thread passes Connection._execute (cursor, execute, fetch, close,
    commit, rollback)."""
    original = aiosqlite.Connection._execute

    async def counted(self: aiosqlite.Connection, fn: Any, *args: Any, **kwargs: Any) -> Any:
        COUNTS.round_trips += 1
        return await original(self, fn, *args, **kwargs)

    aiosqlite.Connection._execute = counted  # type: ignore[method-assign]


# ---------------------------------------------------------------------------------------------- one run


@dataclass
class Run:
    """One pass of updates: latencies (ms) and counts per kind, and the wall time."""

    name: str
    wall_s: float = 0.0
    cpu_s: float = 0.0  # the process's CPU time (every thread): what the updates cost, whatever the machine's load
    latencies: dict[str, list[float]] = field(default_factory=dict)
    counts: dict[str, list[tuple[int, int, int]]] = field(default_factory=dict)

    @property
    def updates(self) -> int:
        return sum(len(values) for values in self.latencies.values())

    @property
    def rate(self) -> float:
        return self.updates / self.wall_s if self.wall_s else 0.0

    def all_latencies(self) -> list[float]:
        return [value for values in self.latencies.values() for value in values]


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


async def feed(app: Any, name: str, updates: Iterator[tuple[str, dict[str, Any]]]) -> Run:
    """Process the updates one after the other, timing each from its JSON to its last reply."""
    run = Run(name)
    bot = app.bot
    clock = time.perf_counter
    started, cpu_started = clock(), time.process_time()
    for kind, payload in updates:
        before = COUNTS.snapshot()
        begun = clock()
        await app.process_update(Update.de_json(payload, bot))
        run.latencies.setdefault(kind, []).append((clock() - begun) * 1000)
        after = COUNTS.snapshot()
        run.counts.setdefault(kind, []).append(tuple(b - a for a, b in zip(before, after, strict=True)))  # type: ignore[arg-type]
    run.wall_s = clock() - started
    run.cpu_s = time.process_time() - cpu_started
    return run


def ours(agents: range, api: FastBotAPI | LocalBotAPI) -> Iterator[tuple[str, dict[str, Any]]]:
    last_sent = api.last_sent if isinstance(api, FastBotAPI) else _local_last_sent(api)
    for agent in agents:
        yield from cycle(agent, last_sent)


def _local_last_sent(api: LocalBotAPI) -> Callable[[int], int]:
    def last(chat_id: int) -> int:
        shown = api.chat_messages(chat_id)
        return shown[-1].message_id if shown else 1

    return last


def floor_updates(agents: range) -> Iterator[tuple[str, dict[str, Any]]]:
    for agent in agents:
        yield "floor", message_update(agent, "/tip")


# ---------------------------------------------------------------------------------------------- floors


def bare_application(request: BaseRequest) -> Any:
    """python-telegram-bot alone: /tip answered with a fixed reply, built like the bot (HTML defaults)."""
    app = Application.builder().token(TOKEN).defaults(Defaults(parse_mode=ParseMode.HTML)).request(request).build()

    async def reply(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        assert update.effective_message is not None
        await update.effective_message.reply_text("<b>tip</b> of the day")

    app.add_handler(CommandHandler("tip", reply))
    return app


def orm_application(request: BaseRequest, sessions: async_sessionmaker[AsyncSession]) -> Any:
    """The bare handler plus one ORM transaction that reads the sender's agent row."""
    app = Application.builder().token(TOKEN).defaults(Defaults(parse_mode=ParseMode.HTML)).request(request).build()

    async def reply(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        assert update.effective_message is not None and update.effective_user is not None
        async with sessions() as session, session.begin():
            agent = (
                await session.execute(select(Agent).where(Agent.telegram_user_id == update.effective_user.id))
            ).scalar_one()
            name = agent.display_name
        await update.effective_message.reply_text(f"<b>tip</b> for {name}")

    app.add_handler(CommandHandler("tip", reply))
    return app


# ---------------------------------------------------------------------------------------------- the bench


@dataclass
class Options:
    backend: str
    agents: int
    cycles: int
    repeats: int
    warm_up: int
    apis: tuple[str, ...]
    profile: Path | None


async def bench_backend(options: Options, workdir: Path) -> dict[str, Any]:
    db = await database.create(options.backend, workdir)
    try:
        seconds = await seed(db, options.agents)
        print(f"   seeded {options.agents:,} agents on {options.backend} in {seconds:.1f} s", flush=True)
        engine, sessions = database.open_sessions(db)
        count_statements(engine)
        try:
            return await measure(options, db, sessions)
        finally:
            await engine.dispose()
    finally:
        await database.drop(db)


async def measure(
    options: Options, db: database.Database, sessions: async_sessionmaker[AsyncSession]
) -> dict[str, Any]:
    settings = load_settings(database_url=db.url, telegram_bot_token=TOKEN)
    services = Services(settings, sessions, ManualClock(NOW))
    fresh = iter(range(1, options.agents + 1))  # each agent's cycle runs once in the whole bench

    def take(n: int) -> range:
        first = next(fresh)
        last = first + n - 1
        if last > options.agents:
            raise SystemExit(f"not enough agents: raise --agents above {last}")
        for _ in range(n - 1):
            next(fresh)
        return range(first, last + 1)

    apps: dict[str, tuple[Any, Any]] = {}
    for api_name in options.apis:
        api: FastBotAPI | LocalBotAPI = FastBotAPI() if api_name == "fast" else LocalBotAPI()
        apps[f"ours ({api_name} Bot API)"] = (build_application(services, token=TOKEN, request=api), api)
    floor_api = FastBotAPI()
    floors = {
        "floor: bare PTB handler": bare_application(floor_api),
        "floor: PTB + one ORM transaction": orm_application(floor_api, sessions),
    }
    from bench.mix_floor import mix_floor_application  # here: bench/updates_ab.py runs this file on older trees

    mix_floor_apis = {MIX_FLOOR: FastBotAPI(), MIX_FLOOR_REQUIRED: FastBotAPI()}
    mix_floor = {
        name: mix_floor_application(TOKEN, api, sessions, NOW, required=name == MIX_FLOOR_REQUIRED)
        for name, api in mix_floor_apis.items()
    }
    runs: dict[str, list[Run]] = {name: [] for name in [*floors, *mix_floor, *apps]}
    for app, _ in apps.values():
        await app.initialize()
        await prepare(app)
    for app in [*floors.values(), *mix_floor.values()]:
        await app.initialize()
    try:
        for app, api in apps.values():  # warm-up: imports, caches, the first of each statement
            await feed(app, "warm-up", ours(take(options.warm_up), api))
        for app in floors.values():
            await feed(app, "warm-up", floor_updates(range(1, options.warm_up * 6 + 1)))
        for name, app in mix_floor.items():
            await feed(app, "warm-up", ours(take(options.warm_up), mix_floor_apis[name]))
        updates_per_run = options.cycles * len(KINDS)
        for repeat in range(options.repeats):
            for name, app in floors.items():
                runs[name].append(await feed(app, name, floor_updates(range(1, updates_per_run + 1))))
            for name, app in mix_floor.items():
                runs[name].append(await feed(app, name, ours(take(options.cycles), mix_floor_apis[name])))
            for name, (app, api) in apps.items():
                runs[name].append(await feed(app, name, ours(take(options.cycles), api)))
            print(
                f"   repeat {repeat + 1}/{options.repeats}: "
                + ", ".join(f"{name} {found[-1].rate:.0f}/s" for name, found in runs.items())
                + f" (load {os.getloadavg()[0]:.2f})",
                flush=True,
            )
        if options.profile is not None:
            name, (app, api) = next(iter(apps.items()))
            profiler = cProfile.Profile(time.process_time)  # CPU time: waits for the thread or the server are not work
            profiler.enable()
            await feed(app, name, ours(take(options.cycles), api))
            profiler.disable()
            path = options.profile.with_suffix(f".{options.backend}.prof")
            profiler.dump_stats(path)
            stats = pstats.Stats(str(path))
            stats.sort_stats("cumulative").print_stats(40)
            stats.sort_stats("tottime").print_stats(30)
    finally:
        for app, _ in apps.values():
            await app.shutdown()
        for app in [*floors.values(), *mix_floor.values()]:
            await app.shutdown()
    return summarise(runs)


def summarise(runs: dict[str, list[Run]]) -> dict[str, Any]:
    """Medians over repeats: the rate, and per kind p50/p99 (of all repeats' latencies) and counts per update."""
    out: dict[str, Any] = {}
    for name, found in runs.items():
        kinds: dict[str, Any] = {}
        for kind in found[0].latencies:
            latencies = [value for run in found for value in run.latencies[kind]]
            counts = [c for run in found for c in run.counts[kind]]
            kinds[kind] = {
                "n": len(latencies),
                "per_s": round(1000 / statistics.mean(latencies), 1),
                "p50_ms": round(percentile(latencies, 0.5), 2),
                "p99_ms": round(percentile(latencies, 0.99), 2),
                "statements": round(statistics.mean(c[0] for c in counts), 2),
                "commits": round(statistics.mean(c[1] for c in counts), 2),
                "round_trips": round(statistics.mean(c[2] for c in counts), 2),
            }
        everything = [value for run in found for value in run.all_latencies()]
        all_counts = [c for run in found for kind in run.counts for c in run.counts[kind]]
        out[name] = {
            "rates": [round(run.rate, 1) for run in found],
            "rate_median": round(statistics.median(run.rate for run in found), 1),
            "cpu_ms_per_update": round(statistics.median(1000 * run.cpu_s / run.updates for run in found), 3),
            "p50_ms": round(percentile(everything, 0.5), 2),
            "p99_ms": round(percentile(everything, 0.99), 2),
            "statements": round(statistics.mean(c[0] for c in all_counts), 2),
            "round_trips": round(statistics.mean(c[2] for c in all_counts), 2),
            "kinds": kinds,
        }
    return out


def report(backend: str, found: dict[str, Any], load: tuple[str, str]) -> Result:
    out = Result(
        "updates",
        backend,
        "Updates per second, one process on one core (medians over repeats; per kind: all repeats' latencies)",
        ["run", "kind", "updates/s", "CPU ms/update", "p50 ms", "p99 ms", "SQL/update", "commits", "aiosqlite trips"],
    )
    bare = found["floor: bare PTB handler"]["rate_median"]
    orm = found["floor: PTB + one ORM transaction"]["rate_median"]
    for name, figures in found.items():
        out.rows.append(
            [
                name,
                "all",
                figures["rate_median"],
                figures["cpu_ms_per_update"],
                figures["p50_ms"],
                figures["p99_ms"],
                figures["statements"],
                "",
                figures["round_trips"],
            ]
        )
        if name.startswith("ours"):
            for kind, k in figures["kinds"].items():
                out.rows.append(
                    [
                        "",
                        kind,
                        k["per_s"],
                        "",
                        k["p50_ms"],
                        k["p99_ms"],
                        k["statements"],
                        k["commits"],
                        k["round_trips"],
                    ]
                )
    for name, figures in found.items():
        if name.startswith("ours"):
            rate, cpu = figures["rate_median"], figures["cpu_ms_per_update"]
            bare_cpu = found["floor: bare PTB handler"]["cpu_ms_per_update"]
            orm_cpu = found["floor: PTB + one ORM transaction"]["cpu_ms_per_update"]
            out.notes.append(
                f"{name}: {rate / bare:.3f} × the bare PTB floor, {rate / orm:.2f} × the one-ORM-transaction floor"
                f" (medians of each repeat's ratio: {_ratio(figures, found['floor: bare PTB handler']):.3f} and"
                f" {_ratio(figures, found['floor: PTB + one ORM transaction']):.2f}); CPU per update"
                f" {cpu / bare_cpu:.1f} × and {cpu / orm_cpu:.1f} × the floors'"
            )
            out.goals.append(
                Goal(f"updates/s, {name}", f"{rate:.0f}/s (runs {figures['rates']})", "≥ 200/s", rate >= 200)
            )
            out.goals.append(Goal(f"p99, {name}", f"{figures['p99_ms']:.1f} ms", "≤ 20 ms", figures["p99_ms"] <= 20))
    out.notes.append(f"load average at start / end: {load[0]} / {load[1]}")
    out.data = found
    return out


def _ratio(ours: dict[str, Any], floor: dict[str, Any]) -> float:
    """The median over repeats of ours / the floor, each pair measured back to back (load drifts between repeats)."""
    return statistics.median(a / b for a, b in zip(ours["rates"], floor["rates"], strict=True))


def parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.updates", description=__doc__.split("\n\n")[0])
    parser.add_argument("--backend", choices=("sqlite", "postgresql", "both"), default="sqlite")
    parser.add_argument("--agents", type=int, default=10_000)
    parser.add_argument("--cycles", type=int, default=400, help="agents (6 updates each) per run and repeat")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--warm-up", type=int, default=30, help="cycles before the first measured run")
    parser.add_argument("--api", choices=("fast", "local", "both"), default="fast")
    parser.add_argument("--cpu", type=int, default=None, help="the core to pin to (default: the last one)")
    parser.add_argument(
        "--profile", type=Path, default=None, help="write a cProfile of one more run to FILE.<backend>.prof"
    )
    parser.add_argument("--out", type=Path, default=None)
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    cpu = args.cpu if args.cpu is not None else max(os.sched_getaffinity(0))
    os.sched_setaffinity(0, {cpu})
    backends = ["sqlite", "postgresql"] if args.backend == "both" else [args.backend]
    apis = ("fast", "local") if args.api == "both" else (args.api,)
    out = args.out or RESULTS / f"{time.strftime('%Y%m%d-%H%M%S')}-updates-{args.backend}.json"
    count_round_trips()
    with tempfile.TemporaryDirectory(prefix="agentcoach-updates-") as folder:
        configure_logging("INFO")  # as the bot runs; its lines go to a file, not the terminal
        handler = logging.getLogger().handlers[0]
        assert isinstance(handler, logging.StreamHandler)
        handler.setStream(open(Path(folder) / "bot.log", "a"))  # noqa: SIM115 — closed with the folder
        header: dict[str, Any] = {
            "command": " ".join(["python -m bench.updates", *sys.argv[1:]]),
            "machine": {
                "nproc": os.cpu_count(),
                "cpu": _cpu_model(),
                "pinned_to": cpu,
                "python": platform.python_version(),
            },
            "code": _commit(),
        }
        print(f"machine: {header['machine']}, code {header['code']}", flush=True)
        results: list[Result] = []
        for backend in backends:
            load_start = _uptime()
            options = Options(backend, args.agents, args.cycles, args.repeats, args.warm_up, apis, args.profile)
            found = asyncio.run(bench_backend(options, Path(folder)))
            result = report(backend, found, (load_start, _uptime()))
            results.append(result)
            print(render(result), flush=True)
            save(out, header, results)
    print(f"results: {out}")
    return 0


def _cpu_model() -> str:
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor()


def _uptime() -> str:
    return " ".join(f"{value:.2f}" for value in os.getloadavg())


def _commit() -> str:
    import subprocess

    head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=False)
    return head.stdout.strip() or "unknown"


__all__ = ["KINDS", "FastBotAPI", "cycle", "seed"]


if __name__ == "__main__":
    sys.exit(main())
