"""kill -9 at random instants during a wave of nudges: lost (must be 0), doubled (at most what was in flight).

`python -m bench.crash --backend both --nudges 10000 --kills 10` seeds `nudges` agents with one follow-up each,
makes every nudge due at once, starts the real `agentcoach run` against the Bot API emulator (no 429 limit:
the bot paces itself at 29 msg/s), and kills it with SIGKILL `kills` times, each at a random moment while it
sends (after a random number of sent nudges, plus a random fraction of a second), restarting it at once.

At each kill it reads the database the dead process left: how many rows were `claimed` (taken, never sent: a
restart must send them without waiting for their lease) and how many were `sending` (past the last check: the
only rows that may reach Telegram twice). At the end it reads every message the emulator received: an agent
with no nudge is a loss, a second copy a double. It also reports, per restart, how long until the first nudge
and until the last of the rows the dead process held was sent (the goal: within 10 s of the restart).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import signal
import tempfile
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import func, select

from bench.children import BotProcess, start_bot
from bench.database import Database, Seeder, create, drop, make_due, utcnow
from bench.emulator import Emulator, start
from bot.db import session_factory
from bot.models import Delivery
from bot.scheduler import EngineSettings

NUDGE_KIND = "followup"
RESTART_GOAL_S = 10.0


def sent_nudges(emulator: Emulator, since: int) -> list[dict[str, Any]]:
    return [call for call in emulator.client.calls("sendMessage", since=since) if call.get("ok")]


async def held_by_the_dead(db: Database) -> dict[str, Any]:
    """What the killed process left in hand, read straight after the kill."""
    engine = db.engine()
    try:
        async with session_factory(engine)() as session:
            rows = await session.execute(
                select(Delivery.status, func.count())
                .where(Delivery.kind == NUDGE_KIND, Delivery.status.in_(("claimed", "sending")))
                .group_by(Delivery.status)
            )
            counts = {str(status): int(n) for status, n in rows.all()}
            ids = (
                await session.execute(
                    select(Delivery.id).where(Delivery.kind == NUDGE_KIND, Delivery.status.in_(("claimed", "sending")))
                )
            ).scalars()
            return {"claimed": counts.get("claimed", 0), "sending": counts.get("sending", 0), "ids": list(ids)}
    finally:
        await engine.dispose()


async def sent_times(db: Database, ids: list[int]) -> list[datetime]:
    if not ids:
        return []
    engine = db.engine()
    try:
        async with session_factory(engine)() as session:
            found = await session.execute(select(Delivery.sent_at).where(Delivery.id.in_(ids)))
            return [moment for moment in found.scalars() if moment is not None]
    finally:
        await engine.dispose()


async def run_backend(backend: str, nudges: int, kills: int, seed: int, workdir: Path) -> dict[str, Any]:
    rng = random.Random(seed)
    db = await create(backend, workdir)
    emulator = start(workdir / f"emulator-{backend}.log")
    try:
        seeder = Seeder(db, nudges, utcnow() - timedelta(days=1))
        await seeder.seed_agents()
        await seeder.seed_pending(nudges)
        await seeder.settle()
        engine = db.engine()
        try:
            await make_due(session_factory(engine), nudges, utcnow() - timedelta(minutes=1))
        finally:
            await engine.dispose()
        emulator.client.reset()
        since = emulator.last_seq()
        targets = sorted(rng.sample(range(nudges // 20, nudges * 19 // 20), kills))
        restarts: list[dict[str, Any]] = []
        started = time.monotonic()
        bot = start_bot(db.url, emulator.base_url, workdir, f"crash-{backend}-0")
        for number, target in enumerate(targets, 1):
            await wait_until(lambda t=target: len(sent_nudges(emulator, since)) >= t, bot, 600)
            await asyncio.sleep(rng.random())  # a random instant, not just after a poll
            bot.process.send_signal(signal.SIGKILL)
            bot.process.wait(10)
            killed_at = len(sent_nudges(emulator, since))
            left = await held_by_the_dead(db)
            restart_wall = datetime.now(UTC)
            restart_mono = time.monotonic()
            bot = start_bot(db.url, emulator.base_url, workdir, f"crash-{backend}-{number}")
            if killed_at < nudges:  # (the random instant may come after the last one)
                await wait_until(lambda k=killed_at: len(sent_nudges(emulator, since)) > k, bot, 120)
            first = time.monotonic() - restart_mono
            restarts.append(
                {
                    "kill": number,
                    "sent_before_kill": killed_at,
                    "claimed_at_kill": left["claimed"],
                    "sending_at_kill": left["sending"],
                    "first_nudge_after_restart_s": round(first, 2),
                    "_ids": left["ids"],
                    "_restart": restart_wall,
                }
            )
        await wait_until(lambda: len(sent_nudges(emulator, since)) >= nudges, bot, nudges / 20 + 120)
        await asyncio.sleep(2.0)  # let a straggler (a double) arrive before counting
        bot.stop()
        wall = time.monotonic() - started
        for restart in restarts:
            times = await sent_times(db, restart.pop("_ids"))
            moment = restart.pop("_restart")
            restart["held_rows_all_sent_within_s"] = (
                round(max((t - moment).total_seconds() for t in times), 2) if times else 0.0
            )
        per_chat = Counter(int(m["chat"]["id"]) for m in emulator.client.messages() if "⏰" in str(m.get("text", "")))
        lost = nudges - len(per_chat)
        doubled = sum(per_chat.values()) - len(per_chat)
        in_flight_total = sum(r["sending_at_kill"] for r in restarts)
        return {
            "backend": backend,
            "nudges": nudges,
            "kills": kills,
            "seed": seed,
            "lost": lost,
            "doubled": doubled,
            "sending_at_kills_total": in_flight_total,
            "in_flight_bound_per_kill": EngineSettings().concurrency,
            "max_sending_at_a_kill": max((r["sending_at_kill"] for r in restarts), default=0),
            "max_held_rows_all_sent_within_s": max((r["held_rows_all_sent_within_s"] for r in restarts), default=0),
            "max_first_nudge_after_restart_s": max((r["first_nudge_after_restart_s"] for r in restarts), default=0),
            "wall_s": round(wall, 1),
            "restarts": restarts,
        }
    finally:
        emulator.stop()
        await drop(db)


async def wait_until(condition: Any, bot: BotProcess, within: float) -> None:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if await asyncio.to_thread(condition):
            return
        if not bot.running():
            raise RuntimeError(f"the bot exited:\n{bot.tail()}")
        await asyncio.sleep(0.05)
    raise TimeoutError(f"waited {within} s\n{bot.tail()}")


def table(results: list[dict[str, Any]]) -> str:
    lines = [
        "| backend | nudges | kills | lost | doubled | `sending` at the kills (sum / max) | held rows all sent "
        "after restart (max) | first nudge after restart (max) | wall |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in results:
        lines.append(
            f"| {r['backend']} | {r['nudges']} | {r['kills']} | **{r['lost']}** | **{r['doubled']}** | "
            f"{r['sending_at_kills_total']} / {r['max_sending_at_a_kill']} | {r['max_held_rows_all_sent_within_s']} s "
            f"| {r['max_first_nudge_after_restart_s']} s | {r['wall_s']} s |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.crash", description=__doc__.split("\n\n")[0])
    parser.add_argument("--backend", choices=("sqlite", "postgresql", "both"), default="both")
    parser.add_argument("--nudges", type=int, default=10_000)
    parser.add_argument("--kills", type=int, default=10)
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--out", type=Path, default=None, help="JSON file for the results")
    parser.add_argument("--workdir", type=Path, default=None, help="keep the logs here (default: a temp folder)")
    args = parser.parse_args(argv)
    backends = ["sqlite", "postgresql"] if args.backend == "both" else [args.backend]
    results = []
    with tempfile.TemporaryDirectory(prefix="agentcoach-crash-") as folder:
        workdir = args.workdir or Path(folder)
        workdir.mkdir(parents=True, exist_ok=True)
        for backend in backends:
            results.append(asyncio.run(run_backend(backend, args.nudges, args.kills, args.seed, workdir)))
            print(json.dumps(results[-1], default=str), flush=True)
    print(table(results))
    if args.out:
        args.out.write_text(json.dumps(results, indent=2, default=str))
    return 0 if all(r["lost"] == 0 and r["doubled"] <= r["sending_at_kills_total"] for r in results) else 1


if __name__ == "__main__":
    raise SystemExit(main())
