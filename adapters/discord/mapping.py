"""Pure translation between Discord's payloads and the engine's events and replies. No I/O.

Inbound, the functions read the slice of Discord's JSON they need (typed below as `*Payload`) and
return an `Incoming`, or None for anything that is not a turn (our own messages, other bots,
server messages, a button that only opens a form). Outbound, a `Reply` becomes one or more
`Outgoing` messages: text split to Discord's limits, choices as buttons or select menus with
stable custom ids, a form as a card with a button that opens a modal.

Custom ids carry everything needed to act on a press, so a button on a message sent before a
restart works without any state kept in memory:

    rb:c:<choice id>          a button: the choice id as the engine gave it
    rb:s:<n>:<step>           a select menu: the selected values are choice ids
    rb:w:<p|s>:<submit id>    "Write it": opens the form's modal (p: paragraph, s: one line)
    rb:f:<submit id>          the modal itself; its text input is `answer`
"""

from __future__ import annotations

import math
import re
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any, Literal, NotRequired, TypedDict

from bot.events import Breathing, Choice, ConversationKey, FileOut, Form, Incoming, Reply

PLATFORM = "discord"

# Discord's limits (https://discord.com/developers/docs/components/reference).
MAX_CONTENT = 2000
MAX_ROWS = 5
MAX_BUTTONS_PER_ROW = 5
MAX_LABEL = 80
MAX_CUSTOM_ID = 100
MAX_SELECT_OPTIONS = 25
MAX_OPTION_LABEL = 100
MAX_EMBED_DESCRIPTION = 4096
MAX_EMBED_TITLE = 256
MAX_FOOTER = 2048
MAX_MODAL_TITLE = 45
MAX_MODAL_LABEL = 45
MAX_TEXT_INPUT = 4000
MAX_FILES = 10
# Layout choices of ours: more choices than this read better as a menu, unless they are short
# numbers (0-10 is eleven buttons); and room kept under a message for the breathing status line.
MAX_BUTTONS = 10
MAX_NUMBER_BUTTONS = 15
_BREATH_ROOM = 120

CHOICE = "rb:c:"
SELECT = "rb:s:"
WRITE = "rb:w:"
FORM = "rb:f:"
ANSWER = "answer"

CHOICE_TEMPLATE = r"rb:c:(?P<choice>.+)"
SELECT_TEMPLATE = r"rb:s:(?P<index>\d+)(?::(?P<step>.*))?"
WRITE_TEMPLATE = r"rb:w:(?P<style>[ps]):(?P<submit>.+)"

# Interaction types and contexts (Discord's numbers).
APPLICATION_COMMAND = 2
MESSAGE_COMPONENT = 3
MODAL_SUBMIT = 5
CONTEXT_GUILD = 0
CONTEXT_BOT_DM = 1
CONTEXT_PRIVATE_CHANNEL = 2
CHANNEL_DM = 1
# Message types a person writes: DEFAULT and REPLY. Joins, pins, calls... are not turns.
_TURN_MESSAGE_TYPES = frozenset({0, 19})

# The design's commands, in the order Discord lists them. Only those the dialogs provide are
# registered (see `available_commands`), so a command never answers "I don't know /x".
COMMANDS: Mapping[str, str] = {
    "rebound": "Talk through a rejection, or pick up where you left off",
    "reflect": "Look calmly at what happened, and draft a feedback request",
    "plan": "Turn it into next steps, with optional due dates",
    "challenge": "The 7, 30 or 100-day rejection challenge",
    "practice": "Two short practice scenarios",
    "progress": "See how far you've come",
    "journal": "Read or write private journal entries",
    "actions": "Your action items",
    "nudges": "Daily check-ins and reminders",
    "export": "A file with everything Rebound has stored about you",
    "forget": "Delete everything Rebound has stored about you",
    "crisis": "If you're not safe right now: support and helplines",
    "safety": "Your personal safety plan",
    "resources": "Helplines and people to talk to",
    "country": "Set your country, for your local helpline",
    "help": "What Rebound can do, and where to find help",
    "stop": "Leave whatever we're doing (nothing is lost)",
}

