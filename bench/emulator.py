"""The fake Bot API (../shared/tools/botapi-emulator) for the benchmarks: installed once, started per run.

The emulator's folder is read-only, so it is copied into the temp folder and `npm ci` runs there once per
content hash (the same cache folder the end-to-end tests use, so a machine that ran them starts at once).
`start(rate_limit=30)` starts one on a free loopback port that answers 429 beyond 30 sends in any 1 s window
(its `RATE_LIMIT`); `calls()` reads back every Bot API call the bot made, with its arrival time and result.
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
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any, Protocol

TOKEN = "123456:BENCH-TOKEN"
SOURCE = Path(os.environ.get("BOTAPI_EMULATOR_DIR", "/work/shared/tools/botapi-emulator"))
CACHE = Path(os.environ.get("AGENTCOACH_EMULATOR_CACHE", tempfile.gettempdir()))
INSTALL_TIMEOUT = 300.0
START_TIMEOUT = 30.0
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
    def reset(self, all_tokens: bool = ...) -> None: ...
    def alive(self) -> bool: ...


class EmulatorUnavailable(RuntimeError):
    """node/npm missing or the emulator would not start: the scenarios that need it are skipped."""


def child_env(extra: dict[str, str]) -> dict[str, str]:
    """The environment without our settings and proxies, plus `extra` (for every process the bench starts)."""
    dropped = {name.upper() for name in _DROPPED}
    env = {name: value for name, value in os.environ.items() if name.upper() not in dropped}
    env.update({"NO_PROXY": "127.0.0.1,localhost", "no_proxy": "127.0.0.1,localhost", **extra})
    return env


def _digest(root: Path) -> str:
    digest = hashlib.sha256()
    for path in sorted(root.rglob("*")):
        relative = path.relative_to(root)
        if not path.is_file() or relative.parts[0] in ("node_modules", "__pycache__"):
            continue
        digest.update(str(relative).encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()[:16]


def installed_copy() -> Path:
    """A copy of the emulator with its npm packages installed (reused while its content is unchanged)."""
    for tool in ("node", "npm"):
        if shutil.which(tool) is None:
            raise EmulatorUnavailable(f"`{tool}` is not installed")
    if not (SOURCE / "server.js").is_file():
        raise EmulatorUnavailable(f"no botapi-emulator at {SOURCE} (set BOTAPI_EMULATOR_DIR)")
    digest = _digest(SOURCE)
    target = CACHE / f"agentcoach-emulator-{digest}"
    stamp = target / ".agentcoach-installed"
    CACHE.mkdir(parents=True, exist_ok=True)
    with (CACHE / f"agentcoach-emulator-{digest}.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # the end-to-end tests may be installing the same copy
        installed = (target / "node_modules" / "telegram-test-api" / "package.json").is_file()
        if installed and stamp.is_file() and stamp.read_text() == digest:
            return target
        shutil.rmtree(target, ignore_errors=True)
        shutil.copytree(SOURCE, target, ignore=shutil.ignore_patterns("node_modules", "__pycache__"))
        done = subprocess.run(
            ["npm", "ci", "--no-audit", "--no-fund"],
            cwd=target,
            capture_output=True,
            text=True,
            timeout=INSTALL_TIMEOUT,
            check=False,
        )
        if done.returncode != 0:
            raise EmulatorUnavailable(f"npm ci in {target} failed:\n{done.stdout}\n{done.stderr}")
        stamp.write_text(digest)
    return target


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


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
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)


def _tg_user(copy: Path) -> ModuleType:
    sys.path.insert(0, str(copy))
    try:
        return importlib.import_module("tg_user")
    finally:
        sys.path.remove(str(copy))


def start(log_path: Path, rate_limit: int = 0) -> Emulator:
    """Start an emulator on a free loopback port; `rate_limit` sends/s before it answers 429 (0 = off)."""
    copy = installed_copy()
    tg_user = _tg_user(copy)
    env = child_env({"RATE_LIMIT": str(rate_limit)} if rate_limit else {})
    for _attempt in range(3):  # the free port may be taken between probing and binding it
        port = _free_port()
        with log_path.open("ab") as log:
            process = subprocess.Popen(
                ["node", "server.js", str(port)],
                cwd=copy,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env=env,
            )
        client: EmulatorClient = tg_user.Emulator(f"http://127.0.0.1:{port}", TOKEN, poll=0.01, request_timeout=30.0)
        deadline = time.monotonic() + START_TIMEOUT
        while process.poll() is None and not client.alive() and time.monotonic() < deadline:
            time.sleep(0.1)
        if process.poll() is None and client.alive():
            return Emulator(process, port, client, rate_limit)
        if process.poll() is None:
            process.kill()
            process.wait(5)
    raise EmulatorUnavailable(f"the emulator did not start:\n{log_path.read_text(errors='replace')}")
