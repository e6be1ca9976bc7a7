"""Fixtures: a local fake Discord, and the real adapter started against it."""

from __future__ import annotations

import asyncio
import warnings
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest

with warnings.catch_warnings():
    # discord.py 2.7 imports the standard library's audioop (for voice, which Rebound does not
    # use); Python 3.11 deprecates it. The suite turns warnings into errors, so allow this one.
    warnings.filterwarnings("ignore", "'audioop' is deprecated", DeprecationWarning)
    import discord

from adapters.discord import DiscordRunner
from bot.engine import Engine
from bot.flows import Catalog
from tests.discord.fake_discord import TOKEN, FakeDiscord


class Pace:
    """Stands in for asyncio.sleep in the breathing exercise: records, and never waits for a
    clock; a test can hold it (`hold`) until it releases `gate`."""

    def __init__(self) -> None:
        self.waits: list[float] = []
        self.hold = False
        self.gate = asyncio.Event()
        self.holding = asyncio.Event()

    async def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)
        if self.hold:
            self.holding.set()
            await self.gate.wait()
        await asyncio.sleep(0)


@pytest.fixture
async def fake(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[FakeDiscord]:
    stand_in = FakeDiscord()
    await stand_in.start()
    monkeypatch.setattr(discord.http.Route, "BASE", stand_in.base)
    monkeypatch.setattr(discord.gateway.DiscordWebSocket, "DEFAULT_GATEWAY", stand_in.gateway)
    yield stand_in
    await stand_in.close()


@pytest.fixture
def pace() -> Pace:
    return Pace()


StartRunner = Callable[..., Awaitable[DiscordRunner]]


@pytest.fixture
async def start_runner(
    fake: FakeDiscord, engine: Engine, catalog: Catalog, pace: Pace
) -> AsyncIterator[StartRunner]:
    """Start a runner (several, to play a restart); every one is stopped at the end."""
    started: list[DiscordRunner] = []

    async def start(engine_: Engine | None = None, **options: Any) -> DiscordRunner:
        runner = DiscordRunner(
            engine_ or engine,
            token=options.pop("token", TOKEN),
            commands=catalog.commands,
            pace=pace,
            **options,
        )
        started.append(runner)
        await runner.start()
        return runner

    yield start
    for runner in started:
        await runner.stop()


@pytest.fixture
async def runner(start_runner: StartRunner) -> DiscordRunner:
    return await start_runner()
