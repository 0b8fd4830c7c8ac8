"""Fixtures for the end-to-end tests: the fake Bot API (botapi-emulator, a node server) and the real bot process.

The emulator is copied out of the read-only shared folder into a cache folder and its npm packages are
installed there once per content hash, so later runs start in about a second. Without node the tests skip
locally, but with CI=true they fail: CI must never pass by skipping the only test of the real process.
"""

from __future__ import annotations

import fcntl
import hashlib
import importlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Generator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import IO, Any, NoReturn, Protocol

import pytest

TOKEN = "123456:E2E-TEST"
EMULATOR_SOURCE = Path(os.environ.get("BOTAPI_EMULATOR_DIR", "/work/shared/tools/botapi-emulator"))
# Where the installed copy lives; CI may point this at a cached folder (e.g. .ci/cache).
EMULATOR_CACHE = Path(os.environ.get("AGENTCOACH_EMULATOR_CACHE", tempfile.gettempdir()))
IN_CI = os.environ.get("CI", "").lower() == "true"
INSTALL_TIMEOUT = 300.0  # npm ci on a cold cache; every other wait is far shorter
START_TIMEOUT = 30.0
STOP_TIMEOUT = 10.0
# Settings the bot reads from the environment; the tests set what they need and drop the rest.
_BOT_SETTINGS = (
    "TELEGRAM_BOT_TOKEN",
    "TELEGRAM_API_BASE_URL",
    "DATABASE_URL",
    "DEFAULT_TIMEZONE",
    "DEFAULT_LANGUAGE",
    "LOG_LEVEL",
)
_PROXIES = ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY")

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
        pytest.fail(f"{reason} (CI=true: end-to-end tests must run, not skip)", pytrace=False)
    pytest.skip(reason)


def _tree_digest(root: Path) -> str:
    """Content hash of the emulator's files (package-lock.json included), so any change gets a fresh copy."""
    digest = hashlib.sha256()
    for path in sorted(root.rglob("*")):
        relative = path.relative_to(root)
        if not path.is_file() or relative.parts[0] in ("node_modules", "__pycache__"):
            continue
        digest.update(str(relative).encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()[:16]


def _lock(path: Path, timeout: float) -> IO[str]:
    """An exclusive lock, so two pytest runs never install into the same copy at once (bounded wait)."""
    handle = path.open("w")
    deadline = time.monotonic() + timeout
    while True:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return handle
        except BlockingIOError:
            if time.monotonic() > deadline:
                handle.close()
                pytest.fail(f"another run holds {path} for over {timeout:.0f}s", pytrace=False)
            time.sleep(0.2)


def _installed_copy() -> Path:
    """The emulator copied into the cache folder with `npm ci` done; reused while its content is unchanged."""
    if not (EMULATOR_SOURCE / "server.js").is_file():
        _unavailable(f"no botapi-emulator at {EMULATOR_SOURCE} (set BOTAPI_EMULATOR_DIR)")
    digest = _tree_digest(EMULATOR_SOURCE)
    target = EMULATOR_CACHE / f"agentcoach-emulator-{digest}"
    stamp = target / ".agentcoach-installed"
    EMULATOR_CACHE.mkdir(parents=True, exist_ok=True)
    with _lock(EMULATOR_CACHE / f"agentcoach-emulator-{digest}.lock", INSTALL_TIMEOUT + 60):
        installed = (target / "node_modules" / "telegram-test-api" / "package.json").is_file()
        if installed and stamp.is_file() and stamp.read_text() == digest:
            return target
        shutil.rmtree(target, ignore_errors=True)
        shutil.copytree(EMULATOR_SOURCE, target, ignore=shutil.ignore_patterns("node_modules", "__pycache__"))
        try:
            done = subprocess.run(
                ["npm", "ci", "--no-audit", "--no-fund"],
                cwd=target,
                capture_output=True,
                text=True,
                timeout=INSTALL_TIMEOUT,
                check=False,
            )
        except subprocess.TimeoutExpired:
            pytest.fail(f"npm ci in {target} took over {INSTALL_TIMEOUT:.0f}s", pytrace=False)
        if done.returncode != 0:
            pytest.fail(f"npm ci in {target} failed:\n{done.stdout}\n{done.stderr}", pytrace=False)
        stamp.write_text(digest)
    return target


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def _child_env(extra: dict[str, str]) -> dict[str, str]:
    """The environment minus our settings and proxies (a proxy would swallow loopback calls), plus `extra`."""
    dropped = {name.upper() for name in (*_BOT_SETTINGS, *_PROXIES)}
    env = {name: value for name, value in os.environ.items() if name.upper() not in dropped}
    env.update({"NO_PROXY": "127.0.0.1,localhost", "no_proxy": "127.0.0.1,localhost", **extra})
    return env


def _end(process: subprocess.Popen[bytes], signum: int, timeout: float) -> int:
    """Send `signum`, wait at most `timeout`, then SIGKILL; returns the exit status."""
    if process.poll() is None:
        process.send_signal(signum)
        try:
            return process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()
    return process.wait(STOP_TIMEOUT)


@pytest.fixture(scope="session")
def emulator_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmulatorServer]:
    """One emulator for the whole session; each test uses its own chats and resets the token's history."""
    for tool in ("node", "npm"):
        if shutil.which(tool) is None:
            _unavailable(f"`{tool}` is not installed; the end-to-end tests need node >= 18 and npm")
    copy = _installed_copy()
    sys.path.insert(0, str(copy))
    try:
        tg_user = importlib.import_module("tg_user")
    finally:
        sys.path.remove(str(copy))
    log_path = tmp_path_factory.mktemp("emulator") / "server.log"
    for _attempt in range(3):  # the free port may be taken between probing and binding it
        port = _free_port()
        with log_path.open("ab") as log:
            process = subprocess.Popen(
                ["node", "server.js", str(port)],
                cwd=copy,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env=_child_env({}),
            )
        server = EmulatorServer(port, tg_user)
        probe = server.client()
        deadline = time.monotonic() + START_TIMEOUT
        while process.poll() is None and not probe.alive() and time.monotonic() < deadline:
            time.sleep(0.1)
        if process.poll() is None and probe.alive():
            break
        _end(process, signal.SIGTERM, 5)
    else:
        pytest.fail(f"the emulator did not start:\n{log_path.read_text(errors='replace')}", pytrace=False)
    try:
        yield server
    finally:
        _end(process, signal.SIGTERM, 5)


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
        env = _child_env(
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
