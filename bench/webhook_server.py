"""Webhook server: Starlette + uvicorn (runtime/webhook.py) against python-telegram-bot's own (tornado).

Each server runs in a child process pinned to CPU 0 and gets the same POSTs from this process, pinned to CPU 1: an
update no handler matches (an Application with no handlers, Bot API calls answered in-process), so what is timed is
the server, the secret check, the JSON and `Update.de_json`, not the bot. The client is a small asyncio loop over
raw HTTP/1.1 keep-alive connections (far cheaper per request than httpx, so it is not the bottleneck), at one
connection (latency alone) and at 16 (throughput).

The machine is shared and noisy, so the servers all run at once and take short turns (`--batch` requests each, in a
rotating order, `--turns` times): a burst of load elsewhere falls on all of them alike. Beside requests/s and the
latencies, the server's own CPU time per request (from /proc/PID/stat) is reported: it hardly depends on what else
runs, and 1 / it is what one core can take.

    PYTHONPATH=. python -m bench.webhook_server [--batch 1500] [--turns 6]

Needs tornado (`pip install "python-telegram-bot[webhooks]"`), which the bot itself does not depend on. uvicorn is
measured with httptools (what webhook mode runs) and with its pure-Python parser h11 (what `uvicorn` alone has).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import platform
import signal
import socket
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

TOKEN = "7000000001:BENCH"
SECRET = "bench_secret"
PATH = "/telegram"
SERVERS = ("uvicorn-h11", "uvicorn-httptools", "ptb-tornado")
ROOT = Path(__file__).resolve().parents[1]


def _update(update_id: int) -> bytes:
    return json.dumps(
        {
            "update_id": update_id,
            "message": {
                "message_id": update_id,
                "date": 1_790_000_000,
                "chat": {"id": 1001, "type": "private", "first_name": "小王"},
                "from": {"id": 1001, "is_bot": False, "first_name": "小王", "language_code": "zh-hans"},
                "text": "明天下午3点带看新房",
            },
        },
        ensure_ascii=False,
    ).encode()


# -- the servers (child processes) ---------------------------------------------------------------------------------


def _application() -> Any:
    from telegram.ext import Application

    from runtime.local_api import LocalBotAPI

    class Answering(LocalBotAPI):
        """The in-process Bot API, plus the webhook calls both servers make at start."""

        def api_setWebhook(self, params: dict[str, Any]) -> bool:
            return True

    api = Answering()
    return Application.builder().token(TOKEN).request(api).get_updates_request(api).build()


async def _serve_uvicorn(port: int, http: str) -> None:
    import uvicorn

    from bot.config import Settings
    from runtime.webhook import server_config, webhook_app

    app = _application()
    settings = Settings(_env_file=None, webhook_url=f"http://127.0.0.1:{port}{PATH}", telegram_webhook_secret=SECRET)
    config = server_config(webhook_app(app, settings), "127.0.0.1", port)
    config.http = http
    await app.initialize()
    await app.start()
    try:
        await uvicorn.Server(config).serve()
    finally:
        await app.stop()
        await app.shutdown()


def _serve_ptb(port: int) -> None:
    app = _application()
    app.run_webhook(
        listen="127.0.0.1",
        port=port,
        url_path=PATH.lstrip("/"),
        secret_token=SECRET,
        webhook_url=f"http://127.0.0.1:{port}{PATH}",
        stop_signals=(signal.SIGTERM, signal.SIGINT),
    )


def serve(kind: str, port: int) -> None:
    import logging

    logging.basicConfig(level=logging.WARNING)
    if kind == "ptb-tornado":
        _serve_ptb(port)
    else:
        asyncio.run(_serve_uvicorn(port, kind.split("-", 1)[1]))


# -- the client ----------------------------------------------------------------------------------------------------


@dataclass
class Round:
    server: str
    connections: int
    requests: int
    seconds: float
    latencies: list[float]
    server_cpu: float

    @property
    def server_cpu_ms(self) -> float:
        return self.server_cpu / self.requests * 1000

    @property
    def per_second(self) -> float:
        return self.requests / self.seconds

    def percentile(self, share: float) -> float:
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(share * len(ordered)))] * 1000


async def _connection(port: int, bodies: list[bytes], latencies: list[float]) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    head = (
        f"POST {PATH} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Type: application/json\r\n"
        f"X-Telegram-Bot-Api-Secret-Token: {SECRET}\r\n"
    )
    try:
        for body in bodies:
            started = time.perf_counter()
            writer.write(f"{head}Content-Length: {len(body)}\r\n\r\n".encode() + body)
            headers = await reader.readuntil(b"\r\n\r\n")
            status = headers[9:12]
            if status != b"200":
                raise RuntimeError(f"the server answered {headers.decode(errors='replace')!r}")
            length = 0
            for line in headers.split(b"\r\n"):
                if line.lower().startswith(b"content-length:"):
                    length = int(line.split(b":", 1)[1])
            if length:
                await reader.readexactly(length)
            latencies.append(time.perf_counter() - started)
    finally:
        writer.close()
        with contextlib.suppress(ConnectionError):
            await writer.wait_closed()


async def _drive(port: int, connections: int, requests: int, first_id: int) -> tuple[float, list[float]]:
    share = requests // connections
    bodies = [[_update(first_id + c * share + i) for i in range(share)] for c in range(connections)]
    latencies: list[float] = []
    started = time.perf_counter()
    await asyncio.gather(*(_connection(port, mine, latencies) for mine in bodies))
    return time.perf_counter() - started, latencies


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def _wait_listening(port: int, process: subprocess.Popen[bytes], timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the server exited with status {process.returncode}")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return
        time.sleep(0.05)
    raise RuntimeError("the server did not start listening")


def _pin(cpu: int) -> None:
    if hasattr(os, "sched_setaffinity") and cpu < (os.cpu_count() or 1):
        os.sched_setaffinity(0, {cpu})


def _cpu_seconds(pid: int) -> float:
    """User + system CPU time of process `pid` (Linux), in seconds."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _start_server(kind: str) -> tuple[subprocess.Popen[bytes], int]:
    port = _free_port()
    child = subprocess.Popen(
        [sys.executable, "-m", "bench.webhook_server", "--serve", kind, "--port", str(port)],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        preexec_fn=lambda: _pin(0),
    )
    _wait_listening(port, child)
    asyncio.run(_drive(port, 4, 400, 1))  # warm-up: imports, caches, connections
    return child, port


