"""The weekly digest at scale: 100k agents whose digests all fall due on Sunday at 20:00, sent at Telegram's
30 msg/s, with follow-up nudges falling due during the wave (goal: none more than 5 s late).

`python -m bench.digest [--backend postgresql|sqlite|both] [--agents 100000] [--measure 10000] [--nudges 50]
[--render-ms N] [--latency-ms 50]`

In real time, not virtual: a fresh database holds `agents` agents, each with a waiting digest, all due at the
same instant (and each agent's reflection prompt and daily tip waiting for later in the week, as a served bot
holds them); the wave is then sent by a child process that is the bot as served (`build_application`, every
handler imported, the real `TelegramSender` with `send_photo`, PTB's rate limiter with the bot's send budget at
29 msg/s, the engine's own sweep loop with APScheduler's one-second tick emulated) until `measure` digests have
gone out. Only the Bot API is fake: an in-process one (runtime.local_api's, keeping no messages) that answers
429 to a 31st message within any second. The rest of the wave is projected from the measured rate: the claim
queries already faced the whole backlog (every digest due), so they cost what they would at 100k.

A digest's render is a stub standing for the chart: it sleeps `render_ms` in a worker thread (the time a chart
takes, measured by a child that renders one with matplotlib unless given) and returns a 50 KB photo, so the
payload travels the real send path. `nudges` follow-up nudges fall due spread over the measured part of the wave,
each for an agent of its own; each one's delay is its send instant minus its due instant.

RSS: the child's VmRSS is sampled every half second during the wave; its peak is set beside the engine's
memory goal (docs/benchmarks.md: at most 1/10 of the JobQueue peer's 952.5 MiB as served).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import tempfile
import time
from collections import deque
from datetime import UTC, datetime, timedelta
from datetime import time as time_of_day
from pathlib import Path
from typing import Any

from sqlalchemy import Table, event, select, text, update
from sqlalchemy.ext.asyncio import AsyncSession

from bench import database
from bench.children import memory_kib, mib, run_python_child

AGENTS, MEASURE, NUDGES = 100_000, 10_000, 50
PHOTO_BYTES = 50 * 1024
SENDS_PER_SECOND = 29  # runtime.send_budget paces SEND_RATE=30 at 29.03/s
TELEGRAM_LIMIT = 30
NUDGE_GOAL_S = 5.0
WAVE_GOAL_MIN = 60.0
MEMORY_GOAL_MIB = 952.5 / 10  # docs/benchmarks.md, run K: the JobQueue peer at 1M, as served
FAR = timedelta(days=3)
# An agent's settings after onboarding: reflection 21:00 Mon–Sat, the digest Sunday 20:00, tip 08:30, follow-ups 10:00.
SETTINGS = (time_of_day(21), "123456", 7, time_of_day(20), time_of_day(8, 30), time_of_day(10), True)
LEAD_S = 8.0  # from making the digests due to their instant: the child starts and connects meanwhile


# ---------------------------------------------------------------------------------------------- seeding


async def seed(db: database.Database, agents: int, nudges: int) -> dict[str, Any]:
    """`agents` agents with a digest each (due far ahead for now) and their tip and prompt later in the week;
    `nudges` more agents with a follow-up nudge each. Bulk inserts through bot.bulk (COPY on PostgreSQL)."""
    from bot.bulk import insert_rows_with_ids
    from bot.db import session_factory
    from bot.models import Agent, Delivery

    engine = db.engine()
    sessions = session_factory(engine)
    now = datetime.now(UTC)
    later = now + FAR
    agent_table, delivery_table = Agent.__table__, Delivery.__table__
    assert isinstance(agent_table, Table) and isinstance(delivery_table, Table)
    started = time.perf_counter()
    columns = [
        *("telegram_user_id", "chat_id", "display_name", "language", "timezone", "reflection_time", "work_days"),
        *("digest_weekday", "digest_time", "tip_time", "followup_time", "active", "created_at", "updated_at"),
    ]
    delivery_columns = ["agent_id", "kind", "due_at", "status", "attempts", "late", "created_at"]
    total = agents + nudges
    for first in range(0, total, database.CHUNK):
        numbers = range(first + 1, min(first + database.CHUNK, total) + 1)
        async with sessions() as session, session.begin():
            ids = await insert_rows_with_ids(
                session,
                agent_table,
                columns,
                [(n, n, f"A{n}", "zh-Hans", "Asia/Shanghai", *SETTINGS, now, now) for n in numbers],
            )
            rows = []
            for n, agent_id in zip(numbers, ids, strict=True):
                kinds = ("digest", "tip", "reflection") if n <= agents else ("followup",)
                rows += [(agent_id, kind, later, "pending", 0, False, now) for kind in kinds]
            await _insert(session, delivery_table, delivery_columns, rows)
    seconds = time.perf_counter() - started
    async with engine.begin() as connection:
        await connection.execute(text("ANALYZE"))
    await engine.dispose()
    return {"agents": agents, "nudge_agents": nudges, "seed_s": round(seconds, 1)}


async def _insert(session: AsyncSession, table: Table, columns: list[str], rows: list[tuple[Any, ...]]) -> None:
    from bot.bulk import insert_rows

    await insert_rows(session, table, columns, rows)


async def start_wave(db: database.Database, lead_s: float, spread_s: float) -> dict[str, Any]:
    """Every digest due at one instant `lead_s` from now (the child starts meanwhile); the nudges due spread
    over `spread_s` after it. Returns the instants."""
    from bot.models import Delivery

    engine = db.engine()
    wave_at = datetime.now(UTC) + timedelta(seconds=lead_s)
    async with engine.begin() as connection:
        await connection.execute(update(Delivery).where(Delivery.kind == "digest").values(due_at=wave_at))
        nudges = select(Delivery.id).where(Delivery.kind == "followup").order_by(Delivery.id)
        ids = list((await connection.execute(nudges)).scalars())
        step = spread_s / max(1, len(ids))
        for i, delivery_id in enumerate(ids):
            due = wave_at + timedelta(seconds=(i + 0.5) * step)
            await connection.execute(update(Delivery).where(Delivery.id == delivery_id).values(due_at=due))
    async with engine.begin() as connection:
        await connection.execute(text("ANALYZE deliveries"))
    await engine.dispose()
    dues = {
        delivery_id: (wave_at + timedelta(seconds=(i + 0.5) * step)).timestamp() for i, delivery_id in enumerate(ids)
    }
    return {"wave_at": wave_at.timestamp(), "nudges": dues}


# ---------------------------------------------------------------------------------------------- the chart


def chart_child(repeats: int) -> dict[str, Any]:
    """A week's chart as the digest draws one (bars per day, a line for mood), rendered `repeats` times to PNG in
    this process: ms per chart, charts/s on one core, PNG size, and this process's RSS after."""
    before = memory_kib()["VmRSS"]
    import io

    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot as plt

    imported = memory_kib()["VmRSS"]
    days = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"]

    def render(seed: int) -> bytes:
        figure, axes = plt.subplots(figsize=(6, 4), dpi=120)
        contacts = [(seed * 7 + d * 3) % 9 for d in range(7)]
        done = [(seed * 5 + d * 2) % 6 for d in range(7)]
        axes.bar([d - 0.2 for d in range(7)], contacts, width=0.4, label="contacts")
        axes.bar([d + 0.2 for d in range(7)], done, width=0.4, label="follow-ups done")
        mood = axes.twinx()
        mood.plot(range(7), [(seed + d) % 5 + 1 for d in range(7)], marker="o", color="black", label="mood")
        mood.set_ylim(0, 5.5)
        axes.set_xticks(range(7), days)
        axes.legend(loc="upper left")
        axes.set_title("This week")
        buffer = io.BytesIO()
        figure.savefig(buffer, format="png")
        plt.close(figure)
        return buffer.getvalue()

    render(0)  # warm-up: font cache, first figure
    times, sizes = [], []
    for n in range(repeats):
        started = time.perf_counter()
        sizes.append(len(render(n + 1)))
        times.append((time.perf_counter() - started) * 1000)
    ms = statistics.median(times)
    return {
        "repeats": repeats,
        "ms_median": round(ms, 1),
        "ms_max": round(max(times), 1),
        "charts_per_s_one_core": round(1000 / ms, 1),
        "png_kib": round(statistics.median(sizes) / 1024, 1),
        "rss_before_mib": mib(before),
        "rss_matplotlib_imported_mib": mib(imported),
        "rss_after_mib": mib(memory_kib()["VmRSS"]),
    }


