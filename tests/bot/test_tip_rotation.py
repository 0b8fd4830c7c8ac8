"""The tip rotation's order, from its rule: fewest showings first; among tips shown equally often, the one
the agent saw longest ago. So once every tip was seen, the next round repeats the agent's own history, however
it came about (a topic read first, tips asked for on another day)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from bot.models import TipState
from bot.tip_library import Tip, library
from bot.tips import choose

MONDAY = datetime(2026, 11, 23, 1, 0, tzinfo=UTC)
TIPS = library().tips


def seen_at(agent_id: int, history: list[Tip], shown: int = 1) -> dict[str, TipState]:
    """The agent saw `history` in that order, an hour apart, each `shown` times in all."""
    return {
        tip.id: TipState(
            agent_id=agent_id, tip_id=tip.id, shown=shown, rating=0, last_shown_at=MONDAY + timedelta(hours=hour)
        )
        for hour, tip in enumerate(history)
    }


@settings(max_examples=60, deadline=None)
@given(agent_id=st.integers(1, 10_000), history=st.permutations(TIPS))
def test_among_tips_shown_as_often_the_one_seen_longest_ago_comes_next(agent_id: int, history: list[Tip]) -> None:
    seen = seen_at(agent_id, history)
    assert choose(library(), agent_id, seen) == history[0]


@settings(max_examples=30, deadline=None)
@given(agent_id=st.integers(1, 10_000), history=st.permutations(TIPS))
def test_a_tip_shown_more_often_waits_even_if_seen_long_ago(agent_id: int, history: list[Tip]) -> None:
    """The oldest tip was shown twice: every tip shown once comes before it, oldest first."""
    seen = seen_at(agent_id, history)
    seen[history[0].id].shown = 2
    assert choose(library(), agent_id, seen) == history[1]


@settings(max_examples=20, deadline=None)
@given(agent_id=st.integers(1, 10_000), history=st.permutations(TIPS))
def test_the_second_round_repeats_the_first_rounds_order(agent_id: int, history: list[Tip]) -> None:
    seen = seen_at(agent_id, history)
    now = MONDAY + timedelta(days=7)
    second_round = []
    for _ in TIPS:
        tip = choose(library(), agent_id, seen)
        assert tip is not None
        second_round.append(tip)
        seen[tip.id].shown += 1
        seen[tip.id].last_shown_at = now
        now += timedelta(minutes=1)
    assert second_round == history


def test_two_agents_with_the_same_history_get_the_same_next_tip() -> None:
    """The personal order only breaks ties the history leaves open; it never overrides the history."""
    history = list(reversed(TIPS))
    assert choose(library(), 1, seen_at(1, history)) == choose(library(), 2, seen_at(2, history)) == history[0]
