"""Reading client lists (bot/client_import.py): the header mapper and the phone and date normalisers, by rule and by
property (hypothesis), and the file readers' encodings and delimiters."""

from __future__ import annotations

import io
import itertools
import unicodedata
from datetime import UTC, date, datetime, time, timedelta

import openpyxl  # type: ignore[import-untyped]
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.client_import import (
    _ALIASES,
    MAX_ROWS,
    Field,
    ImportRefused,
    Outcome,
    Refusal,
    SkipReason,
    apply_plan,
    header_field,
    preview_file,
    read_contact_date,
    read_file,
    read_phone,
    read_stage,
    row_ranges,
)
from bot.clients import normalise_phone
from bot.db import session_factory
from bot.models import Agent, Client, ContactLog

TODAY = date(2026, 11, 25)
_TO_FULL_WIDTH = {chr(c): chr(c + 0xFEE0) for c in range(0x21, 0x7F)} | {" ": "\u3000"}


def full_width(text: str) -> str:
    return "".join(_TO_FULL_WIDTH.get(ch, ch) for ch in text)


# -- headers --------------------------------------------------------------------------------------------------

ALIASES = [(found, alias) for found, aliases in _ALIASES.items() for alias in aliases]


@given(
    st.sampled_from(ALIASES),
    st.sampled_from(["", " ", "  ", "\t", "\u3000"]),
    st.sampled_from(["", " ", "：", ":", " *", "(必填)", "（万）"]),
    st.booleans(),
    st.sampled_from([str.lower, str.upper, str.title, lambda s: s]),
)
def test_every_alias_maps_whatever_spaces_width_and_case(
    pair: tuple[Field, str], before: str, after: str, wide: bool, case: object
) -> None:
    found, alias = pair
    header = before + case(alias) + after  # type: ignore[operator]
    assert header_field(full_width(header) if wide else header) == found


@given(st.text(max_size=60))
def test_the_header_mapper_never_raises_and_only_names_fields(text: str) -> None:
    assert header_field(text) in (None, *Field)


@pytest.mark.parametrize(
    ("header", "found"),
    [
        ("客户来源", Field.SOURCE),
        ("客户电话", Field.PHONE),
        ("客户状态", Field.STAGE),
        ("最近跟进时间", Field.LAST_CONTACT),
        ("Mobile No.", Field.PHONE),
        ("预算（万元）", Field.BUDGET),
        ("客戶姓名", Field.NAME),
        ("Last Contact", Field.LAST_CONTACT),
        ("金额", None),
        ("序号", None),
        (None, None),
        (123, None),
    ],
)
def test_headers_as_exports_write_them(header: object, found: Field | None) -> None:
    assert header_field(header) == found


# -- phones ---------------------------------------------------------------------------------------------------

MOBILE = st.from_regex(r"1[3-9][0-9]{9}", fullmatch=True)


def _grouped(digits: str, separator: str) -> str:
    return separator.join([digits[:3], digits[3:7], digits[7:]])


@given(
    MOBILE,
    st.sampled_from(["", "+86", "+86 ", "0086 ", "0086", "86", "(+86)"]),
    st.sampled_from(["", " ", "-", "\u3000", " - "]),
    st.booleans(),
)
def test_a_mainland_mobile_reads_the_same_however_it_is_written(
    digits: str, prefix: str, separator: str, wide: bool
) -> None:
    expected = read_phone(digits)
    assume(expected is not None)  # libphonenumber knows which 1xx blocks are allocated
    written = prefix + _grouped(digits, separator)
    assert read_phone(full_width(written) if wide else written) == expected == "+86" + digits


@given(MOBILE)
def test_a_phone_stored_as_a_number_cell_reads_as_its_digits(digits: str) -> None:
    assert read_phone(int(digits)) == read_phone(float(digits)) == read_phone(f"'{digits}")


@given(st.one_of(st.text(max_size=40), st.integers(), st.floats(), st.none()))
def test_the_phone_reader_never_raises_and_gives_e164_or_none(value: object) -> None:
    phone = read_phone(value)
    assert phone is None or (phone.startswith("+") and phone[1:].isdigit())


@pytest.mark.parametrize("value", ["12345", "1.38001E+10", "abc", "", "138-0013-800", "电话"])
def test_what_is_not_a_phone(value: str) -> None:
    assert read_phone(value) is None


