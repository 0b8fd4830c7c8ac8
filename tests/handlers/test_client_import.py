"""/import as an agent uses it: a messy real-world export sent as a file, the preview, ✅, and what is stored.

The files are built here the way brokerages' ERPs and Excel write them: a title row above the header, merged header
cells over a second header row, full-width digits, phones with spaces, dashes, +86 and 0086, a number cell for a
phone, empty rows, an Excel date cell and a serial number for the last contact, a GB18030 CSV.
"""

from __future__ import annotations

import io
import logging
from datetime import UTC, datetime
from pathlib import Path

import openpyxl  # type: ignore[import-untyped]
import pytest
from sqlalchemy import func, select

from bot.client_import import MAX_BYTES
from bot.models import Client, ContactLog
from bot.statuses import CONTACT_KINDS
from runtime.local_api import LocalChat, Reply
from runtime.shell import ShellNote, act
from tests.handlers.test_clients import clients_of, ready
from tests.support import Harness

EXPORT_HEADERS = ["姓名", "电话", "需求", "预算", "来源", "阶段", "备注", "最近跟进"]


def messy_workbook() -> bytes:
    """An ERP export: a merged title row, 客户姓名 merged over two header rows, 联系方式 merged over 手机 | 座机."""
    book = openpyxl.Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.title = "客户列表"
    sheet["A1"] = "XX地产 2026年客户名单（导出）"
    sheet.merge_cells("A1:I1")
    header: list[str | None] = [
        "客户姓名",
        "联系方式",
        None,
        "需求",
        "预算（万）",
        "客户来源",
        "状态",
        "备注",
        "最近跟进时间",
    ]
    for column, value in enumerate(header, start=1):
        sheet.cell(row=2, column=column, value=value)
    sheet.merge_cells("A2:A3")
    sheet.merge_cells("B2:C2")
    sheet["B3"], sheet["C3"] = "手机", "座机"
    rows: list[list[object]] = [
        ["王先生", "１３８　００１３　８０００", None, "三居", "300万", "朋友介绍", "意向", "周末有空", "2026/3/5"],
        [],  # row 5: empty
        ["Ms Chan", "+852 5123 4567", None, "2 bedrooms", "HK$8M", "Facebook", "Interested", None, None],
        ["李姐", "+86 139-0013-9000", None, "学区房", "3,000,000", "网络", "已带看", None, datetime(2026, 3, 5, 14, 0)],
        [None, None, None, "想买两居", None, None, None, "只有需求", None],  # row 8: no name, no phone
        ["赵总", "12345", None, "别墅", None, None, None, None, None],  # row 9: not a phone
        ["王先生", 13800138000, None, None, None, None, None, "第二次来电", None],  # row 10: row 4 again
        ["陈生", "0086 138 0013 8001", None, None, "500万", None, "成交", None, 46086],  # serial: 2026-03-05
        ["孙女士", None, "010-12345678", "两居", None, None, "带看", None, "昨天"],  # landline; a date not read
        [],
        [],
    ]
    for offset, cells in enumerate(rows):
        for column, cell in enumerate(cells, start=1):
            sheet.cell(row=4 + offset, column=column, value=cell)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


async def stored(harness: Harness, user_id: int = 1001) -> tuple[list[Client], int]:
    """The agent's clients and how many contacts they have logged."""
    clients = await clients_of(harness, user_id)
    async with harness.services.sessions() as session:
        contacts = await session.scalar(
            select(func.count(ContactLog.id)).where(
                ContactLog.client_id.in_([c.id for c in clients] or [0]), ContactLog.kind.in_(CONTACT_KINDS)
            )
        )
    return clients, int(contacts or 0)


async def contacts(harness: Harness, client: Client) -> list[tuple[str, datetime, str | None]]:
    async with harness.services.sessions() as session:
        found = await session.execute(
            select(ContactLog.kind, ContactLog.at, ContactLog.note)
            .where(ContactLog.client_id == client.id)
            .order_by(ContactLog.at)
        )
        return [(kind, at, note) for kind, at, note in found.all()]


async def import_file(chat: LocalChat, name: str, content: bytes) -> str:
    """Send the file, check the preview offers ✅, press it; the answer."""
    preview = await chat.send_document(name, content)
    assert preview.last.labels == ["✅ 导入", "✖️ 取消"], preview.texts
    done = await chat.press("✅ 导入")
    return done.last.text