def _stop_server(child: subprocess.Popen[bytes]) -> None:
    child.send_signal(signal.SIGTERM)
    try:
        child.wait(15)
    except subprocess.TimeoutExpired:
        child.kill()
        child.wait(5)


def measure(kind: str, child: subprocess.Popen[bytes], port: int, connections: int, requests: int) -> Round:
    first_id = 1_000_000 + int(time.monotonic() * 1000) % 1_000_000 * 100
    cpu = _cpu_seconds(child.pid)
    seconds, latencies = asyncio.run(_drive(port, connections, requests, first_id))
    return Round(kind, connections, len(latencies), seconds, latencies, _cpu_seconds(child.pid) - cpu)


def _cpu_model() -> str:
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--batch", type=int, default=1500, help="requests in one turn of one server (default 1500)")
    parser.add_argument("--turns", type=int, default=6, help="turns each server takes (default 6)")
    parser.add_argument("--serve", choices=SERVERS, help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve(args.serve, args.port)
        return
    _pin(1)
    kinds = [kind for kind in SERVERS if _available(kind)]
    load = os.getloadavg()[0]
    print(f"machine: {os.cpu_count()} CPUs, {_cpu_model()}; load {load:.1f}; servers on CPU 0, client on CPU 1")
    servers = {kind: _start_server(kind) for kind in kinds}
    results: list[Round] = []
    try:
        for turn in range(args.turns):
            for offset in range(len(kinds)):
                kind = kinds[(turn + offset) % len(kinds)]
                for connections in (1, 16):
                    result = measure(kind, *servers[kind], connections, args.batch)
                    results.append(result)
                    print(
                        f"turn {turn + 1} {kind:17} {connections:2} conn: {result.per_second:6.0f} req/s  "
                        f"p50 {result.percentile(0.5):6.2f} ms  p99 {result.percentile(0.99):6.2f} ms  "
                        f"server CPU {result.server_cpu_ms:.3f} ms/req",
                        flush=True,
                    )
    finally:
        for child, _ in servers.values():
            _stop_server(child)
    print(f"\nmedian of {args.turns} turns of {args.batch} requests (load at the end {os.getloadavg()[0]:.1f}):")
    print("| server | connections | req/s | p50 ms | p99 ms | server CPU ms/request | 1 core's capacity, req/s |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for kind in kinds:
        for connections in (1, 16):
            mine = [r for r in results if r.server == kind and r.connections == connections]
            cpu = statistics.median(r.server_cpu_ms for r in mine)
            print(
                f"| {kind} | {connections} | {statistics.median(r.per_second for r in mine):.0f} | "
                f"{statistics.median(r.percentile(0.5) for r in mine):.2f} | "
                f"{statistics.median(r.percentile(0.99) for r in mine):.2f} | {cpu:.3f} | {1000 / cpu:.0f} |"
            )


def _available(kind: str) -> bool:
    module = {"uvicorn-h11": "h11", "uvicorn-httptools": "httptools", "ptb-tornado": "tornado"}[kind]
    try:
        __import__(module)
    except ImportError:
        print(f"skipping {kind}: {module} is not installed", file=sys.stderr)
        return False
    return True


if __name__ == "__main__":
    main()
