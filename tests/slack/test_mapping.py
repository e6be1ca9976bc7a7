"""Slack payloads to engine events: pure functions, fed Slack's documented shapes."""

from __future__ import annotations

import json

import pytest

from adapters.slack import mapping
from bot.events import ConversationKey, Incoming, Kind
from tests.slack.fake_slack import payload

KEY = ConversationKey("slack", "U0USER01", "T0TEAM01")
COMMANDS = {"rebound", "reflect", "plan", "help", "export"}


@pytest.mark.parametrize(
    ("wire", "typed"),
    [
        ("plain words", "plain words"),
        ("&lt;b&gt;bold?&lt;/b&gt; &amp; more", "<b>bold?</b> & more"),
        ("&amp;lt; stays an entity", "&lt; stays an entity"),
        ("hi <@U0SAM0001>", "hi @U0SAM0001"),
        ("hi <@U0SAM0001|sam>", "hi @sam"),
        ("in <#C0CHAN001|general>", "in #general"),
        ("<!channel> <!here> <!everyone>", "@channel @here @everyone"),
        ("<!subteam^S0TEAM001|@designers>", "@designers"),
        ("<!date^1392734382^{date}|Feb 18, 2014>", "Feb 18, 2014"),
        ("<https://example.com/jobs|the job>", "the job (https://example.com/jobs)"),
        ("<https://example.com/jobs>", "https://example.com/jobs"),
        ("<mailto:hr@example.com|hr@example.com>", "hr@example.com"),
    ],
)
def test_slack_wire_text_becomes_what_the_user_typed(wire: str, typed: str) -> None:
    assert mapping.from_slack(wire) == typed


def test_a_dm_is_a_text_turn_with_slacks_event_id() -> None:
    event = mapping.message_to_event(payload("event_message_im"))
    assert event == Incoming(
        KEY, Kind.TEXT, text="Hello hello can you hear me?", event_id="slack:Ev0MSG0001"
    )


@pytest.mark.parametrize("name", ["event_message_changed", "event_bot_message"])
def test_edits_and_bot_posts_are_not_turns(name: str) -> None:
    assert mapping.message_to_event(payload(name)) is None


def test_our_own_post_and_other_channels_are_not_turns() -> None:
    body = payload("event_message_im")
    assert mapping.message_to_event(body, bot_user="U0USER01") is None
    body["event"]["channel_type"] = "channel"
    assert mapping.message_to_event(body) is None
    body = payload("event_message_im")
    body["event"]["subtype"] = "channel_join"
    assert mapping.message_to_event(body) is None


def test_a_message_with_a_file_still_counts_for_its_words() -> None:
    body = payload("event_message_im")
    body["event"]["subtype"] = "file_share"
    assert mapping.message_to_event(body).text == "Hello hello can you hear me?"


def test_app_home_opened_on_the_home_tab_only() -> None:
    body = payload("event_app_home_opened")
    assert mapping.home_opened_key(body) == KEY
    body["event"]["tab"] = "messages"
    assert mapping.home_opened_key(body) is None


def test_opening_the_messages_tab_is_a_start_applied_once_per_user() -> None:
    body = payload("event_app_home_opened")
    assert mapping.welcome_event(body) is None
    body["event"]["tab"] = "messages"
    first = mapping.welcome_event(body)
    body["event_id"] = "Ev0OTHER01"
    assert first == mapping.welcome_event(body)
    assert (first.kind, first.text, first.event_id) == (
        Kind.COMMAND,
        "start",
        "slack:welcome:T0TEAM01:U0USER01",
    )


@pytest.mark.parametrize(
    ("command", "text", "kind", "value"),
    [
        ("/reflect", "", Kind.COMMAND, "reflect"),
        ("/reflect", "ignored words", Kind.COMMAND, "reflect"),
        ("/rebound", "", Kind.COMMAND, "rebound"),
        ("/rebound", "plan", Kind.COMMAND, "plan"),
        ("/rebound", "/help", Kind.COMMAND, "help"),
        ("/rebound", "progress", Kind.COMMAND, "progress"),  # unknown: the engine says so
        ("/rebound", "export my data please", Kind.COMMAND, "export"),
        ("/rebound", "my pitch got a no", Kind.TEXT, "my pitch got a no"),
        ("/rebound-coach", "plan", Kind.COMMAND, "plan"),  # a renamed main command
    ],
)
def test_slash_commands(command: str, text: str, kind: Kind, value: str) -> None:
    body = payload("command")
    body.update(command=command, text=text)
    event = mapping.command_to_event(body, commands=COMMANDS, own_dm=False)
    assert (event.kind, event.text) == (kind, value)
    assert event.public
    assert event.event_id == "slack:cmd:T0TEAM01:13345224609.738474920.8088930838d88f008e0"


def test_a_command_in_the_bots_own_dm_is_not_public() -> None:
    event = mapping.command_to_event(payload("command"), commands=COMMANDS, own_dm=True)
    assert not event.public


def _pressed(**action: object) -> dict:
    body = payload("block_actions")
    body["actions"] = [{"action_ts": "1548426417.840180", "block_id": "b", **action}]
    return body


