"""Engine turns per second on PostgreSQL with 1, 2 and 4 bot processes sharing one database.

Each process runs its own engine and store (its own writer thread and connection) and drives
its own share of the simulated users through the whole journey (bench/engine_bench.py's
JOURNEY), closed loop; every turn is committed before its reply. Prints each configuration's
aggregate turns/s (median of --runs).

    .venv/bin/python bench/scale_bench.py --url postgresql+psycopg://postgres@127.0.0.1/test
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing as mp
import os
import statistics
import sys
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from engine_bench import JOURNEY, check, event

from bot.engine import Engine
from bot.events import ConversationKey
from bot.flows import load_catalog
from bot.safety import screen
from bot.store import SqlStore, make_engine, migrate
from bot.store.crypto import Cipher

KEY = Cipher.generate()


async def drive(url: str, users: int, tag: str, start_at: float) -> int:
    store = SqlStore(make_engine(url), Cipher(KEY))
    engine = Engine(load_catalog(), store, screen=screen)

    async def walk(n: int) -> None:
        who = ConversationKey("scale", f"{tag}-{n}")
        last: list = []
        for i, (kind, value) in enumerate(JOURNEY):
            last = await engine.handle(event(who, kind, value, last))
            check(last, f"step {i}")

    await asyncio.sleep(max(0.0, start_at - time.time()))  # start every process together
    await asyncio.gather(*(walk(n) for n in range(users)))
    await store.close()
    return users * len(JOURNEY)


def worker(url: str, users: int, tag: str, start_at: float, out: mp.Queue) -> None:
    out.put(asyncio.run(drive(url, users, tag, start_at)))


def run(url: str, processes: int, users: int) -> float:
    out: mp.Queue = mp.Queue()
    start_at = time.time() + 3.0  # time for every process to import and connect
    tag = uuid.uuid4().hex[:8]
    procs = [
        mp.Process(target=worker, args=(url, users // processes, f"{tag}p{p}", start_at, out))
        for p in range(processes)
    ]
    for p in procs:
        p.start()
    turns = sum(out.get() for _ in procs)
    elapsed = time.time() - start_at
    for p in procs:
        p.join()
    return turns / elapsed


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--url", default=os.environ.get("REBOUND_TEST_POSTGRES_URL"))
    ap.add_argument("--users", type=int, default=400)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--processes", type=int, nargs="+", default=[1, 2, 4])
    args = ap.parse_args()
    if not args.url:
        raise SystemExit("give --url (a PostgreSQL URL) or set REBOUND_TEST_POSTGRES_URL")
    migrate.upgrade(make_engine(args.url))
    print(f"{args.users} users, {len(JOURNEY)} turns each, on {os.cpu_count()} cores")
    for n in args.processes:
        rates = [run(args.url, n, args.users) for _ in range(args.runs)]
        print(
            f"{n} process(es): median {statistics.median(rates):,.0f} turns/s "
            f"(runs: {', '.join(f'{r:,.0f}' for r in rates)})"
        )


if __name__ == "__main__":
    main()
