"""The daily reflection: the prompt at the agent's time, the six-question check-in, /reflect and /journal.

The prompt comes with ▶️ Start, ⏰ Later (1 h), ⏭ Skip today. Each question can be answered by button or by
typing (a voice note is taken for the written ones), or skipped; /cancel leaves it, and what was answered stays.
At the end: a short acknowledgement, the streak, and one tip matched to what the agent wrote.
Callback data: rf:<action>:<YYYY-MM-DD>:<value>.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import date, datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession
from telegram import InlineKeyboardButton, Update
from telegram.ext import ContextTypes

from bot import reflections, tips
from bot.conversations import Flow, Waiting, stop_waiting, wait_for, waiting_for
from bot.i18n import Html, t
from bot.matcher import matched_tip
from bot.models import Agent, Delivery, Reflection
from bot.preferences import format_day, format_moment
from bot.scheduler import Outgoing
from bot.timezones import local_today
from bot.tip_library import library
from handlers import showing_review
from handlers import tips as tip_messages
from handlers.context import Turn, turn
from handlers.keyboards import Choice, Day, Number, Token, button, grid, layout, pack, paging_row

FLOW = Flow.REFLECT
PREFIX = "rf"
NONE = "-"
EDIT = "edit_"  # a waiting step "edit_lesson": changing one answer of a finished reflection
JOURNAL_PAGE = 7
MOODS = {1: "😞", 2: "😕", 3: "😐", 4: "🙂", 5: "😄"}


# ---------------------------------------------------------------------------------------------- the prompt


def prompt(language: str, agent: Agent, day: date, *, later: bool = False) -> Outgoing:
    key = "reflect.prompt_later" if later else "reflect.prompt"
    value = day.isoformat()
    return Outgoing(
        t(language, key, day=format_day(day, language)),
        [
            [(t(language, "reflect.button.start"), pack(PREFIX, "start", value, NONE))],
            [
                (t(language, "reflect.button.later"), pack(PREFIX, "later", value, NONE)),
                (t(language, "reflect.button.skip_day"), pack(PREFIX, "skipday", value, NONE)),
            ],
        ],
    )


async def render_prompt(session: AsyncSession, delivery: Delivery, agent: Agent, now: datetime) -> Outgoing | None:
    """The engine's renderer for the daily prompt: nothing if that day was already reflected on or skipped."""
    return await _prompt_if_open(session, agent, local_today(delivery.due_at, agent.timezone), later=False)


async def render_later(session: AsyncSession, delivery: Delivery, agent: Agent, now: datetime) -> Outgoing | None:
    """⏰ Later's prompt, an hour on: still only if the day is not done."""
    day = date.fromisoformat(delivery.subject_key) if delivery.subject_key else local_today(now, agent.timezone)
    return await _prompt_if_open(session, agent, day, later=True)


async def _prompt_if_open(session: AsyncSession, agent: Agent, day: date, *, later: bool) -> Outgoing | None:
    found = await reflections.reflection_on(session, agent.id, day)
    if found is not None and found.status in (reflections.DONE, reflections.SKIPPED):
        return None
    asked = prompt(agent.language, agent, day, later=later)
    return replace(asked, text=await showing_review.with_day_lines(session, agent, day, asked.text))


# ---------------------------------------------------------------------------------------------- questions


def question_rows(tn: Turn, reflection: Reflection, question: str) -> list[list[InlineKeyboardButton]]:
    day = reflection.day.isoformat()
    rows: list[list[InlineKeyboardButton]] = []
    if question == "clients":
        counts = [button(str(n), PREFIX, "ans", day, n) for n in range(6)]
        rows = [*grid(counts, 6), [button("6+", PREFIX, "ans", day, 6)]]
    elif question == "mood":
        rows = [[button(f"{MOODS[n]} {n}", PREFIX, "ans", day, n) for n in range(1, 6)]]
    rows.append([button(tn.t("reflect.button.skip_question"), PREFIX, "pass", day, question)])
    return rows


