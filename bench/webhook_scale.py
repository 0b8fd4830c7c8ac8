"""Issue 14: updates/s with 1, 2 and 4 webhook processes on one PostgreSQL, behind nginx, as docs/deploy.md runs them.

    PYTHONPATH=. python -m bench.webhook_scale [--processes 1,2,4] [--agents 10000] [--cycles 150] [--repeats 2]

One fresh PostgreSQL database, seeded with bench.updates' state (10,000 onboarded agents). For each process count
in turn: that many `agentcoach run --webhook` processes (bench/webhooks.py: the unit's command line, settings in the
environment, their clock set to bench.updates.NOW so the seeded state is "today"), the real nginx in front running
the documented site (bench/nginx.py: docs/deploy/nginx.conf, TLS, `upstream` of the processes), and a fake Bot API
at the HTTP boundary (`--fake-api`, a child process: every call answered at once with a valid result). The load
client (this process) plays `--concurrency` agents at once, each sending bench.updates' mix for one agent (/tip, 👍,
/today, /followup …, ✅, a reflection answer), one update after the other as a chat does, each a POST over a
keep-alive TLS connection to nginx with the secret header, timed until nginx's 200 (the process answers once the
update is applied and its replies sent). Agents never repeat, so every run sees the same state. The first
`--warm-up` agents of each run are not timed. Without nginx the client spreads its connections over the processes
itself (plain HTTP), and says so.

Every process (each webhook process, nginx, the fake Bot API) is started in a session of its own: with the kernel's
autogroup scheduling (`/proc/sys/kernel/sched_autogroup_enabled`) CPU is shared fairly between sessions, not
processes, so N processes in the benchmark's one session would share one session's CPU, however many there are
(measured: 1, 2 and 4 processes all ~8 updates/s on the loaded machine). Under systemd each `agentcoach@PORT` unit is
a cgroup of its own, which is what a session of its own stands for here.

Reported per process count: updates/s, p50/p99 (ms) overall and per kind, the webhook processes' CPU ms per update
(from /proc), and the machine's busy share during the run (other work on a shared machine shows there). The ratio
of 2 (and 4) processes to 1 is the figure to read on a noisy machine: the runs alternate (1, 2, 4, 1, 2, 4 …).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import ssl
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench import database, nginx, updates, webhooks
from bench.report import Goal, Result, render, save
from bench.updates import KINDS, NOW, cycle, percentile, seed
from bench.updates import _commit as commit
from bench.updates import _cpu_model as cpu_model
from bench.updates import _uptime as load_average

RESULTS = Path(__file__).resolve().parent / "results"
TOKEN = "123456:BENCH-WEBHOOK-SCALE"
PATH = "/telegram"


# ---------------------------------------------------------------------------------------------- fake Bot API


def _answer(method: str, serial: int) -> bytes:
    """What Telegram answers: the sent or edited message for the message methods, the bot for getMe, else True."""
    if method == "getMe":
        from runtime.local_api import BOT_USER

        result: Any = BOT_USER
    elif method.startswith(("send", "edit")):
        result = {"message_id": serial, "date": int(time.time()), "chat": {"id": 1, "type": "private"}, "text": "…"}
    else:
        result = True
    return json.dumps({"ok": True, "result": result}).encode()


async def _serve_api(port: int) -> None:
    """HTTP/1.1 keep-alive, parsed by hand: cheap enough that it is never what the processes wait for."""
    serial = 0

    async def connection(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal serial
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                lines = head.decode("latin-1").split("\r\n")
                length = next(
                    (int(v) for k, _, v in (h.partition(":") for h in lines) if k.lower() == "content-length"), 0
                )
                await reader.readexactly(length)
                serial += 1
                body = _answer(lines[0].split()[1].rsplit("/", 1)[-1], serial)
                writer.write(
                    b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s"
                    % (len(body), body)
                )
        except (asyncio.IncompleteReadError, ConnectionError):
            writer.close()

    server = await asyncio.start_server(connection, "127.0.0.1", port, backlog=1024)
    async with server:
        await server.serve_forever()


def start_fake_api(workdir: Path) -> tuple[subprocess.Popen[bytes], int]:
    port = nginx.free_port()
    with (workdir / "fake-api.log").open("wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "bench.webhook_scale", "--fake-api", str(port)],
            stdout=log,
            stderr=subprocess.STDOUT,
            env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parent.parent)},
            start_new_session=True,
        )
    deadline = time.monotonic() + 30
    while webhooks.health(port)[0] == 0 and time.monotonic() < deadline and process.poll() is None:
        time.sleep(0.05)
    return process, port


# ---------------------------------------------------------------------------------------------- the load


@dataclass
class Target:
    port: int
    tls: ssl.SSLContext | None


@dataclass
class Run(updates.Run):
    """bench.updates' run, with what only several processes behind a proxy have."""

    processes: int = 1
    through: str = ""
    statuses: dict[int, int] = field(default_factory=dict)
    process_cpu_s: float = 0.0
    machine_busy: float = 0.0


