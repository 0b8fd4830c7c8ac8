"""tips: each agent's tip history (rotation, ratings, saved), and a string subject on deliveries

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-25
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TIMESTAMP = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "tip_states",
        sa.Column("agent_id", sa.Integer(), sa.ForeignKey("agents.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("tip_id", sa.String(40), primary_key=True),
        sa.Column("shown", sa.Integer(), nullable=False),
        sa.Column("last_shown_at", TIMESTAMP, nullable=True),
        sa.Column("rating", sa.SmallInteger(), nullable=False),
        sa.Column("saved_at", TIMESTAMP, nullable=True),
    )
    with op.batch_alter_table("deliveries") as deliveries:
        deliveries.add_column(sa.Column("subject_key", sa.String(64), nullable=True))
    op.create_index("ix_deliveries_agent_kind", "deliveries", ["agent_id", "kind"])


def downgrade() -> None:
    op.drop_index("ix_deliveries_agent_kind", "deliveries")
    with op.batch_alter_table("deliveries") as deliveries:
        deliveries.drop_column("subject_key")
    op.drop_table("tip_states")
