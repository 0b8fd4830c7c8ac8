"""The agent's week in numbers (bot.week), checked against numbers worked out by hand from seeded rows.

A week is the agent's local Monday–Sunday. The seeded Shanghai week below is written row by row with the count each
row adds, so every expected number can be read off the seed; a second agent's rows sit in the same week and must
not show. Berlin's week of the DST change (Sunday 2026-10-25) checks that rows at 00:30 on a Monday and 23:30 on a
Sunday land in the week their local date says.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from bot.db import session_factory
from bot.i18n import EN, ZH_HANS, ZH_HANT
from bot.models import Agent, Client, ContactLog, FollowUp, Reflection, TipState
from bot.statuses import WeakSpot
from bot.tip_library import library
from bot.tips import choose as next_tip_in_rotation
from bot.tips import states
from bot.week import Day, Numbers, Week, Written, choose, numbers, reason_text, report, weak_spot

SHANGHAI = ZoneInfo("Asia/Shanghai")
BERLIN = ZoneInfo("Europe/Berlin")
CREATED = datetime(2026, 9, 1, tzinfo=UTC)

# The seeded week: Monday 23 – Sunday 29 November 2026, looked at on Sunday evening at 20:00 in Shanghai.
THIS = Week(date(2026, 11, 23))
LAST = Week(date(2026, 11, 16))
SUNDAY_EVENING = datetime(2026, 11, 29, 20, 0, tzinfo=SHANGHAI).astimezone(UTC)


def sh(day: int, hour: int, minute: int = 0, month: int = 11) -> datetime:
    """A wall-clock time in Shanghai in November 2026 (or `month`), as the UTC instant stored."""
    return datetime(2026, month, day, hour, minute, tzinfo=SHANGHAI).astimezone(UTC)


def new_agent(user_id: int, zone: str = "Asia/Shanghai") -> Agent:
    return Agent(
        telegram_user_id=user_id,
        chat_id=user_id,
        display_name=f"A{user_id}",
        language=ZH_HANS,
        timezone=zone,
        reflection_time=time(21, 0),
        work_days="123456",
        digest_weekday=7,
        digest_time=time(20, 0),
        created_at=CREATED,
        updated_at=CREATED,
    )


@dataclass
class Seed:
    """Adds rows for one agent in a session."""

    session: AsyncSession
    agent: Agent
    clients: dict[str, Client] = field(default_factory=dict)

    async def client(self, name: str, created: datetime, archived: bool = False) -> Client:
        client = Client(
            agent_id=self.agent.id,
            name=name,
            phone="+8613800138000",
            stage="new",
            archived=archived,
            created_at=created,
            updated_at=created,
        )
        self.session.add(client)
        await self.session.flush()
        self.clients[name] = client
        return client

    def reflection(self, day: date, status: str, clients: int | None, mood: int | None, **texts: str | None) -> None:
        self.session.add(
            Reflection(
                agent_id=self.agent.id,
                day=day,
                status=status,
                clients=clients,
                mood=mood,
                voice={},
                created_at=CREATED,
                updated_at=CREATED,
                **texts,
            )
        )

    def log(self, name: str, kind: str, at: datetime, note: str | None = None) -> None:
        self.session.add(ContactLog(client_id=self.clients[name].id, kind=kind, note=note, at=at))

    def follow_up(
        self, name: str, due: datetime, status: str = "open", done: datetime | None = None, note: str | None = None
    ) -> None:
        self.session.add(
            FollowUp(
                agent_id=self.agent.id,
                client_id=self.clients[name].id,
                due_at=due,
                note=note,
                status=status,
                done_at=done,
                created_at=CREATED,
                updated_at=CREATED,
            )
        )


@pytest.fixture
async def session(engine: AsyncEngine) -> AsyncIterator[AsyncSession]:
    async with session_factory(engine)() as session:
        yield session
        await session.rollback()


async def add_agent(session: AsyncSession, user_id: int, zone: str = "Asia/Shanghai") -> Seed:
    agent = new_agent(user_id, zone)
    session.add(agent)
    await session.flush()
    return Seed(session, agent)


LONG_LESSON = "客户说考虑一下的时候，要问清楚到底顾虑什么：价格、学区还是贷款"
MONDAY_PLAN = "约王先生周三下午看房"


async def seed_shanghai_week(session: AsyncSession) -> Agent:
    """Agent 1's fortnight (the counts each row adds are in the comments), and agent 2's rows in the same days."""
    me = await add_agent(session, 1)
    d = THIS.days  # Monday … Sunday

    # Reflections on four days of this week: Monday begun only (not done), Thursday, Friday, Saturday done.
    # clients 1 + 3 + 5 + 2 = 11; moods 2, 4, 5, 3 → 3.5; streak on Sunday (a day off): Sat, Fri, Thu → 3.
    me.reflection(
        d[0], "open", 1, 2, lesson="先听客户说完再推荐", went_well="  带看两组  ", tomorrow="约王先生周三下午看房"
    )
    me.reflection(
        d[3],
        "done",
        3,
        4,
        lesson="客户说考虑一下的时候，要问清楚到底顾虑什么：价格、学区还是贷款",
        tomorrow="整理本周带看记录",
    )
    me.reflection(d[4], "done", 5, 5, lesson="每天至少打二十个电话", went_well="签了一单", tomorrow="周六带看两套")
    me.reflection(d[5], "done", 2, 3, lesson="多打电话", to_improve="跟进太慢", tomorrow="下周一回访张先生")
    # Last week: Friday and Saturday done (clients 4 + 2, moods 3 and 5 → 4.0), Sunday skipped; streak 2.
    me.reflection(LAST.days[4], "done", 4, 3, lesson="上周的心得")
    me.reflection(LAST.days[5], "done", 2, 5)
    me.reflection(LAST.days[6], "skipped", None, None)

    # Clients: two from before, one registered late on last Sunday, three this week (one since archived).
    await me.client("王先生", sh(10, 12, month=10))
    await me.client("李女士", sh(10, 12, month=10))
    await me.client("赵先生", sh(22, 23, 30))  # last week's one new client
    await me.client("张先生", sh(23, 0, 30))  # new this week: Monday 00:30
    await me.client("陈女士", sh(25, 10), archived=True)  # new this week, archived
    await me.client("刘先生", sh(29, 11))  # new this week

    # Contacts this week: call 3, message 2, viewing 2; per day Mon 2, Tue 1, Wed 1, Thu 1, Fri 0, Sat 1, Sun 1.
    me.log("王先生", "call", sh(23, 0, 30))
    me.log("张先生", "call", sh(23, 10))
    me.log("王先生", "message", sh(24, 9))
    me.log("李女士", "call", sh(25, 14))
    me.log("李女士", "viewing", sh(26, 15))
    me.log("王先生", "viewing", sh(28, 10))
    me.log("刘先生", "message", sh(29, 19))
    # Stage moves this week: two to viewing, one to closed; a note this version cannot read counts nothing.
    me.log("李女士", "stage", sh(26, 15, 1), "interested>viewing")
    me.log("王先生", "stage", sh(28, 10, 1), "interested>viewing")
    me.log("张先生", "stage", sh(29, 10), "viewing>closed")
    me.log("刘先生", "stage", sh(29, 11), "new>nowhere")
    # Last week: a visit on Wednesday, a call at 23:30 on Sunday (its last half hour).
    me.log("王先生", "visit", sh(18, 15))
    me.log("赵先生", "call", sh(22, 23, 30))

    # Follow-ups done this week: 4 (Mon 2, Tue 1, Wed 1); on time 2, late 2.
    me.follow_up("王先生", sh(23, 10), "done", sh(23, 23, 30))  # done the evening it was due: on time (Mon)
    me.follow_up("李女士", sh(24, 15), "done", sh(25, 9))  # due Tuesday, done Wednesday: late (Wed)
    me.follow_up("张先生", sh(25, 10), "done", sh(24, 18))  # done a day early: on time (Tue)
    me.follow_up("王先生", sh(20, 10), "done", sh(23, 8))  # due last Friday, done Monday: late, this week (Mon)
    # Still overdue: 3 (王先生 since Tuesday, 李女士 since Wednesday and Thursday).
    me.follow_up("王先生", sh(24, 9))
    me.follow_up("李女士", sh(25, 8))
    me.follow_up("李女士", sh(26, 10))
    me.follow_up("刘先生", sh(29, 21))  # due tonight, after 20:00: not overdue yet
    me.follow_up("王先生", sh(25, 11), "cancelled")  # cancelled: counts nowhere
    # Booked next week, in time order: 刘先生 Monday 00:30 (no note), 王先生 Tuesday 10:00.
    me.follow_up("王先生", sh(1, 10, month=12), note="带合同")
    me.follow_up("刘先生", sh(30, 0, 30))
    # Last week: one done on time (Thu), one still open since Wednesday.
    me.follow_up("王先生", sh(19, 10), "done", sh(19, 20))
    me.follow_up("李女士", sh(18, 9))

    # Agent 2, same days: none of this may count for agent 1.
    other = await add_agent(session, 2)
    other.reflection(d[0], "done", 9, 1, lesson="别人的心得，不能出现", tomorrow="别人的计划")
    other.reflection(d[6], "done", 9, 1, lesson="别人的心得，不能出现")
    await other.client("外人", sh(24, 12))
    other.log("外人", "call", sh(24, 13))
    other.log("外人", "visit", sh(25, 13))
    other.log("外人", "stage", sh(25, 13), "new>closed")
    other.follow_up("外人", sh(24, 9), "done", sh(24, 10))
    other.follow_up("外人", sh(24, 11))
    other.follow_up("外人", sh(30, 9), note="别人的跟进")
    await session.flush()
    return me.agent


def days(week: Week, contacts: list[int], done: list[int], moods: list[int | None]) -> tuple[Day, ...]:
    return tuple(Day(day, contacts[n], done[n], moods[n]) for n, day in enumerate(week.days))


SHANGHAI_THIS = Numbers(
    week=THIS,
    reflections_done=3,
    streak=3,
    clients_received=11,
    new_clients=3,
    contacts={"call": 3, "message": 2, "viewing": 2},
    follow_ups_done=4,
    done_on_time=2,
    done_late=2,
    still_overdue=3,
    stage_moves={"viewing": 2, "closed": 1},
    mood_average=3.5,
    days=days(THIS, [2, 1, 1, 1, 0, 1, 1], [2, 1, 1, 0, 0, 0, 0], [2, None, None, 4, 5, 3, None]),
)
SHANGHAI_LAST = Numbers(
    week=LAST,
    reflections_done=2,
    streak=2,
    clients_received=6,
    new_clients=1,
    contacts={"call": 1, "visit": 1},
    follow_ups_done=1,
    done_on_time=1,
    done_late=0,
    still_overdue=1,
    stage_moves={},
    mood_average=4.0,
    days=days(LAST, [0, 0, 1, 0, 0, 0, 1], [0, 0, 0, 1, 0, 0, 0], [None, None, None, None, 3, 5, None]),
)


async def test_the_seeded_week_counts_exactly_the_agents_own_rows(session: AsyncSession) -> None:
    agent = await seed_shanghai_week(session)
    assert await numbers(session, agent, THIS, SUNDAY_EVENING) == SHANGHAI_THIS
    assert await numbers(session, agent, LAST, SUNDAY_EVENING) == SHANGHAI_LAST


async def test_the_week_in_progress_counts_up_to_now(session: AsyncSession) -> None:
    """On Wednesday noon: Monday's begun reflection is no streak; overdue is what was due before noon."""
    agent = await seed_shanghai_week(session)
    counted = await numbers(session, agent, THIS, sh(25, 12))
    assert counted.streak == 0  # Tuesday had no reflection, Wednesday none yet, Monday's only begun
    assert counted.still_overdue == 2  # 王先生 since Tuesday 09:00, 李女士 since Wednesday 08:00
    # The week's other rows are counted as they are stored, whenever it is asked.
    assert counted.follow_ups_done == 4 and counted.contacts_total == 7


