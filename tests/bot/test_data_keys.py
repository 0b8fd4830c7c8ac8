"""`agentcoach data status` and `data rotate-key` as an operator reads them, and the start-up line, through the
functions the CLI prints (the CLI itself runs in a subprocess in tests/handlers/test_encryption.py)."""

from __future__ import annotations

import logging

import pytest
from sqlalchemy import select, text, update
from sqlalchemy.ext.asyncio import AsyncEngine

from bot import data_keys
from bot.clients import client_with_phone
from bot.crypto import Keyring, attach, new_key
from bot.data_keys import DataKeyError, announce, rotate, status, unlock
from bot.db import create_engine, session_factory
from bot.models import Client, DataKey
from tests.conftest import TEST_KEY
from tests.handlers.test_encryption import NEW_KEY, many_clients, reopened

KEYED = pytest.mark.parametrize("data_key", [TEST_KEY], indirect=True)
PLAIN = pytest.mark.parametrize("data_key", [None], indirect=True)
OLD_ID, NEW_ID = Keyring.from_setting(TEST_KEY).current_id, Keyring.from_setting(NEW_KEY).current_id


async def data_key_row(engine: AsyncEngine) -> DataKey:
    async with session_factory(engine)() as session:
        row = await session.get(DataKey, 1)
        assert row is not None
        return row


@KEYED
async def test_status_names_the_keys_and_counts_the_rows_left_per_table(engine: AsyncEngine, database_url: str) -> None:
    await many_clients(engine, 3)
    assert (await status(engine)).lines() == [
        f"encryption at rest: on, current key {OLD_ID}",
        *[f"  {table.name}: 0 row(s) not under the current key" for table, _ in data_keys.encrypted_tables()],
        "every row is under the current key",
    ]
    both = await reopened(database_url, f"{NEW_KEY},{TEST_KEY}")
    try:
        lines = (await status(both)).lines()
        assert lines[0] == f"encryption at rest: on, current key {NEW_ID} (also decrypting with {OLD_ID})"
        assert "  clients: 3 row(s) not under the current key" in lines
        assert lines[-1] == "3 row(s) not under the current key: run `agentcoach data rotate-key`"
    finally:
        await both.dispose()


@KEYED
async def test_status_without_the_key_says_the_database_is_encrypted(engine: AsyncEngine, database_url: str) -> None:
    await many_clients(engine, 1)
    unkeyed = create_engine(database_url)  # as `data status` opens it without DATA_KEY
    try:
        found = await status(unkeyed)
        assert found.keyring is None and found.row_key_id == OLD_ID
        assert found.lines() == [
            f"encryption at rest: DATA_KEY is not set, but this database is encrypted (key {OLD_ID})"
        ]
    finally:
        await unkeyed.dispose()


@PLAIN
async def test_rotating_without_a_key_is_refused_with_what_to_do(engine: AsyncEngine) -> None:
    with pytest.raises(DataKeyError) as raised:
        await rotate(engine)
    assert str(raised.value) == "DATA_KEY is not set: set it (a new key first, any old one after it) to rotate"


