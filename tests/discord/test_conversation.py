"""Talking to Rebound through Discord: the payloads Discord documents go through the local fake's
gateway into the real discord.py client and adapter; the HTTP calls discord.py then makes are
what the user would see, and the store shows what was kept.

What the bot says comes from the dialogs, which change; so most tests compare the Discord
messages with what a twin user gets from the same engine through `FakeChat` (the same
conversation must give the same content on every platform), and check Discord's own part
(components, edits, ephemeral answers, mentions) exactly.
"""

from __future__ import annotations

import asyncio
import json

from adapters.discord import DiscordRunner, mapping
from bot.engine import Engine
from bot.events import Reply
from bot.flows import Catalog
from bot.safety import screen
from bot.store import SqlStore
from bot.testing import FakeChat, FakeClock
from tests.discord.conftest import Pace, StartRunner
from tests.discord.fake_discord import BOT_USER, Call, FakeDiscord
from tests.discord.helpers import (
    DM,
    EPHEMERAL,
    GUILD_CHANNEL,
    KEY,
    USER,
    DiscordUser,
    assert_no_pings,
    body,
    command,
    dm_message,
    has_choice,
    has_form,
    items,
    message_of,
    press,
)

OPENING = "I didn't get the job I interviewed for last week"
MENTIONS = "@everyone @here <@&1300000000000000400> <@1300000000000000002> at Acme"


def twin(engine: Engine) -> FakeChat:
    return FakeChat(engine, user="1399999999999999999", platform="discord")


def contents(calls: list[Call]) -> list[str]:
    return [body(c).get("content") or "" for c in calls]


def expected(replies: list[Reply]) -> list[str]:
    return [m.content for m in mapping.render(replies)]


def custom_ids(call: Call) -> list[str]:
    return [i["custom_id"] for i in items(call)]


async def conversation(store: SqlStore, user: str = KEY) -> dict:
    return (await store.export(user))["conversation"]


# -- a DM ---------------------------------------------------------------------------------------


async def test_a_dm_gets_the_engines_answer_with_its_choices_as_buttons(
    fake: FakeDiscord, runner: DiscordRunner, engine: Engine, store: SqlStore
) -> None:
    user = DiscordUser(fake, runner)
    sent = await user.say(OPENING)
    replies = await twin(engine).say(OPENING)

    assert contents(sent) == expected(replies)
    (question,) = [c for c in sent if items(c)]
    (asking,) = [r for r in replies if r.choices]
    assert custom_ids(question) == [f"rb:c:{c.id}" for c in asking.choices]
    assert all(item["type"] == 2 and not item["disabled"] for item in items(question))
    assert (await conversation(store))["answers"]["opening"] == OPENING
    assert_no_pings(fake)


async def test_a_redelivered_message_is_answered_once(
    fake: FakeDiscord, runner: DiscordRunner, engine: Engine
) -> None:
    user = DiscordUser(fake, runner)
    first = await user.say(OPENING, message_id="77")
    await fake.dispatch("MESSAGE_CREATE", dm_message("again", message_id="77"))
    then = await user.say("hello")  # one user's turns run in order: the repeat came before

    other = twin(engine)
    await other.say(OPENING)
    assert contents(then) == expected(await other.say("hello"))
    assert len(fake.of("send")) == len(first) + len(then)


async def test_the_bots_own_messages_and_other_bots_are_not_turns(
    fake: FakeDiscord, runner: DiscordRunner, store: SqlStore
) -> None:
    own = dm_message("What kind of rejection was it?")
    own["author"] = BOT_USER
    await fake.dispatch("MESSAGE_CREATE", own)
    sent = await DiscordUser(fake, runner).say(OPENING)

    assert fake.of("send") == sent
    assert (await conversation(store))["answers"]["opening"] == OPENING


# -- buttons, selects and restarts --------------------------------------------------------------


