"""Fakes shipped with the ports, for tests and benchmarks: a clock you move by hand and a chat
that talks to the real engine the way an adapter would."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from bot.engine import Engine
from bot.events import ConversationKey, Incoming, Kind, Reply


class FakeClock:
    def __init__(self, start: datetime | None = None) -> None:
        self._now = start or datetime(2026, 3, 2, 9, 0, tzinfo=UTC)

    def now(self) -> datetime:
        return self._now

    def advance(self, **delta: float) -> None:
        self._now += timedelta(**delta)


@dataclass
class FakeChat:
    """One user talking to the engine. Every call returns the bot's replies to that turn."""

    engine: Engine
    user: str = "tester"
    platform: str = "test"
    last: list[Reply] = field(default_factory=list)
    _events: int = 0

    @property
    def key(self) -> ConversationKey:
        return ConversationKey(self.platform, self.user)

    async def send(self, event: Incoming) -> list[Reply]:
        self.last = await self.engine.handle(event)
        return self.last

    async def say(self, text: str, **kw: object) -> list[Reply]:
        return await self.send(Incoming(self.key, Kind.TEXT, text=text, **kw))  # type: ignore[arg-type]

    async def command(self, name: str, **kw: object) -> list[Reply]:
        return await self.send(Incoming(self.key, Kind.COMMAND, text=name, **kw))  # type: ignore[arg-type]

    async def choose(self, *choice_ids: str, **kw: object) -> list[Reply]:
        return await self.send(Incoming(self.key, Kind.CHOICE, choices=choice_ids, **kw))  # type: ignore[arg-type]

    async def tap(self, label: str) -> list[Reply]:
        """Press the button with this label on the newest message that has buttons."""
        for reply in reversed(self.last):
            for choice in reply.choices:
                if choice.label == label:
                    return await self.choose(choice.id)
        raise AssertionError(f"no button {label!r}; buttons: {self.buttons()}")

    def buttons(self) -> list[str]:
        for reply in reversed(self.last):
            if reply.choices:
                return [c.label for c in reply.choices]
        return []

    def choice_ids(self) -> list[str]:
        for reply in reversed(self.last):
            if reply.choices:
                return [c.id for c in reply.choices]
        return []

    def text(self) -> str:
        """All the text of the last turn's replies, as one string."""
        return "\n".join(r.text for r in self.last if r.text)

    def form(self) -> str | None:
        for reply in self.last:
            if reply.form:
                return reply.form.initial
        return None


@dataclass
class FakeSender:
    """A platform that records what the scheduler sends, and can be told to fail."""

    platform: str = "test"
    sent: list[tuple[str, list[Reply]]] = field(default_factory=list)
    fail_next: list[Exception] = field(default_factory=list)

    async def send(self, key: ConversationKey, replies: list[Reply]) -> None:
        if self.fail_next:
            raise self.fail_next.pop(0)
        self.sent.append((str(key), replies))
