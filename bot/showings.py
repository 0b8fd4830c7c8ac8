"""带看后复盘: what a client made of a showing, chosen on buttons, saved on the client, and what saving sets going.

A review is asked when a showing ends (bot.showing_times books it with the follow-up) or at once when a viewing
is logged. The agent toggles reactions (`bot.statuses.Reaction`, several at once; 有意向 and 不合适 exclude each
other), may add a note or a voice note, and saves. Saving records the viewing as a contact (once a day per client),
closes the showing's own follow-up, and books one 回访 whose day and hour follow the most telling reaction
(`PRECEDENCE`, `REVISITS`); the confirmation brings the tip of that reaction (`TIPS`). The day's saved reviews are
lines of the evening check-in and of the journal (`saved_on`).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot import tips
from bot.clients import TEXT_LIMIT, latest_saved_reviews, log_contact
from bot.day_parts import DayPart
from bot.followups import (
    add_follow_up,
    booked_times,
    clear_of,
    mark_done,
    next_work_day,
    open_for_client,
    owned_follow_up,
)
from bot.models import Agent, Client, ContactLog, FollowUp, ShowingReview, TipState
from bot.preferences import day_part_hours
from bot.scheduler import cancel
from bot.showing_times import KIND, book_review, review_of
from bot.statuses import REACTIONS, ContactKind, FollowUpStatus, Reaction, ShowingReviewStatus
from bot.timezones import local_day_bounds, local_today, to_utc
from bot.tip_library import Library, Tip

OPEN, SAVED, DISMISSED = ShowingReviewStatus.OPEN, ShowingReviewStatus.SAVED, ShowingReviewStatus.DISMISSED
NOTE_LIMIT = TEXT_LIMIT

# The most telling reaction first: it decides the 回访 and the tip. A family to convince or a price objection is
# what the next step must answer, even in a client who is interested; an interested client is called while the
# showing is fresh; a miss needs new listings; the school question needs facts; the rest are feedback for the search.
PRECEDENCE = (
    Reaction.FAMILY,
    Reaction.PRICE,
    Reaction.INTERESTED,
    Reaction.NOT_A_FIT,
    Reaction.SCHOOL,
    Reaction.LAYOUT,
    Reaction.CONDITION,
    Reaction.LOCATION,
)
# Chosen together they would contradict each other: choosing one takes the other back.
EXCLUSIVE = {Reaction.INTERESTED: Reaction.NOT_A_FIT, Reaction.NOT_A_FIT: Reaction.INTERESTED}


@dataclass(frozen=True)
class Revisit:
    """The 回访 a reaction calls for: so many local days on (a work day), in the morning or at the follow-up hour;
    `why` names its note (catalog `showings.revisit.<why>`)."""

    days: int
    morning: bool
    why: str


REVISITS: dict[str, Revisit] = {
    Reaction.INTERESTED: Revisit(1, True, "interested"),  # tomorrow morning, while it is fresh
    Reaction.FAMILY: Revisit(2, False, "family"),  # two days for the family to talk it over
    Reaction.PRICE: Revisit(2, False, "price"),  # time to prepare 2–3 comparable listings first
    Reaction.NOT_A_FIT: Revisit(3, False, "not_a_fit"),  # time to find different listings
    Reaction.SCHOOL: Revisit(1, False, "school"),  # the school rules checked with the official source first
    Reaction.LAYOUT: Revisit(1, False, "feedback"),
    Reaction.CONDITION: Revisit(1, False, "feedback"),
    Reaction.LOCATION: Revisit(1, False, "feedback"),
}
NO_REACTION = Revisit(1, False, "plain")

# The tip that comes with the confirmation, by the deciding reaction. An id not in the library (yet) falls back to
# the agent's next tip of `FALLBACK_TOPIC`.
TIPS: dict[str, str] = {
    Reaction.PRICE: "objection-offer-several-options",
    Reaction.FAMILY: "objection-invite-the-decider",
    Reaction.INTERESTED: "showing-book-the-next-step",
    Reaction.NOT_A_FIT: "showing-a-miss-sharpens-needs",
    Reaction.SCHOOL: "compliance-no-school-promises",
    Reaction.LAYOUT: "showing-same-day-debrief",
    Reaction.CONDITION: "showing-same-day-debrief",
    Reaction.LOCATION: "showing-same-day-debrief",
}
NO_REACTION_TIP = "showing-same-day-debrief"
FALLBACK_TOPIC = "follow-up"


# ---------------------------------------------------------------------------------------------- reactions


def reactions_of(review: ShowingReview) -> list[Reaction]:
    """The chosen reactions in the buttons' order (anything stored that is not one is ignored)."""
    chosen = set(review.reactions.split(","))
    return [reaction for reaction in REACTIONS if reaction in chosen]


