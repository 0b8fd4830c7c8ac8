"""deliveries: a partial index of the pending nudges by due time, so the engine claims them first

The engine claims in tiers (bot.scheduler): the nudges (a follow-up's, ⏰ Later's) first, then the recurring
prompts and tips in shares, then the waves. `ix_deliveries_urgent_due` holds the nudges together with every
recurring prompt, so a nudge due at 09:01 was found only after reading through 100k prompts due at 09:00; this
index holds the pending nudges alone.

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-08
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# As in bot.models at this revision (a migration never imports the models: they move on, it must not).
NUDGE = "status = 'pending' AND kind IN ('followup', 'reflect_later')"


def upgrade() -> None:
    op.create_index(
        "ix_deliveries_nudge_due",
        "deliveries",
        ["status", "due_at"],
        sqlite_where=sa.text(NUDGE),
        postgresql_where=sa.text(NUDGE),
    )


def downgrade() -> None:
    op.drop_index("ix_deliveries_nudge_due", table_name="deliveries")
