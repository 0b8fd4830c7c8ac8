"""deliveries: the weekly digest is a kind with at most one waiting per agent, and it is claimed after the rest

The partial unique index `uq_deliveries_one_waiting` is recreated with 'digest' in its kind list (no waiting
digest can exist before this revision, so there are no duplicates to cancel first). A partial index of the
pending rows of every other kind, by due time, lets the engine claim a follow-up nudge due now without reading
through a wave of 100k digests due a few minutes earlier (bot.scheduler's claim).

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-06
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# As in bot.models at this revision (a migration never imports the models: they move on, it must not).
OLD_KINDS = "('tip', 'reflection', 'reflect_later')"
KINDS = "('tip', 'reflection', 'reflect_later', 'digest')"
WAITING = "('pending', 'claimed', 'sending', 'held')"
URGENT = "status = 'pending' AND kind <> 'digest'"


def _one_waiting(kinds: str) -> None:
    where = f"kind IN {kinds} AND status IN {WAITING}"
    op.create_index(
        "uq_deliveries_one_waiting",
        "deliveries",
        ["agent_id", "kind"],
        unique=True,
        sqlite_where=sa.text(where),
        postgresql_where=sa.text(where),
    )


def upgrade() -> None:
    op.drop_index("uq_deliveries_one_waiting", table_name="deliveries")
    _one_waiting(KINDS)
    op.create_index(
        "ix_deliveries_urgent_due",
        "deliveries",
        ["status", "due_at"],
        sqlite_where=sa.text(URGENT),
        postgresql_where=sa.text(URGENT),
    )


def downgrade() -> None:
    op.drop_index("ix_deliveries_urgent_due", table_name="deliveries")
    op.execute("UPDATE deliveries SET status = 'cancelled' WHERE kind = 'digest' AND status IN " + WAITING)
    op.drop_index("uq_deliveries_one_waiting", table_name="deliveries")
    _one_waiting(OLD_KINDS)
