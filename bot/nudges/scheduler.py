"""Deliver due nudges through the platform adapters, once each, never in a burst.

A pass claims due rows with a lease (so several processes take different rows), then for each
user decides: collapse several of a kind into the newest, drop what went stale in downtime,
hold back during quiet hours or the day after a crisis, keep at most one message per user per
kind per local day, and send. A row is marked sent only after the platform accepted it; a
temporary failure is retried with backoff; a user who cannot be reached gets no more nudges
until they talk to the bot again.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from bot.events import ConversationKey, Reply
from bot.nudges.timing import NudgeSettings, local_date, next_daily, out_of_quiet
from bot.ports import Clock, DeliveryFailed, DueNudge, NudgeStore, Sender, Unreachable

log = logging.getLogger("rebound.nudges")

# How old a missed nudge may be and still be worth sending after downtime.
STALE_AFTER = {
    "checkin": timedelta(hours=12),
    "walk_checkback": timedelta(hours=6),
    "journal_reread": timedelta(days=3),
    "action_due": timedelta(days=2),
}
DEFAULT_STALE = timedelta(days=2)
MAX_ATTEMPTS = 6
BACKOFF = (60, 300, 1800, 7200, 21600)  # seconds before attempts 2..6


@dataclass
class PassStats:
    claimed: int = 0
    sent: int = 0
    collapsed: int = 0
    stale: int = 0
    deferred: int = 0
    retried: int = 0
    failed: int = 0
    unreachable: int = 0
    by_kind: dict[str, int] = field(default_factory=lambda: defaultdict(int))


class RateLimiter:
    """At most `rate` sends per second per platform, spread evenly (a 09:00 burst of 10,000
    check-ins goes out steadily; the adapters still honour 429 Retry-After themselves)."""

    def __init__(self, rate: float, monotonic: Callable[[], float] = time.monotonic) -> None:
        self.interval = 1.0 / rate if rate > 0 else 0.0
        self.monotonic = monotonic
        self._next = 0.0
        self._lock = asyncio.Lock()

    async def wait(self) -> None:
        if not self.interval:
            return
        async with self._lock:
            now = self.monotonic()
            delay = self._next - now
            self._next = max(now, self._next) + self.interval
        if delay > 0:
            await asyncio.sleep(delay)


class Scheduler:
    def __init__(
        self,
        store: NudgeStore,
        render: Callable[[ConversationKey, DueNudge], Any],
        senders: Iterable[Sender],
        clock: Clock,
        *,
        batch: int = 500,
        lease_seconds: float = 300.0,
        concurrency: int = 32,
        rate_per_platform: float = 25.0,
    ) -> None:
        self.store = store
        self.render = render  # the engine's nudge(key, due) -> list[Reply]
        self.senders = {s.platform: s for s in senders}
        self.clock = clock
        self.batch = batch
        self.lease = lease_seconds
        self._sem = asyncio.Semaphore(concurrency)
        self._limits = {p: RateLimiter(rate_per_platform) for p in self.senders}

    async def run_once(self) -> PassStats:
        """One pass over everything due now (in batches). Returns what happened."""
        stats = PassStats()
        while True:
            now = self.clock.now()
            claimed = await self.store.claim_due(
                now, sorted(self.senders), limit=self.batch, lease=self.lease
            )
            if not claimed:
                return stats
            stats.claimed += len(claimed)
            by_user: dict[str, list[DueNudge]] = defaultdict(list)
            for due in claimed:
                by_user[due.user].append(due)
            delivered: list[tuple[DueNudge, str]] = []
            await asyncio.gather(
                *(self._user(rows, now, stats, delivered) for rows in by_user.values())
            )
            await self._settle_delivered(delivered, now, stats)
            if len(claimed) < self.batch:
                return stats

    async def housekeeping(self) -> int:
        """Delete what users asked to have deleted after N days (/retention). Returns rows."""
        now = self.clock.now()
        removed = 0
        for user, days in await self.store.retention_settings():
            removed += sum((await self.store.purge_older_than(user, days, now)).values())
        return removed

    async def run_forever(
        self, interval: float = 20.0, stop: asyncio.Event | None = None, *, every: float = 3600.0
    ) -> None:
        stop = stop or asyncio.Event()
        last_housekeeping = float("-inf")
        while not stop.is_set():
            try:
                if time.monotonic() - last_housekeeping >= every:
                    last_housekeeping = time.monotonic()
                    removed = await self.housekeeping()
                    if removed:
                        log.info("retention: removed old rows", extra={"rows": removed})
                stats = await self.run_once()
                if stats.claimed:
                    log.info(
                        "nudge pass: claimed=%d sent=%d collapsed=%d stale=%d deferred=%d "
                        "retried=%d failed=%d unreachable=%d",
                        stats.claimed,
                        stats.sent,
                        stats.collapsed,
                        stats.stale,
                        stats.deferred,
                        stats.retried,
                        stats.failed,
                        stats.unreachable,
                    )
            except Exception as exc:  # keep the loop alive; the next pass retries
                log.warning("nudge pass failed: %s", type(exc).__name__)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=interval)

    # -- one user's due rows ------------------------------------------------------------------

    async def _settle_delivered(
        self, delivered: list[tuple[DueNudge, str]], now: datetime, stats: PassStats
    ) -> None:
        """Mark what the platforms accepted as sent, in one round trip for the whole batch;
        one whose day's slot for its kind was taken meanwhile is counted as collapsed."""
        if not delivered:
            return
        collapsed = await self.store.settle_sent([(d.id, key) for d, key in delivered], now)
        for due, _ in delivered:
            if due.id in collapsed:
                stats.collapsed += 1
            else:
                stats.sent += 1
                stats.by_kind[due.kind] += 1

    async def _user(
        self,
        rows: list[DueNudge],
        now: datetime,
        stats: PassStats,
        delivered: list[tuple[DueNudge, str]],
    ) -> None:
        first = rows[0]
        settings = NudgeSettings.from_dict(first.settings)
        tz = first.timezone or "UTC"
        if first.unreachable_since and (
            first.last_seen is None or first.last_seen <= first.unreachable_since
        ):
            for due in rows:
                await self._hold(due, now, tz, settings, stats, until=None)
            return
        newest: dict[str, DueNudge] = {}
        for due in rows:  # several of a kind after downtime: keep the newest
            older = newest.get(due.kind)
            if older is not None:
                keep, drop = (due, older) if due.due_at >= older.due_at else (older, due)
                newest[due.kind] = keep
                await self.store.settle(drop.id, "collapsed")
                stats.collapsed += 1
            else:
                newest[due.kind] = due
        for due in newest.values():
            await self._one(due, now, tz, settings, stats, delivered)

    async def _one(
        self,
        due: DueNudge,
        now: datetime,
        tz: str,
        settings: NudgeSettings,
        stats: PassStats,
        delivered: list[tuple[DueNudge, str]],
    ) -> None:
        if due.kind == "checkin" and (not settings.enabled or not due.timezone):
            await self.store.settle(due.id, "cancelled")
            return
        window = STALE_AFTER.get(due.kind, DEFAULT_STALE)
        stale = now - due.due_at > window
        if stale and due.kind == "checkin" and next_daily(now - window, tz, settings) <= now:
            stale = False  # missed days collapse into today's check-in, which is still fresh
        if stale:
            await self.store.settle(due.id, "stale")
            stats.stale += 1
            await self._next_checkin(due, now, tz, settings)
            return
        if due.quiet_until and due.quiet_until > now:  # the day after a crisis
            await self._hold(due, now, tz, settings, stats, until=due.quiet_until)
            return
        if due.kind != "checkin":
            later = out_of_quiet(now, tz, settings)
            if later > now:
                await self.store.retry_at(due.id, later, due.attempts)
                stats.deferred += 1
                return
        key = ConversationKey.parse(due.user)
        sender = self.senders[key.platform]
        day_key = f"{due.user}|{due.kind}|{local_date(now, tz).isoformat()}"
        replies: list[Reply] = await self.render(key, due)
        try:
            async with self._sem:
                await self._limits[key.platform].wait()
                await sender.send(key, replies)
        except Unreachable:
            log.info("nudges stopped for %s: the platform cannot reach them", due.user)
            await self.store.mark_unreachable(due.user, now)
            await self.store.settle(due.id, "blocked")
            stats.unreachable += 1
            await self._next_checkin(due, now, tz, settings)
            return
        except (DeliveryFailed, TimeoutError, OSError) as exc:
            attempts = due.attempts + 1
            if attempts >= MAX_ATTEMPTS:
                log.warning(
                    "nudge %s failed %d times (%s); giving up", due.id, attempts, type(exc).__name__
                )
                await self.store.settle(due.id, "failed", attempts=attempts)
                stats.failed += 1
                await self._next_checkin(due, now, tz, settings)
                return
            delay = BACKOFF[min(attempts - 1, len(BACKOFF) - 1)]
            await self.store.retry_at(due.id, now + timedelta(seconds=delay), attempts)
            stats.retried += 1
            return
        delivered.append((due, day_key))  # marked sent with the rest of the batch
        await self._next_checkin(due, now, tz, settings)

    async def _hold(
        self,
        due: DueNudge,
        now: datetime,
        tz: str,
        settings: NudgeSettings,
        stats: PassStats,
        until: datetime | None,
    ) -> None:
        """Not now. A check-in moves to the next allowed day (after a crisis it comes back as a
        gentle check-in); other kinds wait for `until`, or are dropped if there is none."""
        stats.deferred += 1
        if due.kind == "checkin":
            when = next_daily(until or now, tz, settings)
            payload = {**due.payload, "gentle": True} if until else due.payload
            await self.store.settle(due.id, "deferred")
            await self.store.add_timer(due.user, "checkin", when, payload)
        elif until is not None:
            await self.store.retry_at(due.id, until, due.attempts)
        else:
            await self.store.settle(due.id, "blocked")

    async def _next_checkin(
        self, due: DueNudge, now: datetime, tz: str, settings: NudgeSettings
    ) -> None:
        if due.kind == "checkin" and settings.enabled and due.timezone:
            await self.store.add_timer(due.user, "checkin", next_daily(now, tz, settings), {})
