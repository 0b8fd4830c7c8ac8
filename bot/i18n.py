"""Message catalogs: every user-visible string comes from here, in zh-Hans, en and zh-Hant.

The catalogs are gettext PO files under `content/locales/<folder>/LC_MESSAGES/*.po` (one file per concept), read
with Babel.
Message ids are keys (`settings.saved`), so a missing translation is a test failure instead of English
leaking into a Chinese chat. zh-Hant is derived from zh-Hans with OpenCC (s2tw) unless its own catalog has a
hand-written entry, which wins.

Values passed to `text()` are HTML-escaped (messages are sent with parse_mode HTML); pass `Html(...)` for a
value that is already safe markup, such as another rendered message.
"""

from __future__ import annotations

import hashlib
import html
import json
import logging
import os
import subprocess
import sys
import tempfile
from collections.abc import Iterable
from functools import cache
from pathlib import Path
from string import Formatter
from typing import Any

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


class Catalog:
    """All messages of all languages, loaded once; `text()` renders one."""

    def __init__(self, messages: dict[str, dict[str, str]], handwritten_hant: Iterable[str] = ()) -> None:
        self.messages = messages
        self.handwritten_hant = frozenset(handwritten_hant)

    @classmethod
    def load(cls) -> Catalog:
        hans = _read_catalog(FOLDERS[ZH_HANS])
        hant_own = _read_catalog(FOLDERS[ZH_HANT])
        derived = derived_traditional(hans)
        hant = {key: hant_own.get(key) or derived[key] for key in hans}
        return cls({ZH_HANS: hans, EN: _read_catalog(FOLDERS[EN]), ZH_HANT: hant}, hant_own.keys())

    def template(self, language: str, key: str) -> str:
        table = self.messages.get(language) or self.messages[ZH_HANS]
        try:
            return table[key]
        except KeyError:
            raise KeyError(f"message {key!r} is missing in the {language} catalog") from None

    def text(self, language: str, key: str, /, **values: object) -> str:
        safe = {name: v if isinstance(v, Html) else html.escape(str(v), quote=False) for name, v in values.items()}
        return self.template(language, key).format(**safe)

    def has(self, key: str) -> bool:
        return all(key in table for table in self.messages.values())

    def keys(self, language: str) -> set[str]:
        return set(self.messages[language])


def _read_catalog(folder: str) -> dict[str, str]:
    """Every `*.po` file of a language (one per concept: messages, clients, follow-ups …) as one table."""
    table: dict[str, str] = {}
    directory = content_path("locales", folder, "LC_MESSAGES")
    for node in sorted(directory.iterdir(), key=lambda n: n.name):
        if not node.name.endswith(".po"):
            continue
        with node.open("rb") as stream:
            po = read_po(stream, locale=folder)
        for message in po:
            if not message.id or not isinstance(message.id, str) or not isinstance(message.string, str):
                continue
            if message.fuzzy or not message.string:
                continue  # unreviewed or empty: treated as missing, which the catalog test reports
            if message.id in table:
                raise ValueError(f"message {message.id!r} is defined twice in {folder} ({node.name})")
            table[message.id] = message.string
    return table


def derived_traditional(hans: dict[str, str]) -> dict[str, str]:
    """zh-Hans messages in Traditional script (OpenCC s2tw, then the glossary), cached on disk.

    OpenCC's dictionaries take ~40 MiB that a process never gives back, for a conversion that only changes when
    the catalogs do. So a child process converts (`python -m bot.i18n OUT`), once per catalog version, into a
    JSON file under the user's cache folder, and every bot process just reads it.
    The child reads the messages as JSON on stdin, so what is converted is exactly what was hashed.
    """
    digest = hashlib.sha256(json.dumps(hans, sort_keys=True).encode() + _glossary_text().encode()).hexdigest()[:16]
    path = cache_dir() / f"zh_Hant-{digest}.json"
    if not path.exists():
        source = json.dumps(hans, ensure_ascii=False)
        subprocess.run([sys.executable, "-m", "bot.i18n", str(path)], input=source, text=True, check=True, timeout=300)
    derived: dict[str, str] = json.loads(path.read_text(encoding="utf-8"))
    return derived


def _convert_catalog(source: dict[str, str], path: Path) -> None:
    glossary = _read_glossary()
    converted = {key: _apply(glossary, to_traditional(value)) for key, value in source.items()}
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
    with os.fdopen(handle, "w", encoding="utf-8") as stream:
        json.dump(converted, stream, ensure_ascii=False)
    os.replace(temporary, path)


def cache_dir() -> Path:
    """Where derived data (Traditional catalogs, the city index) is kept between runs."""
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "agentcoach"


def _glossary_text() -> str:
    return content_path("locales", FOLDERS[ZH_HANT], "glossary.tsv").read_text(encoding="utf-8")


def _read_glossary() -> list[tuple[str, str]]:
    """Word choices Traditional readers expect where OpenCC's character conversion is not enough (設置 → 設定)."""
    text = _glossary_text()
    pairs = [line.split("\t") for line in text.splitlines() if line.strip() and not line.startswith("#")]
    # Longest first, so 周工作總結 is replaced before 周總結 could match inside it.
    return sorted(((converted, preferred) for converted, preferred in pairs), key=lambda p: -len(p[0]))


def _apply(glossary: list[tuple[str, str]], text: str) -> str:
    for converted, preferred in glossary:
        text = text.replace(converted, preferred)
    return text


@cache
def _s2tw() -> Any:
    import opencc

    return opencc.OpenCC("s2tw")


def to_traditional(text: str) -> str:
    """Simplified → Traditional (Taiwan standard) for text that is not in the catalogs, e.g. tips."""
    return str(_s2tw().convert(text))


@cache
def catalog() -> Catalog:
    return Catalog.load()


def t(language: str, key: str, /, **values: object) -> str:
    """Render message `key` in `language`."""
    return catalog().text(language, key, **values)


if __name__ == "__main__":
    _convert_catalog(json.loads(sys.stdin.read()), Path(sys.argv[1]))