async def ask(tn: Turn, reflection: Reflection, question: str, *, in_place: bool = False) -> None:
    await wait_for(tn.session, tn.agent.chat_id, Waiting(FLOW, question, {"day": reflection.day.isoformat()}), tn.now)
    number = reflections.QUESTIONS.index(question) + 1
    total = len(reflections.QUESTIONS)
    text = tn.t(f"reflect.q.{question}", number=number, total=total, day=format_day(reflection.day, tn.lang))
    (tn.edit if in_place else tn.send)(text, question_rows(tn, reflection, question))


async def go_on(tn: Turn, reflection: Reflection, answered: str) -> None:
    """The next question, or the end of the check-in."""
    await ask_next(tn, reflection, reflections.advance(reflection, answered, tn.now))


async def ask_next(tn: Turn, reflection: Reflection, following: str | None) -> None:
    """Ask `following`, the question the reflection moved on to; None: it is finished."""
    if following is not None:
        await ask(tn, reflection, following)
        return
    await stop_waiting(tn.session, tn.agent.chat_id)
    await finish(tn, reflection)


async def finish(tn: Turn, reflection: Reflection) -> None:
    """Saved: the acknowledgement, the streak, and one tip matched to what was written."""
    streak = await reflections.streak(tn.session, tn.agent, local_today(tn.now, tn.agent.timezone))
    progress = tn.t("reflect.streak", count=streak) if streak > 1 else tn.t("reflect.streak_start")
    tn.send(
        tn.t("reflect.saved", streak=Html(progress)),
        [[button(tn.t("reflect.button.journal"), PREFIX, "jpage", NONE, 0)]],
    )
    lib = library()
    seen = await tips.states(tn.session, tn.agent.id)
    tip, topic = matched_tip(lib, tn.agent.id, seen, reflections.written(reflection))
    reflection.tip_id = tip.id
    state = await tips.mark_shown(tn.session, tn.agent.id, tip.id, tn.now)
    tn.send(tn.t("reflect.tip_intro"))
    tip_messages.send_tip(tn, tip, state, topic, "evening")


def read_answer(question: str, text: str) -> int | str | None:
    if question == "clients":
        return reflections.parse_clients(text)
    if question == "mood":
        return reflections.parse_mood(text)
    return reflections.parse_text(text)


# ---------------------------------------------------------------------------------------------- commands


