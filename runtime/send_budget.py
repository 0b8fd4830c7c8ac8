"""python-telegram-bot's side of the deployment's send budget (bot/send_budget.py): every Bot API request passes
here, and a message to a chat first takes its slot, as a reply unless the caller says otherwise. A RetryAfter
pauses the whole deployment; a reply then waits and tries again (the agent is looking at the chat), a scheduled
message is handed back to the engine (`bot.scheduler.RetryLater`). The budget's waits and sends are counted for
Prometheus here (runtime.metrics): bot/ knows nothing of it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Coroutine
from datetime import timedelta
from typing import Any

from telegram.error import RetryAfter
from telegram.ext import BaseRateLimiter

from bot.send_budget import SendBudget
from bot.statuses import SendPriority
from runtime.metrics import BUDGET_PAUSES, BUDGET_WAIT_SECONDS, BUDGET_WAITING, RETRY_AFTER, SENDS

log = logging.getLogger(__name__)

REPLY_RETRIES = 5
# The engine's sends carry these rate-limit arguments: they took their slot already (bot.scheduler's Budget).
SCHEDULED: dict[str, Any] = {"scheduled": True}
BUDGET_KEY = "send_budget"  # where the application keeps its SendBudget (bot_data)
# Bot API methods that are not messages to a chat (Telegram does not count them against the limits).
NOT_MESSAGES = frozenset({"answerCallbackQuery", "sendChatAction", "getUpdates", "setMessageReaction"})

JSON = bool | dict[str, Any] | list[dict[str, Any]]


class PrometheusBudgetMetrics:
    """The budget's waits and sends as this process's Prometheus series."""

    def waiting(self, priority: SendPriority, change: int) -> None:
        BUDGET_WAITING.labels(priority).inc(change)

    def waited(self, priority: SendPriority, seconds: float) -> None:
        BUDGET_WAIT_SECONDS.labels(priority).observe(seconds)

    def sent(self, priority: SendPriority) -> None:
        SENDS.labels(priority).inc()

    def paused(self) -> None:
        BUDGET_PAUSES.inc()


def budget_of(app: Any) -> SendBudget:
    """The application's send budget (runtime.app keeps it in bot_data)."""
    found = app.bot_data[BUDGET_KEY]
    assert isinstance(found, SendBudget)
    return found


class PriorityRateLimiter(BaseRateLimiter[dict[str, Any]]):
    """python-telegram-bot's hook for every Bot API request, spending the deployment's `SendBudget`."""

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
        args_given = rate_limit_args or {}
        scheduled = bool(args_given.get("scheduled"))
        priority = SendPriority(args_given.get("priority", SendPriority.NUDGE if scheduled else SendPriority.REPLY))
        chat_id = data.get("chat_id")
        # Telegram's limits are on messages to chats: answering a button press or reading updates costs nothing.
        # (The engine's sends took their slot before their last check.)
        paced = chat_id is not None and endpoint not in NOT_MESSAGES and not scheduled
        attempt = 0
        while True:
            if paced:
                await self.budget.acquire(_chat(chat_id), priority, message=endpoint.startswith("send"))
            try:
                answer = await callback(*args, **kwargs)
            except RetryAfter as error:
                RETRY_AFTER.inc()
                seconds = retry_seconds(error)
                await self.budget.pause(seconds + 0.1)
                if scheduled:
                    raise  # the engine logs it once and puts the row back
                attempt += 1
                if attempt > self.reply_retries:
                    log.warning("Telegram asked to wait %.0f s; %s gave up after %d tries", seconds, endpoint, attempt)
                    raise
                log.warning("Telegram asked to wait %.0f s; %s waits and tries again", seconds, endpoint)
            else:
                if chat_id is not None and endpoint not in NOT_MESSAGES:
                    self.budget.count_sent(_chat(chat_id), None if scheduled else priority)
                return answer


def _chat(chat_id: Any) -> int | None:
    """A chat id as the budget keys it: private chats are numbers; an @channel name is not paced per chat."""
    try:
        return int(chat_id)
    except (TypeError, ValueError):
        return None


def retry_seconds(error: RetryAfter) -> float:
    """How long Telegram asked to wait (PTB gives a timedelta or, in older versions, a number of seconds)."""
    wait = error.retry_after
    return wait.total_seconds() if isinstance(wait, timedelta) else float(wait)
