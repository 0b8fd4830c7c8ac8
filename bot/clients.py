"""Clients: registering them, their stages, the contact log, and reading what an agent types about them.

Phone numbers are validated with `phonenumbers` (Google's libphonenumber) and stored in E.164; a number without
a country code is read as mainland China first, then Hong Kong, where most of our agents and their clients are.
Every lookup of a client by id goes through `owned_client`, so an agent only ever reaches their own clients
(a forged or stale button lands on None, like a client that does not exist).
"""

from __future__ import annotations

import re
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Final, Literal

import phonenumbers
from sqlalchemy import ColumnElement, Select, Text, and_, bindparam, func, literal, or_, select, type_coerce
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql import Subquery

from bot.crypto import encrypting, phone_hash
from bot.history import record_stage_move
from bot.models import Client, ContactLog, FollowUp, ShowingReview
from bot.scheduler import cancel
from bot.showing_times import keep_in_step
from bot.statuses import CONTACT_KINDS, STAGES, ContactKind, DeliveryKind, FollowUpStatus, ShowingReviewStatus, Stage
from bot.text import clean

# Where a number without a country code is tried, in order.
HOME_REGIONS: Final = ("CN", "HK")

NAME_LIMIT: Final = 64
BUDGET_LIMIT: Final = 64
SOURCE_LIMIT: Final = 64
TEXT_LIMIT: Final = 1000
MAX_ID: Final = 2**31
# What an agent can change on a client after registering them; every detail but the name may be cleared.
DETAILS: Final = ("name", "phone", "needs", "budget", "source", "notes")
OPTIONAL_DETAILS: Final = DETAILS[1:]
# The most a typed detail may hold (a phone is checked as a number instead).
DETAIL_LIMITS: Final = {
    "name": NAME_LIMIT,
    "needs": TEXT_LIMIT,
    "budget": BUDGET_LIMIT,
    "source": SOURCE_LIMIT,
    "notes": TEXT_LIMIT,
}

_FULLWIDTH = str.maketrans("０１２３４５６７８９＋－（）：．　", "0123456789+-():. ")
# Characters a typed phone number is made of; letters (vanity numbers) are not accepted.
_PHONE_CHARS = re.compile(r"^[\d+\-().\s]+$")
_PHONE_TOKEN = re.compile(r"^\+?[\d\-().]+$")
_PHONE_INSIDE = re.compile(r"(?:\+|00)?\d[\d\-]{6,18}\d")
_PHONE_LABEL = re.compile(r"^(?:电话|電話|手机|手機|tel|phone|mobile)[:：]?(?=$|[+\d(])", re.IGNORECASE)
_DATE = re.compile(r"^\d{4}[-./]\d{1,2}[-./]\d{1,2}$")
_AMOUNT = (
    r"(?:HK\$|US\$|RMB|CNY|HKD|USD|[$¥￥£€])?\s*\d+(?:\.\d+)?"
    r"(?:\s*[-~至到]\s*\d+(?:\.\d+)?)?"
    r"\s*(?:万|萬|千|亿|億|[kKmMwW])?"
    r"(?:元|块|塊|港币|港幣|美元|刀|RMB|HKD|USD)?"
)
_BUDGET_LABEL = r"(?:预算|預算|budget)"
_LABELLED_BUDGET = re.compile(rf"{_BUDGET_LABEL}\s*[:：]?\s*({_AMOUNT})", re.IGNORECASE)
_BUDGET_ONLY_LABEL = re.compile(rf"^{_BUDGET_LABEL}[:：]?$", re.IGNORECASE)
# Without the label, an amount needs a currency or a unit to be a budget: "3" alone could be bedrooms.
_BARE_BUDGET = re.compile(
    r"(?:HK\$|US\$|[$¥￥£€])\s*\d+(?:\.\d+)?(?:\s*[-~]\s*\d+(?:\.\d+)?)?\s*[kKmMwW万萬]?"
    r"|\d+(?:\.\d+)?(?:\s*[-~至到]\s*\d+(?:\.\d+)?)?\s*(?:万|萬|亿|億|[kKmMwW](?![a-zA-Z²]))"
    r"(?:元|块|塊|港币|港幣|美元|刀)?"
)
_SOURCE = re.compile(r"(?:来源|來源|source)\s*[:：]\s*(\S+)", re.IGNORECASE)
_NOTES = re.compile(r"(?:备注|備註|notes?)\s*[:：]\s*(.*)$", re.IGNORECASE | re.DOTALL)
_TITLES = frozenset({"mr", "mrs", "ms", "miss", "dr", "mx"})
_SEPARATORS = re.compile(r"[\s,，、;；]+")


