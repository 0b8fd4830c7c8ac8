"""Under CI a skipped test fails the run, whichever way the CI service spells it (CI=true, CI=1, CI=yes): a run
that skipped PostgreSQL or the end-to-end tests did not test them. Each case runs pytest on a probe file with
this suite's conftest loaded as a plugin."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PROBE = """
import pytest


def test_runs() -> None:
    assert 1 + 1 == 2


def test_skips() -> None:
    pytest.skip("nothing to test it with")


def test_uses_postgresql(postgres_url: str) -> None:
    assert postgres_url
"""
DEAD_POSTGRES = "postgresql+asyncpg://postgres@127.0.0.1:1/test"


def run_probe(tmp_path: Path, ci: str | None) -> subprocess.CompletedProcess[str]:
    (tmp_path / "test_probe.py").write_text(PROBE)
    env = {key: value for key, value in os.environ.items() if key not in ("CI", "TEST_POSTGRES_URL")}
    env |= {"PYTHONPATH": str(ROOT), "TEST_POSTGRES_URL": DEAD_POSTGRES}
    if ci is not None:
        env["CI"] = ci
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "tests.conftest", "-p", "no:cacheprovider", "test_probe.py"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.mark.parametrize("ci", ["1", "yes", "TRUE"])
def test_under_ci_a_skip_or_an_unreachable_postgresql_fails_the_run(tmp_path: Path, ci: str) -> None:
    result = run_probe(tmp_path, ci)
    assert result.returncode == pytest.ExitCode.TESTS_FAILED, result.stdout
    assert f"PostgreSQL at {DEAD_POSTGRES} is not usable" in result.stdout
    assert "CI is set, so 1 skipped test(s) fail the run (a skip in CI is a test not run):" in result.stdout
    assert "test_probe.py::test_skips: Skipped: nothing to test it with" in result.stdout
    assert "1 passed, 1 skipped, 1 error" in result.stdout


@pytest.mark.parametrize("ci", [None, "0"])
def test_on_a_developer_machine_a_skip_is_only_a_skip(tmp_path: Path, ci: str | None) -> None:
    result = run_probe(tmp_path, ci)
    assert result.returncode == pytest.ExitCode.OK, result.stdout
    assert "1 passed, 2 skipped" in result.stdout
    assert "CI is set" not in result.stdout
