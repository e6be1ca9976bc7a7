"""Crash soak: drive simulated users through `rebound chat --json`, SIGKILL the process at random
moments, restart it, and check that nothing answered was lost and no conversation is stuck.

Each turn carries an event id, so a turn re-sent after a crash is applied once. At the end every
user's export is compared with what the driver sent. Prints: turns sent, answered, lost (must
be 0), re-sent after a kill, kills, stuck conversations (must be 0).

    .venv/bin/python bench/soak.py --users 2000 --kills 20
    .venv/bin/python bench/soak.py --users 2000 --kills 20 --url postgresql+psycopg://postgres@127.0.0.1/test
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


# A journey scripted with stable choice ids only (no reply is needed to know what comes next).
def journey(user: str) -> list[dict]:
    return [
        {"text": f"the {user} application was turned down after two interviews"},
        {"choice": "arrive.kind:job"},
        {"choice": "arrive.sting:6"},
        {"choice": ["feel.name:sad", "feel.name:frustrated"]},
        {"choice": "feel.intensity:6"},
        {"choice": "feel.strategy:journal"},
        {"text": f"journal of {user}: I keep thinking about the second interview"},
        {"choice": "feel.after:now"},
        {"text": f"facts of {user}: they chose someone with more experience"},
        {"choice": ["reflect.possible:qualified"]},
        {"text": f"note of {user}: nerves"},
    ]


FINAL_STEP = "reflect.feedback"


class Bot:
    def __init__(self, env: dict[str, str]) -> None:
        self.env = env
        self.proc: subprocess.Popen[str] | None = None
        self.errors = open(os.environ.get("SOAK_STDERR", os.devnull), "a")  # noqa: SIM115 - kept open for every restart

    def start(self) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "bot.cli", "chat", "--json"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self.errors,
            text=True,
            env=self.env,
            cwd=ROOT,
            bufsize=1,
        )

    def ask(self, line: dict) -> dict | None:
        """One line in, its one line out; None if the process died first."""
        assert self.proc and self.proc.stdin and self.proc.stdout
        try:
            self.proc.stdin.write(json.dumps(line) + "\n")
            self.proc.stdin.flush()
        except BrokenPipeError:
            return None
        out = self.proc.stdout.readline()
        return json.loads(out) if out else None

    def kill(self) -> None:
        assert self.proc
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()
        self._close_pipes()

    def _close_pipes(self) -> None:
        assert self.proc
        for pipe in (self.proc.stdin, self.proc.stdout):
            if pipe is not None:
                with contextlib.suppress(BrokenPipeError):
                    pipe.close()

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            assert self.proc.stdin
            self.proc.stdin.close()
            self.proc.wait(timeout=30)
        if self.proc:
            self._close_pipes()
        self.errors.close()


def soak(
    users: int, kills: int, url: str | None, seed: int, key: str | None = None
) -> dict[str, int]:
    rng = random.Random(seed)
    with tempfile.TemporaryDirectory() as tmp:
        env = {
            **os.environ,
            "DATABASE_URL": url or f"sqlite:///{tmp}/soak.db",
            "REBOUND_FILES_DIR": f"{tmp}/files",
            "LOG_LEVEL": "ERROR",
        }
        if key:
            env["REBOUND_ENCRYPTION_KEY"] = key
        elif url and not env.get("REBOUND_ENCRYPTION_KEY"):
            raise SystemExit("a shared database needs its REBOUND_ENCRYPTION_KEY (or --key)")
        names = [f"soak{seed}user{n}" for n in range(users)]
        scripts = {u: journey(u) for u in names}
        # Interleave users: everyone's turn 1, then everyone's turn 2, ...
        queue = [(u, i) for i in range(len(journey("x"))) for u in names]
        total = len(queue)
        kill_at = sorted(rng.sample(range(1, total), min(kills, total - 1)))
        bot = Bot(env)
        bot.start()
        sent = answered = resent = killed = 0
        answered_turns: set[tuple[str, int]] = set()
        k = failures = 0
        started = time.perf_counter()
        while k < total:
            user, i = queue[k]
            line = {"user": user, "event_id": f"{user}/{i}", **scripts[user][i]}
            if kill_at and k == kill_at[0]:
                kill_at.pop(0)
                # Kill at a random moment: before sending, or while the line is being handled.
                if rng.random() < 0.5:
                    assert bot.proc and bot.proc.stdin
                    bot.proc.stdin.write(json.dumps(line) + "\n")
                    bot.proc.stdin.flush()
                    time.sleep(rng.random() / 200)
                bot.kill()
                killed += 1
                bot.start()
                resent += 1
            sent += 1
            reply = bot.ask(line)
            if reply is None:
                failures += 1
                if failures > 3:
                    raise RuntimeError(
                        "rebound chat --json keeps exiting without an answer "
                        f"(exit code {bot.proc.returncode if bot.proc else None}); "
                        "run it by hand with the same DATABASE_URL to see why"
                    )
                bot.kill()
                bot.start()
                resent += 1
                continue  # ask again: same event id
            failures = 0
            if "replies" in reply:
                answered += 1
                answered_turns.add((user, i))
            k += 1
        bot.stop()
        elapsed = time.perf_counter() - started
        lost, stuck = check(env, names)
    return {
        "turns": total,
        "sent": sent,
        "answered": answered,
        "lost": lost,
        "stuck": stuck,
        "resent_after_kill": resent,
        "kills": killed,
        "seconds": round(elapsed, 1),
    }


def mismatches(user: str, data: dict) -> list[str]:
    """What the export should hold after the journey, each exactly once (a turn applied twice
    would show up as a second row)."""
    notes = {}
    for note in data["notes"]:
        notes.setdefault(note["kind"], []).append(note["text"])
    feelings = [(f["phase"], f["intensity"]) for f in data["feelings"]]
    expected = {
        "episode": [e["summary"] for e in data["episodes"]]
        == [f"the {user} application was turned down after two interviews"],
        "journal": [e["text"] for e in data["journal_entries"]]
        == [f"journal of {user}: I keep thinking about the second interview"],
        "facts": notes.get("facts")
        == [f"facts of {user}: they chose someone with more experience"],
        "note": notes.get("possibilities_note") == [f"note of {user}: nerves"],
        "feelings": sorted(feelings) == [("start", 6), ("sting", 6)],
    }
    return [name for name, ok in expected.items() if not ok]


def check(env: dict[str, str], names: list[str]) -> tuple[int, int]:
    """Every user's stored answers and rows against what the driver sent."""
    from bot.app import open_store
    from bot.config import load_settings

    async def run() -> tuple[int, int]:
        overrides = {"DATABASE_URL": env["DATABASE_URL"]}
        if env.get("REBOUND_ENCRYPTION_KEY"):
            overrides["REBOUND_ENCRYPTION_KEY"] = env["REBOUND_ENCRYPTION_KEY"]
        store = open_store(load_settings(**overrides))
        lost = stuck = 0
        try:
            for user in names:
                data = await store.export(f"terminal::{user}")
                lost += len(mismatches(user, data))
                if data["conversation"]["step"] != FINAL_STEP:
                    stuck += 1
        finally:
            await store.close()
        return lost, stuck

    return asyncio.run(run())


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--users", type=int, default=2000)
    ap.add_argument("--kills", type=int, default=20)
    ap.add_argument("--url", default=None)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--key", default=None, help="REBOUND_ENCRYPTION_KEY of the --url database")
    args = ap.parse_args()
    result = soak(args.users, args.kills, args.url, args.seed, args.key)
    print(" ".join(f"{k}={v}" for k, v in result.items()))
    sys.exit(0 if result["lost"] == 0 and result["stuck"] == 0 else 1)


if __name__ == "__main__":
    main()
