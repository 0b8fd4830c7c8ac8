"""The tip library: coaching tips distilled from the five seed summaries, kept as data in `content/tips/`.

`topics.yaml` names the topics (in every language, with the words that point to them); `library.yaml` holds
the tips, each with a stable id, its topics, the passage it comes from (`bot.sources`) or the mark of the team's
own advice where no passage holds the lesson (`source: {team: true}`), and its words in zh-Hans and en (zh-Hant
is derived with OpenCC, like the catalogs, unless written by hand). The schema is the pydantic models below;
`check` is what `agentcoach content check` and the tests run, so a broken library never reaches an agent.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from difflib import SequenceMatcher
from functools import cache, cached_property
from typing import Annotated, Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError, model_validator

from bot.i18n import EN, LANGUAGES, ZH_HANS, ZH_HANT, derived_traditional
from bot.sources import SUMMARIES, Passage, passage, passages
from content import content_path

# Phone-sized: what one tip message may hold per language.
MAX_TEXT = 300
MAX_TRY = 150
MAX_TITLE = 40
# Our own words, not the source's: a shared run longer than this is a copied sentence, not a short quote.
MAX_QUOTE = {ZH_HANS: 16, EN: 80}
WRITTEN = (ZH_HANS, EN)
# The address of a tip that is the team's own advice, not a lesson of the summaries.
TEAM = "team"

# Ids travel in callback data (64 bytes in all: "tip:more:<tip id>:<topic id>") and are stored (a reflection's
# tip_id holds 32 characters), so they stay short (tests/handlers/test_tips.py packs every pair).
SLUG = r"^[a-z0-9]+(?:-[a-z0-9]+)*$"
Slug = Annotated[str, StringConstraints(pattern=SLUG, max_length=32)]

_WORD = re.compile(r"[a-z]+(?:'[a-z]+)*")  # "follow-up" is two words, "couldn't" one
# A keyword found in a text: its topic, the keyword, where it starts and ends.
_Span = tuple[str, str, int, int]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class Words(_Strict):
    """One language's version of a tip."""

    title: str
    text: str
    try_today: str = Field(alias="try")


class Source(_Strict):
    """Where the lesson comes from: a numbered point ("3", "II.3") or a paragraph of a summary, or `team: true`
    for the team's own advice, which no passage of the summaries holds (the 📖 button then says so)."""

    summary: int | None = None
    point: str | None = None
    paragraph: int | None = None
    team: bool = False

    @model_validator(mode="after")
    def _one_origin(self) -> Source:
        cites = (self.summary, self.point, self.paragraph) != (None, None, None)
        if self.team and cites:
            raise ValueError("a source is a passage of the summaries or the team's own (team: true), not both")
        if not self.team and self.summary is None:
            raise ValueError(
                "a source names a passage ({summary, point or paragraph}) or is the team's own (team: true)"
            )
        if not self.team and (self.point is None) == (self.paragraph is None):
            raise ValueError("a source names either a point or a paragraph")
        return self

    @property
    def address(self) -> str:
        if self.team:
            return TEAM
        return f"{self.summary}.{self.point}" if self.point else f"{self.summary}.¶{self.paragraph}"

    def passage(self) -> Passage | None:
        """The passage cited, or None (the team's own, or an address no summary has)."""
        if self.summary is None:
            return None
        return passage(self.summary, point=self.point, paragraph=self.paragraph)


class Tip(_Strict):
    id: Slug
    topics: list[Slug] = Field(min_length=1)
    source: Source
    zh_hans: Words = Field(alias="zh-Hans")
    en: Words
    zh_hant: Words | None = Field(default=None, alias="zh-Hant")


class Topic(_Strict):
    id: Slug
    emoji: str
    names: dict[str, str]
    aliases: dict[str, list[str]] = Field(default_factory=dict)
    keywords: dict[str, list[str]]


