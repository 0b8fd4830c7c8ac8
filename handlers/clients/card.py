"""The client card: details, the last contacts, the open follow-up, and its buttons."""

from __future__ import annotations

from bot.clients import format_phone, next_follow_up, recent_contacts
from bot.i18n import Html
from bot.models import Client
from bot.preferences import format_moment
from bot.text import clip
from handlers.clients.navigation import HOME, NO_VALUE, PREFIX, Origin, Rows, list_button, stage_name
from handlers.context import Turn
from handlers.keyboards import button

RECENT_CONTACTS = 3


# How much of long texts the card shows: with three contacts it stays well under Telegram's 4096 characters.
LONG_TEXT = 500


SHORT_TEXT = 200


async def card(tn: Turn, client: Client, origin: Origin = HOME) -> tuple[str, Rows]:
    """The client card and its buttons (also for other modules, e.g. a follow-up's 👤 button)."""
    missing = tn.t("clients.detail.missing")
    details = [
        tn.t("clients.detail.phone", value=format_phone(client.phone) if client.phone else missing),
        tn.t("clients.detail.needs", value=clip(client.needs, LONG_TEXT) if client.needs else missing),
        tn.t("clients.detail.budget", value=client.budget or missing),
    ]
    details += [
        tn.t(f"clients.detail.{name}", value=clip(value, LONG_TEXT))
        for name in ("source", "notes")
        if (value := getattr(client, name))
    ]
    contacts = [
        tn.t("clients.contact_line", when=moment, kind=tn.t(f"contact.{c.kind}"), note=clip(c.note, SHORT_TEXT))
        if c.note
        else tn.t("clients.contact_line_plain", when=moment, kind=tn.t(f"contact.{c.kind}"))
        for c in await recent_contacts(tn.session, client.id, RECENT_CONTACTS)
        for moment in [format_moment(c.at, tn.agent.timezone, tn.lang, tn.now)]
    ]
    follow_up = await next_follow_up(tn.session, client.id)
    if follow_up is None:
        planned = tn.t("clients.no_follow_up")
    else:
        when = format_moment(follow_up.due_at, tn.agent.timezone, tn.lang, tn.now)
        planned = (
            tn.t("clients.follow_up_line", when=when, note=clip(follow_up.note, SHORT_TEXT))
            if follow_up.note
            else tn.t("clients.follow_up_plain", when=when)
        )
    text = tn.t(
        "clients.card",
        name=client.name,
        stage=stage_name(tn, client.stage),
        details=Html("\n".join(details)),
        contacts=Html("\n".join(contacts) if contacts else tn.t("clients.no_contacts")),
        follow_up=Html(planned),
    )
    return text, card_rows(tn, client, origin)


async def card_after(tn: Turn, client: Client, origin: Origin, change: str) -> tuple[str, Rows]:
    """The card under a line saying what just changed."""
    text, rows = await card(tn, client, origin)
    return tn.t("clients.card_after_change", change=Html(change), card=Html(text)), rows


def card_rows(tn: Turn, client: Client, origin: Origin) -> Rows:
    """The card's buttons; each carries `origin` on, so 📋 still returns to that list page after any of them."""
    via = origin.parts()
    return [
        [
            button(tn.t("clients.button.log"), PREFIX, "log", client.id, NO_VALUE, *via),
            button(tn.t("clients.button.stage"), PREFIX, "stage", client.id, NO_VALUE, *via),
        ],
        [
            button(tn.t("clients.button.follow_up"), "fu", "new", client.id),
            button(tn.t("clients.button.edit"), PREFIX, "edit", client.id, NO_VALUE, *via),
        ],
        [
            button(tn.t("clients.button.archive"), PREFIX, "archive", client.id, "ask", *via),
            list_button(tn, origin),
        ],
    ]
