"""What a plain message outside any flow is about: which of the agent's clients it names, a time, a contact.

Agents write to the bot the way they write in their notebook: "王先生 明天下午3点 回电话", "remind me to call
Mr Smith tomorrow", "刚给李姐打了电话，她想看学区房". `read_message` finds in such a line
- the agent's own clients it names (`names_in`): a client's whole name ("王先生", "Mr Smith"); a short name with a
  title the agent adds in speech ("王" → "王先生", "李" → "李姐"); a Chinese full name by surname and title ("王建国"
  → "王总"); an English name by one of its words ("Mr Smith" → "Smith", "John Smith" → "John"). A whole name beats
  a partial one at the same place, so "王先生" does not also find "王建国";
- a name that is no client yet but reads like one (surname + title, "Mr X"), to offer registering it;
- a time still to come (`bot.timeparse.find_when`), and what is left of the text as the follow-up's note;
- a contact-kind word (电话, 微信, 到访, 带看 …; the first one in the text) and follow-up words (提醒, 跟进, remind).
It changes nothing; the handler offers the matching actions as buttons and acts only on a press.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Final

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.clients import NAME_LIMIT, TEXT_LIMIT
from bot.models import Agent, Client
from bot.preferences import day_part_hours
from bot.statuses import ContactKind
from bot.timeparse import When, find_when, is_past, ready
from bot.timezones import local_today

# The most clients a line is compared with: the agent's most recently active ones (far more than anyone keeps).
CLIENTS_COMPARED: Final = 5000
# Longer text is a note, not a command; the time parser reads at most this much anyway.
TIME_SEARCH_LIMIT: Final = 500

_CJK = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")
_WORD_CHAR = re.compile(r"[^\W_]", re.UNICODE)
# What people call a client in speech after the surname (longest first: 小姐 before 姐).
CHINESE_TITLES: Final = ("先生", "女士", "小姐", "太太", "老师", "老師", "阿姨", "总", "總", "姐", "哥")
ENGLISH_TITLES: Final = ("mr", "mrs", "ms", "miss", "dr", "mx")
# The commonest Chinese surnames (simplified and traditional forms): a name the agent has not registered yet is
# only guessed when it starts with one of these and ends with a title.
SURNAMES: Final = frozenset(
    "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏吕丁任沈姚卢姜"
    "崔钟谭陆汪范金石廖贾夏韦付方白邹孟熊秦邱江尹薛闫段雷侯龙史陶黎贺顾毛郝龚邵万钱严覃武戴莫孔向汤欧区甘关麦温"
    "張劉陳楊黃趙吳孫馬鄭謝許韓馮鄧蕭葉蘇呂盧鍾譚陸賈韋鄒閆龍賀顧龔萬錢嚴湯歐區關麥溫羅"
)
_ENGLISH_GUESS = re.compile(r"\b(?:Mr|Mrs|Ms|Miss|Dr)\.?\s+[A-Z][a-zA-Z'\-]{1,30}\b")
_SEPARATORS = " \t\n,.;:!?-–—，。；：！？、"

# Words that say how the agent got in touch; the first found in the text chooses the kind.
KIND_WORDS: Final[dict[ContactKind, tuple[str, ...]]] = {
    ContactKind.CALL: ("电话", "電話", "通话", "通話", "致电", "致電", "来电", "來電", "回电", "回電", "call",
                       "called", "calling", "phoned", "phone", "rang"),
    ContactKind.WECHAT: ("微信", "wechat", "短信", "发消息", "發消息", "messaged", "texted", "whatsapp"),
    ContactKind.VISIT: ("见面", "見面", "到访", "到訪", "面谈", "面談", "拜访", "拜訪", "来访", "來訪", "上门", "上門",
                        "visit", "visited", "met", "meeting"),
    ContactKind.VIEWING: ("带看", "帶看", "看房", "看了房", "viewing", "showed", "showing"),
}  # fmt: skip
FOLLOW_UP_WORDS: Final = ("提醒", "跟进", "跟進", "回电", "回電", "回访", "回訪", "再联系", "再聯繫", "remind",
                          "follow up", "follow-up", "followup", "call back", "get back")  # fmt: skip


class Intent(StrEnum):
    """What the line most likely asks for: the action offered first."""

    FOLLOW_UP = "follow_up"  # a time still to come, or 提醒/跟进/remind
    LOG = "log"  # a contact-kind word and no time to come: it happened
    CARD = "card"  # only a client's name


@dataclass(frozen=True)
class Reading:
    """What one plain message says. `clients` are the agent's own, in the order the text names them."""

    text: str
    clients: tuple[Client, ...]
    new_name: str | None
    when: When | None
    """A time still to come (a past one is left in the note)."""
    follow_up_note: str
    """The text without the time phrase and without a client's name it starts with."""
    log_note: str
    """The text without a client's name it starts with: what happened, as the agent said it."""
    kind: ContactKind | None
    intent: Intent

    @property
    def understood(self) -> bool:
        """Whether there is anything to offer (else the bot says what it can do)."""
        asks = self.when is not None or self.kind is not None or self.intent == Intent.FOLLOW_UP
        return bool(self.clients) or self.new_name is not None or asks


