"""A missing or malformed Slack setting stops start-up, naming the setting and the fix."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from adapters.slack import build_runner
from adapters.slack.settings import slack_config
from bot.config import ConfigError
from tests.slack.conftest import SECRET, settings

BOT = "xoxb-1111-2222-abcdefghijklmnop"
APP = "xapp-1-A0APP001-3333-abcdef"


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"SLACK_BOT_TOKEN": BOT}, "SLACK_SIGNING_SECRET is required in HTTP mode"),
        (
            {"SLACK_BOT_TOKEN": "xoxp-1111-2222-3333", "SLACK_SIGNING_SECRET": SECRET},
            "SLACK_BOT_TOKEN must start with xoxb- (the Bot User OAuth Token under OAuth & "
            "Permissions); the value set is a user token",
        ),
        (
            {"SLACK_BOT_TOKEN": APP, "SLACK_SIGNING_SECRET": SECRET},
            "the value set is an app-level token",
        ),
        (
            {"SLACK_BOT_TOKEN": BOT, "SLACK_APP_TOKEN": BOT},
            "SLACK_APP_TOKEN must start with xapp-",
        ),
        ({"SLACK_APP_TOKEN": APP}, "Socket Mode (SLACK_APP_TOKEN) also needs SLACK_BOT_TOKEN"),
        (
            {"SLACK_CLIENT_ID": "1234.5678", "SLACK_SIGNING_SECRET": SECRET},
            "SLACK_CLIENT_ID is set but SLACK_CLIENT_SECRET is not",
        ),
        (
            {
                "SLACK_BOT_TOKEN": BOT,
                "SLACK_CLIENT_SECRET": "s3cr3t",
                "SLACK_SIGNING_SECRET": SECRET,
            },
            "SLACK_CLIENT_SECRET is set but SLACK_CLIENT_ID is not",
        ),
        (
            {"SLACK_CLIENT_ID": "my-app", "SLACK_CLIENT_SECRET": "s3cr3t"},
            "SLACK_CLIENT_ID does not look like a Slack client id",
        ),
        (
            {
                "SLACK_BOT_TOKEN": BOT,
                "SLACK_CLIENT_ID": "1234.5678",
                "SLACK_CLIENT_SECRET": "s3cr3t",
                "SLACK_SIGNING_SECRET": SECRET,
            },
            "set either SLACK_BOT_TOKEN (one workspace) or SLACK_CLIENT_ID",
        ),
        (
            {
                "SLACK_APP_TOKEN": APP,
                "SLACK_CLIENT_ID": "1234.5678",
                "SLACK_CLIENT_SECRET": "s3cr3t",
            },
            "needs HTTP mode for its redirect",
        ),
        (
            {"SLACK_BOT_TOKEN": BOT + "\n", "SLACK_SIGNING_SECRET": SECRET},
            "SLACK_BOT_TOKEN contains spaces or a line break",
        ),
        (
            {"SLACK_BOT_TOKEN": f'"{BOT}"', "SLACK_SIGNING_SECRET": SECRET},
            "SLACK_BOT_TOKEN is wrapped in quotes",
        ),
        (
            {"SLACK_BOT_TOKEN": BOT, "SLACK_SIGNING_SECRET": SECRET, "SLACK_API_URL": "slack-gov"},
            "SLACK_API_URL must be an http(s) URL",
        ),
        (
            {"SLACK_BOT_TOKEN": BOT, "SLACK_SIGNING_SECRET": SECRET, "PORT": 70000},
            "PORT must be between 1 and 65535",
        ),
    ],
)
def test_a_bad_slack_setting_says_which_and_why(values: dict, message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        slack_config(settings(**values))
    assert message in str(caught.value)
    for secret in (BOT, APP, SECRET, "s3cr3t"):
        assert secret not in str(caught.value)  # a token is never echoed back


def test_build_runner_refuses_a_bad_setting_at_start_up() -> None:
    app = SimpleNamespace(settings=settings(SLACK_BOT_TOKEN=BOT), catalog=None, engine=None)
    with pytest.raises(ConfigError, match="SLACK_SIGNING_SECRET"):
        build_runner(app)


def test_http_mode_with_one_workspace_token() -> None:
    config = slack_config(settings(SLACK_BOT_TOKEN=BOT, SLACK_SIGNING_SECRET=SECRET, PORT=8080))
    assert (config.mode, config.port, config.oauth, config.api_url) == ("http", 8080, False, None)


def test_socket_mode_needs_no_signing_secret() -> None:
    config = slack_config(settings(SLACK_BOT_TOKEN=BOT, SLACK_APP_TOKEN=APP))
    assert config.mode == "socket"


def test_install_flow_for_many_workspaces() -> None:
    config = slack_config(
        settings(
            SLACK_CLIENT_ID="1234567890.0987654321",
            SLACK_CLIENT_SECRET="s3cr3t",
            SLACK_SIGNING_SECRET=SECRET,
        )
    )
    assert config.mode == "http" and config.oauth and config.bot_token is None


def test_the_api_url_gets_its_trailing_slash() -> None:
    config = slack_config(
        settings(
            SLACK_BOT_TOKEN=BOT,
            SLACK_SIGNING_SECRET=SECRET,
            SLACK_API_URL="https://slack-gov.com/api",
        )
    )
    assert config.api_url == "https://slack-gov.com/api/"