def toggle(review: ShowingReview, reaction: Reaction) -> None:
    chosen = set(reactions_of(review)) ^ {reaction}
    if reaction in chosen and reaction in EXCLUSIVE:
        chosen.discard(EXCLUSIVE[reaction])
    review.reactions = ",".join(r for r in REACTIONS if r in chosen)


def deciding(reactions: list[Reaction]) -> Reaction | None:
    return next((reaction for reaction in PRECEDENCE if reaction in reactions), None)


def revisit_for(reactions: list[Reaction]) -> Revisit:
    chosen = deciding(reactions)
    return REVISITS[chosen] if chosen is not None else NO_REACTION


def revisit_time(agent: Agent, revisit: Revisit, now: datetime, booked: list[datetime]) -> datetime:
    """The 回访's instant: `days` local days on, moved to a work day, at the agent's morning hour or follow-up
    time, then clear of the follow-ups already booked (`bot.followups.clear_of`)."""
    day = next_work_day(agent, local_today(now, agent.timezone) + timedelta(days=revisit.days))
    at: time = day_part_hours(agent)[DayPart.MORNING] if revisit.morning else agent.followup_time
    return clear_of(to_utc(day, at, agent.timezone), booked)


def tip_id_for(reactions: list[Reaction]) -> str:
    chosen = deciding(reactions)
    return TIPS[chosen] if chosen is not None else NO_REACTION_TIP


def tip_for(library: Library, agent_id: int, seen: dict[str, TipState], reactions: list[Reaction]) -> Tip | None:
    """The reaction's tip, or the agent's next tip on following up when the library does not hold it."""
    return library.tip(tip_id_for(reactions)) or tips.choose(library, agent_id, seen, FALLBACK_TOPIC)


# ---------------------------------------------------------------------------------------------- the review


async def owned_review(session: AsyncSession, agent_id: int, review_id: int) -> ShowingReview | None:
    """The review if it is this agent's (another agent's and a removed one's get None; button data is bounded to
    a valid id by its layout)."""
    review = await session.get(ShowingReview, review_id)
    return review if review is not None and review.agent_id == agent_id else None


async def review_after_viewing(
    session: AsyncSession, agent: Agent, client: Client, listing: str | None, now: datetime
) -> ShowingReview:
    """The review asked right after a viewing was logged: the client's showing booked for today if there is one
    still open (its own ask is cancelled, so it is not asked twice), else a new one."""
    start, end = local_day_bounds(local_today(now, agent.timezone), agent.timezone)
    found = await session.scalars(
        select(ShowingReview)
        .where(
            ShowingReview.client_id == client.id,  # the agent's own: bot.clients.owned_client found it
            ShowingReview.status == OPEN,
            ShowingReview.ends_at >= start,
            ShowingReview.ends_at < end,
        )
        .order_by(ShowingReview.ends_at.desc(), ShowingReview.id.desc())
        .limit(1)
    )
    review = found.first()
    if review is None:
        review = await book_review(session, agent.id, client.id, None, now, listing, now)
    elif review.listing is None and listing:
        review.listing = listing
    await cancel(session, KIND, review.id)  # asked now, as the reply
    review.ends_at = min(review.ends_at, now)
    return review


def keep_note(review: ShowingReview, text: str) -> None:
    review.note = text[:NOTE_LIMIT]


def keep_voice(review: ShowingReview, file_id: str) -> None:
    review.voice_file_id = file_id[:255]


def dismiss(review: ShowingReview) -> None:
    review.status = DISMISSED


