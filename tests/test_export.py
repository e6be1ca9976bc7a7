"""/export gives every piece of the user's data twice: JSON for programs, Markdown for people.
A journey is walked through the real engine; every value the user typed must come back in both
files, and every table the user has rows in must be in the export."""

from __future__ import annotations

import json
import os
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from bot.events import FileOut
from bot.export import to_markdown, write_export
from bot.store import SqlStore
from bot.store.schema import metadata
from bot.testing import FakeChat, FakeClock

SUMMARY = "Turned down for the planner role at a logistics firm"
TYPED = {
    "summary": SUMMARY,
    "journal": "Wrote this on a grey afternoon, still turning it over",
    "facts": "The recruiter emailed after the panel interview",
    "possibilities_note": "I rushed the scheduling question",
    "feedback_to": "the panel lead",
    "feedback_about": "the planner role",
    "feedback_sign_off": "With thanks, R.",
    "reverse_offer": "a scheduling course by May",
    "action": "Finish a scheduling course",
    "action_2": "Ask a mentor for a mock panel",
    "opportunities": "Operations roles at two regional carriers",
    "ask": "Asked a bakery for a taste of the new loaf",
    "ask_reason": "Tastings only happen on Saturdays",
    "why_reason": "They wanted more scheduling software experience",
    "reread_note": "Reads calmer a day later",
    "lesson": "A No from one panel is one opinion",
    "next_step": "Book a mock interview",
}
# Exported under another key than their table's name.
RENAMED = {"conversations": "conversation", "users": "profile"}
# Left out of an export on purpose: platform delivery ids (bot/store/sql.py `export`).
NOT_EXPORTED = {"processed_events"}


