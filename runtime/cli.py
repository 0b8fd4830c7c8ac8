"""The `agentcoach` command: `run` serves Telegram, `shell` chats locally, `db upgrade` migrates, `content` checks tips.

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
from pathlib import Path

from bot.config import Settings, SettingsError, load_settings
from bot.db import DatabaseUnusable, engine_from_settings, session_factory, upgrade
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
    content = commands.add_parser(
        "content", help="the tip library", description="Check the tip library, or draft tips from a summary."
    )
    content_commands = content.add_subparsers(dest="content_command", metavar="CONTENT_COMMAND", required=True)
    check = content_commands.add_parser(
        "check",
        help="validate the tip library (schema, ids, languages, lengths, topics, sources, damaged text)",
        description="Validate the tip library; prints every problem and exits 1 if there is any.",
    )
    check.add_argument("--topics", type=Path, default=None, help="a topics YAML file (default: the shipped one)")
    check.add_argument("--library", type=Path, default=None, help="a library YAML file (default: the shipped one)")
    draft = content_commands.add_parser(
        "import",
        help="draft candidate tips from a weekly work summary, as YAML for a team lead to review",
        description="Read a weekly work summary (plain text, UTF-8 or GB18030; one or several summaries), repair "
        "damaged text, and write a DRAFT YAML file of candidate tips to review and merge into "
        "content/tips/library.yaml. Prints a one-line summary.",
    )
    draft.add_argument("file", type=Path, metavar="FILE", help="the summary file")
    draft.add_argument(
        "-o",
        "--output",
        type=Path,
        default=None,
        metavar="OUT",
        help="the draft (default: FILE's stem + .tips-draft.yaml beside it)",
    )
    draft.add_argument("--force", action="store_true", help="overwrite OUT if it exists")
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
    try:
        return run_command(args, settings)
    except DatabaseUnusable as error:  # a damaged or unreadable file: one line for the operator, no traceback
        print(f"agentcoach: {error}", file=sys.stderr)
        return 2


def run_command(args: argparse.Namespace, settings: Settings) -> int:
    if args.command == "content":
        return content_command(args)
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


def content_command(args: argparse.Namespace) -> int:
    if args.content_command == "import":
        return import_command(args)
    from bot.tip_library import check_files
    from content import content_path

    topics = args.topics.read_text(encoding="utf-8") if args.topics else None
    library = args.library.read_text(encoding="utf-8") if args.library else None
    problems = check_files(
        topics or content_path("tips", "topics.yaml").read_text(encoding="utf-8"),
        library or content_path("tips", "library.yaml").read_text(encoding="utf-8"),
    )
    for problem in problems:
        print(problem)
    print(f"{len(problems)} problem(s)" if problems else "the tip library is fine", file=sys.stderr)
    return 1 if problems else 0


def import_command(args: argparse.Namespace) -> int:
    """`content import`: read the file, draft the tips (bot/tip_import.py), write the draft, say what it holds."""
    from bot.tip_import import default_output, draft_yaml, import_summaries, topic_scorer

    output: Path = args.output or default_output(args.file)
    try:
        data = args.file.read_bytes()
    except OSError as error:
        print(f"agentcoach: cannot read {args.file}: {error.strerror or error}", file=sys.stderr)
        return 2
    if output.exists() and not args.force:
        print(f"agentcoach: {output} exists; use --force to overwrite it", file=sys.stderr)
        return 2
    try:
        scores, fallback = topic_scorer()
    except ValueError as error:
        print(f"agentcoach: {error}", file=sys.stderr)
        return 1
    if fallback:
        print(f"agentcoach: topics suggested from topics.yaml alone ({fallback})", file=sys.stderr)
    draft = import_summaries(data, args.file.name, topic_scores=scores)
    try:
        output.write_text(draft_yaml(draft), encoding="utf-8")
    except OSError as error:
        print(f"agentcoach: cannot write {output}: {error.strerror or error}", file=sys.stderr)
        return 2
    print(f"agentcoach: {draft.summary_line(str(output))}", file=sys.stderr)
    return 0


async def migrate(settings: Settings) -> None:
    engine = engine_from_settings(settings)
    try:
        await upgrade(engine)
    finally:
        await engine.dispose()


def open_shell(settings: Settings, user_id: int, name: str | None, language_code: str | None) -> int:
    from runtime.shell import run_shell

    # The shell is for reading the conversation; keep the log to warnings unless asked for more.
    if settings.log_level == "INFO":
        logging.getLogger().setLevel(logging.WARNING)
    from bot.ownership import DatabaseInUse

    code = language_code or settings.default_language.lower()
    try:
        asyncio.run(
            run_shell(settings, sys.stdin, sys.stdout, user_id=user_id, name=name or _login_name(), language_code=code)
        )
    except DatabaseInUse as error:
        print(f"agentcoach: {error}", file=sys.stderr)
        return 2
    return 0


def _login_name() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "Agent"


def serve(settings: Settings) -> int:
    from bot.ownership import DatabaseInUse
    from handlers.context import Services
    from handlers.digest import close_charts, start_rendering_ahead
    from runtime.app import ALLOWED_UPDATES, AgentApplication, build_application, prepare
    from runtime.delivery import engine_of, start_sweeping
    from runtime.gate import PollerRunning, take_poller_lock

    # One event loop from the locks to the end: run_polling serves on it, so the connections holding the locks
    # live as long as the process.
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    engine = engine_from_settings(settings)
    services = Services(settings, session_factory(engine), settings.clock())
    token = settings.token()
    assert token is not None
    app = build_application(services, token=token, base_url=settings.telegram_api_base_url)
    try:  # before any call to Telegram: a second poller would only fight the first over getUpdates (409s)
        release_poller_lock = loop.run_until_complete(take_poller_lock(engine))
        loop.run_until_complete(migrate(settings))
        loop.run_until_complete(engine_of(app).start())  # refuses a second process on one SQLite file
    except (PollerRunning, DatabaseInUse) as error:
        print(f"agentcoach: {error}", file=sys.stderr)
        loop.run_until_complete(engine.dispose())
        loop.close()
        return 2

    async def dispose(app: AgentApplication) -> None:
        await engine_of(app).stop()
        await close_charts()
        if release_poller_lock is not None:
            await release_poller_lock()
        await engine.dispose()

    async def start(app: AgentApplication) -> None:
        start_sweeping(app)
        start_rendering_ahead(app)
        await prepare(app, background=True)

    app.post_init = start
    app.post_shutdown = dispose
    log.info(
        "serving Telegram by long polling%s",
        f" via {settings.telegram_api_base_url}" if settings.telegram_api_base_url else "",
    )
    app.run_polling(allowed_updates=ALLOWED_UPDATES)
    return 0


if __name__ == "__main__":
    sys.exit(main())
