"""Issue 16: the send budget across processes. The sustained total rate as a share of SEND_RATE (goal: at least
90 %) with 1, 2 and 3 processes on one PostgreSQL database, and on Redis, with the budget's rules checked.

    PYTHONPATH=. python -m bench.send_budget [--quick] [--stores postgresql,redis] [--processes 1,2,3]
        [--messages 3000] [--chats 1000] [--rate 30] [--priority bulk] [--in-flight 50] [--out PATH]

For each store and process count: a fresh PostgreSQL database (Redis: a key prefix of the run's own), the fake
Bot API of bench.counting_api (reset), and that many `python -m bench.budget_sender` processes (the bot as
runtime.app builds it for a deployment) started together, `--messages` in total between them, each process going
through all `--chats` in an order of its own (cycling), so that the processes want the same chats at the same
time. Measured from the Bot API's arrival times: the sustained rate (messages − 1 over first to last arrival) and
its share of SEND_RATE, the most messages in any sliding second, the shortest gap between two messages to one chat,
and whether every message arrived exactly once; the most in any second is also taken on the departures (when each
request left its process, `--trace`), which is what the budget decides (the arrival adds the wire's jitter).

The rules, as tests/e2e/test_send_budget_processes.py holds them: never more than SEND_RATE in any second of
departures, nor in any 1 s − 50 ms of arrivals (`WIRE_SLACK_S`); a chat's messages at least 1 s apart (arrivals:
1 s − 50 ms); each message once. A run that breaks one is named under the table and the exit status is 1.

`--priority bulk` by default: a digest's or a broadcast's horizon is the shortest (0.1 s ahead), so it is the
priority that keeps the budget busy with the fewest slots in hand; `--priority reply` sends as replies (each asks
the store for itself, as far ahead as it takes). `--quick`: 300 messages to 100 chats.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import tempfile
import time
import uuid
from collections import Counter
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from bench import counting_api, database
from bench.budget_sender import finish, plan, start_together
from bench.counting_api import Call, CountingApi, chat_gaps, max_in_window, sustained_rate

RESULTS = Path(__file__).resolve().parent / "results"
SEND_RATE = 30
MESSAGES, CHATS = 3000, 1000
QUICK_MESSAGES, QUICK_CHATS = 300, 100
FIRST_CHAT = 5_100_000
WIRE_SLACK_S = 0.05
GOAL_SHARE = 0.9
REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/15")


@dataclass
class Run:
    """What the senders did: the Bot API's calls, when each request left its process, what each printed last."""

    calls: list[Call]
    left: dict[str, float]  # text → monotonic seconds (the machine's clock: the API's too)
    outcomes: list[dict[str, Any]]
    expected: set[str]

    @property
    def sends(self) -> list[Call]:
        """The messages the Bot API accepted, in arrival order."""
        return sorted((c for c in self.calls if c.method == "sendMessage" and c.status == 200), key=lambda c: c.at)

    @property
    def departures(self) -> list[Call]:
        """The same messages at the instant their request left the process (the last try, after a 429)."""
        return sorted(
            (Call(c.method, c.chat_id, c.text, self.left[str(c.text)], c.status) for c in self.sends),
            key=lambda c: c.at,
        )


