"""Every clients button (`cl:<action>:<a>:<b>[:<stage>:<page>]`): read, checked against the agent, dispatched."""

from __future__ import annotations

from telegram import Update
from telegram.ext import ContextTypes

from bot.clients import archive_client, change_stage, owned_client
from bot.conversations import waiting_for
from bot.models import Client
from bot.statuses import STAGES
from handlers.clients import archive, asking
from handlers.clients.card import card, card_after
from handlers.clients.contacts import on_kind, on_log, on_no_note
from handlers.clients.details import DETAIL_STEPS, ask_next_detail
from handlers.clients.editing import on_clear, on_edit, on_field, on_keep
from handlers.clients.history import on_history
from handlers.clients.listing import list_view
from handlers.clients.navigation import (
    ALL,
    CLIENT_ID,
    LIST_STAGE,
    PAGE,
    PREFIX,
    Origin,
    back_row,
    is_waiting,
    list_button,
    stage_name,
)
from handlers.context import Turn, turn
from handlers.keyboards import Token, Trailing, button, grid, layout, mark


async def on_button(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """A press on a clients button (`cl:<action>:<a>:<b>`, plus `:<stage>:<page>` from a card opened in the list)."""
    async with turn(update, context) as tn:
        if tn.action == "list":
            await on_list(tn)
            return
        if tn.action in archive.ACTIONS:
            await archive.on_press(tn)
            return
        if tn.action == asking.ACTION:
            await asking.on_answer(tn)
            return
        fields = tn.pressed(PRESS)
        if fields is None:
            return
        action, client_id, second, stage, page = fields
        origin = Origin.read(stage, page)
        if not second and action != "card":  # `cl:card:<id>`: how a follow-up's 👤 opens a card
            tn.refuse()
            return
        client = await owned_client(tn.session, tn.agent.id, client_id)
        handler = CLIENT_ACTIONS[action]
        if client is None or origin is None or not await handler(tn, client, second or "new", origin):
            tn.refuse()


async def on_list(tn: Turn) -> None:
    """📋 / ◀️ ▶️ / a stage filter: the list page, in place."""
    fields = tn.pressed(LIST)
    if fields is None:
        return
    _, stage, page = fields
    origin = Origin.read(stage, page)
    if origin is None:
        tn.refuse()
        return
    text, rows = await list_view(tn, origin.stage, origin.page)
    tn.edit(text, rows)


async def on_card(tn: Turn, client: Client, show: str, origin: Origin) -> bool:
    """Open the card: in place of the pressed message (from the list), or as a new message."""
    if show not in ("edit", "new"):
        return False
    text, rows = await card(tn, client, origin)
    (tn.edit if show == "edit" else tn.send)(text, rows)
    return True


async def on_skip(tn: Turn, client: Client, step: str, _: Origin) -> bool:
    """⏭ on a guided question: only the question the flow waits for right now can be skipped."""
    waiting = await waiting_for(tn.session, tn.agent.chat_id)
    if not is_waiting(waiting, step, client) or step not in DETAIL_STEPS:
        return False
    tn.edit(tn.t("clients.skipped", field=tn.t(f"clients.field.{step}")))
    await ask_next_detail(tn, client, after=step)
    return True


async def on_stage(tn: Turn, client: Client, _: str, origin: Origin) -> bool:
    """🔀 Stage: a button per stage, the current one marked."""
    stages = [
        button(
            mark(stage_name(tn, stage), stage == client.stage), PREFIX, "setstage", client.id, stage, *origin.parts()
        )
        for stage in STAGES
    ]
    tn.edit(tn.t("clients.ask_stage", name=client.name), [*grid(stages, 3), back_row(tn, client, origin)])
    return True


async def on_set_stage(tn: Turn, client: Client, stage: str, origin: Origin) -> bool:
    """A stage was chosen: the card again, saying what changed."""
    if stage not in STAGES:
        return False
    before = client.stage
    if await change_stage(tn.session, client, stage, tn.now):
        change = tn.t("clients.stage_changed", old=stage_name(tn, before), new=stage_name(tn, client.stage))
        tn.edit(*await card_after(tn, client, origin, change))
    else:
        tn.edit(*await card(tn, client, origin))
    return True


async def on_archive(tn: Turn, client: Client, step: str, origin: Origin) -> bool:
    """🗄 Archive asks first; only the confirm button archives."""
    if step == "ask":
        confirm = button(tn.t("clients.button.archive_confirm"), PREFIX, "archive", client.id, "yes", *origin.parts())
        tn.edit(tn.t("clients.archive_confirm", name=client.name), [[confirm], back_row(tn, client, origin)])
        return True
    if step == "yes":
        await archive_client(tn.session, client, tn.now)
        tn.edit(tn.t("clients.archived", name=client.name), [[list_button(tn, origin)]])
        return True
    return False


CLIENT_ACTIONS = {
    "card": on_card,
    "skip": on_skip,
    "log": on_log,
    "kind": on_kind,
    "nonote": on_no_note,
    "stage": on_stage,
    "setstage": on_set_stage,
    "archive": on_archive,
    "edit": on_edit,
    "field": on_field,
    "clear": on_clear,
    "keep": on_keep,
    "hist": on_history,
}


# cl:list:<stage>:<page>
LIST = layout(PREFIX, "list", LIST_STAGE, PAGE, sizes=(2,))


# cl:<action>:<client id>[:<value>[:<stage>:<page>]]: the value is read by the action (a step, a kind, a stage…).
PRESS = layout(
    PREFIX,
    tuple(CLIENT_ACTIONS),
    CLIENT_ID,
    Trailing(Token(16), ""),
    Trailing(LIST_STAGE, ALL),
    Trailing(PAGE, 0),
    sizes=(1, 2, 4),
)
