"""The early warning before a client goes cold (掉盘): how many days each stage may go without a real contact,
where each client stands, and what to say when the agent gets back in touch.

The rule: a client in a stage with N days "crosses the rule" on the local calendar day N days after the day of
their last real contact (the agent's zone, `bot.timezones`): in touch on Monday with N = 3, crossed on Thursday.
A real contact is a logged call, WeChat, visit or viewing, or a follow-up the agent marked ✅ done (that button
is the agent saying "I got back to them"; it logs no contact of its own). A nudge the bot sent is not one, and
neither is a stage change. A client with neither counts from the day they were registered. Every cadence starts
again from the last real contact, so a new contact is a new crossing day. Lost and archived clients are never
watched; a stage may be switched off.

The warning (`warned_on`) lists the clients whose crossing day is tomorrow; it is sent once a day, so each
crossing is in exactly one morning's warning. /stale lists those crossing today or tomorrow and those past it.

Everything the opener says comes from the agent's own words on that client (the last contact's note or a follow-up's
outcome, the needs, the notes, the budget, a follow-up's note), or, with none, a neutral line that states no fact.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Final

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.clients import last_contacts, parse_stage
from bot.models import Agent, Client, ContactLog, FollowUp
from bot.preferences import is_off
from bot.statuses import CONTACT_KINDS, FollowUpStatus, Stage
from bot.timezones import local_today, to_utc
from bot.tip_library import Library, Tip

# Days without a real contact per stage before a client crosses the rule; closed clients get a check-in.
DEFAULT_DAYS: Final[Mapping[str, int]] = {
    Stage.NEW: 3,
    Stage.INTERESTED: 7,
    Stage.VIEWING: 3,
    Stage.DEPOSIT: 2,
    Stage.CLOSED: 30,
}
WATCHED: Final = tuple(DEFAULT_DAYS)  # in the order a sale moves; lost clients are never watched
# Fewer than 2 days would warn on the very day of the contact; more than 99 is no rule at all.
FEWEST_DAYS: Final = 2
MOST_DAYS: Final = 99
# ➖ / ➕ move by a day up to this many days, by five beyond (30 → 35 for a closed client, not 30 presses).
FINE_STEPS_UP_TO: Final = 10
COARSE_STEP: Final = 5
RESET_WORDS: Final = frozenset({"default", "defaults", "reset", "默认", "默認", "恢复默认", "恢復默認"})

# The tip shown with a client, by stage (a test holds every id to the library); a stage without one, or an id a
# library edit removed, gets the first tip of FALLBACK_TOPIC.
STAGE_TIPS: Final[Mapping[str, str]] = {
    Stage.NEW: "registration-grade-abc",
    Stage.INTERESTED: "followup-read-and-no-reply",
    Stage.VIEWING: "objection-wait-and-see",
    Stage.DEPOSIT: "deposit-what-follows",
    Stage.CLOSED: "relations-check-in-after-closing",
}
FALLBACK_TOPIC: Final = "follow-up"


# ---------------------------------------------------------------------------------------------- the rule


def rule(agent: Agent) -> dict[str, int | None]:
    """Each watched stage's days for this agent (None: off): the defaults, with what the agent changed. Anything
    stored that is not a watched stage with a whole number in bounds, or null, is ignored."""
    days: dict[str, int | None] = dict(DEFAULT_DAYS)
    for stage, value in (agent.stale_days or {}).items():
        if stage not in days:
            continue
        if value is None:
            days[stage] = None
        elif isinstance(value, int) and not isinstance(value, bool) and FEWEST_DAYS <= value <= MOST_DAYS:
            days[stage] = value
    return days


def with_stage_days(agent: Agent, stage: str, days: int | None) -> dict[str, int | None] | None:
    """The value to store once `stage` has `days` (None: off): only the stages that differ from the defaults,
    None when none does."""
    if stage not in DEFAULT_DAYS:
        raise ValueError(f"{stage!r} is not a watched stage")
    if days is not None and not FEWEST_DAYS <= days <= MOST_DAYS:
        raise ValueError(f"{days} days is out of bounds")
    changed = {**rule(agent), stage: days}
    kept = {name: value for name, value in changed.items() if value != DEFAULT_DAYS[name]}
    return kept or None


def stepped(days: int | None, up: bool) -> int | None:
    """➕ / ➖ on a stage's days: a day at a time up to 10, five at a time beyond; ➖ at the fewest switches the
    stage off and ➕ switches it back on at the fewest."""
    if days is None:
        return FEWEST_DAYS if up else None
    if up:
        return min(MOST_DAYS, days + (1 if days < FINE_STEPS_UP_TO else COARSE_STEP))
    if days <= FEWEST_DAYS:
        return None
    return days - (1 if days <= FINE_STEPS_UP_TO else COARSE_STEP)


@dataclass(frozen=True)
class RuleChange:
    """What `/settings stale …` asked for: a stage's days (None: off), or every stage back to its default."""

    stage: str | None
    days: int | None