# The adapter's own words: Discord chrome the dialogs do not cover (what to do when DMs are
# closed is the dialogs' `dms_closed` text).
WRITE_LABEL = "Write it"
EDIT_LABEL = "Edit the draft"
PICK_ONE = "Choose one…"
PICK_MANY = "Choose any that fit…"
FORM_TITLE = "Your words"
FORM_LABEL = "Write here"


# -- the slices of Discord's JSON that are read -------------------------------------------------


class UserPayload(TypedDict):
    id: str
    bot: NotRequired[bool]
    system: NotRequired[bool]


class MemberPayload(TypedDict):
    user: UserPayload


class MessagePayload(TypedDict):
    """MESSAGE_CREATE's `d` (the fields used)."""

    id: str
    type: int
    content: str
    author: UserPayload
    guild_id: NotRequired[str]
    webhook_id: NotRequired[str]
    channel_type: NotRequired[int]  # not sent by Discord; the glue adds it from its cache


class ChannelPayload(TypedDict):
    id: str
    type: int


class InteractionPayload(TypedDict):
    """INTERACTION_CREATE's `d` (the fields used)."""

    id: str
    type: int
    data: dict[str, Any]
    context: NotRequired[int]
    guild_id: NotRequired[str]
    channel: NotRequired[ChannelPayload]
    user: NotRequired[UserPayload]
    member: NotRequired[MemberPayload]


# -- what goes out ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Button:
    custom_id: str
    label: str
    style: Literal["primary", "secondary", "success"] = "primary"
    disabled: bool = False


@dataclass(frozen=True, slots=True)
class Option:
    value: str
    label: str
    default: bool = False


@dataclass(frozen=True, slots=True)
class Select:
    custom_id: str
    options: tuple[Option, ...]
    placeholder: str
    max_values: int = 1
    disabled: bool = False


Row = tuple[Button, ...] | tuple[Select]


@dataclass(frozen=True, slots=True)
class Card:
    """A form shown in the chat: the draft to edit (if any), above the button that edits it."""

    title: str
    label: str
    initial: str = ""


@dataclass(frozen=True, slots=True)
class Outgoing:
    """One Discord message."""

    content: str = ""
    rows: tuple[Row, ...] = ()
    card: Card | None = None
    files: tuple[FileOut, ...] = ()
    breathing: Breathing | None = None


@dataclass(frozen=True, slots=True)
class ModalSpec:
    custom_id: str
    title: str
    label: str
    value: str
    paragraph: bool = True
    max_length: int = MAX_TEXT_INPUT


# -- inbound ----------------------------------------------------------------------------------


def key_for(user_id: str | int) -> ConversationKey:
    return ConversationKey(PLATFORM, user=str(user_id), space="")


def message_to_event(payload: MessagePayload, *, bot_id: str | int | None) -> Incoming | None:
    """A direct message to the bot, as a turn. Server messages, bots (ourselves included),
    webhooks and system messages are not turns."""
    author = payload["author"]
    if author.get("bot") or author.get("system") or payload.get("webhook_id"):
        return None
    if bot_id is not None and author["id"] == str(bot_id):
        return None
    if payload.get("guild_id") or payload.get("channel_type", CHANNEL_DM) != CHANNEL_DM:
        return None
    if payload["type"] not in _TURN_MESSAGE_TYPES:
        return None
    return Incoming.say(key_for(author["id"]), payload["content"], event_id=str(payload["id"]))


def interaction_user(payload: InteractionPayload) -> str:
    if "member" in payload:
        return str(payload["member"]["user"]["id"])
    return str(payload["user"]["id"])  # type: ignore[typeddict-item]


