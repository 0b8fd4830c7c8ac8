"""a reflection's tip id as long as a tip state's (40 characters)

Tip ids may now have up to 36 characters (three of issue 17's tips, named by the showing review, have 33–35), and
the tip matched to a check-in is kept on the reflection, whose column held 32. `tip_states.tip_id` already holds 40.
SQLite does not enforce a VARCHAR's length, but the declared type is kept in line with the models there too.

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-07
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0015"
down_revision: str | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("reflections") as batch:
        batch.alter_column("tip_id", type_=sa.String(40), existing_type=sa.String(32), existing_nullable=True)


def downgrade() -> None:
    # A longer id would not fit back: such a reflection forgets which tip followed it.
    op.execute("UPDATE reflections SET tip_id = NULL WHERE LENGTH(tip_id) > 32")
    with op.batch_alter_table("reflections") as batch:
        batch.alter_column("tip_id", type_=sa.String(32), existing_type=sa.String(40), existing_nullable=True)