def normalise_phone(text: str) -> str | None:
    """What an agent typed → E.164 ('+8613800138000'), or None if it is not a valid number.

    Accepts mainland mobiles and landlines (13800138000, 010-12345678), Hong Kong (5123 4567) and any number
    with its country code (+1 604 555 0199, 0044 20 7946 0958).
    """
    cleaned = text.translate(_FULLWIDTH).strip()
    if not cleaned or len(cleaned) > 32 or not _PHONE_CHARS.match(cleaned):
        return None
    if sum(ch.isdigit() for ch in cleaned) < 7:
        return None
    for region in HOME_REGIONS:
        try:
            number = phonenumbers.parse(cleaned, region)
        except phonenumbers.NumberParseException:
            return None
        if phonenumbers.is_valid_number(number):
            return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
        if cleaned.startswith("+"):
            return None  # the country code is given, so no other region can make it valid
    return None


def format_phone(e164: str) -> str:
    """'+8613800138000' → '+86 138 0013 8000', readable and still dialable from anywhere."""
    try:
        number = phonenumbers.parse(e164, None)
    except phonenumbers.NumberParseException:
        return e164
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.INTERNATIONAL)


def parse_budget(text: str) -> str | None:
    """'预算300万', '300万', 'budget 3M', '$800k' → the amount as written ('300万', '3M', '$800k'); else None."""
    text = text.translate(_FULLWIDTH).strip()
    labelled = _LABELLED_BUDGET.fullmatch(text)
    if labelled:
        return _tidy_amount(labelled.group(1))
    bare = _BARE_BUDGET.fullmatch(text)
    return _tidy_amount(bare.group(0)) if bare else None


def _tidy_amount(amount: str) -> str | None:
    amount = re.sub(r"\s+", "", amount)
    return amount[:BUDGET_LIMIT] if any(ch.isdigit() for ch in amount) else None


def parse_stage(text: str) -> str | None:
    """'interested', '意向', '带看', 'closed' … → a stage, or None."""
    return _STAGE_WORDS.get(text.strip().lower())


_STAGE_WORDS: Final[dict[str, str]] = {
    **{str(stage): str(stage) for stage in STAGES},
    "新客户": "new",
    "新客戶": "new",
    "意向": "interested",
    "带看": "viewing",
    "帶看": "viewing",
    "看房": "viewing",
    "下定": "deposit",
    "定金": "deposit",
    "成交": "closed",
    "流失": "lost",
}


@dataclass(frozen=True)
class ClientDraft:
    """A client as read from one line; `bad_phone` is text that looks like a phone number but is not valid, and
    `too_long` names a detail over its limit (nothing is cut short silently: such a draft is not saved)."""

    name: str
    phone: str | None = None
    needs: str | None = None
    budget: str | None = None
    source: str | None = None
    notes: str | None = None
    bad_phone: str | None = None
    too_long: str | None = None


def parse_client_line(text: str) -> ClientDraft | None:
    """`王先生 13800138000 三居 预算300万 来源:朋友介绍 备注:周末有空` → a draft; None without a name.

    The phone and budget are recognised anywhere in the line; `来源:`/`source:` names the source and everything
    after `备注:`/`notes:` is the notes; the first word left is the name ("Mr Chan": a title takes the next word
    along) and the other words are the needs. Invisible and control characters are dropped first (`bot.text`), so
    a name made only of them is no name.
    """
    text = clean(text).translate(_FULLWIDTH).strip()
    notes = None
    found_notes = _NOTES.search(text)
    if found_notes:
        notes = found_notes.group(1).strip() or None
        text = text[: found_notes.start()]
    source = None
    found_source = _SOURCE.search(text)
    if found_source:
        source = found_source.group(1)
        text = text[: found_source.start()] + " " + text[found_source.end() :]
    words = _without_phone_labels([word for word in _SEPARATORS.split(text) if word])
    phone, words = _take_phone(words)
    budget, words = _take_budget(words)
    bad_phone = next((word for word in words if _looks_like_phone(word)), None)
    words = [word for word in words if word]
    if not words:
        return None
    if len(words) > 1 and words[0].lower().rstrip(".") in _TITLES:
        words = [f"{words[0]} {words[1]}", *words[2:]]  # "Mr Chan" is one name
    name, needs = words[0], " ".join(words[1:]) or None
    details = {"name": name, "needs": needs, "source": source, "notes": notes}
    too_long = next((key for key, value in details.items() if value and len(value) > DETAIL_LIMITS[key]), None)
    return ClientDraft(name, phone, needs, budget, source, notes, bad_phone, too_long)


