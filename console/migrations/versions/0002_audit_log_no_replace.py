"""The audit log refuses an INSERT that would replace a row (SQLite's INSERT OR REPLACE).

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-03

SQLite carries out ``INSERT OR REPLACE`` (and ``REPLACE``) on an existing id by deleting the old row without
firing the DELETE trigger (unless ``recursive_triggers`` is on), so 0001's triggers let an audit row be
rewritten. A BEFORE INSERT trigger refuses an insert whose id is already there, whoever's connection it is.
On PostgreSQL ``INSERT ... ON CONFLICT DO UPDATE`` fires 0001's statement trigger (and the console's role has
no UPDATE privilege): nothing to add there.
"""

from __future__ import annotations

from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        op.execute("CREATE TRIGGER audit_log_no_replace BEFORE INSERT ON audit_log "
                   "WHEN EXISTS (SELECT 1 FROM audit_log WHERE id = NEW.id) "
                   "BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END")


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        op.execute("DROP TRIGGER IF EXISTS audit_log_no_replace")
