"""Issue 14: CPU per update of two versions of the code, interleaved finely enough that the machine's drift hits both.

    .venv/bin/python bench/updates_ab.py --backend sqlite|postgresql --blocks 40 --cycles 25 TREE_A TREE_B [...]

On a shared machine one run of `bench.updates` after another measures the load as much as the code (the bare floor
moves 2× between two runs). Here each tree (a checkout, e.g. `git archive <commit> | tar -x -C /tmp/a`) gets one
child process, started with `PYTHONPATH` at the tree, pinned to the same core, that seeds its own database once
(`bench.updates.seed`), builds the bot and warms it up, and then waits. The parent then asks each child in turn
for a block of `cycles` agents' mix (`bench.updates.cycle`, the fast fake Bot API), swapping the order every block,
and prints per tree the median CPU per update (the child's `time.process_time`, every thread) and the median over
blocks of its ratio to the first tree's block just before or after it. The child uses only what `bench.updates`
and `bench.database` have had since issue 14's first measurement, so older commits can be measured too.
`--floors` adds two more children from the last tree, running the mix's floors of bench/mix_floor.py instead of
the bot (the mix's statements and replies alone; the same with the update gate, the send budget and the time
phrase), so the floors' CPU per update is paired with the base's in the same way.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import IO, Any

WARM_UP_CYCLES = 20


async def child(backend: str, agents: int, mode: str) -> None:
    """Seed, build, warm up; then answer each line `N` on stdin with one block of N cycles, as a JSON line. `mode`
    "bot" builds the bot; "floor" and "floor-required" the mix's floors of bench/mix_floor.py instead."""
    from bench import database
    from bench import updates as bench
    from bot.clock import ManualClock
    from bot.config import load_settings
    from handlers.context import Services
    from runtime.app import build_application, prepare

    logging.disable(logging.CRITICAL)
    with tempfile.TemporaryDirectory(prefix="agentcoach-updates-ab-") as folder:
        db = await database.create(backend, Path(folder))
        try:
            await bench.seed(db, agents)
            engine, sessions = database.open_sessions(db)
            settings = load_settings(database_url=db.url, telegram_bot_token=bench.TOKEN)
            api = bench.FastBotAPI()
            services = Services(settings, sessions, ManualClock(bench.NOW))
            if mode == "bot":
                app = build_application(services, token=bench.TOKEN, request=api)
            else:
                from bench.mix_floor import mix_floor_application

                required = mode == "floor-required"
                app = mix_floor_application(bench.TOKEN, api, sessions, bench.NOW, required=required)
            await app.initialize()
            if mode == "bot":
                await prepare(app)
            await bench.feed(app, "warm-up", bench.ours(range(1, WARM_UP_CYCLES + 1), api))
            first = WARM_UP_CYCLES + 1
            print("ready", flush=True)
            loop = asyncio.get_running_loop()
            while line := (await loop.run_in_executor(None, sys.stdin.readline)).strip():
                cycles = int(line)
                run = await bench.feed(app, "block", bench.ours(range(first, first + cycles), api))
                first += cycles
                per_kind = {kind: statistics.mean(values) for kind, values in run.latencies.items()}
                print(json.dumps({"cpu_ms": 1000 * run.cpu_s / run.updates, "rate": run.rate, "kinds": per_kind}))
                sys.stdout.flush()
            await app.shutdown()
            await engine.dispose()
        finally:
            await database.drop(db)


def start(tree: Path, backend: str, agents: int, cpu: int, mode: str = "bot") -> subprocess.Popen[str]:
    process = subprocess.Popen(
        [
            sys.executable,
            str(Path(__file__).resolve()),
            "--child",
            "--backend",
            backend,
            "--agents",
            str(agents),
            *("--as", mode),
        ],
        cwd=tree,
        env=dict(os.environ, PYTHONPATH=str(tree)),
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        preexec_fn=lambda: os.sched_setaffinity(0, {cpu}),
    )
    assert process.stdout is not None
    while (line := process.stdout.readline()).strip() != "ready":
        if not line:
            raise SystemExit(f"the child for {tree} stopped before it was ready")
    return process


def ask(process: subprocess.Popen[str], cycles: int) -> dict[str, Any]:
    stdin, stdout = process.stdin, process.stdout
    assert stdin is not None and stdout is not None
    stdin.write(f"{cycles}\n")
    stdin.flush()
    found: dict[str, Any] = json.loads(stdout.readline())
    return found


def report(trees: list[str], blocks: dict[str, list[dict[str, Any]]], out: IO[str]) -> None:
    first = [block["cpu_ms"] for block in blocks[trees[0]]]
    for tree in trees:
        cpu = [block["cpu_ms"] for block in blocks[tree]]
        ratios = [mine / theirs for mine, theirs in zip(cpu, first, strict=True)]
        kinds = {
            kind: statistics.median(block["kinds"][kind] for block in blocks[tree]) for kind in blocks[tree][0]["kinds"]
        }
        print(
            f"{tree}: CPU {statistics.median(cpu):.3f} ms/update (blocks {min(cpu):.3f}–{max(cpu):.3f}),"
            f" × {statistics.median(ratios):.3f} the first tree (paired median),"
            f" {statistics.median(block['rate'] for block in blocks[tree]):.0f} updates/s; mean latency ms by kind "
            + ", ".join(f"{kind} {value:.2f}" for kind, value in kinds.items()),
            file=out,
        )
    print(f"load average at the end: {' '.join(f'{value:.2f}' for value in os.getloadavg())}", file=out)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bench/updates_ab.py", description=__doc__.split("\n\n")[0])
    parser.add_argument("trees", nargs="*", type=Path)
    parser.add_argument("--backend", choices=("sqlite", "postgresql"), default="sqlite")
    parser.add_argument("--blocks", type=int, default=40)
    parser.add_argument("--cycles", type=int, default=25, help="agents (6 updates each) per block")
    parser.add_argument("--agents", type=int, default=None, help="seeded per child (default: what the blocks use)")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--as", dest="mode", default="bot", help=argparse.SUPPRESS)
    parser.add_argument(
        "--floors", action="store_true", help="also run the mix's two floors (bench/mix_floor.py) from the last tree"
    )
    args = parser.parse_args(argv)
    agents = args.agents or WARM_UP_CYCLES + args.blocks * args.cycles + 10
    if args.child:
        asyncio.run(child(args.backend, agents, args.mode))
        return 0
    if len(args.trees) < 2:
        parser.error("give two trees or more")
    cpu = max(os.sched_getaffinity(0))
    runs = [(str(tree), tree, "bot") for tree in args.trees]
    if args.floors:
        runs += [(f"{mode} ({args.trees[-1]})", args.trees[-1], mode) for mode in ("floor", "floor-required")]
    children = [start(tree, args.backend, agents, cpu, mode) for _, tree, mode in runs]
    labels = [label for label, _, _ in runs]
    blocks: dict[str, list[dict[str, Any]]] = {label: [] for label in labels}
    try:
        for number in range(args.blocks):
            order = list(zip(labels, children, strict=True))
            for tree, process in order if number % 2 == 0 else reversed(order):
                blocks[tree].append(ask(process, args.cycles))
    finally:
        for process in children:
            if process.stdin is not None:
                process.stdin.write("\n")
                process.stdin.flush()
            process.wait()
    report(labels, blocks, sys.stdout)
    return 0


if __name__ == "__main__":
    sys.exit(main())