async def read_message(session: AsyncSession, agent: Agent, text: str, now: datetime) -> Reading:
    """Read a plain message for its clients, time, contact kind and note; changes nothing."""
    text = " ".join(text.split())
    matches = names_in(text, await _client_names(session, agent.id))
    clients = await _clients(session, agent.id, [client_id for client_id, _, _ in matches])
    kind = contact_kind(text)
    when, note = None, text
    if len(text) <= TIME_SEARCH_LIMIT:
        await ready()
        reading = find_when(text, now, agent.timezone, agent.followup_time, day_parts=day_part_hours(agent))
        if (
            reading is not None
            and not is_past(reading[0], now)
            and not _says_when_it_happened(reading[0], kind, now, agent.timezone)
        ):
            when, note = reading
    leading = next((text[start:end] for _, start, end in matches if start == 0), "")
    if when is not None or mentions(text, FOLLOW_UP_WORDS):
        intent = Intent.FOLLOW_UP
    else:
        intent = Intent.LOG if kind is not None else Intent.CARD
    return Reading(
        text=text,
        clients=clients,
        new_name=None if clients else guess_new_name(text),
        when=when,
        follow_up_note=_without_prefix(note, leading),
        log_note=_without_prefix(text, leading),
        kind=kind,
        intent=intent,
    )


def _says_when_it_happened(when: When, kind: ContactKind | None, now: datetime, zone: str) -> bool:
    """ "今天和王先生见面了", "met Mr Smith today": today without an hour, next to a contact, is when it happened."""
    return kind is not None and not when.had_time and when.local.date() == local_today(now, zone)


async def _client_names(session: AsyncSession, agent_id: int) -> list[tuple[int, str]]:
    """(id, name) of the agent's clients, most recently active first: names only, the rows are loaded once named."""
    result = await session.execute(
        select(Client.id, Client.name)
        .where(Client.agent_id == agent_id, Client.archived.is_(False))
        .order_by(Client.updated_at.desc(), Client.id.desc())
        .limit(CLIENTS_COMPARED)
    )
    return [(client_id, name) for client_id, name in result.all()]


async def _clients(session: AsyncSession, agent_id: int, ids: list[int]) -> tuple[Client, ...]:
    """The named clients, in the order named (each still checked to be this agent's)."""
    if not ids:
        return ()
    result = await session.execute(select(Client).where(Client.agent_id == agent_id, Client.id.in_(ids)))
    by_id = {client.id: client for client in result.scalars()}
    return tuple(by_id[client_id] for client_id in ids if client_id in by_id)


# -- names ----------------------------------------------------------------------------------------------------


def names_in(text: str, clients: Sequence[tuple[int, str]]) -> list[tuple[int, int, int]]:
    """(client id, start, end) of each client the text names, each client once, in the order of the text.

    A whole name found somewhere hides partial names (a title form, one word of an English name) that overlap it.
    """
    folded = _fold(text)
    whole: list[tuple[int, int, int]] = []
    partial: list[tuple[int, int, int]] = []
    for client_id, name in clients:
        name = _fold(" ".join(name.split()))
        if not name or len(name) > NAME_LIMIT:
            continue
        for start, end in _places(folded, name):
            whole.append((client_id, start, end))
        for variant in _partial_names(name):
            for start, end in _places(folded, variant):
                partial.append((client_id, start, end))
    kept = whole + [
        (client_id, start, end)
        for client_id, start, end in partial
        if not any(start < w_end and w_start < end for _, w_start, w_end in whole)
    ]
    first: dict[int, tuple[int, int, int]] = {}
    for match in sorted(kept, key=lambda m: (m[1], -(m[2] - m[1]))):
        first.setdefault(match[0], match)
    return sorted(first.values(), key=lambda m: m[1])


