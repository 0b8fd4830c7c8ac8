"""Weekly digest: charts drawn ahead of the wave, end to end (`bot.chart_ahead.render_ahead`).

    .venv/bin/python -m bench.chart_ahead [--backend sqlite|postgresql] [--agents 600] [--workers 1]

A fresh database holds `agents` agents (Asia/Shanghai, the three languages in turn), each with a digest due on
Sunday 29 Nov 2026 at 20:00 and a week of contacts (one to five a day on random days), as the served bot sees them
in the hour before the wave. `render_ahead` then runs as the bot's minute job would, an hour before: it reads the
due digests, counts each agent's week (`bot.week.numbers`, in this process) and has `ChartRenderer`'s workers draw
the charts into a folder. Reported: charts/s end to end, the same per worker, and the projection for 100k agents
against the two hours the job looks ahead.
"""

from __future__ import annotations

import argparse
import asyncio
import platform
import random
import shutil
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import insert

from bench import database
from bench.children import memory_kib, mib
from bot.chart import ChartRenderer
from bot.chart_ahead import HORIZON, ChartCache, render_ahead
from bot.db import session_factory
from bot.models import Agent, Client, ContactLog, Delivery
from bot.statuses import CONTACT_KINDS, DeliveryKind, DeliveryStatus, Stage

DUE = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)  # Sunday 20:00 in Shanghai
MONDAY = datetime(2026, 11, 22, 16, 0, tzinfo=UTC)  # Monday 00:00 there
AGENTS = 100_000


async def seed(db: database.Database, agents: int) -> None:
    engine = db.engine()
    now = MONDAY - timedelta(days=30)
    rng = random.Random(13)
    try:
        async with engine.begin() as connection:
            await connection.execute(insert(Agent), [database._agent(i, now) for i in range(1, agents + 1)])
            await connection.execute(
                insert(Client),
                [
                    {
                        "id": i,
                        "agent_id": i,
                        "name": f"客户{i}",
                        "stage": Stage.NEW,
                        "archived": False,
                        "created_at": now,
                        "updated_at": now,
                    }
                    for i in range(1, agents + 1)
                ],
            )
            logs = [
                {
                    "client_id": i,
                    "kind": rng.choice(CONTACT_KINDS),
                    "note": None,
                    "at": MONDAY + timedelta(days=day, hours=rng.randint(1, 12)),
                }
                for i in range(1, agents + 1)
                for day in rng.sample(range(6), rng.randint(1, 5))
                for _ in range(rng.randint(1, 3))
            ]
            await connection.execute(insert(ContactLog), logs)
            await connection.execute(
                insert(Delivery),
                [
                    {
                        "agent_id": i,
                        "kind": DeliveryKind.DIGEST,
                        "due_at": DUE,
                        "status": DeliveryStatus.PENDING,
                        "attempts": 0,
                        "late": False,
                        "created_at": now,
                    }
                    for i in range(1, agents + 1)
                ],
            )
    finally:
        await engine.dispose()


async def measure(backend: str, agents: int, workers: int) -> None:
    workdir = Path(tempfile.mkdtemp(prefix="agentcoach-ahead-"))
    db = await database.create(backend, workdir)
    renderer = ChartRenderer(workers=workers)
    try:
        await seed(db, agents)
        engine = db.engine()
        sessions = session_factory(engine)
        cache = ChartCache(workdir / "charts", limit=agents + 1)
        started = time.perf_counter()
        await renderer.render((await _one_week(sessions)), "zh-Hans")  # the pool's start is not counted
        warm = time.perf_counter() - started
        started = time.perf_counter()
        made = await render_ahead(
            sessions, renderer.render, cache, DUE - timedelta(hours=1), concurrency=workers + 1, seconds=3600
        )
        took = time.perf_counter() - started
        await engine.dispose()
        rate = made / took
        sizes = [path.stat().st_size for path in cache.folder.glob("*.png")]
        print(f"machine: {platform.machine()} · python {platform.python_version()}")
        print(f"backend {backend}, {agents} agents, {workers} worker(s); pool start {warm:.2f} s (not counted)")
        print(f"drawn ahead: {made} charts in {took:.1f} s = {rate:.1f} charts/s ({rate / workers:.1f} per worker)")
        peak = mib(memory_kib()["VmHWM"])
        print(f"PNG median {sorted(sizes)[len(sizes) // 2] / 1024:.1f} KiB; this process's peak RSS {peak:.1f} MiB")
        hours = AGENTS / rate / 3600
        ahead = HORIZON.total_seconds() / 3600
        print(f"100k agents: {hours * 60:.0f} min of drawing against the {ahead:.0f} h look-ahead")
    finally:
        renderer.close()
        await database.drop(db)
        shutil.rmtree(workdir, ignore_errors=True)


async def _one_week(sessions):  # type: ignore[no-untyped-def]
    from sqlalchemy import select

    from bot.week import Week, numbers

    async with sessions() as session:
        agent = (await session.execute(select(Agent).limit(1))).scalar_one()
        return await numbers(session, agent, Week(MONDAY.date() + timedelta(days=1)), DUE)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--backend", choices=("sqlite", "postgresql"), default="postgresql")
    parser.add_argument("--agents", type=int, default=600)
    parser.add_argument("--workers", type=int, default=1)
    args = parser.parse_args()
    asyncio.run(measure(args.backend, args.agents, args.workers))


if __name__ == "__main__":
    main()
