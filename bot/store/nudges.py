"""The scheduler's queries: claim due timers with a lease, settle them. Mixed into SqlStore.

On PostgreSQL the claim locks rows with SKIP LOCKED, so several processes take different rows;
on SQLite one scheduler runs (its single writer serialises claims anyway).
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, and_, bindparam, or_, select, update
from sqlalchemy.exc import IntegrityError

from bot.ports import DueNudge
from bot.store import schema

t, u, c = schema.timers, schema.users, schema.conversations
other = t.alias("other")


class NudgeQueries:
    """Methods for bot.ports.NudgeStore, run on the store's database thread."""

    _call: Callable[[Callable[[Connection], Any]], Awaitable[Any]]  # SqlStore's database thread

    async def claim_due(
        self, now: datetime, platforms: list[str], *, limit: int, lease: float
    ) -> list[DueNudge]:
        if not platforms:
            return []
        until = now + timedelta(seconds=lease)

        def claim(conn: Connection) -> list[DueNudge]:
            ready = or_(
                t.c.status == "pending",
                and_(t.c.status == "claimed", t.c.lease_until < now),
            )
            mine = or_(*(t.c.user_key.startswith(f"{p}:") for p in platforms))
            pick = select(t.c.id).where(ready, t.c.due_at <= now, mine).order_by(t.c.due_at)
            pick = pick.limit(limit)
            if conn.dialect.name == "postgresql":
                pick = pick.with_for_update(skip_locked=True)
            ids = list(conn.execute(pick).scalars())
            if not ids:
                return []
            conn.execute(
                update(t).where(t.c.id.in_(ids)).values(status="claimed", lease_until=until)
            )
            rows = conn.execute(
                select(
                    t.c.id,
                    t.c.user_key,
                    t.c.kind,
                    t.c.due_at,
                    t.c.payload,
                    t.c.attempts,
                    u.c.timezone,
                    u.c.nudges,
                    u.c.quiet_until,
                    u.c.unreachable_since,
                    c.c.updated_at,
                )
                .select_from(
                    t.outerjoin(u, u.c.user_key == t.c.user_key).outerjoin(
                        c, c.c.user_key == t.c.user_key
                    )
                )
                .where(t.c.id.in_(ids))
                .order_by(t.c.due_at)
            ).all()
            return [DueNudge(*row) for row in rows]

        return await self._call(claim)

    async def settle(self, timer_id: str, status: str, **values: Any) -> None:
        stmt = update(t).where(t.c.id == timer_id)
        await self._call(
            lambda conn: conn.execute(stmt.values(status=status, lease_until=None, **values))
        )

    async def settle_sent(self, sent: list[tuple[str, str]], now: datetime) -> set[str]:
        """Mark delivered timers sent, taking each one's day slot (`day_key`), in one
        executemany; those whose slot was already taken are collapsed. Returns their ids."""
        taken = select(other.c.id).where(other.c.day_key == bindparam("b_key")).exists()
        stmt = (
            update(t)
            .where(t.c.id == bindparam("b_id"), ~taken)
            .values(status="sent", lease_until=None, sent_at=now, day_key=bindparam("b_key"))
        )
        ids = [timer_id for timer_id, _ in sent]

        def write(conn: Connection) -> set[str]:
            rows = [{"b_id": timer_id, "b_key": key} for timer_id, key in sent]
            nested = conn.dialect.name == "postgresql"
            try:
                with conn.begin_nested() if nested else contextlib.nullcontext():
                    conn.execute(stmt, rows)
            except IntegrityError:  # a racing process took a slot: one at a time
                for row in rows:
                    with (
                        contextlib.suppress(IntegrityError),
                        conn.begin_nested() if nested else contextlib.nullcontext(),
                    ):
                        conn.execute(stmt, row)
            left = set(
                conn.execute(
                    select(t.c.id).where(t.c.id.in_(ids), t.c.status == "claimed")
                ).scalars()
            )
            if left:
                conn.execute(
                    update(t).where(t.c.id.in_(left)).values(status="collapsed", lease_until=None)
                )
            return left

        return await self._call(write)

    async def retry_at(self, timer_id: str, due_at: datetime, attempts: int) -> None:
        await self._call(
            lambda conn: conn.execute(
                update(t)
                .where(t.c.id == timer_id)
                .values(status="pending", due_at=due_at, attempts=attempts, lease_until=None)
            )
        )

    async def add_timer(
        self, user: str, kind: str, due_at: datetime, payload: dict[str, Any]
    ) -> None:
        row = {
            "id": uuid.uuid4().hex,
            "user_key": user,
            "kind": kind,
            "due_at": due_at,
            "payload": payload,
            "status": "pending",
        }
        await self._call(lambda conn: conn.execute(t.insert(), row))

    async def mark_unreachable(self, user: str, now: datetime) -> None:
        await self._call(
            lambda conn: conn.execute(
                update(u).where(u.c.user_key == user).values(unreachable_since=now)
            )
        )
