"""Everything of one agent as two files they can keep: a JSON document and a CSV of their clients.

The JSON document (`schema` "agentcoach.export", `version` 1, docs/export.md field by field) holds the profile and
settings, every client with its contact log and follow-ups, the reflections (texts and voice file ids), what
the agent did with tips, the deliveries still waiting, and the team they are in (its name and their role only).
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

import csv
import io
import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, time
from typing import Any, Final

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.history import stage_move
from bot.i18n import t
from bot.models import (
    WAITING_STATUSES,
    Agent,
    Client,
    ContactLog,
    Delivery,
    FollowUp,
    Reflection,
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
# such a cell is written after a tab, which the spreadsheet keeps as text and /import strips.
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
    return ExportFiles(
        json_name=f"{stem}.json",
        json_bytes=as_json(document),
        csv_name=f"{stem}-clients.csv",
        csv_bytes=clients_csv(document, agent.language),
        clients=len(document["clients"]),
    )


def as_json(document: dict[str, Any]) -> bytes:
    return (json.dumps(document, ensure_ascii=False, indent=2) + "\n").encode("utf-8")


# ---------------------------------------------------------------------------------------------- the document


async def gather(session: AsyncSession, agent: Agent, now: datetime) -> dict[str, Any]:
    """The agent's whole data as the version-1 document (docs/export.md)."""
    clients = list(
        (await session.execute(select(Client).where(Client.agent_id == agent.id).order_by(Client.id))).scalars()
    )
    client_ids = [client.id for client in clients]
    contacts = (
        await session.execute(
            select(ContactLog).where(ContactLog.client_id.in_(client_ids)).order_by(ContactLog.at, ContactLog.id)
        )
    ).scalars()
    follow_ups = (
        await session.execute(
            select(FollowUp).where(FollowUp.agent_id == agent.id).order_by(FollowUp.due_at, FollowUp.id)
        )
    ).scalars()
    by_client: dict[int, dict[str, list[dict[str, Any]]]] = {i: {"contacts": [], "follow_ups": []} for i in client_ids}
    for contact in contacts:
        by_client[contact.client_id]["contacts"].append(_contact(contact))
    for follow_up in follow_ups:
        if follow_up.client_id in by_client:  # always so: a follow-up is about one of the agent's clients
            by_client[follow_up.client_id]["follow_ups"].append(_follow_up(follow_up))
    reflections = (
        await session.execute(select(Reflection).where(Reflection.agent_id == agent.id).order_by(Reflection.day))
    ).scalars()
    tips = (
        await session.execute(select(TipState).where(TipState.agent_id == agent.id).order_by(TipState.tip_id))
    ).scalars()
    waiting = (
        await session.execute(
            select(Delivery)
            .where(Delivery.agent_id == agent.id, Delivery.status.in_(WAITING_STATUSES))
            .order_by(Delivery.due_at, Delivery.id)
        )
    ).scalars()
    return {
        "schema": SCHEMA,
        "version": VERSION,
        "exported_at": _instant(now),
        "timezone": agent.timezone,
        "agent": _agent(agent),
        "team": await _team(session, agent),
        "clients": [_client(client) | by_client[client.id] for client in clients],
        "reflections": [_reflection(reflection) for reflection in reflections],
        "tips": [_tip(tip) for tip in tips],
        "scheduled": [_delivery(delivery) for delivery in waiting],
    }


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


def _client(client: Client) -> dict[str, Any]:
    return {
        "id": client.id,
        "name": client.name,
        "phone": client.phone,
        "needs": client.needs,
        "budget": client.budget,
        "stage": client.stage,
        "source": client.source,
        "notes": client.notes,
        "archived": client.archived,
        "created_at": _instant(client.created_at),
        "updated_at": _instant(client.updated_at),
    }


def _contact(contact: ContactLog) -> dict[str, Any]:
    return {"id": contact.id, "kind": contact.kind, "note": contact.note, "at": _instant(contact.at)}


def _follow_up(follow_up: FollowUp) -> dict[str, Any]:
    return {
        "id": follow_up.id,
        "due_at": _instant(follow_up.due_at),
        "note": follow_up.note,
        "status": follow_up.status,
        "outcome": follow_up.outcome,
        "done_at": _instant(follow_up.done_at),
        "created_at": _instant(follow_up.created_at),
        "updated_at": _instant(follow_up.updated_at),
    }


def _reflection(reflection: Reflection) -> dict[str, Any]:
    return {
        "day": reflection.day.isoformat(),
        "status": reflection.status,
        "step": reflection.step,
        "clients": reflection.clients,
        "mood": reflection.mood,
        "went_well": reflection.went_well,
        "to_improve": reflection.to_improve,
        "lesson": reflection.lesson,
        "tomorrow": reflection.tomorrow,
        "voice": dict(sorted((reflection.voice or {}).items())),
        "tip_id": reflection.tip_id,
        "created_at": _instant(reflection.created_at),
        "updated_at": _instant(reflection.updated_at),
        "completed_at": _instant(reflection.completed_at),
    }


def _tip(tip: TipState) -> dict[str, Any]:
    return {
        "tip_id": tip.tip_id,
        "shown": tip.shown,
        "last_shown_at": _instant(tip.last_shown_at),
        "rating": tip.rating,
        "saved_at": _instant(tip.saved_at),
    }


def _delivery(delivery: Delivery) -> dict[str, Any]:
    return {
        "id": delivery.id,
        "kind": delivery.kind,
        "due_at": _instant(delivery.due_at),
        "status": delivery.status,
        "subject_id": delivery.subject_id,
        "subject_key": delivery.subject_key,
    }


# ---------------------------------------------------------------------------------------------- the CSV


def clients_csv(document: dict[str, Any], language: str) -> bytes:
    """The document's clients as the spreadsheet described above (bytes: the BOM, then UTF-8 with CRLF)."""
    out = io.StringIO(newline="")
    writer = csv.writer(out, lineterminator="\r\n", quoting=csv.QUOTE_MINIMAL)
    writer.writerow(CSV_HEADERS)
    zone = document["timezone"]
    for client in document["clients"]:
        contacts = [c for c in client["contacts"] if c["kind"] in CONTACT_KINDS]
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
            _local(contacts[-1]["at"], zone) if contacts else "",
            next_follow_up,
            _log_cell(client["contacts"], language, zone),
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


def _log_cell(entries: Sequence[dict[str, Any]], language: str, zone: str) -> str:
    lines = []
    for entry in entries:
        kind, note = entry["kind"], _one_line(entry["note"])
        if kind in CONTACT_KINDS:
            what = t(language, f"contact.{kind}")
            lines.append(_joined(_local(entry["at"], zone), f"{what}: {note}" if note else what))
        elif kind == ClientEvent.STAGE and (moved := stage_move(entry["note"])) is not None:
            old, new = (t(language, f"stage.{stage}") for stage in moved)
            lines.append(_joined(_local(entry["at"], zone), f"{old} → {new}"))
    cell = "\n".join(lines)
    return cell if len(cell) <= CELL_LIMIT else cell[: CELL_LIMIT - 1] + "…"
