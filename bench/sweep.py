"""Scenario 4: one sweep that finds 1k due among all the pending follow-ups (goal ≤ 50 ms), and how many
deliveries a process gets through per second (goal ≥ 300/s).

In this process, on the seeded database: `Engine.claim()` (the UPDATE … RETURNING over the due rows, one per
agent) is timed with exactly `due` rows due, on `due` distinct agents; then a whole `Engine.sweep()` (claim,
render each nudge with the bot's own renderer, send through a no-op Sender, confirm) is timed the same way.
The due rows are made due again before every repeat; one unmeasured warm-up comes first. Both are timed with
the engine's default batch (200: a sweep takes at most 200, the rest go in the next tick) and with a batch as
large as the due set (the whole 1k found in one sweep). An idle claim (nothing due) is timed as well: that is
what the bot pays every second.

Throughput: the `due` rows drained as the served bot drains a backlog (`runtime.delivery.sweep_tick`: sweep
again at once while a sweep left due rows behind), with the engine's default settings, a no-op sender and no
send budget (`budget=None`): the served bot paces its sends at 29/s (runtime/send_budget.py), which would hide
the engine's own cost. Deliveries/s is `due` over that time: claim + render + last check + send + confirm of
every row (each step's rows grouped into shared transactions as they queue up: bot.grouped; the mean group size is
reported). The goal, ≥ 300/s per process (ten times Telegram's 30 msg/s), means the engine never holds a wave
back. Last, ✅ Done on a nudge (`bot.followups.mark_done`: the follow-up closed and its pending delivery
cancelled, found by (kind, subject)), each on another follow-up and rolled back.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from bench.database import make_due, restore, utcnow
from bench.report import Goal, Result, spread
from bot import followups as follow_up_service
from bot.clock import SystemClock
from bot.models import FollowUp
from bot.ownership import Ownership, ownership_for
from bot.scheduler import Engine, EngineSettings, Outgoing
from handlers import followups

GOAL_MS = 50.0
GOAL_PER_SECOND = 300.0


class NoopSender:
    """Accepts every message at once, so the sweep's own cost is what is timed."""

    def __init__(self) -> None:
        self._ids = itertools.count(1)
        self.sent = 0

    async def send(self, chat_id: int, message: Outgoing) -> int:
        self.sent += 1
        return next(self._ids)


def engine(sessions: async_sessionmaker[AsyncSession], batch: int, ownership: Ownership) -> Engine:
    """An engine of this one benchmark process: they all share its ownership (one lock per process). No send
    budget: the pace the served bot keeps (29/s) is not the engine's cost."""
    kinds = {followups.KIND: followups.NUDGE}
    settings = EngineSettings(batch=batch)
    return Engine(sessions, SystemClock(), NoopSender(), kinds, settings, budget=None, ownership=ownership)


async def drain(subject: Engine) -> int:
    """Sweep until nothing due is left behind, as the served bot's tick does (runtime.delivery.sweep_tick)."""
    sent = (await subject.sweep()).sent
    while subject.backlog:
        sent += (await subject.sweep()).sent
    return sent


async def _timed(
    repeats: int, prepare: Callable[[], Awaitable[None]], work: Callable[[], Awaitable[int]]
) -> tuple[list[float], list[int]]:
    times: list[float] = []
    counts: list[int] = []
    for attempt in range(repeats + 1):
        await prepare()
        started = time.perf_counter()
        count = await work()
        elapsed = (time.perf_counter() - started) * 1000
        if attempt:  # the first is a warm-up (connections, statement caches)
            times.append(elapsed)
            counts.append(count)
    return times, counts


