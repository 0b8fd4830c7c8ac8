"""This process's share of Telegram's message limits, with replies to the agent ahead of scheduled messages.

Telegram takes about 30 messages/s per bot, and answers more with 429 (RetryAfter), after which every send
should wait. python-telegram-bot's AIORateLimiter paces, but it treats a reply to what an agent just did like any
queued nudge, and it logs every 429 it gives up on as an ERROR with a traceback (43 in one storm). Here:

- one even pace for every message this process sends: aiolimiter's leaky bucket (the library AIORateLimiter
  uses) with room for one, refilled every 1/29 s, so there is never a burst;
- a reply waits only for the pace; a scheduled message (the engine's, `acquire`) also waits while any reply is
  waiting, and only one scheduled message queues at the pace at a time, so a wave of nudges delays a reply by at
  most one slot;
- a RetryAfter pauses every send of the process for that long. A reply then waits and tries again (the agent is
  looking at the chat); a scheduled message is handed back to the engine (`bot.scheduler.RetryLater`), which puts
  its row back to pending without counting an attempt. Each 429 is one WARNING line.

The engine waits for its turn *before* its last ownership check and the send (bot.scheduler), so a long wait
here can never end in a stale send. Sharing one budget between several processes is a later issue.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Coroutine
from datetime import timedelta
from typing import Any

from aiolimiter import AsyncLimiter
from telegram.error import RetryAfter
from telegram.ext import BaseRateLimiter

log = logging.getLogger(__name__)

TELEGRAM_MESSAGES_PER_SECOND = 30
# Just under Telegram's rate: one late request at exactly 30/s puts a 31st into Telegram's window.
SENDS_PER_SECOND = TELEGRAM_MESSAGES_PER_SECOND - 1
# The engine's sends carry these rate-limit arguments: they already waited for the budget.
SCHEDULED: dict[str, Any] = {"scheduled": True}
REPLY_RETRIES = 5

JSON = bool | dict[str, Any] | list[dict[str, Any]]


class SendBudget:
    """The pace, the pause after a 429, and the rule that replies go first (the engine's `Budget`)."""

    def __init__(self, per_second: float = SENDS_PER_SECOND) -> None:
        # Room for one message, refilled every 1/per_second s: evenly spaced sends. 0 means no pace (the shell, tests).
        self._pace = AsyncLimiter(1, 1 / per_second) if per_second > 0 else None
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
                return await callback(*args, **kwargs)
            except RetryAfter as error:
                seconds = retry_seconds(error)
                self.budget.pause(seconds + 0.1)
                if scheduled:
                    raise  # the engine logs it once and puts the row back
                attempt += 1
                if attempt > self.reply_retries:
                    log.warning("Telegram asked to wait %.0f s; %s gave up after %d tries", seconds, endpoint, attempt)
                    raise
                log.warning("Telegram asked to wait %.0f s; %s waits and tries again", seconds, endpoint)


def retry_seconds(error: RetryAfter) -> float:
    """How long Telegram asked to wait (PTB gives a timedelta or, in older versions, a number of seconds)."""
    wait = error.retry_after
    return wait.total_seconds() if isinstance(wait, timedelta) else float(wait)
