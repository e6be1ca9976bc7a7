"""The pure translation, on the payloads Discord documents and on the engine's replies."""

from __future__ import annotations

from adapters.discord import mapping
from adapters.discord.mapping import Button, Select
from bot.events import Breathing, Choice, ConversationKey, FileOut, Form, Incoming, Kind, Reply
from tests.discord.helpers import USER, payload

KEY = ConversationKey("discord", user=USER, space="")


# -- inbound --------------------------------------------------------------------------------------


def test_a_dm_is_a_text_turn_with_the_message_id_as_event_id() -> None:
    event = mapping.message_to_event(payload("message_create_dm"), bot_id="1")
    assert event == Incoming(
        KEY,
        Kind.TEXT,
        text="I didn't get the job I interviewed for last week",
        event_id="1300000000000000010",
    )


def test_server_messages_bots_webhooks_and_system_messages_are_not_turns() -> None:
    dm = payload("message_create_dm")
    assert mapping.message_to_event({**dm, "guild_id": "5"}, bot_id="1") is None
    assert mapping.message_to_event({**dm, "author": {"id": "9", "bot": True}}, bot_id="1") is None
    assert mapping.message_to_event({**dm, "author": {"id": "1"}}, bot_id="1") is None
    assert mapping.message_to_event({**dm, "webhook_id": "3"}, bot_id="1") is None
    assert mapping.message_to_event({**dm, "type": 7}, bot_id="1") is None  # a join
    assert mapping.message_to_event({**dm, "channel_type": 3}, bot_id="1") is None  # group DM


def test_a_command_in_a_server_is_public_and_in_the_bots_dm_is_private() -> None:
    guild = mapping.interaction_to_event(payload("interaction_command_guild"))
    assert guild == Incoming(
        KEY, Kind.COMMAND, text="reflect", event_id="1300000000000000100", public=True
    )
    dm = mapping.interaction_to_event(payload("interaction_command_dm"))
    assert dm is not None and dm.text == "rebound" and not dm.public


def test_a_dm_between_people_with_a_user_installed_app_is_public() -> None:
    between_people = {**payload("interaction_command_dm"), "context": 2}
    event = mapping.interaction_to_event(between_people)
    assert event is not None and event.public


def test_without_a_context_only_a_dm_channel_outside_servers_is_private() -> None:
    dm = payload("interaction_command_dm")
    del dm["context"]
    assert mapping.is_private(dm)
    guild = payload("interaction_command_guild")
    del guild["context"]
    assert not mapping.is_private(guild)


def test_an_unknown_command_is_not_a_turn() -> None:
    event = payload("interaction_command_dm")
    event["data"]["name"] = "progress"
    assert mapping.interaction_to_event(event, commands={"rebound"}) is None


def test_a_button_press_is_the_choice_it_names() -> None:
    event = mapping.interaction_to_event(payload("interaction_button"))
    assert event == Incoming(
        KEY, Kind.CHOICE, choices=("arrive.kind:job",), event_id="1300000000000000102"
    )


def test_a_select_gives_every_chosen_value() -> None:
    event = mapping.interaction_to_event(payload("interaction_select"))
    assert event is not None and event.choices == ("feel.name:sad", "feel.name:angry")


def test_a_modal_submit_is_the_text_typed_in_it() -> None:
    event = mapping.interaction_to_event(payload("interaction_modal_submit"))
    assert event == Incoming(
        KEY,
        Kind.TEXT,
        text="Today stung. I keep replaying the last question they asked.",
        event_id="1300000000000000104",
        answers="journal.write",
    )


def test_the_older_modal_layout_in_an_action_row_is_read_too() -> None:
    components = [{"type": 1, "components": [{"type": 4, "custom_id": "answer", "value": "x"}]}]
    assert mapping.modal_value(components) == "x"


def test_the_write_button_is_no_turn() -> None:
    event = payload("interaction_button")
    event["data"]["custom_id"] = "rb:w:p:journal.write"
    assert mapping.interaction_to_event(event) is None


