"""The snooze choices, from the rule an agent reads on the buttons: "in an hour", "this evening (19:00)" while
it is still at least half an hour away, "tomorrow morning (09:00)" — every one in the agent's own zone, and
never a time already past. Agents are picked far from UTC (Shanghai, Los Angeles) so a local date and the UTC
date differ, plus a DST change and a month's last day.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.followups import snooze_options
from bot.models import Agent

SHANGHAI = "Asia/Shanghai"
LOS_ANGELES = "America/Los_Angeles"
ZONES = [SHANGHAI, LOS_ANGELES, "Europe/London", "Australia/Sydney", "Asia/Kolkata", "Pacific/Auckland", "UTC"]


def agent_in(zone: str) -> Agent:
    return Agent(timezone=zone, work_days="12345", followup_time=time(10, 0))


def at(zone: str, year: int, month: int, day: int, hour: int, minute: int = 0) -> datetime:
    """The UTC instant of a wall-clock time in `zone`."""
    return datetime(year, month, day, hour, minute, tzinfo=ZoneInfo(zone)).astimezone(UTC)


def wall(instant: datetime, zone: str) -> tuple[date, time]:
    local = instant.astimezone(ZoneInfo(zone))
    return local.date(), local.time()


@pytest.mark.parametrize(
    ("zone", "now", "tomorrow"),
    [
        # Thursday 06:30 in Shanghai is still Wednesday 22:30 in UTC: tomorrow is Friday, not Thursday.
        (SHANGHAI, at(SHANGHAI, 2026, 11, 26, 6, 30), date(2026, 11, 27)),
        # Wednesday 20:00 in Los Angeles is already Thursday 04:00 in UTC: tomorrow is Thursday, not Friday.
        (LOS_ANGELES, at(LOS_ANGELES, 2026, 11, 25, 20, 0), date(2026, 11, 26)),
        # A Sunday night; then the early morning of a month's last day (still the 29th in UTC).
        (SHANGHAI, at(SHANGHAI, 2026, 11, 29, 23, 50), date(2026, 11, 30)),
        (SHANGHAI, at(SHANGHAI, 2026, 11, 30, 7, 0), date(2026, 12, 1)),
        # The evening of a month's last day in Los Angeles (already the 1st in UTC).
        (LOS_ANGELES, at(LOS_ANGELES, 2026, 11, 30, 18, 0), date(2026, 12, 1)),
        # The night before DST ends in Los Angeles (Sunday 2026-11-01 02:00 goes back to 01:00).
        (LOS_ANGELES, at(LOS_ANGELES, 2026, 10, 31, 21, 0), date(2026, 11, 1)),
    ],
)
def test_tomorrow_morning_is_nine_on_the_agents_own_tomorrow(zone: str, now: datetime, tomorrow: date) -> None:
    morning = snooze_options(agent_in(zone), now)["morning"]
    assert wall(morning, zone) == (tomorrow, time(9, 0))


def test_tomorrow_morning_across_the_dst_change_is_nine_by_the_new_clock() -> None:
    now = at(LOS_ANGELES, 2026, 10, 31, 21, 0)  # 21:00 PDT (UTC-7)
    assert snooze_options(agent_in(LOS_ANGELES), now)["morning"] == datetime(2026, 11, 1, 17, 0, tzinfo=UTC)  # PST


def test_two_agents_at_the_same_instant_get_their_own_mornings() -> None:
    now = datetime(2026, 11, 25, 22, 30, tzinfo=UTC)  # Thursday 06:30 in Shanghai, Wednesday 14:30 in Los Angeles
    shanghai = snooze_options(agent_in(SHANGHAI), now)
    los_angeles = snooze_options(agent_in(LOS_ANGELES), now)
    assert shanghai["morning"] == datetime(2026, 11, 27, 1, 0, tzinfo=UTC)  # Friday 09:00 in Shanghai
    assert los_angeles["morning"] == datetime(2026, 11, 26, 17, 0, tzinfo=UTC)  # Thursday 09:00 in Los Angeles
    assert los_angeles["evening"] == datetime(2026, 11, 26, 3, 0, tzinfo=UTC)  # Wednesday 19:00 in Los Angeles
    assert shanghai["evening"] == datetime(2026, 11, 26, 11, 0, tzinfo=UTC)  # Thursday 19:00 in Shanghai


@pytest.mark.parametrize("zone", [SHANGHAI, LOS_ANGELES])
def test_this_evening_is_offered_until_half_an_hour_before_seven(zone: str) -> None:
    agent = agent_in(zone)
    offered = snooze_options(agent, at(zone, 2026, 11, 25, 18, 20))
    assert offered["evening"] == at(zone, 2026, 11, 25, 19, 0)
    assert "evening" not in snooze_options(agent, at(zone, 2026, 11, 25, 18, 40))
    assert "evening" not in snooze_options(agent, at(zone, 2026, 11, 25, 19, 0))
    assert "evening" not in snooze_options(agent, at(zone, 2026, 11, 25, 22, 0))


def test_this_evening_in_the_morning_is_the_same_days_seven() -> None:
    offered = snooze_options(agent_in(SHANGHAI), at(SHANGHAI, 2026, 11, 26, 6, 30))  # UTC is still Wednesday
    assert wall(offered["evening"], SHANGHAI) == (date(2026, 11, 26), time(19, 0))


def test_in_an_hour_is_sixty_minutes_of_real_time_even_across_a_dst_change() -> None:
    now = datetime(2026, 11, 1, 8, 30, tzinfo=UTC)  # 01:30 PDT, half an hour before the clocks go back
    assert snooze_options(agent_in(LOS_ANGELES), now)["hour"] == datetime(2026, 11, 1, 9, 30, tzinfo=UTC)


instants = st.datetimes(min_value=datetime(2026, 1, 1), max_value=datetime(2028, 12, 31), timezones=st.just(UTC))


@settings(max_examples=300, deadline=None)
@given(now=instants, zone=st.sampled_from(ZONES))
def test_every_choice_is_later_than_now_and_where_the_agent_reads_it(now: datetime, zone: str) -> None:
    options = snooze_options(agent_in(zone), now)
    today, clock = wall(now, zone)
    assert all(moment > now for moment in options.values()), options
    assert options["hour"] == now + timedelta(hours=1)
    assert wall(options["morning"], zone) == (today + timedelta(days=1), time(9, 0))
    assert ("evening" in options) == (clock < time(18, 30))
    if "evening" in options:
        assert wall(options["evening"], zone) == (today, time(19, 0))
        assert options["evening"] - now >= timedelta(minutes=30)


# ---------------------------------------------------------------------------------------------- more rules


@pytest.mark.parametrize("zone", [SHANGHAI, LOS_ANGELES])
def test_this_evening_needs_more_than_half_an_hour_to_go(zone: str) -> None:
    """To the second: at 18:29:59 seven o'clock is still offered, at 18:30:00 no longer."""
    agent = agent_in(zone)
    assert snooze_options(agent, at(zone, 2026, 11, 30, 18, 29) + timedelta(seconds=59))["evening"] == at(
        zone, 2026, 11, 30, 19, 0
    )
    assert "evening" not in snooze_options(agent, at(zone, 2026, 11, 30, 18, 30))


