"""encryption at rest: encrypted columns become TEXT, clients get a phone hash, and the data_keys row's table

- The client details that are encrypted with DATA_KEY set (name, phone, budget, source; needs and notes were TEXT
  already) become TEXT: a Fernet token is ~4/3 of its text plus ~100 characters. On SQLite the declared type is
  left as it is: SQLite keeps text of any length in a VARCHAR (or JSON) column, and changing a declared type there
  means recreating the table (whose DROP would cascade to the contact log and follow-ups with foreign keys on).
- `conversation_states.data` (a flow's draft, such as a client not registered yet) is encrypted too, so it becomes
  TEXT holding the same JSON (PostgreSQL: `USING data::text`; SQLite stores JSON as text already).
- `clients.phone_hash`: HMAC-SHA256 of the phone under the database's hash key, with (agent_id, phone_hash)
  indexed, for exact phone lookups when the phone is encrypted.
- `data_keys`: one row, made at start-up when DATA_KEY is first set (bot.data_keys); nothing is encrypted here.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-07
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

WIDENED = {"name": (64, False), "phone": (32, True), "budget": (64, True), "source": (64, True)}


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for column, (length, nullable) in WIDENED.items():
            op.alter_column(
                "clients", column, type_=sa.Text(), existing_type=sa.String(length), existing_nullable=nullable
            )
        op.alter_column(
            "conversation_states",
            "data",
            type_=sa.Text(),
            existing_type=sa.JSON(),
            existing_nullable=False,
            postgresql_using="data::text",
        )
    op.add_column("clients", sa.Column("phone_hash", sa.String(64), nullable=True))
    op.create_index("ix_clients_agent_phone_hash", "clients", ["agent_id", "phone_hash"])
    op.create_table(
        "data_keys",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=False),
        sa.Column("key_id", sa.String(16), nullable=False),
        sa.Column("hash_key", sa.Text(), nullable=False),
        sa.Column("all_under", sa.String(16), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("data_keys")
    op.drop_index("ix_clients_agent_phone_hash", table_name="clients")
    with op.batch_alter_table("clients") as batch:
        batch.drop_column("phone_hash")
    if op.get_bind().dialect.name == "postgresql":  # encrypted values would not fit: decrypt them before downgrading
        op.alter_column(
            "conversation_states",
            "data",
            type_=sa.JSON(),
            existing_type=sa.Text(),
            existing_nullable=False,
            postgresql_using="data::json",
        )
        for column, (length, nullable) in WIDENED.items():
            op.alter_column(
                "clients", column, type_=sa.String(length), existing_type=sa.Text(), existing_nullable=nullable
            )
