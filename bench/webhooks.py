"""Several `agentcoach run --webhook` processes on one database, as docs/deploy.md runs them under systemd.

Each process is started with the command line of the unit's ExecStart (`run --webhook --port N`), run as
`python -m runtime.cli` from this checkout, with its settings in the environment (the unit's EnvironmentFile),
and counts as started once its own /healthz answers 200: it reaches the database, its sweep has run, and
setWebhook was called. The end-to-end test and the benchmark both start them here.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Sequence
from pathlib import Path

from bench.children import REPO, BotProcess
from bench.emulator import child_env
from bench.nginx import free_port

START_TIMEOUT = 60.0  # two processes importing everything at once on a loaded two-core machine
STOP_TIMEOUT = 20.0  # the unit's TimeoutStopSec
SECRET = "e2e-webhook-secret_0123456789"


def command(port: int, *, unpaced: bool = False) -> list[str]:
    """docs/deploy/agentcoach@.service's ExecStart for instance `port`, run from this checkout; `unpaced` runs
    the same command through this module with the process's send pace off (see `main`)."""
    module = "bench.webhooks" if unpaced else "runtime.cli"
    return [sys.executable, "-m", module, "run", "--webhook", "--port", str(port)]


def health(port: int, timeout: float = 2.0) -> tuple[int, dict[str, object]]:
    """GET http://127.0.0.1:`port`/healthz straight from the process: (status, its JSON); (0, {}) when refused."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=timeout) as answer:
            return answer.status, json.loads(answer.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"{}")
    except OSError:
        return 0, {}


def start(
    count: int,
    workdir: Path,
    *,
    token: str,
    database_url: str,
    api_base_url: str,
    webhook_url: str,
    secret: str = SECRET,
    extra: dict[str, str] | None = None,
    unpaced: bool = False,
) -> list[tuple[int, BotProcess]]:
    """Start `count` webhook processes on free loopback ports, all at once; return (port, process) once each is
    healthy. A process that exits or stays unhealthy raises RuntimeError with the end of its log."""
    settings = {
        "TELEGRAM_BOT_TOKEN": token,
        "TELEGRAM_API_BASE_URL": api_base_url,
        "DATABASE_URL": database_url,
        "WEBHOOK_URL": webhook_url,
        "TELEGRAM_WEBHOOK_SECRET": secret,
        "WEBHOOK_LISTEN": "127.0.0.1",
        "LOG_LEVEL": "INFO",
        "PYTHONUNBUFFERED": "1",
        "PYTHONPATH": str(REPO),
        **(extra or {}),
    }
    started: list[tuple[int, BotProcess]] = []
    for _ in range(count):
        port = free_port()
        log_path = workdir / f"webhook-{port}.log"
        with log_path.open("wb") as log:
            spawned_at = time.time()
            process = subprocess.Popen(
                command(port, unpaced=unpaced),
                cwd=workdir,
                env=child_env(settings),
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,  # its own scheduling group, as each systemd unit has its own cgroup
            )
        started.append((port, BotProcess(process, log_path, spawned_at)))
    deadline = time.monotonic() + START_TIMEOUT
    for port, run in started:
        while health(port)[0] != 200:
            if not run.running() or time.monotonic() > deadline:
                stop([run for _, run in started])
                state = "exited" if not run.running() else f"was not healthy after {START_TIMEOUT:.0f} s"
                raise RuntimeError(f"the webhook process on port {port} {state}:\n{run.tail()}")
            time.sleep(0.1)
    return started


def stop(runs: Sequence[BotProcess]) -> list[int]:
    """SIGTERM to all at once (as `systemctl stop 'agentcoach@*'`), then each one's exit status."""
    for run in runs:
        if run.running():
            run.process.terminate()
    statuses = []
    for run in runs:  # one SIGTERM only, as systemd sends: a second one during the shutdown would be a kill
        try:
            statuses.append(run.process.wait(STOP_TIMEOUT))
        except subprocess.TimeoutExpired:
            run.process.kill()
            statuses.append(run.process.wait(STOP_TIMEOUT))
    return statuses


def main() -> int:
    """`python -m bench.webhooks run --webhook …`: the CLI with the send pace off, for the benchmark only.

    A real process paces every message at Telegram's ~30/s per bot (runtime/send_budget.py); replies at that pace
    would cap a benchmark of the handler stack at ~30 sends/s per process, measuring the pace instead of the
    processes. Telegram's limit is per bot, so in production it caps the sum over all processes."""
    import runtime.app
    from runtime.cli import main as cli

    runtime.app.PACED = False  # what build_application reads
    return cli(sys.argv[1:])


if __name__ == "__main__":
    sys.exit(main())
