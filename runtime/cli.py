"""The `agentcoach` command: `run` serves Telegram (polling or `--webhook`), `webhook info|delete` asks Telegram,
`shell` chats locally, `db upgrade` migrates, `content` checks tips, `stats` shows an operator where things stand,
`team` makes teams and invite links.
`export --agent ID` writes one agent's data.

With no subcommand it does what a newcomer wants: serve Telegram when TELEGRAM_BOT_TOKEN is set,
otherwise say so in one line and open the shell.
"""

from __future__ import annotations

import argparse
import asyncio
import getpass
import logging
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from bot.config import Settings, SettingsError, load_settings
from bot.db import DatabaseUnusable, engine_from_settings, session_factory, upgrade
from bot.logs import configure_logging

if TYPE_CHECKING:
    from telegram import Bot

    from runtime.app import AgentApplication

log = logging.getLogger("agentcoach")


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(
        prog="agentcoach",
        description="A Telegram bot that coaches new real-estate agents. Without a subcommand: serve Telegram "
        "if TELEGRAM_BOT_TOKEN is set, otherwise open the local chat shell.",
    )
    commands = top.add_subparsers(dest="command", metavar="COMMAND")
    run = commands.add_parser(
        "run",
        help="serve Telegram by long polling, or by webhook with --webhook (needs TELEGRAM_BOT_TOKEN)",
        description="Serve Telegram by long polling. Needs TELEGRAM_BOT_TOKEN; "
        "TELEGRAM_API_BASE_URL points it at a local Bot API server. With --webhook: serve Telegram's webhook "
        "behind a reverse proxy (also needs WEBHOOK_URL and TELEGRAM_WEBHOOK_SECRET).",
    )
    run.add_argument(
        "--webhook", action="store_true", help="serve the webhook at WEBHOOK_URL's path instead of polling"
    )
    run.add_argument("--listen", default=None, metavar="ADDRESS", help="with --webhook: override WEBHOOK_LISTEN")
    run.add_argument("--port", type=_port, default=None, help="with --webhook: override WEBHOOK_PORT")
    webhook = commands.add_parser(
        "webhook",
        help="Telegram's webhook for this bot: info, delete",
        description="Show or delete the webhook Telegram has for TELEGRAM_BOT_TOKEN.",
    )
    webhook_commands = webhook.add_subparsers(dest="webhook_command", metavar="WEBHOOK_COMMAND", required=True)
    webhook_commands.add_parser(
        "info",
        help="print getWebhookInfo: URL, pending updates, last error",
        description="Print what Telegram says about the webhook (getWebhookInfo); never the token.",
    )
    delete = webhook_commands.add_parser(
        "delete",
        help="delete the webhook (polling works again)",
        description="Delete the webhook, so `agentcoach run` can poll. Updates Telegram holds are kept unless "
        "--drop-pending.",
    )
    delete.add_argument("--drop-pending", action="store_true", help="also drop the updates Telegram holds")
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
    stats = commands.add_parser(
        "stats",
        help="one screen for an operator: agents, deliveries due, late, in flight, held; the last hour's sends",
        description="Agents active and inactive, deliveries due now, overdue, in flight and held, the oldest one "
        "due, and the last hour's sent, late and failed deliveries by kind. Read-only (after the usual migration).",
    )
    stats.add_argument("--json", action="store_true", help="print one JSON object, for machines")
    backup = db_commands.add_parser(
        "backup",
        help="a consistent copy of the SQLite database, while the bot runs (on PostgreSQL: how to run pg_dump)",
        description="Copy the SQLite database to PATH with SQLite's online backup API while the bot keeps "
        "running, check the copy, and print its size and agent count. On PostgreSQL, print the pg_dump command "
        "to use instead (exit 2).",
    )
    backup.add_argument("path", type=Path, metavar="PATH", help="the backup file to write")
    backup.add_argument("--force", action="store_true", help="overwrite PATH if it exists")
    announce = commands.add_parser(
        "broadcast",
        help="send an announcement (a UTF-8 file, Telegram HTML) to every active agent, at Telegram's pace",
        description="Send the text in FILE (UTF-8; Telegram HTML such as <b>, <i>, <a href>; one message, at most "
        "4,096 characters) to every agent who finished onboarding and has not blocked the bot, through the "
        "scheduling engine at Telegram's pace. Each agent gets it once: run the same command again after a crash "
        "to send the rest. With a bot running on the same SQLite file, the messages are queued for that bot.",
    )
    announce.add_argument("file", type=Path, metavar="FILE", help="the announcement")
    announce.add_argument("--yes", action="store_true", help="do not ask for confirmation")
    clients_in = commands.add_parser(
        "import",
        help="import an agent's clients from an .xlsx or .csv file (shows the preview first)",
        description="Read FILE (.xlsx, or .csv in UTF-8 or GB18030) as /import does in the chat, print the preview "
        "(new, merged, unchanged, every skipped row and why) and import it after a y on the terminal, or at once "
        "with --yes. Duplicates by phone are merged; importing the same file again changes nothing.",
    )
    clients_in.add_argument("--agent", type=int, required=True, metavar="TELEGRAM_USER_ID", help="whose clients")
    clients_in.add_argument("file", type=Path, metavar="FILE", help="the client list")
    clients_in.add_argument("--yes", action="store_true", help="import without asking")
    data = commands.add_parser(
        "data",
        help="encryption at rest: new-key, status, rotate-key (docs/encryption.md)",
        description="Encryption at rest of client details and reflections with DATA_KEY (docs/encryption.md).",
    )
    data_commands = data.add_subparsers(dest="data_command", metavar="DATA_COMMAND", required=True)
    data_commands.add_parser(
        "new-key",
        help="print a fresh key for DATA_KEY",
        description="Print a fresh random key. To start encrypting: DATA_KEY=<key>. To rotate: DATA_KEY=<new>,<old>, "
        "restart the bot, then `agentcoach data rotate-key`.",
    )
    data_commands.add_parser(
        "status",
        help="whether encryption is on, the current key's id, and how many rows are not under it yet",
        description="Whether encryption at rest is on, with which key id, and per table how many rows are not yet "
        "under the current key (plaintext or an older key). Read-only.",
    )
    rotate = data_commands.add_parser(
        "rotate-key",
        help="re-encrypt every row under DATA_KEY's first key (also encrypts a plaintext database); resumable",
        description="Re-encrypt every encrypted value not yet under DATA_KEY's first key, in batches, each "
        "committed; plaintext rows become encrypted. Safe to run while the bot runs, and to run again after an "
        "interruption: it does the rest.",
    )
    rotate.add_argument("--batch-size", type=_positive, default=500, help="rows per transaction (default 500)")
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
    from runtime.team_command import add_team_parser

    add_team_parser(commands)
    export = commands.add_parser(
        "export",
        help="write one agent's data as the JSON file and the CSV client list /export sends them",
        description="Write everything of the agent with this Telegram user id (docs/export.md) to DIR: the JSON "
        "file and the CSV client list, owner-only, the same files /export sends in the chat. Prints their paths.",
    )
    export.add_argument("--agent", type=int, required=True, metavar="TELEGRAM_USER_ID", help="whose data")
    export.add_argument("--out", type=Path, default=Path("."), metavar="DIR", help="where (default: here)")
    return top


