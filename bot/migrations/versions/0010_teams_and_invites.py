"""teams, their members and invites; the team lead's weekly digest is a kind with at most one waiting per lead

- `teams`: a brokerage's teams, by unique name.
- `team_members`: one team per agent, as a member or a lead; a lead's row says when the weekly team digest goes.
- `invites`: invite codes (only their SHA-256), into a team as member or lead, with uses and expiry.
- `uq_deliveries_one_waiting` is recreated with 'team_digest' in its kind list (none can exist before).

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-07
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# As in bot.models at this revision (a migration never imports the models: they move on, it must not).
OLD_KINDS = "('tip', 'reflection', 'reflect_later', 'digest')"
KINDS = "('tip', 'reflection', 'reflect_later', 'digest', 'team_digest')"
WAITING = "('pending', 'claimed', 'sending', 'held')"


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
    op.create_table(
        "teams",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("name", sa.String(64), nullable=False, unique=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "team_members",
        sa.Column(
            "agent_id", sa.Integer(), sa.ForeignKey("agents.id", ondelete="CASCADE"), primary_key=True, nullable=False
        ),
        sa.Column("team_id", sa.Integer(), sa.ForeignKey("teams.id", ondelete="CASCADE"), nullable=False),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("team_digest_weekday", sa.SmallInteger(), nullable=True),
        sa.Column("team_digest_time", sa.Time(), nullable=True),
        sa.Column("joined_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_team_members_team_id", "team_members", ["team_id"])
    op.create_table(
        "invites",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("code_hash", sa.String(64), nullable=False, unique=True),
        sa.Column("team_id", sa.Integer(), sa.ForeignKey("teams.id", ondelete="CASCADE"), nullable=False),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("max_uses", sa.Integer(), nullable=True),
        sa.Column("uses", sa.Integer(), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_by", sa.BigInteger(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_invites_team_id", "invites", ["team_id"])
    op.drop_index("uq_deliveries_one_waiting", table_name="deliveries")
    _one_waiting(KINDS)


def downgrade() -> None:
    op.execute("UPDATE deliveries SET status = 'cancelled' WHERE kind = 'team_digest' AND status IN " + WAITING)
    op.drop_index("uq_deliveries_one_waiting", table_name="deliveries")
    _one_waiting(OLD_KINDS)
    op.drop_index("ix_invites_team_id", table_name="invites")
    op.drop_table("invites")
    op.drop_index("ix_team_members_team_id", table_name="team_members")
    op.drop_table("team_members")
    op.drop_table("teams")
