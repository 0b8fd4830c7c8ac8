"""deliveries: an index to find a subject's deliveries; drop the agent index that (agent_id, kind) covers

Cancelling a follow-up's nudge (✅ Done, snooze, reschedule) looks its delivery up by (kind, subject_id).
Without an index that was a scan of every pending delivery, ~180 ms at 1M pending on SQLite, holding the
write lock. ix_deliveries_agent_id is a prefix of ix_deliveries_agent_kind, which serves every agent lookup
(hold, resume, the cascade from agents), so each new delivery keeps the same number of index writes.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-25
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index("ix_deliveries_kind_subject", "deliveries", ["kind", "subject_id"])
    op.drop_index("ix_deliveries_agent_id", table_name="deliveries")


def downgrade() -> None:
    op.create_index("ix_deliveries_agent_id", "deliveries", ["agent_id"])
    op.drop_index("ix_deliveries_kind_subject", table_name="deliveries")
