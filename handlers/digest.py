"""The weekly digest and the draft 周工作总结.

At the agent's digest day and time the engine sends the week at a glance: the chart (contacts and follow-ups
done per day, mood as a line) with the week's numbers beside last week's, the lessons the agent wrote and one
tip for next week, in one photo message (its caption holds the text), so a brokerage's 100k Sunday digests are
100k messages. A week with nothing in it gets one short line instead. `/digest` shows this week so far and
`/digest last` the week before; the buttons draft the summary (📝), go a week back (📊) or change the time (⚙️).

`/summary` (`/summary last`, or 📝) drafts the agent's weekly work summary from the same week (bot.weekly_summary)
and sends it as messages and as .docx and .md files to edit and hand in.

Callback data: dg:week:<ISO Monday> (that week's digest), dg:sum:<ISO Monday> (its draft), dg:set:- (the time).
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession
from telegram import Update
from telegram.ext import Application, ContextTypes

from bot import weekly_summary
from bot.chart import ChartRenderer
from bot.chart_ahead import ChartCache, render_ahead
from bot.i18n import Html, cache_dir, t
from bot.models import Agent, Delivery
from bot.preferences import format_span, weekday_name
from bot.scheduler import Outgoing
from bot.statuses import STAGES, Stage
from bot.text import clip
from bot.timezones import local_datetime, local_today
from bot.tip_library import library
from bot.week import Numbers, Report, Week, digest_week, reason_text, report_for
from handlers import settings, tips
from handlers.context import Turn, services, turn
from handlers.keyboards import Choice, Day, inline, layout, pack

log = logging.getLogger(__name__)

PREFIX = "dg"
NO_VALUE = "-"
ON_WEEK = layout(PREFIX, ("week", "sum"), Day())
TIME = layout(PREFIX, "set", Choice(NO_VALUE))
CAPTION_LIMIT = 1024  # what Telegram takes under a photo
ECHO_LIMIT = 40
LAST_WORDS = frozenset(
    {
        "last",
        "last week",
        "previous",
        "prev",
        "-1",
        "上",
        "上周",
        "上週",
        "上一周",
        "上一週",
        "上星期",
        "上个星期",
        "上個星期",
        "上礼拜",
        "上禮拜",
    }
)
THIS_WORDS = frozenset({"this", "this week", "now", "本周", "本週", "这周", "這週", "这个星期", "這個星期", "本星期"})

RENDER_AHEAD_SECONDS = 60.0

_renderer: ChartRenderer | None = None
_renderer_pid = 0
_ahead: ChartCache | None = None


def charts() -> ChartRenderer:
    """The process's chart renderer (a worker process, started on the first chart: matplotlib stays out of here).

    A forked copy of this process (mutmut's test runs) starts its own: the parent's pool cannot serve it."""
    global _renderer, _renderer_pid
    if _renderer is None or _renderer_pid != os.getpid():
        _renderer, _renderer_pid = ChartRenderer(), os.getpid()
    return _renderer


async def close_charts() -> None:
    """Stop the chart workers, if any were started (at shutdown; waits for charts under way, off the loop)."""
    if _renderer is not None:
        await asyncio.to_thread(_renderer.close)


def drawn_ahead() -> ChartCache:
    """The charts drawn ahead of the digests falling due soon (bot.chart_ahead), in the per-machine cache."""
    global _ahead
    if _ahead is None:
        _ahead = ChartCache(cache_dir() / "charts")
    return _ahead


async def render_ahead_tick(context: ContextTypes.DEFAULT_TYPE) -> None:
    """Every minute: draw the charts of the digests due in the next two hours (APScheduler, never two at once)."""
    svc = services(context)
    made = await render_ahead(svc.sessions, charts().render, drawn_ahead(), svc.clock.now())
    if made:
        log.info("drew %d digest charts ahead of their send time", made)


def start_rendering_ahead(app: Application[Any, Any, Any, Any, Any, Any]) -> None:
    assert app.job_queue is not None, "python-telegram-bot[job-queue] is required"
    app.job_queue.run_repeating(
        render_ahead_tick,
        interval=RENDER_AHEAD_SECONDS,
        first=RENDER_AHEAD_SECONDS,
        name="render_ahead",
        job_kwargs={"max_instances": 1, "coalesce": True, "misfire_grace_time": None},
    )


# ---------------------------------------------------------------------------------------------- the digest


def versus(language: str, last: int | float | str) -> Html:
    return Html(t(language, "digest.versus", last=last))


def number_lines(language: str, this: Numbers, last: Numbers, overdue_clients: tuple[str, ...]) -> list[str]:
    """The week's numbers, each with last week's beside it; lines about nothing at all are left out."""
    lines = [
        t(
            language,
            "digest.line.reflections",
            count=this.reflections_done,
            versus=versus(language, last.reflections_done),
            streak=this.streak,
        ),
        t(
            language,
            "digest.line.received",
            count=this.clients_received,
            versus=versus(language, last.clients_received),
        ),
        t(language, "digest.line.new_clients", count=this.new_clients, versus=versus(language, last.new_clients)),
    ]
    kinds = " · ".join(t(language, f"digest.kind.{kind}", count=n) for kind, n in sorted(this.contacts.items()))
    contacts_versus = versus(language, last.contacts_total)
    if kinds:
        lines.append(
            t(
                language,
                "digest.line.contacts_by_kind",
                count=this.contacts_total,
                versus=contacts_versus,
                kinds=Html(kinds),
            )
        )
    else:
        lines.append(t(language, "digest.line.contacts", count=0, versus=contacts_versus))
    lines.append(
        t(
            language,
            "digest.line.follow_ups",
            count=this.follow_ups_done,
            versus=versus(language, last.follow_ups_done),
            on_time=this.done_on_time,
            late=this.done_late,
        )
    )
    if this.still_overdue:
        lines.append(
            t(language, "digest.line.overdue", count=this.still_overdue, clients="、".join(overdue_clients) or "—")
        )
    if this.stage_moves:
        moves = " · ".join(
            t(language, "digest.stage_move", count=n, stage=t(language, f"stage.{stage}"))
            for stage, n in sorted(this.stage_moves.items(), key=lambda move: STAGES.index(Stage(move[0])))
        )
        lines.append(t(language, "digest.line.stage_moves", moves=Html(moves)))
    if this.mood_average is not None:
        before = last.mood_average if last.mood_average is not None else t(language, "digest.no_mood")
        lines.append(t(language, "digest.line.mood", mood=this.mood_average, versus=versus(language, before)))
    return lines


def digest_caption(report: Report) -> str:
    """The digest's text, within a photo caption's 1,024 characters: lessons are shortened, then dropped, first."""
    language, this = report.language, report.this
    title_key = "digest.title.this" if is_current(report) else "digest.title.past"
    head = [
        t(language, title_key, span=span(report, this.week)),
        *number_lines(language, this, report.last, report.overdue_clients),
    ]
    tail: list[str] = []
    if report.tip is not None and (tip := library().tip(report.tip.tip_id)) is not None:
        tail = ["", t(language, "digest.tip", title=library().words(tip, language).title), reason(report)]
    lessons = [(weekday_name(w.day.isoweekday(), language), w.text) for w in report.lessons]
    while True:
        body = lesson_lines(language, lessons)
        text = "\n".join([*head, *body, *tail])
        if len(text) <= CAPTION_LIMIT or not lessons:
            return text if len(text) <= CAPTION_LIMIT else clip(text, CAPTION_LIMIT)
        longest = max(range(len(lessons)), key=lambda i: len(lessons[i][1]))
        day, words = lessons[longest]
        shorter = clip(words, max(len(words) - (len(text) - CAPTION_LIMIT), 20))
        if shorter == words or len(shorter) <= 20:
            lessons.pop(longest)
        else:
            lessons[longest] = (day, shorter)


def lesson_lines(language: str, lessons: list[tuple[str, str]]) -> list[str]:
    if not lessons:
        return []
    return ["", t(language, "digest.lessons"), *(t(language, "digest.lesson", day=d, text=w) for d, w in lessons)]


def reason(report: Report) -> str:
    assert report.tip is not None
    return reason_text(report.language, report.tip.reason, report.this)


def span(report: Report, week: Week) -> str:
    return format_span(week.start, week.end, report.language, local_today(report.now, report.zone))


def is_current(report: Report) -> bool:
    return report.this.week == Week.containing(local_today(report.now, report.zone))


def digest_rows(report: Report) -> list[list[tuple[str, str]]]:
    """📝 draft this week's summary; 📊 the week before; ⚙️ the digest time; 💡 the tip, if there is one."""
    language, week = report.language, report.this.week
    current = is_current(report)
    summary = t(language, "digest.button.summary" if current else "digest.button.summary_past")
    previous = t(language, "digest.button.previous" if current else "digest.button.earlier")
    rows = [
        [(summary, pack(PREFIX, "sum", week.start.isoformat()))],
        [
            (previous, pack(PREFIX, "week", week.before().start.isoformat())),
            (t(language, "digest.button.settings"), pack(PREFIX, "set", NO_VALUE)),
        ],
    ]
    if report.tip is not None:
        rows.append([(t(language, "digest.button.tip"), pack(tips.PREFIX, "open", report.tip.tip_id, tips.NO_TOPIC))])
    return rows


def empty_line(report: Report) -> str:
    key = "digest.empty.this" if is_current(report) else "digest.empty.past"
    return t(report.language, key, span=span(report, report.this.week))


async def digest_message(report: Report, *, drawn: ChartCache | None = None) -> Outgoing:
    """The digest as one message: the chart with the text as its caption, or one line for an empty week. A chart
    drawn ahead for exactly this week's numbers is taken from `drawn`; otherwise it is drawn now."""
    if report.this.empty:
        return Outgoing(empty_line(report))
    chart = drawn.take(report.agent_id, report.this, report.language) if drawn is not None else None
    if chart is None:
        chart = await charts().render(report.this, report.language)
    return Outgoing(digest_caption(report), digest_rows(report), photo=chart)


async def render_digest(session: AsyncSession, delivery: Delivery, agent: Agent, now: datetime) -> Outgoing | None:
    """The engine's renderer for a scheduled digest: the week the digest day closes (bot.week.digest_week)."""
    local = local_datetime(delivery.due_at, agent.timezone).date()
    found = await report_for(session, agent, now, digest_week(local))
    if found.tip is not None and not found.this.empty:
        delivery.subject_key = found.tip.tip_id  # counted as shown once sent (handlers.tips.daily_tip_sent)
    return await digest_message(found, drawn=drawn_ahead())


async def send_digest(tn: Turn, week: Week) -> None:
    found = await report_for(tn.session, tn.agent, tn.now, week)
    message = await digest_message(found)
    if message.photo is None:  # an empty week: its one line, no buttons
        tn.send(message.text)
    else:
        tn.send_photo(message.photo, message.text, inline(message.buttons))


# ---------------------------------------------------------------------------------------------- the draft


async def send_summary(tn: Turn, week: Week) -> None:
    """The draft as messages (split at sections if long), then the same as .docx and .md."""
    found = await report_for(tn.session, tn.agent, tn.now, week)
    tip_text = None
    if found.tip is not None and (tip := library().tip(found.tip.tip_id)) is not None:
        tip_text = tn.t(
            "digest.summary_tip", title=library().words(tip, tn.lang).title, reason=Html(reason(found).rstrip("。."))
        )
    draft = weekly_summary.draft(found, tip_text)
    for part in weekly_summary.as_messages(draft):
        tn.send(part)
    tn.send_document(weekly_summary.as_docx(draft), weekly_summary.file_name(draft, "docx"), tn.t("summary.files"))
    tn.send_document(weekly_summary.as_markdown(draft).encode(), weekly_summary.file_name(draft, "md"))


# ---------------------------------------------------------------------------------------------- commands


def asked_week(tn: Turn) -> Week | None:
    """This week, or the one before for `last` / 上周; None for anything else (answered with the usage)."""
    this = Week.containing(local_today(tn.now, tn.agent.timezone))
    words = " ".join(tn.args).strip().lower()
    if not words or words in THIS_WORDS:
        return this
    return this.before() if words in LAST_WORDS else None


async def show_digest(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """/digest: this week so far; /digest last: last week."""
    await for_asked_week(update, context, send_digest, "digest.usage")


async def show_summary(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """/summary: the draft 周工作总结 of this week; /summary last: of last week."""
    await for_asked_week(update, context, send_summary, "summary.usage")


async def for_asked_week(
    update: Update, context: ContextTypes.DEFAULT_TYPE, send: Callable[[Turn, Week], Awaitable[None]], usage: str
) -> None:
    """The week the command's words name, sent; any other words get the command's usage."""
    async with turn(update, context) as tn:
        week = asked_week(tn)
        if week is None:
            tn.send(tn.t(usage, typed=clip(" ".join(tn.args), ECHO_LIMIT)))
            return
        await send(tn, week)


async def on_button(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """dg:week:<Monday> / dg:sum:<Monday> / dg:set:-"""
    async with turn(update, context) as tn:
        if tn.matches(TIME) is not None:
            await settings.open_question(tn, settings.FIRST_STEP["digest"], in_place=False)
            return
        fields = tn.pressed(ON_WEEK)
        if fields is None:
            return
        action, monday = fields
        if monday.weekday() != 0 or monday > local_today(tn.now, tn.agent.timezone):
            tn.refuse()
            return
        if action == "week":
            await send_digest(tn, Week(monday))
        else:
            await send_summary(tn, Week(monday))
