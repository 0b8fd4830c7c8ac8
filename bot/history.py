"""A client's history: every contact with its note, every follow-up done with its outcome, every stage move.

Nothing is stored twice. Contacts and stage moves are rows of the client's log (`ContactLog`; a stage move has the
kind `ClientEvent.STAGE` and keeps "<from>><to>" in its note, so no migration was needed), and a follow-up's
outcome stays on the follow-up, read back from there (so outcomes typed before the history existed show too).
The two are read together in one query, newest first, a page at a time.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Final

from sqlalchemy import String, func, literal, null, select, union_all
from sqlalchemy.ext.asyncio import AsyncSession

from bot.models import Client, ContactLog, FollowUp
from bot.statuses import CONTACT_KINDS, STAGES, ClientEvent, FollowUpStatus

# The kind of a history entry that is a follow-up done (it is never stored under this name: see above).
DONE: Final = "done"
_MOVE: Final = ">"


@dataclass(frozen=True)
class Entry:
    """One line of the story. `kind` is a contact kind, `ClientEvent.STAGE` or DONE; `note` is the contact's note
    or the follow-up's outcome; `about` is a done follow-up's own note; `moved` a stage move's (from, to)."""

    at: datetime
    kind: str
    note: str | None = None
    about: str | None = None
    moved: tuple[str, str] | None = None


async def record_stage_move(session: AsyncSession, client: Client, old: str, new: str, now: datetime) -> None:
    """Write a stage move into the client's log (the stage itself is set by the caller)."""
    session.add(ContactLog(client_id=client.id, kind=ClientEvent.STAGE, note=f"{old}{_MOVE}{new}", at=now))
    await session.flush()


def _entries(client_id: int):  # type: ignore[no-untyped-def]  # a union's subquery; its columns are typed below
    done = select(
        literal(DONE, String(16)).label("kind"),
        FollowUp.outcome.label("note"),
        FollowUp.note.label("about"),
        FollowUp.done_at.label("at"),
        FollowUp.id.label("id"),
    ).where(FollowUp.client_id == client_id, FollowUp.status == FollowUpStatus.DONE, FollowUp.done_at.is_not(None))
    logged = select(
        ContactLog.kind, ContactLog.note, null().label("about"), ContactLog.at, ContactLog.id.label("id")
    ).where(ContactLog.client_id == client_id)
    return union_all(done, logged).subquery()


async def history_size(session: AsyncSession, client_id: int) -> int:
    entries = _entries(client_id)
    return int((await session.execute(select(func.count()).select_from(entries))).scalar_one())


async def history(session: AsyncSession, client_id: int, offset: int, limit: int) -> list[Entry]:
    """`limit` entries of the client's history from `offset`, newest first (a stage move a viewing caused comes
    just above that viewing: it was written after it)."""
    entries = _entries(client_id)
    rows = await session.execute(
        select(entries.c.kind, entries.c.note, entries.c.about, entries.c.at)
        .order_by(entries.c.at.desc(), (entries.c.kind == DONE).desc(), entries.c.id.desc())
        .offset(offset)
        .limit(limit)
    )
    return [entry for kind, note, about, at in rows.all() if (entry := _entry(kind, note, about, at)) is not None]


def stage_move(note: str | None) -> tuple[str, str] | None:
    """The (from, to) stages a stage move's note records, or None if it is not one this version knows."""
    old, _, new = (note or "").partition(_MOVE)
    return (old, new) if old in STAGES and new in STAGES else None


def _entry(kind: str, note: str | None, about: str | None, at: datetime) -> Entry | None:
    if kind == ClientEvent.STAGE:
        moved = stage_move(note)
        return Entry(at, kind, moved=moved) if moved is not None else None
    if kind == DONE or kind in CONTACT_KINDS:
        return Entry(at, kind, note, about)
    return None  # a kind this version does not know: left out rather than shown wrong
