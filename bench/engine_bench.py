"""Drive simulated users through the whole journey through the engine and the SQLite store.

Every turn is committed before its reply is returned. Prints:
- throughput, closed loop: N users each sending the next message as soon as the reply arrives;
- latency, open loop: messages arriving at a fixed offered rate spread over the users, measured
  from arrival to reply (a closed loop's latency would only measure its own queue);
- peak memory (max RSS) of the process.

    .venv/bin/python bench/engine_bench.py --users 1000 --runs 3
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import os
import platform
import resource
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from bot.app import load_screen
from bot.config import load_settings
from bot.engine import Engine
from bot.events import ConversationKey, Incoming
from bot.flows import DEFAULT_DIR, load_catalog
from bot.store import SqlStore, make_engine, migrate
from bot.store.crypto import Cipher

# One rejection, start to finish, as a user would go: arrive, feel (journal), reflect with both
# drafts, plan with two action items and credit, a challenge day with a logged ask, a practice
# scenario. ("tap", label) presses the button with that label on the last message.
JOURNEY: list[tuple[str, object]] = [
    ("say", "I did not get the job after the final interview at a logistics company"),
    ("tap", "A job application"),
    ("tap", "7"),  # how much it stings (0-10)
    ("choose", ("feel.name:disappointed", "feel.name:sad")),
    ("tap", "7"),
    ("tap", "Write it down"),
    ("say", "I really thought the last round went well. I keep replaying the answers I gave."),
    ("tap", "Reflect now"),
    ("say", "They emailed after the second interview to say they chose someone else."),
    ("choose", ("reflect.possible:qualified", "reflect.possible:interview")),
    ("say", "I was nervous on the technical questions."),
    ("tap", "Help me write it"),
    ("say", "the hiring manager"),
    ("say", "the analyst role"),
    ("tap", "One or more interviews"),
    ("draft", "\nThanks again"),
    ("tap", "Carry on"),
    ("tap", "Taking a course or training"),
    ("say", "a SQL course I can finish by April"),
    ("draft", ""),
    ("tap", "Make a plan"),
    ("say", "Finish an Angular course"),
    ("say", "15 March"),
    ("tap", "Add another"),
    ("say", "Do two practice interviews with a friend"),
    ("tap", "Skip"),
    ("tap", "That's enough for now"),
    ("say", "Junior analyst roles at another company"),
    ("tap", "Try the rejection challenge"),
]


def event(user: ConversationKey, kind: str, value: object, last: list) -> Incoming:
    if kind == "say":
        return Incoming.say(user, str(value))
    if kind == "draft":  # accept the drafted text, with an addition
        initial = next(r.form.initial for r in last if r.form)
        return Incoming.say(user, initial + str(value))
    if kind == "tap":
        for reply in reversed(last):
            for choice in reply.choices:
                if choice.label == value:
                    return Incoming.choose(user, choice.id)
        raise SystemExit(f"no button {value!r}: the journey script is out of date")
    if kind == "command":
        return Incoming.command(user, str(value))
    return Incoming.choose(user, *value)  # type: ignore[misc]


@functools.cache
def app_screen() -> Callable[[str], object]:
    """The screen the app runs, loaded once per process as the app does: with the contextual
    reader unless REBOUND_SAFETY_CONTEXTUAL=false."""
    return load_screen(load_settings())


async def make(db: Path, synchronous: str) -> tuple[Engine, SqlStore]:
    engine = make_engine(f"sqlite:///{db}", synchronous=synchronous)
    migrate.upgrade(engine)
    store = SqlStore(engine, Cipher(Cipher.generate()))
    catalog = load_catalog(os.environ.get("REBOUND_DIALOGS_DIR") or DEFAULT_DIR)
    return Engine(catalog, store, screen=app_screen()), store


def check(replies: list, where: str) -> None:
    if not replies:
        raise SystemExit(f"no reply at {where}: the journey script is out of date")
    text = " ".join(r.text for r in replies)
    for marker in ("button is from an earlier message", "couldn't save", "Tap one of the options"):
        if marker in text:
            raise SystemExit(f"unexpected reply at {where}: the journey script is out of date")


async def closed_loop(users: int, synchronous: str) -> tuple[float, int, list[float]]:
    with tempfile.TemporaryDirectory() as tmp:
        engine, store = await make(Path(tmp) / "bench.db", synchronous)
        latencies: list[float] = []

        async def walk(n: int) -> None:
            who = ConversationKey("bench", f"user{n}")
            last: list = []
            for i, (kind, value) in enumerate(JOURNEY):
                t0 = time.perf_counter()
                last = await engine.handle(event(who, kind, value, last))
                latencies.append(time.perf_counter() - t0)
                check(last, f"step {i}")

        start = time.perf_counter()
        await asyncio.gather(*(walk(n) for n in range(users)))
        elapsed = time.perf_counter() - start
        await store.close()
    turns = users * len(JOURNEY)
    return turns / elapsed, turns, latencies


async def open_loop(users: int, rate: float, synchronous: str, *, mixed: bool) -> list[float]:
    """Turns arrive at `rate` per second, round-robin over the users, each user's next message
    arriving only after their previous one was answered plus the arrival gap.

    In lockstep (``mixed=False``) every user takes step k before anyone takes step k + 1, so for
    users / rate seconds every arrival is the same step: the steps that cost the most (accepting
    a drafted message, which is screened whole) come in a block, the worst case. Mixed, user n
    starts n % (journey length) rounds late, so every round holds every step, as real traffic
    does; each user's messages still come in journey order."""
    with tempfile.TemporaryDirectory() as tmp:
        engine, store = await make(Path(tmp) / "bench.db", synchronous)
        latencies: list[float] = []
        loop = asyncio.get_running_loop()
        total = users * len(JOURNEY)
        start = loop.time() + 0.05
        done = asyncio.Event()
        remaining = total

        lasts: dict[ConversationKey, list] = {}
        previous: dict[ConversationKey, asyncio.Future] = {}

        async def one(arrival: float, who: ConversationKey, i: int) -> None:
            nonlocal remaining
            kind, value = JOURNEY[i]
            before = previous.get(who)
            mine = previous[who] = loop.create_future()
            if before is not None:  # a user reads the last reply before tapping (overload)
                await before
            replies = await engine.handle(event(who, kind, value, lasts.get(who, [])))
            lasts[who] = replies
            mine.set_result(None)
            latencies.append(loop.time() - arrival)
            check(replies, f"step {i}")
            remaining -= 1
            if remaining == 0:
                done.set()

        # Lockstep: message k goes to user k % users, step k // users. Mixed: user n's step s
        # goes in round s + n % len(JOURNEY); within a round, by user.
        order = sorted(
            (s + (n % len(JOURNEY) if mixed else 0), n, s)
            for n in range(users)
            for s in range(len(JOURNEY))
        )
        for k, (_, n, step) in enumerate(order):
            arrival = start + k / rate
            who = ConversationKey("bench", f"user{n}")
            loop.call_at(arrival, lambda a=arrival, w=who, s=step: loop.create_task(one(a, w, s)))
        await done.wait()
        await store.close()
    return latencies