async def _post(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, secret: str, body: bytes) -> int:
    writer.write(
        b"POST %s HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        b"X-Telegram-Bot-Api-Secret-Token: %s\r\nContent-Length: %d\r\n\r\n%s"
        % (PATH.encode(), secret.encode(), len(body), body)
    )
    head = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1").split("\r\n")
    headers = {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in head[1:] if line)}
    if headers.get("transfer-encoding") == "chunked":
        while (size := int((await reader.readline()).strip() or b"0", 16)) > 0:
            await reader.readexactly(size + 2)
        await reader.readline()
    else:
        await reader.readexactly(int(headers.get("content-length", "0")))
    return int(head[0].split()[1])


async def drive(
    run: Run, targets: list[Target], agents: Iterator[int], concurrency: int, timed: bool, secret: str
) -> None:
    """`concurrency` chats at once, each through its own keep-alive connection, until `agents` runs out."""
    clock = time.perf_counter

    async def chat(index: int) -> None:
        target = targets[index % len(targets)]
        reader, writer = await asyncio.open_connection(
            "127.0.0.1", target.port, ssl=target.tls, server_hostname="127.0.0.1" if target.tls else None
        )
        try:
            for agent in agents:  # a shared iterator: each agent is taken by exactly one chat
                for kind, update in cycle(agent):
                    body = json.dumps(update, ensure_ascii=False).encode()
                    begun = clock()
                    status = await _post(reader, writer, secret, body)
                    if timed:
                        run.latencies.setdefault(kind, []).append((clock() - begun) * 1000)
                        run.statuses[status] = run.statuses.get(status, 0) + 1
        finally:
            writer.close()

    started = clock()
    await asyncio.gather(*(chat(i) for i in range(concurrency)))
    if timed:
        run.wall_s = clock() - started


