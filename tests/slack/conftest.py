"""A Slack workspace in a box: the real runner's HTTP endpoint, signed requests shaped like
Slack's documented payloads, and the local Web API stand-in that records what was sent back."""

from __future__ import annotations

import contextlib
import copy
import io
import itertools
import json
import logging
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any
from urllib.parse import urlencode

import pytest
from aiohttp import ClientResponse
from aiohttp.test_utils import TestClient, TestServer
from slack_sdk.signature import SignatureVerifier

from adapters.slack import SlackRunner, build_runner
from adapters.slack.mapping import FORM, FORM_INPUT
from bot.config import Settings
from bot.engine import Engine
from bot.flows import Catalog
from tests.slack.fake_slack import TEAM, FakeSlack, payload

SECRET = "0123456789abcdef0123456789abcdef"
USER = "U0USER01"


def settings(**values: Any) -> Settings:
    """Settings from these values only (no environment, no .env file)."""
    base: dict[str, Any] = {
        "SLACK_BOT_TOKEN": None,
        "SLACK_APP_TOKEN": None,
        "SLACK_SIGNING_SECRET": None,
        "SLACK_CLIENT_ID": None,
        "SLACK_CLIENT_SECRET": None,
        "SLACK_API_URL": None,
        "DISCORD_TOKEN": None,
    }
    base.update(values)
    return Settings(_env_file=None, **base)  # type: ignore[call-arg]


class Pace:
    """An injected sleep: records how long it was asked to wait, returns at once."""

    def __init__(self) -> None:
        self.waits: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)


def sign(body: str, *, secret: str = SECRET, timestamp: int | None = None) -> dict[str, str]:
    ts = str(int(time.time()) if timestamp is None else timestamp)
    return {
        "X-Slack-Request-Timestamp": ts,
        "X-Slack-Signature": SignatureVerifier(secret).generate_signature(timestamp=ts, body=body),
    }


