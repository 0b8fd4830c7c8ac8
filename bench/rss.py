"""Scenario 1: process memory (RSS) with 10k, 100k and 1M pending follow-ups, ours beside the JobQueue peer.

Each point is a fresh process (`bench.rss_child`): ours is the bot built as `agentcoach run` builds it, idle
over a database that holds N pending follow-ups, read after its sweeps have run; the peer is a PTB
Application holding N in-memory JobQueue jobs. The database is seeded up to each point in turn by `run`.

Goals: ours flat within ±10 % from the first to the last point, and at most 1/10 of the peer's at the last.
Ours is read as served before any agent typed a time, after the time parsers loaded, and after a realistic
warm-up (`bench.warm_up`: every kind of reply once in each language, every scheduled kind sent once), which is
what the bot holds from its first day of use on; the goals are judged as served and after the warm-up.
The peer holds no database, so it is measured once per invocation and set beside each backend.
"""

from __future__ import annotations

from typing import Any

from bench.children import run_python_child
from bench.database import Database, open_sessions
from bench.emulator import TOKEN, Emulator
from bench.report import Goal, Result
from bench.warm_up import forget

FLAT = 0.10
RATIO = 10.0


async def measure_ours(db: Database, emulator: Emulator) -> dict[str, Any]:
    """One fresh process; then the warm-up's agents are removed, so the seeded ids stay free for the next point."""
    env = {"DATABASE_URL": db.url, "TELEGRAM_BOT_TOKEN": TOKEN, "TELEGRAM_API_BASE_URL": emulator.base_url}
    try:
        return run_python_child("bench.rss_child", ["ours"], env, timeout=900)
    finally:
        engine, sessions = open_sessions(db)
        try:
            await forget(sessions)
        finally:
            await engine.dispose()


def measure_jobqueue(emulator: Emulator, count: int) -> dict[str, Any]:
    env = {"BENCH_API_BASE_URL": emulator.base_url, "BENCH_TOKEN": TOKEN}
    return run_python_child("bench.rss_child", ["jobqueue", str(count)], env, timeout=1200)


def result(backend: str, ours: dict[int, dict[str, Any]], peer: dict[int, dict[str, Any]]) -> Result:
    points = sorted(ours)
    out = Result(
        "rss",
        backend,
        "Process RSS, idle, by pending follow-ups (fresh process per point)",
        [
            "pending",
            "ours after warm-up MiB",
            "warm-up trimmed MiB",
            "ours parsers loaded MiB",
            "ours as served MiB (no time typed yet)",
            "ours app+engine MiB",
            "ours idle sweep ms",
            "JobQueue peer MiB",
            "peer trimmed MiB",
            "peer empty MiB",
            "peer add s",
            "peer / ours warm",
        ],
        data={"ours": ours, "jobqueue": peer},
    )
    for n in points:
        p = peer.get(n, {})
        ratio = round(p["rss_mib"] / ours[n]["rss_warm_mib"], 2) if p else "—"
        out.rows.append(
            [
                n,
                ours[n]["rss_warm_mib"],
                ours[n]["rss_warm_trimmed_mib"],
                ours[n]["rss_mib"],
                ours[n]["rss_served_mib"],
                ours[n]["rss_app_engine_mib"],
                ours[n]["idle_sweep_ms"],
                p.get("rss_mib", "—"),
                p.get("rss_trimmed_mib", "—"),
                p.get("rss_empty_mib", "—"),
                p.get("add_seconds", "—"),
                ratio,
            ]
        )
    for key, label in (("rss_served_mib", "as served"), ("rss_warm_mib", "after the warm-up")):
        first, last = ours[points[0]][key], ours[points[-1]][key]
        deviation = max(abs(ours[n][key] - first) / first for n in points)
        out.goals.append(
            Goal(
                f"RSS flat {points[0]:,} → {points[-1]:,} pending ({label})",
                f"max deviation {deviation * 100:+.1f} % ({first} → {last} MiB)",
                f"within ±{FLAT * 100:.0f} %",
                deviation <= FLAT,
            )
        )
        if points[-1] in peer:
            peer_last = peer[points[-1]]["rss_mib"]
            given = " (peer from an earlier run)" if peer[points[-1]].get("given") else ""
            out.goals.append(
                Goal(
                    f"RSS at {points[-1]:,} pending vs JobQueue peer ({label})",
                    f"{last} vs {peer_last} MiB = 1/{peer_last / last:.1f}{given}",
                    f"≤ 1/{RATIO:.0f} of peer",
                    last * RATIO <= peer_last,
                )
            )
    engine_only = [ours[n]["rss_app_engine_mib"] for n in points]
    out.notes.append(
        f"Application + engine alone: {min(engine_only)}–{max(engine_only)} MiB over all points, max deviation"
        f" {max(abs(x - engine_only[0]) / engine_only[0] for x in engine_only) * 100:.1f} %"
    )
    warm = ours[points[-1]]["warm_up"]
    out.notes.append(
        f"warm-up at {points[-1]:,} pending: {warm['actions']} actions by 3 agents (zh-Hans, en, zh-Hant),"
        f" {warm['scheduled_sent']} scheduled messages sent ({warm['scheduled_left']} left), {warm['seconds']} s;"
        f" RSS after each step {warm['rss_steps']} MiB; actions with no answer: {warm['silent'] or 'none'}"
    )
    return out
