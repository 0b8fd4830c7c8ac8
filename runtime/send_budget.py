"""This process's share of Telegram's message limits, with replies to the agent ahead of scheduled messages.

Telegram takes about 30 messages/s per bot, and answers more with 429 (RetryAfter), after which every send
should wait. python-telegram-bot's AIORateLimiter paces, but it treats a reply to what an agent just did like any
queued nudge, and it logs every 429 it gives up on as an ERROR with a traceback (43 in one storm). Here:

- one even pace for every message this process sends (`Pace`): slots on a 1/29 s grid, never more than
  29 sends in any trailing second, any 31 spanning a second and a slot (so a 31st within Telegram's second
  needs a send to arrive a whole slot late, as with even spacing), and never two closer than `MIN_SPACING_S`. A send
  that the event loop woke late is made up by the next one (sooner, down to the minimum spacing), so the
  sustained rate is 29/s; aiolimiter's leaky bucket of room one (used before, and by PTB's AIORateLimiter) lost
  every late wake-up for good: 27.6–27.9 msg/s in the digest wave (docs/benchmarks.md, "Weekly digest");
- a reply waits only for the pace; a scheduled message (the engine's, `acquire`) also waits while any reply is
  waiting, and only one scheduled message queues at the pace at a time, so a wave of nudges delays a reply by at
  most one slot;
- a RetryAfter pauses every send of the process for that long. A reply then waits and tries again (the agent is
  looking at the chat); a scheduled message is handed back to the engine (`bot.scheduler.RetryLater`), which puts
  its row back to pending without counting an attempt. Each 429 is one WARNING line.

The engine waits for its turn *before* its last ownership check and the send (bot.scheduler), so a long wait
here can never end in a stale send. Sharing one budget between several processes is a later issue.

Why a hand-written pace (measured on this machine, 580 sends on an event loop kept busy 2 ms in every 5):
aiolimiter's bucket of one 28.00–28.11 msg/s, at most 3 within 0.1 s; this `Pace` 28.96 msg/s, at most 29 within any
second and 4 within 0.1 s, no two closer than 28 ms; `limits` 5.8 (PyPI; moving window, async memory storage,
polled with `hit` and `get_window_stats`) also keeps 29 within any second but sends each second's 29 at once
(29 within 0.1 s, gaps of 0 ms): a moving window alone has no evenness, and the grid, the spacing and the waiting
would still be ours. So a deque and a grid here, with an injected clock for tests/handlers/test_send_pace.py.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Awaitable, Callable, Coroutine
from datetime import timedelta
from typing import Any

from telegram.error import RetryAfter
from telegram.ext import BaseRateLimiter

from runtime.metrics import RETRY_AFTER, count_send

log = logging.getLogger(__name__)

TELEGRAM_MESSAGES_PER_SECOND = 30
# Just under Telegram's rate: one late request at exactly 30/s puts a 31st into Telegram's window.
SENDS_PER_SECOND = TELEGRAM_MESSAGES_PER_SECOND - 1
# The engine's sends carry these rate-limit arguments: they already waited for the budget.
SCHEDULED: dict[str, Any] = {"scheduled": True}
REPLY_RETRIES = 5
WINDOW_S = 1.0
# The closest two sends may come when the second makes up for a late one: never a burst of 29 at once.
MIN_SPACING_S = 0.25 / SENDS_PER_SECOND

JSON = bool | dict[str, Any] | list[dict[str, Any]]


class Pace:
    """Even sends at `per_second`, on a grid of slots 1/per_second apart. A send the event loop woke late (by
    less than `catch_up` slots) keeps the grid, so the next one comes sooner, but at least `min_spacing` after
    it; a later one (or the first after a lull) starts a new grid. Whatever the timing, never more than
    `per_second` sends within any `WINDOW_S`. One caller at a time waits for its slot (FIFO)."""

    def __init__(
        self,
        per_second: float,
        min_spacing: float = MIN_SPACING_S,
        catch_up: float = 2.0,
        clock: Callable[[], float] | None = None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self.interval = 1 / per_second
        self.in_window = max(1, int(per_second))
        self.min_spacing = min(min_spacing, self.interval)
        self.tolerance = catch_up * self.interval
        self._clock = clock
        self._sleep = sleep
        self._slot = float("-inf")  # the next slot of the grid
        self._sent: deque[float] = deque(maxlen=self.in_window + 1)  # the instants of the last sends
        self._turn = asyncio.Lock()

    def _now(self) -> float:
        return self._clock() if self._clock is not None else asyncio.get_running_loop().time()

    def wait_for(self, now: float) -> float:
        """Seconds from `now` until the next send is allowed (0: now)."""
        wait = self._slot - now
        sent = self._sent
        if sent:
            wait = max(wait, sent[-1] + self.min_spacing - now)
        if len(sent) >= self.in_window:  # at most per_second within any WINDOW_S
            wait = max(wait, sent[-self.in_window] + WINDOW_S - now)
        if len(sent) > self.in_window:
            # and one more only a slot after that: a 31st message within Telegram's second would need a send to
            # arrive a whole slot later than granted (as with evenly spaced sends), not one spacing later.
            wait = max(wait, sent[-self.in_window - 1] + WINDOW_S + self.interval - now)
        return wait if wait > 1e-6 else 0.0  # a microsecond is not worth a sleep (nor its late wake-up)

    async def acquire(self) -> None:
        async with self._turn:
            while (wait := self.wait_for(self._now())) > 0:
                await self._sleep(wait)
            now = self._now()
            self._sent.append(now)
            # Late by less than the tolerance: the grid stands and the next slot may be sooner than an interval.
            self._slot = (self._slot if now - self._slot <= self.tolerance else now) + self.interval


class SendBudget:
    """The pace, the pause after a 429, and the rule that replies go first (the engine's `Budget`)."""

    def __init__(self, per_second: float = SENDS_PER_SECOND, pace: Pace | None = None) -> None:
        # 0 means no pace (the shell, tests); `pace` is given by tests with their own clock.
        self._pace = pace if pace is not None else (Pace(per_second) if per_second > 0 else None)
        self._resume_at = 0.0
        self._replies_waiting = 0
        self._no_replies = asyncio.Event()
        self._no_replies.set()
        self._scheduled_turn = asyncio.Lock()
        self.pauses = 0

    def pause(self, seconds: float) -> None:
        """Telegram said "retry after": nothing of this process is sent before then."""
        self.pauses += 1
        self._resume_at = max(self._resume_at, asyncio.get_running_loop().time() + seconds)

    def paused_for(self) -> float:
        return max(0.0, self._resume_at - asyncio.get_running_loop().time())

    async def _wait_out_pause(self) -> None:
        # A loop, not one sleep: another 429 during the wait moves the end of the pause later.
        while (delay := self.paused_for()) > 0:  # noqa: ASYNC110
            await asyncio.sleep(delay)

    async def acquire_reply(self) -> None:
        """A reply to what an agent just did: only the pause and the pace come before it."""
        self._replies_waiting += 1
        self._no_replies.clear()
        try:
            await self._wait_out_pause()
            if self._pace is not None:
                await self._pace.acquire()
        finally:
            self._replies_waiting -= 1
            if self._replies_waiting == 0:
                self._no_replies.set()

    async def acquire(self) -> None:
        """A scheduled message: after every waiting reply, and after any pause."""
        async with self._scheduled_turn:
            while self._replies_waiting or self.paused_for() > 0:
                await self._no_replies.wait()
                await self._wait_out_pause()
            if self._pace is not None:
                await self._pace.acquire()


class PriorityRateLimiter(BaseRateLimiter[dict[str, Any]]):
    """python-telegram-bot's hook for every Bot API request, spending the process's `SendBudget`."""

    def __init__(self, budget: SendBudget, reply_retries: int = REPLY_RETRIES) -> None:
        self.budget = budget
        self.reply_retries = reply_retries

    async def initialize(self) -> None:
        """Nothing to set up."""

    async def shutdown(self) -> None:
        """Nothing to release."""

    async def process_request(
        self,
        callback: Callable[..., Coroutine[Any, Any, JSON]],
        args: Any,
        kwargs: dict[str, Any],
        endpoint: str,
        data: dict[str, Any],
        rate_limit_args: dict[str, Any] | None,
    ) -> JSON:
        scheduled = bool(rate_limit_args and rate_limit_args.get("scheduled"))
        # Telegram's limits are on messages to chats: answering a button press or reading updates costs nothing.
        paced = data.get("chat_id") is not None and not scheduled
        attempt = 0
        while True:
            if paced:
                await self.budget.acquire_reply()
            try:
                answer = await callback(*args, **kwargs)
            except RetryAfter as error:
                RETRY_AFTER.inc()
                seconds = retry_seconds(error)
                self.budget.pause(seconds + 0.1)
                if scheduled:
                    raise  # the engine logs it once and puts the row back
                attempt += 1
                if attempt > self.reply_retries:
                    log.warning("Telegram asked to wait %.0f s; %s gave up after %d tries", seconds, endpoint, attempt)
                    raise
                log.warning("Telegram asked to wait %.0f s; %s waits and tries again", seconds, endpoint)
            else:
                if scheduled or paced:  # a message to a chat, which Telegram counts against its limits
                    count_send(scheduled=scheduled)
                return answer


def retry_seconds(error: RetryAfter) -> float:
    """How long Telegram asked to wait (PTB gives a timedelta or, in older versions, a number of seconds)."""
    wait = error.retry_after
    return wait.total_seconds() if isinstance(wait, timedelta) else float(wait)