async def test_a_messy_export_previews_every_skipped_row_and_imports_on_confirm(harness: Harness) -> None:
    chat = await ready(harness)
    reply = await chat.send_document("客户名单.xlsx", messy_workbook())
    text = "\n".join(reply.texts)
    assert "📥 客户名单.xlsx：读到 8 行" in text
    assert "识别的列：姓名、电话、需求、预算、来源、阶段、备注、最近跟进" in text
    for line in (
        "➕ 新客户 5 位",
        "⏭ 跳过 3 行",
        "• 没有姓名也没有电话：第 8 行",
        "• 电话号码无效：第 9 行",
        "• 和前面某行是同一位客户，已合并进去：第 10 行（同第 4 行）",
        "⚠️ 最近跟进的日期没看懂，其余照常导入：第 12 行",
        "确认导入吗？",
    ):
        assert line in text, text
    assert await clients_of(harness) == []  # nothing before ✅

    done = await chat.press("✅ 导入")
    assert done.last.text == "✅ 导入完成。\n➕ 新客户 5 位\n⏭ 跳过 3 行"
    [preview] = done.edited  # the preview stays, without its buttons
    assert preview.buttons == [] and "• 电话号码无效：第 9 行" in preview.text
    clients = {client.name: client for client in await clients_of(harness)}
    assert set(clients) == {"王先生", "Ms Chan", "李姐", "陈生", "孙女士"}
    wang = clients["王先生"]
    assert (wang.phone, wang.needs, wang.budget, wang.source, wang.stage) == (
        "+8613800138000", "三居", "300万", "朋友介绍", "interested",
    )  # fmt: skip
    assert wang.notes == "周末有空\n第二次来电"  # the duplicate row's notes merged in, once
    assert (clients["Ms Chan"].phone, clients["Ms Chan"].budget) == ("+85251234567", "HK$8M")
    assert (clients["李姐"].phone, clients["李姐"].budget, clients["李姐"].stage) == (
        "+8613900139000", "3,000,000", "viewing",
    )  # fmt: skip
    assert (clients["陈生"].phone, clients["陈生"].stage) == ("+8613800138001", "closed")
    assert (clients["孙女士"].phone, clients["孙女士"].stage) == ("+861012345678", "viewing")
    # The agent is in Hong Kong (onboarding): a day alone is logged at noon there, a time as given.
    assert await contacts(harness, wang) == [("call", datetime(2026, 3, 5, 4, 0, tzinfo=UTC), None)]
    assert await contacts(harness, clients["李姐"]) == [("call", datetime(2026, 3, 5, 6, 0, tzinfo=UTC), None)]
    assert await contacts(harness, clients["陈生"]) == [("call", datetime(2026, 3, 5, 4, 0, tzinfo=UTC), None)]
    assert await contacts(harness, clients["孙女士"]) == []
    assert await harness.waiting() is None


async def test_importing_the_same_file_again_changes_nothing(harness: Harness) -> None:
    chat = await ready(harness)
    await import_file(chat, "客户名单.xlsx", messy_workbook())
    before, logged = await stored(harness)

    again = await chat.send_document("客户名单.xlsx", messy_workbook())
    text = "\n".join(again.texts)
    assert "✔️ 已有且无需改动 5 位" in text and "➕" not in text and "🔗" not in text
    assert "没有要新增或更新的客户，什么都不用做。" in text
    assert again.last.buttons == []
    after, logged_after = await stored(harness)
    assert [(c.id, c.name, c.phone, c.notes, c.needs, c.stage, c.updated_at) for c in after] == [
        (c.id, c.name, c.phone, c.notes, c.needs, c.stage, c.updated_at) for c in before
    ]
    assert logged_after == logged == 3


async def test_a_client_already_registered_is_merged_not_doubled(harness: Harness) -> None:
    chat = await ready(harness)
    await chat.send("/client 王先生 138 0013 8000 四居 备注:老客户")
    reply = await chat.send_document("客户名单.xlsx", messy_workbook())
    assert "🔗 合并进已有客户 1 位（只补空白信息，备注追加）" in "\n".join(reply.texts)
    assert "➕ 新客户 4 位" in "\n".join(reply.texts)
    await chat.press("✅ 导入")
    wangs = [client for client in await clients_of(harness) if client.phone == "+8613800138000"]
    assert len(wangs) == 1
    [wang] = wangs
    # Empty details filled; what the agent had typed kept; the file's notes appended once; stage new → 意向.
    assert (wang.needs, wang.budget, wang.source, wang.stage) == ("四居", "300万", "朋友介绍", "interested")
    assert wang.notes == "老客户\n周末有空\n第二次来电"
    history = await contacts(harness, wang)
    assert [kind for kind, _, _ in history] == ["call", "stage"]


