"""The catalogs are complete in every language, and every key the code uses exists."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest
from babel.messages.plurals import get_plural
from babel.messages.pofile import read_po

from bot.i18n import (
    BABEL_LOCALES,
    EN,
    FOLDERS,
    LANGUAGES,
    ZH_HANS,
    ZH_HANT,
    catalog,
    derived_traditional,
    from_telegram,
    placeholders,
    plural_count,
    read_pairs,
    t,
)
from content import content_path
from runtime.local_api import MESSAGE_LIMIT, TelegramError, plain_text

ROOT = Path(__file__).resolve().parents[2]


def po(folder: str) -> list[tuple[str | tuple[str, str], str | tuple[str, ...], bool]]:
    """(msgid, msgstr, fuzzy) of every entry; a plural entry has (msgid, msgid_plural) and one msgstr per form."""
    entries: list[tuple[str | tuple[str, str], str | tuple[str, ...], bool]] = []
    for node in content_path("locales", folder, "LC_MESSAGES").iterdir():
        if node.name.endswith(".po"):
            with node.open("rb") as stream:
                entries += [(m.id, m.string, m.fuzzy) for m in read_po(stream) if m.id]  # type: ignore[misc]
    return [(key, tuple(text) if isinstance(text, list) else text, fuzzy) for key, text, fuzzy in entries]


@pytest.mark.parametrize("folder", ["zh_Hans", "en"])
def test_hand_written_catalogs_have_every_key_translated(folder: str) -> None:
    keys = {_key(key) for key, _, _ in po("zh_Hans")} | {_key(key) for key, _, _ in po("en")}
    entries = {_key(key): (text, fuzzy) for key, text, fuzzy in po(folder)}
    assert keys - entries.keys() == set(), f"missing in {folder}"
    assert [key for key, (text, fuzzy) in entries.items() if not text or not all(text) or fuzzy] == []


def _key(msgid: str | tuple[str, str]) -> str:
    if isinstance(msgid, tuple):
        assert msgid[0] == msgid[1], f"a plural entry's msgid_plural is its key again: {msgid}"
        return msgid[0]
    return msgid


def test_traditional_overrides_translate_existing_keys() -> None:
    assert {_key(key) for key, _, _ in po("zh_Hant")} <= {_key(key) for key, _, _ in po("zh_Hans")}


def test_every_language_has_every_key() -> None:
    keys = catalog().keys(ZH_HANS)
    for language in LANGUAGES:
        assert catalog().keys(language) == keys


def test_placeholders_agree_across_languages() -> None:
    for key in catalog().keys(ZH_HANS):
        expected = placeholders(catalog().forms(ZH_HANS, key)[0])
        for language in LANGUAGES:
            for form in catalog().forms(language, key):
                assert placeholders(form) == expected, (key, language)


def test_every_message_is_valid_telegram_html_within_the_limit() -> None:
    for language in LANGUAGES:
        for key in catalog().keys(language):
            for template in catalog().forms(language, key):
                rendered = template.format(**{name: "x" for name in placeholders(template)})
                try:
                    shown = plain_text(rendered, "HTML")
                except TelegramError as error:
                    pytest.fail(f"{language} {key}: {error.description}")
                assert len(shown) < MESSAGE_LIMIT


# ------------------------------------------------------------------------------------------------ plurals


def _plural_keys() -> list[str]:
    return sorted(key for key in catalog().keys(ZH_HANS) if catalog().is_plural(key))


def test_a_message_is_plural_in_every_language_or_in_none_with_the_forms_its_language_has() -> None:
    singular_en = {key for key, _, _ in po("en") if isinstance(key, str)}
    plural_en = {key[0] for key, _, _ in po("en") if isinstance(key, tuple)}
    plural_hans = {key[0] for key, _, _ in po("zh_Hans") if isinstance(key, tuple)}
    assert plural_en == plural_hans == set(_plural_keys()) and not plural_en & singular_en
    assert len(_plural_keys()) >= 10
    for language, forms in ((EN, 2), (ZH_HANS, 1), (ZH_HANT, 1)):
        assert plural_count(language) == forms
        for key in _plural_keys():
            assert len(catalog().forms(language, key)) == forms, (language, key)
            assert "{count}" in catalog().forms(language, key)[0], key  # the number that picks the form is shown


@pytest.mark.parametrize("folder", ["zh_Hans", "zh_Hant", "en"])
def test_each_catalog_declares_its_languages_plural_rule(folder: str) -> None:
    language = next(lang for lang, name in FOLDERS.items() if name == folder)
    expected = get_plural(BABEL_LOCALES[language]).plural_forms
    files = [node for node in content_path("locales", folder, "LC_MESSAGES").iterdir() if node.name.endswith(".po")]
    assert files
    for node in files:
        with node.open("rb") as stream:
            assert read_po(stream).plural_forms == expected, node.name


@pytest.mark.parametrize("key", _plural_keys())
@pytest.mark.parametrize("count", [0, 1, 2, 21])
def test_english_plurals_agree_with_their_count(key: str, count: int) -> None:
    values = {name: "x" for name in placeholders(catalog().forms(EN, key)[0])} | {"count": count}
    shown = t(EN, key, **values)
    nouns = (
        "day|tip|follow-up|client|character|call|message|visit|viewing|contact|team|member|lead|use|invite|row|review"
    )
    counted = re.findall(rf"\b{count} (?:work |overdue |new |WeChat |open |showing )?({nouns})(s?)\b", shown)
    assert counted, shown  # the count is shown with its noun
    assert all((ending == "s") == (count != 1) for _, ending in counted), shown
    assert "(s)" not in shown
    for language in (ZH_HANS, ZH_HANT):
        assert str(count) in t(language, key, **values)


def test_no_english_message_hedges_a_plural() -> None:
    """Every count shown with a noun is a plural message; no "(s)" anywhere."""
    nouns = "days?|work days?|clients?|tips?|follow-ups?|characters?|hours?|minutes?|times|messages?|contacts?"
    hedged = re.compile(rf"\(s\)|\(es\)|\{{\w+\}} (?:\w+ )?(?:{nouns})\b")
    for key in catalog().keys(EN):
        for form in catalog().forms(EN, key):
            if catalog().is_plural(key):
                continue  # checked with real counts above
            assert not hedged.search(form), (key, form)


def test_a_plural_message_needs_its_count() -> None:
    with pytest.raises(TypeError, match="count"):
        t(EN, "reflect.work_days")
    assert t(EN, "reflect.work_days", count=1) == "1 work day"
    assert t(EN, "reflect.work_days", count=-1) == "-1 work day"
    assert t(ZH_HANS, "reflect.work_days", count=5) == "5 个工作日"


def test_traditional_is_derived_and_uses_traditional_words() -> None:
    assert t(ZH_HANT, "setup.step_done") == "這一步已經完成了，可以用 /settings 修改。"
    assert "設定" in t(ZH_HANT, "command.settings") and "設置" not in t(ZH_HANT, "command.settings")
    assert t(ZH_HANT, "language.name") == "繁體中文"


def _glossary_words() -> list[str]:
    text = content_path("locales", "zh_Hant", "glossary.tsv").read_text(encoding="utf-8")
    return [line.split("\t")[0] for line in text.splitlines() if line.strip() and not line.startswith("#")]


def test_traditional_says_it_the_taiwan_way_with_corner_quotes() -> None:
    mainland = ["默認", "保存", "聯繫", "當前", "設置", "消息", "視頻", "屏幕", "短信", "打印", "“", "”", "‘", "’"]
    assert set(mainland) <= set(_glossary_words())
    for key in catalog().keys(ZH_HANT):
        for form in catalog().forms(ZH_HANT, key):
            assert [word for word in _glossary_words() if word in form] == [], (key, form)
    assert "預設跟進時間" in t(ZH_HANT, "setting.followup")
    assert "儲存" in t(ZH_HANT, "error.generic") and "「完成」" in t(ZH_HANT, "ask.workdays")
    assert "聯絡" in t(ZH_HANT, "clients.button.log")


def test_a_changed_glossary_derives_the_catalog_again(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import bot.i18n
    from bot.i18n import cache_dir, derived_traditional

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    derived_traditional({"a": "当前"})
    original = bot.i18n._glossary_text()
    monkeypatch.setattr(bot.i18n, "_glossary_text", lambda: original + "目前\t現在\n")
    derived_traditional({"a": "当前"})
    assert len(list(cache_dir().glob("zh_Hant-*.json"))) == 2


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


def _bad_forms() -> list[str]:
    return [bad for bad, _ in read_pairs(content_path("locales", "zh_Hant", "bad_forms.tsv").read_text("utf-8"))]


def _derived_traditional_texts() -> dict[str, str]:
    """Every zh-Hant text an agent can be shown that is derived (or hand-written beside the derived ones)."""
    from bot import weekly_summary
    from bot.sources import passages
    from bot.tip_library import library

    lib = library()
    texts = {f"catalog {key}": " / ".join(catalog().forms(ZH_HANT, key)) for key in catalog().keys(ZH_HANT)}
    for tip in lib.tips:
        words = lib.words(tip, ZH_HANT)
        texts[f"tip {tip.id}"] = " / ".join((words.title, words.text, words.try_today))
    for topic in lib.topics:
        forms = [
            lib.topic_name(topic, ZH_HANT),
            *(lib.traditional[f"topic.{topic.id}.{k}"] for k in ("aliases", "keywords")),
        ]
        texts[f"topic {topic.id}"] = " / ".join(forms)
    texts |= {f"passage {p.address}": lib.traditional[f"passage.{p.address}"] for p in passages()}
    summary = weekly_summary.template(ZH_HANT).model_dump()
    texts |= {f"summary {path}": text for path, text in weekly_summary.strings(summary)}
    return texts


def test_no_derived_traditional_text_has_a_known_bad_form() -> None:
    bad_forms = _bad_forms()
    assert {"籤約", "每籤", "少籤", "網籤", "采光", "家具", "聯繫", "信息", "視頻", "“", "”"} <= set(bad_forms)
    texts = _derived_traditional_texts()
    assert len([where for where in texts if where.startswith("tip ")]) >= 76
    found = [(where, bad, text) for where, text in texts.items() for bad in bad_forms if bad in text]
    assert found == []


def test_signing_is_written_簽_and_the_words_for_lots_keep_籤() -> None:
    derived = derived_traditional(
        {
            "sign": "每签一单，少签一单，网签备案，签约，签单，签字，签了，签合同",
            "lots": "标签、抽签、书签、牙签、中签",
            "words": "我个人觉得采光一般，您觉得家具会怎么摆，再联系，发信息，看视频，下定决心",
        }
    )
    assert derived["sign"] == "每簽一單，少簽一單，網簽備案，簽約，簽單，簽字，簽了，簽合約"
    assert derived["lots"] == "標籤、抽籤、書籤、牙籤、中籤"
    assert derived["words"] == "我個人覺得採光一般，您覺得傢俱會怎麼擺，再聯絡，發訊息，看影片，下定決心"
