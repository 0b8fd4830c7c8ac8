"""`agentcoach stats`: what an operator asks of a running deployment, as aligned English text or one JSON object.

The numbers of the bot (bot/stats.py: agents, deliveries due, late, sent and failed) and of the send budget every
process spends (bot/budget_report.py: the processes alive, their sends/s by priority, what waits, RetryAfter pauses;
bot/budget_stores.py: a pause now, the slots handed out ahead).
"""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from bot.config import Settings
from bot.db import engine_from_settings, session_factory

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncEngine

    from bot.budget_report import BudgetReport
    from bot.budget_stores import BudgetState
    from bot.stats import Stats


def stats_command(settings: Settings, *, as_json: bool) -> int:
    """`agentcoach stats`: the numbers (bot/stats.py), as aligned English text or one JSON object."""
    from bot.budget_report import read_report
    from bot.stats import gather_stats

    async def read() -> tuple[Stats, BudgetReport, BudgetState]:
        from runtime.cli import migrate

        await migrate(settings)
        engine = engine_from_settings(settings)
        try:
            async with session_factory(engine)() as session, session.begin():
                stats = await gather_stats(session, settings.clock().now())
                budget = await read_report(session)
            return stats, budget, await shared_state(engine, settings)
        finally:
            await engine.dispose()

    stats, budget, state = asyncio.run(read())
    if as_json:
        print(json.dumps({**stats_as_json(stats), "send_budget": budget_as_json(budget, state, settings)}, indent=2))
    else:
        print(stats_as_text(stats) + "\n\n" + budget_as_text(budget, state, settings))
    return 0


async def shared_state(engine: AsyncEngine, settings: Settings) -> BudgetState:
    """The shared budget's state now (a pause, the slots handed out ahead), read from where the processes keep it;
    on SQLite the running process holds it in memory, so there is nothing shared to read."""
    from bot.budget_stores import BudgetState, PostgresStore, RedisStore
    from bot.send_budget import budget_prefix

    if engine.dialect.name != "postgresql":
        return BudgetState(0.0, 0.0, 0)
    token = settings.token()
    if settings.redis_url and token:
        store = RedisStore(settings.redis_url, prefix=budget_prefix(token))
        try:
            return await store.state()
        except Exception:  # Redis gone: the processes fell back to the database, which is read below
            pass
        finally:
            await store.close()
    return await PostgresStore(engine).state()


def budget_as_text(budget: BudgetReport, state: BudgetState, settings: Settings) -> str:
    """The send budget: the processes spending it, what they send by priority, what waits, and any pause."""
    head = f"Send budget ({settings.send_rate:g} messages/s for the deployment, 1/s per chat)"
    if not budget.processes:
        return f"{head}\n  no process is sending (none reported in the last 20 s)"
    stores = ", ".join(budget.stores)
    pause_left = f"{state.paused_for:.1f} s of one left" if state.paused_for else ""
    rows = [
        ("  processes", str(budget.processes), f"sharing through {stores}"),
        ("  sends/s", f"{budget.total_per_s:g}", f"{budget.total_per_s / settings.send_rate:.0%} of the budget"),
        ("  waiting now", str(sum(budget.waiting.values())), ""),
        ("  RetryAfter pauses", str(budget.pauses), pause_left),
    ]
    if state.backlog_s:
        rows.append(("  handed out ahead", f"{state.backlog_s:.2f}", "seconds of slots"))
    width = max(len(label) for label, _, _ in rows) + 2
    lines = [head]
    for label, value, note in rows:
        line = f"{label:<{width}}{value:>7}"
        lines.append(f"{line}   ({note})" if note else line)
    lines.append(f"{'  by priority':<{width}}{'sends/s':>7}{'waiting':>9}{'mean wait':>11}")
    for priority, rate in budget.sends_per_s.items():
        wait = budget.mean_wait_s.get(priority)
        shown_wait = f"{wait:.2f} s" if wait is not None else "-"
        lines.append(f"{'    ' + priority:<{width}}{rate:>7g}{budget.waiting.get(priority, 0):>9}{shown_wait:>11}")
    return "\n".join(lines)


