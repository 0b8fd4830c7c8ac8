"""Scenario 5: sustained dispatch against a fake Bot API that enforces 30 msg/s (goal ≥ 27/s, no 429).

The emulator runs with RATE_LIMIT=30: it answers 429 (retry_after 1) to a send when 30 sends arrived in the
1000 ms before it, a sliding window. `n` follow-ups on n distinct agents fall due at once, and the time and
result of every sendMessage the emulator receives are read back. The rate is taken over the steady middle
of the run (from the 10th to the 90th percentile send), so start-up and the tail do not count; every 429 the
emulator answered counts as a flood error, even one the rate limiter then retried successfully.

First the real process (`agentcoach run` as shipped). Then, in this process, the Application and engine as
runtime/app.py builds them, ticked by `start_sweeping` (a control that must match the real process), and
the same with the send budget (runtime/send_budget.py) paced at exactly 30/s, to show why the bot spaces
sends at 29/s (the margin below the limit). (Before issue 11 the variants swapped in PTB's AIORateLimiter; the
engine now waits for its own budget before its last check, so that limiter no longer fits in its place.)
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bench.children import start_bot
from bench.database import Database, make_due, restore, utcnow
from bench.emulator import TOKEN, Call, Emulator
from bench.report import Goal, Result
from bot.clock import SystemClock
from bot.config import load_settings
from handlers.context import Services
from runtime.app import build_application
from runtime.delivery import engine_of, start_sweeping

LIMIT = 30
GOAL_SHARE = 0.9
POLL_SECONDS = 0.5


@dataclass(frozen=True)
class Variant:
    """An in-process run: the send budget's pace in messages/s (None: as runtime/app.py builds it)."""

    name: str
    send_rate: float | None = None


VARIANTS = (
    Variant("as built by runtime/app.py, in process"),
    Variant("even 30/s", 30.0),
)


class Tracker:
    """Reads the emulator's sendMessage calls as they come, without re-reading the whole history each time."""

    def __init__(self, emulator: Emulator) -> None:
        self.emulator = emulator
        self.since = emulator.last_seq()
        self.sends: dict[int, Call] = {}

    def poll(self) -> None:
        for call in self.emulator.client.calls("sendMessage", since=self.since):
            self.sends[int(call["seq"])] = call
        in_flight = [seq for seq, call in self.sends.items() if "ok" not in call]
        if in_flight:
            self.since = min(in_flight) - 1
        elif self.sends:
            self.since = max(self.sends)

    def ok(self) -> int:
        return sum(1 for call in self.sends.values() if call.get("ok"))


def analyse(sends: list[Call], n: int, seconds: float) -> dict[str, Any]:
    ok = sorted(float(c["time"]) for c in sends if c.get("ok"))
    floods = [c for c in sends if c.get("ok") is False and "Too Many Requests" in str(c.get("error", ""))]
    others = [c for c in sends if c.get("ok") is False and c not in floods]
    result: dict[str, Any] = {
        "due": n,
        "sent": len(ok),
        "flood_429": len(floods),
        "other_errors": len(others),
        "wall_s": round(seconds, 1),
    }
    if len(ok) >= 10:
        lo, hi = len(ok) // 10, len(ok) * 9 // 10 - 1
        result["steady_rate"] = round((hi - lo) / (ok[hi] - ok[lo]), 2)
        result["overall_rate"] = round((len(ok) - 1) / (ok[-1] - ok[0]), 2)
        result["peak_1s_window"] = _peak_window(ok)
        result["first_429_after_s"] = round(min(float(c["time"]) for c in floods) - ok[0], 2) if floods else None
    return result


def _peak_window(times: list[float]) -> int:
    """The most successful sends in any 1000 ms window (what the emulator counts)."""
    best, start = 0, 0
    for end, moment in enumerate(times):
        while times[start] < moment - 1.0:
            start += 1
        best = max(best, end - start + 1)
    return best


async def _wait_sent(tracker: Tracker, n: int, within: float, alive: Any = None) -> None:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        await asyncio.to_thread(tracker.poll)
        if tracker.ok() >= n:
            return
        if alive is not None and not alive():
            raise RuntimeError("the bot exited while dispatching")
        await asyncio.sleep(POLL_SECONDS)


