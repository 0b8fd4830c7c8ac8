"""Issue 14: the floor of the mix itself — its statements and its replies on the fixed stack, and nothing else.

`bench.updates` measures the bot beside two floors that do less than any update of the mix (a reply; a reply and
one ORM read). This floor does what the mix's updates do at the stack's level and nothing of the bot's own: for
each kind, in one transaction through the same engine and ORM, the same SQL statements the bot runs for it (as
`before_cursor_execute` lists them; tests/test_bench_mix_floor.py holds them equal), then the same replies (text of
about the bot's length, the same buttons) through the same unparsed sends (`handlers.bot_api.AgentBot`),
dispatched by python-telegram-bot as the bot's are. Every statement is built once with bound parameters (building
one and its cache key costs more than running it), as the bot builds its hot ones.

Left out, being the bot's own work rather than the stack's: the update gate (its ledger and the chat lock), reading
and cleaning the agent's words, the time phrase (jionlp), choosing the tip, the catalogs and Babel, the send budget.
A second variant (`required=True`) adds back the pieces the issues require of every update — the gate, the send
budget, the time phrase's reading — as the bot runs them. So the bot can get close to these floors but not below
them: how close says how much of an update is the bot's own code, and whether half the base's CPU is within reach.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, bindparam, delete, func, select
from sqlalchemy import update as sql_update
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Update
from telegram.constants import ParseMode
from telegram.ext import Application, CallbackQueryHandler, CommandHandler, ContextTypes, Defaults, MessageHandler
from telegram.ext import filters as telegram_filters
from telegram.request import BaseRequest

from bot.bulk import loaded, new_row
from bot.clock import ManualClock
from bot.config import load_settings
from bot.models import Agent, Client, ConversationState, Delivery, FollowUp, Reflection, ShowingReview, TipState
from bot.send_budget import SendBudget
from bot.statuses import DeliveryKind, DeliveryStatus, FollowUpStatus
from bot.timeparse import find_when
from handlers.bot_api import AgentBot
from handlers.context import SERVICES_KEY, Services
from runtime.app import build_bot
from runtime.gate import GatedApplication
from runtime.send_budget import PriorityRateLimiter, PrometheusBudgetMetrics

# Replies of about the length the bot sends for each kind (its texts in Chinese, from one cycle of the mix).
TIP_TEXT = "💡 <b>今日带教</b>\n\n" + "心态放平，真诚待客。客户的需求要摸清，房源要熟悉，" * 3 + "\n\n— 前辈的总结"
TODAY_TEXT = "📋 <b>今天的跟进</b>（1 位）\n\n• 15:00 李女士 · 回电\n\n做完点 ✅，改时间点 🕒。"
REFLECTION_TEXT = "📝 记下了。\n\n第 4 问：今天有什么可以做得更好？"
CONFIRM_QUESTION = "📅 跟进 王先生：12月10日 周四 15:00\n📝 带看新房\n确认吗？"
CONFIRMED = "✅ 已安排：12月10日 周四 15:00 提醒你跟进 王先生。到时候我会准时叫你。"


def _buttons(*rows: tuple[tuple[str, str], ...]) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup(
        [[InlineKeyboardButton(label, callback_data=data) for label, data in row] for row in rows]
    )


def mix_floor_application(
    token: str, request: BaseRequest, sessions: async_sessionmaker[AsyncSession], now: datetime, *, required: bool
) -> Any:
    """A python-telegram-bot Application answering `bench.updates.cycle`'s six kinds at the stack's level.

    `required` adds what the issues ask of every update beside its statements, each the bot's own piece, so the
    floor pays what the bot must: the update gate (issue 14: each update applied once, one chat at a time, its log
    line and metrics), the send budget every reply passes (issue 16), and the time phrase read by the bot's
    reader (jionlp) where an agent types one."""
    if required:
        bot = build_bot(token, None, request, PriorityRateLimiter(SendBudget(0, metrics=PrometheusBudgetMetrics())))
        app = Application.builder().application_class(GatedApplication).bot(bot).build()
        app.bot_data[SERVICES_KEY] = Services(load_settings(), sessions, ManualClock(now))
    else:
        bot = AgentBot(token, request=request, defaults=Defaults(parse_mode=ParseMode.HTML))
        app = Application.builder().bot(bot).build()
    sql = Statements(postgresql_insert if sessions.kw["bind"].dialect.name == "postgresql" else sqlite_insert)
    day_start = now.replace(hour=0, minute=0, second=0, microsecond=0) - timedelta(hours=8)
    day, due = (now + timedelta(hours=8)).date(), now + timedelta(days=1, hours=5)

    async def agent_of(session: AsyncSession, update: Update) -> Agent:
        assert update.effective_user is not None
        return (await session.execute(sql.agent, {"user": update.effective_user.id})).scalar_one()

    async def tip(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        async with sessions() as session, session.begin():
            agent = await agent_of(session, update)
            (await session.scalars(sql.tips, {"agent": agent.id})).all()
            (await session.scalars(sql.shown, {"agent": agent.id, "tip": "mindset-01", "now": now})).one()
            chat = agent.chat_id
        rate = (("👍", "tip:up:mindset-01:-"), ("👎", "tip:down:mindset-01:-"), ("⭐", "tip:save:mindset-01:-"))
        await bot.send_text(chat, TIP_TEXT, _buttons(rate, (("➡️ 下一条", "tip:next:-"),)))

    async def rate(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        query = update.callback_query
        assert query is not None and query.message is not None
        async with sessions() as session, session.begin():
            agent = await agent_of(session, update)
            (await session.scalars(sql.rated, {"agent": agent.id, "tip": "mindset-01", "rating": 1})).one()
        await query.answer("👍 收到")
        await bot.edit_markup(query.message.chat.id, query.message.message_id, _buttons((("✓ 👍", "tip:up:x:-"),)))

    async def today(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        async with sessions() as session, session.begin():
            agent = await agent_of(session, update)
            bounds = {"agent": agent.id, "start": day_start, "end": day_start + timedelta(days=1)}
            listed = [(follow_up.id, client.name) for follow_up, client in await session.execute(sql.today, bounds)]
            chat = agent.chat_id
        buttons = [(("✅ " + name, f"fu:done:{i}"), ("🕒", f"fu:snooze:{i}")) for i, name in listed]
        await bot.send_text(chat, TODAY_TEXT, _buttons(*buttons))

    async def answer(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        assert update.effective_message is not None and update.effective_message.text is not None
        async with sessions() as session, session.begin():
            agent = await agent_of(session, update)
            answered = {"agent": agent.id, "on_day": day, "text": update.effective_message.text, "now": now}
            (await session.scalars(sql.answer, answered)).one()
            state = {"flow": "reflection", "step": "to_improve", "data": {"day": day.isoformat()}}
            await session.execute(sql.wait, {"chat": agent.chat_id, "now": now, **state})
            chat = agent.chat_id
        await bot.send_text(chat, REFLECTION_TEXT, _buttons((("⏭ 跳过", "rf:skip:-"), ("⏰ 稍后", "rf:later:-"))))

    async def follow_up(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        if required:
            assert context.args is not None
            read = find_when(" ".join(context.args[1:]), now, "Asia/Shanghai")
            assert read is not None
        async with sessions() as session, session.begin():
            agent = await agent_of(session, update)
            client = (await session.scalars(sql.client, {"agent": agent.id, "name": "王先生"})).first()
            assert client is not None
            data = {"client": client.id, "due": due.isoformat(), "note": "带看新房"}
            state = {"flow": "followup", "step": "confirm", "data": data}
            await session.execute(sql.wait, {"chat": agent.chat_id, "now": now, **state})
            chat = agent.chat_id
        await bot.send_text(chat, CONFIRM_QUESTION, _buttons((("✅ 确认", "fu:ok:x"), ("🕒 换个时间", "fu:other:x"))))

    async def confirm(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        query = update.callback_query
        assert query is not None and query.message is not None
        async with sessions() as session, session.begin():
            agent = await agent_of(session, update)
            client, _open = (await session.execute(sql.client_with_open, {"agent": agent.id, "name": "王先生"})).one()
            await session.execute(sql.stop_waiting, {"chat": agent.chat_id})
            common = {"agent_id": agent.id, "client_id": client.id, "created_at": now}
            added = {**common, "due_at": due, "note": "带看新房", "status": FollowUpStatus.OPEN, "updated_at": now}
            new = (await session.scalars(sql.add_follow_up, added)).one()
            review = {**common, "follow_up_id": new.id, "listing": "带看新房", "ends_at": due + timedelta(minutes=90)}
            asked = (await session.scalars(sql.add_review, review | {"reactions": "", "status": "open"})).one()
            fresh = {"agent_id": agent.id, "due_at": due, "status": DeliveryStatus.PENDING, "created_at": now}
            nudges = [
                fresh | {"kind": DeliveryKind.FOLLOWUP, "subject_id": new.id, "attempts": 0, "late": False},
                fresh | {"kind": DeliveryKind.SHOWING_REVIEW, "subject_id": asked.id, "attempts": 0, "late": False},
            ]
            await session.execute(sql.nudges, nudges)
        await query.answer()
        await bot.edit_text(query.message.chat.id, query.message.message_id, CONFIRMED)

    app.add_handler(CommandHandler("tip", tip))
    app.add_handler(CommandHandler("today", today))
    app.add_handler(CommandHandler("followup", follow_up))
    app.add_handler(CallbackQueryHandler(rate, pattern="^tip:"))
    app.add_handler(CallbackQueryHandler(confirm, pattern="^fu:"))
    app.add_handler(MessageHandler(telegram_filters.TEXT & ~telegram_filters.COMMAND, answer))
    return app


class Statements:
    """The mix's statements, built once with bound parameters (the upserts in the database's own dialect)."""

    def __init__(self, upsert: Any) -> None:
        self.agent = select(Agent).where(Agent.telegram_user_id == bindparam("user"))
        self.tips = select(TipState).where(TipState.agent_id == bindparam("agent"))
        tip_row = {"agent_id": bindparam("agent"), "tip_id": bindparam("tip")}
        tip_key = [TipState.agent_id, TipState.tip_id]
        shown = upsert(TipState).values(tip_row | {"shown": 1, "last_shown_at": bindparam("now"), "rating": 0})
        self.shown = shown.on_conflict_do_update(
            index_elements=tip_key, set_={"shown": TipState.shown + 1, "last_shown_at": bindparam("now")}
        ).returning(TipState)
        rated = upsert(TipState).values(tip_row | {"shown": 0, "rating": bindparam("rating")})
        self.rated = rated.on_conflict_do_update(
            index_elements=tip_key, set_={"rating": bindparam("rating")}
        ).returning(TipState)
        self.today = (
            select(FollowUp, Client)
            .join(Client, Client.id == FollowUp.client_id)
            .where(
                FollowUp.agent_id == bindparam("agent"),
                FollowUp.status == FollowUpStatus.OPEN,
                FollowUp.due_at >= bindparam("start"),
                FollowUp.due_at < bindparam("end"),
            )
            .order_by(FollowUp.due_at)
        )
        self.answer = (
            sql_update(Reflection)
            .where(Reflection.agent_id == bindparam("agent"), Reflection.day == bindparam("on_day"))
            .values(step="to_improve", went_well=bindparam("text"), updated_at=bindparam("now"))
            .returning(Reflection)
        )
        waiting = upsert(ConversationState).values(
            chat_id=bindparam("chat"),
            flow=bindparam("flow"),
            step=bindparam("step"),
            data=bindparam("data"),
            updated_at=bindparam("now"),
        )
        excluded = waiting.excluded
        self.wait = waiting.on_conflict_do_update(
            index_elements=[ConversationState.chat_id],
            set_={
                "flow": excluded.flow,
                "step": excluded.step,
                "data": excluded.data,
                "updated_at": excluded.updated_at,
            },
        )
        named = (
            Client.agent_id == bindparam("agent"),
            Client.archived.is_(False),
            func.lower(Client.name) == bindparam("name"),
        )
        self.client = select(Client).where(*named)
        self.client_with_open = (
            select(Client, FollowUp)
            .outerjoin(FollowUp, and_(FollowUp.client_id == Client.id, FollowUp.status == FollowUpStatus.OPEN))
            .where(*named)
        )
        self.stop_waiting = delete(ConversationState).where(ConversationState.chat_id == bindparam("chat"))
        # The bot's own statement builders (bot.bulk): an INSERT of named parameters, and that INSERT's row loaded as
        # the ORM object, as a /followup's ✅ writes them.
        follow_up_columns = ("agent_id", "client_id", "due_at", "note", "status", "created_at", "updated_at")
        self.add_follow_up = loaded(FollowUp, new_row(FollowUp.__table__, follow_up_columns))
        review_columns = ("agent_id", "client_id", "follow_up_id", "listing", "reactions", "status", "ends_at")
        self.add_review = loaded(ShowingReview, new_row(ShowingReview.__table__, (*review_columns, "created_at")))
        delivery_columns = ("agent_id", "kind", "subject_id", "due_at", "status", "attempts", "late", "created_at")
        self.nudges = new_row(Delivery.__table__, delivery_columns)