# A name is a few words: a sentence typed where a name goes (`/client 客户很在意学区和地铁，预算有限…`) is asked
# about before it is registered. A Chinese name with its title is 2–5 characters (欧阳先生, 王老师, 陈太太), a nickname
# rarely more than 7 (朋友介绍的李姐); English names are one or two words, as `parse_client_line` reads them.
SENTENCE_CJK: Final = 8
SENTENCE_WITH_WORD: Final = 4  # with a word such as 客户 or 预算 (客户01 is a name; 预算有限 is not)
_CJK = re.compile(r"[\u3400-\u9fff\uf900-\ufaff]")
_SENTENCE_MARKS = re.compile(r"[。！？!?…]")
_SENTENCE_WORDS = re.compile(
    r"客户|客戶|预算|預算|需要|需求|在意|想要|想买|想買|觉得|覺得|因为|因為|但是|可是|已经|已經|我们|我們|他们|他們|很"
)
_ENGLISH_SENTENCE_WORDS: Final = frozenset(
    {"client", "customer", "budget", "wants", "needs", "looking", "prefers", "the", "he", "she", "they", "we", "i"}
)


def looks_like_sentence(name: str) -> bool:
    """Whether a name as read from a line reads more like a sentence about the client than like a name: 8 or more
    Chinese characters, sentence punctuation, 4 or more with a word a sentence about a client uses (客户, 预算,
    需要, 很…), or an English word such as "client" or "wants" standing where the name goes."""
    return (
        len(_CJK.findall(name)) >= SENTENCE_CJK
        or bool(_SENTENCE_MARKS.search(name))
        or (len(_CJK.findall(name)) >= SENTENCE_WITH_WORD and bool(_SENTENCE_WORDS.search(name)))
        or name.strip().casefold() in _ENGLISH_SENTENCE_WORDS
    )


def as_needs(draft: ClientDraft, line: str) -> ClientDraft:
    """The draft with no name yet, the sentence kept as the needs (as typed, when it fits; else its words)."""
    typed = clean(line).strip()
    words = " ".join(part for part in (draft.name, draft.needs) if part)
    needs = typed if len(typed) <= TEXT_LIMIT else words
    return ClientDraft("", draft.phone, needs, draft.budget, draft.source, draft.notes)


def with_name(pending: ClientDraft, draft: ClientDraft) -> ClientDraft:
    """A pending draft (the name still missing) completed by the line typed for the name: what that line says
    wins, and any needs it adds come after the pending ones."""
    needs = " ".join(part for part in (pending.needs, draft.needs) if part) or None
    too_long = draft.too_long or ("needs" if needs and len(needs) > TEXT_LIMIT else None)
    return ClientDraft(
        draft.name,
        draft.phone or pending.phone,
        needs,
        draft.budget or pending.budget,
        draft.source or pending.source,
        draft.notes or pending.notes,
        draft.bad_phone,
        too_long,
    )


_DRAFT_FIELDS: Final = ("name", "phone", "needs", "budget", "source", "notes")


def draft_data(draft: ClientDraft) -> dict[str, str | None]:
    """A draft as a waiting flow keeps it (JSON), until the agent answers the question asked about it."""
    return {field: getattr(draft, field) for field in _DRAFT_FIELDS}


def draft_from(data: object) -> ClientDraft | None:
    """A draft kept by `draft_data`, or None if `data` is not one (a flow written by another version)."""
    if not isinstance(data, dict) or not all(isinstance(data.get(f), str | None) for f in _DRAFT_FIELDS):
        return None
    name, phone, needs, budget, source, notes = (data.get(field) for field in _DRAFT_FIELDS)
    return ClientDraft(name, phone, needs, budget, source, notes) if isinstance(name, str) else None


def parse_contact_kind(text: str) -> ContactKind | None:
    """'电话', '微信', '面谈', '带看', 'call', 'WeChat', 'meeting' … → how the agent got in touch, or None."""
    return _KIND_WORDS.get(text.strip().casefold())


_KIND_WORDS: Final[dict[str, ContactKind]] = {
    **{word: ContactKind.CALL for word in ("电话", "電話", "打电话", "打電話", "call", "phone", "phone call")},
    **{word: ContactKind.WECHAT for word in ("微信", "wechat", "消息", "信息", "訊息", "message", "text")},
    **{
        word: ContactKind.VISIT for word in ("到访", "到訪", "面谈", "面談", "见面", "見面", "visit", "meeting", "meet")
    },
    **{word: ContactKind.VIEWING for word in ("带看", "帶看", "看房", "viewing")},
}


