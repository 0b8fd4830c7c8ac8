"""Coaching tips: /tip (the next one, or one on a topic), /topics, /saved, and the daily tip.

A tip message carries its buttons: 👍 / 👎 (what comes round again), ⭐ save, ➡️ another (same topic if it came
from one), 📚 topics, 📖 the source passage (for the team's own advice: that it has none); the daily tip adds 🔕 to
turn it off right there.
Callback data: tip:<action>:<tip id>[:<topic>] — tip ids are short slugs, so it stays within 64 bytes.
"""

from __future__ import annotations

from datetime import datetime, time
from typing import Literal

from sqlalchemy.ext.asyncio import AsyncSession
from telegram import InlineKeyboardButton, Update
from telegram.ext import ContextTypes

from bot import recurring, tips
from bot.agents import change_settings
from bot.i18n import EN, ZH_HANT, Html, t
from bot.models import Agent, Delivery, TipState
from bot.preferences import format_time
from bot.scheduler import Outgoing
from bot.sources import Passage
from bot.text import clip
from bot.tip_library import Library, Tip, library
from handlers.context import Turn, turn
from handlers.keyboards import (
    Choice,
    Clock,
    Number,
    Token,
    button,
    grid,
    inline,
    layout,
    mark,
    pack,
    paging_row,
    time_value,
)

PREFIX = "tip"
NO_TOPIC = "-"
SAVED_PAGE = 8
# How much of what the agent typed is echoed back in an answer.
ECHO_LIMIT = 100

# tip:saved:-:<page>, tip:on:-:<time>, and tip:<action>:<tip id or ->:<topic or ->
SAVED_PAGE_BUTTON = layout(PREFIX, "saved", Choice(NO_TOPIC), Number(0, 10**6))
DAILY_ON = layout(PREFIX, "on", Choice(NO_TOPIC), Clock())
ON_TIP = layout(PREFIX, ("topics", "topic", "more", "up", "down", "save", "src", "open", "off"), Token(), Token())


# ---------------------------------------------------------------------------------------------- the message


def source_line(language: str, lib: Library, tip: Tip) -> str:
    topics = " · ".join(lib.topic_name(topic, language) for topic in map(lib.topic, tip.topics) if topic)
    where = tip.source
    if where.team:
        return t(language, "tips.source_team", topics=topics)
    if where.point:
        return t(language, "tips.source_point", summary=where.summary, point=where.point, topics=topics)
    return t(language, "tips.source_paragraph", summary=where.summary, paragraph=where.paragraph, topics=topics)


TipMoment = Literal["message", "daily", "evening"]


def tip_text(language: str, lib: Library, tip: Tip, moment: TipMoment = "message") -> str:
    """The tip as a message; its "try" line says today, except in the evening (after a reflection): tomorrow."""
    words = lib.words(tip, language)
    return t(
        language,
        f"tips.{moment}",
        title=words.title,
        text=words.text,
        action=words.try_today,
        source=Html(source_line(language, lib, tip)),
    )


def tip_buttons(
    language: str, tip: Tip, state: TipState | None, topic: str | None, *, daily: bool = False
) -> list[list[tuple[str, str]]]:
    rating = state.rating if state else tips.NONE
    saved = bool(state and state.saved_at)
    here = topic or NO_TOPIC  # ➡️ and the marks keep the topic the tip came from

    def key(label: str, action: str, chosen: bool = False, value: str = here) -> tuple[str, str]:
        return mark(t(language, label), chosen), pack(PREFIX, action, tip.id, value)

    rows = [
        [
            key("tips.button.up", "up", rating == tips.UP),
            key("tips.button.down", "down", rating == tips.DOWN),
            key("tips.button.save", "save", saved),
        ],
        [
            key("tips.button.another", "more"),
            (t(language, "tips.button.topics"), pack(PREFIX, "topics", NO_TOPIC, NO_TOPIC)),
        ],
    ]
    if not tip.source.team:  # the team's own advice has no passage: its 📖 would only say so
        rows[1].append(key("tips.button.source", "src", value=NO_TOPIC))
    if daily:
        rows.append([key("tips.button.daily_off", "off", value=NO_TOPIC)])
    return rows


def send_tip(tn: Turn, tip: Tip, state: TipState | None, topic: str | None, moment: TipMoment = "message") -> None:
    lib = library()
    tn.send(tip_text(tn.lang, lib, tip, moment), inline(tip_buttons(tn.lang, tip, state, topic)))


