"""Message catalogs: every user-visible string comes from here, in zh-Hans, en and zh-Hant.

The catalogs are gettext PO files under `content/locales/<folder>/LC_MESSAGES/*.po` (one file per concept), read
with Babel.
Message ids are keys (`settings.saved`), so a missing translation is a test failure instead of English
leaking into a Chinese chat. zh-Hant is derived from zh-Hans with OpenCC (see below) unless its own catalog has a
hand-written entry, which wins.

Values passed to `text()` are HTML-escaped (messages are sent with parse_mode HTML); pass `Html(...)` for a
value that is already safe markup, such as another rendered message.

Plurals are gettext's: an entry with `msgid_plural` (the same key) and `msgstr[0]`, `msgstr[1]`… holds one form per
plural category of its language, chosen by Babel's plural rule for that language (English "1 day" / "2 days";
Chinese has one form). The number is always the `count` value, and it is also the `{count}` placeholder:
`t(lang, "list.today_title", count=3)`, `tn.t("reflect.streak", count=days)`. A message with two numbers renders
the second as its own plural message passed in as `Html` (see `reflect.journal` and `reflect.work_days`).
Callers never pick a form themselves; a plural message rendered without `count` is an error.

zh-Hant is derived with OpenCC's `s2twp` (Taiwan characters and phrases: 默認 → 預設, 保存 → 儲存), given our own
words first (`content/locales/zh_Hant/opencc_words.tsv`, Simplified → Traditional, where OpenCC would pick the wrong
character: 每签一单 → 每簽一單, not 每籤), then `content/locales/zh_Hant/glossary.tsv` (words OpenCC leaves
mainland, and quotes “” → 「」). Everything in zh-Hant that is derived goes this one way: catalogs, tips, topics,
source passages, summary templates. `content/locales/zh_Hant/bad_forms.tsv` lists what must never come out; the tests
check every derived string against it. A change of any of these files, or of the messages, derives them again.
"""

from __future__ import annotations

import hashlib
import html
import json
import logging
import os
import re
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterable
from functools import cache
from gettext import c2py
from pathlib import Path
from string import Formatter
from typing import Any

from babel.messages.plurals import get_plural
from babel.messages.pofile import read_po

from content import content_path

log = logging.getLogger(__name__)

ZH_HANS = "zh-Hans"
EN = "en"
ZH_HANT = "zh-Hant"
LANGUAGES: tuple[str, ...] = (ZH_HANS, EN, ZH_HANT)
FOLDERS = {ZH_HANS: "zh_Hans", EN: "en", ZH_HANT: "zh_Hant"}
# What Babel calls each language, for day names and the like.
BABEL_LOCALES = {ZH_HANS: "zh_Hans_CN", EN: "en", ZH_HANT: "zh_Hant_TW"}
# The value that picks a plural message's form.
COUNT = "count"

# A message is one template, or (a plural message) one template per plural form of its language.
Template = str | tuple[str, ...]


class Html(str):
    """A value that is already safe HTML and must not be escaped again."""

    __slots__ = ()


def from_telegram(code: str | None, default: str = ZH_HANS) -> str:
    """Map Telegram's IETF-ish language_code (zh-hans, zh-TW, en-US…) to one of ours."""
    if not code:
        return default
    code = code.lower().replace("_", "-")
    if code.startswith("zh"):
        traditional = ("zh-hant", "zh-tw", "zh-hk", "zh-mo")
        return ZH_HANT if code.startswith(traditional) else ZH_HANS
    if code.startswith("en"):
        return EN
    return default


def placeholders(template: str) -> set[str]:
    """The {names} a template expects."""
    return {field for _, field, _, _ in Formatter().parse(template) if field}


@cache
def plural_rule(language: str) -> Callable[[int], int]:
    """Which form (msgstr[n]) a count takes in `language`: Babel's gettext rule for the locale."""
    return c2py(get_plural(BABEL_LOCALES[language]).plural_expr)


def plural_count(language: str) -> int:
    """How many forms a plural message has in `language` (English 2, Chinese 1)."""
    return int(get_plural(BABEL_LOCALES[language]).num_plurals)


