"""Pure translation of what Slack sends into engine events. No I/O, no SDK.

Only the slice of each payload that Rebound reads is typed here. A function returns None for
deliveries that are not a user's turn: another bot's or our own post, an edit, a join, a checkbox
being ticked before Submit.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Collection
from dataclasses import dataclass
from typing import Any, TypedDict

from bot.events import ConversationKey, Incoming

PLATFORM = "slack"

# Every interactive element Rebound posts has an action_id under this prefix.
PREFIX = "rebound."
CHOICE = "rebound.choice."  # + position: a button whose value is a choice id
SELECT = "rebound.select"  # a static select whose options' values are choice ids
MULTI = "rebound.multi."  # + position: checkboxes, read when SUBMIT is pressed
SUBMIT = "rebound.submit"
FORM = "rebound.form"  # a button that opens a modal; also the modal's callback_id and block
FORM_INPUT = "rebound.form.input"
DRAFT = "rebound.draft."  # + position: plain-text sections holding a form's draft

_USER_TEXT_SUBTYPES = (None, "file_share")  # a message with a file attached still has words


class MessageEventPayload(TypedDict, total=False):
    type: str
    subtype: str
    channel: str
    channel_type: str
    user: str
    bot_id: str
    bot_profile: dict[str, Any]
    text: str
    ts: str
    team: str


class AppHomeOpenedPayload(TypedDict, total=False):
    type: str
    user: str
    channel: str
    tab: str


class EventEnvelopePayload(TypedDict, total=False):
    type: str
    team_id: str
    api_app_id: str
    event: MessageEventPayload | AppHomeOpenedPayload
    event_id: str
    event_time: int


class SlashCommandPayload(TypedDict, total=False):
    team_id: str
    channel_id: str
    channel_name: str
    user_id: str
    command: str
    text: str
    trigger_id: str
    response_url: str


class TextObject(TypedDict, total=False):
    type: str
    text: str


class OptionPayload(TypedDict):
    text: TextObject
    value: str


class ActionPayload(TypedDict, total=False):
    action_id: str
    block_id: str
    type: str
    value: str
    text: TextObject
    selected_option: OptionPayload
    selected_options: list[OptionPayload]
    action_ts: str


class ContainerPayload(TypedDict, total=False):
    type: str  # "message" or "view"
    message_ts: str
    channel_id: str
    view_id: str
    is_ephemeral: bool


class IdPayload(TypedDict, total=False):
    id: str


class MessagePayload(TypedDict, total=False):
    ts: str
    text: str
    blocks: list[dict[str, Any]]


class StatePayload(TypedDict, total=False):
    values: dict[str, dict[str, dict[str, Any]]]


class ViewPayload(TypedDict, total=False):
    id: str
    type: str
    callback_id: str
    private_metadata: str
    state: StatePayload


class BlockActionsPayload(TypedDict, total=False):
    type: str
    team: IdPayload
    user: IdPayload
    container: ContainerPayload
    trigger_id: str
    channel: IdPayload
    message: MessagePayload
    view: ViewPayload
    state: StatePayload
    actions: list[ActionPayload]


class ViewSubmissionPayload(TypedDict, total=False):
    type: str
    team: IdPayload
    user: IdPayload
    view: ViewPayload


# -- text ------------------------------------------------------------------------------------

_TOKEN = re.compile(r"<([^<>]*)>")


def from_slack(text: str) -> str:
    """What the user actually typed, from Slack's wire format.

    Slack sends `<`, `>` and `&` typed by a user as entities, and mentions and links as `<...>`
    tokens. Mentions become plain `@name` / `#name` text (which pings nobody when sent back),
    links become their label and address, and the entities are decoded last.
    """

    def token(match: re.Match[str]) -> str:
        target, _, label = match.group(1).partition("|")
        if target.startswith(("@", "#")):
            return target[0] + (label.lstrip("@#") or target[1:])
        if target.startswith("!"):
            name = target[1:]
            if name.startswith(("subteam^", "date^")):
                return label or ""
            return "@" + name.split("^", 1)[0]
        target = target.removeprefix("mailto:")
        return f"{label} ({target})" if label and label != target else target

    text = _TOKEN.sub(token, text)
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


def _event_id(*parts: str) -> str:
    """A stable id for one delivery, short enough for the store's processed-event column."""
    raw = "slack:" + ":".join(parts)
    return raw if len(raw) <= 200 else "slack:h:" + hashlib.sha256(raw.encode()).hexdigest()


