"""`agentcoach team create|invite|list|remove`: teams and invites for an admin at the command line.

`invite` prints the deep link t.me/<bot>?start=<code>; the bot's username comes from Telegram (getMe) when
TELEGRAM_BOT_TOKEN is set, else the code is printed with the link's form for the admin to complete. The code is
shown only here, once: the database keeps its hash. Refusals are one line on stderr, exit 1 (bad arguments:
exit 2); nothing is changed by a refused command.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from bot.config import Settings
from bot.db import engine_from_settings, session_factory, upgrade
from bot.statuses import TeamRole
from bot.teams import (
    MOST_USES,
    NoSuchTeam,
    TeamError,
    create_invite,
    create_team,
    deep_link,
    overview,
    parse_duration,
    remove_by_telegram_id,
    team_named,
)

log = logging.getLogger(__name__)

DEFAULT_EXPIRY = "7d"
NO_EXPIRY = "never"
UNKNOWN_BOT = "<bot>"


def add_team_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    team = commands.add_parser(
        "team",
        help="teams and invite links: create, invite, list, remove",
        description="Create teams, make invite links into them (Telegram deep links), list them, and take an "
        "agent out of their team. Admins in ADMIN_IDS can do the same in the chat with /team.",
    )
    team_commands = team.add_subparsers(dest="team_command", metavar="TEAM_COMMAND", required=True)
    create = team_commands.add_parser("create", help="create a team", description="Create a team named NAME.")
    create.add_argument("name", metavar="NAME")
    invite = team_commands.add_parser(
        "invite",
        help="make an invite link into a team",
        description="Make an invite into team NAME and print its link t.me/<bot>?start=<code> (the code is shown "
        "only now; only its hash is stored).",
    )
    invite.add_argument("name", metavar="NAME")
    invite.add_argument("--lead", action="store_true", help="whoever uses it becomes a lead of the team")
    invite.add_argument("--uses", default="1", metavar="N", help=f"how many people may use it, 1-{MOST_USES} (1)")
    invite.add_argument(
        "--expires",
        default=DEFAULT_EXPIRY,
        metavar="DURATION",
        help=f"how long it stays open: 30m, 12h, 7d, 2w, or {NO_EXPIRY} ({DEFAULT_EXPIRY})",
    )
    team_commands.add_parser(
        "list", help="teams, their members and leads, open invites", description="List every team."
    )
    remove = team_commands.add_parser(
        "remove",
        help="take an agent out of their team",
        description="Take the agent with this Telegram user id out of their team (a lead loses the view at once).",
    )
    remove.add_argument("telegram_user_id", metavar="TELEGRAM_USER_ID")


def team_command(settings: Settings, args: argparse.Namespace) -> int:
    """Run one `team` subcommand; 0 done, 1 refused, 2 bad arguments."""
    try:
        work = _command(settings, args)
    except ValueError as error:
        print(f"agentcoach: {error}", file=sys.stderr)
        return 2
    try:
        lines = asyncio.run(_in_transaction(settings, work))
    except TeamError as error:
        print(f"agentcoach: {error}", file=sys.stderr)
        return 1
    for line in lines:
        print(line)
    return 0


Work = Callable[[AsyncSession, datetime], Awaitable[list[str]]]


def _command(settings: Settings, args: argparse.Namespace) -> Work:
    """The subcommand's work, its arguments checked first (ValueError: the one line to print)."""
    if args.team_command == "create":
        return lambda session, now: _create(session, now, args.name)
    if args.team_command == "list":
        return _list
    if args.team_command == "remove":
        user_id = args.telegram_user_id.strip()
        if not (user_id.isascii() and user_id.isdigit()):
            raise ValueError(f"expected a Telegram user id (digits), got {args.telegram_user_id!r}")
        return lambda session, now: _remove(session, now, int(user_id))
    uses = args.uses.strip()
    if not (uses.isascii() and uses.isdigit()) or not 1 <= int(uses) <= MOST_USES:
        raise ValueError(f"--uses expects a number 1-{MOST_USES}, got {args.uses!r}")
    expires = None if args.expires.strip().lower() == NO_EXPIRY else parse_duration(args.expires)
    if expires is None and args.expires.strip().lower() != NO_EXPIRY:
        raise ValueError(f"--expires expects 30m, 12h, 7d or 2w (at most a year) or {NO_EXPIRY}, got {args.expires!r}")
    username = bot_username(settings)
    role = TeamRole.LEAD if args.lead else TeamRole.MEMBER
    return lambda session, now: _invite(session, now, args.name, role, int(uses), expires, username)


async def _in_transaction(settings: Settings, work: Work) -> list[str]:
    engine = engine_from_settings(settings)
    try:
        await upgrade(engine)
        async with session_factory(engine)() as session, session.begin():
            return await work(session, settings.clock().now())
    finally:
        await engine.dispose()


async def _create(session: AsyncSession, now: datetime, name: str) -> list[str]:
    team = await create_team(session, name, now)
    return [f"team {team.name!r} created; invite into it with: agentcoach team invite {_quoted(team.name)}"]


async def _invite(
    session: AsyncSession,
    now: datetime,
    name: str,
    role: TeamRole,
    uses: int,
    expires: timedelta | None,
    username: str | None,
) -> list[str]:
    team = await team_named(session, name)
    if team is None:
        raise NoSuchTeam(f"no team named {name!r} (see: agentcoach team list)")
    invite, code = await create_invite(session, team, role, now, uses=uses, expires=expires)
    until = f"open until {_utc(invite.expires_at)}" if invite.expires_at is not None else "never expires"
    what = f"invite to {team.name!r} as {role}: {'single use' if uses == 1 else f'{uses} uses'}, {until}"
    if username is not None:
        return [what, deep_link(username, code)]
    return [
        what,
        f"code: {code}",
        f"link: {deep_link(UNKNOWN_BOT, code)}  (put your bot's username in place of {UNKNOWN_BOT})",
    ]


async def _list(session: AsyncSession, now: datetime) -> list[str]:
    teams = await overview(session, now)
    if not teams:
        return ["no teams yet (create one with: agentcoach team create NAME)"]
    return [
        f"{team.name}: {_count(team.members, 'member')}, {_count(team.leads, 'lead')}, "
        f"{_count(team.open_invites, 'open invite')}"
        for team in teams
    ]


async def _remove(session: AsyncSession, now: datetime, telegram_user_id: int) -> list[str]:
    removed = await remove_by_telegram_id(session, telegram_user_id, now)
    if removed is None:
        raise TeamError(f"the agent with Telegram user id {telegram_user_id} is not in a team")
    return [f"removed {telegram_user_id} from {removed.team!r} (was {removed.role})"]


def bot_username(settings: Settings) -> str | None:
    """The bot's @username from getMe, or None without a token (or when Telegram cannot be asked: said once)."""
    token = settings.token()
    if token is None:
        return None
    from telegram import Bot
    from telegram.error import TelegramError

    async def ask() -> str:
        bot = Bot(token, base_url=settings.telegram_api_base_url) if settings.telegram_api_base_url else Bot(token)
        async with bot:
            return str((await bot.get_me()).username)

    try:
        return asyncio.run(ask())
    except TelegramError as error:
        print(f"agentcoach: could not ask Telegram for the bot's username ({error.message})", file=sys.stderr)
        return None


def _count(number: int, noun: str) -> str:
    return f"{number} {noun}{'' if number == 1 else 's'}"


def _quoted(name: str) -> str:
    return name if name.replace("-", "").replace("_", "").isalnum() else repr(name)


def _utc(instant: datetime) -> str:
    return instant.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")
