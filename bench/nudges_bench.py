"""How fast the scheduler claims due nudges and hands them to a platform.

Fills a database with N due walk check-backs for N users (one each, so none collapse), then runs
one scheduler pass with a fake platform that accepts instantly and no rate limit, and prints the
time to claim, render, send and settle them all. Target: 100,000 in under 60 s.

    .venv/bin/python bench/nudges_bench.py --users 100000
    .venv/bin/python bench/nudges_bench.py --users 100000 --url postgresql+psycopg://postgres@127.0.0.1/test
"""

from __future__ import annotations

import argparse
import asyncio
import resource
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import delete, insert

from bot.engine import Engine
from bot.flows import load_catalog
from bot.nudges.scheduler import Scheduler
from bot.store import SqlStore, make_engine, migrate
from bot.store.crypto import Cipher
from bot.store.schema import timers, users
from bot.testing import FakeClock, FakeSender

NOW = datetime(2026, 6, 1, 13, 0, tzinfo=UTC)


def fill(url: str, n: int) -> None:
    engine = make_engine(url)
    migrate.upgrade(engine)
    with engine.begin() as conn:
        conn.execute(delete(timers).where(timers.c.user_key.startswith("bench:")))
        conn.execute(delete(users).where(users.c.user_key.startswith("bench:")))
        for start in range(0, n, 10_000):
            rows = range(start, min(n, start + 10_000))
            conn.execute(
                insert(users),
                [
                    {
                        "user_key": f"bench::u{i}",
                        "created_at": NOW,
                        "profile": {},
                        "timezone": "UTC",
                    }
                    for i in rows
                ],
            )
            conn.execute(
                insert(timers),
                [
                    {
                        "id": uuid.uuid4().hex,
                        "user_key": f"bench::u{i}",
                        "kind": "walk_checkback",
                        "due_at": NOW,
                        "payload": {},
                        "status": "pending",
                        "attempts": 0,
                    }
                    for i in rows
                ],
            )
    engine.dispose()


async def run(url: str, n: int, batch: int) -> None:
    t0 = time.perf_counter()
    fill(url, n)
    print(f"filled {n:,} due nudges in {time.perf_counter() - t0:.1f} s")
    store = SqlStore(make_engine(url), Cipher(Cipher.generate()))
    clock = FakeClock(NOW)
    engine = Engine(load_catalog(), store, clock=clock)
    sender = FakeSender(platform="bench")
    scheduler = Scheduler(store, engine.nudge, [sender], clock, batch=batch, rate_per_platform=0)
    t0 = time.perf_counter()
    stats = await scheduler.run_once()
    elapsed = time.perf_counter() - t0
    await store.close()
    assert stats.sent == n == len(sender.sent), (stats, len(sender.sent))
    print(
        f"scheduler: {stats.sent:,} nudges claimed, rendered, sent and settled in "
        f"{elapsed:.1f} s ({stats.sent / elapsed:,.0f}/s), batch {batch}"
    )
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak memory {peak:.0f} MiB; python {sys.version.split()[0]}")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--users", type=int, default=100_000)
    ap.add_argument("--batch", type=int, default=1000)
    ap.add_argument("--url", default=None, help="a database URL (default: a new SQLite file)")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        url = args.url or f"sqlite:///{Path(tmp) / 'nudges.db'}"
        asyncio.run(run(url, args.users, args.batch))


if __name__ == "__main__":
    main()
