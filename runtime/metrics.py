"""Prometheus metrics of this process (prometheus-client), served at /metrics in webhook mode.

One registry per process; each webhook process is scraped on its own port (docs/deploy.md). The names follow
Prometheus' conventions: `_total` for counters, `_seconds` for durations. Nothing here carries a chat id, a name
or any text an agent wrote: labels are handler names, kinds and outcomes only.
"""

from __future__ import annotations

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram, generate_latest

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
    "Scheduled deliveries finished by the engine, by kind and outcome (sent, retried, failed, held, cancelled)",
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
    "Messages sent to Telegram by this process, by priority (reply, scheduled)",
    ["priority"],
    registry=REGISTRY,
)
RETRY_AFTER = Counter(
    "agentcoach_retry_after_total",
    "429 Too Many Requests answers from Telegram (RetryAfter)",
    registry=REGISTRY,
)


def exposition() -> tuple[bytes, str]:
    """The metrics in Prometheus' text format, and its content type."""
    return generate_latest(REGISTRY), CONTENT_TYPE_LATEST
