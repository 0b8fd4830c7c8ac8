"""The guided flow's optional questions after the name: phone, needs, budget, each skippable, then the card."""

from __future__ import annotations

from bot.conversations import ClientStep, Waiting, stop_waiting, wait_for
from bot.i18n import Html
from bot.models import Client
from handlers.clients.card import card
from handlers.clients.navigation import FLOW, PREFIX
from handlers.context import Turn
from handlers.keyboards import button

# The guided flow's optional questions, in the order asked.
DETAIL_STEPS = (ClientStep.PHONE, ClientStep.NEEDS, ClientStep.BUDGET)


async def ask_next_detail(tn: Turn, client: Client, after: str | None) -> None:
    """Ask the next detail still empty; when none is left, show the card."""
    following = DETAIL_STEPS[DETAIL_STEPS.index(after) + 1 :] if after in DETAIL_STEPS else DETAIL_STEPS
    for step in following:
        if getattr(client, step) is None:
            await wait_for(tn.session, tn.agent.chat_id, Waiting(FLOW, step, {"client_id": client.id}), tn.now)
            skip = button(tn.t("clients.button.skip"), PREFIX, "skip", client.id, step)
            tn.send(tn.t(f"clients.ask_{step}", name=client.name), [[skip]])
            return
    await stop_waiting(tn.session, tn.agent.chat_id)
    text, rows = await card(tn, client)
    tn.send(tn.t("clients.added", card=Html(text)), rows)