def budget_as_json(budget: BudgetReport, state: BudgetState, settings: Settings) -> dict[str, object]:
    return {
        "rate": settings.send_rate,
        "processes": budget.processes,
        "stores": list(budget.stores),
        "sends_per_s": budget.sends_per_s,
        "waiting": budget.waiting,
        "mean_wait_s": budget.mean_wait_s,
        "retry_after_pauses": budget.pauses,
        "paused_for_s": state.paused_for,
        "handed_out_ahead_s": state.backlog_s,
    }


STATS_DEFINITIONS = {
    "active": "finished onboarding and has not blocked the bot (no last-seen time is stored)",
    "due": "pending and its time has come",
    "overdue": "still pending more than 2 min after its time",
    "late": "sent more than 2 min after its time",
}


def stats_as_text(stats: Stats) -> str:
    """One screen: what an operator looks at first comes first; every number right-aligned in one column."""
    hour = stats.hour_total()
    oldest = "-" if stats.oldest_due_at is None else _age(stats.oldest_due_age)
    oldest_note = "" if stats.oldest_due_at is None else f"due {_utc(stats.oldest_due_at)}"
    inactive = f"{stats.agents_onboarding} onboarding, {stats.agents_blocked} blocked"
    rows: list[tuple[str, str, str]] = [
        ("Agents", "", ""),
        ("  active", str(stats.agents_active), ""),
        ("  inactive", str(stats.agents_inactive), inactive),
        ("Deliveries now", "", ""),
        ("  due", str(stats.due), f"{stats.due_retrying} waiting out a retry's delay" if stats.due_retrying else ""),
        ("  overdue", str(stats.overdue), ""),
        ("  oldest due, age", oldest, oldest_note),
        ("  in flight", str(stats.in_flight), f"{stats.claimed} claimed, {stats.sending} sending"),
        ("  held", str(stats.held), "for agents who blocked the bot"),
        ("  scheduled later", str(stats.scheduled), ""),
        ("Last hour", "", ""),
        ("  sent", str(hour.sent), f"{hour.late} late"),
        ("  failed", str(hour.failed), ""),
    ]
    width = max(len(label) for label, _, _ in rows) + 2
    lines = [f"agentcoach stats at {_utc(stats.now)}"]
    lines += [f"  {name}: {meaning}" for name, meaning in STATS_DEFINITIONS.items()]
    lines.append("")
    for label, value, note in rows:
        line = f"{label:<{width}}{value:>7}" if value else label
        lines.append(f"{line}   ({note})" if note else line)
    if stats.last_hour:
        lines += ["", f"{'Last hour by kind':<{width}}{'sent':>7}{'late':>8}{'failed':>8}"]
        for kind, counts in stats.last_hour.items():
            lines.append(f"{'  ' + kind:<{width}}{counts.sent:>7}{counts.late:>8}{counts.failed:>8}")
    return "\n".join(lines)


def stats_as_json(stats: Stats) -> dict[str, object]:
    age = stats.oldest_due_age
    return {
        "now": stats.now.isoformat(),
        "definitions": STATS_DEFINITIONS,
        "agents": {
            "active": stats.agents_active,
            "inactive": stats.agents_inactive,
            "onboarding": stats.agents_onboarding,
            "blocked": stats.agents_blocked,
        },
        "deliveries": {
            "due": stats.due,
            "due_retrying": stats.due_retrying,
            "overdue": stats.overdue,
            "oldest_due_at": stats.oldest_due_at.isoformat() if stats.oldest_due_at else None,
            "oldest_due_age_seconds": age.total_seconds() if age is not None else None,
            "in_flight": stats.in_flight,
            "claimed": stats.claimed,
            "sending": stats.sending,
            "held": stats.held,
            "scheduled": stats.scheduled,
        },
        "last_hour": {kind: vars(counts) for kind, counts in stats.last_hour.items()},
    }


def _utc(instant: datetime) -> str:
    return instant.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def _age(age: timedelta | None) -> str:
    """45 s, 12 min, 3 h 5 min, 2 d 4 h: as precise as an operator needs at a glance."""
    seconds = max(0, int(age.total_seconds())) if age is not None else 0
    minutes, hours, days = seconds // 60, seconds // 3600, seconds // 86400
    if seconds < 60:
        return f"{seconds} s"
    if minutes < 60:
        return f"{minutes} min"
    if hours < 24:
        return f"{hours} h {minutes % 60} min"
    return f"{days} d {hours % 24} h"