def is_private(payload: InteractionPayload) -> bool:
    """True only in the user's DM with the bot. Servers, group DMs and DMs between people (where
    a user-installed app can be used) are shared places."""
    context = payload.get("context")
    if context is not None:
        return context == CONTEXT_BOT_DM
    channel = payload.get("channel")
    return not payload.get("guild_id") and channel is not None and channel["type"] == CHANNEL_DM


def interaction_to_event(
    payload: InteractionPayload, *, commands: Collection[str] = COMMANDS
) -> Incoming | None:
    """A slash command, a button or select, or a modal submit, as a turn."""
    key = key_for(interaction_user(payload))
    kw: dict[str, Any] = {"event_id": str(payload["id"]), "public": not is_private(payload)}
    data = payload.get("data") or {}
    kind = payload["type"]
    if kind == APPLICATION_COMMAND:
        name = str(data.get("name", ""))
        return Incoming.command(key, name, **kw) if name in commands else None
    custom_id = str(data.get("custom_id", ""))
    if kind == MESSAGE_COMPONENT:
        if custom_id.startswith(CHOICE) and len(custom_id) > len(CHOICE):
            return Incoming.choose(key, custom_id[len(CHOICE) :], **kw)
        if custom_id.startswith(SELECT):
            values = [str(v) for v in data.get("values") or ()]
            return Incoming.choose(key, *values, **kw) if values else None
        return None  # rb:w: opens a modal and is no turn; anything else is not ours
    if kind == MODAL_SUBMIT and custom_id.startswith(FORM):
        submit_id = custom_id[len(FORM) :] or None
        return Incoming.say(key, modal_value(data.get("components") or ()), answers=submit_id, **kw)
    return None


def modal_value(components: Iterable[Mapping[str, Any]]) -> str:
    """The text typed into the modal, from a Label (type 18, discord.py 2.6+) or an action row
    (type 1, the older layout)."""
    for component in components:
        inner = [component.get("component")] if component.get("type") == 18 else []
        inner += list(component.get("components") or ())
        for item in inner:
            if item and item.get("type") == 4 and item.get("custom_id") == ANSWER:
                return str(item.get("value") or "")
    return ""


# -- outbound ---------------------------------------------------------------------------------


def render(replies: Sequence[Reply]) -> list[Outgoing]:
    """A turn's replies as Discord messages. A file that comes on its own (an export after the
    sentence that announces it) is attached to the message before it."""
    out: list[Outgoing] = []
    for reply in replies:
        if reply.file is not None and not (reply.text or reply.choices or reply.form) and out:
            last = out[-1]
            if not last.rows and last.breathing is None and len(last.files) < MAX_FILES:
                out[-1] = replace(last, files=(*last.files, reply.file))
                continue
        out += to_messages(reply)
    return out


def to_messages(reply: Reply) -> list[Outgoing]:
    """A reply as Discord messages: long text split at paragraph or line breaks; choices, the
    form card, the file and the breathing exercise go with the last message."""
    card = None
    rows: list[Row] = []
    if reply.form is not None:
        card = Card(
            title=_cut(reply.form.title, MAX_EMBED_TITLE),
            label=_cut(reply.form.label, MAX_FOOTER),
            initial=_cut(reply.form.initial, MAX_EMBED_DESCRIPTION),
        )
        rows.append((write_button(reply.form),))
    rows += choice_rows(reply.choices, multi=reply.multi, rows=MAX_ROWS - len(rows))
    room = MAX_CONTENT - (_BREATH_ROOM if reply.breathing else 0)
    chunks = split_content(to_markdown(reply.text), room) or [""]
    out = [Outgoing(content=c) for c in chunks[:-1]]
    last = Outgoing(
        content=chunks[-1],
        rows=tuple(rows),
        card=card,
        files=(reply.file,) if reply.file is not None else (),
        breathing=reply.breathing,
    )
    # Nothing left to show (no text, and no choice whose id fits Discord's 100-character
    # custom_id): Discord refuses an empty message, so none is sent.
    if last.content.strip() or last.rows or last.card or last.files or last.breathing:
        out.append(last)
    return out


