"""Where a clients button leads: the callback fields, the list page a card was opened from, and the
flow's waiting checks."""

from __future__ import annotations

from dataclasses import dataclass

from telegram import InlineKeyboardButton

from bot.clients import MAX_ID
from bot.conversations import ClientStep, Flow, Waiting
from bot.i18n import Html
from bot.models import Client
from bot.statuses import REACTIONS, STAGES
from handlers.context import Turn
from handlers.keyboards import Choice, Number, button

PREFIX = "cl"


FLOW = Flow.CLIENTS


ALL = "all"


NO_VALUE = "-"


# The longest page number a button carries (a million clients at eight a page).
PAGE_DIGITS = 6


Rows = list[list[InlineKeyboardButton]]


@dataclass(frozen=True)
class Origin:
    """The list page (its filter: a stage or a `REACTION_FILTERS` value; page) a card was opened from, so that 📋 on
    the card returns there."""

    stage: str | None = None
    page: int = 0

    def parts(self) -> tuple[object, ...]:
        """The callback fields: none for the list's first page, so buttons from elsewhere stay short."""
        return () if self == HOME else (self.stage or ALL, self.page)

    @classmethod
    def read(cls, stage: object, page: object) -> Origin | None:
        """From callback fields or a waiting flow's data; None if they are not a list page (forged)."""
        chosen = LIST_STAGE.read(stage) if isinstance(stage, str) else None
        if isinstance(page, int) and not isinstance(page, bool):
            page = str(page)
        number = PAGE.read(page) if isinstance(page, str) else None
        if chosen is None or number is None:
            return None
        return cls(None if chosen == ALL else chosen, number)


HOME = Origin()


# Callback data fields.
CLIENT_ID = Number(1, MAX_ID - 1)


# The list's filter: a stage, or a reaction in the clients' latest showing review ("r_price": bot.showings).
REACTION_FILTER = "r_"
REACTION_FILTERS = {f"{REACTION_FILTER}{reaction}": reaction for reaction in REACTIONS}
LIST_STAGE = Choice(ALL, *STAGES, *REACTION_FILTERS)


PAGE = Number(0, 10**PAGE_DIGITS - 1)


def list_button(tn: Turn, origin: Origin) -> InlineKeyboardButton:
    return button(tn.t("clients.button.list"), PREFIX, "list", origin.stage or ALL, origin.page)


def back_row(tn: Turn, client: Client, origin: Origin) -> list[InlineKeyboardButton]:
    return [button(tn.t("clients.button.back"), PREFIX, "card", client.id, "edit", *origin.parts())]


def stage_name(tn: Turn, stage: str) -> str:
    return tn.t(f"stage.{stage}")


def is_waiting(waiting: Waiting | None, step: str, client: Client) -> bool:
    return (
        waiting is not None
        and (waiting.flow, waiting.step) == (FLOW, step)
        and (waiting.data.get("client_id") == client.id)
    )


def is_editing(waiting: Waiting | None, client: Client, detail: str) -> bool:
    """Whether the chat still waits for this very edit (a button of an edit already answered is spent)."""
    return is_waiting(waiting, ClientStep.EDIT, client) and waiting is not None and waiting.data.get("detail") == detail


def point_to_existing(tn: Turn, existing: Client, key: str) -> None:
    label = tn.t("clients.button.open_existing", name=Html(existing.name))
    tn.send(tn.t(key, name=existing.name), [[button(label, PREFIX, "card", existing.id, "new")]])
