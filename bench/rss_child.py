"""One memory measurement in a fresh process; run by `bench.rss`, prints one JSON line.

    python -m bench.rss_child ours                # DATABASE_URL, TELEGRAM_* in the environment
    python -m bench.rss_child jobqueue 1000000    # the peer: one PTB JobQueue job per reminder

`ours` builds the bot as `agentcoach run` does (runtime/cli.py `serve`: migrations, engine, Application with
the engine, `start_sweeping`, long polling against the emulator), lets the sweep tick over the pending rows,
runs one more sweep itself, and reads RSS: that is "Application + engine". Then it does what serving's
`prepare` does (menus, the city index) and reads RSS again: the bot as served, idle, before any agent has
typed a time. Then it loads the time parsers as an agent's first /followup does (`bot.timeparse.ready`) and
reads RSS once more: the bot after its first time phrase. Last, the realistic warm-up (`bench.warm_up`: every
kind of reply once in each language, every scheduled kind sent once) and a last reading: what the bot holds after
its first day of use, from then on. Each of the last three readings is followed by one after glibc's malloc_trim,
which returns the pages free() kept.

`jobqueue` is the reminder bot the issue compares with: a PTB Application whose JobQueue holds one `run_once`
job per reminder (data: the follow-up id; run times one to thirty-one days ahead, ascending, which is the
cheapest order for APScheduler's in-memory store), added while the application runs, yielding to the event
loop every 10k adds as a bot answering updates would.
"""

from __future__ import annotations

import asyncio
import ctypes
import gc
import json
import os
import sys
import time
from dataclasses import asdict
from datetime import UTC, datetime, timedelta
from typing import Any

from bench.children import memory_kib, mib

SPREAD = timedelta(days=30)


async def measure_ours() -> dict[str, Any]:
    from bench.warm_up import warm_up
    from bot.config import load_settings
    from bot.db import engine_from_settings, session_factory
    from bot.logs import configure_logging
    from bot.timeparse import ready
    from handlers.context import Services
    from handlers.digest import close_charts
    from runtime.app import ALLOWED_UPDATES, WARM_UP_KEY, build_application, prepare
    from runtime.cli import migrate
    from runtime.delivery import engine_of, start_sweeping

    settings = load_settings()
    configure_logging("WARNING", [settings.token() or ""])
    await migrate(settings)
    engine = engine_from_settings(settings)
    services = Services(settings, session_factory(engine), settings.clock())
    token = settings.token()
    assert token is not None
    app = build_application(services, token=token, base_url=settings.telegram_api_base_url)
    try:
        async with app:
            start_sweeping(app)
            assert app.updater is not None
            await app.updater.start_polling(allowed_updates=ALLOWED_UPDATES)
            await app.start()
            await asyncio.sleep(2.5)  # the JobQueue ticks the sweep every second
            started = time.perf_counter()
            report = await engine_of(app).sweep()
            sweep_ms = (time.perf_counter() - started) * 1000
            gc.collect()
            engine_only = memory_kib()
            await prepare(app, background=True)
            await app.bot_data[WARM_UP_KEY]
            await asyncio.sleep(1.0)
            gc.collect()
            served = memory_kib()
            served_trimmed = _trimmed()
            await ready()
            await asyncio.sleep(1.0)
            gc.collect()
            whole = memory_kib()
            trimmed = _trimmed()
            warmed_up = await warm_up(services)
            await asyncio.sleep(1.0)
            gc.collect()
            warm = memory_kib()
            warm_trimmed = _trimmed()
            await app.updater.stop()
            await app.stop()
            await engine_of(app).stop()
    finally:
        await close_charts()
        await engine.dispose()
    return {
        "rss_app_engine_mib": mib(engine_only["VmRSS"]),
        "rss_served_mib": mib(served["VmRSS"]),
        "rss_served_trimmed_mib": mib(served_trimmed["VmRSS"]),
        "rss_mib": mib(whole["VmRSS"]),
        "hwm_mib": mib(whole["VmHWM"]),
        "rss_trimmed_mib": mib(trimmed["VmRSS"]),
        "rss_warm_mib": mib(warm["VmRSS"]),
        "rss_warm_trimmed_mib": mib(warm_trimmed["VmRSS"]),
        "hwm_warm_mib": mib(warm["VmHWM"]),
        "warm_up": asdict(warmed_up),
        "idle_sweep_ms": round(sweep_ms, 2),
        "sweep_claimed": report.claimed,
    }


def _trimmed() -> dict[str, int]:
    """Memory after glibc hands freed pages back (malloc_trim): what is still in use, without what free()
    kept in the per-thread arenas (the warm-up runs in executor threads, so this part varies run to run)."""
    ctypes.CDLL("libc.so.6").malloc_trim(0)
    return memory_kib()


async def remind(context: Any) -> None:
    """The peer's reminder callback (never runs here: every job is in the future)."""


async def measure_jobqueue(count: int, base_url: str, token: str) -> dict[str, Any]:
    from telegram.ext import Application

    app = Application.builder().token(token).base_url(base_url).build()
    async with app:
        await app.start()
        assert app.job_queue is not None
        gc.collect()
        before = memory_kib()
        first = datetime.now(UTC) + timedelta(days=1)
        step = SPREAD / max(count, 1)
        started = time.perf_counter()
        for i in range(count):
            app.job_queue.run_once(remind, when=first + step * i, data=i + 1, chat_id=10_000_000 + i % 100_000)
            if i % 10_000 == 9_999:
                await asyncio.sleep(0)
        add_seconds = time.perf_counter() - started
        await asyncio.sleep(1.0)
        gc.collect()
        after = memory_kib()
        trimmed = _trimmed()
        jobs = len(app.job_queue.jobs())
        await app.stop()
    return {
        "rss_empty_mib": mib(before["VmRSS"]),
        "rss_mib": mib(after["VmRSS"]),
        "hwm_mib": mib(after["VmHWM"]),
        "rss_trimmed_mib": mib(trimmed["VmRSS"]),
        "jobs": jobs,
        "add_seconds": round(add_seconds, 2),
    }


def main(argv: list[str]) -> int:
    if argv[:1] == ["ours"]:
        result = asyncio.run(measure_ours())
    elif argv[:1] == ["jobqueue"] and len(argv) == 2:
        result = asyncio.run(
            measure_jobqueue(int(argv[1]), os.environ["BENCH_API_BASE_URL"], os.environ["BENCH_TOKEN"])
        )
    else:
        print(__doc__, file=sys.stderr)
        return 2
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
