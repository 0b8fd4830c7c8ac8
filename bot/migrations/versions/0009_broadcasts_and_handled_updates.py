"""broadcasts, handled updates, and the broadcast as a second wave kind

- `broadcasts`: an operator's announcement, one row per distinct text (its SHA-256), so re-running
  `agentcoach broadcast FILE` after a crash resumes it; each agent's copy is a delivery of kind 'broadcast' whose
  subject is the broadcast, at most one per agent (`uq_deliveries_broadcast_once`).
- `handled_updates`: the update ids already applied, so an update Telegram delivers twice has one effect.
- `ix_deliveries_status_sent`: what `agentcoach stats` counts of the last hour's sends, without a scan.
- `ix_deliveries_urgent_due` is remade without the broadcast's rows: like the weekly digest, an announcement to
  everyone is claimed after the nudges that must not wait.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-06
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# As in bot.models at this revision (a migration never imports the models: they move on, it must not).
OLD_URGENT = "status = 'pending' AND kind <> 'digest'"
URGENT = "status = 'pending' AND kind NOT IN ('digest', 'broadcast')"
BROADCAST_ONCE = "kind = 'broadcast'"


def _urgent(where: str) -> None:
    op.create_index(
        "ix_deliveries_urgent_due",
        "deliveries",
        ["status", "due_at"],
        sqlite_where=sa.text(where),
        postgresql_where=sa.text(where),
    )


def upgrade() -> None:
    op.create_table(
        "broadcasts",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("digest", sa.String(64), nullable=False, unique=True),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "handled_updates",
        sa.Column("update_id", sa.BigInteger(), primary_key=True, autoincrement=False),
        sa.Column("handled_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_handled_updates_handled_at", "handled_updates", ["handled_at"])
    op.create_index(
        "uq_deliveries_broadcast_once",
        "deliveries",
        ["subject_id", "agent_id"],
        unique=True,
        sqlite_where=sa.text(BROADCAST_ONCE),
        postgresql_where=sa.text(BROADCAST_ONCE),
    )
    op.create_index("ix_deliveries_status_sent", "deliveries", ["status", "sent_at"])
    op.drop_index("ix_deliveries_urgent_due", table_name="deliveries")
    _urgent(URGENT)


def downgrade() -> None:
    op.drop_index("ix_deliveries_urgent_due", table_name="deliveries")
    _urgent(OLD_URGENT)
    op.execute("UPDATE deliveries SET status = 'cancelled' WHERE kind = 'broadcast' AND status = 'pending'")
    op.drop_index("uq_deliveries_broadcast_once", table_name="deliveries")
    op.drop_index("ix_deliveries_status_sent", table_name="deliveries")
    op.drop_index("ix_handled_updates_handled_at", table_name="handled_updates")
    op.drop_table("handled_updates")
    op.drop_table("broadcasts")
