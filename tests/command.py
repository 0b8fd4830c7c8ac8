"""Running this checkout's `agentcoach` command in a child process, as an operator would.

`python -m runtime.cli` with this checkout first on the path, not the `agentcoach` script: that one runs whichever
checkout the virtual environment was installed from.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# Settings an operator's environment may hold that would change what a test sees.
SETTINGS = ("TELEGRAM_BOT_TOKEN", "DATABASE_URL", "LOG_LEVEL", "LOG_FORMAT", "TELEGRAM_API_BASE_URL")


def run_agentcoach(cwd: Path, *args: str, stdin: int | None = None, **env: str) -> subprocess.CompletedProcess[str]:
    """The command as an operator runs it; no input unless `stdin` (a descriptor, e.g. a terminal's) is given."""
    environment = {k: v for k, v in os.environ.items() if k not in SETTINGS}
    environment.update(PYTHONPATH=str(ROOT), **env)
    return subprocess.run(
        [sys.executable, "-m", "runtime.cli", *args],
        stdin=stdin if stdin is not None else subprocess.DEVNULL,
        capture_output=True,
        text=True,
        cwd=cwd,
        env=environment,
        timeout=120,
        check=False,
    )
