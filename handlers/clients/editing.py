"""Editing one detail of a client: the current value shown, the new one typed (or cleared, or kept)."""

from __future__ import annotations

from typing import Any

from bot.clients import DETAIL_LIMITS, DETAILS, OPTIONAL_DETAILS, edit_detail, format_phone
from bot.conversations import ClientStep, Waiting, stop_waiting, wait_for, waiting_for
from bot.i18n import Html
from bot.models import Client
from bot.text import clip
from handlers.clients.card import SHORT_TEXT, card_after
from handlers.clients.navigation import ALL, FLOW, HOME, PREFIX, Origin, back_row, is_editing, point_to_existing
from handlers.context import Turn
from handlers.keyboards import button, grid


async def on_edit(tn: Turn, client: Client, _: str, origin: Origin) -> bool:
    """✏️ Edit: which detail to change."""
    fields = [
        button(tn.t(f"clients.edit_field.{detail}"), PREFIX, "field", client.id, detail, *origin.parts())
        for detail in DETAILS
    ]
    tn.edit(tn.t("clients.ask_edit_field", name=client.name), [*grid(fields, 3), back_row(tn, client, origin)])
    return True


async def on_field(tn: Turn, client: Client, detail: str, origin: Origin) -> bool:
    """A detail was chosen: show what it holds now and wait for the new value to be typed."""
    if detail not in DETAILS:
        return False
    data = {"client_id": client.id, "detail": detail, "origin": [origin.stage or ALL, origin.page]}
    await wait_for(tn.session, tn.agent.chat_id, Waiting(FLOW, ClientStep.EDIT, data), tn.now)
    current = getattr(client, detail)
    shown = (format_phone(current) if detail == "phone" else current) if current else tn.t("clients.detail.missing")
    footer = "clients.edit_footer_clear" if detail in OPTIONAL_DETAILS and current else "clients.edit_footer"
    text = tn.t(
        "clients.ask_edit_value",
        name=client.name,
        field=tn.t(f"clients.field.{detail}"),
        current=shown,
        hint=Html(tn.t(f"clients.edit_hint.{detail}")),
        footer=Html(tn.t(footer)),
    )
    via = origin.parts()
    buttons = [button(tn.t("clients.button.cancel"), PREFIX, "keep", client.id, detail, *via)]
    if detail in OPTIONAL_DETAILS and current:
        buttons.insert(0, button(tn.t("clients.button.clear"), PREFIX, "clear", client.id, detail, *via))
    tn.edit(text, [buttons])
    return True


async def answer_edit(tn: Turn, client: Client, data: dict[str, Any], typed: str) -> None:
    """The new value, typed: saved and the card shown again, or refused with what to type (the question stays)."""
    detail, saved = data.get("detail"), data.get("origin")
    if not isinstance(detail, str) or detail not in DETAILS:
        await stop_waiting(tn.session, tn.agent.chat_id)  # not a wait this version wrote: drop it, like a bad note
        return
    origin = (Origin.read(*saved) if isinstance(saved, list) and len(saved) == 2 else None) or HOME
    edit = await edit_detail(tn.session, client, detail, typed, tn.now)
    field = tn.t(f"clients.field.{detail}")
    if edit.problem is None:
        await stop_waiting(tn.session, tn.agent.chat_id)
        tn.send(*await card_after(tn, client, origin, tn.t("clients.edit_saved", field=field)))
    elif edit.problem == "duplicate" and edit.owner is not None:
        point_to_existing(tn, edit.owner, "clients.duplicate_phone_edit")
    elif edit.problem == "bad_phone":
        tn.send(tn.t("clients.bad_phone_edit", phone=clip(typed, SHORT_TEXT)))
    elif edit.problem == "bad_budget":
        tn.send(tn.t("clients.bad_budget_edit", budget=clip(typed, SHORT_TEXT)))
    elif edit.problem == "too_long":
        tn.send(tn.t("clients.edit_too_long", field=field, count=DETAIL_LIMITS[detail]))
    else:
        tn.send(tn.t("clients.edit_empty", field=field))


async def on_clear(tn: Turn, client: Client, detail: str, origin: Origin) -> bool:
    """🧹 Clear on the question waiting for this detail: empty it and show the card."""
    waiting = await waiting_for(tn.session, tn.agent.chat_id)
    if not is_editing(waiting, client, detail) or detail not in OPTIONAL_DETAILS:
        return False
    await edit_detail(tn.session, client, detail, None, tn.now)
    await stop_waiting(tn.session, tn.agent.chat_id)
    tn.edit(*await card_after(tn, client, origin, tn.t("clients.edit_cleared", field=tn.t(f"clients.field.{detail}"))))
    return True


async def on_keep(tn: Turn, client: Client, detail: str, origin: Origin) -> bool:
    """✖️ Cancel on the question waiting for this detail: nothing changes, back to the card."""
    waiting = await waiting_for(tn.session, tn.agent.chat_id)
    if not is_editing(waiting, client, detail):
        return False
    await stop_waiting(tn.session, tn.agent.chat_id)
    tn.edit(*await card_after(tn, client, origin, tn.t("clients.edit_kept")))
    return True
