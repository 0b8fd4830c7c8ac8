"""Reading what agents type about clients (phones, budgets, one-line clients) and the clients' storage."""

from __future__ import annotations

from datetime import timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.agents import NewAgent, get_or_register
from bot.clients import (
    DETAILS,
    ClientDraft,
    add_client,
    archive_client,
    change_stage,
    client_with_phone,
    clients_page,
    counts_by_stage,
    edit_detail,
    format_phone,
    last_contacts,
    log_contact,
    next_follow_up,
    normalise_phone,
    owned_client,
    parse_budget,
    parse_client_line,
    parse_stage,
    recent_contacts,
    search_clients,
    update_details,
)
from bot.db import session_factory
from bot.followups import client_with_open, open_for_client
from bot.models import FollowUp
from bot.statuses import STAGES
from tests.conftest import START


@pytest.mark.parametrize(
    ("typed", "e164"),
    [
        ("13800138000", "+8613800138000"),
        ("138-0013-8000", "+8613800138000"),
        ("138 0013 8000", "+8613800138000"),
        ("+86 138 0013 8000", "+8613800138000"),
        ("0086 13800138000", "+8613800138000"),
        ("１３８００１３８０００", "+8613800138000"),
        ("010-12345678", "+861012345678"),
        ("(010) 1234 5678", "+861012345678"),
        ("021 6123 4567", "+862161234567"),
        ("5123 4567", "+85251234567"),
        ("9123-4567", "+85291234567"),
        ("2123 4567", "+85221234567"),
        ("+852 5123 4567", "+85251234567"),
        ("+1 604 555 0199", "+16045550199"),
        ("+1 (212) 555-0100", "+12125550100"),
        ("+44 20 7946 0958", "+442079460958"),
        ("0044 20 7946 0958", "+442079460958"),
    ],
)
def test_phone_numbers_are_normalised_to_e164(typed: str, e164: str) -> None:
    assert normalise_phone(typed) == e164


@pytest.mark.parametrize(
    "typed",
    [
        "",
        "   ",
        "12345",
        "1380013800",  # one digit short
        "138001380001",  # one digit too many
        "12345678901",  # 11 digits, but no such mainland mobile range
        "+86 5123 4567",  # a Hong Kong number with the mainland's code
        "+1 000 000 0000",
        "abc",
        "1-800-FLOWERS",
        "+",
        "13800138000 ext. 12",
        "9" * 40,
    ],
)
def test_invalid_phone_numbers_are_refused(typed: str) -> None:
    assert normalise_phone(typed) is None


@given(st.text(max_size=40))
def test_normalise_phone_never_raises(text: str) -> None:
    normalise_phone(text)


@given(st.text(alphabet="0123456789+-() ０１２３４５６７８９", max_size=24))
def test_a_normalised_phone_normalises_to_itself(text: str) -> None:
    phone = normalise_phone(text)
    if phone is not None:
        assert phone.startswith("+") and phone[1:].isdigit()
        assert normalise_phone(phone) == phone
        assert normalise_phone(format_phone(phone)) == phone


@given(st.sampled_from(["13800138000", "5123 4567", "+1 604 555 0199", "010-12345678"]), st.text(max_size=12))
def test_a_valid_phone_is_found_in_any_line(phone: str, noise: str) -> None:
    draft = parse_client_line(f"王先生 {phone} {noise}")
    assert draft is not None and draft.name == "王先生"
    assert draft.phone == normalise_phone(phone)


def test_phones_are_shown_in_international_form() -> None:
    assert format_phone("+8613800138000") == "+86 138 0013 8000"
    assert format_phone("+85251234567") == "+852 5123 4567"


@pytest.mark.parametrize(
    ("typed", "budget"),
    [
        ("预算300万", "300万"),
        ("預算 300萬", "300萬"),
        ("300万", "300万"),
        ("300-400万", "300-400万"),
        ("budget 3M", "3M"),
        ("budget: 3.5M", "3.5M"),
        ("$800k", "$800k"),
        ("HK$8M", "HK$8M"),
        ("2w", "2w"),
        ("3", None),
        ("三居", None),
        ("", None),
    ],
)
def test_budgets(typed: str, budget: str | None) -> None:
    assert parse_budget(typed) == budget


