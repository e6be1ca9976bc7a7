"""Scenarios over the real HTTP endpoint: signed requests shaped like Slack's documented payloads
go in, and we look at what the user would see in their DM (through the Web API stand-in) and at
what the engine stored."""

from __future__ import annotations

import copy
import json

from tests.slack.conftest import USER, Workspace, all_logs, key
from tests.slack.fake_slack import buttons, payload, visible

JOB = "I didn't get the job I interviewed for last week"


async def to_feelings(workspace: Workspace) -> None:
    """Tell Rebound about a rejection, then go to naming the feelings."""
    await workspace.dm(JOB)
    await workspace.press("A job application")
    await workspace.command("/feel", channel="D0USER01")
    assert "Which of these fit right now?" in workspace.last_text()


async def test_url_verification_echoes_the_challenge(workspace: Workspace) -> None:
    body = payload("url_verification")
    response = await workspace.event(body)
    assert response.status == 200
    assert (await response.json())["challenge"] == body["challenge"]
    assert workspace.fake.called("chat.postMessage") == []


async def test_a_dm_is_walked_through_several_steps_with_buttons(workspace: Workspace) -> None:
    fake = workspace.fake
    response = await workspace.dm(JOB)
    assert response.status == 200
    [first] = fake.dm(USER)
    assert "Hi, I'm Rebound" in visible(first)
    assert "workspace owners can export direct messages" in visible(first)
    assert buttons(first) == [
        "A job application",
        "An interview",
        "A pitch or an idea",
        "Being let go",
        "A school or programme",
        "Something else",
    ]

    await workspace.press("An interview")
    # The pressed message keeps its words, loses its buttons, and says what was chosen.
    assert buttons(first) == []
    assert "You chose: *An interview*" in visible(first)
    assert len(fake.dm(USER)) == 2 and buttons(fake.dm(USER)[-1])  # the next question

    await workspace.command("/feel", channel="D0USER01")
    assert "Which of these fit right now?" in workspace.last_text()
    await workspace.tick("Disappointed", "Anxious")
    assert "You chose: *Disappointed*, *Anxious*" in visible(fake.dm(USER)[-2])
    scale = fake.dm(USER)[-1]
    assert buttons(scale) == [str(n) for n in range(1, 11)]
    assert [len(b["elements"]) for b in scale["blocks"] if b["type"] == "actions"] == [5, 5]

    await workspace.press("7")
    assert "makes complete sense" in visible(fake.dm(USER)[-1])
    assert "Breathe with me (about 2 minutes)" in buttons(fake.dm(USER)[-1])

    stored = await workspace.engine.store.export(key())
    assert stored["episodes"][0]["kind"] == "interview"
    assert stored["episodes"][0]["summary"] == JOB
    assert stored["conversation"]["answers"]["feelings"] == ["disappointed", "anxious"]
    assert [f["intensity"] for f in stored["feelings"]] == [7]


async def test_breathing_is_one_message_paced_in_place_then_the_dialog_goes_on(
    workspace: Workspace,
) -> None:
    fake = workspace.fake
    await to_feelings(workspace)
    await workspace.tick("Sad")
    await workspace.press("8")
    await workspace.press("Breathe with me (about 2 minutes)")

    *_, intro, exercise, check = fake.dm(USER)
    assert "ten slow breaths" in visible(intro)
    assert workspace.pace.waits == [4, 6] * 10  # paced by the injected sleep, not real seconds
    assert exercise["edits"] == 20  # one message, updated for every breath in and out
    assert "That's 10 breaths. Well done." in visible(exercise)
    assert "How strong is the feeling now" in visible(check)  # posted after the exercise

    await workspace.press("5")
    assert "From 8 down to 5" in workspace.last_text()
    stored = await workspace.engine.store.export(key())
    assert [f["intensity"] for f in stored["feelings"]] == [8, 5]


async def test_a_retried_event_is_processed_once(workspace: Workspace) -> None:
    envelope = workspace.message_event(JOB, event_id="Ev0RETRY01")
    await workspace.event(envelope)
    retry = {"X-Slack-Retry-Num": "1", "X-Slack-Retry-Reason": "http_timeout"}
    response = await workspace.event(copy.deepcopy(envelope), headers=retry)
    assert response.status == 200
    assert len(workspace.fake.called("chat.postMessage")) == 1
    stored = await workspace.engine.store.export(key())
    assert stored["conversation"]["step"] == "arrive.kind"
    assert stored["episodes"] == []


async def test_edits_bot_posts_and_our_own_posts_are_not_turns(workspace: Workspace) -> None:
    for name in ("event_message_changed", "event_bot_message"):
        response = await workspace.event(payload(name))
        assert response.status == 200
    assert workspace.fake.called("chat.postMessage") == []
    stored = await workspace.engine.store.export(key())
    assert stored["conversation"]["step"] is None