def _without_phone_labels(words: list[str]) -> list[str]:
    """'电话13800138000' → '13800138000'; a label standing alone ('手机：') goes; 'Telford' stays as it is."""
    kept = []
    for word in words:
        bare = _PHONE_LABEL.sub("", word)
        if bare or not _PHONE_LABEL.match(word):
            kept.append(bare)
    return kept


def _take_phone(words: list[str]) -> tuple[str | None, list[str]]:
    """The first valid number: whole words first ('+86 138 0013 8000' spans four), then inside a word."""
    for start in range(len(words)):
        for end in range(min(len(words), start + 5), start, -1):
            span = words[start:end]
            if not all(_PHONE_TOKEN.match(word) for word in span):
                continue
            phone = normalise_phone(" ".join(span))
            if phone:
                return phone, words[:start] + words[end:]
    for index, word in enumerate(words):
        for found in _PHONE_INSIDE.finditer(word):
            phone = normalise_phone(found.group(0))
            if phone:
                rest = [word[: found.start()], word[found.end() :]]
                return phone, words[:index] + [part for part in rest if part] + words[index + 1 :]
    return None, words


def _take_budget(words: list[str]) -> tuple[str | None, list[str]]:
    """'预算300万' in one word, '预算 300万' / 'budget 3M' in two, or an amount with a unit ('300万', '$800k')."""
    for index, word in enumerate(words):
        if _BUDGET_ONLY_LABEL.match(word) and index + 1 < len(words):
            amount = _LABELLED_BUDGET.fullmatch("预算" + words[index + 1])
            if amount:
                return _tidy_amount(amount.group(1)), words[:index] + words[index + 2 :]
    for pattern in (_LABELLED_BUDGET, _BARE_BUDGET):
        for index, word in enumerate(words):
            found = pattern.search(word)
            if found is None or not any(ch.isdigit() for ch in found.group(0)):
                continue
            written = found.group(1) if pattern is _LABELLED_BUDGET else found.group(0)
            rest = [word[: found.start()], word[found.end() :]]
            return _tidy_amount(written), words[:index] + [part for part in rest if part] + words[index + 1 :]
    return None, words


def _looks_like_phone(word: str) -> bool:
    """Seven or more digits written like a number: meant as a phone, so an invalid one must not pass silently."""
    digits = sum(ch.isdigit() for ch in word)
    return bool(_PHONE_TOKEN.match(word)) and digits >= 7 and not _DATE.match(word)


# -- storage --------------------------------------------------------------------------------------------


async def add_client(session: AsyncSession, agent_id: int, draft: ClientDraft, now: datetime) -> Client:
    client = Client(
        agent_id=agent_id,
        name=draft.name[:NAME_LIMIT],
        phone=draft.phone,
        needs=draft.needs,
        budget=draft.budget,
        source=draft.source,
        notes=draft.notes,
        stage=STAGES[0],
        archived=False,
        created_at=now,
        updated_at=now,
    )
    session.add(client)
    await session.flush()
    await crossings_changed(session, agent_id, now)
    return client


async def crossings_changed(session: AsyncSession, agent_id: int, now: datetime, *, sooner: bool = True) -> None:
    """When a client goes cold may have changed: the going-cold warning waits for the right morning
    (bot.recurring.watch; `sooner=False` for a contact or a follow-up done, which only ever push a crossing later)."""
    from bot.recurring import watch  # imported here: bot.recurring reads the clients through bot.stale

    await watch(session, agent_id, now, sooner=sooner)


async def archived_client(session: AsyncSession, agent_id: int, client_id: int) -> Client | None:
    """The client if it is this agent's and archived: for the archive view and ♻️ Restore, and nothing else."""
    if not 0 < client_id < MAX_ID:
        return None
    client = await session.get(Client, client_id)
    if client is None or client.agent_id != agent_id or not client.archived:
        return None
    return client


async def restore_client(session: AsyncSession, client: Client, now: datetime) -> Client | None:
    """Bring an archived client back to the list; the follow-ups cancelled when it was archived stay cancelled
    (their times have mostly passed). Refused (None returned, nothing changed) while another of the agent's
    clients has its phone number: that client is returned instead."""
    if client.phone is not None:
        owner = await client_with_phone(session, client.agent_id, client.phone)
        if owner is not None:
            return owner
    client.archived, client.updated_at = False, now
    await session.flush()
    await crossings_changed(session, client.agent_id, now)
    return None