@pytest.mark.parametrize(
    ("zone", "now", "expected"),
    [
        # Sunday night in Shanghai (already Sunday afternoon in UTC): the next day is Monday.
        (SHANGHAI, at(SHANGHAI, 2026, 11, 29, 23, 30), (date(2026, 11, 30), time(10, 0))),
        # A month's last day in Los Angeles, the evening (already 1 December in UTC).
        (LOS_ANGELES, at(LOS_ANGELES, 2026, 11, 30, 20, 0), (date(2026, 12, 1), time(10, 0))),
    ],
)
def test_a_stage_outside_the_cadence_table_is_followed_up_the_next_day(
    zone: str, now: datetime, expected: tuple[date, time]
) -> None:
    """A stage the table does not list (a row from another version, a stage renamed since) gets the shortest
    cadence, the next local day at the agent's follow-up hour, as a new lead would."""
    from bot.followups import CADENCE_DAYS, suggested_time

    assert "archived" not in CADENCE_DAYS
    assert wall(suggested_time(agent_in(zone), "archived", now), zone) == expected
    assert wall(suggested_time(agent_in(zone), "new", now), zone) == expected
    closed = suggested_time(agent_working("1234567", zone), "closed", now)
    assert wall(closed, zone) == (expected[0] + timedelta(days=CADENCE_DAYS["closed"] - 1), time(10, 0))


async def test_an_id_out_of_the_columns_range_is_nobodys_follow_up(engine: AsyncEngine) -> None:
    """A forged id (0, negative, or too big for the integer column) finds nothing, on either database, rather
    than failing the query."""
    from bot.clients import MAX_ID
    from bot.db import session_factory
    from bot.followups import owned_follow_up

    async with session_factory(engine)() as session:
        for forged in (0, -1, MAX_ID, MAX_ID + 1, 2**63):
            assert await owned_follow_up(session, 1, forged) is None, forged


# ---------------------------------------------------------------------------------------------- issue 12