def parse_rule_change(words: Sequence[str]) -> RuleChange | None:
    """'interested 10', '意向 10', '带看 off', 'default' → the change; anything else → None."""
    if len(words) == 1 and words[0].strip().lower() in RESET_WORDS:
        return RuleChange(None, None)
    if len(words) != 2:
        return None
    stage = parse_stage(words[0])
    if stage not in DEFAULT_DAYS:
        return None
    amount = words[1].strip().lower().removesuffix("days").removesuffix("天").strip()
    if is_off(amount):
        return RuleChange(stage, None)
    if not (amount.isascii() and amount.isdigit()) or len(amount) > 2:
        return None
    days = int(amount)
    return RuleChange(stage, days) if FEWEST_DAYS <= days <= MOST_DAYS else None


# ---------------------------------------------------------------------------------------------- standings


@dataclass(frozen=True)
class Standing:
    """Where one client is against the rule: the last real contact (or registration), and the local day the
    rule is crossed (`crosses`: the day the client has gone `days` days without one)."""

    client_id: int
    stage: str
    last_at: datetime
    days: int
    since: int  # whole local days since the last real contact, today
    crosses: date
    contacted: bool = True  # False: no real contact yet, counted from registration


def crossing_day(last: datetime, days: int, zone_name: str) -> date:
    """The local calendar day a client last in touch at `last` has gone `days` days without a contact."""
    return local_today(last, zone_name) + timedelta(days=days)


async def standings(session: AsyncSession, agent: Agent, now: datetime) -> list[Standing]:
    """Every watched client of the agent (stage not off, not archived), oldest last contact first: one statement,
    each client's latest contact and latest follow-up done found by grouping, never one query per client."""
    days = {stage: n for stage, n in rule(agent).items() if n is not None}
    if not days:
        return []
    contacted = (
        select(ContactLog.client_id, func.max(ContactLog.at).label("at"))
        .join(Client, Client.id == ContactLog.client_id)
        .where(Client.agent_id == agent.id, ContactLog.kind.in_(CONTACT_KINDS))
        .group_by(ContactLog.client_id)
        .subquery()
    )
    done = (
        select(FollowUp.client_id, func.max(FollowUp.done_at).label("at"))
        .where(FollowUp.agent_id == agent.id, FollowUp.status == FollowUpStatus.DONE)
        .group_by(FollowUp.client_id)
        .subquery()
    )
    rows = await session.execute(
        select(Client.id, Client.stage, Client.created_at, contacted.c.at, done.c.at)
        .outerjoin(contacted, contacted.c.client_id == Client.id)
        .outerjoin(done, done.c.client_id == Client.id)
        .where(Client.agent_id == agent.id, Client.archived.is_(False), Client.stage.in_(list(days)))
    )
    today = local_today(now, agent.timezone)
    found = []
    for client_id, stage, registered, contact_at, done_at in rows.all():
        last = max(moment for moment in (registered, contact_at, done_at) if moment is not None)
        since = (today - local_today(last, agent.timezone)).days
        crosses = crossing_day(last, days[stage], agent.timezone)
        found.append(Standing(client_id, stage, last, days[stage], since, crosses, (contact_at or done_at) is not None))
    found.sort(key=lambda standing: (standing.last_at, standing.client_id))
    return found


