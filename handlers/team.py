"""/team: which team an agent is in, and for admins the teams and their invite links, in the chat.

- An admin (ADMIN_IDS) gets a panel: 📋 Teams opens a list, each team a card with its counts and its open invites
  (🗑 revokes one) and 🔗 buttons that make an invite link — as a member or a lead, then single-use or 10 uses,
  open 7 days; ➕ New team asks for the name, typed. An admin who leads a team also gets 👀 My team.
- A lead gets the team's view (handlers/team_view.py).
- A member sees their team, with ⬅️ Leave team (confirmed).
- Anyone else: one line saying they are in no team.

`/team leave` asks the same confirmation (so a lead can leave too). Roles are read from the database on every
update and ADMIN_IDS from the settings, so a lead who leaves or is removed loses the view at once.

The code someone brings with /start (the invite's deep link) is redeemed by `handlers.context.turn`; the line
saying what became of it is `redemption_line`.
"""

from __future__ import annotations

from datetime import timedelta

from telegram import InlineKeyboardButton, Update
from telegram.ext import ContextTypes

from bot.conversations import Flow, TeamStep, Waiting, stop_waiting, wait_for
from bot.i18n import Html
from bot.models import Invite
from bot.preferences import format_moment
from bot.statuses import TeamRole
from bot.teams import (
    BadTeamName,
    DuplicateTeam,
    Membership,
    Redeemed,
    Redemption,
    TeamOverview,
    create_invite,
    create_team,
    deep_link,
    leave,
    membership_of,
    open_invites,
    overview,
    revoke_invite,
    team_by_id,
)
from handlers import team_view
from handlers.context import Turn, turn
from handlers.keyboards import Choice, Number, Trailing, button, layout, paging_row

PREFIX = "tm"
FLOW = Flow.TEAM
# What the chat offers for an invite (the command line takes any): how long it stays open, how many may use it.
INVITE_OPEN_FOR = timedelta(days=7)
INVITE_USES = ("1", "10")
TEAMS_PER_PAGE = 8
LEAVE_WORDS = frozenset({"leave", "退出"})
_ID = Number(1, 2**31 - 1)
_ROLE = Choice(*TeamRole)


