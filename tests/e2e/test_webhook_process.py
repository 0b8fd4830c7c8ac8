"""The real `agentcoach run --webhook` process, with the fake Bot API delivering updates by webhook.

Between the ASGI app (tests/runtime/test_webhook.py) and Telegram lie the command line, setWebhook at start, the
socket, uvicorn, and a graceful SIGTERM; only this test runs all of them. `webhook info` and `webhook delete` are
checked against the same fake Bot API.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from bench.emulator import child_env
from tests.e2e.conftest import STOP_TIMEOUT, TOKEN, BotProcess, Emulator, EmulatorServer, _end

pytestmark = pytest.mark.e2e

WAIT = 30.0
SECRET = "e2e_webhook-SECRET"
ROOT = Path(__file__).resolve().parents[2]


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def environment(server: EmulatorServer, workdir: Path, port: int) -> dict[str, str]:
    return child_env(
        {
            "TELEGRAM_BOT_TOKEN": TOKEN,
            "TELEGRAM_API_BASE_URL": f"{server.base}/bot",
            "DATABASE_URL": f"sqlite+aiosqlite:///{workdir}/e2e.db",
            "WEBHOOK_URL": f"http://127.0.0.1:{port}/telegram/e2e",
            "TELEGRAM_WEBHOOK_SECRET": SECRET,
            "LOG_LEVEL": "INFO",
            "PYTHONUNBUFFERED": "1",
            "PYTHONPATH": str(ROOT),
        }
    )


def agentcoach(env: dict[str, str], workdir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "runtime.cli", *args],
        capture_output=True,
        text=True,
        cwd=workdir,
        env=env,
        timeout=60,
        check=False,
    )


@pytest.fixture
def webhook_bot(emulator_server: EmulatorServer, emu: Emulator, tmp_path: Path) -> Iterator[tuple[BotProcess, int]]:
    """`agentcoach run --webhook` on a free port, returned once it has set its webhook (so it listens)."""
    port = _free_port()
    log_path = tmp_path / "bot-webhook.log"
    since = max((call["seq"] for call in emu.calls()), default=0)
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "runtime.cli", "run", "--webhook", "--listen", "127.0.0.1", "--port", str(port)],
            cwd=tmp_path,
            env=environment(emulator_server, tmp_path, port),
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
    run = BotProcess(process, log_path)

    def webhook_set() -> bool:
        if not run.running():
            raise AssertionError(f"the bot exited with status {process.returncode}:\n{log_path.read_text()}")
        return bool(emu.calls("setWebhook", since=since))

    try:
        emu.wait_for(webhook_set, WAIT, "the bot to set its webhook")
        yield run, port
    finally:
        _end(process, signal.SIGTERM, STOP_TIMEOUT)


def test_the_webhook_process_serves_an_agent_and_stops_cleanly(
    webhook_bot: tuple[BotProcess, int], emulator_server: EmulatorServer, emu: Emulator, tmp_path: Path
) -> None:
    run, port = webhook_bot
    [call] = emu.calls("setWebhook")
    assert call["params"]["url"] == f"http://127.0.0.1:{port}/telegram/e2e"
    assert call["params"]["secret_token"] == SECRET

    chat = 720001
    emu.set_user(chat, "小周", language_code="zh-hans")
    emu.send_text(chat, "/start")
    replies = emu.wait_replies(chat, 2, timeout=WAIT)
    offered = [data for message in replies for _, data in emulator_server.buttons(message)]
    assert "ob:language:zh-Hans" in offered, offered

    emu.press(chat, "ob:language:zh-Hans")
    emu.wait_for(lambda: emu.callback_answers(), WAIT, "the button press to be answered")

    # Anyone else who finds the URL gets 401; the load balancer sees the sweep running.
    base = f"http://127.0.0.1:{port}"
    with httpx.Client(base_url=base, timeout=10) as http:
        assert http.post("/telegram/e2e", json={"update_id": 1}).status_code == 401
        health = emu.wait_for(
            lambda: (answer := http.get("/healthz")).status_code == 200 and answer, WAIT, "/healthz to be 200"
        )
        assert health.json()["database"] == "ok"

    env = environment(emulator_server, tmp_path, port)
    info = agentcoach(env, tmp_path, "webhook", "info")
    assert info.returncode == 0, info.stderr
    assert f"url: http://127.0.0.1:{port}/telegram/e2e" in info.stdout.splitlines()
    assert TOKEN not in info.stdout + info.stderr

    assert run.stop() == 0
    log = run.log_path.read_text(errors="replace")
    assert "Traceback" not in log, log
    assert TOKEN not in log and SECRET not in log

    deleted = agentcoach(env, tmp_path, "webhook", "delete", "--drop-pending")
    assert (deleted.returncode, deleted.stdout.strip()) == (0, "webhook deleted, pending updates dropped")
    after = agentcoach(env, tmp_path, "webhook", "info")
    assert "url: (none: the bot polls)" in after.stdout.splitlines(), after.stdout


def test_webhook_info_without_a_token_says_so(tmp_path: Path) -> None:
    env = {name: value for name, value in os.environ.items() if name != "TELEGRAM_BOT_TOKEN"}
    env["PYTHONPATH"] = str(ROOT)
    done = agentcoach(env, tmp_path, "webhook", "info")
    assert (done.returncode, done.stderr.strip()) == (2, "agentcoach: TELEGRAM_BOT_TOKEN is not set")
