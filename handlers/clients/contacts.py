"""Logging a contact from the card: its kind, an optional note, then the next follow-up suggested."""

from __future__ import annotations

from bot.clients import log_contact
from bot.conversations import ClientStep, Waiting, stop_waiting, wait_for, waiting_for
from bot.models import Client
from bot.statuses import CONTACT_KINDS, ContactKind
from handlers.clients.navigation import FLOW, PREFIX, Origin, back_row, is_waiting, stage_name
from handlers.context import Turn
from handlers.keyboards import button, grid
from handlers.showing_review import ask_after_viewing


async def on_log(tn: Turn, client: Client, _: str, origin: Origin) -> bool:
    """📞 Log contact: how the agent got in touch."""
    kinds = [button(tn.t(f"contact.{kind}"), PREFIX, "kind", client.id, kind) for kind in CONTACT_KINDS]
    tn.edit(tn.t("clients.ask_kind", name=client.name), [*grid(kinds, 2), back_row(tn, client, origin)])
    return True


async def on_kind(tn: Turn, client: Client, kind: str, _: Origin) -> bool:
    """A kind was chosen: wait for the note (typed) or ⏭ Skip."""
    if kind not in CONTACT_KINDS:
        return False
    waiting = Waiting(FLOW, ClientStep.NOTE, {"client_id": client.id, "kind": kind})
    await wait_for(tn.session, tn.agent.chat_id, waiting, tn.now)
    skip = button(tn.t("clients.button.skip"), PREFIX, "nonote", client.id, kind)
    tn.edit(tn.t("clients.ask_note", name=client.name, kind=tn.t(f"contact.{kind}")), [[skip]])
    return True


async def on_no_note(tn: Turn, client: Client, kind: str, _: Origin) -> bool:
    """⏭ on the note question: log the contact without one (once: a second press is stale)."""
    waiting = await waiting_for(tn.session, tn.agent.chat_id)
    if not is_waiting(waiting, ClientStep.NOTE, client) or waiting is None or waiting.data.get("kind") != kind:
        return False
    await contact_logged(tn, client, kind, None, in_place=True)
    return True


async def contact_logged(tn: Turn, client: Client, kind: str, note: str | None, *, in_place: bool) -> None:
    """Save the contact, say so, and let the follow-ups module suggest the next one (after a viewing: its review)."""
    from handlers.followups import offer_follow_up  # imported here: that module opens client cards from here

    stage_before = client.stage
    await log_contact(tn.session, client, kind, note, tn.now)
    await stop_waiting(tn.session, tn.agent.chat_id)
    label = tn.t(f"contact.{kind}")
    if client.stage != stage_before:
        text = tn.t("clients.contact_logged_stage", name=client.name, kind=label, stage=stage_name(tn, client.stage))
    else:
        text = tn.t("clients.contact_logged", name=client.name, kind=label)
    (tn.edit if in_place else tn.send)(text)
    if kind == ContactKind.VIEWING:
        await ask_after_viewing(tn, client, note)  # its ✅ books the 回访 the client's reaction calls for
        return
    await offer_follow_up(tn, client)
