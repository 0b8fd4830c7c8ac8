"""Importing clients from a brokerage's Excel or CSV export: read, preview, then write in bulk.

A file is read into rows (`read_file`): .xlsx through openpyxl (read-only, streaming), .csv in UTF-8 (with or
without BOM), GB18030 or UTF-16, delimited by comma, semicolon or tab as Excel writes them. The header row is
the first of the top rows whose cells name a name or phone column and one more (a title row above it, merged
header cells, a second header row under a merged group cell are all met in real exports); columns are mapped
by their Chinese or English headers (`header_field`). Each row's phone is normalised to E.164, its stage read
from Chinese or English words, its 最近跟进 date (an Excel date, serial number or text) becomes a contact.

`plan_import` sets the rows against the agent's clients (loaded through the ORM, compared in Python: the
columns may be encrypted) and says what would happen; `apply_plan` does it with the engine's bulk path. The
merge rule (docs/import.md): a row is the client with its phone, or without a phone the client of its name;
an existing client only has its empty details filled (needs, budget, source; the stage only while it is still
新客户), the row's notes appended unless they are there already, and the last contact logged unless a contact at
that instant is. So importing the same file again changes nothing.
"""

from __future__ import annotations

import csv
import io
import re
import unicodedata
import zipfile
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from enum import StrEnum
from functools import cache
from typing import Final

import phonenumbers
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.bulk import insert_rows, insert_rows_with_ids
from bot.clients import (
    BUDGET_LIMIT,
    NAME_LIMIT,
    SOURCE_LIMIT,
    TEXT_LIMIT,
    crossings_changed,
    format_phone,
    normalise_phone,
    parse_contact_kind,
    parse_stage,
)
from bot.models import Agent, Client, ContactLog, FollowUp
from bot.statuses import CONTACT_KINDS, STAGES, ClientEvent, ContactKind, FollowUpStatus, Stage
from bot.text import clean
from bot.timezones import local_today, to_utc

MAX_BYTES: Final = 5 * 1024 * 1024
MAX_ROWS: Final = 20_000
# What an .xlsx may unpack to: its XML is read whole by openpyxl (the shared strings), so a small file that unpacks
# to gigabytes is refused before it is opened. 20,000 rows of 60 columns unpack to ~40 MB.
MAX_UNPACKED: Final = 200 * 1024 * 1024
MAX_COLUMNS: Final = 60  # an export wider than this has its client columns among the first anyway
HEADER_SEARCH: Final = 30  # how many top rows may hold the header
# A last contact given as a day alone is logged at this local time (the day stays the same in every view).
DAY_ONLY_AT: Final = time(12, 0)


class Field(StrEnum):
    """A client detail a column can hold."""

    NAME = "name"
    PHONE = "phone"
    NEEDS = "needs"
    BUDGET = "budget"
    SOURCE = "source"
    STAGE = "stage"
    NOTES = "notes"
    LAST_CONTACT = "last_contact"


class Refusal(StrEnum):
    """Why a whole file is refused (catalog `import.refused.<it>`); nothing is imported then."""

    FORMAT = "format"  # not .xlsx or .csv
    OLD_EXCEL = "old_excel"  # .xls: save it as .xlsx
    TOO_BIG = "too_big"
    TOO_MANY_ROWS = "too_many_rows"
    UNREADABLE = "unreadable"
    EMPTY = "empty"
    NO_HEADER = "no_header"


class ImportRefused(Exception):
    def __init__(self, reason: Refusal) -> None:
        super().__init__(reason.value)
        self.reason = reason


class SkipReason(StrEnum):
    """Why a row is not imported as it stands (catalog `import.skip.<it>`)."""

    NO_NAME_OR_PHONE = "no_name_or_phone"
    BAD_PHONE = "bad_phone"
    DUPLICATE = "duplicate"  # the same client as an earlier row: merged into it
    TOO_LONG = "too_long"


@dataclass(frozen=True)
class Skipped:
    row: int
    reason: SkipReason
    # The earlier row a duplicate was merged into, or the field too long.
    other: int | str | None = None


# -- headers --------------------------------------------------------------------------------------------------

