"""Test helpers: the running bot, and the audit that every text the bot shows comes from the catalogs."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from functools import cache

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.agents import find_agent
from bot.clock import ManualClock
from bot.config import Settings
from bot.conversations import Waiting, waiting_for
from bot.db import session_factory
from bot.i18n import LANGUAGES, Catalog
from bot.models import Agent
from bot.preferences import weekday_name
from handlers.context import Services
from handlers.replies import MESSAGE_LIMIT, split_html
from runtime.app import LOCAL_TOKEN, AgentApplication, build_application, prepare
from runtime.delivery import engine_of
from runtime.local_api import LocalBotAPI, LocalChat

# Text with no letters of any script (times like 21:30, digits, emoji, punctuation) says nothing in a language.
_LANGUAGE_NEUTRAL = re.compile(r"^[\W\d_]*$")


@cache
def _day_names() -> frozenset[str]:
    return frozenset(weekday_name(day, lang) for lang in LANGUAGES for day in range(1, 8))


class RenderedTexts:
    """Records every string the catalogs render, by wrapping Catalog.text for the duration of a test."""

    def __init__(self) -> None:
        self.seen: set[str] = set()

    def install(self, monkeypatch: pytest.MonkeyPatch) -> None:
        original = Catalog.text

        def recording(catalog_: Catalog, language: str, key: str, /, **values: object) -> str:
            rendered = original(catalog_, language, key, **values)
            self.seen.add(rendered)
            return rendered

        monkeypatch.setattr(Catalog, "text", recording)
        # The draft weekly summary is written from its own templates (content/summary/), not the catalogs.
        from bot import weekly_summary

        drafting = weekly_summary.as_messages

        def drafted(draft: weekly_summary.Draft, limit: int = MESSAGE_LIMIT) -> list[str]:
            parts = drafting(draft, limit)
            self.seen.update(parts)
            return parts

        monkeypatch.setattr(weekly_summary, "as_messages", drafted)

    def accepts(self, text: str) -> bool:
        """A rendered catalog message (or one part of one too long for a single message), a CLDR weekday name,
        or text without words (times, emoji)."""
        if text in self.seen or any(text in split_html(seen) for seen in self.seen if len(seen) > MESSAGE_LIMIT):
            return True
        text = text.removeprefix("✓ ")  # the selection mark on a button
        if bool(_LANGUAGE_NEUTRAL.match(text)) or text in _day_names() or text in self.seen:
            return True
        # A message put together from rendered lines (the digest's caption), each of them from the catalogs.
        lines = [line for line in text.split("\n") if line]
        return len(lines) > 1 and all(self.accepts(line) for line in lines)


@dataclass
class Harness:
    app: AgentApplication
    api: LocalBotAPI
    services: Services
    clock: ManualClock
    rendered: RenderedTexts

    def chat(self, user_id: int = 1001, first_name: str = "小王", language_code: str | None = "zh-hans") -> LocalChat:
        return LocalChat(self.app, self.api, user_id=user_id, first_name=first_name, language_code=language_code)

    async def agent(self, user_id: int = 1001) -> Agent:
        async with self.services.sessions() as session:
            agent = await find_agent(session, user_id)
        assert agent is not None, f"no agent for user {user_id}"
        return agent

    async def agents(self) -> list[Agent]:
        async with self.services.sessions() as session:
            return list((await session.execute(select(Agent))).scalars())

    async def waiting(self, chat_id: int = 1001) -> Waiting | None:
        async with self.services.sessions() as session:
            return await waiting_for(session, chat_id)

    async def restart(self) -> Harness:
        """A new process: a fresh Application and Bot API state over the same database."""
        await engine_of(self.app).stop()
        await self.app.shutdown()
        api = LocalBotAPI()
        app = build_application(self.services, token=LOCAL_TOKEN, request=api)
        await app.initialize()
        self.app, self.api = app, api
        return self

    def assert_all_text_from_catalogs(self) -> None:
        """Fail on any message or button text the bot sent that the catalogs did not render."""
        for method, raw, buttons in self.api.sent_texts():
            if raw:
                assert self.rendered.accepts(raw), f"{method} sent text that is not from the catalogs: {raw!r}"
            for row in buttons:
                for label, _ in row:
                    assert self.rendered.accepts(label), f"{method} sent a button not from the catalogs: {label!r}"


@asynccontextmanager
async def start_harness(
    engine: AsyncEngine, clock: ManualClock, settings: Settings, rendered: RenderedTexts
) -> AsyncIterator[Harness]:
    services = Services(settings, session_factory(engine), clock)
    api = LocalBotAPI()
    app = build_application(services, token=LOCAL_TOKEN, request=api)
    await app.initialize()
    await prepare(app)
    harness = Harness(app, api, services, clock, rendered)
    try:
        yield harness
    finally:
        await engine_of(harness.app).stop()
        await harness.app.shutdown()


async def hold_back_other_kinds(harness: Harness, *kinds: str) -> None:
    """Cancel what is waiting of every delivery kind but `kinds`, for tests that count one kind per sweep (the
    daily tip and the reflection prompt have tests of their own)."""
    from sqlalchemy import update

    from bot.models import Delivery

    async with harness.services.sessions() as session, session.begin():
        await session.execute(
            update(Delivery).where(Delivery.status == "pending", Delivery.kind.not_in(kinds)).values(status="cancelled")
        )
