"""Hostile input, property-based: each adapter's translation layer (pure functions, no network).

Outbound, arbitrary `Reply` objects (huge texts, mention and markup syntax, up to 40 choices with
odd labels and ids, multi-selects, forms, files, breathing) must become messages the platform
accepts: Slack's Block Kit limits, Discord's 2,000-character and component limits, one JSON line
in the terminal, and nothing a user typed may ping anyone. Inbound, payloads of the documented
shape with random missing keys and random values become an `Incoming` or None, never an error.

The checkers (`check_slack_plan`, `check_discord_render`, ...) are also used by
tests/test_fuzz_engine.py on what the real engine says.
"""

from __future__ import annotations

import asyncio
import io
import json
import os
import re
import string
import tempfile
from pathlib import Path
from typing import Any

from hypothesis import example, given, settings
from hypothesis import strategies as st

from adapters.discord import client as discord_client
from adapters.discord import mapping as discord_mapping
from adapters.slack import blocks as slack_blocks
from adapters.slack import mapping as slack_mapping
from adapters.slack.outbox import Outbox
from adapters.terminal import mapping as terminal_mapping
from adapters.terminal.run import run_json
from bot.events import Breathing, Choice, ConversationKey, FileOut, Form, Incoming, Kind, Reply

# No example database (CI is reproducible from the printed failing case); one bug reported at a
# time, so that a red run shrinks one failure instead of several for minutes.
# REBOUND_FUZZ_SCALE=20 multiplies the examples for a long local hunt.
SCALE = float(os.environ.get("REBOUND_FUZZ_SCALE", "1"))
PURE = settings(
    max_examples=int(150 * SCALE), deadline=None, database=None, report_multiple_bugs=False
)
FEW = settings(
    max_examples=int(60 * SCALE), deadline=None, database=None, report_multiple_bugs=False
)

# -- strategies -------------------------------------------------------------------------------

HOSTILE = (
    "<!channel>",
    "<!here>",
    "<!everyone>",
    "<@U123>",
    "<@U0ABC|bob>",
    "<#C123|general>",
    "<!subteam^S1|team>",
    "<!date^1392734382^{date}|x>",
    "@everyone",
    "@here",
    "@channel",
    "<@&123>",
    "<@123>",
    "<@!123>",
    "<#123>",
    "*bold*",
    "_it_",
    "~strike~",
    "`code`",
    "```block```",
    "> quote",
    "- item",
    "&lt;",
    "&gt;",
    "&amp;",
    "&lt;!here&gt;",
    "&",
    "<",
    ">",
    "|",
    "{{ 7331*3 }}",
    "{% for i in range(3) %}q7z{% endfor %}",
    "{{ self.__class__ }}",
    "{0.__class__}",
    "%s%n",
    "\u202e",
    "\u200f",
    "\u200b",
    "\ufeff",
    "\u2028",
    "\x85",
    "\x00",
    "\x1b[31m",
    "\r\n",
    "\n",
    "\n\n",
    "\t",
    " ",
    "https://example.com/a?b=1&c=<2>",
    "<https://evil.example|click>",
    "https://x.example/" + "a" * 120,
    "<mailto:a@b.c|mail>",
    "🙂",
    "👩‍👩‍👧",
    "e\u0301",
    "ﷺ",
    "𒐫",
)

_piece = st.one_of(st.sampled_from(HOSTILE), st.text(max_size=40))
_small = st.one_of(
    st.lists(_piece, max_size=12).map("".join),
    st.lists(_piece, max_size=12).map(" ".join),
    st.text(),
)