@pytest.mark.parametrize(
    ("line", "draft"),
    [
        (
            "王先生 13800138000 三居 预算300万",
            ClientDraft("王先生", "+8613800138000", "三居", "300万"),
        ),
        ("王先生", ClientDraft("王先生")),
        ("王先生 三居 学区房", ClientDraft("王先生", needs="三居 学区房")),
        (
            "王先生 +86 138 0013 8000 三居 预算 300万",
            ClientDraft("王先生", "+8613800138000", "三居", "300万"),
        ),
        (
            "王先生13800138000三居预算300万",
            ClientDraft("王先生", "+8613800138000", "三居", "300万"),
        ),
        ("13800138000 王先生 两房", ClientDraft("王先生", "+8613800138000", "两房")),
        ("陈太 电话：5123 4567 九龙塘 两房", ClientDraft("陈太", "+85251234567", "九龙塘 两房")),
        (
            "Mr Chan +852 5123 4567 2-bed Kowloon budget 8M",
            ClientDraft("Mr Chan", "+85251234567", "2-bed Kowloon", "8M"),
        ),
        ("Amy +1 604 555 0199 condo $800k", ClientDraft("Amy", "+16045550199", "condo", "$800k")),
        ("Telford 2-bed", ClientDraft("Telford", needs="2-bed")),
        ("张姐，3房2厅，90平，300万", ClientDraft("张姐", needs="3房2厅 90平", budget="300万")),
        (
            "李太 13800138000 学区房 来源:朋友介绍 备注：周末才有空，喜欢南向",
            ClientDraft("李太", "+8613800138000", "学区房", source="朋友介绍", notes="周末才有空，喜欢南向"),
        ),
        ("王先生 2026-11-30 看房", ClientDraft("王先生", needs="2026-11-30 看房")),
        ("王先生 12345678901 三居", ClientDraft("王先生", needs="12345678901 三居", bad_phone="12345678901")),
        ("王先生 138-0013-800", ClientDraft("王先生", needs="138-0013-800", bad_phone="138-0013-800")),
        ("13800138000", None),
        ("预算300万", None),
        ("", None),
        ("   ", None),
    ],
)
def test_client_lines(line: str, draft: ClientDraft | None) -> None:
    assert parse_client_line(line) == draft


@given(st.text(max_size=60))
def test_parse_client_line_never_raises_and_keeps_a_name(text: str) -> None:
    draft = parse_client_line(text)
    if draft is not None:
        assert draft.name.strip() and len(draft.name) <= 64


@pytest.mark.parametrize(
    ("word", "stage"),
    [("意向", "interested"), ("帶看", "viewing"), ("closed", "closed"), ("Lost", "lost"), ("x", None)],
)
def test_stage_words(word: str, stage: str | None) -> None:
    assert parse_stage(word) == stage


async def test_clients_are_stored_listed_and_only_reachable_by_their_agent(engine: AsyncEngine) -> None:
    sessions = session_factory(engine)
    async with sessions() as session, session.begin():
        me = await get_or_register(session, NewAgent(1, 1, "me", "zh-Hans", "Asia/Shanghai"), START)
        other = await get_or_register(session, NewAgent(2, 2, "other", "zh-Hans", "Asia/Shanghai"), START)
        clients = [
            await add_client(session, me.id, ClientDraft(f"客户{i}"), START + timedelta(minutes=i)) for i in range(5)
        ]
        theirs = await add_client(session, other.id, ClientDraft("别人的", phone="+8613800138000"), START)
        first = clients[0]

        assert await owned_client(session, me.id, first.id) is first
        assert await owned_client(session, me.id, theirs.id) is None
        assert await owned_client(session, me.id, 10**12) is None
        assert await client_with_phone(session, me.id, "+8613800138000") is None

        assert await change_stage(session, first, "interested", START)
        assert not await change_stage(session, first, "interested", START)
        with pytest.raises(ValueError):
            await change_stage(session, first, "nonsense", START)
        await log_contact(session, clients[1], "viewing", "看了两套", START + timedelta(hours=1))
        await log_contact(session, first, "call", "  ", START + timedelta(hours=2))
        await log_contact(session, first, "message", "发了户型图", START + timedelta(hours=3))
        assert clients[1].stage == "viewing"  # a viewing moves a new client on

        counts = await counts_by_stage(session, me.id)
        assert list(counts) == list(STAGES)
        assert counts == {"new": 3, "interested": 1, "viewing": 1, "deposit": 0, "closed": 0, "lost": 0}

        page = await clients_page(session, me.id, None, 0, 2)
        assert (page.total, page.pages, [c.name for c in page.clients]) == (5, 3, ["客户0", "客户1"])
        last = await clients_page(session, me.id, None, 99, 2)
        assert (last.page, [c.name for c in last.clients]) == (2, ["客户2"])
        viewing = await clients_page(session, me.id, "viewing", 0, 10)
        assert [c.name for c in viewing.clients] == ["客户1"]

        contacts = await recent_contacts(session, first.id)
        assert [(c.kind, c.note) for c in contacts] == [("message", "发了户型图"), ("call", None)]
        assert (await last_contacts(session, [first.id]))[first.id] is contacts[0]
        assert [c.name for c in await search_clients(session, me.id, "客户")][:3] == ["客户0", "客户1", "客户4"]
        assert await search_clients(session, me.id, "别人") == []

        due = START + timedelta(days=1)
        for days in (3, 1):
            session.add(
                FollowUp(
                    agent_id=me.id,
                    client_id=first.id,
                    due_at=START + timedelta(days=days),
                    status="open",
                    created_at=START,
                    updated_at=START,
                )
            )
        await session.flush()
        upcoming = await next_follow_up(session, first.id)
        assert upcoming is not None and upcoming.due_at == due

        assert await archive_client(session, first, START) == 2
        assert await owned_client(session, me.id, first.id) is None
        assert await next_follow_up(session, first.id) is None
        assert (await counts_by_stage(session, me.id))["interested"] == 0


