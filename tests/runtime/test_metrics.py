"""Prometheus metrics as a scrape reads them: what the sweep tick counts by kind and outcome, the sends by priority
(reply, nudge, recurring, bulk), Telegram's 429s and the pauses they cause, the sweep's duration, in the exposition
text that /metrics serves.

The registry belongs to the process, so each test compares the counters before and after what it does.
"""

from __future__ import annotations

from datetime import timedelta

from prometheus_client.parser import text_string_to_metric_families
from telegram.ext import CallbackContext

from runtime.delivery import sweep_tick
from runtime.metrics import exposition
from tests.handlers.test_onboarding import onboard
from tests.support import Harness, hold_back_other_kinds

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def scrape() -> Samples:
    """Every sample of the exposition text, by name and labels, parsed as a scraper parses it."""
    body, content_type = exposition()
    assert content_type.startswith("text/plain")
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(body.decode())
        for sample in family.samples
    }


def change(before: Samples, after: Samples, name: str, **labels: str) -> float:
    key = (name, frozenset(labels.items()))
    assert key in after, f"{name}{labels} is not in the exposition"
    return after[key] - before.get(key, 0.0)


async def agents_with_a_due_nudge(harness: Harness, count: int) -> None:
    """`count` onboarded agents with a follow-up each, due in two hours; the clock moved there."""
    for n in range(count):
        chat = harness.chat(user_id=3000 + n, first_name=f"A{n}")
        await onboard(chat)
        await chat.send("/client 王先生 13800138000")
        await chat.send("/followup 王先生 in 2 hours 回电话")
        await chat.press("✅ 确认")
    await hold_back_other_kinds(harness, "followup")
    harness.clock.advance(timedelta(hours=2))


async def test_a_sweep_counts_its_deliveries_by_kind_and_outcome(harness: Harness) -> None:
    await agents_with_a_due_nudge(harness, 3)
    harness.api.fail_next("sendMessage", 400, "Bad Request: can't parse entities")
    before = scrape()
    await sweep_tick(CallbackContext(harness.app))
    after = scrape()

    assert change(before, after, "agentcoach_deliveries_total", kind="followup", outcome="sent") == 2
    assert change(before, after, "agentcoach_deliveries_total", kind="followup", outcome="failed") == 1
    for outcome in ("retried", "held", "cancelled", "taken_over"):
        assert change(before, after, "agentcoach_deliveries_total", kind="followup", outcome=outcome) == 0
    assert change(before, after, "agentcoach_deliveries_total", kind="digest", outcome="sent") == 0
    assert change(before, after, "agentcoach_sends_total", priority="nudge") == 2
    for other in ("reply", "recurring", "bulk"):
        assert change(before, after, "agentcoach_sends_total", priority=other) == 0
    assert change(before, after, "agentcoach_sweep_seconds_count") >= 1
    assert change(before, after, "agentcoach_retry_after_total") == 0


async def test_replies_count_as_replies(harness: Harness) -> None:
    chat = harness.chat(user_id=3100)
    before = scrape()
    await chat.send("/help")
    after = scrape()
    assert change(before, after, "agentcoach_sends_total", priority="reply") == 1
    assert change(before, after, "agentcoach_sends_total", priority="nudge") == 0


async def test_a_429_is_counted_and_the_delivery_retried(harness: Harness) -> None:
    await agents_with_a_due_nudge(harness, 1)
    harness.api.fail_next("sendMessage", 429, "Too Many Requests: retry after 1", retry_after=1)
    before = scrape()
    await sweep_tick(CallbackContext(harness.app))
    after = scrape()
    assert change(before, after, "agentcoach_retry_after_total") == 1
    assert change(before, after, "agentcoach_deliveries_total", kind="followup", outcome="retried") == 1
    assert change(before, after, "agentcoach_sends_total", priority="nudge") == 0
    assert change(before, after, "agentcoach_budget_pauses_total") == 1
