"""The team lead's view (`/team` for a lead) and the weekly team digest.

`show` sends the team's week as the chart (contacts and follow-ups done per day, the whole team's) with the
team's totals as its caption, then one short block per member: reflections and streak, follow-ups done and
overdue, contacts, clients by stage, the last day they were active. Counts only (bot.team_view): a reflection's
text, a client's name or phone never reach this module. Under it: ⚙️ when the weekly team digest comes (a
weekday, then a time, or "with my own weekly digest"), 🔄 the view again with today's counts.

The weekly team digest is a delivery of the engine (kind `team_digest`, one waiting per lead, bot.recurring): the
same chart with one compact line per member as its caption. Leading is checked again at every step: a lead who
left the team (their membership row gone, or no longer a lead) gets neither the view nor the digest.

Callback data: tv:show:- (🔄, or 👥 under the digest), tv:set:- (⚙️), tv:day:<ISO weekday>,
tv:time:<ISO weekday>:<HH.MM>, tv:same:- (with my own weekly digest).
"""

from __future__ import annotations

from datetime import date, datetime, time

from sqlalchemy.ext.asyncio import AsyncSession
from telegram import InlineKeyboardButton, Update
from telegram.ext import ContextTypes

from bot import recurring
from bot.i18n import Html, t
from bot.models import Agent, Delivery, TeamMember
from bot.preferences import format_moment, format_span, format_time, weekday_name
from bot.scheduler import Outgoing
from bot.statuses import Stage
from bot.team_view import MemberWeek, TeamWeek, lead_membership, set_team_digest_time, team_digest_due, team_week
from bot.text import clip
from bot.timezones import local_datetime, local_today
from bot.week import Week, digest_week
from handlers.context import Turn, turn
from handlers.digest import CAPTION_LIMIT, charts
from handlers.keyboards import Choice, Clock, Number, button, grid, layout, mark, pack, time_value, weekday_rows
from handlers.setting_views import DIGEST_DAYS, DIGEST_TIMES

PREFIX = "tv"
NO_VALUE = "-"
SHOW = layout(PREFIX, ("show", "set", "same"), Choice(NO_VALUE))
DAY = layout(PREFIX, "day", Number(1, 7))
TIME = layout(PREFIX, "time", Number(1, 7), Clock())
STAGE_NAMES = frozenset(Stage)
NAME_LIMIT = 32  # a member's display name in the digest's one-line form


# ---------------------------------------------------------------------------------------------- the view


async def show(tn: Turn) -> None:
    """The team's week for a lead; anyone else gets one line saying it is for leads."""
    lead = await lead_membership(tn.session, tn.agent.id)
    if lead is None:
        tn.send(tn.t("team_view.not_lead"))
        return
    today = local_today(tn.now, tn.agent.timezone)
    found = await team_week(tn.session, lead.team_id, Week.containing(today), tn.now)
    chart = await charts().render(found.chart, tn.lang, team=True)
    tn.send_photo(chart, caption(found, tn.lang, today))
    blocks = [member_block(member, tn.lang) for member in found.members]
    tn.send("\n\n".join(blocks), view_rows(tn.lang))


def caption(found: TeamWeek, language: str, today: date) -> str:
    """The team's name, the week and its totals: the chart's caption."""
    span = format_span(found.week.start, found.week.end, language, today)
    return "\n".join([t(language, "team_view.title", team=found.team, span=span), totals_line(found, language)])


def totals_line(found: TeamWeek, language: str) -> str:
    return t(
        language,
        "team_view.totals",
        reflections=found.reflections_done,
        done=found.follow_ups_done,
        overdue=found.overdue,
        contacts=found.contacts,
    )


def member_block(member: MemberWeek, language: str) -> str:
    """One member, in four short lines that read on a phone."""
    name = t(language, "team_view.member_lead" if member.lead else "team_view.member", name=member.name)
    lines = [
        name,
        t(language, "team_view.line.reflections", count=member.reflections_done, streak=member.streak),
        t(
            language,
            "team_view.line.follow_ups",
            done=member.follow_ups_done,
            overdue=member.overdue,
            contacts=member.contacts,
        ),
        clients_line(member, language),
        t(language, "team_view.line.active", day=Html(idle_text(member.idle_days, language))),
    ]
    return "\n".join(lines)


def clients_line(member: MemberWeek, language: str) -> str:
    if not member.clients:
        return t(language, "team_view.line.no_clients")
    stages = " · ".join(
        t(language, "team_view.stage", stage=t(language, f"stage.{Stage(stage)}"), n=n)
        for stage, n in member.stages.items()
        if stage in STAGE_NAMES
    )
    return t(language, "team_view.line.clients", count=member.clients, stages=Html(stages))


def idle_text(idle_days: int | None, language: str) -> str:
    if idle_days is None:
        return t(language, "team_view.active.never")
    if idle_days == 0:
        return t(language, "team_view.active.today")
    if idle_days == 1:
        return t(language, "team_view.active.yesterday")
    return t(language, "team_view.active.days_ago", count=idle_days)


