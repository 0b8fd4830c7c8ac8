"""DATA_KEY's keys and the encrypting column types as an operator configures them and the database stores them:
a list of keys where the first encrypts and every one decrypts, values that say which key they are under, JSON
drafts that round-trip, and one clear line when a value's key is missing."""

from __future__ import annotations

import base64
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.crypto import (
    MARK,
    KeyFormatError,
    Keyring,
    SecretJSON,
    SecretText,
    UnknownKey,
    attach,
    key_id,
    new_key,
    open_hash_key,
    parse_keys,
    seal_hash_key,
    stored_key_id,
)
from bot.db import create_engine
from tests.conftest import TEST_KEY

OTHER_KEY = "oUWEtPI85gVn412ZQhSIRvYUyBW1lNnx4P_DgBZbiaQ="
THIRD_KEY = "X1QK8wYy0Q4gqGmWvJ3uO0s6Y2k9vWm0cJcQx0rDk9Q="

_PLAIN = create_engine("sqlite+aiosqlite://")
_KEYED = create_engine("sqlite+aiosqlite://")
attach(_KEYED, Keyring.from_setting(TEST_KEY))
PLAIN, KEYED = _PLAIN.sync_engine.dialect, _KEYED.sync_engine.dialect


def test_keys_are_read_in_order_whatever_separates_them() -> None:
    assert parse_keys(f" {OTHER_KEY} ,{TEST_KEY};{THIRD_KEY}, ") == [
        OTHER_KEY.encode("ascii"),
        TEST_KEY.encode("ascii"),
        THIRD_KEY.encode("ascii"),
    ]
    assert parse_keys(TEST_KEY) == [TEST_KEY.encode("ascii")]


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("", "expected one or more keys separated by commas (make one with `agentcoach data new-key`)"),
        (" , ;", "expected one or more keys separated by commas (make one with `agentcoach data new-key`)"),
        ("not-a-key", "a key is 44 characters of URL-safe base64 (32 bytes), as `agentcoach data new-key` prints"),
        ("密钥", "a key is 44 characters of URL-safe base64 (32 bytes), as `agentcoach data new-key` prints"),
        (TEST_KEY[:-4], "a key is 44 characters of URL-safe base64 (32 bytes), as `agentcoach data new-key` prints"),
        (
            f"{TEST_KEY},{base64.urlsafe_b64encode(bytes(31)).decode()}",
            "a key is 44 characters of URL-safe base64 (32 bytes), as `agentcoach data new-key` prints (key 2 of 2)",
        ),
        (f"{TEST_KEY},{OTHER_KEY},{TEST_KEY}", "key 3 is given twice"),
    ],
)
def test_a_bad_data_key_is_refused_with_the_line_that_says_why(value: str, message: str) -> None:
    with pytest.raises(KeyFormatError) as raised:
        parse_keys(value)
    assert str(raised.value) == message


def test_a_new_key_is_a_valid_one_and_never_the_same() -> None:
    first, second = new_key(), new_key()
    assert first != second and len(first) == 44
    assert parse_keys(first) == [first.encode("ascii")]


def test_a_key_id_is_eight_hex_digits_that_tell_keys_apart() -> None:
    ids = {key_id(key.encode("ascii")) for key in (TEST_KEY, OTHER_KEY, THIRD_KEY)}
    assert len(ids) == 3
    for kid in ids:
        assert len(kid) == 8 and all(digit in "0123456789abcdef" for digit in kid)
    assert key_id(TEST_KEY.encode("ascii")) == key_id(TEST_KEY.encode("ascii"))
    keyring = Keyring.from_setting(f"{OTHER_KEY},{TEST_KEY}")
    assert keyring.ids == (key_id(OTHER_KEY.encode("ascii")), key_id(TEST_KEY.encode("ascii")))
    assert keyring.current_id == keyring.ids[0]


def test_a_stored_value_names_its_key_and_the_first_key_encrypts() -> None:
    keyring = Keyring.from_setting(f"{OTHER_KEY},{TEST_KEY}")
    stored = keyring.encrypt("欧阳先生")
    assert stored.startswith(f"{MARK}{key_id(OTHER_KEY.encode('ascii'))}:")
    assert stored.startswith(keyring.prefix()) and keyring.is_current(stored)
    assert stored_key_id(stored) == keyring.current_id
    assert stored_key_id("欧阳先生") is None
    assert "欧阳先生" not in stored and keyring.encrypt("欧阳先生") != stored  # a fresh IV each time
    assert keyring.decrypt(stored) == "欧阳先生"


def test_every_key_decrypts_and_rotation_moves_a_value_to_the_first() -> None:
    old = Keyring.from_setting(TEST_KEY)
    under_old = old.encrypt("三居室")
    both = Keyring.from_setting(f"{OTHER_KEY},{TEST_KEY}")
    assert both.decrypt(under_old) == "三居室"
    assert not both.is_current(under_old) and both.is_current(None)
    moved = both.reencrypt(under_old)
    assert both.is_current(moved) and both.decrypt(moved) == "三居室"
    assert both.reencrypt(moved) == moved  # already under the current key: left as it is
    plain = both.reencrypt("plaintext from before a key")
    assert both.is_current(plain) and both.decrypt(plain) == "plaintext from before a key"
    assert both.decrypt("plaintext from before a key") == "plaintext from before a key"
    assert Keyring.from_setting(OTHER_KEY).decrypt(moved) == "三居室"


