"""The send budget's pace, in virtual time: never more than 29 sends within a second, none bunched, and a send
the event loop woke late made up by the next one, so N sends take N/29 s and not more (the weekly digest's
100k must go out within the hour at Telegram's 30/s: docs/benchmarks.md, "Weekly digest: 100k agents").

Expected figures are worked out by hand from the rule: 29 sends a second, one every 1/29 s = 34.48 ms.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from itertools import cycle, pairwise

import pytest

from runtime.send_budget import Pace, SendBudget

INTERVAL = 1 / 29


class LateClock:
    """Virtual time in which each sleep ends later than asked, by the next of `lateness` (a busy event loop)."""

    def __init__(self, lateness: list[float] | None = None) -> None:
        self.now = 100.0
        self._late: Iterator[float] = cycle(lateness or [0.0])

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.now += seconds + next(self._late)
        await asyncio.sleep(0)


async def sends(pace: Pace, clock: LateClock, count: int) -> list[float]:
    instants = []
    for _ in range(count):
        await pace.acquire()
        instants.append(clock.now)
    return instants


def most_in_one_second(instants: list[float]) -> int:
    """The most sends within any window (t - 1 s, t]: what Telegram counts."""
    return max(sum(1 for other in instants if t - 1.0 < other <= t) for t in instants)


async def test_on_time_sends_are_evenly_spaced_from_the_first() -> None:
    clock = LateClock()
    instants = await sends(Pace(29, clock=clock, sleep=clock.sleep), clock, 59)
    assert instants[0] == 100.0
    gaps = [b - a for a, b in pairwise(instants)]
    assert min(gaps) == pytest.approx(INTERVAL) and max(gaps) == pytest.approx(INTERVAL)
    assert instants[-1] - instants[0] == pytest.approx(2.0)  # 58 intervals of 1/29 s


@pytest.mark.parametrize(
    "lateness",
    [[0.0], [0.003, 0.0, 0.012, 0.001, 0.03], [0.02], [0.05, 0.0, 0.0, 0.07, 0.001, 0.0, 0.0, 0.0, 0.0], [0.9, 0.0]],
)
async def test_never_more_than_29_within_a_second_nor_two_closer_than_the_spacing(lateness: list[float]) -> None:
    clock = LateClock(lateness)
    instants = await sends(Pace(29, clock=clock, sleep=clock.sleep), clock, 400)
    assert most_in_one_second(instants) <= 29
    # 31 sends (Telegram refuses the 31st within a second) span a second and a slot, as evenly spaced ones do.
    assert min(b - a for a, b in zip(instants, instants[30:], strict=False)) >= 1.0 + INTERVAL - 1e-9
    gaps = [b - a for a, b in pairwise(instants)]
    assert min(gaps) >= 0.25 / 29 - 1e-9


async def test_wake_ups_late_by_10_ms_are_made_up_so_290_sends_take_10_s_not_13() -> None:
    """Every wake-up 10 ms late. The bucket of one (before) lost each: 290 × 44.48 ms = 12.9 s (22.5 msg/s).
    Here each is made up, except where the window binds (the 30th send waits for the 1st's second to end, and
    wakes late from that): once per 29 sends, 11 times in 290, so 10 s + 11 × 10 ms at most (28.7 msg/s)."""
    clock = LateClock([0.010])
    instants = await sends(Pace(29, clock=clock, sleep=clock.sleep), clock, 291)
    assert 290 / 29 <= instants[-1] - instants[0] <= 290 / 29 + 11 * 0.010 + 1e-6


async def test_a_stall_of_50_ms_is_followed_by_a_quick_send_then_the_grid() -> None:
    """One wake-up 50 ms late among on-time ones: the next send comes 1/4 slot after it, then the grid goes on,
    so 110 sends still take 109/29 = 3.759 s. (The window keeps the stall's pattern: 29 sends later the 30th
    waits for the late one's second to end, and the same catch-up follows; nothing more is lost.)"""
    clock = LateClock([0.0] * 40 + [0.05] + [0.0] * 200)
    instants = await sends(Pace(29, clock=clock, sleep=clock.sleep), clock, 110)
    assert instants[41] - instants[40] == pytest.approx(INTERVAL + 0.05)
    assert instants[42] - instants[41] == pytest.approx(0.25 / 29)
    assert instants[43] - instants[40] == pytest.approx(3 * INTERVAL)
    assert instants[-1] - instants[0] == pytest.approx(109 / 29)


async def test_after_a_lull_the_pace_starts_again_without_a_burst() -> None:
    clock = LateClock()
    pace = Pace(29, clock=clock, sleep=clock.sleep)
    await sends(pace, clock, 10)
    clock.now += 60.0
    instants = await sends(pace, clock, 5)
    gaps = [b - a for a, b in pairwise(instants)]
    assert gaps == pytest.approx([INTERVAL] * 4)


async def test_a_reply_overtakes_the_scheduled_sends_waiting_at_the_pace() -> None:
    """Six scheduled messages queue at the pace; a reply that comes after the first goes next but one at most."""
    clock = LateClock([0.004])
    budget = SendBudget(pace=Pace(29, clock=clock, sleep=clock.sleep))
    order: list[str] = []
    first_went = asyncio.Event()

    async def scheduled(n: int) -> None:
        await budget.acquire()
        order.append(f"s{n}")
        first_went.set()

    async def reply() -> None:
        await budget.acquire_reply()
        order.append("reply")

    waiting = [asyncio.create_task(scheduled(n)) for n in range(6)]
    await first_went.wait()
    await asyncio.gather(reply(), *waiting)
    assert order.index("reply") <= 2, order
    assert len(order) == 7