# Header words by field, as exports write them (simplified and traditional Chinese, English; folded by `_folded`).
_ALIASES: Final[dict[Field, tuple[str, ...]]] = {
    found: tuple(words.split())
    for found, words in {
        Field.NAME: "姓名 客户 客户姓名 客户名称 客户名 名字 称呼 联系人 业主 业主姓名 "
        "客戶 客戶姓名 客戶名稱 聯絡人 聯繫人 "
        "name client clientname customer customername fullname contact contactname",
        Field.PHONE: "电话 手机 手机号 手机号码 联系电话 电话号码 联系方式 客户电话 客户手机 移动电话 "
        "電話 手機 手機號 手機號碼 聯絡電話 聯繫電話 電話號碼 聯絡方式 行動電話 "
        "座机 固话 固定电话 座機 市話 phone mobile tel telephone phonenumber mobilenumber mobilephone "
        "cell cellphone",
        Field.NEEDS: "需求 客户需求 购房需求 意向房源 需求描述 客戶需求 購房需求 needs need requirements requirement "
        "lookingfor",
        Field.BUDGET: "预算 客户预算 预算金额 預算 購房預算 budget pricerange price",
        Field.SOURCE: "来源 客户来源 渠道 来源渠道 來源 客戶來源 管道 source leadsource channel",
        Field.STAGE: "阶段 状态 客户状态 客户阶段 跟进状态 階段 狀態 客戶狀態 客戶階段 stage status leadstatus",
        Field.NOTES: "备注 备注信息 说明 備註 說明 note notes remark remarks comment comments",
        Field.LAST_CONTACT: "最近跟进 最近跟进时间 最后跟进 最后跟进时间 跟进时间 最近联系 最近联系时间 上次跟进 "
        "最近跟進 最近跟進時間 最後跟進 最後跟進時間 跟進時間 最近聯絡 最近聯繫 上次跟進 lastcontact lastcontacted "
        "lastcontactdate lastfollowup lastactivity lastcontactat",
    }.items()
}
_CONTAINS_ORDER: Final = (
    Field.LAST_CONTACT,
    Field.PHONE,
    Field.STAGE,
    Field.SOURCE,
    Field.BUDGET,
    Field.NEEDS,
    Field.NOTES,
    Field.NAME,
)
_HEADER_NOISE = re.compile(r"[\s_\-.:*#/\\|]+")
_BRACKETED = re.compile(r"[(\[{【（][^)\]}】）]*[)\]}】）]")


def _folded(text: str) -> str:
    """NFKC (full-width letters and digits, ideographic spaces), case folded, spaces and marks removed."""
    return _HEADER_NOISE.sub("", unicodedata.normalize("NFKC", text).casefold())


@cache
def _exact() -> dict[str, Field]:
    return {_folded(alias): field for field, aliases in _ALIASES.items() for alias in aliases}


def header_field(header: object) -> Field | None:
    """'姓名', ' 客户姓名 ', 'ＰＨＯＮＥ', 'Mobile No.', '预算（万）', '客户来源' … → the detail the column holds.

    Exact aliases first (spaces, full-width characters and case aside), then without a bracketed unit, then the
    first field whose Chinese alias the header contains (the more specific before a name word)."""
    if not isinstance(header, str):
        return None
    folded = _folded(header)
    if not folded or len(folded) > 40:
        return None
    exact = _exact()
    if folded in exact:
        return exact[folded]
    bare = _folded(_BRACKETED.sub("", unicodedata.normalize("NFKC", header)))
    if bare in exact:
        return exact[bare]
    for found in _CONTAINS_ORDER:
        for alias in _ALIASES[found]:
            folded_alias = _folded(alias)
            if not folded_alias.isascii() and folded_alias in bare:
                return found
    for suffix in ("no", "number", "#"):  # "Mobile No."
        if bare.endswith(suffix) and bare.removesuffix(suffix) in exact:
            return exact[bare.removesuffix(suffix)]
    return None


# -- values ---------------------------------------------------------------------------------------------------


def cell_text(value: object) -> str:
    """A cell as text: whole numbers without '.0' (Excel stores 13800138000 as a float), days in ISO."""
    if value is None or isinstance(value, bool):
        return ""
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() and abs(value) < 1e15 else repr(value)
    if isinstance(value, datetime | date | time):
        return value.isoformat()
    text = value if isinstance(value, str) else str(value)
    # `clean` keeps printable text as it is; checking that first spares it most cells (CJK included).
    return (text if text.isprintable() else clean(text)).strip()


