"""Clients going cold (掉盘): the morning warning, /stale, and their buttons.

The day before a client crosses the agent's rule (bot.stale), at the agent's follow-up time, one message lists
the clients who cross it tomorrow: name, stage, days since the last real contact, an opener drafted from the
agent's own notes on that client, and a tip for the stage. Each has three buttons: 📞 (a call made: logged now,
the client's cadence starts again and the message is shown again without them), ⏰ Tomorrow (a follow-up nudge
tomorrow at the follow-up time) and 👤 (the client card). Nobody at risk, nothing sent. /stale lists every
client crossing today or tomorrow or already past, oldest last contact first, with the same buttons.

Buttons: `sw:call:<client>:<view>` (the view pressed on: `all` for /stale, else the crossing day a warning is
about), `sw:later:<client>`; 👤 is the clients module's own `cl:card:<client>`.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession
from telegram import Update
from telegram.ext import ContextTypes

from bot import stale
from bot.clients import MAX_ID, log_contact, open_follow_ups, owned_client, recent_contacts
from bot.followups import add_follow_up
from bot.i18n import Html, t
from bot.models import Agent, Client, Delivery
from bot.preferences import format_moment
from bot.scheduler import Outgoing
from bot.statuses import ContactKind
from bot.text import clip
from bot.timezones import local_today, to_utc
from bot.tip_library import library
from handlers.context import Turn, turn
from handlers.keyboards import Choice, Day, Either, Number, Trailing, inline, layout, pack
from handlers.stale_rule import stages_text

PREFIX = "sw"
ALL = "all"
# Clients the morning warning details (the rest are counted, with /stale to see them) and /stale lists.
WARNING_SHOWN = 5
LIST_SHOWN = 10
# How much of a client's name a button shows, and of the agent's words an opener quotes.
BUTTON_NAME = 10
QUOTED = 40
# A second 📞 this soon after a call was logged (a double tap, the same button on another message) logs nothing.
DOUBLE_TAP = timedelta(minutes=2)

CLIENT = Number(1, MAX_ID - 1)
PAGE = Number(0, 999)
# sw:call:<client>:<all | the warning's crossing day>[:<the /stale page>], sw:later:<client>, sw:page:<page>
CALL = layout(PREFIX, "call", CLIENT, Either(Choice(ALL), Day()), Trailing(PAGE, 0))
TURN_PAGE = layout(PREFIX, "page", PAGE)
LATER = layout(PREFIX, "later", CLIENT)

Rows = list[list[tuple[str, str]]]


# ---------------------------------------------------------------------------------------------- the views


async def warning_view(session: AsyncSession, agent: Agent, now: datetime, day: date) -> tuple[str, Rows] | None:
    """The warning about the clients who cross the rule on `day` (tomorrow when it is sent); None if none does."""
    found = [s for s in await stale.standings(session, agent, now) if s.crosses == day]
    if not found:
        return None
    lang, shown = agent.language, found[:WARNING_SHOWN]
    clients = await stale.clients_by_id(session, agent.id, [s.client_id for s in shown])
    notes = await stale.latest_notes(session, list(clients))
    today = local_today(now, agent.timezone)
    title = "stale.warning.title" if day > today else "stale.warning.title_today"
    blocks, tips_shown = [], set[str]()
    for number, standing in enumerate(shown, start=1):
        client = clients[standing.client_id]
        lines = [client_line(lang, number, client, standing)]
        lines.append(t(lang, "stale.opener_line", opener=opener_text(lang, client, notes.get(client.id))))
        tip = stale.tip_for(library(), client.stage)
        if tip is not None:
            words = library().words(tip, lang)
            key = "stale.tip_again" if tip.id in tips_shown else "stale.tip"
            lines.append(t(lang, key, title=words.title, action=words.try_today))
            tips_shown.add(tip.id)
        blocks.append("\n".join(lines))
    parts = [t(lang, title, count=len(found)), *blocks]
    if len(found) > len(shown):
        parts.append(t(lang, "stale.more", count=len(found) - len(shown)))
    parts.append(t(lang, "stale.buttons_help"))
    text = t(lang, "stale.message", parts=Html("\n\n".join(parts)))
    return text, client_rows(lang, [clients[s.client_id] for s in shown], day.isoformat())


async def list_view(session: AsyncSession, agent: Agent, now: datetime, page: int = 0) -> tuple[str, Rows]:
    """/stale: the clients crossing today or tomorrow and those past the rule, oldest last contact first, a page of
    ten at a time (a page past the last, after calls emptied it, shows the last)."""
    lang, today = agent.language, local_today(now, agent.timezone)
    found = stale.at_risk(await stale.standings(session, agent, now), today)
    if not found:
        return t(lang, "stale.empty", rule=Html(rule_line(agent))), []
    pages = -(-len(found) // LIST_SHOWN)
    page = min(page, pages - 1)
    shown = found[page * LIST_SHOWN : (page + 1) * LIST_SHOWN]
    clients = await stale.clients_by_id(session, agent.id, [s.client_id for s in shown])
    lines = [t(lang, "stale.list.title", count=len(found))]
    for number, standing in enumerate(shown, start=page * LIST_SHOWN + 1):
        client = clients[standing.client_id]
        lines.append(
            t(
                lang,
                "stale.list.line",
                client=Html(client_line(lang, number, client, standing)),
                due=due(lang, standing, today),
            )
        )
    if pages > 1:
        lines.append(t(lang, "stale.list.page", page=page + 1, pages=pages))
    lines.append(t(lang, "stale.buttons_help"))
    text = t(lang, "stale.message", parts=Html("\n".join(lines)))
    rows = client_rows(lang, [clients[s.client_id] for s in shown], ALL, page)
    turns = [(t(lang, "stale.button.previous"), pack(PREFIX, "page", page - 1))] if page > 0 else []
    if page < pages - 1:
        turns.append((t(lang, "stale.button.next"), pack(PREFIX, "page", page + 1)))
    return text, [*rows, turns] if turns else rows


def client_line(lang: str, number: int, client: Client, standing: stale.Standing) -> str:
    """'1. 王先生 · 意向 · 6 天没联系' (or 'registered 3 days ago, no contact yet')."""
    stage = t(lang, f"stage.{client.stage}")
    key = "stale.client.since" if standing.contacted else "stale.client.never"
    return t(lang, key, number=number, name=client.name, stage=stage, count=standing.since)


def due(lang: str, standing: stale.Standing, today: date) -> str:
    """When the client crosses the rule: tomorrow, today, or how many days ago."""
    if standing.crosses > today:
        return t(lang, "stale.due.tomorrow")
    if standing.crosses == today:
        return t(lang, "stale.due.today")
    return t(lang, "stale.due.past", count=(today - standing.crosses).days)


def opener_text(lang: str, client: Client, said: stale.Said | None) -> str:
    """The drafted opener, quoting only the agent's own words on this client (bot.stale.opener)."""
    drafted = stale.opener(client, said)
    words = clip(drafted.words, QUOTED) if drafted.words else ""
    return t(lang, f"stale.opener.{drafted.source}", name=client.name, words=words)


