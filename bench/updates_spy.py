"""Issue 14: where an update's CPU goes, sampled by py-spy over the measured phase only.

    (yes 100 | head -85) | PYTHONPATH=. taskset -c 1 .venv/bin/python bench/updates_ab.py --child \
        --backend sqlite --agents 9000 > /tmp/feed.out &
    # once /tmp/feed.out says "ready" (seeded, built, warmed up):
    py-spy record --gil --rate 500 --format raw --duration 40 --pid $! -o /tmp/spy.txt
    .venv/bin/python bench/updates_spy.py /tmp/spy.txt

The process sampled is `bench/updates_ab.py`'s child, alone: it seeds `bench.updates`' agents, builds the bot as
the benchmark does, warms it up, says "ready", then runs one block of the mix (`bench.updates.cycle`) per line on
its stdin (here 85 blocks of 100 agents) and prints each block's CPU per update. cProfile (`bench.updates
--profile`) inflates the many small calls python-telegram-bot and SQLAlchemy make 4× and attributes an awaited
coroutine's time badly; a sampling profiler does neither. py-spy is not a dependency (`pip install py-spy` into any
environment: it reads the process from outside). `--gil` samples only the thread holding the GIL, so a thread
waiting (the event loop in epoll, aiosqlite's thread on its queue) is not counted, and neither is SQLite's own C
work, done without the GIL. This script sorts the samples into the table of docs/benchmarks.md.
"""

from __future__ import annotations

import sys
from collections import Counter
from pathlib import Path


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


if __name__ == "__main__":
    split(Path(sys.argv[1]))