# A mainland mobile, however grouped, with or without +86 / 0086 / 86 before it.
_MAINLAND_MOBILE = re.compile(r"^(?:\(?(?:\+|00)?86\)?[\s\-]*)?(1\d{2}(?:[\s\-]?\d){8})$")
_NOT_PHONE = re.compile(r"^(?:tel|phone|mobile|电话|電話|手机|手機)\s*[:：]?\s*", re.IGNORECASE)


def read_phone(value: object) -> str | None:
    """A phone cell → E.164, or None if it is not a valid number: full-width digits, spaces, dashes, dots,
    brackets, +86 / 0086 / 86 before the number, a leading apostrophe (Excel's text mark), a number cell."""
    text = unicodedata.normalize("NFKC", cell_text(value)).strip().lstrip("'").strip()
    text = _NOT_PHONE.sub("", text)
    if not text:
        return None
    mobile = _MAINLAND_MOBILE.match(text)
    if mobile is not None:  # most rows: what normalise_phone finds too, without parsing the text again
        digits = re.sub(r"\D", "", mobile.group(1))
        number = phonenumbers.PhoneNumber(country_code=86, national_number=int(digits))
        return f"+86{digits}" if phonenumbers.is_valid_number(number) else None
    phone = normalise_phone(text)
    if phone is not None:
        return phone
    digits = re.sub(r"[\s\-().]", "", text)
    if digits.isdigit() and digits.startswith("86") and len(digits) == 13:  # 8613800138000, the + left out
        return normalise_phone("+" + digits)
    return None


_STAGE_WORDS: Final[dict[str, Stage]] = {
    word: stage
    for stage, words in {
        Stage.NEW: "新 新客 新客户 新客戶 潜在 潜在客户 潛在客戶 new lead",
        Stage.INTERESTED: "意向 意向客户 意向客戶 有意向 跟进中 跟進中 interested prospect qualified",
        Stage.VIEWING: "带看 已带看 帶看 已帶看 看房 已看房 viewing viewed showing",
        Stage.DEPOSIT: "下定 已下定 定金 订金 訂金 已付定金 认购 認購 deposit reserved underoffer",
        Stage.CLOSED: "成交 已成交 签约 已签约 簽約 已簽約 closed won signed deal sold",
        Stage.LOST: "流失 已流失 无效 無效 放弃 放棄 lost dead invalid",
    }.items()
    for word in words.split()
}


@cache
def _stage_names() -> dict[str, str]:
    """The stages as the bot names them in every language (what an export writes): 新客户, Interested, 帶看 …"""
    from bot.i18n import LANGUAGES, t

    return {_folded(t(lang, f"stage.{stage}")): str(stage) for lang in LANGUAGES for stage in STAGES}


def read_stage(value: object) -> str | None:
    """A stage cell → one of our stages, or None (empty, or a word we do not know: the stage is left as it is)."""
    text = cell_text(value)
    folded = _folded(text)
    if not folded:
        return None
    return _STAGE_WORDS.get(folded) or _stage_names().get(folded) or parse_stage(text)


# Excel's day 0 (its serial numbers count from here, the 1900 leap-year bug included).
_EXCEL_EPOCH: Final = datetime(1899, 12, 30)
_LATEST_SERIAL: Final = 2_958_465  # 9999-12-31
_TIME = r"(?:[T\s]*(\d{1,2})[:点點時时](\d{1,2})?(?:[:分](\d{1,2}))?秒?)?"
_FULL_DATE = re.compile(r"^(\d{4})\s*[-/.年]\s*(\d{1,2})\s*[-/.月]\s*(\d{1,2})\s*[日号號]?" + _TIME)
_COMPACT_DATE = re.compile(r"^(\d{4})(\d{2})(\d{2})(?!\d)" + _TIME)
_MONTH_DAY = re.compile(r"^(\d{1,2})\s*月\s*(\d{1,2})\s*[日号號]" + _TIME)
_SERIAL = re.compile(r"^\d{1,7}(?:\.\d+)?$")


@dataclass(frozen=True)
class ContactDate:
    """A local day, with its time of day when one was given, and the text written after it."""

    day: date
    at: time | None = None
    rest: str = ""


