"""The showing reviews as stored rows: which review a logged viewing reuses, what saving writes, and what the card, the
/clients filters and the day's check-in read back.

Every row is written by hand with the instant it carries, so each expected answer can be read off the seed. Agent A
works in Shanghai (follow-ups at 10:00, mornings at 09:30, Monday–Friday); agent B's rows sit beside A's and must
never show. "Now" is Wednesday 2026-11-25 12:00 in Shanghai unless a test says otherwise.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import event, select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from bot import showings
from bot.db import session_factory
from bot.followups import (
    PlannedFollowUp,
    add_follow_up,
    add_follow_ups,
    client_with_open,
    move,
    nudges_for,
    replace,
)
from bot.models import Agent, Client, ContactLog, Delivery, FollowUp, ShowingReview
from bot.showing_times import book_review, review_of
from bot.statuses import ContactKind, DeliveryKind, FollowUpStatus, ShowingReviewStatus
from tests.bot.test_week import new_agent as week_agent

SHANGHAI = ZoneInfo("Asia/Shanghai")
NEW_YORK = ZoneInfo("America/New_York")
CREATED = datetime(2026, 11, 1, tzinfo=UTC)
OPEN, SAVED, DISMISSED = ShowingReviewStatus.OPEN, ShowingReviewStatus.SAVED, ShowingReviewStatus.DISMISSED


def sh(day: int, hour: int, minute: int = 0) -> datetime:
    """A wall-clock time in Shanghai in November 2026, as the UTC instant stored."""
    return datetime(2026, 11, day, hour, minute, tzinfo=SHANGHAI).astimezone(UTC)


NOW = sh(25, 12)


@dataclass
class Office:
    session: AsyncSession
    a: Agent
    b: Agent
    clients: dict[str, Client]

    async def review(
        self,
        client: str,
        status: str = OPEN,
        ends_at: datetime = NOW,
        saved_at: datetime | None = None,
        reactions: str = "",
        listing: str | None = "带看 万科城",
    ) -> ShowingReview:
        owner = self.clients[client]
        row = ShowingReview(
            agent_id=owner.agent_id,
            client_id=owner.id,
            listing=listing,
            reactions=reactions,
            status=status,
            ends_at=ends_at,
            saved_at=saved_at,
            created_at=CREATED,
        )
        self.session.add(row)
        await self.session.flush()
        return row

    async def contact(self, client: str, kind: str, at: datetime) -> None:
        self.session.add(ContactLog(client_id=self.clients[client].id, kind=kind, note=None, at=at))
        await self.session.flush()

    async def follow_up(self, client: str, due_at: datetime, note: str = "回电") -> FollowUp:
        owner = self.clients[client]
        row = FollowUp(
            agent_id=owner.agent_id,
            client_id=owner.id,
            due_at=due_at,
            note=note,
            status=FollowUpStatus.OPEN,
            created_at=CREATED,
            updated_at=CREATED,
        )
        self.session.add(row)
        await self.session.flush()
        return row

    async def viewings(self, client: str) -> list[ContactLog]:
        found = await self.session.scalars(
            select(ContactLog).where(
                ContactLog.client_id == self.clients[client].id, ContactLog.kind == ContactKind.VIEWING
            )
        )
        return list(found)


def new_agent(user_id: int, zone: str) -> Agent:
    """bot.week's test agent, with the follow-up hour, morning and work days every expected time here uses."""
    agent = week_agent(user_id, zone)
    agent.followup_time, agent.day_part_hours, agent.work_days = time(10, 0), {"morning": "09:30"}, "12345"
    return agent


@pytest.fixture
async def office(engine: AsyncEngine) -> AsyncIterator[Office]:
    """Agent A (Shanghai) with clients 王 (W), 李 (L) and 周 (Z); agent B (Shanghai) with client 钱 (Q)."""
    async with session_factory(engine)() as session:
        a, b = new_agent(1, "Asia/Shanghai"), new_agent(2, "Asia/Shanghai")
        session.add_all([a, b])
        await session.flush()
        clients = {}
        for key, owner, name in (("W", a, "王先生"), ("L", a, "李女士"), ("Z", a, "周先生"), ("Q", b, "钱女士")):
            clients[key] = Client(agent_id=owner.id, name=name, stage="new", created_at=CREATED, updated_at=CREATED)
            session.add(clients[key])
        await session.flush()
        yield Office(session, a, b, clients)
        await session.rollback()


