"""The runner as `rebound run` uses it: start, serve, stop; HTTP mode on PORT and Socket Mode."""

from __future__ import annotations

import asyncio
import json
import socket
from types import SimpleNamespace

import aiohttp
import pytest

from adapters.slack import build_runner
from bot.config import ConfigError
from bot.engine import Engine
from bot.flows import Catalog
from tests.slack.conftest import SECRET, USER, Pace, key, settings, sign
from tests.slack.fake_slack import FakeSlack, payload, visible

APP_TOKEN = "xapp-1-A0APP001-1111-abcdef"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def test_http_mode_serves_on_port_and_stops(
    fake_slack: FakeSlack, engine: Engine, catalog: Catalog, db_url: str
) -> None:
    port = free_port()
    app = SimpleNamespace(
        settings=settings(
            SLACK_BOT_TOKEN="xoxb-test-token",
            SLACK_SIGNING_SECRET=SECRET,
            SLACK_API_URL=fake_slack.base_url,
            DATABASE_URL=db_url,
            PORT=port,
        ),
        catalog=catalog,
        engine=engine,
    )
    runner = build_runner(app)
    await runner.start()
    try:
        body = json.dumps(payload("url_verification"))
        headers = {"Content-Type": "application/json", **sign(body)}
        async with (
            aiohttp.ClientSession() as http,
            http.post(f"http://127.0.0.1:{port}/slack/events", data=body, headers=headers) as r,
        ):
            assert r.status == 200
            assert (await r.json())["challenge"] == payload("url_verification")["challenge"]
    finally:
        await runner.stop()
    assert runner.client.session is None


async def test_socket_mode_takes_events_and_commands_without_a_public_url(
    fake_slack: FakeSlack, engine: Engine, catalog: Catalog, db_url: str
) -> None:
    app = SimpleNamespace(
        settings=settings(
            SLACK_BOT_TOKEN="xoxb-test-token",
            SLACK_APP_TOKEN=APP_TOKEN,
            SLACK_API_URL=fake_slack.base_url,
            DATABASE_URL=db_url,
        ),
        catalog=catalog,
        engine=engine,
    )
    runner = build_runner(app)
    await runner.start()
    try:
        await fake_slack.socket_ready.wait()
        opened = [c.token for c in fake_slack.calls if c.method == "apps.connections.open"]
        assert opened and set(opened) == {APP_TOKEN}  # checked at start, then connected

        envelope = payload("event_message_im")
        envelope["event"]["text"] = "I didn't get the job I wanted so much"
        ack = await fake_slack.push("events_api", envelope)
        assert ack["envelope_id"]
        await runner.drain()
        assert "What kind of rejection was it?" in visible(fake_slack.dm(USER)[-1])

        command = payload("command")
        command.update(command="/rebound", text="help")
        ack = await fake_slack.push("slash_commands", command)
        assert ack["payload"] == {
            "text": engine.text("private_continue"),
            "response_type": "ephemeral",
        }
        await runner.drain()
        assert "I'm Rebound, a bot that helps you" in visible(fake_slack.dm(USER)[-1])
        stored = await engine.store.export(key())
        assert stored["conversation"]["answers"]["opening"].startswith("I didn't get the job")
    finally:
        await runner.stop()


def app_with(fake: FakeSlack, engine: Engine, catalog: Catalog, db_url: str, **values: object):
    values.setdefault("SLACK_API_URL", fake.base_url)
    return SimpleNamespace(
        settings=settings(DATABASE_URL=db_url, PORT=free_port(), **values),
        catalog=catalog,
        engine=engine,
    )


async def test_a_bot_token_slack_refuses_stops_start_up(
    fake_slack: FakeSlack, engine: Engine, catalog: Catalog, db_url: str
) -> None:
    app = app_with(
        fake_slack,
        engine,
        catalog,
        db_url,
        SLACK_BOT_TOKEN="xoxb-0-revoked",
        SLACK_SIGNING_SECRET=SECRET,
    )
    runner = build_runner(app)
    with pytest.raises(ConfigError, match=r"Slack refused SLACK_BOT_TOKEN \(invalid_auth\)"):
        await runner.start()
    assert runner.client.session is None  # nothing left open


async def test_an_app_token_slack_refuses_stops_start_up(
    fake_slack: FakeSlack, engine: Engine, catalog: Catalog, db_url: str
) -> None:
    fake_slack.fail("apps.connections.open", error="invalid_auth")
    app = app_with(
        fake_slack,
        engine,
        catalog,
        db_url,
        SLACK_BOT_TOKEN="xoxb-test-token",
        SLACK_APP_TOKEN=APP_TOKEN,
    )
    with pytest.raises(ConfigError, match="Slack refused SLACK_APP_TOKEN"):
        await build_runner(app).start()


async def test_slack_down_at_start_up_is_not_fatal(
    fake_slack: FakeSlack, engine: Engine, catalog: Catalog, db_url: str
) -> None:
    fake_slack.fail("auth.test", status=503, error="service_unavailable", times=3)
    app = app_with(
        fake_slack,
        engine,
        catalog,
        db_url,
        SLACK_BOT_TOKEN="xoxb-test-token",
        SLACK_SIGNING_SECRET=SECRET,
    )
    runner = build_runner(app, retry_sleep=Pace())
    await runner.start()
    await runner.stop()


class Stepper:
    """An injected sleep that returns only when the test says so."""

    def __init__(self) -> None:
        self._go: asyncio.Queue[None] = asyncio.Queue()
        self.sleeping = asyncio.Event()

    async def __call__(self, seconds: float) -> None:
        self.sleeping.set()
        await self._go.get()

    async def step(self) -> None:
        """Let one sleep return, and wait until the sleeper is asleep again."""
        await self.sleeping.wait()
        self.sleeping.clear()
        self._go.put_nowait(None)
        await self.sleeping.wait()


async def test_a_silently_dropped_socket_is_replaced_by_the_watchdog(
    fake_slack: FakeSlack, engine: Engine, catalog: Catalog, db_url: str
) -> None:
    watch = Stepper()
    app = app_with(
        fake_slack,
        engine,
        catalog,
        db_url,
        SLACK_BOT_TOKEN="xoxb-test-token",
        SLACK_APP_TOKEN=APP_TOKEN,
    )
    runner = build_runner(app, watch_sleep=watch)
    await runner.start()
    try:
        await fake_slack.socket_ready.wait()
        assert runner.socket is not None and runner.socket.handler is not None
        dropped = runner.socket.handler

        async def gone() -> bool:  # what slack-sdk reports after a silent drop
            return False

        dropped.client.is_connected = gone  # type: ignore[method-assign]
        fake_slack.socket_ready.clear()
        await watch.step()  # one failed check: wait and see
        assert runner.socket.handler is dropped
        await watch.step()  # two in a row: replace the connection
        await fake_slack.socket_ready.wait()
        assert runner.socket.handler is not dropped
        assert len(fake_slack.sockets) == 2

        ack = await fake_slack.push("events_api", payload("event_message_im"))
        assert ack["envelope_id"]
        await runner.drain()
        assert "What kind of rejection was it?" in visible(fake_slack.dm(USER)[-1])
    finally:
        await runner.stop()