# -- outbound -------------------------------------------------------------------------------------


def numbers(step: str = "feel.intensity") -> tuple[Choice, ...]:
    return tuple(Choice(f"{step}:{n}", str(n)) for n in range(1, 11))


def test_the_numbers_one_to_ten_are_two_rows_of_five_buttons() -> None:
    (out,) = mapping.to_messages(Reply(text="How strong?", choices=numbers()))
    assert [[b.label for b in row] for row in out.rows] == [
        ["1", "2", "3", "4", "5"],
        ["6", "7", "8", "9", "10"],
    ]
    assert out.rows[0][0] == Button("rb:c:feel.intensity:1", "1")


def test_long_labels_get_fewer_buttons_per_row() -> None:
    choices = tuple(Choice(f"s:{n}", f"A rather long label, number {n}") for n in range(4))
    rows = mapping.choice_rows(choices, multi=False)
    assert [len(row) for row in rows] == [2, 2]


def test_zero_to_ten_stays_buttons() -> None:
    rows = mapping.choice_rows(tuple(Choice(f"s:{n}", str(n)) for n in range(11)), multi=False)
    assert [len(row) for row in rows] == [4, 4, 3]


def test_many_choices_become_a_select_menu_and_more_than_25_several() -> None:
    twelve = tuple(Choice(f"actions.pick:{n}", f"Action item {n}") for n in range(12))
    (row,) = mapping.choice_rows(twelve, multi=False)
    (menu,) = row
    assert isinstance(menu, Select) and menu.max_values == 1 and len(menu.options) == 12
    thirty = tuple(Choice(f"s:{n}", f"Option {n}") for n in range(30))
    menus = mapping.choice_rows(thirty, multi=False)
    assert [len(r[0].options) for r in menus] == [25, 5]  # type: ignore[union-attr]
    assert len({r[0].custom_id for r in menus}) == 2


def test_a_multi_select_is_a_menu_allowing_every_option() -> None:
    choices = tuple(Choice(f"feel.name:{n}", n.title()) for n in ("sad", "angry", "numb"))
    (out,) = mapping.to_messages(Reply(text="Which fit?", choices=choices, multi=True))
    ((menu,),) = out.rows
    assert isinstance(menu, Select)
    assert (menu.custom_id, menu.max_values) == ("rb:s:0:feel.name", 3)
    assert [o.value for o in menu.options] == ["feel.name:sad", "feel.name:angry", "feel.name:numb"]


def test_every_custom_id_and_label_fits_discords_limits() -> None:
    long_id = "x" * 96
    choices = (Choice(f"step:{long_id}", "L" * 120), Choice("step:ok", "Fine"))
    for row in mapping.choice_rows(choices, multi=False):
        for item in row:
            assert len(item.custom_id) <= 100
            labels = [o.label for o in item.options] if isinstance(item, Select) else [item.label]
            assert all(len(label) <= 100 for label in labels)
    (button,) = mapping.choice_rows((Choice("s:1", "L" * 120),), multi=False)[0]
    assert isinstance(button, Button) and len(button.label) == 80


def test_long_text_is_split_under_2000_characters_at_paragraphs() -> None:
    paragraphs = ["word " * 150] * 5
    messages = mapping.to_messages(
        Reply(text="\n\n".join(paragraphs), choices=(Choice("s:a", "A"),))
    )
    assert len(messages) > 1
    assert all(len(m.content) <= 2000 for m in messages)
    assert [bool(m.rows) for m in messages] == [False] * (len(messages) - 1) + [True]
    assert " ".join(" ".join(m.content for m in messages).split()) == " ".join(
        " ".join(paragraphs).split()
    )


def test_the_engines_markup_becomes_discord_markdown() -> None:
    text = "*You did it.*\n> a quote\n- a point\n_gently_ 2 * 3 * 4"
    assert mapping.to_markdown(text) == "**You did it.**\n> a quote\n- a point\n_gently_ 2 * 3 * 4"