async def undo_dismissal(session: AsyncSession, review: ShowingReview) -> bool:
    """↩️ after 🚫: the review can be answered again, unless its showing was booked again since (the new time
    has its own review)."""
    if review.status != DISMISSED:
        return False
    if review.follow_up_id is not None:
        newest = await review_of(session, review.follow_up_id)
        if newest is not None and newest.id != review.id:
            return False
    review.status = OPEN
    return True


@dataclass(frozen=True)
class Saved:
    """What saving set going: the 回访, booked now or (`booked` False) one already booked that comes first."""

    follow_up: FollowUp
    booked: bool = True


async def save(
    session: AsyncSession, agent: Agent, review: ShowingReview, client: Client, revisit_note: str, now: datetime
) -> Saved:
    """Saved: the viewing on the client's record (logged once a local day; it moves a new or interested client to
    带看), the showing's own follow-up closed, and one 回访 booked by the deciding reaction, unless the client
    already has a follow-up booked no later than that: it serves as the 回访 (never two calls where one was
    planned)."""
    review.status, review.saved_at = SAVED, now
    if not await _viewing_logged_today(session, agent, client.id, now):
        await log_contact(session, client, ContactKind.VIEWING, review.listing, now)
    if review.follow_up_id is not None:
        showing = await owned_follow_up(session, agent.id, review.follow_up_id)
        if showing is not None and showing.status == FollowUpStatus.OPEN and showing.due_at <= now:
            await mark_done(session, showing, now)
    revisit = revisit_for(reactions_of(review))
    at = revisit_time(agent, revisit, now, await booked_times(session, agent.id))
    client.updated_at = now
    for planned in await open_for_client(session, agent.id, client.id):  # earliest first
        if now < planned.due_at <= at:
            return Saved(planned, booked=False)
    follow_up = await add_follow_up(session, agent, client, at, revisit_note, now, review_showing=False)
    return Saved(follow_up)


async def _viewing_logged_today(session: AsyncSession, agent: Agent, client_id: int, now: datetime) -> bool:
    start, _ = local_day_bounds(local_today(now, agent.timezone), agent.timezone)
    found = await session.scalars(
        select(ContactLog.id)
        .where(
            ContactLog.client_id == client_id,
            ContactLog.kind == ContactKind.VIEWING,
            ContactLog.at >= start,
        )
        .limit(1)
    )
    return found.first() is not None


# ---------------------------------------------------------------------------------------------- reading them


async def latest_saved(session: AsyncSession, client_id: int) -> ShowingReview | None:
    """The client's latest saved review (the card shows it)."""
    found = await session.scalars(
        select(ShowingReview)
        .where(ShowingReview.client_id == client_id, ShowingReview.status == SAVED)
        .order_by(ShowingReview.saved_at.desc(), ShowingReview.id.desc())
        .limit(1)
    )
    return found.first()


async def saved_on(session: AsyncSession, agent: Agent, day: date) -> list[tuple[ShowingReview, Client]]:
    """The reviews saved during the agent's local `day`, in order, with their clients (the day's reflection)."""
    start, end = local_day_bounds(day, agent.timezone)
    rows = await session.execute(
        select(ShowingReview, Client)
        .join(Client, Client.id == ShowingReview.client_id)
        .where(
            ShowingReview.agent_id == agent.id,
            ShowingReview.saved_at >= start,  # only saving sets saved_at
            ShowingReview.saved_at < end,
        )
        .order_by(ShowingReview.saved_at, ShowingReview.id)
    )
    return [(row[0], row[1]) for row in rows.all()]


async def reaction_counts(session: AsyncSession, agent_id: int) -> Counter[str]:
    """How many of the agent's listed clients have each reaction in their latest saved review (the /clients
    filters)."""
    latest = latest_saved_reviews(agent_id)
    rows = await session.scalars(
        select(latest.c.reactions)
        .join(Client, Client.id == latest.c.client_id)
        .where(latest.c.n == 1, Client.archived.is_(False))
    )
    return Counter(reaction for reactions in rows for reaction in reactions.split(",") if reaction in REACTIONS)