async def test_a_gb18030_csv_with_semicolons_imports(harness: Harness) -> None:
    chat = await ready(harness)
    content = "姓名;手机;预算;阶段;最近跟进\n周先生;+86 137 0013 7000;200万;意向;3月5日\n吴小姐;13600136000;;新客户;\n"
    answer = await import_file(chat, "clients.csv", content.encode("gb18030"))
    assert answer == "✅ 导入完成。\n➕ 新客户 2 位"
    clients = {client.name: client for client in await clients_of(harness)}
    assert (clients["周先生"].phone, clients["周先生"].budget, clients["周先生"].stage) == (
        "+8613700137000", "200万", "interested",
    )  # fmt: skip
    # 3月5日 without a year: the latest 5 March up to today (2026-11-25).
    assert await contacts(harness, clients["周先生"]) == [("call", datetime(2026, 3, 5, 4, 0, tzinfo=UTC), None)]


async def test_a_csv_in_the_exports_layout_imports(harness: Harness) -> None:
    """/export's clients CSV (UTF-8 with BOM, these headers) comes back in: the round trip."""
    chat = await ready(harness)
    lines = [
        ",".join(EXPORT_HEADERS),
        "王先生,+86 138 0013 8000,三居,300万,朋友介绍,意向,周末有空,2026-03-05 14:00",
        'Ms Chan,+852 5123 4567,"2 bedrooms, sea view",HK$8M,Facebook,带看,"line one\nline two",',
        "李姐,,学区房,,,新客户,,",
    ]
    answer = await import_file(chat, "agentcoach-clients.csv", "\r\n".join(lines).encode("utf-8-sig"))
    assert answer == "✅ 导入完成。\n➕ 新客户 3 位"
    clients = {client.name: client for client in await clients_of(harness)}
    assert clients["Ms Chan"].needs == "2 bedrooms, sea view"
    assert clients["Ms Chan"].notes == "line one\nline two"
    assert (clients["Ms Chan"].stage, clients["李姐"].stage, clients["李姐"].phone) == ("viewing", "new", None)
    assert await contacts(harness, clients["王先生"]) == [("call", datetime(2026, 3, 5, 6, 0, tzinfo=UTC), None)]
    again = await chat.send_document("agentcoach-clients.csv", "\r\n".join(lines).encode("utf-8-sig"))
    assert "✔️ 已有且无需改动 3 位" in again.last.text


async def test_another_agents_import_does_not_touch_the_first_agents_clients(harness: Harness) -> None:
    first = await ready(harness)
    await import_file(first, "客户名单.xlsx", messy_workbook())
    before, logged = await stored(harness)
    second = await ready(harness, user_id=2002, language_code="en")
    preview = await second.send_document("clients.xlsx", messy_workbook())
    assert "➕ 5 new clients" in preview.last.text and "🔗" not in preview.last.text
    assert "• the same client as an earlier row, merged into it: 10 (as 4)" in preview.last.text
    done = await second.press("✅ Import")
    assert done.last.text == "✅ Import done.\n➕ 5 new clients\n⏭ 3 rows skipped"
    after, logged_after = await stored(harness)
    assert [(c.id, c.notes, c.updated_at) for c in after] == [(c.id, c.notes, c.updated_at) for c in before]
    assert logged_after == logged
    theirs, _ = await stored(harness, 2002)
    assert len(theirs) == 5 and not {c.id for c in theirs} & {c.id for c in before}


async def test_cancel_changes_nothing_and_an_old_preview_is_stale(harness: Harness) -> None:
    chat = await ready(harness)
    first = await chat.send_document("客户名单.xlsx", messy_workbook())
    go = first.last.data_for("✅ 导入")
    cancelled = await chat.press("✖️ 取消")
    assert cancelled.last.text == "已取消，没有任何改动。"
    assert await clients_of(harness) == []
    stale = await chat.press_data(go)
    assert stale.toast == "这份预览已经过期了（可能已导入或取消）。请重新发送文件。"
    assert await clients_of(harness) == []
    forged = await chat.press_data("imp:go:abc")
    assert forged.toast == "这个按钮已经过期了，请用最新的消息操作。"