@settings(max_examples=400, deadline=None)
@given(
    now=instants,
    ahead=st.timedeltas(min_value=timedelta(days=-40), max_value=timedelta(days=40)),
    zone=st.sampled_from(ZONES),
)
def test_no_snooze_choice_moves_a_follow_up_earlier_than_it_is(now: datetime, ahead: timedelta, zone: str) -> None:
    """Whatever the follow-up's time (long past, a minute ago, tonight, next month), every choice is later than
    both now and that time: ⏰ means later."""
    due = now + ahead
    options = snooze_options(agent_in(zone), now, due)
    start = max(now, due)
    assert options and all(moment > start for moment in options.values()), (options, start)
    assert options["hour"] == start + timedelta(hours=1)
    assert wall(options["morning"], zone) == (wall(start, zone)[0] + timedelta(days=1), time(9, 0))


def test_the_snooze_of_an_evening_follow_up_opened_at_night_counts_from_its_time() -> None:
    """The issue's case: due at 20:00, opened at 03:50 — not 04:50, not 19:00."""
    now, due = at(SHANGHAI, 2026, 11, 26, 3, 50), at(SHANGHAI, 2026, 11, 26, 20, 0)
    options = snooze_options(agent_in(SHANGHAI), now, due)
    assert options == {"hour": at(SHANGHAI, 2026, 11, 26, 21, 0), "morning": at(SHANGHAI, 2026, 11, 27, 9, 0)}
    assert snooze_options(agent_in(SHANGHAI), now, now - timedelta(hours=5)) == snooze_options(agent_in(SHANGHAI), now)


def test_snooze_wording_says_later_from_the_follow_ups_own_day() -> None:
    from bot.followups import snooze_wording

    agent, now = agent_in(SHANGHAI), at(SHANGHAI, 2026, 11, 26, 23, 0)
    due = at(SHANGHAI, 2026, 11, 27, 8, 0)  # tomorrow morning
    options = snooze_options(agent, now, due)
    assert snooze_wording(agent, now, options, due) == {
        "hour": "hour_later",
        "evening": "evening_later",
        "morning": "morning_later",
    }
    early = at(SHANGHAI, 2026, 11, 26, 9, 0)
    past = early - timedelta(hours=1)
    assert snooze_wording(agent, early, snooze_options(agent, early, past), past) == {
        "hour": "hour",
        "evening": "evening",
        "morning": "morning",
    }
    assert snooze_wording(agent, now, options, now)["hour"] == "hour"  # due this very instant: from now


def agent_working(days: str, zone: str = SHANGHAI) -> Agent:
    return Agent(timezone=zone, work_days=days, followup_time=time(10, 0))


@pytest.mark.parametrize(
    ("days", "stage", "now", "expected", "moved"),
    [
        ("123456", "viewing", at(SHANGHAI, 2026, 11, 27, 10), date(2026, 11, 30), True),  # Fri + 2 = Sun → Mon
        ("12345", "new", at(SHANGHAI, 2026, 11, 27, 10), date(2026, 11, 30), True),  # Fri + 1 = Sat → Mon
        ("12345", "new", at(SHANGHAI, 2026, 11, 26, 10), date(2026, 11, 27), False),  # Thu + 1 = Fri
        ("7", "new", at(SHANGHAI, 2026, 11, 23, 10), date(2026, 11, 29), True),  # only Sundays
        ("", "new", at(SHANGHAI, 2026, 11, 28, 10), date(2026, 11, 29), False),  # no days set: every day
        ("1234567", "closed", at(SHANGHAI, 2026, 11, 30, 23, 59), date(2026, 12, 30), False),  # a month's last day
    ],
)
def test_a_suggestion_lands_on_the_next_work_day(
    days: str, stage: str, now: datetime, expected: date, moved: bool
) -> None:
    from bot.followups import suggest

    suggestion = suggest(agent_working(days), stage, now)
    assert wall(suggestion.at, SHANGHAI) == (expected, time(10, 0))
    assert (suggestion.after_day_off, suggestion.after_booked) == (moved, False)


def test_a_suggestion_keeps_half_an_hour_from_every_booked_follow_up() -> None:
    from bot.followups import suggest

    agent, now = agent_working("1234567"), at(SHANGHAI, 2026, 11, 25, 9)
    ten = at(SHANGHAI, 2026, 11, 26, 10)
    assert suggest(agent, "new", now, [ten - timedelta(minutes=30), ten + timedelta(minutes=30)]).at == ten
    assert suggest(agent, "new", now, [ten - timedelta(minutes=30), ten + timedelta(minutes=30)]).after_booked is False
    clash = suggest(agent, "new", now, [ten + timedelta(minutes=29)])
    assert (clash.at, clash.after_booked) == (ten + timedelta(minutes=60), True)
    assert suggest(agent, "new", now, [ten - timedelta(minutes=29)]).at == ten + timedelta(minutes=30)
    full = [ten + timedelta(minutes=30 * n) for n in range(6)]
    assert suggest(agent, "new", now, full).at == ten + timedelta(hours=3)


