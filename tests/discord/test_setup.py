"""Starting, configuring and registering the Discord app; nudges through the Sender."""

from __future__ import annotations

import logging
import os
from types import SimpleNamespace
from typing import Any

import discord
import pytest

from adapters.discord import DiscordRunner, build_runner, sync_commands
from bot.app import App
from bot.config import ConfigError, Settings
from bot.engine import Engine
from bot.events import Choice, ConversationKey, Reply
from bot.flows import Catalog
from bot.ports import DeliveryFailed, Unreachable
from bot.run import build_runners
from bot.store import SqlStore
from tests.discord.conftest import StartRunner
from tests.discord.fake_discord import APP_ID, BAD_TOKEN, TOKEN, FakeDiscord
from tests.discord.helpers import DM, USER, assert_no_pings, dm_message, items

NUDGE = [Reply(text="Morning. How are you today?", choices=(Choice("cmd:rebound", "Talk"),))]


def app(engine: Engine, catalog: Catalog, **settings: Any) -> SimpleNamespace:
    values = {"discord_token": TOKEN, "discord_guild_id": None, "discord_shard_count": None}
    values.update(settings)
    return SimpleNamespace(settings=SimpleNamespace(**values), catalog=catalog, engine=engine)


# -- start-up -------------------------------------------------------------------------------------


async def test_a_rejected_token_stops_start_up_with_a_clear_message(
    fake: FakeDiscord, start_runner: StartRunner
) -> None:
    with pytest.raises(ConfigError) as raised:
        await start_runner(token=BAD_TOKEN)

    message = str(raised.value.code)
    assert "DISCORD_TOKEN was rejected by Discord" in message
    assert BAD_TOKEN not in message
    assert fake.identifies == []  # no gateway connection was tried


async def test_rebound_run_starts_discord_when_discord_token_is_set(
    fake: FakeDiscord,
    engine: Engine,
    catalog: Catalog,
    store: SqlStore,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name in list(os.environ):
        if name.startswith(("DISCORD_", "SLACK_")):
            monkeypatch.delenv(name)
    settings = Settings(_env_file=None, DISCORD_TOKEN=TOKEN)  # type: ignore[call-arg]
    (runner,) = build_runners(App(settings, catalog, store, engine))

    assert isinstance(runner, DiscordRunner) and runner.platform == "discord"
    await runner.start()
    try:
        assert len(fake.identifies) == 1
    finally:
        await runner.stop()


def test_a_missing_token_is_a_configuration_error(engine: Engine, catalog: Catalog) -> None:
    with pytest.raises(ConfigError, match="DISCORD_TOKEN is not set"):
        build_runner(app(engine, catalog, discord_token="  "))


async def test_an_interactions_endpoint_url_would_steal_the_events(
    fake: FakeDiscord, start_runner: StartRunner
) -> None:
    fake.application["interactions_endpoint_url"] = "https://example.invalid/interactions"
    with pytest.raises(ConfigError, match="Interactions Endpoint URL"):
        await start_runner()


async def test_it_asks_only_for_direct_messages_and_registers_no_commands_on_start(
    fake: FakeDiscord, runner: DiscordRunner
) -> None:
    (identify,) = fake.identifies
    assert identify["intents"] == discord.Intents(dm_messages=True).value
    assert not discord.Intents._from_value(identify["intents"]).message_content
    assert identify["shard"] == [0, 1]  # automatic: Discord's recommendation
    assert [c for c in fake.calls if c.path.endswith("/commands")] == []


async def test_sharding_follows_discord_shard_count(engine: Engine, catalog: Catalog) -> None:
    runner = build_runner(app(engine, catalog, discord_shard_count=4))
    assert isinstance(runner.client, discord.AutoShardedClient)
    assert runner.client.shard_count == 4
    with pytest.raises(ConfigError, match="DISCORD_SHARD_COUNT"):
        build_runner(app(engine, catalog, discord_shard_count=0))


async def test_what_users_write_never_reaches_the_logs(
    fake: FakeDiscord, runner: DiscordRunner, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    secret = "my manager said the reorganisation was final"
    await fake.dispatch("MESSAGE_CREATE", dm_message(f"I was let go today, {secret}"))
    await fake.wait_for("send", channel_id=DM)
    await runner.idle()

    assert secret not in caplog.text
    assert TOKEN not in caplog.text


# -- registering the commands ---------------------------------------------------------------------


async def test_sync_registers_global_commands_for_dms_servers_and_user_installs(
    fake: FakeDiscord, engine: Engine, catalog: Catalog
) -> None:
    result = await sync_commands(app(engine, catalog))

    (put,) = [c for c in fake.calls if c.method == "PUT"]
    assert put.path == f"/api/v10/applications/{APP_ID}/commands"
    names = [c["name"] for c in put.json]
    assert {"rebound", "reflect", "plan", "journal", "export", "forget", "help", "stop"} <= set(
        names
    )
    assert set(names) <= set(catalog.commands)  # no command the dialogs cannot answer
    for registered in put.json:
        assert registered["contexts"] == [0, 1, 2]  # servers, the bot's DM, other DMs
        assert registered["integration_types"] == [0, 1]  # server install and user install
        assert registered["options"] == []  # no typed text ever shows in a channel
    assert result.startswith(f"registered {len(names)} commands globally")
    assert fake.identifies == []  # registering needs no gateway connection


async def test_sync_to_a_test_server_with_discord_guild_id(
    fake: FakeDiscord, engine: Engine, catalog: Catalog
) -> None:
    result = await sync_commands(app(engine, catalog, discord_guild_id=1300000000000000300))

    (put,) = [c for c in fake.calls if c.method == "PUT"]
    assert put.path == f"/api/v10/applications/{APP_ID}/guilds/1300000000000000300/commands"
    assert "/reflect" in result and "right away" in result


# -- nudges through the Sender --------------------------------------------------------------------


async def test_a_nudge_arrives_in_the_dm_with_its_buttons(
    fake: FakeDiscord, runner: DiscordRunner
) -> None:
    await runner.send(ConversationKey("discord", USER), NUDGE)

    (opened,) = fake.of("open_dm")
    assert str(opened.json["recipient_id"]) == USER
    (sent,) = fake.sent_to(DM)
    assert sent.json["content"] == "Morning. How are you today?"
    assert [i["custom_id"] for i in items(sent)] == ["rb:c:cmd:rebound"]
    assert_no_pings(fake)


async def test_closed_dms_make_the_user_unreachable(
    fake: FakeDiscord, runner: DiscordRunner
) -> None:
    fake.closed_dms.add(USER)
    with pytest.raises(Unreachable):
        await runner.send(ConversationKey("discord", USER), NUDGE)


async def test_a_discord_outage_is_a_temporary_failure(
    fake: FakeDiscord, runner: DiscordRunner
) -> None:
    fake.failing_dms.add(USER)
    with pytest.raises(DeliveryFailed):
        await runner.send(ConversationKey("discord", USER), NUDGE)


async def test_a_rate_limit_is_waited_out_by_discord_py_and_sends_once(
    fake: FakeDiscord, runner: DiscordRunner
) -> None:
    fake.rate_limit_once.add("send")
    await runner.send(ConversationKey("discord", USER), NUDGE)

    statuses = [c.status for c in fake.sent_to(DM)]
    assert statuses == [429, 200]


async def test_a_nudge_for_someone_else_is_refused(runner: DiscordRunner) -> None:
    with pytest.raises(Unreachable):
        await runner.send(ConversationKey("slack", "U123", "T1"), NUDGE)