def strings(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for v in value.values():
            yield from strings(v)
    elif isinstance(value, list):
        for v in value:
            yield from strings(v)


async def walk_everything(chat: FakeChat, clock: FakeClock) -> None:
    """A journey that touches every kind of data a user can leave."""
    await chat.command("rebound")
    await chat.tap("An interview")
    await chat.say(TYPED["summary"])
    await chat.tap("8")
    await chat.choose("feel.name:disappointed", "feel.name:anxious")
    await chat.tap("7")
    await chat.tap("Write it down")
    await chat.say(TYPED["journal"])
    await chat.tap("Reflect now")
    await chat.say(TYPED["facts"])
    await chat.choose("reflect.possible:interview")
    await chat.say(TYPED["possibilities_note"])
    await chat.tap("Help me write it")
    await chat.say(TYPED["feedback_to"])
    await chat.say(TYPED["feedback_about"])
    await chat.tap("One or more interviews")
    draft = chat.form()
    assert draft is not None
    await chat.say(draft + "\n" + TYPED["feedback_sign_off"])
    await chat.tap("Carry on")
    await chat.tap("Taking a course or training")
    await chat.say(TYPED["reverse_offer"])
    reverse = chat.form()
    assert reverse is not None
    await chat.say(reverse)
    await chat.tap("Make a plan")
    await chat.say(TYPED["action"])
    await chat.say("20 March")
    await chat.tap("Add another")
    await chat.say(TYPED["action_2"])
    await chat.tap("Skip")
    await chat.tap("That's enough for now")
    await chat.say(TYPED["opportunities"])
    await chat.tap("Try the rejection challenge")
    await chat.tap("7 days")
    await chat.tap("I asked: log it")
    await chat.say(TYPED["ask"])
    await chat.tap("No")
    await chat.tap("Yes, I asked")
    await chat.say(TYPED["ask_reason"])
    await chat.command("why")
    await chat.tap("Add a reason I was given")
    await chat.say(TYPED["why_reason"])
    await chat.command("act")
    await chat.say(TYPED["lesson"])
    await chat.say(TYPED["next_step"])
    await chat.tap("No, I've got it")
    clock.advance(days=1)
    await chat.command("journal")
    entry = next(c for r in chat.last for c in r.choices if c.label.startswith("2026-03-02:"))
    await chat.choose(entry.id)
    await chat.tap("Write a reread note")
    await chat.say(TYPED["reread_note"])
    await chat.command("resilience")
    await chat.tap("Yes, let's do it")
    for answer in ("Agree", "Disagree", "Neutral", "Neutral", "Agree", "Strongly disagree"):
        await chat.tap(answer)
    await chat.command("retention")
    await chat.tap("After 90 days")
    await chat.say("I feel completely hopeless about all of this", event_id="evt-export-1")


async def test_export_round_trip_contains_every_entered_value(
    chat: FakeChat, store: SqlStore, clock: FakeClock
) -> None:
    await walk_everything(chat, clock)
    await chat.command("export")
    assert "two files with the same contents" in " ".join(chat.text().split())
    files: list[FileOut] = [r.file for r in chat.last if r.file]
    assert [f.name.rsplit(".", 1)[1] for f in files] == ["json", "md"]
    assert [f.mime for f in files] == ["application/json", "text/markdown"]
    data = json.loads(files[0].data)
    markdown = files[1].data.decode()

    found = "\n".join(strings(data))
    for name, value in TYPED.items():
        assert value in found, f"{name} missing from the JSON"
        assert value in markdown, f"{name} missing from the Markdown"

    feelings = {(f["phase"], f["intensity"]) for f in data["feelings"]}
    assert {("sting", 8), ("start", 7)} <= feelings
    assert "intensity 8, how much the rejection stung (0-10)" in markdown
    assert "disappointed, anxious; intensity 7, when you named it" in markdown
    (checkin,) = data["checkins"]
    assert json.loads(checkin["answers"]) == [4, 2, 3, 3, 4, 1]
    assert "score 3.83 (normal), answers [4, 2, 3, 3, 4, 1]" in markdown
    assert data["profile"]["retention_days"] == 90
    assert "- Delete entries older than: 90 days" in markdown
    assert "- [ ] Finish a scheduling course (open, due 2026-03-20)" in markdown
    assert [e["level"] for e in data["safety_events"]] == ["distress"]


async def test_export_has_every_table_the_user_has_rows_in(
    chat: FakeChat, store: SqlStore, clock: FakeClock
) -> None:
    await walk_everything(chat, clock)
    user = str(chat.key)
    data = await store.export(user)
    markdown = to_markdown(data)
    with store.engine.connect() as conn:
        for table in metadata.sorted_tables:
            assert "user_key" in table.c, f"{table.name} has no user_key: who owns its rows?"
            count = conn.execute(
                select(func.count()).select_from(table).where(table.c.user_key == user)
            ).scalar_one()
            assert count > 0, f"the journey left no row in {table.name}: extend the walk"
            if table.name in NOT_EXPORTED:
                continue
            key = RENAMED.get(table.name, table.name)
            assert key in data, f"{table.name} is missing from the export"
            if key not in RENAMED.values():
                assert len(data[key]) == count, table.name
    for title in ("Your settings", "Rejections you talked through", "Journal", "Action items",
                  "Challenge asks", "Resilience check-ins", "Reminders and nudges",
                  "Safety screenings", "Where our conversation stands"):  # fmt: skip
        assert f"## {title}" in markdown


def test_markdown_keeps_line_breaks_and_shows_tables_it_does_not_know() -> None:
    data = {
        "user": "test::someone",
        "exported_at": "2026-03-02T09:00:00+00:00",
        "profile": {"country": "IE", "retention_days": None},
        "conversation": {"flow": None, "step": None, "answers": {"note": "two\nlines"}},
        "journal_entries": [
            {"id": "j1", "text": "first line\nsecond line", "created_at": "2026-03-02T09:00:00"}
        ],
        "a_future_table": [{"id": "f1", "what": "something new"}],
    }
    md = to_markdown(data)
    assert md.startswith("# Your data from Rebound")
    assert "> first line\n> second line" in md
    assert "  - note:\n\n> two\n> lines" in md
    assert "## A future table" in md and "- what: something new" in md
    assert "- Delete old entries: no" in md
    assert "## Episodes" not in md  # a table that is not in the data gets no empty section


def test_write_export_writes_both_files_for_the_owner_only(tmp_path: Path) -> None:
    data = {"user": "test::someone", "exported_at": "2026-03-02T09:00:00+00:00", "notes": []}
    paths = write_export(data, tmp_path / "out")
    assert [p.name for p in paths] == [
        "rebound-export-20260302-090000.json",
        "rebound-export-20260302-090000.md",
    ]
    assert json.loads(paths[0].read_text()) == data
    assert "## Notes and drafts\n\nNothing stored." in paths[1].read_text()
    for path in paths:
        assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert stat.S_IMODE(os.stat(tmp_path / "out").st_mode) == 0o700


@pytest.mark.parametrize("value", ["{{ 7*7 }}", "# not a heading\n- not a list", "<b>x</b>"])
def test_markdown_writes_user_text_as_it_was_typed(value: str) -> None:
    md = to_markdown({"user": "u", "exported_at": "x", "notes": [{"kind": "facts", "text": value}]})
    assert "\n".join(f"> {line}" for line in value.split("\n")) in md