def send_together(
    api: CountingApi,
    workdir: Path,
    database_url: str,
    *,
    processes: int,
    messages: int,
    chats: int,
    priority: str,
    rate: float = SEND_RATE,
    redis_prefix: str | None = None,
    redis_url: str = REDIS_URL,
    fail_nth: int | None = None,
    retry_after: int = 5,
    in_flight: int = 50,
) -> Run:
    """`processes` senders started together, `messages` between them; sender i (tags p1, p2 …) goes through the
    chats in the order of seed i. `fail_nth`: the Bot API answers that sendMessage with 429 "retry after"."""
    api.reset(fail_nth=fail_nth, retry_after=retry_after)
    chat_ids = list(range(FIRST_CHAT, FIRST_CHAT + chats))
    common = ["--url", api.base_url, "--database-url", database_url, "--rate", str(rate)]
    common += ["--chats", f"{chat_ids[0]}-{chat_ids[-1]}", "--priority", priority, "--in-flight", str(in_flight)]
    if redis_prefix is not None:
        common += ["--redis-url", redis_url, "--prefix", redis_prefix]
    shares = [messages // processes + (1 if i < messages % processes else 0) for i in range(processes)]
    commands = [
        [*common, "--messages", str(share), "--seed", str(i), "--tag", f"p{i}", "--trace", str(workdir / f"left-{i}")]
        for i, share in enumerate(shares, start=1)
    ]
    senders = start_together(commands, workdir)
    outcomes = finish(senders, timeout=max(shares) * processes / rate * 1.5 + retry_after + 60)
    left: dict[str, float] = {}
    for i in range(1, processes + 1):
        for line in (workdir / f"left-{i}").read_text().splitlines():
            sent, at = json.loads(line)
            left[sent] = at  # a message tried again after a 429: its last departure
    expected = {f"p{i} {n} {chat}" for i, share in enumerate(shares, start=1) for n, chat in plan(chat_ids, share, i)}
    return Run(api.calls(), left, outcomes, expected)


@dataclass
class Measured:
    """One run's figures (times in seconds)."""

    messages: int
    delivered: int
    duplicated: int
    missing: int
    failed: int
    refused: int  # answered 429
    seconds: float
    rate: float
    share: float
    max_per_second: int  # arrivals, in any sliding second
    max_per_second_left: int  # departures
    max_per_second_slack: int  # arrivals, in any 1 s − WIRE_SLACK_S
    min_chat_gap: float  # arrivals
    min_chat_gap_left: float  # departures
    stores: tuple[str, ...]

    def violations(self, rate: float) -> list[str]:
        """The budget's rules this run broke (empty: none)."""
        found = []
        if self.missing or self.duplicated or self.failed:
            found.append(f"{self.missing} missing, {self.duplicated} twice, {self.failed} failed")
        if self.max_per_second_left > rate:
            found.append(f"{self.max_per_second_left} left in one second")
        if self.max_per_second_slack > rate:
            found.append(f"{self.max_per_second_slack} arrived within {1 - WIRE_SLACK_S:.2f} s")
        if self.min_chat_gap_left < 1.0:
            found.append(f"two messages to one chat left {self.min_chat_gap_left:.3f} s apart")
        if self.min_chat_gap < 1.0 - WIRE_SLACK_S:
            found.append(f"two messages to one chat arrived {self.min_chat_gap:.3f} s apart")
        return found


def measure(run: Run, rate: float) -> Measured:
    sends = run.sends
    delivered = Counter(str(c.text) for c in sends)
    arrivals = [c.at for c in sends]
    departures = run.departures
    seconds = arrivals[-1] - arrivals[0] if len(arrivals) > 1 else 0.0
    sustained = sustained_rate(arrivals)
    return Measured(
        messages=len(run.expected),
        delivered=len(sends),
        duplicated=sum(n - 1 for n in delivered.values()),
        missing=len(run.expected - set(delivered)),
        failed=sum(int(o["failed"]) for o in run.outcomes),
        refused=sum(1 for c in run.calls if c.status == 429),
        seconds=round(seconds, 2),
        rate=round(sustained, 2),
        share=round(sustained / rate, 4),
        max_per_second=max_in_window(arrivals),
        max_per_second_left=max_in_window([c.at for c in departures]),
        max_per_second_slack=max_in_window(arrivals, 1.0 - WIRE_SLACK_S),
        min_chat_gap=round(min(chat_gaps(sends), default=float("inf")), 3),
        min_chat_gap_left=round(min(chat_gaps(departures), default=float("inf")), 3),
        stores=tuple(sorted({str(o["store"]) for o in run.outcomes})),
    )


# ---------------------------------------------------------------------------------------------- the benchmark


def _redis_usable(url: str) -> str | None:
    """None, or why Redis cannot be used."""
    from redis import Redis

    client = Redis.from_url(url, socket_timeout=2, socket_connect_timeout=2)
    try:
        client.ping()
    except Exception as error:
        return repr(error)
    finally:
        client.close()
    return None


def _forget_redis(url: str, prefix: str) -> None:
    from redis import Redis

    client = Redis.from_url(url, socket_timeout=2, socket_connect_timeout=2)
    try:
        for key in client.scan_iter(match=f"{prefix}:*"):
            client.delete(key)
    finally:
        client.close()


def one_run(api: CountingApi, args: argparse.Namespace, store: str, processes: int, workdir: Path) -> Measured:
    db = asyncio.run(database.create("postgresql", workdir))
    prefix = f"agentcoach:bench-budget:{uuid.uuid4().hex[:10]}" if store == "redis" else None
    try:
        run = send_together(
            api,
            workdir,
            db.url,
            processes=processes,
            messages=args.messages,
            chats=args.chats,
            priority=args.priority,
            rate=args.rate,
            redis_prefix=prefix,
            redis_url=args.redis_url,
            in_flight=args.in_flight,
        )
    finally:
        asyncio.run(database.drop(db))
        if prefix is not None:
            _forget_redis(args.redis_url, prefix)
    return measure(run, args.rate)


def machine() -> dict[str, Any]:
    from bench.updates import _commit, _cpu_model, _uptime

    return {"nproc": os.cpu_count(), "cpu": _cpu_model(), "load": _uptime(), "commit": _commit()}


COLUMNS = [
    "store",
    "processes",
    "messages",
    "delivered once",
    "seconds",
    "msgs/s",
    "share of SEND_RATE",
    "max in any 1 s (arrivals)",
    "max in any 1 s (departures)",
    "min gap per chat (s)",
    "goal ≥ 90 %",
]


def row(store: str, processes: int, m: Measured) -> list[Any]:
    once = m.delivered == m.messages and not m.duplicated and not m.missing
    return [
        store,
        processes,
        m.messages,
        "yes" if once else f"no ({m.missing} missing, {m.duplicated} twice)",
        m.seconds,
        m.rate,
        f"{100 * m.share:.1f} %",
        m.max_per_second,
        m.max_per_second_left,
        f"{m.min_chat_gap:.3f}",
        "PASS" if m.share >= GOAL_SHARE else "MISS",
    ]


def markdown(rows: list[list[Any]]) -> str:
    lines = ["| " + " | ".join(COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
    lines += ["| " + " | ".join(str(v) for v in r) + " |" for r in rows]
    return "\n".join(lines)


def parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.send_budget", description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help=f"{QUICK_MESSAGES} messages to {QUICK_CHATS} chats")
    parser.add_argument("--stores", default="postgresql,redis", help="postgresql, redis or both (comma-separated)")
    parser.add_argument("--processes", default="1,2,3", help="process counts, comma-separated")
    parser.add_argument("--messages", type=int, default=None, help=f"in total per run (default {MESSAGES})")
    parser.add_argument("--chats", type=int, default=None, help=f"default {CHATS}")
    parser.add_argument("--rate", type=float, default=SEND_RATE, help="SEND_RATE")
    parser.add_argument("--priority", choices=("reply", "nudge", "recurring", "bulk"), default="bulk")
    parser.add_argument("--in-flight", type=int, default=50, help="messages in flight per process")
    parser.add_argument("--redis-url", default=REDIS_URL)
    parser.add_argument("--out", type=Path, default=None, help="the figures as JSON (default bench/results/…)")
    args = parser.parse_args(argv)
    args.messages = args.messages or (QUICK_MESSAGES if args.quick else MESSAGES)
    args.chats = args.chats or (QUICK_CHATS if args.quick else CHATS)
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    stores = [s.strip() for s in args.stores.split(",") if s.strip()]
    counts = [int(n) for n in args.processes.split(",")]
    if "redis" in stores and (why := _redis_usable(args.redis_url)) is not None:
        print(f"Redis at {args.redis_url} is not usable ({why}): skipped", file=sys.stderr)
        stores.remove("redis")
    header = {"started": time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime()), **machine(), "args": vars(args)}
    print(f"# {header['started']}  nproc {header['nproc']}  {header['cpu']}  load {header['load']}  {header['commit']}")
    rows: list[list[Any]] = []
    figures: list[dict[str, Any]] = []
    broken: list[str] = []
    with tempfile.TemporaryDirectory(prefix="bench-send-budget-") as tmp:
        workdir = Path(tmp)
        with counting_api.start(workdir / "api.log") as api:
            for store in stores:
                for processes in counts:
                    started = time.monotonic()
                    measured = one_run(api, args, store, processes, workdir)
                    rows.append(row(store, processes, measured))
                    figures.append({"store": store, "processes": processes, **asdict(measured)})
                    broken += [f"{store}, {processes} processes: {v}" for v in measured.violations(args.rate)]
                    print(
                        f"{store}, {processes} processes: {measured.rate} msgs/s ({100 * measured.share:.1f} %),"
                        f" max in 1 s {measured.max_per_second} (left {measured.max_per_second_left}),"
                        f" chat gap {measured.min_chat_gap:.3f} s, {time.monotonic() - started:.0f} s",
                        flush=True,
                    )
    header["ended"] = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime())
    header["load_at_end"] = machine()["load"]
    print()
    print(markdown(rows))
    print(f"\nload (1, 5, 15 min) at the start {header['load']}, at the end {header['load_at_end']}")
    for line in broken:
        print(f"RULE BROKEN: {line}")
    out = args.out or RESULTS / f"{time.strftime('%Y%m%d-%H%M%S')}-send-budget.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({**header, "runs": figures, "broken": broken}, indent=2, default=str) + "\n")
    print(f"results: {out}")
    return 1 if broken else 0


if __name__ == "__main__":
    sys.exit(main())
