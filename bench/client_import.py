"""Importing a brokerage's client list: 10,000 rows from .xlsx and .csv, read, previewed and imported.

    .venv/bin/python -m bench.client_import [--rows 10000] [--backend sqlite|postgresql|both] [--repeats 3]

The files are made here as an ERP exports them (the export's headers 姓名, 电话 … 最近跟进, a title row above the
header, phones written every which way, full-width digits in some, 5 % of the rows a second row for the same phone,
an Excel date for the last contact). Timed, each the median of `--repeats` runs, on a fresh database each run:

- the floors: openpyxl reading every cell alone (read-only, values only), and the csv module alone (decode + rows);
- read: `read_file` (header search, column mapping, phone, stage and date normalising of every row);
- preview: `plan_import` against the agent's (empty) client list;
- import: `plan_import` again, `apply_plan` and the commit, as ✅ does (bulk: COPY on PostgreSQL, executemany on
  SQLite);
- again: the same file previewed against the 10,000 clients it made and imported (it changes nothing).

Printed as a table per backend, with the machine's load average at the start and the end (the machine is shared).
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import io
import os
import platform
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import openpyxl  # type: ignore[import-untyped]

from bench.database import create, drop
from bench.report import table
from bot.agents import NewAgent, get_or_register
from bot.client_import import apply_plan, decode_text, plan_import, read_file, today_for
from bot.db import session_factory

HEADERS = ["姓名", "电话", "需求", "预算", "来源", "阶段", "备注", "最近跟进"]
NOW = datetime(2026, 11, 25, 1, 0, tzinfo=UTC)
_WIDE = str.maketrans("0123456789", "０１２３４５６７８９")


def rows(count: int) -> list[list[Any]]:
    """`count` client rows, 1 in 20 repeating an earlier row's phone."""
    stages = ["新客户", "意向", "已带看", "下定", "成交", "流失", "Interested", ""]
    sources = ["朋友介绍", "58同城", "安居客", "门店", "Facebook", ""]
    out: list[list[Any]] = []
    for i in range(count):
        n = i - 7 if i % 20 == 19 else i
        digits = f"138{n:08d}"
        written = [
            digits,
            f"+86 {digits[:3]} {digits[3:7]} {digits[7:]}",
            f"0086-{digits[:3]}-{digits[3:7]}-{digits[7:]}",
            digits.translate(_WIDE),
        ][i % 4]
        out.append(
            [
                f"客户{n:05d}",
                written,
                ["三居 近地铁", "学区房", "两居 预算有限", ""][i % 4],
                ["300万", "3,000,000", "HK$8M", ""][i % 4],
                sources[i % len(sources)],
                stages[i % len(stages)],
                f"备注 {i}" if i % 3 == 0 else None,
                datetime(2026, 3, 1, 10, 0) + timedelta(days=i % 200, minutes=i % 600),
            ]
        )
    return out


def xlsx_file(data: list[list[Any]]) -> bytes:
    book = openpyxl.Workbook(write_only=True)
    sheet = book.create_sheet("客户")
    sheet.append(["XX地产 客户名单"])
    sheet.append(HEADERS)
    for row in data:
        sheet.append(row)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def csv_file(data: list[list[Any]]) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(HEADERS)
    for row in data:
        writer.writerow([value.strftime("%Y-%m-%d %H:%M") if isinstance(value, datetime) else value for value in row])
    return out.getvalue().encode("utf-8-sig")


def openpyxl_floor(content: bytes) -> int:
    book = openpyxl.load_workbook(io.BytesIO(content), read_only=True, data_only=True)
    try:
        return sum(1 for _ in book.worksheets[0].iter_rows(values_only=True))
    finally:
        book.close()


def csv_floor(content: bytes) -> int:
    return sum(1 for _ in csv.reader(io.StringIO(decode_text(content), newline="")))


def timed(work: Callable[[], object]) -> float:
    started = time.perf_counter()
    work()
    return time.perf_counter() - started


