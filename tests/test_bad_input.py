"""Bad input gets a short, kind reply that says what to do; nothing stored is lost; no crash."""

from __future__ import annotations

import pytest

from bot.engine import Engine
from bot.flows import Catalog
from bot.store import SqlStore
from bot.testing import FakeChat, FakeClock


@pytest.fixture
async def chat(survey: Catalog, store: SqlStore) -> FakeChat:
    c = FakeChat(Engine(survey, store, clock=FakeClock()))
    await c.command("rebound")
    await c.say("kept answer")  # a1 is stored; we are at q2
    return c


async def state(chat: FakeChat) -> dict:
    return (await chat.engine.store.load(str(chat.key))).state


@pytest.mark.parametrize("text", ["", "   ", "\n\t", "\x00\x01\x1b", "\u200b\ufeff"])
async def test_empty_or_invisible_messages(chat: FakeChat, text: str) -> None:
    replies = await chat.say(text)
    assert [r.text for r in replies] == ["[empty]", "Second question?"]
    assert (await state(chat))["data"]["a1"] == "kept answer"
    assert (await state(chat))["step"] == "survey.q2"


async def test_a_message_over_4000_characters(chat: FakeChat) -> None:
    replies = await chat.say("x" * 4001)
    assert [r.text for r in replies] == ["[too_long 4000]", "Second question?"]
    assert (await state(chat))["step"] == "survey.q2"
    ok = await chat.say("y" * 4000)
    assert ok[0].text.startswith("Third question?")


async def test_control_characters_are_dropped_and_the_rest_kept(chat: FakeChat) -> None:
    await chat.say("line\x00one\x1b[31m\r\nline two")
    assert (await state(chat))["data"]["a2"] == "lineone[31m\nline two"


async def test_replacement_characters_from_invalid_utf8_are_kept_as_text(chat: FakeChat) -> None:
    raw = b"caf\xe9 \xff\xfe".decode("utf-8", errors="replace")
    await chat.say(raw)
    assert (await state(chat))["data"]["a2"] == raw


async def test_unknown_command(chat: FakeChat) -> None:
    replies = await chat.command("dance")
    assert [r.text for r in replies] == ["[unknown_command]"]
    assert (await state(chat))["step"] == "survey.q2"


async def test_a_choice_from_an_old_message(chat: FakeChat) -> None:
    replies = await chat.choose("survey.q1:whatever")
    assert [r.text for r in replies] == ["[stale_choice]", "Second question?"]
    assert (await state(chat))["data"]["a1"] == "kept answer"


async def test_a_choice_when_text_is_expected(chat: FakeChat) -> None:
    replies = await chat.choose("survey.q2:yes")
    assert [r.text for r in replies] == ["[text_expected]", "Second question?"]


async def test_template_syntax_typed_by_a_user_is_shown_as_typed(chat: FakeChat) -> None:
    replies = await chat.say("{{ 7*7 }} {% if 1 %}x{% endif %} {{ self.__init__ }}")
    assert replies[0].text == (
        "Third question? (you said kept answer then {{ 7*7 }} {% if 1 %}x{% endif %} "
        "{{ self.__init__ }})"
    )


@pytest.fixture
async def picker(survey: Catalog, store: SqlStore) -> FakeChat:
    c = FakeChat(Engine(survey, store, clock=FakeClock()))
    await c.command("pick")
    return c


async def test_text_when_a_choice_is_expected_matches_labels_or_asks_kindly(
    picker: FakeChat,
) -> None:
    assert [r.text for r in await picker.say("purple")] == ["[pick_option]", "Pick a colour."]
    assert picker.buttons() == ["Warm red", "Calm blue"]
    assert [r.text for r in await picker.say("calm BLUE")] == ["How strong, 1 to 10?"]


async def test_numbers_out_of_range_and_words(picker: FakeChat) -> None:
    await picker.tap("Warm red")
    assert [r.text for r in await picker.say("11")] == ["[not_a_number]", "How strong, 1 to 10?"]
    assert [r.text for r in await picker.say("lots")] == ["[not_a_number]", "How strong, 1 to 10?"]
    assert [r.text for r in await picker.say("7")] == ["By when?"]


async def test_dates_bad_good_and_skipped(picker: FakeChat) -> None:
    await picker.tap("Warm red")
    await picker.tap("7")
    assert [r.text for r in await picker.say("someday soon")] == ["[not_a_date]", "By when?"]
    assert [r.text for r in await picker.say("15 March")] == ["Which moods?"]
    assert (await picker.engine.store.load(str(picker.key))).state["data"]["when"] == "2026-03-15"


async def test_multi_select_by_buttons_or_by_typing(picker: FakeChat) -> None:
    await picker.tap("Calm blue")
    await picker.tap("3")
    await picker.tap("[skip]")
    replies = await picker.say("tense, tired")
    assert [r.text for r in replies] == ["Got blue, 3, None, tense,tired."]
    await picker.command("pick")
    await picker.tap("Calm blue")
    await picker.tap("3")
    await picker.tap("[skip]")
    replies = await picker.choose("picker.moods:calm", "picker.moods:tired", "picker.moods:nope")
    assert [r.text for r in replies] == ["Got blue, 3, None, calm,tired."]


async def test_a_crash_inside_a_turn_gets_an_apology_and_loses_nothing(
    chat: FakeChat, monkeypatch: pytest.MonkeyPatch
) -> None:
    def boom(*_a: object, **_k: object) -> None:
        raise RuntimeError("simulated bug")

    monkeypatch.setattr(chat.engine, "_answer", boom)
    replies = await chat.say("this turn fails")
    assert [r.text for r in replies] == ["[try_again]"]
    assert (await state(chat))["data"]["a1"] == "kept answer"
    monkeypatch.undo()
    replies = await chat.say("this one works")
    assert replies[0].text.startswith("Third question?")


async def test_a_form_left_open_while_the_conversation_moved_on_is_refused(
    chat: FakeChat,
) -> None:
    from bot.events import Incoming

    replies = await chat.send(Incoming.say(chat.key, "late words", answers="survey.q1"))
    assert [r.text for r in replies] == ["[stale_form]", "Second question?"]
    replies = await chat.send(Incoming.say(chat.key, "right place", answers="survey.q2"))
    assert replies[0].text.startswith("Third question? (you said kept answer then right place)")
