"""The CSV client list as a codec: whatever an agent typed comes back from Python's csv reader as it went in (a
cell that would start a spreadsheet formula comes back after one tab, which is all that is added)."""

from __future__ import annotations

import csv
import io
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from bot.export import CSV_HEADERS, clients_csv
from bot.statuses import STAGES
from bot.text import clean

TEXT = st.text(max_size=40).map(clean)
NOTE = st.one_of(st.none(), TEXT)


@st.composite
def documents(draw: st.DrawFn) -> dict[str, Any]:
    clients = []
    for number in range(draw(st.integers(0, 4))):
        contacts = [
            {"id": i, "kind": draw(st.sampled_from(["call", "message", "visit", "viewing"])), "note": draw(NOTE),
             "at": f"2026-11-2{i % 10}T0{i % 10}:00:00Z"}
            for i in range(draw(st.integers(0, 3)))
        ]  # fmt: skip
        clients.append(
            {"id": number, "name": draw(TEXT), "phone": draw(NOTE), "needs": draw(NOTE), "budget": draw(NOTE),
             "stage": draw(st.sampled_from(STAGES)), "source": draw(NOTE), "notes": draw(NOTE), "archived": False,
             "created_at": "2026-11-20T01:00:00Z", "updated_at": "2026-11-20T01:00:00Z", "contacts": contacts,
             "follow_ups": []}
        )  # fmt: skip
    return {"timezone": draw(st.sampled_from(["Asia/Shanghai", "Australia/Melbourne", "UTC"])), "clients": clients}


def written(value: str | None) -> str:
    text = value or ""
    return "\t" + text if text[:1] in {"=", "+", "-", "@"} else text


@given(documents(), st.sampled_from(["zh-Hans", "en", "zh-Hant"]))
@settings(deadline=None)  # the first example loads the catalogs
def test_every_typed_value_round_trips_through_the_csv_reader(document: dict[str, Any], language: str) -> None:
    data = clients_csv(document, language)
    assert data.startswith(b"\xef\xbb\xbf")
    header, *rows = list(csv.reader(io.StringIO(data.decode("utf-8-sig"), newline="")))
    assert tuple(header) == CSV_HEADERS and len(rows) == len(document["clients"])
    for row, client in zip(rows, document["clients"], strict=True):
        cells = dict(zip(header, row, strict=True))
        for column, field in (("姓名", "name"), ("电话", "phone"), ("需求", "needs"), ("预算", "budget"),
                              ("来源", "source"), ("备注", "notes")):  # fmt: skip
            assert cells[column] == written(client[field])
        log = cells["联系记录"]
        assert len(log.split("\n")) == len(client["contacts"]) or (log == "" and not client["contacts"])