def test_a_button_is_its_choice_id() -> None:
    body = _pressed(
        action_id="rebound.choice.1",
        type="button",
        value="arrive.kind:job",
        text={"type": "plain_text", "text": "A job application"},
    )
    event = mapping.action_to_event(body)
    assert (event.key, event.kind, event.choices) == (KEY, Kind.CHOICE, ("arrive.kind:job",))
    assert event.event_id == "slack:act:D0USER01:1548261231.000200:rebound.choice.1:"
    body["actions"][0]["action_ts"] = "1548426418.000001"  # a double tap: the same turn
    assert mapping.action_to_event(body).event_id == event.event_id
    assert mapping.chosen_labels(body) == ["A job application"]


def test_a_home_tab_button_can_be_pressed_again_later() -> None:
    body = _pressed(action_id="rebound.choice.1", type="button", value="cmd:reflect")
    body["container"] = {"type": "view", "view_id": "V0HOME001"}
    first = mapping.action_to_event(body).event_id
    body["actions"][0]["action_ts"] = "1548512817.840180"
    assert mapping.action_to_event(body).event_id != first


def test_a_select_is_its_selected_option() -> None:
    option = {"text": {"type": "plain_text", "text": "Update my CV"}, "value": "actions.pick:a1"}
    body = _pressed(action_id="rebound.select", type="static_select", selected_option=option)
    assert mapping.action_to_event(body).choices == ("actions.pick:a1",)
    assert mapping.chosen_labels(body) == ["Update my CV"]


def test_done_under_checkboxes_sends_every_ticked_option_at_once() -> None:
    body = _pressed(action_id="rebound.submit", type="button", value="done")
    opt = [
        {"text": {"type": "plain_text", "text": t}, "value": f"feel.name:{t.lower()}"}
        for t in ("Sad", "Angry", "Numb")
    ]
    body["state"] = {
        "values": {
            "rebound.multi.0": {
                "rebound.multi.0": {"type": "checkboxes", "selected_options": opt[:2]}
            },
            "rebound.multi.1": {
                "rebound.multi.1": {"type": "checkboxes", "selected_options": opt[2:]}
            },
        }
    }
    event = mapping.action_to_event(body)
    assert event.choices == ("feel.name:sad", "feel.name:angry", "feel.name:numb")
    assert mapping.chosen_labels(body) == ["Sad", "Angry", "Numb"]


def test_ticking_a_checkbox_is_not_a_turn_yet() -> None:
    body = _pressed(action_id="rebound.multi.0", type="checkboxes", selected_options=[])
    assert mapping.action_to_event(body) is None


def test_a_forms_button_asks_for_a_modal_with_its_draft() -> None:
    meta = {"s": "feel.talk_draft", "t": "A message", "l": "Your message", "m": True, "x": 4000}
    body = _pressed(action_id="rebound.form", type="button", value=json.dumps(meta))
    body["message"]["blocks"] = [
        {"type": "section", "block_id": "x1", "text": {"type": "mrkdwn", "text": "Here it is"}},
        {
            "type": "section",
            "block_id": "rebound.draft.0",
            "text": {"type": "plain_text", "text": "Hi <!here>, "},
        },
        {
            "type": "section",
            "block_id": "rebound.draft.1",
            "text": {"type": "plain_text", "text": "coffee?"},
        },
    ]
    assert mapping.action_to_event(body) is None
    request = mapping.form_request(body)
    assert request == mapping.FormRequest(
        submit_id="feel.talk_draft",
        title="A message",
        label="Your message",
        initial="Hi <!here>, coffee?",
        multiline=True,
        max_length=4000,
        channel="D0USER01",
        ts="1548261231.000200",
    )


def _submitted(value: str | None) -> dict:
    body = payload("view_submission")
    body["view"]["callback_id"] = "rebound.form"
    body["view"]["private_metadata"] = json.dumps(
        {"s": "journal.write", "c": "D0USER01", "ts": "1.2"}
    )
    body["view"]["state"] = {
        "values": {
            "rebound.form": {"rebound.form.input": {"type": "plain_text_input", "value": value}}
        }
    }
    return body


def test_a_submitted_form_is_a_text_turn_taken_as_written() -> None:
    body = _submitted("I wrote <!here> & it's fine")
    event = mapping.submission_to_event(body)
    assert event == Incoming(
        KEY,
        Kind.TEXT,
        text="I wrote <!here> & it's fine",
        event_id="slack:view:V0MODAL01",
        answers="journal.write",
    )
    assert mapping.form_meta(body) == {"s": "journal.write", "c": "D0USER01", "ts": "1.2"}


@pytest.mark.parametrize("value", [None, "", "  \n "])
def test_an_empty_form_is_no_turn(value: str | None) -> None:
    assert mapping.submission_to_event(_submitted(value)) is None


def test_long_ids_are_hashed_to_fit_the_store() -> None:
    body = _pressed(action_id="rebound.choice.0", type="button", value="x", text={"text": "x"})
    body["container"]["channel_id"] = "D" * 300
    assert len(mapping.action_to_event(body).event_id) <= 200