def view_rows(language: str) -> list[list[InlineKeyboardButton]]:
    return [
        [
            button(t(language, "team_view.button.settings"), PREFIX, "set", NO_VALUE),
            button(t(language, "team_view.button.refresh"), PREFIX, "show", NO_VALUE),
        ]
    ]


# ---------------------------------------------------------------------------------------------- the digest


async def render_team_digest(session: AsyncSession, delivery: Delivery, agent: Agent, now: datetime) -> Outgoing | None:
    """The engine's renderer: the week the digest day closes (bot.week.digest_week), for a lead still leading;
    None (nothing sent) for anyone who is not."""
    lead = await lead_membership(session, agent.id)
    if lead is None:
        return None
    local = local_datetime(delivery.due_at, agent.timezone).date()
    found = await team_week(session, lead.team_id, digest_week(local), now)
    chart = await charts().render(found.chart, agent.language, team=True)
    text = digest_caption(found, agent.language, local_today(now, agent.timezone))
    rows = [
        [(t(agent.language, "team_view.button.open"), pack(PREFIX, "show", NO_VALUE))],
        [(t(agent.language, "team_view.button.settings"), pack(PREFIX, "set", NO_VALUE))],
    ]
    return Outgoing(text, rows, photo=chart)


def digest_caption(found: TeamWeek, language: str, today: date) -> str:
    """The totals, then one line per member while they fit in a photo's caption; the rest are counted."""
    span = format_span(found.week.start, found.week.end, language, today)
    head = [
        t(language, "team_view.digest.title", team=found.team, span=span),
        totals_line(found, language),
        "",
        t(language, "team_view.digest.legend"),
    ]
    lines = [digest_line(member, language) for member in found.members]
    for shown in range(len(lines), -1, -1):
        left = len(lines) - shown
        tail = [t(language, "team_view.digest.more", count=left)] if left else []
        text = "\n".join([*head, *lines[:shown], *tail])
        if len(text) <= CAPTION_LIMIT:
            return text
    return clip("\n".join(head), CAPTION_LIMIT)


def digest_line(member: MemberWeek, language: str) -> str:
    return t(
        language,
        "team_view.digest.member",
        name=clip(member.name, NAME_LIMIT),
        reflections=member.reflections_done,
        streak=member.streak,
        done=member.follow_ups_done,
        overdue=member.overdue,
        contacts=member.contacts,
        clients=member.clients,
    )


# ---------------------------------------------------------------------------------------------- the buttons


async def on_button(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """tv:show / tv:set / tv:same / tv:day:<d> / tv:time:<d>:<HH.MM>, each for a lead only."""
    async with turn(update, context) as tn:
        day = tn.matches(DAY)
        chosen = tn.matches(TIME)
        fields = tn.matches(SHOW)
        if day is None and chosen is None and fields is None:
            tn.refuse()
            return
        lead = await lead_membership(tn.session, tn.agent.id)
        if lead is None:
            tn.toast(tn.t("team_view.not_lead"), alert=True)
            return
        if fields is not None and fields[0] == "show":
            await show(tn)
        elif fields is not None and fields[0] == "set":
            tn.send(tn.t("team_view.ask_day", current=Html(current_time(tn, lead))), day_rows(tn, lead))
        elif fields is not None:  # same
            await save_time(tn, lead, None, None)
        elif day is not None:
            tn.edit(tn.t("team_view.ask_time", day=weekday_name(day[1], tn.lang)), time_rows(tn, lead, day[1]))
        elif chosen is not None:
            await save_time(tn, lead, chosen[1], chosen[2])


def current_time(tn: Turn, lead: TeamMember) -> str:
    """When the team digest comes now, as the lead reads it."""
    weekday = lead.team_digest_weekday or tn.agent.digest_weekday
    at = lead.team_digest_time or tn.agent.digest_time
    key = "team_view.when.own" if lead.team_digest_weekday is None else "team_view.when.chosen"
    return tn.t(key, day=weekday_name(weekday, tn.lang), time=format_time(at))


def day_rows(tn: Turn, lead: TeamMember) -> list[list[InlineKeyboardButton]]:
    current = lead.team_digest_weekday or 0
    same = mark(tn.t("team_view.button.same"), lead.team_digest_weekday is None)
    return [*weekday_rows(PREFIX, "day", tn.lang, DIGEST_DAYS, current), [button(same, PREFIX, "same", NO_VALUE)]]


def time_rows(tn: Turn, lead: TeamMember, day: int) -> list[list[InlineKeyboardButton]]:
    current = lead.team_digest_time if lead.team_digest_weekday == day else None
    buttons = [button(mark(format_time(at), at == current), PREFIX, "time", day, time_value(at)) for at in DIGEST_TIMES]
    return grid(buttons, 3)


async def save_time(tn: Turn, lead: TeamMember, weekday: int | None, at: time | None) -> None:
    """Store the lead's choice and move the waiting team digest to it."""
    set_team_digest_time(lead, weekday, at)
    await recurring.reschedule(tn.session, tn.agent, tn.now, [recurring.TEAM_DIGEST])
    due = team_digest_due(tn.agent, lead, tn.now)
    following = format_moment(due, tn.agent.timezone, tn.lang, tn.now)
    tn.edit(tn.t("team_view.saved", current=Html(current_time(tn, lead)), next=following))