# -- dates ----------------------------------------------------------------------------------------------------

DAYS = st.dates(min_value=date(1990, 1, 1), max_value=date(2099, 12, 31))


@given(
    DAYS, st.sampled_from(["{y}/{m}/{d}", "{y}-{m:02d}-{d:02d}", "{y}年{m}月{d}日", "{y}.{m}.{d}", "{y}{m:02d}{d:02d}"])
)
def test_a_day_reads_the_same_in_every_common_format(day: date, layout: str) -> None:
    text = layout.format(y=day.year, m=day.month, d=day.day)
    found = read_contact_date(text, TODAY)
    assert found is not None and (found.day, found.at) == (day, None)
    wide = read_contact_date(full_width(text), TODAY)
    assert wide is not None and wide.day == day


@given(DAYS, st.integers(0, 23), st.integers(0, 59))
def test_a_day_and_time_read_from_text_an_excel_cell_and_a_serial_number(day: date, hour: int, minute: int) -> None:
    at = time(hour, minute)
    text = read_contact_date(f"{day.isoformat()} {hour}:{minute:02d}", TODAY)
    cell = read_contact_date(datetime.combine(day, at), TODAY)
    serial_days = (datetime.combine(day, at) - datetime(1899, 12, 30)).total_seconds() / 86400
    serial = read_contact_date(serial_days, TODAY)
    expected_at = at if at != time(0) else None
    for found in (cell, serial):
        assert found is not None and (found.day, found.at) == (day, expected_at)
    assert text is not None and (text.day, text.at) == (day, at)


@given(st.dates(min_value=date(2025, 11, 26), max_value=TODAY))
def test_a_month_and_day_is_the_latest_such_day_up_to_today(day: date) -> None:
    found = read_contact_date(f"{day.month}月{day.day}日", TODAY)
    assert found is not None and found.day == day


@given(st.one_of(st.text(max_size=40), st.integers(), st.floats(allow_nan=True), st.none()))
def test_the_date_reader_never_raises(value: object) -> None:
    read_contact_date(value, TODAY)


def test_text_after_the_date_is_kept() -> None:
    found = read_contact_date("2026-03-05 14:00 电话 看了两套", TODAY)
    assert found is not None and (found.day, found.at, found.rest) == (date(2026, 3, 5), time(14, 0), "电话 看了两套")
    assert read_contact_date("2026-02-30", TODAY) is None
    assert read_contact_date("昨天", TODAY) is None


def test_stages_from_chinese_english_and_the_bots_own_names() -> None:
    assert [read_stage(word) for word in ("已带看", "Interested", "帶看", "成交", "新客户", "Deposit", "已签约")] == [
        "viewing", "interested", "viewing", "closed", "new", "deposit", "closed",
    ]  # fmt: skip
    assert read_stage("待定") is None and read_stage(None) is None


@given(st.lists(st.integers(1, 500), max_size=80))
def test_row_ranges_cover_exactly_the_rows(rows: list[int]) -> None:
    ranges = row_ranges(rows)
    assert sorted({n for a, b in ranges for n in range(a, b + 1)}) == sorted(set(rows))
    assert all(b + 1 < c for (_, b), (c, _) in itertools.pairwise(ranges))


# -- files ----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("encoding", "delimiter"),
    [("utf-8", ","), ("utf-8-sig", ";"), ("gb18030", "\t"), ("utf-16", "\t"), ("gb18030", ",")],
)
def test_csv_encodings_and_delimiters(encoding: str, delimiter: str) -> None:
    text = delimiter.join(["姓名", "电话", "备注"]) + "\n" + delimiter.join(["王先生", "13800138000", "周末，有空"])
    sheet = read_file(text.encode(encoding), "c.csv", TODAY)
    [row] = sheet.rows
    assert (row.name, row.phone, row.notes) == ("王先生", "+8613800138000", "周末，有空")


def test_excels_sep_line_names_the_delimiter() -> None:
    sheet = read_file(b"sep=;\nname;phone\nAnna;+85251234567\n", "c.csv", TODAY)
    [row] = sheet.rows
    assert (row.number, row.name, row.phone) == (3, "Anna", "+85251234567")


