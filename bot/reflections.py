"""The daily reflection: six short questions, answered one at a time and saved as they come, and the streak.

The five seed summaries are reflections — what I learned, where I fell short, what I will do next — so the bot
makes that a two-minute daily habit. Each answer is stored the moment it arrives and `step` names the next
question, so a restart or an abandoned check-in loses nothing and resumes at the next question. A streak counts
consecutive *work days* with a finished reflection: a day off neither counts nor breaks it.
"""

from __future__ import annotations

import unicodedata
from datetime import date, datetime, time, timedelta
from typing import Any

from sqlalchemy import Table, bindparam, case, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from bot.matcher import Written
from bot.models import Agent, Reflection
from bot.moods import read_mood
from bot.numerals import read_count
from bot.scheduler import cancel_waiting, schedule_once
from bot.statuses import DeliveryKind, ReflectionStatus
from bot.timezones import local_datetime, local_today

QUESTIONS = ("clients", "mood", "went_well", "to_improve", "lesson", "tomorrow")
TEXT_QUESTIONS = frozenset({"went_well", "to_improve", "lesson", "tomorrow"})
OPEN, DONE, SKIPPED = ReflectionStatus.OPEN, ReflectionStatus.DONE, ReflectionStatus.SKIPPED
MAX_TEXT = 1000
MAX_CLIENTS = 999
# Before noon, /reflect offers yesterday's reflection if it is still unfinished (a late evening, an early start).
YESTERDAY_UNTIL = time(12, 0)


def is_work_day(agent: Agent, day: date) -> bool:
    return str(day.isoweekday()) in agent.work_days


def next_question(after: str | None) -> str | None:
    if after is None:
        return QUESTIONS[0]
    position = QUESTIONS.index(after) + 1
    return QUESTIONS[position] if position < len(QUESTIONS) else None


# Built once: every answer of a check-in runs it.
_ON_DAY = select(Reflection).where(Reflection.agent_id == bindparam("agent_id"), Reflection.day == bindparam("day"))


async def reflection_on(session: AsyncSession, agent_id: int, day: date) -> Reflection | None:
    found = await session.execute(_ON_DAY, {"agent_id": agent_id, "day": day})
    return found.scalar_one_or_none()


async def day_to_reflect(session: AsyncSession, agent: Agent, now: datetime) -> date:
    """Today; or, before noon, yesterday if it was a work day (the agent already had) still unreflected."""
    local = local_datetime(now, agent.timezone)
    today = local.date()
    if local.time() < YESTERDAY_UNTIL and local_today(agent.created_at, agent.timezone) < today:
        yesterday = today - timedelta(days=1)
        earlier = await reflection_on(session, agent.id, yesterday)
        unfinished = earlier.status == OPEN if earlier else is_work_day(agent, yesterday)
        if unfinished and await reflection_on(session, agent.id, today) is None:
            return yesterday
    return today


async def begin(session: AsyncSession, agent: Agent, day: date, now: datetime) -> Reflection:
    """Today's reflection to answer: a new one, the unfinished one (resumed), or a skipped day taken up again."""
    reflection = await reflection_on(session, agent.id, day)
    if reflection is None:
        reflection = Reflection(
            agent_id=agent.id, day=day, status=OPEN, step=QUESTIONS[0], voice={}, created_at=now, updated_at=now
        )
        session.add(reflection)
        await session.flush()
    elif reflection.status == SKIPPED:
        reflection.status, reflection.step, reflection.updated_at = OPEN, QUESTIONS[0], now
    return reflection


def parse_clients(text: str) -> int | None:
    """How many clients, as typed: "3", "3个", "三个", "两个", "three", "3 clients", "6+" (`bot.numerals`)."""
    count = read_count(text)
    return count if count is not None and count <= MAX_CLIENTS else None


def parse_mood(text: str) -> int | None:
    """1–5 as a number, a word or a face: "4", "四", "还行吧", "😊", "great" (`bot.moods`)."""
    return read_mood(text)


def parse_text(text: str) -> str | None:
    """A written answer: something with a letter, a digit or an emoji in it, up to MAX_TEXT characters.

    Punctuation alone ("。", "-", "…", "——") is a slip or a shrug, not an answer: the question is asked again and
    the skip button is there for "nothing today". A word that means nothing ("无", "没有", "none") is an answer:
    "nothing to improve today" is worth keeping in the journal.
    """
    cleaned = text.strip()
    if len(cleaned) > MAX_TEXT or not any(map(_says_something, cleaned)):
        return None
    return cleaned


def _says_something(character: str) -> bool:
    """A letter, a digit or an emoji (a symbol: '👍'), not punctuation, a dash or a space."""
    category = unicodedata.category(character)
    return category[0] in ("L", "N") or category == "So"


def set_answer(reflection: Reflection, question: str, value: int | str | None, now: datetime) -> None:
    """Store one answer (None: skipped); the caller has parsed and checked it."""
    if question not in QUESTIONS:
        raise ValueError(f"unknown question {question!r}")
    setattr(reflection, question, value)
    reflection.updated_at = now