REGISTERED = ClientDraft("王先生", "+8613800138000", "三居", "300万", "朋友介绍", "周末才有空")


@pytest.mark.parametrize(
    ("detail", "typed", "stored", "problem"),
    [
        ("name", "  王  大文 ", "王 大文", None),
        ("name", "王" * 64, "王" * 64, None),
        ("name", "王" * 65, "王先生", "too_long"),
        ("name", " \n ", "王先生", "empty"),
        ("phone", "5123 4567", "+85251234567", None),
        ("phone", "+86 138 0013 8000", "+8613800138000", None),  # its own number is no duplicate
        ("phone", "12345", "+8613800138000", "bad_phone"),
        ("phone", "139 0013 9000", "+8613800138000", "duplicate"),
        ("phone", "+85298765432", "+85298765432", None),  # another agent's client may have it
        ("phone", "13700137000", "+8613700137000", None),  # an archived client's number is free again
        ("needs", " 两房\n近地铁 ", "两房\n近地铁", None),
        ("needs", "需" * 1001, "三居", "too_long"),
        ("budget", "预算 400万", "400万", None),
        ("budget", "$800k", "$800k", None),
        ("budget", "看情况", "300万", "bad_budget"),
        ("budget", "300", "300万", "bad_budget"),  # "3" alone could be bedrooms: an amount needs its unit
        ("source", "门店   上门", "门店 上门", None),
        ("source", "源" * 65, "朋友介绍", "too_long"),
        ("notes", "备" * 1000, "备" * 1000, None),
        ("notes", "   ", "周末才有空", "empty"),
    ],
)
async def test_editing_a_detail_checks_it_like_registering(
    engine: AsyncEngine, detail: str, typed: str, stored: str, problem: str | None
) -> None:
    later = START + timedelta(hours=1)
    async with session_factory(engine)() as session, session.begin():
        me = await get_or_register(session, NewAgent(1, 1, "me", "zh-Hans", "Asia/Shanghai"), START)
        other = await get_or_register(session, NewAgent(2, 2, "other", "zh-Hans", "Asia/Shanghai"), START)
        client = await add_client(session, me.id, REGISTERED, START)
        namesake = await add_client(session, me.id, ClientDraft("李太", "+8613900139000"), START)
        await add_client(session, other.id, ClientDraft("别人的", "+85298765432"), START)
        gone = await add_client(session, me.id, ClientDraft("老客户", "+8613700137000"), START)
        await archive_client(session, gone, START)

        edit = await edit_detail(session, client, detail, typed, later)

        assert edit.problem == problem
        assert edit.owner is (namesake if problem == "duplicate" else None)
        assert getattr(client, detail) == stored
        untouched = {name: getattr(REGISTERED, name) for name in DETAILS if name != detail}
        assert {name: getattr(client, name) for name in untouched} == untouched
        changed = problem is None and stored != getattr(REGISTERED, detail)
        assert client.updated_at == (later if changed else START)