# ---------------------------------------------------------------------------------------------- reading them


async def test_the_card_shows_the_clients_latest_saved_review(office: Office) -> None:
    newer = await office.review("W", SAVED, sh(24, 10), saved_at=sh(24, 11), reactions="layout")
    await office.review("W", SAVED, sh(23, 10), saved_at=sh(23, 11), reactions="price")  # older, higher id
    await office.review("W", OPEN, sh(25, 16))  # asked, not answered
    await office.review("W", DISMISSED, sh(25, 9))
    await office.review("L", SAVED, sh(25, 10), saved_at=sh(25, 11), reactions="school")  # another client's, later
    assert await showings.latest_saved(office.session, office.clients["W"].id) == newer
    # Saved in the same instant, the one written last is the latest.
    await office.review("Z", SAVED, sh(24, 10), saved_at=sh(24, 11), reactions="price")
    last = await office.review("Z", SAVED, sh(24, 10), saved_at=sh(24, 11), reactions="family")
    assert await showings.latest_saved(office.session, office.clients["Z"].id) == last
    assert await showings.latest_saved(office.session, office.clients["Q"].id) is None


async def test_the_days_lines_are_the_reviews_saved_in_the_agents_local_day_in_order(office: Office) -> None:
    """New York, Sunday 1 November 2026: clocks fall back, so the local day runs 25 hours, 04:00 to 05:00 UTC."""
    office.a.timezone = "America/New_York"
    at = [datetime(2026, 11, 1, 4, 0, tzinfo=UTC) + timedelta(minutes=m) for m in (-1, 0, 24 * 60 + 30, 25 * 60)]
    before, first, last, after = at
    await office.review("W", SAVED, before, saved_at=before)  # Saturday 23:59 EDT
    late = await office.review("W", SAVED, last, saved_at=last)  # Sunday 23:30 EST: the 25th hour
    midnight = await office.review("L", SAVED, first, saved_at=first)  # Sunday 00:00 EDT
    await office.review("Z", SAVED, after, saved_at=after)  # Monday 00:00 EST
    await office.review("Z", DISMISSED, first)
    await office.review("Q", SAVED, first, saved_at=first)  # agent B's
    day = datetime(2026, 11, 1, 12, tzinfo=NEW_YORK).date()
    lines = await showings.saved_on(office.session, office.a, day)
    assert [(review, client.name) for review, client in lines] == [(midnight, "李女士"), (late, "王先生")]


async def test_the_clients_filters_count_each_clients_latest_saved_review(office: Office) -> None:
    await office.review("W", SAVED, sh(23, 10), saved_at=sh(23, 11), reactions="price")
    await office.review("W", SAVED, sh(24, 10), saved_at=sh(24, 11), reactions="layout")  # W's latest
    await office.review("L", SAVED, sh(24, 10), saved_at=sh(24, 11), reactions="price,family")
    await office.review("Z", SAVED, sh(24, 10), saved_at=sh(24, 11), reactions="price")
    await office.review("Q", SAVED, sh(24, 10), saved_at=sh(24, 11), reactions="price")  # agent B's
    office.clients["Z"].archived = True
    counts = await showings.reaction_counts(office.session, office.a.id)
    assert counts == Counter({"layout": 1, "price": 1, "family": 1})


async def test_a_review_is_the_agents_own(office: Office) -> None:
    review = await office.review("W")
    assert await showings.owned_review(office.session, office.a.id, review.id) == review
    assert await showings.owned_review(office.session, office.b.id, review.id) is None
    assert await showings.owned_review(office.session, office.a.id, review.id + 1) is None


# ---------------------------------------------------------------------------------------------- a logged viewing

Row = tuple[str, str, datetime]  # client, status, end


