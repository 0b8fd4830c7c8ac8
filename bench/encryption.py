"""Encryption at rest (issue 15): what a DATA_KEY costs per value, and on the screens that read many clients.

    .venv/bin/python -m bench.encryption [--backend sqlite|postgresql|both] [--clients 500] [--repeats 30]

1. Per field: `SecretText`'s bind then result processing (what the ORM and bot/bulk.py do for each value) on a
   name (王先生), a phone (+8613800138000) and a 300-character note, with a key (Fernet encrypt + decrypt) and
   without (clean only), in µs per value, median of 5 runs of 20,000.
2. Through the real handlers (`build_application` + `runtime.local_api`, as the shell and the tests): one agent
   onboarded by chat, `clients` clients added in bulk (the import path), then each of these timed `repeats` times:
   `/clients` (the list: a count, the counts by stage and one page of names), `/followup 客户250 明天下午3点` (the
   client named at the start: with a key every name of the agent's is decrypted and matched in Python), and the
   phone lookup behind registering a duplicate number (`client_with_phone`, by the keyed hash with a key).
   Medians in ms, without a key and with one, on each backend; the two bots run side by side, their samples
   interleaved so the machine's load falls on both alike.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import statistics
import sys
import tempfile
import time
import timeit
from collections.abc import Awaitable, Callable
from contextlib import AsyncExitStack
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import text

POSTGRES = os.environ.get("BENCH_POSTGRES_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/postgres")
NOW = datetime(2026, 11, 25, 1, 0, tzinfo=UTC)
NOTE = ("客户想要三居室，靠近地铁，学区优先，预算三百万左右，周末才有空看房。" * 10)[:300]


def per_field() -> dict[str, dict[str, float]]:
    from bot.crypto import Keyring, SecretText, attach, new_key
    from bot.db import create_engine

    plain, keyed = create_engine("sqlite+aiosqlite://"), create_engine("sqlite+aiosqlite://")
    attach(keyed, Keyring.from_setting(new_key()))
    column = SecretText()
    found: dict[str, dict[str, float]] = {}
    for label, value in (("name", "王先生"), ("phone", "+8613800138000"), ("note, 300 chars", NOTE)):
        found[label] = {}
        for mode, engine in (("no key", plain), ("key", keyed)):
            dialect = engine.sync_engine.dialect

            def round_trip(dialect: object = dialect, value: str = value) -> None:
                column.process_result_value(column.process_bind_param(value, dialect), dialect)  # type: ignore[arg-type]

            runs = timeit.repeat(round_trip, number=20_000, repeat=5)
            found[label][mode] = statistics.median(runs) / 20_000 * 1e6
    return found


Step = Callable[[], Awaitable[object]]


async def bot_with_clients(stack: AsyncExitStack, url: str, key: str | None, clients: int) -> dict[str, Step]:
    """The bot on `url` with one onboarded agent and `clients` clients; the steps to time."""
    from bot.bulk import insert_rows_with_ids
    from bot.clients import client_with_phone
    from bot.clock import ManualClock
    from bot.config import Settings
    from bot.crypto import Keyring, attach
    from bot.db import create_engine, session_factory, upgrade
    from bot.models import Client
    from handlers.context import Services
    from runtime.app import LOCAL_TOKEN, build_application, prepare
    from runtime.local_api import LocalBotAPI, LocalChat
    from tests.handlers.test_onboarding import onboard

    engine = create_engine(url)
    stack.push_async_callback(engine.dispose)
    attach(engine, Keyring.from_setting(key) if key else None)
    await upgrade(engine)
    settings = Settings(_env_file=None, database_url=url, data_key=key)
    services = Services(settings, session_factory(engine), ManualClock(NOW))
    api = LocalBotAPI()
    app = await stack.enter_async_context(build_application(services, token=LOCAL_TOKEN, request=api))
    await prepare(app)
    chat = LocalChat(app, api, user_id=1001, first_name="小王", language_code="zh-hans")
    await onboard(chat)
    async with services.sessions() as session, session.begin():
        agent_id = int((await session.execute(text("SELECT id FROM agents"))).scalar_one())
        columns = ["agent_id", "name", "phone", "needs", "notes", "stage", "archived", "created_at", "updated_at"]
        rows = [
            (agent_id, f"客户{n}", f"+861380013{n:04d}", "三居", NOTE, "new", False, NOW, NOW) for n in range(clients)
        ]
        await insert_rows_with_ids(session, Client.__table__, columns, rows)  # type: ignore[arg-type]

    async def phone_lookup() -> None:
        async with services.sessions() as session:
            assert await client_with_phone(session, agent_id, f"+861380013{clients // 2:04d}") is not None

    return {
        "/clients": lambda: chat.send("/clients"),
        f"/followup 客户{clients // 2} …": lambda: chat.send(f"/followup 客户{clients // 2} 明天下午3点"),
        "phone lookup": phone_lookup,
    }


async def timed(step: Step) -> float:
    started = time.perf_counter()
    await step()
    return (time.perf_counter() - started) * 1000


async def screens(urls: dict[str, str], clients: int, repeats: int) -> dict[str, dict[str, float]]:
    """Median ms per step and mode; the two modes' samples interleaved (which goes first alternates), so the
    shared machine's load falls on both alike."""
    from bot.crypto import new_key

    keys = {"no key": None, "key": new_key()}
    async with AsyncExitStack() as stack:
        bots = {mode: await bot_with_clients(stack, urls[mode], keys[mode], clients) for mode in keys}
        found: dict[str, dict[str, float]] = {mode: {} for mode in keys}
        for label in bots["no key"]:
            samples: dict[str, list[float]] = {mode: [] for mode in keys}
            for mode in keys:
                await bots[mode][label]()  # warm: statement caches, the time parser
            for repeat in range(repeats):
                for mode in list(keys)[:: 1 if repeat % 2 else -1]:
                    samples[mode].append(await timed(bots[mode][label]))
            for mode in keys:
                found[mode][label] = statistics.median(samples[mode])
    return found


