"""deliveries: who claimed a row, and at most one waiting row per agent of each stand-alone kind

`claimed_by` names the process that claimed a row (bot.ownership), so a process starting after a crash takes
its predecessor's rows back at once instead of waiting out their lease. The partial unique index makes "one
waiting daily tip / reflection prompt / ⏰ Later per agent" a database invariant: two processes that start
together used to add a daily tip each. Duplicates such a race already left are cancelled first (the oldest
waiting row of each agent and kind is kept).

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-06
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# As in bot.models at this revision (a migration never imports the models: they move on, it must not).
KINDS = "('tip', 'reflection', 'reflect_later')"
WAITING = "('pending', 'claimed', 'sending', 'held')"
WHERE = f"kind IN {KINDS} AND status IN {WAITING}"


def upgrade() -> None:
    op.add_column("deliveries", sa.Column("claimed_by", sa.BigInteger(), nullable=True))
    op.execute(
        f"""
        UPDATE deliveries SET status = 'cancelled', lease_until = NULL
        WHERE {WHERE} AND id NOT IN (
            SELECT first_id FROM (
                SELECT min(id) AS first_id FROM deliveries WHERE {WHERE} GROUP BY agent_id, kind
            ) AS kept
        )
        """
    )
    op.create_index(
        "uq_deliveries_one_waiting",
        "deliveries",
        ["agent_id", "kind"],
        unique=True,
        sqlite_where=sa.text(WHERE),
        postgresql_where=sa.text(WHERE),
    )


def downgrade() -> None:
    op.drop_index("uq_deliveries_one_waiting", table_name="deliveries")
    with op.batch_alter_table("deliveries") as batch:
        batch.drop_column("claimed_by")