def read_contact_date(value: object, today: date) -> ContactDate | None:
    """A 最近跟进 cell → the local day (and time): an Excel date or serial number, 2026/3/5, 2026-03-05 14:00,
    2026年3月5日, 20260305, 3月5日 (the latest such day up to today). Text after the date is kept in `rest`."""
    if isinstance(value, datetime):
        return ContactDate(value.date(), value.time() if value.time() != time(0) else None)
    if isinstance(value, date):
        return ContactDate(value)
    if isinstance(value, int | float) and not isinstance(value, bool):
        return _serial(float(value))
    text = unicodedata.normalize("NFKC", cell_text(value)).strip()
    if _SERIAL.match(text):
        return _serial(float(text))
    found = _FULL_DATE.match(text) or _COMPACT_DATE.match(text)
    if found:
        year, month, day = int(found.group(1)), int(found.group(2)), int(found.group(3))
        return _dated(year, month, day, found.groups()[3:], text[found.end() :])
    found = _MONTH_DAY.match(text)
    if found:
        month, day = int(found.group(1)), int(found.group(2))
        year = today.year
        try:
            if date(year, month, day) > today:
                year -= 1
        except ValueError:
            return None
        return _dated(year, month, day, found.groups()[2:], text[found.end() :])
    return None


def _serial(value: float) -> ContactDate | None:
    if not 1 <= value <= _LATEST_SERIAL:
        return None
    moment = _EXCEL_EPOCH + timedelta(days=value)
    moment = moment.replace(second=0, microsecond=0) + timedelta(minutes=1 if moment.second >= 30 else 0)
    return ContactDate(moment.date(), moment.time() if moment.time() != time(0) else None)


def _dated(year: int, month: int, day: int, clock: Sequence[str | None], rest: str) -> ContactDate | None:
    try:
        when = date(year, month, day)
        hour, minute, second = (int(part) if part else 0 for part in clock)
        at = time(hour, minute, second) if clock[0] is not None else None
    except ValueError:  # 2026-02-30, 25:00
        return None
    if not 1900 <= year <= 2999:
        return None
    return ContactDate(when, at, rest.strip(" \t,，;；-—:："))


# -- reading the file -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Row:
    """One client row as read: its row number in the file (as Excel or a text editor shows it) and details."""

    number: int
    name: str | None = None
    phone: str | None = None
    needs: str | None = None
    budget: str | None = None
    source: str | None = None
    stage: str | None = None
    notes: str | None = None
    contact: ContactDate | None = None
    problem: Skipped | None = None
    unread_date: bool = False  # a 最近跟进 that is no date we read: the row is imported without it


@dataclass(frozen=True)
class Sheet:
    """What a file holds: the client rows and which header each field was read from."""

    rows: list[Row]
    headers: dict[Field, str]


Cells = Sequence[object]


def file_kind(filename: str) -> str:
    """'xlsx' or 'csv' from the file's name, or the reason it is refused."""
    suffix = filename.rsplit(".", 1)[-1].lower() if "." in filename else ""
    if suffix in ("xlsx", "xlsm"):
        return "xlsx"
    if suffix == "csv":
        return "csv"
    if suffix in ("xls", "et"):
        raise ImportRefused(Refusal.OLD_EXCEL)
    raise ImportRefused(Refusal.FORMAT)


def read_file(data: bytes, filename: str, today: date) -> Sheet:
    """The client rows of an .xlsx or .csv file; `ImportRefused` if the file cannot be imported at all."""
    kind = file_kind(filename)
    if len(data) > MAX_BYTES:
        raise ImportRefused(Refusal.TOO_BIG)
    if not data.strip():
        raise ImportRefused(Refusal.EMPTY)
    tables = _xlsx_tables(data) if kind == "xlsx" else [_csv_rows(data)]
    filled = False  # whether any sheet had a cell filled: without a header that is NO_HEADER, else EMPTY
    for table in tables:
        seen = [False]
        sheet = _read_table(_noting_content(table, seen), today)
        filled = filled or seen[0]
        if sheet is not None:
            return sheet
    raise ImportRefused(Refusal.NO_HEADER if filled else Refusal.EMPTY)


def _noting_content(table: Iterator[tuple[int, Cells]], flag: list[bool]) -> Iterator[tuple[int, Cells]]:
    for number, cells in table:
        if not flag[0] and any(cell_text(cell) for cell in cells):
            flag[0] = True
        yield number, cells