def _repeat(unit: str, n: int, sep: str, limit: int) -> str:
    n = min(n, limit // len(unit + sep) + 1)  # build no more than is kept
    return sep.join([unit] * n)[:limit]


def huge_texts(limit: int = 20_000) -> st.SearchStrategy[str]:
    """Long texts built by repetition (Hypothesis cannot draw 20,000 characters one by one)."""
    return st.builds(
        _repeat,
        st.lists(_piece, min_size=1, max_size=6).map("".join).filter(bool),
        st.integers(1, limit),
        st.sampled_from(["", " ", "\n", "\n\n", "&", "<!here>"]),
        st.just(limit),
    )


texts = st.one_of(_small, _small, huge_texts())
nonblank = st.one_of(
    st.sampled_from((*HOSTILE, "1", "Yes", "Skip", "A fairly long label " * 8)),
    st.text(min_size=1, max_size=120),
).filter(lambda s: bool(s.strip()))

_id_chars = string.ascii_letters + string.digits + "._-:"
STEP_LIKE = st.builds(
    lambda a, b, o: f"{a}.{b}:{o}",
    st.text(string.ascii_lowercase, min_size=1, max_size=12),
    st.text(string.ascii_lowercase + "_", min_size=1, max_size=16),
    st.text(_id_chars, min_size=1, max_size=32),
)
PREFIXED = st.builds(
    lambda p, rest: p + rest,
    st.sampled_from(["cmd:", "timer:", "snooze:", "rebound.", "rb:c:", ""]),
    st.one_of(st.text(_id_chars, max_size=60), st.text(max_size=60)),
)
LONG_ID = st.builds(
    lambda unit, n: (unit * n)[:255], st.text(min_size=1, max_size=8), st.integers(1, 255)
)
choice_ids = st.one_of(STEP_LIKE, STEP_LIKE, PREFIXED, LONG_ID).filter(bool)
choices = st.lists(
    st.builds(Choice, id=choice_ids, label=nonblank), max_size=40, unique_by=lambda c: c.id
)
short_choices = st.lists(
    st.builds(Choice, id=STEP_LIKE, label=st.sampled_from(["1", "2", "10", "Yes", "No"])),
    max_size=25,
    unique_by=lambda c: c.id,
)
forms = st.builds(
    Form,
    title=st.one_of(st.sampled_from(["Your journal entry", "Edit"]), nonblank),
    label=st.one_of(st.sampled_from(["Write here"]), nonblank),
    submit_id=st.one_of(
        STEP_LIKE.map(lambda s: s.split(":")[0]), st.text(_id_chars, min_size=1, max_size=120)
    ),
    initial=texts,
    multiline=st.booleans(),
    max_length=st.integers(1, 4000),
)
files = st.builds(
    FileOut,
    name=st.from_regex(r"[a-z0-9][a-z0-9._-]{0,40}", fullmatch=True),
    data=st.binary(max_size=64),
    mime=st.sampled_from(["application/json", "image/png", "text/markdown"]),
    is_image=st.booleans(),
    alt=_small,
)
breathings = st.builds(
    Breathing,
    count=st.integers(1, 20),
    inhale_seconds=st.floats(0, 10),
    exhale_seconds=st.floats(0, 10),
)


def has_content(reply: Reply) -> bool:
    """The engine's promise: a reply always carries something to show."""
    return bool(reply.text.strip() or reply.choices or reply.form or reply.file or reply.breathing)


replies = st.builds(
    Reply,
    text=texts,
    choices=st.one_of(choices, short_choices),
    multi=st.booleans(),
    form=st.none() | forms,
    file=st.none() | files,
    breathing=st.none() | breathings,
    private=st.booleans(),
    safety=st.sampled_from([None, "crisis", "distress"]),
).filter(has_content)
reply_lists = st.lists(replies, min_size=1, max_size=5)


# -- Slack: checkers ---------------------------------------------------------------------------

_LINK = re.compile(r"<([^<>]*)>")


def assert_no_ping(mrkdwn_text: str, where: str = "") -> None:
    """Every `<` in text Slack parses opens a web link the adapter made (`<https://...>`): never
    a mention (`<@U1>`), a special mention (`<!here>`), a channel (`<#C1>`) or a link whose
    label hides its address (`<https://evil|bank>`). (A link longer than a section may be cut in
    two; that is ugly but pings nobody, so it is allowed here.)"""
    for match in re.finditer(r"<", mrkdwn_text):
        rest = mrkdwn_text[match.start() + 1 :]
        cut_short = len(rest) < 8 and "https://".startswith(rest)  # a link cut at the very end
        assert rest.startswith(("http://", "https://")) or cut_short, (
            f"unescaped token in {where}: {rest[:40]!r}"
        )
        token = _LINK.match(mrkdwn_text, match.start())
        if token is not None:
            assert "|" not in token.group(1), f"a link with a label in {where}: {token.group(1)!r}"


def _check_text_object(obj: dict[str, Any], limit: int, where: str) -> None:
    assert obj["type"] in ("mrkdwn", "plain_text"), where
    text = obj["text"]
    assert isinstance(text, str) and 1 <= len(text) <= limit, (where, len(text))
    if obj["type"] == "mrkdwn":
        assert obj.get("verbatim") is True, f"mrkdwn not verbatim in {where}"
        assert_no_ping(text, where)


def _check_option(option: dict[str, Any], where: str) -> None:
    _check_text_object(option["text"], slack_blocks.MAX_BUTTON_TEXT, where)
    assert option["text"]["type"] == "plain_text"
    assert 1 <= len(option["value"]) <= slack_blocks.MAX_OPTION_VALUE, (where, option["value"])


def check_slack_blocks(blocks: list[dict[str, Any]], max_blocks: int = 50) -> None:
    """Block Kit limits for one message (or view) and no ping from any text Slack parses."""
    assert 1 <= len(blocks) <= max_blocks, len(blocks)
    block_ids = [b["block_id"] for b in blocks if "block_id" in b]
    assert len(block_ids) == len(set(block_ids)), f"duplicate block ids {block_ids}"
    assert all(1 <= len(b) <= 255 for b in block_ids)
    action_ids: list[str] = []
    for block in blocks:
        kind = block["type"]
        if kind == "section":
            _check_text_object(block["text"], slack_blocks.MAX_SECTION, "section")
        elif kind == "context":
            assert 1 <= len(block["elements"]) <= 10
            for element in block["elements"]:
                _check_text_object(element, 3000, "context")
        elif kind == "actions":
            elements = block["elements"]
            assert 1 <= len(elements) <= 25, f"{len(elements)} elements in one actions block"
            for element in elements:
                action_ids.append(element["action_id"])
                assert 1 <= len(element["action_id"]) <= 255
                if element["type"] == "button":
                    _check_text_object(element["text"], slack_blocks.MAX_BUTTON_TEXT, "button")
                    assert element["text"]["type"] == "plain_text"
                    assert 1 <= len(element["value"]) <= slack_blocks.MAX_VALUE
                elif element["type"] == "static_select":
                    assert 1 <= len(element["options"]) <= slack_blocks.MAX_SELECT
                    _check_text_object(element["placeholder"], 150, "placeholder")
                    for option in element["options"]:
                        _check_option(option, "select option")
                elif element["type"] == "checkboxes":
                    assert 1 <= len(element["options"]) <= slack_blocks.MAX_CHECKBOXES
                    for option in element["options"]:
                        _check_option(option, "checkbox")
                else:
                    raise AssertionError(f"unexpected element {element['type']}")
        elif kind == "input":
            _check_text_object(block["label"], 2000, "input label")
        else:
            raise AssertionError(f"unexpected block {kind}")
    assert len(action_ids) == len(set(action_ids)), f"duplicate action ids {action_ids}"


def _reachable_slack(blocks: list[dict[str, Any]]) -> set[str]:
    values: set[str] = set()
    for block in blocks:
        for element in block.get("elements", ()):
            if element.get("type") == "button":
                values.add(element["value"])
            for option in element.get("options", ()):
                values.add(option["value"])
    return values


def check_slack_plan(replies: list[Reply]) -> list[Any]:
    """What `blocks.plan` makes of a turn's replies is valid Block Kit, in order, losing no
    question: every choice can still be pressed."""
    planned = slack_blocks.plan(replies)
    reachable: set[str] = set()
    for item in planned:
        if isinstance(item, slack_blocks.Post):
            assert 1 <= len(item.text) <= slack_blocks.MAX_FALLBACK
            assert "<" not in item.text and ">" not in item.text, "unescaped fallback text"
            check_slack_blocks(item.blocks)
            reachable |= _reachable_slack(item.blocks)
    for reply in replies:
        for choice in reply.choices:
            if len(choice.id) <= slack_blocks.MAX_OPTION_VALUE:
                assert choice.id in reachable, f"choice {choice.id!r} cannot be pressed"
    n_breathing = sum(isinstance(i, slack_blocks.Breathe) for i in planned)
    n_files = sum(isinstance(i, slack_blocks.Upload) for i in planned)
    assert n_breathing == sum(r.breathing is not None for r in replies)
    assert n_files == sum(r.file is not None for r in replies)
    return planned


def _press_form_button(post: slack_blocks.Post) -> dict[str, Any] | None:
    for block in post.blocks:
        for element in block.get("elements", ()):
            if element.get("action_id") == slack_mapping.FORM:
                return {
                    "type": "block_actions",
                    "team": {"id": "T1"},
                    "user": {"id": "U1"},
                    "trigger_id": "trig",
                    "container": {"type": "message", "channel_id": "D1", "message_ts": "1.2"},
                    "message": {"ts": "1.2", "blocks": post.blocks},
                    "actions": [{**element, "block_id": block["block_id"], "action_ts": "3.4"}],
                }
    return None


def check_slack_modal(view: dict[str, Any]) -> None:
    assert view["type"] == "modal"
    for key in ("title", "submit", "close"):
        assert view[key]["type"] == "plain_text"
        assert 1 <= len(view[key]["text"]) <= slack_blocks.MAX_MODAL_TITLE, (key, view[key])
    assert len(view["private_metadata"]) <= 3000
    assert len(view["callback_id"]) <= 255
    check_slack_blocks(view["blocks"], max_blocks=100)
    [field] = [b for b in view["blocks"] if b["type"] == "input"]
    element = field["element"]
    assert 1 <= element["max_length"] <= slack_blocks.MAX_INPUT
    assert len(element.get("initial_value", "")) <= slack_blocks.MAX_INPUT


# -- Discord: checkers -------------------------------------------------------------------------


def _no_mentions(allowed: Any) -> None:
    assert allowed.to_dict() == {"parse": []}, allowed.to_dict()
    assert not allowed.everyone and not allowed.users and not allowed.roles
    assert not allowed.replied_user


def _check_discord_components(rows: list[dict[str, Any]]) -> set[str]:
    """Discord's component limits, on the JSON discord.py would send. Returns what can be
    chosen: button custom ids and select option values."""
    assert len(rows) <= discord_mapping.MAX_ROWS, f"{len(rows)} action rows"
    custom_ids: list[str] = []
    chosen: set[str] = set()
    for row in rows:
        assert row["type"] == 1
        items = row["components"]
        assert 1 <= len(items) <= 5
        if any(i["type"] == 3 for i in items):
            assert len(items) == 1, "a select menu shares its row"
        for item in items:
            custom_ids.append(item["custom_id"])
            assert 1 <= len(item["custom_id"]) <= discord_mapping.MAX_CUSTOM_ID
            if item["type"] == 2:
                assert 1 <= len(item["label"]) <= discord_mapping.MAX_LABEL, item["label"]
                chosen.add(item["custom_id"])
            else:
                assert item["type"] == 3
                options = item["options"]
                assert 1 <= len(options) <= discord_mapping.MAX_SELECT_OPTIONS
                assert 1 <= item["min_values"] <= item["max_values"] <= len(options)
                assert len(item.get("placeholder", "")) <= 150
                values = [o["value"] for o in options]
                assert len(values) == len(set(values)), "duplicate option values"
                for option in options:
                    assert 1 <= len(option["label"]) <= discord_mapping.MAX_OPTION_LABEL
                    assert 1 <= len(option["value"]) <= 100
                    chosen.add(discord_mapping.CHOICE + option["value"])
    assert len(custom_ids) == len(set(custom_ids)), f"duplicate custom ids {custom_ids}"
    return chosen


def check_discord_render(replies: list[Reply]) -> list[discord_mapping.Outgoing]:
    """`mapping.render` makes messages Discord accepts, each sent with every mention off (as
    the client sends it: `client._parts`), and every choice that can be named still can be."""
    outs = discord_mapping.render(replies)
    longest_frame = max(
        (
            len(discord_mapping.with_status("x", text))
            for r in replies
            if r.breathing
            for text, _ in discord_mapping.breath_frames(r.breathing)
        ),
        default=0,
    )

    async def build() -> set[str]:
        chosen: set[str] = set()
        for out in outs:
            assert len(out.content) <= discord_mapping.MAX_CONTENT, len(out.content)
            assert out.content.strip() or out.rows or out.card or out.files or out.breathing, (
                "an empty Discord message"
            )
            if out.breathing:
                status = max(longest_frame, len(discord_mapping.BREATH_PAUSED) + 3)
                assert len(out.content) + status <= discord_mapping.MAX_CONTENT
            assert len(out.files) <= discord_mapping.MAX_FILES
            parts = discord_client._parts(out)
            _no_mentions(parts["allowed_mentions"])
            if out.card is not None:
                embed = parts["embed"].to_dict()
                assert 1 <= len(embed.get("title", "")) <= discord_mapping.MAX_EMBED_TITLE
                assert len(embed.get("description", "")) <= discord_mapping.MAX_EMBED_DESCRIPTION
                assert len(embed.get("footer", {}).get("text", "")) <= discord_mapping.MAX_FOOTER
                assert len(parts["embed"]) <= 6000
                check_discord_modal(out, embed)
            if out.rows:
                components = parts["view"].to_components()
                chosen |= _check_discord_components(components)
                rows = discord_mapping.rows_from_components(components)
                assert rows == list(out.rows), "components do not read back as sent"
                frozen = discord_client.build_view(
                    discord_mapping.freeze(
                        rows, pressed=components[0]["components"][0]["custom_id"]
                    )
                ).to_components()
                _check_discord_components(frozen)
        return chosen

    chosen = asyncio.run(build())
    for reply in replies:
        for choice in reply.choices:
            if len(discord_mapping.CHOICE + choice.id) <= discord_mapping.MAX_CUSTOM_ID:
                assert discord_mapping.CHOICE + choice.id in chosen, f"lost {choice.id!r}"
    return outs


def check_discord_modal(out: discord_mapping.Outgoing, embed: dict[str, Any]) -> None:
    """The "Write it" button opens a modal Discord accepts, rebuilt from the card alone."""
    [write] = [
        b
        for row in out.rows
        for b in row
        if isinstance(b, discord_mapping.Button) and b.custom_id.startswith(discord_mapping.WRITE)
    ]
    spec = discord_mapping.modal_for(write.custom_id, [embed])
    assert spec is not None, f"the form button {write.custom_id!r} opens nothing"
    assert 1 <= len(spec.title) <= discord_mapping.MAX_MODAL_TITLE
    assert 1 <= len(spec.label) <= discord_mapping.MAX_MODAL_LABEL
    assert len(spec.value) <= min(spec.max_length, discord_mapping.MAX_TEXT_INPUT)
    assert len(spec.custom_id) <= discord_mapping.MAX_CUSTOM_ID
    modal = discord_client.build_modal(spec).to_dict()
    assert modal["title"] == spec.title and modal["custom_id"] == spec.custom_id


def check_terminal_json(replies: list[Reply]) -> str:
    """`rebound chat --json`: one input line in, exactly one line of valid JSON out."""

    class Engine:
        async def handle(self, event: Incoming) -> list[Reply]:
            return replies

    stdout = io.StringIO()
    with tempfile.TemporaryDirectory() as files_dir:
        asyncio.run(
            run_json(Engine(), Path(files_dir), io.StringIO('{"user":"u","text":"hi"}\n'), stdout)
        )
    out = stdout.getvalue()
    assert out.endswith("\n") and out.count("\n") == 1 and "\r" not in out
    line = out[:-1]
    decoded = json.loads(line)
    assert [r["text"] for r in decoded["replies"]] == [r.text for r in replies]
    return line


# -- outbound properties ------------------------------------------------------------------------


# Cases Hypothesis found, kept as explicit examples so that they are tried first, every run.
_MULTI_EMPTY = Reply(text="Which fit?", multi=True)
_LONG_ID = Choice("feel.name:" + "x" * 141, "Tired")  # 151 characters: Slack allows 150
_MANY = tuple(Choice(f"journal.write:o{i}", f"Option {i}") for i in range(25))
_COMMANDS = tuple(Choice(f"cmd:c{i}", f"Command {i}") for i in range(25))


@PURE
@given(reply_lists)
@example([_MULTI_EMPTY, _MULTI_EMPTY])  # two multi-selects without options: one message
@example([Reply(text="Which fit?", choices=(Choice("feel.name:sad", "Sad"), _LONG_ID), multi=True)])
@example([Reply(text="Write", form=Form("Journal", "Write here", "journal.write"), choices=_MANY)])
@example(
    [Reply(text="Which fit?", choices=(Choice("feel.name:sad", "Sad"), *_COMMANDS), multi=True)]
)
def test_slack_messages_respect_block_kit_limits_and_ping_nobody(batch: list[Reply]) -> None:
    check_slack_plan(batch)


@PURE
@given(replies.filter(lambda r: r.form is not None))
def test_a_slack_form_button_opens_a_valid_modal_with_its_draft(reply: Reply) -> None:
    assert reply.form is not None
    [post] = [p for p in slack_blocks.plan([reply]) if isinstance(p, slack_blocks.Post)]
    body = _press_form_button(post)
    assert body is not None
    request = slack_mapping.form_request(body)
    assert request is not None, "pressing the form's button opens no modal"
    assert request.submit_id == reply.form.submit_id
    assert request.initial == reply.form.initial[: slack_blocks.MAX_INPUT]
    check_slack_modal(slack_blocks.modal(request))


@PURE
@given(st.lists(_small, max_size=40), replies)
def test_slack_answered_note_and_home_tab_are_valid(labels: list[str], reply: Reply) -> None:
    note = slack_blocks.chose_note(labels)
    blocks = slack_blocks.answered(slack_blocks.reply_blocks(reply), note)
    check_slack_blocks(blocks, max_blocks=100)
    home = slack_blocks.home_view(reply)
    assert home["type"] == "home"
    if home["blocks"]:
        check_slack_blocks(home["blocks"], max_blocks=slack_blocks.MAX_HOME_BLOCKS)


@FEW
@given(reply_lists)
def test_slack_posts_are_sent_without_link_names_or_unfurls(batch: list[Reply]) -> None:
    calls: list[tuple[str, dict[str, Any]]] = []

    class Client:
        async def chat_postMessage(self, **kw: Any) -> dict[str, Any]:
            calls.append(("post", kw))
            return {"ts": "1.1", "channel": kw["channel"]}

        async def chat_update(self, **kw: Any) -> dict[str, Any]:
            calls.append(("update", kw))
            return {}

        async def files_upload_v2(self, **kw: Any) -> dict[str, Any]:
            calls.append(("file", kw))
            return {}

    async def no_wait(_seconds: float) -> None:
        return None

    asyncio.run(Outbox(pace=no_wait).deliver(Client(), "D1", batch))  # type: ignore[arg-type]
    posts = [kw for kind, kw in calls if kind == "post" and "unfurl_links" in kw]
    assert len(posts) == sum(isinstance(i, slack_blocks.Post) for i in slack_blocks.plan(batch))
    for kw in posts:
        assert kw["link_names"] is False and kw["unfurl_links"] is False
        assert kw["unfurl_media"] is False
    for kind, kw in calls:
        if kind in ("post", "update"):
            assert "<" not in kw["text"] and ">" not in kw["text"]
            for block in kw["blocks"]:
                if block.get("text", {}).get("type") == "mrkdwn":
                    assert_no_ping(block["text"]["text"], "posted section")


@PURE
@given(reply_lists)
def test_discord_messages_respect_limits_and_mention_nobody(batch: list[Reply]) -> None:
    check_discord_render(batch)


def test_the_discord_client_itself_allows_no_mentions() -> None:
    _no_mentions(discord_client.NO_MENTIONS)
    _no_mentions(discord_client.Rebound(adapter=None).allowed_mentions)  # type: ignore[arg-type]


@PURE
@given(reply_lists)
def test_terminal_json_output_is_one_valid_json_line(batch: list[Reply]) -> None:
    check_terminal_json(batch)
    for reply in batch:
        assert isinstance(terminal_mapping.render(reply), str)


# -- inbound: Slack -----------------------------------------------------------------------------

ids = st.one_of(st.from_regex(r"[UWTCDB][A-Z0-9]{2,11}", fullmatch=True), st.text(max_size=20))
wire_texts = st.one_of(texts, st.lists(st.sampled_from(HOSTILE), max_size=10).map("".join))


def maybe(**fields: st.SearchStrategy[Any]) -> st.SearchStrategy[dict[str, Any]]:
    """A dict in which every key may be missing (Slack's payloads are `total=False`)."""
    return st.fixed_dictionaries({}, optional=fields)


slack_message_events = maybe(
    type=st.sampled_from(["message", "app_home_opened", "app_mention", ""]),
    subtype=st.sampled_from(["file_share", "message_changed", "bot_message", "channel_join"])
    | st.none(),
    channel=ids,
    channel_type=st.sampled_from(["im", "channel", "group", "mpim"]),
    user=ids,
    bot_id=st.sampled_from(["", "B1"]),
    bot_profile=st.dictionaries(st.text(max_size=5), st.text(max_size=5), max_size=2),
    text=wire_texts,
    ts=st.text(max_size=20),
    team=ids,
    tab=st.sampled_from(["home", "messages", "about"]),
)
slack_envelopes = maybe(
    type=st.just("event_callback"),
    team_id=ids,
    api_app_id=ids,
    event=slack_message_events,
    event_id=st.text(max_size=400),
    event_time=st.integers(),
)


def check_slack_incoming(event: Incoming | None) -> None:
    assert event is None or isinstance(event, Incoming)
    if event is not None:
        assert event.key.platform == "slack"
        assert event.event_id is None or len(event.event_id) <= 200  # processed_events column
        assert all(isinstance(c, str) for c in event.choices)


@PURE
@given(slack_envelopes, st.none() | ids)
def test_slack_event_payloads_become_a_turn_or_nothing(
    body: dict[str, Any], bot_user: str | None
) -> None:
    event = slack_mapping.message_to_event(body, bot_user=bot_user)  # type: ignore[arg-type]
    check_slack_incoming(event)
    if event is not None:
        wire = body["event"]
        assert wire["channel_type"] == "im" and wire["user"] and wire["user"] != bot_user
        assert event.text == slack_mapping.from_slack(str(wire.get("text") or ""))
    check_slack_incoming(slack_mapping.welcome_event(body))  # type: ignore[arg-type]
    key = slack_mapping.home_opened_key(body)  # type: ignore[arg-type]
    assert key is None or key.platform == "slack"


@PURE
@given(texts)
def test_slack_wire_text_round_trips_to_what_was_typed(typed: str) -> None:
    """Slack sends `&`, `<` and `>` typed by a user as entities; reading them back gives exactly
    what was typed, and what was typed, sent back, pings nobody."""
    assert slack_mapping.from_slack(slack_blocks.escape(typed)) == typed
    assert_no_ping(slack_blocks.mrkdwn(typed), "mrkdwn")


@PURE
@given(wire_texts)
def test_whatever_slack_delivers_pings_nobody_when_echoed(wire: str) -> None:
    """Whatever arrives (tokens, entities, broken tokens), echoing it back pings nobody."""
    typed = slack_mapping.from_slack(wire)
    assert_no_ping(slack_blocks.mrkdwn(typed), "echo")
    assert_no_ping(slack_blocks.chose_note([typed]), "note")


commands = st.sampled_from(["/rebound", "/reflect", "/plan", "/help", "/REBOUND", "/x", "", "/"])
slash_bodies = st.builds(
    lambda required, optional: {**optional, **required},
    st.fixed_dictionaries({"user_id": ids}),
    maybe(
        team_id=ids,
        channel_id=ids,
        channel_name=st.text(max_size=20),
        command=commands | st.text(max_size=30),
        text=wire_texts,
        trigger_id=st.text(max_size=300),
        response_url=st.text(max_size=30),
    ),
)
COMMAND_NAMES = frozenset({"rebound", "reflect", "plan", "help", "journal", "stop"})


@PURE
@given(slash_bodies, st.booleans())
def test_slack_slash_commands_always_become_a_turn(body: dict[str, Any], own_dm: bool) -> None:
    event = slack_mapping.command_to_event(body, commands=COMMAND_NAMES, own_dm=own_dm)  # type: ignore[arg-type]
    check_slack_incoming(event)
    assert event is not None and event.public is (not own_dm)
    assert event.kind in (Kind.COMMAND, Kind.TEXT)
    assert event.key.user == body["user_id"]


text_objects = maybe(type=st.sampled_from(["plain_text", "mrkdwn"]), text=_small)
option_payloads = st.fixed_dictionaries({"text": text_objects, "value": st.text(max_size=200)})


def _form_value(form: Form) -> str:
    [button] = [
        e
        for b in slack_blocks.form_blocks(form, ())
        for e in b.get("elements", ())
        if e.get("action_id") == slack_mapping.FORM
    ]
    return button["value"]


_action_fields = {
    "block_id": st.text(max_size=30),
    "type": st.sampled_from(["button", "static_select", "checkboxes"]),
    "text": text_objects,
    "selected_option": option_payloads,
    "selected_options": st.lists(option_payloads, max_size=5),
    "action_ts": st.text(max_size=20),
}
action_payloads = st.one_of(
    maybe(
        action_id=st.sampled_from(
            [
                slack_mapping.CHOICE + "0",
                slack_mapping.CHOICE + "12",
                slack_mapping.SELECT,
                slack_mapping.SUBMIT,
                slack_mapping.MULTI + "0",
                "other",
            ]
        )
        | st.text(max_size=30),
        value=st.text(max_size=300),
        **_action_fields,
    ),
    # A form's button always carries the value Rebound gave it (Slack sends it back as is).
    st.builds(
        lambda value, rest: {**rest, "action_id": slack_mapping.FORM, "value": value},
        forms.map(_form_value),
        maybe(**_action_fields),
    ),
)
state_payloads = maybe(
    values=st.dictionaries(
        st.text(max_size=20),
        st.dictionaries(
            st.sampled_from([slack_mapping.MULTI + "0", slack_mapping.FORM_INPUT, "x"]),
            maybe(
                type=st.text(max_size=10),
                selected_options=st.lists(option_payloads, max_size=4),
                value=st.none() | wire_texts,
            ),
            max_size=3,
        ),
        max_size=3,
    )
)
block_actions = st.builds(
    lambda required, optional: {**optional, **required},
    st.fixed_dictionaries({"user": st.fixed_dictionaries({"id": ids})}),
    maybe(
        type=st.just("block_actions"),
        team=maybe(id=ids),
        container=maybe(
            type=st.sampled_from(["message", "view"]),
            message_ts=st.text(max_size=20),
            channel_id=ids,
            view_id=st.text(max_size=300),
            is_ephemeral=st.booleans(),
        ),
        trigger_id=st.text(max_size=20),
        channel=maybe(id=ids),
        message=maybe(
            ts=st.text(max_size=20),
            text=_small,
            blocks=st.lists(
                maybe(
                    block_id=st.sampled_from([slack_mapping.DRAFT + "0", "rebound.choices.0", "x"]),
                    type=st.just("section"),
                    text=text_objects,
                ),
                max_size=4,
            ),
        ),
        view=maybe(id=st.text(max_size=300), type=st.just("home")),
        state=state_payloads,
        actions=st.lists(action_payloads, max_size=2),
    ),
)


@PURE
@given(block_actions)
def test_slack_interactions_become_a_turn_a_form_or_nothing(body: dict[str, Any]) -> None:
    check_slack_incoming(slack_mapping.action_to_event(body))  # type: ignore[arg-type]
    labels = slack_mapping.chosen_labels(body)  # type: ignore[arg-type]
    assert all(isinstance(label, str) for label in labels)
    check_slack_blocks(slack_blocks.answered([], slack_blocks.chose_note(labels)))
    request = slack_mapping.form_request(body)  # type: ignore[arg-type]
    if request is not None:
        check_slack_modal(slack_blocks.modal(request))


view_submissions = st.builds(
    lambda required, optional: {**optional, **required},
    st.fixed_dictionaries({"user": st.fixed_dictionaries({"id": ids})}),
    maybe(
        type=st.just("view_submission"),
        team=maybe(id=ids),
        view=maybe(
            id=st.text(max_size=300),
            type=st.just("modal"),
            callback_id=st.just(slack_mapping.FORM),
            private_metadata=st.one_of(
                st.text(max_size=60),
                st.builds(
                    lambda s, c, t: json.dumps({"s": s, "c": c, "ts": t}),
                    st.text(max_size=40),
                    ids,
                    st.text(max_size=10),
                ),
            ),
            state=state_payloads,
        ),
    ),
)


@PURE
@given(view_submissions)
def test_slack_form_submissions_become_a_turn_or_nothing(body: dict[str, Any]) -> None:
    event = slack_mapping.submission_to_event(body)  # type: ignore[arg-type]
    check_slack_incoming(event)
    if event is not None:
        assert event.kind is Kind.TEXT and event.text.strip()
    meta = slack_mapping.form_meta(body)  # type: ignore[arg-type]
    assert all(isinstance(k, str) and isinstance(v, str) for k, v in meta.items())


# -- inbound: Discord ---------------------------------------------------------------------------

snowflakes = st.integers(0, 2**64 - 1).map(str)
discord_messages = st.builds(
    lambda required, optional: {**optional, **required},
    st.fixed_dictionaries(
        {
            "id": snowflakes,
            "type": st.sampled_from([0, 19, 7, 6, 20, 46]),
            "content": wire_texts,
            "author": st.builds(
                lambda required, optional: {**optional, **required},
                st.fixed_dictionaries({"id": snowflakes}),
                maybe(bot=st.booleans(), system=st.booleans()),
            ),
        }
    ),
    maybe(guild_id=snowflakes, webhook_id=snowflakes, channel_type=st.sampled_from([0, 1, 3, 5])),
)


@PURE
@given(discord_messages, st.none() | snowflakes | st.integers(0, 2**64 - 1))
def test_discord_messages_become_a_turn_or_nothing(payload: dict[str, Any], bot_id: Any) -> None:
    event = discord_mapping.message_to_event(payload, bot_id=bot_id)  # type: ignore[arg-type]
    assert event is None or isinstance(event, Incoming)
    if event is not None:
        assert event.key == ConversationKey("discord", payload["author"]["id"])
        assert (event.kind, event.text, event.event_id) == (
            Kind.TEXT,
            payload["content"],
            payload["id"],
        )
        assert not payload["author"].get("bot") and not payload.get("guild_id")


custom_ids = st.one_of(
    st.builds(
        lambda p, rest: p + rest,
        st.sampled_from(
            [
                discord_mapping.CHOICE,
                discord_mapping.SELECT + "0:",
                discord_mapping.SELECT,
                discord_mapping.WRITE + "p:",
                discord_mapping.WRITE + "s:",
                discord_mapping.FORM,
                "",
            ]
        ),
        st.text(max_size=100),
    ),
    st.text(max_size=110),
)
text_inputs = maybe(
    type=st.sampled_from([4, 2, 18]),
    custom_id=st.sampled_from([discord_mapping.ANSWER, "other"]),
    value=st.none() | wire_texts,
)
modal_components = st.lists(
    st.one_of(
        maybe(type=st.just(1), components=st.lists(text_inputs, max_size=3)),
        maybe(type=st.just(18), component=text_inputs),
        maybe(type=st.integers(0, 20)),
    ),
    max_size=3,
)
interaction_data = maybe(
    name=st.sampled_from(list(discord_mapping.COMMANDS)) | st.text(max_size=20),
    custom_id=custom_ids,
    component_type=st.sampled_from([2, 3]),
    values=st.lists(st.one_of(st.text(min_size=1, max_size=100), st.integers()), max_size=25),
    components=modal_components,
)
discord_interactions = st.builds(
    lambda required, optional: {**optional, **required},
    st.fixed_dictionaries(
        {
            "id": snowflakes,
            "type": st.sampled_from([1, 2, 3, 4, 5, 99]),
            "data": interaction_data,
        }
    ),
    st.one_of(
        st.fixed_dictionaries({"user": st.fixed_dictionaries({"id": snowflakes})}),
        st.fixed_dictionaries(
            {"member": st.fixed_dictionaries({"user": st.fixed_dictionaries({"id": snowflakes})})}
        ),
    ).flatmap(
        lambda who: maybe(
            context=st.sampled_from([0, 1, 2]),
            guild_id=snowflakes,
            channel=st.fixed_dictionaries({"id": snowflakes, "type": st.sampled_from([0, 1, 3])}),
        ).map(lambda rest: {**rest, **who})
    ),
)


@PURE
@given(discord_interactions)
def test_discord_interactions_become_a_turn_or_nothing(payload: dict[str, Any]) -> None:
    event = discord_mapping.interaction_to_event(payload)  # type: ignore[arg-type]
    assert event is None or isinstance(event, Incoming)
    if event is not None:
        assert event.key.platform == "discord" and event.event_id == payload["id"]
        assert event.public is not discord_mapping.is_private(payload)  # type: ignore[arg-type]
        if event.kind is Kind.CHOICE:
            assert event.choices and all(isinstance(c, str) and c for c in event.choices)
    custom_id = str(payload["data"].get("custom_id", ""))
    embeds = [{"title": "t" * 300, "description": "d" * 5000, "footer": {"text": "f" * 100}}]
    spec = discord_mapping.modal_for(custom_id, embeds)
    if spec is not None:
        assert len(spec.title) <= 45 and len(spec.label) <= 45 and len(spec.value) <= 4000
        assert len(spec.custom_id) <= discord_mapping.MAX_CUSTOM_ID


# -- inbound: the terminal ----------------------------------------------------------------------

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=10,
)
json_objects = st.fixed_dictionaries(
    {},
    optional={
        "user": json_values,
        "text": json_values | wire_texts,
        "choice": json_values,
        "command": json_values,
        "event_id": json_values,
    },
)
json_lines = st.one_of(
    json_objects.map(json.dumps),
    json_values.map(json.dumps),
    texts,
    st.builds(lambda n, c: c * n, st.integers(1, 50_000), st.sampled_from(["[", "{", '{"a":'])),
    st.builds(lambda n: '{"user": ' + "7" * n + ', "text": "hi"}', st.integers(1, 10_000)),
)


