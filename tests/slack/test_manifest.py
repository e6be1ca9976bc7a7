"""The ready Slack app manifest matches what the adapter serves and what the dialogs promise."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

from adapters.slack.runner import BOT_SCOPES, PATH
from bot.flows import Catalog

ROOT = Path(__file__).resolve().parents[2]
MANIFEST = yaml.safe_load((ROOT / "slack-manifest.yml").read_text())


def test_scopes_are_exactly_what_the_adapter_asks_for() -> None:
    assert MANIFEST["oauth_config"]["scopes"]["bot"] == list(BOT_SCOPES)


def test_dms_the_messages_tab_and_the_home_tab_are_on() -> None:
    home = MANIFEST["features"]["app_home"]
    assert home == {
        "home_tab_enabled": True,
        "messages_tab_enabled": True,
        "messages_tab_read_only_enabled": False,
    }
    events = MANIFEST["settings"]["event_subscriptions"]["bot_events"]
    assert {"message.im", "app_home_opened", "app_uninstalled", "tokens_revoked"} == set(events)


def test_every_url_is_the_one_endpoint() -> None:
    settings = MANIFEST["settings"]
    assert settings["interactivity"]["is_enabled"]
    urls = [
        settings["interactivity"]["request_url"],
        settings["event_subscriptions"]["request_url"],
    ]
    urls += [c["url"] for c in MANIFEST["features"]["slash_commands"]]
    assert all(url.endswith(PATH) for url in urls)
    assert MANIFEST["oauth_config"]["redirect_urls"][0].endswith("/slack/oauth_redirect")


def test_the_commands_are_ones_the_dialogs_tell_people_to_type(catalog: Catalog) -> None:
    names = [c["command"].lstrip("/") for c in MANIFEST["features"]["slash_commands"]]
    assert names[:2] == ["rebound", "reflect"]
    help_text = (ROOT / "dialogs" / "help.yaml").read_text()
    promised = re.findall(r"^\s+- /(\w+):", help_text, flags=re.M)
    assert promised, "dialogs/help.yaml lists the commands as '- /name: ...'"
    # Every command /help tells people to type works as a slash command in Slack, and each
    # registered one is a command the engine knows (or /help promises).
    assert set(promised) <= set(names)
    assert set(names) <= set(promised) | set(catalog.commands)
    assert all(len(c["description"]) <= 100 for c in MANIFEST["features"]["slash_commands"])
    assert not [c for c in MANIFEST["features"]["slash_commands"] if c["should_escape"]]
