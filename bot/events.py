"""The neutral vocabulary between adapters and the engine.

Adapters turn platform payloads into an `Incoming` and turn each `Reply` into platform messages.
Nothing here knows about Slack, Discord or the terminal.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Kind(StrEnum):
    TEXT = "text"
    CHOICE = "choice"
    COMMAND = "command"
    TIMER = "timer"


@dataclass(frozen=True, slots=True)
class ConversationKey:
    """Who the bot is talking to. `space` is the workspace or guild ("" where there is none)."""

    platform: str
    user: str
    space: str = ""

    def __str__(self) -> str:
        return f"{self.platform}:{self.space}:{self.user}"

    @classmethod
    def parse(cls, value: str) -> ConversationKey:
        platform, space, user = value.split(":", 2)
        return cls(platform=platform, user=user, space=space)


@dataclass(frozen=True, slots=True)
class Incoming:
    """One user turn.

    `text` holds the message (TEXT), the command name without a slash (COMMAND) or the timer id
    (TIMER). `choices` holds the chosen choice ids (CHOICE; several for a multi-select).
    `event_id` is the platform's delivery id, used to apply a redelivered event only once.
    `public` is true when the user wrote in a shared channel: the reply must then be private.
    `answers` is set when the text comes from a form (a modal): it names the step the form was
    opened for, so a form left open while the conversation moved on is refused, not misfiled.
    `tz` is offered to the user as the default when they set up nudges; never used unasked.
    """

    key: ConversationKey
    kind: Kind
    text: str = ""
    choices: tuple[str, ...] = ()
    event_id: str | None = None
    public: bool = False
    answers: str | None = None  # a form's submit_id: this text answers that step, or none
    tz: str | None = None  # the user's time zone as the platform knows it (Slack's profile)

    @classmethod
    def say(cls, key: ConversationKey, text: str, **kw: object) -> Incoming:
        return cls(key=key, kind=Kind.TEXT, text=text, **kw)  # type: ignore[arg-type]

    @classmethod
    def command(cls, key: ConversationKey, name: str, **kw: object) -> Incoming:
        return cls(key=key, kind=Kind.COMMAND, text=name.lstrip("/"), **kw)  # type: ignore[arg-type]

    @classmethod
    def choose(cls, key: ConversationKey, *choice_ids: str, **kw: object) -> Incoming:
        return cls(key=key, kind=Kind.CHOICE, choices=tuple(choice_ids), **kw)  # type: ignore[arg-type]


@dataclass(frozen=True, slots=True)
class Choice:
    """A button. `id` is stable across restarts and deployments (no positions, no rendered text)."""

    id: str
    label: str


@dataclass(frozen=True, slots=True)
class Form:
    """A request for longer text: a modal on Slack and Discord, a prompt in the terminal."""

    title: str
    label: str
    submit_id: str
    initial: str = ""
    multiline: bool = True
    max_length: int = 4000


@dataclass(frozen=True, slots=True)
class FileOut:
    """A file for the user (an export, a chart). The adapter saves or uploads it."""

    name: str
    data: bytes
    mime: str = "application/octet-stream"
    is_image: bool = False
    alt: str = ""


@dataclass(frozen=True, slots=True)
class Breathing:
    """A paced breathing exercise. Adapters pace it (one message edited in place where they can)."""

    count: int
    inhale_seconds: float
    exhale_seconds: float


@dataclass(frozen=True, slots=True)
class Reply:
    """One message from the bot.

    `text` uses a small markup subset: `*bold*`, `_italic_`, lines starting with `> ` (quote) and
    `- ` (bullet). `multi` marks `choices` as a multi-select that ends with the `done` choice.
    `private` asks the adapter to answer only the user (ephemeral, or in their DM).
    `safety` is set on replies that answer a crisis or distress screening.
    """

    text: str = ""
    choices: tuple[Choice, ...] = ()
    multi: bool = False
    form: Form | None = None
    file: FileOut | None = None
    breathing: Breathing | None = None
    private: bool = False
    safety: str | None = None