async def test_a_command_in_a_channel_answers_privately_and_goes_on_in_the_dm(
    workspace: Workspace,
) -> None:
    response = await workspace.command("/reflect", channel="C0CHAN001")
    assert response.status == 200
    assert await response.json() == {
        "text": workspace.engine.text("private_continue"),
        "response_type": "ephemeral",
    }
    posted = workspace.fake.called("chat.postMessage")
    assert {p["channel"] for p in posted} == {"D0USER01"}  # never the channel
    assert "What kind of rejection was it?" in workspace.last_text()
    assert workspace.fake.called("chat.postEphemeral") == []


async def test_a_command_in_the_bots_dm_just_answers_there(workspace: Workspace) -> None:
    response = await workspace.command("/rebound", "help", channel="D0USER01")
    assert response.status == 200
    assert await response.text() == ""
    assert "I'm Rebound, a bot that helps you" in visible(workspace.fake.dm(USER)[0])


async def test_a_subcommand_with_words_is_what_the_user_wants_to_talk_about(
    workspace: Workspace,
) -> None:
    await workspace.command("/rebound", "my pitch to the board was turned down", channel="D0USER01")
    assert "Thank you for telling me" in workspace.last_text()
    stored = await workspace.engine.store.export(key())
    assert stored["conversation"]["answers"]["opening"] == "my pitch to the board was turned down"


async def test_mentions_and_markup_typed_by_a_user_ping_nobody(workspace: Workspace) -> None:
    fake = workspace.fake
    await to_feelings(workspace)
    await workspace.tick("Sad")
    await workspace.press("6")
    await workspace.press("Reach out to someone I trust")
    # How Slack delivers "@Sam and @channel &lt;b&gt;" typed in the message box:
    await workspace.dm("<@U0SAM0001|Sam> and <!channel> &amp;lt;b&amp;gt;")
    draft = workspace.last_text()
    assert "Hi @Sam and @channel &lt;b&gt;," in draft  # the form's draft, as plain text

    await workspace.press("✏️ A message to someone you trust")
    # Typed in the modal (modal values are not escaped by Slack):
    await workspace.submit_form("Hi <!here> <@U0BOSS01> <https://evil.example|click> & <3")
    shown = workspace.last_text()
    # Shown as typed; the address is a plain link to itself, never one disguised by a label.
    assert "&lt;!here&gt; &lt;@U0BOSS01&gt; &lt;<https://evil.example>|click&gt; &amp; &lt;3" in (
        shown
    )

    everything = json.dumps([c.params for c in fake.calls])
    for ping in ("<!here", "<!channel", "<@U0", "<https://evil.example|"):
        assert ping not in everything
    stored = await workspace.engine.store.export(key())
    assert stored["conversation"]["answers"]["friend"] == "@Sam and @channel &lt;b&gt;"
    assert stored["notes"][0]["text"].startswith("Hi <!here> <@U0BOSS01>")


async def test_a_button_from_an_old_message_changes_nothing(workspace: Workspace) -> None:
    await workspace.dm(JOB)
    old = copy.deepcopy(workspace.find("A job application"))
    await workspace.press("An interview")
    current = workspace.last_text()
    before = await workspace.engine.store.export(key())

    await workspace.interaction(workspace.action_body(*old))  # a client showing the old buttons
    notice = workspace.last_text()  # a kind word, then the current question again
    assert "That button is from an earlier message" in notice
    assert notice.endswith(current)
    after = await workspace.engine.store.export(key())
    assert after["episodes"] == before["episodes"]
    assert after["conversation"] == before["conversation"]


async def test_a_double_tap_is_one_turn(workspace: Workspace) -> None:
    await workspace.dm(JOB)
    tap = workspace.action_body(*workspace.find("An interview"))
    await workspace.interaction(tap)
    after_first = len(workspace.fake.dm(USER))
    second = copy.deepcopy(tap)
    second["actions"][0]["action_ts"] = "1548426499.000001"
    assert (await workspace.interaction(second)).status == 200
    assert len(workspace.fake.dm(USER)) == after_first  # nothing more was said
    assert len(workspace.fake.called("chat.update")) == 1
    stored = await workspace.engine.store.export(key())
    assert [e["kind"] for e in stored["episodes"]] == ["interview"]