async def archived_count(session: AsyncSession, agent_id: int) -> int:
    query = select(func.count(Client.id)).where(*_listed(agent_id, None, archived=True))
    return int((await session.execute(query)).scalar_one())


async def client_called(session: AsyncSession, agent_id: int, name: str) -> Client | None:
    """The agent's active client with exactly this name (case aside), if any: registering one more asks first."""
    if encrypting(session):
        wanted = name.strip().lower()
        named = [client_id for client_id, known, _ in await _names(session, agent_id) if known.lower() == wanted]
        first = await _in_order(session, named[:1])
        return first[0] if first else None
    result = await session.execute(
        select(Client)
        .where(*_listed(agent_id, None), func.lower(Client.name) == name.strip().lower())
        .order_by(Client.updated_at.desc(), Client.id.desc())
        .limit(1)
    )
    return result.scalar_one_or_none()


async def owned_client(session: AsyncSession, agent_id: int, client_id: int) -> Client | None:
    """The client if it is this agent's and not archived; None otherwise (another agent's, gone, or forged)."""
    if not 0 < client_id < MAX_ID:
        return None  # a forged id the database's integer column could not even hold
    client = await session.get(Client, client_id)
    return client if client is not None and owns(client, agent_id) else None


def owns(client: Client, agent_id: int) -> bool:
    """Whether the agent may act on the client: theirs, and not archived."""
    return client.agent_id == agent_id and not client.archived


async def client_with_phone(session: AsyncSession, agent_id: int, phone: str) -> Client | None:
    """The agent's client already registered with this number (the same lead often comes in twice)."""
    result = await session.execute(
        select(Client)
        .where(Client.agent_id == agent_id, await phone_is(session, phone), Client.archived.is_(False))
        .order_by(Client.id)
        .limit(1)
    )
    return result.scalar_one_or_none()


async def phone_is(session: AsyncSession, phone: str) -> ColumnElement[bool]:
    """The condition a client with this (E.164) number meets: by its keyed hash when phones are encrypted, or, for a
    row written before DATA_KEY was set and not yet rotated (no hash), by its phone stored as plain text."""
    hashed = await phone_hash(session, phone)
    if hashed is None:
        return Client.phone == phone
    return or_(Client.phone_hash == hashed, _stored_as_is(phone))


async def clients_with_phones(session: AsyncSession, agent_id: int, phones: Collection[str]) -> dict[str, int]:
    """Which of these (E.164) numbers the agent's active clients already have: number → client id, in one statement
    whether or not phones are encrypted (for merging an import by phone)."""
    if not phones:
        return {}
    by_hash = {await phone_hash(session, phone): phone for phone in set(phones)}
    conditions = [*_listed(agent_id, None)]
    newest_last = Client.id.desc()  # the oldest client with a number wins, as in `client_with_phone`
    if None in by_hash:  # no key: the numbers themselves
        plain = select(Client.phone, Client.id).where(*conditions, Client.phone.in_(phones)).order_by(newest_last)
        return {str(phone): int(client_id) for phone, client_id in await session.execute(plain)}
    stored_as_is = and_(Client.phone_hash.is_(None), type_coerce(Client.phone, Text).in_(sorted(set(phones))))
    hashed = select(Client.phone_hash, Client.phone, Client.id).where(
        *conditions, or_(Client.phone_hash.in_(list(by_hash)), stored_as_is)
    )
    found: dict[str, int] = {}
    for phone_hashed, phone, client_id in await session.execute(hashed.order_by(newest_last)):
        found[by_hash.get(phone_hashed) or str(phone)] = int(client_id)
    return found


async def _names(session: AsyncSession, agent_id: int) -> list[tuple[int, str, str | None]]:
    """(id, name, phone hash) of the agent's active clients, most recently active first: for matching names in
    Python when they are encrypted (a name is decrypted in ~10 µs; docs/benchmarks.md)."""
    result = await session.execute(
        select(Client.id, Client.name, Client.phone_hash)
        .where(*_listed(agent_id, None))
        .order_by(Client.updated_at.desc(), Client.id.desc())
    )
    return [(client_id, name, hashed) for client_id, name, hashed in result.all()]


async def _unhashed_with_phone(session: AsyncSession, agent_id: int, phone: str) -> list[int]:
    return list((await session.scalars(select(Client.id).where(*_listed(agent_id, None), _stored_as_is(phone)))).all())