# ---------------------------------------------------------------------------------------------- the child


async def wave_child(
    url: str, measure: int, render_ms: float, latency_ms: float, wave_batch: int, wave_at: float, nudges: int
) -> dict[str, Any]:
    """The bot as served, sending the wave from `wave_at` until `measure` digests and every nudge went out."""
    from bot.clock import SystemClock
    from bot.config import Settings
    from bot.db import engine_from_settings, session_factory
    from bot.models import Agent, Delivery
    from bot.recurring import after_sent
    from bot.scheduler import Kind, Outgoing
    from bot.send_budget import TELEGRAM_MESSAGES_PER_SECOND as BOT_RATE
    from bot.statuses import DeliveryKind
    from handlers.context import Services
    from runtime.app import LOCAL_TOKEN, build_application
    from runtime.delivery import engine_of
    from runtime.local_api import LocalBotAPI

    class PacedTelegram(LocalBotAPI):
        """The Bot API as far as the wave needs it: 429 for a 31st message within a second; keeps no messages."""

        def __init__(self) -> None:
            super().__init__()
            self.window: deque[float] = deque()
            self.sent: list[tuple[float, str]] = []
            self.refused = 0
            self.photo_bytes = 0

        async def do_request(self, url: str, method: str, request_data: Any = None, **kwargs: Any) -> tuple[int, bytes]:
            name = url.rsplit("/", 1)[-1]
            if name in ("sendPhoto", "sendMessage"):
                if request_data is not None and request_data.multipart_data:  # what the upload would carry
                    self.photo_bytes += sum(len(part[1]) for part in request_data.multipart_data.values())
                answer = self.message(name, dict(request_data.parameters) if request_data else {})
                await asyncio.sleep(latency_ms / 1000)  # counted on arrival, answered after the round trip
                return answer
            return await super().do_request(url, method, request_data, **kwargs)

        def message(self, name: str, params: dict[str, Any]) -> tuple[int, bytes]:
            now = time.monotonic()
            while self.window and now - self.window[0] >= 1.0:
                self.window.popleft()
            if len(self.window) >= TELEGRAM_LIMIT:
                self.refused += 1
                body = {"ok": False, "error_code": 429, "description": "Too Many Requests: retry after 1"}
                return 429, json.dumps(body | {"parameters": {"retry_after": 1}}).encode()
            self.window.append(now)
            self.sent.append((time.time(), str(params.get("caption") or params.get("text") or "")))
            chat = int(params["chat_id"])
            result = {"message_id": len(self.sent), "date": int(time.time()), "chat": {"id": chat, "type": "private"}}
            return 200, json.dumps({"ok": True, "result": result}).encode()

    started_rss = memory_kib()["VmRSS"]
    settings = Settings(_env_file=None, database_url=url)  # type: ignore[call-arg]
    bind = engine_from_settings(settings)
    services = Services(settings=settings, sessions=session_factory(bind), clock=SystemClock())
    api = PacedTelegram()
    app = build_application(services, token=LOCAL_TOKEN, request=api, send_rate=BOT_RATE)
    await app.initialize()
    engine = engine_of(app)

    async def render_digest(session: Any, delivery: Delivery, agent: Agent, now: datetime) -> Outgoing:
        await asyncio.to_thread(time.sleep, render_ms / 1000)  # the chart, drawn in a worker
        return Outgoing(f"📊 digest {delivery.id}", photo=os.urandom(PHOTO_BYTES))

    async def render_nudge(session: Any, delivery: Delivery, agent: Agent, now: datetime) -> Outgoing:
        return Outgoing(f"⏰ nudge {delivery.id}")

    engine.kinds[DeliveryKind.DIGEST] = Kind(render_digest, after_sent, after_sent, after_sent, renders_alone=True)
    engine.kinds[DeliveryKind.FOLLOWUP] = Kind(render_nudge)
    if wave_batch:
        engine.settings.wave_batch = wave_batch
    claims: list[float] = []
    statements: list[tuple[str, Any]] = []
    claim = engine.claim

    async def timed_claim() -> Any:
        begun = time.perf_counter()
        try:
            return await claim()
        finally:
            claims.append((time.perf_counter() - begun) * 1000)

    def capture(_c: Any, _cur: Any, statement: str, parameters: Any, *_: Any) -> None:
        if len(statements) < 4 and "row_number()" in statement and statement.lstrip().upper().startswith("UPDATE"):
            statements.append((statement, parameters))

    event.listen(bind.sync_engine, "before_cursor_execute", capture)
    engine.claim = timed_claim  # type: ignore[method-assign]
    await engine.start()
    ready_rss = memory_kib()["VmRSS"]
    rss: list[int] = []

    async def sample() -> None:
        while True:
            rss.append(memory_kib()["VmRSS"])
            await asyncio.sleep(0.5)

    sampler = asyncio.create_task(sample())
    await asyncio.sleep(max(0.0, wave_at - time.time()))
    loop = asyncio.get_running_loop()
    begun, sweeps = loop.time(), 0

    def digests_sent() -> int:
        return sum(1 for _, caption in api.sent if caption.startswith("📊"))

    def nudges_sent() -> int:
        return sum(1 for _, caption in api.sent if caption.startswith("⏰"))

    give_up = measure / SENDS_PER_SECOND + 120
    while (digests_sent() < measure or nudges_sent() < nudges) and loop.time() - begun < give_up:
        tick = loop.time()
        while True:  # runtime.delivery.sweep_tick
            await engine.sweep()
            sweeps += 1
            if not engine.backlog or digests_sent() >= measure:
                break
        # APScheduler's one-second interval, one instance at a time: the next tick after this one ended.
        elapsed = loop.time() - tick
        await asyncio.sleep(1.0 - elapsed % 1.0)
    sampler.cancel()
    event.remove(bind.sync_engine, "before_cursor_execute", capture)
    plans = await _plans(bind, statements)
    await app.shutdown()
    await bind.dispose()

    digest_times = [at for at, caption in api.sent if caption.startswith("📊")]
    nudge_times = {int(c.split()[-1]): at for at, c in api.sent if c.startswith("⏰")}
    first, last = min(digest_times), max(digest_times)
    rate = (len(digest_times) - 1) / (last - first) if last > first else 0.0
    peak_per_second = max(
        (sum(1 for t in digest_times + list(nudge_times.values()) if s <= t < s + 1) for s in _seconds(first, last)),
        default=0,
    )
    return {
        "digests_sent": len(digest_times),
        "first_after_due_s": round(first - wave_at, 2),
        "measured_s": round(last - first, 1),
        "rate_per_s": round(rate, 2),
        "sweeps": sweeps,
        "wave_batch": engine.settings.wave_batch,
        "claim_ms": {"median": round(statistics.median(claims), 1), "max": round(max(claims), 1), "n": len(claims)},
        "refused_429": api.refused,
        "peak_in_any_second": peak_per_second,
        "photo_mib_uploaded": round(api.photo_bytes / 2**20, 1),
        "nudge_sent_at": nudge_times,
        "rss_start_mib": mib(started_rss),
        "rss_ready_mib": mib(ready_rss),
        "rss_peak_wave_mib": mib(max(rss)),
        "rss_median_wave_mib": mib(int(statistics.median(rss))),
        "vmhwm_mib": mib(memory_kib()["VmHWM"]),
        "plans": plans,
    }


