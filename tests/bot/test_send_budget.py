"""The send budget's rules, in virtual time (one process's memory store; the shared stores are held to the same
rules in test_budget_stores.py):

- never more than SEND_RATE messages within any second, even when every sleep ends late (up to 33 ms);
- never two messages to one chat within a second;
- a reply waits for at most the scheduled slots already handed out, whatever is queued;
- when the budget is short, nudges go before recurring prompts, and those before digests and broadcasts;
- a RetryAfter pauses every priority for its length, and nothing is dropped;
- N scheduled sends at 30/s take N/29 s, not more (a wave is not slowed by its own waiting).

Expected figures are worked out from the rule (30/s with one message of room: a slot every 1/29.03 s), not from
the code.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
from collections.abc import Awaitable, Iterator
from itertools import cycle, pairwise

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot import send_budget as b_module
from bot.budget_stores import Grant, MemoryStore, decide
from bot.send_budget import SendBudget
from bot.statuses import SendPriority

REPLY, NUDGE, RECURRING, BULK = SendPriority.REPLY, SendPriority.NUDGE, SendPriority.RECURRING, SendPriority.BULK


class VirtualTime:
    """A clock and a sleep for many tasks at once: time jumps to the earliest wake-up once every task waits, and
    each wake-up comes later than asked by the next of `lateness` (a busy event loop)."""

    def __init__(self, lateness: list[float] | None = None) -> None:
        self.now = 1000.0
        self._late: Iterator[float] = cycle(lateness or [0.0])
        self._sleepers: list[tuple[float, int, asyncio.Future[None]]] = []
        self._seq = itertools.count()

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        heapq.heappush(self._sleepers, (self.now + max(0.0, seconds) + next(self._late), next(self._seq), future))
        await future

    async def run(self, *work: Awaitable[object], until: float = 3600.0) -> None:
        """Run `work` to its end, moving time on whenever everything sleeps."""
        tasks = [asyncio.ensure_future(w) for w in work]
        while not all(task.done() for task in tasks):
            for _ in range(20):  # let whatever can run, run (the memory store never waits on I/O)
                await asyncio.sleep(0)
            if all(task.done() for task in tasks):
                break
            assert self._sleepers, "every task waits, and nobody sleeps: a deadlock"
            at, _, future = heapq.heappop(self._sleepers)
            assert at - 1000.0 < until, "virtual time ran past the test's bound"
            self.now = max(self.now, at)
            future.set_result(None)
        for task in tasks:
            task.result()


def budget(time: VirtualTime, rate: float = 30) -> SendBudget:
    return SendBudget(rate, MemoryStore(time), sleep=time.sleep, clock=time)


def most_in_one_second(instants: list[float]) -> int:
    """The most sends within any window [t, t + 1 s): what Telegram counts."""
    ordered = sorted(instants)
    return max(sum(1 for other in ordered if t <= other < t + 1.0) for t in ordered)


async def send(
    b: SendBudget, time: VirtualTime, chat: int, priority: SendPriority, log: list[tuple[str, int, float]]
) -> None:
    await b.acquire(chat, priority)
    log.append((priority, chat, time.now))


@pytest.mark.parametrize(
    "lateness", [[0.0], [0.003, 0.0, 0.012, 0.001, 0.03], [0.02], [0.033, 0.0, 0.0, 0.033, 0.001], [0.0, 0.0, 0.03]]
)
async def test_never_more_than_the_rate_within_any_second_even_when_woken_late(lateness: list[float]) -> None:
    time = VirtualTime(lateness)
    b = budget(time)
    log: list[tuple[str, int, float]] = []
    await time.run(*(send(b, time, chat, BULK, log) for chat in range(300)))
    instants = [at for _, _, at in log]
    assert len(instants) == 300
    assert most_in_one_second(instants) <= 30
    # and the wave is not slowed by its waiting: 300 sends at 29.03/s take 10.3 s (plus the last one's lateness)
    assert max(instants) - min(instants) == pytest.approx(299 / 29.032, abs=0.05)


async def test_one_chat_gets_at_most_a_message_a_second() -> None:
    time = VirtualTime([0.004])
    b = budget(time)
    log: list[tuple[str, int, float]] = []
    # Five chats, eight messages each, from every priority at once.
    work = [send(b, time, chat, priority, log) for chat in range(5) for priority in (REPLY, NUDGE, RECURRING, BULK) * 2]
    await time.run(*work)
    assert len(log) == 40
    for chat in range(5):
        instants = sorted(at for _, c, at in log if c == chat)
        assert min(b - a for a, b in pairwise(instants)) >= 1.0


async def test_a_reply_waits_only_for_the_slots_already_handed_out() -> None:
    """A wave of 600 digests and 300 prompts is under way; a reply then needs at most the 0.3 s of scheduled
    slots that may be handed out ahead (the nudges' horizon), not the wave."""
    time = VirtualTime([0.002])
    b = budget(time)
    log: list[tuple[str, int, float]] = []
    wave = [send(b, time, 10_000 + n, BULK if n < 600 else RECURRING, log) for n in range(900)]
    replies: list[float] = []

    async def reply_later() -> None:
        await time.sleep(5.0)
        asked = time.now
        await b.acquire(1, REPLY)
        replies.append(time.now - asked)

    await time.run(reply_later(), *wave)
    assert replies and replies[0] <= 0.3 + 1 / 29


async def test_nudges_go_before_prompts_and_prompts_before_digests() -> None:
    time = VirtualTime([0.001])
    b = budget(time)
    log: list[tuple[str, int, float]] = []
    work = [send(b, time, n, priority, log) for n, priority in enumerate([BULK] * 60 + [RECURRING] * 60 + [NUDGE] * 60)]
    await time.run(*work)
    order = [priority for priority, _, _ in log]
    # All asked at once: only the slots a lower tier was handed before a higher one asked (its horizon: 0.1 s of
    # digests, 0.2 s of prompts, 7 slots at 29/s) go before the higher tier's.
    assert order.index(RECURRING) <= 4 and order.index(BULK) <= 4
    assert sum(1 for p in order[:60] if p is NUDGE) >= 60 - 7
    assert sum(1 for p in order[60:120] if p is RECURRING) >= 60 - 7
    assert all(p is BULK for p in order[-50:])


async def test_a_retry_after_pauses_every_priority_and_drops_nothing() -> None:
    time = VirtualTime([0.002])
    b = budget(time)
    log: list[tuple[str, int, float]] = []
    paused_at: list[float] = []

    async def meet_a_429() -> None:
        await time.sleep(2.0)
        paused_at.append(time.now)
        await b.pause(5.0)

    priorities = [REPLY, NUDGE, RECURRING, BULK]
    await time.run(meet_a_429(), *(send(b, time, n, priorities[n % 4], log) for n in range(240)))
    assert len(log) == 240
    start = paused_at[0]
    # The slots handed out before the pause are given up by senders still waiting for them: nothing from its start.
    during = [at for _, _, at in log if start < at < start + 5.0]
    assert during == []
    assert any(start + 5.0 <= at < start + 5.5 for _, _, at in log)  # and everyone resumes when it ends


# ---------------------------------------------------------------- the reservation rule on plain numbers

requests = st.lists(
    st.tuples(
        st.floats(0.0, 0.5),  # time since the previous request
        st.integers(1, 4),  # chat
        st.sampled_from([float("inf"), 0.3, 0.2, 0.1]),  # horizon
    ),
    min_size=1,
    max_size=200,
)


@settings(max_examples=200, deadline=None)
@given(requests, st.floats(0.0, 3.0), st.floats(0.0, 5.0))
def test_granted_slots_keep_the_pace_the_chat_gap_and_the_pause(
    asked: list[tuple[float, int, float]], pause_at: float, pause_for: float
) -> None:
    interval, gap = 1 / 29, 1.0
    now, next_slot, paused_until = 0.0, 0.0, 0.0
    chats: dict[int, float] = {}
    slots: list[tuple[float, int]] = []
    paused = False
    for step, chat, horizon in asked:
        now += step
        if not paused and now >= pause_at:
            paused, paused_until = True, now + pause_for
            pause_start = now
        before = next_slot
        grant, next_slot = decide(now, next_slot, paused_until, chats.get(chat), horizon, interval)
        assert grant.wait >= 0
        if not grant.reserved:  # refused: nothing moves, and the wait says when asking again is worth it
            assert next_slot == before
            if paused_until > now:
                assert now + grant.wait == pytest.approx(paused_until) and not grant.chat_busy
            elif max(now, before) - now > horizon:  # asking again when the queue is within the horizon
                assert max(now, before) - (now + grant.wait) == pytest.approx(horizon) and not grant.chat_busy
            else:  # the chat's second: when it ends
                assert grant.chat_busy and max(now, before) + grant.wait == pytest.approx(chats[chat])
        if grant.reserved:
            slot = now + grant.wait
            assert grant.wait <= horizon  # never further ahead than the priority may reserve
            assert not (paused and pause_start <= now < paused_until)  # nothing is reserved during a pause
            chats[chat] = slot + gap
            slots.append((slot, chat))
    ordered = sorted(slot for slot, _ in slots)
    assert all(b - a >= interval - 1e-9 for a, b in pairwise(ordered))
    for chat in {c for _, c in slots}:
        mine = sorted(slot for slot, c in slots if c == chat)
        assert all(b - a >= gap - 1e-9 for a, b in pairwise(mine))


async def test_a_send_woken_far_too_late_takes_a_new_slot_rather_than_crowd_the_next() -> None:
    """Every fifth wake-up comes 80 ms late (a garbage-collection pause): those sends give their slot up and take a
    new one, so no second holds more than 30, and every message still goes."""
    time = VirtualTime([0.0] * 4 + [0.08])
    b = budget(time)
    log: list[tuple[str, int, float]] = []
    await time.run(*(send(b, time, chat, BULK, log) for chat in range(400)))
    instants = [at for _, _, at in log]
    assert len(instants) == 400
    assert most_in_one_second(instants) <= 30


async def test_without_giving_up_late_slots_a_second_would_hold_more() -> None:
    """The same pauses, the rule switched off: the check above can fail (it is not vacuous)."""
    time = VirtualTime([0.0] * 4 + [0.08])
    b = budget(time)
    b_module.MAX_GIVEN_UP, saved = 0, b_module.MAX_GIVEN_UP
    try:
        log: list[tuple[str, int, float]] = []
        await time.run(*(send(b, time, chat, BULK, log) for chat in range(400)))
    finally:
        b_module.MAX_GIVEN_UP = saved
    assert most_in_one_second([at for _, _, at in log]) > 30


class CountingStore(MemoryStore):
    """The memory store, counting reservations granted."""

    def __init__(self, clock: VirtualTime) -> None:
        super().__init__(clock)
        self.granted = 0

    async def reserve(self, chat_id: int | None, horizon: float, interval: float, chat_gap: float) -> Grant:
        grant = await super().reserve(chat_id, horizon, interval, chat_gap)
        self.granted += grant.reserved
        return grant


async def test_a_send_always_woken_late_gives_its_slot_up_at_most_twice_then_goes() -> None:
    time = VirtualTime([0.05])  # every wake-up 50 ms late: beyond the 33 ms a slot allows
    store = CountingStore(time)
    b = SendBudget(30, store, sleep=time.sleep, clock=time)
    log: list[tuple[str, int, float]] = []
    await time.run(*(send(b, time, chat, BULK, log) for chat in range(10)))
    assert len(log) == 10
    # Late slots were given up (a slot in the past, the queue empty, goes at once), never more than twice a send.
    assert 10 < store.granted <= 10 * 3


async def test_a_message_waiting_for_its_chat_s_second_lets_the_others_of_its_priority_by() -> None:
    """A nudge to a chat that just had a message waits its second without holding up a nudge to another chat."""
    time = VirtualTime()
    b = budget(time)
    log: list[tuple[str, int, float]] = []
    await b.acquire(1, REPLY)  # chat 1 had a message just now

    async def later_to_another_chat() -> None:
        await time.sleep(0.05)
        await send(b, time, 2, NUDGE, log)

    await time.run(send(b, time, 1, NUDGE, log), later_to_another_chat())
    sent = {chat: at - 1000.0 for _, chat, at in log}
    assert sent[1] >= 1.0 and sent[2] < 0.2