def _stored_as_is(phone: str) -> ColumnElement[bool]:
    """A phone stored as plain text (before DATA_KEY was set, not rotated yet: no hash), compared as stored."""
    return and_(Client.phone_hash.is_(None), type_coerce(Client.phone, Text) == literal(phone, Text))


async def _in_order(session: AsyncSession, ids: Sequence[int]) -> list[Client]:
    if not ids:
        return []
    found = {client.id: client for client in (await session.scalars(select(Client).where(Client.id.in_(ids))))}
    return [found[client_id] for client_id in ids if client_id in found]


def update_details(client: Client, now: datetime, **details: str | None) -> None:
    """Set details (the guided flow's answers, an edit); only a real change counts as activity on the client."""
    changed = False
    for name, value in details.items():
        if name not in DETAILS:
            raise ValueError(f"not a client detail: {name}")
        if name == "name" and not value:
            raise ValueError("a client always has a name")
        changed = changed or getattr(client, name) != value
        setattr(client, name, value)
    if changed:
        client.updated_at = now


# Why a typed detail was not saved.
EditProblem = Literal["empty", "too_long", "bad_phone", "bad_budget", "duplicate"]


@dataclass(frozen=True)
class DetailEdit:
    """What became of an edit: saved when `problem` is None; `owner` has the number already for 'duplicate'."""

    problem: EditProblem | None = None
    owner: Client | None = None


async def edit_detail(
    session: AsyncSession, client: Client, detail: str, typed: str | None, now: datetime
) -> DetailEdit:
    """Check a detail typed for a registered client the way registering checks it, and save it only if it passes.

    `typed=None` clears an optional detail. A phone must be valid and not another client's of the agent, a budget
    must read as an amount, and nothing is cut short silently: text over its limit is refused, not truncated.
    """
    if detail not in DETAILS:
        raise ValueError(f"not a client detail: {detail}")
    if typed is None:
        if detail not in OPTIONAL_DETAILS:
            raise ValueError(f"{detail} cannot be cleared")
        update_details(client, now, **{detail: None})
        return DetailEdit()
    value = _read_detail(detail, typed)
    if isinstance(value, DetailEdit):
        return value
    if detail == "phone" and value != client.phone:
        owner = await client_with_phone(session, client.agent_id, value)
        if owner is not None and owner.id != client.id:
            return DetailEdit("duplicate", owner)
    update_details(client, now, **{detail: value})
    return DetailEdit()


def _read_detail(detail: str, typed: str) -> str | DetailEdit:
    """The value to store for what was typed, or the problem with it."""
    # A name, a budget and a source are one line on the card; needs and notes keep the agent's line breaks.
    typed = clean(typed)
    text = " ".join(typed.split()) if detail in ("name", "budget", "source") else typed.strip()
    if not text:
        return DetailEdit("empty")
    if detail == "phone":
        phone = normalise_phone(text)
        return phone if phone is not None else DetailEdit("bad_phone")
    if detail == "budget":
        budget = parse_budget(text)
        return budget if budget is not None else DetailEdit("bad_budget")
    return text if len(text) <= DETAIL_LIMITS[detail] else DetailEdit("too_long")


@dataclass(frozen=True)
class ClientPage:
    clients: list[Client]
    total: int
    page: int
    pages: int


def latest_saved_reviews(agent_id: int) -> Subquery:
    """The agent's saved showing reviews numbered per client, newest first (`n` 1 is each client's latest)."""
    return (
        select(
            ShowingReview.client_id,
            ShowingReview.reactions,
            func.row_number()
            .over(
                partition_by=ShowingReview.client_id,
                order_by=(ShowingReview.saved_at.desc(), ShowingReview.id.desc()),
            )
            .label("n"),
        )
        .where(ShowingReview.agent_id == agent_id, ShowingReview.status == ShowingReviewStatus.SAVED)
        .subquery()
    )


def _listed(
    agent_id: int, stage: str | None, archived: bool = False, reaction: str | None = None
) -> list[ColumnElement[bool]]:
    conditions: list[ColumnElement[bool]] = [Client.agent_id == agent_id, Client.archived.is_(archived)]
    if stage is not None:
        conditions.append(Client.stage == stage)
    if reaction is not None:
        latest = latest_saved_reviews(agent_id)
        # reactions is a comma list ("price,family"): framed in commas, one reaction is found whole.
        framed = literal(",") + latest.c.reactions + literal(",")
        has = select(latest.c.client_id).where(latest.c.n == 1, framed.like(f"%,{reaction},%"))
        conditions.append(Client.id.in_(has))
    return conditions


