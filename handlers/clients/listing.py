"""The client list: counts per stage, a page of clients as buttons, stage filters, search, and the way into the
archive."""

from __future__ import annotations

from telegram import Update
from telegram.ext import ContextTypes

from bot.clients import NAME_LIMIT, clients_page, counts_by_stage, parse_stage, search_clients
from bot.i18n import Html
from bot.models import Client
from bot.statuses import STAGES
from bot.text import clip
from handlers.clients.archive import archive_button
from handlers.clients.navigation import ALL, HOME, PREFIX, Origin, Rows, stage_name
from handlers.clients.registering import ECHO_LIMIT
from handlers.context import Turn, turn
from handlers.keyboards import button, grid, mark

PAGE_SIZE = 8


async def show_list(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """/clients: counts and the first page; /clients <stage> one stage; /clients <text> a search."""
    async with turn(update, context) as tn:
        query = " ".join(tn.args).strip()
        stage = parse_stage(query) if query else None
        if query and stage is None:
            await show_search(tn, query)
            return
        text, rows = await list_view(tn, stage, 0)
        tn.send(text, rows)


async def show_search(tn: Turn, query: str) -> None:
    found = await search_clients(tn.session, tn.agent.id, query) if len(query) <= NAME_LIMIT else []
    shown = clip(query, ECHO_LIMIT)
    if not found:
        tn.send(tn.t("clients.search_none", text=shown))
        return
    tn.send(tn.t("clients.search_results", text=shown, count=len(found)), client_rows(tn, found, "new", HOME))


async def list_view(tn: Turn, stage: str | None, page_number: int) -> tuple[str, Rows]:
    """The list message: counts per stage, one page of clients, paging and stage filters."""
    counts = await counts_by_stage(tn.session, tn.agent.id)
    total = sum(counts.values())
    archived = await archive_button(tn)
    if total == 0:
        return tn.t("clients.list_empty", usage=Html(tn.t("clients.usage"))), archived
    page = await clients_page(tn.session, tn.agent.id, stage, page_number, PAGE_SIZE)
    counts_line = " · ".join(tn.t("clients.list_count", stage=stage_name(tn, s), count=n) for s, n in counts.items())
    showing = stage_name(tn, stage) if stage else tn.t("clients.list_all")
    hint = tn.t("clients.list_hint") if page.clients else tn.t("clients.list_empty_stage", stage=showing)
    text = tn.t(
        "clients.list",
        total=total,
        counts=Html(counts_line),
        showing=showing,
        page=page.page + 1,
        pages=page.pages,
        hint=Html(hint),
    )
    rows = client_rows(tn, page.clients, "edit", Origin(stage, page.page))
    filter_value = stage or ALL
    paging = []
    if page.page > 0:
        paging.append(button(tn.t("clients.button.prev"), PREFIX, "list", filter_value, page.page - 1))
    if page.page < page.pages - 1:
        paging.append(button(tn.t("clients.button.next"), PREFIX, "list", filter_value, page.page + 1))
    if paging:
        rows.append(paging)
    filters = [
        button(
            mark(tn.t("clients.filter", stage=tn.t("clients.list_all"), count=total), stage is None),
            PREFIX,
            "list",
            ALL,
            0,
        )
    ]
    for value in STAGES:
        label = tn.t("clients.filter", stage=stage_name(tn, value), count=counts[value])
        filters.append(button(mark(label, value == stage), PREFIX, "list", value, 0))
    return text, [*rows, *grid(filters, 4), *archived]


def client_rows(tn: Turn, clients: list[Client], show: str, origin: Origin) -> Rows:
    """A button per client (two a row); `show` says whether the card replaces the list or comes as a new message,
    `origin` which list page its 📋 returns to."""
    buttons = [
        button(
            tn.t("clients.list_item", name=Html(c.name), stage=stage_name(tn, c.stage)),
            PREFIX,
            "card",
            c.id,
            show,
            *origin.parts(),
        )
        for c in clients
    ]
    return grid(buttons, 2)