async def test_the_report_of_the_seeded_week(session: AsyncSession) -> None:
    agent = await seed_shanghai_week(session)
    made = await report(session, agent, SUNDAY_EVENING)
    assert (made.agent_id, made.language, made.zone, made.now) == (agent.id, ZH_HANS, "Asia/Shanghai", SUNDAY_EVENING)
    assert (made.this, made.last) == (SHANGHAI_THIS, SHANGHAI_LAST)
    d = THIS.days
    # Lessons: the most recent (Sat), the longest of the rest (Thu), the next most recent (Fri); Monday's left out.
    assert made.lessons == (
        Written(d[3], LONG_LESSON),
        Written(d[4], "每天至少打二十个电话"),
        Written(d[5], "多打电话"),
    )
    assert made.went_well == (Written(d[0], "带看两组"), Written(d[4], "签了一单"))
    assert made.to_improve == (Written(d[5], "跟进太慢"),)
    # Plans: Saturday's (the latest), Monday's (the longest of the rest), Friday's (the next most recent).
    assert made.plans == (
        Written(d[0], MONDAY_PLAN),
        Written(d[4], "周六带看两套"),
        Written(d[5], "下周一回访张先生"),
    )
    assert [(b.at.replace(tzinfo=None), b.at.utcoffset(), b.client, b.note) for b in made.booked] == [
        (datetime(2026, 11, 30, 0, 30), timedelta(hours=8), "刘先生", None),
        (datetime(2026, 12, 1, 10, 0), timedelta(hours=8), "王先生", "带合同"),
    ]
    assert made.overdue_clients == ("王先生", "李女士")
    # Three follow-ups still overdue: the tip is a follow-up tip.
    assert made.tip is not None
    assert (made.tip.topic, made.tip.reason) == ("follow-up", WeakSpot.OVERDUE)
    assert made.tip.tip_id in {tip.id for tip in library().tips_in("follow-up")}


