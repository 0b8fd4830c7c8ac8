"""The `agentcoach` command as an operator and a newcomer use it: help, bad settings, migrations, the shell."""

from __future__ import annotations

import os
import random
import sqlite3
import subprocess
import sys
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import pytest

from tests.support import Harness

AGENTCOACH = str(Path(sys.executable).parent / "agentcoach")
SETTINGS = (
    "TELEGRAM_BOT_TOKEN",
    "DATABASE_URL",
    "TELEGRAM_API_BASE_URL",
    "DEFAULT_TIMEZONE",
    "DEFAULT_LANGUAGE",
    "LOG_LEVEL",
)


def agentcoach(tmp_path: Path, *args: str, stdin: str = "", **env: str) -> subprocess.CompletedProcess[str]:
    environment = {k: v for k, v in os.environ.items() if k not in SETTINGS}
    environment.update(env)
    return subprocess.run(
        [AGENTCOACH, *args],
        input=stdin,
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env=environment,
        timeout=120,
        check=False,
    )


@pytest.mark.parametrize(
    "args", [["--help"], ["run", "--help"], ["shell", "--help"], ["db", "--help"], ["db", "upgrade", "--help"]]
)
def test_help_everywhere(tmp_path: Path, args: list[str]) -> None:
    result = agentcoach(tmp_path, *args)
    assert result.returncode == 0 and result.stdout.startswith("usage: agentcoach")


def test_a_bad_setting_stops_with_one_line(tmp_path: Path) -> None:
    result = agentcoach(tmp_path, "shell", DEFAULT_TIMEZONE="Mars/Base")
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "agentcoach: invalid setting DEFAULT_TIMEZONE: 'Mars/Base' is not an IANA time zone such as Asia/Shanghai"
    ]


def test_run_needs_a_token(tmp_path: Path) -> None:
    result = agentcoach(tmp_path, "run")
    assert result.returncode == 2 and "TELEGRAM_BOT_TOKEN is not set" in result.stderr


def test_db_upgrade_creates_the_schema_in_the_default_place(tmp_path: Path) -> None:
    result = agentcoach(tmp_path, "db", "upgrade")
    assert result.returncode == 0, result.stderr
    with sqlite3.connect(tmp_path / "data" / "agentcoach.db") as db:
        tables = {row[0] for row in db.execute("select name from sqlite_master where type = 'table'")}
    assert {"agents", "conversation_states", "alembic_version"} <= tables


# Times are buttons that are numbers, so they are pressed with #n; languages and days with a bare number.
ONBOARDING = "\n".join(["/start", "1", "香港", "#5", "7", "8", "3", "#5", "#3", "/settings", "/quit"]) + "\n"


def test_the_shell_runs_start_through_to_the_confirmation(tmp_path: Path) -> None:
    result = agentcoach(tmp_path, "shell", "--name", "小李", stdin=ONBOARDING)
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "👋 你好，小李！" in out
    assert ": [1] ✓ 简体中文   [2] English   [3] 繁體中文" in out
    assert "✓ 时区：香港时间（UTC+08:00）" in out
    assert "🎉 设置完成" in out
    assert "📅 工作日：周一至周日" in out and "📝 每日复盘：每个工作日 21:30" in out
    assert "⚙️ 设置" in out.split("🎉 设置完成")[1]
    with sqlite3.connect(tmp_path / "data" / "agentcoach.db") as db:
        row = db.execute("select timezone, reflection_time, work_days, setup_step from agents").fetchone()
    assert row == ("Asia/Hong_Kong", "21:30:00.000000", "1234567", None)


def test_without_a_token_the_bare_command_says_so_and_opens_the_shell(tmp_path: Path) -> None:
    result = agentcoach(tmp_path, stdin="/help\n")
    assert result.returncode == 0, result.stderr
    first, *rest = result.stdout.splitlines()
    assert first == "agentcoach: TELEGRAM_BOT_TOKEN is not set, so opening the local chat shell (Ctrl-D to leave)."
    assert any("我能帮你做什么" in line for line in rest)


def test_a_number_is_text_when_no_buttons_are_shown_and_quoted_numbers_are_text(tmp_path: Path) -> None:
    result = agentcoach(tmp_path, "shell", stdin="/help\n5\n'1\n")
    assert result.returncode == 0, result.stderr
    assert result.stdout.count("我们先把设置做完吧") == 2


