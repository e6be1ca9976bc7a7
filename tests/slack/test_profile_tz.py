"""On Slack, the time zone on the user's profile is offered as the default for nudges."""

from __future__ import annotations

from tests.slack.conftest import USER, Workspace, key


async def test_the_profile_time_zone_is_offered_to_confirm(workspace: Workspace) -> None:
    workspace.fake.profile_tz[USER] = "America/Chicago"
    await workspace.command("/nudges", channel="D0USER01")
    await workspace.press("Turn it on")
    assert "Your profile says your time zone is America/Chicago" in workspace.last_text()
    await workspace.press("Yes, use it")
    assert "Done: a check-in every day at 09:00" in workspace.last_text()
    profile = (await workspace.engine.store.export(key()))["profile"]
    assert profile["timezone"] == "America/Chicago"
    assert len(workspace.fake.called("users.info")) == 1  # once per user, then cached


async def test_without_a_profile_time_zone_the_user_is_asked(workspace: Workspace) -> None:
    await workspace.command("/nudges", channel="D0USER01")
    await workspace.press("Turn it on")
    assert "Which city are you in?" in workspace.last_text()
