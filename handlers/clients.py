"""Clients: registering them, the client list, and the client card.

`/client 王先生 13800138000 三居 预算300万` registers a client in one line and answers with their card. `/client`
alone asks step by step: the name first (the client is saved as soon as it has one), then phone, needs and budget,
each with a ⏭ Skip button and each answered by typing; /cancel leaves, and what was entered stays saved. A phone
number that is not valid gets the accepted forms back and saves nothing.

`/clients` shows the counts per stage and a page of clients as buttons (◀ ▶ to page, a button per stage to
filter); `/clients 意向` opens one stage and `/clients 王` searches names and phones. Tapping a client opens the
card: details, the last contacts, the next open follow-up, and buttons to log a contact (kind, then a note typed
or skipped, then `handlers.followups.offer_follow_up` suggests the next follow-up), change the stage, schedule a
follow-up (`fu:new:<id>`, handled by the follow-ups module), edit a detail or archive (after a confirm step).

✏️ Edit shows a button per detail (name, phone, needs, budget, source, notes); pressing one shows its current
value and waits for the new one to be typed (🧹 Clear empties an optional detail, ✖️ Cancel changes nothing). What
is typed is checked as registering checks it (`bot.clients.edit_detail`); a refused value changes nothing and the
question stays open. The wait is in the database like every flow's, so a restart mid-edit still takes the answer.

Buttons carry `cl:<action>:<a>:<b>`, and those of a card opened from the list add `:<stage>:<page>`, the list it was
opened from, so that 📋 goes back to that page. Every press that names a client re-checks it with `owned_client`,
so a forged or stale button (another agent's client, an archived one, garbage) gets the polite refusal and reveals
nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from telegram import InlineKeyboardButton, Update
from telegram.ext import ContextTypes

from bot.clients import (
    CONTACT_KINDS,
    DETAIL_LIMITS,
    DETAILS,
    MAX_ID,
    NAME_LIMIT,
    OPTIONAL_DETAILS,
    STAGES,
    TEXT_LIMIT,
    ClientDraft,
    add_client,
    archive_client,
    change_stage,
    client_with_phone,
    clients_page,
    counts_by_stage,
    edit_detail,
    format_phone,
    log_contact,
    next_follow_up,
    normalise_phone,
    owned_client,
    parse_budget,
    parse_client_line,
    parse_stage,
    recent_contacts,
    search_clients,
    update_details,
)
from bot.conversations import Waiting, stop_waiting, wait_for, waiting_for
from bot.i18n import Html
from bot.models import Client
from bot.preferences import format_moment
from bot.text import clip, is_blank
from handlers.context import Turn, turn
from handlers.keyboards import Choice, Number, Token, Trailing, button, grid, layout, mark

PREFIX = "cl"
FLOW = "clients"
PAGE_SIZE = 8
RECENT_CONTACTS = 3
# The guided flow's optional questions, in the order asked.
DETAIL_STEPS = ("phone", "needs", "budget")
ALL = "all"
NO_VALUE = "-"
# How much of long texts the card shows: with three contacts it stays well under Telegram's 4096 characters.
LONG_TEXT = 500
SHORT_TEXT = 200

# The longest page number a button carries (a million clients at eight a page).
PAGE_DIGITS = 6
# How much of what the agent typed is echoed back in an answer.
ECHO_LIMIT = 100

Rows = list[list[InlineKeyboardButton]]


@dataclass(frozen=True)
class Origin:
    """The list page (stage filter, page) a card was opened from, so that 📋 on the card returns there."""

    stage: str | None = None
    page: int = 0

    def parts(self) -> tuple[object, ...]:
        """The callback fields: none for the list's first page, so buttons from elsewhere stay short."""
        return () if self == HOME else (self.stage or ALL, self.page)

    @classmethod
    def read(cls, stage: object, page: object) -> Origin | None:
        """From callback fields or a waiting flow's data; None if they are not a list page (forged)."""
        chosen = LIST_STAGE.read(stage) if isinstance(stage, str) else None
        if isinstance(page, int) and not isinstance(page, bool):
            page = str(page)
        number = PAGE.read(page) if isinstance(page, str) else None
        if chosen is None or number is None:
            return None
        return cls(None if chosen == ALL else chosen, number)


HOME = Origin()

