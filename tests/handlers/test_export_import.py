"""Export, then import: the CSV /export sends is a file /import takes (issue 15's round trip).

An agent's own export imported back changes nothing; imported by a new agent (a colleague taking over, or the
same person after /delete_me), it gives the same clients with the same details, and importing it a second time
changes nothing again. Runs on both databases, with and without encryption at rest.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import func, select

from bot.clients import log_contact
from bot.models import Agent, Client, ContactLog
from bot.statuses import ContactKind
from tests.conftest import TEST_KEY
from tests.handlers.test_client_import import import_file
from tests.handlers.test_data import NEEDS_A, NOTE_A, A, exported, seed_a
from tests.handlers.test_onboarding import onboard
from tests.support import Harness

C = 3003

pytestmark = pytest.mark.parametrize("data_key", [None, TEST_KEY], indirect=True, ids=["plain", "encrypted"])

DETAILS = ("name", "phone", "needs", "budget", "source", "stage", "notes", "archived")


async def clients_of(harness: Harness, user_id: int) -> list[dict[str, Any]]:
    """Each client's details (as the agent sees them, decrypted) and how many contacts are logged for them."""
    async with harness.services.sessions() as session:
        agent = (await session.execute(select(Agent).where(Agent.telegram_user_id == user_id))).scalar_one()
        clients = (await session.execute(select(Client).where(Client.agent_id == agent.id))).scalars().all()
        found = []
        for client in clients:
            contacts = await session.scalar(select(func.count()).where(ContactLog.client_id == client.id))
            found.append({**{field: getattr(client, field) for field in DETAILS}, "contacts": contacts})
    return sorted(found, key=lambda client: str(client["name"]))


async def test_an_agents_own_export_imported_back_changes_nothing(harness: Harness) -> None:
    seeded = await seed_a(harness)
    # A contact logged at a time with seconds: the CSV writes minutes, and that is still the same contact.
    async with harness.services.sessions() as session, session.begin():
        agent = (await session.execute(select(Agent).where(Agent.telegram_user_id == A))).scalar_one()
        clients = (await session.execute(select(Client).where(Client.agent_id == agent.id))).scalars()
        (wang,) = [client for client in clients if client.name == "王先生"]  # names may be encrypted: not in SQL
        at = harness.clock.now().replace(second=42, microsecond=123456) - timedelta(minutes=5)
        await log_contact(session, wang, ContactKind.VISIT, "上门", at)
    before = await clients_of(harness, A)
    *_, csv_bytes = await exported(harness, seeded.chat)
    preview = await seeded.chat.send_document("agentcoach-clients.csv", csv_bytes)
    assert "✔️ 已有且无需改动 2 位" in preview.texts[0], preview.texts
    assert await clients_of(harness, A) == before


async def test_a_new_agent_importing_the_export_gets_the_same_clients_once(harness: Harness) -> None:
    seeded = await seed_a(harness)
    *_, csv_bytes = await exported(harness, seeded.chat)
    mine = await clients_of(harness, A)
    colleague = harness.chat(user_id=C, first_name="小陈")
    await onboard(colleague)
    answer = await import_file(colleague, "agentcoach-clients.csv", csv_bytes)
    assert "➕ 新客户 2 位" in answer
    theirs = await clients_of(harness, C)
    details = [{field: client[field] for field in DETAILS} for client in theirs]
    assert details == [{field: client[field] for field in DETAILS} for client in mine]
    assert {client["notes"] for client in theirs} >= {NOTE_A}  # commas, quotes, a newline and emoji intact
    assert {client["needs"] for client in theirs} >= {NEEDS_A}
    # The last contact comes over as one logged contact for each client who had any.
    assert [client["contacts"] for client in theirs] == [1 if client["contacts"] else 0 for client in mine]
    again = await colleague.send_document("agentcoach-clients.csv", csv_bytes)
    assert "没有要新增或更新的客户" in "\n".join(again.texts), again.texts
    assert await clients_of(harness, C) == theirs
    assert await clients_of(harness, A) == mine  # the exporting agent is untouched
