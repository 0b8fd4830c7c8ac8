"""`agentcoach import --agent TELEGRAM_USER_ID FILE [--yes]`: /import from the command line, for an admin moving a
brokerage in. The same reading, preview and merge as the chat (`bot.client_import`), the preview printed as the
agent would read it (in their language), then imported after a y on the terminal or at once with --yes. The file is
read again and set against the clients as they are when the import runs, as ✅ does in the chat."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path
from typing import TextIO

from bot.agents import find_agent
from bot.client_import import ImportRefused, Outcome, Plan, apply_plan, preview_file
from bot.config import Settings
from bot.db import engine_from_settings, session_factory, upgrade
from handlers.client_import import done_text, preview_text, refusal
from runtime.local_api import plain_text


class _Stop(Exception):
    """A line for the operator and the exit code."""

    def __init__(self, line: str, code: int) -> None:
        super().__init__(line)
        self.line, self.code = line, code


def import_clients_command(
    settings: Settings,
    telegram_user_id: int,
    path: Path,
    *,
    yes: bool,
    stdin: TextIO | None = None,
    out: TextIO | None = None,
) -> int:
    """Preview, confirm, import. Exit 0 when imported (or nothing to import), 1 when not confirmed, 2 on an error."""
    stdin, out = stdin or sys.stdin, out or sys.stdout
    try:
        data = path.read_bytes()
    except OSError as error:
        print(f"agentcoach: cannot read {path}: {error.strerror or error}", file=sys.stderr)
        return 2
    try:
        plan, language, _ = asyncio.run(_planned(settings, telegram_user_id, data, path.name, write=False))
        print(plain_text(preview_text(language, plan, path.name), "HTML"), file=out)
        if not plan.changes_anything:
            return 0
        if not yes:
            if not stdin.isatty():
                raise _Stop("nothing imported: no terminal to confirm on; add --yes to import without asking", 1)
            print("Import? [y/N] ", end="", file=out, flush=True)
            if stdin.readline().strip().lower() not in ("y", "yes"):
                raise _Stop("nothing imported", 1)
        _, _, outcome = asyncio.run(_planned(settings, telegram_user_id, data, path.name, write=True))
    except _Stop as stop:
        print(f"agentcoach: {stop.line}", file=sys.stderr)
        return stop.code
    assert outcome is not None
    print(plain_text(done_text(language, outcome), "HTML"), file=out)
    return 0


async def _planned(
    settings: Settings, telegram_user_id: int, data: bytes, name: str, *, write: bool
) -> tuple[Plan, str, Outcome | None]:
    """Read the file against the agent's clients (migrating first, as every command does) and, with `write`,
    import it in the same transaction."""
    engine = engine_from_settings(settings)
    try:
        await upgrade(engine)
        async with session_factory(engine)() as session, session.begin():
            agent = await find_agent(session, telegram_user_id)
            if agent is None:
                raise _Stop(f"no agent with Telegram user id {telegram_user_id} (they must /start the bot first)", 2)
            now = settings.clock().now()
            try:
                plan = await preview_file(session, agent, data, name, now)
            except ImportRefused as refused:
                raise _Stop(plain_text(refusal(agent.language, refused.reason), "HTML"), 2) from refused
            outcome = await apply_plan(session, plan, now) if write else None
            return plan, agent.language, outcome
    finally:
        await engine.dispose()
