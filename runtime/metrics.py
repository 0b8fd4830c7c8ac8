"""Prometheus metrics of this process (prometheus-client), served at /metrics in webhook mode.

One registry per process; each webhook process is scraped on its own port (docs/deploy.md). The names follow
Prometheus' conventions: `_total` for counters, `_seconds` for durations. Nothing here carries a chat id, a name
or any text an agent wrote: labels are handler names, kinds and outcomes only.
"""

from __future__ import annotations

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram, generate_latest

from bot.scheduler import OUTCOMES, SweepReport
from bot.statuses import DeliveryKind

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
    "Messages to chats Telegram accepted from this process, by priority: reply (to what an agent just did) or "
    "scheduled (the engine's)",
    ["priority"],
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
for _priority in ("reply", "scheduled"):
    SENDS.labels(_priority)


def count_send(*, scheduled: bool) -> None:
    """A message to a chat that Telegram accepted: one of the engine's, or a reply."""
    SENDS.labels("scheduled" if scheduled else "reply").inc()


def count_deliveries(report: SweepReport) -> None:
    """A sweep's outcomes, by kind (the engine counts them; it does not know this module)."""
    for (kind, outcome), count in report.by_kind.items():
        DELIVERIES.labels(kind, outcome).inc(count)


def exposition() -> tuple[bytes, str]:
    """The metrics in Prometheus' text format, and its content type."""
    return generate_latest(REGISTRY), CONTENT_TYPE_LATEST