def _port(value: str) -> int:
    if not value.isdigit() or not 1 <= int(value) <= 65535:
        raise argparse.ArgumentTypeError(f"expected a port number 1-65535, got {value!r}")
    return int(value)


def _positive(value: str) -> int:
    if not value.isdigit() or int(value) < 1:
        raise argparse.ArgumentTypeError(f"expected a positive whole number, got {value!r}")
    return int(value)


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        settings = load_settings()
    except SettingsError as error:
        print(f"agentcoach: {error}", file=sys.stderr)
        return 2
    secrets = [settings.token() or "", settings.webhook_secret() or ""]
    keyring = settings.keyring()
    secrets += [key.decode("ascii") for key in keyring.keys] if keyring else []
    configure_logging(settings.log_level, secrets, settings.log_format)
    try:
        return run_command(args, settings)
    except DatabaseUnusable as error:  # a damaged or unreadable file: one line for the operator, no traceback
        print(f"agentcoach: {error}", file=sys.stderr)
        return 2


def run_command(args: argparse.Namespace, settings: Settings) -> int:
    if args.command == "content":
        return content_command(args)
    if args.command == "db":
        if args.db_command == "backup":
            return backup_command(settings, args.path, force=args.force)
        asyncio.run(migrate(settings))
        return 0
    if args.command == "data":
        return data_command(args, settings)
    if args.command == "stats":
        from runtime.stats_command import stats_command

        return stats_command(settings, as_json=args.json)
    if args.command == "team":
        from runtime.team_command import team_command

        return team_command(settings, args)
    if args.command == "broadcast":
        from runtime.broadcast import broadcast_command

        return broadcast_command(settings, args.file, yes=args.yes)
    if args.command == "export":
        return export_command(settings, args.agent, args.out)
    if args.command == "import":
        from runtime.client_import import import_clients_command

        return import_clients_command(settings, args.agent, args.file, yes=args.yes)
    if args.command == "shell":
        return open_shell(settings, args.user_id, args.name, args.language_code)
    if args.command == "webhook":
        return webhook_command(args, settings)
    if args.command == "run":
        if args.webhook:
            return serve_webhook(args, settings)
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


