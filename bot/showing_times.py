"""Which follow-ups are showings (带看), when a showing ends, and its review kept in step with the follow-up.

A follow-up whose note names a showing (`SHOWING_WORDS`: 带看, 看房, viewing …) gets a `ShowingReview` row as soon
as it is booked, and one delivery of kind "showing_review" at the showing's end: its time plus its length (a length
written in the note, "带看2小时", "1.5h", else `DEFAULT_LENGTH`). bot.followups books it with a new follow-up
(`book_review`) and calls `keep_in_step` when one is moved or cancelled, so a moved showing is asked about at its new
end, a cancelled one never, and a showing already asked about is never asked again. It imports no other domain
module, so that bot.followups and bot.clients can call it without a cycle.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta

from sqlalchemy import Table, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.bulk import loaded, new_row
from bot.models import FollowUp, ShowingReview
from bot.scheduler import Planned, cancel, schedule, schedule_few
from bot.statuses import DeliveryKind, FollowUpStatus, ShowingReviewStatus

KIND = DeliveryKind.SHOWING_REVIEW
DEFAULT_LENGTH = timedelta(minutes=90)
# A length read from a note outside these bounds is a slip ("带看20小时"), so the default stands.
SHORTEST, LONGEST = timedelta(minutes=15), timedelta(hours=6)

# The words that make a follow-up a showing, in one place (Simplified, Traditional, English; matched without case).
SHOWING_WORDS = ("带看", "帶看", "看房", "看盘", "看盤", "约看", "約看", "复看", "複看", "viewing", "showing")
_SHOWING = re.compile("|".join(re.escape(word) for word in SHOWING_WORDS[:-2]) + r"|\b(?:viewing|showing)s?\b", re.I)

_CHINESE_DIGITS = {"一": 1, "两": 2, "兩": 2, "二": 2, "三": 3, "四": 4, "五": 5, "六": 6}
_NUMBER = r"(\d+(?:\.\d+)?|[一两兩二三四五六])"
# "2小时", "两个半小时", "1.5h", "2 hours", "1小时30分钟", "1h 30min", "1小时20分"; "半小时", "45分钟", "45 min"
_HOURS = re.compile(
    _NUMBER
    + r"\s*(?:个|個)?\s*(半)?\s*(?:小时|小時|钟头|鐘頭|h(?![a-z])|hrs?\b|hours?\b)"
    + r"(?:\s*(?:零\s*)?(\d{1,2})\s*(?:分钟|分鐘|分|m\b|mins?\b|minutes?\b))?",
    re.I,
)
_HALF_HOUR = re.compile(r"半\s*(?:个|個)?\s*(?:小时|小時|钟头|鐘頭)")
_MINUTES = re.compile(r"(\d+)\s*(?:分钟|分鐘|min\b|mins\b|minutes?\b)", re.I)


def is_showing(note: str | None) -> bool:
    """Whether a follow-up's note names a showing."""
    return note is not None and _SHOWING.search(note) is not None


def _number(text: str) -> float:
    return float(_CHINESE_DIGITS[text]) if text in _CHINESE_DIGITS else float(text)


def showing_length(note: str | None) -> timedelta:
    """How long the showing takes: a length written in the note, else `DEFAULT_LENGTH`."""
    text = note or ""
    length: timedelta | None = None
    if found := _HOURS.search(text):
        minutes = int(found.group(3) or 0) + (30 if found.group(2) else 0)
        length = timedelta(hours=_number(found.group(1)), minutes=minutes)
    elif _HALF_HOUR.search(text):
        length = timedelta(minutes=30)
    elif found := _MINUTES.search(text):
        length = timedelta(minutes=int(found.group(1)[:4]))
    return length if length is not None and SHORTEST <= length <= LONGEST else DEFAULT_LENGTH


def showing_end(due_at: datetime, note: str | None) -> datetime:
    return due_at + showing_length(note)


async def review_of(session: AsyncSession, follow_up_id: int) -> ShowingReview | None:
    """The follow-up's current review: the newest (a showing that did not happen and was booked again has two)."""
    found = await session.scalars(
        select(ShowingReview)
        .where(ShowingReview.follow_up_id == follow_up_id)
        .order_by(ShowingReview.id.desc())
        .limit(1)
    )
    return found.first()


# A new review, open with nothing chosen (the model's defaults).
_REVIEWS: Table = ShowingReview.__table__  # type: ignore[assignment]
_ADD = loaded(
    ShowingReview, new_row(_REVIEWS, ("agent_id", "client_id", "follow_up_id", "listing", "ends_at", "created_at"))
)


async def book_review(
    session: AsyncSession,
    agent_id: int,
    client_id: int,
    follow_up_id: int | None,
    ends_at: datetime,
    listing: str | None,
    now: datetime,
    *,
    along: list[Planned] | None = None,
) -> ShowingReview:
    """A review and its delivery at `ends_at`; given `along`, the delivery is added to it instead, for the caller to
    write with its own deliveries in one statement."""
    values = {
        "agent_id": agent_id,
        "client_id": client_id,
        "follow_up_id": follow_up_id,
        "listing": listing or None,
        "ends_at": ends_at,
        "created_at": now,
    }
    review: ShowingReview = (await session.scalars(_ADD, values)).one()
    delivery = Planned(agent_id, KIND, ends_at, review.id)
    if along is None:
        await schedule_few(session, [delivery], now)
    else:
        along.append(delivery)
    return review


async def keep_in_step(session: AsyncSession, follow_up: FollowUp, now: datetime) -> None:
    """The follow-up was moved or cancelled: its showing's review follows, unless it was already asked. (A new
    follow-up books its review in bot.followups.add_follow_up; one without a review, such as a 回访, stays so.)
    A showing that did not happen (🚫) and is booked again for later is a new showing: a new review is booked."""
    review = await review_of(session, follow_up.id)
    if review is None:
        return
    if review.status == ShowingReviewStatus.DISMISSED:
        await _booked_again(session, follow_up, now)
        return
    if review.ends_at <= now:
        return  # asked (at its end, or at once after a logged viewing) or saved: a showing is never asked twice
    if follow_up.status == FollowUpStatus.CANCELLED or not is_showing(follow_up.note):
        await cancel(session, KIND, review.id)
        await session.delete(review)
        return
    ends_at = showing_end(follow_up.due_at, follow_up.note)
    if review.ends_at != ends_at:  # a follow-up's note never changes: only its time can move
        await cancel(session, KIND, review.id)
        review.ends_at = ends_at
        await schedule(session, agent_id=review.agent_id, kind=KIND, subject_id=review.id, due_at=ends_at, now=now)


async def _booked_again(session: AsyncSession, follow_up: FollowUp, now: datetime) -> None:
    if follow_up.status != FollowUpStatus.OPEN or not is_showing(follow_up.note):
        return
    ends_at = showing_end(follow_up.due_at, follow_up.note)
    if ends_at > now:  # the missed one ended before it was set aside, so this is later too
        await book_review(session, follow_up.agent_id, follow_up.client_id, follow_up.id, ends_at, follow_up.note, now)
