"""one send budget for the deployment: its state, the chats' next times, and the processes spending it

- `send_budget`: one row, the next free slot of Telegram's ~30 messages/s for the whole deployment and the end of
  a RetryAfter pause, in seconds of the database's clock (bot.budget_stores, on PostgreSQL).
- `send_budget_chats`: when each chat may get its next message (Telegram's ~1 message/s per chat).
- `send_budget_processes`: what each process spending the budget last reported (`agentcoach stats`).

SQLite gets the tables too (one schema), though its single process keeps the budget in memory and only reports.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-07
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "send_budget",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=False),
        sa.Column("next_slot", sa.Double(), nullable=False),
        sa.Column("paused_until", sa.Double(), nullable=False),
        sa.Column("pauses", sa.Integer(), nullable=False),
    )
    op.create_table(
        "send_budget_chats",
        sa.Column("chat_id", sa.BigInteger(), primary_key=True, autoincrement=False),
        sa.Column("next_at", sa.Double(), nullable=False),
    )
    op.create_table(
        "send_budget_processes",
        sa.Column("process_key", sa.BigInteger(), primary_key=True, autoincrement=False),
        sa.Column("seen_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("report", sa.JSON(), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("send_budget_processes")
    op.drop_table("send_budget_chats")
    op.drop_table("send_budget")
