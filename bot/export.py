"""Everything of one agent as two files they can keep: a JSON document and a CSV of their clients.

The JSON document (`schema` "agentcoach.export", `version` 1, docs/export.md field by field) holds the profile and
settings, every client with its contact log, follow-ups and showing reviews, the reflections (texts and voice file
ids), what the agent did with tips, the deliveries still waiting, and the team they are in (its name and their role
only).
Instants are ISO 8601 in UTC ("…Z"); times of day and days are the agent's own, in the zone the document names.

The CSV is the client list as Excel and WPS open it by double-click with Chinese intact: UTF-8 with a BOM, CRLF
rows, every field quoted when needed. One row per client, so it reads as a client list and imports back through
/import as it is (bot.client_import maps the same headers); the contact log is summarised in one cell, a line per
entry. The headers are always the Simplified Chinese ones of `CSV_HEADERS`, in every language, because they are
the interchange format brokerages' ERPs and /import read; the values (stages, contact kinds) are in the agent's
language.

Everything is read through the ORM (so encrypted columns come back in clear) and only by the agent's id, and
every list has a fixed order, so the same data always gives the same bytes.
"""

from __future__ import annotations

import asyncio
import csv
import io
import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, time
from typing import Any, Final

from sqlalchemy import ColumnElement, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import InstrumentedAttribute

from bot.history import stage_move
from bot.i18n import t
from bot.models import (
    WAITING_STATUSES,
    Agent,
    Base,
    Client,
    ContactLog,
    Delivery,
    FollowUp,
    Reflection,
    ShowingReview,
    Team,
    TeamMember,
    TipState,
)
from bot.statuses import CONTACT_KINDS, STAGES, ClientEvent, FollowUpStatus
from bot.timezones import local_datetime, local_today

SCHEMA: Final = "agentcoach.export"
VERSION: Final = 1

# The headers first (what /import reads), then what only an export has. Never translated: see above.
CSV_HEADERS: Final = (
    "姓名",  # name
    "电话",  # phone
    "需求",  # needs
    "预算",  # budget
    "来源",  # source
    "阶段",  # stage, in the agent's language
    "备注",  # notes
    "最近跟进",  # the last contact, local time
    "下次跟进",  # the next open follow-up: local time and its note
    "联系记录",  # the contact log, oldest first, one line per entry
    "登记时间",  # when the client was registered, local time
    "已归档",  # the agent's word for archived, or empty
)
# Excel's limit for one cell is 32,767 characters; a longer contact log is cut there (the JSON has all of it).
CELL_LIMIT: Final = 32_000
# A cell starting with one of these would be read as a formula by Excel and WPS (a phone's "+86…" among them):
# such a cell is written after a tab, which the spreadsheet keeps as text and a reader strips with the blanks.
FORMULA_STARTS: Final = ("=", "+", "-", "@")


@dataclass(frozen=True)
class ExportFiles:
    """The two files, their names, and how many clients they hold (for the caption)."""

    json_name: str
    json_bytes: bytes
    csv_name: str
    csv_bytes: bytes
    clients: int


async def export_agent(session: AsyncSession, agent: Agent, now: datetime) -> ExportFiles:
    document = await gather(session, agent, now)
    stem = f"agentcoach-{agent.telegram_user_id}-{local_today(now, agent.timezone).isoformat()}"
    # Writing the bytes is pure computing (about a second for 10,000 clients): off the event loop, so the bot
    # answers everyone else meanwhile.
    json_bytes, csv_bytes = await asyncio.to_thread(_encoded, document, agent.language)
    return ExportFiles(f"{stem}.json", json_bytes, f"{stem}-clients.csv", csv_bytes, len(document["clients"]))


def _encoded(document: dict[str, Any], language: str) -> tuple[bytes, bytes]:
    return as_json(document), clients_csv(document, language)


def as_json(document: dict[str, Any]) -> bytes:
    return (json.dumps(document, ensure_ascii=False, indent=2) + "\n").encode("utf-8")


# ---------------------------------------------------------------------------------------------- the document


