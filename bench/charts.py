"""Weekly digest: charts rendered per second, and the memory of the process that renders and of the bot.

    .venv/bin/python -m bench.charts [--charts 300] [--workers 1,2]

The issue's scale: 100k agents with the same Sunday 20:00 digest, sent at Telegram's 30 msg/s, so 100k charts
within the hour; rendering must never be the bottleneck. Measured here, on varied weeks (random counts, moods
with gaps, empty weeks, all three languages):

- per chart in one process (a spawned child, so this process stays free of matplotlib): a fresh Figure for
  every chart against the reused one `bot.chart` keeps, and the PNG sizes;
- charts/s through `bot.chart.ChartRenderer` with 1 and 2 worker processes, all charts submitted at once as a
  scheduler rendering ahead of the send would; the pool's start (spawn, import, fonts) is timed apart;
- peak RSS (VmHWM) of each worker and of this process, the bot's side, which must never import matplotlib.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import os
import platform
import random
import statistics
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from bench.children import memory_kib, mib
from bench.report import Goal, Result, render, spread
from bot.chart import ChartRenderer, render_week_chart
from bot.i18n import LANGUAGES
from bot.week import Day, Numbers, Week

AGENTS = 100_000
SEND_RATE = 30.0  # Telegram's limit, msg/s


def weeks(count: int, seed: int = 13) -> list[tuple[Numbers, str]]:
    """Varied weeks, each with a language: busy and quiet days, moods with gaps, now and then an empty week."""
    rng = random.Random(seed)
    out: list[tuple[Numbers, str]] = []
    for n in range(count):
        week = Week.containing(date(2026, 1, 5) + timedelta(weeks=rng.randrange(104)))
        empty = n % 10 == 9
        scale = rng.choice((3, 8, 25))
        days = tuple(
            Day(
                day,
                contacts=0 if empty else rng.randrange(scale),
                follow_ups_done=0 if empty else rng.randrange(scale),
                mood=None if empty or rng.random() < 0.3 else rng.randint(1, 5),
            )
            for day in week.days
        )
        out.append((Numbers(week=week, days=days), LANGUAGES[n % len(LANGUAGES)]))
    return out


def per_chart(count: int) -> dict[str, Any]:
    """In a worker: ms per chart with a fresh Figure each time and with the reused one (after one warm-up each)."""
    jobs = weeks(count, seed=7)
    found: dict[str, Any] = {}
    for reuse in (False, True):
        for language in LANGUAGES:
            render_week_chart(jobs[0][0], language, reuse_figure=reuse)
        times: list[float] = []
        sizes: list[int] = []
        for numbers, language in jobs:
            started = time.perf_counter()
            png = render_week_chart(numbers, language, reuse_figure=reuse)
            times.append((time.perf_counter() - started) * 1000)
            sizes.append(len(png))
        found["reused" if reuse else "fresh"] = {"ms": spread(times), "bytes": spread([float(s) for s in sizes])}
    found["peak_kib"] = memory_kib()["VmHWM"]
    return found


def cpu_seconds(pid: int) -> float:
    """User + system CPU a process has used so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def worker_pids() -> list[int]:
    """This process's spawned pool workers (not multiprocessing's resource tracker)."""
    pids = []
    for status in Path("/proc").glob("[0-9]*/status"):
        try:
            fields = dict(line.split(":\t", 1) for line in status.read_text().splitlines() if ":\t" in line)
            command = (status.parent / "cmdline").read_bytes()
        except OSError:
            continue
        if int(fields.get("PPid", "0")) == os.getpid() and b"spawn_main" in command:
            pids.append(int(status.parent.name))
    return pids


async def size(renderer: ChartRenderer, numbers: Numbers, language: str) -> int:
    return len(await renderer.render(numbers, language))