@pytest.mark.parametrize(
    ("rows", "reused"),
    [
        pytest.param([("W", OPEN, sh(25, 15)), ("W", OPEN, sh(25, 10))], 0, id="the day's latest open one"),
        pytest.param([("W", OPEN, sh(25, 0))], 0, id="one ending at the day's first instant is today's"),
        pytest.param([("W", OPEN, sh(24, 23, 59))], None, id="yesterday's is not today's"),
        pytest.param([("W", OPEN, sh(26, 0)), ("W", OPEN, sh(25, 9))], 1, id="tomorrow's first instant is not today"),
        pytest.param([("W", SAVED, sh(25, 11))], None, id="an answered one is not asked again"),
        pytest.param([("L", OPEN, sh(25, 11))], None, id="another client's"),
    ],
)
async def test_a_logged_viewing_reuses_the_clients_open_review_of_the_day(
    office: Office, rows: list[Row], reused: int | None
) -> None:
    written = [await office.review(client, status, ends_at) for client, status, ends_at in rows]
    review = await showings.review_after_viewing(office.session, office.a, office.clients["W"], "Oak St", NOW)
    if reused is None:
        assert review not in written and (review.client_id, review.listing) == (office.clients["W"].id, "Oak St")
        assert review.ends_at == NOW
    else:
        assert review == written[reused] and review.listing == "带看 万科城"  # the booked listing stays
        assert review.ends_at == min(rows[reused][2], NOW)  # asked now: it no longer waits for its end


async def test_a_logged_viewing_fills_in_a_listing_the_review_did_not_have(office: Office) -> None:
    first = await showings.review_after_viewing(office.session, office.a, office.clients["W"], None, NOW)
    assert first.listing is None
    again = await showings.review_after_viewing(office.session, office.a, office.clients["W"], "Oak St", NOW)
    assert again == first and first.listing == "Oak St"


# ---------------------------------------------------------------------------------------------- saving


async def save(office: Office, review: ShowingReview, now: datetime = NOW) -> showings.Saved:
    return await showings.save(office.session, office.a, review, office.clients["W"], "回访", now)


@pytest.mark.parametrize(
    ("before", "logged"),
    [
        pytest.param([], 1, id="nothing before"),
        pytest.param([("W", ContactKind.VIEWING, sh(25, 0))], 1, id="a viewing at the day's first instant"),
        pytest.param([("W", ContactKind.VIEWING, sh(24, 23, 59))], 2, id="yesterday's viewing"),
        pytest.param([("W", ContactKind.CALL, sh(25, 11))], 1, id="a call today"),
        pytest.param([("L", ContactKind.VIEWING, sh(25, 11))], 1, id="another client's viewing today"),
    ],
)
async def test_saving_logs_the_viewing_once_a_local_day(
    office: Office, before: list[tuple[str, str, datetime]], logged: int
) -> None:
    for client, kind, at in before:
        await office.contact(client, kind, at)
    review = await office.review("W", listing="带看 万科城3房")
    await save(office, review)
    viewings = await office.viewings("W")
    assert len(viewings) == logged
    if not any(client == "W" and kind == ContactKind.VIEWING and at >= sh(25, 0) for client, kind, at in before):
        assert viewings[-1].at == NOW and viewings[-1].note == "带看 万科城3房"  # the listing is the contact's note


async def test_saving_closes_the_showing_once_and_only_when_it_has_started(office: Office) -> None:
    due_now = await office.follow_up("W", NOW, "带看")
    review = await book_review(office.session, office.a.id, office.clients["W"].id, due_now.id, NOW, "带看", NOW)
    await save(office, review)
    assert (due_now.status, due_now.done_at) == (FollowUpStatus.DONE, NOW)  # it starts this very minute

    earlier = await office.follow_up("L", sh(25, 9), "带看")
    earlier.status, earlier.done_at = FollowUpStatus.DONE, sh(25, 10)  # ✅ pressed on its nudge
    review = await book_review(office.session, office.a.id, office.clients["L"].id, earlier.id, NOW, "带看", NOW)
    await showings.save(office.session, office.a, review, office.clients["L"], "回访", NOW)
    assert earlier.done_at == sh(25, 10)  # done already: not done again


async def test_the_follow_up_keeps_clear_of_the_agents_other_bookings(office: Office) -> None:
    taken = await office.follow_up("L", sh(26, 9, 30))  # another client's call, tomorrow 09:30
    review = await office.review("W", reactions="interested")  # interested: tomorrow at the morning hour, 09:30
    saved = await save(office, review)
    assert saved.booked and saved.follow_up.due_at != taken.due_at
    assert sh(26, 9, 30) < saved.follow_up.due_at < sh(26, 12)


async def test_a_follow_up_due_this_very_minute_does_not_serve_as_the_next_one(office: Office) -> None:
    await office.follow_up("W", NOW)
    review = await office.review("W", reactions="interested")
    saved = await save(office, review)
    assert saved.booked and saved.follow_up.due_at == sh(26, 9, 30)


