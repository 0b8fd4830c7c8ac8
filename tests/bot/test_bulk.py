"""Rows written in bulk (bot.bulk) read back exactly as the rows the ORM writes from the same values.

The rule is the module's promise: an import or a hand-over writes its rows at the driver, yet nobody reading them
can tell them from rows `session.add` wrote. So every test writes the same values both ways and compares what the
ORM reads back, on SQLite and PostgreSQL, with encryption at rest off and on: instants in any zone stored as the
same UTC instant, booleans, empty optional fields, a client's phone hash, an encrypted value never sharing its
token with an equal value. The ids `insert_rows_with_ids` hands back name the rows in the order given, and a row
added afterwards gets a new id.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from bot.bulk import insert_rows, insert_rows_with_ids, loaded, new_row
from bot.models import Client, FollowUp, TipState
from bot.statuses import FollowUpStatus
from tests.bot.test_week import new_agent
from tests.conftest import TEST_KEY

SHANGHAI = ZoneInfo("Asia/Shanghai")
NEW_YORK = ZoneInfo("America/New_York")
# One instant written three ways (UTC, Shanghai, New York), and a second one: equal instants must read back equal.
MORNING = datetime(2026, 11, 2, 1, 30, tzinfo=UTC)
EVENING = datetime(2026, 11, 1, 21, 5, 7, tzinfo=NEW_YORK)  # the day DST ended there: 02:05:07 UTC on the 2nd

CLIENT_COLUMNS: tuple[str, ...] = ("agent_id", "name", "phone", "needs", "budget", "stage", "source", "notes")
CLIENT_COLUMNS += ("archived", "created_at", "updated_at")
FOLLOW_UP_COLUMNS: tuple[str, ...] = ("agent_id", "client_id", "due_at", "note", "status", "outcome", "done_at")
FOLLOW_UP_COLUMNS += ("created_at", "updated_at")

pytestmark = pytest.mark.parametrize("data_key", [None, TEST_KEY], indirect=True, ids=["plain", "encrypted"])


def client_values(agent_id: int) -> list[tuple[Any, ...]]:
    """Clients in `CLIENT_COLUMNS` order: equal names, phones and instants on several rows, empty fields, both
    booleans, text that is not ASCII."""
    return [
        (agent_id, "王先生", "+8613800138000", "三房", "500万", "new", "朋友介绍", None, False, MORNING, MORNING),
        (agent_id, "王先生", "+8613800138000", None, None, "viewing", None, "周末看房", True, MORNING, EVENING),
        (agent_id, "Ms Lee", None, "2br near metro", None, "new", "web", None, False, EVENING.astimezone(SHANGHAI),
         MORNING.astimezone(NEW_YORK)),
    ]  # fmt: skip


def follow_up_values(agent_id: int, client_id: int) -> list[tuple[Any, ...]]:
    done = MORNING + timedelta(hours=3)
    return [
        (agent_id, client_id, EVENING, "带看滨江花园", FollowUpStatus.OPEN, None, None, MORNING, MORNING),
        (agent_id, client_id, EVENING.astimezone(UTC), "带看滨江花园", FollowUpStatus.DONE, "签了", done, MORNING,
         done),
        (agent_id, client_id, MORNING.astimezone(SHANGHAI), None, FollowUpStatus.OPEN, None, None, EVENING, EVENING),
    ]  # fmt: skip


def as_read(row: Any, columns: tuple[str, ...]) -> tuple[Any, ...]:
    return tuple(getattr(row, name) for name in columns)


async def an_agent(sessions: async_sessionmaker[AsyncSession], user_id: int) -> int:
    async with sessions() as session, session.begin():
        agent = new_agent(user_id)
        session.add(agent)
        await session.flush()
        return agent.id


async def written_by_the_orm(
    sessions: async_sessionmaker[AsyncSession], model: type[Any], columns: tuple[str, ...], rows: list[tuple[Any, ...]]
) -> list[int]:
    async with sessions() as session, session.begin():
        objects = [model(**dict(zip(columns, row, strict=True))) for row in rows]
        session.add_all(objects)
        await session.flush()
        return [each.id for each in objects]


async def read(
    sessions: async_sessionmaker[AsyncSession], model: type[Any], columns: tuple[str, ...], ids: list[int]
) -> list[tuple[Any, ...]]:
    async with sessions() as session:
        found = {row.id: row for row in (await session.scalars(select(model).where(model.id.in_(ids)))).all()}
    return [as_read(found[i], columns) for i in ids]


async def test_bulk_clients_read_back_as_the_orms_own(engine: AsyncEngine, sessions: Any) -> None:
    agent_id = await an_agent(sessions, 1)
    rows = client_values(agent_id)
    orm_ids = await written_by_the_orm(sessions, Client, CLIENT_COLUMNS, rows)
    async with sessions() as session, session.begin():
        await insert_rows(session, Client.__table__, CLIENT_COLUMNS, rows)  # type: ignore[arg-type]
    async with sessions() as session:
        bulk_ids = [i for i in (await session.scalars(select(Client.id).order_by(Client.id))).all() if i not in orm_ids]
    read_columns = (*CLIENT_COLUMNS, "phone_hash")
    by_orm = await read(sessions, Client, read_columns, orm_ids)
    by_bulk = await read(sessions, Client, read_columns, bulk_ids)
    assert by_bulk == by_orm
    # What was given, as UTC instants: the same moments, whatever zone they were written in.
    assert [row[: len(CLIENT_COLUMNS)] for row in by_bulk] == [
        tuple(value.astimezone(UTC) if isinstance(value, datetime) else value for value in row) for row in rows
    ]
    stamps = [CLIENT_COLUMNS.index("created_at"), CLIENT_COLUMNS.index("updated_at")]
    assert all(row[i].tzinfo == UTC for row in by_bulk for i in stamps)


async def test_bulk_client_phones_are_hashed_and_their_secrets_never_share_a_token(
    engine: AsyncEngine, sessions: Any, data_key: str | None
) -> None:
    agent_id = await an_agent(sessions, 1)
    async with sessions() as session, session.begin():
        await insert_rows(session, Client.__table__, CLIENT_COLUMNS, client_values(agent_id))  # type: ignore[arg-type]
    async with engine.connect() as connection:
        stored = (await connection.execute(text("SELECT name, phone, phone_hash FROM clients ORDER BY id"))).all()
    names, phones, hashes = zip(*stored, strict=True)
    if data_key is None:
        assert names == ("王先生", "王先生", "Ms Lee")
        assert phones == ("+8613800138000", "+8613800138000", None)
        assert hashes == (None, None, None)
        return
    assert "王先生" not in names and len(set(names)) == 3  # two equal names, two different tokens
    assert phones[0] != phones[1] and "+8613800138000" not in phones and phones[2] is None
    assert hashes[0] == hashes[1] is not None and len(hashes[0]) == 64 and hashes[2] is None


async def test_bulk_follow_ups_with_their_ids_read_back_in_the_order_given(engine: AsyncEngine, sessions: Any) -> None:
    agent_id = await an_agent(sessions, 1)
    other = await an_agent(sessions, 2)
    [client_id] = await written_by_the_orm(sessions, Client, CLIENT_COLUMNS, client_values(agent_id)[:1])
    rows = follow_up_values(agent_id, client_id)
    orm_ids = await written_by_the_orm(sessions, FollowUp, FOLLOW_UP_COLUMNS, rows)
    async with sessions() as session, session.begin():
        ids = await insert_rows_with_ids(session, FollowUp.__table__, FOLLOW_UP_COLUMNS, rows)  # type: ignore[arg-type]
    assert len(ids) == len(rows) and len(set(ids)) == len(rows) and not set(ids) & set(orm_ids)
    assert await read(sessions, FollowUp, FOLLOW_UP_COLUMNS, ids) == await read(
        sessions, FollowUp, FOLLOW_UP_COLUMNS, orm_ids
    )
    # A follow-up the ORM adds afterwards (another agent's) gets an id of its own, and everything reads back.
    [after] = await written_by_the_orm(sessions, FollowUp, FOLLOW_UP_COLUMNS, follow_up_values(other, client_id)[:1])
    assert after not in ids and after not in orm_ids
    async with sessions() as session:
        assert (await session.scalar(select(FollowUp.agent_id).where(FollowUp.id == after))) == other
        assert len((await session.scalars(select(FollowUp.id))).all()) == 2 * len(rows) + 1


async def test_one_bulk_row_alone_and_none_at_all(engine: AsyncEngine, sessions: Any) -> None:
    agent_id = await an_agent(sessions, 1)
    [client_id] = await written_by_the_orm(sessions, Client, CLIENT_COLUMNS, client_values(agent_id)[:1])
    async with sessions() as session, session.begin():
        assert await insert_rows_with_ids(session, FollowUp.__table__, FOLLOW_UP_COLUMNS, []) == []  # type: ignore[arg-type]
        await insert_rows(session, FollowUp.__table__, FOLLOW_UP_COLUMNS, [])  # type: ignore[arg-type]
        [only] = await insert_rows_with_ids(
            session,
            FollowUp.__table__,  # type: ignore[arg-type]
            FOLLOW_UP_COLUMNS,
            follow_up_values(agent_id, client_id)[1:2],
        )
    async with sessions() as session:
        assert (await session.scalars(select(FollowUp.id))).all() == [only]
        done = await session.get(FollowUp, only)
    assert done is not None and (done.status, done.outcome, done.note) == (FollowUpStatus.DONE, "签了", "带看滨江花园")


async def test_a_new_row_is_loaded_as_the_sessions_own_object_with_the_models_defaults(
    engine: AsyncEngine, sessions: Any, data_key: str | None
) -> None:
    agent_id = await an_agent(sessions, 1)
    [client_id] = await written_by_the_orm(sessions, Client, CLIENT_COLUMNS, client_values(agent_id)[:1])
    given = ("agent_id", "client_id", "due_at", "note", "created_at", "updated_at")
    statement = loaded(FollowUp, new_row(FollowUp.__table__, given))  # type: ignore[arg-type]
    values = {"agent_id": agent_id, "client_id": client_id, "due_at": EVENING, "note": "带看滨江花园"}
    async with sessions() as session, session.begin():
        follow_up = (await session.scalars(statement, {**values, "created_at": MORNING, "updated_at": MORNING})).one()
        assert await session.get(FollowUp, follow_up.id) is follow_up  # in the identity map: no second read
        assert (follow_up.status, follow_up.outcome, follow_up.done_at) == (FollowUpStatus.OPEN, None, None)
        assert (follow_up.due_at, follow_up.note, follow_up.agent_id) == (EVENING, "带看滨江花园", agent_id)
    async with engine.connect() as connection:
        status, note = (await connection.execute(text("SELECT status, note FROM follow_ups"))).one()
    assert status == FollowUpStatus.OPEN
    assert (note == "带看滨江花园") is (data_key is None)


async def test_a_bulk_write_rolled_back_leaves_no_row(engine: AsyncEngine, sessions: Any) -> None:
    """An import that stops halfway writes nothing: the bulk rows are in the session's transaction, even as its first
    statement (PostgreSQL's COPY runs at the driver, beside SQLAlchemy's transaction)."""
    agent_id = await an_agent(sessions, 1)
    [client_id] = await written_by_the_orm(sessions, Client, CLIENT_COLUMNS, client_values(agent_id)[:1])
    with pytest.raises(RuntimeError, match="halfway"):
        async with sessions() as session, session.begin():
            await insert_rows(session, Client.__table__, CLIENT_COLUMNS, client_values(agent_id))  # type: ignore[arg-type]
            rows = follow_up_values(agent_id, client_id)
            await insert_rows_with_ids(session, FollowUp.__table__, FOLLOW_UP_COLUMNS, rows)  # type: ignore[arg-type]
            raise RuntimeError("the import stopped halfway")
    async with sessions() as session:
        assert (await session.scalars(select(Client.id))).all() == [client_id]
        assert (await session.scalars(select(FollowUp.id))).all() == []


async def test_clients_without_a_phone_or_with_their_hash_given_and_rows_needing_no_conversion(
    engine: AsyncEngine, sessions: Any
) -> None:
    """A client list without phones gets no hash column added; a hash the caller gives is kept, not added twice; a
    table whose columns need no conversion (integers and text alone) is written as given."""
    agent_id = await an_agent(sessions, 1)
    without_phone = ("agent_id", "name", "stage", "archived", "created_at", "updated_at")
    with_hash = ("agent_id", "name", "phone", "phone_hash", "stage", "archived", "created_at", "updated_at")
    async with sessions() as session, session.begin():
        phoneless = [(agent_id, "赵女士", "new", False, MORNING, MORNING)]
        await insert_rows(session, Client.__table__, without_phone, phoneless)  # type: ignore[arg-type]
        given = (agent_id, "钱先生", "+8613900139000", "f" * 64, "new", False, MORNING, MORNING)
        await insert_rows(session, Client.__table__, with_hash, [given])  # type: ignore[arg-type]
        plain = [(agent_id, "mindset-01", 2, 1), (agent_id, "patience-03", 1, -1)]
        await insert_rows(session, TipState.__table__, ("agent_id", "tip_id", "shown", "rating"), plain)  # type: ignore[arg-type]
    async with sessions() as session:
        clients = (await session.scalars(select(Client).order_by(Client.id))).all()
        tips = (await session.scalars(select(TipState).order_by(TipState.tip_id))).all()
    assert [(c.name, c.phone, c.phone_hash) for c in clients] == [
        ("赵女士", None, None),
        ("钱先生", "+8613900139000", "f" * 64),
    ]
    assert [(t.agent_id, t.tip_id, t.shown, t.rating) for t in tips] == plain