async def throughput(workers: int, jobs: list[tuple[Numbers, str]]) -> dict[str, Any]:
    renderer = ChartRenderer(workers=workers)
    try:
        started = time.perf_counter()
        # As many first charts as workers, at once: each worker starts (spawn, matplotlib, fonts) and draws one.
        await asyncio.gather(*(renderer.render(*jobs[n]) for n in range(workers)))
        start_s = time.perf_counter() - started
        pids = worker_pids()
        cpu_before = sum(cpu_seconds(pid) for pid in pids)
        started = time.perf_counter()
        # Only the sizes are kept, so this process's peak is the bot's side, not 300 PNGs held by the benchmark.
        sizes = await asyncio.gather(*(size(renderer, numbers, language) for numbers, language in jobs))
        elapsed = time.perf_counter() - started
        peaks = [mib(memory_kib(pid)["VmHWM"]) for pid in pids]
        cpu_s = sum(cpu_seconds(pid) for pid in pids) - cpu_before
    finally:
        renderer.close()
    return {
        "workers": workers,
        "charts": len(jobs),
        "start_s": round(start_s, 2),
        "seconds": round(elapsed, 2),
        "charts_per_s": round(len(jobs) / elapsed, 1),
        # The workers' CPU in the timed batch per chart (pickling included): the cost of a chart on a core,
        # whatever else the machine runs.
        "cpu_ms_per_chart": round(cpu_s * 1000 / len(jobs), 1),
        "load_average": os.getloadavg(),
        "worker_peak_mib": peaks,
        "png_kib": {"median": round(statistics.median(sizes) / 1024, 1), "min": min(sizes), "max": max(sizes)},
    }


def machine() -> str:
    model = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if "model name" in line
        ),
        platform.processor() or "?",
    )
    return f"{os.cpu_count()} CPUs ({model}), Python {platform.python_version()}, {platform.platform()}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--charts", type=int, default=300)
    parser.add_argument("--workers", default="1,2", help="worker counts, comma-separated")
    args = parser.parse_args()
    jobs = weeks(args.charts)

    with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn")) as pool:
        single = pool.submit(per_chart, min(args.charts, 150)).result()
    one = Result(
        "charts",
        "—",
        "One chart in one process (ms; median, min–max) and its PNG",
        ["figure", "ms per chart", "PNG KiB (median)", "PNG bytes min–max"],
        data={"per_chart": single},
    )
    for key in ("fresh", "reused"):
        ms, size = single[key]["ms"], single[key]["bytes"]
        one.rows.append(
            [
                key,
                f"{ms['median']:.1f} ({ms['min']:.1f}–{ms['max']:.1f})",
                round(size["median"] / 1024, 1),
                f"{size['min']:,.0f}–{size['max']:,.0f}",
            ]
        )
    one.notes.append(f"that worker's peak RSS: {mib(single['peak_kib'])} MiB")
    print(render(one))

    runs = [asyncio.run(throughput(int(w), jobs)) for w in args.workers.split(",")]
    table = Result(
        "charts",
        "—",
        f"ChartRenderer: {args.charts} varied charts submitted at once",
        [
            "workers",
            "pool start s",
            "render s",
            "charts/s",
            "worker CPU ms/chart",
            "worker peak RSS MiB",
            "PNG KiB (median)",
            "100k charts",
            "load avg (1 min)",
        ],
        data={"runs": runs},
    )
    for run in runs:
        table.rows.append(
            [
                run["workers"],
                run["start_s"],
                run["seconds"],
                run["charts_per_s"],
                run["cpu_ms_per_chart"],
                ", ".join(str(p) for p in run["worker_peak_mib"]),
                run["png_kib"]["median"],
                f"{AGENTS / run['charts_per_s'] / 60:.0f} min",
                round(run["load_average"][0], 2),
            ]
        )
    parent = mib(memory_kib()["VmHWM"])
    best = max(run["charts_per_s"] for run in runs)
    table.goals.append(
        Goal(
            "rendering never the bottleneck",
            f"{best} charts/s",
            f"≥ {SEND_RATE:.0f}/s (the send rate)",
            best >= SEND_RATE,
        )
    )
    table.goals.append(
        Goal(
            "the bot never imports matplotlib",
            str("matplotlib" in sys.modules),
            "False",
            "matplotlib" not in sys.modules,
        )
    )
    table.notes.append(
        f"sending {AGENTS:,} digests at {SEND_RATE:.0f} msg/s takes {AGENTS / SEND_RATE / 60:.0f} min; at {best} "
        f"charts/s rendering takes {AGENTS / best / 60:.0f} min, so it must start that much ahead of the send"
        f" (or at least {max(0.0, AGENTS / best - AGENTS / SEND_RATE) / 60:.0f} min ahead, rendering while sending)"
    )
    table.notes.append(f"this process (the bot's side) peak RSS: {parent} MiB")
    table.notes.append(f"machine: {machine()}")
    print(render(table))


if __name__ == "__main__":
    main()