# ---------------------------------------------------------------------------------------------- kept in step


async def test_a_showing_moved_before_its_end_is_asked_at_the_new_end_but_not_once_it_is_due(office: Office) -> None:
    """A review is due at its showing's end: from that instant it is asked (the sweep sends it), so moving the
    showing then changes nothing; a minute earlier the review still follows the showing."""
    session, booked_at = office.session, sh(25, 9)
    first = await add_follow_up(session, office.a, office.clients["W"], sh(25, 10), "带看", booked_at)
    second = await add_follow_up(session, office.a, office.clients["L"], sh(25, 10), "看房", booked_at)
    first_review, second_review = await review_of(session, first.id), await review_of(session, second.id)
    assert first_review is not None and second_review is not None
    assert first_review.ends_at == second_review.ends_at == sh(25, 11, 30)

    await move(session, first, sh(25, 15), sh(25, 11, 29))
    await move(session, second, sh(25, 15), sh(25, 11, 30))
    assert (first_review.ends_at, second_review.ends_at) == (sh(25, 16, 30), sh(25, 11, 30))
    assert await review_of(session, first.id) == first_review and await review_of(session, second.id) == second_review


async def test_a_showing_that_did_not_happen_is_asked_again_only_when_booked_again_for_later(office: Office) -> None:
    """🚫 at its end (16:00 + 2 h written in the note = 18:00); moved to a time already past, nothing; moved to
    tomorrow, a new review at tomorrow's end, with the note's own length."""
    session = office.session
    showing = await add_follow_up(session, office.a, office.clients["W"], sh(25, 16), "带看2小时", sh(25, 9))
    missed = await review_of(session, showing.id)
    assert missed is not None and missed.ends_at == sh(25, 18)
    showings.dismiss(missed)
    await move(session, showing, sh(25, 17), sh(25, 18, 30))  # to 17:00 today: its end (19:00) is still ahead
    again = await review_of(session, showing.id)
    assert again is not None and again != missed and again.ends_at == sh(25, 19)
    showings.dismiss(again)
    await move(session, showing, sh(25, 16), sh(25, 19, 30))  # back to 16:00: over already
    assert await review_of(session, showing.id) == again
    await move(session, showing, sh(26, 10), sh(25, 19, 30))
    tomorrow = await review_of(session, showing.id)
    assert tomorrow is not None and tomorrow not in (missed, again) and tomorrow.ends_at == sh(26, 12)
    assert not await showings.undo_dismissal(session, missed)  # booked again since: the old one stays set aside


async def test_only_a_review_set_aside_can_be_taken_back(office: Office) -> None:
    saved = await office.review("W", SAVED, sh(25, 10), saved_at=sh(25, 11), reactions="price")
    asked = await office.review("L")
    assert not await showings.undo_dismissal(office.session, saved) and saved.status == SAVED
    assert not await showings.undo_dismissal(office.session, asked) and asked.status == OPEN
    showings.dismiss(asked)
    assert await showings.undo_dismissal(office.session, asked) and asked.status == OPEN


# ---------------------------------------------------------------------------------------------- booked in bulk


async def test_follow_ups_added_in_bulk_book_a_review_for_each_showing_and_only_for_them(office: Office) -> None:
    """An import or a hand-over adds many follow-ups at once: each showing among them gets its review at its own end
    (the note's length, else 90 minutes), for its own agent and client, with the delivery that asks it; a call
    back gets none. (The same rows `add_follow_up` writes for one.)"""
    session = office.session
    wang, li, zhou, qian = (office.clients[key] for key in "WLZQ")
    planned = [
        PlannedFollowUp(office.a.id, wang.id, sh(26, 10), "带看 万科城"),
        PlannedFollowUp(office.a.id, li.id, sh(26, 11), "回电"),
        PlannedFollowUp(office.a.id, zhou.id, sh(27, 15), "viewing 2h at Oak St"),
        PlannedFollowUp(office.b.id, qian.id, sh(26, 9, 30), "看房30分钟"),
    ]
    ids = await add_follow_ups(session, planned, NOW)
    reviews = {
        r.follow_up_id: (r.agent_id, r.client_id, r.ends_at, r.listing, r.status, r.created_at)
        for r in await session.scalars(select(ShowingReview))
    }
    assert reviews == {
        ids[0]: (office.a.id, wang.id, sh(26, 11, 30), "带看 万科城", OPEN, NOW),
        ids[2]: (office.a.id, zhou.id, sh(27, 17), "viewing 2h at Oak St", OPEN, NOW),
        ids[3]: (office.b.id, qian.id, sh(26, 10), "看房30分钟", OPEN, NOW),
    }
    review_ids = {r.follow_up_id: r.id for r in await session.scalars(select(ShowingReview))}
    asked = Counter(
        (d.agent_id, d.subject_id, d.due_at)
        for d in await session.scalars(select(Delivery).where(Delivery.kind == DeliveryKind.SHOWING_REVIEW))
    )
    assert asked == Counter(
        {
            (office.a.id, review_ids[ids[0]], sh(26, 11, 30)): 1,
            (office.a.id, review_ids[ids[2]], sh(27, 17)): 1,
            (office.b.id, review_ids[ids[3]], sh(26, 10)): 1,
        }
    )


