"""A user's data, as the two files /export hands out and `rebound export USER` writes: JSON for
machines, Markdown for people. Pure functions over what `Store.export` returns.

Every value the store exported appears in both files. A table this module has no special layout
for is still written out in full (as a plain list), so a new table never drops out of an export.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Mapping
from datetime import datetime
from pathlib import Path
from typing import Any

from bot.progress import brs_band, brs_score, parse_answers

JSON_MIME = "application/json"
MARKDOWN_MIME = "text/markdown"

# Keys of Store.export that are not tables.
_META = ("user", "exported_at", "profile", "conversation")
# Tables with their own section, in reading order, with the section's title.
_SECTIONS = {
    "episodes": "Rejections you talked through",
    "feelings": "Feelings and how strong they were",
    "journal_entries": "Journal",
    "notes": "Notes and drafts",
    "action_items": "Action items",
    "challenges": "Rejection challenges",
    "challenge_asks": "Challenge asks",
    "checkins": "Resilience check-ins (Brief Resilience Scale)",
    "timers": "Reminders and nudges",
    "safety_events": "Safety screenings",
}
_PHASES = {
    "start": "when you named it",
    "after_breathing": "after breathing",
    "after_walk": "after a walk",
    "sting": "how much the rejection stung (0-10)",
}


def file_names(data: Mapping[str, Any]) -> tuple[str, str]:
    stamp = _stamp(data.get("exported_at"))
    return f"rebound-export-{stamp}.json", f"rebound-export-{stamp}.md"


def _stamp(value: Any) -> str:
    try:
        return datetime.fromisoformat(str(value)).strftime("%Y%m%d-%H%M%S")
    except ValueError:
        return "data"


def to_json(data: Mapping[str, Any]) -> bytes:
    return json.dumps(data, indent=2, ensure_ascii=False, default=str).encode()


def write_export(data: dict[str, Any], folder: Path) -> list[Path]:
    """Write the JSON and the Markdown file into `folder` (created if needed), readable by the
    owner only: they hold someone's private words. Returns the two paths."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    json_name, md_name = file_names(data)
    out = []
    for name, body in ((json_name, to_json(data)), (md_name, to_markdown(data).encode())):
        path = folder / name
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as fh:
            fh.write(body)
        out.append(path)
    return out


# -- Markdown ------------------------------------------------------------------------------------


def to_markdown(data: Mapping[str, Any]) -> str:
    lines = [
        "# Your data from Rebound",
        "",
        f"Exported {_time(data.get('exported_at'))} for `{data.get('user', '')}`. This is "
        "everything Rebound has stored about you; the JSON file beside this one holds the same, "
        "for other programs. It contains private things, so keep it somewhere safe.",
        "",
    ]
    lines += _profile(data.get("profile") or {})
    lines += _conversation(data.get("conversation") or {})
    for table, title in _SECTIONS.items():
        if table in data:
            rows = data.get(table) or []
            lines += [f"## {title}", ""]
            if not rows:
                lines += ["Nothing stored.", ""]
                continue
            lines += _RENDER.get(table, _generic)(rows)
    for key in data:
        if key not in _META and key not in _SECTIONS:
            lines += [f"## {key.replace('_', ' ').capitalize()}", ""]
            lines += _generic(data[key] or []) if data[key] else ["Nothing stored.", ""]
    return "\n".join(lines).rstrip() + "\n"


def _time(value: Any) -> str:
    if not value:
        return "-"
    try:
        dt = datetime.fromisoformat(str(value))
    except ValueError:
        return str(value)
    return dt.strftime("%Y-%m-%d %H:%M UTC") if "T" in str(value) else dt.strftime("%Y-%m-%d")


def _quote(text: Any) -> list[str]:
    """The user's own words, as a block quote (their line breaks kept)."""
    return [f"> {line}" if line else ">" for line in str(text).split("\n")] + [""]


def _value(value: Any) -> str:
    if isinstance(value, list | dict):
        return json.dumps(value, ensure_ascii=False, default=str)
    return "-" if value is None or value == "" else str(value)


def _fields(row: Mapping[str, Any], skip: Iterable[str] = ()) -> list[str]:
    """Every field of a row not shown otherwise; multi-line text as a quote."""
    out = []
    for key, value in row.items():
        if key in skip:
            continue
        if isinstance(value, str) and "\n" in value:
            out += [f"- {key}:", "", *_quote(value)]
        else:
            out.append(f"- {key}: {_value(value)}")
    return out


def _generic(rows: Any) -> list[str]:
    lines: list[str] = []
    for i, row in enumerate(rows if isinstance(rows, list) else [rows], start=1):
        if isinstance(row, Mapping):
            lines += [f"### {i}", "", *_fields(row), ""]
        else:
            lines += [f"- {_value(row)}"]
    return [*lines, ""]


def _profile(profile: Mapping[str, Any]) -> list[str]:
    days = profile.get("retention_days")
    lines = ["## Your settings", ""]
    lines.append(
        f"- Delete entries older than: {days} days" if days else "- Delete old entries: no"
    )
    lines += _fields(profile, skip=("retention_days",))
    return [*lines, ""]