async def send_next(tn: Turn, topic: str | None, avoid: str | None = None) -> None:
    """The next tip in the agent's rotation (of a topic), or a way on when a topic has nothing left."""
    lib = library()
    chosen = await tips.next_tip(tn.session, lib, tn.agent.id, tn.now, topic, avoid)
    if chosen is None:
        tn.send(tn.t("tips.topic_exhausted"), topic_rows(tn))
        return
    send_tip(tn, *chosen, topic)


def topic_rows(tn: Turn) -> list[list[InlineKeyboardButton]]:
    lib = library()
    labels = [
        button(
            tn.t(
                "tips.topic_button",
                emoji=topic.emoji,
                name=Html(lib.topic_name(topic, tn.lang)),  # a button label is not HTML: nothing to escape
                count=len(lib.tips_in(topic.id)),
            ),
            PREFIX,
            "topic",
            NO_TOPIC,
            topic.id,
        )
        for topic in lib.topics
    ]
    return grid(labels, 2)


# ---------------------------------------------------------------------------------------------- commands


async def show_tip(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """/tip: the next tip; `/tip 跟进` / `/tip follow-up`: one on that topic (a name in any language or a keyword)."""
    async with turn(update, context) as tn:
        query = " ".join(tn.args).strip()
        if not query:
            await send_next(tn, None)
            return
        topic = library().find_topic(query) if len(query) <= ECHO_LIMIT else None
        if topic is None:
            tn.send(tn.t("tips.unknown_topic", query=clip(query, ECHO_LIMIT)), topic_rows(tn))
            return
        await send_next(tn, topic.id)


async def show_topics(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """/topics: every topic as a button, with how many tips it has."""
    async with turn(update, context) as tn:
        tn.send(tn.t("tips.pick_topic", count=len(library().tips)), topic_rows(tn))


async def show_saved(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """/saved: the tips the agent saved, newest first, a button each."""
    async with turn(update, context) as tn:
        text, rows = await saved_view(tn, 0)
        tn.send(text, rows)


async def saved_view(tn: Turn, page: int) -> tuple[str, list[list[InlineKeyboardButton]]]:
    lib = library()
    saved = await tips.saved_tips(tn.session, lib, tn.agent.id)
    if not saved:
        return tn.t("tips.saved_none"), [[button(tn.t("tips.button.first_tip"), PREFIX, "more", NO_TOPIC, NO_TOPIC)]]
    pages = (len(saved) + SAVED_PAGE - 1) // SAVED_PAGE
    page = min(max(page, 0), pages - 1)
    shown = saved[page * SAVED_PAGE : (page + 1) * SAVED_PAGE]
    rows = [
        [button(tn.t("tips.saved_item", title=Html(lib.words(tip, tn.lang).title)), PREFIX, "open", tip.id, NO_TOPIC)]
        for tip in shown
    ]
    rows += paging_row((tn.t("tips.button.prev"), tn.t("tips.button.next")), page, pages, PREFIX, "saved", NO_TOPIC)
    return tn.t("tips.saved_list", count=len(saved), page=page + 1, pages=pages), rows


# ---------------------------------------------------------------------------------------------- buttons


async def on_button(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """tip:<action>:<tip id or ->:<topic, page or time or ->"""
    async with turn(update, context) as tn:
        if (page := tn.matches(SAVED_PAGE_BUTTON)) is not None:
            tn.edit(*await saved_view(tn, page[2]))
            return
        if (daily := tn.matches(DAILY_ON)) is not None:
            await turn_daily_on(tn, daily[2])
            return
        fields = tn.pressed(ON_TIP)
        if fields is None:
            return
        action, tip_id, value = fields
        lib = library()
        tip = lib.tip(tip_id)
        topic = value if lib.topic(value) else None
        if action == "topics":
            tn.send(tn.t("tips.pick_topic", count=len(lib.tips)), topic_rows(tn))
        elif action == "topic" and topic:
            await send_next(tn, topic)
        elif action == "more":
            await send_next(tn, topic, avoid=tip.id if tip else None)
        elif tip is None:
            tn.toast(tn.t("tips.gone"))  # a tip since removed from the library, or forged data
        elif action in ("up", "down"):
            state = await tips.rate(tn.session, tn.agent.id, tip.id, tips.UP if action == "up" else tips.DOWN)
            show_marks(tn, tip, topic, state)
            tn.toast(tn.t({tips.UP: "tips.rated_up", tips.DOWN: "tips.rated_down"}.get(state.rating, "tips.unrated")))
        elif action == "save":
            saved = await tips.toggle_saved(tn.session, tn.agent.id, tip.id, tn.now)
            await refresh_buttons(tn, tip, topic)
            tn.toast(tn.t("tips.saved" if saved else "tips.unsaved"))
        elif action == "src":
            tn.send(source_text(tn.lang, tip))
        elif action == "open":
            send_tip(tn, tip, await tips.state_of(tn.session, tn.agent.id, tip.id), None)
        elif action == "off":
            await turn_daily_off(tn)
        else:
            tn.toast(tn.t("error.stale_button"))


async def refresh_buttons(tn: Turn, tip: Tip, topic: str | None) -> None:
    """Show the new rating or saved mark on the pressed message, keeping the daily tip's own row."""
    show_marks(tn, tip, topic, await tips.state_of(tn.session, tn.agent.id, tip.id))


def show_marks(tn: Turn, tip: Tip, topic: str | None, state: TipState | None) -> None:
    """The pressed message's buttons with `state`'s rating and saved marks (the daily tip keeps its own row)."""
    daily = tn.query is not None and _has_daily_row(tn.query.message)
    tn.edit_buttons(inline(tip_buttons(tn.lang, tip, state, topic, daily=daily)))


def _has_daily_row(message: object) -> bool:
    markup = getattr(message, "reply_markup", None)
    rows = getattr(markup, "inline_keyboard", ()) or ()
    return any(str(getattr(key, "callback_data", "")).startswith(f"{PREFIX}:off:") for row in rows for key in row)


def source_text(language: str, tip: Tip) -> str:
    if tip.source.team:  # no passage to show: say where the advice comes from instead
        return t(language, "tips.source_team_note")
    found = tip.source.passage()
    if found is None:
        return t(language, "tips.source_missing")
    return t(
        language,
        "tips.source_passage",
        where=Html(source_line(language, library(), tip)),
        passage=_passage_in(language, found),
    )


def _passage_in(language: str, found: Passage) -> str:
    if language == EN:
        return found.shown_en
    if language == ZH_HANT:
        return library().traditional.get(f"passage.{found.address}", found.shown_zh)
    return found.shown_zh


async def turn_daily_off(tn: Turn) -> None:
    before = tn.agent.tip_time
    if before is None:
        tn.toast(tn.t("tips.daily_already_off"))
        return
    change_settings(tn.agent, tn.now, tip_time=None)
    await recurring.reschedule(tn.session, tn.agent, tn.now, [recurring.DAILY_TIP])
    tn.send(
        tn.t("tips.daily_off", time=format_time(before)),
        [[button(tn.t("tips.button.daily_on", time=format_time(before)), PREFIX, "on", NO_TOPIC, time_value(before))]],
    )


async def turn_daily_on(tn: Turn, at: time) -> None:
    change_settings(tn.agent, tn.now, tip_time=at)
    await recurring.reschedule(tn.session, tn.agent, tn.now, [recurring.DAILY_TIP])
    tn.edit(tn.t("tips.daily_on", time=format_time(at)))


# ---------------------------------------------------------------------------------------------- the daily tip


async def render_daily_tip(session: AsyncSession, delivery: Delivery, agent: Agent, now: datetime) -> Outgoing | None:
    """The engine's renderer for kind "tip": the tip is chosen once and kept on the delivery, so a retry
    sends the same one; it counts as shown when Telegram has it (`daily_tip_sent`)."""
    if agent.tip_time is None:
        return None
    lib = library()
    tip = lib.tip(delivery.subject_key or "")
    if tip is None:
        tip = tips.choose_any(lib, agent.id, await tips.states(session, agent.id))
        if tip is None:
            return None
        delivery.subject_key = tip.id
    state = await tips.state_of(session, agent.id, tip.id)
    return Outgoing(
        tip_text(agent.language, lib, tip, "daily"), tip_buttons(agent.language, tip, state, None, daily=True)
    )


async def daily_tip_sent(session: AsyncSession, delivery: Delivery, agent: Agent, now: datetime) -> None:
    if delivery.subject_key:
        await tips.mark_shown(session, agent.id, delivery.subject_key, now)
    await recurring.after_sent(session, delivery, agent, now)
