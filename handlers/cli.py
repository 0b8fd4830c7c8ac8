"""The `agentcoach` command: `run` serves Telegram, `shell` chats locally, `db upgrade` migrates.

With no subcommand it does what a newcomer wants: serve Telegram when TELEGRAM_BOT_TOKEN is set,
otherwise say so in one line and open the shell.
"""

from __future__ import annotations

import argparse
import asyncio
import getpass
import logging
import sys
from collections.abc import Sequence

from bot.config import Settings, SettingsError, load_settings
from bot.db import engine_from_settings, session_factory, upgrade
from bot.logs import configure_logging

log = logging.getLogger("agentcoach")


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(
        prog="agentcoach",
        description="A Telegram bot that coaches new real-estate agents. Without a subcommand: serve Telegram "
        "if TELEGRAM_BOT_TOKEN is set, otherwise open the local chat shell.",
    )
    commands = top.add_subparsers(dest="command", metavar="COMMAND")
    commands.add_parser(
        "run",
        help="serve Telegram by long polling (needs TELEGRAM_BOT_TOKEN)",
        description="Serve Telegram by long polling. Needs TELEGRAM_BOT_TOKEN; "
        "TELEGRAM_API_BASE_URL points it at a local Bot API server.",
    )
    shell = commands.add_parser(
        "shell",
        help="chat with the bot in this terminal (no token, no network)",
        description="Chat with the bot in this terminal through an in-process Bot API. "
        "Type messages and commands; type a number to press that button.",
    )
    shell.add_argument("--user-id", type=int, default=1, help="the Telegram user id to play (default 1)")
    shell.add_argument("--name", default=None, help="your display name (default: your login name)")
    shell.add_argument(
        "--language-code",
        default=None,
        help="the language your Telegram app reports, e.g. zh-hans, en, zh-hant",
    )
    db = commands.add_parser("db", help="database maintenance", description="Database maintenance.")
    db_commands = db.add_subparsers(dest="db_command", metavar="DB_COMMAND", required=True)
    db_commands.add_parser(
        "upgrade",
        help="apply migrations (also done automatically at start)",
        description="Apply database migrations up to the newest revision.",
    )
    return top


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        settings = load_settings()
    except SettingsError as error:
        print(f"agentcoach: {error}", file=sys.stderr)
        return 2
    secrets = [settings.token() or ""]
    configure_logging(settings.log_level, secrets)
    if args.command == "db":
        asyncio.run(migrate(settings))
        return 0
    if args.command == "shell":
        return open_shell(settings, args.user_id, args.name, args.language_code)
    if args.command == "run":
        if settings.token() is None:
            print(
                "agentcoach: TELEGRAM_BOT_TOKEN is not set (use `agentcoach shell` to chat locally)",
                file=sys.stderr,
            )
            return 2
        return serve(settings)
    if settings.token() is None:
        print("agentcoach: TELEGRAM_BOT_TOKEN is not set, so opening the local chat shell (Ctrl-D to leave).")
        return open_shell(settings, 1, None, None)
    return serve(settings)


async def migrate(settings: Settings) -> None:
    engine = engine_from_settings(settings)
    try:
        await upgrade(engine)
    finally:
        await engine.dispose()


def open_shell(settings: Settings, user_id: int, name: str | None, language_code: str | None) -> int:
    from handlers.shell import run_shell

    # The shell is for reading the conversation; keep the log to warnings unless asked for more.
    if settings.log_level == "INFO":
        logging.getLogger().setLevel(logging.WARNING)
    code = language_code or settings.default_language.lower()
    asyncio.run(
        run_shell(settings, sys.stdin, sys.stdout, user_id=user_id, name=name or _login_name(), language_code=code)
    )
    return 0


def _login_name() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "Agent"


def serve(settings: Settings) -> int:
    from handlers.app import ALLOWED_UPDATES, AgentApplication, build_application, prepare
    from handlers.context import Services
    from handlers.delivery import start_sweeping

    asyncio.run(migrate(settings))
    engine = engine_from_settings(settings)
    services = Services(settings, session_factory(engine), settings.clock())
    token = settings.token()
    assert token is not None
    app = build_application(services, token=token, base_url=settings.telegram_api_base_url)

    async def dispose(_: AgentApplication) -> None:
        await engine.dispose()

    async def start(app: AgentApplication) -> None:
        start_sweeping(app)
        await prepare(app, background=True)

    app.post_init = start
    app.post_shutdown = dispose
    log.info(
        "serving Telegram by long polling%s",
        f" via {settings.telegram_api_base_url}" if settings.telegram_api_base_url else "",
    )
    app.run_polling(allowed_updates=ALLOWED_UPDATES)
    return 0