_DEEP = "[" * 100_000  # json.loads raises RecursionError
_DIGITS = '{"user": ' + "7" * 5_000 + ', "text": "hi"}'  # json.loads raises ValueError


@PURE
@given(json_lines)
@example(_DEEP)
@example(_DIGITS)
def test_terminal_json_lines_become_an_event_or_a_bad_line(raw: str) -> None:
    try:
        event = terminal_mapping.json_to_event(raw)
    except terminal_mapping.BadLine:
        return
    assert isinstance(event, Incoming) and event.key.platform == "terminal"


@FEW
@given(st.lists(json_lines, min_size=1, max_size=4))
@example([_DEEP, '{"user": "u", "text": "still there?"}'])
@example([_DIGITS, '{"user": "u", "text": "still there?"}'])
def test_terminal_json_loop_answers_every_line_with_one_json_line(lines: list[str]) -> None:
    """Whatever a driver writes, `rebound chat --json` answers each non-empty line with one JSON
    line (an error object for a bad one) and keeps going."""

    class Engine:
        async def handle(self, event: Incoming) -> list[Reply]:
            return [Reply(text="ok")]

    stdin = "".join(line.replace("\n", " ").replace("\r", " ") + "\n" for line in lines)
    stdout = io.StringIO()
    with tempfile.TemporaryDirectory() as files_dir:
        asyncio.run(run_json(Engine(), Path(files_dir), io.StringIO(stdin), stdout))
    sent = [line for line in stdin.split("\n")[:-1] if line.strip()]
    answers = stdout.getvalue().split("\n")[:-1]
    assert len(answers) == len(sent)
    for answer in answers:
        assert set(json.loads(answer)) in ({"replies"}, {"error"})


terminal_choices = st.lists(
    st.tuples(choice_ids, nonblank), max_size=40, unique_by=lambda pair: pair[0]
)


@PURE
@given(texts, terminal_choices, st.booleans(), st.none() | texts)
def test_terminal_lines_always_become_an_event(
    line: str, shown: list[tuple[str, str]], multi: bool, initial: str | None
) -> None:
    screen = terminal_mapping.Screen(choices=shown, multi=multi, form_initial=initial)
    event = terminal_mapping.line_to_event(line, ConversationKey("terminal", "u"), screen)
    assert isinstance(event, Incoming)
    assert set(event.choices) <= {choice_id for choice_id, _ in shown}