async def timed_async(work: Callable[[], Awaitable[object]]) -> float:
    started = time.perf_counter()
    await work()
    return time.perf_counter() - started


async def one_run(backend: str, name: str, content: bytes, workdir: Path) -> dict[str, float]:
    """Read, preview, import and preview again on a fresh database."""
    db = await create(backend, workdir)
    engine = db.engine()
    sessions = session_factory(engine)
    try:
        async with sessions() as session, session.begin():
            who = NewAgent(
                telegram_user_id=1, chat_id=1, display_name="bench", language="zh-Hans", timezone="Asia/Shanghai"
            )
            agent = await get_or_register(session, who, NOW)
        today = today_for(agent, NOW)
        figures: dict[str, float] = {}
        started = time.perf_counter()
        sheet = read_file(content, name, today)
        figures["read"] = time.perf_counter() - started
        async with sessions() as session, session.begin():
            started = time.perf_counter()
            plan = await plan_import(session, agent, sheet)
            figures["preview"] = time.perf_counter() - started
        async with sessions() as session:
            started = time.perf_counter()
            async with session.begin():
                plan = await plan_import(session, agent, sheet)
                outcome = await apply_plan(session, plan, NOW)
            figures["import"] = time.perf_counter() - started
        figures["new"] = outcome.new
        async with sessions() as session:
            started = time.perf_counter()
            async with session.begin():
                again = await plan_import(session, agent, read_file(content, name, today))
                await apply_plan(session, again, NOW)
            figures["again"] = time.perf_counter() - started
            figures["again_changed"] = int(again.changes_anything)
        return figures
    finally:
        await engine.dispose()
        await drop(db)


async def bench(count: int, backends: list[str], repeats: int) -> None:
    data = rows(count)
    files = {"xlsx": xlsx_file(data), "csv": csv_file(data)}
    floors = {"xlsx": openpyxl_floor, "csv": csv_floor}
    load_before = os.getloadavg()
    print(f"{count:,} rows; .xlsx {len(files['xlsx']) / 2**20:.2f} MiB, .csv {len(files['csv']) / 2**20:.2f} MiB")
    print(
        f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, Python {sys.version.split()[0]}"
    )
    print(f"load average at start: {' '.join(f'{x:.2f}' for x in load_before)}")
    header = ["backend", "file", "floor s", "read s", "preview s", "import s", "total s", "rows/s", "again s"]
    lines: list[list[Any]] = []
    with tempfile.TemporaryDirectory() as workdir:
        for backend in backends:
            for kind, content in files.items():
                floor = statistics.median(timed(lambda c=content, f=floors[kind]: f(c)) for _ in range(repeats))  # type: ignore[misc]
                runs = [await one_run(backend, f"clients.{kind}", content, Path(workdir)) for _ in range(repeats)]
                assert all(run["again_changed"] == 0 for run in runs), "a second import changed something"
                median = {
                    key: statistics.median(run[key] for run in runs) for key in ("read", "preview", "import", "again")
                }
                total = median["read"] + median["preview"] + median["import"]
                lines.append(
                    [
                        backend,
                        kind,
                        floor,
                        median["read"],
                        median["preview"],
                        median["import"],
                        total,
                        count / total,
                        median["again"],
                    ]
                )
                print(table(header, [lines[-1]]).splitlines()[-1], flush=True)
    print()
    print(table(header, lines))
    print(f"new clients per run: {int(runs[-1]['new']):,} (1 in 20 rows repeats a phone, merged)")
    print(f"load average at end: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    print(
        f"seconds, medians of {repeats} runs; import = preview again + write + commit; total = read + preview + import"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="bench.client_import", description=__doc__.split("\n")[0] if __doc__ else None
    )
    parser.add_argument("--rows", type=int, default=10_000)
    parser.add_argument("--backend", choices=("sqlite", "postgresql", "both"), default="both")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args(argv)
    backends = ["sqlite", "postgresql"] if args.backend == "both" else [args.backend]
    asyncio.run(bench(args.rows, backends, args.repeats))
    return 0


if __name__ == "__main__":
    sys.exit(main())
