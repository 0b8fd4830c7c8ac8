"""The archive: archived clients page by page (`🗄 Archived (N)` under /clients), each one's card read-only, and
♻️ Restore. Only here are archived clients looked up (`archived_client`); every other button refuses them."""

from __future__ import annotations

from telegram import InlineKeyboardButton

from bot.clients import archived_client, archived_count, clients_page, restore_client
from bot.history import history_size
from bot.i18n import Html
from bot.models import Client
from handlers.clients.card import card_after, detail_lines, latest_history
from handlers.clients.navigation import CLIENT_ID, HOME, PAGE, PREFIX, Rows, list_button, point_to_existing, stage_name
from handlers.context import Turn
from handlers.keyboards import button, grid, layout

ACTIONS = ("arch", "acard", "restore")


# The archive pages as the list does.
PAGE_SIZE = 8


# cl:arch:<page>
ARCHIVE = layout(PREFIX, "arch", PAGE)


# cl:acard|restore:<client id>:<archive page>
ARCHIVED = layout(PREFIX, ("acard", "restore"), CLIENT_ID, PAGE)


async def archive_button(tn: Turn) -> list[list[InlineKeyboardButton]]:
    """The row under /clients that opens the archive; none while nothing is archived."""
    count = await archived_count(tn.session, tn.agent.id)
    return [[button(tn.t("clients.button.archived", count=count), PREFIX, "arch", 0)]] if count else []


async def on_press(tn: Turn) -> None:
    """A press in the archive: a page of it, an archived card, or ♻️ Restore."""
    if tn.action == "arch":
        fields = tn.pressed(ARCHIVE)
        if fields is not None:
            tn.edit(*await archive_view(tn, fields[1]))
        return
    pressed = tn.pressed(ARCHIVED)
    if pressed is None:
        return
    action, client_id, page = pressed
    client = await archived_client(tn.session, tn.agent.id, client_id)
    if client is None:
        tn.refuse()
    elif action == "acard":
        tn.edit(*await archived_card(tn, client, page))
    else:
        await restore(tn, client)


async def archive_view(tn: Turn, page_number: int) -> tuple[str, Rows]:
    page = await clients_page(tn.session, tn.agent.id, None, page_number, PAGE_SIZE, archived=True)
    if not page.clients:
        return tn.t("clients.archive_empty"), [[list_button(tn, HOME)]]
    text = tn.t("clients.archive_list", total=page.total, page=page.page + 1, pages=page.pages)
    names = [
        button(
            tn.t("clients.list_item", name=Html(c.name), stage=stage_name(tn, c.stage)),
            PREFIX,
            "acard",
            c.id,
            page.page,
        )
        for c in page.clients
    ]
    paging = []
    if page.page > 0:
        paging.append(button(tn.t("clients.button.prev"), PREFIX, "arch", page.page - 1))
    if page.page < page.pages - 1:
        paging.append(button(tn.t("clients.button.next"), PREFIX, "arch", page.page + 1))
    return text, [*grid(names, 2), *([paging] if paging else []), [list_button(tn, HOME)]]


async def archived_card(tn: Turn, client: Client, page: int) -> tuple[str, Rows]:
    """Read-only: the details and the latest history, with ♻️ Restore and the way back to the archive page."""
    text = tn.t(
        "clients.archived_card",
        name=client.name,
        stage=stage_name(tn, client.stage),
        details=Html(detail_lines(tn, client)),
        contacts=Html(await latest_history(tn, client, await history_size(tn.session, client.id))),
    )
    rows = [
        [
            button(tn.t("clients.button.restore"), PREFIX, "restore", client.id, page),
            button(tn.t("clients.button.back_archive"), PREFIX, "arch", page),
        ]
    ]
    return text, rows


async def restore(tn: Turn, client: Client) -> None:
    """♻️ Restore: the client is back in the list (its cancelled follow-ups are not, and the reply says so)."""
    owner = await restore_client(tn.session, client, tn.now)
    if owner is not None:
        point_to_existing(tn, owner, "clients.restore_duplicate_phone")
        return
    tn.edit(*await card_after(tn, client, HOME, tn.t("clients.restored", name=client.name)))
