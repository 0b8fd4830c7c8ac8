"""What every handler needs for one update: a database session, the agent, their language, and now.

Everything the agent sends passes here on the way in (typed text and command arguments, cleaned by
`bot.text.clean`; a button's data, read by the layout the handler names) and every reply on the way out: a reply
longer than Telegram's 4,096 characters is split into valid Telegram HTML parts (handlers.replies; an edit keeps
the first part and the rest follow as new messages), so no text is ever refused.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, TypeVar

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from telegram import CallbackQuery, InlineKeyboardButton, InlineKeyboardMarkup, Message, Update
from telegram.constants import ChatType
from telegram.error import BadRequest
from telegram.ext import ApplicationHandlerStop, ContextTypes

from bot.access import admit
from bot.agents import NewAgent
from bot.clock import Clock
from bot.config import Settings
from bot.i18n import from_telegram, t
from bot.models import Agent
from bot.teams import Redeemed, Redemption
from bot.text import clean, clip
from handlers.bot_api import AgentBot
from handlers.replies import split_html

if TYPE_CHECKING:
    from handlers.keyboards import Layout

T = TypeVar("T")
TOAST_LIMIT = 200  # what answerCallbackQuery takes
PHOTO_NAME = "chart.png"  # the name a photo is uploaded under (a chart is the only photo the bot sends)


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
    failed reply never loses what the agent entered. Nothing reads what Telegram answers to a reply, so the
    texts go through `AgentBot`'s sends that do not parse it.
    """

    session: AsyncSession
    agent: Agent
    now: datetime
    services: Services
    bot: AgentBot
    query: CallbackQuery | None = None
    # What the agent typed (cleaned; "" for a press), and a command's arguments (cleaned, none empty).
    typed: str = ""
    args: list[str] = field(default_factory=list)
    # What became of the invite code that came with /start (None: none came).
    redemption: Redemption | None = None
    _toast: tuple[str | None, bool] = (None, False)
    _replies: list[Callable[[], Awaitable[object]]] = field(default_factory=list)

    @property
    def lang(self) -> str:
        return self.agent.language

    def t(self, key: str, /, **values: object) -> str:
        return t(self.agent.language, key, **values)

    def send(self, text: str, buttons: Buttons | None = None) -> None:
        """A new message in the agent's chat (several, buttons on the last, if it is over Telegram's limit)."""
        *first, last = split_html(text)
        for part in first:
            self._send(part, None)
        self._send(last, _markup(buttons))

    def edit(self, text: str, buttons: Buttons | None = None) -> None:
        """Replace the pressed message's text (and buttons; none given removes them).

        An edit cannot grow into two messages: over the limit, the pressed message shows the first part and the
        rest follow as new messages, the buttons on the last."""
        query = self._pressed()
        head, *rest = split_html(text)
        markup = None if rest else _markup(buttons)
        message, bot = _in_chat(query), self.bot
        if message is not None:
            self._replies.append(
                lambda: bot.edit_text(message.chat_id, message.message_id, head, markup, message.business_connection_id)
            )
        else:
            self._replies.append(lambda: query.edit_message_text(head, reply_markup=markup))
        for index, part in enumerate(rest):
            self._send(part, _markup(buttons) if index == len(rest) - 1 else None)

    def send_photo(self, photo: bytes, caption: str, buttons: Buttons | None = None) -> None:
        """An image with its caption (Telegram takes 1,024 characters of caption: the caller keeps within it)."""
        chat_id, markup = self.agent.chat_id, _markup(buttons)
        self._replies.append(
            lambda: self.bot.send_photo(chat_id, photo, caption=caption, reply_markup=markup, filename=PHOTO_NAME)
        )

    def send_document(self, content: bytes, filename: str, caption: str | None = None) -> None:
        """A file the agent can save and open (the draft weekly summary as .docx, .md)."""
        chat_id = self.agent.chat_id
        self._replies.append(lambda: self.bot.send_document(chat_id, content, filename=filename, caption=caption))

    def _send(self, text: str, markup: InlineKeyboardMarkup | None) -> None:
        chat_id, bot = self.agent.chat_id, self.bot
        self._replies.append(lambda: bot.send_text(chat_id, text, markup))

    def edit_buttons(self, buttons: Buttons | None) -> None:
        """Replace only the pressed message's buttons."""
        query, markup, bot = self._pressed(), _markup(buttons), self.bot
        message = _in_chat(query)
        if message is not None:
            self._replies.append(
                lambda: bot.edit_markup(message.chat_id, message.message_id, markup, message.business_connection_id)
            )
        else:
            self._replies.append(lambda: query.edit_message_reply_markup(markup))

    def toast(self, text: str, alert: bool = False) -> None:
        """What the press is answered with (a short notice, or an alert the agent must dismiss)."""
        self._pressed()
        self._toast = (clip(text, TOAST_LIMIT), alert)

    def update_menu(self) -> None:
        """Set this chat's command menu to the agent's language (queued like a reply)."""
        from handlers.menus import set_chat_menu

        bot, chat_id, language = self.bot, self.agent.chat_id, self.agent.language
        self._replies.append(lambda: set_chat_menu(bot, chat_id, language))

    def matches(self, layout: Layout[T]) -> T | None:
        """The pressed button's values if `layout` reads its data, else None (a handler with several layouts tries
        each in turn, then ends with `pressed`, which refuses what none of them reads)."""
        return layout.decode(self._pressed().data)

    @property
    def action(self) -> str | None:
        """The pressed button's action (its second field), to pick the layout that reads the rest."""
        from handlers.keyboards import action_of

        return action_of(self._pressed().data)

    def pressed(self, layout: Layout[T]) -> T | None:
        """The pressed button's action and typed values as `layout` reads them; anything else (forged, stale, from
        an old version) is refused here with the stale-button notice, and None tells the handler to stop."""
        values = layout.decode(self._pressed().data)
        if values is None:
            self.refuse()
        return values

    def refuse(self) -> None:
        """The polite answer to a button that cannot be acted on (forged, stale, another agent's)."""
        self.toast(self.t("error.stale_button"))

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
            try:
                await reply()
            except BadRequest as error:
                if not _unchanged(error):
                    raise
                # The message already shows this (a second tap, or a view already at its limit): nothing to do.