def test_a_form_is_a_card_with_a_button_that_opens_it() -> None:
    form = Form(
        title="Asking for feedback",
        label="Your message",
        submit_id="reflect.fb",
        initial="Hi Sam,\n\nThank you.",
    )
    (out,) = mapping.to_messages(
        Reply(text="Here's a draft.", form=form, choices=(Choice("reflect.fb:__skip", "Skip"),))
    )
    assert out.card == mapping.Card("Asking for feedback", "Your message", "Hi Sam,\n\nThank you.")
    assert out.rows[0] == (Button("rb:w:p:reflect.fb", "Edit the draft"),)
    assert out.rows[1] == (Button("rb:c:reflect.fb:__skip", "Skip"),)


def test_the_modal_is_rebuilt_from_the_card_on_the_message() -> None:
    embeds = [
        {
            "title": "Asking for feedback",
            "description": "Hi Sam,\n\nThank you.",
            "footer": {"text": "Your message"},
        }
    ]
    spec = mapping.modal_for("rb:w:p:reflect.fb", embeds)
    assert spec == mapping.ModalSpec(
        custom_id="rb:f:reflect.fb",
        title="Asking for feedback",
        label="Your message",
        value="Hi Sam,\n\nThank you.",
    )
    bare = mapping.modal_for("rb:w:s:journal.write", [])
    assert bare is not None and not bare.paragraph and bare.value == ""
    assert mapping.modal_for("rb:c:nope", embeds) is None


def test_an_answered_message_keeps_its_answer_visible_and_nothing_pressable() -> None:
    rows = mapping.rows_from_components(payload("interaction_select")["message"]["components"])
    frozen = mapping.freeze(rows, pressed="rb:s:0:feel.name", values={"feel.name:angry"})
    ((menu,),) = frozen
    assert isinstance(menu, Select) and menu.disabled
    assert [o.default for o in menu.options] == [False, True]
    buttons = mapping.rows_from_components(payload("interaction_button")["message"]["components"])
    ((pressed,),) = mapping.freeze(buttons, pressed="rb:c:arrive.kind:job")
    assert isinstance(pressed, Button) and pressed.disabled and pressed.style == "success"


def test_files_are_attached_to_the_message_announcing_them() -> None:
    json_file = FileOut(name="export.json", data=b"{}", mime="application/json")
    markdown = FileOut(name="export.md", data=b"#", mime="text/markdown")
    (out,) = mapping.render([Reply(text="Two files."), Reply(file=markdown), Reply(file=json_file)])
    assert out.content == "Two files." and out.files == (markdown, json_file)
    with_buttons = Reply(text="Anything else?", choices=(Choice("s:a", "A"),))
    first, second = mapping.render([with_buttons, Reply(file=json_file)])
    assert first.files == () and second.files == (json_file,) and second.content == ""


def test_the_breathing_exercise_goes_with_its_message() -> None:
    breathing = Breathing(count=2, inhale_seconds=4, exhale_seconds=6)
    (out,) = mapping.to_messages(Reply(text="Breathe with me.", breathing=breathing))
    assert out.breathing == breathing
    assert mapping.breath_frames(breathing) == [
        ("_Breath 1 of 2: breathe in…_", 4),
        ("_Breath 1 of 2: and slowly out…_", 6),
        ("_Breath 2 of 2: breathe in…_", 4),
        ("_Breath 2 of 2: and slowly out…_", 6),
        ("_That's 2 slow breaths. Well done._", 0.0),
    ]


def test_only_commands_the_dialogs_provide_are_registered() -> None:
    available = mapping.available_commands({"rebound", "reflect", "menu"})
    assert list(available) == ["rebound", "reflect"]
    assert all(len(d) <= 100 for d in mapping.COMMANDS.values())
