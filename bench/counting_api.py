"""A fake Bot API that counts: when each message arrived and for which chat (issue 16's tests and benchmark).

The node emulator (bench/emulator.py) plays users and keeps whole conversations; the send budget's rules are about
arrival times alone (at most SEND_RATE messages in any second, one a second per chat, a RetryAfter that stops
every process), so this server only answers what python-telegram-bot needs and writes down each call: its method,
chat, text, arrival time on its own monotonic clock and the status it answered. It runs in a child process of its
own (`python -m bench.counting_api`), so its clock is one clock for every sender and the test's own work never
delays an answer. HTTP/1.1 keep-alive is parsed by hand (as bench.webhook_scale's fake API does): cheap enough
that the server is never what the senders wait for.

`CountingApi.reset(fail_nth=N)` answers the Nth sendMessage after the reset with Telegram's flood answer, 429
"retry after `retry_after`", once; that call is recorded with status 429 and the time it was answered.

    with counting_api.start(log_path) as api:
        api.reset(fail_nth=60)
        ...  # senders use api.base_url
        sends = api.sends()
        assert max_in_window([c.at for c in sends]) <= 30
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from collections import defaultdict
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

from bench.emulator import stop_process

ROOT = Path(__file__).resolve().parent.parent
START_TIMEOUT = 30.0
STOP_TIMEOUT = 5.0
CONTROL = "/_counting/"  # the test's own requests; a Bot API path is /bot<token>/<method>
BOT_USER = {"id": 7000000002, "is_bot": True, "first_name": "Counting", "username": "counting_bot"}


@dataclass(frozen=True)
class Call:
    """One Bot API call as the server saw it: `at` is seconds on the server's monotonic clock (when the request
    had arrived whole, or for a 429 when it was answered)."""

    method: str
    chat_id: int | None
    text: str | None
    at: float
    status: int


# ---------------------------------------------------------------------------------------------- the server


@dataclass
class _State:
    calls: list[list[Any]] = field(default_factory=list)
    sends: int = 0  # sendMessage calls since the reset
    message_id: int = 0
    fail_nth: int | None = None  # answer this sendMessage (1-based, since the reset) with 429
    retry_after: int = 5


def _params(body: bytes, content_type: str) -> dict[str, Any]:
    """The call's parameters: PTB posts a form whose values are JSON-encoded (strings as they are); JSON too."""
    if not body:
        return {}
    if "json" in content_type:
        found = json.loads(body)
        return found if isinstance(found, dict) else {}
    return dict(parse_qsl(body.decode(), keep_blank_values=True))