async def fresh_postgres() -> tuple[str, Callable[[], Awaitable[None]]]:
    import uuid

    from bot.db import create_engine

    name = f"bench_encryption_{uuid.uuid4().hex[:8]}"
    admin = create_engine(POSTGRES, isolation_level="AUTOCOMMIT")
    async with admin.connect() as connection:
        await connection.execute(text(f'CREATE DATABASE "{name}"'))
    await admin.dispose()

    async def drop() -> None:
        admin = create_engine(POSTGRES, isolation_level="AUTOCOMMIT")
        async with admin.connect() as connection:
            await connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        await admin.dispose()

    return POSTGRES.rsplit("/", 1)[0] + "/" + name, drop


async def main_async(options: argparse.Namespace) -> None:
    cpu = _cpu_model() or platform.machine()
    print(f"machine: {cpu}, {os.cpu_count()} cores, Python {sys.version.split()[0]}")
    print(f"load average before: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    print("\nper field, SecretText bind + result (µs per value, median of 5 × 20,000):")
    for label, modes in per_field().items():
        print(f"  {label:<16} no key {modes['no key']:7.2f}   key {modes['key']:7.2f}")
    backends = ["sqlite", "postgresql"] if options.backend == "both" else [options.backend]
    for backend in backends:
        print(f"\n{backend}, {options.clients} clients, median of {options.repeats} (ms):")
        async with AsyncExitStack() as databases:
            urls = {}
            for mode in ("no key", "key"):
                if backend == "sqlite":
                    folder = databases.enter_context(tempfile.TemporaryDirectory())
                    urls[mode] = f"sqlite+aiosqlite:///{Path(folder) / 'bench.db'}"
                else:
                    urls[mode], drop = await fresh_postgres()
                    databases.push_async_callback(drop)
            results = await screens(urls, options.clients, options.repeats)
        for label in results["no key"]:
            print(f"  {label:<24} no key {results['no key'][label]:7.2f}   key {results['key'][label]:7.2f}")
    print(f"\nload average after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")


def _cpu_model() -> str:
    try:
        lines = Path("/proc/cpuinfo").read_text().splitlines()
    except OSError:
        return ""
    return next((line.split(":", 1)[1].strip() for line in lines if line.startswith("model name")), "")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.encryption", description=__doc__)
    parser.add_argument("--backend", choices=("sqlite", "postgresql", "both"), default="both")
    parser.add_argument("--clients", type=int, default=500)
    parser.add_argument("--repeats", type=int, default=30)
    asyncio.run(main_async(parser.parse_args(argv)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
