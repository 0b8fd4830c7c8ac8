"""`agentcoach broadcast FILE` before anything is sent: a file Telegram would refuse is refused with one line and
queues nothing; without a terminal and without --yes nothing happens; with a bot running on the same SQLite file
the copies are queued for that bot (the command does not need the database's process lock to queue)."""

from __future__ import annotations

import asyncio
import json
import os
import socket
import sqlite3
import subprocess
import threading
from contextlib import closing
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from bot.ownership import SoleOwnership
from runtime.broadcast import AnnouncementRefused, read_announcement
from tests.bot.test_backup import insert_agents, migrated
from tests.command import run_agentcoach

TOKEN = "123456:BROADCAST-TEST"


def announcement(tmp_path: Path, content: str | bytes) -> Path:
    path = tmp_path / "notice.txt"
    path.write_bytes(content.encode() if isinstance(content, str) else content)
    return path


def test_the_text_is_kept_as_written_less_the_blank_around_it(tmp_path: Path) -> None:
    text = '\ufeff  <b>通知</b>：周六 09:00 例会 &amp; 培训\n<a href="https://example.com">议程</a> 😀\r\n\n'
    assert read_announcement(announcement(tmp_path, text)) == (
        '<b>通知</b>：周六 09:00 例会 &amp; 培训\n<a href="https://example.com">议程</a> 😀'
    )


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        ("", "is empty: there is nothing to send"),
        (" \n\t<b> </b>\n", "is empty: there is nothing to send"),
        ("A & B", "is not valid Telegram HTML (can't parse entities: unescaped & in text)"),
        ("<b>bold", 'is not valid Telegram HTML (can\'t parse entities: unclosed tag "b")'),
        ("line<br>break", 'is not valid Telegram HTML (can\'t parse entities: unsupported start tag "br")'),
        ("字" * 4097, "is 4097 characters once its HTML is read; one Telegram message holds 4,096"),
        ("😀" * 2049, "is 4098 characters once its HTML is read; one Telegram message holds 4,096"),
        ("周六例会通知".encode("gb18030"), "is not UTF-8 text (byte 0 cannot be read)"),
    ],
)
def test_what_telegram_would_refuse_is_refused_before_anything_is_queued(
    tmp_path: Path, content: str | bytes, reason: str
) -> None:
    path = announcement(tmp_path, content)
    with pytest.raises(AnnouncementRefused) as refused:
        read_announcement(path)
    assert str(refused.value).startswith(f"{path} {reason}")


def test_the_longest_message_telegram_takes_is_accepted(tmp_path: Path) -> None:
    assert len(read_announcement(announcement(tmp_path, "<b>" + "字" * 4096 + "</b>"))) == 4096 + 7


def queued(database: Path) -> int:
    with closing(sqlite3.connect(database)) as db:
        return int(db.execute("SELECT count(*) FROM deliveries WHERE kind = 'broadcast'").fetchone()[0])


def seed_agents(database: Path, active: int, blocked: int) -> None:
    insert_agents(database, {i: i <= active for i in range(1, active + blocked + 1)})


def test_without_a_terminal_or_yes_or_a_token_nothing_is_queued(tmp_path: Path) -> None:
    database = migrated(tmp_path / "agentcoach.db")
    seed_agents(database, active=3, blocked=0)
    path = announcement(tmp_path, "<b>通知</b>")
    url = f"sqlite+aiosqlite:///{database}"
    asked = run_agentcoach(tmp_path, "broadcast", str(path), DATABASE_URL=url, TELEGRAM_BOT_TOKEN=TOKEN)
    assert (asked.returncode, asked.stderr) == (
        2,
        "agentcoach: no terminal to confirm on; add --yes to send without asking\n",
    )
    tokenless = run_agentcoach(tmp_path, "broadcast", "--yes", str(path), DATABASE_URL=url)
    assert tokenless.returncode == 2 and "TELEGRAM_BOT_TOKEN is not set" in tokenless.stderr
    bad = run_agentcoach(tmp_path, "broadcast", "--yes", "missing.txt", DATABASE_URL=url, TELEGRAM_BOT_TOKEN=TOKEN)
    assert (bad.returncode, bad.stderr) == (2, "agentcoach: cannot read missing.txt: No such file or directory\n")
    assert queued(database) == 0


