"""`agentcoach export --agent ID [--out DIR]` as an admin runs it: the two files /export sends, owner-only, their
paths printed; an unknown agent is one line and exit 1."""

from __future__ import annotations

import asyncio
import csv
import io
import json
import stat
from datetime import UTC, datetime
from pathlib import Path

from bot.agents import NewAgent, get_or_register
from bot.clients import ClientDraft, add_client
from bot.db import create_engine, session_factory, upgrade
from tests.command import run_agentcoach

NOW = datetime(2026, 11, 25, 1, 0, tzinfo=UTC)


async def seed(url: str) -> None:
    engine = create_engine(url)
    try:
        await upgrade(engine)
        async with session_factory(engine)() as session, session.begin():
            for user_id, client in ((1001, "王先生"), (2002, "钱女士")):
                who = NewAgent(user_id, user_id, f"agent {user_id}", "zh-Hans", "Asia/Shanghai")
                agent = await get_or_register(session, who, NOW)
                await add_client(session, agent.id, ClientDraft(client, notes="周末, 有空"), NOW)
    finally:
        await engine.dispose()


def test_an_admin_writes_one_agents_files(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path}/agentcoach.db"
    asyncio.run(seed(url))
    result = run_agentcoach(tmp_path, "export", "--agent", "1001", "--out", "out", DATABASE_URL=url)
    assert result.returncode == 0, result.stderr
    json_path, csv_path = (tmp_path / line for line in result.stdout.splitlines())
    assert json_path.name.startswith("agentcoach-1001-") and csv_path.name.endswith("-clients.csv")
    document = json.loads(json_path.read_bytes())
    assert (document["schema"], document["version"]) == ("agentcoach.export", 1)
    assert [client["name"] for client in document["clients"]] == ["王先生"]
    rows = list(csv.reader(io.StringIO(csv_path.read_bytes().decode("utf-8-sig"), newline="")))
    assert [row[0] for row in rows] == ["姓名", "王先生"] and rows[1][6] == "周末, 有空"
    for path in (json_path, csv_path):
        assert "钱女士" not in path.read_text(encoding="utf-8-sig")
        assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_an_unknown_agent_is_one_line(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path}/agentcoach.db"
    asyncio.run(seed(url))
    result = run_agentcoach(tmp_path, "export", "--agent", "999", DATABASE_URL=url)
    assert result.returncode == 1
    assert result.stderr.strip().splitlines()[-1] == "agentcoach: there is no agent with Telegram user id 999"
    assert "Traceback" not in result.stderr
    assert not list(tmp_path.glob("agentcoach-*"))