async def test_last_weeks_report_is_the_week_before_with_its_own_week_before(session: AsyncSession) -> None:
    agent = await seed_shanghai_week(session)
    made = await report(session, agent, SUNDAY_EVENING, last=True)
    assert made.this == SHANGHAI_LAST
    assert made.last.week == Week(date(2026, 11, 9)) and made.last.empty
    assert made.lessons == (Written(LAST.days[4], "上周的心得"),)
    assert made.plans == ()
    # Booked in the week after last week: this week's open follow-ups, in time order.
    assert [(b.client, b.at.day, b.at.hour) for b in made.booked] == [
        ("王先生", 24, 9),
        ("李女士", 25, 8),
        ("李女士", 26, 10),
        ("刘先生", 29, 21),
    ]
    assert made.overdue_clients == ("李女士",)


async def test_no_other_agents_words_in_the_report(session: AsyncSession) -> None:
    agent = await seed_shanghai_week(session)
    made = await report(session, agent, SUNDAY_EVENING)
    shown = repr(made)
    assert "别人" not in shown and "外人" not in shown and "+86" not in shown


async def test_at_most_ten_booked_in_time_order_and_three_overdue_names_oldest_first(session: AsyncSession) -> None:
    me = await add_agent(session, 1)
    for n in range(12):
        await me.client(f"客户{n}", sh(1, 12))
    for n in range(12):  # next week, booked in reverse order of time: 客户11 is the earliest
        me.follow_up(f"客户{n}", sh(30, 9) + timedelta(hours=12 - n))
    for n in range(5):  # overdue this week, 客户4 the oldest
        me.follow_up(f"客户{n}", sh(28, 9) - timedelta(hours=n))
    me.follow_up("客户4", sh(28, 12))  # a second overdue one for the same client: its name once
    await session.flush()
    made = await report(session, me.agent, SUNDAY_EVENING)
    assert [b.client for b in made.booked] == [f"客户{n}" for n in range(11, 1, -1)]
    assert made.overdue_clients == ("客户4", "客户3", "客户2")


