"""showing reviews (带看后复盘), the agent's 掉盘 rule, and the two new kinds of delivery

- `showing_reviews`: what a client made of a showing (reactions, an optional note or voice), asked when it ends.
- `agents.stale_days`: the stages whose days-without-a-real-contact rule the agent changed (None = defaults).
- `uq_deliveries_one_waiting` is recreated with 'stale_warning' (the morning 掉盘 warning: one waiting per agent).
- `ix_deliveries_nudge_due` is recreated with 'showing_review' (a review is asked at the time the showing ends,
  as promptly as a follow-up's nudge).

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-07
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0014"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# As in bot.models at this revision (a migration never imports the models: they move on, it must not).
OLD_KINDS = "('tip', 'reflection', 'reflect_later', 'digest', 'team_digest')"
KINDS = "('tip', 'reflection', 'reflect_later', 'digest', 'team_digest', 'stale_warning')"
WAITING = "('pending', 'claimed', 'sending', 'held')"
OLD_NUDGE = "status = 'pending' AND kind IN ('followup', 'reflect_later')"
NUDGE = "status = 'pending' AND kind IN ('followup', 'reflect_later', 'showing_review')"


def _one_waiting(kinds: str) -> None:
    where = f"kind IN {kinds} AND status IN {WAITING}"
    op.drop_index("uq_deliveries_one_waiting", table_name="deliveries")
    op.create_index(
        "uq_deliveries_one_waiting",
        "deliveries",
        ["agent_id", "kind"],
        unique=True,
        sqlite_where=sa.text(where),
        postgresql_where=sa.text(where),
    )


def _nudges(where: str) -> None:
    op.drop_index("ix_deliveries_nudge_due", table_name="deliveries")
    op.create_index(
        "ix_deliveries_nudge_due",
        "deliveries",
        ["status", "due_at"],
        sqlite_where=sa.text(where),
        postgresql_where=sa.text(where),
    )


def upgrade() -> None:
    op.create_table(
        "showing_reviews",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("agent_id", sa.Integer(), sa.ForeignKey("agents.id", ondelete="CASCADE"), nullable=False),
        sa.Column("client_id", sa.Integer(), sa.ForeignKey("clients.id", ondelete="CASCADE"), nullable=False),
        sa.Column("follow_up_id", sa.Integer(), sa.ForeignKey("follow_ups.id", ondelete="SET NULL"), nullable=True),
        sa.Column("listing", sa.Text(), nullable=True),
        sa.Column("reactions", sa.String(128), nullable=False),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("voice_file_id", sa.String(255), nullable=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("ends_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("saved_at", sa.DateTime(timezone=True), nullable=True),
    )
    op.create_index("ix_showing_reviews_client", "showing_reviews", ["client_id", "saved_at"])
    op.create_index("ix_showing_reviews_agent_follow_up", "showing_reviews", ["agent_id", "follow_up_id"])
    op.add_column("agents", sa.Column("stale_days", sa.JSON(), nullable=True))
    _one_waiting(KINDS)
    _nudges(NUDGE)


def downgrade() -> None:
    op.execute("UPDATE deliveries SET status = 'cancelled' WHERE kind = 'stale_warning' AND status IN " + WAITING)
    op.execute("UPDATE deliveries SET status = 'cancelled' WHERE kind = 'showing_review' AND status = 'pending'")
    _nudges(OLD_NUDGE)
    _one_waiting(OLD_KINDS)
    with op.batch_alter_table("agents") as batch:
        batch.drop_column("stale_days")
    op.drop_index("ix_showing_reviews_agent_follow_up", table_name="showing_reviews")
    op.drop_index("ix_showing_reviews_client", table_name="showing_reviews")
    op.drop_table("showing_reviews")
