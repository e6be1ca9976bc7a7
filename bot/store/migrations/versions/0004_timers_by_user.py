"""timers by user: one user's pending timers without reading everyone's

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-26
"""

from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_timers_user_status_due", "timers", ["user_key", "status", "due_at"])


def downgrade() -> None:
    op.drop_index("ix_timers_user_status_due", table_name="timers")
