"""One tip for the evening check-in, matched to what the agent wrote.

A tip helps most with what was hard, so each answer's topic keywords (`Library.topic_scores`, zh and en) count
with a weight: "to improve" 3, "lesson" 2, "tomorrow" and "went well" 1. The best total wins; ties go to the
topic that scored more in the heavier answers, then to "mindset" after a low mood, then to the topic listed first
in `topics.yaml`. With no keyword anywhere, a low mood (1–2) still gets a "mindset" tip, anything else gets None
and the general rotation.

How well (tests/bot/test_matcher.py: one snippet in "to improve", right when the topic is one a coach accepts):
on the labelled examples the keywords were tuned on, zh-Hans 79/85 (0.93), zh-Hant 32/32 (1.00), en 56/60 (0.93),
167/177 (0.94) in all. On text the keywords were not tuned on it is far lower: the last unseen batch gets 11/32
(0.34; 14 get no topic and so a general tip, 7 a wrong one), earlier batches got 21/33 and 17/36 before their
words were added. Keywords catch the words agents share, not the many ways to say a thing; not negation either
("没有生气" still reads as anger).
"""

from __future__ import annotations

from dataclasses import dataclass

from bot.models import TipState
from bot.tip_library import Library, Tip
from bot.tips import choose, choose_any

MINDSET = "mindset"
LOW_MOOD = 2
# Heaviest first: the order also breaks ties between equal totals.
WEIGHTS = (("to_improve", 3), ("lesson", 2), ("tomorrow", 1), ("went_well", 1))


@dataclass(frozen=True)
class Written:
    """What the agent wrote in one check-in (mood 1–5); unanswered questions are None."""

    went_well: str | None
    to_improve: str | None
    lesson: str | None
    tomorrow: str | None
    mood: int | None


def match_topic(library: Library, written: Written) -> str | None:
    """The topic id that fits what was written best, or None when nothing points anywhere."""
    per_field = [library.topic_scores(getattr(written, field) or "") for field, _ in WEIGHTS]
    order = {topic.id: position for position, topic in enumerate(library.topics)}
    low_mood = written.mood is not None and written.mood <= LOW_MOOD
    found = {topic for scores in per_field for topic in scores if topic in order}
    if not found:
        return MINDSET if low_mood and MINDSET in order else None

    def rank(topic: str) -> tuple[int, tuple[int, ...], bool, int]:
        scores = tuple(field.get(topic, 0) for field in per_field)
        total = sum(weight * score for (_, weight), score in zip(WEIGHTS, scores, strict=True))
        return total, scores, low_mood and topic == MINDSET, -order[topic]

    return max(found, key=rank)


def matched_tip(library: Library, agent_id: int, seen: dict[str, TipState], written: Written) -> tuple[Tip, str | None]:
    """The tip to send after the check-in and the topic it was matched on (None: the general rotation).

    Every tip rated down still leaves the agent a tip: the rotation starts over as if nothing was seen.
    """
    topic = match_topic(library, written)
    tip = choose(library, agent_id, seen, topic) if topic else None
    if tip is None:
        topic = None
        tip = choose_any(library, agent_id, seen)
    if tip is None:
        raise ValueError("the tip library is empty")
    return tip, topic