async def gather(session: AsyncSession, agent: Agent, now: datetime) -> dict[str, Any]:
    """The agent's whole data as the version-1 document (docs/export.md).

    Columns are read as rows, not as ORM objects (an agent with 10,000 clients has some 50,000 rows: objects take
    several times as long to build), through the models' column types all the same."""
    theirs = select(Client.id).where(Client.agent_id == agent.id)
    clients = await _read(session, Client, CLIENT_FIELDS, Client.agent_id == agent.id, order_by=(Client.id,))
    by_client: dict[int, dict[str, Any]] = {
        client["id"]: client | {"contacts": [], "follow_ups": [], "showing_reviews": []} for client in clients
    }
    contacts = await _read(
        session, ContactLog, CONTACT_FIELDS, ContactLog.client_id.in_(theirs), order_by=(ContactLog.at, ContactLog.id)
    )
    for contact in contacts:
        by_client[contact.pop(OWNER)]["contacts"].append(contact)
    follow_ups = await _read(
        session, FollowUp, FOLLOW_UP_FIELDS, FollowUp.agent_id == agent.id, order_by=(FollowUp.due_at, FollowUp.id)
    )
    for follow_up in follow_ups:
        client = by_client.get(follow_up.pop(OWNER))
        if client is not None:  # always so: a follow-up is about one of the agent's clients
            client["follow_ups"].append(follow_up)
    reviews = await _read(
        session,
        ShowingReview,
        SHOWING_REVIEW_FIELDS,
        ShowingReview.agent_id == agent.id,
        order_by=(ShowingReview.ends_at, ShowingReview.id),
    )
    for review in reviews:
        client = by_client.get(review.pop(OWNER))
        if client is not None:
            client["showing_reviews"].append(review)
    waiting = (Delivery.agent_id == agent.id, Delivery.status.in_(WAITING_STATUSES))
    return {
        "schema": SCHEMA,
        "version": VERSION,
        "exported_at": _instant(now),
        "timezone": agent.timezone,
        "agent": _agent(agent),
        "team": await _team(session, agent),
        "clients": list(by_client.values()),
        "reflections": await _read(
            session, Reflection, REFLECTION_FIELDS, Reflection.agent_id == agent.id, order_by=(Reflection.day,)
        ),
        "tips": await _read(session, TipState, TIP_FIELDS, TipState.agent_id == agent.id, order_by=(TipState.tip_id,)),
        "scheduled": await _read(
            session, Delivery, SCHEDULED_FIELDS, *waiting, order_by=(Delivery.due_at, Delivery.id)
        ),
    }


# The column that ties a contact or a follow-up to its client: read with the fields, then taken out.
OWNER: Final = "client_id"


async def _read(
    session: AsyncSession,
    model: type[Base],
    names: Sequence[str],
    *where: ColumnElement[bool],
    order_by: Sequence[InstrumentedAttribute[Any]],
) -> list[dict[str, Any]]:
    """`names` of the rows of `model` that match, as the document writes them (plus OWNER where the model has it)."""
    names = (*names, OWNER) if hasattr(model, OWNER) and OWNER not in names else tuple(names)
    result = await session.execute(select(*(getattr(model, name) for name in names)).where(*where).order_by(*order_by))
    return [{name: _value(value) for name, value in zip(names, row, strict=True)} for row in result]


def _instant(moment: datetime | None) -> str | None:
    return None if moment is None else moment.isoformat().replace("+00:00", "Z")


def _clock(at: time | None) -> str | None:
    return None if at is None else at.strftime("%H:%M")


def _agent(agent: Agent) -> dict[str, Any]:
    return {
        "telegram_user_id": agent.telegram_user_id,
        "chat_id": agent.chat_id,
        "display_name": agent.display_name,
        "language": agent.language,
        "timezone": agent.timezone,
        "timezone_place": agent.timezone_place,
        "setup_complete": agent.setup_step is None,
        "active": agent.active,
        "created_at": _instant(agent.created_at),
        "updated_at": _instant(agent.updated_at),
        "settings": {
            "reflection_time": _clock(agent.reflection_time),
            "work_days": [int(day) for day in agent.work_days],
            "digest_weekday": agent.digest_weekday,
            "digest_time": _clock(agent.digest_time),
            "tip_time": _clock(agent.tip_time),
            "followup_time": _clock(agent.followup_time),
            "day_part_hours": dict(sorted((agent.day_part_hours or {}).items())) or None,
            "stale_days": dict(sorted((agent.stale_days or {}).items())) or None,
        },
    }


async def _team(session: AsyncSession, agent: Agent) -> dict[str, Any] | None:
    row = (
        await session.execute(
            select(Team.name, TeamMember.role, TeamMember.joined_at)
            .join(Team, Team.id == TeamMember.team_id)
            .where(TeamMember.agent_id == agent.id)
        )
    ).one_or_none()
    if row is None:
        return None
    name, role, joined_at = row
    return {"name": name, "role": role, "joined_at": _instant(joined_at)}


# The fields of each kind of row, in the document's order (docs/export.md describes each).
CLIENT_FIELDS: Final = (
    "id", "name", "phone", "needs", "budget", "stage", "source", "notes", "archived", "created_at", "updated_at",
)  # fmt: skip
CONTACT_FIELDS: Final = ("id", "kind", "note", "at")
FOLLOW_UP_FIELDS: Final = ("id", "due_at", "note", "status", "outcome", "done_at", "created_at", "updated_at")
SHOWING_REVIEW_FIELDS: Final = (
    "id", "follow_up_id", "listing", "reactions", "note", "voice_file_id", "status", "ends_at", "created_at",
    "saved_at",
)  # fmt: skip
REFLECTION_FIELDS: Final = (
    "day", "status", "step", "clients", "mood", "went_well", "to_improve", "lesson", "tomorrow", "voice", "tip_id",
    "created_at", "updated_at", "completed_at",
)  # fmt: skip
TIP_FIELDS: Final = ("tip_id", "shown", "last_shown_at", "rating", "saved_at")
SCHEDULED_FIELDS: Final = ("id", "kind", "due_at", "status", "subject_id", "subject_key")