async def test_a_press_keeps_the_answer_visible_disables_the_buttons_and_moves_on(
    fake: FakeDiscord, runner: DiscordRunner, engine: Engine, store: SqlStore
) -> None:
    user = DiscordUser(fake, runner)
    await user.say(OPENING)
    assert user.screen is not None
    first, *others = custom_ids(user.screen)

    follow_ups = await user.press(first)

    assert user.callback is not None and user.callback.json["type"] == 7  # UPDATE_MESSAGE
    frozen = items(user.callback)
    assert [b["custom_id"] for b in frozen] == [first, *others]
    assert all(b["disabled"] for b in frozen)
    assert [b["style"] for b in frozen] == [3] + [2] * len(others)  # the answer in green
    other = twin(engine)
    await other.say(OPENING)
    assert contents(follow_ups) == expected(await other.choose(first.removeprefix("rb:c:")))
    assert (await conversation(store))["step"] == (await conversation(store, str(other.key)))[
        "step"
    ]
    assert_no_pings(fake)


async def test_a_multi_select_sends_every_chosen_option(
    fake: FakeDiscord, runner: DiscordRunner, store: SqlStore
) -> None:
    user = DiscordUser(fake, runner)
    await user.say(OPENING)

    def multi(u: DiscordUser) -> bool:
        return any(i["type"] == 3 and i["max_values"] > 1 for m in u.messages for i in items(m))

    await user.walk(multi, text="They said no after the second interview.")
    assert user.screen is not None
    (menu,) = items(user.screen)
    assert menu["min_values"] == 1 and menu["max_values"] == len(menu["options"])
    picked = [menu["options"][0]["value"], menu["options"][-1]["value"]]
    step = (await conversation(store))["step"]

    await user.press(menu["custom_id"], values=picked)

    assert user.callback is not None
    (chosen,) = items(user.callback)
    assert chosen["disabled"]
    assert [o["value"] for o in chosen["options"] if o.get("default")] == picked
    answers = (await conversation(store))["answers"].values()
    assert [p.rpartition(":")[2] for p in picked] in list(answers)
    assert (await conversation(store))["step"] != step


async def test_a_button_sent_before_a_restart_still_works(
    fake: FakeDiscord,
    start_runner: StartRunner,
    engine: Engine,
    store: SqlStore,
    catalog: Catalog,
    clock: FakeClock,
) -> None:
    before = DiscordUser(fake, await start_runner())
    await before.say(OPENING)
    assert before.screen is not None
    choice = custom_ids(before.screen)[1]
    await before.runner.stop()

    # A new process: a new client and a new engine over the same database, nothing in memory.
    after = DiscordUser(
        fake, await start_runner(Engine(catalog, store, clock=clock, screen=screen))
    )
    after.screen = before.screen
    follow_ups = await after.press(choice)

    assert after.callback is not None and after.callback.json["type"] == 7
    other = twin(engine)
    await other.say(OPENING)
    assert contents(follow_ups) == expected(await other.choose(choice.removeprefix("rb:c:")))


async def test_a_double_press_advances_the_dialog_once(
    fake: FakeDiscord, runner: DiscordRunner, engine: Engine, store: SqlStore
) -> None:
    user = DiscordUser(fake, runner)
    await user.say(OPENING)
    assert user.screen is not None
    choice = custom_ids(user.screen)[0]
    mark = len(fake.calls)

    await fake.dispatch("INTERACTION_CREATE", press(message_of(user.screen), choice))
    await fake.dispatch("INTERACTION_CREATE", press(message_of(user.screen), choice))
    callbacks = await fake.wait_for("callback", count=2, since=mark)
    await fake.wait_for("followup", since=mark)
    await runner.idle()

    assert sorted(c.json["type"] for c in callbacks) == [6, 7]  # one edit, one silent ack
    other = twin(engine)
    await other.say(OPENING)
    once = await other.choose(choice.removeprefix("rb:c:"))
    follow_ups = [c for c in fake.calls[mark:] if c.kind == "followup"]
    assert contents(follow_ups) == expected(once)
    assert (await conversation(store))["step"] == (await conversation(store, str(other.key)))[
        "step"
    ]


