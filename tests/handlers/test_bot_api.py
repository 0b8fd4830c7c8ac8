"""The replies sent without reading Telegram's answer (handlers.bot_api) are the requests PTB's own methods make.

What Telegram receives must not depend on whether the bot parses the answer: the same method, the same parameters
(the HTML default inserted, no empty ones), the same errors; and the message id comes back.
"""

from __future__ import annotations

from typing import Any

import pytest
from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Message
from telegram.error import BadRequest, Forbidden

from bot.send_budget import SendBudget
from handlers.bot_api import AgentBot, Sent
from runtime.app import LOCAL_TOKEN, build_bot
from runtime.local_api import LocalBotAPI
from runtime.send_budget import PriorityRateLimiter

CHAT = 4242
KEYBOARD = InlineKeyboardMarkup([[InlineKeyboardButton("✅", callback_data="fu:ok:7")]])


@pytest.fixture
async def bot() -> Any:
    api = LocalBotAPI()
    made = build_bot(LOCAL_TOKEN, None, api, PriorityRateLimiter(SendBudget(0)))
    await made.initialize()
    yield made, api
    await made.shutdown()


def last_call(api: LocalBotAPI) -> tuple[str, dict[str, Any]]:
    call = api.calls[-1]
    return call.method, dict(call.params)


def with_id(call: tuple[str, dict[str, Any]], message: Message) -> tuple[str, dict[str, Any]]:
    """The same call on another message."""
    return call[0], call[1] | {"message_id": message.message_id}


@pytest.mark.parametrize("markup", [None, KEYBOARD])
async def test_a_sent_text_is_the_request_send_message_makes(bot: tuple[AgentBot, LocalBotAPI], markup: Any) -> None:
    agent_bot, api = bot
    message = await agent_bot.send_message(CHAT, "<b>明天</b> 15:00", reply_markup=markup)
    by_ptb = last_call(api)
    sent = await agent_bot.send_text(CHAT, "<b>明天</b> 15:00", markup)
    assert last_call(api) == by_ptb
    assert by_ptb[1]["parse_mode"] == "HTML"
    assert sent == Sent(message.message_id + 1)  # the next message of the chat


@pytest.mark.parametrize("markup", [None, KEYBOARD])
async def test_an_edit_is_the_request_message_edit_text_makes(bot: tuple[AgentBot, LocalBotAPI], markup: Any) -> None:
    agent_bot, api = bot
    first, second = [await agent_bot.send_message(CHAT, "draft", reply_markup=KEYBOARD) for _ in range(2)]
    await first.edit_text("<i>saved</i>", reply_markup=markup)
    by_ptb = last_call(api)
    sent = await agent_bot.edit_text(CHAT, second.message_id, "<i>saved</i>", markup)
    assert last_call(api) == with_id(by_ptb, second)
    assert sent == Sent(second.message_id)


async def test_a_markup_edit_is_the_request_message_edit_reply_markup_makes(bot: tuple[AgentBot, LocalBotAPI]) -> None:
    agent_bot, api = bot
    first, second = [await agent_bot.send_message(CHAT, "tip", reply_markup=KEYBOARD) for _ in range(2)]
    await first.edit_reply_markup(None)
    by_ptb = last_call(api)
    sent = await agent_bot.edit_markup(CHAT, second.message_id, None)
    assert last_call(api) == with_id(by_ptb, second)
    assert sent == Sent(second.message_id)


async def test_telegram_errors_are_raised_alike(bot: tuple[AgentBot, LocalBotAPI]) -> None:
    agent_bot, api = bot
    api.fail_next("sendMessage", 403, "Forbidden: bot was blocked by the user")
    with pytest.raises(Forbidden):
        await agent_bot.send_text(CHAT, "hello")
    message = await agent_bot.send_message(CHAT, "same")
    with pytest.raises(BadRequest, match="not modified"):
        await agent_bot.edit_text(CHAT, message.message_id, "same")
