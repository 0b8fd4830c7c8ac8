"""The going-cold rule (bot.stale) on both backends: what restarts a cadence and what does not, local calendar
days in two zones across a DST change and a month end, the rule's settings, the opener's sources, and the date
math as a property (an oracle that walks the clock hour by hour)."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot import stale
from bot.agents import NewAgent, get_or_register
from bot.clients import archive_client, log_contact, restore_client
from bot.followups import add_follow_up, mark_done, set_outcome
from bot.models import Agent, Client, ContactLog, Delivery, FollowUp
from bot.statuses import ClientEvent, ContactKind, DeliveryKind, FollowUpStatus, Stage
from bot.tip_library import library

UTC_START = datetime(2026, 10, 20, 0, 0, tzinfo=UTC)


async def an_agent(sessions: async_sessionmaker[AsyncSession], user: int, zone: str, **values: object) -> Agent:
    async with sessions() as session, session.begin():
        agent = await get_or_register(session, NewAgent(user, user, f"A{user}", "zh-Hans", zone), UTC_START)
        agent.setup_step = None
        for name, value in values.items():
            setattr(agent, name, value)
    return agent


async def a_client(
    sessions: async_sessionmaker[AsyncSession], agent: Agent, stage: str, registered: datetime, **details: str
) -> int:
    async with sessions() as session, session.begin():
        client = Client(
            agent_id=agent.id, name=f"C{stage}", stage=stage, archived=False, created_at=registered,
            updated_at=registered, **details,
        )  # fmt: skip
        session.add(client)
        await session.flush()
        return client.id


async def logged(sessions: async_sessionmaker[AsyncSession], client_id: int, kind: str, at: datetime) -> None:
    async with sessions() as session, session.begin():
        session.add(ContactLog(client_id=client_id, kind=kind, note=None, at=at))


async def standing(
    sessions: async_sessionmaker[AsyncSession], agent: Agent, client_id: int, now: datetime
) -> stale.Standing | None:
    async with sessions() as session:
        fresh = await session.get(Agent, agent.id)
        assert fresh is not None
        found = await stale.standings(session, fresh, now)
    return next((each for each in found if each.client_id == client_id), None)


async def test_a_cadence_restarts_at_a_real_contact_only(sessions: async_sessionmaker[AsyncSession]) -> None:
    """Registered Tue 20 Oct (Shanghai), interested (7 days): crosses Tue 27 Oct. A sent nudge, a stage change
    and an open follow-up change nothing; a WeChat does, and a follow-up marked done does."""
    agent = await an_agent(sessions, 1, "Asia/Shanghai")
    registered = datetime(2026, 10, 20, 2, 0, tzinfo=UTC)  # 10:00 local
    client_id = await a_client(sessions, agent, "interested", registered)
    now = datetime(2026, 10, 23, 4, 0, tzinfo=UTC)
    assert (await standing(sessions, agent, client_id, now)).crosses == date(2026, 10, 27)  # type: ignore[union-attr]
    async with sessions() as session, session.begin():
        follow_up = FollowUp(
            agent_id=agent.id, client_id=client_id, due_at=now, note="回电", status=FollowUpStatus.OPEN,
            created_at=now, updated_at=now,
        )  # fmt: skip
        session.add(follow_up)
        await session.flush()
        session.add(
            Delivery(
                agent_id=agent.id, kind=DeliveryKind.FOLLOWUP, subject_id=follow_up.id, due_at=now, status="sent",
                sent_at=now, created_at=now,
            )
        )  # fmt: skip
        session.add(ContactLog(client_id=client_id, kind=ClientEvent.STAGE, note="new>interested", at=now))
    found = await standing(sessions, agent, client_id, now)
    assert found is not None and (found.crosses, found.since) == (date(2026, 10, 27), 3)
    await logged(
        sessions, client_id, ContactKind.WECHAT, datetime(2026, 10, 24, 16, 30, tzinfo=UTC)
    )  # 25th 00:30 local
    later = datetime(2026, 10, 26, 1, 0, tzinfo=UTC)
    assert (await standing(sessions, agent, client_id, later)).crosses == date(2026, 11, 1)  # type: ignore[union-attr]
    async with sessions() as session, session.begin():
        done = await session.get(FollowUp, follow_up.id)
        assert done is not None
        done.status, done.done_at = FollowUpStatus.DONE, datetime(2026, 10, 27, 3, 0, tzinfo=UTC)
    assert (await standing(sessions, agent, client_id, later)).crosses == date(2026, 11, 3)  # type: ignore[union-attr]


async def test_local_days_in_two_zones_across_a_dst_change_and_a_month_end(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    """The same call instant, Sun 1 Nov 06:30 UTC: Vancouver's Sat 31 Oct 23:30 (PDT; clocks go back that night),
    Shanghai's Sun 1 Nov 14:30. Viewing (3 days): Vancouver crosses Tue 3 Nov, Shanghai Wed 4 Nov."""
    call = datetime(2026, 11, 1, 6, 30, tzinfo=UTC)
    expected = {"America/Vancouver": date(2026, 11, 3), "Asia/Shanghai": date(2026, 11, 4)}
    for user, (zone, crosses) in enumerate(expected.items(), start=1):
        agent = await an_agent(sessions, user, zone)
        client_id = await a_client(sessions, agent, "viewing", UTC_START)
        await logged(sessions, client_id, ContactKind.CALL, call)
        # The morning before the crossing, local: on the warning's list, not on the day before or after.
        for day_before in (crosses - timedelta(days=2), crosses - timedelta(days=1), crosses):
            morning = datetime.combine(day_before, time(10), tzinfo=ZoneInfo(zone)).astimezone(UTC)
            async with sessions() as session:
                found = await stale.standings(session, agent, morning)
            warned = [s.client_id for s in stale.warned_on(found, day_before)]
            assert warned == ([client_id] if day_before == crosses - timedelta(days=1) else []), (zone, day_before)
    # Month end: a deposit (2 days) called Mon 30 Nov 23:50 in Shanghai (15:50 UTC) crosses Wed 2 Dec.
    agent = await an_agent(sessions, 3, "Asia/Shanghai")
    client_id = await a_client(sessions, agent, "deposit", UTC_START)
    await logged(sessions, client_id, ContactKind.VISIT, datetime(2026, 11, 30, 15, 50, tzinfo=UTC))
    deposit = await standing(sessions, agent, client_id, datetime(2026, 12, 1, 2, 0, tzinfo=UTC))
    assert deposit is not None and (deposit.crosses, deposit.since) == (date(2026, 12, 2), 1)


