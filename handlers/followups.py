"""Follow-ups: scheduling them, the nudge when one falls due, and what the agent does with it.

/followup picks a client (buttons, or a typed name) and asks when; `/followup 王先生 明天下午3点 带看新房`
takes client, time and note at once. The time is read from plain words (Chinese or English) and always
echoed back with weekday and local time, with a confirm button, before anything is saved. When a
follow-up falls due the engine sends its nudge: ✅ Done (then an optional outcome note and the next
follow-up suggestion), ⏰ Snooze (1 h / this evening / tomorrow morning), 📅 Reschedule (type a time),
👤 Client card. /today and /overdue list open follow-ups with the same buttons.

Every button carries ids that are checked against the pressing agent; a forged or stale one is refused.
"""

from __future__ import annotations

import math
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession
from telegram import InlineKeyboardButton, Update
from telegram.ext import ContextTypes

from bot import followups
from bot.clients import MAX_ID, NAME_LIMIT, TEXT_LIMIT, clients_named_at_start, owned_client, recent_clients
from bot.conversations import Flow, FollowUpStep, Waiting, stop_waiting, wait_for, waiting_for
from bot.day_parts import DayPart
from bot.i18n import BABEL_LOCALES, Html, t
from bot.models import Agent, Client, Delivery, FollowUp
from bot.preferences import day_part_hours, format_moment, format_time, weekday_name
from bot.scheduler import Kind, Outgoing
from bot.text import clip, is_blank
from bot.timeparse import find_when, is_past, parse_when, prefetch, ready
from bot.timezones import is_valid_zone, local_datetime
from handlers.context import Turn, turn
from handlers.keyboards import Choice, Field, Number, Token, Trailing, button, layout, pack

KIND = followups.KIND

PREFIX = "fu"
FLOW = Flow.FOLLOWUP
LIST_LIMIT = 10
# How many of a client's open follow-ups the "replace or add?" question lists, each with its 🔁 button.
REPLACE_CHOICES = 5
# How many clients /followup offers as buttons.
CLIENT_CHOICES = 8
# How much of what the agent typed is echoed back, and how much of a note a nudge shows.
ECHO_LIMIT = 100
NOTE_SHOWN = 1000

# Callback data: fu:<action>:<follow-up or client id>[:<value>]; the value is read per action.
ID = Number(1, MAX_ID - 1)
# Minutes since the epoch up to the year 2160: more than any suggestion, and still a valid datetime.
MINUTES = Number(0, 10**8)
SNOOZES = ("hour", "evening", "morning")  # the names bot.followups.snooze_options gives its choices


