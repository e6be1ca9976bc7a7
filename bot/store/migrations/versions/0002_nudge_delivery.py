"""nudge delivery: leases, attempts, one per user per kind per day, settings, quiet, reachability

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-26
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("timers") as batch:
        batch.add_column(sa.Column("attempts", sa.Integer(), nullable=False, server_default="0"))
        batch.add_column(sa.Column("lease_until", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("sent_at", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("day_key", sa.String(length=80), nullable=True))
        batch.create_unique_constraint("uq_timers_day_key", ["day_key"])
    with op.batch_alter_table("users") as batch:
        batch.add_column(sa.Column("unreachable_since", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("quiet_until", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("nudges", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("users") as batch:
        batch.drop_column("nudges")
        batch.drop_column("quiet_until")
        batch.drop_column("unreachable_since")
    with op.batch_alter_table("timers") as batch:
        batch.drop_constraint("uq_timers_day_key", type_="unique")
        batch.drop_column("day_key")
        batch.drop_column("sent_at")
        batch.drop_column("lease_until")
        batch.drop_column("attempts")