async def test_rows_at_local_midnight_belong_to_the_day_that_begins(session: AsyncSession) -> None:
    """Monday 00:00 is this week's first instant and next Monday 00:00 the next week's; an instant that is exactly
    `now` is not overdue yet; a log entry of a kind this version does not know counts nothing."""
    me = await add_agent(session, 1)
    now = sh(26, 12)
    await me.client("甲", sh(23, 0))  # new this week
    await me.client("乙", sh(30, 0))  # new next week
    me.log("甲", "call", sh(23, 0))  # Monday
    me.log("甲", "call", sh(24, 0))  # Tuesday
    me.log("甲", "call", sh(30, 0))  # next week
    me.log("甲", "email", sh(25, 10))  # unknown kind
    me.log("甲", "viewing", sh(23, 9))  # Monday, another kind
    me.log("乙", "visit", sh(24, 9))  # Tuesday
    for day, mood in ((23, 4), (24, 3), (25, 3)):  # 10 / 3 = 3.33… → 3.3
        me.reflection(date(2026, 11, day), "done", None, mood)
    me.follow_up("甲", sh(23, 10), "done", sh(23, 0))  # done Monday 00:00, early: on time
    me.follow_up("甲", sh(24, 10), "done", sh(30, 0))  # done next week
    me.follow_up("甲", sh(23, 0))  # overdue since the week's first instant
    me.follow_up("乙", now)  # due this very moment: not overdue yet
    me.follow_up("乙", sh(30, 0))  # booked: next week's first instant
    me.follow_up("甲", sh(7, 0, month=12))  # the week after next: not booked
    await session.flush()
    made = await report(session, me.agent, now)
    # In the order of ContactKind (not of the alphabet, nor of the days).
    assert list(made.this.contacts.items()) == [("call", 2), ("visit", 1), ("viewing", 1)]
    assert [day.contacts for day in made.this.days] == [2, 2, 0, 0, 0, 0, 0]
    assert made.this.mood_average == 3.3
    assert made.this.new_clients == 1
    assert (made.this.follow_ups_done, made.this.done_on_time, made.this.days[0].follow_ups_done) == (1, 1, 1)
    assert made.this.still_overdue == 1 and made.overdue_clients == ("甲",)
    assert made.last.still_overdue == 0  # due at this week's first instant: not last week's
    assert [(b.client, b.at.replace(tzinfo=None)) for b in made.booked] == [("乙", datetime(2026, 11, 30, 0, 0))]


