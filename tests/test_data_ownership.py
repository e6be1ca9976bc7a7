"""Data the user owns: /forget leaves no row of theirs in any table (checked table by table over
the whole schema, so a new table cannot be forgotten), the database file never holds their
journal in the clear, and old entries go when they asked for that (retention)."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Connection, func, select

from bot import retention
from bot.engine import Engine
from bot.ports import Add, Commit, Outcome
from bot.store import SqlStore
from bot.store.schema import OWNED, metadata
from bot.testing import FakeChat, FakeClock
from tests.test_export import walk_everything

NOW = datetime(2026, 6, 1, 9, 0, tzinfo=UTC)


def rows_of(conn: Connection, user: str) -> dict[str, int]:
    out = {}
    for table in metadata.sorted_tables:
        assert "user_key" in table.c, (
            f"table {table.name} has no user_key column: forget and export find a user's rows "
            "by it. Add one (and the table to schema.OWNED)."
        )
        out[table.name] = conn.execute(
            select(func.count()).select_from(table).where(table.c.user_key == user)
        ).scalar_one()
    return out


def test_forget_knows_every_table_of_the_schema() -> None:
    assert {t.name for t in OWNED} == set(metadata.tables)


async def test_forget_leaves_no_row_of_the_user_in_any_table(
    chat: FakeChat, store: SqlStore, clock: FakeClock, engine: Engine
) -> None:
    bystander = FakeChat(engine, user="bystander")
    await bystander.command("journal")
    await bystander.tap("Write a new entry")
    await bystander.say("A bystander's entry")
    await walk_everything(chat, clock)
    user = str(chat.key)
    with store.engine.connect() as conn:
        before = rows_of(conn, user)
    empty = sorted(name for name, n in before.items() if n == 0)
    assert empty == [], f"the walk left these tables empty; extend it so forget is tested: {empty}"

    await chat.command("forget")
    await chat.tap("Yes, delete everything")
    assert "everything I had stored about you is deleted" in chat.text()
    with store.engine.connect() as conn:
        after = rows_of(conn, user)
        theirs = rows_of(conn, str(bystander.key))
    assert after == dict.fromkeys(before, 0)
    assert theirs["journal_entries"] == 1 and theirs["conversations"] == 1

    await chat.say("hello")
    assert "Hi, I'm Rebound." in chat.text()  # a later message starts fresh


async def test_operator_forget_leaves_no_row_either(
    chat: FakeChat, store: SqlStore, clock: FakeClock
) -> None:
    await walk_everything(chat, clock)
    await store.forget(str(chat.key))
    with store.engine.connect() as conn:
        assert set(rows_of(conn, str(chat.key)).values()) == {0}


MARKERS = (
    "pelican-marmalade-quartz",  # the entry
    "lantern-thimble-orchard",  # its edited version
    "walrus-saffron-meadow",  # the reread note
)


def db_bytes(path: Path) -> bytes:
    wal = path.with_name(path.name + "-wal")
    return path.read_bytes() + (wal.read_bytes() if wal.exists() else b"")


async def test_raw_database_bytes_hold_no_journal_text(
    chat: FakeChat, store: SqlStore, db_url: str
) -> None:
    await chat.command("journal")
    await chat.tap("Write a new entry")
    await chat.say(f"Today I wrote {MARKERS[0]} in my journal")
    await chat.command("journal")
    entry = next(c for r in chat.last for c in r.choices if c.label.startswith("2026-"))
    await chat.choose(entry.id)
    await chat.tap("Edit it")
    await chat.say(f"Today I wrote {MARKERS[1]} instead")
    await chat.tap("Write a reread note")
    await chat.say(f"Later: {MARKERS[2]}")
    (row,) = (await store.export(str(chat.key)))["journal_entries"]
    assert MARKERS[1] in row["text"] and MARKERS[2] in row["reread_note"]  # really stored

    path = Path(db_url.removeprefix("sqlite:///"))
    raw = db_bytes(path)  # before a checkpoint: the new pages are in the -wal file
    with sqlite3.connect(path) as conn:
        conn.execute("PRAGMA wal_checkpoint(FULL)")
    raw += db_bytes(path)  # after it: in the database file itself
    assert len(raw) > 4096
    for marker in MARKERS:
        assert marker.encode() not in raw
        assert marker.encode("utf-16-le") not in raw


# -- retention ------------------------------------------------------------------------------------


def test_retention_rules() -> None:
    assert retention.cutoff(NOW, 30) == NOW - timedelta(days=30)
    assert retention.valid_days("off") is None and retention.valid_days("90") == 90
    with pytest.raises(ValueError):
        retention.valid_days(3)
    with pytest.raises(ValueError):
        retention.cutoff(NOW.replace(tzinfo=None), 30)
    before = NOW - timedelta(days=30)
    assert retention.challenge_expired(before - timedelta(days=31), 30, before)
    assert not retention.challenge_expired(before - timedelta(days=29), 30, before)
    state = {"data": {"journal": "x"}, "step": "feel.name", "country": "IE", "tz": "UTC"}
    assert retention.stale_state(state) == {"country": "IE", "tz": "UTC"}
    assert set(retention.AGE_COLUMNS) | {"challenges", "conversations", "users"} == set(
        metadata.tables
    )


def row(table: str, days_ago: int, who: str = "", **values: Any) -> Add:
    when = NOW - timedelta(days=days_ago)
    base: dict[str, Any] = {"id": f"{who}{table[:6]}{days_ago}"}
    column = retention.AGE_COLUMNS.get(table, "started_at")
    base[column] = when
    defaults: dict[str, dict[str, Any]] = {
        "episodes": {"kind": "job", "summary": "s", "stages": []},
        "feelings": {"feelings": [], "intensity": 5, "phase": "start"},
        "journal_entries": {"text": "t"},
        "notes": {"kind": "facts", "text": "t"},
        "action_items": {"text": "t"},
        "challenge_asks": {"ask": "a", "answer": "no", "asked_why": False},
        "checkins": {"scale": "brs", "answers": "[3, 3, 3, 3, 3, 3]"},
        "safety_events": {"level": "distress"},
        "timers": {"kind": "journal_reread", "payload": {}, "status": "done"},
        "challenges": {"days": 7},
    }
    return Add(table, {**base, **defaults[table], **values})


async def seed(store: SqlStore, user: str, *, at: datetime) -> None:
    tables = [t for t in retention.AGE_COLUMNS if t != "processed_events"] + ["challenges"]
    who = user.rpartition(":")[2]
    writes = [row(t, 40, who) for t in tables] + [row(t, 10, who) for t in tables]
    writes += [
        row("timers", 45, who, id=f"{who}pending", status="pending"),  # points forward: kept
        row("challenges", 50, who, id=f"{who}long", days=100),  # 50 days into 100: kept
    ]
    state = {"step": "feel.name", "flow": "feel", "ask": "multi", "data": {"journal": "x"},
             "country": "IE"}  # fmt: skip
    outcome = await store.commit(
        Commit(user, 0, state, at, tuple(writes), event_id=f"old-event-{user}")
    )
    assert outcome is Outcome.APPLIED


async def test_purge_deletes_old_entries_only_and_resets_a_stale_conversation(
    store: SqlStore,
) -> None:
    user, other = "test::keeper", "test::other"
    await seed(store, user, at=NOW - timedelta(days=40))
    await seed(store, other, at=NOW - timedelta(days=40))
    counts = await store.purge_older_than(user, 30, NOW)
    assert counts["journal_entries"] == 1 and counts["challenges"] == 1
    assert counts["conversations"] == 1 and counts["processed_events"] == 1

    data = await store.export(user)
    for table in retention.AGE_COLUMNS:
        if table in ("timers", "processed_events"):
            continue
        assert [r["id"] for r in data[table]] == [f"keeper{table[:6]}10"], table
    assert sorted(t["id"] for t in data["timers"]) == ["keeperpending", "keepertimers10"]
    assert sorted(c["id"] for c in data["challenges"]) == ["keeperchalle10", "keeperlong"]
    state = (await store.load(user)).state
    assert state == {"country": "IE"}  # answers and place gone, settings kept
    assert (await store.load(user)).version == 2

    untouched = await store.export(other)
    assert len(untouched["journal_entries"]) == 2
    assert (await store.load(other)).state["data"] == {"journal": "x"}


async def test_a_recent_conversation_is_not_reset(store: SqlStore) -> None:
    await seed(store, "test::recent", at=NOW - timedelta(days=2))
    counts = await store.purge_older_than("test::recent", 30, NOW)
    assert counts["conversations"] == 0
    assert (await store.load("test::recent")).state["data"] == {"journal": "x"}


async def test_retention_is_chosen_in_the_chat_and_found_by_the_scheduler(
    chat: FakeChat, store: SqlStore, clock: FakeClock
) -> None:
    await chat.command("retention")
    assert "Right now I keep what you've written until you delete it" in " ".join(
        chat.text().split()
    )
    await chat.tap("After 30 days")
    assert "entries older than 30 days are deleted automatically" in chat.text()
    assert (str(chat.key), 30) in await store.retention_settings()
    assert (await store.export(str(chat.key)))["profile"]["retention_days"] == 30

    await chat.command("journal")
    await chat.tap("Write a new entry")
    await chat.say("An entry that will grow old")
    clock.advance(days=31)
    await store.purge_older_than(str(chat.key), 30, clock.now())
    await chat.command("journal")  # the engine's cached state was stale: it retries and goes on
    assert "Your journal is empty so far" in " ".join(chat.text().split())

    await chat.command("retention")
    assert "older than 30 days" in chat.text()
    await chat.tap("Keep everything")
    assert "I'll keep everything until you delete it" in chat.text()
    assert await store.retention_settings() == []