def _seconds(first: float, last: float) -> list[float]:
    return [first + s for s in range(int(last - first) + 1)]


async def _plans(bind: Any, statements: list[tuple[str, Any]]) -> list[str]:
    """The claim statements of the first sweep, planned again now (still tens of thousands due)."""
    out = []
    explain = "EXPLAIN QUERY PLAN" if bind.dialect.name == "sqlite" else "EXPLAIN (ANALYZE, BUFFERS)"
    for statement, parameters in statements:
        async with bind.connect() as connection:
            transaction = await connection.begin()
            rows = (await connection.exec_driver_sql(f"{explain} {statement}", parameters)).all()
            await transaction.rollback()
        lines = [str(row[-1] if bind.dialect.name == "sqlite" else row[0]) for row in rows]
        shown = ("scan", "search", "execution", "index", "sort")
        out.append("\n".join(line for line in lines if any(word in line.lower() for word in shown)))
    return out


# ---------------------------------------------------------------------------------------------- the parent


def machine() -> dict[str, Any]:
    from bench.run import _cpu_model

    return {"nproc": os.cpu_count(), "cpu": _cpu_model(), "python": sys.version.split()[0]}


async def run_backend(backend: str, args: argparse.Namespace, workdir: Path, render_ms: float) -> dict[str, Any]:
    db = await database.create(backend, workdir)
    try:
        seeded = await seed(db, args.agents, args.nudges)
        spread = args.measure / SENDS_PER_SECOND
        wave = await start_wave(db, LEAD_S, spread)
        child_args = ["--child-wave", db.url, str(args.measure), str(render_ms), str(args.latency_ms)]
        child_args += [str(args.wave_batch or 0)]
        child_args += [str(wave["wave_at"]), str(len(wave["nudges"]))]
        result = await asyncio.to_thread(run_python_child, "bench.digest", child_args, {}, spread + 600)
        sent_at = result.pop("nudge_sent_at")
        delays = (sent_at[str(i)] - due for i, due in wave["nudges"].items() if str(i) in sent_at)
        result["nudge_delays_s"] = sorted(round(delay, 2) for delay in delays)
        result["nudges_missing"] = len(wave["nudges"]) - len(sent_at)
        result["projected_100k_min"] = round(AGENTS / result["rate_per_s"] / 60, 1) if result["rate_per_s"] else None
        return {"backend": backend, "seeded": seeded, **result}
    finally:
        await database.drop(db)


