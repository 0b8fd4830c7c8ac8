"""The terminal shell's buttons: a typed number is the agent's answer unless it can only mean a button."""

from __future__ import annotations

from io import StringIO

from runtime.local_api import Reply
from runtime.shell import ShellNote, act, render
from tests.handlers.test_onboarding import onboard
from tests.handlers.test_reflections import FIRST_QUESTION, agent, prompt_now, stored
from tests.support import Harness


async def test_a_number_typed_where_buttons_are_numbers_is_the_answer(harness: Harness) -> None:
    chat = await agent(harness)
    await prompt_now(harness, chat)
    reply = await act(chat, "1")  # ▶️ Start, ⏰ Later, ⏭ Skip: no number among them, so 1 presses ▶️ Start
    assert isinstance(reply, Reply) and reply.texts == [FIRST_QUESTION]
    reply = await act(chat, "3")  # buttons 0 … 6+: typing 3 answers 3 (button 3 would be "2")
    assert isinstance(reply, Reply)
    reply = await act(chat, "#3")  # the mood buttons 😞 1 … 😄 5: #3 presses the third, 😐 3
    reflection = await stored(harness)
    assert reflection is not None and (reflection.clients, reflection.mood) == (3, 3)


async def test_earlier_messages_buttons_can_be_pressed_by_their_message_number(harness: Harness) -> None:
    chat = harness.chat()
    await onboard(chat)
    older = await act(chat, "/settings")
    newer = await act(chat, "/settings")
    assert isinstance(older, Reply) and isinstance(newer, Reply)
    panel = older.sent[-1]
    assert f"   #{panel.message_id}: [1] 🌐 语言   [2] 🕒 时区" in render(older, "zh-Hans")
    reply = await act(chat, f"#{panel.message_id}.9")  # ✖️ 关闭 on the older panel
    assert isinstance(reply, Reply) and [m.message_id for m in reply.edited] == [panel.message_id]
    assert reply.edited[0].text.startswith("⚙️ 设置") and not reply.edited[0].buttons
    assert newer.sent[-1].buttons  # the newer panel is untouched
    assert isinstance(await act(chat, f"#{panel.message_id}.1"), ShellNote)  # its buttons are gone


async def test_a_number_or_press_with_no_such_button(harness: Harness) -> None:
    chat = harness.chat()
    await act(chat, "/start")
    note = await act(chat, "#9")
    assert isinstance(note, ShellNote) and note.key == "shell.no_button"
    assert isinstance(await act(chat, "#999.1"), ShellNote)
    reply = await act(chat, "9")  # three language buttons: 9 is typed text, which the question answers
    assert isinstance(reply, Reply) and reply.sent
    assert (await harness.waiting()) is not None
    out = StringIO()
    out.write(render(Reply([], []), "en"))
    assert out.getvalue() == "(no reply)"