async def next_warning(session: AsyncSession, agent: Agent, after: datetime) -> datetime | None:
    """The first morning after `after` that has someone to warn: the agent's follow-up time on the day before the
    earliest crossing still ahead; None when no watched client has one (nothing waits that has nothing to say)."""
    for day in sorted({standing.crosses - timedelta(days=1) for standing in await standings(session, agent, after)}):
        at = to_utc(day, agent.followup_time, agent.timezone)
        if at > after:
            return at
    return None


def warned_on(found: Sequence[Standing], today: date) -> list[Standing]:
    """The clients this morning's warning is about: those who cross the rule tomorrow."""
    return [standing for standing in found if standing.crosses == today + timedelta(days=1)]


def at_risk(found: Sequence[Standing], today: date) -> list[Standing]:
    """What /stale lists: crossing today or tomorrow, or past the rule already (oldest contact first)."""
    return [standing for standing in found if standing.crosses <= today + timedelta(days=1)]


async def clients_by_id(session: AsyncSession, agent_id: int, client_ids: Collection[int]) -> dict[int, Client]:
    """The agent's clients with these ids, in one statement."""
    if not client_ids:
        return {}
    result = await session.execute(select(Client).where(Client.agent_id == agent_id, Client.id.in_(client_ids)))
    return {client.id: client for client in result.scalars()}


# ---------------------------------------------------------------------------------------------- what to say


@dataclass(frozen=True)
class Opener:
    """A drafted first line, as a catalog key `stale.opener.<source>` and the agent's own words it quotes."""

    source: str  # talked, needs, notes, budget, planned, or neutral_<open | deposit | closed>
    words: str | None = None


@dataclass(frozen=True)
class Said:
    """The agent's newest words about a client's exchanges: what was said (a contact's note, a done follow-up's
    outcome) or only what was planned (a follow-up's own note: "回电", "带看新房")."""

    talked: str | None = None
    planned: str | None = None


async def latest_notes(session: AsyncSession, client_ids: Collection[int]) -> dict[int, Said]:
    """For each client: the newest of their last contact's note and their follow-ups' outcomes, and the newest
    follow-up's own note. Two statements for all the clients."""
    if not client_ids:
        return {}
    talked: dict[int, tuple[datetime, str]] = {
        client_id: (contact.at, contact.note)
        for client_id, contact in (await last_contacts(session, client_ids)).items()
        if contact.note
    }
    planned: dict[int, tuple[datetime, str]] = {}
    follow_ups = await session.execute(
        select(FollowUp)
        .where(FollowUp.client_id.in_(sorted(set(client_ids))), FollowUp.status != FollowUpStatus.CANCELLED)
        .order_by(FollowUp.id)  # written in the same instant (an import), the one written last is the newest
    )
    for follow_up in follow_ups.scalars():
        for found, words, written in (
            (talked, follow_up.outcome, follow_up.done_at or follow_up.updated_at),
            (planned, follow_up.note, follow_up.created_at),
        ):
            if words and (follow_up.client_id not in found or found[follow_up.client_id][0] <= written):
                found[follow_up.client_id] = (written, words)
    return {
        client_id: Said(talked.get(client_id, (None, None))[1], planned.get(client_id, (None, None))[1])
        for client_id in {*talked, *planned}
    }


def opener(client: Client, said: Said | None) -> Opener:
    """What the opener builds on, in this order: what was said last time, the client's needs, the agent's notes,
    the budget, what a follow-up was to be about; else a neutral line for the stage that states nothing about
    the client."""
    said = said or Said()
    for source, words in (
        ("talked", said.talked),
        ("needs", client.needs),
        ("notes", client.notes),
        ("budget", client.budget),
        ("planned", said.planned),
    ):
        if words and words.strip():
            return Opener(source, " ".join(words.split()))
    stage = client.stage if client.stage in (Stage.DEPOSIT, Stage.CLOSED) else "open"
    return Opener(f"neutral_{stage}")


def tip_for(library: Library, stage: str) -> Tip | None:
    """The tip that goes with a client in `stage`, else the first tip of the follow-up topic (None only for a
    library without one)."""
    tip = library.tip(STAGE_TIPS.get(stage, ""))
    if tip is not None:
        return tip
    fallback = library.tips_in(FALLBACK_TOPIC)
    return fallback[0] if fallback else None
