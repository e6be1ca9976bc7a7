"""Pure translation between terminal lines / JSON lines and engine events and replies."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bot.events import ConversationKey, Incoming, Kind, Reply

PLATFORM = "terminal"
_NUMBERS = re.compile(r"^\s*\d{1,2}(\s*[, ]\s*\d{1,2})*\s*$")


class BadLine(ValueError):
    """A --json input line that is not a valid event; the message says what was expected."""


@dataclass
class Screen:
    """What the terminal user is looking at: the last reply's choices and form, so that "2"
    means the second option and an empty line keeps a drafted text."""

    choices: list[tuple[str, str]] = field(default_factory=list)
    multi: bool = False
    form_initial: str | None = None

    def update(self, replies: list[Reply]) -> None:
        for reply in replies:
            if reply.choices or reply.form:
                self.choices = [(c.id, c.label) for c in reply.choices]
                self.multi = reply.multi
                self.form_initial = reply.form.initial if reply.form else None


def line_to_event(line: str, key: ConversationKey, screen: Screen) -> Incoming:
    stripped = line.strip()
    if stripped.startswith("/") and len(stripped) > 1 and " " not in stripped:
        return Incoming.command(key, stripped[1:])
    if screen.choices and _NUMBERS.match(stripped):
        picks = [int(n) for n in re.findall(r"\d+", stripped)]
        if all(1 <= n <= len(screen.choices) for n in picks):
            ids = [screen.choices[n - 1][0] for n in picks]
            if screen.multi or len(ids) == 1:
                return Incoming.choose(key, *ids)
    if not stripped and screen.form_initial:
        return Incoming.say(key, screen.form_initial)
    return Incoming.say(key, line)


def render(reply: Reply, file_path: Path | None = None) -> str:
    """A reply as plain terminal text: markup kept light, options numbered."""
    parts = []
    if reply.text:
        parts.append(reply.text.replace("*", ""))
    if reply.form:
        if reply.form.initial:
            parts.append(_indent(reply.form.initial))
            parts.append("(Type your own version, or press Enter to keep this one.)")
        else:
            parts.append(f"({reply.form.label})")
    if reply.choices:
        width = len(str(len(reply.choices)))
        lines = [f"  {i:>{width}}. {c.label}" for i, c in enumerate(reply.choices, 1)]
        parts.append("\n".join(lines))
        if reply.multi:
            parts.append("(Pick one or more: numbers separated by commas, e.g. 1,3)")
    if file_path is not None:
        parts.append(f"Saved to {file_path}")
    return "\n".join(parts)


def _indent(text: str) -> str:
    return "\n".join("    " + line for line in text.splitlines())


def json_to_event(raw: str) -> Incoming:
    try:
        obj = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise BadLine(f"not valid JSON ({exc.msg} at column {exc.colno})") from None
    except (ValueError, RecursionError):  # absurd nesting or number sizes
        raise BadLine("not a JSON line Rebound can read") from None
    if not isinstance(obj, dict) or "user" not in obj:
        raise BadLine('expected an object with "user" and one of "text", "choice", "command"')
    key = ConversationKey(PLATFORM, str(obj["user"]))
    event_id = str(obj["event_id"]) if obj.get("event_id") is not None else None
    if "command" in obj:
        return Incoming(key, Kind.COMMAND, text=str(obj["command"]).lstrip("/"), event_id=event_id)
    if "choice" in obj:
        choice = obj["choice"]
        ids = tuple(str(c) for c in choice) if isinstance(choice, list) else (str(choice),)
        return Incoming(key, Kind.CHOICE, choices=ids, event_id=event_id)
    if "text" in obj:
        if not isinstance(obj["text"], str):
            raise BadLine('"text" must be a string')
        return Incoming(key, Kind.TEXT, text=obj["text"], event_id=event_id)
    raise BadLine('expected one of "text", "choice", "command"')


def reply_to_json(reply: Reply, file_path: Path | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {"text": reply.text}
    if reply.choices:
        out["choices"] = [{"id": c.id, "label": c.label} for c in reply.choices]
    if reply.multi:
        out["multi"] = True
    if reply.form:
        out["form"] = {
            "title": reply.form.title,
            "label": reply.form.label,
            "initial": reply.form.initial,
        }
    if reply.breathing:
        b = reply.breathing
        out["breathing"] = {
            "count": b.count,
            "inhale": b.inhale_seconds,
            "exhale": b.exhale_seconds,
        }
    if file_path is not None:
        out["file"] = {"path": str(file_path), "name": reply.file.name if reply.file else ""}
        if reply.file and reply.file.is_image:
            out["file"]["alt"] = reply.file.alt
    if reply.safety:
        out["safety"] = reply.safety
    if reply.private:
        out["private"] = True
    return out
