"""The catalogs are complete in every language, and every key the code uses exists."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest
from babel.messages.pofile import read_po

from bot.i18n import EN, FOLDERS, LANGUAGES, ZH_HANS, ZH_HANT, catalog, from_telegram, placeholders, t
from content import content_path
from handlers.local_api import MESSAGE_LIMIT, TelegramError, plain_text

ROOT = Path(__file__).resolve().parents[2]


def po(folder: str) -> list[tuple[str, str, bool]]:
    entries: list[tuple[str, str, bool]] = []
    for node in content_path("locales", folder, "LC_MESSAGES").iterdir():
        if node.name.endswith(".po"):
            with node.open("rb") as stream:
                entries += [(m.id, m.string, m.fuzzy) for m in read_po(stream) if m.id]  # type: ignore[misc]
    return entries


@pytest.mark.parametrize("folder", ["zh_Hans", "en"])
def test_hand_written_catalogs_have_every_key_translated(folder: str) -> None:
    keys = {key for key, _, _ in po("zh_Hans")} | {key for key, _, _ in po("en")}
    entries = {key: (text, fuzzy) for key, text, fuzzy in po(folder)}
    assert keys - entries.keys() == set(), f"missing in {folder}"
    assert [key for key, (text, fuzzy) in entries.items() if not text or fuzzy] == []


def test_traditional_overrides_translate_existing_keys() -> None:
    assert {key for key, _, _ in po("zh_Hant")} <= {key for key, _, _ in po("zh_Hans")}


def test_every_language_has_every_key() -> None:
    keys = catalog().keys(ZH_HANS)
    for language in LANGUAGES:
        assert catalog().keys(language) == keys


def test_placeholders_agree_across_languages() -> None:
    for key in catalog().keys(ZH_HANS):
        expected = placeholders(catalog().template(ZH_HANS, key))
        for language in LANGUAGES:
            assert placeholders(catalog().template(language, key)) == expected, (key, language)


def test_every_message_is_valid_telegram_html_within_the_limit() -> None:
    for language in LANGUAGES:
        for key in catalog().keys(language):
            template = catalog().template(language, key)
            rendered = template.format(**{name: "x" for name in placeholders(template)})
            try:
                shown = plain_text(rendered, "HTML")
            except TelegramError as error:
                pytest.fail(f"{language} {key}: {error.description}")
            assert len(shown) < MESSAGE_LIMIT


def test_traditional_is_derived_and_uses_traditional_words() -> None:
    assert t(ZH_HANT, "setup.step_done") == "這一步已經完成了，可以用 /settings 修改。"
    assert "設定" in t(ZH_HANT, "command.settings") and "設置" not in t(ZH_HANT, "command.settings")
    assert t(ZH_HANT, "language.name") == "繁體中文"


def test_values_are_escaped_for_html() -> None:
    assert t(EN, "fallback.unknown_command") == catalog().template(EN, "fallback.unknown_command")
    assert "&lt;b&gt;" in t(EN, "start.resume", name="<b>")


def _keys_used_in_code() -> set[str]:
    """String literals passed as the message key to t(), tn.t() or key-taking helpers."""
    used: set[str] = set()
    for path in [*ROOT.glob("bot/**/*.py"), *ROOT.glob("handlers/**/*.py")]:
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Call) and getattr(node.func, "attr", getattr(node.func, "id", None)) == "t":
                for arg in node.args:
                    if (
                        isinstance(arg, ast.Constant)
                        and isinstance(arg.value, str)
                        and re.fullmatch(r"[a-z_]+(\.[A-Za-z_/]+)+", arg.value)
                    ):
                        used.add(arg.value)
    return used


def test_every_key_used_in_code_exists() -> None:
    used = _keys_used_in_code()
    assert len(used) > 30  # the scan really finds the calls
    assert sorted(key for key in used if not catalog().has(key)) == []


@pytest.mark.parametrize(
    ("code", "language"),
    [
        ("zh-hans", ZH_HANS),
        ("zh-CN", ZH_HANS),
        ("zh", ZH_HANS),
        ("zh-hant", ZH_HANT),
        ("zh-TW", ZH_HANT),
        ("zh-hk", ZH_HANT),
        ("zh-hant-tw", ZH_HANT),
        ("en", EN),
        ("en-GB", EN),
        ("de", ZH_HANS),
        (None, ZH_HANS),
    ],
)
def test_telegram_language_codes(code: str | None, language: str) -> None:
    assert from_telegram(code) == language


def test_folders_match_languages() -> None:
    assert set(FOLDERS) == set(LANGUAGES)


def test_traditional_catalog_is_derived_in_a_child_process_and_cached(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from bot.i18n import cache_dir, derived_traditional

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    derived = derived_traditional({"a": "设置完成，发给客户", "b": "周工作总结"})
    assert derived == {"a": "設定完成，發給客戶", "b": "週工作總結"}
    [cached] = cache_dir().glob("zh_Hant-*.json")
    assert cached.parent == tmp_path / "agentcoach"