Buttons = list[list[InlineKeyboardButton]] | InlineKeyboardMarkup


def _unchanged(error: BadRequest) -> bool:
    """Telegram refuses an edit that would leave the message exactly as it is ("message is not modified")."""
    return "message is not modified" in error.message.lower()


def _in_chat(query: CallbackQuery) -> Message | None:
    """The pressed message, edited by its chat and id; None for an inline message or one too old to see, which
    PTB's own `CallbackQuery` methods handle (the latter with their error)."""
    message = query.message
    return message if query.inline_message_id is None and isinstance(message, Message) else None


def _markup(buttons: Buttons | None) -> InlineKeyboardMarkup | None:
    if buttons is None or isinstance(buttons, InlineKeyboardMarkup):
        return buttons
    return InlineKeyboardMarkup(buttons)


@asynccontextmanager
async def turn(update: Update, context: ContextTypes.DEFAULT_TYPE, *, invite: str | None = None) -> AsyncIterator[Turn]:
    """Load (or register) the agent who sent the update; commit what the handler changed, then reply.

    `invite` is the code that came with /start. In invite mode (bot.access) someone who is not an agent yet and
    brings no valid code gets one polite line in the language their Telegram reports, nothing is stored, and the
    update goes no further (no handler runs)."""
    svc = services(context)
    user, chat = update.effective_user, update.effective_chat
    if user is None or chat is None:
        raise RuntimeError("update without a user or chat reached an agent handler")
    now = svc.clock.now()
    who = NewAgent(
        telegram_user_id=user.id,
        chat_id=chat.id,
        display_name=clean(user.full_name or "").strip() or str(user.id),
        language=from_telegram(user.language_code, svc.settings.default_language),
        timezone=svc.settings.default_timezone,
    )
    bot = context.bot
    assert isinstance(bot, AgentBot), "the application is built by runtime.app.build_application"
    if chat.type != ChatType.PRIVATE:
        # A command in a group: nothing is read or stored, and above all the agent's chat does not move there (their
        # reminders, clients and reflections would follow it into the group).
        await refuse_outside_private(bot, update, chat.id, who.language)
        raise ApplicationHandlerStop
    settings = svc.settings
    async with svc.sessions() as session:
        async with session.begin():
            admission = await admit(
                session, who, now, invite=invite, invite_only=settings.invite_only(), admins=settings.admins()
            )
            agent = admission.agent
            if agent is not None:
                typed, args = typed_input(update, context)
                current = Turn(session, agent, now, svc, bot, update.callback_query, typed, args, admission.redemption)
                yield current
        if agent is not None:
            await current.deliver()
            return
    await refuse_stranger(bot, update, chat.id, who.language, admission.redemption)
    raise ApplicationHandlerStop


# What a stranger hears in invite mode: why not, in one line (a code they brought that failed says how).
_STRANGER_LINES = {
    Redeemed.WRONG_CODE: "access.wrong_code",
    Redeemed.EXPIRED: "access.expired",
    Redeemed.USED_UP: "access.used_up",
}


async def refuse_stranger(
    bot: AgentBot, update: Update, chat_id: int, language: str, redemption: Redemption | None
) -> None:
    key = _STRANGER_LINES.get(redemption.outcome, "access.invite_only") if redemption else "access.invite_only"
    if update.callback_query is not None:
        await update.callback_query.answer()  # the button's spinner stops; the line says why
    await bot.send_text(chat_id, t(language, key))


async def refuse_outside_private(bot: AgentBot, update: Update, chat_id: int, language: str) -> None:
    """One line in the group pointing to the private chat (a press there only stops its spinner)."""
    if update.callback_query is not None:
        await update.callback_query.answer()
        return
    await bot.send_text(chat_id, t(language, "error.private_only"))


def typed_input(update: Update, context: ContextTypes.DEFAULT_TYPE) -> tuple[str, list[str]]:
    """The message's text and the command's arguments, cleaned by the one rule for what is kept (bot.text)."""
    message = update.effective_message
    typed = clean(message.text) if message is not None and message.text else ""
    args = [word for word in (clean(arg) for arg in context.args or []) if word.strip()]
    return typed, args
