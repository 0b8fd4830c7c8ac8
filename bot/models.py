"""Typed ORM models. Every instant is stored in UTC; local times of day are stored with the agent's zone."""

from __future__ import annotations

from datetime import UTC, date, datetime, time
from typing import Any, ClassVar

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Date,
    DateTime,
    Double,
    ForeignKey,
    Index,
    Integer,
    SmallInteger,
    String,
    Text,
    Time,
    UniqueConstraint,
    event,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.schema import DDL
from sqlalchemy.types import TypeDecorator

from bot.crypto import SecretJSON, SecretText, phone_hash_for
from bot.statuses import (
    PRIORITY_OF_KIND,
    DeliveryKind,
    DeliveryStatus,
    FollowUpStatus,
    SendPriority,
    ShowingReviewStatus,
    TeamRole,
)
from bot.text import clean


class UTCDateTime(TypeDecorator[datetime]):
    """Aware UTC datetimes on every backend (SQLite keeps no offset, so we store naive UTC and re-attach it)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given where a UTC instant is required")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class CleanString(TypeDecorator[str]):
    """A VARCHAR whose values pass `bot.text.clean` on the way in: no NUL, no bidi override, on every backend.

    The same DDL as String(n), so the migrations do not change; bulk inserts (bot/bulk.py) go through it too.
    """

    impl = String
    cache_ok = True

    def process_bind_param(self, value: str | None, dialect: Dialect) -> str | None:
        return clean(value) if isinstance(value, str) else value


class CleanText(TypeDecorator[str]):
    """TEXT with the same rule as `CleanString`."""

    impl = Text
    cache_ok = True

    def process_bind_param(self, value: str | None, dialect: Dialect) -> str | None:
        return clean(value) if isinstance(value, str) else value


class Base(DeclarativeBase):
    type_annotation_map: ClassVar[dict[Any, Any]] = {datetime: UTCDateTime, dict[str, Any]: JSON}


class Agent(Base):
    """A sales agent (or team lead) who talks to the bot in a private chat."""

    __tablename__ = "agents"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    telegram_user_id: Mapped[int] = mapped_column(BigInteger, unique=True)
    chat_id: Mapped[int] = mapped_column(BigInteger)
    display_name: Mapped[str] = mapped_column(CleanString(128))
    language: Mapped[str] = mapped_column(String(16))
    timezone: Mapped[str] = mapped_column(String(64))
    # The place the agent typed for it (深圳, Melbourne), shown instead of the zone's name; None if chosen otherwise.
    timezone_place: Mapped[str | None] = mapped_column(CleanString(64), nullable=True)
    reflection_time: Mapped[time] = mapped_column(Time)
    # ISO weekday digits (1 = Monday … 7 = Sunday), e.g. "123456".
    work_days: Mapped[str] = mapped_column(String(7))
    digest_weekday: Mapped[int] = mapped_column(SmallInteger)
    digest_time: Mapped[time] = mapped_column(Time)
    # None means the daily tip is off.
    tip_time: Mapped[time | None] = mapped_column(Time, nullable=True)
    # When a follow-up given only a day ("明天", "friday") is due.
    followup_time: Mapped[time] = mapped_column(Time, default=time(10, 0))
    # The hour a part of day means ("明天下午"), only the parts changed: {"afternoon": "14:30"}; None = defaults
    # (bot.preferences.day_part_hours reads it).
    day_part_hours: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    # The 掉盘 rule's days without a real contact, only the stages changed: {"interested": 10}; None = defaults
    # (bot.stale reads it).
    stale_days: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    # The onboarding step still to answer; None once setup is complete.
    setup_step: Mapped[str | None] = mapped_column(String(32), nullable=True)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class ConversationState(Base):
    """What the bot is waiting for in a chat (typed input for a multi-step flow); survives restarts."""

    __tablename__ = "conversation_states"

    chat_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    flow: Mapped[str] = mapped_column(String(32))
    step: Mapped[str] = mapped_column(String(32))
    # Encrypted with DATA_KEY set: a draft waiting here holds what the agent typed about a client (bot.crypto).
    data: Mapped[dict[str, Any]] = mapped_column(SecretJSON, default=dict)
    updated_at: Mapped[datetime]


class Client(Base):
    """Someone an agent is selling to (or renting for); registering every client is the habit we build."""

    __tablename__ = "clients"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    agent_id: Mapped[int] = mapped_column(ForeignKey("agents.id", ondelete="CASCADE"), index=True)
    # The agent's words about the client are encrypted with DATA_KEY set (bot.crypto); the lengths are checked by
    # bot.clients (name 64, budget 64, source 64), since a token is longer than its text.
    name: Mapped[str] = mapped_column(SecretText)
    # E.164 (+8613800138000), normalised from what the agent typed.
    phone: Mapped[str | None] = mapped_column(SecretText, nullable=True)
    # HMAC-SHA256 of `phone` under the database's hash key, for exact lookups when `phone` is encrypted; None
    # without DATA_KEY (then `phone` itself is compared). Kept by the mapper event below and by bot/bulk.py.
    phone_hash: Mapped[str | None] = mapped_column(String(64), nullable=True)
    needs: Mapped[str | None] = mapped_column(SecretText, nullable=True)
    budget: Mapped[str | None] = mapped_column(SecretText, nullable=True)
    stage: Mapped[str] = mapped_column(String(16))
    source: Mapped[str | None] = mapped_column(SecretText, nullable=True)
    notes: Mapped[str | None] = mapped_column(SecretText, nullable=True)
    archived: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]

    __table_args__ = (Index("ix_clients_agent_phone_hash", "agent_id", "phone_hash"),)


@event.listens_for(Client, "before_insert")
@event.listens_for(Client, "before_update")
def _hash_phone(_mapper: Any, connection: Any, client: Client) -> None:
    client.phone_hash = phone_hash_for(connection, client.phone)


class ContactLog(Base):
    """One contact with a client: a call, a message, a visit, a viewing."""

    __tablename__ = "contact_logs"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    client_id: Mapped[int] = mapped_column(ForeignKey("clients.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(16))
    note: Mapped[str | None] = mapped_column(SecretText, nullable=True)
    at: Mapped[datetime]


class FollowUp(Base):
    """A promise to get back to a client at a time; its nudge is a Delivery."""

    __tablename__ = "follow_ups"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    agent_id: Mapped[int] = mapped_column(ForeignKey("agents.id", ondelete="CASCADE"), index=True)
    client_id: Mapped[int] = mapped_column(ForeignKey("clients.id", ondelete="CASCADE"), index=True)
    due_at: Mapped[datetime]
    note: Mapped[str | None] = mapped_column(SecretText, nullable=True)
    status: Mapped[str] = mapped_column(String(16), default=FollowUpStatus.OPEN)  # bot.statuses
    outcome: Mapped[str | None] = mapped_column(SecretText, nullable=True)
    done_at: Mapped[datetime | None] = mapped_column(nullable=True)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


# Kinds of delivery an agent has at most one of waiting at any time (bot.recurring's kinds and the reflection's
# ⏰ Later), and the statuses that count as waiting. The partial unique index below holds the invariant; a new
# kind of this sort needs a migration that recreates the index (tests/bot/test_engine_edges.py checks it).
ONE_WAITING_KINDS = (
    DeliveryKind.TIP,
    DeliveryKind.REFLECTION,
    DeliveryKind.REFLECT_LATER,
    DeliveryKind.DIGEST,
    DeliveryKind.TEAM_DIGEST,
    DeliveryKind.STALE_WARNING,
)
WAITING_STATUSES = (DeliveryStatus.PENDING, DeliveryStatus.CLAIMED, DeliveryStatus.SENDING, DeliveryStatus.HELD)
ONE_WAITING_WHERE = (
    f"kind IN ({', '.join(repr(str(k)) for k in ONE_WAITING_KINDS)}) "
    f"AND status IN ({', '.join(repr(str(s)) for s in WAITING_STATUSES)})"
)


class Delivery(Base):
    """A message that must reach an agent at a time: the scheduling engine's unit of work.

    pending → claimed → sending → sent | failed | cancelled | held (see bot.scheduler). `claimed_by` names the
    process (bot.ownership) that claimed it, so a process that starts after a crash can take its predecessor's
    rows back at once. `kind` says which module renders it; `subject_id` is its row there (a follow-up, …).
    """

    __tablename__ = "deliveries"
    __table_args__ = (
        Index("ix_deliveries_status_due", "status", "due_at"),
        Index("ix_deliveries_agent_kind", "agent_id", "kind"),  # also every lookup by agent alone
        Index("ix_deliveries_kind_subject", "kind", "subject_id"),  # cancelling a follow-up's nudge
        Index("ix_deliveries_status_sent", "status", "sent_at"),  # `agentcoach stats`: the last hour's sends (0009)
    )

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True)
    agent_id: Mapped[int] = mapped_column(ForeignKey("agents.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(16))
    subject_id: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    # A subject named by a string (the tip a daily tip chose), fixed at the first render so a retry sends the same.
    subject_key: Mapped[str | None] = mapped_column(String(64), nullable=True)
    due_at: Mapped[datetime]
    status: Mapped[str] = mapped_column(String(16), default=DeliveryStatus.PENDING)
    # Until when a claim holds the row; on a pending row, when its retry may go; on a failed row, when it failed.
    lease_until: Mapped[datetime | None] = mapped_column(nullable=True)
    claimed_by: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    late: Mapped[bool] = mapped_column(Boolean, default=False)
    sent_at: Mapped[datetime | None] = mapped_column(nullable=True)
    message_id: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    last_error: Mapped[str | None] = mapped_column(Text, nullable=True)
    created_at: Mapped[datetime]


# At most one waiting delivery per agent of each kind that stands alone (the daily tip, the reflection prompt,
# ⏰ Later, the weekly digest): two processes starting together, or a settings change racing a send, cannot
# double it. A partial index needs dialect options (`sqlite_where`, `postgresql_where`), and declaring those on
# an `Index` imports both dialects into every process (+2.3 MiB for the one it does not use), so it is DDL, run
# after the table is created (create_all, the tests) and by migrations 0006 and 0008 (every real database).
ONE_WAITING_INDEX = "uq_deliveries_one_waiting"
event.listen(
    Delivery.__table__,
    "after_create",
    DDL(f"CREATE UNIQUE INDEX {ONE_WAITING_INDEX} ON deliveries (agent_id, kind) WHERE {ONE_WAITING_WHERE}"),  # type: ignore[no-untyped-call]
)
# The kinds that come in waves (100k agents' digests due at the same minute, an announcement to everyone) and
# the rows every other kind has pending, by due time: the engine claims these first (bot.scheduler), so a
# follow-up nudge never waits behind a wave. Partial, so finding them never reads through the wave; the claim
# names the values as literals, which is what lets SQLite and PostgreSQL (generic plans included) prove the index
# applies. `status` is a column too, redundant but what makes SQLite's planner prefer it to
# ix_deliveries_status_due. Made by migration 0008, remade with the broadcast by 0009.
WAVE_KINDS = (DeliveryKind.DIGEST, DeliveryKind.BROADCAST)
WAVE_KINDS_SQL = f"({', '.join(repr(str(k)) for k in WAVE_KINDS)})"
URGENT_WHERE = f"status = '{DeliveryStatus.PENDING}' AND kind NOT IN {WAVE_KINDS_SQL}"
URGENT_INDEX = "ix_deliveries_urgent_due"
event.listen(
    Delivery.__table__,
    "after_create",
    DDL(f"CREATE INDEX {URGENT_INDEX} ON deliveries (status, due_at) WHERE {URGENT_WHERE}"),  # type: ignore[no-untyped-call]
)
# The nudges (a follow-up's, ⏰ Later's: times an agent chose) pending, by due time: the engine's first claim, and
# the one it makes every second while a share of recurring prompts or of a wave is being sent (bot.scheduler), so
# a nudge due at 09:01 is found without reading through 100k prompts due at 09:00, which the urgent index holds
# too. Partial and named by literals, as the urgent index; made by migration 0013.
NUDGE_KINDS = tuple(kind for kind, priority in PRIORITY_OF_KIND.items() if priority is SendPriority.NUDGE)
NUDGE_WHERE = f"status = '{DeliveryStatus.PENDING}' AND kind IN ({', '.join(repr(str(k)) for k in NUDGE_KINDS)})"
NUDGE_INDEX = "ix_deliveries_nudge_due"
event.listen(
    Delivery.__table__,
    "after_create",
    DDL(f"CREATE INDEX {NUDGE_INDEX} ON deliveries (status, due_at) WHERE {NUDGE_WHERE}"),  # type: ignore[no-untyped-call]
)


class TipState(Base):
    """What one agent did with one tip: how often it was shown, their rating, whether they saved it."""

    __tablename__ = "tip_states"

    agent_id: Mapped[int] = mapped_column(ForeignKey("agents.id", ondelete="CASCADE"), primary_key=True)
    tip_id: Mapped[str] = mapped_column(String(40), primary_key=True)
    shown: Mapped[int] = mapped_column(Integer, default=0)
    last_shown_at: Mapped[datetime | None] = mapped_column(nullable=True)
    # -1 rated down, 0 not rated, 1 rated up.
    rating: Mapped[int] = mapped_column(SmallInteger, default=0)
    saved_at: Mapped[datetime | None] = mapped_column(nullable=True)


class Reflection(Base):
    """One day's check-in: the agent's own words, never shown to anyone else (team views count rows only).

    `step` is the next question to ask (None once every question was answered or skipped), so an abandoned or
    interrupted check-in resumes where it stopped. `day` is the agent's local date the reflection is about.
    """

    __tablename__ = "reflections"
    __table_args__ = (UniqueConstraint("agent_id", "day", name="uq_reflections_agent_day"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    agent_id: Mapped[int] = mapped_column(ForeignKey("agents.id", ondelete="CASCADE"))
    day: Mapped[date] = mapped_column(Date)
    # open (being answered) | done | skipped ("⏭ Skip today")
    status: Mapped[str] = mapped_column(String(16))
    step: Mapped[str | None] = mapped_column(String(16), nullable=True)
    clients: Mapped[int | None] = mapped_column(Integer, nullable=True)
    mood: Mapped[int | None] = mapped_column(SmallInteger, nullable=True)
    went_well: Mapped[str | None] = mapped_column(SecretText, nullable=True)
    to_improve: Mapped[str | None] = mapped_column(SecretText, nullable=True)
    lesson: Mapped[str | None] = mapped_column(SecretText, nullable=True)
    tomorrow: Mapped[str | None] = mapped_column(SecretText, nullable=True)
    # Voice notes by question: {"went_well": "<Telegram file_id>"}; kept as references, not downloaded.
    voice: Mapped[dict[str, Any]] = mapped_column(default=dict)
    # The tip sent after it, matched to what was written.
    tip_id: Mapped[str | None] = mapped_column(String(32), nullable=True)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    completed_at: Mapped[datetime | None] = mapped_column(nullable=True)


class ShowingReview(Base):
    """带看后复盘: what a client made of one showing, asked when it ends and saved with one tap.

    `reactions` holds bot.statuses.Reaction values joined by commas, in the buttons' order ("" until chosen).
    `listing` is the showing's note when it was asked (the follow-up's, or the logged viewing's), kept so the
    review still reads right after the follow-up is edited. `ends_at` is when the showing ended (its nudge's
    time plus its length, or when the viewing was logged).
    """

    __tablename__ = "showing_reviews"
    __table_args__ = (
        Index("ix_showing_reviews_client", "client_id", "saved_at"),
        Index("ix_showing_reviews_agent_follow_up", "agent_id", "follow_up_id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    agent_id: Mapped[int] = mapped_column(ForeignKey("agents.id", ondelete="CASCADE"))
    client_id: Mapped[int] = mapped_column(ForeignKey("clients.id", ondelete="CASCADE"))
    follow_up_id: Mapped[int | None] = mapped_column(ForeignKey("follow_ups.id", ondelete="SET NULL"), nullable=True)
    listing: Mapped[str | None] = mapped_column(SecretText, nullable=True)
    reactions: Mapped[str] = mapped_column(String(128), default="")
    note: Mapped[str | None] = mapped_column(SecretText, nullable=True)
    voice_file_id: Mapped[str | None] = mapped_column(String(255), nullable=True)
    status: Mapped[str] = mapped_column(String(16), default=ShowingReviewStatus.OPEN)  # bot.statuses
    ends_at: Mapped[datetime]
    created_at: Mapped[datetime]
    saved_at: Mapped[datetime | None] = mapped_column(nullable=True)


# An announcement reaches each agent once: re-running `agentcoach broadcast` with the same file after a crash adds
# nothing twice (INSERT … ON CONFLICT DO NOTHING against this index). Made by migration 0009.
BROADCAST_ONCE_INDEX = "uq_deliveries_broadcast_once"
BROADCAST_ONCE_WHERE = f"kind = '{DeliveryKind.BROADCAST}'"
event.listen(
    Delivery.__table__,
    "after_create",
    DDL(  # type: ignore[no-untyped-call]
        f"CREATE UNIQUE INDEX {BROADCAST_ONCE_INDEX} ON deliveries (subject_id, agent_id) WHERE {BROADCAST_ONCE_WHERE}"
    ),
)


class Broadcast(Base):
    """An operator's announcement (`agentcoach broadcast FILE`): one row per distinct text, so the same file sent
    again after a crash resumes the same broadcast; each agent's copy is a delivery of kind `broadcast` whose
    `subject_id` is this row."""

    __tablename__ = "broadcasts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    # SHA-256 of the text, hex: what makes a re-run the same broadcast.
    digest: Mapped[str] = mapped_column(String(64), unique=True)
    text: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime]


class HandledUpdate(Base):
    """An update from Telegram that was applied: Telegram delivers a webhook update again when the answer was slow,
    and the second delivery must have no effect (runtime.gate). Old rows are pruned; Telegram gives up on an
    update within a day."""

    __tablename__ = "handled_updates"

    update_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    handled_at: Mapped[datetime] = mapped_column(index=True)


class Team(Base):
    """A brokerage's team: its members' counts are what its leads see (`/team`); created by an admin."""

    __tablename__ = "teams"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(CleanString(64), unique=True)
    created_at: Mapped[datetime]


class TeamMember(Base):
    """An agent's place in a team (one team per agent). A lead's row carries when the weekly team digest goes;
    None there means at the lead's own weekly digest time. Removing the row removes the view at once."""

    __tablename__ = "team_members"

    agent_id: Mapped[int] = mapped_column(ForeignKey("agents.id", ondelete="CASCADE"), primary_key=True)
    team_id: Mapped[int] = mapped_column(ForeignKey("teams.id", ondelete="CASCADE"), index=True)
    role: Mapped[str] = mapped_column(String(16), default=TeamRole.MEMBER)  # bot.statuses.TeamRole
    team_digest_weekday: Mapped[int | None] = mapped_column(SmallInteger, nullable=True)
    team_digest_time: Mapped[time | None] = mapped_column(Time, nullable=True)
    joined_at: Mapped[datetime]


