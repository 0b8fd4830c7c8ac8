"""A plain message outside any flow: offer what it asks for, with buttons, instead of a dead end.

The agent types a line as they would in a notebook and `bot.intent.read_message` reads it:
- one of their clients: what was read (client, time, contact, note) and three buttons — 📅 follow up (at the time
  read, or the stage's usual next time; both lead to the follow-ups' confirm step, so nothing is saved before ✅),
  📝 log the contact (the kind the text names, or a kind to pick; the text is the note), 👤 the card;
- several clients (two of the same name, or two names): which one? then as above;
- no client, but a name that reads like one ("王先生 明天下午3点"): ➕ register it, then as above;
- no client, but a time or a contact ("明天提醒我"): which client? (the recent ones), then as above;
- nothing of that: what the bot can do, with two examples made from the agent's own client and today.

The message and what was read from it wait in the conversation state (`Flow.FREE_TEXT`), so a press acts on
exactly what the agent typed; every button carries the message's tag, so a button of an earlier message, or a
forged one, gets the polite stale-button answer and changes nothing.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from typing import Any

from telegram import InlineKeyboardButton, Update
from telegram.ext import ContextTypes

from bot.clients import MAX_ID, TEXT_LIMIT, add_client, format_phone, owned_client, recent_clients
from bot.conversations import Flow, FreeTextStep, Waiting, wait_for, waiting_for
from bot.followups import suggested_time
from bot.i18n import Html
from bot.intent import Intent, Reading, read_message
from bot.models import Client
from bot.preferences import format_day
from bot.statuses import CONTACT_KINDS
from bot.text import clip, is_blank
from bot.timeparse import prefetch
from bot.timezones import local_today, to_utc
from handlers.clients.contacts import contact_logged
from handlers.clients.registering import checked_draft
from handlers.context import Turn, turn
from handlers.followups import ask_when, confirm_draft, from_minutes, minutes, stage_name, when_text
from handlers.keyboards import Choice, Number, Trailing, button, grid, layout

PREFIX = "ft"
FLOW = Flow.FREE_TEXT
# How many clients a "which one?" question offers.
CHOICES = 8
# How much of the message the offer echoes (all of it is kept and saved).
ECHO_LIMIT = 300
NO_KIND = "-"
# The example follow-up in the "what I can do" answer is tomorrow at this hour ("明天下午3点").
EXAMPLE_HOUR = time(15, 0)

# Callback data: ft:<action>:<client id, 0 for none>:<the message's tag>[:<contact kind>].
CLIENT = Number(0, MAX_ID - 1)
TAG = Number(0, 10**8 - 1)
KIND = Choice(NO_KIND, *CONTACT_KINDS)


@dataclass(frozen=True)
class Offer:
    """What was read from the message and offered, as kept in the conversation state until a button is pressed."""

    tag: int
    text: str
    clients: tuple[int, ...]
    at: datetime | None
    follow_up_note: str
    log_note: str
    kind: str | None
    name: str | None
    intent: str

    @classmethod
    def of(cls, reading: Reading, clients: list[int], now: datetime) -> Offer:
        tag = zlib.crc32(f"{reading.text}\n{now.isoformat()}".encode()) % 10**8
        at = reading.when.at if reading.when else None
        kind = str(reading.kind) if reading.kind else None
        return cls(
            tag, reading.text, tuple(clients), at, reading.follow_up_note, reading.log_note, kind,
            reading.new_name, str(reading.intent),
        )  # fmt: skip

    @classmethod
    def read(cls, data: dict[str, Any]) -> Offer | None:
        """From the conversation state; None if it is not one (another flow's, or altered)."""
        try:
            clients = tuple(int(c) for c in data["clients"] if isinstance(c, int) and not isinstance(c, bool))
            return cls(
                int(data["tag"]), str(data["text"]), clients, from_minutes(data.get("at")),
                str(data.get("note") or ""), str(data.get("log_note") or ""),
                data["kind"] if data.get("kind") in CONTACT_KINDS else None,
                str(data["name"]) if data.get("name") else None,
                data["intent"] if data.get("intent") in set(Intent) else Intent.CARD,
            )  # fmt: skip
        except (KeyError, TypeError, ValueError):
            return None

    def data(self) -> dict[str, Any]:
        return {
            "tag": self.tag,
            "text": self.text,  # what the agent typed, whole: nothing of it is lost while a button waits
            "clients": list(self.clients),
            "at": minutes(self.at) if self.at else None,
            "note": self.follow_up_note,
            "log_note": self.log_note,
            "kind": self.kind,
            "name": self.name,
            "intent": self.intent,
        }

    def with_clients(self, *clients: int) -> Offer:
        return Offer(
            self.tag, self.text, clients, self.at, self.follow_up_note, self.log_note, self.kind, self.name,
            self.intent,
        )  # fmt: skip


# ---------------------------------------------------------------------------------------------- the message


async def answer(tn: Turn) -> None:
    """A plain message outside any flow: offer what it names, or say what the bot can do."""
    text = tn.typed.strip()
    if is_blank(text) or len(text) > TEXT_LIMIT:
        await what_i_can_do(tn)
        return
    prefetch()
    reading = await read_message(tn.session, tn.agent, text, tn.now)
    if not reading.understood:
        await what_i_can_do(tn)
        return
    if len(reading.clients) == 1:
        offer = await remember(tn, Offer.of(reading, [reading.clients[0].id], tn.now))
        tn.send(*offer_view(tn, offer, reading.clients[0]))
    elif reading.clients:
        choices = list(reading.clients[:CHOICES])
        offer = await remember(tn, Offer.of(reading, [c.id for c in choices], tn.now))
        tn.send(tn.t("free.which_client", text=clip(text, ECHO_LIMIT)), client_rows(tn, offer, choices))
    elif reading.new_name is not None:
        offer = await remember(tn, Offer.of(reading, [], tn.now))
        register = button(tn.t("free.button.register", name=Html(reading.new_name)), PREFIX, "new", 0, offer.tag)
        tn.send(tn.t("free.unknown_name", name=reading.new_name, text=clip(text, ECHO_LIMIT)), [[register]])
    else:
        recent = await recent_clients(tn.session, tn.agent.id, CHOICES)
        if not recent:
            tn.send(tn.t("free.no_clients"))
            return
        offer = await remember(tn, Offer.of(reading, [c.id for c in recent], tn.now))
        tn.send(tn.t("free.pick_client", lines=heard(tn, offer)), client_rows(tn, offer, recent))


async def answer_text(tn: Turn, update: Update, context: ContextTypes.DEFAULT_TYPE, waiting: Waiting) -> None:
    """Typing while an offer waits: a new message, read afresh (the newest wins, as in every flow)."""
    await answer(tn)


async def remember(tn: Turn, offer: Offer) -> Offer:
    await wait_for(tn.session, tn.agent.chat_id, Waiting(FLOW, FreeTextStep.OFFER, offer.data()), tn.now)
    return offer


def heard(tn: Turn, offer: Offer, client: Client | None = None) -> Html:
    """What was read, one line each: the client, the time, the contact, the note."""
    lines = []
    if client is not None:
        lines.append(tn.t("free.line.client", name=client.name, stage=stage_name(tn.lang, client.stage)))
    if offer.at is not None:
        lines.append(tn.t("free.line.when", when=when_text(tn, offer.at)))
    if offer.kind is not None and offer.intent == Intent.LOG:
        lines.append(tn.t("free.line.kind", kind=tn.t(f"contact.{offer.kind}")))
    note = offer.follow_up_note if offer.intent == Intent.FOLLOW_UP else offer.log_note
    if note:
        lines.append(tn.t("free.line.note", note=clip(note, ECHO_LIMIT)))
    return Html("\n".join(lines))


def offer_view(tn: Turn, offer: Offer, client: Client) -> tuple[str, list[list[InlineKeyboardButton]]]:
    """What was read about one client, and its actions: the likeliest first."""
    if offer.at is not None:
        follow = button(
            tn.t("free.button.follow_up_at", when=when_text(tn, offer.at)), PREFIX, "fu", client.id, offer.tag
        )
    else:
        follow = button(tn.t("free.button.follow_up"), PREFIX, "fu", client.id, offer.tag)
    if offer.kind is not None:
        label = tn.t("free.button.log_kind", kind=tn.t(f"contact.{offer.kind}"))
        log = button(label, PREFIX, "log", client.id, offer.tag, offer.kind)
    else:
        log = button(tn.t("free.button.log"), PREFIX, "log", client.id, offer.tag)
    card = button(tn.t("free.button.card"), "cl", "card", client.id)  # the clients module opens it
    rows = {
        Intent.FOLLOW_UP: [[follow], [log, card]],
        Intent.LOG: [[log], [follow, card]],
    }.get(Intent(offer.intent), [[card], [log, follow]])
    return tn.t("free.offer", lines=heard(tn, offer, client)), rows


def client_rows(tn: Turn, offer: Offer, clients: list[Client]) -> list[list[InlineKeyboardButton]]:
    """A button per client; two of the same name are told apart by their phone or the day they were registered."""
    names = [c.name.casefold() for c in clients]
    rows = []
    for client in clients:
        stage = stage_name(tn.lang, client.stage)
        if names.count(client.name.casefold()) > 1:
            hint = format_phone(client.phone) if client.phone else registered_on(tn, client)
            label = tn.t("free.client_hint", name=Html(client.name), stage=stage, hint=Html(hint))
        else:
            label = tn.t("free.client", name=Html(client.name), stage=stage)
        rows.append([button(label, PREFIX, "pick", client.id, offer.tag)])
    return rows


def registered_on(tn: Turn, client: Client) -> str:
    return tn.t("free.registered_on", day=format_day(local_today(client.created_at, tn.agent.timezone), tn.lang))


async def what_i_can_do(tn: Turn) -> None:
    """Nothing to act on: two examples the agent can copy, with their own client's name and tomorrow's date."""
    recent = await recent_clients(tn.session, tn.agent.id, 1)
    name = recent[0].name if recent else tn.t("free.example.name")
    tomorrow = local_today(tn.now, tn.agent.timezone) + timedelta(days=1)
    tn.send(
        tn.t(
            "free.help",
            follow_up=Html(tn.t("free.example.follow_up", name=name)),
            log=Html(tn.t("free.example.log", name=name)),
            when=when_text(tn, to_utc(tomorrow, EXAMPLE_HOUR, tn.agent.timezone)),
        )
    )


# ---------------------------------------------------------------------------------------------- buttons


async def on_button(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """ft:fu|log|pick|new:<client id>:<tag>[:<kind>]"""
    prefetch()
    async with turn(update, context) as tn:
        fields = tn.pressed(PRESS)
        if fields is None:
            return
        action, client_id, tag, kind = fields
        waiting = await waiting_for(tn.session, tn.agent.chat_id)
        offer = Offer.read(waiting.data) if waiting is not None and waiting.flow == FLOW else None
        if offer is None or offer.tag != tag or not await ACTIONS[action](tn, offer, client_id, kind):
            tn.refuse()


async def offered_client(tn: Turn, offer: Offer, client_id: int) -> Client | None:
    """The client if the offer named them and they are still the agent's."""
    return await owned_client(tn.session, tn.agent.id, client_id) if client_id in offer.clients else None


async def press_follow_up(tn: Turn, offer: Offer, client_id: int, _: str) -> bool:
    """📅: the follow-ups' confirm step with the time read (or the stage's usual next time) and the note."""
    client = await offered_client(tn, offer, client_id)
    if client is None:
        return False
    tn.edit_buttons(None)
    if offer.at is not None and offer.at <= tn.now:
        tn.toast(tn.t("followup.suggestion_passed"))
        await ask_when(tn, client, in_place=False)
        return True
    at = offer.at or suggested_time(tn.agent, client.stage, tn.now)
    await confirm_draft(tn, client, at, offer.follow_up_note)
    return True


async def press_log(tn: Turn, offer: Offer, client_id: int, kind: str) -> bool:
    """📝: log the contact with the message as its note; without a kind, ask which first."""
    client = await offered_client(tn, offer, client_id)
    if client is None:
        return False
    if kind == NO_KIND:
        kinds = [button(tn.t(f"contact.{k}"), PREFIX, "log", client.id, offer.tag, k) for k in CONTACT_KINDS]
        tn.edit(tn.t("free.ask_kind", name=client.name, lines=heard(tn, offer, client)), grid(kinds, 2))
        return True
    await contact_logged(tn, client, kind, offer.log_note or None, in_place=True)
    return True


async def press_pick(tn: Turn, offer: Offer, client_id: int, _: str) -> bool:
    """Which client the message was about: its actions, in place."""
    client = await offered_client(tn, offer, client_id)
    if client is None:
        return False
    offer = await remember(tn, offer.with_clients(client.id))
    tn.edit(*offer_view(tn, offer, client))
    return True


async def press_register(tn: Turn, offer: Offer, _: int, __: str) -> bool:
    """➕: register the name the message used, then its actions."""
    if offer.name is None:
        return False
    draft = await checked_draft(tn, offer.name)
    if draft is None:
        return True  # the agent was told why
    client = await add_client(tn.session, tn.agent.id, draft, tn.now)
    offer = await remember(tn, offer.with_clients(client.id))
    text, rows = offer_view(tn, offer, client)
    tn.edit(tn.t("free.registered", name=client.name, offer=Html(text)), rows)
    return True


ACTIONS = {"fu": press_follow_up, "log": press_log, "pick": press_pick, "new": press_register}
PRESS = layout(PREFIX, tuple(ACTIONS), CLIENT, TAG, Trailing(KIND, NO_KIND))