def client_rows(lang: str, clients: Sequence[Client], view: str, page: int = 0) -> Rows:
    # Button labels are not HTML: the name goes in as it is (Html marks it as not to be escaped).
    return [
        [
            (
                t(lang, "stale.button.called", name=Html(clip(client.name, BUTTON_NAME))),
                pack(PREFIX, "call", client.id, view, *([page] if page else [])),
            ),
            (t(lang, "stale.button.tomorrow"), pack(PREFIX, "later", client.id)),
            (t(lang, "stale.button.card"), pack("cl", "card", client.id)),
        ]
        for client in clients
    ]


def rule_line(agent: Agent) -> str:
    """The agent's rule in one line, with where to change it."""
    return t(agent.language, "stale.rule.line", stages=stages_text(agent))


# ---------------------------------------------------------------------------------------------- the engine


async def render_warning(session: AsyncSession, delivery: Delivery, agent: Agent, now: datetime) -> Outgoing | None:
    """The engine's renderer for the morning warning: the clients crossing tomorrow; None (nothing sent) if none."""
    view = await warning_view(session, agent, now, local_today(now, agent.timezone) + timedelta(days=1))
    return Outgoing(*view) if view is not None else None


# ---------------------------------------------------------------------------------------------- /stale and buttons


async def show_stale(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """/stale: who is about to go cold or already has."""
    async with turn(update, context) as tn:
        text, rows = await list_view(tn.session, tn.agent, tn.now)
        tn.send(text, inline(rows))


async def on_button(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """📞 a call made, or ⏰ tomorrow, on a warning or on /stale."""
    async with turn(update, context) as tn:
        if (later := tn.matches(LATER)) is not None:
            await remind_tomorrow(tn, later[1])
            return
        if (turned := tn.matches(TURN_PAGE)) is not None:
            text, rows = await list_view(tn.session, tn.agent, tn.now, turned[1])
            tn.edit(text, inline(rows))
            return
        fields = tn.pressed(CALL)
        if fields is not None:
            await called(tn, fields[1], fields[2], fields[3])


async def called(tn: Turn, client_id: int, view: str | date, page: int = 0) -> None:
    """📞: the call is logged now; the message shows again without the client (it starts a new cadence)."""
    client = await owned_client(tn.session, tn.agent.id, client_id)
    if client is None:
        tn.refuse()
        return
    last = next(iter(await recent_contacts(tn.session, client.id, 1)), None)
    if last is None or last.kind != ContactKind.CALL or tn.now - last.at > DOUBLE_TAP:
        await log_contact(tn.session, client, ContactKind.CALL, None, tn.now)
    tn.toast(tn.t("stale.call_logged", name=Html(client.name)))  # a toast is plain text
    change = Html(tn.t("stale.call_logged", name=client.name))
    today = local_today(tn.now, tn.agent.timezone)
    shown = await warning_view(tn.session, tn.agent, tn.now, view) if isinstance(view, date) and view >= today else None
    if isinstance(view, date) and view >= today and shown is None:
        tn.edit(tn.t("stale.after_change", change=change, view=Html(tn.t("stale.warning.cleared"))))
        return
    text, rows = shown if shown is not None else await list_view(tn.session, tn.agent, tn.now, page)
    tn.edit(tn.t("stale.after_change", change=change, view=Html(text)), inline(rows))


async def remind_tomorrow(tn: Turn, client_id: int) -> None:
    """⏰: a follow-up nudge tomorrow at the agent's follow-up time (one, however often it is pressed)."""
    client = await owned_client(tn.session, tn.agent.id, client_id)
    if client is None:
        tn.refuse()
        return
    at = to_utc(local_today(tn.now, tn.agent.timezone) + timedelta(days=1), tn.agent.followup_time, tn.agent.timezone)
    when = format_moment(at, tn.agent.timezone, tn.lang, tn.now)
    if any(follow_up.due_at == at for follow_up in await open_follow_ups(tn.session, client.id)):
        tn.send(tn.t("stale.tomorrow_already", name=client.name, when=when))
        return
    await add_follow_up(tn.session, tn.agent, client, at, None, tn.now)
    tn.toast(tn.t("stale.tomorrow_toast"))
    tn.send(tn.t("stale.tomorrow_set", name=client.name, when=when))
