"""What the update gate (runtime/gate.py) costs per update: the same stream of /tip updates through the gated
`app.process_update` and through python-telegram-bot's own `Application.process_update` (the gate skipped),
interleaved so both meet the same machine load, on a fresh SQLite file or PostgreSQL database.

    python -m bench.gate sqlite+aiosqlite:////tmp/gate.db 400
    python -m bench.gate postgresql+asyncpg://postgres@127.0.0.1:5432/gate_bench 400   # an empty database

Reports wall time (median) and CPU time (mean, this process and its aiosqlite thread) of each path and their
difference. On a shared machine compare the two lines of one run, never runs with each other.
"""

from __future__ import annotations

import asyncio
import statistics
import sys
import time

from telegram import Update
from telegram.ext import Application

from bot.clock import ManualClock
from bot.config import Settings
from bot.db import create_engine, upgrade
from tests.conftest import START
from tests.handlers.test_onboarding import onboard
from tests.runtime.test_gate import message
from tests.support import RenderedTexts, start_harness

WARM_UP = 20


async def measure(url: str, rounds: int) -> dict[str, tuple[float, float]]:
    """(median wall ms, mean CPU ms) per update, gated and bare."""
    engine = create_engine(url)
    await upgrade(engine)
    settings = Settings(_env_file=None, database_url=url)
    wall: dict[str, list[float]] = {"gated": [], "bare": []}
    cpu: dict[str, list[float]] = {"gated": [], "bare": []}
    try:
        async with start_harness(engine, ManualClock(START), settings, RenderedTexts()) as harness:
            chat = harness.chat()
            await onboard(chat)
            for turn in range(rounds):
                for kind in ("gated", "bare") if turn % 2 else ("bare", "gated"):
                    update = Update.de_json(message(chat, "/tip"), harness.app.bot)
                    cpu_start, wall_start = time.process_time(), time.perf_counter()
                    if kind == "gated":
                        await harness.app.process_update(update)
                    else:
                        await Application.process_update(harness.app, update)
                    wall[kind].append(time.perf_counter() - wall_start)
                    cpu[kind].append(time.process_time() - cpu_start)
    finally:
        await engine.dispose()
    return {
        kind: (statistics.median(wall[kind][WARM_UP:]) * 1000, statistics.mean(cpu[kind][WARM_UP:]) * 1000)
        for kind in wall
    }


def main() -> None:
    url, rounds = sys.argv[1], int(sys.argv[2]) if len(sys.argv) > 2 else 400
    found = asyncio.run(measure(url, rounds))
    for kind, (wall, cpu) in found.items():
        print(f"{kind:6} wall median {wall:6.2f} ms   CPU mean {cpu:6.2f} ms")
    (gated_wall, gated_cpu), (bare_wall, bare_cpu) = found["gated"], found["bare"]
    print(f"gate   wall {gated_wall - bare_wall:+6.2f} ms   CPU {gated_cpu - bare_cpu:+6.2f} ms per update")


if __name__ == "__main__":
    main()
