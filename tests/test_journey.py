"""The journey, told as conversations: every stage walked end to end through the real engine and
a real SQLite file, checking what the user would see and what is kept about them."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from typing import Any

import pytest

from bot.flows import Catalog
from bot.store import SqlStore
from bot.testing import FakeChat, FakeClock

SUMMARY = "I didn't get the analyst role at Acme Ltd"


@pytest.fixture(autouse=True)
def no_failed_turns(caplog: pytest.LogCaptureFixture) -> Iterator[None]:
    """A broken template or action makes the engine apologise and log; none may happen here."""
    caplog.set_level(logging.WARNING, logger="rebound")
    yield
    failures = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert failures == []


async def exported(store: SqlStore, chat: FakeChat) -> dict[str, Any]:
    return await store.export(str(chat.key))


def said(chat: FakeChat) -> str:
    """What the bot said last turn, with line breaks and runs of spaces as single spaces."""
    return " ".join(chat.text().split())


def notes_by_kind(data: dict[str, Any]) -> dict[str, str]:
    return {n["kind"]: n["text"] for n in data["notes"]}


async def arrive(chat: FakeChat, kind: str = "A job application", summary: str = SUMMARY) -> None:
    """/rebound up to the first feelings question: one open episode."""
    await chat.command("rebound")
    await chat.tap(kind)
    await chat.say(summary)
    await chat.tap("Skip")  # how much it stings (tests/test_progress.py rates it)
    assert "Which of these fit right now?" in said(chat)


async def reflect_until_moves(chat: FakeChat, kind: str, facts: str, possibility: str) -> None:
    """/reflect with no episode yet: arrive first, then the facts and the possibilities."""
    await chat.command("reflect")
    await chat.tap(kind)
    await chat.say(SUMMARY)
    await chat.tap("Skip")
    await chat.say(facts)
    await chat.choose(possibility)
    await chat.tap("Skip")
    assert chat.buttons() == ["Help me write it", "Skip this one"]


# -- the whole journey ---------------------------------------------------------------------------


async def test_whole_journey_from_rebound_through_feel_reflect_and_plan_to_credit(
    chat: FakeChat, store: SqlStore
) -> None:
    await arrive(chat)
    await chat.choose("feel.name:disappointed", "feel.name:sad")
    await chat.tap("7")
    assert "disappointed and sad" in said(chat)
    await chat.tap("I'm OK for now")
    await chat.tap("Reflect now")

    # Reflect: the facts, the possibilities and a note.
    assert "What did you apply for, how far did it get" in said(chat)
    await chat.say("They emailed after the second interview to say they chose someone else.")
    assert "Someone had more qualifications or experience" in chat.buttons()
    await chat.choose("reflect.possible:qualified", "reflect.possible:interview")
    await chat.say("I was nervous on the technical questions.")
    assert "not about your worth" in said(chat)

    # The first move: a feedback request, drafted from the user's answers.
    await chat.tap("Help me write it")
    await chat.say("the hiring manager")
    await chat.say("the Data Analyst role at Acme Ltd")
    await chat.tap("One or more interviews")
    draft = chat.form()
    assert draft is not None
    assert "Dear Hiring Manager," in draft
    assert "the Data Analyst role at Acme Ltd" in draft
    assert "for your time in the interviews" in draft
    await chat.say(draft + "\nAlex")

    # Once sent, a follow-up is scheduled for the working days the user picks.
    await chat.tap("I've sent it: check back with me")
    await chat.tap("A working week")
    assert "I'll ask you on Monday 09 March whether a reply came." in said(chat)

    # The second move: can it be reversed?
    assert "Could any of these change their mind?" in said(chat)
    await chat.tap("Taking a course or training")
    await chat.say("a SQL course I can finish by April")
    reverse = chat.form()
    assert reverse is not None
    assert "a SQL course I can finish by April" in reverse
    assert "Hi Hiring Manager," in reverse
    await chat.say("Would a SQL course by April change things?")
    assert "That's the reflecting done" in said(chat)
    assert chat.buttons() == ["Make a plan", "Later"]

    # Plan: two action items, one with a date, then other opportunities and the credit.
    await chat.tap("Make a plan")
    assert "finish a short online course" in said(chat)
    await chat.say("Finish an Angular course")
    await chat.say("15 March")
    assert "> Finish an Angular course" in said(chat)
    assert "due on 2026-03-15" in said(chat)
    await chat.tap("Add another")
    await chat.say("Do two practice interviews with a friend")
    await chat.tap("Skip")
    assert "That's 2 steps in this plan" in said(chat)
    await chat.tap("That's enough for now")
    await chat.say("Junior analyst roles at Beta Corp")
    assert "a real win" in said(chat)
    assert chat.buttons() == [
        "Try the rejection challenge",
        "Practise with a scenario",
        "Take one next step",
    ]

    data = await exported(store, chat)
    (episode,) = data["episodes"]
    assert episode["kind"] == "job"
    assert episode["summary"] == SUMMARY
    assert {"feel", "reflect", "plan", "credit"} <= set(episode["stages"])
    assert episode["closed_at"] is not None
    (feeling,) = data["feelings"]
    assert (feeling["feelings"], feeling["intensity"]) == (["disappointed", "sad"], 7)
    notes = notes_by_kind(data)
    assert notes["facts"].startswith("They emailed after the second interview")
    assert json.loads(notes["possibilities"]) == ["qualified", "interview"]
    assert notes["possibilities_note"] == "I was nervous on the technical questions."
    assert notes["feedback_request"].endswith("\nAlex")
    assert notes["reverse_request"] == "Would a SQL course by April change things?"
    assert notes["opportunities"] == "Junior analyst roles at Beta Corp"
    assert {n["episode_id"] for n in data["notes"]} == {episode["id"]}
    items = sorted((i["text"], i["due_on"]) for i in data["action_items"])
    assert items == [
        ("Do two practice interviews with a friend", None),
        ("Finish an Angular course", "2026-03-15"),
    ]


async def test_the_plan_button_from_credit_leads_on_to_take_action(chat: FakeChat) -> None:
    await chat.command("plan")
    await chat.tap("An interview")
    await chat.say(SUMMARY)
    await chat.tap("Skip")
    assert "What did this teach you" in said(chat)
    await chat.say("Practise answering out loud")
    await chat.tap("Skip")
    await chat.tap("That's enough for now")
    await chat.tap("Skip")
    await chat.tap("Take one next step")
    assert "what does it teach you?" in said(chat)


# -- reflect -------------------------------------------------------------------------------------


async def test_let_go_and_pitch_get_different_reflection_prompts(
    chat: FakeChat, engine: Any
) -> None:
    pitcher = FakeChat(engine, user="pitcher")

    await chat.command("reflect")
    await chat.tap("Being let go")
    await chat.say("My role was cut last week")
    await chat.tap("Skip")
    let_go_facts = said(chat)
    await chat.say("My manager told me on Friday that the team was being cut.")
    let_go_options = chat.buttons()

    await pitcher.command("reflect")
    await pitcher.tap("A pitch or an idea")
    await pitcher.say("My idea for a new onboarding process was turned down")
    await pitcher.tap("Skip")
    pitch_facts = said(pitcher)
    await pitcher.say("I presented it to the team lead, who said there's no budget this year.")
    pitch_options = pitcher.buttons()

    assert "What were you told, by whom, and when?" in let_go_facts
    assert "who heard it, and what exactly did they say back?" in pitch_facts
    assert "Cuts or a restructure" in let_go_options
    assert "The timing or the budget was wrong" in pitch_options
    assert "Cuts or a restructure" not in pitch_options
    assert "I didn't interview at my best" not in let_go_options + pitch_options

    await chat.choose("reflect.possible_let_go:restructure")
    await chat.tap("Skip")
    assert "says very little about what you can do" in said(chat)
    assert "your former manager" in said(chat)
    await pitcher.choose("reflect.possible_pitch:timing")
    await pitcher.tap("Skip")
    assert "the person who said no" in said(pitcher)


async def test_let_go_feedback_draft_uses_the_role_and_skips_the_stage(
    chat: FakeChat, store: SqlStore
) -> None:
    await reflect_until_moves(
        chat, "Being let go", "I was told my contract ends in May.", "reflect.possible_let_go:fit"
    )
    await chat.tap("Help me write it")
    await chat.say("my team lead")
    await chat.say("support engineer at Acme Ltd")
    draft = chat.form()
    assert draft is not None
    assert draft.startswith("Hi Team Lead,")
    assert "my time as support engineer at Acme Ltd" in draft
    assert "How far did you get" not in said(chat)


async def test_either_practical_move_can_be_skipped(chat: FakeChat, store: SqlStore) -> None:
    await reflect_until_moves(
        chat,
        "A job application",
        "No reply for weeks, then a short email.",
        "reflect.possible:unknown",
    )
    assert "exactly what feedback is for" in said(chat)
    await chat.tap("Skip this one")
    assert "Could any of these change their mind?" in said(chat)
    await chat.tap("I don't think so")
    assert "Some decisions really are final" in said(chat)
    assert chat.buttons() == ["Make a plan", "Later"]

    data = await exported(store, chat)
    assert set(notes_by_kind(data)) == {"facts", "possibilities"}
    assert "reflect" in data["episodes"][0]["stages"]
    await chat.tap("Later")
    assert "It'll be here whenever you want it." in said(chat)


async def test_reversal_ask_alone_asks_who_to_write_to(chat: FakeChat, store: SqlStore) -> None:
    await reflect_until_moves(
        chat,
        "A pitch or an idea",
        "The client said no to my proposal.",
        "reflect.possible_pitch:fit",
    )
    await chat.tap("Skip this one")
    await chat.tap("Meeting at another time or place")
    assert "What time or place might suit them better?" in said(chat)
    await chat.say("in the mornings at their office")
    assert "Who would you ask?" in said(chat)
    await chat.say("Sam")
    draft = chat.form()
    assert draft is not None
    assert draft.startswith("Hi Sam,")
    assert "I can easily change that: in the mornings at their office" in draft
    await chat.say(draft)
    notes = notes_by_kind(await exported(store, chat))
    assert notes["reverse_request"] == draft


async def test_template_syntax_typed_by_a_user_shows_as_typed_in_a_draft(
    chat: FakeChat, store: SqlStore
) -> None:
    await reflect_until_moves(
        chat, "An interview", "{{ 7*7 }} happened", "reflect.possible:interview"
    )
    await chat.tap("Help me write it")
    await chat.say("{{ 7*7 }}")
    await chat.say("{% if true %}the role{% endif %}")
    await chat.tap("The final round")
    draft = chat.form()
    assert draft is not None
    assert "Dear {{ 7*7 }}," in draft
    assert "considering me for {% if true %}the role{% endif %}" in draft
    assert "49" not in draft
    assert "right up to the final round" in draft
    await chat.say(draft)
    notes = notes_by_kind(await exported(store, chat))
    assert notes["facts"] == "{{ 7*7 }} happened"


# -- plan and action items -----------------------------------------------------------------------


async def test_action_items_with_and_without_a_due_date(
    chat: FakeChat, store: SqlStore, clock: FakeClock
) -> None:
    await chat.command("plan")
    await chat.tap("A school or programme")
    await chat.say("The master's programme turned me down")
    await chat.tap("Skip")
    await chat.say("Volunteer at the food bank twice a month")
    await chat.say("sometime soonish")
    assert "I couldn't read that as a date" in said(chat)
    assert chat.buttons() == ["Skip"]
    await chat.say("15 March")
    assert "due on 2026-03-15" in said(chat)
    await chat.tap("Add another")
    await chat.say("Ask the admissions office what they look for")
    await chat.tap("Skip")
    assert "due on" not in said(chat)
    await chat.tap("That's enough for now")
    await chat.tap("Skip")

    data = await exported(store, chat)
    items = {i["text"]: i["due_on"] for i in data["action_items"]}
    assert items == {
        "Volunteer at the food bank twice a month": "2026-03-15",
        "Ask the admissions office what they look for": None,
    }
    (reminder,) = [t for t in data["timers"] if t["kind"] == "action_due"]
    assert reminder["due_at"].startswith("2026-03-15")
    assert "opportunities" not in notes_by_kind(data)


async def test_actions_lists_open_items_and_completes_one(chat: FakeChat, store: SqlStore) -> None:
    await chat.command("actions")
    assert "no open action items" in said(chat)
    await chat.tap("Add a new one")
    await chat.say("Update my CV")
    await chat.say("15 March")
    await chat.tap("See my list")
    await chat.tap("Add a new one")
    await chat.say("Email two former colleagues")
    await chat.tap("Skip")
    await chat.tap("See my list")
    assert "- Update my CV (by 2026-03-15)" in said(chat)
    assert "- Email two former colleagues" in said(chat)
    assert {"Update my CV", "Email two former colleagues", "Add a new one"} <= set(chat.buttons())

    await chat.tap("Update my CV")
    assert "Ticked off: Update my CV." in said(chat)
    data = await exported(store, chat)
    done = {i["text"]: i["done_at"] for i in data["action_items"]}
    assert done["Update my CV"] is not None
    assert done["Email two former colleagues"] is None

    await chat.tap("Tick off another")
    assert "Update my CV" not in said(chat)
    assert "Update my CV" not in chat.buttons()
    assert "Email two former colleagues" in chat.buttons()


# -- lean in: the rejection challenge ------------------------------------------------------------


async def test_challenge_opt_in_then_logging_a_no_and_a_why(
    chat: FakeChat, store: SqlStore, clock: FakeClock, catalog: Catalog
) -> None:
    ideas = catalog.data["ideas"]
    await chat.command("challenge")
    assert "100 days" in said(chat)
    assert '"why?"' in said(chat)
    assert chat.buttons() == ["7 days", "30 days", "100 days", "Not now"]
    await chat.tap("30 days")
    assert "Day 1 of 30" in said(chat)
    assert ideas[0] in said(chat)

    await chat.tap("I asked: log it")
    await chat.say("Asked the bakery for a free taste")
    await chat.tap("No")
    await chat.tap("Yes, I asked")
    await chat.tap("Skip")  # the reason they gave (tests/test_progress.py keeps one)
    assert "That counts as progress" in said(chat)
    assert "magic word" in said(chat)
    assert "So far: 1 ask, 0 yes, 1 no." in said(chat)

    await chat.tap("Log another ask")
    await chat.say("Asked a colleague to swap a task")
    await chat.tap("Yes")
    await chat.tap("No, I didn't")
    assert "So far: 2 asks, 1 yes, 1 no." in said(chat)
    await chat.tap("That's it for today")
    assert chat.buttons() == ["Take one next step", "Not now"]

    data = await exported(store, chat)
    (challenge,) = data["challenges"]
    assert challenge["days"] == 30
    asks = {a["ask"]: (a["answer"], a["asked_why"]) for a in data["challenge_asks"]}
    assert asks == {
        "Asked the bakery for a free taste": ("no", True),
        "Asked a colleague to swap a task": ("yes", False),
    }
    assert {a["challenge_id"] for a in data["challenge_asks"]} == {challenge["id"]}

    # Already in a challenge: /challenge goes straight to today's idea.
    clock.advance(days=1)
    await chat.command("challenge")
    assert "Day 2 of 30" in said(chat)
    assert ideas[1] in said(chat)
    assert "100 days straight" not in said(chat)


async def test_challenge_can_be_declined_and_ends_after_its_length(
    chat: FakeChat, store: SqlStore, clock: FakeClock
) -> None:
    await chat.command("challenge")
    await chat.tap("Not now")
    assert "The offer stays open" in said(chat)
    assert (await exported(store, chat))["challenges"] == []

    await chat.command("challenge")
    await chat.tap("7 days")
    await chat.tap("Not yet")
    clock.advance(days=7)
    await chat.command("challenge")
    assert "end of your 7-day challenge" in said(chat)
    await chat.tap("Log one more ask")
    await chat.say("Asked for a window seat")
    await chat.tap("Partly, or a maybe")
    await chat.tap("No, I didn't")
    assert 'try a gentle "why?"' in said(chat)
    (ask,) = (await exported(store, chat))["challenge_asks"]
    assert (ask["answer"], ask["asked_why"]) == ("partial", False)


# -- practise ------------------------------------------------------------------------------------


async def test_practice_interview_scenario_affirms_and_gently_redirects(
    chat: FakeChat,
) -> None:
    await chat.command("practice")
    await chat.tap("Turned down before the final interview")
    assert "three of the four interview rounds" in said(chat)
    assert "Melinda" not in said(chat)
    await chat.choose("practice.interview:journal", "practice.interview:argue")
    feedback = said(chat)
    assert "*Writing it down*: yes." in feedback
    assert "*Arguing straight away*: very human" in feedback
    assert "A calm note asking for feedback" in feedback
    assert "*A walk*" not in feedback
    assert chat.buttons() == [
        "Try the other one",
        "Use this on my own situation",
        "That's enough for now",
    ]
    await chat.tap("That's enough for now")
    assert "Thanks for practising" in said(chat)


async def test_practice_skill_scenario_affirms_and_gently_redirects(chat: FakeChat) -> None:
    await chat.command("practice")
    await chat.tap("Rejected for a missing skill")
    assert "not enough experience with Angular" in said(chat)
    await chat.choose("practice.skill:learn", "practice.skill:quit")
    feedback = said(chat)
    assert "*A course with a date*: yes" in feedback
    assert "one missing skill is a gap, not a verdict" in feedback
    await chat.tap("Try the other one")
    await chat.choose("practice.interview:bury")
    assert "*Pretending it doesn't matter*: tempting" in said(chat)
    await chat.tap("Use this on my own situation")
    assert "Bring to mind a recent time you were turned down" in said(chat)


# -- take action ---------------------------------------------------------------------------------


async def test_take_action_keeps_the_lesson_and_turns_the_next_step_into_an_item(
    chat: FakeChat, store: SqlStore
) -> None:
    await chat.command("act")
    await chat.say("I take a No as a verdict on me, and it isn't one.")
    await chat.say("Email two former colleagues about openings")
    assert chat.buttons() == ["Yes, add it", "No, I've got it"]
    await chat.tap("Yes, add it")
    assert chat.form() == "Email two former colleagues about openings"
    await chat.say("Email two former colleagues about analyst openings")
    await chat.say("in 2 weeks")
    assert "Thank you for sticking with this" in said(chat)

    data = await exported(store, chat)
    notes = notes_by_kind(data)
    assert notes["lesson"] == "I take a No as a verdict on me, and it isn't one."
    assert notes["next_step"] == "Email two former colleagues about openings"
    (item,) = data["action_items"]
    assert (item["text"], item["due_on"]) == (
        "Email two former colleagues about analyst openings",
        "2026-03-16",
    )


# -- journal and the next-day reread -------------------------------------------------------------


async def test_journal_entry_comes_back_the_next_day_for_a_reread(
    chat: FakeChat, store: SqlStore, clock: FakeClock
) -> None:
    await chat.command("journal")
    assert "Your journal is empty so far" in said(chat)
    await chat.tap("Write a new entry")
    await chat.say("Today was rough.\nBut I got through it.")
    assert "Tomorrow I'll bring it back" in said(chat)

    clock.advance(hours=2)
    await chat.say("thanks")
    assert not any(i.startswith("timer:") for i in chat.choice_ids())

    clock.advance(days=1)
    await chat.say("hi again")
    assert "A day has passed since you wrote in your journal" in said(chat)
    timer_ids = [i for i in chat.choice_ids() if i.startswith("timer:")]
    assert len(timer_ids) == 1
    await chat.tap("Reread my journal entry")
    assert "Here's what you wrote on 2026-03-02:" in said(chat)
    assert "> Today was rough.\n> But I got through it." in chat.text()
    assert chat.buttons() == ["Skip"]
    await chat.say("It looks smaller today.")
    assert "I've kept your note next to the entry" in said(chat)

    (entry,) = (await exported(store, chat))["journal_entries"]
    assert entry["text"] == "Today was rough.\nBut I got through it."
    assert entry["reread_note"] == "It looks smaller today."
    assert entry["reread_at"] is not None

    await chat.tap("Open my journal")
    assert "- *2026-03-02*: Today was rough. But I got through it." in said(chat)
    assert "(a day later: It looks smaller today.)" in said(chat)

    # The offer was used: pressing the old button again changes nothing.
    await chat.choose(timer_ids[0])
    assert "That button is from an earlier message" in said(chat)


async def test_a_reread_can_be_skipped(chat: FakeChat, store: SqlStore, clock: FakeClock) -> None:
    await chat.command("journal")
    await chat.tap("Write a new entry")
    await chat.say("Angry at everything today.")
    clock.advance(days=1, minutes=1)
    await chat.command("journal")
    assert "- *2026-03-02*: Angry at everything today." in said(chat)
    await chat.tap("Reread my journal entry")
    await chat.tap("Skip")
    assert "Sometimes rereading is enough on its own" in said(chat)
    (entry,) = (await exported(store, chat))["journal_entries"]
    assert (entry["reread_note"], entry["reread_at"] is not None) == ("", True)


# -- help, export, forget ------------------------------------------------------------------------


async def test_help_says_what_rebound_is_and_lists_every_command(chat: FakeChat) -> None:
    await chat.command("help")
    text = said(chat)
    assert "I'm a bot, not a therapist, and not a crisis service." in text
    assert "https://findahelpline.com" in text
    assert "emergency" in text
    commands = "rebound reflect plan challenge practice progress journal actions nudges"
    for command in (*commands.split(), "export", "forget", "help", "stop"):
        assert f"- /{command}:" in text


async def test_export_gives_a_file_with_everything_stored(chat: FakeChat, store: SqlStore) -> None:
    await arrive(chat)
    await chat.choose("feel.name:anxious")
    await chat.tap("4")
    await chat.tap("Write it down")
    await chat.say("Worried about money this month.")
    await chat.command("export")
    assert "everything I've stored about you" in said(chat)
    (file,) = [r.file for r in chat.last if r.file and r.file.name.endswith(".json")]
    assert file.name.endswith(".json")
    data = json.loads(file.data)
    assert data["user"] == str(chat.key)
    assert data["episodes"][0]["summary"] == SUMMARY
    assert data["feelings"][0]["feelings"] == ["anxious"]
    assert data["journal_entries"][0]["text"] == "Worried about money this month."
    assert [t["kind"] for t in data["timers"]] == ["journal_reread"]


async def test_forget_asks_first_and_then_deletes_everything(
    chat: FakeChat, store: SqlStore
) -> None:
    await arrive(chat)
    await chat.choose("feel.name:numb")
    await chat.tap("3")

    await chat.command("forget")
    assert "It can't be undone." in said(chat)
    assert chat.buttons() == ["Yes, delete everything", "No, keep it"]
    await chat.tap("No, keep it")
    assert "Nothing was deleted" in said(chat)
    assert len((await exported(store, chat))["episodes"]) == 1

    await chat.command("forget")
    await chat.tap("Yes, delete everything")
    assert "everything I had stored about you is deleted" in said(chat)
    data = await exported(store, chat)
    tables = ("episodes", "feelings", "journal_entries", "notes", "action_items", "timers")
    assert {name: data[name] for name in tables} == {name: [] for name in tables}
    assert data["conversation"] == {"flow": None, "step": None, "answers": {}}

    await chat.say("hello")
    assert "Hi, I'm Rebound." in said(chat)
    assert "What kind of rejection was it?" in said(chat)


async def test_a_new_episode_starts_with_its_own_stages(chat: FakeChat, store: SqlStore) -> None:
    await arrive(chat)
    await chat.choose("feel.name:sad")
    await chat.tap("5")
    await chat.tap("I'm OK for now")
    await chat.tap("Remind me tomorrow")
    await arrive(chat, kind="A pitch or an idea", summary="The board turned my idea down")
    await chat.choose("feel.name:frustrated")
    await chat.tap("6")
    stages = {e["summary"]: e["stages"] for e in (await exported(store, chat))["episodes"]}
    assert stages["The board turned my idea down"] == ["arrive", "feel"]
