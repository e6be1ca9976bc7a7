"""Which Slack mode to run in, checked once at start-up.

Every mistake an operator can make with the Slack settings stops `rebound run` with a ConfigError
that names the setting and says how to fix it. A token's value is never echoed back, only the
first characters that show what kind of token it is.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Literal

from bot.config import ConfigError

_KINDS = {
    "xoxb-": "a bot token",
    "xoxp-": "a user token",
    "xapp-": "an app-level token",
    "xoxe": "a token-rotation refresh token",
    "xoxa-": "a workspace token",
}
_CLIENT_ID = re.compile(r"^\d+\.\d+$")


@dataclass(frozen=True, slots=True)
class SlackConfig:
    mode: Literal["http", "socket"]
    database_url: str
    port: int = 3000
    bot_token: str | None = None
    app_token: str | None = None
    signing_secret: str | None = None
    client_id: str | None = None
    client_secret: str | None = None
    api_url: str | None = None

    @property
    def oauth(self) -> bool:
        """Many workspaces: each installs the app and its bot token is kept in the database."""
        return self.client_id is not None


def _kind(token: str) -> str:
    for prefix, kind in _KINDS.items():
        if token.startswith(prefix):
            return kind
    return "not a Slack token"


def _clean(name: str, value: str | None) -> str | None:
    if value is None or value == "":
        return None
    if value != value.strip() or any(ch.isspace() for ch in value):
        raise ConfigError(f"{name} contains spaces or a line break: copy the value again")
    if value[0] in "'\"" or value[-1] in "'\"":
        raise ConfigError(f"{name} is wrapped in quotes: remove them")
    return value


def _token(name: str, value: str | None, prefix: str, where: str) -> str | None:
    value = _clean(name, value)
    if value is not None and not value.startswith(prefix):
        raise ConfigError(
            f"{name} must start with {prefix} ({where}); the value set is {_kind(value)}"
        )
    return value


def slack_config(settings: Any) -> SlackConfig:
    """Validate the Slack part of bot.config.Settings and decide the mode."""
    bot_token = _token(
        "SLACK_BOT_TOKEN",
        settings.slack_bot_token,
        "xoxb-",
        "the Bot User OAuth Token under OAuth & Permissions",
    )
    app_token = _token(
        "SLACK_APP_TOKEN",
        settings.slack_app_token,
        "xapp-",
        "an app-level token with connections:write, under Basic Information",
    )
    secret = _clean("SLACK_SIGNING_SECRET", settings.slack_signing_secret)
    client_id = _clean("SLACK_CLIENT_ID", settings.slack_client_id)
    client_secret = _clean("SLACK_CLIENT_SECRET", settings.slack_client_secret)
    if client_id and not client_secret:
        raise ConfigError(
            "SLACK_CLIENT_ID is set but SLACK_CLIENT_SECRET is not: the install flow needs both "
            "(Basic Information > App Credentials)"
        )
    if client_secret and not client_id:
        raise ConfigError(
            "SLACK_CLIENT_SECRET is set but SLACK_CLIENT_ID is not: the install flow needs both "
            "(Basic Information > App Credentials)"
        )
    if client_id and not _CLIENT_ID.match(client_id):
        raise ConfigError(
            "SLACK_CLIENT_ID does not look like a Slack client id (digits, a dot, digits); "
            "copy it from Basic Information > App Credentials"
        )
    if client_id and bot_token:
        raise ConfigError(
            "set either SLACK_BOT_TOKEN (one workspace) or SLACK_CLIENT_ID and "
            "SLACK_CLIENT_SECRET (an install flow for many workspaces), not both"
        )
    if app_token and client_id:
        raise ConfigError(
            "the install flow (SLACK_CLIENT_ID) needs HTTP mode for its redirect: unset "
            "SLACK_APP_TOKEN, or use SLACK_BOT_TOKEN with Socket Mode"
        )
    if app_token and not bot_token:
        raise ConfigError(
            "Socket Mode (SLACK_APP_TOKEN) also needs SLACK_BOT_TOKEN (xoxb-...) to post replies"
        )
    if not app_token and not bot_token and not client_id:
        raise ConfigError(
            "Slack needs SLACK_BOT_TOKEN (one workspace) or SLACK_CLIENT_ID and "
            "SLACK_CLIENT_SECRET (many workspaces)"
        )
    mode: Literal["http", "socket"] = "socket" if app_token else "http"
    if mode == "http" and not secret:
        raise ConfigError(
            "SLACK_SIGNING_SECRET is required in HTTP mode: Rebound checks that every request "
            "really comes from Slack (Basic Information > App Credentials > Signing Secret). "
            "For Socket Mode instead, set SLACK_APP_TOKEN."
        )
    port = int(settings.port)
    if not 0 < port < 65536:
        raise ConfigError(f"PORT must be between 1 and 65535, not {port}")
    return SlackConfig(
        mode=mode,
        database_url=settings.database_url,
        port=port,
        bot_token=bot_token,
        app_token=app_token,
        signing_secret=secret,
        client_id=client_id,
        client_secret=client_secret,
        api_url=_api_url(settings.slack_api_url),
    )


def _api_url(value: str | None) -> str | None:
    value = _clean("SLACK_API_URL", value)
    if value is None:
        return None
    if not re.match(r"^https?://[^/\s]+", value):
        raise ConfigError(
            "SLACK_API_URL must be an http(s) URL of the Web API, such as "
            "https://slack-gov.com/api/"
        )
    return value if value.endswith("/") else value + "/"