async def test_follow_ups_added_in_bulk_write_every_delivery_in_one_bulk_write(
    office: Office, engine: AsyncEngine
) -> None:
    """The reviews' deliveries go in with the nudges (one executemany on SQLite, COPY at the driver on PostgreSQL),
    not one statement per showing: an import of a thousand showings must not cost a thousand round trips more."""
    wang, zhou, qian = (office.clients[key] for key in "WZQ")
    planned = [
        PlannedFollowUp(office.a.id, wang.id, sh(26, 10), "带看 万科城"),
        PlannedFollowUp(office.a.id, zhou.id, sh(27, 15), "viewing 2h at Oak St"),
        PlannedFollowUp(office.b.id, qian.id, sh(26, 9, 30), "看房30分钟"),
    ]
    statements: list[str] = []

    def record(_conn: object, _cursor: object, statement: str, *_: object) -> None:
        statements.append(" ".join(statement.split()))

    event.listen(engine.sync_engine, "before_cursor_execute", record)
    try:
        await add_follow_ups(office.session, planned, NOW)
    finally:
        event.remove(engine.sync_engine, "before_cursor_execute", record)
    assert len([s for s in statements if s.startswith("INSERT INTO deliveries")]) <= 1, statements
    kinds = Counter((await office.session.scalars(select(Delivery.kind))).all())
    assert kinds == Counter({DeliveryKind.FOLLOWUP: 3, DeliveryKind.SHOWING_REVIEW: 3})


async def test_a_showing_set_aside_is_not_booked_again_once_replaced_or_when_it_ends_this_very_second(
    office: Office,
) -> None:
    """🚫 then the follow-up replaced by a call back: the old showing is cancelled, so no new review for it. 🚫 then
    moved to a time whose end (2 h later) is this instant: it is over already, so no new review either."""
    session = office.session
    replaced = await add_follow_up(session, office.a, office.clients["W"], sh(25, 16), "带看2小时", sh(25, 9))
    set_aside = await review_of(session, replaced.id)
    assert set_aside is not None
    showings.dismiss(set_aside)
    await replace(session, replaced, office.a, office.clients["W"], sh(26, 10), "回电", NOW)
    assert await review_of(session, replaced.id) == set_aside
    moved = await add_follow_up(session, office.a, office.clients["L"], sh(25, 16), "带看2小时", sh(25, 9))
    missed = await review_of(session, moved.id)
    assert missed is not None
    showings.dismiss(missed)
    await move(session, moved, NOW - timedelta(hours=2), NOW)
    assert await review_of(session, moved.id) == missed


async def test_a_nudge_is_read_for_the_follow_ups_asked_and_a_client_only_for_its_own_agent(office: Office) -> None:
    session = office.session
    other = await office.follow_up("L", sh(26, 11))  # first, so the asked one's id is not its client's
    asked = await office.follow_up("W", sh(26, 10))
    assert asked.id != office.clients["W"].id
    found = await nudges_for(session, [asked.id])
    assert list(found) == [asked.id] and found[asked.id].follow_up == asked
    assert found[asked.id].client == office.clients["W"] and other.id not in found
    assert await client_with_open(session, office.a.id, office.clients["Q"].id) is None  # agent B's client
    assert await client_with_open(session, office.a.id, 999_999) is None  # no such client
    mine = await client_with_open(session, office.a.id, office.clients["W"].id)
    assert mine == (office.clients["W"], [asked])
