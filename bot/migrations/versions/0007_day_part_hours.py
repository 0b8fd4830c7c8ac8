"""agents.day_part_hours: the hour each part of day means for this agent ("明天下午" → 15:00 by default);
agents.timezone_place: the place the agent typed for their time zone (深圳), shown instead of the zone's name.

Only the parts the agent changed are stored, as {"afternoon": "14:30", …}; NULL means every default
(bot.preferences.DEFAULT_DAY_PART_HOURS).

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-06
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("agents", sa.Column("day_part_hours", sa.JSON(), nullable=True))
    op.add_column("agents", sa.Column("timezone_place", sa.String(64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("agents") as batch:
        batch.drop_column("day_part_hours")
        batch.drop_column("timezone_place")
