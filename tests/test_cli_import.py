"""`agentcoach import --agent ID FILE [--yes]` as an admin moving a brokerage in uses it: the preview printed in the
agent's language, the import after a y or with --yes, and one line when it cannot."""

from __future__ import annotations

import asyncio
import io
from pathlib import Path

import pytest

from bot.config import Settings
from runtime.cli import parser
from runtime.client_import import import_clients_command
from tests.handlers.test_client_import import messy_workbook
from tests.handlers.test_clients import clients_of, ready
from tests.support import Harness


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


async def run(settings: Settings, *args: object, **options: object) -> tuple[int, str]:
    """The command in a thread of its own (it runs its own event loop), what it printed, and its exit code."""
    out = io.StringIO()
    code = await asyncio.to_thread(import_clients_command, settings, *args, out=out, **options)  # type: ignore[arg-type]
    return code, out.getvalue()


async def test_the_preview_is_printed_and_yes_imports(harness: Harness, tmp_path: Path) -> None:
    await ready(harness, language_code="en")
    path = tmp_path / "clients.xlsx"
    path.write_bytes(messy_workbook())
    code, printed = await run(harness.services.settings, 1001, path, yes=True)
    assert code == 0
    assert "📥 clients.xlsx: 8 rows read" in printed
    assert "• no name and no phone: 8" in printed
    assert printed.rstrip().endswith("✅ Import done.\n➕ 5 new clients\n⏭ 3 rows skipped")
    assert len(await clients_of(harness)) == 5
    again, printed = await run(harness.services.settings, 1001, path, yes=True)
    assert again == 0 and "✔️ 5 clients you already have, up to date" in printed
    assert len(await clients_of(harness)) == 5


async def test_on_a_terminal_it_asks_first(harness: Harness, tmp_path: Path) -> None:
    await ready(harness)
    path = tmp_path / "clients.xlsx"
    path.write_bytes(messy_workbook())
    code, printed = await run(harness.services.settings, 1001, path, yes=False, stdin=Terminal("n\n"))
    assert code == 1 and "Import? [y/N]" in printed
    assert await clients_of(harness) == []
    code, printed = await run(harness.services.settings, 1001, path, yes=False, stdin=Terminal("y\n"))
    assert code == 0 and "✅ 导入完成。" in printed
    assert len(await clients_of(harness)) == 5


async def test_without_a_terminal_or_yes_nothing_is_imported(harness: Harness, tmp_path: Path) -> None:
    await ready(harness)
    path = tmp_path / "clients.csv"
    path.write_bytes("姓名,电话\n王先生,13800138000\n".encode())
    code, printed = await run(harness.services.settings, 1001, path, yes=False, stdin=io.StringIO())
    assert code == 1 and "➕ 新客户 1 位" in printed
    assert await clients_of(harness) == []


@pytest.mark.parametrize(
    ("name", "content", "agent"),
    [("clients.txt", b"x", 1001), ("clients.csv", "姓名,电话\n王,13800138000\n".encode(), 4242)],
)
async def test_a_bad_file_or_an_unknown_agent_is_one_line(
    harness: Harness, tmp_path: Path, capsys: pytest.CaptureFixture[str], name: str, content: bytes, agent: int
) -> None:
    await ready(harness)
    path = tmp_path / name
    path.write_bytes(content)
    code, printed = await run(harness.services.settings, agent, path, yes=True)
    assert code == 2 and printed == ""
    [line] = capsys.readouterr().err.splitlines()
    assert line.startswith("agentcoach: ")
    assert await clients_of(harness) == []


def test_the_subcommand_is_wired() -> None:
    args = parser().parse_args(["import", "--agent", "1001", "clients.xlsx", "--yes"])
    assert (args.command, args.agent, args.file, args.yes) == ("import", 1001, Path("clients.xlsx"), True)
