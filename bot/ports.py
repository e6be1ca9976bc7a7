"""What the engine needs from the outside world, as Protocols, with the writes it can ask for.

The engine never talks to a database: a turn produces a `Commit` (the new conversation state plus
a list of row writes) and the store applies it in one transaction, or refuses it as stale.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any, Protocol

from bot.events import ConversationKey, Reply


class StoreUnavailable(Exception):
    """The database could not be reached; the user is asked to try again and nothing is lost."""


class Outcome(StrEnum):
    APPLIED = "applied"
    STALE = "stale"  # someone else saved this conversation first: reload and run the turn again
    DUPLICATE = "duplicate"  # this event id was applied before: change nothing


# The tables a turn may write to, and which of their columns hold the user's own words
# (those are encrypted at rest by the store).
RECORD_TABLES: Mapping[str, frozenset[str]] = {
    "episodes": frozenset({"summary"}),
    "feelings": frozenset(),
    "journal_entries": frozenset({"text", "reread_note"}),
    "notes": frozenset({"text"}),
    "action_items": frozenset({"text"}),
    "challenges": frozenset(),
    "challenge_asks": frozenset({"ask", "why"}),
    "timers": frozenset(),
    "safety_events": frozenset(),
    "checkins": frozenset({"answers"}),
}


@dataclass(frozen=True, slots=True)
class Add:
    """Insert a row owned by the user. `values` must include the row's `id`."""

    table: str
    values: Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class Change:
    """Update one of the user's rows (a row of another user is never touched)."""

    table: str
    id: str
    values: Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class Forget:
    """Delete every row that belongs to the user, their conversation state included."""


@dataclass(frozen=True, slots=True)
class SetProfile:
    """Update the user's profile (country, time zone, nudge settings)."""

    values: Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class Cancel:
    """Cancel the user's pending timers of a kind (e.g. check-ins, when settings change)."""

    kind: str


Write = Add | Change | Forget | SetProfile | Cancel


@dataclass(frozen=True, slots=True)
class Stored:
    version: int
    state: dict[str, Any]


@dataclass(frozen=True, slots=True)
class Commit:
    """One turn's changes. Applied only if the stored version still equals `expected_version`
    (0 means "no state stored yet") and `event_id` was not applied before."""

    user: str
    expected_version: int
    state: dict[str, Any]
    now: datetime
    writes: tuple[Write, ...] = ()
    event_id: str | None = None


@dataclass(frozen=True, slots=True)
class Timer:
    id: str
    kind: str
    due_at: datetime
    payload: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class DueNudge:
    """A claimed due timer, with what the scheduler needs to know about its user."""

    id: str
    user: str
    kind: str
    due_at: datetime
    payload: dict[str, Any]
    attempts: int
    timezone: str | None
    settings: dict[str, Any] | None
    quiet_until: datetime | None
    unreachable_since: datetime | None
    last_seen: datetime | None


class NudgeStore(Protocol):
    """The scheduler's view of the store (bot/nudges)."""

    async def claim_due(
        self, now: datetime, platforms: list[str], *, limit: int, lease: float
    ) -> list[DueNudge]:
        """Lease up to `limit` due timers of users on these platforms; no other process gets
        them until the lease runs out."""

    async def settle(self, timer_id: str, status: str, **values: Any) -> None:
        """Record a claimed timer's outcome (failed, collapsed, stale, blocked...)."""

    async def settle_sent(self, sent: list[tuple[str, str]], now: datetime) -> set[str]:
        """Mark (timer id, day key) pairs sent in one go; returns the ids collapsed instead."""

    async def retry_at(self, timer_id: str, due_at: datetime, attempts: int) -> None: ...

    async def add_timer(
        self, user: str, kind: str, due_at: datetime, payload: dict[str, Any]
    ) -> None: ...

    async def mark_unreachable(self, user: str, now: datetime) -> None:
        """Stop the user's nudges until they talk to the bot again."""

    async def retention_settings(self) -> list[tuple[str, int]]:
        """Users who chose automatic deletion, with their number of days."""

    async def purge_older_than(self, user: str, days: int, now: datetime) -> dict[str, int]:
        """Delete the user's entries older than `days`; counts of rows per table."""


class Store(Protocol):
    async def load(self, user: str) -> Stored | None:
        """The user's conversation state, or None for someone new."""

    async def commit(self, commit: Commit) -> Outcome:
        """Apply the commit atomically: state compare-and-set, event de-duplication and writes."""

    async def due_timers(self, user: str, now: datetime) -> list[Timer]:
        """The user's pending timers that are due at `now`, oldest first."""

    async def next_timer(self, user: str, now: datetime) -> datetime | None:
        """When the user's next pending timer falls due after `now`, if any."""

    async def fetch(self, user: str, table: str, row_id: str) -> dict[str, Any] | None:
        """One of the user's rows, decrypted (None if it is not theirs or does not exist)."""

    async def recent(self, user: str, table: str, *, limit: int) -> list[dict[str, Any]]:
        """The user's newest rows of a table, decrypted, newest first."""

    async def export(self, user: str) -> dict[str, Any]:
        """Everything stored about the user, decrypted, as plain JSON-ready data."""

    async def close(self) -> None: ...


class Unreachable(Exception):
    """The platform will not deliver to this user (DMs closed, app uninstalled, user gone).
    Retrying will not help; nudges to the user stop until they talk to the bot again."""


class DeliveryFailed(Exception):
    """A temporary failure (the platform timed out or answered 5xx): try again later."""


class Sender(Protocol):
    """An adapter's way to message a user who did not just write (nudges, timers)."""

    platform: str

    async def send(self, key: ConversationKey, replies: list[Reply]) -> None:
        """Deliver the replies in the user's DM. Raises Unreachable or DeliveryFailed."""


class Runner(Sender, Protocol):
    """A platform adapter started by `rebound run`."""

    async def start(self, *, serve: bool = True) -> None:
        """Connect and begin serving; return once serving (work continues in tasks). With
        serve=False, connect only as far as sending needs (no port, no gateway)."""

    async def stop(self) -> None: ...


class Clock(Protocol):
    def now(self) -> datetime:
        """The current time, timezone-aware UTC."""
