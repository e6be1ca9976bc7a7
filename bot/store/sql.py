"""The SQL store: SQLite by default, PostgreSQL (or any SQLAlchemy URL) to scale.

All database work of a process runs on one thread that drains a queue and commits whatever turns
are waiting in one transaction (group commit); a turn's reply is released only after its commit.
That keeps each turn durable and lets SQLite reach thousands of turns per second, where one
async commit per turn cannot (see DESIGN.md section 4).
"""

from __future__ import annotations

import asyncio
import json
import logging
import queue
import threading
from collections.abc import Callable
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import (
    Connection,
    Engine,
    create_engine,
    delete,
    event,
    insert,
    select,
    text,
    update,
)
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError

from bot.ports import (
    RECORD_TABLES,
    Add,
    Cancel,
    Change,
    Commit,
    Forget,
    Outcome,
    SetProfile,
    Stored,
    StoreUnavailable,
    Timer,
)
from bot.store import schema
from bot.store.crypto import Cipher
from bot.store.nudges import NudgeQueries

log = logging.getLogger("rebound.store")

_INSERT_EVENT = text(
    "INSERT INTO processed_events (event_id, user_key, at) VALUES (:e, :u, :at) "
    "ON CONFLICT DO NOTHING"
)
_DELETE_EVENT = text("DELETE FROM processed_events WHERE event_id = :e")
_INSERT_STATE = text(
    "INSERT INTO conversations (user_key, version, state, updated_at) "
    "VALUES (:u, 1, :s, :at) ON CONFLICT DO NOTHING"
)
_UPDATE_STATE = text(
    "UPDATE conversations SET version = version + 1, state = :s, updated_at = :at "
    "WHERE user_key = :u AND version = :v"
)
_INSERT_USER = text(
    "INSERT INTO users (user_key, created_at, profile) VALUES (:u, :at, '{}') "
    "ON CONFLICT DO NOTHING"
)
_LOAD_STATE = text("SELECT version, state FROM conversations WHERE user_key = :u")

Job = tuple[Callable[[Connection], Any], asyncio.Future[Any], asyncio.AbstractEventLoop]


def _set(fut: asyncio.Future[Any], value: Any, exc: BaseException | None) -> None:
    if fut.done():
        return
    if exc is not None:
        fut.set_exception(exc)
    else:
        fut.set_result(value)


def make_engine(url: str, *, synchronous: str = "NORMAL") -> Engine:
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"check_same_thread": False})

        @event.listens_for(engine, "connect")
        def _pragmas(dbapi_conn: Any, _record: Any) -> None:
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute(f"PRAGMA synchronous={synchronous}")
            cur.execute("PRAGMA busy_timeout=5000")
            cur.close()

        return engine
    return create_engine(url, pool_pre_ping=True, pool_size=2, max_overflow=2)


