"""Encryption at rest as an operator and an agent meet it: with DATA_KEY set, what the agent types about clients
and in reflections is not in the database in clear, the agent still sees it and finds clients by phone; keys
rotate (resumably, also from a plaintext database); a wrong or missing key stops start-up with one line."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncEngine

from bot import data_keys
from bot.bulk import insert_rows_with_ids
from bot.clients import client_with_phone, clients_with_phones, search_clients
from bot.config import SettingsError, load_settings
from bot.crypto import Keyring, SecretText, attach, new_key, parse_keys
from bot.data_keys import DataKeyError, announce, rotate, status, unlock
from bot.db import create_engine, session_factory, upgrade
from bot.models import Client
from bot.text import clean
from tests.conftest import START, TEST_KEY
from tests.handlers.test_clients import ready
from tests.handlers.test_reflections import prompt_now
from tests.support import Harness
from tests.test_cli import agentcoach

KEYED = pytest.mark.parametrize("data_key", [TEST_KEY], indirect=True)
PLAIN = pytest.mark.parametrize("data_key", [None], indirect=True)
NEW_KEY = "oUWEtPI85gVn412ZQhSIRvYUyBW1lNnx4P_DgBZbiaQ="

NAME, PHONE_TYPED, PHONE = "欧阳先生", "13800138000", "+8613800138000"
NEEDS, NOTES = "三居室靠近地铁", "周末才有空看房"
CONTACT_NOTE, FOLLOW_UP_NOTE = "聊了学区的事情", "带看滨江花园"  # a showing: its review keeps the note too
REFLECTION = ("带看了两组客户其中一组很满意", "客户嫌贵没控制好脾气", "客户发火时先听完再说", "给王姐回电话约周六带看")
SECRETS = [NAME, PHONE_TYPED, NEEDS, NOTES, CONTACT_NOTE, FOLLOW_UP_NOTE, *REFLECTION, "300万", "朋友介绍"]
TEXT_COLUMNS = {
    "clients": ("name", "phone", "needs", "budget", "source", "notes"),
    "contact_logs": ("note",),
    "follow_ups": ("note", "outcome"),
    "reflections": ("went_well", "to_improve", "lesson", "tomorrow"),
    "showing_reviews": ("listing", "note"),
}


async def raw_text(engine: AsyncEngine) -> str:
    """Every encrypted column as the database holds it, read with plain SQL."""
    found: list[str] = []
    async with engine.connect() as connection:
        for table, columns in TEXT_COLUMNS.items():
            for row in await connection.execute(text(f"SELECT {', '.join(columns)} FROM {table}")):
                found += [str(value) for value in row if value is not None]
    return "\n".join(found)


def sqlite_bytes(engine: AsyncEngine) -> bytes:
    """The SQLite file and its write-ahead log, as a disk thief would read them."""
    path = Path(engine.url.database or "")
    return b"".join(file.read_bytes() for file in (path, path.with_name(path.name + "-wal")) if file.exists())


async def agent_writes_everything(harness: Harness) -> None:
    """A client with every detail, a contact with a note, a follow-up with a note, and a whole reflection."""
    chat = await ready(harness)
    await chat.send(f"/client {NAME} {PHONE_TYPED} {NEEDS} 预算300万 来源:朋友介绍 备注:{NOTES}")
    await chat.press("📞 记录联系")
    await chat.press("📞 电话")
    await chat.send(CONTACT_NOTE)
    await chat.send(f"/followup {NAME} 明天下午3点 {FOLLOW_UP_NOTE}")
    await chat.press("✅ 确认")
    await chat.send("/settings tip off")
    await prompt_now(harness, chat)
    await chat.press("▶️ 开始")
    await chat.press("3")
    await chat.press("😕 2")
    for answer in REFLECTION:
        await chat.send(answer)


@KEYED
async def test_with_a_key_the_database_holds_nothing_the_agent_typed_in_clear(
    harness: Harness, engine: AsyncEngine
) -> None:
    await agent_writes_everything(harness)
    stored = await raw_text(engine)
    assert stored.count("\n") + 1 == 6 + 1 + 1 + 4 + 1  # every value is there (the review's listing), none readable
    for secret in SECRETS:
        assert secret not in stored
    if engine.dialect.name == "sqlite":
        on_disk = sqlite_bytes(engine)
        for secret in SECRETS:
            assert secret.encode("utf-8") not in on_disk, secret
    # The agent still reads it all: the list, the card, the journal.
    chat = harness.chat()
    [label] = [label for label in (await chat.send("/clients")).last.labels if NAME in label]
    card = (await chat.press(label)).last.text
    for shown in (NAME, "+86 138 0013 8000", NEEDS, NOTES, CONTACT_NOTE, FOLLOW_UP_NOTE, "300万", "朋友介绍"):
        assert shown in card
    async with harness.services.sessions() as session:
        [client] = (await session.scalars(select(Client))).all()
        assert (client.name, client.phone, client.notes) == (NAME, PHONE, NOTES)


@KEYED
async def test_with_a_key_a_draft_waiting_for_its_name_is_not_in_clear_either(
    harness: Harness, engine: AsyncEngine
) -> None:
    chat = await ready(harness)
    # A sentence where the name goes: the bot asks whether it is a name, keeping the draft meanwhile.
    await chat.send("/client 客户很在意学区和地铁 13900139000 预算500万 备注:只在晚上接电话")
    waiting = await harness.waiting()
    assert waiting is not None and waiting.data["draft"]["phone"] == "+8613900139000"
    async with engine.connect() as connection:
        [stored] = (await connection.execute(text("SELECT data FROM conversation_states"))).scalars().all()
    for secret in ("13900139000", "学区", "晚上", "500万"):
        assert secret not in stored


@KEYED
async def test_with_a_key_a_phone_number_still_finds_its_client(harness: Harness) -> None:
    chat = await ready(harness)
    await chat.send(f"/client {NAME} {PHONE_TYPED}")
    await chat.send("/client 李太 5123 4567")
    agent = await harness.agent()
    async with harness.services.sessions() as session:
        by_phone = await client_with_phone(session, agent.id, PHONE)
        assert by_phone is not None and by_phone.name == NAME
        assert [c.name for c in await search_clients(session, agent.id, "138 0013 8000")] == [NAME]
        assert [c.name for c in await search_clients(session, agent.id, "欧阳")] == [NAME]
        assert [c.name for c in await search_clients(session, agent.id, "李")] == ["李太"]
    # Registering the same number again is caught as before (by the keyed hash).
    reply = await chat.send(f"/client 王先生 {PHONE_TYPED}")
    assert NAME in reply.last.text


async def reopened(database_url: str, key: str | None) -> AsyncEngine:
    """The same database as another process with this DATA_KEY would open it."""
    engine = create_engine(database_url)
    attach(engine, Keyring.from_setting(key) if key else None)
    await upgrade(engine)
    return engine


@pytest.fixture
async def with_new_key(database_url: str) -> AsyncIterator[AsyncEngine]:
    engine = await reopened(database_url, f"{NEW_KEY},{TEST_KEY}")
    yield engine
    await engine.dispose()


@KEYED
async def test_rotation_puts_everything_under_the_new_key_which_then_works_alone(
    harness: Harness, database_url: str, with_new_key: AsyncEngine
) -> None:
    await agent_writes_everything(harness)
    before = await status(with_new_key)
    assert before.total_behind == 5  # a client, a contact, a follow-up, its showing's review, a reflection
    assert await rotate(with_new_key, batch_size=2) == 5
    assert (await status(with_new_key)).total_behind == 0
    alone = await reopened(database_url, NEW_KEY)
    try:
        agent = await harness.agent()
        async with session_factory(alone)() as session:
            client = await client_with_phone(session, agent.id, PHONE)
            assert client is not None and (client.name, client.notes) == (NAME, NOTES)
        assert await rotate(alone) == 0  # nothing left to do, and cheap to find out
        stored = await raw_text(alone)
        assert stored.count(Keyring.from_setting(NEW_KEY).prefix()) == 13
    finally:
        await alone.dispose()
    with pytest.raises(DataKeyError, match="DATA_KEY does not open this database"):
        await reopened(database_url, TEST_KEY)  # the old key alone no longer opens it


async def many_clients(engine: AsyncEngine, count: int, user_id: int = 7) -> int:
    """An agent with `count` clients written by the bulk path (which encrypts like the ORM)."""
    from bot.agents import NewAgent, get_or_register

    async with session_factory(engine)() as session, session.begin():
        agent = await get_or_register(session, NewAgent(user_id, user_id, "A", "zh-Hans", "Asia/Shanghai"), START)
        columns = ["agent_id", "name", "phone", "stage", "archived", "created_at", "updated_at"]
        rows = [(agent.id, f"客户{n}", f"+861380013{n:04d}", "new", False, START, START) for n in range(count)]
        await insert_rows_with_ids(session, Client.__table__, columns, rows)  # type: ignore[arg-type]
        return agent.id


@KEYED
async def test_an_interrupted_rotation_resumes_where_it_stopped(
    engine: AsyncEngine, database_url: str, with_new_key: AsyncEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    agent_id = await many_clients(engine, 9)
    assert "客户" not in await raw_text(engine)
    original, calls = Keyring.reencrypt, []

    def failing(keyring: Keyring, stored: str) -> str:
        calls.append(stored)
        if len(calls) == 11:  # the third batch of two rows (two encrypted columns each): a crash mid-way
            raise RuntimeError("killed")
        return original(keyring, stored)

    monkeypatch.setattr(Keyring, "reencrypt", failing)
    lines: list[tuple[str, int, int]] = []
    with pytest.raises(RuntimeError, match="killed"):
        await rotate(with_new_key, batch_size=2, progress=lambda *line: lines.append(line))
    assert [line for line in lines if line[0] == "clients"] == [("clients", 2, 2), ("clients", 4, 2)]
    assert (await status(with_new_key)).behind["clients"] == 5
    monkeypatch.setattr(Keyring, "reencrypt", original)
    assert await rotate(with_new_key, batch_size=2) == 5
    alone = await reopened(database_url, NEW_KEY)
    try:
        async with session_factory(alone)() as session:
            names = [c.name for c in await search_clients(session, agent_id, "客户", limit=20)]
            assert sorted(names) == sorted(f"客户{n}" for n in range(9))
            found = await client_with_phone(session, agent_id, "+8613800130004")
            assert found is not None and found.name == "客户4"
    finally:
        await alone.dispose()


@PLAIN
async def test_setting_a_key_on_a_plaintext_database_then_rotating_encrypts_it(
    engine: AsyncEngine, database_url: str
) -> None:
    agent_id = await many_clients(engine, 3)
    assert "客户1" in await raw_text(engine)  # no key: stored as it always was
    keyed = await reopened(database_url, TEST_KEY)
    try:
        assert (await status(keyed)).behind["clients"] == 3
        async with session_factory(keyed)() as session:  # readable before rotation: plaintext is plaintext
            assert {c.name for c in await search_clients(session, agent_id, "客户")} == {"客户0", "客户1", "客户2"}
            # and found by phone though it has no hash yet (a duplicate number is still caught meanwhile)
            found = await client_with_phone(session, agent_id, "+8613800130002")
            assert found is not None and found.name == "客户2"
            assert [c.name for c in await search_clients(session, agent_id, "13800130002")] == ["客户2"]
        assert await rotate(keyed) == 3
        assert "客户" not in await raw_text(keyed) and "13800130001" not in await raw_text(keyed)
        async with session_factory(keyed)() as session:
            found = await client_with_phone(session, agent_id, "+8613800130001")
            assert found is not None and found.name == "客户1"
    finally:
        await keyed.dispose()
    with pytest.raises(DataKeyError, match="DATA_KEY is not set"):
        await unlock(engine)  # the database now holds encrypted data: no key, no start


@pytest.mark.parametrize("data_key", [None, TEST_KEY], indirect=True)
async def test_many_phones_are_looked_up_at_once_with_and_without_a_key(engine: AsyncEngine) -> None:
    agent_id = await many_clients(engine, 5)
    other = await many_clients(engine, 0, user_id=8)
    async with session_factory(engine)() as session:
        found = await clients_with_phones(session, agent_id, ["+8613800130001", "+8613800130004", "+8613900000000"])
        names = {phone: (await session.get(Client, client_id)).name for phone, client_id in found.items()}  # type: ignore[union-attr]
        assert names == {"+8613800130001": "客户1", "+8613800130004": "客户4"}
        assert await clients_with_phones(session, other, ["+8613800130001"]) == {}  # another agent's clients: none


@PLAIN
async def test_without_a_key_start_up_says_once_that_data_is_stored_unencrypted(
    engine: AsyncEngine, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(data_keys, "_announced", False)
    with caplog.at_level(logging.INFO, logger="bot.data_keys"):
        await unlock(engine)  # the check itself is silent when all is well
        assert caplog.records == []
        announce(None)  # when serving starts (runtime/cli.py)
        announce(None)
    said = [record.getMessage() for record in caplog.records]
    assert said == [
        "DATA_KEY is not set: client names, phones, notes and reflections are stored unencrypted "
        "(see docs/encryption.md)"
    ]
    assert (await status(engine)).lines()[0].startswith("encryption at rest: off")


def test_a_wrong_or_missing_key_stops_start_up_with_one_line(tmp_path: Path) -> None:
    database = f"sqlite+aiosqlite:///{tmp_path}/agentcoach.db"
    first = agentcoach(tmp_path, "data", "status", DATABASE_URL=database, DATA_KEY=TEST_KEY)
    assert first.returncode == 0, first.stderr
    assert "encryption at rest: on, current key" in first.stdout
    wrong = agentcoach(tmp_path, "shell", DATABASE_URL=database, DATA_KEY=NEW_KEY)
    assert wrong.returncode == 2
    [line] = wrong.stderr.strip().splitlines()
    assert line.startswith("agentcoach: DATA_KEY does not open this database: its data is under key ")
    missing = agentcoach(tmp_path, "db", "upgrade", DATABASE_URL=database)
    assert missing.returncode == 2
    [line] = missing.stderr.strip().splitlines()
    assert line.startswith("agentcoach: this database holds encrypted data") and "DATA_KEY is not set" in line
    bad = agentcoach(tmp_path, "data", "status", DATABASE_URL=database, DATA_KEY="not-a-key")
    assert bad.returncode == 2
    assert bad.stderr.strip().splitlines() == [
        "agentcoach: invalid setting DATA_KEY: a key is 44 characters of URL-safe base64 (32 bytes), as "
        "`agentcoach data new-key` prints"
    ]
    assert NEW_KEY not in wrong.stderr + missing.stderr and TEST_KEY not in wrong.stderr
    rotated = agentcoach(tmp_path, "data", "rotate-key", DATABASE_URL=database, DATA_KEY=f"{NEW_KEY},{TEST_KEY}")
    assert rotated.returncode == 0, rotated.stderr
    assert "clients: 0 row(s) re-encrypted, done" in rotated.stdout
    assert rotated.stdout.strip().endswith("every row is under the current key")
    alone = agentcoach(tmp_path, "data", "status", DATABASE_URL=database, DATA_KEY=NEW_KEY)
    assert alone.returncode == 0 and f"current key {Keyring.from_setting(NEW_KEY).current_id}" in alone.stdout


def test_new_key_prints_a_key_data_key_accepts(tmp_path: Path) -> None:
    made = agentcoach(tmp_path, "data", "new-key")
    assert made.returncode == 0
    key = made.stdout.strip()
    assert parse_keys(key) == [key.encode("ascii")]
    assert load_settings(_env_file=None, data_key=f"{key}, {TEST_KEY}").keyring() is not None
    with pytest.raises(SettingsError, match="key 2 is given twice"):
        load_settings(_env_file=None, data_key=f"{key},{key}")


_ENGINE = create_engine("sqlite+aiosqlite://")
_KEYED = create_engine("sqlite+aiosqlite://")
attach(_KEYED, Keyring.from_setting(new_key()))


@given(st.text())
def test_the_type_round_trips_any_text_with_and_without_a_key(typed: str) -> None:
    column = SecretText()
    for engine in (_ENGINE, _KEYED):
        dialect = engine.sync_engine.dialect
        stored = column.process_bind_param(typed, dialect)
        assert stored is not None
        assert column.process_result_value(stored, dialect) == clean(typed)
    plain = column.process_bind_param(typed, _ENGINE.sync_engine.dialect)
    assert plain is not None and column.process_result_value(plain, _KEYED.sync_engine.dialect) == plain
