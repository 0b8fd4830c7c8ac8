"""Issue 16: three processes of one deployment share one send budget, against a fake Bot API that counts.

Each process is `python -m bench.budget_sender` (the bot built as runtime.app builds it for a deployment: the
budget's store shared through a fresh PostgreSQL database, or Redis), sending to the same chats as the other two,
each in an order of its own, 50 messages in flight. bench.counting_api writes down when each message arrived.
On PostgreSQL and through the pause they go as replies (each reply asks the store for itself, as far ahead as it
takes: the most requests at once); on Redis as a digest wave (`bulk`, the shortest horizon: the most polling).

The rules, on what the Bot API saw and on when each request left its process:
- never more than SEND_RATE messages in any second (sliding windows, not calendar seconds);
- never two messages to one chat within a second;
- every message delivered exactly once;
- a RetryAfter(5) answered to one process stops all three for 5 s.

The budget decides when a request leaves its process; the arrival adds the loopback's and the scheduler's jitter
(a few ms, now and then tens, which no budget can see). So the rules are held strictly on departures and, with
`WIRE_SLACK_S` for the wire, on arrivals (the same 50 ms as for requests already on the wire when a 429 is
answered).

Why SEND_RATE=30, not a higher rate to finish sooner: the budget's margin for lateness is absolute (`LATENESS_S`,
33 ms), so a higher rate would not test the same thing faster, it would test a tighter budget with more store
round trips on the same two cores. On PostgreSQL the issue's 3,000 messages (1,000 chats, each wanted by all three
processes: ~105 s, the one long test of the suite); on Redis 300, and the pause 300 and its 5 s.
"""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text

from bench import counting_api
from bench.counting_api import CountingApi
from bench.send_budget import WIRE_SLACK_S, Run, measure, send_together
from bot.db import create_engine
from tests.conftest import IN_CI, _create_postgres_database, _drop_postgres_database

# `serial`: two of these assert the deployment kept 90 % of 30 messages a second, which a second test worker
# competing for the two cores can pull under (0.886 in a CI run with two workers); `make test` runs them alone.
pytestmark = [pytest.mark.e2e, pytest.mark.serial]

SEND_RATE = 30
PROCESSES = 3
RETRY_AFTER_S = 5
REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/15")


def _unusable(what: str) -> None:
    """Skipped on a machine without the server; failed under CI, where a skip would hide an untested store."""
    if IN_CI:
        pytest.fail(what, pytrace=False)
    pytest.skip(what)


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[CountingApi]:
    with counting_api.start(tmp_path_factory.mktemp("counting-api") / "api.log") as running:
        yield running


@pytest.fixture
def database_url() -> Iterator[str]:
    """A fresh, migrated PostgreSQL database of the test's own: the budget's row starts empty."""
    try:
        url = asyncio.run(_create_postgres_database())
    except Exception as error:
        _unusable(f"PostgreSQL is not usable: {error!r}")
    try:
        yield url
    finally:
        asyncio.run(_drop_postgres_database(url))


@pytest.fixture
def redis_prefix() -> Iterator[str]:
    """A key prefix of the test's own on the test Redis, its keys deleted at the end."""
    from redis import Redis

    client = Redis.from_url(REDIS_URL, socket_timeout=2, socket_connect_timeout=2)
    try:
        client.ping()
    except Exception as error:
        client.close()
        _unusable(f"Redis at {REDIS_URL} is not usable: {error!r}")
    prefix = f"agentcoach:test-budget:{uuid.uuid4().hex[:10]}"
    try:
        yield prefix
    finally:
        for key in client.scan_iter(match=f"{prefix}:*"):
            client.delete(key)
        client.close()


def assert_budget_held(run: Run) -> None:
    """The deployment's rate in every sliding second, a chat's second, each message once (bench.send_budget's
    rules: strict on departures; on arrivals with WIRE_SLACK_S)."""
    measured = measure(run, SEND_RATE)
    broken = measured.violations(SEND_RATE)
    assert not broken, "; ".join(broken) + f"\n{measured}"


def test_three_processes_on_postgresql_keep_to_30_a_second_and_a_chat_s_second(
    api: CountingApi, database_url: str, tmp_path: Path
) -> None:
    run = send_together(api, tmp_path, database_url, processes=PROCESSES, messages=3000, chats=1000, priority="reply")

    assert_budget_held(run)
    assert {o["store"] for o in run.outcomes} == {"postgresql"}
    # The budget was spent, not wasted: at least 90 % of SEND_RATE from the first message to the last.
    assert measure(run, SEND_RATE).share >= 0.9


def test_three_processes_on_redis_keep_to_30_a_second_and_a_chat_s_second(
    api: CountingApi, database_url: str, redis_prefix: str, tmp_path: Path
) -> None:
    run = send_together(
        api,
        tmp_path,
        database_url,
        processes=PROCESSES,
        messages=300,
        chats=100,
        priority="bulk",
        redis_prefix=redis_prefix,
        redis_url=REDIS_URL,
    )

    assert_budget_held(run)
    assert {o["store"] for o in run.outcomes} == {"redis"}
    assert asyncio.run(_budget_row(database_url)) is None, "the database stood in for Redis"
    assert measure(run, SEND_RATE).share >= 0.9


async def _budget_row(url: str) -> tuple[Any, ...] | None:
    engine = create_engine(url)
    try:
        async with engine.connect() as connection:
            row = (await connection.execute(text("SELECT next_slot, pauses FROM send_budget"))).first()
            return tuple(row) if row is not None else None
    finally:
        await engine.dispose()


def test_a_retry_after_met_by_one_process_stops_all_three_for_its_5_seconds(
    api: CountingApi, database_url: str, tmp_path: Path
) -> None:
    # The 90th message (about 3 s in, every process sending) is answered "429, retry after 5".
    run = send_together(
        api,
        tmp_path,
        database_url,
        processes=PROCESSES,
        messages=300,
        chats=100,
        priority="reply",
        fail_nth=90,
        retry_after=RETRY_AFTER_S,
    )

    refused = [c for c in run.calls if c.status == 429]
    assert len(refused) == 1
    answered_at = refused[0].at
    sends = run.sends
    during = [c for c in sends if answered_at + WIRE_SLACK_S < c.at < answered_at + RETRY_AFTER_S]
    assert during == [], f"{len(during)} accepted during the pause, the first {during[0].at - answered_at:.3f} s in"
    for i in range(1, PROCESSES + 1):  # all three were sending before, and all three after
        own = [c.at for c in sends if str(c.text).startswith(f"p{i} ")]
        assert min(own) < answered_at < max(own) and max(own) > answered_at + RETRY_AFTER_S
    resumed = min(c.at for c in sends if c.at > answered_at + WIRE_SLACK_S)
    assert resumed < answered_at + RETRY_AFTER_S + 1.0, f"resumed {resumed - answered_at:.2f} s after the 429"
    assert sum(int(o["pauses"]) for o in run.outcomes) == 1  # one process met it; the others heard of it from the store
    assert str(refused[0].text) in run.expected  # the refused message was sent again, once (below)
    assert_budget_held(run)
    state = asyncio.run(_budget_row(database_url))
    assert state is not None and state[1] == 1  # the pause, written once to the shared row
