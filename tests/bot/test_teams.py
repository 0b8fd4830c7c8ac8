"""bot/teams.py on its own: invite codes, expiry durations, team names."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.db import session_factory
from bot.models import Team
from bot.statuses import TeamRole
from bot.teams import (
    LONGEST_EXPIRY,
    BadTeamName,
    DuplicateTeam,
    Redeemed,
    TeamError,
    create_invite,
    create_team,
    hash_code,
    parse_duration,
    redeem,
)
from tests.conftest import START

UNITS = {"m": timedelta(minutes=1), "h": timedelta(hours=1), "d": timedelta(days=1), "w": timedelta(weeks=1)}


@pytest.mark.parametrize(
    ("text", "length"),
    [
        ("7d", timedelta(days=7)),
        ("12h", timedelta(hours=12)),
        ("30m", timedelta(minutes=30)),
        ("2w", timedelta(weeks=2)),
        (" 3 D ", timedelta(days=3)),
        ("52w", timedelta(weeks=52)),
        ("365d", timedelta(days=365)),
    ],
)
def test_durations_read(text: str, length: timedelta) -> None:
    assert parse_duration(text) == length


@pytest.mark.parametrize(
    "text", ["", "7", "d", "0d", "-1d", "1.5d", "7 days", "366d", "53w", "1y", "７d", "٣d", "1e3m"]
)
def test_anything_else_is_not_a_duration(text: str) -> None:
    assert parse_duration(text) is None


@given(st.integers(min_value=1, max_value=999_999), st.sampled_from("mhdwMHDW"))
def test_a_number_and_a_unit_is_that_long_or_refused_beyond_a_year(number: int, unit: str) -> None:
    length = number * UNITS[unit.lower()]
    expected = length if length <= LONGEST_EXPIRY else None
    assert parse_duration(f"{number}{unit}") == expected


@given(st.text(max_size=12))
def test_any_text_reads_as_a_duration_within_bounds_or_none_without_raising(text: str) -> None:
    length = parse_duration(text)
    assert length is None or timedelta(0) < length <= LONGEST_EXPIRY


async def test_codes_are_long_random_deep_link_safe_and_stored_only_hashed(engine: AsyncEngine) -> None:
    async with session_factory(engine)() as session, session.begin():
        team = await create_team(session, "东区", START)
        made = [await create_invite(session, team, TeamRole.MEMBER, START, uses=1) for _ in range(50)]
    codes = [code for _, code in made]
    assert len(set(codes)) == 50
    assert all(re.fullmatch(r"[A-Za-z0-9_-]{22}", code) for code in codes)  # 128 bits; Telegram takes 1-64
    assert all(invite.code_hash == hash_code(code) and code not in invite.code_hash for invite, code in made)


async def test_team_names_are_unique_trimmed_and_bounded(engine: AsyncEngine) -> None:
    async with session_factory(engine)() as session, session.begin():
        team = await create_team(session, "  East   side ", START)
        assert team.name == "East side"
        with pytest.raises(DuplicateTeam, match="already exists"):
            await create_team(session, "East side", START)
        assert (await create_team(session, "x" * 64, START)).name == "x" * 64
        for bad in ("", "   ", "x" * 65, "\u202e"):
            with pytest.raises(BadTeamName):
                await create_team(session, bad, START)
        with pytest.raises(TeamError):
            await create_invite(session, team, TeamRole.LEAD, START, uses=0)
        with pytest.raises(TeamError):
            await create_invite(session, team, TeamRole.LEAD, START, uses=1, expires=timedelta(days=400))


async def test_an_invite_expires_at_its_instant(engine: AsyncEngine) -> None:
    from bot.agents import NewAgent

    who = NewAgent(1, 1, "A", "en", "UTC")
    async with session_factory(engine)() as session, session.begin():
        team = Team(name="T", created_at=START)
        session.add(team)
        await session.flush()
        _, code = await create_invite(session, team, TeamRole.MEMBER, START, uses=1, expires=timedelta(hours=1))
        late = await redeem(session, code, who, START + timedelta(hours=1))
        assert late.outcome == Redeemed.EXPIRED and late.agent is None
        just_in_time = await redeem(session, code, who, START + timedelta(minutes=59, seconds=59))
        assert just_in_time.outcome == Redeemed.JOINED and just_in_time.agent is not None


async def test_an_invite_has_one_to_ten_thousand_uses_and_lasts_at_most_a_year(engine: AsyncEngine) -> None:
    async with session_factory(engine)() as session, session.begin():
        team = await create_team(session, "东区", START)
        most, _ = await create_invite(session, team, TeamRole.MEMBER, START, uses=10_000, expires=LONGEST_EXPIRY)
        assert (most.max_uses, most.uses, most.expires_at) == (10_000, 0, START + timedelta(days=365))
        for uses in (0, -1, 10_001):
            with pytest.raises(TeamError, match="1-10000"):
                await create_invite(session, team, TeamRole.MEMBER, START, uses=uses)
        for expires in (timedelta(0), -timedelta(minutes=1), LONGEST_EXPIRY + timedelta(seconds=1)):
            with pytest.raises(TeamError, match="365 days"):
                await create_invite(session, team, TeamRole.MEMBER, START, uses=1, expires=expires)


async def test_two_people_racing_for_the_last_use_cannot_both_get_in(
    engine: AsyncEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The second one read the invite before the first took its last use: the use itself is what decides."""
    from bot import teams
    from bot.agents import NewAgent, find_agent

    sessions = session_factory(engine)
    async with sessions() as session, session.begin():
        team = await create_team(session, "东区", START)
        _, code = await create_invite(session, team, TeamRole.MEMBER, START, uses=1)
    async with sessions() as session, session.begin():
        first = await redeem(session, code, NewAgent(1, 1, "A", "zh-hans", "Asia/Shanghai"), START)
    monkeypatch.setattr(teams, "_refusal", lambda invite, now: None)  # as read before the first one's use
    async with sessions() as session, session.begin():
        second = await redeem(session, code, NewAgent(2, 2, "B", "zh-hans", "Asia/Shanghai"), START)
        assert await find_agent(session, 2) is None
    assert (first.outcome, second.outcome, second.agent) == (Redeemed.JOINED, Redeemed.USED_UP, None)
    assert second.team == "东区"  # (an agent already registered is told which team they did not join)
