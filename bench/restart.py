"""Scenario 3: restart to first nudge (goal ≤ 2 s), the real process over the full database.

Before each repeat `due` follow-ups (on distinct agents) fell due a minute ago; then `.venv/bin/agentcoach run`
is spawned against the emulator and the time runs from just before the spawn to the arrival of the first
sendMessage at the emulator (its own clock, the same machine's). The bot is stopped with SIGTERM after it, and
the rows are made due again for the next repeat. The arrival of getMe and of the first getUpdates are kept
too, to show where the time goes (interpreter and imports, migrations, then the first sweep).
"""

from __future__ import annotations

import asyncio
import statistics
import time
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bench.children import start_bot
from bench.database import Database, make_due, restore, utcnow
from bench.emulator import Emulator
from bench.report import Goal, Result, spread

GOAL_SECONDS = 2.0
TIMEOUT = 60.0


async def first_nudge(db: Database, emulator: Emulator, workdir: Path, name: str) -> dict[str, Any]:
    since = emulator.last_seq()
    bot = start_bot(db.url, emulator.base_url, workdir, name)
    try:
        deadline = time.monotonic() + TIMEOUT
        while True:
            calls = await asyncio.to_thread(emulator.client.calls, None, since)
            sends = [c for c in calls if c["method"] == "sendMessage" and c.get("ok")]
            if sends:
                break
            if not bot.running():
                raise RuntimeError(f"the bot exited ({bot.process.returncode}) before a nudge:\n{bot.tail()}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"no nudge within {TIMEOUT:.0f}s:\n{bot.tail()}")
            await asyncio.sleep(0.02)
    finally:
        bot.stop()

    def first(method: str) -> float | None:
        times = [float(c["time"]) for c in calls if c["method"] == method]
        return round(min(times) - bot.spawned_at, 3) if times else None

    nudge = min(sends, key=lambda c: int(c["seq"]))
    return {
        "first_nudge_s": round(float(nudge["time"]) - bot.spawned_at, 3),
        "get_me_s": first("getMe"),
        "first_get_updates_s": first("getUpdates"),
        "text": str(nudge["params"].get("text", ""))[:120],
    }


async def run(
    db: Database,
    sessions: async_sessionmaker[AsyncSession],
    emulator: Emulator,
    workdir: Path,
    base: datetime,
    pending: int,
    due: int,
    repeats: int,
) -> Result:
    out = Result(
        "restart",
        db.backend,
        f"Restart to first nudge: `agentcoach run` with {pending:,} pending, {due} due (s from spawn)",
        ["run", "getMe s", "first getUpdates s", "first nudge s"],
    )
    runs: list[dict[str, Any]] = []
    for attempt in range(1, repeats + 1):
        await make_due(sessions, due, utcnow() - timedelta(minutes=1))
        emulator.client.reset()
        run = await first_nudge(db, emulator, workdir, f"restart-{db.backend}-{attempt}")
        runs.append(run)
        out.rows.append([attempt, run["get_me_s"] or "—", run["first_get_updates_s"] or "—", run["first_nudge_s"]])
    await restore(sessions, due, base)
    latencies = [r["first_nudge_s"] for r in runs]
    s = spread(latencies)
    out.data = {"runs": runs, "first_nudge_s": s}
    out.rows.append(["median", "", "", s["median"]])
    out.goals.append(
        Goal(
            f"restart to first nudge ({pending:,} pending)",
            f"median {s['median']:.2f} s (min {s['min']:.2f}, max {s['max']:.2f}, n={len(latencies)})",
            f"≤ {GOAL_SECONDS:.0f} s",
            statistics.median(latencies) <= GOAL_SECONDS,
        )
    )
    return out
