"""docs/deploy/: the files an operator copies are valid, agree with each other, and agree with the settings.

The nginx site itself runs in tests/e2e/test_deploy.py; here, what needs no server: the environment file is
accepted by the settings as it ships, the unit's ExecStart is a command line the CLI accepts, the marked lines the
e2e test replaces are all there, and `systemd-analyze verify` accepts the unit (where systemd's tools exist).
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from bench.nginx import SITE, site_config
from bot.config import Settings
from runtime.cli import parser

DEPLOY = Path(__file__).resolve().parent.parent / "docs" / "deploy"
UNIT = DEPLOY / "agentcoach@.service"
ENV = DEPLOY / "agentcoach.env"


def environment_file() -> dict[str, str]:
    pairs = (line.split("=", 1) for line in ENV.read_text(encoding="utf-8").splitlines() if "=" in line)
    return {name.strip(): value.strip() for name, value in pairs if not name.lstrip().startswith("#")}


def unit_value(key: str) -> str:
    values: list[str] = re.findall(rf"^{key}=(.*)$", UNIT.read_text(encoding="utf-8"), flags=re.MULTILINE)
    assert len(values) == 1, f"{key} appears {len(values)} times in the unit"
    return values[0]


def test_the_environment_file_is_accepted_as_shipped() -> None:
    values = environment_file()
    settings = Settings(_env_file=None, **{name.lower(): value for name, value in values.items()})  # type: ignore[arg-type]
    assert settings.database_url.startswith("postgresql+asyncpg://"), "several processes need PostgreSQL"
    assert settings.webhook_url is not None and settings.webhook_secret() is not None
    assert settings.log_format == "json"
    assert "WEBHOOK_PORT" not in values, "the port is the unit's instance, one per process"


def test_nginx_agrees_with_the_environment_file() -> None:
    settings = Settings(_env_file=None, **{k.lower(): v for k, v in environment_file().items()})  # type: ignore[arg-type]
    site = SITE.read_text(encoding="utf-8")
    assert f"location = {settings.webhook_path()} {{" in site, "nginx proxies exactly the path of WEBHOOK_URL"
    [size] = re.findall(r"client_max_body_size (\d+)m;", site)
    assert int(size) * 1024 * 1024 == settings.webhook_max_body_bytes
    assert settings.webhook_listen == "127.0.0.1" and "server 127.0.0.1:8081" in site


def test_the_unit_runs_a_command_line_the_cli_accepts() -> None:
    executable, *arguments = unit_value("ExecStart").replace("%i", "8081").split()
    assert executable.endswith("/.venv/bin/agentcoach")
    args = parser().parse_args(arguments)
    assert (args.command, args.webhook, args.port) == ("run", True, 8081)
    assert unit_value("EnvironmentFile") == "/etc/agentcoach/agentcoach.env"
    assert unit_value("Restart") == "on-failure" and unit_value("User") == "agentcoach"


def test_the_marked_lines_the_e2e_test_replaces_are_all_there() -> None:
    text = SITE.read_text(encoding="utf-8")
    rendered = site_config(text, port=4443, upstreams=[9001, 9002, 9003], certificate=Path("/c"), key=Path("/k"))
    assert rendered.count("server 127.0.0.1:90") == 3 and "listen 127.0.0.1:4443 ssl;" in rendered
    assert "ssl_certificate /c;" in rendered and "ssl_certificate_key /k;" in rendered
    assert "server 127.0.0.1:808" not in rendered and "letsencrypt" not in rendered and "[::]" not in rendered
    with pytest.raises(ValueError, match="marked lines"):
        site_config(text.replace("# test: certificate key", ""), port=1, upstreams=[2], certificate=Path(), key=Path())


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="systemd-analyze is not installed")
def test_systemd_accepts_the_unit(tmp_path: Path) -> None:
    # verify insists that ExecStart exists on this machine: point it at one that does, and change nothing else.
    text = UNIT.read_text(encoding="utf-8").replace(unit_value("ExecStart").split()[0], "/bin/true")
    unit = tmp_path / "agentcoach@8081.service"
    unit.write_text(text)
    done = subprocess.run(
        ["systemd-analyze", "verify", "--man=no", str(unit)], capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0 and done.stderr.strip() == "", done.stderr