def _chat(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def _answer(state: _State, method: str, params: dict[str, Any], now: float) -> tuple[int, Any]:
    """The HTTP status and JSON body Telegram would send, and the call written down."""
    chat_id = _chat(params.get("chat_id"))
    text = params.get("text")
    if method == "sendMessage":
        state.sends += 1
        if state.sends == state.fail_nth:
            state.calls.append([method, chat_id, text, now, 429])
            return 429, {
                "ok": False,
                "error_code": 429,
                "description": f"Too Many Requests: retry after {state.retry_after}",
                "parameters": {"retry_after": state.retry_after},
            }
    state.calls.append([method, chat_id, text, now, 200])
    if method == "getMe":
        return 200, {"ok": True, "result": BOT_USER}
    if method in ("sendMessage", "editMessageText"):
        state.message_id += 1
        message_id = _chat(params.get("message_id")) or state.message_id
        result = {
            "message_id": message_id,
            "date": int(time.time()),
            "chat": {"id": chat_id, "type": "private"},
            "from": BOT_USER,
            "text": text or "",
        }
        return 200, {"ok": True, "result": result}
    return 200, {"ok": True, "result": True}


def _control(state: _State, path: str, body: bytes) -> Any:
    """/_counting/calls, /_counting/reset (JSON: fail_nth, retry_after), /_counting/health."""
    what = path[len(CONTROL) :]
    if what == "calls":
        return {"calls": state.calls}
    if what == "reset":
        given = json.loads(body) if body else {}
        state.calls, state.sends, state.message_id = [], 0, 0
        state.fail_nth = given.get("fail_nth")
        state.retry_after = int(given.get("retry_after", 5))
        return {"ok": True}
    return {"ok": True}


async def serve(port: int, port_file: Path | None) -> None:
    state = _State()

    async def connection(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                lines = head.decode("latin-1").split("\r\n")
                headers = {k.strip().lower(): v.strip() for k, _, v in (h.partition(":") for h in lines[1:] if h)}
                body = await reader.readexactly(int(headers.get("content-length", "0")))
                now = time.monotonic()
                path = lines[0].split()[1].split("?", 1)[0]
                if path.startswith(CONTROL):
                    status, answer = 200, _control(state, path, body)
                else:
                    params = _params(body, headers.get("content-type", ""))
                    status, answer = _answer(state, path.rsplit("/", 1)[-1], params, now)
                payload = json.dumps(answer).encode()
                reason = b"OK" if status == 200 else b"Too Many Requests"
                writer.write(
                    b"HTTP/1.1 %d %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s"
                    % (status, reason, len(payload), payload)
                )
                await writer.drain()
        except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, ConnectionError):
            pass
        finally:
            writer.close()

    server = await asyncio.start_server(connection, "127.0.0.1", port, backlog=1024)
    if port_file is not None:  # the port the system gave, for the parent (written whole, then renamed)
        bound = server.sockets[0].getsockname()[1]
        partial = port_file.with_suffix(".partial")
        partial.write_text(str(bound))
        partial.rename(port_file)
    async with server:
        await server.serve_forever()


# ---------------------------------------------------------------------------------------------- the parent's side


@dataclass
class CountingApi:
    """A running counting API (a child process) and its control requests."""

    process: subprocess.Popen[bytes]
    port: int

    @property
    def base_url(self) -> str:
        """What PTB's base_url (TELEGRAM_API_BASE_URL) is set to."""
        return f"http://127.0.0.1:{self.port}/bot"

    def _control(self, what: str, payload: dict[str, Any] | None = None) -> Any:
        data = json.dumps(payload).encode() if payload is not None else None
        request = urllib.request.Request(f"http://127.0.0.1:{self.port}{CONTROL}{what}", data=data)
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # never a proxy for loopback
        with opener.open(request, timeout=10) as answer:
            return json.loads(answer.read())

    def reset(self, fail_nth: int | None = None, retry_after: int = 5) -> None:
        """Forget every call; answer the `fail_nth` sendMessage from now on with 429 (once)."""
        self._control("reset", {"fail_nth": fail_nth, "retry_after": retry_after})

    def calls(self) -> list[Call]:
        return [Call(*row) for row in self._control("calls")["calls"]]

    def sends(self) -> list[Call]:
        """The sendMessage calls accepted (answered 200), in arrival order."""
        return sorted((c for c in self.calls() if c.method == "sendMessage" and c.status == 200), key=lambda c: c.at)

    def alive(self) -> bool:
        try:
            self._control("health")
        except OSError:
            return False
        return True

    def stop(self) -> None:
        stop_process(self.process, STOP_TIMEOUT)


@contextmanager
def start(log_path: Path) -> Iterator[CountingApi]:
    """A counting API on a free loopback port, stopped at the end (bounded waits, never a hang)."""
    port_file = log_path.with_suffix(".port")
    port_file.unlink(missing_ok=True)
    with log_path.open("ab") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "bench.counting_api", "--port-file", str(port_file)],
            cwd=ROOT,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,  # a session of its own: the kernel's autogroup shares CPU by session
        )
    api: CountingApi | None = None
    try:
        deadline = time.monotonic() + START_TIMEOUT
        while not port_file.is_file():
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the counting API did not start:\n{log_path.read_text(errors='replace')}")
            time.sleep(0.02)
        api = CountingApi(process, int(port_file.read_text()))
        yield api
    finally:
        if api is not None:
            api.stop()
        elif process.poll() is None:
            process.kill()
            process.wait(STOP_TIMEOUT)


# ---------------------------------------------------------------------------------------------- the rules, measured


def max_in_window(times: Iterable[float], window: float = 1.0) -> int:
    """The most arrivals in any `window` seconds, sliding (half-open [t, t + window): every window that holds the
    most starts at an arrival, so those are the ones counted)."""
    ordered = sorted(times)
    most, first = 0, 0
    for last, at in enumerate(ordered):
        while at - ordered[first] >= window:
            first += 1
        most = max(most, last - first + 1)
    return most


def chat_gaps(calls: Iterable[Call]) -> list[float]:
    """Every gap between two consecutive messages to one chat, in seconds."""
    by_chat: defaultdict[int | None, list[float]] = defaultdict(list)
    for call in calls:
        by_chat[call.chat_id].append(call.at)
    return [b - a for times in by_chat.values() for a, b in zip(sorted(times), sorted(times)[1:], strict=False)]


def min_chat_gap(calls: Iterable[Call]) -> float:
    """The shortest time between two messages to one chat (inf when no chat got two)."""
    return min(chat_gaps(calls), default=float("inf"))


def sustained_rate(times: Iterable[float]) -> float:
    """Messages per second from the first arrival to the last (the intervals between them, so n - 1 over the span)."""
    ordered = sorted(times)
    if len(ordered) < 2 or ordered[-1] <= ordered[0]:
        return 0.0
    return (len(ordered) - 1) / (ordered[-1] - ordered[0])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    parser.add_argument("--port", type=int, default=0, help="0: any free port (written to --port-file)")
    parser.add_argument("--port-file", type=Path)
    args = parser.parse_args()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    asyncio.run(serve(args.port, args.port_file))


if __name__ == "__main__":
    main()