def advance(reflection: Reflection, answered: str, now: datetime) -> str | None:
    """Move to the question after `answered`; at the end the reflection is done. Returns the next question."""
    following = next_question(answered)
    reflection.step = following
    reflection.updated_at = now
    if following is None and reflection.status != DONE:
        reflection.status, reflection.completed_at = DONE, now
    return following


def _answer_and_advance(question: str) -> Any:
    table: Table = Reflection.__table__  # type: ignore[assignment]
    following = next_question(question)
    now = bindparam("now", type_=table.c.updated_at.type)
    values: dict[str, Any] = {
        question: bindparam("answer", type_=table.c[question].type),
        "step": following,
        "updated_at": now,
    }
    if following is None:  # as `advance`: the check-in is done, and a first finish is when it was completed
        values["status"] = DONE
        values["completed_at"] = case((table.c.status != DONE, now), else_=table.c.completed_at)
    statement = (
        update(table)
        .where(table.c.agent_id == bindparam("of_agent"), table.c.day == bindparam("of_day"))
        .values(values)
        .returning(*table.c)
    )
    return select(Reflection).from_statement(statement)


# A typed answer is stored and the check-in moved on in one statement whose row the ORM loads: built once per
# question (every answer of a check-in runs one).
_ANSWER_AND_ADVANCE = {question: _answer_and_advance(question) for question in QUESTIONS}


async def answer_and_advance(
    session: AsyncSession, agent_id: int, day: date, question: str, value: int | str | None, now: datetime
) -> tuple[Reflection, str | None] | None:
    """`set_answer` then `advance` on the agent's reflection of `day`, as one UPDATE … RETURNING instead of a read
    and then a write; the reflection as stored now and the next question. None if there is no reflection that day."""
    values = {"of_agent": agent_id, "of_day": day, "answer": value, "now": now}
    found = await session.scalars(_ANSWER_AND_ADVANCE[question], values, execution_options={"populate_existing": True})
    reflection = found.one_or_none()
    return None if reflection is None else (reflection, next_question(question))


def keep_voice(reflection: Reflection, question: str, file_id: str, now: datetime) -> None:
    reflection.voice = {**reflection.voice, question: file_id}
    reflection.updated_at = now


async def skip_day(session: AsyncSession, agent: Agent, day: date, now: datetime) -> Reflection:
    """⏭ Skip today: no more prompts for that day (a finished reflection stays finished)."""
    reflection = await reflection_on(session, agent.id, day)
    if reflection is None:
        reflection = Reflection(
            agent_id=agent.id, day=day, status=SKIPPED, step=None, voice={}, created_at=now, updated_at=now
        )
        session.add(reflection)
    elif reflection.status == OPEN:
        reflection.status, reflection.updated_at = SKIPPED, now
    return reflection


async def streak(session: AsyncSession, agent: Agent, today: date) -> int:
    """Consecutive work days with a finished reflection, up to today (`count_streak`)."""
    rows = await session.execute(
        select(Reflection.day).where(
            Reflection.agent_id == agent.id, Reflection.status == DONE, Reflection.day <= today
        )
    )
    return count_streak(set(rows.scalars()), agent.work_days, today)


def count_streak(done: set[date], work_days: str, today: date) -> int:
    """The streak from the days with a finished reflection (days after `today` are not looked at). Days off are
    stepped over (neither counted nor breaking it); today, while still unanswered, does not break it yet. Apart
    from the query, so a team's streaks come from one statement for the whole team (bot.team_view)."""
    done = {day for day in done if day <= today}
    if not done or not work_days:
        return 0
    count, day, oldest = 0, today, min(done)
    if today not in done:
        day -= timedelta(days=1)
    while day >= oldest:
        if str(day.isoweekday()) in work_days:  # a day off is stepped over, even if the agent reflected on it
            if day not in done:
                break
            count += 1
        day -= timedelta(days=1)
    return count


async def journal_page(session: AsyncSession, agent_id: int, page: int, size: int) -> tuple[list[Reflection], int]:
    """Recent reflections (finished or begun), newest first, and how many there are."""
    listed = (Reflection.agent_id == agent_id, Reflection.status != SKIPPED)
    total = (await session.execute(select(func.count()).select_from(Reflection).where(*listed))).scalar_one()
    rows = await session.execute(
        select(Reflection).where(*listed).order_by(Reflection.day.desc()).offset(page * size).limit(size)
    )
    return list(rows.scalars()), int(total)


def written(reflection: Reflection) -> Written:
    return Written(
        went_well=reflection.went_well,
        to_improve=reflection.to_improve,
        lesson=reflection.lesson,
        tomorrow=reflection.tomorrow,
        mood=reflection.mood,
    )


LATER = DeliveryKind.REFLECT_LATER
LATER_DELAY = timedelta(hours=1)


async def remind_later(session: AsyncSession, agent: Agent, day: date, now: datetime) -> datetime:
    """⏰ Later: one more prompt in an hour (replacing an earlier "later"); the daily prompt is not touched."""
    await cancel_waiting(session, agent.id, LATER)
    due = now + LATER_DELAY
    await schedule_once(session, agent_id=agent.id, kind=LATER, due_at=due, now=now, subject_key=day.isoformat())
    return due