def backup_command(settings: Settings, target: Path, *, force: bool) -> int:
    """`db backup`: the SQLite copy (bot/backup.py), or the pg_dump line on PostgreSQL."""
    from bot.backup import BackupRefused, backup_sqlite, pg_dump_command

    source = settings.sqlite_path()
    if source is None and not settings.database_url.startswith("postgresql"):
        print("agentcoach: the database is not a SQLite file: there is nothing to back up", file=sys.stderr)
        return 2
    if source is None:
        print(
            f"agentcoach: the database is PostgreSQL; back it up with pg_dump: "
            f"{pg_dump_command(settings.database_url, target)}",
            file=sys.stderr,
        )
        return 2
    try:
        result = backup_sqlite(source, target, force=force)
    except BackupRefused as error:
        print(f"agentcoach: {error}", file=sys.stderr)
        return 2
    print(f"agentcoach: {result.summary(source)}")
    return 0


def export_command(settings: Settings, telegram_user_id: int, folder: Path) -> int:
    """`export --agent ID`: the two files of bot/export.py, written owner-only (they hold client data)."""
    from bot.agents import find_agent
    from bot.export import ExportFiles, export_agent

    async def read() -> ExportFiles | None:
        await migrate(settings)
        engine = engine_from_settings(settings)
        try:
            async with session_factory(engine)() as session, session.begin():
                agent = await find_agent(session, telegram_user_id)
                return None if agent is None else await export_agent(session, agent, settings.clock().now())
        finally:
            await engine.dispose()

    files = asyncio.run(read())
    if files is None:
        print(f"agentcoach: there is no agent with Telegram user id {telegram_user_id}", file=sys.stderr)
        return 1
    try:
        folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        paths = [folder / files.json_name, folder / files.csv_name]
        for path, content in zip(paths, (files.json_bytes, files.csv_bytes), strict=True):
            descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            os.fchmod(descriptor, 0o600)  # also a file an earlier export left readable
            with os.fdopen(descriptor, "wb") as stream:
                stream.write(content)
    except OSError as error:
        print(f"agentcoach: cannot write to {folder}: {error.strerror or error}", file=sys.stderr)
        return 2
    for path in paths:
        print(path)
    return 0


async def migrate(settings: Settings) -> None:
    engine = engine_from_settings(settings)
    try:
        await upgrade(engine)
    finally:
        await engine.dispose()


def data_command(args: argparse.Namespace, settings: Settings) -> int:
    """`data new-key | status | rotate-key` (bot/data_keys.py)."""
    if args.data_command == "new-key":
        from bot.crypto import new_key

        print(new_key())
        return 0
    from bot.data_keys import rotate, status

    def progress(table: str, done: int, batch: int) -> None:
        print(f"{table}: {done} row(s) re-encrypted" + ("" if batch == args.batch_size else ", done"), flush=True)

    async def run() -> int:
        await migrate(settings)
        engine = engine_from_settings(settings)
        try:
            if args.data_command == "rotate-key":
                changed = await rotate(engine, batch_size=args.batch_size, progress=progress)
                print(f"rotate-key: {changed} row(s) re-encrypted")
            found = await status(engine)
        finally:
            await engine.dispose()
        for line in found.lines():
            print(line)
        return 0 if found.total_behind == 0 else 1

    return asyncio.run(run())


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
    """Long polling: PTB's Updater asks Telegram for updates, after this process took the database's poller lock."""
    from runtime.app import ALLOWED_UPDATES
    from runtime.delivery import engine_of
    from runtime.gate import take_poller_lock

    def poll(app: AgentApplication) -> None:
        # Before any call to Telegram: a second poller would only fight the first over getUpdates (409s). The
        # loop is the one run_polling serves on, so the connection holding the lock lives as long as the process.
        loop = asyncio.new_event_loop()
        asyncio.set_event_loop(loop)
        release = loop.run_until_complete(take_poller_lock(engine_of(app).sessions.kw["bind"]))
        loop.run_until_complete(engine_of(app).start())  # (a second process on one SQLite file stops here)
        dispose = app.post_shutdown

        async def let_go(app: AgentApplication) -> None:
            if release is not None:
                await release()
            if dispose is not None:
                await dispose(app)

        app.post_shutdown = let_go
        log.info(
            "serving Telegram by long polling%s",
            f" via {settings.telegram_api_base_url}" if settings.telegram_api_base_url else "",
        )
        app.run_polling(allowed_updates=ALLOWED_UPDATES)

    return _serving(settings, poll)


