"""Automatic deletion of old entries, a per-user choice (`/retention`, kept in the profile as
`users.retention_days`). The rules are here, pure; `SqlStore.purge_older_than` applies them.

What is old: a row whose own time (below) lies more than N days back. Pending reminders are
never purged (they point forward); a rejection challenge is old once its last day has passed
N days ago. The conversation itself, when untouched for N days, loses the answers it kept and
returns to the start, so nothing typed outlives the setting there either.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

CHOICES = (30, 90, 365)  # what /retention offers; any whole number of days >= MIN_DAYS works
MIN_DAYS = 7

# Table -> the column that says how old a row is.
AGE_COLUMNS: Mapping[str, str] = {
    "episodes": "opened_at",
    "feelings": "at",
    "journal_entries": "created_at",
    "notes": "created_at",
    "action_items": "created_at",
    "challenge_asks": "at",
    "checkins": "at",
    "safety_events": "at",
    "processed_events": "at",
    "timers": "due_at",  # only rows no longer pending
}
# Conversation-state keys that hold answers or a place in a dialog (dropped when it is stale);
# the rest (country, challenge length, counters, next reminder) stays.
STALE_STATE_KEYS = ("data", "flow", "step", "ask", "paused", "episode", "stages")


def valid_days(days: Any) -> int | None:
    """The setting as stored: None (keep everything) or a whole number of days >= MIN_DAYS."""
    if days in (None, "", "off", 0):
        return None
    value = int(days)
    if value < MIN_DAYS:
        raise ValueError(f"keep entries for at least {MIN_DAYS} days, not {value}")
    return value


def cutoff(now: datetime, days: int) -> datetime:
    """Rows older than this are deleted."""
    if now.tzinfo is None:
        raise ValueError("use an aware UTC time")
    value = valid_days(days)
    if value is None:
        raise ValueError("no retention set: nothing to purge")
    return now - timedelta(days=value)


def challenge_expired(started_at: datetime, days: int, before: datetime) -> bool:
    """A challenge is old once its last day ended before the cutoff."""
    return started_at + timedelta(days=int(days)) < before


def stale_state(state: Mapping[str, Any]) -> dict[str, Any]:
    """The conversation state without its answers and place, for a conversation untouched for
    longer than the setting: the user starts fresh, settings and counters kept."""
    return {k: v for k, v in state.items() if k not in STALE_STATE_KEYS}