@dataclass(frozen=True)
class Library:
    topics: tuple[Topic, ...]
    tips: tuple[Tip, ...]
    traditional: dict[str, str]
    """Derived zh-Hant strings by key (`tip.<id>.text`, `topic.<id>`), for what is not written by hand."""

    def tip(self, tip_id: str) -> Tip | None:
        return self._tips_by_id.get(tip_id)

    @cached_property
    def _tips_by_id(self) -> dict[str, Tip]:
        return {tip.id: tip for tip in self.tips}

    def words(self, tip: Tip, language: str) -> Words:
        """The tip in `language` (zh-Hant: hand-written if present, else derived)."""
        if language == EN:
            return tip.en
        if language == ZH_HANT:
            if tip.zh_hant is not None:
                return tip.zh_hant
            derived = {part: self.traditional[f"tip.{tip.id}.{part}"] for part in ("title", "text", "try")}
            return Words(title=derived["title"], text=derived["text"], try_today=derived["try"])
        return tip.zh_hans

    def topic(self, topic_id: str) -> Topic | None:
        return next((topic for topic in self.topics if topic.id == topic_id), None)

    def topic_name(self, topic: Topic, language: str) -> str:
        if language in topic.names:
            return topic.names[language]
        if language == ZH_HANT:
            return self.traditional[f"topic.{topic.id}"]
        return topic.names[ZH_HANS]

    def _traditional_words(self, topic: Topic, kind: str) -> list[str]:
        return [word for word in self.traditional.get(f"topic.{topic.id}.{kind}", "").split("|") if word]

    def _zh_keywords(self, topic: Topic) -> set[str]:
        return {*topic.keywords.get("zh", []), *self._traditional_words(topic, "keywords")}

    def tips_in(self, topic_id: str) -> list[Tip]:
        return [tip for tip in self.tips if topic_id in tip.topics]

    def find_topic(self, query: str) -> Topic | None:
        """A topic by its name or alias in any language, or by one of its keywords ("跟进", "跟進", "follow up")."""
        wanted = _fold(query)
        if not wanted:
            return None
        for topic in self.topics:
            names = [topic.id, *topic.names.values(), *(a for group in topic.aliases.values() for a in group)]
            names += [self.topic_name(topic, ZH_HANT), *self._traditional_words(topic, "aliases")]
            if wanted in {_fold(name) for name in names}:
                return topic
        for topic in self.topics:
            if wanted in {_fold(word) for word in [*self._zh_keywords(topic), *topic.keywords.get("en", [])]}:
                return topic
        return None

    def topic_scores(self, text: str) -> dict[str, int]:
        """How many of each topic's keywords `text` contains (zh: as substrings; en: as whole words or phrases, in
        any inflection: "called back" finds "call back").

        A keyword found only inside a longer keyword of another topic is that topic's word, not its own: "朋友" in
        "朋友圈", "户型" in "户型图", "down" in "down payment".
        """
        folded = _fold(text)
        words = [_stem(word) for word in _WORD.findall(folded.replace("\u2019", "'"))]
        chinese: list[_Span] = []  # zh keywords found, where: in characters
        english: list[_Span] = []  # en keywords found, where: in words
        for topic, zh, en in self._keyword_forms:
            for key in zh:
                start = folded.find(key)
                while start >= 0:
                    chinese.append((topic, key, start, start + len(key)))
                    start = folded.find(key, start + 1)
            for phrase in en:
                size = len(phrase)
                english += [
                    (topic, " ".join(phrase), at, at + size)
                    for at in range(len(words) - size + 1)
                    if tuple(words[at : at + size]) == phrase
                ]
        hits: dict[str, set[str]] = {}
        for spans in (chinese, english):
            for topic, key, start, end in spans:
                if not any(
                    other != topic and a <= start and end <= b and b - a > end - start for other, _, a, b in spans
                ):
                    hits.setdefault(topic, set()).add(key)
        return {topic: len(keys) for topic, keys in hits.items()}

    @cached_property
    def _keyword_forms(self) -> list[tuple[str, set[str], set[tuple[str, ...]]]]:
        """Per topic: its zh keywords (Simplified and Traditional) folded, its en keywords as stemmed words."""
        return [
            (
                topic.id,
                {_fold(word) for word in self._zh_keywords(topic) if _fold(word)},
                {phrase for word in topic.keywords.get("en", []) if (phrase := _phrase(word))},
            )
            for topic in self.topics
        ]


def _phrase(text: str) -> tuple[str, ...]:
    return tuple(_stem(word) for word in _WORD.findall(_fold(text).replace("\u2019", "'")))


def _stem(word: str) -> str:
    """A light English stem, the same for a word, its plural and its past ("calls", "called", "calling" → "call").

    Enough for keywords; not a linguist's stem ("lying" stays apart from "lie").
    """
    word = word.removesuffix("'s")
    if len(word) > 4 and word.endswith(("ies", "ied")):
        word = word[:-3] + "y"
    elif len(word) > 3 and word.endswith("s") and not word.endswith(("ss", "us", "is")):
        word = word[:-1]
    if len(word) > 4 and word.endswith("ed") and not word.endswith("eed"):
        word = _undouble(word[:-2])
    elif len(word) > 5 and word.endswith("ing"):
        word = _undouble(word[:-3])
    if len(word) > 3 and word.endswith("e"):
        word = word[:-1]
    elif len(word) > 2 and word.endswith("y"):
        word = word[:-1] + "i"
    return word