def write_button(form: Form) -> Button:
    style = "p" if form.multiline else "s"
    custom_id = f"{WRITE}{style}:{form.submit_id}"
    label = EDIT_LABEL if form.initial else WRITE_LABEL
    return Button(custom_id=custom_id[:MAX_CUSTOM_ID], label=label)


def choice_rows(choices: Sequence[Choice], *, multi: bool, rows: int = MAX_ROWS) -> list[Row]:
    """Buttons while there are few and they fit in tidy rows (long labels get fewer per row; the
    numbers 1-10 make two rows of five), otherwise select menus of up to 25 options. A
    multi-select is always a select menu, whose `max_values` lets the user pick several."""
    if not choices or rows <= 0:
        return []
    longest = max(len(c.label) for c in choices)
    per_row = 5 if longest <= 12 else 3 if longest <= 24 else 2 if longest <= 38 else 1
    needed = math.ceil(len(choices) / per_row)
    buttons_fit = all(len(CHOICE + c.id) <= MAX_CUSTOM_ID for c in choices)
    few = len(choices) <= (MAX_BUTTONS if longest > 3 else MAX_NUMBER_BUTTONS)
    if not multi and buttons_fit and few and needed <= rows:
        size = math.ceil(len(choices) / needed)
        return [
            tuple(_button(c) for c in choices[i : i + size]) for i in range(0, len(choices), size)
        ]
    usable = [c for c in choices if len(c.id) <= MAX_CUSTOM_ID]
    step = _step_of(usable)
    menus: list[Row] = []
    for n, start in enumerate(range(0, len(usable), MAX_SELECT_OPTIONS)):
        if n >= rows:
            break
        group = usable[start : start + MAX_SELECT_OPTIONS]
        options = tuple(Option(c.id, _cut(c.label, MAX_OPTION_LABEL)) for c in group)
        custom_id = f"{SELECT}{n}:{step}"[:MAX_CUSTOM_ID]
        placeholder = PICK_MANY if multi else PICK_ONE
        menus.append((Select(custom_id, options, placeholder, len(group) if multi else 1),))
    return menus


def _button(choice: Choice) -> Button:
    style = "secondary" if choice.id.startswith(("cmd:", "snooze:")) else "primary"
    return Button(custom_id=CHOICE + choice.id, label=_cut(choice.label, MAX_LABEL), style=style)


def _step_of(choices: Sequence[Choice]) -> str:
    steps = {c.id.rpartition(":")[0] for c in choices}
    return steps.pop() if len(steps) == 1 else ""


# -- after a press ----------------------------------------------------------------------------


def rows_from_components(components: Iterable[Mapping[str, Any]]) -> list[Row]:
    """Our buttons and selects read back from a message's components (Discord's JSON)."""
    rows: list[Row] = []
    for row in components:
        if row.get("type") != 1:
            continue
        items = list(row.get("components") or ())
        buttons = tuple(
            Button(
                custom_id=str(b["custom_id"]),
                label=str(b.get("label") or ""),
                style=_STYLE_NAMES.get(int(b.get("style", 1)), "secondary"),
                disabled=bool(b.get("disabled")),
            )
            for b in items
            if b.get("type") == 2 and b.get("custom_id")
        )
        if buttons:
            rows.append(buttons)
        for s in items:
            if s.get("type") == 3:
                options = tuple(
                    Option(str(o["value"]), str(o["label"]), bool(o.get("default")))
                    for o in s.get("options") or ()
                )
                rows.append(
                    (
                        Select(
                            custom_id=str(s["custom_id"]),
                            options=options,
                            placeholder=str(s.get("placeholder") or ""),
                            max_values=int(s.get("max_values", 1)),
                            disabled=bool(s.get("disabled")),
                        ),
                    )
                )
    return rows