@settings(max_examples=200, deadline=None)
@given(
    now=instants,
    zone=st.sampled_from(ZONES),
    days=st.sets(st.sampled_from("1234567"), min_size=1).map(lambda s: "".join(sorted(s))),
    booked=st.lists(st.integers(min_value=0, max_value=24 * 70), max_size=12),
    stage=st.sampled_from(["new", "viewing", "deposit", "closed", "lost", "archived"]),
)
def test_a_suggestion_is_on_a_work_day_in_the_future_and_never_on_a_booked_time(
    now: datetime, zone: str, days: str, booked: list[int], stage: str
) -> None:
    from bot.followups import suggest

    taken = [now + timedelta(hours=h) for h in booked]
    suggestion = suggest(agent_working(days, zone), stage, now, taken)
    assert suggestion.at > now
    assert all(abs(suggestion.at - moment) >= timedelta(minutes=30) for moment in taken)
    if not suggestion.after_booked:
        assert str(wall(suggestion.at, zone)[0].isoweekday()) in days


@pytest.mark.parametrize(
    ("now", "tomorrow"),
    [
        (at(SHANGHAI, 2026, 11, 25, 17), at(SHANGHAI, 2026, 11, 26, 15, 30)),
        (at(SHANGHAI, 2026, 11, 30, 23, 59), at(SHANGHAI, 2026, 12, 1, 15, 30)),  # a month's last day
    ],
)
def test_a_clock_time_past_today_is_offered_tomorrow(now: datetime, tomorrow: datetime) -> None:
    from bot.followups import past_today

    today = wall(now, SHANGHAI)[0]
    typed = datetime.combine(today, time(15, 30), tzinfo=ZoneInfo(SHANGHAI)).astimezone(UTC)
    assert past_today(typed, now, SHANGHAI) == tomorrow
    assert past_today(now, now, SHANGHAI) == now + timedelta(days=1)  # this very minute is past too
    assert past_today(now + timedelta(seconds=1), now, SHANGHAI) is None  # still ahead
    assert past_today(typed - timedelta(days=1), now, SHANGHAI) is None  # yesterday is refused as it is


def test_tomorrow_at_the_same_wall_time_across_a_dst_change() -> None:
    from bot.followups import past_today

    london = "Europe/London"
    now = at(london, 2027, 3, 27, 17)
    assert past_today(at(london, 2027, 3, 27, 15), now, london) == datetime(2027, 3, 28, 14, 0, tzinfo=UTC)


def test_a_day_off_offers_the_next_work_day_at_the_same_time() -> None:
    from bot.followups import on_next_work_day

    agent = agent_working("123456")
    assert on_next_work_day(agent, at(SHANGHAI, 2026, 11, 29, 15)) == at(SHANGHAI, 2026, 11, 30, 15)
    assert on_next_work_day(agent, at(SHANGHAI, 2026, 11, 28, 15)) is None
    assert on_next_work_day(agent_working("1"), at(SHANGHAI, 2026, 11, 24, 8)) == at(SHANGHAI, 2026, 11, 30, 8)


@pytest.mark.parametrize(
    ("today", "weekday", "next_week", "day", "same_year"),
    [
        (date(2026, 11, 25), date(2026, 11, 27), False, date(2026, 11, 30), True),  # Wednesday
        (date(2026, 11, 28), date(2026, 11, 30), True, date(2026, 12, 3), True),  # Saturday
        (date(2026, 11, 29), date(2026, 12, 1), True, date(2026, 12, 4), True),  # Sunday
        (date(2026, 12, 28), date(2026, 12, 30), False, date(2027, 1, 2), False),  # five days ahead is next year
    ],
)
def test_example_days_are_ahead_of_today(
    today: date, weekday: date, next_week: bool, day: date, same_year: bool
) -> None:
    from bot.followups import example_days

    now = datetime.combine(today, time(23, 30), tzinfo=ZoneInfo(SHANGHAI)).astimezone(UTC)
    examples = example_days(now, SHANGHAI)
    assert (examples.weekday, examples.next_week, examples.day, examples.same_year) == (
        weekday,
        next_week,
        day,
        same_year,
    )
    assert examples.iso_day == today + timedelta(days=9)


def test_the_same_wall_time_in_another_zone() -> None:
    from bot.followups import same_wall_time

    moment = at(SHANGHAI, 2026, 11, 26, 20)
    assert same_wall_time(moment, SHANGHAI, "Asia/Tokyo") == at("Asia/Tokyo", 2026, 11, 26, 20)
    assert same_wall_time(moment, SHANGHAI, SHANGHAI) == moment
