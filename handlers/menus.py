"""The command menu in each language.

Telegram keys menus by two-letter codes only, so: the default and `zh` menus are zh-Hans, `en` is English,
and every agent also gets a menu for their own chat in the language they chose (zh-Hant has no code of its
own, and an agent may choose a language other than their app's).
"""

from __future__ import annotations

from telegram import Bot, BotCommand, BotCommandScopeChat

from bot.i18n import EN, ZH_HANS, t

COMMANDS = (
    "start",
    "client",
    "clients",
    "import",
    "followup",
    "today",
    "overdue",
    "stale",
    "tip",
    "topics",
    "saved",
    "reflect",
    "journal",
    "digest",
    "summary",
    "team",
    "settings",
    "privacy",
    "export",
    "delete_me",
    "help",
    "cancel",
)


def commands_for(language: str) -> list[BotCommand]:
    return [BotCommand(name, t(language, f"command.{name}")) for name in COMMANDS]


async def set_default_menus(bot: Bot) -> None:
    await bot.set_my_commands(commands_for(ZH_HANS))
    await bot.set_my_commands(commands_for(ZH_HANS), language_code="zh")
    await bot.set_my_commands(commands_for(EN), language_code="en")


async def set_chat_menu(bot: Bot, chat_id: int, language: str) -> None:
    await bot.set_my_commands(commands_for(language), scope=BotCommandScopeChat(chat_id))
