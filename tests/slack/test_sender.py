"""The Sender port used for nudges: the user's DM, or Unreachable / DeliveryFailed."""

from __future__ import annotations

import pytest

from bot.events import Choice, ConversationKey, Reply
from bot.ports import DeliveryFailed, Unreachable
from tests.slack.conftest import USER, Workspace
from tests.slack.fake_slack import TEAM, buttons, visible

KEY = ConversationKey("slack", USER, TEAM)
NUDGE = [
    Reply(text="Morning. How are you feeling today?", choices=(Choice("cmd:feel", "Check in"),))
]


async def test_a_nudge_lands_in_the_users_dm(workspace: Workspace) -> None:
    await workspace.runner.send(KEY, NUDGE)
    assert workspace.fake.called("conversations.open") == [{"users": USER}]
    [message] = workspace.fake.dm(USER)
    assert "How are you feeling today?" in visible(message)
    assert buttons(message) == ["Check in"]


async def test_nothing_to_send_sends_nothing(workspace: Workspace) -> None:
    await workspace.runner.send(KEY, [])
    assert workspace.fake.calls == []


async def test_a_user_slack_will_not_deliver_to_is_unreachable(workspace: Workspace) -> None:
    workspace.fake.unreachable.add(USER)
    with pytest.raises(Unreachable, match="user_not_found"):
        await workspace.runner.send(KEY, NUDGE)


async def test_a_revoked_token_is_unreachable(workspace: Workspace) -> None:
    workspace.fake.fail("conversations.open", error="token_revoked")
    with pytest.raises(Unreachable):
        await workspace.runner.send(KEY, NUDGE)


async def test_slack_being_down_is_a_temporary_failure(workspace: Workspace) -> None:
    workspace.fake.fail("conversations.open", status=503, error="service_unavailable", times=5)
    with pytest.raises(DeliveryFailed):
        await workspace.runner.send(KEY, NUDGE)
    assert len(workspace.fake.called("conversations.open")) == 3  # tried, then retried twice
    assert len(workspace.retry_pace.waits) == 2  # with a back-off between tries


async def test_a_429_is_retried_after_retry_after(workspace: Workspace) -> None:
    workspace.fake.fail(
        "chat.postMessage", status=429, error="ratelimited", headers={"Retry-After": "12"}
    )
    await workspace.runner.send(KEY, NUDGE)
    assert len(workspace.fake.called("chat.postMessage")) == 2
    [waited] = workspace.retry_pace.waits
    assert 12 <= waited < 13
    assert len(workspace.fake.dm(USER)) == 1


async def test_a_429_that_does_not_end_is_a_temporary_failure(workspace: Workspace) -> None:
    workspace.fake.fail(
        "chat.postMessage", status=429, error="ratelimited", headers={"Retry-After": "1"}, times=9
    )
    with pytest.raises(DeliveryFailed, match="ratelimited"):
        await workspace.runner.send(KEY, NUDGE)
    assert len(workspace.retry_pace.waits) == 3
    assert len(workspace.fake.called("chat.postMessage")) == 4