def _cpu_s(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _machine_ticks() -> tuple[int, int]:
    values = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle = values[3] + values[4]
    return sum(values) - idle, sum(values)


# ---------------------------------------------------------------------------------------------- one configuration


@dataclass
class Options:
    processes: list[int]
    agents: int
    cycles: int
    warm_up: int
    concurrency: int
    repeats: int
    nginx: bool
    paced: bool


def measure(options: Options, db: database.Database, api_port: int, count: int, first_agent: int, workdir: Path) -> Run:
    folder = workdir / f"run-{count}-{first_agent}"
    folder.mkdir()
    nginx_port = nginx.free_port()
    offset = NOW.timestamp() - time.time()  # the processes live at bench.updates' fixed "now"
    started = webhooks.start(
        count,
        folder,
        token=TOKEN,
        database_url=db.url,
        api_base_url=f"http://127.0.0.1:{api_port}/bot",
        webhook_url=f"https://127.0.0.1:{nginx_port}{PATH}",
        extra={"CLOCK_OFFSET_SECONDS": f"{offset:.3f}"},
        unpaced=not options.paced,
    )
    proxy: nginx.Nginx | None = None
    try:
        if options.nginx:
            proxy = nginx.start(folder / "nginx", [p for p, _ in started], port=nginx_port, access_log=False)
            targets = [Target(nginx_port, proxy.client_tls())]
            through = "nginx (TLS, documented site)"
        else:
            targets = [Target(port, None) for port, _ in started]
            through = "direct, client round-robin (no nginx)"
        run = Run(f"{count} process(es)", processes=count, through=through)
        warm = iter(range(first_agent, first_agent + options.warm_up))
        asyncio.run(drive(run, targets, warm, options.concurrency, False, webhooks.SECRET))
        timed = iter(range(first_agent + options.warm_up, first_agent + options.warm_up + options.cycles))
        cpu_before = sum(_cpu_s(p.process.pid) for _, p in started)
        busy_before, total_before = _machine_ticks()
        asyncio.run(drive(run, targets, timed, options.concurrency, True, webhooks.SECRET))
        run.process_cpu_s = sum(_cpu_s(p.process.pid) for _, p in started) - cpu_before
        busy_after, total_after = _machine_ticks()
        run.machine_busy = (busy_after - busy_before) / max(1, total_after - total_before)
        return run
    finally:
        if proxy is not None:
            proxy.stop()
        webhooks.stop([p for _, p in started])


def summarise(runs: list[Run]) -> dict[str, Any]:
    values = runs[0].all_latencies() if len(runs) == 1 else [v for r in runs for v in r.all_latencies()]
    rates = [round(r.rate, 1) for r in runs]
    return {
        "rate_median": statistics.median(rates),
        "rates": rates,
        "p50_ms": round(percentile(values, 0.50), 1),
        "p99_ms": round(percentile(values, 0.99), 1),
        "cpu_ms_per_update": round(1000 * sum(r.process_cpu_s for r in runs) / sum(r.updates for r in runs), 2),
        "machine_busy": [round(r.machine_busy, 2) for r in runs],
        "statuses": {str(k): sum(r.statuses.get(k, 0) for r in runs) for k in {s for r in runs for s in r.statuses}},
        "kinds": {
            kind: {
                "p50_ms": round(percentile([v for r in runs for v in r.latencies.get(kind, [])], 0.5), 1),
                "p99_ms": round(percentile([v for r in runs for v in r.latencies.get(kind, [])], 0.99), 1),
            }
            for kind in KINDS
        },
        "through": runs[0].through,
    }


def report(found: dict[int, dict[str, Any]], options: Options, load: tuple[str, str]) -> Result:
    out = Result(
        "webhook_scale",
        "postgresql",
        "Several webhook processes behind nginx, one PostgreSQL",
        ["processes", "updates/s (median)", "runs", "× one", "p50 ms", "p99 ms", "CPU ms/update", "machine busy"],
    )
    one = found.get(1, {}).get("rate_median")
    for count, figures in found.items():
        ratio = figures["rate_median"] / one if one else None
        out.rows.append(
            [
                count,
                figures["rate_median"],
                " ".join(str(r) for r in figures["rates"]),
                f"{ratio:.2f}" if ratio else "—",
                figures["p50_ms"],
                figures["p99_ms"],
                figures["cpu_ms_per_update"],
                " ".join(f"{b:.0%}" for b in figures["machine_busy"]),
            ]
        )
    for count, figures in found.items():
        kinds = ", ".join(f"{k} {v['p50_ms']}/{v['p99_ms']}" for k, v in figures["kinds"].items())
        out.notes.append(f"{count} process(es), p50/p99 ms by kind: {kinds}; HTTP statuses {figures['statuses']}")
    if one and 2 in found:
        ratio = found[2]["rate_median"] / one
        out.goals.append(Goal("2 processes vs 1", f"{ratio:.2f}×", "≥ 1.6×", ratio >= 1.6))
    out.notes.append(f"through: {next(iter(found.values()))['through']}; concurrency {options.concurrency} chats")
    out.notes.append(
        "send pace: " + ("on (~29 messages/s per process)" if options.paced else "off (bench.webhooks.main)")
    )
    out.notes.append(f"load average at start / end: {load[0]} / {load[1]}")
    out.data = {str(k): v for k, v in found.items()}
    return out


def parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.webhook_scale", description=__doc__.split("\n\n")[0])
    parser.add_argument("--processes", default="1,2,4", help="process counts, comma-separated")
    parser.add_argument("--agents", type=int, default=10_000, help="agents seeded")
    parser.add_argument("--cycles", type=int, default=150, help="agents (6 updates each) timed per run")
    parser.add_argument("--warm-up", type=int, default=20, help="agents played before timing, per run")
    parser.add_argument("--concurrency", type=int, default=8, help="chats sending at once")
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--no-nginx", action="store_true", help="spread over the processes in the client instead")
    parser.add_argument(
        "--paced", action="store_true", help="keep each process's send pace (~29 messages/s, Telegram's limit)"
    )
    parser.add_argument("--workdir", type=Path, default=None, help="keep the logs here (default: a temporary folder)")
    parser.add_argument("--fake-api", type=int, default=None, metavar="PORT", help=argparse.SUPPRESS)
    parser.add_argument("--out", type=Path, default=None)
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    if args.fake_api is not None:
        asyncio.run(_serve_api(args.fake_api))
        return 0
    use_nginx = not args.no_nginx
    if use_nginx:
        try:
            nginx.start(Path(tempfile.mkdtemp(prefix="agentcoach-nginx-probe-")), [1]).stop()
        except nginx.NginxUnavailable as error:
            print(f"nginx unavailable ({error}); the client spreads the load over the processes itself", flush=True)
            use_nginx = False
    options = Options(
        [int(n) for n in args.processes.split(",")],
        args.agents,
        args.cycles,
        args.warm_up,
        args.concurrency,
        args.repeats,
        use_nginx,
        args.paced,
    )
    needed = len(options.processes) * options.repeats * (options.cycles + options.warm_up)
    if needed > options.agents:
        print(f"needs {needed} agents (processes × repeats × (cycles + warm-up)); --agents is {options.agents}")
        return 2
    out = args.out or RESULTS / f"{time.strftime('%Y%m%d-%H%M%S')}-webhook-scale.json"
    header = {
        "command": " ".join(["python -m bench.webhook_scale", *sys.argv[1:]]),
        "machine": {"nproc": os.cpu_count(), "cpu": cpu_model()},
        "code": commit(),
    }
    print(f"machine: {header['machine']}, code {header['code']}", flush=True)
    load_start = load_average()
    with tempfile.TemporaryDirectory(prefix="agentcoach-webhook-scale-") as folder:
        workdir = args.workdir or Path(folder)
        workdir.mkdir(parents=True, exist_ok=True)
        db = asyncio.run(database.create("postgresql", workdir))
        api, api_port = start_fake_api(workdir)
        try:
            seconds = asyncio.run(seed(db, options.agents))
            print(f"   seeded {options.agents:,} agents in {seconds:.1f} s", flush=True)
            runs: dict[int, list[Run]] = {}
            first = 1
            for repeat in range(options.repeats):
                for count in options.processes:
                    run = measure(options, db, api_port, count, first, workdir)
                    first += options.cycles + options.warm_up
                    runs.setdefault(count, []).append(run)
                    timed = run.all_latencies()
                    print(
                        f"   repeat {repeat + 1}, {count} process(es): {run.rate:.1f} updates/s, "
                        f"p50 {percentile(timed, 0.5):.1f} ms, p99 {percentile(timed, 0.99):.1f} ms, "
                        f"statuses {run.statuses}, machine busy {run.machine_busy:.0%}",
                        flush=True,
                    )
            result = report({c: summarise(r) for c, r in runs.items()}, options, (load_start, load_average()))
            print(render(result), flush=True)
            save(out, header, [result])
        finally:
            api.terminate()
            api.wait(10)
            asyncio.run(database.drop(db))
    print(f"results: {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