async def run_real(
    db: Database, sessions: async_sessionmaker[AsyncSession], emulator: Emulator, workdir: Path, n: int
) -> dict[str, Any]:
    await make_due(sessions, n, utcnow() - timedelta(minutes=1))
    emulator.client.reset()
    tracker = Tracker(emulator)
    started = time.monotonic()
    bot = start_bot(db.url, emulator.base_url, workdir, f"dispatch-{db.backend}")
    try:
        await _wait_sent(tracker, n, n / 20 + 60, bot.running)
    finally:
        bot.stop()
    await asyncio.to_thread(tracker.poll)
    return analyse(list(tracker.sends.values()), n, time.monotonic() - started)


async def run_variant(
    db: Database, sessions: async_sessionmaker[AsyncSession], emulator: Emulator, n: int, variant: Variant
) -> dict[str, Any]:
    """The bot's Application and engine as runtime/app.py builds them (sweep ticked by `start_sweeping`, no
    polling), on the same database; with `variant.send_rate` the send budget is paced at that rate."""
    await make_due(sessions, n, utcnow() - timedelta(minutes=1))
    emulator.client.reset()
    settings = load_settings(database_url=db.url, telegram_bot_token=TOKEN, telegram_api_base_url=emulator.base_url)
    app = build_application(
        Services(settings, sessions, SystemClock()),
        token=TOKEN,
        base_url=emulator.base_url,
        send_rate=variant.send_rate,
    )
    tracker = Tracker(emulator)
    started = time.monotonic()
    async with app:
        start_sweeping(app)
        await app.start()
        try:
            await _wait_sent(tracker, n, n / 20 + 60)
        finally:
            await app.stop()
            await engine_of(app).stop()
    await asyncio.to_thread(tracker.poll)
    return analyse(list(tracker.sends.values()), n, time.monotonic() - started)


async def run(
    db: Database,
    sessions: async_sessionmaker[AsyncSession],
    emulator: Emulator,
    workdir: Path,
    base: datetime,
    n: int,
    variant_n: int,
) -> Result:
    out = Result(
        "dispatch",
        db.backend,
        f"Sustained dispatch against the emulator at RATE_LIMIT={emulator.rate_limit} (msg/s)",
        ["run", "due", "sent", "steady msg/s", "overall msg/s", "peak in 1 s", "429s", "other errors", "wall s"],
    )
    runs: dict[str, dict[str, Any]] = {}
    runs["agentcoach run (as shipped)"] = await run_real(db, sessions, emulator, workdir, n)
    await restore(sessions, n, base)
    for variant in VARIANTS:
        runs[variant.name] = await run_variant(db, sessions, emulator, variant_n, variant) | {
            "send_rate": variant.send_rate or "as built",
        }
        await restore(sessions, variant_n, base)
    for name, r in runs.items():
        out.rows.append(
            [
                name,
                r["due"],
                r["sent"],
                r.get("steady_rate", "—"),
                r.get("overall_rate", "—"),
                r.get("peak_1s_window", "—"),
                r["flood_429"],
                r["other_errors"],
                r["wall_s"],
            ]
        )
    out.data = runs
    shipped = runs["agentcoach run (as shipped)"]
    target = GOAL_SHARE * LIMIT
    out.goals.append(
        Goal(
            "dispatch rate, agentcoach run as shipped",
            f"{shipped.get('steady_rate', 0)} msg/s, {shipped['flood_429']} × 429",
            f"≥ {target:.0f} msg/s, 0 × 429",
            shipped.get("steady_rate", 0) >= target and shipped["flood_429"] == 0,
        )
    )
    for name, r in runs.items():
        if name.startswith("agentcoach"):
            continue
        out.notes.append(
            f"{name}: {r.get('steady_rate', 0)} msg/s, {r['flood_429']} × 429"
            f" → {'meets' if r.get('steady_rate', 0) >= target and r['flood_429'] == 0 else 'misses'} the goal"
        )
    return out
