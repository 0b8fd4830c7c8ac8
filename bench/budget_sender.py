"""One process of a deployment sending through the shared send budget (issue 16's tests and bench.send_budget).

    python -m bench.budget_sender --url http://127.0.0.1:PORT/bot --database-url postgresql+asyncpg://… \
        [--redis-url redis://127.0.0.1:6379/0 --prefix agentcoach:budget:test] --rate 30 \
        --chats 1000-1999 --messages 1000 --priority reply --seed 1 --tag p1 [--wait]

The bot is built as runtime.app builds it for a deployment: `SendBudget(rate)`, its store from `shared_store`
(PostgreSQL's row, or Redis with the database behind it), `build_bot(…, PriorityRateLimiter(budget))`, and the
process's report written every few seconds as the served bot does. Then `--messages` messages go out through
`bot.send_message(chat, text, rate_limit_args={"priority": …})`, `--in-flight` of them at once, to the chats of
`--chats` (inclusive) in ascending order or shuffled with `--seed`, cycling when there are more messages than chats;
each text is "`tag` `n` `chat`", unique across processes with distinct tags. A message that meets a 429 waits and
is tried again inside the limiter (a RetryAfter pauses every process through the store).

With `--wait` the process prints "ready" once its bot is initialised (getMe answered) and starts sending when a
line arrives on stdin, so several processes start together. At the end it prints one JSON line (sent, failed,
seconds, pauses) and exits 0 when every message was accepted, 1 otherwise.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import random
import select
import subprocess
import sys
import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bot.db import create_engine
from bot.ownership import new_key
from bot.send_budget import SendBudget, budget_prefix, shared_store
from bot.statuses import SendPriority
from runtime.app import build_bot
from runtime.send_budget import JSON, PriorityRateLimiter

ROOT = Path(__file__).resolve().parent.parent
TOKEN = "123456:BUDGET-SENDER"
IN_FLIGHT = 50
SHOWN_FAILURES = 5


class TracedLimiter(PriorityRateLimiter):
    """The limiter as it is, noting when each message's HTTP request left (after its slot): with the API's arrival
    times this tells the budget's lateness from the wire's (`--trace`; the monotonic clock is the machine's)."""

    def __init__(self, budget: SendBudget) -> None:
        super().__init__(budget)
        self.left: list[tuple[str, float]] = []  # (text, monotonic seconds)

    async def process_request(
        self,
        callback: Callable[..., Coroutine[Any, Any, JSON]],
        args: Any,
        kwargs: dict[str, Any],
        endpoint: str,
        data: dict[str, Any],
        rate_limit_args: dict[str, Any] | None,
    ) -> JSON:
        async def timed(*given: Any, **named: Any) -> JSON:
            if endpoint == "sendMessage":
                self.left.append((str(data.get("text")), time.monotonic()))
            return await callback(*given, **named)

        return await super().process_request(timed, args, kwargs, endpoint, data, rate_limit_args)


def chat_range(value: str) -> list[int]:
    """ "A-B" (inclusive) or one chat id."""
    first, _, last = value.partition("-")
    return list(range(int(first), int(last or first) + 1))


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    parser.add_argument("--url", required=True, help="the Bot API's base URL, e.g. http://127.0.0.1:PORT/bot")
    parser.add_argument("--database-url", required=True)
    parser.add_argument("--redis-url", default=None)
    parser.add_argument("--prefix", default=None, help="Redis key prefix (default: the deployment's, by token)")
    parser.add_argument("--token", default=TOKEN)
    parser.add_argument("--rate", type=float, default=30.0, help="SEND_RATE, messages/s for the deployment")
    parser.add_argument("--chats", type=chat_range, required=True, help="A-B, inclusive")
    parser.add_argument("--messages", type=int, default=None, help="default: one per chat")
    parser.add_argument("--priority", choices=[str(p) for p in SendPriority], default=str(SendPriority.REPLY))
    parser.add_argument("--in-flight", type=int, default=IN_FLIGHT)
    parser.add_argument("--seed", type=int, default=None, help="shuffle the chats with this seed")
    parser.add_argument("--tag", default="p", help="the texts' prefix (unique per process)")
    parser.add_argument("--wait", action="store_true", help='print "ready", start on a line from stdin')
    parser.add_argument("--trace", type=Path, default=None, help="write when each request left (JSON lines)")
    return parser.parse_args(argv)


def plan(chats: list[int], messages: int, seed: int | None) -> list[tuple[int, int]]:
    """(n, chat) for every message: the chats in order (or shuffled by `seed`), cycling."""
    order = list(chats)
    if seed is not None:
        random.Random(seed).shuffle(order)
    return [(n, order[n % len(order)]) for n in range(messages)]


async def run(args: argparse.Namespace) -> dict[str, Any]:
    engine = create_engine(args.database_url)
    budget = SendBudget(args.rate)
    prefix = args.prefix or budget_prefix(args.token)
    budget.store = shared_store(engine, args.redis_url, prefix, lambda: budget.processes)
    limiter = TracedLimiter(budget) if args.trace else PriorityRateLimiter(budget)
    bot = build_bot(args.token, args.url, None, limiter)
    todo = iter(plan(args.chats, args.messages if args.messages is not None else len(args.chats), args.seed))
    failures: list[str] = []
    sent = 0

    async def worker() -> None:
        nonlocal sent
        for n, chat in todo:  # one iterator shared by the workers: each message is taken once
            try:
                await bot.send_message(chat, f"{args.tag} {n} {chat}", rate_limit_args={"priority": args.priority})
            except Exception as error:  # counted and shown; the exit status says it
                failures.append(f"{n} to {chat}: {error!r}")
            else:
                sent += 1

    try:
        budget.start_reporting(engine, new_key())
        async with bot:  # getMe
            if args.wait:
                print("ready", flush=True)
                await asyncio.to_thread(sys.stdin.readline)
            started = time.monotonic()
            await asyncio.gather(*(worker() for _ in range(args.in_flight)))
            seconds = time.monotonic() - started
    finally:
        await budget.stop()
        await engine.dispose()
        if isinstance(limiter, TracedLimiter):
            args.trace.write_text("".join(json.dumps(row) + "\n" for row in limiter.left))
    return {
        "tag": args.tag,
        "store": budget.store.name,
        "sent": sent,
        "failed": len(failures),
        "failures": failures[:SHOWN_FAILURES],
        "seconds": round(seconds, 3),
        "pauses": budget.pauses,
    }


# ---------------------------------------------------------------------------------------------- the parent's side


@dataclass
class Sender:
    """One sender process started by `start_together`; its log (stderr) goes to `log_path`."""

    process: subprocess.Popen[str]
    log_path: Path

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait(10)


def _ready(sender: Sender, deadline: float) -> None:
    """Wait for the sender's "ready" line (bounded)."""
    stdout = sender.process.stdout
    assert stdout is not None
    while True:
        left = deadline - time.monotonic()
        if left <= 0 or not select.select([stdout], [], [], left)[0]:
            raise RuntimeError(f"a sender was not ready in time:\n{sender.log()}")
        line = stdout.readline()
        if line.strip() == "ready":
            return
        if not line:
            raise RuntimeError(f"a sender exited with {sender.process.wait()} while starting:\n{sender.log()}")


def start_together(
    commands: list[list[str]], workdir: Path, start_timeout: float = 60.0, module: str = "bench.budget_sender"
) -> list[Sender]:
    """Start one sender per argument list, wait until each has its bot ready, then let them all go at once."""
    env = {
        **{k: v for k, v in os.environ.items() if k.upper() not in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY")},
        "NO_PROXY": "127.0.0.1,localhost",
        "PYTHONPATH": str(ROOT),
        "PYTHONUNBUFFERED": "1",
    }
    senders: list[Sender] = []
    try:
        for i, command in enumerate(commands):
            log_path = workdir / f"sender-{i + 1}.log"
            with log_path.open("w") as log:
                process = subprocess.Popen(
                    [sys.executable, "-m", module, *command, "--wait"],
                    cwd=ROOT,
                    env=env,
                    stdin=subprocess.PIPE,
                    stdout=subprocess.PIPE,
                    stderr=log,
                    text=True,
                    start_new_session=True,  # a session each: the kernel's autogroup shares CPU by session
                )
            senders.append(Sender(process, log_path))
        deadline = time.monotonic() + start_timeout
        for sender in senders:
            _ready(sender, deadline)
        for sender in senders:
            assert sender.process.stdin is not None
            sender.process.stdin.write("go\n")
            sender.process.stdin.close()
    except BaseException:
        for sender in senders:
            sender.kill()
        raise
    return senders


def finish(senders: list[Sender], timeout: float) -> list[dict[str, Any]]:
    """Wait for every sender (all within `timeout`; those still running then are killed) and return what each
    printed last; a sender that failed or printed nothing raises, with its log."""
    deadline = time.monotonic() + timeout
    outcomes: list[dict[str, Any]] = []
    try:
        for sender in senders:
            try:
                sender.process.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                raise RuntimeError(f"a sender still ran after {timeout:.0f}s:\n{sender.log()}") from None
            assert sender.process.stdout is not None
            out = sender.process.stdout.read()  # one line: it never fills the pipe while the process runs
            lines = out.strip().splitlines()
            if sender.process.returncode != 0 or not lines:
                raise RuntimeError(
                    f"a sender exited with {sender.process.returncode}: {out.strip()[-2000:]}\n{sender.log()}"
                )
            outcomes.append(json.loads(lines[-1]))
    finally:
        for sender in senders:
            sender.kill()
    return outcomes


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)  # a line per request otherwise
    outcome = asyncio.run(run(args))
    print(json.dumps(outcome), flush=True)
    return 0 if outcome["failed"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