def test_a_title_row_and_empty_rows_keep_the_row_numbers_excel_shows() -> None:
    book = openpyxl.Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.append(["客户名单"])
    sheet.append([])
    sheet.append(["序号", "姓名", "手机"])
    sheet.append([1, "王先生", "13800138000"])
    sheet.append([])
    sheet.append([2, None, None])
    out = io.BytesIO()
    book.save(out)
    read = read_file(out.getvalue(), "c.xlsx", TODAY)
    assert [(row.number, row.name, row.problem) for row in read.rows] == [
        (4, "王先生", None),
        (6, None, read.rows[1].problem),
    ]
    assert read.rows[1].problem is not None and read.rows[1].problem.reason == SkipReason.NO_NAME_OR_PHONE


def test_too_many_rows_refuses_the_whole_file() -> None:
    text = "name,phone\n" + "\n".join(f"c{i},+8613800{i:06d}" for i in range(MAX_ROWS + 1))
    with pytest.raises(ImportRefused) as refused:
        read_file(text.encode(), "c.csv", TODAY)
    assert refused.value.reason == Refusal.TOO_MANY_ROWS


def test_a_name_over_the_limit_is_skipped_not_cut() -> None:
    sheet = read_file(f"姓名,电话\n{'长' * 65},13800138000\n".encode(), "c.csv", TODAY)
    [row] = sheet.rows
    assert row.problem is not None and (row.problem.reason, row.problem.other) == (SkipReason.TOO_LONG, "name")


def test_nfkc_leaves_names_and_notes_alone() -> None:
    sheet = read_file("姓名,电话,备注\n王先生,13800138000,周末，有空（下午）\n".encode(), "c.csv", TODAY)
    assert sheet.rows[0].notes == "周末，有空（下午）" != unicodedata.normalize("NFKC", "周末，有空（下午）")


def test_an_excel_serial_past_the_calendar_is_no_date() -> None:
    assert read_contact_date(3_000_000, TODAY) is None
    assert read_contact_date(0, TODAY) is None
    assert read_contact_date(timedelta(days=1), TODAY) is None


@given(st.from_regex(r"1[0-9]{10}", fullmatch=True), st.sampled_from(["", "+86 ", "0086-", "86"]))
def test_the_mobile_shortcut_agrees_with_the_bots_own_phone_reader(digits: str, prefix: str) -> None:
    """`read_phone` skips parsing for a mainland mobile; what it finds is what `/client` would store. (Written with
    0086, a number invalid in China is read by `normalise_phone` as Hong Kong would dial it: 0086 1020… → +61 2…;
    the import refuses it instead.)"""
    ours, theirs = read_phone(prefix + digits), normalise_phone(prefix + digits)
    if prefix in ("", "+86 ") or (theirs or "").startswith("+86"):
        assert ours == theirs
    else:
        assert ours is None


def test_an_xlsx_that_unpacks_to_too_much_is_refused_before_it_is_opened(monkeypatch: pytest.MonkeyPatch) -> None:
    from bot import client_import

    book = openpyxl.Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.append(["姓名", "电话"])
    sheet.append(["王先生", "13800138000"])
    out = io.BytesIO()
    book.save(out)
    assert len(read_file(out.getvalue(), "c.xlsx", TODAY).rows) == 1
    monkeypatch.setattr(client_import, "MAX_UNPACKED", 1000)
    with pytest.raises(ImportRefused) as refused:
        read_file(out.getvalue(), "c.xlsx", TODAY)
    assert refused.value.reason == Refusal.TOO_BIG


def test_an_empty_workbook_is_empty_and_one_without_a_header_has_none() -> None:
    def workbook(*rows: list[object]) -> bytes:
        book = openpyxl.Workbook()
        sheet = book.active
        assert sheet is not None
        for row in rows:
            sheet.append(row)
        out = io.BytesIO()
        book.save(out)
        return out.getvalue()

    for content, reason in ((workbook(), Refusal.EMPTY), (workbook(["王先生", "13800138000"]), Refusal.NO_HEADER)):
        with pytest.raises(ImportRefused) as refused:
            read_file(content, "c.xlsx", TODAY)
        assert refused.value.reason == reason


