"""带看后复盘: the review of a showing, asked when it ends or right after a viewing is logged.

One message: the client, the listing, a toggle button per reaction (a chosen one shows ✓), 📝 Note, ✅ Save and
🚫 It did not happen. 📝 waits for one typed or spoken note (/cancel leaves it; nothing typed otherwise is taken
as a note). ✅ saves the reactions on the client, books the 回访 the deciding reaction calls for (bot.showings) and
answers with what was saved, the 回访's time (📅 to change it, through the follow-ups' own reschedule), ➕ a note
afterwards, and one tip matched to the reaction. 🚫 answers with ↩️ Undo and 📅 Rebook (the showing's follow-up
moved; its new time gets a new review). The day's saved reviews are lines of the evening check-in.
Callback data: sr:<action>:<review id>[:<reaction>].
"""

from __future__ import annotations

from datetime import date, datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession
from telegram import Update
from telegram.ext import ContextTypes

from bot import showings, tips
from bot.clients import MAX_ID, owned_client
from bot.conversations import Flow, Waiting, stop_waiting, wait_for
from bot.followups import owned_follow_up
from bot.i18n import Html, t
from bot.models import Agent, Client, Delivery, ShowingReview
from bot.preferences import format_moment
from bot.scheduler import Kind, Outgoing
from bot.statuses import REACTIONS, FollowUpStatus, Reaction
from bot.text import clip, is_blank
from bot.tip_library import library
from handlers import tips as tip_messages
from handlers.context import Turn, turn
from handlers.followups import PREFIX as FOLLOW_UP_PREFIX
from handlers.keyboards import Choice, Number, Trailing, button, inline, layout, mark, pack

PREFIX = "sr"
FLOW = Flow.SHOWING
NOTE_STEP = "note"
NONE = "-"
# How much of a listing and a note the messages show (the whole of them is stored).
SHOWN = 300

ID = Number(1, MAX_ID - 1)
PRESS = layout(PREFIX, ("tog", "save", "no", "undo", "note"), ID, Trailing(Choice(NONE, *REACTIONS), NONE))


# ---------------------------------------------------------------------------------------------- the message


def reaction_names(language: str, reactions: list[Reaction]) -> str:
    return t(language, "showings.separator").join(t(language, f"showings.reaction.{r}") for r in reactions)


def review_text(language: str, review: ShowingReview, client: Client) -> str:
    lines = [t(language, "showings.title", name=client.name)]
    if review.listing:
        lines.append(t(language, "showings.listing", listing=clip(review.listing, SHOWN)))
    lines += note_lines(language, review)
    lines.append(t(language, "showings.question"))
    return t(language, "showings.body", lines=Html("\n".join(lines)))


def note_lines(language: str, review: ShowingReview) -> list[str]:
    lines = [t(language, "showings.note", note=clip(review.note, SHOWN))] if review.note else []
    if review.voice_file_id:
        lines.append(t(language, "showings.voice"))
    return lines


def review_buttons(language: str, review: ShowingReview) -> list[list[tuple[str, str]]]:
    chosen = set(showings.reactions_of(review))
    toggles = [
        (mark(t(language, f"showings.reaction.{r}"), r in chosen), pack(PREFIX, "tog", review.id, r)) for r in REACTIONS
    ]
    return [
        *(toggles[i : i + 2] for i in range(0, len(toggles), 2)),
        [
            (t(language, "showings.button.note"), pack(PREFIX, "note", review.id)),
            (t(language, "showings.button.save"), pack(PREFIX, "save", review.id)),
        ],
        [(t(language, "showings.button.not_held"), pack(PREFIX, "no", review.id))],
    ]


async def render_review(session: AsyncSession, delivery: Delivery, agent: Agent, now: datetime) -> Outgoing | None:
    """The engine's renderer for kind "showing_review": nothing once the review was answered (or the client is
    gone or archived)."""
    review = await showings.owned_review(session, agent.id, delivery.subject_id or 0)
    if review is None or review.status != showings.OPEN:
        return None
    client = await owned_client(session, agent.id, review.client_id)
    if client is None:
        return None
    return Outgoing(review_text(agent.language, review, client), review_buttons(agent.language, review))


REVIEW = Kind(render=render_review)


async def ask_after_viewing(tn: Turn, client: Client, listing: str | None) -> None:
    """A viewing was just logged: its review as the reply (the showing booked today, if any, is not asked again)."""
    review = await showings.review_after_viewing(tn.session, tn.agent, client, listing, tn.now)
    tn.send(review_text(tn.lang, review, client), inline(review_buttons(tn.lang, review)))