def _key(team: str | None, user: str) -> ConversationKey:
    return ConversationKey(PLATFORM, user=user, space=team or "")


# -- events ----------------------------------------------------------------------------------


def message_to_event(body: EventEnvelopePayload, *, bot_user: str | None = None) -> Incoming | None:
    """A direct message to the bot (message.im), or None when it is not a user's turn."""
    event = body.get("event") or {}
    if event.get("type") != "message" or event.get("channel_type") != "im":
        return None
    if event.get("subtype") not in _USER_TEXT_SUBTYPES:
        return None  # edits, deletions, joins, bot_message...
    if event.get("bot_id") or event.get("bot_profile"):
        return None
    user = event.get("user")
    if not user or user == bot_user:
        return None
    event_id = body.get("event_id")
    return Incoming.say(
        _key(body.get("team_id"), user),
        from_slack(str(event.get("text") or "")),
        event_id=_event_id(event_id) if event_id else None,
    )


def home_opened_key(body: EventEnvelopePayload) -> ConversationKey | None:
    """Whose App Home tab to draw (app_home_opened on the Home tab), or None."""
    event = body.get("event") or {}
    if event.get("type") != "app_home_opened" or event.get("tab") != "home":
        return None
    user = event.get("user")
    return _key(body.get("team_id"), user) if user else None


def welcome_event(body: EventEnvelopePayload) -> Incoming | None:
    """The first time someone opens the app's Messages tab, the engine's opening (as the terminal
    chat does on start). Its event id is the same on every later visit, so the engine applies it
    once per user and later visits send nothing."""
    event = body.get("event") or {}
    if event.get("type") != "app_home_opened" or event.get("tab") != "messages":
        return None
    user = event.get("user")
    if not user:
        return None
    team = body.get("team_id") or ""
    return Incoming.command(_key(team, user), "start", event_id=_event_id("welcome", team, user))


def command_key(body: SlashCommandPayload) -> ConversationKey:
    return _key(body.get("team_id"), body["user_id"])


def command_to_event(
    body: SlashCommandPayload, *, commands: Collection[str], own_dm: bool
) -> Incoming:
    """A slash command. `/reflect` is the reflect command; `/rebound plan` (or any command of
    ours that is not itself a known name) takes its first word as a subcommand, and several words
    that are not a subcommand are what the user wants to talk about. `own_dm` is true only in the
    user's direct messages with the bot: anywhere else the turn is public and answered privately.
    """
    key = command_key(body)
    kw: dict[str, Any] = {"public": not own_dm}
    if body.get("trigger_id"):
        kw["event_id"] = _event_id("cmd", body.get("team_id", ""), body["trigger_id"])
    name = body.get("command", "").lstrip("/").lower()
    if name in commands and name != "rebound":
        return Incoming.command(key, name, **kw)
    text = from_slack(body.get("text") or "").strip()
    words = text.split()
    if not words:
        return Incoming.command(key, "rebound", **kw)
    first = words[0].lstrip("/").lower()
    if first in commands or len(words) == 1:
        return Incoming.command(key, first, **kw)
    return Incoming.say(key, text, **kw)


# -- interactions ----------------------------------------------------------------------------


def _interaction_key(body: BlockActionsPayload | ViewSubmissionPayload) -> ConversationKey:
    return _key((body.get("team") or {}).get("id"), body["user"]["id"])


def _where(body: BlockActionsPayload) -> tuple[str, str]:
    container = body.get("container") or {}
    if container.get("type") == "message":
        return container.get("channel_id", ""), container.get("message_ts", "")
    return "view", container.get("view_id") or (body.get("view") or {}).get("id", "")


