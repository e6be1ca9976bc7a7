"""Replies to Block Kit: escaped, within Slack's limits, one message per question."""

from __future__ import annotations

import json

from adapters.slack import blocks
from adapters.slack.mapping import FormRequest
from bot.events import Breathing, Choice, FileOut, Form, Reply


def test_escape_leaves_nothing_that_pings() -> None:
    assert (
        blocks.escape("<!channel> <@U1> &lt; a&b")
        == "&lt;!channel&gt; &lt;@U1&gt; &amp;lt; a&amp;b"
    )


def test_the_engines_markup_becomes_slack_mrkdwn() -> None:
    text = "*Bold* and _soft_\n> a quote <3\n- one\n- two"
    assert blocks.mrkdwn(text) == "*Bold* and _soft_\n&gt; a quote &lt;3\n• one\n• two"


def test_text_is_sent_verbatim_so_slack_parses_no_mention_by_itself() -> None:
    [section] = blocks.sections("Hi @channel and @here, see #general")
    assert section["text"] == {
        "type": "mrkdwn",
        "text": "Hi @channel and @here, see #general",
        "verbatim": True,
    }


def test_web_addresses_are_links_one_tap_away() -> None:
    text = "Find a line at https://findahelpline.com. Or <https://x.example/?a=1&b=2>!"
    assert blocks.mrkdwn(text) == (
        "Find a line at <https://findahelpline.com>. Or &lt;<https://x.example/?a=1&amp;b=2>&gt;!"
    )


def test_long_text_is_split_into_sections_under_3000_characters() -> None:
    text = "\n\n".join(f"Paragraph {i}: " + "word & <more> " * 40 for i in range(30))
    sections = blocks.sections(text)
    assert len(sections) > 1
    assert all(len(s["text"]["text"]) <= 3000 for s in sections)
    joined = "\n".join(s["text"]["text"] for s in sections)
    assert joined.count("&amp;") == text.count("&")  # no entity cut in half
    assert "<" not in joined


def test_one_huge_line_is_split_too() -> None:
    sections = blocks.sections("x" * 7000)
    assert [len(s["text"]["text"]) for s in sections] == [3000, 3000, 1000]


def test_a_very_long_reply_spreads_over_messages_of_at_most_50_blocks() -> None:
    text = "\n".join("line " * 590 for _ in range(60))
    posts = blocks.plan([Reply(text=text), Reply(text="Next?", choices=(Choice("a:b", "Go"),))])
    assert len(posts) >= 2
    assert all(isinstance(p, blocks.Post) and len(p.blocks) <= 50 for p in posts)
    assert posts[-1].blocks[-1]["type"] == "actions"


def test_text_replies_share_a_message_until_a_question_ends_it() -> None:
    posts = blocks.plan(
        [
            Reply(text="One."),
            Reply(text="Two?", choices=(Choice("s:a", "A"),)),
            Reply(text="Three."),
        ]
    )
    assert [len(p.blocks) for p in posts] == [3, 1]
    assert posts[0].text == "One.\n\nTwo?"


def test_buttons_are_limited_and_carry_choice_ids() -> None:
    label = "A very long option label " * 5
    [actions] = blocks.choice_blocks((Choice("step:x", label), Choice("cmd:help", "Help")))
    first, second = actions["elements"]
    assert len(first["text"]["text"]) == 75 and first["text"]["text"].endswith("…")
    assert (first["value"], second["value"]) == ("step:x", "cmd:help")
    assert len({first["action_id"], second["action_id"]}) == 2
    assert all(len(e["action_id"]) <= 255 for e in actions["elements"])


def test_many_choices_become_a_select_menu() -> None:
    choices = tuple(Choice(f"actions.pick:a{i}", f"Action item number {i}") for i in range(9))
    [actions] = blocks.choice_blocks(choices)
    [select] = actions["elements"]
    assert select["type"] == "static_select"
    assert [o["value"] for o in select["options"]] == [c.id for c in choices]


def test_a_scale_is_two_rows_of_five_buttons() -> None:
    choices = tuple(Choice(f"feel.intensity:{n}", str(n)) for n in range(1, 11))
    rows = blocks.choice_blocks(choices)
    assert [len(r["elements"]) for r in rows] == [5, 5]
    assert len({e["action_id"] for r in rows for e in r["elements"]}) == 10


def test_a_multi_select_is_checkboxes_and_done() -> None:
    choices = tuple(Choice(f"feel.name:{i}", f"Feeling {i}") for i in range(12))
    out = blocks.multi_blocks((*choices, Choice("cmd:stop", "Stop")))
    boxes = [e for b in out for e in b["elements"] if e["type"] == "checkboxes"]
    assert [len(b["options"]) for b in boxes] == [10, 2]
    assert [e["text"]["text"] for e in out[-1]["elements"]] == ["Done", "Stop"]


def test_a_form_is_a_button_with_its_draft_in_plain_text() -> None:
    form = Form(
        title="Asking for feedback",
        label="Your message",
        submit_id="r.f",
        initial="Hi <!here>, could we talk?",
    )
    out = blocks.reply_blocks(Reply(text="Here's a draft.", form=form))
    draft = [b for b in out if b.get("block_id", "").startswith("rebound.draft.")]
    assert draft[0]["text"] == {"type": "plain_text", "text": "Hi <!here>, could we talk?"}
    [button] = [e for b in out if b["type"] == "actions" for e in b["elements"]]
    assert json.loads(button["value"])["s"] == "r.f"


def test_a_modal_respects_slacks_limits() -> None:
    view = blocks.modal(
        FormRequest(
            "s", "A message to someone you trust", "Your message", "draft", True, 4000, "D1", "1.2"
        )
    )
    assert view["type"] == "modal"
    assert len(view["title"]["text"]) <= 24
    [field] = [b for b in view["blocks"] if b["type"] == "input"]
    assert field["element"]["max_length"] == 3000
    assert field["element"]["initial_value"] == "draft"
    assert json.loads(view["private_metadata"]) == {"s": "s", "c": "D1", "ts": "1.2"}


def test_an_answered_message_loses_its_buttons_and_says_what_was_chosen() -> None:
    posted = blocks.reply_blocks(Reply(text="Which?", choices=(Choice("s:a", "<A>"),)))
    updated = blocks.answered(posted, blocks.chose_note(["<A>"]))
    assert [b["type"] for b in updated] == ["section", "context"]
    assert updated[-1]["elements"][0]["text"] == "You chose: *&lt;A&gt;*"
    again = blocks.answered(updated, blocks.chose_note(["B"]))
    assert [b["type"] for b in again] == ["section", "context"]


def test_breathing_and_files_take_their_place_in_the_order() -> None:
    b = Breathing(count=3, inhale_seconds=4, exhale_seconds=6)
    f = FileOut(name="export.json", data=b"{}")
    out = blocks.plan([Reply(text="Breathe.", breathing=b), Reply(text="After"), Reply(file=f)])
    assert [type(x).__name__ for x in out] == ["Post", "Breathe", "Post", "Upload"]


def test_the_home_tab_has_a_button_for_each_stage() -> None:
    view = blocks.home_view(Reply(text="Welcome.", choices=(Choice("cmd:reflect", "Reflect"),)))
    assert view["type"] == "home"
    assert view["blocks"][-1]["elements"][0]["value"] == "cmd:reflect"
