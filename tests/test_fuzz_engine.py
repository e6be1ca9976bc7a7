"""Hostile input, property-based: random event sequences through the real engine.

Each example is one new user talking to a real `Engine` (the real dialogs, safety screening on)
over a real SQLite file: arbitrary text (any unicode, control and invisible characters, RTL marks,
emoji, up to 20,000 characters, template, markup and mention syntax), the real commands and
unknown ones, choices out of order (ids from the real catalog's steps, stale, made up, several at
once, `timer:`/`snooze:`/`cmd:` ids with random suffixes, real timer ids), forms answering the
wrong step, redelivered events and hours passing. After every turn:

- `handle` returns a list of `Reply`, never raises, and never apologises with `try_again` (which
  is what the engine says when a turn failed inside: an unhandled exception);
- every reply has something to show; choice ids are unique within a reply and at most 255
  characters; labels, form titles and form labels are not blank;
- nothing the user typed is evaluated: `{{ 7331*3 }}` never comes back as 21993;
- a turn in a shared channel is answered only privately; a redelivered event changes nothing;
- the replies make valid Slack and Discord messages (the checkers of tests/test_fuzz_adapters.py).

After the sequence the stored state loads, and `/help` and `/rebound` still answer, also from a
restarted engine (nothing cached): nobody is stuck.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import logging
import os
import shutil
from collections.abc import Coroutine, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, TypeVar

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.engine import Engine
from bot.events import ConversationKey, Incoming, Kind, Reply
from bot.flows import load_catalog
from bot.safety import screen
from bot.store import SqlStore, make_engine
from bot.store.crypto import Cipher
from bot.testing import FakeClock
from tests.test_fuzz_adapters import (
    HOSTILE,
    check_discord_render,
    check_slack_plan,
    check_terminal_json,
    has_content,
    huge_texts,
    texts,
)

T = TypeVar("T")
CATALOG = load_catalog()
# REBOUND_FUZZ_SCALE=20 for a long local hunt; CI runs the default (a few seconds).
SCALE = float(os.environ.get("REBOUND_FUZZ_SCALE", "1"))
SEQUENCES = settings(
    max_examples=int(60 * SCALE), deadline=None, database=None, report_multiple_bugs=False
)

# -- what a user may send ----------------------------------------------------------------------

# Template syntax and what it would turn into if anything evaluated it. The results are chosen
# so that they never appear in what Rebound says unless the user typed them.
EVALUATED = {
    "{{ 7331*3 }}": "21993",
    "{{7331*3}}": "21993",
    "${7331*3}": "21993",
    "#{7331*3}": "21993",
    "{{ 3331+4 }}": "3335",
    "{% for i in range(3) %}q7z{% endfor %}": "q7zq7zq7z",
    "{{ 'ab' ~ 'cd9' }}": "abcd9",
    "{{ self.__class__ }}": "TemplateReference",
    "{{ ''.__class__.__mro__ }}": "<class 'object'>",
    "{{ cycler.__init__.__globals__.os.popen('id').read() }}": "uid=",
    "{{ config }}": "<Config",
    "{0.__class__}": "<class 'str'>",
}
MARKUP = (
    "<!channel>",
    "<!here>",
    "<@U123>",
    "@everyone",
    "@here",
    "<@&123>",
    "*bold*",
    "`tick`",
    "```block```",
    "\u202e",
    "\u200f",
    "\u200b",
    "🙂",
)
_fragment = st.one_of(
    st.sampled_from(sorted(EVALUATED)),
    st.sampled_from(MARKUP),
    st.sampled_from(HOSTILE),
    st.text(max_size=20),
)
user_texts = st.one_of(
    st.lists(_fragment, min_size=1, max_size=10).map(" ".join),  # 4+ words: a story to tell
    st.lists(_fragment, min_size=1, max_size=6).map("".join),
    texts,
    huge_texts(20_000),
    st.builds(lambda n: "a " * (n // 2) + "a" * (n % 2), st.integers(3_990, 4_010)),  # the limit
    st.sampled_from(["1", "7", "11", "-3", "yes", "skip", "tomorrow", "15 March", "in 2 weeks"]),
    # Screening: a crisis pauses the flow, distress is acknowledged and the flow goes on.
    st.sampled_from(
        [
            "I want to end my life tonight {{ 7331*3 }}",
            "I wish I could just disappear forever <!channel>",
            "I feel hopeless and worthless @everyone",
            "I didn't get the job at Acme and it stings <@U123>",
        ]
    ),
)
COMMAND_NAMES = sorted({*CATALOG.commands, "start"})
command_names = st.one_of(
    st.sampled_from(COMMAND_NAMES),
    st.sampled_from(["", " ", "HELP", "/help", "help me", "rebound plan", "dance", "{{ 7331*3 }}"]),
    st.sampled_from(MARKUP),
    st.text(max_size=30),
)

STEP_IDS = sorted(CATALOG.steps)
CATALOG_CHOICES = sorted(
    {f"{s.id}:{o.id}" for s in CATALOG.steps.values() for o in s.options}
    | {f"cmd:{o.command}" for s in CATALOG.steps.values() for o in s.options if o.command}
    | {f"{s.id}:{n}" for s in CATALOG.steps.values() if s.ask == "number" for n in (0, 1, 5, 10)}
    | {f"{s.id}:__skip" for s in CATALOG.steps.values()}
)
choice_ids = st.one_of(
    st.sampled_from(CATALOG_CHOICES),  # real ids, most of them not for the step at hand
    st.builds(lambda s, o: f"{s}:{o}", st.sampled_from(STEP_IDS), st.text(max_size=12)),
    st.builds(
        lambda prefix, rest: prefix + rest,
        st.sampled_from(["timer:", "snooze:", "cmd:", "timer::", "snooze::1h", ":", ""]),
        st.text(max_size=40),
    ),
    st.text(max_size=300),
)


@dataclass(frozen=True)
class Say:
    text: str
    public: bool = False
    answers: str | None = None  # a form's submit id; "@form" is the form on screen


@dataclass(frozen=True)
class Command:
    name: str
    public: bool = False


@dataclass(frozen=True)
class Tap:
    """Press buttons shown by the last turn (positions taken modulo), several at once."""

    positions: tuple[int, ...]
    public: bool = False


@dataclass(frozen=True)
class Answer:
    """Do what the screen asks: press a button (its position taken modulo), or write `text`
    (into the form on screen, if there is one) when there is no button or `in_words`."""

    position: int
    text: str
    in_words: bool = False


@dataclass(frozen=True)
class Choose:
    ids: tuple[str, ...]
    public: bool = False


@dataclass(frozen=True)
class TimerPress:
    """A press on a nudge's button for one of the user's real timers (any status)."""

    which: int
    kind: str  # "open", "open-option", "snooze", "timer-event"
    suffix: str = ""


@dataclass(frozen=True)
class Wait:
    hours: int


@dataclass(frozen=True)
class Again:
    """The platform delivers the previous event a second time."""


@dataclass(frozen=True)
class Step:
    action: Any
    with_id: bool = False  # the platform gave the event an id (Slack, Discord do)


publics = st.booleans()
answers = st.builds(Answer, st.integers(0, 40), user_texts, st.booleans())
plain_answers = st.builds(
    Answer,
    st.integers(0, 40),
    st.sampled_from(["It stings", "Acme Ltd", "tomorrow", "3", "My manager, I think"]),
    st.booleans(),
)
actions = st.one_of(
    # Mostly what people do: answer what is asked, press a button, use a command.
    answers,
    answers,
    plain_answers,
    plain_answers,
    st.builds(Tap, st.lists(st.integers(0, 40), min_size=2, max_size=4).map(tuple), publics),
    st.builds(Say, user_texts, publics, st.just("@form")),
    st.builds(Command, st.sampled_from(COMMAND_NAMES), publics),
    # And what they should not be able to break.
    st.builds(
        Say,
        user_texts,
        publics,
        st.one_of(st.none(), st.sampled_from(STEP_IDS), st.text(max_size=20)),
    ),
    st.builds(Command, command_names, publics),
    st.builds(Choose, st.lists(choice_ids, max_size=4).map(tuple), publics),
    st.builds(
        TimerPress,
        st.integers(0, 5),
        st.sampled_from(["open", "open-option", "snooze", "timer-event"]),
        st.one_of(st.sampled_from(["1h", "evening", "nextday", "good", "x"]), st.text(max_size=8)),
    ),
    st.builds(Wait, st.sampled_from([1, 3, 12, 24, 25, 24 * 3, 24 * 8, 24 * 31])),
    st.just(Again()),
)
sequences = st.builds(
    lambda first, ahead, rest: [first, *ahead, *rest],
    # A real command, a few sensible answers to get deep into a flow, then anything at all.
    st.builds(Step, st.builds(Command, st.sampled_from(COMMAND_NAMES)), st.booleans()),
    st.lists(st.builds(Step, plain_answers, st.booleans()), min_size=3, max_size=7),
    st.lists(st.builds(Step, actions, st.booleans()), min_size=4, max_size=7),
)


# -- the world: one SQLite file for the module, one engine and user per example ---------------


@dataclass
class World:
    loop: asyncio.AbstractEventLoop
    store: SqlStore
    errors: list[logging.LogRecord]
    users: Iterator[int] = field(default_factory=itertools.count)

    def run(self, coro: Coroutine[Any, Any, T]) -> T:
        return self.loop.run_until_complete(coro)


class _Collect(logging.Handler):
    def __init__(self, records: list[logging.LogRecord]) -> None:
        super().__init__(logging.WARNING)
        self.records = records

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@pytest.fixture(scope="module")
def world(migrated_template: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    """Module-scoped, so Hypothesis's examples share it safely: each example is a new user
    with a new engine and clock; the SQLite file (real schema, real encryption) is shared."""
    path = tmp_path_factory.mktemp("fuzz") / "rebound.db"
    shutil.copy(migrated_template, path)
    loop = asyncio.new_event_loop()
    store = SqlStore(make_engine(f"sqlite:///{path}"), Cipher(Cipher.generate()))
    errors: list[logging.LogRecord] = []
    handler = _Collect(errors)
    logger = logging.getLogger("rebound")
    logger.addHandler(handler)
    try:
        yield World(loop, store, errors)
    finally:
        logger.removeHandler(handler)
        loop.run_until_complete(store.close())
        loop.run_until_complete(loop.shutdown_default_executor())
        loop.close()


# -- the checks after each turn ----------------------------------------------------------------

TRY_AGAIN = Engine(CATALOG, None).text("try_again")  # type: ignore[arg-type]


def _shown(reply: Reply) -> list[str]:
    """Every piece of text the user would see in a reply."""
    parts = [reply.text, *(c.label for c in reply.choices)]
    if reply.form is not None:
        parts += [reply.form.title, reply.form.label, reply.form.initial]
    if reply.file is not None:
        parts.append(reply.file.alt)
    return parts


def check_turn(world: World, event: Incoming, replies: Any, typed: list[str]) -> None:
    failures = [r.getMessage() for r in world.errors if r.levelno >= logging.ERROR]
    world.errors.clear()
    assert not failures, f"the turn failed inside the engine:\n{failures[0]}"
    assert isinstance(replies, list) and all(isinstance(r, Reply) for r in replies), replies
    for reply in replies:
        assert TRY_AGAIN not in reply.text, "the engine apologised: a turn failed inside"
        assert has_content(reply), f"an empty reply {reply!r}"
        ids = [c.id for c in reply.choices]
        assert len(ids) == len(set(ids)), f"duplicate choice ids {ids}"
        assert all(1 <= len(i) <= 255 for i in ids), ids
        assert all(c.label.strip() for c in reply.choices), f"a blank label in {reply.choices}"
        if reply.form is not None:
            assert reply.form.title.strip() and reply.form.label.strip()
            assert reply.form.submit_id in CATALOG.steps
        if event.public:
            assert reply.private, "a public turn answered in public"
    said = "\n".join(part for reply in replies for part in _shown(reply))
    everything_typed = "\n".join(typed)
    for template, result in EVALUATED.items():
        if result not in everything_typed:
            assert result not in said, f"{template!r} was evaluated: {result!r} in the reply"
    if replies:
        check_slack_plan(replies)
        check_discord_render(replies)
        check_terminal_json(replies)


# -- one example: a user and their events ------------------------------------------------------


@dataclass
class Session:
    world: World
    engine: Engine
    clock: FakeClock
    key: ConversationKey
    typed: list[str] = field(default_factory=list)
    screen: list[Reply] = field(default_factory=list)  # the last turn's buttons and forms
    previous: Incoming | None = None
    ids: Iterator[int] = field(default_factory=itertools.count)

    @property
    def user(self) -> str:
        return str(self.key)

    def send(self, event: Incoming) -> list[Reply]:
        self.typed += [event.text, *event.choices]
        replies = self.world.run(self.engine.handle(event))
        check_turn(self.world, event, replies, self.typed)
        if replies:  # what the newest message asks: buttons, a form, or (none) words
            self.screen = [r for r in replies if r.choices or r.form]
        return replies

    def version(self) -> int:
        stored = self.world.run(self.world.store.load(self.user))
        return stored.version if stored else 0

    def timer_ids(self) -> list[str]:
        exported = self.world.run(self.world.store.export(self.user))
        return sorted(str(row["id"]) for row in exported.get("timers", ()))

    def event_for(self, action: Any) -> Incoming | None:
        key = self.key
        if isinstance(action, Say):
            answers = action.answers
            if answers == "@form":
                forms = [r.form for r in self.screen if r.form is not None]
                answers = forms[-1].submit_id if forms else None
            return Incoming.say(key, action.text, public=action.public, answers=answers)
        if isinstance(action, Command):
            return Incoming.command(key, action.name, public=action.public)
        if isinstance(action, Answer):
            shown = [c.id for r in self.screen for c in r.choices]
            if shown and not action.in_words:
                return Incoming.choose(key, shown[action.position % len(shown)])
            return self.event_for(Say(action.text, answers="@form"))
        if isinstance(action, Tap):
            shown = [c.id for r in self.screen for c in r.choices]
            picked = [shown[p % len(shown)] for p in action.positions] if shown else []
            return Incoming.choose(key, *dict.fromkeys(picked), public=action.public)
        if isinstance(action, Choose):
            return Incoming.choose(key, *action.ids, public=action.public)
        if isinstance(action, TimerPress):
            timers = self.timer_ids()
            timer = timers[action.which % len(timers)] if timers else "no-such-timer"
            if action.kind == "timer-event":
                return Incoming(key, Kind.TIMER, text=timer)
            prefix = "snooze" if action.kind == "snooze" else "timer"
            suffix = f":{action.suffix}" if action.kind != "open" else ""
            return Incoming.choose(key, f"{prefix}:{timer}{suffix}")
        return None

    def play(self, step: Step) -> None:
        action = step.action
        if isinstance(action, Wait):
            self.clock.advance(hours=action.hours)
            return
        if isinstance(action, Again):
            if self.previous is None or self.previous.event_id is None:
                return
            before = self.version()
            assert self.send(self.previous) == [], "a redelivered event was answered again"
            assert self.version() == before, "a redelivered event changed the conversation"
            return
        event = self.event_for(action)
        assert event is not None
        if step.with_id:
            event = replace(event, event_id=f"{self.user}:{next(self.ids)}")
        replies = self.send(event)
        if event.kind is not Kind.TIMER:
            assert replies, f"no answer at all to {event.kind} {event.text or event.choices!r}"
        self.previous = event


def _new_session(world: World, platform: str) -> Session:
    clock = FakeClock()
    engine = Engine(CATALOG, world.store, clock=clock, screen=screen)
    key = ConversationKey(platform, f"fuzz{next(world.users)}", "T1" if platform == "slack" else "")
    return Session(world, engine, clock, key)


def _still_answers(session: Session) -> None:
    """Nobody is stuck: the state loads, and /help and /rebound answer, from this engine and
    from a restarted one that has nothing cached."""
    world = session.world
    stored = world.run(world.store.load(session.user))
    if stored is not None:
        assert isinstance(stored.state, dict)
        json.dumps(stored.state, default=str)
    help_replies = session.send(Incoming.command(session.key, "help"))
    assert help_replies and any(r.text.strip() for r in help_replies)

    restarted = Engine(CATALOG, world.store, clock=session.clock, screen=screen)
    session.engine = restarted
    replies = session.send(Incoming.command(session.key, "rebound"))
    assert replies
    stored = world.run(world.store.load(session.user))
    waiting = stored is not None and stored.state.get("step") is not None
    assert waiting or any(r.choices or r.form for r in replies), "/rebound asks nothing"
    buttons = [c.id for r in replies for c in r.choices]
    if buttons:
        assert session.send(Incoming.choose(session.key, buttons[0]))
    else:
        assert session.send(Incoming.say(session.key, "It still hurts a bit today, honestly."))


# -- the properties ----------------------------------------------------------------------------


@SEQUENCES
@given(sequence=sequences, platform=st.sampled_from(["slack", "discord", "terminal"]))
def test_random_event_sequences_never_break_a_conversation(
    world: World, sequence: list[Step], platform: str
) -> None:
    session = _new_session(world, platform)
    for step in sequence:
        session.play(step)
    _still_answers(session)


@SEQUENCES
@given(opening=user_texts, answers=st.lists(user_texts, min_size=1, max_size=6))
def test_hostile_text_through_a_whole_flow_is_kept_as_text(
    world: World, opening: str, answers: list[str]
) -> None:
    """Hostile text where it is stored and shown again: an opening message, then text typed at
    each question (buttons pressed where text is not taken), then a form answered."""
    session = _new_session(world, "slack")
    session.send(Incoming.say(session.key, opening))
    for text in answers:
        replies = session.send(Incoming.say(session.key, text))
        if session.screen and not any(r.form for r in replies):
            first = [c.id for r in session.screen for c in r.choices if not c.id.startswith("cmd:")]
            if first:
                session.send(Incoming.choose(session.key, first[0]))
    forms = [r.form for r in session.screen if r.form is not None]
    if forms:
        session.send(Incoming.say(session.key, answers[0], answers=forms[-1].submit_id))
    _still_answers(session)


# After /rebound: the start of the journey, which books the first timers.
ARRIVE = (
    ("choose", "arrive.kind:job"),
    ("say", "I didn't get the analyst job at Acme {{ 7331*3 }} <!here>"),
    ("choose", "arrive.sting:5"),
    ("choose", "feel.name:sad"),
    ("choose", "feel.intensity:5"),
    ("choose", "feel.strategy:walk"),
    ("choose", "feel.walk:20"),
)
timer_actions = st.one_of(
    st.builds(
        TimerPress,
        st.integers(0, 5),
        st.sampled_from(["open", "open-option", "snooze", "timer-event"]),
        st.one_of(
            st.sampled_from(["1h", "evening", "nextday", "good", "low"]), st.text(max_size=8)
        ),
    ),
    st.builds(Wait, st.sampled_from([1, 3, 12, 24, 25, 24 * 3, 24 * 8, 24 * 31])),
    plain_answers,
    answers,
    st.builds(Command, st.sampled_from(COMMAND_NAMES)),
    st.just(Again()),
)


@SEQUENCES
@given(
    steps=st.lists(st.builds(Step, timer_actions, st.booleans()), min_size=3, max_size=8),
    platform=st.sampled_from(["slack", "discord", "terminal"]),
)
def test_nudge_buttons_pressed_late_twice_or_out_of_order(
    world: World, steps: list[Step], platform: str
) -> None:
    """Real timers (booked by the journey), then time passing and their buttons pressed in any
    order, snoozed with odd options, opened after they were done, delivered as timer events."""
    session = _new_session(world, platform)
    key = session.key
    session.send(Incoming.command(key, "rebound"))
    for kind, value in ARRIVE:
        if kind == "choose":
            session.send(Incoming.choose(key, value))
        else:
            session.send(Incoming.say(key, value))
    assert session.timer_ids(), "the journey booked no timer: this test needs updating"
    for step in steps:
        session.play(step)
    _still_answers(session)