def serve_webhook(args: argparse.Namespace, settings: Settings) -> int:
    """Webhook mode: Telegram POSTs updates to WEBHOOK_URL, which the reverse proxy passes to --listen:--port."""
    from runtime.webhook import run_webhook

    needed = {
        "TELEGRAM_BOT_TOKEN": settings.token(),
        "WEBHOOK_URL": settings.webhook_url,
        "TELEGRAM_WEBHOOK_SECRET": settings.webhook_secret(),
    }
    missing = [name for name, value in needed.items() if not value]
    if missing:
        print(f"agentcoach: webhook mode needs {', '.join(missing)} (not set)", file=sys.stderr)
        return 2
    listen: str = args.listen or settings.webhook_listen
    port: int = args.port or settings.webhook_port
    return _serving(settings, lambda app: asyncio.run(run_webhook(app, settings, listen=listen, port=port)))


def _serving(settings: Settings, run: Callable[[AgentApplication], object]) -> int:
    """Migrate, build the bot, and `run` it with the steps both modes share: at start the engine (its ownership
    first), the sweep, the charts rendered ahead and the warm-up; at the end the engine and the charts closed."""
    from bot.data_keys import announce
    from bot.ownership import DatabaseInUse
    from handlers.context import Services
    from handlers.digest import close_charts, start_rendering_ahead
    from runtime.app import build_application, prepare
    from runtime.delivery import engine_of, start_sweeping
    from runtime.gate import PollerRunning
    from runtime.send_budget import budget_of
    from runtime.webhook import CannotServe

    asyncio.run(migrate(settings))
    engine = engine_from_settings(settings)
    services = Services(settings, session_factory(engine), settings.clock())
    token = settings.token()
    assert token is not None
    app = build_application(services, token=token, base_url=settings.telegram_api_base_url)

    async def dispose(app: AgentApplication) -> None:
        await engine_of(app).stop()
        await budget_of(app).stop()
        await close_charts()
        await engine.dispose()

    async def start(app: AgentApplication) -> None:
        await engine_of(app).start()  # before anything is swept: refuses a second process on one SQLite file
        announce(settings.keyring())
        start_sweeping(app)
        start_rendering_ahead(app)
        await prepare(app, background=True)

    app.post_init = start
    app.post_shutdown = dispose
    try:
        run(app)
    except (DatabaseInUse, CannotServe, PollerRunning) as error:
        print(f"agentcoach: {error}", file=sys.stderr)
        return 2
    return 0


def webhook_command(args: argparse.Namespace, settings: Settings) -> int:
    """`webhook info` and `webhook delete`: ask Telegram directly, no database, no handlers."""
    from telegram.error import TelegramError

    token = settings.token()
    if token is None:
        print("agentcoach: TELEGRAM_BOT_TOKEN is not set", file=sys.stderr)
        return 2
    try:
        if args.webhook_command == "delete":
            asyncio.run(_delete_webhook(settings, token, drop_pending=args.drop_pending))
            print("webhook deleted" + (", pending updates dropped" if args.drop_pending else ""))
        else:
            for line in asyncio.run(_webhook_info(settings, token)):
                print(line)
    except TelegramError as error:
        print(f"agentcoach: Telegram answered: {error.message}", file=sys.stderr)
        return 1
    return 0


def _bot(settings: Settings, token: str) -> Bot:
    from telegram import Bot

    if settings.telegram_api_base_url:
        return Bot(token, base_url=settings.telegram_api_base_url)
    return Bot(token)


async def _webhook_info(settings: Settings, token: str) -> list[str]:
    async with _bot(settings, token) as bot:
        info = await bot.get_webhook_info()
    error_date = info.last_error_date.isoformat() if info.last_error_date else "none"
    return [
        f"url: {info.url or '(none: the bot polls)'}",
        f"pending_update_count: {info.pending_update_count}",
        f"last_error_date: {error_date}",
        f"last_error_message: {info.last_error_message or 'none'}",
        f"max_connections: {info.max_connections if info.max_connections is not None else 'default'}",
        f"allowed_updates: {', '.join(info.allowed_updates) if info.allowed_updates else 'default'}",
    ]


async def _delete_webhook(settings: Settings, token: str, *, drop_pending: bool) -> None:
    async with _bot(settings, token) as bot:
        await bot.delete_webhook(drop_pending_updates=drop_pending)


if __name__ == "__main__":
    sys.exit(main())
