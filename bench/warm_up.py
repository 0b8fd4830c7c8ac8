"""A realistic warm-up for the memory reading: every kind of reply sent once, in each language, by the real handlers.

Memory read right after start misses what the first day of use loads for good: Babel's locale data at the first
formatted date (~4.3 MiB), each language's catalogs, the time parsers, python-docx at the first weekly summary.
`warm_up` plays three new agents, one per language (zh-Hans, en, zh-Hant), through `runtime.local_api.LocalChat`
on a second Application that shares the served bot's `Services` (its database engine and sessions, its caches):
onboarding, every command, the first button of each answer, a client, a follow-up typed with a time phrase and
confirmed, free text, a sticker. Then it makes their waiting deliveries due (follow-up nudge, daily tip,
reflection prompt, weekly digest) and waits until the served bot's own engine has sent them (to the emulator),
so the scheduled kinds are rendered and sent once each too.

The agents are the `WARM_UP_USERS`; `forget` removes them and everything of theirs afterwards (the bench's seeded
ids must stay free).
"""

from __future__ import annotations

import asyncio
import gc
import time
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import delete, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bench.children import memory_kib, mib
from bot.models import Agent, ConversationState, Delivery
from bot.scheduler import CLAIMED, PENDING, SENDING

WARM_UP_USERS = (990_000_001, 990_000_002, 990_000_003)
SCHEDULED_WAIT_S = 120.0  # a digest draws its chart in a spawned worker: slow to start on a loaded machine


@dataclass(frozen=True)
class Script:
    """What one agent types in one language."""

    telegram_language: str
    language_button: str
    client: str
    follow_up: str
    free_text: str


SCRIPTS = (
    Script("zh-hans", "简体中文", "/client 王先生 13800138000 三居 预算300万", "/followup 王先生 明天下午3点 带看新房",
           "明天上午10点给王先生打电话"),
    Script("en", "English", "/client Lee 13800138000 three bedrooms", "/followup Lee tomorrow 3pm viewing",
           "call Lee tomorrow at 10am"),
    Script("zh-hant", "繁體中文", "/client 陳先生 13800138000 三房 預算300萬", "/followup 陳先生 明天下午3點 帶看新房",
           "明天上午10點給陳先生打電話"),
)  # fmt: skip
COMMANDS = (
    "/help",
    "/settings",
    "/tip",
    "/topics",
    "/saved",
    "/clients",
    "/today",
    "/overdue",
    "/reflect",
    "/journal",
    "/digest",
    "/summary",
    "/nope",
    "/cancel",
)


@dataclass
class WarmUp:
    """What the warm-up did: actions taken, actions the bot answered with nothing, scheduled messages sent."""

    actions: int = 0
    silent: list[str] = field(default_factory=list)
    scheduled_sent: int = 0
    scheduled_left: int = 0
    seconds: float = 0.0
    # RSS (MiB) after each language's replies and after the scheduled kinds: where the memory comes from.
    rss_steps: dict[str, float] = field(default_factory=dict)


async def warm_up(services: Any) -> WarmUp:
    """Every kind of reply once per language through the real handlers, then every scheduled kind once."""
    from runtime.app import build_application, prepare
    from runtime.local_api import LocalBotAPI, LocalChat

    started = time.perf_counter()
    done = WarmUp()
    api = LocalBotAPI()
    app = build_application(services, token="1:WARM-UP", request=api)
    async with app:
        await prepare(app)
        for user_id, script in zip(WARM_UP_USERS, SCRIPTS, strict=True):
            chat = LocalChat(app, api, user_id=user_id, first_name="Warm", language_code=script.telegram_language)
            await _converse(chat, script, done)
            done.rss_steps[script.telegram_language] = _rss_mib()
    await _send_scheduled(services.sessions, services.clock.now(), done)
    done.rss_steps["scheduled"] = _rss_mib()
    done.seconds = round(time.perf_counter() - started, 1)
    return done


def _rss_mib() -> float:
    gc.collect()
    return mib(memory_kib()["VmRSS"])


async def _converse(chat: Any, script: Script, done: WarmUp) -> None:
    await _act(chat.send("/start"), "/start", done)
    await _act(chat.press(script.language_button), "language", done)
    # The rest of onboarding as tests/handlers/test_onboarding.py answers it: a city, the reflection time, the
    # work days as offered, the digest's day and time, the daily tip's time (times read the same in every language).
    for label in (1, "21:30", -1, 2, "20:00", "08:30"):
        shown = chat.last_with_buttons()
        if shown is None:
            done.silent.append(f"onboarding stopped before {label}")
            break
        await _act(chat.press(shown.labels[label] if isinstance(label, int) else label, on=shown), "onboarding", done)
    for text in (script.client, script.follow_up, *COMMANDS, script.free_text):
        reply = await _act(chat.send(text), text.split()[0], done)
        if reply is not None and reply.sent and reply.last.buttons:
            await _act(chat.press(reply.last.labels[0], on=reply.last), f"{text.split()[0]} button", done)
    await _act(chat.send_sticker(), "sticker", done)


async def _act(action: Any, what: str, done: WarmUp) -> Any:
    """One action of the agent; a button that went stale or an answer with nothing shown is noted, not fatal."""
    done.actions += 1
    try:
        reply = await action
    except (LookupError, AssertionError) as error:
        done.silent.append(f"{what}: {error}")
        return None
    if not reply.sent and not reply.edited and reply.toast is None:
        done.silent.append(what)
    return reply


async def _agent_ids(session: AsyncSession) -> list[int]:
    found = await session.execute(select(Agent.id).where(Agent.telegram_user_id.in_(WARM_UP_USERS)))
    return list(found.scalars())


async def _send_scheduled(sessions: async_sessionmaker[AsyncSession], now: Any, done: WarmUp) -> None:
    """The warm-up agents' waiting deliveries due now; the served bot's engine (ticking each second) sends them."""
    async with sessions() as session, session.begin():
        agents = await _agent_ids(session)
        result = await session.execute(
            update(Delivery)
            .where(Delivery.agent_id.in_(agents), Delivery.status == PENDING)
            .values(due_at=now, lease_until=None)
        )
        waiting = int(getattr(result, "rowcount", 0) or 0)
    deadline = time.monotonic() + SCHEDULED_WAIT_S
    left = waiting
    while left and time.monotonic() < deadline:
        await asyncio.sleep(0.5)
        async with sessions() as session:
            left = int(
                (
                    await session.execute(
                        select(func.count())
                        .select_from(Delivery)
                        .where(
                            Delivery.agent_id.in_(agents),
                            Delivery.status.in_((PENDING, CLAIMED, SENDING)),
                            Delivery.due_at <= now,
                        )
                    )
                ).scalar_one()
            )
    done.scheduled_sent, done.scheduled_left = waiting - left, left


async def forget(sessions: async_sessionmaker[AsyncSession]) -> int:
    """Remove the warm-up agents and everything of theirs (cascades), and their chats' conversation state."""
    async with sessions() as session, session.begin():
        agents = await _agent_ids(session)
        await session.execute(delete(ConversationState).where(ConversationState.chat_id.in_(WARM_UP_USERS)))
        await session.execute(delete(Agent).where(Agent.id.in_(agents)))
    return len(agents)