@pytest.mark.parametrize(
    ("name", "content", "answer"),
    [
        ("clients.txt", "姓名,电话\n王先生,13800138000\n".encode(), "这个文件我读不了：请发 .xlsx 或 .csv 文件"),
        ("clients.xlsx", b"\x00garbage\xff" * 50, "这个文件打不开，可能已损坏"),
        ("clients.xlsx", b"PK\x03\x04" + b"\x00" * 200, "这个文件打不开，可能已损坏"),
        ("clients.csv", b"", "这个文件是空的"),
        ("clients.csv", "王先生,13800138000\n李姐,13900139000\n".encode(), "没找到表头"),
        ("clients.xls", b"\xd0\xcf\x11\xe0" + b"\x00" * 100, "这是旧版 Excel（.xls）文件"),
        ("clients.csv", b"\xff\xfe\x00\xd8", "这个文件打不开"),
    ],
)
async def test_a_bad_file_gets_one_clear_line_and_changes_nothing(
    harness: Harness, caplog: pytest.LogCaptureFixture, name: str, content: bytes, answer: str
) -> None:
    chat = await ready(harness)
    caplog.set_level(logging.WARNING)
    reply = await chat.send_document(name, content)
    [line] = reply.texts
    assert line.startswith(answer), line
    assert line.endswith(("没有任何改动。", "没有可以导入的客户。")), line
    assert await clients_of(harness) == [] and await harness.waiting() is None
    assert not [record for record in caplog.records if record.levelno >= logging.ERROR]


async def test_a_file_too_big_is_refused_before_it_is_downloaded(harness: Harness) -> None:
    chat = await ready(harness)
    reply = await chat.send_document("big.csv", b"x" * (MAX_BYTES + 1))
    assert reply.last.text == "文件太大了：最多 5 MB。可以分成几个文件发。没有任何改动。"
    assert not [call for call in harness.api.calls if call.method in ("getFile", "downloadFile")]


async def test_slash_import_explains_what_to_send(harness: Harness) -> None:
    chat = await ready(harness, language_code="en")
    reply = await chat.send("/import")
    assert reply.last.text.startswith("📥 Import clients\nSend me your client list")
    assert "Files up to 5 MB and 20,000 rows." in reply.last.text


async def test_a_long_skip_list_is_told_in_ranges_and_split_over_messages(harness: Harness) -> None:
    chat = await ready(harness)
    lines = ["姓名,电话,备注"] + [f"客户{i},{'12345' if i % 2 else 13800000000 + i},x" for i in range(3000)]
    reply = await chat.send_document("many.csv", "\n".join(lines).encode())
    text = "\n".join(reply.texts)
    assert "⏭ 跳过 1500 行" in text and "➕ 新客户 1500 位" in text
    assert "• 电话号码无效：第 3、5、7、" in text and "、3001 行" in text
    assert len(reply.sent) > 1 and reply.last.labels == ["✅ 导入", "✖️ 取消"]
    done = await chat.press("✅ 导入")
    assert done.last.text == "✅ 导入完成。\n➕ 新客户 1500 位\n⏭ 跳过 1500 行"
    assert len(await clients_of(harness)) == 1500


async def test_a_file_telegram_will_not_hand_over_is_one_line(harness: Harness) -> None:
    chat = await ready(harness)
    harness.api.fail_next("getFile", 400, "Bad Request: file is too big")
    reply = await chat.send_document("clients.csv", "姓名,电话\n王先生,13800138000\n".encode())
    assert reply.texts == ["文件没能下载下来，请再发一次。没有任何改动。"]
    assert await clients_of(harness) == [] and await harness.waiting() is None


async def test_the_local_shell_sends_a_file_with_slash_file(harness: Harness, tmp_path: Path) -> None:
    chat = await ready(harness)
    path = tmp_path / "clients.csv"
    path.write_bytes("姓名,电话\n王先生,13800138000\n".encode())
    reply = await act(chat, f"/file {path}")
    assert isinstance(reply, Reply) and reply.last.labels == ["✅ 导入", "✖️ 取消"]
    missing = await act(chat, f"/file {tmp_path / 'missing.csv'}")
    assert isinstance(missing, ShellNote) and missing.key == "shell.file_unreadable"


async def test_a_preview_survives_a_restart(harness: Harness) -> None:
    """The wait is in the database and the file with Telegram: ✅ after a restart imports what was previewed."""
    chat = await ready(harness)
    preview = await chat.send_document("客户名单.xlsx", messy_workbook())
    go = preview.last.data_for("✅ 导入")
    telegram = harness.api
    await harness.restart()
    # Telegram keeps the file and the chat's messages across our restart; the fake starts empty, so hand them over.
    harness.api.stored.update(telegram.stored)
    harness.api.messages.update(telegram.messages)
    harness.api._message_ids.update(telegram._message_ids)
    chat = harness.chat()
    done = await chat.press_data(go, preview.last)
    assert done.last.text == "✅ 导入完成。\n➕ 新客户 5 位\n⏭ 跳过 3 行"
    assert len(await clients_of(harness)) == 5
