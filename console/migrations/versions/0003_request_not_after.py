"""action_requests.not_after: a request made before the upload without its acknowledgement expires at the upload.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from console.store import UTCDateTime

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # An adopted create_all file made by a console that already had the column (store._adopt) has it.
    if "not_after" in {c["name"] for c in sa.inspect(op.get_bind()).get_columns("action_requests")}:
        return
    with op.batch_alter_table("action_requests") as batch:
        batch.add_column(sa.Column("not_after", UTCDateTime(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("action_requests") as batch:
        batch.drop_column("not_after")