class Invite(Base):
    """An invite code (a deep link t.me/<bot>?start=<code>) into a team as a member or a lead.

    Only the code's SHA-256 is stored: the database alone cannot let anyone in. `max_uses` None is unlimited."""

    __tablename__ = "invites"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    code_hash: Mapped[str] = mapped_column(String(64), unique=True)
    team_id: Mapped[int] = mapped_column(ForeignKey("teams.id", ondelete="CASCADE"), index=True)
    role: Mapped[str] = mapped_column(String(16), default=TeamRole.MEMBER)
    max_uses: Mapped[int | None] = mapped_column(Integer, nullable=True)
    uses: Mapped[int] = mapped_column(Integer, default=0)
    expires_at: Mapped[datetime | None] = mapped_column(nullable=True)
    # The admin's Telegram user id, or None when made on the command line.
    created_by: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    created_at: Mapped[datetime]


class DataKey(Base):
    """Encryption at rest's one row (id 1), made when DATA_KEY is first set (bot.data_keys): the phone hash key,
    encrypted with the data key, so start-up can tell a wrong key (it does not decrypt) from none (the row
    exists, so encrypted data may too). `key_id` names the key it is under; `all_under` the key every encrypted
    column was last known to be under (None: rows may be plaintext or under an older key: run rotate-key)."""

    __tablename__ = "data_keys"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    key_id: Mapped[str] = mapped_column(String(16))
    hash_key: Mapped[str] = mapped_column(Text)
    all_under: Mapped[str | None] = mapped_column(String(16), nullable=True)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class SendBudgetState(Base):
    """The deployment's one send budget on PostgreSQL (bot.budget_stores): the next free slot of Telegram's
    ~30 messages/s and the end of a RetryAfter pause, as seconds of the database's clock, so every process reads
    one clock. One row (id 1); a reservation locks it for a moment (`SELECT … FOR UPDATE`)."""

    __tablename__ = "send_budget"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    next_slot: Mapped[float] = mapped_column(Double, default=0.0)
    paused_until: Mapped[float] = mapped_column(Double, default=0.0)
    pauses: Mapped[int] = mapped_column(Integer, default=0)


class SendBudgetChat(Base):
    """When a chat may get its next message (Telegram's ~1 message/s per chat), for every process; rows older
    than a minute are pruned."""

    __tablename__ = "send_budget_chats"

    chat_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    next_at: Mapped[float] = mapped_column(Double)


class SendBudgetProcess(Base):
    """A process spending the budget, as it last said (every few seconds): what `agentcoach stats` shows of the
    budget, and how many processes a conservative share divides by when the shared budget cannot be reached. A
    row not refreshed for a while is a process that is gone: it holds no share and is pruned."""

    __tablename__ = "send_budget_processes"

    process_key: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    seen_at: Mapped[datetime]
    started_at: Mapped[datetime]
    # JSON: sends/s by priority over the last interval, queue depth, seconds waited, pauses, the store in use.
    report: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
