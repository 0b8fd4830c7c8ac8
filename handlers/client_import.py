"""/import: the agent sends their client list as a file, sees a preview, and imports it with ✅.

`/import` says what to send (an .xlsx or .csv file, the headers read, the limits). A document sent at any time is
taken as an import, /import first or not: a file of another kind, too big, unreadable or without a header row
gets one clear line and changes nothing. Otherwise the bot downloads it, reads it (`bot.client_import`, in a
thread: 10,000 rows take a second or two) and answers with the preview: how many clients are new, merged into
existing ones, already up to date, and every skipped row with why (told in row ranges; a long list is split over
several messages), then ✅ Import / ✖️ Cancel (pressed, the preview stays without its buttons and the answer comes
below it). A file that would change nothing gets the counts and no buttons.

The conversation state keeps the file's Telegram id, not its rows (a 20,000-row file is megabytes of JSON):
✅ downloads and reads it again, sets it against the clients as they are then, and imports that, so a restart
between the preview and ✅ loses nothing and a client added meanwhile is merged, not doubled. Buttons carry
`imp:go|no:<tag>`; the tag names the preview, so a press on an older preview gets the stale answer.
"""

from __future__ import annotations

import asyncio
import zlib
from collections import defaultdict
from typing import Final

from telegram import Document, Update
from telegram.error import TelegramError
from telegram.ext import ContextTypes

from bot.client_import import (
    MAX_BYTES,
    MAX_ROWS,
    Field,
    ImportRefused,
    Outcome,
    Plan,
    Refusal,
    SkipReason,
    apply_plan,
    file_kind,
    plan_import,
    read_file,
    row_ranges,
    today_for,
)
from bot.conversations import Waiting, stop_waiting, wait_for, waiting_for
from bot.i18n import Html, t
from handlers.bot_api import AgentBot
from handlers.context import Turn, turn
from handlers.keyboards import Number, button, layout

PREFIX = "imp"
FLOW: Final = "import"
STEP: Final = "confirm"
MEGABYTES: Final = MAX_BYTES // (1024 * 1024)
TAG = Number(0, 10**8 - 1)
# imp:go|no:<tag>
CONFIRM = layout(PREFIX, ("go", "no"), TAG)


