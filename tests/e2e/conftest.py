"""Fixtures for the end-to-end tests: the fake Bot API (botapi-emulator, a node server) and the real bot process.

bench.emulator installs and starts the emulator (the benchmarks use the same code). Without node the tests
skip locally, but under CI (CI=true, CI=1 or CI=yes) they fail: CI must never pass by skipping the only test of
the real process.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Callable, Generator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any, NoReturn, Protocol

import pytest

from bench.emulator import EmulatorUnavailable, child_env, launch

TOKEN = "123456:E2E-TEST"
IN_CI = os.environ.get("CI", "").strip().lower() in {"1", "true", "yes"}
START_TIMEOUT = 30.0
STOP_TIMEOUT = 10.0

Message = dict[str, Any]


class Emulator(Protocol):
    """The part of tg_user.Emulator the tests use (tg_user is loaded from the copy at run time)."""

    def set_user(
        self,
        chat: int,
        first_name: str = ...,
        *,
        username: str | None = ...,
        language_code: str | None = ...,
        last_name: str | None = ...,
    ) -> None: ...
    def send_text(self, chat: int, text: str, *, reply_to: int | None = ...) -> dict[str, Any]: ...
    def press(
        self, chat: int, callback_data: str, message_id: int | None = ..., *, force: bool = ...
    ) -> dict[str, Any]: ...
    def messages(self, chat: int | None = ..., *, include_deleted: bool = ...) -> list[Message]: ...
    def message(self, chat: int, message_id: int) -> Message | None: ...
    def wait_for(
        self, what: Callable[[], Any], timeout: float = ..., describe: str = ..., chat: int | None = ...
    ) -> Any: ...
    def wait_replies(self, chat: int, n: int = ..., timeout: float = ...) -> list[Message]: ...
    def wait_quiet(self, chat: int, quiet: float = ..., timeout: float = ...) -> list[Message]: ...
    def wait_edit(self, chat: int, message_id: int, timeout: float = ..., *, after: int = ...) -> Message: ...
    def calls(self, method: str | None = ..., since: int = ...) -> list[dict[str, Any]]: ...
    def callback_answers(self) -> list[dict[str, Any]]: ...
    def transcript(self, chat: int | None = ..., last: int = ...) -> str: ...
    def reset(self, all_tokens: bool = ...) -> None: ...
    def alive(self) -> bool: ...


@dataclass(frozen=True)
class EmulatorServer:
    """A running emulator and the tg_user module of its copy."""

    port: int
    tg_user: ModuleType

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def client(self) -> Emulator:
        emulator: Emulator = self.tg_user.Emulator(self.base, TOKEN, poll=0.005)
        return emulator

    def buttons(self, message: Message | None) -> list[tuple[str, str]]:
        found: list[tuple[str, str]] = self.tg_user.buttons(message)
        return found


def _unavailable(reason: str) -> NoReturn:
    """Skip on a developer machine without the tools; fail in CI, where a skip would hide a broken setup."""
    if IN_CI:
        pytest.fail(f"{reason} (CI is set: end-to-end tests must run, not skip)", pytrace=False)
    pytest.skip(reason)


def _end(process: subprocess.Popen[bytes], signum: int, timeout: float) -> int:
    """Send `signum`, wait at most `timeout`, then SIGKILL; returns the exit status."""
    if process.poll() is None:
        process.send_signal(signum)
        try:
            return process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()
    return process.wait(STOP_TIMEOUT)


def serve_emulator(log_path: Path, rate_limit: int = 0) -> Iterator[EmulatorServer]:
    """A running emulator for a fixture to yield (`rate_limit`: sends/s before it answers 429; 0 = never)."""
    try:
        process, port, tg_user = launch(log_path, rate_limit)
    except EmulatorUnavailable as error:
        _unavailable(str(error))
    try:
        yield EmulatorServer(port, tg_user)
    finally:
        _end(process, signal.SIGTERM, 5)


@pytest.fixture(scope="session")
def emulator_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmulatorServer]:
    """One emulator for the whole session; each test uses its own chats and resets the token's history."""
    yield from serve_emulator(tmp_path_factory.mktemp("emulator") / "server.log")


@pytest.fixture
def emu(emulator_server: EmulatorServer) -> Emulator:
    """A scripted-user client; the token's messages and calls are forgotten so each test sees only its own."""
    client = emulator_server.client()
    client.reset()
    return client


@dataclass
class BotProcess:
    """One run of `agentcoach run`, its output going to `log_path`."""

    process: subprocess.Popen[bytes]
    log_path: Path

    def running(self) -> bool:
        return self.process.poll() is None

    def stop(self) -> int:
        """A graceful stop, as systemd or Docker does it: SIGTERM, then SIGKILL after 10 s."""
        return _end(self.process, signal.SIGTERM, STOP_TIMEOUT)

    def crash(self) -> int:
        """kill -9: no shutdown code runs, as in a power cut or an OOM kill."""
        return _end(self.process, signal.SIGKILL, STOP_TIMEOUT)


@dataclass
class BotRunner:
    """Starts the real bot against the emulator, every run on the same database in `workdir`."""

    server: EmulatorServer
    emu: Emulator
    workdir: Path
    runs: list[BotProcess] = field(default_factory=list)

    @property
    def database_url(self) -> str:
        return f"sqlite+aiosqlite:///{self.workdir}/e2e.db"

    def start(self, **settings: str) -> BotProcess:
        """Start the bot and return once it polls for updates, so a start-up crash fails here, with its log.

        `settings` adds environment settings, e.g. CLOCK_OFFSET_SECONDS="240" to start "four minutes later"."""
        script = Path(sys.executable).parent / "agentcoach"
        log_path = self.workdir / f"bot-run-{len(self.runs) + 1}.log"
        env = child_env(
            {
                "TELEGRAM_BOT_TOKEN": TOKEN,
                "TELEGRAM_API_BASE_URL": f"{self.server.base}/bot",
                "DATABASE_URL": self.database_url,
                "LOG_LEVEL": "INFO",
                "PYTHONUNBUFFERED": "1",
                **settings,
            }
        )
        since = max((call["seq"] for call in self.emu.calls()), default=0)
        with log_path.open("wb") as log:
            process = subprocess.Popen(
                [str(script), "run"],
                cwd=self.workdir,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
            )
        run = BotProcess(process, log_path)
        self.runs.append(run)

        def polling() -> bool:
            if not run.running():
                raise AssertionError(f"the bot exited with status {process.returncode} while starting")
            return bool(self.emu.calls("getUpdates", since=since))

        self.emu.wait_for(polling, START_TIMEOUT, "the bot to start polling")
        return run

    def logs(self) -> str:
        """Everything every run printed, run by run."""
        return "\n".join(
            f"===== {run.log_path.name} (status {run.process.poll()}) =====\n"
            + run.log_path.read_text(errors="replace")
            for run in self.runs
        )

    def close(self) -> None:
        for run in self.runs:
            run.stop()


@pytest.fixture
def bot(emulator_server: EmulatorServer, emu: Emulator, tmp_path: Path) -> Iterator[BotRunner]:
    """Runs the bot for one test; whatever still runs at the end is stopped (bounded)."""
    runner = BotRunner(emulator_server, emu, tmp_path)
    try:
        yield runner
    finally:
        runner.close()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Generator[None, Any, Any]:
    """Attach the bot's output to a failed test's report: the traceback alone rarely says why a reply is missing."""
    report = yield
    runner = getattr(item, "funcargs", {}).get("bot")
    if report.failed and isinstance(runner, BotRunner) and runner.runs:
        report.sections.append(("bot output", runner.logs()))
    return report