def _spawn(loop: asyncio.AbstractEventLoop, coro: object) -> None:
    loop.create_task(coro)  # type: ignore[arg-type]


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000


async def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--users", type=int, default=1000)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--rate", type=float, nargs="+", default=[500.0, 2000.0])
    ap.add_argument("--synchronous", default="NORMAL")
    args = ap.parse_args()
    print(
        f"python {sys.version.split()[0]} on {platform.machine()} {platform.system()}, "
        f"{len(JOURNEY)} turns per journey, SQLite synchronous={args.synchronous}"
    )
    rates = []
    for run in range(args.runs):
        tps, turns, lat = await closed_loop(args.users, args.synchronous)
        rates.append(tps)
        print(
            f"closed loop run {run + 1}: {args.users} users, {turns} turns, {tps:,.0f} turns/s "
            f"(queue time p50 {pct(lat, 0.5):.1f} ms: not a latency figure)"
        )
    print(f"THROUGHPUT median {statistics.median(rates):,.0f} turns/s over {args.runs} runs")
    for rate in args.rate:
        for mixed in (True, False):
            p50s, p99s = [], []
            for _ in range(args.runs):
                lat = await open_loop(args.users, rate, args.synchronous, mixed=mixed)
                p50s.append(pct(lat, 0.50))
                p99s.append(pct(lat, 0.99))
            print(
                f"LATENCY open loop {rate:,.0f} turns/s offered over {args.users} users, "
                f"{'steps mixed' if mixed else 'lockstep'}: p50 {statistics.median(p50s):.2f} ms, "
                f"p99 {statistics.median(p99s):.2f} ms (median of {args.runs} runs; "
                f"each run {', '.join(f'{p:.1f}' for p in p99s)} ms)"
            )
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"PEAK MEMORY {peak:.0f} MiB (max RSS of the whole process)")


if __name__ == "__main__":
    asyncio.run(main())