def report(results: list[dict[str, Any]], chart: dict[str, Any] | None, args: argparse.Namespace) -> str:
    lines = []
    for r in results:
        delays = r["nudge_delays_s"] or [float("nan")]
        lines.append(
            f"{r['backend']}: {r['digests_sent']:,} digests in {r['measured_s']} s = {r['rate_per_s']} msg/s"
            f" (429s {r['refused_429']}, peak {r['peak_in_any_second']}/s); 100k projected"
            f" {r['projected_100k_min']} min; nudges {len(r['nudge_delays_s'])} (missing {r['nudges_missing']}):"
            f" median {statistics.median(delays)} s, max {max(delays)} s; claim ms median {r['claim_ms']['median']}"
            f" max {r['claim_ms']['max']}; RSS ready {r['rss_ready_mib']}, wave peak {r['rss_peak_wave_mib']} MiB"
        )
    if chart:
        lines.append(f"chart: {chart}")
    return "\n".join(lines)


def parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.digest", description=__doc__.split("\n")[0])
    parser.add_argument("--backend", choices=("postgresql", "sqlite", "both"), default="postgresql")
    parser.add_argument("--agents", type=int, default=AGENTS, help="agents with a digest due at the same instant")
    parser.add_argument("--measure", type=int, default=MEASURE, help="digests sent in real time before stopping")
    parser.add_argument("--nudges", type=int, default=NUDGES, help="follow-up nudges due during the measured part")
    parser.add_argument("--render-ms", type=float, default=None, help="a chart's render time (default: measured)")
    parser.add_argument("--wave-batch", type=int, default=None, help="EngineSettings.wave_batch (default: the bot's)")
    parser.add_argument("--latency-ms", type=float, default=50.0, help="the fake Bot API's answer time")
    parser.add_argument("--out", type=Path, default=None, help="write the figures as JSON here")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] == "--child-wave":
        url, measure, render_ms, latency_ms, wave_batch, wave_at, nudges = argv[1:8]
        result = asyncio.run(
            wave_child(
                url, int(measure), float(render_ms), float(latency_ms), int(wave_batch), float(wave_at), int(nudges)
            )
        )
        print(json.dumps(result))
        return 0
    if argv and argv[0] == "--child-chart":
        print(json.dumps(chart_child(int(argv[1]))))
        return 0
    args = parse(argv)
    chart = None
    render_ms = args.render_ms
    if render_ms is None:
        chart = run_python_child("bench.digest", ["--child-chart", "30"], {}, 300)
        render_ms = chart["ms_median"]
    backends = ["postgresql", "sqlite"] if args.backend == "both" else [args.backend]
    results = []
    with tempfile.TemporaryDirectory(prefix="bench-digest-") as workdir:
        for backend in backends:
            results.append(asyncio.run(run_backend(backend, args, Path(workdir), render_ms)))
    figures = {"machine": machine(), "args": vars(args) | {"out": str(args.out)}, "render_ms": render_ms}
    figures |= {"chart": chart, "results": results}
    if args.out:
        args.out.write_text(json.dumps(figures, indent=2, ensure_ascii=False))
    print(report(results, chart, args))
    print(json.dumps(figures, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
