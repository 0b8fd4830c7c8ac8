"""The bot's Bot API client: python-telegram-bot's ExtBot, plus sends whose answer the bot never reads.

PTB's `send_message` and `edit_message_text` turn Telegram's answer (the whole message, its keyboard included)
into a `Message`: ~300 attribute sets per reply, a fifth of PTB's share of an update (issue 14). A handler's
replies (`handlers.context.Turn`) are sent and forgotten, so they go through `send_text`, `edit_text` and
`edit_markup` here: the same request as PTB's methods (its `Defaults`, rate limiter and errors alike; a test
compares the two), answered with `Sent`, the message id and nothing else.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from telegram import InlineKeyboardMarkup
from telegram._utils.defaultvalue import DEFAULT_NONE
from telegram.ext import ExtBot

# The parameters with a `Defaults` value that Bot._send_message passes on whatever the method.
_SENT_WITH_EVERY_MESSAGE = {
    "disable_notification": DEFAULT_NONE,
    "parse_mode": DEFAULT_NONE,
    "protect_content": DEFAULT_NONE,
}


@dataclass(frozen=True, slots=True)
class Sent:
    """What Telegram answered to a message sent or edited: its id (None where it answers only `True`)."""

    message_id: int | None


class AgentBot(ExtBot[dict[str, Any]]):  # its rate limiter's arguments: runtime.send_budget
    """ExtBot with unparsed sends for replies nobody reads (see the module docstring)."""

    async def send_text(self, chat_id: int, text: str, reply_markup: InlineKeyboardMarkup | None = None) -> Sent:
        """`send_message(chat_id, text, reply_markup=…)`, without building the `Message` Telegram sends back."""
        data: dict[str, Any] = {"chat_id": chat_id, "text": text, "link_preview_options": DEFAULT_NONE}
        return await self._unread("sendMessage", data, reply_markup)

    async def edit_text(
        self,
        chat_id: int,
        message_id: int,
        text: str,
        reply_markup: InlineKeyboardMarkup | None = None,
        business_connection_id: str | None = None,
    ) -> Sent:
        """`edit_message_text(text, chat_id, message_id, reply_markup=…)`, as `Message.edit_text` calls it."""
        data: dict[str, Any] = {
            "text": text,
            "chat_id": chat_id,
            "message_id": message_id,
            "business_connection_id": business_connection_id,
            "link_preview_options": DEFAULT_NONE,
        }
        return await self._unread("editMessageText", data, reply_markup)

    async def edit_markup(
        self,
        chat_id: int,
        message_id: int,
        reply_markup: InlineKeyboardMarkup | None,
        business_connection_id: str | None = None,
    ) -> Sent:
        """`edit_message_reply_markup(chat_id, message_id, reply_markup)`, as `Message.edit_reply_markup` calls it."""
        data: dict[str, Any] = {
            "chat_id": chat_id,
            "message_id": message_id,
            "business_connection_id": business_connection_id,
        }
        return await self._unread("editMessageReplyMarkup", data, reply_markup)

    async def _unread(self, endpoint: str, data: dict[str, Any], reply_markup: InlineKeyboardMarkup | None) -> Sent:
        # What Bot._send_message adds before its _post, for every method (ExtBot swaps the keyboard when callback
        # data is cached); _post inserts the Defaults, drops the Nones, and goes through the rate limiter.
        data.update(_SENT_WITH_EVERY_MESSAGE)
        data["reply_markup"] = self._replace_keyboard(reply_markup)
        result = await self._post(endpoint, data)
        return Sent(result.get("message_id") if isinstance(result, dict) else None)