async def explain(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """/import: what to send and what is read from it."""
    async with turn(update, context) as tn:
        tn.send(tn.t("import.help", megabytes=MEGABYTES, rows=f"{MAX_ROWS:,}"))


async def on_document(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """A file in the chat: read it and show what importing it would do."""
    message = update.effective_message
    document = message.document if message is not None else None
    async with turn(update, context) as tn:
        if tn.agent.setup_step is not None:
            tn.send(tn.t("fallback.setup_first"))
            return
        if document is None:
            tn.send(tn.t("fallback.unsupported"))
            return
        await preview(tn, document)


async def preview(tn: Turn, document: Document) -> None:
    name = document.file_name or ""
    try:
        file_kind(name)
        if document.file_size is not None and document.file_size > MAX_BYTES:
            raise ImportRefused(Refusal.TOO_BIG)
    except ImportRefused as refused:
        tn.send(refusal(tn.lang, refused.reason))
        return
    plan = await read_and_plan(tn, document.file_id, name)
    if plan is None:
        return
    text = preview_text(tn.lang, plan, name)
    if not plan.changes_anything:
        tn.send(text + "\n\n" + tn.t("import.nothing_to_do"))
        return
    tag = zlib.crc32(f"{document.file_unique_id}\n{tn.now.isoformat()}".encode()) % 10**8
    await wait_for(
        tn.session,
        tn.agent.chat_id,
        Waiting(FLOW, STEP, {"tag": tag, "file_id": document.file_id, "name": name}),
        tn.now,
    )
    buttons = [
        [button(tn.t("import.button.go"), PREFIX, "go", tag), button(tn.t("import.button.cancel"), PREFIX, "no", tag)]
    ]
    tn.send(text + "\n\n" + tn.t("import.confirm"), buttons)


async def read_and_plan(tn: Turn, file_id: str, name: str) -> Plan | None:
    """Download and read the file, and set it against the agent's clients; None after answering why not."""
    try:
        data = await download(tn.bot, file_id)
    except TelegramError:
        tn.send(tn.t("import.refused.download"))
        return None
    try:
        sheet = await asyncio.to_thread(read_file, data, name, today_for(tn.agent, tn.now))
    except ImportRefused as refused:
        tn.send(refusal(tn.lang, refused.reason))
        return None
    return await plan_import(tn.session, tn.agent, sheet)


async def download(bot: AgentBot, file_id: str) -> bytes:
    found = await bot.get_file(file_id)
    return bytes(await found.download_as_bytearray())


async def on_button(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """✅ Import or ✖️ Cancel under a preview."""
    async with turn(update, context) as tn:
        pressed = tn.pressed(CONFIRM)
        if pressed is None:
            return
        action, tag = pressed
        waiting = await waiting_for(tn.session, tn.agent.chat_id)
        data = waiting.data if waiting is not None and waiting.flow == FLOW else {}
        file_id, name = data.get("file_id"), data.get("name")
        if data.get("tag") != tag or not isinstance(file_id, str) or not isinstance(name, str):
            tn.toast(tn.t("import.gone"), alert=True)
            return
        await stop_waiting(tn.session, tn.agent.chat_id)
        tn.edit_buttons(None)  # the preview stays readable: its skipped rows are what the agent fixes next
        if action == "no":
            tn.send(tn.t("import.cancelled"))
            return
        plan = await read_and_plan(tn, file_id, name)
        if plan is not None:
            tn.send(done_text(tn.lang, await apply_plan(tn.session, plan, tn.now)))


def refusal(lang: str, reason: Refusal) -> str:
    return t(lang, f"import.refused.{reason}", megabytes=MEGABYTES, rows=f"{MAX_ROWS:,}")


# How many row numbers (or ranges) one line of the preview lists; a longer list goes on over several lines, each
# a message of its own in the catalogs, so a split over several Telegram messages falls between lines.
ROWS_PER_LINE: Final = 150


def preview_text(lang: str, plan: Plan, filename: str) -> str:
    """The counts, then every skipped row grouped by why (row numbers in ranges), then rows whose date was unread."""
    separator = t(lang, "import.list_separator")
    columns = separator.join(t(lang, f"import.field.{found}") for found in Field if found in plan.headers)
    lines = [
        t(lang, "import.preview_title", file=filename, rows=plan.rows),
        t(lang, "import.preview_columns", columns=columns),
        "",
    ]
    lines += count_lines(lang, len(plan.new), plan.merged, plan.unchanged, len(plan.skipped))
    if plan.skipped:
        lines += ["", t(lang, "import.skipped_title")]
        by_reason: dict[tuple[SkipReason, str | None], list[int]] = defaultdict(list)
        duplicates: list[str] = []
        for skipped in plan.skipped:
            if skipped.reason == SkipReason.DUPLICATE:
                duplicates.append(t(lang, "import.duplicate_of", row=skipped.row, first=skipped.other))
            else:
                detail = str(skipped.other) if skipped.other is not None else None
                by_reason[(skipped.reason, detail)].append(skipped.row)
        for (reason, detail), rows in by_reason.items():
            field = t(lang, f"import.field.{detail}") if detail else ""
            for chunk in chunks(ranges_of(rows)):
                lines.append(t(lang, f"import.skip.{reason}", rows=separator.join(chunk), field=field))
        for chunk in chunks(duplicates):
            lines.append(t(lang, "import.skip.duplicate", rows=Html(separator.join(chunk))))
    if plan.unread_dates:
        lines.append("")
        for chunk in chunks(ranges_of(plan.unread_dates)):
            lines.append(t(lang, "import.unread_dates", rows=separator.join(chunk)))
    return "\n".join(lines)


def chunks(items: list[str]) -> list[list[str]]:
    return [items[i : i + ROWS_PER_LINE] for i in range(0, len(items), ROWS_PER_LINE)]


def ranges_of(rows: list[int]) -> list[str]:
    return [str(a) if a == b else f"{a}–{b}" for a, b in row_ranges(rows)]


def count_lines(lang: str, new: int, merged: int, unchanged: int, skipped: int) -> list[str]:
    counts = (("new", new), ("merged", merged), ("unchanged", unchanged), ("skipped", skipped))
    return [t(lang, f"import.count.{key}", count=count) for key, count in counts if count]


def done_text(lang: str, outcome: Outcome) -> str:
    counts = count_lines(lang, outcome.new, outcome.merged, outcome.unchanged, outcome.skipped)
    return "\n".join([t(lang, "import.done"), *counts])