def test_excel_serials_from_the_first_day_to_the_last_and_to_the_nearest_minute() -> None:
    """Excel's day 1 is 1900-01-01 as Excel shows it (1899-12-31 once its leap-year bug is undone) and its last is
    9999-12-31; a serial's time is rounded to the minute (Excel shows 14:00 for a time stored as 13:59:59.9…)."""
    first = read_contact_date(1, TODAY)
    assert first is not None and (first.day, first.at) == (date(1899, 12, 31), None)
    last = read_contact_date(2_958_465, TODAY)
    assert last is not None and last.day == date(9999, 12, 31)
    assert read_contact_date(0.5, TODAY) is None
    noon = 46_086.5  # 2026-03-05 12:00
    for seconds, expected in (
        (0, time(12, 0)),
        (20, time(12, 0)),
        (29, time(12, 0)),
        (30, time(12, 1)),
        (59, time(12, 1)),
    ):
        found = read_contact_date(noon + seconds / 86_400, TODAY)
        assert found is not None and (found.day, found.at) == (date(2026, 3, 5), expected), seconds
    before_noon = read_contact_date(noon - 1 / 86_400_000, TODAY)  # a float a hair under 12:00
    assert before_noon is not None and before_noon.at == time(12, 0)


def _xlsx(book: openpyxl.Workbook) -> bytes:
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def test_the_sheet_open_when_the_file_was_saved_is_read_first() -> None:
    book = openpyxl.Workbook()
    first = book.active
    assert first is not None
    first.append(["姓名", "电话"])
    first.append(["旧表客户", "13800138000"])
    second = book.create_sheet("客户")
    second.append(["姓名", "电话"])
    second.append(["王先生", "13900139000"])
    book.active = 1
    assert [row.name for row in read_file(_xlsx(book), "c.xlsx", TODAY).rows] == ["王先生"]
    book.active = 0
    assert [row.name for row in read_file(_xlsx(book), "c.xlsx", TODAY).rows] == ["旧表客户"]


def test_a_chart_sheet_is_passed_over_for_the_sheets_after_it() -> None:
    book = openpyxl.Workbook()
    data = book.active
    assert data is not None
    from openpyxl.chart import BarChart, Reference  # type: ignore[import-untyped]

    chart = BarChart()
    chart.add_data(Reference(data, min_col=1, min_row=1, max_row=2))
    book.create_chartsheet("图表", 0).add_chart(chart)
    data.append(["姓名", "电话"])
    data.append(["王先生", "13900139000"])
    book.active = 0  # the chart open when saved
    assert [row.name for row in read_file(_xlsx(book), "c.xlsx", TODAY).rows] == ["王先生"]


def test_a_formula_cell_is_read_as_its_value_never_as_the_formula() -> None:
    book = openpyxl.Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.append(["姓名", "电话", "备注"])
    sheet.append(["王先生", "13900139000", '=CONCAT("看", "房")'])
    [row] = read_file(_xlsx(book), "c.xlsx", TODAY).rows
    assert row.notes is None  # openpyxl stores no computed value; Excel would have, and that is what is read


def test_an_xlsx_of_exactly_the_unpacked_limit_is_read(monkeypatch: pytest.MonkeyPatch) -> None:
    import zipfile

    from bot import client_import

    book = openpyxl.Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.append(["姓名", "电话"])
    sheet.append(["王先生", "13800138000"])
    content = _xlsx(book)
    with zipfile.ZipFile(io.BytesIO(content)) as archive:
        unpacked = sum(member.file_size for member in archive.infolist())
    monkeypatch.setattr(client_import, "MAX_UNPACKED", unpacked)
    assert len(read_file(content, "c.xlsx", TODAY).rows) == 1