async def clients_page(
    session: AsyncSession,
    agent_id: int,
    stage: str | None,
    page: int,
    size: int,
    *,
    archived: bool = False,
    reaction: str | None = None,
) -> ClientPage:
    """One page of the agent's clients (of one stage, or all; or the archived ones; or those whose latest saved
    showing review has `reaction`), most recently active first.

    A page past the end shows the last one, so a button from before a client was archived still lands somewhere.
    """
    conditions = _listed(agent_id, stage, archived, reaction)
    total = int((await session.execute(select(func.count(Client.id)).where(*conditions))).scalar_one())
    pages = max(1, -(-total // size))
    page = min(max(page, 0), pages - 1)
    result = await session.execute(
        select(Client)
        .where(*conditions)
        .order_by(Client.updated_at.desc(), Client.id.desc())
        .offset(page * size)
        .limit(size)
    )
    return ClientPage(list(result.scalars()), total, page, pages)


def _search(*matches: ColumnElement[bool]) -> Select[Client]:
    return (
        select(Client)
        .where(Client.agent_id == bindparam("agent_id"), Client.archived.is_(False), or_(*matches))
        .order_by(Client.updated_at.desc(), Client.id.desc())
        .limit(bindparam("limit"))
    )


# `/followup <name> …` runs one of these each time: built once, for a name, and for a name or a phone number.
_BY_NAME = Client.name.ilike(bindparam("pattern", type_=Client.name.type), escape="\\")
_SEARCH_NAME = _search(_BY_NAME)
_SEARCH_NAME_OR_PHONE = _search(_BY_NAME, Client.phone == bindparam("phone", type_=Client.phone.type))


async def search_clients(session: AsyncSession, agent_id: int, text: str, limit: int = 10) -> list[Client]:
    """The agent's clients whose name (or phone) contains `text`, most recently active first."""
    text = text.strip()
    if not text:
        return []
    if encrypting(session):
        return await _search_decrypted(session, agent_id, text, limit)
    pattern = "%" + text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
    phone = normalise_phone(text)
    values: dict[str, object] = {"agent_id": agent_id, "pattern": pattern, "limit": limit}
    if phone:
        found = await session.scalars(_SEARCH_NAME_OR_PHONE, values | {"phone": phone})
    else:
        found = await session.scalars(_SEARCH_NAME, values)
    return list(found.all())


async def _search_decrypted(session: AsyncSession, agent_id: int, text: str, limit: int) -> list[Client]:
    """`search_clients` over encrypted names: the same rule (case aside, as ILIKE), matched in Python."""
    phone = normalise_phone(text)
    hashed = await phone_hash(session, phone) if phone else None
    # A row written before DATA_KEY was set and not rotated yet has no hash: its phone is still plain text.
    unhashed = set(await _unhashed_with_phone(session, agent_id, phone)) if phone else set()
    needle = text.lower()
    matched = [
        client_id
        for client_id, name, phone_hashed in await _names(session, agent_id)
        if needle in name.lower() or (hashed is not None and phone_hashed == hashed) or client_id in unhashed
    ]
    return await _in_order(session, matched[:limit])


async def recent_clients(session: AsyncSession, agent_id: int, limit: int) -> list[Client]:
    """The agent's clients most recently active, for a quick pick."""
    return (await clients_page(session, agent_id, None, 0, limit)).clients


# How many leading words of a line a client's name may take ("Mr Wang", "Anna Mei Lee").
NAME_WORDS = 4


async def clients_named_at_start(
    session: AsyncSession, agent_id: int, words: Sequence[str]
) -> tuple[list[Client], int]:
    """The clients a line that starts with a name means, and how many of its words the name takes: the longest run
    of leading words that is exactly a client's name ("Mr Wang" in "Mr Wang tomorrow 3pm viewing"), else the first
    word: the clients called that, or failing that, whose name (or phone) contains it. One statement: such a name
    contains the first word."""
    found = await search_clients(session, agent_id, words[0], limit=200)
    for count in range(min(len(words), NAME_WORDS), 0, -1):
        wanted = " ".join(words[:count]).casefold()
        exact = [client for client in found if " ".join(client.name.split()).casefold() == wanted]
        if exact:
            return exact, count
    return found[:10], 1


async def counts_by_stage(session: AsyncSession, agent_id: int) -> dict[str, int]:
    """How many of the agent's (not archived) clients are in each stage; every stage present, in order."""
    result = await session.execute(
        select(Client.stage, func.count(Client.id))
        .where(Client.agent_id == agent_id, Client.archived.is_(False))
        .group_by(Client.stage)
    )
    found = {stage: int(count) for stage, count in result.all()}
    return {stage: found.get(stage, 0) for stage in STAGES}


async def log_contact(session: AsyncSession, client: Client, kind: str, note: str | None, now: datetime) -> ContactLog:
    """Record a contact. A viewing moves a new or interested client on to 带看, since that is where they are now."""
    if kind not in CONTACT_KINDS:
        raise ValueError(f"unknown contact kind {kind!r}")
    entry = ContactLog(client_id=client.id, kind=kind, note=(note or "").strip()[:TEXT_LIMIT] or None, at=now)
    session.add(entry)
    client.updated_at = now
    await session.flush()
    if kind == ContactKind.VIEWING and client.stage in (Stage.NEW, Stage.INTERESTED):
        await change_stage(session, client, Stage.VIEWING, now)
    else:
        await crossings_changed(session, client.agent_id, now, sooner=False)
    return entry


async def change_stage(session: AsyncSession, client: Client, stage: str, now: datetime) -> bool:
    """Move the client to `stage`, written into their history; False if it already is there."""
    if stage not in STAGES:
        raise ValueError(f"unknown stage {stage!r}")
    if client.stage == stage:
        return False
    await record_stage_move(session, client, client.stage, stage, now)
    client.stage, client.updated_at = stage, now
    await crossings_changed(session, client.agent_id, now)  # another stage, another number of days
    return True


async def archive_client(session: AsyncSession, client: Client, now: datetime) -> int:
    """Archive the client and cancel their open follow-ups (and the nudges waiting to be sent); returns how many.

    Archiving hides the client everywhere; a nudge about a client the agent put away would only confuse.
    """
    client.archived, client.updated_at = True, now
    result = await session.execute(
        select(FollowUp).where(FollowUp.client_id == client.id, FollowUp.status == FollowUpStatus.OPEN)
    )
    follow_ups = list(result.scalars())
    for follow_up in follow_ups:
        await cancel(session, DeliveryKind.FOLLOWUP, follow_up.id)
        follow_up.status, follow_up.updated_at = FollowUpStatus.CANCELLED, now
        await keep_in_step(session, follow_up, now)
    await session.flush()
    return len(follow_ups)


async def recent_contacts(session: AsyncSession, client_id: int, limit: int = 3) -> list[ContactLog]:
    """The client's latest contacts (their log also holds stage moves: `bot.history` tells the whole story)."""
    result = await session.execute(
        select(ContactLog)
        .where(ContactLog.client_id == client_id, ContactLog.kind.in_(CONTACT_KINDS))
        .order_by(ContactLog.at.desc(), ContactLog.id.desc())
        .limit(limit)
    )
    return list(result.scalars())


async def last_contacts(session: AsyncSession, client_ids: Collection[int]) -> dict[int, ContactLog]:
    """Each client's latest contact, the first `recent_contacts` lists, for many clients in one statement (the
    engine renders a group of nudges at once); a client with none is missing."""
    if not client_ids:
        return {}
    latest = (
        select(
            ContactLog.id,
            func.row_number()
            .over(partition_by=ContactLog.client_id, order_by=(ContactLog.at.desc(), ContactLog.id.desc()))
            .label("n"),
        )
        .where(ContactLog.client_id.in_(sorted(set(client_ids))), ContactLog.kind.in_(CONTACT_KINDS))
        .subquery()
    )
    found = await session.execute(select(ContactLog).join(latest, latest.c.id == ContactLog.id).where(latest.c.n == 1))
    return {contact.client_id: contact for contact in found.scalars()}


async def open_follow_ups(session: AsyncSession, client_id: int) -> list[FollowUp]:
    """Every open follow-up of the client, earliest first (the card lists them all)."""
    result = await session.execute(
        select(FollowUp)
        .where(FollowUp.client_id == client_id, FollowUp.status == FollowUpStatus.OPEN)
        .order_by(FollowUp.due_at, FollowUp.id)
    )
    return list(result.scalars())


async def next_follow_up(session: AsyncSession, client_id: int) -> FollowUp | None:
    """The client's earliest open follow-up."""
    result = await session.execute(
        select(FollowUp)
        .where(FollowUp.client_id == client_id, FollowUp.status == FollowUpStatus.OPEN)
        .order_by(FollowUp.due_at, FollowUp.id)
        .limit(1)
    )
    return result.scalar_one_or_none()
