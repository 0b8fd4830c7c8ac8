"""`agentcoach shell`: chat with the bot in the terminal, no token and no network.

The real handlers run against `LocalBotAPI`; the agent types messages and commands, sees the bot's
replies, and presses an inline button by typing its number. A line starting with ' is sent as text even
if it is a number.
"""

from __future__ import annotations

import asyncio
from typing import TextIO

from bot.clock import SystemClock
from bot.config import Settings
from bot.db import engine_from_settings, session_factory, upgrade
from bot.i18n import t
from handlers.app import LOCAL_TOKEN, AgentApplication, build_application, prepare
from handlers.context import Services
from handlers.delivery import SWEEP_INTERVAL_SECONDS, engine_of
from handlers.local_api import LocalBotAPI, LocalChat, Reply

QUIT = ("/quit", "/exit")


def render(reply: Reply, language: str) -> str:
    lines: list[str] = []
    for shown in reply.edited:
        lines.append(t(language, "shell.edited", text=shown.text) if shown.text else "")
    for shown in reply.sent:
        lines.append("🤖 " + shown.text.replace("\n", "\n   "))
    if reply.toast:
        lines.append("💬 " + reply.toast)
    shown_last = reply.sent[-1] if reply.sent else (reply.edited[-1] if reply.edited else None)
    if shown_last is not None and shown_last.buttons:
        number = 0
        for row in shown_last.buttons:
            cells = []
            for label, _ in row:
                number += 1
                cells.append(f"[{number}] {label}")
            lines.append("   " + "   ".join(cells))
    if not lines:
        lines.append(t(language, "shell.no_reply"))
    return "\n".join(line for line in lines if line)


async def run_shell(
    settings: Settings, stdin: TextIO, stdout: TextIO, *, user_id: int, name: str, language_code: str
) -> None:
    engine = engine_from_settings(settings)
    await upgrade(engine)
    api = LocalBotAPI()
    services = Services(settings, session_factory(engine), SystemClock())
    app = build_application(services, token=LOCAL_TOKEN, request=api)
    language = settings.default_language
    try:
        async with app:
            await engine_of(app).start()  # the shell sweeps too: refused while the bot serves the same file
            await prepare(app)
            chat = LocalChat(app, api, user_id=user_id, first_name=name, language_code=language_code)
            stdout.write(t(language, "shell.intro") + "\n")
            stdout.flush()
            sweeper = asyncio.create_task(sweep_forever(app, chat, stdout, language))
            try:
                await converse(chat, stdin, stdout, language)
            finally:
                sweeper.cancel()
                await engine_of(app).stop()
    finally:
        await engine.dispose()


async def converse(chat: LocalChat, stdin: TextIO, stdout: TextIO, language: str) -> None:
    while True:
        stdout.write("> ")
        stdout.flush()
        line = await asyncio.to_thread(stdin.readline)
        if not line:
            return
        line = line.strip()
        if not line:
            continue
        if line in QUIT:
            return
        reply = await act(chat, line)
        stdout.write(render(reply, language) + "\n")
        stdout.flush()


async def sweep_forever(app: AgentApplication, chat: LocalChat, stdout: TextIO, language: str) -> None:
    """What the bot sends on its own (follow-up nudges) appears while the agent types, as in Telegram."""
    while True:
        await asyncio.sleep(SWEEP_INTERVAL_SECONDS)
        await sweep_and_show(app, chat, stdout, language)


async def sweep_and_show(app: AgentApplication, chat: LocalChat, stdout: TextIO, language: str) -> None:
    known = {shown.message_id for shown in chat.messages()}
    report = await engine_of(app).sweep()
    if report.sent:
        fresh = [shown for shown in chat.messages() if shown.message_id not in known]
        stdout.write("\n" + render(Reply(fresh, []), language) + "\n> ")
        stdout.flush()


async def act(chat: LocalChat, line: str) -> Reply:
    """A number presses that button on the newest message with buttons; anything else is typed."""
    if line.startswith("'"):
        return await chat.send(line[1:])
    target = chat.last_with_buttons()
    if line.isascii() and line.isdigit() and target is not None:  # "²".isdigit() too, but int() refuses it
        flat = [data for row in target.buttons for _, data in row]
        index = int(line) - 1
        if 0 <= index < len(flat):
            return await chat.press_data(flat[index], target)
    return await chat.send(line)