_STYLE_NAMES: dict[int, Literal["primary", "secondary", "success"]] = {
    1: "primary",
    2: "secondary",
    3: "success",
}


def freeze(rows: Sequence[Row], *, pressed: str, values: Collection[str] = ()) -> list[Row]:
    """The message's components once answered: nothing can be pressed again, and the answer
    stays visible (the pressed button in green, the chosen options selected)."""
    frozen: list[Row] = []
    for row in rows:
        if row and isinstance(row[0], Select):
            menu = row[0]
            options = tuple(replace(o, default=o.value in values) for o in menu.options)
            frozen.append((replace(menu, options=options, disabled=True),))
        else:
            frozen.append(
                tuple(
                    replace(
                        b,
                        disabled=True,
                        style="success" if b.custom_id == pressed else "secondary",
                    )
                    for b in row
                    if isinstance(b, Button)
                )
            )
    return frozen


def modal_for(custom_id: str, embeds: Sequence[Mapping[str, Any]]) -> ModalSpec | None:
    """The modal a "Write it" button opens. Its title, label and draft come from the card on the
    same message, so the button works the same after a restart."""
    match = re.fullmatch(WRITE_TEMPLATE, custom_id)
    if match is None:
        return None
    card = embeds[0] if embeds else {}
    footer = card.get("footer") or {}
    return ModalSpec(
        custom_id=(FORM + match["submit"])[:MAX_CUSTOM_ID],
        title=_cut(str(card.get("title") or FORM_TITLE), MAX_MODAL_TITLE),
        label=_cut(str(footer.get("text") or FORM_LABEL), MAX_MODAL_LABEL),
        value=str(card.get("description") or "")[:MAX_TEXT_INPUT],
        paragraph=match["style"] == "p",
    )


# -- text -------------------------------------------------------------------------------------

_BOLD = re.compile(r"(?<![\w*])\*(?=\S)([^*\n]+?)(?<=\S)\*(?![\w*])")


def to_markdown(text: str) -> str:
    """The engine's markup as Discord markdown: `*bold*` becomes `**bold**`; `_italic_`, quotes
    (`> `) and bullets (`- `) are the same on Discord."""
    return _BOLD.sub(r"**\1**", text)


def split_content(text: str, limit: int = MAX_CONTENT) -> list[str]:
    """Text in pieces of at most `limit` characters, cut at a paragraph, a line, then a space."""
    text = text.strip()
    pieces: list[str] = []
    while len(text) > limit:
        window = text[: limit + 1]
        cut = max(window.rfind("\n\n"), 0) or max(window.rfind("\n"), 0) or window.rfind(" ")
        if cut <= limit // 4:
            cut = limit
        pieces.append(text[:cut].rstrip())
        text = text[cut:].lstrip()
    if text:
        pieces.append(text)
    return pieces


def breath_frames(b: Breathing) -> list[tuple[str, float]]:
    """Each step of the exercise and how long it stays on screen."""
    frames: list[tuple[str, float]] = []
    for n in range(1, b.count + 1):
        frames.append((f"_Breath {n} of {b.count}: breathe in…_", b.inhale_seconds))
        frames.append((f"_Breath {n} of {b.count}: and slowly out…_", b.exhale_seconds))
    done = "one slow breath" if b.count == 1 else f"{b.count} slow breaths"
    frames.append((f"_That's {done}. Well done._", 0.0))
    return frames


BREATH_PAUSED = "_We can come back to breathing any time._"


def with_status(content: str, status: str) -> str:
    return f"{content}\n\n{status}" if content else status


def _cut(text: str, limit: int) -> str:
    text = " ".join(text.split()) if limit <= MAX_LABEL else text
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def available_commands(flow_commands: Collection[str]) -> dict[str, str]:
    """The design's commands that the loaded dialogs provide, with their descriptions."""
    return {name: text for name, text in COMMANDS.items() if name in flow_commands}