class SqlStore(NudgeQueries):
    """Implements `bot.ports.Store` (and `NudgeStore`) over SQLAlchemy Core."""

    def __init__(self, engine: Engine, cipher: Cipher, *, batch_max: int = 512) -> None:
        self.engine = engine
        self.cipher = cipher
        self.batch_max = batch_max
        self._queue: queue.SimpleQueue[Job | None] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._work, name="rebound-store", daemon=True)
        self._thread.start()

    # -- the writer thread --------------------------------------------------------------------

    async def _call(self, fn: Callable[[Connection], Any]) -> Any:
        loop = asyncio.get_running_loop()
        fut: asyncio.Future[Any] = loop.create_future()
        self._queue.put((fn, fut, loop))
        return await fut

    def _work(self) -> None:
        while True:
            job = self._queue.get()
            if job is None:
                return
            batch = [job]
            while len(batch) < self.batch_max:
                try:
                    nxt = self._queue.get_nowait()
                except queue.Empty:
                    break
                if nxt is None:
                    self._queue.put(None)
                    break
                batch.append(nxt)
            self._run_batch(batch)

    def _run_batch(self, batch: list[Job]) -> None:
        try:
            with self.engine.connect() as conn, conn.begin():
                results = [fn(conn) for fn, _, _ in batch]
        except Exception as exc:
            if len(batch) > 1 and not isinstance(_translate(exc), StoreUnavailable):
                for job in batch:  # find the one at fault; the others still commit
                    self._run_batch([job])
                return
            for _, fut, loop in batch:
                loop.call_soon_threadsafe(_set, fut, None, _translate(exc))
            return
        for (_, fut, loop), result in zip(batch, results, strict=True):
            loop.call_soon_threadsafe(_set, fut, result, None)

    async def close(self) -> None:
        self._queue.put(None)
        await asyncio.to_thread(self._thread.join)
        self.engine.dispose()

    # -- the Store port -----------------------------------------------------------------------

    async def load(self, user: str) -> Stored | None:
        row = await self._call(lambda c: c.execute(_LOAD_STATE, {"u": user}).first())
        if row is None:
            return None
        return Stored(version=row[0], state=json.loads(self.cipher.decrypt(row[1])))

    async def commit(self, commit: Commit) -> Outcome:
        blob = self.cipher.encrypt(json.dumps(commit.state, separators=(",", ":"), default=str))
        writes = [self._prepare(w) for w in commit.writes]
        return await self._call(lambda c: self._apply(c, commit, blob, writes))

    def _apply(self, conn: Connection, commit: Commit, blob: str, writes: list[Any]) -> Outcome:
        user, now = commit.user, commit.now
        if commit.event_id is not None:
            hit = conn.execute(_INSERT_EVENT, {"e": commit.event_id, "u": user, "at": now})
            if hit.rowcount == 0:
                return Outcome.DUPLICATE
        if any(isinstance(w, Forget) for w in writes):
            for table in schema.OWNED:
                conn.execute(delete(table).where(table.c.user_key == user))
            return Outcome.APPLIED
        if commit.expected_version == 0:
            done = conn.execute(_INSERT_STATE, {"u": user, "s": blob, "at": now}).rowcount
            if done:
                conn.execute(_INSERT_USER, {"u": user, "at": now})
        else:
            params = {"u": user, "s": blob, "at": now, "v": commit.expected_version}
            done = conn.execute(_UPDATE_STATE, params).rowcount
        if not done:
            if commit.event_id is not None:
                conn.execute(_DELETE_EVENT, {"e": commit.event_id})
            return Outcome.STALE
        for w in writes:
            if isinstance(w, Add):
                table = schema.metadata.tables[w.table]
                conn.execute(insert(table), {**w.values, "user_key": user})
            elif isinstance(w, Change):
                table = schema.metadata.tables[w.table]
                conn.execute(
                    update(table)
                    .where(table.c.id == w.id, table.c.user_key == user)
                    .values(**w.values)
                )
            elif isinstance(w, Cancel):
                t = schema.timers
                conn.execute(
                    update(t)
                    .where(t.c.user_key == user, t.c.kind == w.kind, t.c.status == "pending")
                    .values(status="cancelled")
                )
            elif isinstance(w, SetProfile):
                conn.execute(
                    update(schema.users).where(schema.users.c.user_key == user).values(**w.values)
                )
        return Outcome.APPLIED

    def _prepare(self, write: Any) -> Any:
        """Encrypt the user's words before they leave the event loop's thread."""
        if isinstance(write, Add | Change):
            if write.table not in RECORD_TABLES:
                raise ValueError(f"turns may not write to table {write.table!r}")
            secret = RECORD_TABLES[write.table]
            values = {
                k: (self.cipher.encrypt(v) if k in secret and isinstance(v, str) else v)
                for k, v in write.values.items()
            }
            return type(write)(**{**_fields(write), "values": values})
        return write

    def _decrypt_row(self, table: str, row: Any) -> dict[str, Any]:
        secret = RECORD_TABLES.get(table, frozenset())
        out: dict[str, Any] = {}
        for key, value in row._mapping.items():
            if key in secret and isinstance(value, str):
                value = self.cipher.decrypt(value)
            if isinstance(value, datetime | date):
                value = value.isoformat()
            out[key] = value
        out.pop("user_key", None)
        return out

    async def fetch(self, user: str, table: str, row_id: str) -> dict[str, Any] | None:
        t = schema.metadata.tables[table]
        row = await self._call(
            lambda c: c.execute(select(t).where(t.c.id == row_id, t.c.user_key == user)).first()
        )
        return self._decrypt_row(table, row) if row else None

    async def recent(self, user: str, table: str, *, limit: int) -> list[dict[str, Any]]:
        t = schema.metadata.tables[table]
        order = next(c for c in t.c if c.name in ("created_at", "opened_at", "at", "started_at"))
        rows = await self._call(
            lambda c: c.execute(
                select(t).where(t.c.user_key == user).order_by(order.desc()).limit(limit)
            ).all()
        )
        return [self._decrypt_row(table, r) for r in rows]

    async def due_timers(self, user: str, now: datetime) -> list[Timer]:
        t = schema.timers
        rows = await self._call(
            lambda c: c.execute(
                select(t)
                .where(t.c.user_key == user, t.c.status == "pending", t.c.due_at <= now)
                .order_by(t.c.due_at)
            ).all()
        )
        return [Timer(r.id, r.kind, r.due_at, r.payload) for r in rows]

    async def next_timer(self, user: str, now: datetime) -> datetime | None:
        t = schema.timers
        return await self._call(
            lambda c: c.execute(
                select(t.c.due_at)
                .where(t.c.user_key == user, t.c.status == "pending", t.c.due_at > now)
                .order_by(t.c.due_at)
                .limit(1)
            ).scalar()
        )

    async def export(self, user: str) -> dict[str, Any]:
        def read(conn: Connection) -> dict[str, list[Any]]:
            out: dict[str, list[Any]] = {}
            for table in schema.OWNED:
                if table.name in ("processed_events",):
                    continue
                out[table.name] = list(
                    conn.execute(select(table).where(table.c.user_key == user)).all()
                )
            return out

        raw = await self._call(read)
        data: dict[str, Any] = {"user": user, "exported_at": datetime.now(UTC).isoformat()}
        for name, rows in raw.items():
            if name == "conversations":
                state = json.loads(self.cipher.decrypt(rows[0].state)) if rows else {}
                data["conversation"] = {
                    "flow": state.get("flow"),
                    "step": state.get("step"),
                    "answers": state.get("data", {}),
                }
            elif name == "users":
                data["profile"] = self._decrypt_row(name, rows[0]) if rows else {}
            else:
                data[name] = [self._decrypt_row(name, r) for r in rows]
        return data

    async def forget(self, user: str) -> None:
        """For operators answering a deletion request (`rebound forget USER`)."""

        def wipe(conn: Connection) -> None:
            for table in schema.OWNED:
                conn.execute(delete(table).where(table.c.user_key == user))

        await self._call(wipe)

    async def ping(self) -> None:
        await self._call(lambda c: c.execute(text("SELECT 1")).scalar())

    # -- retention (bot/retention.py): called by the scheduler, not by a turn -------------------

    async def purge_older_than(self, user: str, days: int, now: datetime) -> dict[str, int]:
        """Delete the user's rows older than `days` days (pending reminders stay; a challenge
        goes once its last day is that old) and reset a conversation untouched for as long.
        Returns how many rows went per table, for the operator's log (never the rows)."""
        from bot import retention

        before = retention.cutoff(now, days)

        def purge(conn: Connection) -> dict[str, int]:
            counts: dict[str, int] = {}
            for name, column in retention.AGE_COLUMNS.items():
                t = schema.metadata.tables[name]
                where = [t.c.user_key == user, t.c[column] < before]
                if name == "timers":
                    where.append(t.c.status != "pending")
                counts[name] = conn.execute(delete(t).where(*where)).rowcount
            ch = schema.challenges
            rows = conn.execute(
                select(ch.c.id, ch.c.started_at, ch.c.days).where(ch.c.user_key == user)
            ).all()
            old = [r.id for r in rows if retention.challenge_expired(r.started_at, r.days, before)]
            counts["challenges"] = (
                conn.execute(delete(ch).where(ch.c.id.in_(old))).rowcount if old else 0
            )
            conv = schema.conversations
            row = conn.execute(
                select(conv.c.version, conv.c.state, conv.c.updated_at).where(
                    conv.c.user_key == user
                )
            ).first()
            counts["conversations"] = 0
            if row is not None and row.updated_at < before:
                state = json.loads(self.cipher.decrypt(row.state))
                fresh = retention.stale_state(state)
                if fresh != state:  # a version bump: a turn running meanwhile retries on it
                    blob = self.cipher.encrypt(json.dumps(fresh, separators=(",", ":")))
                    params = {"u": user, "s": blob, "at": now, "v": row.version}
                    counts["conversations"] = conn.execute(_UPDATE_STATE, params).rowcount
            return counts

        return await self._call(purge)

    async def retention_settings(self) -> list[tuple[str, int]]:
        """Every user who chose automatic deletion, with their number of days."""
        u = schema.users
        rows = await self._call(
            lambda c: c.execute(
                select(u.c.user_key, u.c.retention_days).where(u.c.retention_days.is_not(None))
            ).all()
        )
        return [(r.user_key, int(r.retention_days)) for r in rows]


def _fields(write: Any) -> dict[str, Any]:
    return {name: getattr(write, name) for name in write.__slots__}


def _translate(exc: BaseException) -> BaseException:
    """Keep SQLAlchemy's errors out of the engine: a database that is away becomes
    StoreUnavailable; anything else is a bug and stays itself."""
    if isinstance(exc, OperationalError | InterfaceError) or (
        isinstance(exc, DBAPIError) and exc.connection_invalidated
    ):
        log.warning("database unavailable: %s", type(exc).__name__)
        return StoreUnavailable(type(exc).__name__)
    return exc
