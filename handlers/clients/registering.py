"""Registering a client: in one line (`/client 王先生 138…`), or step by step from the name on."""

from __future__ import annotations

from telegram import Update
from telegram.ext import ContextTypes

from bot.clients import (
    DETAIL_LIMITS,
    TEXT_LIMIT,
    ClientDraft,
    client_with_phone,
    draft_from,
    normalise_phone,
    owned_client,
    parse_budget,
    parse_client_line,
    update_details,
    with_name,
)
from bot.conversations import ClientStep, Waiting, stop_waiting, wait_for
from bot.i18n import Html
from bot.models import Client
from bot.statuses import CONTACT_KINDS
from bot.text import clip, is_blank
from handlers.clients.asking import answer_typed, register
from handlers.clients.contacts import contact_logged
from handlers.clients.details import ask_next_detail
from handlers.clients.editing import answer_edit
from handlers.clients.navigation import FLOW, point_to_existing
from handlers.context import Turn, turn

# How much of what the agent typed is echoed back in an answer.
ECHO_LIMIT = 100


async def add(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """/client <line> registers at once; /client alone starts the guided flow with the name."""
    async with turn(update, context) as tn:
        line = " ".join(tn.args)
        if not line.strip():
            await wait_for(tn.session, tn.agent.chat_id, Waiting(FLOW, ClientStep.NAME), tn.now)
            tn.send(tn.t("clients.ask_name"))
            return
        draft = await checked_draft(tn, line)
        if draft is not None:
            await register(tn, draft, line=line, guided=False)


async def checked_draft(tn: Turn, line: str, pending: ClientDraft | None = None) -> ClientDraft | None:
    """The client a line describes (completing `pending`, a client kept while its name was asked for), or None
    after telling the agent what was wrong (nothing is saved then)."""
    draft = parse_client_line(line)
    if draft is not None and pending is not None:
        draft = with_name(pending, draft)
    usage = Html(tn.t("clients.usage"))
    if draft is None:
        tn.send(tn.t("clients.name_missing", usage=usage))
        return None
    if draft.bad_phone is not None:
        tn.send(tn.t("clients.bad_phone_line", phone=clip(draft.bad_phone, ECHO_LIMIT), usage=usage))
        return None
    if draft.too_long is not None:
        field = tn.t(f"clients.field.{draft.too_long}")
        tn.send(tn.t("clients.too_long", field=field, count=DETAIL_LIMITS[draft.too_long]))
        return None
    if draft.phone is not None and await refused_duplicate(tn, draft.phone, "clients.duplicate_phone"):
        return None
    return draft


async def refused_duplicate(tn: Turn, phone: str, key: str) -> bool:
    """Point to the client already registered with this number, instead of registering them twice."""
    existing = await client_with_phone(tn.session, tn.agent.id, phone)
    if existing is None:
        return False
    point_to_existing(tn, existing, key)
    return True


async def answer_text(tn: Turn, update: Update, context: ContextTypes.DEFAULT_TYPE, waiting: Waiting) -> None:
    """Typed text while a clients question waits: the name, a detail, or a contact's note."""
    text = tn.typed.strip()
    if waiting.step == ClientStep.NAME:
        await answer_name(tn, text, waiting)
        return
    if waiting.step == ClientStep.CONFIRM:
        answer_typed(tn)
        return
    client = await waited_client(tn, waiting)
    if client is None:
        return
    if waiting.step == ClientStep.EDIT:
        await answer_edit(tn, client, waiting.data, text)
        return
    if is_blank(text):
        tn.send(tn.t("input.empty"))  # the question stays open
        return
    if waiting.step == ClientStep.NOTE:
        kind = str(waiting.data.get("kind"))
        if kind in CONTACT_KINDS and len(text) > TEXT_LIMIT:
            tn.send(tn.t("input.too_long", count=TEXT_LIMIT))  # still waiting: a shorter note is taken
        elif kind in CONTACT_KINDS:
            await contact_logged(tn, client, kind, text, in_place=False)
        else:
            await stop_waiting(tn.session, tn.agent.chat_id)
        return
    if waiting.step == ClientStep.PHONE:
        phone = normalise_phone(text)
        if phone is None:
            tn.send(tn.t("clients.bad_phone", phone=clip(text, ECHO_LIMIT)))
            return
        if phone != client.phone and await refused_duplicate(tn, phone, "clients.duplicate_phone_step"):
            return
        update_details(client, tn.now, phone=phone)
    elif (
        waiting.step in (ClientStep.NEEDS, ClientStep.BUDGET)
        and len(text) > DETAIL_LIMITS[waiting.step]
        and not parse_budget(text)
    ):
        field = tn.t(f"clients.field.{waiting.step}")
        tn.send(tn.t("clients.too_long", field=field, count=DETAIL_LIMITS[waiting.step]))
        return
    elif waiting.step == ClientStep.NEEDS:
        update_details(client, tn.now, needs=text)
    elif waiting.step == ClientStep.BUDGET:
        update_details(client, tn.now, budget=parse_budget(text) or text)
    await ask_next_detail(tn, client, after=waiting.step)


async def answer_name(tn: Turn, text: str, waiting: Waiting) -> None:
    """The name (or a whole one-line client) saves the client; then the details not given yet. A client kept
    while its name was asked for (a sentence typed as the name) is completed with what is typed now."""
    pending = draft_from(waiting.data.get("pending"))
    draft = await checked_draft(tn, text, pending)
    if draft is not None:
        guided = pending is None or waiting.data.get("guided") is True
        await register(tn, draft, line=text, guided=guided)


async def waited_client(tn: Turn, waiting: Waiting) -> Client | None:
    """The client a waiting question is about, if it is still the agent's; else the flow ends here."""
    client_id = waiting.data.get("client_id")
    client = await owned_client(tn.session, tn.agent.id, client_id) if isinstance(client_id, int) else None
    if client is None:
        await stop_waiting(tn.session, tn.agent.chat_id)
        tn.send(tn.t("clients.gone"))
    return client
