"""Crisis and distress, as a user meets them: the flow pauses without losing anything, the bot
answers with care and resources, and only the outcome and time are kept."""

from __future__ import annotations

import json
import logging
from datetime import datetime, timedelta

import pytest

from bot.store import SqlStore
from bot.testing import FakeChat, FakeClock

CRISIS = "honestly everyone would be better off without me"
DISTRESS = "I feel completely hopeless about all of this"


async def exported(store: SqlStore, chat: FakeChat) -> dict:
    return await store.export(str(chat.key))


async def at_feelings(chat: FakeChat) -> None:
    await chat.command("rebound")
    await chat.tap("A job application")
    await chat.say("The bank said no after the second interview")
    await chat.tap("Skip")  # how much it stings


async def test_a_crisis_mid_flow_pauses_it_and_answers_with_care(
    chat: FakeChat, store: SqlStore
) -> None:
    await at_feelings(chat)
    replies = await chat.say(CRISIS)
    assert {r.safety for r in replies} == {"crisis"}
    text = chat.text()
    assert "I'm a bot, not a crisis service" in text
    assert "https://findahelpline.com" in text
    assert "your local emergency number" in text
    assert "Which of these fit right now?" not in text
    assert chat.buttons() == [
        "Help me feel calmer right now",
        "Show the helplines again",
        "My safety plan",
        "Talk about something else",
        "Continue the journey later",
    ]
    state = (await store.load(str(chat.key))).state
    assert state["paused"]["step"] == "feel.name"
    # Later, the journey picks up exactly where it was.
    await chat.tap("Continue the journey later")
    await chat.command("rebound")
    assert "Welcome back" in chat.text()
    assert "Which of these fit right now?" in " ".join(chat.text().split())
    await chat.choose("feel.name:sad")
    assert "How strong is it right now" in chat.text()