def _fold(text: str) -> str:
    """Case folded one character for one, so places found in the folded text are places in the text ("ß" folds
    to "ss", which would shift every place after it)."""
    return "".join(low if len(low := ch.casefold()) == 1 else ch for ch in text)


def _partial_names(name: str) -> list[str]:
    """The shorter ways an agent refers to a client registered as `name` (already casefolded)."""
    words = name.split(" ")
    if _CJK.search(name):
        if len(words) > 1:
            return []
        if name.endswith(CHINESE_TITLES):  # "王先生" is already how the agent says it
            return []
        if len(name) == 1:  # registered by surname alone: "王" is said "王先生", "李" is "李姐"
            return [name + title for title in CHINESE_TITLES]
        if 2 <= len(name) <= 4 and name[0] in SURNAMES:  # "王建国" is "王总", "王先生" in speech
            return [name[0] + title for title in CHINESE_TITLES]
        return []
    named = [word.rstrip(".") for word in words]
    if named and named[0] in ENGLISH_TITLES:
        named = named[1:]  # "Mr Smith" is also "Smith"
    return [word for word in named if len(word) >= 3 and word not in ENGLISH_TITLES and len(words) > 1]


def _places(folded: str, name: str) -> Iterable[tuple[int, int]]:
    """Where `name` stands in the text as a name: not inside a longer word ("Lee" in "sleep", "王" in "王府井")."""
    start = folded.find(name)
    while start >= 0:
        end = start + len(name)
        if _stands_alone(folded, start, end):
            yield start, end
        start = folded.find(name, start + 1)


def _stands_alone(text: str, start: int, end: int) -> bool:
    """A name's edge that is a letter (or a lone CJK character) must not touch another letter or digit."""
    first, last = text[start], text[end - 1]
    before = text[start - 1] if start > 0 else ""
    after = text[end] if end < len(text) else ""
    if end - start == 1 and _CJK.match(first):
        return not (before and _WORD_CHAR.match(before)) and not (after and _WORD_CHAR.match(after))
    if not _CJK.match(first) and _WORD_CHAR.match(first) and before and _WORD_CHAR.match(before):
        return False
    return not (not _CJK.match(last) and _WORD_CHAR.match(last) and after and _WORD_CHAR.match(after))


def guess_new_name(text: str) -> str | None:
    """A name in the text that reads like a client's ("王先生", "李姐", "王建国先生", "Mr Smith"), or None."""
    english = _ENGLISH_GUESS.search(text)
    found: list[tuple[int, str]] = [(english.start(), " ".join(english.group(0).split()))] if english else []
    for title in CHINESE_TITLES:
        at = text.find(title)
        while at > 0:
            # The surname nearest before the title: "周末王姐" is 王姐, "王建国先生" is 王建国先生.
            for length in (1, 2, 3):
                start = at - length
                if start < 0 or not all(_CJK.match(ch) for ch in text[start:at]):
                    break
                if text[start] in SURNAMES:
                    found.append((start, text[start : at + len(title)]))
                    break
            at = text.find(title, at + 1)
    if not found:
        return None
    name = min(found, key=lambda item: (item[0], -len(item[1])))[1]
    return name if len(name) <= NAME_LIMIT else None


# -- what happened, what to do ---------------------------------------------------------------------------------


def contact_kind(text: str) -> ContactKind | None:
    """The kind of contact the first contact word in the text names ("打了电话" → call), or None."""
    folded = text.casefold()
    found = [(at, kind) for kind, words in KIND_WORDS.items() for word in words if (at := _word_at(folded, word)) >= 0]
    return min(found)[1] if found else None


def mentions(text: str, words: Iterable[str]) -> bool:
    folded = text.casefold()
    return any(_word_at(folded, word) >= 0 for word in words)


def _word_at(folded: str, word: str) -> int:
    """Where `word` first stands in the text; an English word only as a whole word ("met" is not in "metro")."""
    if _CJK.search(word):
        return folded.find(word)
    found = re.search(rf"(?<![^\W_]){re.escape(word)}(?![^\W_])", folded)
    return found.start() if found else -1


def _without_prefix(text: str, prefix: str) -> str:
    """The text without the client's name it starts with ("王先生 明天回电话" → "明天回电话"), for the note."""
    if prefix and text.casefold().startswith(prefix.casefold()):
        text = text[len(prefix) :]
    return text.strip(_SEPARATORS)[:TEXT_LIMIT]