def test_with_a_bot_running_on_the_sqlite_file_the_copies_are_queued_for_it(tmp_path: Path) -> None:
    database = migrated(tmp_path / "agentcoach.db")
    seed_agents(database, active=4, blocked=2)
    path = announcement(tmp_path, "<b>通知</b>：周六例会")
    url = f"sqlite+aiosqlite:///{database}"
    running_bot = SoleOwnership(database)  # the lock `agentcoach run` holds for as long as it lives
    asyncio.run(running_bot.start())
    try:
        first = run_agentcoach(tmp_path, "broadcast", "--yes", str(path), DATABASE_URL=url, TELEGRAM_BOT_TOKEN=TOKEN)
        assert first.returncode == 0, first.stderr
        assert first.stdout == "agentcoach: broadcast #1: queued 4; the running bot will send them\n"
        again = run_agentcoach(tmp_path, "broadcast", "--yes", str(path), DATABASE_URL=url, TELEGRAM_BOT_TOKEN=TOKEN)
        assert again.stdout == "agentcoach: broadcast #1: queued 0 more (4 in all); the running bot will send them\n"
    finally:
        asyncio.run(running_bot.stop())
    assert queued(database) == 4


def test_at_a_terminal_it_asks_first_and_a_no_sends_nothing(tmp_path: Path) -> None:
    database = migrated(tmp_path / "agentcoach.db")
    seed_agents(database, active=3, blocked=1)
    path = announcement(tmp_path, "<b>通知</b>")
    terminal, their_end = os.openpty()  # the command sees a terminal on its stdin
    try:
        os.write(terminal, b"n\n")
        answered = run_agentcoach(
            tmp_path,
            "broadcast",
            str(path),
            stdin=their_end,
            DATABASE_URL=f"sqlite+aiosqlite:///{database}",
            TELEGRAM_BOT_TOKEN=TOKEN,
        )
    finally:
        os.close(terminal)
        os.close(their_end)
    assert answered.stdout == "send to 3 active agents? [y/N] "
    assert answered.returncode == 1 and answered.stderr.splitlines()[-1] == "agentcoach: nothing sent"
    assert queued(database) == 0


def broadcast_to(tmp_path: Path, database: Path, path: Path, api: str) -> subprocess.CompletedProcess[str]:
    """`agentcoach broadcast --yes` against the Bot API at `api`."""
    return run_agentcoach(
        tmp_path,
        "broadcast",
        "--yes",
        str(path),
        DATABASE_URL=f"sqlite+aiosqlite:///{database}",
        TELEGRAM_BOT_TOKEN=TOKEN,
        TELEGRAM_API_BASE_URL=api,
    )


def test_when_telegram_cannot_be_reached_the_copies_stay_queued_for_the_next_run(tmp_path: Path) -> None:
    database = migrated(tmp_path / "agentcoach.db")
    seed_agents(database, active=2, blocked=0)
    path = announcement(tmp_path, "<b>通知</b>")
    with socket.socket() as closed:  # a port nothing listens on
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    result = broadcast_to(tmp_path, database, path, f"http://127.0.0.1:{port}/bot")
    assert result.returncode == 1, result.stderr
    [line] = result.stdout.splitlines()
    assert line.startswith("agentcoach: broadcast #1: queued 2, but Telegram cannot be reached (")
    assert line.endswith("); run the command again") and TOKEN not in result.stdout + result.stderr
    assert "Traceback" not in result.stderr
    assert queued(database) == 2


class _Unauthorized(BaseHTTPRequestHandler):
    """Telegram's answer to a token it does not know."""

    def do_POST(self) -> None:  # http.server's name
        body = json.dumps({"ok": False, "error_code": 401, "description": "Unauthorized"}).encode()
        self.send_response(401)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:  # http.server's name
        pass


def test_a_rejected_token_is_one_line_without_the_token(tmp_path: Path) -> None:
    database = migrated(tmp_path / "agentcoach.db")
    seed_agents(database, active=1, blocked=0)
    path = announcement(tmp_path, "<b>通知</b>")
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Unauthorized)
    serving = threading.Thread(target=server.serve_forever)
    serving.start()
    try:
        result = broadcast_to(tmp_path, database, path, f"http://127.0.0.1:{server.server_address[1]}/bot")
    finally:
        server.shutdown()
        serving.join(10)
        server.server_close()
    assert result.returncode == 1 and TOKEN not in result.stdout + result.stderr
    assert result.stdout == (
        "agentcoach: broadcast #1: queued 1, but Telegram rejected TELEGRAM_BOT_TOKEN; "
        "fix it and run the command again\n"
    )