def minutes(moment: datetime) -> int:
    """An instant as whole minutes since the epoch: short enough for callback data."""
    return int(moment.timestamp() // 60)


def from_minutes(value: object) -> datetime | None:
    """A stored or pressed minute count back to an instant; None for anything else."""
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    number = MINUTES.read(value) if isinstance(value, str) else None
    return datetime.fromtimestamp(number * 60, UTC) if number is not None else None


def when_text(tn: Turn, moment: datetime) -> str:
    return format_moment(moment, tn.agent.timezone, tn.lang, tn.now)


def clock_text(tn: Turn, moment: datetime) -> str:
    """Just the local time of day, '15:30'."""
    return format_time(local_datetime(moment, tn.agent.timezone).time())


def stage_name(language: str, stage: str) -> str:
    return t(language, f"stage.{stage}")


def time_examples(tn: Turn) -> str:
    """Example phrases computed from the agent's today, so none is ever in the past (a fixed date soon is)."""
    from babel.dates import format_date

    days = followups.example_days(tn.now, tn.agent.timezone)
    weekday = weekday_name(days.weekday.isoweekday(), tn.lang)
    date_pattern = tn.t("followup.example_date_pattern" if days.same_year else "followup.example_date_pattern_year")
    return tn.t(
        "followup.examples",
        weekday=tn.t("followup.example_next_weekday" if days.next_week else "followup.example_weekday", day=weekday),
        date=str(format_date(days.day, date_pattern, locale=BABEL_LOCALES[tn.lang])),
        iso=days.iso_day.isoformat(),
    )


def unreadable(tn: Turn, text: str) -> str:
    return tn.t("followup.unreadable_time", text=clip(text, ECHO_LIMIT), examples=Html(time_examples(tn)))


# ---------------------------------------------------------------------------------------------- scheduling


async def new_follow_up(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """/followup: pick a client, or `/followup <name> <when> [note]` at once."""
    prefetch()  # the agent is about to type a time
    async with turn(update, context) as tn:
        if tn.args:
            await follow_up_by_line(tn, tn.args)
            return
        clients = await recent_clients(tn.session, tn.agent.id, CLIENT_CHOICES)
        if not clients:
            tn.send(tn.t("followup.no_clients"))
            return
        await wait_for(tn.session, tn.agent.chat_id, Waiting(FLOW, FollowUpStep.CLIENT), tn.now)
        tn.send(tn.t("followup.pick_client"), client_rows(tn, clients))


def client_rows(tn: Turn, clients: list[Client]) -> list[list[InlineKeyboardButton]]:
    # Button labels are not HTML: the name goes in as it is (Html marks it as not to be escaped).
    return [
        [button(tn.t("clients.list_item", name=Html(c.name), stage=stage_name(tn.lang, c.stage)), PREFIX, "new", c.id)]
        for c in clients
    ]


async def follow_up_by_line(tn: Turn, words: Sequence[str]) -> None:
    """A client's name, then optionally when and a note: "王先生 明天下午3点 带看新房", "Mr Wang tomorrow 3pm"."""
    matches, taken = (
        ([], 1) if len(words[0]) > NAME_LIMIT else await clients_named_at_start(tn.session, tn.agent.id, words)
    )
    name, rest = " ".join(words[:taken]), " ".join(words[taken:])
    if not matches:
        tn.send(tn.t("followup.unknown_client", name=clip(name, ECHO_LIMIT)))
        return
    if len(matches) > 1:
        tn.send(tn.t("followup.which_client", name=clip(name, ECHO_LIMIT)), client_rows(tn, matches[:8]))
        return
    if not rest.strip():
        await ask_when(tn, matches[0], in_place=False)
        return
    await read_when(tn, matches[0], rest)


async def ask_when(tn: Turn, client: Client, *, in_place: bool) -> None:
    """Ask when to follow up with `client`, offering the suggestion for its stage as a button."""
    await wait_for(tn.session, tn.agent.chat_id, Waiting(FLOW, FollowUpStep.WHEN, {"client": client.id}), tn.now)
    suggested = (await followups.suggestion_for(tn.session, tn.agent, client.stage, tn.now)).at
    rows = [
        [
            button(
                tn.t("followup.use_suggestion", when=when_text(tn, suggested)),
                PREFIX,
                "acc",
                client.id,
                minutes(suggested),
            )
        ]
    ]
    text = tn.t("followup.ask_when", name=client.name)
    (tn.edit if in_place else tn.send)(text, rows)


async def read_when(tn: Turn, client: Client, text: str, kept_note: str = "") -> None:
    """Read a time (and note) the agent typed for `client`; echo it back with a confirm button. A new time typed
    for a draft keeps the draft's note unless a new one comes with it."""
    if len(text) > TEXT_LIMIT:  # the time and the note together: a note has at most that
        tn.send(tn.t("input.too_long", count=TEXT_LIMIT))
        await wait_for(tn.session, tn.agent.chat_id, Waiting(FLOW, FollowUpStep.WHEN, {"client": client.id}), tn.now)
        return
    await ready()
    found = find_when(text, tn.now, tn.agent.timezone, tn.agent.followup_time, day_parts=day_part_hours(tn.agent))
    if found is None:
        tn.send(unreadable(tn, text))
        await wait_for(tn.session, tn.agent.chat_id, Waiting(FLOW, FollowUpStep.WHEN, {"client": client.id}), tn.now)
        return
    when, note = found
    if is_past(when, tn.now):
        tomorrow = followups.past_today(when.at, tn.now, tn.agent.timezone)
        if tomorrow is not None:
            await offer_tomorrow(tn, client, when.at, tomorrow, note.strip() or kept_note)
            return
        tn.send(tn.t("followup.past_time", when=when_text(tn, when.at)))
        await wait_for(tn.session, tn.agent.chat_id, Waiting(FLOW, FollowUpStep.WHEN, {"client": client.id}), tn.now)
        return
    await confirm_draft(tn, client, when.at, note.strip() or kept_note, part=when.day_part)


def draft_of(client: Client, due: datetime, note: str) -> dict[str, object]:
    """What a follow-up waiting for the agent's answer holds: nothing is saved before it, nothing typed is lost."""
    return {"client": client.id, "at": minutes(due), "note": note}


async def offer_tomorrow(tn: Turn, client: Client, past: datetime, tomorrow: datetime, note: str) -> None:
    """A clock time already past today: the same time tomorrow, one tap (✅ confirms the draft it becomes)."""
    await wait_for(
        tn.session, tn.agent.chat_id, Waiting(FLOW, FollowUpStep.CONFIRM, draft_of(client, tomorrow, note)), tn.now
    )
    tn.send(
        tn.t("followup.past_today", time=clock_text(tn, past), when=when_text(tn, tomorrow)),
        [
            [
                button(tn.t("followup.tomorrow_same", time=clock_text(tn, tomorrow)), PREFIX, "ok", client.id),
                button(tn.t("followup.change_time"), PREFIX, "new", client.id),
            ]
        ],
    )


async def confirm_draft(tn: Turn, client: Client, due: datetime, note: str, *, part: DayPart | None = None) -> None:
    """Echo the time (and note) back with ✅; on a day off, say so and offer the next work day too. `part`: the
    part of day whose hour was taken ("周六上午" → 10:00), named so the agent sees where the hour came from."""
    await wait_for(
        tn.session, tn.agent.chat_id, Waiting(FLOW, FollowUpStep.CONFIRM, draft_of(client, due, note)), tn.now
    )
    key = "followup.confirm_with_note" if note else "followup.confirm"
    text = tn.t(key, name=client.name, when=when_text(tn, due), note=note)
    if part is not None:
        text = tn.t(
            "followup.day_part_used", echo=Html(text), part=tn.t(f"dayparts.part.{part}"), time=clock_text(tn, due)
        )
    row = [button(tn.t("button.confirm"), PREFIX, "ok", client.id)]
    work_day = followups.on_next_work_day(tn.agent, due)
    if work_day is not None:
        text = tn.t("followup.day_off", echo=Html(text))
        row.append(
            button(
                tn.t("followup.to_work_day", when=when_text(tn, work_day)), PREFIX, "alt", client.id, minutes(work_day)
            )
        )
    row.append(button(tn.t("followup.change_time"), PREFIX, "new", client.id))
    tn.send(text, [row])


async def commit(
    tn: Turn, client: Client, due: datetime, note: str | None, *, in_place: bool, booked: list[FollowUp] | None = None
) -> None:
    """Save the follow-up; if the client already has open ones (`booked`, when read with the client), first ask:
    replace one, add another, or cancel."""
    already = booked if booked is not None else await followups.open_for_client(tn.session, tn.agent.id, client.id)
    if not already:
        await stop_waiting(tn.session, tn.agent.chat_id)
        await save_follow_up(tn, client, due, note, in_place=in_place)
        return
    await wait_for(
        tn.session, tn.agent.chat_id, Waiting(FLOW, FollowUpStep.REPLACE, draft_of(client, due, note or "")), tn.now
    )
    shown = already[:REPLACE_CHOICES]
    items = "\n".join(tn.t("followup.open_item", slot=Html(slot_text(tn, f.due_at, f.note))) for f in shown)
    text = tn.t("followup.replace_or_add", name=client.name, items=Html(items), new=Html(slot_text(tn, due, note)))
    rows = [[button(tn.t("followup.replace", when=when_text(tn, f.due_at)), PREFIX, "rep", f.id)] for f in shown]
    rows.append(
        [
            button(tn.t("followup.add_another"), PREFIX, "add", client.id),
            button(tn.t("followup.cancel_draft"), PREFIX, "no", client.id),
        ]
    )
    (tn.edit if in_place else tn.send)(text, rows)


def slot_text(tn: Turn, due: datetime, note: str | None) -> str:
    if note:
        return tn.t("followup.slot_with_note", when=when_text(tn, due), note=clip(note, ECHO_LIMIT))
    return tn.t("followup.slot", when=when_text(tn, due))


async def answer_text(tn: Turn, update: Update, context: ContextTypes.DEFAULT_TYPE, waiting: Waiting) -> None:
    """Typed text while a follow-up flow waits: a client's name, a time, an outcome note, a new time."""
    text = tn.typed.strip()
    if is_blank(text):
        tn.send(tn.t("input.empty"))  # the question stays open
        return
    if waiting.step == FollowUpStep.CLIENT:
        await stop_waiting(tn.session, tn.agent.chat_id)
        await follow_up_by_line(tn, text.split())
    elif waiting.step in (FollowUpStep.WHEN, FollowUpStep.CONFIRM, FollowUpStep.REPLACE):
        client = await owned_client(tn.session, tn.agent.id, stored_id(waiting.data.get("client")))
        if client is None:
            await stop_waiting(tn.session, tn.agent.chat_id)
            tn.send(tn.t("error.stale_button"))
            return
        await read_when(tn, client, text, str(waiting.data.get("note") or ""))
    elif waiting.step == FollowUpStep.OUTCOME:
        if len(text) > TEXT_LIMIT:
            tn.send(tn.t("input.too_long", count=TEXT_LIMIT))  # still waiting: a shorter note is taken
            return
        follow_up = await followups.owned_follow_up(tn.session, tn.agent.id, stored_id(waiting.data.get("follow_up")))
        await stop_waiting(tn.session, tn.agent.chat_id)
        if follow_up is not None:
            await followups.set_outcome(follow_up, text, tn.now)
            tn.send(tn.t("followup.outcome_saved"))
            await offer_after_done(tn, follow_up)
    elif waiting.step == FollowUpStep.MOVE:
        follow_up = await followups.owned_follow_up(tn.session, tn.agent.id, stored_id(waiting.data.get("follow_up")))
        if follow_up is None:
            await stop_waiting(tn.session, tn.agent.chat_id)
            tn.send(tn.t("error.stale_button"))
            return
        await ready()
        when = parse_when(text, tn.now, tn.agent.timezone, tn.agent.followup_time, day_parts=day_part_hours(tn.agent))
        if when is None:
            tn.send(unreadable(tn, text))
            return
        if is_past(when, tn.now):
            tomorrow = followups.past_today(when.at, tn.now, tn.agent.timezone)
            if tomorrow is None:
                tn.send(tn.t("followup.past_time", when=when_text(tn, when.at)))
                return
            label = tn.t("followup.tomorrow_same", time=clock_text(tn, tomorrow))
            tn.send(
                tn.t("followup.past_today", time=clock_text(tn, when.at), when=when_text(tn, tomorrow)),
                [[button(label, PREFIX, "to", follow_up.id, minutes(tomorrow))]],
            )
            return  # still waiting: another typed time is taken too
        await stop_waiting(tn.session, tn.agent.chat_id)
        await followups.move(tn.session, follow_up, when.at, tn.now)
        tn.send(tn.t("followup.moved", name=await client_name(tn, follow_up), when=when_text(tn, when.at)))


async def client_name(tn: Turn, follow_up: FollowUp) -> str:
    """The name of the follow-up's client, looked up through the agent like every client ("" once archived)."""
    client = await owned_client(tn.session, tn.agent.id, follow_up.client_id)
    return client.name if client else ""


def stored_id(value: object) -> int:
    """An id a waiting flow stored (0, which no row has, if it is not one)."""
    return value if isinstance(value, int) and not isinstance(value, bool) and 0 < value < MAX_ID else 0


async def offer_follow_up(tn: Turn, client: Client) -> None:
    """Suggest the next follow-up for `client` by its stage; one tap accepts, another asks for a time."""
    prefetch()
    suggestion = await followups.suggestion_for(tn.session, tn.agent, client.stage, tn.now)
    suggested = suggestion.at
    days = followups.CADENCE_DAYS.get(client.stage, 1)
    text = tn.t(
        "followup.suggest",
        name=client.name,
        stage=stage_name(tn.lang, client.stage),
        count=days,
        when=when_text(tn, suggested),
    )
    if suggestion.after_day_off:
        text = tn.t("followup.suggest_after_day_off", text=Html(text))
    if suggestion.after_booked:
        text = tn.t("followup.suggest_after_booked", text=Html(text))
    tn.send(
        text,
        [
            [
                button(tn.t("followup.accept"), PREFIX, "acc", client.id, minutes(suggested)),
                button(tn.t("followup.other_time"), PREFIX, "new", client.id),
            ]
        ],
    )


async def offer_after_done(tn: Turn, follow_up: FollowUp) -> None:
    client = await owned_client(tn.session, tn.agent.id, follow_up.client_id)
    if client is not None:
        await offer_follow_up(tn, client)


# ---------------------------------------------------------------------------------------------- the nudge


def nudge_buttons(language: str, follow_up: FollowUp) -> list[list[tuple[str, str]]]:
    return [
        [
            (t(language, "nudge.done"), pack(PREFIX, "done", follow_up.id)),
            (t(language, "nudge.snooze"), pack(PREFIX, "snooze", follow_up.id)),
        ],
        [
            (t(language, "nudge.reschedule"), pack(PREFIX, "move", follow_up.id)),
            (t(language, "nudge.card"), pack("cl", "card", follow_up.client_id)),
        ],
    ]


def nudge_text(language: str, agent: Agent, nudge: followups.Nudge, now: datetime, late: bool) -> str:
    follow_up, client = nudge.follow_up, nudge.client
    lines = [t(language, "nudge.title", name=client.name, stage=stage_name(language, client.stage))]
    if late:
        lines.append(t(language, "nudge.late", when=format_moment(follow_up.due_at, agent.timezone, language, now)))
    if follow_up.note:
        lines.append(t(language, "nudge.note", note=clip(follow_up.note, NOTE_SHOWN)))
    if nudge.last_contact is not None:
        moment = format_moment(nudge.last_contact.at, agent.timezone, language, now)
        lines.append(
            t(language, "nudge.last_contact", when=moment, kind=t(language, f"contact.{nudge.last_contact.kind}"))
        )
    else:
        lines.append(t(language, "nudge.no_contact"))
    return t(language, "nudge.body", lines=Html("\n".join(lines)))


async def render_nudge(session: AsyncSession, delivery: Delivery, agent: Agent, now: datetime) -> Outgoing | None:
    """The engine's renderer for kind "followup": None once the follow-up is no longer open."""
    return (await render_nudges(session, [(delivery, agent)], now))[0]


async def render_nudges(
    session: AsyncSession, rows: Sequence[tuple[Delivery, Agent]], now: datetime
) -> list[Outgoing | None]:
    """`render_nudge` for a group of rows, reading their follow-ups, clients and last contacts together."""
    nudges = await followups.nudges_for(session, [delivery.subject_id or 0 for delivery, _ in rows])
    rendered: list[Outgoing | None] = []
    for delivery, agent in rows:
        nudge = nudges.get(delivery.subject_id or 0)
        if nudge is None or nudge.follow_up.status != followups.OPEN or nudge.follow_up.agent_id != agent.id:
            rendered.append(None)
            continue
        text = nudge_text(agent.language, agent, nudge, now, delivery.late)
        rendered.append(Outgoing(text, nudge_buttons(agent.language, nudge.follow_up)))
    return rendered


# How the engine renders a nudge: one row, or the rows of a group together.
NUDGE = Kind(render=render_nudge, render_many=render_nudges)


# ---------------------------------------------------------------------------------------------- buttons


async def on_button(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """fu:<action>:<id>[:value], the actions in `BUTTONS`."""
    prefetch()  # most of these lead to typing a time
    async with turn(update, context) as tn:
        press = PRESSES.get(tn.action or "")
        if press is None:
            tn.refuse()
            return
        fields = tn.pressed(press)
        if fields is None:
            return
        action, ident, value = fields
        if not await BUTTONS[action](tn, ident, value):
            tn.refuse()


async def press_new(tn: Turn, client_id: int, _: Value) -> bool:
    client = await owned_client(tn.session, tn.agent.id, client_id)
    if client is None:
        return False
    await ask_when(tn, client, in_place=False)
    return True


async def press_accept(tn: Turn, client_id: int, value: Value) -> bool:
    client = await owned_client(tn.session, tn.agent.id, client_id)
    due = from_minutes(value)
    if client is None or due is None:
        return False
    if due <= tn.now:
        tn.toast(tn.t("followup.suggestion_passed"))
        await ask_when(tn, client, in_place=False)
        return True
    await commit(tn, client, due, None, in_place=False)
    return True


@dataclass(frozen=True)
class Draft:
    """A follow-up waiting for its ✅: the client, the time and the note, and the client's open follow-ups (read
    with the client: whether to ask "replace or add" needs them)."""

    client: Client
    due: datetime
    note: str | None
    booked: list[FollowUp]


async def drafted(tn: Turn, client_id: int, step: FollowUpStep) -> Draft | None:
    """The draft waiting at `step` for this client; None if the button is stale."""
    waiting = await waiting_for(tn.session, tn.agent.chat_id)
    if waiting is None or waiting.flow != FLOW or waiting.step != step or waiting.data.get("client") != client_id:
        return None
    due = from_minutes(waiting.data.get("at"))
    found = await followups.client_with_open(tn.session, tn.agent.id, client_id) if due is not None else None
    if found is None or due is None:
        return None
    client, booked = found
    return Draft(client, due, str(waiting.data.get("note") or "") or None, booked)


async def still_ahead(tn: Turn, client: Client, due: datetime) -> bool:
    """A time that passed while the agent looked at it is not saved: say so and ask again."""
    if due > tn.now:
        return True
    tn.toast(tn.t("followup.suggestion_passed"))
    await ask_when(tn, client, in_place=False)
    return False


async def press_confirm(tn: Turn, client_id: int, _: Value) -> bool:
    draft = await drafted(tn, client_id, FollowUpStep.CONFIRM)
    if draft is None:
        return False
    if await still_ahead(tn, draft.client, draft.due):
        await commit(tn, draft.client, draft.due, draft.note, in_place=True, booked=draft.booked)
    return True


async def press_work_day(tn: Turn, client_id: int, value: Value) -> bool:
    """📅 Move to the next work day, from the echo of a time on a day off: the draft's note goes with it."""
    due = from_minutes(value)
    draft = await drafted(tn, client_id, FollowUpStep.CONFIRM) if due is not None else None
    if draft is None or due is None:
        return False
    if await still_ahead(tn, draft.client, due):
        await commit(tn, draft.client, due, draft.note, in_place=True, booked=draft.booked)
    return True


async def press_add(tn: Turn, client_id: int, _: Value) -> bool:
    draft = await drafted(tn, client_id, FollowUpStep.REPLACE)
    if draft is None:
        return False
    if await still_ahead(tn, draft.client, draft.due):
        await stop_waiting(tn.session, tn.agent.chat_id)
        await save_follow_up(tn, draft.client, draft.due, draft.note, in_place=True)
    return True


async def press_replace(tn: Turn, follow_up_id: int, _: Value) -> bool:
    old = await followups.owned_follow_up(tn.session, tn.agent.id, follow_up_id)
    if old is None or old.status != followups.OPEN:
        return False
    draft = await drafted(tn, old.client_id, FollowUpStep.REPLACE)
    if draft is None:
        return False
    client, due, note = draft.client, draft.due, draft.note
    if await still_ahead(tn, client, due):
        await stop_waiting(tn.session, tn.agent.chat_id)
        previous = old.due_at
        await followups.replace(tn.session, old, tn.agent, client, due, note, tn.now)
        client.updated_at = tn.now
        tn.edit(tn.t("followup.replaced", old=when_text(tn, previous), when=when_text(tn, due), name=client.name))
    return True


async def press_cancel_draft(tn: Turn, client_id: int, _: Value) -> bool:
    if await drafted(tn, client_id, FollowUpStep.REPLACE) is None:
        return False
    await stop_waiting(tn.session, tn.agent.chat_id)
    tn.edit(tn.t("followup.draft_cancelled"))
    return True


async def save_follow_up(tn: Turn, client: Client, due: datetime, note: str | None, in_place: bool = False) -> None:
    await followups.add_follow_up(tn.session, tn.agent, client, due, note, tn.now)
    client.updated_at = tn.now
    text = tn.t("followup.saved", name=client.name, when=when_text(tn, due))
    (tn.edit if in_place else tn.send)(text, None)


async def press_done(tn: Turn, follow_up_id: int, _: Value) -> bool:
    follow_up = await followups.owned_follow_up(tn.session, tn.agent.id, follow_up_id)
    if follow_up is None or follow_up.status != followups.OPEN:
        return False
    await followups.mark_done(tn.session, follow_up, tn.now)
    tn.edit(tn.t("followup.done", name=await client_name(tn, follow_up)))
    await wait_for(
        tn.session, tn.agent.chat_id, Waiting(FLOW, FollowUpStep.OUTCOME, {"follow_up": follow_up.id}), tn.now
    )
    tn.send(tn.t("followup.ask_outcome"), [[button(tn.t("followup.skip"), PREFIX, "skip", follow_up.id)]])
    return True


async def press_skip_outcome(tn: Turn, follow_up_id: int, _: Value) -> bool:
    follow_up = await followups.owned_follow_up(tn.session, tn.agent.id, follow_up_id)
    if follow_up is None:
        return False
    await stop_waiting(tn.session, tn.agent.chat_id)
    tn.edit_buttons(None)
    await offer_after_done(tn, follow_up)
    return True


async def press_snooze(tn: Turn, follow_up_id: int, _: Value) -> bool:
    follow_up = await followups.owned_follow_up(tn.session, tn.agent.id, follow_up_id)
    if follow_up is None or follow_up.status != followups.OPEN:
        return False
    options = followups.snooze_options(tn.agent, tn.now, follow_up.due_at)
    wording = followups.snooze_wording(tn.agent, tn.now, options, follow_up.due_at)
    rows = [
        [button(tn.t(f"snooze.{wording[name]}", when=when_text(tn, moment)), PREFIX, "sz", follow_up.id, name)]
        for name, moment in options.items()
    ]
    rows.append([button(tn.t("button.back"), PREFIX, "back", follow_up.id)])
    tn.edit_buttons(rows)
    return True


async def press_snooze_option(tn: Turn, follow_up_id: int, value: Value) -> bool:
    follow_up = await followups.owned_follow_up(tn.session, tn.agent.id, follow_up_id)
    if follow_up is None or follow_up.status != followups.OPEN:
        return False
    due = followups.snooze_options(tn.agent, tn.now, follow_up.due_at).get(str(value))
    if due is None:
        return False
    await followups.move(tn.session, follow_up, due, tn.now)
    tn.edit(tn.t("followup.snoozed", name=await client_name(tn, follow_up), when=when_text(tn, due)))
    return True


async def press_back(tn: Turn, follow_up_id: int, _: Value) -> bool:
    follow_up = await followups.owned_follow_up(tn.session, tn.agent.id, follow_up_id)
    if follow_up is None:
        return False
    tn.edit_buttons(
        [
            [InlineKeyboardButton(label, callback_data=data) for label, data in row]
            for row in nudge_buttons(tn.lang, follow_up)
        ]
    )
    return True


async def press_move(tn: Turn, follow_up_id: int, _: Value) -> bool:
    follow_up = await followups.owned_follow_up(tn.session, tn.agent.id, follow_up_id)
    if follow_up is None or follow_up.status != followups.OPEN:
        return False
    await wait_for(tn.session, tn.agent.chat_id, Waiting(FLOW, FollowUpStep.MOVE, {"follow_up": follow_up.id}), tn.now)
    tn.send(tn.t("followup.ask_new_time"))
    return True


async def press_move_to(tn: Turn, follow_up_id: int, value: Value) -> bool:
    """✅ Tomorrow at the same time, offered when the new time typed after 📅 Reschedule was already past today."""
    follow_up = await followups.owned_follow_up(tn.session, tn.agent.id, follow_up_id)
    due = from_minutes(value)
    if follow_up is None or follow_up.status != followups.OPEN or due is None:
        return False
    if due <= tn.now:
        tn.toast(tn.t("followup.suggestion_passed"))
        return True
    waiting = await waiting_for(tn.session, tn.agent.chat_id)
    if waiting is not None and waiting.flow == FLOW and waiting.step == FollowUpStep.MOVE:
        await stop_waiting(tn.session, tn.agent.chat_id)
    await followups.move(tn.session, follow_up, due, tn.now)
    tn.edit(tn.t("followup.moved", name=await client_name(tn, follow_up), when=when_text(tn, due)))
    return True


# ---------------------------------------------------------------------------------------------- a new zone


async def after_zone_change(tn: Turn, old_zone: str) -> None:
    """Called once the agent's time zone changed: the open follow-ups keep their instant, so their local times
    moved; say which, and offer to keep the local times they had (one tap, `press_keep_local`)."""
    upcoming = await followups.open_between(tn.session, tn.agent.id, tn.now, followups.FAR_FUTURE)
    if not upcoming:
        return
    items = [
        tn.t(
            "followup.zone_item",
            name=client.name,
            when=when_text(tn, follow_up.due_at),
            was=format_moment(follow_up.due_at, old_zone, tn.lang, tn.now),
        )
        for follow_up, client in upcoming[:LIST_LIMIT]
    ]
    if len(upcoming) > LIST_LIMIT:
        items.append(tn.t("followup.zone_more"))
    changed = math.ceil(tn.now.timestamp())  # whole seconds, rounded up: every follow-up untouched since counts
    tn.send(
        tn.t("followup.zone_moved", items=Html("\n".join(items))),
        [[button(tn.t("followup.keep_local_times"), PREFIX, "keep", changed, old_zone)]],
    )


async def press_keep_local(tn: Turn, changed: int, old_zone: Value) -> bool:
    """↩️ Keep the local times: each open follow-up untouched since the change goes back to its old wall time."""
    zone_name = str(old_zone)
    if not is_valid_zone(zone_name) or zone_name == tn.agent.timezone:
        return False
    changed_at = datetime.fromtimestamp(changed, UTC)
    moved = await followups.keep_local_times(tn.session, tn.agent, zone_name, changed_at, tn.now)
    if not moved:
        return False  # pressed twice, or nothing left to move
    items = [
        tn.t("followup.zone_kept_item", name=client.name, when=when_text(tn, follow_up.due_at))
        for follow_up, client in moved[:LIST_LIMIT]
    ]
    if len(moved) > LIST_LIMIT:
        items.append(tn.t("followup.zone_more"))
    tn.edit(tn.t("followup.zone_kept", items=Html("\n".join(items))))
    return True


Value = int | str
ButtonHandler = Callable[[Turn, int, Value], Awaitable[bool]]
# Every follow-up button, by action: each re-checks the id it carries against the pressing agent.
BUTTONS: dict[str, ButtonHandler] = {
    "new": press_new,
    "acc": press_accept,
    "ok": press_confirm,
    "done": press_done,
    "skip": press_skip_outcome,
    "snooze": press_snooze,
    "sz": press_snooze_option,
    "back": press_back,
    "move": press_move,
    "to": press_move_to,
    "alt": press_work_day,
    "add": press_add,
    "rep": press_replace,
    "no": press_cancel_draft,
    "keep": press_keep_local,
}
# fu:<action>:<id>, and the value after it for the actions that carry one.
VALUES: dict[str, Field[Any]] = {"acc": MINUTES, "to": MINUTES, "alt": MINUTES, "sz": Choice(*SNOOZES)}
PRESSES = {action: layout(PREFIX, action, ID, VALUES.get(action, Trailing(Token(16), ""))) for action in BUTTONS}
# fu:keep:<seconds since the epoch of the zone change>:<the zone before it>
PRESSES["keep"] = layout(PREFIX, "keep", Number(0, 10**11), Token(48))


# ---------------------------------------------------------------------------------------------- lists


async def today(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """/today: open follow-ups due today, in order, each with the nudge's buttons."""
    async with turn(update, context) as tn:
        items = await followups.due_today(tn.session, tn.agent, tn.now)
        show_list(tn, items, "today")


async def overdue(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """/overdue: open follow-ups whose time has passed."""
    async with turn(update, context) as tn:
        items = await followups.overdue(tn.session, tn.agent, tn.now)
        show_list(tn, items, "overdue")


def show_list(tn: Turn, items: list[tuple[FollowUp, Client]], which: str) -> None:
    if not items:
        tn.send(tn.t(f"list.{which}_empty"))
        return
    tn.send(tn.t(f"list.{which}_title", count=len(items)))
    for follow_up, client in items[:LIST_LIMIT]:
        text = tn.t(
            "list.item",
            when=when_text(tn, follow_up.due_at),
            name=client.name,
            stage=stage_name(tn.lang, client.stage),
            note=clip(follow_up.note, NOTE_SHOWN) if follow_up.note else "—",
        )
        rows = [
            [InlineKeyboardButton(label, callback_data=data) for label, data in row]
            for row in nudge_buttons(tn.lang, follow_up)
        ]
        tn.send(text, rows)
    if len(items) > LIST_LIMIT:
        tn.send(tn.t("list.more", count=len(items) - LIST_LIMIT))
