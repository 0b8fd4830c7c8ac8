"""The client card: details, the latest of their history, every open follow-up, and its buttons."""

from __future__ import annotations

from bot.clients import format_phone, open_follow_ups
from bot.history import history, history_size
from bot.i18n import Html
from bot.models import Client, FollowUp
from bot.preferences import format_moment
from bot.showings import latest_saved
from bot.text import clip
from handlers.clients.history import entry_line
from handlers.clients.navigation import HOME, NO_VALUE, PREFIX, Origin, Rows, list_button, stage_name
from handlers.context import Turn
from handlers.keyboards import button
from handlers.showing_review import review_line

# The newest history entries on the card; 📜 History pages through the rest.
RECENT_ENTRIES = 5


# The open follow-ups listed on the card; more than this many are counted after them.
OPEN_SHOWN = 10


# How much of long texts the card shows: with its entries and follow-ups it stays under Telegram's 4096 characters.
LONG_TEXT = 500


SHORT_TEXT = 200


TOPIC_TEXT = 60


async def card(tn: Turn, client: Client, origin: Origin = HOME) -> tuple[str, Rows]:
    """The client card and its buttons (also for other modules, e.g. a follow-up's 👤 button)."""
    size = await history_size(tn.session, client.id)
    text = tn.t(
        "clients.card",
        name=client.name,
        stage=stage_name(tn, client.stage),
        details=Html(await details_with_review(tn, client)),
        contacts=Html(await latest_history(tn, client, size)),
        follow_up=Html(planned_lines(tn, await open_follow_ups(tn.session, client.id))),
    )
    return text, card_rows(tn, client, origin, with_history=size > RECENT_ENTRIES)


async def details_with_review(tn: Turn, client: Client) -> str:
    """The details, then the latest saved showing review, if there is one."""
    review = await latest_saved(tn.session, client.id)
    details = detail_lines(tn, client)
    return f"{details}\n{review_line(tn, review)}" if review is not None else details


def detail_lines(tn: Turn, client: Client) -> str:
    """Phone, needs and budget (said when missing), then source and notes when there are any."""
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
    return "\n".join(details)


async def latest_history(tn: Turn, client: Client, size: int) -> str:
    """The newest entries of the `size` in the client's history, and how many older ones 📜 History holds."""
    lines = [entry_line(tn, e, SHORT_TEXT, TOPIC_TEXT) for e in await history(tn.session, client.id, 0, RECENT_ENTRIES)]
    if not lines:
        return tn.t("clients.no_contacts")
    if size > RECENT_ENTRIES:
        lines.append(tn.t("clients.history_more", count=size - RECENT_ENTRIES))
    return "\n".join(lines)


def planned_lines(tn: Turn, follow_ups: list[FollowUp]) -> str:
    """Every open follow-up, earliest first: one stays one line, several are a list, so none is out of sight."""
    if not follow_ups:
        return tn.t("clients.no_follow_up")

    def when(follow_up: FollowUp) -> str:
        return format_moment(follow_up.due_at, tn.agent.timezone, tn.lang, tn.now)

    if len(follow_ups) == 1:
        [one] = follow_ups
        if one.note:
            return tn.t("clients.follow_up_line", when=when(one), note=clip(one.note, SHORT_TEXT))
        return tn.t("clients.follow_up_plain", when=when(one))
    lines = [tn.t("clients.follow_ups_open", count=len(follow_ups))]
    lines += [
        tn.t("clients.follow_up_item", when=when(f), note=clip(f.note, TOPIC_TEXT))
        if f.note
        else tn.t("clients.follow_up_item_plain", when=when(f))
        for f in follow_ups[:OPEN_SHOWN]
    ]
    if len(follow_ups) > OPEN_SHOWN:
        lines.append(tn.t("clients.follow_ups_more", count=len(follow_ups) - OPEN_SHOWN))
    return "\n".join(lines)


async def card_after(tn: Turn, client: Client, origin: Origin, change: str) -> tuple[str, Rows]:
    """The card under a line saying what just changed."""
    text, rows = await card(tn, client, origin)
    return tn.t("clients.card_after_change", change=Html(change), card=Html(text)), rows


def card_rows(tn: Turn, client: Client, origin: Origin, *, with_history: bool = False) -> Rows:
    """The card's buttons; each carries `origin` on, so 📋 still returns to that list page after any of them.
    📜 History comes when the card cannot show every entry."""
    via = origin.parts()
    history_row = [[button(tn.t("clients.button.history"), PREFIX, "hist", client.id, 0, *via)]] if with_history else []
    return [
        *history_row,
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
