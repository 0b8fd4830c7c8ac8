"""`agentcoach shell`: chat with the bot in the terminal, no token and no network.

The real handlers run against `LocalBotAPI`; the agent types messages and commands and sees the bot's
replies. Buttons are shown under their message as `#12: [1] ✅ Done   [2] ⏰ Later` (#12 is the message's number):
- `#2` presses button 2 of the newest message with buttons, `#12.2` button 2 of message 12 (any message still shown);
- a bare number `2` presses button 2 of the newest message too, but only when none of its buttons is itself a number
  or a time (`3`, `6+`, `😐 3`, `21:30`): there the number is the agent's typed answer, as it would be in Telegram;
- a number with no such button, and any line starting with ', is sent as text;
- `/file PATH` sends that file as a document (an .xlsx or .csv client list for /import).
The intro and the shell's own lines follow the language code the shell was started with.
"""

from __future__ import annotations

import asyncio
import re
import tempfile
from pathlib import Path
from typing import TextIO

from bot.clock import SystemClock
from bot.config import Settings
from bot.db import engine_from_settings, session_factory, upgrade
from bot.i18n import from_telegram, t
from handlers.context import Services
from handlers.digest import close_charts
from runtime.app import LOCAL_TOKEN, AgentApplication, build_application, prepare
from runtime.delivery import SWEEP_INTERVAL_SECONDS, engine_of
from runtime.local_api import LocalBotAPI, LocalChat, Reply, Shown

QUIT = ("/quit", "/exit")
FILE_COMMAND = "/file "
# "#2": button 2 of the newest message with buttons; "#12.2": button 2 of message 12.
PRESS = re.compile(r"^#(?:(\d{1,9})\.)?(\d{1,4})$")
# A label that is itself a number or a time ("3", "6+", "😐 3", "21:30"), so a typed number may mean it or itself.
NUMBER_LABEL = re.compile(r"[^\w]*\d[\d:+.]*[^\w]*")


def render(reply: Reply, language: str) -> str:
    lines: list[str] = []
    for shown in reply.edited:
        lines.append(t(language, "shell.edited", text=shown.text) if shown.text else "")
        lines.append(button_line(shown))
    for shown in reply.sent:
        if shown.kind == "photo":
            lines.append(t(language, "shell.photo"))  # a terminal cannot show the chart; its caption follows
        if shown.file is not None:  # the chart, the draft .docx: saved where the agent can open them
            lines.append(t(language, "shell.file_saved", path=str(saved_file(shown))))
        if shown.text:
            lines.append("🤖 " + shown.text.replace("\n", "\n   "))
        lines.append(button_line(shown))
    if reply.toast:
        lines.append("💬 " + reply.toast)
    if not any(lines):
        lines.append(t(language, "shell.no_reply"))
    return "\n".join(line for line in lines if line)


def saved_file(shown: Shown) -> Path:
    """A file the bot sent, written to a folder of the shell's own under the system's temporary directory."""
    assert shown.file is not None
    name, content = shown.file
    folder = Path(tempfile.gettempdir()) / "agentcoach-shell"
    folder.mkdir(exist_ok=True)
    path = folder / f"{shown.message_id}-{Path(name).name}"
    path.write_bytes(content)
    return path


def button_line(shown: Shown) -> str:
    """'   #12: [1] ✅ Done   [2] ⏰ Later' (empty without buttons); rows are kept apart by a wider gap."""
    if not shown.buttons:
        return ""
    number, rows = 0, []
    for row in shown.buttons:
        cells = []
        for label, _ in row:
            number += 1
            cells.append(f"[{number}] {label}")
        rows.append("   ".join(cells))
    return f"   #{shown.message_id}: " + "\n   ".join(rows)


async def run_shell(
    settings: Settings, stdin: TextIO, stdout: TextIO, *, user_id: int, name: str, language_code: str
) -> None:
    engine = engine_from_settings(settings)
    await upgrade(engine)
    api = LocalBotAPI()
    services = Services(settings, session_factory(engine), SystemClock())
    app = build_application(services, token=LOCAL_TOKEN, request=api)
    language = from_telegram(language_code, settings.default_language)
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
                await close_charts()
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
        stdout.write(render(reply, language) if isinstance(reply, Reply) else t(language, reply.key, **reply.values))
        stdout.write("\n")
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


class ShellNote:
    """A line the shell answers itself (no button with that number), as a catalog key and its values."""

    def __init__(self, key: str, **values: object) -> None:
        self.key, self.values = key, values


async def act(chat: LocalChat, line: str) -> Reply | ShellNote:
    """`#n`, `#m.n` or an unambiguous bare number presses a button; anything else is typed (see the module doc)."""
    if line.startswith("'"):
        return await chat.send(line[1:])
    if line.startswith(FILE_COMMAND):
        return await send_file(chat, line.removeprefix(FILE_COMMAND).strip())
    pressed = PRESS.match(line)
    if pressed:
        message, number = pressed.group(1), int(pressed.group(2))
        target = chat.last_with_buttons() if message is None else _shown(chat, int(message))
        data = _button(target, number)
        if target is None or data is None:
            return ShellNote("shell.no_button", button=line)
        return await chat.press_data(data, target)
    target = chat.last_with_buttons()
    if line.isascii() and line.isdigit() and target is not None and not _has_number_labels(target):
        data = _button(target, int(line))  # "²".isdigit() too, but isascii() keeps it text
        if data is not None:
            return await chat.press_data(data, target)
    return await chat.send(line)


async def send_file(chat: LocalChat, typed: str) -> Reply | ShellNote:
    """`/file PATH`: the file as the agent would send it from their phone."""
    found = await asyncio.to_thread(_read_file, typed)
    if found is None:
        return ShellNote("shell.file_unreadable", path=typed)
    return await chat.send_document(*found)


def _read_file(typed: str) -> tuple[str, bytes] | None:
    path = Path(typed.strip("'\"")).expanduser()
    try:
        return path.name, path.read_bytes()
    except OSError:
        return None


def _shown(chat: LocalChat, message_id: int) -> Shown | None:
    return next((shown for shown in chat.messages() if shown.message_id == message_id), None)


def _button(target: Shown | None, number: int) -> str | None:
    flat = [data for row in target.buttons for _, data in row] if target else []
    return flat[number - 1] if 1 <= number <= len(flat) else None


def _has_number_labels(target: Shown) -> bool:
    return any(NUMBER_LABEL.fullmatch(label.removeprefix("✓ ")) for label in target.labels)
