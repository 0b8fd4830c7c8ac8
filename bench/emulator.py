"""The fake Bot API (../shared/tools/botapi-emulator), one start-up for the benchmarks and the end-to-end tests.

The emulator's folder is read-only, so it is copied into a cache folder and `npm ci` runs there once per
content hash. No pytest here (the benchmarks run without it): every failure is an `EmulatorUnavailable` and
the caller decides (the bench skips those scenarios; tests/e2e/conftest.py skips, or fails under CI=true).
`start(rate_limit=30)` answers 429 beyond 30 sends in any 1 s window (its `RATE_LIMIT`); `calls()` reads back
every Bot API call the bot made, with its arrival time and result.
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
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any, Protocol

TOKEN = "123456:BENCH-TOKEN"
SOURCE = Path(os.environ.get("BOTAPI_EMULATOR_DIR", "/work/shared/tools/botapi-emulator"))
# Where the installed copy lives; CI may point this at a cached folder (e.g. .ci/cache).
CACHE = Path(os.environ.get("AGENTCOACH_EMULATOR_CACHE", tempfile.gettempdir()))
INSTALL_TIMEOUT = 300.0  # npm ci on a cold cache; every other wait is far shorter
LOCK_TIMEOUT = INSTALL_TIMEOUT + 60.0  # another run may be installing the same copy
START_TIMEOUT = 30.0
STOP_TIMEOUT = 5.0
# Settings our bot reads from the environment, and proxies (a proxy would swallow loopback calls).
_DROPPED = (
    "TELEGRAM_BOT_TOKEN",
    "TELEGRAM_API_BASE_URL",
    "DATABASE_URL",
    "DEFAULT_TIMEZONE",
    "DEFAULT_LANGUAGE",
    "LOG_LEVEL",
    "CLOCK_OFFSET_SECONDS",
    "HTTP_PROXY",
    "HTTPS_PROXY",
    "ALL_PROXY",
    "NO_PROXY",
)

Call = dict[str, Any]


class EmulatorClient(Protocol):
    """The part of tg_user.Emulator the benchmarks use."""

    def calls(self, method: str | None = ..., since: int = ...) -> list[Call]: ...
    def messages(self, chat: int | None = ..., *, include_deleted: bool = ...) -> list[Call]: ...
    def reset(self, all_tokens: bool = ...) -> None: ...
    def alive(self) -> bool: ...


class EmulatorUnavailable(RuntimeError):
    """node/npm missing or the emulator would not install or start; the message says which, and why."""


def child_env(extra: dict[str, str]) -> dict[str, str]:
    """The environment without our settings and proxies, plus `extra`: every child sees only what it is given."""
    dropped = {name.upper() for name in _DROPPED}
    env = {name: value for name, value in os.environ.items() if name.upper() not in dropped}
    env.update({"NO_PROXY": "127.0.0.1,localhost", "no_proxy": "127.0.0.1,localhost", **extra})
    return env


def _digest(root: Path) -> str:
    """Content hash of the emulator's files (package-lock.json included), so any change gets a fresh copy."""
    digest = hashlib.sha256()
    for path in sorted(root.rglob("*")):
        relative = path.relative_to(root)
        if not path.is_file() or relative.parts[0] in ("node_modules", "__pycache__"):
            continue
        digest.update(str(relative).encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()[:16]


@contextmanager
def _locked(path: Path, timeout: float) -> Iterator[None]:
    """An exclusive lock, so two runs never install into the same copy at once; a bounded wait, not a hang."""
    with path.open("w") as handle:
        deadline = time.monotonic() + timeout
        while True:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise EmulatorUnavailable(f"another run holds {path} for over {timeout:.0f}s") from None
                time.sleep(0.2)
        yield  # closing the file releases the lock


def installed_copy() -> Path:
    """A copy of the emulator with its npm packages installed (reused while its content is unchanged)."""
    for tool in ("node", "npm"):
        if shutil.which(tool) is None:
            raise EmulatorUnavailable(f"`{tool}` is not installed; the emulator needs node >= 18 and npm")
    if not (SOURCE / "server.js").is_file():
        raise EmulatorUnavailable(f"no botapi-emulator at {SOURCE} (set BOTAPI_EMULATOR_DIR)")
    try:
        return _install(_digest(SOURCE))
    except OSError as error:  # unreadable source, full or read-only cache folder, npm vanished
        raise EmulatorUnavailable(f"could not install the emulator from {SOURCE} into {CACHE}: {error}") from error


def _install(digest: str) -> Path:
    target = CACHE / f"agentcoach-emulator-{digest}"
    stamp = target / ".agentcoach-installed"
    CACHE.mkdir(parents=True, exist_ok=True)
    with _locked(CACHE / f"agentcoach-emulator-{digest}.lock", LOCK_TIMEOUT):
        installed = (target / "node_modules" / "telegram-test-api" / "package.json").is_file()
        if installed and stamp.is_file() and stamp.read_text() == digest:
            return target
        shutil.rmtree(target, ignore_errors=True)
        shutil.copytree(SOURCE, target, ignore=shutil.ignore_patterns("node_modules", "__pycache__"))
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
            raise EmulatorUnavailable(f"npm ci in {target} took over {INSTALL_TIMEOUT:.0f}s") from None
        if done.returncode != 0:
            raise EmulatorUnavailable(f"npm ci in {target} failed:\n{done.stdout}\n{done.stderr}")
        stamp.write_text(digest)
    return target


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def _tg_user(copy: Path) -> ModuleType:
    """The emulator's Python client, from the copy (it is no package of ours)."""
    sys.path.insert(0, str(copy))
    try:
        return importlib.import_module("tg_user")
    except Exception as error:  # a broken copy must read as unavailable, not as a crash in the caller
        raise EmulatorUnavailable(f"cannot import tg_user from {copy}: {error!r}") from error
    finally:
        sys.path.remove(str(copy))


def stop_process(process: subprocess.Popen[bytes], timeout: float = STOP_TIMEOUT) -> None:
    """SIGTERM, then SIGKILL after `timeout`: a stop never hangs."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout)
            return
        except subprocess.TimeoutExpired:
            process.kill()
    process.wait(timeout)


def launch(
    log_path: Path, rate_limit: int = 0, env_extra: dict[str, str] | None = None
) -> tuple[subprocess.Popen[bytes], int, ModuleType]:
    """Start `node server.js PORT` and return once it answers: (process, port, tg_user from the copy).

    The port is retried (another process may take it between probe and bind); every wait is bounded."""
    copy = installed_copy()
    tg_user = _tg_user(copy)
    env = child_env({**({"RATE_LIMIT": str(rate_limit)} if rate_limit else {}), **(env_extra or {})})
    for _attempt in range(3):
        port = _free_port()
        try:
            with log_path.open("ab") as log:
                process = subprocess.Popen(
                    ["node", "server.js", str(port)],
                    cwd=copy,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    stdin=subprocess.DEVNULL,
                    env=env,
                )
        except OSError as error:
            raise EmulatorUnavailable(f"cannot start node server.js in {copy}: {error}") from error
        probe = tg_user.Emulator(f"http://127.0.0.1:{port}", TOKEN, poll=0.01, request_timeout=2.0)
        deadline = time.monotonic() + START_TIMEOUT
        while process.poll() is None and not probe.alive() and time.monotonic() < deadline:
            time.sleep(0.1)
        if process.poll() is None and probe.alive():
            return process, port, tg_user
        stop_process(process)
    raise EmulatorUnavailable(f"the emulator did not start:\n{log_path.read_text(errors='replace')}")


@dataclass
class Emulator:
    """One running emulator process."""

    process: subprocess.Popen[bytes]
    port: int
    client: EmulatorClient
    rate_limit: int

    @property
    def base_url(self) -> str:
        """What TELEGRAM_API_BASE_URL (or PTB's base_url) is set to."""
        return f"http://127.0.0.1:{self.port}/bot"

    def last_seq(self) -> int:
        return max((int(call["seq"]) for call in self.client.calls()), default=0)

    def sends(self, since: int) -> list[Call]:
        """The sendMessage calls after `since` that have an answer, in arrival order."""
        return [call for call in self.client.calls("sendMessage", since=since) if "ok" in call]

    def stop(self) -> None:
        stop_process(self.process)


def start(log_path: Path, rate_limit: int = 0) -> Emulator:
    """Start an emulator on a free loopback port; `rate_limit` sends/s before it answers 429 (0 = off)."""
    process, port, tg_user = launch(log_path, rate_limit)
    client: EmulatorClient = tg_user.Emulator(f"http://127.0.0.1:{port}", TOKEN, poll=0.01, request_timeout=30.0)
    return Emulator(process, port, client, rate_limit)
