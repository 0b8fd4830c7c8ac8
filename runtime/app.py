"""Wiring: the Application, its handlers in the order a conversation meets them, and its lifecycle."""

from __future__ import annotations

import asyncio
import gc
import logging
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine
from telegram import Update
from telegram.constants import ParseMode
from telegram.ext import (
    Application,
    CallbackQueryHandler,
    CommandHandler,
    Defaults,
    MessageHandler,
    filters,
)
from telegram.request import BaseRequest, HTTPXRequest

from bot import recurring
from bot.reflections import LATER as REFLECTION_LATER
from bot.scheduler import Engine, Kind
from bot.send_budget import SendBudget, budget_prefix, shared_store
from bot.showing_times import KIND as SHOWING_REVIEW
from bot.timeparse import warm_up
from bot.timezones import city_index
from bot.tip_library import library
from handlers import (
    basics,
    client_import,
    clients,
    data,
    day_parts,
    digest,
    followups,
    free_text,
    privacy,
    reflections,
    settings,
    showing_review,
    stale,
    stale_rule,
    start,
    team,
    team_view,
    tips,
)
from handlers.bot_api import AgentBot
from handlers.broadcast import BROADCAST, render_broadcast
from handlers.context import SERVICES_KEY, Services
from handlers.errors import on_error
from handlers.menus import set_default_menus
from runtime.delivery import ENGINE_KEY, TelegramSender
from runtime.gate import GatedApplication
from runtime.send_budget import BUDGET_KEY, PriorityRateLimiter, PrometheusBudgetMetrics

log = logging.getLogger(__name__)

LOCAL_TOKEN = "7000000001:LOCAL-SHELL"
TELEGRAM_URL = "https://api.telegram.org/bot"  # PTB's default; its files are under …/file/bot

AgentApplication = Application[Any, Any, Any, Any, Any, Any]
# bench.webhooks turns the send budget off, to measure the processes rather than Telegram's limit.
PACED = True


def file_url(base_url: str) -> str:
    """http://host:port/bot → http://host:port/file/bot (how Telegram and local Bot API servers lay it out)."""
    root = base_url.removesuffix("/bot") if base_url.endswith("/bot") else base_url.rsplit("/", 1)[0]
    return f"{root}/file/bot"


def build_application(
    services: Services,
    *,
    token: str,
    base_url: str | None = None,
    request: BaseRequest | None = None,
    send_rate: float | None = None,
) -> AgentApplication:
    """The bot with every handler registered; `request` replaces the network (shell, tests), where messages are
    not paced unless `send_rate` (messages/s) says so. Against Telegram (no `request`) the send budget is the
    deployment's (SEND_RATE, shared through PostgreSQL or REDIS_URL: runtime.send_budget)."""
    settings = services.settings
    rate = send_rate if send_rate is not None else (0 if request is not None or not PACED else settings.send_rate)
    budget = SendBudget(rate, metrics=PrometheusBudgetMetrics())
    if request is None and rate > 0:
        engine = services.sessions.kw.get("bind")
        assert isinstance(engine, AsyncEngine), "the session factory must be bound to an engine"
        budget.store = shared_store(engine, settings.redis_url, budget_prefix(token), lambda: budget.processes)
    bot = build_bot(token, base_url, request, PriorityRateLimiter(budget))
    app: AgentApplication = Application.builder().application_class(GatedApplication).bot(bot).build()
    app.bot_data[SERVICES_KEY] = services
    app.bot_data[ENGINE_KEY] = build_engine(services, app, budget)
    app.bot_data[BUDGET_KEY] = budget
    register_handlers(app)
    return app


def build_bot(
    token: str, base_url: str | None, request: BaseRequest | None, rate_limiter: PriorityRateLimiter
) -> AgentBot:
    """The bot as PTB's builder would make it (HTML by default, its HTTP pools: 256 connections to send, one to
    poll), as an `AgentBot`."""
    return AgentBot(
        token,
        base_url=base_url or TELEGRAM_URL,
        base_file_url=file_url(base_url or TELEGRAM_URL),
        request=request or HTTPXRequest(connection_pool_size=256),
        get_updates_request=request or HTTPXRequest(connection_pool_size=1),
        defaults=Defaults(parse_mode=ParseMode.HTML),
        rate_limiter=rate_limiter,
    )


