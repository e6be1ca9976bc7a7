"""Tables. Every row that belongs to a user carries `user_key`, so export and forget are one query
per table. Columns in `ports.RECORD_TABLES` marked secret hold ciphertext (the user's own words).
Times are stored as aware UTC (`UtcDateTime` puts the zone back that SQLite drops)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    Column,
    Date,
    DateTime,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    TypeDecorator,
    UniqueConstraint,
)


class UtcDateTime(TypeDecorator[datetime]):
    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: Any, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the store; use aware UTC")
        return value.astimezone(UTC)

    def process_result_value(self, value: Any, dialect: Any) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


metadata = MetaData()
KEY = String(300)
ID = String(32)


def _owned(name: str, *columns: Column[Any], **kw: Any) -> Table:
    return Table(
        name,
        metadata,
        Column("id", ID, primary_key=True),
        Column("user_key", KEY, nullable=False, index=True),
        *columns,
        **kw,
    )


users = Table(
    "users",
    metadata,
    Column("user_key", KEY, primary_key=True),
    Column("created_at", UtcDateTime, nullable=False),
    Column("country", String(2)),
    Column("timezone", String(64)),
    Column("profile", JSON, nullable=False, default=dict),
    Column("unreachable_since", UtcDateTime),
    Column("quiet_until", UtcDateTime),
    Column("nudges", JSON),
    Column("retention_days", Integer),  # delete entries older than this (bot/retention.py)
)

conversations = Table(
    "conversations",
    metadata,
    Column("user_key", KEY, primary_key=True),
    Column("version", Integer, nullable=False),
    Column("state", Text, nullable=False),
    Column("updated_at", UtcDateTime, nullable=False),
)

processed_events = Table(
    "processed_events",
    metadata,
    Column("event_id", String(300), primary_key=True),
    Column("user_key", KEY, nullable=False, index=True),
    Column("at", UtcDateTime, nullable=False),
)

episodes = _owned(
    "episodes",
    Column("kind", String(40), nullable=False),
    Column("summary", Text, nullable=False),
    Column("opened_at", UtcDateTime, nullable=False),
    Column("closed_at", UtcDateTime),
    Column("stages", JSON, nullable=False),
)

feelings = _owned(
    "feelings",
    Column("episode_id", ID),
    Column("feelings", JSON, nullable=False),
    Column("intensity", Integer),
    Column("phase", String(40), nullable=False),
    Column("at", UtcDateTime, nullable=False),
)

journal_entries = _owned(
    "journal_entries",
    Column("episode_id", ID),
    Column("text", Text, nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    Column("reread_note", Text),
    Column("reread_at", UtcDateTime),
)

notes = _owned(
    "notes",
    Column("episode_id", ID),
    Column("kind", String(40), nullable=False),
    Column("text", Text, nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
)

action_items = _owned(
    "action_items",
    Column("episode_id", ID),
    Column("text", Text, nullable=False),
    Column("due_on", Date),
    Column("created_at", UtcDateTime, nullable=False),
    Column("done_at", UtcDateTime),
    Column("dropped_at", UtcDateTime),  # the user decided not to do it (not the same as done)
)

challenges = _owned(
    "challenges",
    Column("days", Integer, nullable=False),
    Column("started_at", UtcDateTime, nullable=False),
)

challenge_asks = _owned(
    "challenge_asks",
    Column("challenge_id", ID),
    Column("ask", Text, nullable=False),
    Column("answer", String(20), nullable=False),
    Column("asked_why", Boolean, nullable=False),
    Column("why", Text),
    Column("at", UtcDateTime, nullable=False),
)

# Timers and nudges: something to bring up with the user at `due_at`. The scheduler claims due
# rows with a lease (`lease_until`) so several processes never send one twice; `day_key` makes
# "at most one unsolicited message per user per kind per day" a unique constraint.
timers = _owned(
    "timers",
    Column("kind", String(40), nullable=False),
    Column("due_at", UtcDateTime, nullable=False),
    Column("payload", JSON, nullable=False),
    Column("status", String(20), nullable=False),
    Column("attempts", Integer, nullable=False, server_default="0"),
    Column("lease_until", UtcDateTime),
    Column("sent_at", UtcDateTime),
    Column("day_key", String(80)),
    UniqueConstraint("day_key", name="uq_timers_day_key"),
    Index("ix_timers_status_due", "status", "due_at"),
    # One user's pending timers (a turn with a timer due, cancelling a kind): SQLite would
    # otherwise take the index above and read every user's pending timers.
    Index("ix_timers_user_status_due", "user_key", "status", "due_at"),
)

safety_events = _owned(
    "safety_events",
    Column("level", String(20), nullable=False),
    Column("at", UtcDateTime, nullable=False),
)

# Resilience check-ins (the Brief Resilience Scale): the six answers, kept encrypted as a JSON
# list; the score is computed from them (bot/progress.py), so it is not stored in the clear.
checkins = _owned(
    "checkins",
    Column("scale", String(20), nullable=False),
    Column("answers", Text, nullable=False),
    Column("at", UtcDateTime, nullable=False),
)

# Tables whose rows belong to one user, in the order forget deletes them.
OWNED = (
    episodes,
    feelings,
    journal_entries,
    notes,
    action_items,
    challenges,
    challenge_asks,
    timers,
    safety_events,
    checkins,
    processed_events,
    conversations,
    users,
)
