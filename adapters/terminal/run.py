"""Glue: read lines, hand events to the engine, print replies. No dialog logic lives here."""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path
from typing import IO, Any

from adapters.terminal.mapping import (
    PLATFORM,
    BadLine,
    Screen,
    json_to_event,
    line_to_event,
    render,
    reply_to_json,
)
from bot.events import Breathing, ConversationKey, Incoming, Reply


def save_file(reply: Reply, files_dir: Path, user: str) -> Path | None:
    if reply.file is None:
        return None
    safe_user = "".join(ch if ch.isalnum() or ch in "-_" else "_" for ch in user)[:64]
    folder = files_dir / safe_user
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / reply.file.name
    path.write_bytes(reply.file.data)
    return path


async def _read_line(stream: IO[str]) -> str | None:
    line = await asyncio.to_thread(stream.readline)
    return line if line else None


async def run_json(
    engine: Any, files_dir: Path, stdin: IO[str] = sys.stdin, stdout: IO[str] = sys.stdout
) -> None:
    """One JSON object per input line, exactly one JSON line out for each, in order."""
    while (line := await _read_line(stdin)) is not None:
        if not line.strip():
            continue
        try:
            event = json_to_event(line)
        except BadLine as exc:
            out: dict[str, Any] = {"error": str(exc)}
        else:
            replies = await engine.handle(event)
            out = {
                "replies": [
                    reply_to_json(r, save_file(r, files_dir, event.key.user)) for r in replies
                ]
            }
        stdout.write(json.dumps(out) + "\n")  # ASCII: no line separator can split a line
        stdout.flush()


async def _breathe(b: Breathing, out: IO[str]) -> None:
    for n in range(1, b.count + 1):
        out.write(f"\r  Breath {n} of {b.count}: in...             ")
        out.flush()
        await asyncio.sleep(b.inhale_seconds)
        out.write(f"\r  Breath {n} of {b.count}: and slowly out... ")
        out.flush()
        await asyncio.sleep(b.exhale_seconds)
    out.write("\r  Ten breaths. Well done.                   \n")


LEAVE = {"/quit", "/exit"}  # a terminal session's end, not a command the engine knows


async def run_interactive(
    engine: Any,
    files_dir: Path,
    user: str = "you",
    stdin: IO[str] = sys.stdin,
    stdout: IO[str] = sys.stdout,
) -> None:
    key = ConversationKey(PLATFORM, user)
    screen = Screen()
    stdout.write(
        "Rebound (type /help for commands, /quit or Ctrl-D to leave; your place is kept)\n\n"
    )
    first = await engine.handle(Incoming.command(key, "start"))
    await _show(first, screen, files_dir, user, stdout)
    while True:
        stdout.write("\nyou> ")
        stdout.flush()
        line = await _read_line(stdin)
        if line is None or line.strip().lower() in LEAVE:
            stdout.write("\nTake care. Type `rebound chat` any time to pick up where you left.\n")
            return
        replies = await engine.handle(line_to_event(line.rstrip("\n"), key, screen))
        await _show(replies, screen, files_dir, user, stdout)


async def _show(
    replies: list[Reply], screen: Screen, files_dir: Path, user: str, out: IO[str]
) -> None:
    for reply in replies:
        out.write("\n" + render(reply, save_file(reply, files_dir, user)) + "\n")
        if reply.breathing:
            try:
                await _breathe(reply.breathing, out)
            except asyncio.CancelledError:  # pragma: no cover - Ctrl-C during the exercise
                raise
    screen.update(replies)
