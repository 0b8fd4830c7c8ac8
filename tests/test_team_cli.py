"""`agentcoach team …` as an admin uses it: create, invite (the link an agent then opens), list, remove; every
refusal one line and an exit code, on both databases."""

from __future__ import annotations

import asyncio
import re
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select

from bot.clock import ManualClock
from bot.config import Settings
from bot.models import Delivery
from bot.statuses import DeliveryKind, DeliveryStatus, TeamRole
from runtime import cli, team_command
from tests.handlers.test_onboarding import onboard
from tests.handlers.test_team import invite_code, membership
from tests.support import Harness
from tests.test_cli import agentcoach

CODE = re.compile(r"^code: ([A-Za-z0-9_-]{22})$", re.MULTILINE)


@pytest.fixture
def environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, database_url: str, clock: ManualClock) -> None:
    """The command reads the harness's database at the harness's time, has no token (no Telegram to ask), and no
    stray .env."""
    monkeypatch.setattr(Settings, "clock", lambda self: clock)
    monkeypatch.chdir(tmp_path)
    for name in ("TELEGRAM_BOT_TOKEN", "TELEGRAM_API_BASE_URL", "ACCESS", "ADMIN_IDS", "LOG_LEVEL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("DATABASE_URL", database_url)
    monkeypatch.setenv("LOG_LEVEL", "WARNING")


async def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    """`agentcoach team ARGS` in this process (its own event loop, in a thread), with what it printed."""
    capsys.readouterr()
    code = await asyncio.to_thread(cli.main, ["team", *args])
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.usefixtures("environment")
async def test_create_invite_list_and_remove(harness: Harness, capsys: pytest.CaptureFixture[str]) -> None:
    assert await run(capsys, "create", "东区") == (
        0,
        "team '东区' created; invite into it with: agentcoach team invite 东区\n",
        "",
    )
    code, out, err = await run(capsys, "invite", "东区", "--lead", "--uses", "2", "--expires", "12h")
    assert (code, err) == (0, "")
    lines = out.splitlines()
    assert lines[0] == "invite to '东区' as lead: 2 uses, open until 2026-11-25 13:00 UTC"
    found = CODE.search(out)
    assert found is not None
    invite = found.group(1)
    assert lines[2] == f"link: https://t.me/<bot>?start={invite}  (put your bot's username in place of <bot>)"

    reply = await harness.chat(user_id=7001).send(f"/start {invite}")
    assert reply.texts[0].startswith("🤝 你已加入团队「东区」，身份是团队负责人。")
    assert await membership(harness, 7001) == ("东区", TeamRole.LEAD)

    await run(capsys, "create", "West")
    assert await run(capsys, "list") == (
        0,
        "West: 0 members, 0 leads, 0 open invites\n东区: 1 member, 1 lead, 1 open invite\n",
        "",
    )
    assert await run(capsys, "remove", "7001") == (0, "removed 7001 from '东区' (was lead)\n", "")
    assert await membership(harness, 7001) is None
    assert (await harness.chat(user_id=7001).send("/team")).texts[0].startswith("你现在不在任何团队里。")


@pytest.mark.usefixtures("environment")
async def test_refusals_are_one_line_with_an_exit_code(harness: Harness, capsys: pytest.CaptureFixture[str]) -> None:
    await run(capsys, "create", "东区")
    refusals = [
        (("create", " 东区 "), 1, "agentcoach: a team named '东区' already exists"),
        (("create", ""), 1, "agentcoach: a team needs a name"),
        (("create", "x" * 65), 1, "agentcoach: a team name is at most 64 characters"),
        (("invite", "西区"), 1, "agentcoach: no team named '西区' (see: agentcoach team list)"),
        (("invite", "东区", "--uses", "0"), 2, "agentcoach: --uses expects a number 1-10000, got '0'"),
        (("invite", "东区", "--uses", "many"), 2, "agentcoach: --uses expects a number 1-10000, got 'many'"),
        (
            ("invite", "东区", "--expires", "1y"),
            2,
            "agentcoach: --expires expects 30m, 12h, 7d or 2w (at most a year) or never, got '1y'",
        ),
        (("remove", "abc"), 2, "agentcoach: expected a Telegram user id (digits), got 'abc'"),
        (("remove", "42"), 1, "agentcoach: no agent has Telegram user id 42"),
    ]
    for args, exit_code, line in refusals:
        assert await run(capsys, *args) == (exit_code, "", line + "\n"), args
    await harness.chat(user_id=7100).send("/start")  # (in open mode, the default)
    assert await run(capsys, "remove", "7100") == (
        1,
        "",
        "agentcoach: the agent with Telegram user id 7100 is not in a team\n",
    )


@pytest.mark.usefixtures("environment")
async def test_with_a_token_the_link_names_the_bot(
    harness: Harness, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(team_command, "bot_username", lambda settings: "agentcoach_bot")
    await run(capsys, "create", "East")
    code, out, _ = await run(capsys, "invite", "East", "--expires", "never", "--uses", "10")
    what, link = out.splitlines()
    assert (code, what) == (0, "invite to 'East' as member: 10 uses, never expires")
    assert re.fullmatch(r"https://t\.me/agentcoach_bot\?start=[A-Za-z0-9_-]{22}", link)


@pytest.mark.usefixtures("environment")
async def test_list_counts_each_team_and_only_the_invites_that_can_still_let_someone_in(
    harness: Harness, capsys: pytest.CaptureFixture[str]
) -> None:
    used_up = await invite_code(harness, "东区", uses=1)
    await invite_code(harness, "东区", uses=2, expires=timedelta(hours=1))  # expires while unused
    await invite_code(harness, "东区", uses=None, expires=None)  # open-ended
    half_used = await invite_code(harness, "东区", TeamRole.LEAD, uses=2)
    west_lead = await invite_code(harness, "West", TeamRole.LEAD, uses=1)
    await invite_code(harness, "West", uses=5)
    for user, code in ((7201, used_up), (7202, half_used), (7203, west_lead)):
        await harness.chat(user_id=user).send(f"/start {code}")
    listed = "West: 1 member, 1 lead, 1 open invite\n东区: 2 members, 1 lead, {} open invites\n"
    assert await run(capsys, "list") == (0, listed.format(3), "")
    harness.clock.advance(timedelta(hours=1))  # to the second
    assert await run(capsys, "list") == (0, listed.format(2), "")


@pytest.mark.usefixtures("environment")
async def test_removing_a_lead_stops_their_team_digest(harness: Harness, capsys: pytest.CaptureFixture[str]) -> None:
    chat = harness.chat(user_id=7300)
    await onboard(chat)
    await chat.send(f"/start {await invite_code(harness, 'East', TeamRole.LEAD)}")
    assert await team_digests(harness) == 1
    assert await run(capsys, "remove", "7300") == (0, "removed 7300 from 'East' (was lead)\n", "")
    assert await team_digests(harness) == 0


async def team_digests(harness: Harness) -> int:
    """How many weekly team digests wait to be sent."""
    async with harness.services.sessions() as session:
        waiting = (
            select(func.count())
            .select_from(Delivery)
            .where(Delivery.kind == DeliveryKind.TEAM_DIGEST, Delivery.status == DeliveryStatus.PENDING)
        )
        return int(await session.scalar(waiting) or 0)


def test_the_installed_command_says_a_missing_team_in_one_line(tmp_path: Path) -> None:
    result = agentcoach(tmp_path, "team", "invite", "Nowhere", LOG_LEVEL="WARNING")
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == ["agentcoach: no team named 'Nowhere' (see: agentcoach team list)"]
    assert agentcoach(tmp_path, "team", "--help").stdout.startswith("usage: agentcoach team")