# ------------------------------------------------------------------------------------ across the DST change


def berlin(month: int, day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2026, month, day, hour, minute, tzinfo=BERLIN).astimezone(UTC)


BEFORE_DST_END = Week(date(2026, 10, 19))  # Berlin falls back from 03:00 CEST to 02:00 CET on Sunday the 25th
AFTER_DST_END = Week(date(2026, 10, 26))


async def test_a_berlin_week_across_the_dst_change_keeps_rows_in_their_local_week(session: AsyncSession) -> None:
    me = await add_agent(session, 7, "Europe/Berlin")
    await me.client("Anna", berlin(10, 1, 12))
    # Sunday 18 Oct 23:30 CEST: the week before, not counted in either.
    me.log("Anna", "call", berlin(10, 18, 23, 30))
    await me.client("Ben", berlin(10, 18, 23, 30))
    # Monday 19 Oct 00:30 CEST (22:30 UTC on the 18th): the first week's Monday.
    me.log("Anna", "call", berlin(10, 19, 0, 30))
    await me.client("Cleo", berlin(10, 19, 0, 30))
    # Sunday 25 Oct 23:30 CET (22:30 UTC, the day has 25 hours): the first week's Sunday.
    me.log("Anna", "visit", berlin(10, 25, 23, 30))
    me.follow_up("Anna", berlin(10, 25, 8), "done", berlin(10, 25, 23, 30))  # due that morning: on time
    # Monday 26 Oct 00:30 CET (23:30 UTC on the 25th): the second week's Monday.
    me.log("Anna", "message", berlin(10, 26, 0, 30))
    me.follow_up("Anna", berlin(10, 25, 23), "done", berlin(10, 26, 0, 30))  # due Sunday 23:00: an hour late
    await me.client("Dora", berlin(10, 26, 0, 30))
    # Sunday 1 Nov 23:30 CET: the second week's Sunday; Monday 2 Nov 00:30: the week after.
    me.log("Anna", "call", berlin(11, 1, 23, 30))
    me.log("Anna", "call", berlin(11, 2, 0, 30))
    await me.client("Emil", berlin(11, 2, 0, 30))
    me.follow_up("Anna", berlin(11, 1, 23, 30))  # open, due in the second week
    me.follow_up("Anna", berlin(11, 2, 0, 30))  # open, due the week after
    me.reflection(date(2026, 10, 25), "done", 2, 4)
    me.reflection(date(2026, 10, 26), "done", 1, 2)
    await session.flush()

    # Sunday 1 Nov 20:00: the second week so far, the first beside it.
    made = await report(session, me.agent, berlin(11, 1, 20))
    first, second = made.last, made.this
    assert first.week == BEFORE_DST_END and second.week == AFTER_DST_END
    assert first.contacts == {"call": 1, "visit": 1}
    assert [day.contacts for day in first.days] == [1, 0, 0, 0, 0, 0, 1]
    assert (first.follow_ups_done, first.done_on_time, first.done_late) == (1, 1, 0)
    assert [day.follow_ups_done for day in first.days] == [0, 0, 0, 0, 0, 0, 1]
    assert first.new_clients == 1  # Cleo
    assert (first.reflections_done, first.mood_average, first.days[6].mood) == (1, 4.0, 4)
    assert second.contacts == {"call": 1, "message": 1}
    assert [day.contacts for day in second.days] == [1, 0, 0, 0, 0, 0, 1]
    assert (second.follow_ups_done, second.done_on_time, second.done_late) == (1, 0, 1)
    assert [day.follow_ups_done for day in second.days] == [1, 0, 0, 0, 0, 0, 0]
    assert second.new_clients == 1  # Dora
    assert second.still_overdue == 0  # due at 23:30, and it is 20:00
    assert (second.reflections_done, second.mood_average) == (1, 2.0)
    # Booked the week after: Monday 2 Nov 00:30 CET.
    assert [(b.at.replace(tzinfo=None), b.at.utcoffset()) for b in made.booked] == [
        (datetime(2026, 11, 2, 0, 30), timedelta(hours=1))
    ]
    # A week later, Sunday's 23:30 follow-up is overdue in the second week.
    assert (await numbers(session, me.agent, AFTER_DST_END, berlin(11, 8, 12))).still_overdue == 1


