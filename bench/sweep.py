"""Scenario 4: one sweep that finds 1k due among all the pending follow-ups (goal ≤ 50 ms).

In this process, on the seeded database: `Engine.claim()` (the UPDATE … RETURNING over the due rows, one per
agent) is timed with exactly `due` rows due, on `due` distinct agents; then a whole `Engine.sweep()` (claim,
render each nudge with the bot's own renderer, send through a no-op Sender, confirm) is timed the same way.
The due rows are made due again before every repeat; one unmeasured warm-up comes first. Both are timed with
the engine's default batch (200: a sweep takes at most 200, the rest go in the next tick) and with a batch as
large as the due set (the whole 1k found in one sweep). An idle claim (nothing due) is timed as well: that is
what the bot pays every second. Last, ✅ Done on a nudge (`bot.followups.mark_done`: the follow-up closed and its
pending delivery cancelled, found by (kind, subject)), each on another follow-up and rolled back.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from bench.database import make_due, restore, utcnow
from bench.report import Goal, Result, spread
from bot import followups as follow_up_service
from bot.clock import SystemClock
from bot.models import FollowUp
from bot.ownership import Ownership, ownership_for
from bot.scheduler import Engine, EngineSettings, Kind, Outgoing
from handlers import followups

GOAL_MS = 50.0


class NoopSender:
    """Accepts every message at once, so the sweep's own cost is what is timed."""

    def __init__(self) -> None:
        self._ids = itertools.count(1)
        self.sent = 0

    async def send(self, chat_id: int, message: Outgoing) -> int:
        self.sent += 1
        return next(self._ids)


def engine(sessions: async_sessionmaker[AsyncSession], batch: int, ownership: Ownership) -> Engine:
    """An engine of this one benchmark process: they all share its ownership (one lock per process)."""
    kinds = {followups.KIND: Kind(render=followups.render_nudge)}
    return Engine(sessions, SystemClock(), NoopSender(), kinds, EngineSettings(batch=batch), ownership=ownership)


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
    out.notes.append(
        "the goal is judged on finding the due rows (the claim); a whole sweep also renders, sends and confirms"
        " each row in its own transactions, which is bounded by Telegram's 30 msg/s anyway"
    )
    return out


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