@dataclass
class Workspace:
    """One user's Slack client, as far as Rebound can tell: it sends what Slack would send."""

    fake: FakeSlack
    runner: SlackRunner
    http: TestClient
    engine: Engine
    pace: Pace
    retry_pace: Pace
    _n: itertools.count[int] = field(default_factory=lambda: itertools.count(1))

    async def post(
        self,
        body: str,
        content_type: str,
        *,
        headers: dict[str, str] | None = None,
        secret: str = SECRET,
        timestamp: int | None = None,
    ) -> ClientResponse:
        all_headers = {
            "Content-Type": content_type,
            **sign(body, secret=secret, timestamp=timestamp),
        }
        all_headers.update(headers or {})
        response = await self.http.post("/slack/events", data=body.encode(), headers=all_headers)
        await response.read()
        await self.runner.drain()
        return response

    async def event(self, envelope: dict[str, Any], **kw: Any) -> ClientResponse:
        return await self.post(json.dumps(envelope), "application/json", **kw)

    async def interaction(self, body: dict[str, Any], **kw: Any) -> ClientResponse:
        form = urlencode({"payload": json.dumps(body)})
        return await self.post(form, "application/x-www-form-urlencoded", **kw)

    def message_event(self, text: str, *, user: str = USER, event_id: str | None = None) -> dict:
        envelope = payload("event_message_im")
        n = next(self._n)
        envelope["event_id"] = event_id or f"Ev0MSG{n:04d}"
        envelope["event"].update(
            text=text, user=user, channel=self.fake.dm_id(user), ts=f"1355517{n:03d}.000005"
        )
        return envelope

    async def dm(self, text: str, *, user: str = USER, **kw: Any) -> ClientResponse:
        return await self.event(self.message_event(text, user=user), **kw)

    async def command(
        self, command: str, text: str = "", *, user: str = USER, channel: str = "C0CHAN001"
    ) -> ClientResponse:
        fields = payload("command")
        fields.update(
            command=command,
            text=text,
            user_id=user,
            channel_id=channel,
            channel_name="directmessage" if channel.startswith("D") else "general",
            trigger_id=f"1334522460{next(self._n)}.738474920.8088930838d88f008e0",
        )
        return await self.post(urlencode(fields), "application/x-www-form-urlencoded")

    def find(self, label: str, *, user: str = USER) -> tuple[dict, dict, dict]:
        """The newest message in the DM with a button or menu option labelled `label`."""
        for message in reversed(self.fake.dm(user)):
            for block in message.get("blocks") or []:
                for element in block.get("elements") or []:
                    if element.get("type") == "button" and element["text"]["text"] == label:
                        return message, block, element
                    for option in element.get("options") or []:
                        if option["text"]["text"] == label and element["type"] != "checkboxes":
                            return message, block, dict(element, selected_option=option)
        raise AssertionError(f"no button {label!r} in the DM")

    def action_body(self, message: dict, block: dict, element: dict, user: str = USER) -> dict:
        body = payload("block_actions")
        body["user"]["id"] = user
        body["container"].update(message_ts=message["ts"], channel_id=self.fake.dm_id(user))
        body["channel"]["id"] = self.fake.dm_id(user)
        body["message"].update(ts=message["ts"], blocks=copy.deepcopy(message["blocks"]))
        body["trigger_id"] = f"1232142342{next(self._n)}.333649436676.d8c1bb8379"
        action = {
            "action_id": element["action_id"],
            "block_id": block["block_id"],
            "type": element["type"],
            "action_ts": f"1548426417.{next(self._n):06d}",
        }
        if element["type"] == "button":
            action.update(text=element["text"], value=element.get("value", ""))
        else:
            action["selected_option"] = element["selected_option"]
        body["actions"] = [action]
        return body

    async def press(self, label: str, *, user: str = USER) -> ClientResponse:
        return await self.interaction(self.action_body(*self.find(label, user=user), user=user))

    async def tick(self, *labels: str, user: str = USER) -> ClientResponse:
        """Tick checkboxes in the newest message that has them, then press Done."""
        for message in reversed(self.fake.dm(user)):
            boxes = [
                (b, e)
                for b in message.get("blocks") or []
                for e in b.get("elements") or []
                if e.get("type") == "checkboxes"
            ]
            if boxes:
                break
        else:
            raise AssertionError("no checkboxes in the DM")
        values = {
            b["block_id"]: {
                e["action_id"]: {
                    "type": "checkboxes",
                    "selected_options": [o for o in e["options"] if o["text"]["text"] in labels],
                }
            }
            for b, e in boxes
        }
        _, block, done = self.find("Done", user=user)
        body = self.action_body(message, block, done, user=user)
        body["state"] = {"values": values}
        return await self.interaction(body)

    def opened_form(self) -> dict[str, Any]:
        return self.fake.called("views.open")[-1]["view"]

    async def submit_form(self, text: str | None, *, user: str = USER) -> ClientResponse:
        view = self.opened_form()
        body = payload("view_submission")
        body["user"]["id"] = user
        body["view"].update(
            id=f"V0MODAL{next(self._n):03d}",
            callback_id=view["callback_id"],
            private_metadata=view["private_metadata"],
            blocks=view["blocks"],
            state={"values": {FORM: {FORM_INPUT: {"type": "plain_text_input", "value": text}}}},
        )
        return await self.interaction(body)

    def last_text(self, user: str = USER) -> str:
        from tests.slack.fake_slack import visible

        return visible(self.fake.dm(user)[-1])


@pytest.fixture
async def fake_slack() -> AsyncIterator[FakeSlack]:
    fake = FakeSlack()
    await fake.start()
    yield fake
    await fake.close()


@pytest.fixture
async def workspace(
    fake_slack: FakeSlack, engine: Engine, catalog: Catalog, db_url: str
) -> AsyncIterator[Workspace]:
    pace, retry_pace = Pace(), Pace()
    app = SimpleNamespace(
        settings=settings(
            SLACK_BOT_TOKEN="xoxb-test-token",
            SLACK_SIGNING_SECRET=SECRET,
            SLACK_API_URL=fake_slack.base_url,
            DATABASE_URL=db_url,
        ),
        catalog=catalog,
        engine=engine,
    )
    runner = build_runner(app, pace=pace, retry_sleep=retry_pace)
    async with TestClient(TestServer(runner.web_app())) as http:
        yield Workspace(fake_slack, runner, http, engine, pace, retry_pace)
        await runner.drain()


@contextlib.contextmanager
def all_logs() -> Iterator[io.StringIO]:
    """Everything logged, at DEBUG, by any library, while the block runs."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    root = logging.getLogger()
    old = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    try:
        yield stream
    finally:
        root.removeHandler(handler)
        root.setLevel(old)


def key(user: str = USER, team: str = TEAM) -> str:
    return f"slack:{team}:{user}"