async def run(
    backend: str, sessions: async_sessionmaker[AsyncSession], base: datetime, pending: int, due: int, repeats: int
) -> Result:
    out = Result(
        "sweep",
        backend,
        f"One sweep with {due:,} due among {pending:,} pending (ms, median of {repeats}; min–max)",
        ["what", "batch", "rows", "median ms", "min ms", "max ms"],
    )
    data: dict[str, Any] = {}

    async def nothing_due() -> None:
        await restore(sessions, due, base)

    async def due_now() -> None:
        await make_due(sessions, due, utcnow() - timedelta(minutes=1))

    bind = sessions.kw["bind"]
    assert isinstance(bind, AsyncEngine)
    owner = ownership_for(bind)
    idle = engine(sessions, EngineSettings().batch, owner)

    async def idle_claim() -> int:
        return len(await idle.claim())

    times, counts = await _timed(repeats, nothing_due, idle_claim)
    data["idle_claim"] = spread(times)
    out.rows.append(["claim, nothing due", idle.settings.batch, counts[0], *_ms(times)])
    for batch in sorted({EngineSettings().batch, due}):
        subject = engine(sessions, batch, owner)

        async def claim(subject: Engine = subject) -> int:
            return len(await subject.claim())

        async def sweep(subject: Engine = subject) -> int:
            return (await subject.sweep()).sent

        claim_times, claimed = await _timed(repeats, due_now, claim)
        sweep_times, sent = await _timed(repeats, due_now, sweep)
        data[f"claim_batch_{batch}"] = spread(claim_times) | {"rows": claimed}
        data[f"sweep_batch_{batch}"] = spread(sweep_times) | {"rows": sent}
        out.rows.append(["claim (UPDATE … RETURNING)", batch, claimed[0], *_ms(claim_times)])
        out.rows.append(["whole sweep, no-op sender", batch, sent[0], *_ms(sweep_times)])
    drainer = engine(sessions, EngineSettings().batch, owner)
    data["drain"] = drained = await _drain_times(drainer, bind, due_now, repeats)
    out.rows.append(
        [
            "drain all due as the bot does, no-op sender, no budget",
            drainer.settings.batch,
            drained["rows"][0],
            drained["median"],
            drained["min"],
            drained["max"],
        ]
    )
    await restore(sessions, due, base)
    await owner.stop()
    done_times = await _mark_done_times(sessions, pending, repeats)
    data["mark_done"] = spread(done_times)
    out.rows.append(["✅ Done on a nudge (rolled back)", "-", 1, *_ms(done_times)])
    out.data = data
    claim_all = data[f"claim_batch_{due}"]
    out.goals.append(
        Goal(
            f"sweep finds {due:,} due among {pending:,} (claim, batch {due:,})",
            f"{claim_all['median']:.1f} ms (max {claim_all['max']:.1f})",
            f"≤ {GOAL_MS:.0f} ms",
            claim_all["median"] <= GOAL_MS,
        )
    )
    whole = data[f"sweep_batch_{due}"]
    out.goals.append(
        Goal(
            f"whole sweep delivering {due:,} (no-op sender)",
            f"{whole['median']:.0f} ms",
            "(informational)",
            None,
        )
    )
    per_second, cpu = data["drain"]["per_second"], data["drain"]["cpu_ms_per_delivery"]
    out.goals.append(
        Goal(
            f"deliveries/s draining {due:,} due (claim + render + confirm, no-op sender, no budget)",
            f"{per_second['median']:.0f}/s (min {per_second['min']:.0f}, max {per_second['max']:.0f})",
            f"≥ {GOAL_PER_SECOND:.0f}/s",
            per_second["median"] >= GOAL_PER_SECOND,
        )
    )
    out.notes.append(
        f"draining: {cpu['median']:.2f} ms of this process's CPU per delivery ({1000 / cpu['median']:.0f}/s if the"
        f" process had a core to itself and the database answered at once),"
        f" {data['drain']['statements_per_delivery']['median']:.1f} SQL statements per delivery; rows per"
        f" transaction by step: {data['drain']['mean_group']}"
    )
    out.notes.append(
        "the claim goal is judged on finding the due rows; the throughput goal on delivering them: each row is"
        " rendered, checked, sent and confirmed in its own transactions"
    )
    return out


async def _drain_times(
    subject: Engine, bind: AsyncEngine, prepare: Callable[[], Awaitable[None]], repeats: int
) -> dict[str, Any]:
    """Drain the due rows `repeats` times (after a warm-up): wall ms, deliveries/s, this process's CPU ms per
    delivery (every thread: aiosqlite's included; not PostgreSQL's server) and SQL statements per delivery."""
    statements = 0

    def count(*_: object) -> None:
        nonlocal statements
        statements += 1

    walls: list[float] = []
    cpus: list[float] = []
    rows: list[int] = []
    per_row: list[float] = []
    group_sizes: dict[str, list[float]] = {}
    for attempt in range(repeats + 1):
        await prepare()
        event.listen(bind.sync_engine, "before_cursor_execute", count)
        statements = 0
        cpu, started = time.process_time(), time.perf_counter()
        before = subject.grouping()
        sent = await drain(subject)
        wall, cpu = time.perf_counter() - started, time.process_time() - cpu
        after = subject.grouping()
        event.remove(bind.sync_engine, "before_cursor_execute", count)
        if attempt and sent:  # the first is a warm-up (connections, statement caches)
            walls.append(wall * 1000)
            cpus.append(cpu * 1000 / sent)
            rows.append(sent)
            per_row.append(statements / sent)
            for step, (groups, rows_in) in after.items():
                done = groups - before.get(step, (0, 0))[0]
                if done:
                    group_sizes.setdefault(step, []).append((rows_in - before.get(step, (0, 0))[1]) / done)
    rates = [n / (ms / 1000) for n, ms in zip(rows, walls, strict=True)]
    return spread(walls) | {
        "rows": rows,
        "per_second": spread(rates),
        "cpu_ms_per_delivery": spread(cpus),
        "statements_per_delivery": spread(per_row),
        # Rows per transaction of each step (bot.grouped: the rows of a sweep that reach a step together share one).
        "mean_group": {step: round(spread(sizes)["median"], 1) for step, sizes in group_sizes.items()},
    }


async def _mark_done_times(sessions: async_sessionmaker[AsyncSession], pending: int, repeats: int) -> list[float]:
    """What an agent's ✅ Done costs with `pending` deliveries waiting; each try on another follow-up."""
    times: list[float] = []
    for attempt in range(repeats + 1):
        follow_up_id = pending // 2 + attempt * 997
        async with sessions() as session:
            follow_up = await session.get(FollowUp, follow_up_id)
            assert follow_up is not None
            started = time.perf_counter()
            await follow_up_service.mark_done(session, follow_up, utcnow())
            await session.flush()
            elapsed = (time.perf_counter() - started) * 1000
            await session.rollback()
        if attempt:
            times.append(elapsed)
    return times


def _ms(times: list[float]) -> list[float]:
    s = spread(times)
    return [s["median"], s["min"], s["max"]]