async def test_lost_archived_and_switched_off_stages_are_never_watched(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    agent = await an_agent(sessions, 1, "Asia/Shanghai", stale_days={"closed": None, "new": 5})
    watched = await a_client(sessions, agent, "new", UTC_START)
    await a_client(sessions, agent, "lost", UTC_START)
    await a_client(sessions, agent, "closed", UTC_START)
    archived = await a_client(sessions, agent, "interested", UTC_START)
    async with sessions() as session, session.begin():
        (await session.get(Client, archived)).archived = True  # type: ignore[union-attr]
    async with sessions() as session:
        found = await stale.standings(session, agent, UTC_START + timedelta(days=40))
    assert [(s.client_id, s.days) for s in found] == [(watched, 5)]


def test_the_rule_its_steps_and_its_one_line_form() -> None:
    agent = Agent(stale_days={"interested": 10, "viewing": None, "lost": 4, "deposit": "x", "closed": 1})
    assert stale.rule(agent) == {"new": 3, "interested": 10, "viewing": None, "deposit": 2, "closed": 30}
    assert stale.with_stage_days(agent, "interested", 7) == {"viewing": None}  # back to its default: not kept
    assert stale.with_stage_days(Agent(stale_days=None), "new", 3) is None
    steps = [stale.stepped(days, up) for days, up in ((2, False), (None, True), (9, True), (10, True), (15, False))]
    assert steps == [None, 2, 10, 15, 10]
    assert stale.stepped(99, up=True) == 99
    assert stale.parse_rule_change(["意向", "10"]) == stale.RuleChange("interested", 10)
    assert stale.parse_rule_change(["closed", "off"]) == stale.RuleChange("closed", None)
    assert stale.parse_rule_change(["带看", "5天"]) == stale.RuleChange("viewing", 5)
    assert stale.parse_rule_change(["默认"]) == stale.RuleChange(None, None)
    for bad in (["意向"], ["lost", "5"], ["意向", "1"], ["意向", "100"], ["意向", "²"], ["x", "3"], ["意向", "3", "4"]):
        assert stale.parse_rule_change(bad) is None, bad


def test_a_stored_rule_keeps_its_bounds_and_passes_over_what_it_does_not_know() -> None:
    """Read back from the database: 2 and 99 days stand, 1 and 100 (or a bool) give the default, and a stage that
    is not watched is passed over without hiding the ones after it."""
    stored = Agent(stale_days={"lost": 4, "new": 2, "closed": 99, "deposit": 100, "viewing": 1, "interested": True})
    assert stale.rule(stored) == {"new": 2, "interested": 7, "viewing": 3, "deposit": 2, "closed": 99}


def test_the_rule_runs_from_two_to_ninety_nine_days_in_any_case_with_or_without_days() -> None:
    """2 and 99 days are in bounds (typed or stored), 1 and 100 are not; "default" and "days" in any case."""
    defaults = Agent(stale_days=None)
    assert stale.with_stage_days(defaults, "deposit", 3) == {"deposit": 3}
    assert stale.with_stage_days(defaults, "new", 2) == {"new": 2}
    assert stale.with_stage_days(defaults, "closed", 99) == {"closed": 99}
    for days in (1, 100):
        with pytest.raises(ValueError, match=f"{days} days"):  # the refusal names what was refused
            stale.with_stage_days(defaults, "new", days)
    with pytest.raises(ValueError, match="'lost'"):
        stale.with_stage_days(defaults, "lost", 5)
    typed = {
        ("新客户", "2"): stale.RuleChange("new", 2),
        ("closed", "99"): stale.RuleChange("closed", 99),
        ("interested", "10days"): stale.RuleChange("interested", 10),
        ("viewing", "4DAYS"): stale.RuleChange("viewing", 4),
        ("deposit", "5Days"): stale.RuleChange("deposit", 5),
        ("Default",): stale.RuleChange(None, None),
        ("RESET",): stale.RuleChange(None, None),
    }
    for words, change in typed.items():
        assert stale.parse_rule_change(list(words)) == change, words
    for bad in (["closed", "100"], ["new", "days10"], ["new", "1days"]):
        assert stale.parse_rule_change(bad) is None, bad


def test_minus_and_plus_walk_a_day_at_a_time_up_to_ten_and_five_beyond() -> None:
    """➕ from off: on at 2 days, then 3 … 10, then 15, 20 … up to 99 at most. ➖ from 20: 15, 10, then 9 … 2, then
    off, and ➖ on a stage that is off leaves it off."""
    up: list[int | None] = []
    days: int | None = None
    while days != stale.MOST_DAYS:
        days = stale.stepped(days, up=True)
        up.append(days)
    assert up == [*range(2, 11), *range(15, 96, 5), 99]
    down: list[int | None] = []
    days = 20
    for _ in range(12):
        days = stale.stepped(days, up=False)
        down.append(days)
    assert down == [15, 10, 9, 8, 7, 6, 5, 4, 3, 2, None, None]


async def test_the_words_read_are_the_asked_clients_own_newest_and_never_a_cancelled_plan(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    """Two agents (Shanghai, Vancouver). 王先生: a WeChat with a note, a follow-up done (its outcome typed a day
    later), then a call with a note: the call is what was said last time, the outcome dated by the follow-up done;
    a newer follow-up with only a note is the plan. 李小姐: her one follow-up cancelled when she was archived, then
    restored: no words at all. 陈太: only a done follow-up's outcome (and a call without a note). 赵总: only plans, two
    written in the same instant.
    Nothing of the other agent's client is read, even asked for by id."""
    shanghai = await an_agent(sessions, 1, "Asia/Shanghai")
    vancouver = await an_agent(sessions, 2, "America/Vancouver")
    wang = await a_client(sessions, shanghai, "interested", UTC_START)
    li = await a_client(sessions, shanghai, "new", UTC_START)
    chen = await a_client(sessions, shanghai, "deposit", UTC_START)
    zhao = await a_client(sessions, shanghai, "viewing", UTC_START)
    zhang = await a_client(sessions, vancouver, "viewing", UTC_START)
    t0 = UTC_START + timedelta(days=1)

    async def step(hours: int, client_id: int, do: str, words: str | None = None) -> None:
        now = t0 + timedelta(hours=hours)
        async with sessions() as session, session.begin():
            client = await session.get(Client, client_id)
            assert client is not None
            agent = await session.get(Agent, client.agent_id)
            assert agent is not None
            if do == "plan":
                await add_follow_up(session, agent, client, now + timedelta(days=1), words, now)
            elif do in ("done", "outcome"):
                [follow_up] = (
                    await session.execute(
                        select(FollowUp).where(FollowUp.client_id == client_id).order_by(FollowUp.id).limit(1)
                    )
                ).scalars()
                if do == "done":
                    await mark_done(session, follow_up, now)
                else:
                    await set_outcome(follow_up, words or "", now)
            elif do == "archive":
                await archive_client(session, client, now)
            elif do == "restore":
                assert await restore_client(session, client, now) is None
            else:
                await log_contact(session, client, do, words, now)

    await step(0, wang, "plan", "回电")
    await step(1, wang, ContactKind.WECHAT, "看了江景房")
    await step(2, wang, "done")
    await step(26, wang, ContactKind.CALL, "约了周六再看")
    await step(27, wang, "plan", "带看新房")
    await step(30, wang, "outcome", "嫌贵 想再等等")  # about the follow-up done at hour 2: before the call
    await step(0, li, "plan", "带看学区房")
    await step(1, li, "archive")
    await step(2, li, "restore")
    await step(0, chen, "plan")
    await step(3, chen, "done")
    await step(3, chen, "outcome", "签约定在周五")
    await step(4, chen, ContactKind.CALL)
    await step(5, zhao, "plan", "回电")
    await step(5, zhao, "plan", "带看江景房")  # the same instant (as an import writes them): the later one is the plan
    await step(0, zhang, "plan", "villa viewing")
    await step(1, zhang, ContactKind.VISIT, "hates noise")
    async with sessions() as session:
        notes = await stale.latest_notes(session, [wang, li, chen, zhao])
        assert notes == {
            wang: stale.Said(talked="约了周六再看", planned="带看新房"),
            chen: stale.Said(talked="签约定在周五"),
            zhao: stale.Said(planned="带看江景房"),
        }
        assert await stale.latest_notes(session, []) == {}
        mine = await stale.clients_by_id(session, shanghai.id, [wang, zhang])
        theirs = await stale.clients_by_id(session, vancouver.id, [wang, li, zhang])
    assert {client_id: client.name for client_id, client in mine.items()} == {wang: "Cinterested"}
    assert {client_id: client.name for client_id, client in theirs.items()} == {zhang: "Cviewing"}


def test_the_opener_builds_on_the_newest_words_and_else_says_nothing_of_the_client() -> None:
    client = Client(name="王先生", stage="viewing", needs="三居 学区", budget="300万", notes=None)
    said = stale.Said(talked="聊了学区，约周六再看", planned="回电")
    assert stale.opener(client, said) == stale.Opener("talked", "聊了学区，约周六再看")
    assert stale.opener(client, stale.Said(planned="回电")) == stale.Opener("needs", "三居 学区")
    assert stale.opener(Client(name="李", stage="new"), stale.Said(planned="回电")) == stale.Opener("planned", "回电")
    assert stale.opener(Client(name="李", stage="new", budget="300万"), None) == stale.Opener("budget", "300万")
    noted = Client(name="李", stage="new", notes="喜欢 江景", budget="500万")
    assert stale.opener(noted, stale.Said(planned="回电")) == stale.Opener("notes", "喜欢 江景")
    assert stale.opener(Client(name="李", stage="new", needs="  "), None) == stale.Opener("neutral_open")
    assert stale.opener(Client(name="李", stage="closed"), None) == stale.Opener("neutral_closed")


def test_every_watched_stage_has_its_own_tip_and_a_library_without_it_falls_back() -> None:
    lib = library()
    for stage in stale.WATCHED:
        tip = stale.tip_for(lib, stage)
        assert tip is not None and tip.id == stale.STAGE_TIPS[stage]  # no id is a typo the fallback would hide
    without = replace(lib, tips=tuple(tip for tip in lib.tips if tip.id not in stale.STAGE_TIPS.values()))
    fallback = stale.tip_for(without, Stage.NEW)
    first = next(tip for tip in without.tips if stale.FALLBACK_TOPIC in tip.topics)
    assert fallback == first and len([tip for tip in without.tips if stale.FALLBACK_TOPIC in tip.topics]) > 1
    bare = replace(without, tips=tuple(tip for tip in without.tips if stale.FALLBACK_TOPIC not in tip.topics))
    assert stale.tip_for(bare, Stage.NEW) is None  # a library without a follow-up tip: no tip, no error


ZONES = ("Asia/Shanghai", "America/Vancouver", "Australia/Sydney", "Asia/Kathmandu", "Pacific/Chatham", "UTC")


def crossing_by_walking(last: datetime, days: int, zone: str) -> date:
    """The oracle: walk the clock forward an hour at a time from the contact, counting local midnights passed;
    the rule is crossed on the local day the count reaches `days`."""
    local = ZoneInfo(zone)
    day, passed, moment = last.astimezone(local).date(), 0, last
    while passed < days:
        moment += timedelta(hours=1)
        today = moment.astimezone(local).date()
        if today != day:
            day, passed = today, passed + 1
    return day


@settings(max_examples=60, deadline=None)
@given(
    last=st.datetimes(min_value=datetime(2026, 1, 1), max_value=datetime(2027, 12, 31), timezones=st.just(UTC)),
    days=st.integers(stale.FEWEST_DAYS, 40),
    zone=st.sampled_from(ZONES),
)
def test_the_crossing_day_is_n_local_midnights_after_the_contact(last: datetime, days: int, zone: str) -> None:
    crosses = stale.crossing_day(last, days, zone)
    assert crosses == crossing_by_walking(last, days, zone)
    # Exactly one morning's warning holds it: the day before, whatever "today" the list is drawn for.
    found = [stale.Standing(1, "new", last, days, 0, crosses)]
    warned = [d for d in range(-1, days + 2) if stale.warned_on(found, crosses - timedelta(days=d))]
    assert warned == [1]


@pytest.mark.parametrize("zone", ["Asia/Shanghai", "America/Vancouver"])
def test_the_crossing_day_at_local_midnight(zone: str) -> None:
    midnight = datetime(2026, 11, 30, 0, 0, tzinfo=ZoneInfo(zone)).astimezone(UTC)
    assert stale.crossing_day(midnight, 2, zone) == date(2026, 12, 2)
    assert stale.crossing_day(midnight - timedelta(seconds=1), 2, zone) == date(2026, 12, 1)