async def test_an_old_button_changes_nothing_and_says_where_we_are(
    fake: FakeDiscord, runner: DiscordRunner, engine: Engine, store: SqlStore
) -> None:
    user = DiscordUser(fake, runner)
    await user.say(OPENING)
    assert user.screen is not None
    old = message_of(user.screen)
    first, second = custom_ids(user.screen)[:2]
    await user.press(first)
    now = await conversation(store)
    old["id"] = "1300000000000000999"  # the same question, as another device still shows it
    mark = len(fake.calls)

    await fake.dispatch("INTERACTION_CREATE", press(old, second))
    await fake.wait_for("followup", since=mark)
    await runner.idle()

    said = [body(c)["content"] for c in fake.calls[mark:] if c.kind == "followup"]
    assert said[0] == engine.text("stale_choice")
    assert await conversation(store) == now


# -- slash commands -------------------------------------------------------------------------------


async def test_a_command_in_a_server_answers_privately_and_continues_in_the_dm(
    fake: FakeDiscord, runner: DiscordRunner, engine: Engine, store: SqlStore
) -> None:
    await fake.dispatch("INTERACTION_CREATE", command("reflect", where="guild"))
    (edited,) = await fake.wait_for("edit_original")
    await runner.idle()

    (callback,) = fake.of("callback")
    assert callback.json == {"type": 5, "data": {"flags": EPHEMERAL}}  # deferred, ephemeral
    assert edited.json["content"] == engine.text("private_continue")
    assert edited.json["allowed_mentions"] == {"parse": []}
    (opened,) = fake.of("open_dm")
    assert str(opened.json["recipient_id"]) == USER
    other = twin(engine)
    assert contents(fake.sent_to(DM)) == expected(await other.command("reflect", public=True))
    # Nothing in the server channel: no message there, and no public follow-up.
    assert fake.sent_to(GUILD_CHANNEL) == []
    assert fake.of("followup") == []
    assert_no_pings(fake)


async def test_closed_dms_get_a_private_explanation_and_nothing_is_posted(
    fake: FakeDiscord, runner: DiscordRunner
) -> None:
    fake.closed_dms.add(USER)
    await fake.dispatch("INTERACTION_CREATE", command("rebound", where="guild"))
    (edited,) = await fake.wait_for("edit_original")
    await runner.idle()

    assert edited.json["content"] == runner.engine.text("dms_closed")
    assert "Privacy Settings" in edited.json["content"]
    (refused,) = fake.sent_to(DM)
    assert (refused.status, refused.answer["code"]) == (403, 50007)
    assert fake.sent_to(GUILD_CHANNEL) == []
    assert fake.of("followup") == []


async def test_a_command_in_the_dm_fills_its_thinking_message(
    fake: FakeDiscord, runner: DiscordRunner, engine: Engine
) -> None:
    user = DiscordUser(fake, runner)
    sent = await user.command("rebound")

    (callback,) = fake.of("callback")
    assert callback.json == {"type": 5}  # deferred, not ephemeral: it is their DM
    assert sent[0].kind == "edit_original"
    assert contents(sent) == expected(await twin(engine).command("rebound"))
    assert fake.of("send") == []


async def test_export_arrives_as_files_on_the_message_announcing_them(
    fake: FakeDiscord, runner: DiscordRunner, engine: Engine
) -> None:
    user = DiscordUser(fake, runner)
    await user.say(OPENING)
    sent = await user.command("export")

    other = twin(engine)
    await other.say(OPENING)
    replies = await other.command("export")
    assert contents(sent) == expected(replies)
    files = {r.file.name for r in replies if r.file is not None}
    (upload,) = [c for c in sent if c.files]
    assert set(upload.files) == files
    assert {a["filename"] for a in body(upload)["attachments"]} == files
    (exported,) = [data for name, data in upload.files.items() if name.endswith(".json")]
    assert json.loads(exported)["user"] == KEY


# -- forms ----------------------------------------------------------------------------------------