# ---------------------------------------------------------------------------------------- a brand-new agent


async def test_a_brand_new_agent_has_an_empty_week(session: AsyncSession) -> None:
    me = await add_agent(session, 9)
    made = await report(session, me.agent, SUNDAY_EVENING)
    for counted, week in ((made.this, THIS), (made.last, LAST)):
        assert counted == Numbers(week=week, days=tuple(Day(day) for day in week.days))
        assert counted.empty and counted.contacts_total == 0
    assert (made.lessons, made.went_well, made.to_improve, made.plans) == ((), (), (), ())
    assert (made.booked, made.overdue_clients) == ((), ())
    assert made.tip is not None
    assert (made.tip.topic, made.tip.reason) == ("prospecting", WeakSpot.NO_NEW_CLIENTS)


# --------------------------------------------------------------------------------------------- the tip


async def test_the_tip_is_the_next_unseen_of_its_topic(session: AsyncSession) -> None:
    """Every prospecting tip shown once but one: that one is next."""
    me = await add_agent(session, 9)
    prospecting = [tip.id for tip in library().tips_in("prospecting")]
    assert len(prospecting) >= 2
    for tip_id in prospecting[1:]:
        session.add(TipState(agent_id=me.agent.id, tip_id=tip_id, shown=1, rating=0, last_shown_at=CREATED))
    await session.flush()
    made = await report(session, me.agent, SUNDAY_EVENING)
    assert made.tip is not None and made.tip.tip_id == prospecting[0]


