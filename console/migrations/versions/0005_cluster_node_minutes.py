"""cluster_node_minutes: the embedded demo's job-cluster node timeline (per run, node and minute).

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from console.store import UTCDateTime

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # An adopted create_all file made by a console that already had the table (store._adopt) has it.
    if "cluster_node_minutes" in sa.inspect(op.get_bind()).get_table_names():
        return
    op.create_table(
        "cluster_node_minutes",
        sa.Column("run_id", sa.Integer, primary_key=True),
        sa.Column("node", sa.String(40), primary_key=True),
        sa.Column("minute", UTCDateTime(), primary_key=True),
        sa.Column("driver", sa.Boolean, nullable=False),
        sa.Column("spot", sa.Boolean, nullable=False),
        sa.Column("cpu_user_percent", sa.Float, nullable=False),
        sa.Column("cpu_system_percent", sa.Float, nullable=False),
        sa.Column("cpu_wait_percent", sa.Float, nullable=False),
        sa.Column("mem_used_percent", sa.Float, nullable=False),
        sa.Column("dbus", sa.Float, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("cluster_node_minutes")
