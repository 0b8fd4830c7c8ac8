"""/export and /delete_me: an agent takes all of their data out, or erases it.

/export sends two documents: the JSON file with everything and the CSV client list (bot/export.py), each with a
short caption. An agent with nothing yet gets the same two files, with empty lists.

/delete_me lists what would be erased (bot/erasure.py) and waits for the agent to TYPE the word — 删除, 刪除 or
DELETE, whichever their language shows, each accepted in any language and case — a deliberate act, not one tap.
The question waits in the conversation state, so a restart between it and the answer changes nothing. Anything
else typed cancels and changes nothing; so does /cancel, and the word typed more than `CONFIRM_WITHIN` after the
question (a forgotten question must not turn a later message into an erasure). On the word, everything is erased
in the update's transaction, and the answer saying what was is sent after the commit (handlers.context.Turn).
Writing again afterwards is a first contact: onboarding from the start.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Final

from telegram import Update
from telegram.ext import ContextTypes

from bot.conversations import DeleteStep, Flow, Waiting, stop_waiting, wait_for
from bot.erasure import Holdings, erase_agent, holdings
from bot.export import export_agent
from bot.i18n import Html
from bot.statuses import TeamRole
from handlers.context import Turn, turn

FLOW = Flow.DELETE_ME
# The words that confirm, compared case-insensitively after trimming (data.delete.word shows the agent's own).
CONFIRM_WORDS: Final = frozenset({"删除", "刪除", "delete"})
CONFIRM_WITHIN: Final = timedelta(minutes=15)


async def export(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """/export: the JSON file and the CSV client list, as documents."""
    async with turn(update, context) as tn:
        files = await export_agent(tn.session, tn.agent, tn.now)
        tn.send_document(files.json_bytes, files.json_name, tn.t("data.export.json"))
        tn.send_document(files.csv_bytes, files.csv_name, tn.t("data.export.csv", count=files.clients))


async def delete_me(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """/delete_me: what would be erased, and the word to type."""
    async with turn(update, context) as tn:
        found = await holdings(tn.session, tn.agent)
        asked = Waiting(FLOW, DeleteStep.CONFIRM, {"asked_at": tn.now.isoformat()})
        await wait_for(tn.session, tn.agent.chat_id, asked, tn.now)
        tn.send(tn.t("data.delete.ask", what=Html(listing(tn, found)), word=tn.t("data.delete.word")))


async def answer_text(tn: Turn, _update: Update, _context: ContextTypes.DEFAULT_TYPE, waiting: Waiting) -> None:
    """The typed answer to /delete_me's question: the word erases everything, anything else cancels."""
    await stop_waiting(tn.session, tn.agent.chat_id)
    if not confirms(tn.typed):
        tn.send(tn.t("data.delete.cancelled"))
        return
    asked = _asked_at(waiting.data)
    if waiting.step != DeleteStep.CONFIRM or asked is None or not tn.now - CONFIRM_WITHIN <= asked <= tn.now:
        tn.send(tn.t("data.delete.expired"))
        return
    erased = await erase_agent(tn.session, tn.agent)
    tn.send(tn.t("data.delete.done", what=Html(listing(tn, erased))))


def confirms(typed: str) -> bool:
    return typed.strip().casefold() in CONFIRM_WORDS


def _asked_at(data: dict[str, object]) -> datetime | None:
    try:
        asked = datetime.fromisoformat(str(data["asked_at"]))
    except (KeyError, ValueError):
        return None
    return asked if asked.tzinfo is not None else None


def listing(tn: Turn, found: Holdings) -> str:
    """One line per kind of thing the agent has (those they have none of are left out), profile first."""
    lines = [tn.t("data.count.profile")]
    counted = (
        ("data.count.clients", found.clients),
        ("data.count.contacts", found.contacts),
        ("data.count.follow_ups", found.follow_ups),
        ("data.count.showing_reviews", found.showing_reviews),
        ("data.count.reflections", found.reflections),
        ("data.count.tips", found.tips),
        ("data.count.scheduled", found.scheduled),
    )
    lines += [tn.t(key, count=count) for key, count in counted if count]
    if found.team is not None:
        key = "data.count.team.lead" if found.team_role == TeamRole.LEAD else "data.count.team.member"
        lines.append(tn.t(key, team=found.team))
    return "\n".join(lines)