def _xlsx_tables(data: bytes) -> Iterator[Iterator[tuple[int, Cells]]]:
    """Each worksheet's rows (the active one first), streamed: openpyxl in read-only mode."""
    import openpyxl  # type: ignore[import-untyped]

    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            unpacked = sum(member.file_size for member in archive.infolist())
    except (zipfile.BadZipFile, ValueError, OSError) as error:
        raise ImportRefused(Refusal.UNREADABLE) from error
    if unpacked > MAX_UNPACKED:
        raise ImportRefused(Refusal.TOO_BIG)
    try:
        book = openpyxl.load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except Exception as error:  # a zip that is no workbook: KeyError, InvalidFileException, a part's XML error …
        raise ImportRefused(Refusal.UNREADABLE) from error
    try:
        sheets = list(book.worksheets)
        active = book.active
        if active in sheets:
            sheets.remove(active)
            sheets.insert(0, active)
        for sheet in sheets:  # worksheets only: openpyxl lists chart sheets apart (an active one is left out here)
            sheet.reset_dimensions()  # exports often declare a wrong size ("A1"); read what is there
            yield _numbered(row[:MAX_COLUMNS] for row in sheet.iter_rows(values_only=True))
    finally:
        book.close()


def _numbered(rows: Iterable[Cells]) -> Iterator[tuple[int, Cells]]:
    try:
        yield from enumerate(rows, start=1)
    except Exception as error:  # a damaged sheet found while streaming it
        raise ImportRefused(Refusal.UNREADABLE) from error


def decode_text(data: bytes) -> str:
    """UTF-8 (a BOM or none), UTF-16 with its BOM (Excel's 'Unicode text'), else GB18030 (Excel and WPS in China)."""
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        try:
            return data.decode("utf-16")
        except UnicodeDecodeError as error:
            raise ImportRefused(Refusal.UNREADABLE) from error
    for encoding in ("utf-8-sig", "gb18030"):
        try:
            text = data.decode(encoding)
        except UnicodeDecodeError:
            continue
        if "\x00" not in text:
            return text
    raise ImportRefused(Refusal.UNREADABLE)


def _csv_rows(data: bytes) -> Iterator[tuple[int, Cells]]:
    text = decode_text(data)
    first_line, _, rest = text.partition("\n")
    delimiter = None
    if first_line.strip().lower().startswith("sep=") and len(first_line.strip()) == 5:  # Excel's own hint
        delimiter, text = first_line.strip()[4], rest
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter or _delimiter(text))
    offset = 1 if delimiter else 0
    try:
        for number, row in enumerate(reader, start=1 + offset):
            yield number, row[:MAX_COLUMNS]
    except csv.Error as error:
        raise ImportRefused(Refusal.UNREADABLE) from error


def _delimiter(text: str) -> str:
    """Comma, semicolon (Excel in many European locales) or tab: the one the top lines agree on."""
    sample = "\n".join(text.splitlines()[:20])
    try:
        return csv.Sniffer().sniff(sample, delimiters=",;\t").delimiter
    except csv.Error:
        counts = {delimiter: sample.count(delimiter) for delimiter in ",;\t"}
        return max(counts, key=lambda d: counts[d]) if any(counts.values()) else ","


def _mapped(cells: Cells) -> dict[int, Field]:
    return {index: found for index, cell in enumerate(cells) if (found := header_field(cell)) is not None}


def _is_header(mapped: dict[int, Field]) -> bool:
    fields = set(mapped.values())
    return len(fields) >= 2 and bool(fields & {Field.NAME, Field.PHONE})