async def test_only_the_outcome_and_time_are_kept_and_forget_removes_them(
    chat: FakeChat, store: SqlStore, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    await at_feelings(chat)
    await chat.say(CRISIS)
    data = await exported(store, chat)
    (event,) = data["safety_events"]
    assert set(event) == {"id", "level", "at"} and event["level"] == "crisis"
    assert "better off without me" not in json.dumps(data)
    assert "better off without me" not in caplog.text
    await chat.command("forget")
    await chat.tap("Yes, delete everything")
    assert await store.load(str(chat.key)) is None
    assert (await exported(store, chat))["safety_events"] == []


async def test_a_known_country_gets_its_local_line(chat: FakeChat) -> None:
    await chat.command("country")
    await chat.say("Ireland")
    assert "Samaritans" in chat.text() and "116 123" in chat.text()
    await chat.say("I can't do this anymore, I want to end my life")
    text = chat.text()
    assert "116 123" in text and "call 112 now" in text
    assert "Tell me your country" not in text


async def test_an_unknown_country_is_told_kindly(chat: FakeChat) -> None:
    await chat.command("country")
    await chat.say("Atlantis")
    assert "I don't have a line listed for that yet" in chat.text()


async def test_grounding_exercise_in_the_chat(chat: FakeChat) -> None:
    await chat.say("kms")
    await chat.tap("Help me feel calmer right now")
    assert "five things you can see" in chat.text()
    await chat.say("a lamp, a cup, the window, a plant, my shoes")
    await chat.say("the floor")
    replies = await chat.say("rain")
    assert "one slow breath" in " ".join(chat.text().split())
    assert {r.safety for r in replies} == {None}
    assert "Show the helplines" in chat.buttons()


async def test_distress_is_acknowledged_then_the_flow_goes_on(
    chat: FakeChat, store: SqlStore
) -> None:
    await chat.command("rebound")
    await chat.tap("A job application")
    replies = await chat.say(DISTRESS)
    assert replies[0].safety == "distress"
    assert "That sounds really hard" in replies[0].text
    assert [c.label for c in replies[0].choices] == [
        "Take a moment with how I feel",
        "Where to find someone to talk to",
        "I'm not safe right now",
    ]
    assert "how much does it sting right now" in " ".join(replies[1].text.split())
    assert replies[1].safety is None
    data = await exported(store, chat)
    assert data["episodes"][0]["summary"] == DISTRESS
    assert [e["level"] for e in data["safety_events"]] == ["distress"]


async def test_idioms_of_a_bad_job_hunt_are_not_a_crisis(chat: FakeChat) -> None:
    replies = await chat.say("this job hunt is killing me and my pitch died in the room")
    assert {r.safety for r in replies} == {None}
    assert "What kind of rejection was it?" in chat.text()


async def test_nothing_cheerful_for_a_day_after_a_crisis(
    chat: FakeChat, clock: FakeClock, store: SqlStore
) -> None:
    await at_feelings(chat)
    await chat.choose("feel.name:sad")
    await chat.tap("4")
    await chat.tap("Go for a short walk")
    await chat.tap("10 minutes")
    clock.advance(minutes=30)
    await chat.say("I want to die")
    assert not any(c.id.startswith("timer:") for r in chat.last for c in r.choices)
    state = (await store.load(str(chat.key))).state
    assert datetime.fromisoformat(state["quiet_until"]) == clock.now() + timedelta(hours=24)
    clock.advance(hours=25)
    await chat.command("journal")
    assert any(c.id.startswith("timer:") for r in chat.last for c in r.choices)


async def test_a_safety_plan_is_written_kept_encrypted_and_reopened(
    chat: FakeChat, store: SqlStore
) -> None:
    await chat.command("safety")
    assert "A safety plan is a short note to yourself" in " ".join(chat.text().split())
    await chat.tap("Things that calm me")
    await chat.say("my dog, long showers, the sea")
    assert "Things that calm me: my dog, long showers, the sea" in chat.text()
    await chat.tap("People I can contact")
    await chat.say("my brother, my GP")
    await chat.tap("That's all for now")
    await chat.command("safety")
    assert "People I can contact: my brother, my GP" in chat.text()
    assert "Warning signs: not written yet" in chat.text()
    with store.engine.connect() as conn:
        raw = conn.exec_driver_sql("SELECT text FROM notes").scalars().all()
    assert raw and all("brother" not in r and "dog" not in r for r in raw)


async def test_json_replies_carry_the_safety_outcome(chat: FakeChat) -> None:
    from adapters.terminal.mapping import reply_to_json

    replies = await chat.say("i wanna unalive myself")
    assert {reply_to_json(r).get("safety") for r in replies} == {"crisis"}


async def test_a_crisis_in_a_message_too_long_to_keep_is_still_answered(chat: FakeChat) -> None:
    story = "The interview went on and on. " * 150 + "I want to end my life tonight."
    assert len(story) > 4000
    replies = await chat.say(story)
    assert {r.safety for r in replies} == {"crisis"}


async def test_a_crisis_written_in_a_form_for_an_old_question_is_still_answered(
    chat: FakeChat, store: SqlStore
) -> None:
    from bot.events import Incoming

    await at_feelings(chat)
    replies = await chat.send(Incoming.say(chat.key, CRISIS, answers="feel.journal"))
    assert {r.safety for r in replies} == {"crisis"}
    assert [e["level"] for e in (await exported(store, chat))["safety_events"]] == ["crisis"]


async def test_distress_in_a_too_long_message_is_acknowledged_and_kept(
    chat: FakeChat, store: SqlStore
) -> None:
    replies = await chat.say("I feel completely hopeless. " + "x" * 4100)
    assert replies[0].safety == "distress"
    assert [e["level"] for e in (await exported(store, chat))["safety_events"]] == ["distress"]


async def test_saying_you_are_not_safe_gets_the_crisis_response_and_keeps_your_place(
    chat: FakeChat, store: SqlStore
) -> None:
    await at_feelings(chat)
    await chat.say(DISTRESS)
    replies = await chat.tap("I'm not safe right now")
    assert {r.safety for r in replies} == {"crisis"}
    assert "I'm a bot, not a crisis service" in chat.text()
    assert (await store.load(str(chat.key))).state["paused"]["step"] == "feel.name"
    levels = [e["level"] for e in (await exported(store, chat))["safety_events"]]
    assert levels == ["distress", "crisis"]
    await chat.command("crisis")
    assert {r.safety for r in chat.last} == {"crisis"}