class Catalog:
    """All messages of all languages, loaded once; `text()` renders one."""

    def __init__(self, messages: dict[str, dict[str, Template]], handwritten_hant: Iterable[str] = ()) -> None:
        self.messages = messages
        self.handwritten_hant = frozenset(handwritten_hant)

    @classmethod
    def load(cls) -> Catalog:
        hans = _read_catalog(FOLDERS[ZH_HANS])
        hant_own = _read_catalog(FOLDERS[ZH_HANT])
        # Each plural form is derived as its own string ("key[0]"), then put back together.
        flat = {f"{key}[{n}]": form for key, message in hans.items() for n, form in enumerate(_forms(message))}
        derived = derived_traditional(flat)
        hant: dict[str, Template] = {}
        for key, message in hans.items():
            forms = tuple(derived[f"{key}[{n}]"] for n in range(len(_forms(message))))
            hant[key] = hant_own.get(key) or (forms if isinstance(message, tuple) else forms[0])
        return cls({ZH_HANS: hans, EN: _read_catalog(FOLDERS[EN]), ZH_HANT: hant}, hant_own.keys())

    def forms(self, language: str, key: str) -> tuple[str, ...]:
        """A message's templates: one, or one per plural form."""
        table = self.messages.get(language) or self.messages[ZH_HANS]
        try:
            found = table[key]
        except KeyError:
            raise KeyError(f"message {key!r} is missing in the {language} catalog") from None
        return _forms(found)

    def is_plural(self, key: str) -> bool:
        return isinstance(self.messages[ZH_HANS].get(key), tuple)

    def template(self, language: str, key: str, count: int | None = None) -> str:
        """The template to render; a plural message needs the count that picks its form."""
        forms = self.forms(language, key)
        if not self.is_plural(key):
            return forms[0]
        if count is None:
            raise TypeError(f"message {key!r} is plural: render it with count=")
        return forms[min(plural_rule(language)(abs(count)), len(forms) - 1)]

    def text(self, language: str, key: str, /, **values: object) -> str:
        count = values.get(COUNT)
        template = self.template(language, key, count if isinstance(count, int) else None)
        safe = {name: v if isinstance(v, Html) else html.escape(str(v), quote=False) for name, v in values.items()}
        return template.format(**safe)

    def has(self, key: str) -> bool:
        return all(key in table for table in self.messages.values())

    def keys(self, language: str) -> set[str]:
        return set(self.messages[language])


def _forms(message: Template) -> tuple[str, ...]:
    return message if isinstance(message, tuple) else (message,)


def _read_catalog(folder: str) -> dict[str, Template]:
    """Every `*.po` file of a language (one per concept: messages, clients, follow-ups …) as one table."""
    table: dict[str, Template] = {}
    directory = content_path("locales", folder, "LC_MESSAGES")
    for node in sorted(directory.iterdir(), key=lambda n: n.name):
        if not node.name.endswith(".po"):
            continue
        with node.open("rb") as stream:
            po = read_po(stream, locale=folder)
        for message in po:
            key = message.id[0] if isinstance(message.id, tuple) else message.id
            string = tuple(message.string) if isinstance(message.string, (tuple, list)) else message.string
            if not key or not isinstance(key, str) or not string or not all(string):
                continue  # the header, or empty: treated as missing, which the catalog test reports
            if message.fuzzy:
                continue  # unreviewed: the same
            if key in table:
                raise ValueError(f"message {key!r} is defined twice in {folder} ({node.name})")
            table[key] = string
    return table


# OpenCC's Simplified → Taiwan Traditional with Taiwan phrases (默认 → 預設, 保存 → 儲存, 视频 → 影片).
OPENCC_CONFIG = "s2twp"


def derived_traditional(hans: dict[str, str]) -> dict[str, str]:
    """zh-Hans messages in Traditional script (OpenCC s2twp, then the glossary), cached on disk.

    OpenCC's dictionaries take ~40 MiB that a process never gives back, for a conversion that only changes when
    the catalogs do. So a child process converts (`python -m bot.i18n OUT`), once per catalog version, into a
    JSON file under the user's cache folder, and every bot process just reads it.
    The child reads the messages as JSON on stdin, so what is converted is exactly what was hashed.
    """
    # Everything the result depends on is hashed: the messages, our words, the glossary and the OpenCC configuration.
    recipe = json.dumps([OPENCC_CONFIG, _opencc_words_text(), _glossary_text(), hans], sort_keys=True).encode()
    path = cache_dir() / f"zh_Hant-{hashlib.sha256(recipe).hexdigest()[:16]}.json"
    if not path.exists():
        source = json.dumps(hans, ensure_ascii=False)
        subprocess.run([sys.executable, "-m", "bot.i18n", str(path)], input=source, text=True, check=True, timeout=300)
    derived: dict[str, str] = json.loads(path.read_text(encoding="utf-8"))
    return derived