def test_a_value_under_a_key_data_key_lacks_says_which_key_in_one_line() -> None:
    stored = Keyring.from_setting(TEST_KEY).encrypt("欧阳先生")
    other = Keyring.from_setting(f"{OTHER_KEY},{THIRD_KEY}")
    with pytest.raises(UnknownKey) as raised:
        other.decrypt(stored)
    assert str(raised.value) == (
        f"a value is under key {key_id(TEST_KEY.encode('ascii'))}, which DATA_KEY does not hold "
        f"(it holds {other.ids[0]}, {other.ids[1]})"
    )


def test_a_value_whose_id_names_the_wrong_key_is_still_read_by_the_key_that_made_it() -> None:
    """A hand-edited row or an id collision: every key is tried before giving up."""
    keyring = Keyring.from_setting(f"{OTHER_KEY},{TEST_KEY}")
    under_second = Keyring.from_setting(TEST_KEY).encrypt("周末看房")
    relabelled = keyring.prefix() + under_second[len(keyring.prefix()) :]
    assert keyring.decrypt(relabelled) == "周末看房"
    unknown_id = f"{MARK}00000000:" + under_second[len(keyring.prefix()) :]
    assert keyring.decrypt(unknown_id) == "周末看房"


def test_the_phone_hash_needs_the_database_key_and_is_stable() -> None:
    keyring = Keyring.from_setting(TEST_KEY)
    with pytest.raises(RuntimeError) as raised:
        keyring.phone_hash("+8613800138000")
    assert str(raised.value) == "the phone hash key is not loaded: bot.data_keys.unlock runs at start-up"
    keyring.hash_key = bytes(range(32))
    first = keyring.phone_hash("+8613800138000")
    assert first == keyring.phone_hash("+8613800138000") != keyring.phone_hash("+8613800138001")
    assert len(first) == 64 and "13800138000" not in first
    rotated = Keyring.from_setting(f"{OTHER_KEY},{TEST_KEY}")
    rotated.hash_key = bytes(range(32))
    assert rotated.phone_hash("+8613800138000") == first  # the hash key, not DATA_KEY, makes the hash


def test_the_hash_key_is_stored_sealed_and_opens_again() -> None:
    keyring = Keyring.from_setting(TEST_KEY)
    sealed = seal_hash_key(keyring, bytes(range(32)))
    assert sealed.startswith(keyring.prefix())
    assert open_hash_key(keyring, sealed) == bytes(range(32))
    assert open_hash_key(Keyring.from_setting(f"{OTHER_KEY},{TEST_KEY}"), sealed) == bytes(range(32))


def test_text_stored_without_a_key_cannot_pass_for_encrypted_and_encrypted_text_needs_a_key() -> None:
    column = SecretText()
    assert column.process_bind_param(None, KEYED) is None
    assert column.process_bind_param(f"{MARK}abc", PLAIN) == "abc"  # the mark is cleaned away
    stored = column.process_bind_param("欧阳先生", KEYED)
    assert stored is not None and stored.startswith(MARK)
    assert column.process_result_value(None, KEYED) is None
    with pytest.raises(UnknownKey) as raised:
        column.process_result_value(stored, PLAIN)
    assert str(raised.value) == "a value is encrypted but DATA_KEY is not set"


drafts = st.dictionaries(
    st.text(max_size=10),
    st.recursive(
        st.none() | st.booleans() | st.integers() | st.text(),
        lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3),
        max_leaves=6,
    ),
    max_size=4,
)


@given(drafts)
def test_a_draft_round_trips_with_and_without_a_key(draft: dict[str, Any]) -> None:
    column = SecretJSON()
    plain = column.process_bind_param(draft, PLAIN)
    assert plain is not None and not plain.startswith(MARK)
    assert column.process_result_value(plain, PLAIN) == draft
    assert column.process_result_value(plain, KEYED) == draft  # a draft from before the key was set
    keyed = column.process_bind_param(draft, KEYED)
    assert keyed is not None and keyed.startswith(MARK)
    assert column.process_result_value(keyed, KEYED) == draft


def test_a_draft_in_clear_is_not_readable_in_the_database_and_reads_without_a_key_fail_clearly() -> None:
    column = SecretJSON()
    keyed = column.process_bind_param({"name": "欧阳先生", "phone": "+8613900139000"}, KEYED)
    assert keyed is not None and "欧阳" not in keyed and "13900139000" not in keyed
    plain = column.process_bind_param({"name": "欧阳先生"}, PLAIN)
    assert plain == '{"name":"欧阳先生"}'  # readable JSON text, as the column was before migration 0011
    assert column.process_bind_param(None, KEYED) is None
    assert column.process_result_value(None, KEYED) is None
    assert column.process_result_value({"step": 1}, PLAIN) == {"step": 1}  # a driver that decodes JSON itself
    assert column.process_result_value("[1, 2]", PLAIN) == {}  # not an object: an empty draft
    with pytest.raises(UnknownKey) as raised:
        column.process_result_value(keyed, PLAIN)
    assert str(raised.value) == "a value is encrypted but DATA_KEY is not set"


@given(st.text(min_size=1, max_size=20))
def test_a_damaged_token_is_an_unknown_key_whatever_was_written_into_it(damage: str) -> None:
    """A hand-edited row (any characters, CJK included, where the token was) is reported like a missing key."""
    keyring = Keyring.from_setting(TEST_KEY)
    with pytest.raises(UnknownKey) as raised:
        keyring.decrypt(keyring.prefix() + damage)
    assert str(raised.value) == (
        f"a value is under key {keyring.current_id}, which DATA_KEY does not hold (it holds {keyring.current_id})"
    )