def _read_table(table: Iterator[tuple[int, Cells]], today: date) -> Sheet | None:
    """Find the header among the top rows, then read every row under it; None if no header is found."""
    top: list[tuple[int, Cells]] = []
    header: dict[int, Field] | None = None
    header_cells: Cells = ()
    for number, cells in table:
        top.append((number, cells))
        mapped = _mapped(cells)
        if _is_header(mapped):
            header, header_cells = mapped, cells
            break
        if len(top) >= HEADER_SEARCH:
            return None
    if header is None:
        return None
    rows: list[Row] = []
    pending: tuple[int, Cells] | None = next(table, None)
    if pending is not None:
        extra = _sub_header(pending[1])
        if extra:  # a second header row under merged group cells (联系方式 → 手机 | 座机)
            header = {**header, **extra}
            header_cells = [*header_cells, *([None] * max(0, len(pending[1]) - len(header_cells)))]
            header_cells = [
                pending[1][i] if i in extra and i < len(pending[1]) else cell for i, cell in enumerate(header_cells)
            ]
            pending = None
    columns: dict[Field, list[int]] = {}
    for index, found in sorted(header.items()):
        columns.setdefault(found, []).append(index)
    headers = {found: cell_text(header_cells[indexes[0]]) for found, indexes in columns.items()}
    data_rows = 0
    for number, cells in _chain(pending, table):
        texts = [cell_text(cell) for cell in cells]
        if not any(texts):
            continue  # an empty row: no client, nothing to say
        data_rows += 1
        if data_rows > MAX_ROWS:
            raise ImportRefused(Refusal.TOO_MANY_ROWS)
        rows.append(_row(number, cells, texts, columns, today))
    return Sheet(rows, headers)


def _chain(first: tuple[int, Cells] | None, rest: Iterator[tuple[int, Cells]]) -> Iterator[tuple[int, Cells]]:
    if first is not None:
        yield first
    yield from rest


def _sub_header(cells: Cells) -> dict[int, Field]:
    """The row under the header read as more headers (联系方式 merged over 手机 | 座机) when every cell it fills
    names a field; a column it names takes that field."""
    mapped = _mapped(cells)
    named = [index for index, cell in enumerate(cells) if cell_text(cell)]
    return mapped if mapped and all(index in mapped for index in named) else {}


def _first(texts: list[str], indexes: list[int] | None) -> int | None:
    """The first of a field's columns that is filled in this row."""
    for index in indexes or ():
        if index < len(texts) and texts[index]:
            return index
    return None


def _row(number: int, cells: Cells, texts: list[str], columns: dict[Field, list[int]], today: date) -> Row:
    def text(found: Field) -> str | None:
        index = _first(texts, columns.get(found))
        return texts[index] if index is not None else None

    def cell(found: Field) -> object:
        index = _first(texts, columns.get(found))
        return cells[index] if index is not None else None

    name = " ".join((text(Field.NAME) or "").split()) or None
    phone_text = text(Field.PHONE)
    phone = read_phone(cell(Field.PHONE)) if phone_text else None
    budget = text(Field.BUDGET)
    budget = " ".join(unicodedata.normalize("NFKC", budget).split()) if budget else None
    source = " ".join((text(Field.SOURCE) or "").split()) or None
    contact_cell = cell(Field.LAST_CONTACT)
    contact = read_contact_date(contact_cell, today) if contact_cell is not None else None
    row = Row(
        number,
        name,
        phone,
        text(Field.NEEDS),
        budget,
        source,
        read_stage(text(Field.STAGE)),
        text(Field.NOTES),
        contact,
        unread_date=contact_cell is not None and contact is None,
    )
    problem = None
    if phone is None and phone_text:
        problem = Skipped(number, SkipReason.BAD_PHONE)
    elif name is None and phone is None:
        problem = Skipped(number, SkipReason.NO_NAME_OR_PHONE)
    else:
        limits = {"name": NAME_LIMIT, "budget": BUDGET_LIMIT, "source": SOURCE_LIMIT, "needs": TEXT_LIMIT}
        too_long = next((key for key, limit in limits.items() if len(getattr(row, key) or "") > limit), None)
        if too_long is None and len(row.notes or "") > TEXT_LIMIT:
            too_long = "notes"
        if too_long is not None:
            problem = Skipped(number, SkipReason.TOO_LONG, too_long)
    return row if problem is None else Row(number, name, phone, problem=problem)


# -- the plan -------------------------------------------------------------------------------------------------


@dataclass
class _Target:
    """A client rows are merged into: an existing one (`client`) or one to create (`row` is its first row)."""

    client: Client | None = None
    values: dict[str, str | None] = field(default_factory=dict)
    contacts: list[tuple[datetime, str, str | None]] = field(default_factory=list)
    stage_move: tuple[str, str] | None = None

    def changed(self) -> bool:
        return bool(self.values or self.contacts or self.stage_move)


