"""The showing review's rules without a chat: which follow-ups are showings and how long they last, which 回访 a
reaction books (across a DST change), which tip it brings, and that its secret columns are covered by key rotation."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, time, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.data_keys import encrypted_tables
from bot.models import Agent, TipState
from bot.showing_times import DEFAULT_LENGTH, is_showing, showing_length
from bot.showings import NO_REACTION_TIP, TIPS, revisit_for, revisit_time, tip_for, tip_id_for
from bot.statuses import Reaction
from bot.tip_library import library


@pytest.mark.parametrize(
    ("note", "showing"),
    [
        ("带看新房", True),
        ("帶看 信義區", True),
        ("约看 万科城", True),
        ("复看一次", True),
        ("看盘", True),
        ("Viewing at Oak St", True),
        ("two showings", True),
        ("电话回访", False),
        ("回访：问问家里商量得怎么样", False),
        ("overviewing the budget", False),
        (None, False),
    ],
)
def test_a_showing_is_named_by_its_note(note: str | None, showing: bool) -> None:
    assert is_showing(note) is showing


@pytest.mark.parametrize(
    ("note", "length"),
    [
        ("带看新房", DEFAULT_LENGTH),
        ("带看2小时", timedelta(hours=2)),
        ("带看两个半小时", timedelta(hours=2, minutes=30)),
        ("带看半小时", timedelta(minutes=30)),
        ("带看 45分钟", timedelta(minutes=45)),
        ("viewing 1.5h", timedelta(minutes=90)),
        ("showing, 3 hours", timedelta(hours=3)),
        ("带看20小时", DEFAULT_LENGTH),  # a slip: outside 15 min – 6 h
        ("带看 5分钟", DEFAULT_LENGTH),
        ("带看15分钟", timedelta(minutes=15)),  # the bounds themselves are lengths
        ("带看6小时", timedelta(hours=6)),
    ],
)
def test_a_length_in_the_note_is_the_showings_length(note: str, length: timedelta) -> None:
    assert showing_length(note) == length


def vancouver_agent() -> Agent:
    return Agent(
        timezone="America/Vancouver",
        followup_time=time(10, 0),
        work_days="12345",
        day_part_hours={"morning": "09:30"},
    )


def test_the_follow_up_falls_on_a_work_day_at_the_local_hour_across_the_dst_change() -> None:
    agent = vancouver_agent()
    # Friday 12 March 2027, 18:00 PST. Clocks go forward on Sunday the 14th.
    friday_evening = datetime(2027, 3, 13, 2, 0, tzinfo=UTC)
    interested = revisit_for([Reaction.INTERESTED, Reaction.LOCATION])
    # Tomorrow is Saturday: Monday 15th, 09:30 PDT (UTC−7).
    assert revisit_time(agent, interested, friday_evening, []) == datetime(2027, 3, 15, 16, 30, tzinfo=UTC)
    family = revisit_for([Reaction.PRICE, Reaction.INTERESTED, Reaction.FAMILY])
    assert family.why == "family"  # family decides over price and interest
    # In 2 days is Sunday: Monday 15th at 10:00 PDT — moved on by half an hour past a follow-up booked then.
    booked = [datetime(2027, 3, 15, 17, 0, tzinfo=UTC)]
    assert revisit_time(agent, family, friday_evening, booked) == datetime(2027, 3, 15, 17, 30, tzinfo=UTC)
    assert revisit_for([]).why == "plain"
    assert revisit_for([Reaction.NOT_A_FIT, Reaction.SCHOOL]).days == 3


def test_the_tip_is_the_reactions_or_one_on_following_up() -> None:
    lib = library()
    assert tip_id_for([Reaction.SCHOOL, Reaction.PRICE]) == TIPS[Reaction.PRICE]
    for reaction in Reaction:
        tip = tip_for(lib, 7, {}, [reaction])
        assert tip is not None
        assert tip.id == TIPS[reaction]  # every mapped tip is in the library: the fallback hides no typo
    without = replace(lib, tips=tuple(t for t in lib.tips if t.id not in TIPS.values()))
    fallback = tip_for(without, 7, {}, [Reaction.FAMILY])
    assert fallback is not None and "follow-up" in fallback.topics


def test_without_a_reaction_the_tip_is_the_same_day_debriefs() -> None:
    assert tip_id_for([]) == NO_REACTION_TIP == "showing-same-day-debrief"
    tip = tip_for(library(), 7, {}, [])
    assert tip is not None and tip.id == NO_REACTION_TIP


def test_a_tip_missing_from_the_library_falls_back_to_each_agents_next_follow_up_tip() -> None:
    without = replace(library(), tips=tuple(t for t in library().tips if t.id not in TIPS.values()))
    fallbacks = {agent: tip_for(without, agent, {}, [Reaction.FAMILY]) for agent in range(1, 31)}
    assert all(tip is not None and "follow-up" in tip.topics for tip in fallbacks.values())
    assert len({tip.id for tip in fallbacks.values() if tip}) > 1  # each agent's own rotation, not one for all
    first = fallbacks[1]
    assert first is not None
    seen = {first.id: TipState(agent_id=1, tip_id=first.id, shown=1, rating=0)}
    again = tip_for(without, 1, seen, [Reaction.FAMILY])
    assert again is not None and again.id != first.id and "follow-up" in again.topics  # the rotation moves on


def test_the_reviews_texts_are_encrypted_and_rotated_with_the_others() -> None:
    columns = {table.name: {column.name for column in found} for table, found in encrypted_tables()}
    assert columns["showing_reviews"] == {"listing", "note"}


@pytest.mark.parametrize(
    ("note", "length"),
    [
        ("带看1小时30分钟", timedelta(minutes=90)),
        ("带看 2小时15分", timedelta(minutes=135)),
        ("带看一小时零5分钟", timedelta(minutes=65)),
        ("viewing 1h30min", timedelta(minutes=90)),
        ("viewing 1h 45m", timedelta(minutes=105)),
        ("showing 2 hours 10 minutes", timedelta(minutes=130)),
        ("带看6小时1分钟", DEFAULT_LENGTH),  # past 6 h once the minutes count
        ("viewing 3 homes", DEFAULT_LENGTH),  # an h that starts a word is no hour
        ("viewing 2 houses, 1h", timedelta(hours=1)),
    ],
)
def test_hours_and_minutes_together_are_one_length(note: str, length: timedelta) -> None:
    assert showing_length(note) == length


@given(
    hours=st.integers(1, 7),
    minutes=st.integers(0, 59),
    form=st.sampled_from(["带看{h}小时{m}分钟", "帶看{h}小時{m}分鐘", "看房{h}个小时{m}分", "viewing {h}h {m}min"]),
)
def test_any_hours_and_minutes_within_the_bounds_are_the_length(hours: int, minutes: int, form: str) -> None:
    written = timedelta(hours=hours, minutes=minutes)
    expected = written if timedelta(minutes=15) <= written <= timedelta(hours=6) else DEFAULT_LENGTH
    assert showing_length(form.format(h=hours, m=minutes)) == expected