def _conversation(conv: Mapping[str, Any]) -> list[str]:
    lines = ["## Where our conversation stands", ""]
    lines.append(f"- Current step: {conv.get('step') or 'none (not in a conversation)'}")
    answers = {k: v for k, v in (conv.get("answers") or {}).items() if v not in (None, "", [])}
    if answers:
        lines += ["- Answers kept for it:", ""]
        for key, value in answers.items():
            if isinstance(value, str) and "\n" in value:
                lines += [f"  - {key}:", "", *_quote(value)]
            else:
                lines.append(f"  - {key}: {_value(value)}")
    return [*lines, ""]


def _episodes(rows: list[Any]) -> list[str]:
    lines = []
    for r in rows:
        lines += [
            f"### {_time(r.get('opened_at'))}: {r.get('kind')}",
            "",
            *_quote(r.get("summary")),
        ]
        lines.append(f"- Stages reached: {', '.join(r.get('stages') or []) or '-'}")
        lines.append(
            f"- Worked through: {_time(r.get('closed_at')) if r.get('closed_at') else 'not yet'}"
        )
        lines += _fields(r, skip=("opened_at", "kind", "summary", "stages", "closed_at"))
        lines.append("")
    return lines


def _feelings(rows: list[Any]) -> list[str]:
    lines = []
    for r in rows:
        phase = str(r.get("phase") or "")
        label = _PHASES.get(phase) or (
            f"how much it stung, day {phase.removeprefix('sting_day')} (0-10)"
            if phase.startswith("sting_day")
            else phase
        )
        names = ", ".join(r.get("feelings") or []) or "-"
        lines.append(
            f"- {_time(r.get('at'))}: {names}; intensity {_value(r.get('intensity'))}, {label} "
            f"(episode {_value(r.get('episode_id'))}, id {r.get('id')})"
        )
    return [*lines, ""]


def _journal(rows: list[Any]) -> list[str]:
    lines = []
    for r in rows:
        lines += [f"### {_time(r.get('created_at'))}", "", *_quote(r.get("text"))]
        if r.get("reread_note") or r.get("reread_at"):
            lines += [f"Reread note ({_time(r.get('reread_at'))}):", ""]
            lines += _quote(r.get("reread_note") or "-")
        lines += _fields(r, skip=("created_at", "text", "reread_note", "reread_at"))
        lines.append("")
    return lines


def _notes(rows: list[Any]) -> list[str]:
    lines = []
    for r in rows:
        lines += [f"### {r.get('kind')} ({_time(r.get('created_at'))})", "", *_quote(r.get("text"))]
        lines += _fields(r, skip=("kind", "created_at", "text"))
        lines.append("")
    return lines


def _actions(rows: list[Any]) -> list[str]:
    lines = []
    for r in rows:
        mark = "x" if r.get("done_at") else "-" if r.get("dropped_at") else " "
        status = (
            f"done {_time(r.get('done_at'))}"
            if r.get("done_at")
            else f"dropped {_time(r.get('dropped_at'))}"
            if r.get("dropped_at")
            else "open"
        )
        due = f", due {r['due_on']}" if r.get("due_on") else ""
        lines.append(f"- [{mark}] {r.get('text')} ({status}{due})")
        lines += [
            f"  {line}" for line in _fields(r, skip=("text", "done_at", "dropped_at", "due_on"))
        ]
    return [*lines, ""]


def _asks(rows: list[Any]) -> list[str]:
    lines = []
    for r in rows:
        lines += [f"### {_time(r.get('at'))}: {r.get('answer')}", "", *_quote(r.get("ask"))]
        lines.append(f"- Asked why: {'yes' if r.get('asked_why') else 'no'}")
        if r.get("why"):
            lines += ["- The reason they gave:", "", *_quote(r["why"])]
        lines += _fields(r, skip=("at", "answer", "ask", "asked_why", "why"))
        lines.append("")
    return lines


def _checkins(rows: list[Any]) -> list[str]:
    lines = [
        "A self-reflection aid, not a diagnosis. Scores run from 1 to 5; the scale's authors "
        "call 1.00-2.99 low, 3.00-4.30 normal and 4.31-5.00 high resilience.",
        "",
    ]
    for r in rows:
        try:
            answers = parse_answers(r.get("answers"))
            score = brs_score(answers)
            summary = f"score {score:.2f} ({brs_band(score)}), answers {answers}"
        except (ValueError, TypeError):
            summary = f"answers {_value(r.get('answers'))}"
        lines.append(f"- {_time(r.get('at'))}: {summary} (id {r.get('id')})")
    return [*lines, ""]


def _timers(rows: list[Any]) -> list[str]:
    lines = []
    for r in rows:
        lines.append(f"- {_time(r.get('due_at'))}: {r.get('kind')}, {r.get('status')}")
        lines += [f"  {line}" for line in _fields(r, skip=("due_at", "kind", "status"))]
    return [*lines, ""]


def _plain(rows: list[Any]) -> list[str]:
    lines = []
    for r in rows:
        lines.append("- " + ", ".join(f"{k}: {_value(v)}" for k, v in r.items()))
    return [*lines, ""]


_RENDER = {
    "episodes": _episodes,
    "feelings": _feelings,
    "journal_entries": _journal,
    "notes": _notes,
    "action_items": _actions,
    "challenges": _plain,
    "challenge_asks": _asks,
    "checkins": _checkins,
    "timers": _timers,
    "safety_events": _plain,
}