def test_the_shell_speaks_the_language_code_it_was_started_with(tmp_path: Path) -> None:
    english = agentcoach(tmp_path, "shell", "--language-code", "en", stdin="/quit\n")
    assert english.returncode == 0, english.stderr
    assert english.stdout.startswith("AgentCoach local chat.") and "本地聊天" not in english.stdout
    chinese = agentcoach(tmp_path, "shell", "--language-code", "zh-hans", "--user-id", "7", stdin="/quit\n")
    assert chinese.stdout.startswith("AgentCoach 本地聊天。")


async def test_the_shell_shows_a_nudge_when_it_falls_due(harness: Harness) -> None:
    from io import StringIO

    from runtime.shell import act, sweep_and_show
    from tests.handlers.test_followups import agent_with_client

    chat, _ = await agent_with_client(harness)
    await act(chat, "/followup 王先生 两小时后 带看")
    await act(chat, "1")  # the first button: confirm
    out = StringIO()
    await sweep_and_show(harness.app, chat, out, "zh-Hans")
    assert out.getvalue() == ""
    harness.clock.advance(timedelta(hours=2))
    await sweep_and_show(harness.app, chat, out, "zh-Hans")
    assert "🤖 ⏰ 跟进提醒：王先生（新客户）" in out.getvalue()
    assert "[1] ✅ 完成   [2] ⏰ 稍后" in out.getvalue()


NOT_A_DATABASE = {
    "random bytes": random.Random(11).randbytes(8192),
    "a text file": "agent,phone\n王先生,13800000000\n".encode(),
}


@pytest.mark.parametrize("content", NOT_A_DATABASE.values(), ids=NOT_A_DATABASE.keys())
@pytest.mark.parametrize("command", [["db", "upgrade"], ["shell"], ["run"]], ids=" ".join)
def test_a_file_that_is_not_a_database_stops_start_up_with_one_line(
    tmp_path: Path, content: bytes, command: list[str]
) -> None:
    (tmp_path / "data").mkdir(mode=0o700)
    (tmp_path / "data" / "agentcoach.db").write_bytes(content)
    (tmp_path / "data" / "agentcoach.db").chmod(0o600)  # as this version makes it: nothing to tighten
    result = agentcoach(tmp_path, *command, stdin="/help\n", TELEGRAM_BOT_TOKEN="123:abc")
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert result.stderr.strip().splitlines() == [
        "agentcoach: data/agentcoach.db is not a valid SQLite database (file is not a database): "
        "restore it from a backup or move it away to start with a new one"
    ]
    assert (tmp_path / "data" / "agentcoach.db").read_bytes() == content  # the operator's file is left as it was


def _a_folder_in_its_place(data: Path) -> None:
    (data / "agentcoach.db").mkdir()


def _a_file_in_place_of_the_folder(data: Path) -> None:
    data.rmdir()
    data.write_text("notes")


def _unreadable(data: Path) -> None:
    (data / "agentcoach.db").write_bytes(b"")
    (data / "agentcoach.db").chmod(0)


CANNOT_OPEN = [_a_folder_in_its_place, _a_file_in_place_of_the_folder]
if os.geteuid() != 0:  # root reads any file: there is no unreadable file to test with
    CANNOT_OPEN.append(_unreadable)


@pytest.mark.parametrize("damage", CANNOT_OPEN, ids=lambda damage: damage.__name__.strip("_"))
def test_a_database_that_cannot_be_opened_stops_start_up_with_one_line(
    tmp_path: Path, damage: Callable[[Path], None]
) -> None:
    (tmp_path / "data").mkdir(mode=0o700)
    damage(tmp_path / "data")
    result = agentcoach(tmp_path, "db", "upgrade")
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "agentcoach: cannot open data/agentcoach.db (unable to open database file): check that it is a file this "
        "user can read and write, in a folder it can write to"
    ]


def test_the_shell_takes_a_superscript_digit_as_text_not_a_button(tmp_path: Path) -> None:
    """ "²".isdigit() is True but int("²") fails: with buttons on screen the shell must still answer, not crash."""
    result = agentcoach(tmp_path, "shell", stdin="/start\n²\n٣\n")
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr + result.stdout