def _convert_catalog(source: dict[str, str], path: Path) -> None:
    taiwan_words = glossary_replacer(_read_glossary())
    converted = {key: taiwan_words(to_traditional(value)) for key, value in source.items()}
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
    with os.fdopen(handle, "w", encoding="utf-8") as stream:
        json.dump(converted, stream, ensure_ascii=False)
    os.replace(temporary, path)


def cache_dir() -> Path:
    """Where derived data (Traditional catalogs, the city index) is kept between runs."""
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "agentcoach"


def _zh_hant_file(name: str) -> str:
    return content_path("locales", FOLDERS[ZH_HANT], name).read_text(encoding="utf-8")


def _glossary_text() -> str:
    return _zh_hant_file("glossary.tsv")


def _opencc_words_text() -> str:
    return _zh_hant_file("opencc_words.tsv")


def read_pairs(text: str) -> list[tuple[str, str]]:
    """The two tab-separated columns of a zh_Hant word list; "#" lines are comments."""
    pairs = []
    for line in text.splitlines():
        if line.strip() and not line.startswith("#"):
            left, right = line.split("\t")[:2]
            pairs.append((left, right))
    return pairs


def _read_glossary() -> list[tuple[str, str]]:
    """Word choices Traditional readers expect where OpenCC's conversion is not enough (當前 → 目前, “ → 「)."""
    return read_pairs(_glossary_text())


def glossary_replacer(glossary: list[tuple[str, str]]) -> Callable[[str], str]:
    """One pass over a text, at each place the longest glossary word that starts there (周工作總結 before 周總結).

    One pass, so a replacement is never replaced again, and an entry that maps a word to itself keeps that word
    from a shorter entry inside it (下定決心 against 下定).
    """
    if not glossary:
        return lambda text: text
    preferred = dict(glossary)
    words = re.compile("|".join(re.escape(word) for word in sorted(preferred, key=len, reverse=True)))
    return lambda text: words.sub(lambda found: preferred[found.group(0)], text)


@cache
def _opencc() -> Any:
    """OpenCC's s2twp with our words added by its own means: a text dictionary in its segmentation and in its first
    step (Simplified → Traditional), beside its phrases and before its characters, so 签 alone becomes 簽 while its
    own phrases (标签 → 標籤, 抽签 → 抽籤) still win, being longer."""
    import opencc

    share = Path(opencc.__file__).parent / "clib" / "share" / "opencc"
    config = json.loads((share / f"{OPENCC_CONFIG}.json").read_text(encoding="utf-8"))
    _locate_dictionaries(config, share)
    with tempfile.TemporaryDirectory() as folder:
        words = Path(folder, "words.txt")
        words.write_text("".join(f"{s}\t{t}\n" for s, t in read_pairs(_opencc_words_text())), encoding="utf-8")
        ours = {"type": "text", "file": str(words)}
        config["segmentation"]["dict"]["dicts"].insert(0, ours)
        config["conversion_chain"][0]["dict"]["dicts"][0]["dicts"].insert(0, ours)
        path = Path(folder, "config.json")
        path.write_text(json.dumps(config, ensure_ascii=False), encoding="utf-8")
        return opencc.OpenCC(str(path))  # it reads the files now: the folder can go


def _locate_dictionaries(node: Any, share: Path) -> None:
    """OpenCC's configuration names its dictionaries relative to its own folder; ours is elsewhere."""
    if isinstance(node, dict):
        if node.get("type") == "ocd2":
            node["file"] = str(share / node["file"])
        for value in node.values():
            _locate_dictionaries(value, share)
    elif isinstance(node, list):
        for value in node:
            _locate_dictionaries(value, share)


def to_traditional(text: str) -> str:
    """Simplified → Traditional (Taiwan characters and phrases), before the glossary."""
    return str(_opencc().convert(text))


@cache
def catalog() -> Catalog:
    return Catalog.load()


def t(language: str, key: str, /, **values: object) -> str:
    """Render message `key` in `language`; a plural message takes its form from `count=`."""
    return catalog().text(language, key, **values)


if __name__ == "__main__":
    _convert_catalog(json.loads(sys.stdin.read()), Path(sys.argv[1]))