def test_a_zip_that_is_no_workbook_or_a_damaged_sheet_is_unreadable() -> None:
    import zipfile

    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        archive.writestr("hello.txt", "not a workbook")
    with pytest.raises(ImportRefused) as refused:
        read_file(out.getvalue(), "c.xlsx", TODAY)
    assert refused.value.reason == Refusal.UNREADABLE
    book = openpyxl.Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.append(["姓名", "电话"])
    sheet.append(["王先生", "13800138000"])
    good = io.BytesIO(_xlsx(book))
    damaged = io.BytesIO()
    with zipfile.ZipFile(good) as source, zipfile.ZipFile(damaged, "w") as target:
        for member in source.infolist():
            part = source.read(member)
            if member.filename.startswith("xl/worksheets/"):
                part = part[: len(part) // 2]  # the sheet's XML cut off mid-way
            target.writestr(member, part)
    with pytest.raises(ImportRefused) as refused:
        read_file(damaged.getvalue(), "c.xlsx", TODAY)
    assert refused.value.reason == Refusal.UNREADABLE


# -- planning against the agent's clients ---------------------------------------------------------------------


async def _agent_in(engine: AsyncEngine) -> Agent:
    """An agent in Shanghai, as a fresh object for each session that needs it."""
    from bot.agents import NewAgent, get_or_register
    from tests.conftest import START

    async with session_factory(engine)() as session, session.begin():
        return await get_or_register(session, NewAgent(7, 7, "A", "zh-Hans", "Asia/Shanghai"), START)


def _csv(*lines: str) -> bytes:
    return "\n".join(lines).encode("utf-8")


async def test_the_word_after_a_last_contact_says_how_and_the_rest_is_its_note(engine: AsyncEngine) -> None:

    agent = await _agent_in(engine)
    content = _csv(
        "姓名,电话,最近跟进",
        "王先生,13800138001,2026-03-05 14:00 微信 发了 户型图",
        "李太,13800138002,2026-03-06 看房",  # a word the buttons do not show
        "赵女士,13800138003,2026-03-07 到访/面谈 谈了 价格",
        "孙先生,13800138004,2026-03-08 客户说 再考虑",
    )
    now = datetime(2026, 11, 25, 2, 0, tzinfo=UTC)
    async with session_factory(engine)() as session, session.begin():
        plan = await preview_file(session, await session.merge(agent), content, "c.csv", now)
        await apply_plan(session, plan, now)
    async with session_factory(engine)() as session:
        logs = (await session.scalars(select(ContactLog).order_by(ContactLog.at))).all()
    assert [(log.kind, log.note) for log in logs] == [
        ("message", "发了 户型图"),
        ("viewing", None),
        ("visit", "谈了 价格"),  # the bot's own button label, without its emoji
        ("call", "客户说 再考虑"),  # no kind word: a call, and the words are the note
    ]


async def test_a_month_and_day_is_read_against_the_agents_own_today(engine: AsyncEngine) -> None:

    agent = await _agent_in(engine)
    content = _csv("姓名,电话,最近跟进", "王先生,13800138001,11月25日 9:00")
    # 23:30 UTC on the 24th is the 25th in Shanghai: 11月25日 is today there, not a year ago.
    now = datetime(2026, 11, 24, 23, 30, tzinfo=UTC)
    async with session_factory(engine)() as session:
        plan = await preview_file(session, await session.merge(agent), content, "c.csv", now)
    [target] = plan.new
    assert [at for at, _, _ in target.contacts] == [datetime(2026, 11, 25, 1, 0, tzinfo=UTC)]


async def test_a_client_met_again_with_only_a_contact_or_only_a_detail_counts_as_merged(engine: AsyncEngine) -> None:

    agent = await _agent_in(engine)
    now = datetime(2026, 11, 25, 2, 0, tzinfo=UTC)
    first = _csv("姓名,电话,需求,最近跟进", "王先生,13800138001,,2026-03-05 14:00", "李太,13800138002,三居室,")
    again = _csv("姓名,电话,需求,最近跟进", "王先生,13800138001,两居室,", "李太,13800138002,,2026-03-06 10:00")
    same = _csv("姓名,电话,需求,最近跟进", "王先生,13800138001,,2026-03-05 14:00", "李太,13800138002,三居室,")
    async with session_factory(engine)() as session, session.begin():
        owner = await session.merge(agent)
        await apply_plan(session, await preview_file(session, owner, first, "c.csv", now), now)
        unchanged = await preview_file(session, owner, same, "c.csv", now)
        assert (len(unchanged.new), unchanged.merged, unchanged.unchanged) == (0, 0, 2)
        plan = await preview_file(session, owner, again, "c.csv", now)
        assert (len(plan.new), plan.merged, plan.unchanged) == (0, 2, 0)  # 王: a detail only; 李: a contact only


def test_a_last_contact_to_the_second_by_the_hour_and_within_the_years_a_crm_can_hold() -> None:
    def read(value: object) -> tuple[date, time | None, str] | None:
        found = read_contact_date(value, TODAY)
        return None if found is None else (found.day, found.at, found.rest)

    assert read("2026-03-05 14:05:30") == (date(2026, 3, 5), time(14, 5, 30), "")
    assert read("2026年3月5日 14点") == (date(2026, 3, 5), time(14, 0), "")
    assert read("1900-01-01") == (date(1900, 1, 1), None, "")
    assert read("2999-12-31") == (date(2999, 12, 31), None, "")
    assert read("1899-12-31") is None and read("3000-01-01") is None
    assert read("2026-03-05，电话") == (date(2026, 3, 5), None, "电话")
    assert read("2026-03-05 Xu 先生来电") == (date(2026, 3, 5), None, "Xu 先生来电")
    assert read(date(2026, 3, 5)) == (date(2026, 3, 5), None, "")  # a date cell without a time
    assert read("46086.5") == (date(2026, 3, 5), time(12, 0), "")  # a serial number kept as text
    assert read(True) is None  # a checkbox cell is no date


async def test_what_an_import_reports_is_what_it_wrote(engine: AsyncEngine) -> None:
    agent = await _agent_in(engine)
    now = datetime(2026, 11, 25, 2, 0, tzinfo=UTC)
    later = now + timedelta(hours=1)
    first = _csv("姓名,电话,需求,最近跟进", "王先生,13800138001,,2026-03-05 14:00", "李太,13800138002,三居室,", ",")
    again = _csv(
        "姓名,电话,需求,最近跟进", "王先生,13800138001,,2026-03-05 14:00", "李太,13800138002,,2026-03-06 10:00"
    )
    async with session_factory(engine)() as session, session.begin():
        owner = await session.merge(agent)
        outcome = await apply_plan(session, await preview_file(session, owner, first, "c.csv", now), now)
        assert outcome == Outcome(new=2, merged=0, unchanged=0, skipped=0, contacts=1)
    async with session_factory(engine)() as session, session.begin():
        owner = await session.merge(agent)
        outcome = await apply_plan(session, await preview_file(session, owner, again, "c.csv", later), later)
        assert outcome == Outcome(new=0, merged=1, unchanged=1, skipped=0, contacts=1)
    async with session_factory(engine)() as session:
        clients = {c.name: c for c in (await session.scalars(select(Client))).all()}
        logs = (await session.scalars(select(ContactLog).order_by(ContactLog.at))).all()
    assert {name: c.stage for name, c in clients.items()} == {"王先生": "new", "李太": "new"}  # no stage column
    updated = {name: c.updated_at.replace(tzinfo=None) for name, c in clients.items()}
    # 王先生 came again unchanged and is left as he was; 李太 came with a new contact.
    assert updated == {"王先生": now.replace(tzinfo=None), "李太": later.replace(tzinfo=None)}
    assert [(log.client_id, log.at.replace(tzinfo=None)) for log in logs] == [
        (clients["王先生"].id, datetime(2026, 3, 5, 6, 0)),
        (clients["李太"].id, datetime(2026, 3, 6, 2, 0)),
    ]


async def test_an_agent_with_one_client_imports_the_same_contact_once_and_an_archived_client_is_left_alone(
    engine: AsyncEngine,
) -> None:
    agent = await _agent_in(engine)
    now = datetime(2026, 11, 25, 2, 0, tzinfo=UTC)
    content = _csv("姓名,电话,最近跟进", "王先生,13800138001,2026-03-05 14:00")
    for expected in (Outcome(1, 0, 0, 0, 1), Outcome(0, 0, 1, 0, 0)):  # the second time: nothing new
        async with session_factory(engine)() as session, session.begin():
            owner = await session.merge(agent)
            assert await apply_plan(session, await preview_file(session, owner, content, "c.csv", now), now) == expected
    async with session_factory(engine)() as session, session.begin():
        [client] = (await session.scalars(select(Client))).all()
        client.archived = True
    async with session_factory(engine)() as session, session.begin():
        owner = await session.merge(agent)
        plan = await preview_file(session, owner, content, "c.csv", now)
    assert (len(plan.new), plan.merged, plan.unchanged) == (1, 0, 0)  # archived: the row is a client again
