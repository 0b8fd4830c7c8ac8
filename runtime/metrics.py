"""Prometheus metrics of this process (prometheus-client), served at /metrics in webhook mode.

One registry per process; each webhook process is scraped on its own port (docs/deploy.md). The names follow
Prometheus' conventions: `_total` for counters, `_seconds` for durations. Nothing here carries a chat id, a name
or any text an agent wrote: labels are handler names, kinds and outcomes only.
"""

from __future__ import annotations

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, Histogram, generate_latest

from bot.scheduler import OUTCOMES, SweepReport
from bot.statuses import SEND_PRIORITIES, DeliveryKind

REGISTRY = CollectorRegistry(auto_describe=True)

# Buckets for one update's handling and one sweep: milliseconds matter, seconds are a problem.
_FAST = (0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)

UPDATES = Counter(
    "agentcoach_updates_total",
    "Updates from Telegram handled, by handler and outcome (ok, error, duplicate, refused)",
    ["handler", "outcome"],
    registry=REGISTRY,
)
UPDATE_SECONDS = Histogram(
    "agentcoach_update_seconds",
    "Time to handle one update, replies included",
    ["handler"],
    buckets=_FAST,
    registry=REGISTRY,
)
DELIVERIES = Counter(
    "agentcoach_deliveries_total",
    "Claimed deliveries by kind and how their sweep ended: sent, retried (back to pending), failed, held (agent "
    "blocked the bot), cancelled (nothing to send any more), taken_over (another sweep had it)",
    ["kind", "outcome"],
    registry=REGISTRY,
)
SWEEP_SECONDS = Histogram(
    "agentcoach_sweep_seconds",
    "Duration of one engine sweep (claim, render, send, confirm)",
    buckets=_FAST,
    registry=REGISTRY,
)
SENDS = Counter(
    "agentcoach_sends_total",
    "Messages (and edits) this process sent through the deployment's send budget, by priority: reply (to what an "
    "agent just did), nudge (a follow-up at its time), recurring (prompts, daily tips), bulk (digests, broadcasts)",
    ["priority"],
    registry=REGISTRY,
)
BUDGET_WAITING = Gauge(
    "agentcoach_budget_waiting",
    "Sends of this process waiting for the send budget now (the queue's depth), by priority",
    ["priority"],
    registry=REGISTRY,
)
BUDGET_WAIT_SECONDS = Histogram(
    "agentcoach_budget_wait_seconds",
    "Time one send waited for the send budget (its priority's turn, the pace, the chat's second, a pause)",
    ["priority"],
    buckets=(*_FAST, 30.0, 60.0),
    registry=REGISTRY,
)
BUDGET_PAUSES = Counter(
    "agentcoach_budget_pauses_total",
    "RetryAfter pauses this process wrote to the deployment's send budget (every process stops for them)",
    registry=REGISTRY,
)
RETRY_AFTER = Counter(
    "agentcoach_retry_after_total",
    "429 Too Many Requests answers from Telegram (RetryAfter)",
    registry=REGISTRY,
)


# Every series exists from the start at 0, so a rate over the first minutes is right and a dashboard has no holes.
for _kind in DeliveryKind:
    for _outcome in OUTCOMES:
        DELIVERIES.labels(_kind, _outcome)
for _priority in SEND_PRIORITIES:
    SENDS.labels(_priority)
    BUDGET_WAITING.labels(_priority)
    BUDGET_WAIT_SECONDS.labels(_priority)


def count_deliveries(report: SweepReport) -> None:
    """A sweep's outcomes, by kind (the engine counts them; it does not know this module)."""
    for (kind, outcome), count in report.by_kind.items():
        DELIVERIES.labels(kind, outcome).inc(count)


def exposition() -> tuple[bytes, str]:
    """The metrics in Prometheus' text format, and its content type."""
    return generate_latest(REGISTRY), CONTENT_TYPE_LATEST