def _undouble(stem: str) -> str:
    """For "planned" and "planning" ("plann" → "plan"); "called", "missed" and "buzzed" keep theirs."""
    if len(stem) > 2 and stem[-1] == stem[-2] and stem[-1] not in "aeiouylsz":
        return stem[:-1]
    return stem


def _fold(text: str) -> str:
    """Case- and width-insensitive form for lookups."""
    return unicodedata.normalize("NFKC", text).strip().lower()


def _read_yaml(name: str) -> Any:
    return yaml.safe_load(content_path("tips", name).read_text(encoding="utf-8"))


def parse(topics_data: Any, tips_data: Any) -> tuple[list[Topic], list[Tip], list[str]]:
    """Validate raw YAML data; returns what parsed and a problem per entry that did not."""
    problems: list[str] = []
    topics = [topic for topic in _parse_list("topic", topics_data, problems) if isinstance(topic, Topic)]
    tips = [tip for tip in _parse_list("tip", tips_data, problems) if isinstance(tip, Tip)]
    return topics, tips, problems


def _parse_list(kind: str, data: Any, problems: list[str]) -> list[BaseModel]:
    model: type[BaseModel] = Topic if kind == "topic" else Tip
    if not isinstance(data, list):
        problems.append(f"{kind}s: the file must hold a list")
        return []
    parsed: list[BaseModel] = []
    for number, entry in enumerate(data, start=1):
        try:
            parsed.append(model.model_validate(entry))
        except ValidationError as error:
            name = entry.get("id", f"#{number}") if isinstance(entry, dict) else f"#{number}"
            for detail in error.errors():
                where = ".".join(str(part) for part in detail["loc"])
                problems.append(f"{kind} {name}: {where}: {detail['msg']}")
    return parsed


def _strings_to_derive(topics: Iterable[Topic], tips: Iterable[Tip]) -> dict[str, str]:
    strings: dict[str, str] = {}
    for topic in topics:
        # zh-Hant agents type and write in Traditional: their topic words are derived too ("|" survives OpenCC).
        strings[f"topic.{topic.id}"] = topic.names.get(ZH_HANS, "")
        strings[f"topic.{topic.id}.aliases"] = "|".join(topic.aliases.get(ZH_HANS, []))
        strings[f"topic.{topic.id}.keywords"] = "|".join(topic.keywords.get("zh", []))
    for found in passages():
        strings[f"passage.{found.address}"] = found.shown_zh
    for tip in tips:
        if tip.zh_hant is None:
            strings |= {
                f"tip.{tip.id}.title": tip.zh_hans.title,
                f"tip.{tip.id}.text": tip.zh_hans.text,
                f"tip.{tip.id}.try": tip.zh_hans.try_today,
            }
    return strings


@cache
def library() -> Library:
    """The library shipped in `content/tips`, loaded once (zh-Hant derived in a child process, cached on disk)."""
    topics, tips, problems = parse(_read_yaml("topics.yaml"), _read_yaml("library.yaml"))
    if problems:
        raise ValueError("the tip library is invalid (run `agentcoach content check`):\n" + "\n".join(problems))
    return Library(tuple(topics), tuple(tips), derived_traditional(_strings_to_derive(topics, tips)))


# --------------------------------------------------------------------------------------------------- checks

# Damage seen in the original seed: pinyin annotations "(jié)", mojibake, leftover HTML.
_PINYIN = re.compile(r"\([a-zü]*[āáǎàēéěèīíǐìōóǒòūúǔùǖǘǚǜ][a-zü]*\)", re.IGNORECASE)
_HTML = re.compile(r"</?[a-zA-Z][^>]*>|&(?:[a-zA-Z]+|#\d+);")
_MOJIBAKE = re.compile(
    r"\ufffd|锟斤拷|烫烫|屯屯|[\ue000-\uf8ff]|Ã.|â€|\?[\u4e00-\u9fff]|[\u4e00-\u9fff]\?(?![\s)）]|$)",
)


def damage(text: str) -> list[str]:
    """What in `text` looks like the damage of the original seed, if anything."""
    found = []
    for name, pattern in (("pinyin annotation", _PINYIN), ("HTML", _HTML), ("mojibake", _MOJIBAKE)):
        match = pattern.search(text)
        if match:
            found.append(f"{name} {match.group(0)!r}")
    return found