@dataclass
class Plan:
    """What an import would do: counts, every skipped row, and the rows whose last contact was not read."""

    agent_id: int
    new: list[_Target] = field(default_factory=list)
    existing: dict[int, _Target] = field(default_factory=dict)
    skipped: list[Skipped] = field(default_factory=list)
    unread_dates: list[int] = field(default_factory=list)
    headers: dict[Field, str] = field(default_factory=dict)
    rows: int = 0

    @property
    def merged(self) -> int:
        return sum(target.changed() for target in self.existing.values())

    @property
    def unchanged(self) -> int:
        return sum(not target.changed() for target in self.existing.values())

    @property
    def changes_anything(self) -> bool:
        return bool(self.new) or self.merged > 0


def name_key(name: str) -> str:
    return " ".join(name.split()).casefold()


async def plan_import(session: AsyncSession, agent: Agent, sheet: Sheet) -> Plan:
    """Set the rows against the agent's clients: which are new, which merge into which, which are skipped."""
    clients = list(
        (
            await session.execute(
                select(Client).where(Client.agent_id == agent.id, Client.archived.is_(False)).order_by(Client.id)
            )
        ).scalars()
    )
    logged = await session.execute(
        select(ContactLog.client_id, ContactLog.at)
        .join(Client, Client.id == ContactLog.client_id)
        .where(Client.agent_id == agent.id, ContactLog.kind.in_(CONTACT_KINDS))
    )
    done = await session.execute(
        select(FollowUp.client_id, FollowUp.done_at).where(
            FollowUp.agent_id == agent.id, FollowUp.status == FollowUpStatus.DONE, FollowUp.done_at.is_not(None)
        )
    )
    # What the agent already did with each client, to the minute (an export's 最近跟进 is the latest contact or
    # follow-up done, written to the minute): a file's last contact at one of these is not logged again.
    contacted = {(client_id, _minute(at)) for client_id, at in (*logged.all(), *done.all()) if at is not None}
    by_phone: dict[str, Client] = {}
    by_name: dict[str, Client] = {}
    for client in clients:
        if client.phone:
            by_phone.setdefault(client.phone, client)
        by_name.setdefault(name_key(client.name), client)
    plan = Plan(agent.id, headers=sheet.headers, rows=len(sheet.rows))
    in_file: dict[str, tuple[int, _Target]] = {}
    for row in sheet.rows:
        if row.problem is not None:
            plan.skipped.append(row.problem)
            continue
        if row.unread_date:
            plan.unread_dates.append(row.number)
        key = f"phone:{row.phone}" if row.phone else f"name:{name_key(row.name or '')}"
        if key in in_file:
            first, target = in_file[key]
            plan.skipped.append(Skipped(row.number, SkipReason.DUPLICATE, first))
        else:
            existing = by_phone.get(row.phone) if row.phone else by_name.get(name_key(row.name or ""))
            if existing is not None:
                target = plan.existing.setdefault(existing.id, _Target(existing))
            else:
                target = _Target(values={"name": row.name or format_phone(row.phone or ""), "phone": row.phone})
                plan.new.append(target)
            in_file[key] = (row.number, target)
        _merge(target, row, agent.timezone, contacted)
    return plan


def _merge(target: _Target, row: Row, zone: str, contacted: set[tuple[int, datetime]]) -> None:
    """Fill the target's empty details from the row, append its notes once, add its last contact once."""
    current = target.client
    for detail in ("needs", "budget", "source"):
        value = getattr(row, detail)
        had = target.values.get(detail) or (getattr(current, detail) if current is not None else None)
        if value and not had:
            target.values[detail] = value
    if row.notes:
        notes = target.values.get("notes") or (current.notes if current is not None else None) or ""
        if row.notes not in notes:
            target.values["notes"] = f"{notes}\n{row.notes}" if notes else row.notes
    if row.stage:
        if current is None:
            target.values.setdefault("stage", row.stage)
        elif current.stage == Stage.NEW and row.stage != Stage.NEW and target.stage_move is None:
            target.stage_move = (current.stage, row.stage)
    if row.contact is not None:
        at = to_utc(row.contact.day, row.contact.at or DAY_ONLY_AT, zone)
        known = {when for when, _, _ in target.contacts}
        if at not in known and (current is None or (current.id, _minute(at)) not in contacted):
            kind, note = _contact_kind(row.contact.rest)
            target.contacts.append((at, kind, note))


def _minute(at: datetime) -> datetime:
    return at.replace(second=0, microsecond=0)


