"""warehouse_statements: every statement the console sends to the warehouse, with its cost class.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from console.store import UTCDateTime

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # An adopted create_all file made by a console that already had the table (store._adopt) has it.
    if "warehouse_statements" in sa.inspect(op.get_bind()).get_table_names():
        return
    op.create_table(
        "warehouse_statements",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("at", UTCDateTime(), nullable=False),
        sa.Column("process", sa.String(20), nullable=False),
        sa.Column("kind", sa.String(20), nullable=False),
        sa.Column("statement", sa.String(200), nullable=False, server_default=""),
    )
    op.create_index("ix_warehouse_statements_at", "warehouse_statements", ["at"])


def downgrade() -> None:
    op.drop_index("ix_warehouse_statements_at", "warehouse_statements")
    op.drop_table("warehouse_statements")
