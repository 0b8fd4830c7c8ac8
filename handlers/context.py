"""What every handler needs for one update: a database session, the agent, their language, and now."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from telegram import Bot, CallbackQuery, InlineKeyboardButton, InlineKeyboardMarkup, Update
from telegram.ext import ContextTypes

from bot.agents import NewAgent, get_or_register
from bot.clock import Clock
from bot.config import Settings
from bot.i18n import from_telegram, t
from bot.models import Agent


@dataclass(frozen=True)
class Services:
    """Long-lived things the handlers share, stored once in application.bot_data."""

    settings: Settings
    sessions: async_sessionmaker[AsyncSession]
    clock: Clock


SERVICES_KEY = "services"


def services(context: ContextTypes.DEFAULT_TYPE) -> Services:
    found = context.application.bot_data[SERVICES_KEY]
    assert isinstance(found, Services)
    return found


@dataclass
class Turn:
    """One update being handled: the agent, a transaction, and the replies to send once it is committed.

    Handlers queue what the agent should see (`send`, `edit`, `toast`…) while they change the database; the
    replies go out only after the commit. So a reply never shows a change that a crash could still undo, and a
    failed reply never loses what the agent entered.
    """

    session: AsyncSession
    agent: Agent
    now: datetime
    services: Services
    bot: Bot
    query: CallbackQuery | None = None
    _toast: tuple[str | None, bool] = (None, False)
    _replies: list[Callable[[], Awaitable[object]]] = field(default_factory=list)

    @property
    def lang(self) -> str:
        return self.agent.language

    def t(self, key: str, /, **values: object) -> str:
        return t(self.agent.language, key, **values)

    def send(self, text: str, buttons: Buttons | None = None) -> None:
        """A new message in the agent's chat."""
        chat_id, markup = self.agent.chat_id, _markup(buttons)
        self._replies.append(lambda: self.bot.send_message(chat_id, text, reply_markup=markup))

    def edit(self, text: str, buttons: Buttons | None = None) -> None:
        """Replace the pressed message's text (and buttons; none given removes them)."""
        query, markup = self._pressed(), _markup(buttons)
        self._replies.append(lambda: query.edit_message_text(text, reply_markup=markup))

    def edit_buttons(self, buttons: Buttons | None) -> None:
        """Replace only the pressed message's buttons."""
        query, markup = self._pressed(), _markup(buttons)
        self._replies.append(lambda: query.edit_message_reply_markup(markup))

    def toast(self, text: str, alert: bool = False) -> None:
        """What the press is answered with (a short notice, or an alert the agent must dismiss)."""
        self._pressed()
        self._toast = (text, alert)

    def update_menu(self) -> None:
        """Set this chat's command menu to the agent's language (queued like a reply)."""
        from handlers.menus import set_chat_menu

        bot, chat_id, language = self.bot, self.agent.chat_id, self.agent.language
        self._replies.append(lambda: set_chat_menu(bot, chat_id, language))

    def pressed(self, parts: int = 3) -> list[str] | None:
        """The pressed button's fields; a malformed one (forged, or from an old version) is refused here."""
        from handlers.keyboards import unpack

        fields = unpack(self._pressed().data, parts)
        if fields is None:
            self.toast(self.t("error.stale_button"))
        return fields

    def _pressed(self) -> CallbackQuery:
        if self.query is None:
            raise RuntimeError("only a button press can be answered or edited")
        return self.query

    async def deliver(self) -> None:
        """Answer the press (always, so its spinner stops), then send the queued replies in order."""
        if self.query is not None:
            text, alert = self._toast
            await self.query.answer(text, show_alert=alert)
        for reply in self._replies:
            await reply()


Buttons = list[list[InlineKeyboardButton]] | InlineKeyboardMarkup


def _markup(buttons: Buttons | None) -> InlineKeyboardMarkup | None:
    if buttons is None or isinstance(buttons, InlineKeyboardMarkup):
        return buttons
    return InlineKeyboardMarkup(buttons)


@asynccontextmanager
async def turn(update: Update, context: ContextTypes.DEFAULT_TYPE) -> AsyncIterator[Turn]:
    """Load (or register) the agent who sent the update; commit what the handler changed, then reply."""
    svc = services(context)
    user, chat = update.effective_user, update.effective_chat
    if user is None or chat is None:
        raise RuntimeError("update without a user or chat reached an agent handler")
    now = svc.clock.now()
    who = NewAgent(
        telegram_user_id=user.id,
        chat_id=chat.id,
        display_name=user.full_name or str(user.id),
        language=from_telegram(user.language_code, svc.settings.default_language),
        timezone=svc.settings.default_timezone,
    )
    async with svc.sessions() as session:
        async with session.begin():
            agent = await get_or_register(session, who, now)
            current = Turn(session, agent, now, svc, context.bot, update.callback_query)
            yield current
        await current.deliver()