async def show_team(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """/team (and /team leave)."""
    async with turn(update, context) as tn:
        if tn.args and tn.args[0].lower() in LEAVE_WORDS:
            await ask_leave(tn)
            return
        await show(tn)


def is_admin(tn: Turn) -> bool:
    return tn.agent.telegram_user_id in tn.services.settings.admins()


async def show(tn: Turn, *, edit: bool = False) -> None:
    """What /team shows this agent, by who they are now."""
    membership = await membership_of(tn.session, tn.agent.id)
    if is_admin(tn):
        text, rows = panel(tn, membership)
        _reply(tn, text, rows, edit)
    elif membership is not None and membership.is_lead:
        await team_view.show(tn)
    elif membership is not None:
        _reply(tn, tn.t("teams.member", team=membership.team), [[leave_button(tn)]], edit)
    else:
        _reply(tn, tn.t("teams.none"), None, edit)


def panel(tn: Turn, membership: Membership | None) -> tuple[str, list[list[InlineKeyboardButton]]]:
    """The admin's panel, with the admin's own place in a team."""
    rows = [
        [button(tn.t("teams.button.teams"), PREFIX, "teams"), button(tn.t("teams.button.new"), PREFIX, "new")],
    ]
    if membership is None:
        own = tn.t("teams.none")
    else:
        own = tn.t("teams.lead" if membership.is_lead else "teams.member", team=membership.team)
        mine = [leave_button(tn)]
        if membership.is_lead:
            mine.insert(0, button(tn.t("teams.button.view"), PREFIX, "view"))
        rows.append(mine)
    return tn.t("teams.panel", own=own), rows


def leave_button(tn: Turn) -> InlineKeyboardButton:
    return button(tn.t("teams.button.leave"), PREFIX, "leave")


def _reply(tn: Turn, text: str, rows: list[list[InlineKeyboardButton]] | None, edit: bool) -> None:
    if edit:
        tn.edit(text, rows)
    else:
        tn.send(text, rows)


def redemption_line(tn: Turn, redemption: Redemption) -> str:
    """What became of the invite code that came with /start, in one line."""
    key = f"teams.redeemed.{redemption.outcome}"
    if redemption.outcome == Redeemed.JOINED and redemption.role == TeamRole.LEAD:
        key = "teams.redeemed.joined_lead" if tn.agent.setup_step is not None else "teams.redeemed.joined_lead_ready"
    return tn.t(key, team=redemption.team or "")


# tm:panel · tm:teams[:page] · tm:team:<team> · tm:new · tm:role:<team>:<role> · tm:make:<team>:<role>:<uses>
# tm:revoke:<team>:<invite> · tm:view · tm:leave · tm:leave_yes:<team> · tm:leave_no
PANEL = layout(PREFIX, ("panel", "new", "view", "leave", "leave_no"), sizes=[0])
TEAMS = layout(PREFIX, "teams", Trailing(Number(0, 9999), 0))
CARD = layout(PREFIX, ("team", "leave_yes"), _ID)
ROLE = layout(PREFIX, "role", _ID, _ROLE)
MAKE = layout(PREFIX, "make", _ID, _ROLE, Choice(*INVITE_USES))
REVOKE = layout(PREFIX, "revoke", _ID, _ID)


async def on_button(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """A press on /team's buttons; what an admin may do is checked again on every press."""
    async with turn(update, context) as tn:
        if (simple := tn.matches(PANEL)) is not None:
            await on_simple(tn, simple[0])
        elif (card := tn.matches(CARD)) is not None and card[0] == "leave_yes":
            await confirm_leave(tn, card[1])
        elif not is_admin(tn):
            tn.toast(tn.t("teams.not_admin"), alert=True)
        elif card is not None:
            await show_card(tn, card[1])
        elif (page := tn.matches(TEAMS)) is not None:
            await show_teams(tn, page[1])
        elif (role := tn.matches(ROLE)) is not None:
            await choose_uses(tn, role[1], TeamRole(role[2]))
        elif (make := tn.matches(MAKE)) is not None:
            await make_invite(tn, make[1], TeamRole(make[2]), int(make[3]))
        elif (revoking := tn.pressed(REVOKE)) is not None:
            await revoke(tn, revoking[1], revoking[2])


async def on_simple(tn: Turn, action: str) -> None:
    if action == "leave":
        await ask_leave(tn)
    elif action == "leave_no":
        tn.edit(tn.t("teams.leave.kept"))
    elif action == "view":
        membership = await membership_of(tn.session, tn.agent.id)
        if membership is None or not membership.is_lead:
            tn.toast(tn.t("teams.not_lead"), alert=True)
            return
        await team_view.show(tn)
    elif not is_admin(tn):
        tn.toast(tn.t("teams.not_admin"), alert=True)
    elif action == "new":
        await wait_for(tn.session, tn.agent.chat_id, Waiting(FLOW, TeamStep.NAME), tn.now)
        tn.send(tn.t("teams.ask_name"))
    else:
        await show(tn, edit=True)


# -- admin: teams, invites ------------------------------------------------------------------------------------


async def show_teams(tn: Turn, page: int) -> None:
    teams = await overview(tn.session, tn.now)
    pages = max(1, -(-len(teams) // TEAMS_PER_PAGE))
    page = min(page, pages - 1)
    shown = teams[page * TEAMS_PER_PAGE : (page + 1) * TEAMS_PER_PAGE]
    lines = [_team_line(tn, team) for team in shown]
    text = tn.t("teams.list", count=len(teams), lines=Html("\n".join(lines))) if teams else tn.t("teams.list_empty")
    rows = [[button(tn.t("teams.button.team", name=team.name), PREFIX, "team", team.id)] for team in shown]
    labels = (tn.t("teams.button.previous"), tn.t("teams.button.next"))
    rows += paging_row(labels, page, pages, PREFIX, "teams")
    rows.append([button(tn.t("teams.button.new"), PREFIX, "new"), button(tn.t("teams.button.back"), PREFIX, "panel")])
    tn.edit(text, rows)


def _team_line(tn: Turn, team: TeamOverview) -> str:
    return tn.t(
        "teams.list_line",
        name=team.name,
        members=Html(tn.t("teams.members", count=team.members)),
        leads=Html(tn.t("teams.leads", count=team.leads)),
        invites=Html(tn.t("teams.open_invites", count=team.open_invites)),
    )


async def show_card(tn: Turn, team_id: int, *, edit: bool = True) -> None:
    """A team: its counts, its open invites (each revocable), and the buttons that make a link."""
    found = next((team for team in await overview(tn.session, tn.now) if team.id == team_id), None)
    if found is None:
        tn.toast(tn.t("teams.gone"), alert=True)
        return
    invites = await open_invites(tn.session, team_id, tn.now)
    lines = [_invite_line(tn, number, invite) for number, invite in enumerate(invites, 1)]
    listed = tn.t("teams.card.invites", lines=Html("\n".join(lines))) if invites else tn.t("teams.card.no_invites")
    text = tn.t(
        "teams.card",
        name=found.name,
        members=Html(tn.t("teams.members", count=found.members)),
        leads=Html(tn.t("teams.leads", count=found.leads)),
        invites=Html(listed),
    )
    rows = [
        [
            button(tn.t("teams.button.invite_member"), PREFIX, "role", team_id, TeamRole.MEMBER),
            button(tn.t("teams.button.invite_lead"), PREFIX, "role", team_id, TeamRole.LEAD),
        ],
        *[
            [button(tn.t("teams.button.revoke", number=number), PREFIX, "revoke", team_id, invite.id)]
            for number, invite in enumerate(invites, 1)
        ],
        [button(tn.t("teams.button.back"), PREFIX, "teams")],
    ]
    _reply(tn, text, rows, edit)


def _invite_line(tn: Turn, number: int, invite: Invite) -> str:
    uses = (
        tn.t("teams.invite.unlimited", used=invite.uses)
        if invite.max_uses is None
        else tn.t("teams.invite.used", count=invite.max_uses, used=invite.uses)
    )
    until = (
        tn.t("teams.invite.until", moment=format_moment(invite.expires_at, tn.agent.timezone, tn.lang, tn.now))
        if invite.expires_at is not None
        else tn.t("teams.invite.no_expiry")
    )
    role = tn.t(f"teams.role.{invite.role}")
    return tn.t("teams.invite.line", number=number, role=role, uses=Html(uses), until=Html(until))


async def choose_uses(tn: Turn, team_id: int, role: TeamRole) -> None:
    team = await team_by_id(tn.session, team_id)
    if team is None:
        tn.toast(tn.t("teams.gone"), alert=True)
        return
    rows = [
        [
            button(tn.t("teams.button.uses", count=int(uses)), PREFIX, "make", team_id, role, uses)
            for uses in INVITE_USES
        ],
        [button(tn.t("teams.button.back"), PREFIX, "team", team_id)],
    ]
    tn.edit(tn.t("teams.ask_uses", team=team.name, role=tn.t(f"teams.role.{role}")), rows)


async def make_invite(tn: Turn, team_id: int, role: TeamRole, uses: int) -> None:
    """The link goes out as a message of its own, to forward; the card shows the new open invite."""
    team = await team_by_id(tn.session, team_id)
    if team is None:
        tn.toast(tn.t("teams.gone"), alert=True)
        return
    invite, code = await create_invite(
        tn.session, team, role, tn.now, uses=uses, expires=INVITE_OPEN_FOR, created_by=tn.agent.telegram_user_id
    )
    assert invite.expires_at is not None
    await show_card(tn, team_id)
    tn.send(
        tn.t(
            "teams.link",
            team=team.name,
            role=tn.t(f"teams.role.{role}"),
            uses=Html(tn.t("teams.uses", count=uses)),
            moment=format_moment(invite.expires_at, tn.agent.timezone, tn.lang, tn.now),
            link=deep_link(tn.bot.username, code),
        )
    )


async def revoke(tn: Turn, team_id: int, invite_id: int) -> None:
    if not await revoke_invite(tn.session, invite_id):
        tn.toast(tn.t("teams.revoke_gone"))  # (the card is left as it is: an edit to the same text is refused)
        return
    tn.toast(tn.t("teams.revoked"))
    await show_card(tn, team_id)


async def answer_text(tn: Turn, update: Update, context: ContextTypes.DEFAULT_TYPE, waiting: Waiting) -> None:
    """The new team's name, typed; a name that is empty, too long or taken is asked again."""
    if not is_admin(tn):
        await stop_waiting(tn.session, tn.agent.chat_id)
        tn.send(tn.t("teams.not_admin"))
        return
    try:
        team = await create_team(tn.session, tn.typed, tn.now)
    except DuplicateTeam:
        tn.send(tn.t("teams.name_taken", name=" ".join(tn.typed.split())))
        return
    except BadTeamName:
        tn.send(tn.t("teams.name_bad"))
        return
    await stop_waiting(tn.session, tn.agent.chat_id)
    tn.send(tn.t("teams.created", name=team.name))
    await show_card(tn, team.id, edit=False)


# -- leaving --------------------------------------------------------------------------------------------------


async def ask_leave(tn: Turn) -> None:
    membership = await membership_of(tn.session, tn.agent.id)
    if membership is None:
        tn.send(tn.t("teams.none"))
        return
    key = "teams.leave.ask_lead" if membership.is_lead else "teams.leave.ask"
    tn.send(
        tn.t(key, team=membership.team),
        [
            [
                button(tn.t("teams.button.leave_yes"), PREFIX, "leave_yes", membership.team_id),
                button(tn.t("teams.button.leave_no"), PREFIX, "leave_no"),
            ]
        ],
    )


async def confirm_leave(tn: Turn, team_id: int) -> None:
    membership = await membership_of(tn.session, tn.agent.id)
    if membership is None or membership.team_id != team_id:  # already out, or in another team since
        tn.edit(tn.t("teams.leave.stale"))
        return
    await leave(tn.session, tn.agent, tn.now)
    tn.edit(tn.t("teams.leave.done", team=membership.team))