async def test_clearing_a_detail(engine: AsyncEngine) -> None:
    later = START + timedelta(hours=1)
    async with session_factory(engine)() as session, session.begin():
        me = await get_or_register(session, NewAgent(1, 1, "me", "zh-Hans", "Asia/Shanghai"), START)
        client = await add_client(session, me.id, REGISTERED, START)
        for detail in ("phone", "needs", "budget", "source", "notes"):
            assert (await edit_detail(session, client, detail, None, later)).problem is None
            assert getattr(client, detail) is None
        assert client.updated_at == later
        for detail, typed in (("name", None), ("stage", "closed"), ("agent_id", "2")):
            with pytest.raises(ValueError):
                await edit_detail(session, client, detail, typed, later)
        with pytest.raises(ValueError):
            update_details(client, later, name="")
        assert client.name == "王先生"


async def test_the_last_contacts_of_many_clients_are_each_their_own(engine: AsyncEngine) -> None:
    """What a group of nudges shows: per client the latest real contact (the later one of two at the same minute),
    never a stage move, never another client's; a client never contacted is missing."""
    sessions = session_factory(engine)
    async with sessions() as session, session.begin():
        me = await get_or_register(session, NewAgent(1, 1, "me", "zh-Hans", "Asia/Shanghai"), START)
        a, b, c, quiet = [await add_client(session, me.id, ClientDraft(f"客户{i}"), START) for i in range(4)]
        await log_contact(session, a, "call", "第一次", START + timedelta(hours=1))
        await log_contact(session, a, "visit", "看房", START + timedelta(hours=3))
        await log_contact(session, a, "message", "早一点", START + timedelta(hours=2))
        await log_contact(session, b, "call", "同一分钟一", START + timedelta(hours=1))
        await log_contact(session, b, "message", "同一分钟二", START + timedelta(hours=1))
        await log_contact(session, c, "call", "电话", START)
        await change_stage(session, c, "interested", START + timedelta(hours=5))  # a stage move: not a contact
        await change_stage(session, quiet, "viewing", START + timedelta(hours=5))
        found = await last_contacts(session, [a.id, b.id, c.id, quiet.id, 999_999])
        assert {client: contact.note for client, contact in found.items()} == {
            a.id: "看房",
            b.id: "同一分钟二",
            c.id: "电话",
        }
        for client in (a, b, c):
            assert found[client.id] is (await recent_contacts(session, client.id))[0]
        assert await last_contacts(session, []) == {}


async def test_a_client_with_its_open_follow_ups_is_what_the_two_reads_give(engine: AsyncEngine) -> None:
    """The ✅ of a draft reads the client and its open follow-ups in one statement: the same client and the same
    follow-ups, earliest first, as `owned_client` and `open_for_client`; nothing for another agent's client, an
    archived one, or a forged id."""
    sessions = session_factory(engine)
    async with sessions() as session, session.begin():
        me = await get_or_register(session, NewAgent(1, 1, "me", "zh-Hans", "Asia/Shanghai"), START)
        other = await get_or_register(session, NewAgent(2, 2, "other", "zh-Hans", "Asia/Shanghai"), START)
        busy, idle = [await add_client(session, me.id, ClientDraft(name), START) for name in ("王先生", "李女士")]
        theirs = await add_client(session, other.id, ClientDraft("别人的"), START)
        for days, status in ((3, "open"), (1, "open"), (2, "done")):
            session.add(
                FollowUp(
                    agent_id=me.id,
                    client_id=busy.id,
                    due_at=START + timedelta(days=days),
                    status=status,
                    created_at=START,
                    updated_at=START,
                )
            )
        await session.flush()

        found = await client_with_open(session, me.id, busy.id)
        assert found is not None
        assert found[0] is await owned_client(session, me.id, busy.id)
        assert found[1] == await open_for_client(session, me.id, busy.id)
        assert [f.due_at for f in found[1]] == [START + timedelta(days=1), START + timedelta(days=3)]
        assert await client_with_open(session, me.id, idle.id) == (idle, [])
        assert await client_with_open(session, me.id, theirs.id) is None
        assert await client_with_open(session, me.id, 10**12) is None
        await archive_client(session, idle, START)
        assert await client_with_open(session, me.id, idle.id) is None