def build_engine(services: Services, app: AgentApplication, budget: SendBudget | None = None) -> Engine:
    """The scheduling engine with every kind of delivery the bot knows how to render."""
    kinds: dict[str, Kind] = {
        followups.KIND: followups.NUDGE,
        recurring.DAILY_TIP: Kind(
            render=tips.render_daily_tip,
            after_sent=tips.daily_tip_sent,
            after_skipped=recurring.after_sent,
            repair=recurring.after_sent,
        ),
        recurring.REFLECTION: Kind(
            render=reflections.render_prompt,
            after_sent=recurring.after_sent,
            after_skipped=recurring.after_sent,
            repair=recurring.after_sent,
        ),
        REFLECTION_LATER: Kind(render=reflections.render_later),
        recurring.DIGEST: Kind(
            render=digest.render_digest,
            after_sent=tips.daily_tip_sent,  # the tip in it counts as shown, then the next digest
            after_skipped=recurring.after_sent,
            repair=recurring.after_sent,
            renders_alone=True,  # a chart not drawn ahead is drawn while it renders
        ),
        recurring.STALE_WARNING: Kind(
            render=stale.render_warning,
            after_sent=recurring.after_sent,
            after_skipped=recurring.after_sent,  # nobody at risk today: nothing sent, tomorrow's scheduled
            repair=recurring.after_sent,
        ),
        BROADCAST: Kind(render=render_broadcast),
        SHOWING_REVIEW: showing_review.REVIEW,
        recurring.TEAM_DIGEST: Kind(
            render=team_view.render_team_digest,
            after_sent=recurring.after_sent,
            after_skipped=recurring.after_sent,  # a lead who left: nothing sent, and none scheduled after it
            repair=recurring.after_sent,
            renders_alone=True,  # its chart is drawn while it renders
        ),
    }
    return Engine(services.sessions, services.clock, TelegramSender(app.bot), kinds, budget=budget)


