"""Running it: health and readiness, structured logs without anyone's words, and recovery when
the database goes away for a moment (PostgreSQL behind a proxy we cut, in CI)."""

from __future__ import annotations

import asyncio
import contextlib
import io
import json
import logging
from collections.abc import AsyncIterator

import pytest
from aiohttp.test_utils import TestClient, TestServer

from bot.engine import Engine
from bot.events import ConversationKey, Incoming
from bot.flows import Catalog
from bot.health import Health
from bot.logs import JsonFormatter
from bot.safety import screen
from bot.store import SqlStore, make_engine
from bot.store.crypto import Cipher
from bot.testing import FakeChat


async def test_health_and_readiness(store: SqlStore) -> None:
    health = Health(store.ping)
    async with TestClient(TestServer(health.app())) as client:
        assert (await client.get("/healthz")).status == 200
        assert (await client.get("/readyz")).status == 503  # adapters not started yet
        health.started = True
        response = await client.get("/readyz")
        assert (response.status, await response.json()) == (200, {"status": "ready"})


async def test_readiness_fails_when_the_database_does_not_answer() -> None:
    async def down() -> None:
        raise ConnectionRefusedError

    health = Health(down)
    health.started = True
    async with TestClient(TestServer(health.app())) as client:
        response = await client.get("/readyz")
        assert response.status == 503
        assert (await response.json())["database"] == "ConnectionRefusedError"


async def test_logs_are_json_with_a_request_id_and_never_the_users_words(chat: FakeChat) -> None:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    old_level = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    try:
        await chat.say("my manager said the role is gone, I keep replaying every word")
        await chat.say("honestly everyone would be better off without me")
        await chat.command("forget")
    finally:
        root.removeHandler(handler)
        root.setLevel(old_level)
    records = [json.loads(line) for line in stream.getvalue().splitlines()]
    turns = [r for r in records if r["msg"] == "turn"]
    assert len(turns) == 3 and len({r["request_id"] for r in turns}) == 3
    text = stream.getvalue()
    for words in ("manager", "replaying", "better off", "everyone"):
        assert words not in text


class Proxy:
    """A TCP proxy in front of the database that a test can cut and restore."""

    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self.server: asyncio.base_events.Server | None = None
        self.links: set[asyncio.StreamWriter] = set()
        self.port = 0

    async def start(self) -> None:
        self.server = await asyncio.start_server(self._link, "127.0.0.1", self.port)
        self.port = self.server.sockets[0].getsockname()[1]

    async def cut(self) -> None:
        if self.server is not None:
            self.server.close()
            await self.server.wait_closed()
        for writer in list(self.links):
            writer.close()
            with contextlib.suppress(ConnectionError, OSError):
                await writer.wait_closed()
        self.links.clear()

    async def _link(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.target_port)
        self.links |= {writer, up_writer}

        async def pipe(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
            with contextlib.suppress(ConnectionError, OSError):
                while data := await src.read(65536):
                    dst.write(data)
                    await dst.drain()
            dst.close()

        await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))


@pytest.fixture
async def proxy(postgres_url: str) -> AsyncIterator[Proxy]:
    from sqlalchemy.engine import make_url

    p = Proxy(make_url(postgres_url).port or 5432)
    await p.start()
    yield p
    await p.cut()


@pytest.mark.postgres
async def test_the_database_going_away_briefly_is_survived(
    catalog: Catalog, postgres_url: str, proxy: Proxy, cipher: Cipher
) -> None:
    from sqlalchemy.engine import make_url

    url = make_url(postgres_url).set(host="127.0.0.1", port=proxy.port)
    store = SqlStore(make_engine(url.render_as_string(hide_password=False)), cipher)
    engine = Engine(catalog, store, screen=screen)
    who = ConversationKey("test", "outage")
    try:
        first = await engine.handle(Incoming.say(who, "the lab said no to my application today"))
        assert "What kind of rejection" in first[-1].text
        await proxy.cut()
        during = await engine.handle(Incoming.choose(who, "arrive.kind:school"))
        assert [r.text for r in during] == [engine.text("try_again")]
        await proxy.start()  # the database is back on the same port
        after = await engine.handle(Incoming.choose(who, "arrive.kind:school"))
        assert "try again" not in after[0].text.lower()
        data = await store.export(str(who))
        assert data["episodes"][0]["kind"] == "school"
    finally:
        await store.close()