async def reflect(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """/reflect: today's check-in, resumed where it stopped; before noon with yesterday unfinished, a choice."""
    async with turn(update, context) as tn:
        await offer_day(tn)


async def offer_day(tn: Turn) -> None:
    """Today's check-in; or, when the day that just ended is unfinished (after midnight, in the morning), both
    days on buttons, named, so the agent sees which day the questions are about and picks one."""
    day = await reflections.day_to_reflect(tn.session, tn.agent, tn.now)
    today = local_today(tn.now, tn.agent.timezone)
    if day == today:
        await start_or_resume(tn, day)
        return
    earlier, later = format_day(day, tn.lang), format_day(today, tn.lang)
    tn.send(
        tn.t("reflect.which_day", yesterday=earlier),
        [
            [button(tn.t("reflect.button.yesterday", day=earlier), PREFIX, "start", day.isoformat(), NONE)],
            [button(tn.t("reflect.button.today", day=later), PREFIX, "start", today.isoformat(), NONE)],
        ],
    )


async def start_or_resume(tn: Turn, day: date, *, in_place: bool = False) -> None:
    reflection = await reflections.begin(tn.session, tn.agent, day, tn.now)
    if reflection.status == reflections.DONE:
        tn.send(
            tn.t("reflect.already_done", day=format_day(day, tn.lang)),
            [[button(tn.t("reflect.button.open"), PREFIX, "open", day.isoformat(), NONE)]],
        )
        return
    await ask(tn, reflection, reflection.step or reflections.QUESTIONS[0], in_place=in_place)


async def journal(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """/journal: recent days, a button each; one tap opens a day."""
    async with turn(update, context) as tn:
        tn.send(*await journal_view(tn, 0))


async def journal_view(tn: Turn, page: int) -> tuple[str, list[list[InlineKeyboardButton]]]:
    entries, total = await reflections.journal_page(tn.session, tn.agent.id, page, JOURNAL_PAGE)
    if total == 0:
        return tn.t("reflect.journal_empty"), [[button(tn.t("reflect.button.start_now"), PREFIX, "now", NONE, NONE)]]
    pages = (total + JOURNAL_PAGE - 1) // JOURNAL_PAGE
    rows = [[button(entry_label(tn, entry), PREFIX, "open", entry.day.isoformat(), NONE)] for entry in entries]
    rows += paging_row((tn.t("reflect.button.prev"), tn.t("reflect.button.next")), page, pages, PREFIX, "jpage", NONE)
    streak = await reflections.streak(tn.session, tn.agent, local_today(tn.now, tn.agent.timezone))
    streak_days = Html(tn.t("reflect.work_days", count=streak))
    return tn.t("reflect.journal", count=total, page=page + 1, pages=pages, streak=streak_days), rows


def entry_label(tn: Turn, entry: Reflection) -> str:
    mood = f"{MOODS[entry.mood]} " if entry.mood else ""
    clients = tn.t("reflect.label_clients", count=entry.clients) if entry.clients is not None else ""
    state = "" if entry.status == reflections.DONE else tn.t("reflect.label_unfinished")
    return tn.t("reflect.entry_label", day=format_day(entry.day, tn.lang), mood=mood, clients=clients, state=state)


def entry_text(tn: Turn, entry: Reflection) -> str:
    missing = tn.t("reflect.no_answer")

    def shown(value: str | None, question: str) -> str:
        if question in entry.voice and not value:
            return tn.t("reflect.voice_kept")
        return value or missing

    return tn.t(
        "reflect.entry",
        day=format_day(entry.day, tn.lang),
        clients=entry.clients if entry.clients is not None else missing,
        mood=f"{MOODS[entry.mood]} {entry.mood}" if entry.mood else missing,
        went_well=shown(entry.went_well, "went_well"),
        to_improve=shown(entry.to_improve, "to_improve"),
        lesson=shown(entry.lesson, "lesson"),
        tomorrow=shown(entry.tomorrow, "tomorrow"),
    )


async def entry_message(tn: Turn, entry: Reflection) -> str:
    """The entry with the showings reviewed that day under it."""
    return await showing_review.with_day_lines(tn.session, tn.agent, entry.day, entry_text(tn, entry))


def entry_rows(tn: Turn, entry: Reflection) -> list[list[InlineKeyboardButton]]:
    """Today's entry can be changed answer by answer; older ones only read."""
    day = entry.day.isoformat()
    rows: list[list[InlineKeyboardButton]] = []
    if entry.day == local_today(tn.now, tn.agent.timezone):
        if entry.status == reflections.OPEN:
            rows.append([button(tn.t("reflect.button.resume"), PREFIX, "start", day, NONE)])
        edits = [button(tn.t(f"reflect.button.edit.{q}"), PREFIX, "edit", day, q) for q in reflections.QUESTIONS]
        rows += grid(edits, 2)
    rows.append([button(tn.t("reflect.button.journal"), PREFIX, "jpage", NONE, 0)])
    return rows


# ---------------------------------------------------------------------------------------------- buttons


async def on_button(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """rf:start|later|skipday|ans|pass|open|edit:<day>:<value or ->, rf:jpage:-:<page>, rf:now:-:-"""
    async with turn(update, context) as tn:
        if (page := tn.matches(JOURNAL_PAGE_BUTTON)) is not None:
            tn.edit(*await journal_view(tn, page[2]))
            return
        if tn.matches(START_NOW) is not None:
            await offer_day(tn)
            return
        fields = tn.pressed(ON_DAY)
        if fields is None:
            return
        action, day, value = fields
        if day > local_today(tn.now, tn.agent.timezone) or not await BUTTONS[action](tn, day, value):
            tn.refuse()


def _day(value: str) -> date | None:
    """A day a waiting flow stored (ISO), or None."""
    return ISO_DAY.read(value)


async def press_start(tn: Turn, day: date, _: str) -> bool:
    await start_or_resume(tn, day)
    return True


async def press_later(tn: Turn, day: date, _: str) -> bool:
    found = await reflections.reflection_on(tn.session, tn.agent.id, day)
    if found is not None and found.status != reflections.OPEN:
        key = "reflect.already_done" if found.status == reflections.DONE else "reflect.skipped_day"
        tn.toast(tn.t(key, day=format_day(day, tn.lang)))
        return True
    due = await reflections.remind_later(tn.session, tn.agent, day, tn.now)
    tn.edit(tn.t("reflect.later", time=_local_time(tn, due)))
    return True


async def press_skip_day(tn: Turn, day: date, _: str) -> bool:
    reflection = await reflections.skip_day(tn.session, tn.agent, day, tn.now)
    await stop_waiting(tn.session, tn.agent.chat_id)
    key = "reflect.already_done" if reflection.status == reflections.DONE else "reflect.skipped_day"
    tn.edit(tn.t(key, day=format_day(day, tn.lang)))
    return True


async def press_answer(tn: Turn, day: date, value: str) -> bool:
    reflection, question = await _waiting_reflection(tn, day)
    if reflection is None or question not in ("clients", "mood"):
        return False
    answer = read_answer(question, value)
    if answer is None:
        return False
    reflections.set_answer(reflection, question, answer, tn.now)
    tn.edit(tn.t("reflect.answered", answer=_answer_shown(question, answer)))
    await go_on(tn, reflection, question)
    return True


async def press_pass(tn: Turn, day: date, question: str) -> bool:
    reflection, waiting_for_question = await _waiting_reflection(tn, day)
    if reflection is None or question != waiting_for_question:
        return False
    tn.edit(tn.t("reflect.passed"))
    await go_on(tn, reflection, question)
    return True


async def press_open(tn: Turn, day: date, _: str) -> bool:
    entry = await reflections.reflection_on(tn.session, tn.agent.id, day)
    if entry is None or entry.status == reflections.SKIPPED:
        return False
    tn.send(await entry_message(tn, entry), entry_rows(tn, entry))
    return True


async def press_edit(tn: Turn, day: date, question: str) -> bool:
    entry = await reflections.reflection_on(tn.session, tn.agent.id, day)
    today = local_today(tn.now, tn.agent.timezone)
    if entry is None or day != today or question not in reflections.QUESTIONS:
        if entry is not None and day != today:
            tn.toast(tn.t("reflect.edit_only_today"), alert=True)
            return True
        return False
    await wait_for(tn.session, tn.agent.chat_id, Waiting(FLOW, EDIT + question, {"day": day.isoformat()}), tn.now)
    rows = question_rows(tn, entry, question)[:-1]
    rows.append([button(tn.t("reflect.button.keep"), PREFIX, "open", day.isoformat(), NONE)])
    tn.send(tn.t("reflect.edit_ask", question=Html(tn.t(f"reflect.name.{question}"))), rows)
    return True


BUTTONS = {
    "start": press_start,
    "later": press_later,
    "skipday": press_skip_day,
    "ans": press_answer,
    "pass": press_pass,
    "open": press_open,
    "edit": press_edit,
}
ISO_DAY = Day()
# A page of the journal: more than any agent will ever write, and an offset every database takes.
JOURNAL_PAGE_BUTTON = layout(PREFIX, "jpage", Choice(NONE), Number(0, 10**6))
START_NOW = layout(PREFIX, "now", Choice(NONE), Choice(NONE))
# rf:<action>:<day>:<value>: the value (a count, a mood, a question, or -) is read by the action.
ON_DAY = layout(PREFIX, tuple(BUTTONS), ISO_DAY, Token(16))


async def _waiting_reflection(tn: Turn, day: date) -> tuple[Reflection | None, str | None]:
    """The reflection this chat is answering questions of (a button from an older question is stale)."""
    waiting = await waiting_for(tn.session, tn.agent.chat_id)
    if waiting is None or waiting.flow != FLOW or waiting.data.get("day") != day.isoformat():
        return None, None
    reflection = await reflections.reflection_on(tn.session, tn.agent.id, day)
    question = waiting.step.removeprefix(EDIT)
    if reflection is None or (waiting.step.startswith(EDIT) and question not in ("clients", "mood")):
        return reflection, None
    if waiting.step.startswith(EDIT):
        return reflection, question
    return (reflection, question) if reflection.step == question else (None, None)


def _answer_shown(question: str, answer: int | str) -> str:
    if question == "mood" and isinstance(answer, int):
        return f"{MOODS[answer]} {answer}"
    return str(answer)


def _local_time(tn: Turn, moment: datetime) -> str:
    return format_moment(moment, tn.agent.timezone, tn.lang, tn.now)


# ---------------------------------------------------------------------------------------------- typed answers


async def answer_text(tn: Turn, update: Update, context: ContextTypes.DEFAULT_TYPE, waiting: Waiting) -> None:
    """Typed text while a question waits: the answer (checked), or a friendly retry that changes nothing."""
    day = _day(str(waiting.data.get("day", "")))
    editing = waiting.step.startswith(EDIT)
    question = waiting.step.removeprefix(EDIT)
    answer = read_answer(question, tn.typed)
    if day is not None and answer is not None and not editing and question in reflections.QUESTIONS:
        # The common case: stored and moved on in one statement.
        stored = await reflections.answer_and_advance(tn.session, tn.agent.id, day, question, answer, tn.now)
        if stored is not None:
            await ask_next(tn, *stored)
            return
    reflection = await reflections.reflection_on(tn.session, tn.agent.id, day) if day else None
    if reflection is None:
        await stop_waiting(tn.session, tn.agent.chat_id)
        tn.send(tn.t("error.stale_button"))
        return
    if answer is None:
        tn.send(tn.t(f"reflect.invalid.{question}"))
        return
    reflections.set_answer(reflection, question, answer, tn.now)
    if not editing:
        await go_on(tn, reflection, question)
        return
    await stop_waiting(tn.session, tn.agent.chat_id)
    tn.send(tn.t("reflect.edited"))
    tn.send(await entry_message(tn, reflection), entry_rows(tn, reflection))


async def on_voice(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """A voice note answers a written question (or is the note of a showing's review): kept as a file reference
    and acknowledged."""
    async with turn(update, context) as tn:
        message = update.effective_message
        waiting = await waiting_for(tn.session, tn.agent.chat_id)
        question = waiting.step.removeprefix(EDIT) if waiting and waiting.flow == FLOW else None
        voice = message.voice if message else None
        if voice is not None and waiting is not None and waiting.flow == showing_review.FLOW:
            await showing_review.answer_voice(tn, voice.file_id, showing_review.seconds_of(voice.duration), waiting)
            return
        day = _day(str(waiting.data.get("day", ""))) if waiting else None
        reflection = await reflections.reflection_on(tn.session, tn.agent.id, day) if day else None
        if voice is None or reflection is None or question not in reflections.TEXT_QUESTIONS or waiting is None:
            tn.send(tn.t("fallback.unsupported"))
            return
        reflections.keep_voice(reflection, question, voice.file_id, tn.now)
        length = voice.duration
        seconds = int(length.total_seconds()) if isinstance(length, timedelta) else int(length)
        tn.send(tn.t("reflect.voice_saved", seconds=seconds))
        if waiting.step.startswith(EDIT):
            await stop_waiting(tn.session, tn.agent.chat_id)
            tn.send(await entry_message(tn, reflection), entry_rows(tn, reflection))
            return
        await go_on(tn, reflection, question)