# ---------------------------------------------------------------------------------------------- buttons


async def on_button(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """sr:tog:<id>:<reaction>, sr:save|no|note:<id>"""
    async with turn(update, context) as tn:
        fields = tn.pressed(PRESS)
        if fields is None:
            return
        action, review_id, reaction = fields
        review = await showings.owned_review(tn.session, tn.agent.id, review_id)
        client = await owned_client(tn.session, tn.agent.id, review.client_id) if review else None
        if review is None or client is None:
            tn.refuse()
            return
        if action == "note":
            await ask_note(tn, review, client)
        elif action == "undo":
            await undo(tn, review, client)
        elif review.status != showings.OPEN:
            tn.toast(tn.t(f"showings.already_{review.status}"))
        elif action == "tog" and reaction != NONE:
            showings.toggle(review, Reaction(reaction))
            tn.edit_buttons(inline(review_buttons(tn.lang, review)))
        elif action == "save":
            await save(tn, review, client)
        elif action == "no":
            showings.dismiss(review)
            await show_dismissed(tn, review, client)
        else:
            tn.refuse()


async def show_dismissed(tn: Turn, review: ShowingReview, client: Client) -> None:
    """🚫: nothing to review. ↩️ takes it back; 📅 books the showing again (the follow-ups' own reschedule), and the
    new time gets its own review."""
    showing = await owned_follow_up(tn.session, tn.agent.id, review.follow_up_id) if review.follow_up_id else None
    if showing is not None and showing.status != FollowUpStatus.OPEN:
        showing = None
    rows = [[button(tn.t("showings.button.undo"), PREFIX, "undo", review.id)]]
    if showing is not None:
        rows[0].insert(0, button(tn.t("showings.button.rebook"), FOLLOW_UP_PREFIX, "move", showing.id))
    hint = tn.t("showings.dismissed_followup" if showing is None else "showings.dismissed_rebook")
    tn.edit(tn.t("showings.dismissed", name=client.name, hint=hint), rows)


async def undo(tn: Turn, review: ShowingReview, client: Client) -> None:
    """↩️: the review is back as it was (a second tap only says so)."""
    if review.status != showings.DISMISSED:
        tn.toast(tn.t(f"showings.already_{review.status}"))
    elif not await showings.undo_dismissal(tn.session, review):
        tn.toast(tn.t("showings.booked_again"), alert=True)
    else:
        tn.edit(review_text(tn.lang, review, client), inline(review_buttons(tn.lang, review)))


async def save(tn: Turn, review: ShowingReview, client: Client) -> None:
    """✅: stored, the 回访 booked, the confirmation with its buttons, then the reaction's tip."""
    reactions = showings.reactions_of(review)
    if not reactions and not review.note and not review.voice_file_id:
        tn.toast(tn.t("showings.need_reaction"), alert=True)
        return
    stage_before = client.stage
    revisit = showings.revisit_for(reactions)
    why = tn.t(f"showings.revisit.{revisit.why}", reactions=reaction_names(tn.lang, reactions))
    saved = await showings.save(tn.session, tn.agent, review, client, tn.t("showings.revisit_note", why=why), tn.now)
    when = format_moment(saved.follow_up.due_at, tn.agent.timezone, tn.lang, tn.now)
    lines = [tn.t("showings.saved_title", name=client.name)]
    if reactions:
        lines.append(tn.t("showings.saved_reactions", reactions=reaction_names(tn.lang, reactions)))
    lines += note_lines(tn.lang, review)
    if client.stage != stage_before:
        lines.append(tn.t("showings.stage_moved", stage=tn.t(f"stage.{client.stage}")))
    lines.append(tn.t("showings.revisit" if saved.booked else "showings.revisit_kept", when=when, why=why))
    rows = [
        [
            button(tn.t("showings.button.move"), FOLLOW_UP_PREFIX, "move", saved.follow_up.id),
            button(tn.t("showings.button.add_note"), PREFIX, "note", review.id),
        ],
        [button(tn.t("showings.button.card"), "cl", "card", client.id, "new")],
    ]
    tn.edit(tn.t("showings.body", lines=Html("\n".join(lines))), rows)
    lib = library()
    tip = showings.tip_for(lib, tn.agent.id, await tips.states(tn.session, tn.agent.id), reactions)
    if tip is not None:
        state = await tips.mark_shown(tn.session, tn.agent.id, tip.id, tn.now)
        tn.send(tn.t("showings.tip_intro"))
        tip_messages.send_tip(tn, tip, state, None)


# ---------------------------------------------------------------------------------------------- the note


async def ask_note(tn: Turn, review: ShowingReview, client: Client) -> None:
    if review.status == showings.DISMISSED:
        tn.toast(tn.t("showings.already_dismissed"))
        return
    await wait_for(tn.session, tn.agent.chat_id, Waiting(FLOW, NOTE_STEP, {"review": review.id}), tn.now)
    tn.send(tn.t("showings.ask_note", name=client.name))


async def _noted(tn: Turn, waiting: Waiting) -> tuple[ShowingReview, Client] | None:
    """The review the chat is writing a note for; None (and the flow left, with a word) if it is gone."""
    ident = waiting.data.get("review")
    review = await showings.owned_review(tn.session, tn.agent.id, ident if isinstance(ident, int) else 0)
    client = await owned_client(tn.session, tn.agent.id, review.client_id) if review else None
    if review is None or client is None or review.status == showings.DISMISSED:
        await stop_waiting(tn.session, tn.agent.chat_id)
        tn.send(tn.t("error.stale_button"))
        return None
    return review, client


async def answer_text(tn: Turn, update: Update, context: ContextTypes.DEFAULT_TYPE, waiting: Waiting) -> None:
    """The note typed after 📝: kept (a blank or over-long one is asked again and changes nothing)."""
    found = await _noted(tn, waiting)
    if found is None:
        return
    if is_blank(tn.typed):
        tn.send(tn.t("showings.note_blank"))
        return
    if len(tn.typed) > showings.NOTE_LIMIT:
        tn.send(tn.t("showings.note_too_long", limit=showings.NOTE_LIMIT))
        return
    showings.keep_note(found[0], tn.typed)
    await noted(tn, *found, tn.t("showings.note_kept"))


async def answer_voice(tn: Turn, file_id: str, seconds: int, waiting: Waiting) -> None:
    """A voice note after 📝: kept by its file id."""
    found = await _noted(tn, waiting)
    if found is not None:
        showings.keep_voice(found[0], file_id)
        await noted(tn, *found, tn.t("showings.voice_kept", seconds=seconds))


async def noted(tn: Turn, review: ShowingReview, client: Client, said: str) -> None:
    """Said so; a review still open comes again with its buttons, so ✅ is one tap away."""
    await stop_waiting(tn.session, tn.agent.chat_id)
    if review.status != showings.OPEN:
        tn.send(tn.t("showings.note_added", said=said, name=client.name))
        return
    tn.send(said)
    tn.send(review_text(tn.lang, review, client), inline(review_buttons(tn.lang, review)))


# ---------------------------------------------------------------------------------------------- elsewhere


def review_line(tn: Turn, review: ShowingReview) -> str:
    """The client card's line: the latest saved review, when the showing was, reactions and note."""
    day = format_moment(review.ends_at, tn.agent.timezone, tn.lang, tn.now)
    reactions = showings.reactions_of(review)
    text = reaction_names(tn.lang, reactions) if reactions else tn.t("showings.no_reactions")
    lines = [tn.t("showings.card_line", day=day, reactions=text), *note_lines(tn.lang, review)]
    return "\n".join(lines)


async def day_lines(session: AsyncSession, agent: Agent, day: date) -> str:
    """One line per showing reviewed on `day` ("🏠 带看 王先生：价格、要和家人商量"); "" if none."""
    lines = []
    for review, client in await showings.saved_on(session, agent, day):
        reactions = showings.reactions_of(review)
        if reactions:
            lines.append(
                t(
                    agent.language,
                    "showings.day_line",
                    name=client.name,
                    reactions=reaction_names(agent.language, reactions),
                )
            )
        else:
            lines.append(t(agent.language, "showings.day_line_plain", name=client.name))
    return "\n".join(lines)


async def with_day_lines(session: AsyncSession, agent: Agent, day: date, text: str) -> str:
    """`text` (a check-in prompt, a journal entry) with the day's reviewed showings under it."""
    lines = await day_lines(session, agent, day)
    return t(agent.language, "showings.with_day", text=Html(text), lines=Html(lines)) if lines else text


def seconds_of(length: object) -> int:
    """A voice message's duration in whole seconds (PTB gives a timedelta, older versions an int)."""
    return (
        int(length.total_seconds()) if isinstance(length, timedelta) else int(length) if isinstance(length, int) else 0
    )
