"""Questions asked before a client is registered, so nothing odd is saved silently and nothing typed is lost.

A name that reads like a sentence (`/client 客户很在意学区和地铁，预算有限…`) gets "这是客户的名字吗？": ✅ yes
registers it as typed; ✍️ no keeps the sentence as the needs and asks for the name. A name one of the agent's
active clients already has gets "已有同名客户 王先生（138…，意向），仍然添加？": ➕ adds the client as typed,
👤 opens the one already there. Until a button answers, the draft waits in the conversation state (typed text
meanwhile is told to use the buttons) and nothing is saved.
"""

from __future__ import annotations

from dataclasses import dataclass

from bot.clients import (
    ClientDraft,
    add_client,
    as_needs,
    client_called,
    draft_data,
    draft_from,
    format_phone,
    looks_like_sentence,
)
from bot.conversations import ClientStep, Waiting, stop_waiting, wait_for, waiting_for
from bot.i18n import Html
from bot.models import Client
from handlers.clients.card import card
from handlers.clients.details import ask_next_detail
from handlers.clients.navigation import FLOW, PREFIX, stage_name
from handlers.context import Turn
from handlers.keyboards import Choice, button, layout

ACTION = "reg"


SENTENCE, SAME = "sentence", "same"


# cl:reg:<answer>: ➕ add anyway (to SAME), ✅ it is the name / ✍️ it is not (to SENTENCE).
ANSWER = layout(PREFIX, ACTION, Choice("add", "name", "notname"))
QUESTION_OF = {"add": SAME, "name": SENTENCE, "notname": SENTENCE}


@dataclass(frozen=True)
class Pending:
    """A client waiting for the answer to a question: the draft, the line as typed, which question is open, the
    ones already answered, and whether it came by the guided flow (then the details are asked next)."""

    draft: ClientDraft
    line: str
    asked: str
    passed: tuple[str, ...]
    guided: bool

    def data(self) -> dict[str, object]:
        return {
            "draft": draft_data(self.draft),
            "line": self.line,
            "asked": self.asked,
            "passed": list(self.passed),
            "guided": self.guided,
        }

    @classmethod
    def read(cls, waiting: Waiting | None) -> Pending | None:
        """The pending client a waiting question holds, or None (no question, or data of another version)."""
        if waiting is None or (waiting.flow, waiting.step) != (FLOW, ClientStep.CONFIRM):
            return None
        data = waiting.data
        draft, line, asked, passed = (
            draft_from(data.get("draft")),
            data.get("line"),
            data.get("asked"),
            data.get("passed"),
        )
        if draft is None or not isinstance(line, str) or asked not in (SENTENCE, SAME) or not isinstance(passed, list):
            return None
        return cls(draft, line, str(asked), tuple(str(p) for p in passed), data.get("guided") is True)


async def register(
    tn: Turn, draft: ClientDraft, *, line: str, guided: bool, passed: tuple[str, ...] = ()
) -> Client | None:
    """Register the draft, unless a question must be answered first (then None: it waits for the answer)."""
    if SENTENCE not in passed and looks_like_sentence(draft.name):
        await ask(tn, Pending(draft, line, SENTENCE, passed, guided))
        yes = button(tn.t("clients.button.is_name"), PREFIX, ACTION, "name")
        no = button(tn.t("clients.button.not_name"), PREFIX, ACTION, "notname")
        tn.send(tn.t("clients.ask_is_name", name=draft.name), [[yes, no]])
        return None
    if SAME not in passed and (existing := await client_called(tn.session, tn.agent.id, draft.name)) is not None:
        await ask(tn, Pending(draft, line, SAME, passed, guided))
        add = button(tn.t("clients.button.add_anyway"), PREFIX, ACTION, "add")
        open_it = button(
            tn.t("clients.button.open_existing", name=Html(existing.name)), PREFIX, "card", existing.id, "new"
        )
        stage = stage_name(tn, existing.stage)
        if existing.phone:
            text = tn.t("clients.same_name_phone", name=existing.name, phone=format_phone(existing.phone), stage=stage)
        else:
            text = tn.t("clients.same_name", name=existing.name, stage=stage)
        tn.send(text, [[add, open_it]])
        return None
    client = await add_client(tn.session, tn.agent.id, draft, tn.now)
    if guided:
        tn.send(tn.t("clients.name_saved", name=client.name))
        await ask_next_detail(tn, client, after=None)
    else:
        await stop_waiting(tn.session, tn.agent.chat_id)
        text, rows = await card(tn, client)
        tn.send(tn.t("clients.added", card=Html(text)), rows)
    return client


async def ask(tn: Turn, pending: Pending) -> None:
    await wait_for(tn.session, tn.agent.chat_id, Waiting(FLOW, ClientStep.CONFIRM, pending.data()), tn.now)


async def on_answer(tn: Turn) -> None:
    """A button of the open question; one of a question already answered (or never asked) is stale."""
    fields = tn.pressed(ANSWER)
    if fields is None:
        return
    _, answer = fields
    pending = Pending.read(await waiting_for(tn.session, tn.agent.chat_id))
    if pending is None or pending.asked != QUESTION_OF[answer]:
        tn.refuse()
        return
    question = tn.query.message if tn.query is not None else None
    if question is not None and getattr(question, "reply_markup", None):
        tn.edit_buttons(None)  # answered: its buttons are spent
    if answer == "notname":
        kept = as_needs(pending.draft, pending.line)
        data = {"pending": draft_data(kept), "guided": pending.guided}
        await wait_for(tn.session, tn.agent.chat_id, Waiting(FLOW, ClientStep.NAME, data), tn.now)
        tn.send(tn.t("clients.ask_real_name"))
        return
    await register(tn, pending.draft, line=pending.line, guided=pending.guided, passed=(*pending.passed, pending.asked))


def answer_typed(tn: Turn) -> None:
    """Typed text while a question waits for its buttons: say so; the question and its draft stay."""
    tn.send(tn.t("clients.answer_with_buttons"))