def check(topics_data: Any, tips_data: Any, *, traditional_in_simplified: set[str] | None = None) -> list[str]:
    """Every problem with the library: schema, ids, languages, lengths, topics, sources, damaged text.

    `traditional_in_simplified` holds the ids of tips whose zh-Hans text OpenCC's t2s would change (found by the
    caller in a child process): Traditional characters there mean unrepaired text.
    """
    topics, tips, problems = parse(topics_data, tips_data)
    topic_ids = [topic.id for topic in topics]
    problems += [f"topic {i}: the id is used twice" for i in sorted({i for i in topic_ids if topic_ids.count(i) > 1})]
    for topic in topics:
        for language in WRITTEN:
            if not topic.names.get(language, "").strip():
                problems.append(f"topic {topic.id}: no name in {language}")
        unknown = set(topic.names) - set(LANGUAGES)
        if unknown:
            problems.append(f"topic {topic.id}: unknown languages {sorted(unknown)}")
        if not topic.keywords.get("zh") or not topic.keywords.get("en"):
            problems.append(f"topic {topic.id}: keywords in zh and en are required")
    tip_ids = [tip.id for tip in tips]
    problems += [f"tip {i}: the id is used twice" for i in sorted({i for i in tip_ids if tip_ids.count(i) > 1})]
    for tip in tips:
        problems += [f"tip {tip.id}: {p}" for p in _tip_problems(tip, set(topic_ids))]
    for tip_id in sorted(traditional_in_simplified or ()):
        problems.append(f"tip {tip_id}: zh-Hans text has Traditional characters (unrepaired text?)")
    used = {topic for tip in tips for topic in tip.topics}
    problems += [f"topic {topic}: no tip has it" for topic in topic_ids if topic not in used]
    return problems


def _tip_problems(tip: Tip, topic_ids: set[str]) -> list[str]:
    problems = [f"unknown topic {topic!r}" for topic in tip.topics if topic not in topic_ids]
    if len(set(tip.topics)) != len(tip.topics):
        problems.append("a topic is listed twice")
    found = tip.source.passage()
    if tip.source.team:
        pass  # the team's own: no passage to find or to copy from
    elif tip.source.summary not in SUMMARIES:
        problems.append(f"source: there is no summary {tip.source.summary}")
    elif found is None:
        problems.append(f"source: summary {tip.source.summary} has no passage {tip.source.address}")
    if found is not None:
        for language, ours, theirs in ((ZH_HANS, tip.zh_hans.text, found.zh), (EN, tip.en.text, found.en)):
            copied = longest_shared_run(ours, theirs)
            if len(copied) > MAX_QUOTE[language]:
                problems.append(f"{language} text copies the source ({len(copied)} characters: {copied!r})")
    versions = {ZH_HANS: tip.zh_hans, EN: tip.en} | ({ZH_HANT: tip.zh_hant} if tip.zh_hant else {})
    for language, words in versions.items():
        for part, value, limit in (
            ("title", words.title, MAX_TITLE),
            ("text", words.text, MAX_TEXT),
            ("try", words.try_today, MAX_TRY),
        ):
            if not value.strip():
                problems.append(f"{language} {part} is empty")
            elif len(value) > limit:
                problems.append(f"{language} {part} has {len(value)} characters (at most {limit})")
            problems += [f"{language} {part}: {what}" for what in damage(value)]
    if _has_cjk(tip.en.text + tip.en.title + tip.en.try_today):
        problems.append("en text contains Chinese characters")
    if not _has_cjk(tip.zh_hans.text):
        problems.append("zh-Hans text has no Chinese characters")
    return problems


def longest_shared_run(ours: str, theirs: str) -> str:
    match = SequenceMatcher(None, ours, theirs, autojunk=False).find_longest_match()
    return ours[match.a : match.a + match.size]


def _has_cjk(text: str) -> bool:
    return bool(re.search(r"[\u4e00-\u9fff]", text))


def traditional_in_simplified(tips_data: Any) -> set[str]:
    """Ids of tips whose zh-Hans words OpenCC's t2s would change. Loads OpenCC (~40 MiB): for the check only."""
    import opencc

    t2s = opencc.OpenCC("t2s")
    _, tips, _ = parse([], tips_data)
    found = set()
    for tip in tips:
        words = tip.zh_hans.title + tip.zh_hans.text + tip.zh_hans.try_today
        if t2s.convert(words) != words:
            found.add(tip.id)
    return found


def check_files(topics_text: str, library_text: str) -> list[str]:
    """`check` on YAML text, YAML syntax errors included: what `agentcoach content check` reports."""
    try:
        topics_data, tips_data = yaml.safe_load(topics_text), yaml.safe_load(library_text)
    except yaml.YAMLError as error:
        return [f"YAML: {error}"]
    return check(topics_data, tips_data, traditional_in_simplified=traditional_in_simplified(tips_data))


def read_sources() -> tuple[Any, Any]:
    """The raw YAML of the shipped library, for `check`."""
    return _read_yaml("topics.yaml"), _read_yaml("library.yaml")