def _contact_kind(rest: str) -> tuple[str, str | None]:
    """'电话 看了两套' after the date → (call, '看了两套'); without a kind word the contact counts as a call."""
    word, _, note = rest.partition(" ")
    kind = parse_contact_kind(word) if word else None
    if kind is None:
        kind = _contact_label(word)
    if kind is not None:
        return str(kind), note.strip()[:TEXT_LIMIT] or None
    return str(ContactKind.CALL), rest.strip()[:TEXT_LIMIT] or None


@cache
def _contact_labels() -> dict[str, ContactKind]:
    from bot.i18n import LANGUAGES, t

    labels = {}
    for lang in LANGUAGES:
        for kind in ContactKind:
            label = t(lang, f"contact.{kind}")
            labels[label] = kind
            labels[label.split(" ", 1)[-1]] = kind  # without its emoji
    return labels


def _contact_label(word: str) -> ContactKind | None:
    return _contact_labels().get(word)


# -- writing --------------------------------------------------------------------------------------------------

_CLIENT_COLUMNS: Final = tuple(
    ["agent_id", "name", "phone", "needs", "budget", "stage", "source", "notes", "archived", "created_at", "updated_at"]
)
_LOG_COLUMNS: Final = ("client_id", "kind", "note", "at")


@dataclass(frozen=True)
class Outcome:
    new: int
    merged: int
    unchanged: int
    skipped: int
    contacts: int


async def apply_plan(session: AsyncSession, plan: Plan, now: datetime) -> Outcome:
    """Write the plan inside the session's transaction: new clients and their contacts through the bulk path,
    the merged clients' new details through the ORM (they are loaded already)."""
    client_rows = [_client_row(plan.agent_id, target.values, now) for target in plan.new]
    ids = await insert_rows_with_ids(session, Client.__table__, _CLIENT_COLUMNS, client_rows)  # type: ignore[arg-type]
    logs: list[tuple[int, str, str | None, datetime]] = []
    for client_id, target in zip(ids, plan.new, strict=True):
        logs += [(client_id, kind, note, at) for at, kind, note in target.contacts]
    for target in plan.existing.values():
        client = target.client
        if client is None or not target.changed():
            continue
        for detail, value in target.values.items():
            setattr(client, detail, value)
        if target.stage_move is not None:
            old, new = target.stage_move
            client.stage = new
            logs.append((client.id, str(ClientEvent.STAGE), f"{old}>{new}", now))
        logs += [(client.id, kind, note, at) for at, kind, note in target.contacts]
        client.updated_at = now
    await session.flush()
    await insert_rows(session, ContactLog.__table__, _LOG_COLUMNS, logs)  # type: ignore[arg-type]
    if plan.new or any(target.changed() for target in plan.existing.values()):
        await crossings_changed(session, plan.agent_id, now)  # new clients, other stages, new contacts
    contacts = sum(len(target.contacts) for target in [*plan.new, *plan.existing.values()])
    return Outcome(len(plan.new), plan.merged, plan.unchanged, len(plan.skipped), contacts)


def _client_row(agent_id: int, values: dict[str, str | None], now: datetime) -> tuple[object, ...]:
    """A new client's values in `_CLIENT_COLUMNS` order (the one place a bulk-written client is made)."""
    stage = values.get("stage") or str(Stage.NEW)
    details = (values.get(key) for key in ("name", "phone", "needs", "budget"))
    return (agent_id, *details, stage, values.get("source"), values.get("notes"), False, now, now)


def today_for(agent: Agent, now: datetime) -> date:
    """The agent's local day: what '3月5日' without a year is read against."""
    return local_today(now.astimezone(UTC), agent.timezone)


async def preview_file(session: AsyncSession, agent: Agent, data: bytes, filename: str, now: datetime) -> Plan:
    """Read the file and plan its import (nothing written); `ImportRefused` for a file that cannot be imported."""
    sheet = read_file(data, filename, today_for(agent, now))
    return await plan_import(session, agent, sheet)


def row_ranges(numbers: Iterable[int]) -> list[tuple[int, int]]:
    """[3, 4, 5, 9] → [(3, 5), (9, 9)]: a long list of skipped rows told in ranges."""
    ranges: list[tuple[int, int]] = []
    for number in sorted(set(numbers)):
        if ranges and number == ranges[-1][1] + 1:
            ranges[-1] = (ranges[-1][0], number)
        else:
            ranges.append((number, number))
    return ranges