async def test_the_tip_follows_each_agents_own_rotation(session: AsyncSession) -> None:
    """What /tip prospecting would give each agent next (the rotation's own order differs from agent to agent)."""
    for user_id in range(1, 5):
        me = await add_agent(session, user_id)
        made = await report(session, me.agent, SUNDAY_EVENING)
        expected = next_tip_in_rotation(library(), me.agent.id, {}, "prospecting")
        assert made.tip is not None and expected is not None and made.tip.tip_id == expected.id


async def test_every_tip_of_the_topic_rated_down_gives_the_next_of_the_library(session: AsyncSession) -> None:
    me = await add_agent(session, 9)
    prospecting = {tip.id for tip in library().tips_in("prospecting")}
    for tip_id in prospecting:
        session.add(TipState(agent_id=me.agent.id, tip_id=tip_id, shown=1, rating=-1, last_shown_at=CREATED))
    await session.flush()
    made = await report(session, me.agent, SUNDAY_EVENING)
    assert made.tip is not None and made.tip.tip_id not in prospecting
    tip = library().tip(made.tip.tip_id)
    assert tip is not None and made.tip.topic == tip.topics[0] and made.tip.reason == WeakSpot.NO_NEW_CLIENTS
    # The next of the agent's own walk through the whole library, as a daily tip would bring it.
    expected = next_tip_in_rotation(library(), me.agent.id, await states(session, me.agent.id))
    assert expected is not None and made.tip.tip_id == expected.id


def week_of(**counts: object) -> Numbers:
    return Numbers(week=THIS, **counts)  # type: ignore[arg-type]


STEADY = {"new_clients": 1, "reflections_done": 1, "mood_average": 3.0, "done_on_time": 1}


@pytest.mark.parametrize(
    ("counts", "spot"),
    [
        (STEADY, WeakSpot.STEADY),
        ({**STEADY, "still_overdue": 2}, WeakSpot.OVERDUE),
        ({**STEADY, "still_overdue": 1}, WeakSpot.STEADY),
        ({**STEADY, "done_late": 2, "done_on_time": 1}, WeakSpot.OVERDUE),
        ({**STEADY, "done_late": 1, "done_on_time": 1}, WeakSpot.STEADY),
        ({**STEADY, "mood_average": 2.5}, WeakSpot.LOW_MOOD),
        ({**STEADY, "mood_average": 2.6}, WeakSpot.STEADY),
        ({**STEADY, "mood_average": None}, WeakSpot.STEADY),
        ({**STEADY, "mood_average": 1.0, "still_overdue": 2}, WeakSpot.OVERDUE),  # promises to clients come first
        ({**STEADY, "new_clients": 0}, WeakSpot.NO_NEW_CLIENTS),
        ({**STEADY, "new_clients": 0, "mood_average": 2.0}, WeakSpot.LOW_MOOD),
        ({**STEADY, "reflections_done": 0}, WeakSpot.NO_REFLECTIONS),
        ({**STEADY, "reflections_done": 0, "new_clients": 0}, WeakSpot.NO_NEW_CLIENTS),
        ({}, WeakSpot.NO_NEW_CLIENTS),
    ],
)
def test_weak_spot_rules(counts: dict[str, object], spot: WeakSpot) -> None:
    assert weak_spot(week_of(**counts)) == spot


