"""initial schema

Revision ID: 0001
Revises:
Create Date: 2026-11-26 00:40:26.551144
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:

    op.create_table(
        "action_items",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("user_key", sa.String(length=300), nullable=False),
        sa.Column("episode_id", sa.String(length=32), nullable=True),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("due_on", sa.Date(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("done_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("action_items", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_action_items_user_key"), ["user_key"], unique=False)

    op.create_table(
        "challenge_asks",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("user_key", sa.String(length=300), nullable=False),
        sa.Column("challenge_id", sa.String(length=32), nullable=True),
        sa.Column("ask", sa.Text(), nullable=False),
        sa.Column("answer", sa.String(length=20), nullable=False),
        sa.Column("asked_why", sa.Boolean(), nullable=False),
        sa.Column("why", sa.Text(), nullable=True),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("challenge_asks", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_challenge_asks_user_key"), ["user_key"], unique=False)

    op.create_table(
        "challenges",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("user_key", sa.String(length=300), nullable=False),
        sa.Column("days", sa.Integer(), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("challenges", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_challenges_user_key"), ["user_key"], unique=False)

    op.create_table(
        "conversations",
        sa.Column("user_key", sa.String(length=300), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("state", sa.Text(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("user_key"),
    )
    op.create_table(
        "episodes",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("user_key", sa.String(length=300), nullable=False),
        sa.Column("kind", sa.String(length=40), nullable=False),
        sa.Column("summary", sa.Text(), nullable=False),
        sa.Column("opened_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("closed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("stages", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("episodes", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_episodes_user_key"), ["user_key"], unique=False)

    op.create_table(
        "feelings",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("user_key", sa.String(length=300), nullable=False),
        sa.Column("episode_id", sa.String(length=32), nullable=True),
        sa.Column("feelings", sa.JSON(), nullable=False),
        sa.Column("intensity", sa.Integer(), nullable=True),
        sa.Column("phase", sa.String(length=40), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("feelings", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_feelings_user_key"), ["user_key"], unique=False)

    op.create_table(
        "journal_entries",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("user_key", sa.String(length=300), nullable=False),
        sa.Column("episode_id", sa.String(length=32), nullable=True),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("reread_note", sa.Text(), nullable=True),
        sa.Column("reread_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("journal_entries", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_journal_entries_user_key"), ["user_key"], unique=False)

    op.create_table(
        "notes",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("user_key", sa.String(length=300), nullable=False),
        sa.Column("episode_id", sa.String(length=32), nullable=True),
        sa.Column("kind", sa.String(length=40), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("notes", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_notes_user_key"), ["user_key"], unique=False)

    op.create_table(
        "processed_events",
        sa.Column("event_id", sa.String(length=300), nullable=False),
        sa.Column("user_key", sa.String(length=300), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("event_id"),
    )
    with op.batch_alter_table("processed_events", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_processed_events_user_key"), ["user_key"], unique=False
        )

    op.create_table(
        "safety_events",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("user_key", sa.String(length=300), nullable=False),
        sa.Column("level", sa.String(length=20), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("safety_events", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_safety_events_user_key"), ["user_key"], unique=False)

    op.create_table(
        "timers",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("user_key", sa.String(length=300), nullable=False),
        sa.Column("kind", sa.String(length=40), nullable=False),
        sa.Column("due_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("timers", schema=None) as batch_op:
        batch_op.create_index("ix_timers_status_due", ["status", "due_at"], unique=False)
        batch_op.create_index(batch_op.f("ix_timers_user_key"), ["user_key"], unique=False)

    op.create_table(
        "users",
        sa.Column("user_key", sa.String(length=300), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("country", sa.String(length=2), nullable=True),
        sa.Column("timezone", sa.String(length=64), nullable=True),
        sa.Column("profile", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("user_key"),
    )


def downgrade() -> None:

    op.drop_table("users")
    with op.batch_alter_table("timers", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_timers_user_key"))
        batch_op.drop_index("ix_timers_status_due")

    op.drop_table("timers")
    with op.batch_alter_table("safety_events", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_safety_events_user_key"))

    op.drop_table("safety_events")
    with op.batch_alter_table("processed_events", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_processed_events_user_key"))

    op.drop_table("processed_events")
    with op.batch_alter_table("notes", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_notes_user_key"))

    op.drop_table("notes")
    with op.batch_alter_table("journal_entries", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_journal_entries_user_key"))

    op.drop_table("journal_entries")
    with op.batch_alter_table("feelings", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_feelings_user_key"))

    op.drop_table("feelings")
    with op.batch_alter_table("episodes", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_episodes_user_key"))

    op.drop_table("episodes")
    op.drop_table("conversations")
    with op.batch_alter_table("challenges", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_challenges_user_key"))

    op.drop_table("challenges")
    with op.batch_alter_table("challenge_asks", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_challenge_asks_user_key"))

    op.drop_table("challenge_asks")
    with op.batch_alter_table("action_items", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_action_items_user_key"))

    op.drop_table("action_items")
