"""Webhook mode through its ASGI app, with the real handlers, the in-process Bot API and a real database.

What Telegram (or anyone who finds the URL) may send, and what must come of it: an update with the right secret is
applied before the 200; anything else is refused with a 4xx, changes no row, sends nothing and logs one line
without the body and without a traceback. /healthz and /metrics are what a load balancer and Prometheus read.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import logging
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine
from telegram.ext import CallbackContext
from telegram.request import RequestData

from bot.agents import find_agent
from bot.clock import ManualClock
from bot.config import Settings
from bot.db import create_engine, session_factory
from bot.models import Base
from handlers.context import Services
from runtime.app import LOCAL_TOKEN, AgentApplication, build_application
from runtime.delivery import sweep_tick
from runtime.local_api import LocalBotAPI
from runtime.webhook import run_webhook, webhook_app
from tests.support import Harness

SECRET = "s3cret_Token-1"
PATH = "/telegram/hook"
LIMIT = 4096
ROOT = Path(__file__).resolve().parents[2]
_update_ids = itertools.count(9000)


def webhook_settings(database_url: str) -> Settings:
    return Settings(
        _env_file=None,
        database_url=database_url,
        webhook_url=f"https://bot.example.com{PATH}",
        telegram_webhook_secret=SECRET,
        webhook_max_body_bytes=LIMIT,
    )


@pytest.fixture
async def client(harness: Harness, settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    asgi = webhook_app(harness.app, webhook_settings(settings.database_url))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=asgi), base_url="http://proxy") as http:
        yield http


def start_update(user_id: int = 4242, text: str = "/start") -> dict[str, Any]:
    """What Telegram POSTs when an agent sends `text` (a command gets its entity)."""
    message: dict[str, Any] = {
        "message_id": 1,
        "date": int(time.time()),
        "chat": {"id": user_id, "type": "private", "first_name": "小李"},
        "from": {"id": user_id, "is_bot": False, "first_name": "小李", "language_code": "zh-hans"},
        "text": text,
    }
    if text.startswith("/"):
        message["entities"] = [{"type": "bot_command", "offset": 0, "length": len(text.split()[0])}]
    return {"update_id": next(_update_ids), "message": message}


async def post(
    client: httpx.AsyncClient, body: bytes | dict[str, Any], secret: str | None = SECRET, **headers: str
) -> httpx.Response:
    content = body if isinstance(body, bytes) else json.dumps(body).encode()
    sent = {"Content-Type": "application/json", **headers}
    if secret is not None:
        sent["X-Telegram-Bot-Api-Secret-Token"] = secret
    return await client.post(PATH, content=content, headers=sent)


async def row_counts(harness: Harness) -> dict[str, int]:
    async with harness.services.sessions() as session:
        return {
            table.name: int((await session.execute(select(func.count()).select_from(table))).scalar_one())
            for table in Base.metadata.sorted_tables
        }


async def test_an_update_with_the_right_secret_is_applied_before_the_answer(
    client: httpx.AsyncClient, harness: Harness
) -> None:
    response = await post(client, start_update(4242))

    assert response.status_code == 200
    assert response.content == b""
    # By the time Telegram has its 200, the agent was greeted and stored.
    assert harness.api.chat_messages(4242), "no reply to /start"
    agent = await harness.agent(4242)
    assert agent.chat_id == 4242


@pytest.mark.parametrize("secret", [None, "", "wrong", SECRET + "x", SECRET[:-1]], ids=repr)
async def test_without_the_right_secret_nothing_is_processed(
    client: httpx.AsyncClient, harness: Harness, secret: str | None, caplog: pytest.LogCaptureFixture
) -> None:
    before, calls = await row_counts(harness), len(harness.api.calls)
    update = start_update(4343)

    response = await post(client, update, secret=secret)

    assert response.status_code == 401
    assert await row_counts(harness) == before
    assert len(harness.api.calls) == calls, "the bot called Telegram for a refused request"
    assert_one_quiet_line(caplog, "401")


async def test_a_body_over_the_limit_is_refused_before_it_is_read(
    client: httpx.AsyncClient, harness: Harness, caplog: pytest.LogCaptureFixture
) -> None:
    before = await row_counts(harness)
    update = start_update(4444, "/start " + "x" * LIMIT)

    declared = await post(client, update)
    assert declared.status_code == 413
    assert_one_quiet_line(caplog, "413")
    caplog.clear()

    async def chunks() -> AsyncIterator[bytes]:  # no Content-Length: the size is counted as it arrives
        body = json.dumps(update).encode()
        for start in range(0, len(body), 1000):
            yield body[start : start + 1000]

    streamed = await client.post(
        PATH, content=chunks(), headers={"X-Telegram-Bot-Api-Secret-Token": SECRET, "Content-Type": "application/json"}
    )
    assert streamed.status_code == 413
    assert_one_quiet_line(caplog, "413")
    assert await row_counts(harness) == before


@pytest.mark.parametrize(
    ("length", "status"), [(b"9" * 5000, 413), ("²".encode("latin-1"), 400), (b"-1", 400), (b"1e3", 400)]
)
async def test_a_content_length_that_is_huge_or_not_a_number_is_refused(
    harness: Harness, settings: Settings, length: bytes, status: int, caplog: pytest.LogCaptureFixture
) -> None:
    transport = httpx.ASGITransport(app=webhook_app(harness.app, webhook_settings(settings.database_url)))
    request = httpx.Request(
        "POST",
        f"http://proxy{PATH}",
        content=json.dumps(start_update(4448)).encode(),
        headers=[(b"X-Telegram-Bot-Api-Secret-Token", SECRET.encode()), (b"Content-Length", length)],
    )

    response = await transport.handle_async_request(request)

    assert response.status_code == status
    assert_one_quiet_line(caplog, str(status))


async def test_a_body_of_exactly_the_limit_is_accepted(client: httpx.AsyncClient, harness: Harness) -> None:
    body = json.dumps(start_update(4446)).encode()
    response = await post(client, body + b" " * (LIMIT - len(body)))

    assert response.status_code == 200
    assert harness.api.chat_messages(4446)


async def test_a_false_content_length_cannot_slip_a_big_body_through(harness: Harness, settings: Settings) -> None:
    """A body longer than its Content-Length says: the count while reading still stops it."""
    transport = httpx.ASGITransport(app=webhook_app(harness.app, webhook_settings(settings.database_url)))
    body = json.dumps(start_update(4445, "/start " + "x" * LIMIT)).encode()
    request = httpx.Request(
        "POST",
        f"http://proxy{PATH}",
        content=body,
        headers={"X-Telegram-Bot-Api-Secret-Token": SECRET, "Content-Length": "10"},
    )

    response = await transport.handle_async_request(request)

    assert response.status_code == 413
    assert not harness.api.chat_messages(4445)


@pytest.mark.parametrize(
    "body",
    [
        b"{not json",
        b"\xff\xfe\x00",
        b"",
        b"[1, 2, 3]",
        b'"update"',
        b"42",
        b'{"hello": "world"}',
        b'{"update_id": "7"}',
        b'{"update_id": true}',
        b'{"update_id": 7, "message": {"chat": "not a chat"}}',
    ],
    ids=repr,
)
async def test_what_is_not_an_update_gets_400(
    client: httpx.AsyncClient, harness: Harness, body: bytes, caplog: pytest.LogCaptureFixture
) -> None:
    before = await row_counts(harness)

    response = await post(client, body)

    assert response.status_code == 400
    assert await row_counts(harness) == before
    assert_one_quiet_line(caplog, "400", body=body)


async def test_other_methods_on_the_webhook_path_get_405(client: httpx.AsyncClient) -> None:
    for method in ("GET", "PUT", "DELETE"):
        response = await client.request(method, PATH, headers={"X-Telegram-Bot-Api-Secret-Token": SECRET})
        assert response.status_code == 405, method
    assert (await client.get("/elsewhere")).status_code == 404


async def test_healthz_wants_a_database_and_a_recent_sweep(harness: Harness, settings: Settings) -> None:
    asgi = webhook_app(harness.app, webhook_settings(settings.database_url))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=asgi), base_url="http://proxy") as http:
        before = await http.get("/healthz")
        assert before.status_code == 503
        assert before.json()["database"] == "ok"
        assert before.json()["sweep"] == "not run yet"

        await sweep_tick(CallbackContext(harness.app))
        ready = await http.get("/healthz")

    assert ready.status_code == 200, ready.text
    health = ready.json()
    assert health["database"] == "ok"
    assert 0 <= health["sweep_age_s"] < 5
    assert health["last_sweep"].endswith("+00:00")

    stale = webhook_app(harness.app, webhook_settings(settings.database_url), sweep_max_age=0.0)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=stale), base_url="http://proxy") as http:
        old = await http.get("/healthz")
    assert old.status_code == 503
    assert "older than" in old.json()["sweep"]


@pytest.mark.parametrize(
    "url",
    ["sqlite+aiosqlite:////nonexistent-agentcoach-dir/agentcoach.db", "postgresql+asyncpg://postgres@127.0.0.1:1/x"],
    ids=["sqlite", "postgresql"],
)
async def test_healthz_is_503_when_the_database_is_unreachable(
    url: str, clock: ManualClock, caplog: pytest.LogCaptureFixture
) -> None:
    engine = create_engine(url)
    settings = webhook_settings(url)
    services = Services(settings, session_factory(engine), clock)
    app = build_application(services, token=LOCAL_TOKEN, request=LocalBotAPI())
    try:
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=webhook_app(app, settings)), base_url="http://proxy"
        ) as http:
            response = await http.get("/healthz")
    finally:
        await engine.dispose()
    assert response.status_code == 503
    assert response.json()["database"].startswith("unreachable")
    assert not [record for record in caplog.records if record.exc_info]


async def test_metrics_are_prometheus_text(client: httpx.AsyncClient) -> None:
    response = await client.get("/metrics")

    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    assert "# TYPE agentcoach_updates_total counter" in response.text


def assert_one_quiet_line(caplog: pytest.LogCaptureFixture, status: str, body: bytes | None = None) -> None:
    """At most one WARNING line about the refusal, no traceback, nothing of the body or the secret."""
    noted = [record for record in caplog.records if record.levelno >= logging.INFO]
    assert len(noted) <= 1, [record.getMessage() for record in noted]
    for record in noted:
        assert record.exc_info is None, "a refused request logged a traceback"
        message = record.getMessage()
        assert status in message
        assert SECRET not in message
        if body and len(body) > 3:
            assert body.decode(errors="replace") not in message


class SlowTelegram(LocalBotAPI):
    """The in-process Bot API, holding sendMessage until the test lets it answer (Telegram slow to answer)."""

    def __init__(self) -> None:
        super().__init__()
        self.asked, self.answer = asyncio.Event(), asyncio.Event()

    async def do_request(
        self, url: str, method: str, request_data: RequestData | None = None, *args: Any, **kwargs: Any
    ) -> tuple[int, bytes]:
        if url.endswith("/sendMessage"):
            self.asked.set()
            await self.answer.wait()
        return await super().do_request(url, method, request_data)


async def test_sigterm_stops_taking_requests_and_lets_the_one_in_flight_finish(
    engine: AsyncEngine, clock: ManualClock, settings: Settings
) -> None:
    """run_webhook as `agentcoach run --webhook` runs it: setWebhook once listening; on SIGTERM no new connection
    is taken, the update being handled is finished and acknowledged, then the Application stops."""
    api = SlowTelegram()
    wsettings = webhook_settings(settings.database_url)
    services = Services(wsettings, session_factory(engine), clock)
    app = build_application(services, token=LOCAL_TOKEN, request=api)
    shut_down: list[bool] = []

    async def post_shutdown(app: AgentApplication) -> None:
        shut_down.append(True)

    app.post_shutdown = post_shutdown
    port = _free_port()
    serving = asyncio.create_task(run_webhook(app, wsettings, listen="127.0.0.1", port=port))
    for _ in range(600):  # bounded: until setWebhook was called, which is after the port is bound
        if api.webhook or serving.done():
            break
        await asyncio.sleep(0.05)
    assert api.webhook["url"] == f"https://bot.example.com{PATH}"
    assert api.webhook["secret_token"] == SECRET
    assert api.webhook["allowed_updates"] == ["message", "callback_query"]
    assert int(api.webhook["max_connections"]) == 40

    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=30) as http:
        in_flight = asyncio.create_task(post(http, start_update(4747)))
        await asyncio.wait_for(api.asked.wait(), 30)
        os.kill(os.getpid(), signal.SIGTERM)
        assert await _refuses_connections(port), "still taking connections after SIGTERM"
        await asyncio.sleep(1.0)  # Telegram is slow: the server must keep waiting for the update, not give up
        assert not in_flight.done() and not serving.done()
        api.answer.set()
        response = await asyncio.wait_for(in_flight, 30)

    assert response.status_code == 200
    await asyncio.wait_for(serving, 30)
    assert shut_down == [True]
    assert not app.running
    async with services.sessions() as session:
        assert await find_agent(session, 4747) is not None


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


async def _refuses_connections(port: int) -> bool:
    for _ in range(200):  # bounded: uvicorn looks at its exit flag every 0.1 s
        try:
            _, writer = await asyncio.open_connection("127.0.0.1", port)
        except (ConnectionRefusedError, ConnectionResetError):
            # Refused: nothing listens. Reset while connecting: the listening socket closed with this connection
            # still in its backlog, never accepted (seen on a loaded machine).
            return True
        writer.close()
        await asyncio.sleep(0.05)
    return False


# -- the command ---------------------------------------------------------------------------------------------------

SETTINGS = ("TELEGRAM_BOT_TOKEN", "WEBHOOK_URL", "TELEGRAM_WEBHOOK_SECRET", "DATABASE_URL", "TELEGRAM_API_BASE_URL")


@pytest.mark.parametrize(
    ("given", "missing"),
    [
        ({"TELEGRAM_BOT_TOKEN": "1:x"}, "WEBHOOK_URL, TELEGRAM_WEBHOOK_SECRET"),
        ({"TELEGRAM_BOT_TOKEN": "1:x", "WEBHOOK_URL": "https://bot.example.com/tg"}, "TELEGRAM_WEBHOOK_SECRET"),
        ({"TELEGRAM_BOT_TOKEN": "1:x", "TELEGRAM_WEBHOOK_SECRET": SECRET}, "WEBHOOK_URL"),
        ({"WEBHOOK_URL": "https://bot.example.com/tg", "TELEGRAM_WEBHOOK_SECRET": SECRET}, "TELEGRAM_BOT_TOKEN"),
    ],
)
def test_run_webhook_refuses_to_start_without_its_settings(tmp_path: Path, given: dict[str, str], missing: str) -> None:
    environment = {name: value for name, value in os.environ.items() if name not in SETTINGS}
    environment.update(PYTHONPATH=str(ROOT), DATABASE_URL=f"sqlite+aiosqlite:///{tmp_path}/agentcoach.db", **given)
    done = subprocess.run(
        [sys.executable, "-m", "runtime.cli", "run", "--webhook", "--port", "18099"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env=environment,
        timeout=60,
        check=False,
    )

    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [f"agentcoach: webhook mode needs {missing} (not set)"]
    assert not (tmp_path / "agentcoach.db").exists(), "it touched the database before refusing"
