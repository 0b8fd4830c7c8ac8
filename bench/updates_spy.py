"""Issue 14: where an update's CPU goes, sampled by py-spy over the measured phase only.

    .venv/bin/python bench/updates_spy.py feed --backend sqlite --agents 9000 > /tmp/feed.out &
    # when /tmp/feed.out says READY (seeded, built, warmed up):
    py-spy record --gil --rate 500 --format raw --duration 40 --pid $! -o /tmp/spy.txt
    .venv/bin/python bench/updates_spy.py split /tmp/spy.txt

cProfile (`bench.updates --profile`) inflates the many small calls python-telegram-bot and SQLAlchemy make 4×, and
attributes an awaited coroutine's time badly; a sampling profiler does neither. py-spy is not a dependency (`pip
install py-spy` into any environment: it reads the process from outside). `--gil` samples only the thread holding
the GIL, so a thread waiting (the event loop in epoll, aiosqlite's thread on its queue) is not counted; SQLite's own
C work, done without the GIL, is not either. `feed` seeds `bench.updates`' agents, builds the bot as the benchmark
does, warms it up, prints READY, then feeds the mix (`bench.updates.cycle`) in blocks of 100 agents until they run
out, printing each block's CPU per update. `split` sorts the samples into the table of docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import statistics
import sys
import tempfile
from collections import Counter
from pathlib import Path

BLOCK = 100  # agents (6 updates each) per block


async def feed(backend: str, agents: int) -> None:
    from bench import database
    from bench import updates as bench
    from bot.clock import ManualClock
    from bot.config import load_settings
    from handlers.context import Services
    from runtime.app import build_application, prepare

    logging.disable(logging.CRITICAL)
    with tempfile.TemporaryDirectory(prefix="agentcoach-spy-") as folder:
        db = await database.create(backend, Path(folder))
        try:
            await bench.seed(db, agents)
            engine, sessions = database.open_sessions(db)
            settings = load_settings(database_url=db.url, telegram_bot_token=bench.TOKEN)
            api = bench.FastBotAPI()
            services = Services(settings, sessions, ManualClock(bench.NOW))
            app = build_application(services, token=bench.TOKEN, request=api)
            await app.initialize()
            await prepare(app)
            await bench.feed(app, "warm-up", bench.ours(range(1, 21), api))
            print("READY", flush=True)
            cpu = []
            for first in range(21, agents - BLOCK + 2, BLOCK):
                run = await bench.feed(app, "block", bench.ours(range(first, first + BLOCK), api))
                cpu.append(1000 * run.cpu_s / run.updates)
                print(f"block {len(cpu)}: {cpu[-1]:.2f} ms CPU per update", flush=True)
            print(f"median {statistics.median(cpu):.2f} ms CPU per update over {len(cpu)} blocks", flush=True)
            await app.shutdown()
            await engine.dispose()
        finally:
            await database.drop(db)


def part(stack: list[str]) -> str:
    """Which part of an update a sample (its frames, outermost first) belongs to."""
    paths = [frame.rsplit(" (", 1)[-1] for frame in stack]
    if not stack[0]:
        return "no Python frame (C code holding the GIL: the garbage collector, sqlite3 making rows …)"
    if stack[0].startswith("Thread."):
        return "database: aiosqlite's thread, its Python side"
    if not stack[0].startswith("<module>"):  # a SQLAlchemy greenlet's own stack: a statement, commit, begin …
        return f"database: SQLAlchemy in its greenlet ({stack[0].split(' (')[0]})"
    handler = next((i for i, path in enumerate(paths) if path.startswith("handlers/")), None)
    if handler is None:
        if any(".de_json" in frame for frame in stack):
            return "python-telegram-bot: Update.de_json of the incoming update"
        if any(path.startswith("runtime/gate") for path in paths):
            if any("handled_updates" in path for path in paths):
                return "gate: the update ledger (seen, remember)"
            return "gate: PTB's dispatch, the chat lock, metrics"
        return "event loop, the benchmark's own loop"
    below = paths[handler:]
    if any(path.startswith("sqlalchemy/") for path in below):
        return "database: SQLAlchemy on the handler's side (AsyncSession, results)"
    if any("_post" in frame or "send_budget" in frame or "bot_api" in frame for frame in stack[handler:]):
        return "python-telegram-bot: sending the replies (send budget, request, fake Bot API)"
    if any(path.startswith("jionlp") for path in below):
        return "handlers: time phrases (jionlp)"
    return "handlers: our own code (rendering, keyboards, parsing, Babel)"


def split(path: Path) -> None:
    shares: Counter[str] = Counter()
    for line in path.read_text(encoding="utf-8").splitlines():
        stack, count = line.rsplit(" ", 1)
        shares[part(stack.split(";"))] += int(count)
    total = sum(shares.values())
    print(f"| part | share of {total:,} samples |\n|---|---|")
    for name, count in shares.most_common():
        print(f"| {name} | {100 * count / total:.1f} % |")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="bench/updates_spy.py", description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    feeding = commands.add_parser("feed")
    feeding.add_argument("--backend", choices=("sqlite", "postgresql"), default="sqlite")
    feeding.add_argument("--agents", type=int, default=9000)
    splitting = commands.add_parser("split")
    splitting.add_argument("file", type=Path)
    args = parser.parse_args(argv)
    if args.command == "feed":
        asyncio.run(feed(args.backend, args.agents))
    else:
        split(args.file)


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    main()