def action_to_event(body: BlockActionsPayload) -> Incoming | None:
    """A button, a select or a Submit under checkboxes: the user chose. None for a checkbox
    being ticked (Submit sends them all) and for the button that opens a form."""
    actions = body.get("actions") or []
    if not actions:
        return None
    action = actions[0]
    action_id = action.get("action_id", "")
    if action_id.startswith(CHOICE):
        choices = [action.get("value", "")]
    elif action_id == SELECT:
        choices = [action.get("selected_option", {}).get("value", "")]
    elif action_id == SUBMIT:
        choices = [o["value"] for o in _ticked(body)]
    else:
        return None
    channel, ts = _where(body)
    # A message's element answers once: a double tap is one turn. A Home tab button can be
    # pressed again another day, so its time is part of the id.
    when = action.get("action_ts", "") if channel == "view" else ""
    event_id = _event_id("act", channel, ts, action_id, when)
    return Incoming.choose(_interaction_key(body), *[c for c in choices if c], event_id=event_id)


def _ticked(body: BlockActionsPayload) -> list[OptionPayload]:
    picked: list[OptionPayload] = []
    for block in ((body.get("state") or {}).get("values") or {}).values():
        for action_id, element in block.items():
            if action_id.startswith(MULTI):
                picked.extend(element.get("selected_options") or [])
    return picked


def chosen_labels(body: BlockActionsPayload) -> list[str]:
    """What the user picked, in words, for the line that replaces the buttons."""
    action = (body.get("actions") or [{}])[0]
    action_id = action.get("action_id", "")
    if action_id == SELECT:
        return [action.get("selected_option", {}).get("text", {}).get("text", "")]
    if action_id == SUBMIT:
        return [o["text"].get("text", "") for o in _ticked(body)]
    return [action.get("text", {}).get("text", "")]


@dataclass(frozen=True, slots=True)
class FormRequest:
    """A press on a form's button: what the modal needs, and the message to update after."""

    submit_id: str
    title: str
    label: str
    initial: str
    multiline: bool
    max_length: int
    channel: str
    ts: str


def form_request(body: BlockActionsPayload) -> FormRequest | None:
    action = (body.get("actions") or [{}])[0]
    if action.get("action_id") != FORM:
        return None
    try:
        meta = json.loads(action.get("value") or "{}")
    except json.JSONDecodeError:
        return None
    blocks = (body.get("message") or {}).get("blocks") or []
    draft = [
        b.get("text", {}).get("text", "")
        for b in blocks
        if str(b.get("block_id", "")).startswith(DRAFT)
    ]
    channel, ts = _where(body)
    return FormRequest(
        submit_id=str(meta.get("s", "")),
        title=str(meta.get("t", "")),
        label=str(meta.get("l", "")),
        initial="".join(draft),
        multiline=bool(meta.get("m", True)),
        max_length=int(meta.get("x", 3000)),
        channel=channel if channel != "view" else "",
        ts=ts if channel != "view" else "",
    )


def form_meta(body: ViewSubmissionPayload) -> dict[str, str]:
    """The private metadata a form's modal carries: the message it was opened from."""
    try:
        meta = json.loads((body.get("view") or {}).get("private_metadata") or "{}")
    except json.JSONDecodeError:
        return {}
    return {k: str(v) for k, v in meta.items()} if isinstance(meta, dict) else {}


def submission_to_event(body: ViewSubmissionPayload) -> Incoming | None:
    """A submitted form: the text as a turn, or None when nothing was written."""
    view = body.get("view") or {}
    values = (view.get("state") or {}).get("values") or {}
    text = (values.get(FORM) or {}).get(FORM_INPUT, {}).get("value") or ""
    if not text.strip():
        return None
    return Incoming.say(
        _interaction_key(body),
        text,
        event_id=_event_id("view", view.get("id", "")),
        answers=form_meta(body).get("s") or None,
    )
