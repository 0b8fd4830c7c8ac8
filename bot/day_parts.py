"""Parts of the day ("上午", "tomorrow evening") and the hour each stands for when no hour is given.

An agent who types "周六上午" means "some time Saturday morning"; the bot needs one instant, so each part of the
day has a default hour. The defaults below are the bot's; an agent may set their own (`day_parts` arguments in
bot.timeparse take the agent's mapping), and the echo names the part of day that was applied.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import time
from enum import StrEnum
from types import MappingProxyType


class DayPart(StrEnum):
    EARLY_MORNING = "early_morning"
    """早上, 早晨, 清早, 明早; "early morning"."""
    MORNING = "morning"
    """上午; "morning"."""
    NOON = "noon"
    """中午; "noon", "midday", "lunchtime"."""
    AFTERNOON = "afternoon"
    """下午; "afternoon"."""
    EVENING = "evening"
    """傍晚; "evening"."""
    NIGHT = "night"
    """晚上, 今晚, 明晚, 夜里; "tonight", "night"."""


DEFAULT_DAY_PARTS: Mapping[DayPart, time] = MappingProxyType(
    {
        DayPart.EARLY_MORNING: time(9, 0),
        DayPart.MORNING: time(10, 0),
        DayPart.NOON: time(12, 0),
        DayPart.AFTERNOON: time(15, 0),
        DayPart.EVENING: time(18, 0),
        DayPart.NIGHT: time(20, 0),
    }
)


def day_part_hour(part: DayPart, day_parts: Mapping[DayPart, time] | None) -> time:
    """The agent's hour for `part`, else the bot's default (a partial mapping falls back part by part)."""
    if day_parts is not None and part in day_parts:
        return day_parts[part]
    return DEFAULT_DAY_PARTS[part]
