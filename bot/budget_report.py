"""What the processes spending the send budget last said about it (`send_budget_processes`), for `agentcoach stats`.

Each process writes its own row every few seconds (runtime.send_budget): sends/s by priority over the last
interval, how many sends wait now, their mean wait, the RetryAfter pauses it met, the store it uses. A row older
than `ALIVE_FOR` is a process that is gone: it is left out of the totals (it holds no share of the budget, which
hands out slots, never shares) and pruned. Wall-clock time on both sides: the processes of one deployment are
expected to keep their clocks in sync (NTP), and liveness only needs seconds.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import delete, func, select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from bot.db import dialect_insert, session_factory
from bot.models import SendBudgetProcess
from bot.statuses import SEND_PRIORITIES

ALIVE_FOR = timedelta(seconds=20)  # four missed reports
FORGET_AFTER = timedelta(hours=1)


@dataclass(frozen=True)
class BudgetReport:
    """The deployment's spending, summed over the processes alive."""

    processes: int
    stores: tuple[str, ...]
    sends_per_s: dict[str, float] = field(default_factory=dict)
    waiting: dict[str, int] = field(default_factory=dict)
    mean_wait_s: dict[str, float] = field(default_factory=dict)  # the slowest process's, by priority
    pauses: int = 0

    @property
    def total_per_s(self) -> float:
        return round(sum(self.sends_per_s.values()), 2)


async def write_report(engine: AsyncEngine, process_key: int, report: dict[str, Any]) -> int:
    """Upsert this process's row, forget long-gone ones; returns how many processes are alive (itself included)."""
    now = datetime.now(UTC)
    insert = dialect_insert(engine.dialect.name)
    async with session_factory(engine)() as session, session.begin():
        statement = insert(SendBudgetProcess).values(
            process_key=process_key, seen_at=now, started_at=now, report=report
        )
        await session.execute(
            statement.on_conflict_do_update(
                index_elements=[SendBudgetProcess.process_key],
                set_={"seen_at": statement.excluded.seen_at, "report": statement.excluded.report},
            )
        )
        await session.execute(delete(SendBudgetProcess).where(SendBudgetProcess.seen_at < now - FORGET_AFTER))
        alive = await session.scalar(
            select(func.count()).select_from(SendBudgetProcess).where(SendBudgetProcess.seen_at >= now - ALIVE_FOR)
        )
    return int(alive or 1)


async def read_report(session: AsyncSession) -> BudgetReport:
    """The processes alive now, their figures summed (the waits: the longest)."""
    since = datetime.now(UTC) - ALIVE_FOR
    rows = (await session.scalars(select(SendBudgetProcess).where(SendBudgetProcess.seen_at >= since))).all()
    sends: dict[str, float] = {}
    waiting: Counter[str] = Counter()
    waits: dict[str, float] = {}
    pauses = 0
    for row in rows:
        report = row.report or {}
        for priority, rate in (report.get("sends_per_s") or {}).items():
            sends[priority] = sends.get(priority, 0.0) + float(rate)
        for priority, count in (report.get("waiting") or {}).items():
            waiting[priority] += int(count)
        for priority, wait in (report.get("mean_wait_s") or {}).items():
            waits[priority] = max(waits.get(priority, 0.0), float(wait))
        pauses += int(report.get("pauses") or 0)
    order = [str(p) for p in SEND_PRIORITIES]
    return BudgetReport(
        processes=len(rows),
        stores=tuple(sorted({str((row.report or {}).get("store", "?")) for row in rows})),
        sends_per_s={p: round(sends.get(p, 0.0), 2) for p in order},
        waiting={p: waiting[p] for p in order},
        mean_wait_s={p: round(waits[p], 4) for p in order if p in waits},
        pauses=pauses,
    )