async def test_a_form_opens_a_modal_and_what_is_written_is_kept(
    fake: FakeDiscord, runner: DiscordRunner, store: SqlStore
) -> None:
    user = DiscordUser(fake, runner)
    await user.command("journal")
    await user.walk(has_form, text="Nothing much to add.")
    card = user.card()
    assert card is not None and user.screen is not None
    (write,) = [i for i in items(user.screen) if i["custom_id"].startswith("rb:w:")]

    assert await user.press(write["custom_id"]) == []
    assert user.callback is not None and user.callback.json["type"] == 9  # MODAL, first answer
    modal = user.callback.json["data"]
    assert modal["title"] == card["title"]
    (label,) = modal["components"]
    assert (label["type"], label["label"]) == (18, card["footer"]["text"])
    assert (label["component"]["type"], label["component"]["custom_id"]) == (4, "answer")

    entry = f"Today stung.\nI keep replaying the last question they asked. {MENTIONS}"
    await user.submit(modal["custom_id"], entry)

    assert user.callback.json["type"] == 7
    (pressed,) = [i for i in items(user.callback) if i["custom_id"] == write["custom_id"]]
    assert pressed["disabled"] and pressed["style"] == 3
    (kept,) = (await store.export(KEY))["journal_entries"]
    assert kept["text"] == entry

    # Read back in /journal, @everyone and the rest are shown as typed and ping nobody.
    await user.command("journal")
    assert "@everyone" in user.text()
    assert_no_pings(fake)


async def test_a_draft_is_shown_prefilled_in_the_modal_and_pings_nobody(
    fake: FakeDiscord, runner: DiscordRunner, store: SqlStore
) -> None:
    user = DiscordUser(fake, runner)
    await user.command("reflect")

    def draft(u: DiscordUser) -> bool:
        card = u.card()
        return card is not None and bool(card.get("description"))

    await user.walk(draft, text=MENTIONS)
    card = user.card()
    assert card is not None and user.screen is not None
    assert "@everyone" in card["description"]
    assert body(user.screen)["allowed_mentions"] == {"parse": []}
    (edit,) = [i for i in items(user.screen) if i["custom_id"].startswith("rb:w:")]
    assert edit["label"] == mapping.EDIT_LABEL

    await user.press(edit["custom_id"])
    assert user.callback is not None
    modal = user.callback.json["data"]
    assert modal["components"][0]["component"]["value"] == card["description"]

    mine = card["description"] + "\n\nThanks again."
    await user.submit(modal["custom_id"], mine)
    assert mine in [n["text"] for n in (await store.export(KEY))["notes"]]
    assert_no_pings(fake)


async def test_a_form_can_be_answered_by_typing_too(
    fake: FakeDiscord, runner: DiscordRunner, store: SqlStore
) -> None:
    user = DiscordUser(fake, runner)
    await user.command("journal")
    await user.walk(has_form, text="Nothing much to add.")
    await user.say("Writing it straight into the chat.")

    (kept,) = (await store.export(KEY))["journal_entries"]
    assert kept["text"] == "Writing it straight into the chat."


# -- breathing ------------------------------------------------------------------------------------


async def test_the_breathing_exercise_paces_one_message_in_place(
    fake: FakeDiscord, runner: DiscordRunner, pace: Pace
) -> None:
    user = DiscordUser(fake, runner)
    await user.say(OPENING)
    await user.walk(has_choice("rb:c:feel.strategy:breathe"), text="It stung a lot.")
    mark = len(fake.calls)

    follow_ups = await user.press("rb:c:feel.strategy:breathe")

    exercise = follow_ups[0]
    edits = [c for c in fake.calls[mark:] if c.kind == "edit_followup"]
    assert edits and all(c.path.endswith(exercise.answer["id"]) for c in edits)
    count = len(edits) // 2
    statuses = [c.json["content"].rsplit("\n", 1)[-1] for c in edits]
    assert statuses[:2] == [
        f"_Breath 1 of {count}: breathe in…_",
        f"_Breath 1 of {count}: and slowly out…_",
    ]
    assert statuses[-1] == f"_That's {count} slow breaths. Well done._"
    assert all(c.json["content"].startswith(exercise.json["content"]) for c in edits)
    assert all(c.json["allowed_mentions"] == {"parse": []} for c in edits)
    assert len(pace.waits) == 2 * count and all(w > 0 for w in pace.waits)
    # What comes after the exercise is sent once it is over.
    assert all(fake.calls.index(edits[-1]) < fake.calls.index(c) for c in follow_ups[1:])
    assert follow_ups[1:] and items(follow_ups[-1])


