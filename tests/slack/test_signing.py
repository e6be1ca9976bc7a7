"""Only requests signed by Slack, and signed recently, reach a listener."""

from __future__ import annotations

import time

from slack_sdk.signature import Clock, SignatureVerifier

from tests.slack.conftest import USER, Workspace, key
from tests.slack.fake_slack import payload


class At(Clock):
    def __init__(self, now: float) -> None:
        self._now = now

    def now(self) -> float:
        return self._now


def test_slacks_documented_signing_example_verifies() -> None:
    doc = payload("signing_example")
    verifier = SignatureVerifier(doc["signing_secret"], clock=At(int(doc["timestamp"]) + 10))
    assert (
        verifier.generate_signature(timestamp=doc["timestamp"], body=doc["body"])
        == (doc["signature"])
    )
    assert verifier.is_valid(doc["body"], doc["timestamp"], doc["signature"])
    assert not verifier.is_valid(doc["body"] + "x", doc["timestamp"], doc["signature"])


def test_the_documented_example_is_stale_today() -> None:
    doc = payload("signing_example")
    verifier = SignatureVerifier(doc["signing_secret"])  # the real clock: years later
    assert not verifier.is_valid(doc["body"], doc["timestamp"], doc["signature"])


async def test_a_bad_signature_gets_401_and_nothing_runs(workspace: Workspace) -> None:
    envelope = workspace.message_event("I didn't get the job")
    response = await workspace.event(envelope, secret="f" * 32)
    assert response.status == 401
    assert workspace.fake.calls == []
    assert (await workspace.engine.store.load(key())) is None


async def test_a_stale_signature_gets_401_and_nothing_runs(workspace: Workspace) -> None:
    envelope = workspace.message_event("I didn't get the job")
    response = await workspace.event(envelope, timestamp=int(time.time()) - 6 * 60)
    assert response.status == 401
    assert workspace.fake.calls == []
    assert (await workspace.engine.store.load(key())) is None


async def test_an_unsigned_command_gets_401(workspace: Workspace) -> None:
    response = await workspace.http.post(
        "/slack/events",
        data="command=%2Freflect&user_id=" + USER,
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert response.status == 401
    await workspace.runner.drain()
    assert workspace.fake.calls == []