async def test_a_form_opens_a_modal_and_its_submission_is_the_answer(
    workspace: Workspace,
) -> None:
    fake = workspace.fake
    await workspace.command("/journal", channel="D0USER01")
    await workspace.press("Write a new entry")
    form_message = fake.dm(USER)[-1]
    await workspace.press("✏️ Your journal")

    [opened] = fake.called("views.open")
    assert opened["trigger_id"]
    view = opened["view"]
    assert view["type"] == "modal" and len(view["title"]["text"]) <= 24
    [field] = [b for b in view["blocks"] if b["type"] == "input"]
    assert field["label"]["text"] == "What's on your mind?"
    assert field["element"]["max_length"] <= 3000

    empty = await workspace.submit_form("   ")
    assert await empty.json() == {
        "response_action": "errors",
        "errors": {"rebound.form": workspace.engine.text("empty")},
    }
    assert (await workspace.engine.store.export(key()))["journal_entries"] == []

    done = await workspace.submit_form("Today was rough.\nBut I got through it.")
    assert done.status == 200 and await done.text() == ""
    assert "Saved, and kept just for you" in workspace.last_text()
    assert buttons(form_message) == []
    assert "Saved from the form" in visible(form_message)
    stored = await workspace.engine.store.export(key())
    assert [e["text"] for e in stored["journal_entries"]] == [
        "Today was rough.\nBut I got through it."
    ]


async def test_the_app_home_shows_the_summary_and_starts_a_stage(workspace: Workspace) -> None:
    fake = workspace.fake
    response = await workspace.event(payload("event_app_home_opened"))
    assert response.status == 200
    [published] = fake.called("views.publish")
    assert published["user_id"] == USER
    home = published["view"]
    assert home["type"] == "home"
    assert "Welcome to Rebound" in visible(home)
    labels = buttons(home)
    assert "Reflect on one" in labels

    [block] = [b for b in home["blocks"] if b["type"] == "actions"]
    [element] = [e for e in block["elements"] if e["text"]["text"] == "Reflect on one"]
    body = payload("block_actions")
    body["container"] = {"type": "view", "view_id": "V0HOME001"}
    body.pop("message")
    body["actions"] = [
        {
            "action_id": element["action_id"],
            "block_id": block["block_id"],
            "type": "button",
            "text": element["text"],
            "value": element["value"],
            "action_ts": "1548426417.840181",
        }
    ]
    await workspace.interaction(body)
    assert fake.called("conversations.open")[-1]["users"] == USER
    assert "What kind of rejection was it?" in workspace.last_text()


async def test_opening_the_messages_tab_the_first_time_says_hello_once(
    workspace: Workspace,
) -> None:
    for event_id in ("Ev0TAB0001", "Ev0TAB0002"):
        body = payload("event_app_home_opened")
        body["event_id"] = event_id
        body["event"]["tab"] = "messages"
        assert (await workspace.event(body)).status == 200
    [hello] = workspace.fake.dm(USER)
    assert "Hi, I'm Rebound" in visible(hello)
    assert "workspace owners can export direct messages" in visible(hello)
    assert workspace.fake.called("views.publish") == []


async def test_an_export_is_uploaded_to_the_dm_as_a_file(workspace: Workspace) -> None:
    fake = workspace.fake
    await workspace.dm(JOB)
    await workspace.command("/export", channel="D0USER01")
    completed = fake.called("files.completeUploadExternal")
    assert completed and {c["channel_id"] for c in completed} == {"D0USER01"}
    assert {c["files"][0]["id"] for c in completed} == set(fake.uploads)
    [exported] = [json.loads(data) for data in fake.uploads.values() if data.startswith(b"{")]
    assert exported["user"] == key()
    assert exported["conversation"]["answers"]["opening"] == JOB
    assert "[file rebound-export-" in visible(fake.dm(USER)[-1])


async def test_a_rate_limited_reply_is_sent_after_retry_after(workspace: Workspace) -> None:
    workspace.fake.fail(
        "chat.postMessage", status=429, error="ratelimited", headers={"Retry-After": "3"}
    )
    await workspace.dm(JOB)
    assert len(workspace.fake.called("chat.postMessage")) == 2
    assert 3 <= workspace.retry_pace.waits[0] < 4
    assert "What kind of rejection was it?" in workspace.last_text()


async def test_logs_never_carry_what_users_wrote_or_tokens(workspace: Workspace) -> None:
    with all_logs() as logs:
        await workspace.dm("my manager said the analyst role is gone")
        await workspace.press("Being let go")
        await workspace.command("/journal", channel="D0USER01")
        await workspace.press("Write a new entry")
        await workspace.press("✏️ Your journal")
        await workspace.submit_form("replaying every word tonight")
    assert len(workspace.fake.called("chat.postMessage")) >= 4
    text = logs.getvalue()
    for secret in ("manager", "analyst", "replaying", "xoxb-test-token", "Rebound. I help"):
        assert secret not in text
