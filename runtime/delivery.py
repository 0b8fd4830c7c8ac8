"""The scheduling engine's link to Telegram: sending an `Outgoing`, and the APScheduler tick that sweeps.

Telegram's answers become the engine's vocabulary: 403 → the agent is unreachable, 429 → retry later,
network trouble → transient, any other 400 → permanent. The tick is the only in-memory job and holds no
reminder itself: it asks the database what is due, every second, so a restart loses nothing.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine
from telegram import Bot, InlineKeyboardMarkup, InputFile
from telegram.error import BadRequest, Forbidden, NetworkError, RetryAfter
from telegram.ext import Application, ContextTypes, ExtBot

from bot.ownership import new_key
from bot.scheduler import (
    AgentUnreachable,
    Engine,
    Outgoing,
    PermanentFailure,
    RetryLater,
    SweepReport,
    TransientFailure,
)
from bot.send_budget import SendBudget
from handlers.context import PHOTO_NAME
from handlers.keyboards import inline
from runtime.metrics import SWEEP_SECONDS, count_deliveries
from runtime.send_budget import BUDGET_KEY, SCHEDULED, retry_seconds

log = logging.getLogger(__name__)

ENGINE_KEY = "engine"
FIRST_SWEEP_KEY = "first_sweep"
LAST_SWEEP_KEY = "last_sweep"  # time.time() when a sweep last ended (webhook /healthz)
SWEEP_INTERVAL_SECONDS = 1.0
# Telegram's words for a chat that is gone for good; everything else in a 400 is about the message.
_GONE = ("chat not found", "user is deactivated", "bot was kicked", "bot can't initiate conversation")


class TelegramSender:
    """Sends an `Outgoing` as a message, or as a photo with its text as the caption."""

    def __init__(self, bot: Bot) -> None:
        self.bot = bot

    async def send(self, chat_id: int, message: Outgoing) -> int:
        markup = InlineKeyboardMarkup(inline(message.buttons)) if message.buttons else None
        # The engine waited for the send budget already (runtime.send_budget).
        paced = isinstance(self.bot, ExtBot) and self.bot.rate_limiter is not None
        extra: dict[str, Any] = {"rate_limit_args": SCHEDULED} if paced else {}
        try:
            if message.photo is not None:
                photo = InputFile(message.photo, filename="chart.png")
                sent = await self.bot.send_photo(
                    chat_id, photo, caption=message.text, reply_markup=markup, filename=PHOTO_NAME, **extra
                )
            else:
                sent = await self.bot.send_message(chat_id, message.text, reply_markup=markup, **extra)
        except Forbidden as error:
            raise AgentUnreachable(error.message) from error
        except RetryAfter as error:
            seconds = retry_seconds(error)
            raise RetryLater(seconds) from error
        except BadRequest as error:  # a subclass of NetworkError, so it must come first
            if any(words in error.message.lower() for words in _GONE):
                raise AgentUnreachable(error.message) from error
            raise PermanentFailure(error.message) from error
        except NetworkError as error:
            raise TransientFailure(error.message) from error
        return sent.message_id


def engine_of(app: Application[Any, Any, Any, Any, Any, Any]) -> Engine:
    found = app.bot_data[ENGINE_KEY]
    assert isinstance(found, Engine)
    return found


async def sweep_tick(context: ContextTypes.DEFAULT_TYPE) -> None:
    """Sweep; while sweeps leave due rows behind, sweep again at once (a backlog drains at Telegram's pace, not one
    batch per tick). APScheduler runs this every second, never two at once, never skipped for being late."""
    engine = engine_of(context.application)
    while True:
        report = await sweep_counted(engine)
        context.application.bot_data[LAST_SWEEP_KEY] = time.time()
        if report.claimed:
            log.info(
                "sweep: %d claimed, %d sent (%d late), %d retried, %d failed, %d held, %d cancelled, %d taken over; "
                "at most %d in flight so far",
                report.claimed,
                report.sent,
                report.late,
                report.retried,
                report.failed,
                report.held,
                report.cancelled,
                report.taken_over,
                engine.most_in_flight,
            )
        if not engine.backlog:
            return


async def sweep_counted(engine: Engine) -> SweepReport:
    """One sweep, timed and its outcomes counted in the process's metrics (runtime.metrics)."""
    with SWEEP_SECONDS.time():
        report = await engine.sweep()
    count_deliveries(report)
    return report


def start_sweeping(app: Application[Any, Any, Any, Any, Any, Any]) -> None:
    """Tick the engine from PTB's JobQueue (APScheduler), and sweep once right now, before polling even starts,
    so nudges that fell due while the bot was down go out first."""
    assert app.job_queue is not None, "python-telegram-bot[job-queue] is required"
    engine = engine_of(app)
    budget = app.bot_data.get(BUDGET_KEY)
    bind = engine.sessions.kw.get("bind")
    if isinstance(budget, SendBudget) and isinstance(bind, AsyncEngine):  # what it spends, for `agentcoach stats`
        budget.start_reporting(bind, engine.ownership.key if engine.ownership is not None else new_key())
    app.bot_data[FIRST_SWEEP_KEY] = asyncio.create_task(sweep_counted(engine))
    app.job_queue.run_repeating(
        sweep_tick,
        interval=SWEEP_INTERVAL_SECONDS,
        first=SWEEP_INTERVAL_SECONDS,
        name="sweep",
        job_kwargs={"max_instances": 1, "coalesce": True, "misfire_grace_time": None},
    )
