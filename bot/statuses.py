"""Every status, stage and kind the database stores, as enums in one place.

They are StrEnums, so a member is the very string stored (and compared, and put into callback data), and mypy
catches a typo that a string literal would hide. Modules that store one of these import it from here, not from
each other: `bot.clients` and `bot.followups` no longer need each other's constants.
"""

from __future__ import annotations

from enum import StrEnum


class Stage(StrEnum):
    """Where a client is in a sale: 新客户 / 意向 / 带看 / 下定 / 成交 / 流失, in the order a sale moves."""

    NEW = "new"
    INTERESTED = "interested"
    VIEWING = "viewing"
    DEPOSIT = "deposit"
    CLOSED = "closed"
    LOST = "lost"


class ContactKind(StrEnum):
    """How an agent got in touch with a client (微信 is stored as "message", its name before issue 12)."""

    CALL = "call"
    WECHAT = "message"
    VISIT = "visit"
    VIEWING = "viewing"


class ClientEvent(StrEnum):
    """What else the client's log (`ContactLog.kind`) records besides contacts: the story `bot.history` tells."""

    STAGE = "stage"  # a stage move; the note holds "<from>><to>" (bot.history writes and reads it)


class FollowUpStatus(StrEnum):
    OPEN = "open"
    DONE = "done"
    CANCELLED = "cancelled"


class ReflectionStatus(StrEnum):
    OPEN = "open"  # being answered
    DONE = "done"
    SKIPPED = "skipped"  # "⏭ Skip today"


class DeliveryKind(StrEnum):
    """Which module renders a delivery (bot.scheduler's `kind`)."""

    FOLLOWUP = "followup"
    TIP = "tip"
    REFLECTION = "reflection"
    REFLECT_LATER = "reflect_later"
    DIGEST = "digest"  # the weekly digest: sent in waves (every agent at 20:00 on Sunday), so claimed last
    BROADCAST = "broadcast"  # an operator's announcement to every active agent (`agentcoach broadcast`): a wave too
    TEAM_DIGEST = "team_digest"  # a team lead's weekly view of the team's counts (one waiting per lead)
    SHOWING_REVIEW = "showing_review"  # 带看后复盘: the review asked when a viewing ends (subject: the review row)
    STALE_WARNING = "stale_warning"  # 掉盘 early warning: the morning list of clients about to cross the rule


class SendPriority(StrEnum):
    """Who goes first when Telegram's send budget is short (runtime.send_budget), in this order: a reply to what
    an agent just did, a follow-up nudge at its exact time, the recurring prompts and tips, then digests and
    broadcasts (the waves)."""

    REPLY = "reply"
    NUDGE = "nudge"
    RECURRING = "recurring"
    BULK = "bulk"


SEND_PRIORITIES = tuple(SendPriority)  # first first
# Each scheduled kind's place in the send budget's queue.
PRIORITY_OF_KIND: dict[str, SendPriority] = {
    DeliveryKind.FOLLOWUP: SendPriority.NUDGE,
    DeliveryKind.REFLECT_LATER: SendPriority.NUDGE,  # "⏰ remind me later": a time the agent chose
    DeliveryKind.SHOWING_REVIEW: SendPriority.NUDGE,  # asked while the showing is fresh
    DeliveryKind.STALE_WARNING: SendPriority.RECURRING,
    DeliveryKind.TIP: SendPriority.RECURRING,
    DeliveryKind.REFLECTION: SendPriority.RECURRING,
    DeliveryKind.DIGEST: SendPriority.BULK,
    DeliveryKind.TEAM_DIGEST: SendPriority.BULK,
    DeliveryKind.BROADCAST: SendPriority.BULK,
}


def priority_of(kind: str) -> SendPriority:
    """A scheduled kind's send priority (an unknown kind waits with the recurring ones)."""
    return PRIORITY_OF_KIND.get(kind, SendPriority.RECURRING)


class DeliveryStatus(StrEnum):
    """Where a delivery is in the engine (bot.scheduler tells the whole path)."""

    PENDING = "pending"  # waiting for its time (or, with lease_until set, for a retry)
    CLAIMED = "claimed"  # taken by a process's sweep, not sent yet
    SENDING = "sending"  # past the last ownership check: the request to Telegram may be on its way
    SENT = "sent"
    FAILED = "failed"
    CANCELLED = "cancelled"
    HELD = "held"  # the agent blocked the bot: kept until they write again


STAGES = tuple(Stage)
CONTACT_KINDS = tuple(ContactKind)


class Reaction(StrEnum):
    """What a client made of a showing (带看后复盘), in the order the buttons show them; several may be chosen."""

    PRICE = "price"  # 价格
    LAYOUT = "layout"  # 户型
    CONDITION = "condition"  # 装修
    LOCATION = "location"  # 位置
    SCHOOL = "school"  # 学区
    FAMILY = "family"  # 要和家人商量
    INTERESTED = "interested"  # 有意向
    NOT_A_FIT = "not_a_fit"  # 不合适


REACTIONS = tuple(Reaction)


class ShowingReviewStatus(StrEnum):
    """Where a showing's review is: asked (buttons being chosen), saved, or set aside (the showing did not happen)."""

    OPEN = "open"
    SAVED = "saved"
    DISMISSED = "dismissed"


class WeakSpot(StrEnum):
    """Why the weekly digest's tip is about what it is about (`bot.week.weak_spot`; catalog `week.reason.<it>`)."""

    OVERDUE = "overdue"  # follow-ups left overdue or mostly done late → a follow-up tip
    LOW_MOOD = "low_mood"  # a hard week → a mindset tip
    NO_NEW_CLIENTS = "no_new_clients"  # nobody new registered → a prospecting tip
    NO_REFLECTIONS = "no_reflections"  # no check-in finished → a self-management tip
    STEADY = "steady"  # nothing stands out → a follow-up tip, the habit that pays most


class TeamRole(StrEnum):
    """What a member of a team may see: a lead sees the team's counts (never texts, names or phones)."""

    LEAD = "lead"
    MEMBER = "member"


class Access(StrEnum):
    """Who may use the bot (setting ACCESS): anyone who writes, or only those who came with an invite."""

    OPEN = "open"
    INVITE = "invite"
