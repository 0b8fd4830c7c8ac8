"""The mix's floor in `bench.updates` measures what it claims: for every kind of the mix, the same SQL statements the
bot runs, in the same order, and a reply to every update (bench/mix_floor.py)."""

from __future__ import annotations

import logging
from collections import defaultdict
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event

from bench import database
from bench import updates as bench
from bench.mix_floor import mix_floor_application
from bot.clock import ManualClock
from bot.config import load_settings
from handlers.context import Services
from runtime.app import build_application, prepare


def _shape(statement: str) -> str:
    """What a statement does to which table: "SELECT agents", "INSERT INTO follow_ups … RETURNING"."""
    words = statement.split()
    shape = f"SELECT {words[words.index('FROM') + 1]}" if words[0] == "SELECT" else " ".join(words[:3])
    return shape + " ON CONFLICT" * ("CONFLICT" in words) + " RETURNING" * ("RETURNING" in words)


async def _statements_by_kind(app: Any, api: bench.FastBotAPI, engine: Any, agent: int) -> dict[str, list[str]]:
    seen: dict[str, list[str]] = defaultdict(list)
    kind = ""

    def record(_conn: object, _cursor: object, statement: str, *_: object) -> None:
        if "handled_updates" not in statement:  # the update gate's pruning, which the floor leaves out
            seen[kind].append(_shape(statement))

    event.listen(engine.sync_engine, "before_cursor_execute", record)
    try:
        for kind, update in bench.ours(range(agent, agent + 1), api):  # `record` reads `kind`
            await bench.feed(app, kind, iter([(kind, update)]))
    finally:
        event.remove(engine.sync_engine, "before_cursor_execute", record)
    return dict(seen)


@pytest.mark.parametrize("required", [False, True], ids=["statements and replies", "with gate, budget, time phrase"])
async def test_the_mix_floor_runs_the_bots_statements_for_every_kind(tmp_path: Path, required: bool) -> None:
    logging.disable(logging.CRITICAL)
    db = await database.create("sqlite", tmp_path)
    try:
        await bench.seed(db, 6)
        engine, sessions = database.open_sessions(db)
        settings = load_settings(database_url=db.url, telegram_bot_token=bench.TOKEN)
        ours_api, floor_api = bench.FastBotAPI(), bench.FastBotAPI()
        ours = build_application(
            Services(settings, sessions, ManualClock(bench.NOW)), token=bench.TOKEN, request=ours_api
        )
        floor = mix_floor_application(bench.TOKEN, floor_api, sessions, bench.NOW, required=required)
        for app in (ours, floor):
            await app.initialize()
        await prepare(ours)
        try:
            by_the_bot = await _statements_by_kind(ours, ours_api, engine, 1)
            by_the_floor = await _statements_by_kind(floor, floor_api, engine, 2)
            answered = set(floor_api.message_ids)
        finally:
            for app in (ours, floor):
                await app.shutdown()
            await engine.dispose()
    finally:
        logging.disable(logging.NOTSET)
        await database.drop(db)
    assert set(by_the_bot) == set(bench.KINDS)
    assert by_the_floor == by_the_bot
    assert by_the_bot["confirm"][-1].startswith("INSERT INTO deliveries")
    assert answered == {bench.USER_BASE + 2}  # the floor replied in the agent's chat