# Callback data fields.
CLIENT_ID = Number(1, MAX_ID - 1)
LIST_STAGE = Choice(ALL, *STAGES)
PAGE = Number(0, 10**PAGE_DIGITS - 1)


# -- registering -----------------------------------------------------------------------------------------


async def add(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """/client <line> registers at once; /client alone starts the guided flow with the name."""
    async with turn(update, context) as tn:
        line = " ".join(tn.args)
        if not line.strip():
            await wait_for(tn.session, tn.agent.chat_id, Waiting(FLOW, "name"), tn.now)
            tn.send(tn.t("clients.ask_name"))
            return
        draft = await checked_draft(tn, line)
        if draft is None:
            return
        client = await add_client(tn.session, tn.agent.id, draft, tn.now)
        text, rows = await card(tn, client)
        tn.send(tn.t("clients.added", card=Html(text)), rows)


async def checked_draft(tn: Turn, line: str) -> ClientDraft | None:
    """The client a line describes, or None after telling the agent what was wrong (nothing is saved then)."""
    draft = parse_client_line(line)
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


def point_to_existing(tn: Turn, existing: Client, key: str) -> None:
    label = tn.t("clients.button.open_existing", name=Html(existing.name))
    tn.send(tn.t(key, name=existing.name), [[button(label, PREFIX, "card", existing.id, "new")]])


async def answer_text(tn: Turn, update: Update, context: ContextTypes.DEFAULT_TYPE, waiting: Waiting) -> None:
    """Typed text while a clients question waits: the name, a detail, or a contact's note."""
    text = tn.typed.strip()
    if waiting.step == "name":
        await answer_name(tn, text)
        return
    client = await waited_client(tn, waiting)
    if client is None:
        return
    if waiting.step == "edit":
        await answer_edit(tn, client, waiting.data, text)
        return
    if is_blank(text):
        tn.send(tn.t("input.empty"))  # the question stays open
        return
    if waiting.step == "note":
        kind = str(waiting.data.get("kind"))
        if kind in CONTACT_KINDS and len(text) > TEXT_LIMIT:
            tn.send(tn.t("input.too_long", count=TEXT_LIMIT))  # still waiting: a shorter note is taken
        elif kind in CONTACT_KINDS:
            await contact_logged(tn, client, kind, text, in_place=False)
        else:
            await stop_waiting(tn.session, tn.agent.chat_id)
        return
    if waiting.step == "phone":
        phone = normalise_phone(text)
        if phone is None:
            tn.send(tn.t("clients.bad_phone", phone=clip(text, ECHO_LIMIT)))
            return
        if phone != client.phone and await refused_duplicate(tn, phone, "clients.duplicate_phone_step"):
            return
        update_details(client, tn.now, phone=phone)
    elif waiting.step in ("needs", "budget") and len(text) > DETAIL_LIMITS[waiting.step] and not parse_budget(text):
        field = tn.t(f"clients.field.{waiting.step}")
        tn.send(tn.t("clients.too_long", field=field, count=DETAIL_LIMITS[waiting.step]))
        return
    elif waiting.step == "needs":
        update_details(client, tn.now, needs=text)
    elif waiting.step == "budget":
        update_details(client, tn.now, budget=parse_budget(text) or text)
    await ask_next_detail(tn, client, after=waiting.step)


async def answer_name(tn: Turn, text: str) -> None:
    """The name (or a whole one-line client) saves the client; then the details not given yet."""
    draft = await checked_draft(tn, text)
    if draft is None:
        return
    client = await add_client(tn.session, tn.agent.id, draft, tn.now)
    tn.send(tn.t("clients.name_saved", name=client.name))
    await ask_next_detail(tn, client, after=None)


async def waited_client(tn: Turn, waiting: Waiting) -> Client | None:
    """The client a waiting question is about, if it is still the agent's; else the flow ends here."""
    client_id = waiting.data.get("client_id")
    client = await owned_client(tn.session, tn.agent.id, client_id) if isinstance(client_id, int) else None
    if client is None:
        await stop_waiting(tn.session, tn.agent.chat_id)
        tn.send(tn.t("clients.gone"))
    return client


async def ask_next_detail(tn: Turn, client: Client, after: str | None) -> None:
    """Ask the next detail still empty; when none is left, show the card."""
    following = DETAIL_STEPS[DETAIL_STEPS.index(after) + 1 :] if after in DETAIL_STEPS else DETAIL_STEPS
    for step in following:
        if getattr(client, step) is None:
            await wait_for(tn.session, tn.agent.chat_id, Waiting(FLOW, step, {"client_id": client.id}), tn.now)
            skip = button(tn.t("clients.button.skip"), PREFIX, "skip", client.id, step)
            tn.send(tn.t(f"clients.ask_{step}", name=client.name), [[skip]])
            return
    await stop_waiting(tn.session, tn.agent.chat_id)
    text, rows = await card(tn, client)
    tn.send(tn.t("clients.added", card=Html(text)), rows)


# -- the list --------------------------------------------------------------------------------------------


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
    if total == 0:
        return tn.t("clients.list_empty", usage=Html(tn.t("clients.usage"))), []
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
    return text, [*rows, *grid(filters, 4)]


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


# -- the card --------------------------------------------------------------------------------------------


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


def list_button(tn: Turn, origin: Origin) -> InlineKeyboardButton:
    return button(tn.t("clients.button.list"), PREFIX, "list", origin.stage or ALL, origin.page)


def back_row(tn: Turn, client: Client, origin: Origin) -> list[InlineKeyboardButton]:
    return [button(tn.t("clients.button.back"), PREFIX, "card", client.id, "edit", *origin.parts())]


def stage_name(tn: Turn, stage: str) -> str:
    return tn.t(f"stage.{stage}")


# -- buttons ---------------------------------------------------------------------------------------------


async def on_button(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """A press on a clients button (`cl:<action>:<a>:<b>`, plus `:<stage>:<page>` from a card opened in the list)."""
    async with turn(update, context) as tn:
        if tn.action == "list":
            await on_list(tn)
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


async def on_log(tn: Turn, client: Client, _: str, origin: Origin) -> bool:
    """📞 Log contact: how the agent got in touch."""
    kinds = [button(tn.t(f"contact.{kind}"), PREFIX, "kind", client.id, kind) for kind in CONTACT_KINDS]
    tn.edit(tn.t("clients.ask_kind", name=client.name), [*grid(kinds, 2), back_row(tn, client, origin)])
    return True


async def on_kind(tn: Turn, client: Client, kind: str, _: Origin) -> bool:
    """A kind was chosen: wait for the note (typed) or ⏭ Skip."""
    if kind not in CONTACT_KINDS:
        return False
    waiting = Waiting(FLOW, "note", {"client_id": client.id, "kind": kind})
    await wait_for(tn.session, tn.agent.chat_id, waiting, tn.now)
    skip = button(tn.t("clients.button.skip"), PREFIX, "nonote", client.id, kind)
    tn.edit(tn.t("clients.ask_note", name=client.name, kind=tn.t(f"contact.{kind}")), [[skip]])
    return True


async def on_no_note(tn: Turn, client: Client, kind: str, _: Origin) -> bool:
    """⏭ on the note question: log the contact without one (once: a second press is stale)."""
    waiting = await waiting_for(tn.session, tn.agent.chat_id)
    if not is_waiting(waiting, "note", client) or waiting is None or waiting.data.get("kind") != kind:
        return False
    await contact_logged(tn, client, kind, None, in_place=True)
    return True


async def contact_logged(tn: Turn, client: Client, kind: str, note: str | None, *, in_place: bool) -> None:
    """Save the contact, say so, and let the follow-ups module suggest the next one."""
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
    await offer_follow_up(tn, client)


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
    if change_stage(client, stage, tn.now):
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


# -- editing details -------------------------------------------------------------------------------------


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
    await wait_for(tn.session, tn.agent.chat_id, Waiting(FLOW, "edit", data), tn.now)
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


def is_waiting(waiting: Waiting | None, step: str, client: Client) -> bool:
    return (
        waiting is not None
        and (waiting.flow, waiting.step) == (FLOW, step)
        and (waiting.data.get("client_id") == client.id)
    )


def is_editing(waiting: Waiting | None, client: Client, detail: str) -> bool:
    """Whether the chat still waits for this very edit (a button of an edit already answered is spent)."""
    return is_waiting(waiting, "edit", client) and waiting is not None and waiting.data.get("detail") == detail


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
