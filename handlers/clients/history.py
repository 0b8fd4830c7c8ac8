"""The client's history as the agent reads it: a line per entry, and 📜 History paging through all of them."""

from __future__ import annotations

from bot.history import DONE, Entry, history, history_size
from bot.i18n import Html
from bot.models import Client
from bot.preferences import format_moment
from bot.statuses import ClientEvent
from bot.text import clip
from handlers.clients.navigation import PREFIX, Origin, Rows, back_row, stage_name
from handlers.context import Turn
from handlers.keyboards import Number, button

# A history page stays one message even at its worst: four entries, each a 350-character note and a 100-character
# topic made only of emoji (two UTF-16 units each, as Telegram counts), are 4 × ~960 < 4,096.
HISTORY_PAGE = 4
HISTORY_NOTE = 350
TOPIC = 100


# The longest history page number a button carries.
HISTORY_PAGE_NUMBER = Number(0, 999_999)


def entry_line(tn: Turn, entry: Entry, note_limit: int, topic_limit: int = TOPIC) -> str:
    """One entry: when, what (a contact's kind, a stage move, a follow-up done), and its note if any."""
    when = format_moment(entry.at, tn.agent.timezone, tn.lang, tn.now)
    if entry.kind == ClientEvent.STAGE and entry.moved is not None:
        old, new = entry.moved
        what = tn.t("clients.history.stage", old=stage_name(tn, old), new=stage_name(tn, new))
    elif entry.kind == DONE:
        about = clip(entry.about, topic_limit) if entry.about else None
        what = tn.t("clients.history.done_about", about=about) if about else tn.t("clients.history.done")
    else:
        what = tn.t(f"contact.{entry.kind}")
    if entry.note:
        return tn.t("clients.contact_line", when=when, kind=what, note=clip(entry.note, note_limit))
    return tn.t("clients.contact_line_plain", when=when, kind=what)


async def on_history(tn: Turn, client: Client, page: str, origin: Origin) -> bool:
    """📜 History (and its ◀ ▶): one page of every entry, newest first; a page past the end shows the last."""
    number = HISTORY_PAGE_NUMBER.read(page)
    if number is None:
        return False
    total = await history_size(tn.session, client.id)
    pages = max(1, -(-total // HISTORY_PAGE))
    number = min(number, pages - 1)
    entries = await history(tn.session, client.id, number * HISTORY_PAGE, HISTORY_PAGE)
    lines = [entry_line(tn, entry, HISTORY_NOTE) for entry in entries] or [tn.t("clients.no_contacts")]
    text = tn.t(
        "clients.history_page",
        name=client.name,
        total=total,
        page=number + 1,
        pages=pages,
        lines=Html("\n".join(lines)),
    )
    via = origin.parts()
    paging = []
    if number > 0:
        paging.append(button(tn.t("clients.button.prev"), PREFIX, "hist", client.id, number - 1, *via))
    if number < pages - 1:
        paging.append(button(tn.t("clients.button.next"), PREFIX, "hist", client.id, number + 1, *via))
    rows: Rows = [paging] if paging else []
    tn.edit(text, [*rows, back_row(tn, client, origin)])
    return True