def test_the_reason_is_one_line_with_the_weeks_number() -> None:
    overdue = week_of(still_overdue=2, done_late=1)
    assert reason_text(ZH_HANS, WeakSpot.OVERDUE, overdue) == "本周有 3 条跟进晚了才做或仍然逾期。"
    assert reason_text(EN, WeakSpot.OVERDUE, overdue) == "3 follow-ups this week were done late or are still overdue."
    assert reason_text(EN, WeakSpot.OVERDUE, week_of(done_late=1)).startswith("1 follow-up this week was")
    assert "2.3" in reason_text(ZH_HANT, WeakSpot.LOW_MOOD, week_of(mood_average=2.3))
    assert [reason_text(EN, spot, week_of(mood_average=2.0)) for spot in WeakSpot if spot != WeakSpot.OVERDUE] == [
        "Your average mood this week was 2.0 out of 5: look after yourself first.",
        "No new clients registered this week.",
        "No reflection finished this week yet.",
        "A steady week: keep your follow-ups sharp.",
    ]
    for spot in WeakSpot:
        for language in (ZH_HANS, ZH_HANT, EN):
            line = reason_text(language, spot, overdue)
            assert line and "\n" not in line


# --------------------------------------------------------------------------------------------- choose()

MON = date(2026, 11, 23)


def test_choose_takes_the_latest_then_the_longest_in_turn() -> None:
    lines = [
        Written(MON, "短"),
        Written(MON + timedelta(days=1), "这是一句最长最长的话"),
        Written(MON + timedelta(days=2), "  中等长度  "),
        Written(MON + timedelta(days=3), "较长的一句话"),
        Written(MON + timedelta(days=4), "   "),
        Written(MON + timedelta(days=5), "最新"),
    ]
    assert choose(lines) == (
        Written(MON + timedelta(days=1), "这是一句最长最长的话"),
        Written(MON + timedelta(days=3), "较长的一句话"),
        Written(MON + timedelta(days=5), "最新"),
    )
    assert choose(lines, limit=1) == (Written(MON + timedelta(days=5), "最新"),)
    assert choose(lines, limit=0) == ()
    assert choose([]) == ()


def test_choose_keeps_a_repeated_line_once_on_its_latest_day() -> None:
    tue, wed = MON + timedelta(days=1), MON + timedelta(days=2)
    lines = [Written(MON, "多打电话"), Written(tue, "别的"), Written(wed, " 多打电话")]
    assert choose(lines) == (Written(tue, "别的"), Written(wed, "多打电话"))
    # Twice on one day: the later one is the line kept, so it is the most recent and comes last.
    assert choose([Written(MON, "a"), Written(MON, "bb"), Written(MON, "a")]) == (Written(MON, "bb"), Written(MON, "a"))


written_lines = st.lists(
    st.builds(
        Written,
        st.dates(min_value=MON, max_value=MON + timedelta(days=6)),
        st.text(alphabet="ab 字\n", max_size=8),
    ),
    max_size=12,
)


@given(written_lines, st.integers(min_value=0, max_value=5))
def test_choose_properties(lines: list[Written], limit: int) -> None:
    chosen = choose(lines, limit)
    kept = [Written(line.day, line.text.strip()) for line in lines if line.text.strip()]
    texts = {line.text for line in kept}
    assert len(chosen) <= limit
    assert len({line.text for line in chosen}) == len(chosen)  # no text twice
    assert all(line in kept for line in chosen)  # each as written, on a day it was written
    assert [line.day for line in chosen] == sorted(line.day for line in chosen)
    assert len(chosen) == min(limit, len(texts))  # nothing left out while there is room
    if kept and limit:
        latest = max(enumerate(kept), key=lambda item: (item[1].day, item[0]))[1]
        assert latest in chosen
        rest = [line for line in kept if line.text != latest.text]
        if rest and limit >= 2:
            longest = max(len(line.text) for line in rest)
            assert any(len(line.text) == longest for line in chosen if line.text != latest.text)


# ------------------------------------------------------------------------------------------ a handful of queries


async def test_the_numbers_take_a_handful_of_queries_whatever_the_week_holds(
    session: AsyncSession, engine: AsyncEngine
) -> None:
    agent = await seed_shanghai_week(session)
    statements: list[str] = []

    def count(*args: object) -> None:
        statements.append(str(args[2]))

    event.listen(engine.sync_engine, "before_cursor_execute", count)
    try:
        await numbers(session, agent, THIS, SUNDAY_EVENING)
    finally:
        event.remove(engine.sync_engine, "before_cursor_execute", count)
    assert len(statements) <= 5, statements
