"""A second `agentcoach run` on a database a poller already serves stops with one clear line, before it calls
Telegram: two pollers on one token only fight over getUpdates (409 Conflict, an ERROR traceback every poll).

The first poller is the real process against the Bot API emulator; the second is pointed at a listening socket
that records whether anything connects, so "before any network call" is checked, not assumed.
"""

from __future__ import annotations

import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from bench.emulator import child_env
from tests.e2e.conftest import START_TIMEOUT, TOKEN, Emulator, EmulatorServer

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite+aiosqlite:///{tmp_path}/poller.db"
    return str(request.getfixturevalue("postgres_url"))


def environment(database_url: str, api_base: str) -> dict[str, str]:
    return child_env(
        {
            "TELEGRAM_BOT_TOKEN": TOKEN,
            "TELEGRAM_API_BASE_URL": f"{api_base}/bot",
            "DATABASE_URL": database_url,
            "LOG_LEVEL": "INFO",
            "PYTHONPATH": str(ROOT),
            "PYTHONUNBUFFERED": "1",
        }
    )


@pytest.fixture
def first_poller(
    emulator_server: EmulatorServer, emu: Emulator, database_url: str, tmp_path: Path
) -> Iterator[subprocess.Popen[bytes]]:
    since = max((call["seq"] for call in emu.calls()), default=0)
    with (tmp_path / "first.log").open("wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "runtime.cli", "run"],
            cwd=ROOT,
            env=environment(database_url, emulator_server.base),
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
    try:

        def polling() -> bool:
            if process.poll() is not None:
                raise AssertionError((tmp_path / "first.log").read_text(errors="replace"))
            return bool(emu.calls("getUpdates", since=since))

        emu.wait_for(polling, START_TIMEOUT, "the first poller to poll")
        yield process
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(10)


def test_a_second_poller_stops_with_one_clear_line(
    first_poller: subprocess.Popen[bytes], emu: Emulator, database_url: str
) -> None:
    with socket.socket() as telegram:  # where the second poller's Bot API calls would go
        telegram.bind(("127.0.0.1", 0))
        telegram.listen(8)
        telegram.setblocking(False)
        port = telegram.getsockname()[1]
        second = subprocess.run(
            [sys.executable, "-m", "runtime.cli", "run"],
            cwd=ROOT,
            env=environment(database_url, f"http://127.0.0.1:{port}"),
            capture_output=True,
            timeout=60,
            check=False,
        )
        with pytest.raises(BlockingIOError):
            telegram.accept()  # nobody connected: refused before any call to Telegram
    lines = second.stderr.decode().strip().splitlines()
    assert second.returncode == 2, lines
    expected = (
        "agentcoach: another agentcoach poller is running on this database"
        if database_url.startswith("postgresql")
        else "agentcoach: another agentcoach process is using "
    )
    assert len(lines) == 1 and lines[0].startswith(expected), lines
    assert first_poller.poll() is None
    emu.set_user(4242, "Lin", language_code="en")
    emu.send_text(4242, "/start")  # the first poller goes on serving
    assert emu.wait_replies(4242, 1, timeout=START_TIMEOUT)