@KEYED
async def test_after_rotation_the_database_records_everything_under_the_new_key(
    engine: AsyncEngine, database_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    await many_clients(engine, 2)
    before = await data_key_row(engine)
    both = await reopened(database_url, f"{NEW_KEY},{TEST_KEY}")
    try:
        assert await rotate(both) == 2
        after = await data_key_row(both)
        assert (after.key_id, after.all_under) == (NEW_ID, NEW_ID)
        assert after.updated_at > before.updated_at and after.created_at == before.created_at
        caplog.clear()  # start-up with the new key first said to rotate
        with caplog.at_level(logging.WARNING, logger="bot.data_keys"):
            await unlock(both)  # nothing left to rotate: start-up says nothing
        assert caplog.records == []
    finally:
        await both.dispose()


@KEYED
async def test_a_client_whose_phone_lost_its_hash_is_behind_and_rotation_restores_it(engine: AsyncEngine) -> None:
    agent_id = await many_clients(engine, 2)
    async with engine.begin() as connection:
        await connection.execute(update(Client).where(Client.name.is_not(None)).values(phone_hash=None))
    assert (await status(engine)).behind["clients"] == 2  # encrypted under the current key, but not findable
    assert await rotate(engine) == 2
    assert (await status(engine)).behind["clients"] == 0
    async with session_factory(engine)() as session:
        found = await client_with_phone(session, agent_id, "+8613800130001")
        assert found is not None and found.name == "客户1"


@PLAIN
async def test_a_plaintext_client_without_a_phone_is_encrypted_by_rotation(
    engine: AsyncEngine, database_url: str
) -> None:
    agent_id = await many_clients(engine, 1)
    async with engine.begin() as connection:
        await connection.execute(update(Client).values(phone=None))
    keyed = await reopened(database_url, TEST_KEY)
    try:
        assert await rotate(keyed) == 1
        async with keyed.connect() as connection:
            [(name, phone, hashed)] = (
                await connection.execute(text("SELECT name, phone, phone_hash FROM clients"))
            ).all()
        assert name.startswith(Keyring.from_setting(TEST_KEY).prefix()) and phone is None and hashed is None
        async with session_factory(keyed)() as session:
            [client] = (await session.scalars(select(Client).where(Client.agent_id == agent_id))).all()
            assert client.name == "客户0"
    finally:
        await keyed.dispose()


@KEYED
async def test_a_row_under_a_key_data_key_lacks_stops_rotation_naming_the_row(
    engine: AsyncEngine, database_url: str
) -> None:
    await many_clients(engine, 1)
    stranger = Keyring.from_setting(NEW_KEY).encrypt("陌生人")
    async with engine.begin() as connection:
        await connection.execute(text("UPDATE clients SET name = :name"), {"name": stranger})
    with pytest.raises(DataKeyError) as raised:
        await rotate(engine)
    assert str(raised.value) == (
        f"clients row 1: a value is under key {NEW_ID}, which DATA_KEY does not hold (it holds {OLD_ID}); "
        "put that key back in DATA_KEY (after the first)"
    )


@KEYED
async def test_with_a_key_start_up_says_once_which_key_encrypts(
    engine: AsyncEngine, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(data_keys, "_announced", False)
    with caplog.at_level(logging.INFO, logger="bot.data_keys"):
        announce(Keyring.from_setting(TEST_KEY))
        announce(Keyring.from_setting(TEST_KEY))
    assert [record.getMessage() for record in caplog.records] == [f"encryption at rest is on (key {OLD_ID})"]


@PLAIN
async def test_without_a_key_status_says_encryption_is_off(engine: AsyncEngine) -> None:
    assert (await status(engine)).lines() == [
        "encryption at rest: off (DATA_KEY is not set; client details and reflections are plaintext)"
    ]


@KEYED
async def test_status_lists_every_older_key_still_decrypting(database_url: str, engine: AsyncEngine) -> None:
    third = new_key()
    third_id = Keyring.from_setting(third).current_id
    three = await reopened(database_url, f"{NEW_KEY},{TEST_KEY},{third}")
    try:
        [first, *_] = (await status(three)).lines()
        assert first == f"encryption at rest: on, current key {NEW_ID} (also decrypting with {OLD_ID}, {third_id})"
    finally:
        await three.dispose()


@KEYED
async def test_a_key_set_on_a_new_database_needs_no_rotation(
    engine: AsyncEngine, caplog: pytest.LogCaptureFixture
) -> None:
    row = await data_key_row(engine)  # made at start-up (the engine fixture), with nothing to encrypt yet
    assert (row.key_id, row.all_under) == (OLD_ID, OLD_ID)
    with caplog.at_level(logging.WARNING, logger="bot.data_keys"):
        await unlock(engine)
    assert caplog.records == []


@PLAIN
async def test_a_key_set_on_a_database_with_data_says_to_rotate(
    engine: AsyncEngine, database_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    await many_clients(engine, 1)
    with caplog.at_level(logging.WARNING, logger="bot.data_keys"):
        keyed = await reopened(database_url, TEST_KEY)
    try:
        row = await data_key_row(keyed)
        assert (row.key_id, row.all_under) == (OLD_ID, None)
        assert [record.getMessage() for record in caplog.records] == [
            "DATA_KEY is newly set: existing rows stay unencrypted until `agentcoach data rotate-key` runs",
            f"some rows may be unencrypted or under an older key than DATA_KEY's first ({OLD_ID}): "
            "run `agentcoach data rotate-key`",
        ]
    finally:
        await keyed.dispose()


@KEYED
async def test_a_process_that_did_not_run_start_up_reads_the_hash_key_when_it_first_needs_it(
    engine: AsyncEngine, database_url: str
) -> None:
    """`agentcoach import` and `data` open a second engine after start-up's: its keys find phones all the same."""
    agent_id = await many_clients(engine, 2)
    second = create_engine(database_url)
    attach(second, Keyring.from_setting(TEST_KEY))  # no unlock: the hash key is not loaded yet
    try:
        async with session_factory(second)() as session:
            found = await client_with_phone(session, agent_id, "+8613800130001")
            assert found is not None and found.name == "客户1"
    finally:
        await second.dispose()


@PLAIN
async def test_keys_on_a_database_start_up_never_saw_with_them_stop_at_the_first_phone(
    engine: AsyncEngine, database_url: str
) -> None:
    agent_id = await many_clients(engine, 1)
    second = create_engine(database_url)
    attach(second, Keyring.from_setting(TEST_KEY))
    try:
        async with session_factory(second)() as session:
            with pytest.raises(RuntimeError) as raised:
                await client_with_phone(session, agent_id, "+8613800130000")
        assert str(raised.value) == (
            "DATA_KEY is set but the database has no data_keys row: start-up (bot.db.upgrade) makes it"
        )
    finally:
        await second.dispose()


@KEYED
async def test_start_up_without_the_key_or_with_a_wrong_one_says_what_to_set(
    engine: AsyncEngine, database_url: str
) -> None:
    unkeyed = create_engine(database_url)
    try:
        with pytest.raises(DataKeyError) as missing:
            await unlock(unkeyed)
    finally:
        await unkeyed.dispose()
    assert str(missing.value) == (
        f"this database holds encrypted data (key {OLD_ID}) but DATA_KEY is not set: set DATA_KEY to "
        "the key(s) it was encrypted with"
    )
    third = new_key()
    with pytest.raises(DataKeyError) as wrong:
        await reopened(database_url, f"{NEW_KEY},{third}")
    assert str(wrong.value) == (
        f"DATA_KEY does not open this database: its data is under key {OLD_ID}, and DATA_KEY holds "
        f"{NEW_ID}, {Keyring.from_setting(third).current_id}. Set DATA_KEY to the key(s) it was encrypted with "
        "(a new key first, the old one after it, until `agentcoach data rotate-key` has run)"
    )
