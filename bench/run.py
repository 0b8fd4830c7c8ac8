"""The benchmarks' one entry point: every scenario, on each backend, beside the peers, in one invocation.

    .venv/bin/python -m bench.run --backend sqlite|postgresql|both --scale small|full [--only rss,sweep,…]

Per backend: a fresh database (SQLite file in a temp folder, or a new PostgreSQL database on 127.0.0.1:5432
that is dropped at the end), migrated, seeded with the scale's agents (one client each), then with pending
follow-ups up to each RSS point in turn, measuring our process's memory at each. On the full database then:
`sweep` (one sweep finding 1k due), `restart` (restart to first nudge), `dispatch` (sustained rate against the
rate-limited emulator) and `schedule` (scheduling 100k follow-ups vs APScheduler's job store). The in-memory
JobQueue peer needs no database: it is measured once per invocation and set beside each backend.

Scales: `small` (10k agents, up to 100k pending; a smoke run) and `full` (the issue's 100k agents, 1M
pending). Each scenario prints its table as it ends; the goals are summed up at the end, and everything goes
to bench/results/<timestamp>.json. Only loopback addresses are used. Needs node/npm for the emulator
(scenarios that need it are skipped without) and, for PostgreSQL, a server on 127.0.0.1:5432 as `postgres`.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import logging
import os
import platform
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, replace
from importlib.metadata import version
from pathlib import Path
from typing import Any

from bench import database, dispatch, emulator, restart, rss, scheduling, sweep
from bench.database import Seeder, utcnow
from bench.report import Result, render, save, summary

RESULTS = Path(__file__).resolve().parent / "results"
SCENARIOS = ("rss", "sweep", "restart", "dispatch", "schedule")


@dataclass(frozen=True)
class Scale:
    agents: int
    rss_points: tuple[int, ...]  # pending follow-ups at which memory is read; the last is the full database
    schedule: int  # follow-ups scheduled in bulk
    schedule_batch: int
    schedule_single: int  # … and one at a time (extrapolated)
    peer_adds: int  # job-store adds (extrapolated)
    sweep_due: int
    sweep_repeats: int
    restart_due: int
    restart_repeats: int
    dispatch: int  # nudges for the real process
    dispatch_variant: int  # … and for each in-process limiter variant

    @property
    def pending(self) -> int:
        return self.rss_points[-1]


SCALES = {
    "small": Scale(
        agents=10_000,
        rss_points=(1_000, 10_000, 100_000),
        schedule=10_000,
        schedule_batch=5_000,
        schedule_single=300,
        peer_adds=500,
        sweep_due=300,
        sweep_repeats=2,
        restart_due=20,
        restart_repeats=2,
        dispatch=90,
        dispatch_variant=60,
    ),
    "full": Scale(
        agents=100_000,
        rss_points=(10_000, 100_000, 1_000_000),
        schedule=100_000,
        schedule_batch=10_000,
        schedule_single=3_000,
        peer_adds=10_000,
        sweep_due=1_000,
        sweep_repeats=7,
        restart_due=100,
        restart_repeats=5,
        dispatch=3_000,
        dispatch_variant=1_000,
    ),
}


def machine(backends: list[str]) -> dict[str, Any]:
    meminfo = Path("/proc/meminfo").read_text().splitlines()
    total_kib = next(int(line.split()[1]) for line in meminfo if line.startswith("MemTotal:"))
    info: dict[str, Any] = {
        "date": time.strftime("%Y-%m-%d %H:%M:%S %z"),
        "nproc": os.cpu_count(),
        "memory_gib": round(total_kib / 1024 / 1024, 1),
        "cpu": _cpu_model(),
        "kernel": platform.release(),
        "python": sys.version.split()[0],
        "sqlite": sqlite3.sqlite_version,
        "packages": {
            name: version(name)
            for name in ("python-telegram-bot", "APScheduler", "SQLAlchemy", "aiosqlite", "asyncpg", "aiolimiter")
        },
    }
    node = shutil.which("node")
    if node:
        info["node"] = subprocess.run([node, "--version"], capture_output=True, text=True, check=False).stdout.strip()
    if "postgresql" in backends:
        info["postgresql"] = asyncio.run(database.server_version())
    return info


def code_version() -> dict[str, str]:
    """The commit and a digest of the code under test (bot/, handlers/, content/), to catch edits mid-run."""
    repo = RESULTS.parent.parent
    digest = hashlib.sha256()
    for folder in ("bot", "handlers", "content"):
        for path in sorted((repo / folder).rglob("*")):
            if path.is_file() and "__pycache__" not in path.parts:
                digest.update(str(path.relative_to(repo)).encode() + b"\0" + path.read_bytes())
    head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=repo, capture_output=True, text=True)
    status = subprocess.run(
        ["git", "status", "--porcelain", "--", "bot", "handlers", "content"], cwd=repo, capture_output=True, text=True
    )
    return {
        "commit": head.stdout.strip() or "unknown",
        "uncommitted_changes": "yes" if status.stdout.strip() else "no",
        "digest": digest.hexdigest()[:16],
    }


def _cpu_model() -> str:
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor()


class Bench:
    """One invocation: the emulators, the results so far, and where they are saved."""

    def __init__(self, scale_name: str, backends: list[str], only: set[str], workdir: Path, out: Path) -> None:
        self.scale_name = scale_name
        self.scale = SCALES[scale_name]
        self.backends = backends
        self.only = only
        self.workdir = workdir
        self.out = out
        self.results: list[Result] = []
        self.header: dict[str, Any] = {
            "command": " ".join(["python -m bench.run", *sys.argv[1:]]),
            "scale": {"name": scale_name, **asdict(self.scale)},
            "backends": backends,
            "machine": machine(backends),
            "code_at_start": code_version(),
            "seeding": {},
            "skipped": [],
        }
        self.plain: emulator.Emulator | None = None
        self.limited: emulator.Emulator | None = None

    def add(self, result: Result) -> None:
        # When it ended and on which code: others may commit while a long run goes on.
        result.data["finished"] = time.strftime("%H:%M:%S")
        result.data["code"] = code_version()
        self.results.append(result)
        print(render(result), flush=True)
        self.save()

    def save(self) -> None:
        save(self.out, self.header, self.results)

    def skip(self, what: str, why: str) -> None:
        print(f"-- skipped {what}: {why}", flush=True)
        self.header["skipped"].append({"what": what, "why": why})

    def start_emulators(self) -> None:
        try:
            self.plain = emulator.start(self.workdir / "emulator.log")
            self.limited = emulator.start(self.workdir / "emulator-limited.log", rate_limit=dispatch.LIMIT)
        except emulator.EmulatorUnavailable as error:
            self.skip("scenarios needing the Bot API emulator", str(error))

    def stop_emulators(self) -> None:
        for emu in (self.plain, self.limited):
            if emu is not None:
                emu.stop()

    def jobqueue_peer(self, given_mib: float | None = None) -> dict[int, dict[str, Any]]:
        """The in-memory peer at each RSS point (once: it holds no database), or, given, its figure at the last
        point from an earlier run: it runs none of our code, and 1M jobs take 20 min on a loaded machine."""
        if given_mib is not None:
            return {self.scale.pending: {"rss_mib": given_mib, "given": True}}
        if self.plain is None or "rss" not in self.only:
            return {}
        found: dict[int, dict[str, Any]] = {}
        for n in self.scale.rss_points:
            started = time.perf_counter()
            found[n] = rss.measure_jobqueue(self.plain, n)
            print(f"   JobQueue peer, {n:,} jobs: {found[n]} ({time.perf_counter() - started:.0f} s)", flush=True)
        return found

    async def backend(self, backend: str, peer_rss: dict[int, dict[str, Any]]) -> None:
        scale = self.scale
        print(f"\n#### {backend}: {scale.agents:,} agents, {scale.pending:,} pending", flush=True)
        db = await database.create(backend, self.workdir)
        try:
            seeder = Seeder(db, scale.agents, utcnow())
            seeding: dict[str, Any] = {"agents_and_clients_s": round(await seeder.seed_agents(), 1), "stages": []}
            ours_rss: dict[int, dict[str, Any]] = {}
            points = scale.rss_points if "rss" in self.only else (scale.pending,)
            for n in points:
                seeded = await seeder.seed_pending(n)
                settled = await seeder.settle()
                seeding["stages"].append({"pending": n, "seed_s": round(seeded, 1), "settle_s": round(settled, 1)})
                print(f"   seeded up to {n:,} pending: {seeded:.1f} s (+ {settled:.1f} s settle)", flush=True)
                if "rss" in self.only and self.plain is not None:
                    ours_rss[n] = await rss.measure_ours(db, self.plain)
                    print(f"   ours at {n:,} pending: {ours_rss[n]}", flush=True)
            seeding["total_s"] = round(
                seeding["agents_and_clients_s"] + sum(s["seed_s"] + s["settle_s"] for s in seeding["stages"]), 1
            )
            self.header["seeding"][backend] = seeding
            if ours_rss:
                self.add(rss.result(backend, ours_rss, peer_rss))
            await self.on_full_database(db, seeder)
        finally:
            await database.drop(db)

    async def on_full_database(self, db: database.Database, seeder: Seeder) -> None:
        scale = self.scale
        engine, sessions = database.open_sessions(db)
        try:
            if "sweep" in self.only:
                self.add(
                    await sweep.run(
                        db.backend, sessions, seeder.base, scale.pending, scale.sweep_due, scale.sweep_repeats
                    )
                )
            if "restart" in self.only and self.plain is not None:
                self.add(
                    await restart.run(
                        db,
                        sessions,
                        self.plain,
                        self.workdir,
                        seeder.base,
                        scale.pending,
                        scale.restart_due,
                        scale.restart_repeats,
                    )
                )
            if "dispatch" in self.only and self.limited is not None:
                self.add(
                    await dispatch.run(
                        db, sessions, self.limited, self.workdir, seeder.base, scale.dispatch, scale.dispatch_variant
                    )
                )
            if "schedule" in self.only:
                self.add(
                    await scheduling.run(
                        db,
                        sessions,
                        scale.agents,
                        scale.schedule,
                        scale.schedule_batch,
                        scale.schedule_single,
                        scale.peer_adds,
                    )
                )
        finally:
            await engine.dispose()


def parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.run", description=__doc__.split("\n\n")[0])
    parser.add_argument("--backend", choices=("sqlite", "postgresql", "both"), default="sqlite")
    parser.add_argument("--scale", choices=tuple(SCALES), default="small")
    parser.add_argument(
        "--only", default=",".join(SCENARIOS), help=f"comma-separated scenarios (default: all of {','.join(SCENARIOS)})"
    )
    parser.add_argument("--out", type=Path, default=None, help="JSON file (default bench/results/<timestamp>.json)")
    parser.add_argument(
        "--peer-rss-mib",
        type=float,
        default=None,
        help="the JobQueue peer's RSS at the last point, from an earlier run, instead of measuring it again",
    )
    parser.add_argument("--repeats", type=int, default=None, help="repeats of the sweep and restart timings")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    only = {name.strip() for name in args.only.split(",") if name.strip()}
    unknown = only - set(SCENARIOS)
    if unknown:
        print(f"unknown scenario(s): {', '.join(sorted(unknown))}; known: {', '.join(SCENARIOS)}", file=sys.stderr)
        return 2
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("apscheduler").setLevel(logging.ERROR)  # "skipped: maximum number of running instances"
    backends = ["sqlite", "postgresql"] if args.backend == "both" else [args.backend]
    out = args.out or RESULTS / f"{time.strftime('%Y%m%d-%H%M%S')}-{args.scale}-{args.backend}.json"
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="agentcoach-bench-") as folder:
        bench = Bench(args.scale, backends, only, Path(folder), out)
        if args.repeats is not None:
            bench.scale = replace(bench.scale, sweep_repeats=args.repeats, restart_repeats=args.repeats)
            bench.header["scale"] = {"name": args.scale, **asdict(bench.scale)}
        print(f"machine: {bench.header['machine']}", flush=True)
        bench.start_emulators()
        try:
            peer_rss = bench.jobqueue_peer(args.peer_rss_mib)
            for backend in backends:
                asyncio.run(bench.backend(backend, peer_rss))
        finally:
            bench.stop_emulators()
            bench.header["wall_s"] = round(time.perf_counter() - started, 1)
            bench.header["code_at_end"] = code_version()
            bench.save()
    print(summary(bench.results))
    print(f"code: {bench.header['code_at_start']}")
    if bench.header["code_at_end"]["digest"] != bench.header["code_at_start"]["digest"]:
        print(f"WARNING: bot/, handlers/ or content/ changed during the run (now {bench.header['code_at_end']})")
    print(f"results: {out} ({bench.header['wall_s']:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