def register_handlers(app: AgentApplication) -> None:
    # Commands come first, so a command sent in the middle of a flow is that command, never an answer.
    app.add_handler(CommandHandler("start", start.start))
    app.add_handler(CommandHandler("settings", settings.show_settings))
    app.add_handler(CommandHandler("help", basics.show_help))
    app.add_handler(CommandHandler("cancel", basics.cancel))
    app.add_handler(CommandHandler("client", clients.add))
    app.add_handler(CommandHandler("clients", clients.show_list))
    app.add_handler(CommandHandler("followup", followups.new_follow_up))
    app.add_handler(CommandHandler("today", followups.today))
    app.add_handler(CommandHandler("overdue", followups.overdue))
    app.add_handler(CommandHandler("stale", stale.show_stale))
    app.add_handler(CommandHandler("tip", tips.show_tip))
    app.add_handler(CommandHandler("topics", tips.show_topics))
    app.add_handler(CommandHandler("saved", tips.show_saved))
    app.add_handler(CommandHandler("reflect", reflections.reflect))
    app.add_handler(CommandHandler("journal", reflections.journal))
    app.add_handler(CommandHandler("digest", digest.show_digest))
    app.add_handler(CommandHandler("summary", digest.show_summary))
    app.add_handler(CommandHandler("team", team.show_team))
    app.add_handler(CommandHandler("export", data.export))
    app.add_handler(CommandHandler("delete_me", data.delete_me))
    app.add_handler(CommandHandler("privacy", privacy.show_privacy))
    app.add_handler(CommandHandler("import", client_import.explain))
    app.add_handler(MessageHandler(filters.COMMAND, basics.unknown_command))
    app.add_handler(CallbackQueryHandler(start.on_button, pattern=rf"^{start.PREFIX}:"))
    app.add_handler(CallbackQueryHandler(settings.on_button, pattern=rf"^{settings.PREFIX}:"))
    app.add_handler(CallbackQueryHandler(clients.on_button, pattern=rf"^{clients.PREFIX}:"))
    app.add_handler(CallbackQueryHandler(followups.on_button, pattern=rf"^{followups.PREFIX}:"))
    app.add_handler(CallbackQueryHandler(day_parts.on_button, pattern=rf"^{day_parts.PREFIX}:"))
    app.add_handler(CallbackQueryHandler(stale.on_button, pattern=rf"^{stale.PREFIX}:"))
    app.add_handler(CallbackQueryHandler(stale_rule.on_button, pattern=rf"^{stale_rule.PREFIX}:"))
    app.add_handler(CallbackQueryHandler(tips.on_button, pattern=rf"^{tips.PREFIX}:"))
    app.add_handler(CallbackQueryHandler(reflections.on_button, pattern=rf"^{reflections.PREFIX}:"))
    app.add_handler(CallbackQueryHandler(showing_review.on_button, pattern=rf"^{showing_review.PREFIX}:"))
    app.add_handler(CallbackQueryHandler(free_text.on_button, pattern=rf"^{free_text.PREFIX}:"))
    app.add_handler(CallbackQueryHandler(digest.on_button, pattern=rf"^{digest.PREFIX}:"))
    app.add_handler(CallbackQueryHandler(team.on_button, pattern=rf"^{team.PREFIX}:"))
    app.add_handler(CallbackQueryHandler(team_view.on_button, pattern=rf"^{team_view.PREFIX}:"))
    app.add_handler(CallbackQueryHandler(client_import.on_button, pattern=rf"^{client_import.PREFIX}:"))
    app.add_handler(CallbackQueryHandler(basics.unknown_button))
    app.add_handler(MessageHandler(filters.TEXT & filters.ChatType.PRIVATE, basics.on_text))
    app.add_handler(MessageHandler(filters.VOICE & filters.ChatType.PRIVATE, reflections.on_voice))
    app.add_handler(MessageHandler(filters.Document.ALL & filters.ChatType.PRIVATE, client_import.on_document))
    app.add_handler(MessageHandler(filters.ChatType.PRIVATE, basics.unsupported_message))
    app.add_error_handler(on_error)


async def prepare(app: AgentApplication, *, background: bool = False) -> None:
    """Things to do once the bot can talk to the Bot API, before the first update.

    With `background` (serving) the bot does not wait: due nudges after a restart go first, the menus and the
    city index follow a second later, and the time parsers load only when an agent opens a flow that asks for
    a time (`bot.timeparse.prefetch`; ~9 MiB a bot that only sends nudges never needs). The shell and the
    tests load everything before the first update: the time parser swallows stdout while it imports.
    """
    if background:
        app.bot_data[WARM_UP_KEY] = asyncio.create_task(load_menus_and_city_index(app, delay=1.0))
    else:
        await load_menus_and_city_index(app)
        await asyncio.to_thread(warm_up)


async def load_menus_and_city_index(app: AgentApplication, delay: float = 0.0) -> None:
    await set_default_menus(app.bot)
    await asyncio.sleep(delay)  # due nudges after a restart first; the checks and loading below can wait
    await ensure_recurring(app)
    await asyncio.to_thread(city_index)
    await asyncio.to_thread(library)
    # What start-up loaded stays for the process's life: out of the collector's sight, its full collections (80 ms
    # pauses, measured in bench/send_budget.py's senders) shrink to what changes, and paced sends stay on time.
    gc.freeze()


async def ensure_recurring(app: AgentApplication) -> None:
    """Every agent's daily tip is waiting in the table, even after a failed send or a restored backup."""
    services: Services = app.bot_data[SERVICES_KEY]
    added = await recurring.ensure_scheduled(services.sessions, services.clock.now())
    if added:
        log.info("scheduled %s missing recurring deliveries", added)


WARM_UP_KEY = "warm_up"


ALLOWED_UPDATES = [Update.MESSAGE, Update.CALLBACK_QUERY]
