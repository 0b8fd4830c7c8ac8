"""Processes the benchmarks start and measure: the real `agentcoach run`, and fresh Python children.

Memory is read from /proc (VmRSS now, VmHWM the peak), so no extra package is needed. Every child gets the
environment without our settings and proxies (see `emulator.child_env`), and only loopback addresses.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.emulator import TOKEN, child_env

REPO = Path(__file__).resolve().parent.parent
STOP_TIMEOUT = 15.0


def memory_kib(pid: int | str = "self") -> dict[str, int]:
    """VmRSS and VmHWM of a process, in KiB."""
    found: dict[str, int] = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            found[key] = int(value.split()[0])
    return found


def mib(kib: int) -> float:
    return round(kib / 1024, 1)


def run_python_child(module: str, args: list[str], env: dict[str, str], timeout: float) -> dict[str, Any]:
    """`python -m module args` from the repository root; its last stdout line is a JSON object."""
    done = subprocess.run(
        [sys.executable, "-m", module, *args],
        cwd=REPO,
        env=child_env(env),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    if done.returncode != 0 or not lines:
        raise RuntimeError(
            f"{module} {' '.join(args)} failed ({done.returncode}):\n{done.stdout}\n{done.stderr[-4000:]}"
        )
    result: dict[str, Any] = json.loads(lines[-1])
    return result


@dataclass
class BotProcess:
    """One `agentcoach run`, its output going to `log_path`."""

    process: subprocess.Popen[bytes]
    log_path: Path
    spawned_at: float  # time.time() just before the spawn

    def stop(self) -> int:
        """SIGTERM (PTB stops gracefully), SIGKILL after STOP_TIMEOUT."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                return self.process.wait(STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                self.process.kill()
        return self.process.wait(STOP_TIMEOUT)

    def running(self) -> bool:
        return self.process.poll() is None

    def tail(self, lines: int = 40) -> str:
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])


def start_bot(database_url: str, api_base_url: str, workdir: Path, name: str) -> BotProcess:
    """The real bot, as an operator starts it: `.venv/bin/agentcoach run` with settings in the environment."""
    command = [str(Path(sys.executable).parent / "agentcoach"), "run"]
    log_path = workdir / f"{name}.log"
    env = child_env(
        {
            "TELEGRAM_BOT_TOKEN": TOKEN,
            "TELEGRAM_API_BASE_URL": api_base_url,
            "DATABASE_URL": database_url,
            "LOG_LEVEL": "INFO",
            "PYTHONUNBUFFERED": "1",
        }
    )
    with log_path.open("wb") as log:
        spawned_at = time.time()
        process = subprocess.Popen(
            command, cwd=workdir, env=env, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL
        )
    return BotProcess(process, log_path, spawned_at)