async def test_a_modal_from_an_old_message_still_submits_after_a_restart(
    fake: FakeDiscord,
    start_runner: StartRunner,
    store: SqlStore,
    catalog: Catalog,
    clock: FakeClock,
) -> None:
    before = DiscordUser(fake, await start_runner())
    await before.command("journal")
    await before.walk(has_form, text="Nothing much to add.")
    await before.runner.stop()

    after = DiscordUser(
        fake, await start_runner(Engine(catalog, store, clock=clock, screen=screen))
    )
    after.screen = before.screen
    assert before.screen is not None
    (write,) = [i for i in items(before.screen) if i["custom_id"].startswith("rb:w:")]
    form_id = "rb:f:" + write["custom_id"].split(":", 3)[3]
    await after.submit(form_id, "Written before the restart, sent after it.")

    (kept,) = (await store.export(KEY))["journal_entries"]
    assert kept["text"] == "Written before the restart, sent after it."


async def test_breathing_gives_way_when_the_user_writes_meanwhile(
    fake: FakeDiscord, runner: DiscordRunner, engine: Engine, pace: Pace
) -> None:
    user = DiscordUser(fake, runner)
    await user.say(OPENING)
    await user.walk(has_choice("rb:c:feel.strategy:breathe"), text="It stung a lot.")
    assert user.screen is not None
    pace.hold = True
    mark = len(fake.calls)

    breathe = press(message_of(user.screen), "rb:c:feel.strategy:breathe")
    await fake.dispatch("INTERACTION_CREATE", breathe)
    await asyncio.wait_for(pace.holding.wait(), 10)  # breathing in, the first breath
    await fake.dispatch("MESSAGE_CREATE", dm_message("Sorry, I have to go now."))
    # Events are handled in order: once another user's command is answered, the message above
    # is waiting for its turn.
    barrier = command("help")
    barrier["user"]["id"] = "1300000000000000077"
    await fake.dispatch("INTERACTION_CREATE", barrier)
    await fake.wait_for("callback", count=2, since=mark)
    pace.gate.set()
    await fake.wait_for("send", since=mark, channel_id=DM)
    await runner.idle()

    edits = [
        c for c in fake.calls[mark:] if c.kind == "edit_followup" and breathe["token"] in c.path
    ]
    assert [c.json["content"].rsplit("\n", 1)[-1] for c in edits][-1] == mapping.BREATH_PAUSED
    assert len(pace.waits) == 1
    # What the exercise led to is still sent, then the user's message is answered.
    follow_ups = [
        c for c in fake.calls[mark:] if c.kind == "followup" and breathe["token"] in c.path
    ]
    assert len(follow_ups) >= 2
    (answer, *_) = [c for c in fake.calls[mark:] if c.kind == "send"]
    assert fake.calls.index(follow_ups[-1]) < fake.calls.index(answer)


async def test_a_press_that_cannot_be_acknowledged_in_time_changes_nothing(
    fake: FakeDiscord, runner: DiscordRunner, store: SqlStore
) -> None:
    user = DiscordUser(fake, runner)
    await user.say(OPENING)
    assert user.screen is not None
    before = await conversation(store)
    fake.late = True
    mark = len(fake.calls)

    await fake.dispatch(
        "INTERACTION_CREATE", press(message_of(user.screen), custom_ids(user.screen)[0])
    )
    (refused,) = await fake.wait_for("callback", since=mark)
    await runner.idle()

    assert refused.status == 404
    assert [c.kind for c in fake.calls[mark:]] == ["callback"]
    assert await conversation(store) == before