def _value(value: object) -> object:
    """A column's value as the document writes it: instants in UTC, times of day and days as the agent's."""
    if isinstance(value, datetime):
        return _instant(value)
    if isinstance(value, time):
        return _clock(value)
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, dict):
        return dict(sorted(value.items()))
    return value


# ---------------------------------------------------------------------------------------------- the CSV


def clients_csv(document: dict[str, Any], language: str) -> bytes:
    """The document's clients as the spreadsheet described above (bytes: the BOM, then UTF-8 with CRLF)."""
    out = io.StringIO(newline="")
    writer = csv.writer(out, lineterminator="\r\n", quoting=csv.QUOTE_MINIMAL)
    writer.writerow(CSV_HEADERS)
    zone = document["timezone"]
    for client in document["clients"]:
        last = _last_contact(client)
        upcoming = [f for f in client["follow_ups"] if f["status"] == FollowUpStatus.OPEN]
        next_follow_up = ""
        if upcoming:
            first = upcoming[0]
            next_follow_up = _joined(_local(first["due_at"], zone), _one_line(first["note"]))
        row = [
            client["name"],
            client["phone"],
            client["needs"],
            client["budget"],
            client["source"],
            t(language, f"stage.{client['stage']}") if client["stage"] in STAGES else client["stage"],
            client["notes"],
            _local(last, zone) if last else "",
            next_follow_up,
            _log_cell(client, language, zone),
            _local(client["created_at"], zone),
            t(language, "data.csv.archived") if client["archived"] else "",
        ]
        writer.writerow([_cell(value) for value in row])
    return ("\ufeff" + out.getvalue()).encode("utf-8")


def _cell(value: str | None) -> str:
    text = value or ""
    return "\t" + text if text.startswith(FORMULA_STARTS) else text


def _local(instant: str, zone: str) -> str:
    """A document instant as the agent's wall-clock time, the way a spreadsheet reads a date and time."""
    return local_datetime(datetime.fromisoformat(instant), zone).strftime("%Y-%m-%d %H:%M")


def _one_line(text: str | None) -> str:
    return " ".join((text or "").split())


def _joined(*parts: str) -> str:
    return " ".join(part for part in parts if part)


def _log_cell(client: dict[str, Any], language: str, zone: str) -> str:
    """The client's story as the card's 📜 shows it, oldest first: contacts, stage moves, follow-ups done."""
    lines = [f"{_local(at, zone)} {what}" for at, what in _log(client, language)]
    cell = "\n".join(lines)
    return cell if len(cell) <= CELL_LIMIT else cell[: CELL_LIMIT - 1] + "…"


def _log(client: dict[str, Any], language: str) -> list[tuple[str, str]]:
    """(instant, what) of each entry, in time order (a follow-up done before a contact logged at the same instant)."""
    entries: list[tuple[str, int, str]] = []
    for entry in client["contacts"]:
        kind, note = entry["kind"], _one_line(entry["note"])
        if kind in CONTACT_KINDS:
            what = t(language, f"contact.{kind}")
            entries.append((entry["at"], 1, f"{what}: {note}" if note else what))
        elif kind == ClientEvent.STAGE and (moved := stage_move(entry["note"])) is not None:
            old, new = (t(language, f"stage.{stage}") for stage in moved)
            entries.append((entry["at"], 1, t(language, "clients.history.stage", old=old, new=new)))
    for follow_up in client["follow_ups"]:
        if follow_up["status"] == FollowUpStatus.DONE and follow_up["done_at"] is not None:
            said = " · ".join(part for part in (_one_line(follow_up["note"]), _one_line(follow_up["outcome"])) if part)
            done = t(language, "clients.history.done")
            entries.append((follow_up["done_at"], 0, f"{done}: {said}" if said else done))
    return [(at, what) for at, _, what in sorted(entries, key=lambda e: (datetime.fromisoformat(e[0]), e[1]))]


def _last_contact(client: dict[str, Any]) -> str | None:
    """When the client was last followed up: the latest contact logged or follow-up done."""
    moments = [c["at"] for c in client["contacts"] if c["kind"] in CONTACT_KINDS]
    moments += [f["done_at"] for f in client["follow_ups"] if f["status"] == FollowUpStatus.DONE and f["done_at"]]
    return max(moments, key=datetime.fromisoformat) if moments else None
