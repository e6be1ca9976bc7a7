"""The terminal's pure translation: numbers pick options, /name is a command, JSON lines map to
events, replies render as numbered text or one JSON object."""

from __future__ import annotations

import pytest

from adapters.terminal.mapping import (
    BadLine,
    Screen,
    json_to_event,
    line_to_event,
    render,
    reply_to_json,
)
from bot.events import Choice, ConversationKey, FileOut, Form, Kind, Reply

KEY = ConversationKey("terminal", "someone")
REPLY = Reply(text="Pick *one*", choices=(Choice("s.q:a", "Apples"), Choice("s.q:b", "Pears")))


def screen_for(*replies: Reply) -> Screen:
    screen = Screen()
    screen.update(list(replies))
    return screen


def test_a_number_picks_the_numbered_option() -> None:
    event = line_to_event("2", KEY, screen_for(REPLY))
    assert (event.kind, event.choices) == (Kind.CHOICE, ("s.q:b",))


def test_a_number_out_of_range_is_sent_as_text() -> None:
    event = line_to_event("7", KEY, screen_for(REPLY))
    assert (event.kind, event.text) == (Kind.TEXT, "7")


def test_several_numbers_only_for_a_multi_select() -> None:
    multi = Reply(text="Which?", choices=REPLY.choices, multi=True)
    assert line_to_event("1, 2", KEY, screen_for(multi)).choices == ("s.q:a", "s.q:b")
    assert line_to_event("1, 2", KEY, screen_for(REPLY)).kind is Kind.TEXT


def test_slash_name_is_a_command_and_a_sentence_with_a_slash_is_text() -> None:
    assert line_to_event("/reflect", KEY, Screen()).kind is Kind.COMMAND
    assert line_to_event("/reflect", KEY, Screen()).text == "reflect"
    assert line_to_event("/ that was and/or", KEY, Screen()).kind is Kind.TEXT


def test_an_empty_line_keeps_the_offered_draft() -> None:
    draft = Reply(text="Edit it", form=Form("t", "l", "s.d", initial="Dear team, ..."))
    assert line_to_event("", KEY, screen_for(draft)).text == "Dear team, ..."
    assert line_to_event("", KEY, Screen()).text == ""


def test_render_numbers_the_options_and_drops_markup_stars() -> None:
    assert render(REPLY) == "Pick one\n  1. Apples\n  2. Pears"


@pytest.mark.parametrize(
    ("line", "kind", "field", "value"),
    [
        ('{"user": "u1", "text": "hello"}', Kind.TEXT, "text", "hello"),
        ('{"user": "u1", "choice": "s.q:a"}', Kind.CHOICE, "choices", ("s.q:a",)),
        (
            '{"user": "u1", "choice": ["s.q:a", "s.q:b"]}',
            Kind.CHOICE,
            "choices",
            ("s.q:a", "s.q:b"),
        ),
        ('{"user": "u1", "command": "/plan"}', Kind.COMMAND, "text", "plan"),
        ('{"user": 7, "command": "plan"}', Kind.COMMAND, "text", "plan"),
    ],
)
def test_json_lines_map_to_events(line: str, kind: Kind, field: str, value: object) -> None:
    event = json_to_event(line)
    assert event.kind is kind
    assert getattr(event, field) == value


@pytest.mark.parametrize(
    "line",
    ["{not json", "[1, 2]", '{"text": "no user"}', '{"user": "u"}', '{"user": "u", "text": 5}'],
)
def test_bad_json_lines_say_what_was_expected(line: str) -> None:
    with pytest.raises(BadLine):
        json_to_event(line)


def test_reply_to_json_carries_choices_file_and_safety(tmp_path) -> None:
    path = tmp_path / "x.json"
    reply = Reply(text="hi", choices=REPLY.choices, safety="crisis", file=FileOut("x.json", b"{}"))
    assert reply_to_json(reply, path) == {
        "text": "hi",
        "choices": [{"id": "s.q:a", "label": "Apples"}, {"id": "s.q:b", "label": "Pears"}],
        "file": {"path": str(path), "name": "x.json"},
        "safety": "crisis",
    }
