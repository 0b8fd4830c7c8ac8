"""The client list: counts per stage, a page of clients as buttons, stage filters, search, and the way into the
archive."""

from __future__ import annotations

from telegram import Update
from telegram.ext import ContextTypes

from bot.clients import NAME_LIMIT, clients_page, counts_by_stage, parse_stage, search_clients
from bot.i18n import Html
from bot.models import Client
from bot.showings import reaction_counts
from bot.statuses import STAGES
from bot.text import clip
from handlers.clients.archive import archive_button
from handlers.clients.navigation import ALL, HOME, PREFIX, REACTION_FILTERS, Origin, Rows, stage_name
from handlers.clients.registering import ECHO_LIMIT
from handlers.context import Turn, turn
from handlers.keyboards import button, grid, mark

PAGE_SIZE = 8


async def show_list(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """/clients: counts and the first page; /clients <stage> one stage; /clients <text> a search."""
    async with turn(update, context) as tn:
        query = " ".join(tn.args).strip()
        stage = (parse_stage(query) or reaction_filter(tn, query)) if query else None
        if query and stage is None:
            await show_search(tn, query)
            return
        text, rows = await list_view(tn, stage, 0)
        tn.send(text, rows)


def reaction_filter(tn: Turn, query: str) -> str | None:
    """`/clients 有意向`: a reaction as its button names it (in the agent's language), as a list filter."""
    wanted = query.strip().casefold()
    return next((v for v, r in REACTION_FILTERS.items() if tn.t(f"showings.reaction.{r}").casefold() == wanted), None)


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
    reaction = REACTION_FILTERS.get(stage or "")
    listed_stage = None if reaction else stage
    page = await clients_page(tn.session, tn.agent.id, listed_stage, page_number, PAGE_SIZE, reaction=reaction)
    counts_line = " · ".join(tn.t("clients.list_count", stage=stage_name(tn, s), count=n) for s, n in counts.items())
    if reaction:
        showing = tn.t("showings.filter_showing", reaction=tn.t(f"showings.reaction.{reaction}"))
    else:
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
    return text, [*rows, *grid(filters, 4), *await reaction_filter_rows(tn, stage), *archived]


async def reaction_filter_rows(tn: Turn, chosen: str | None) -> Rows:
    """A filter per reaction some client's latest showing review has (none before the first review is saved)."""
    counts = await reaction_counts(tn.session, tn.agent.id)
    buttons = [
        button(
            mark(
                tn.t("showings.filter", reaction=tn.t(f"showings.reaction.{reaction}"), count=counts[reaction]),
                value == chosen,
            ),
            PREFIX,
            "list",
            value,
            0,
        )
        for value, reaction in REACTION_FILTERS.items()
        if counts[reaction] or value == chosen
    ]
    return grid(buttons, 4)


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
