"""Settings from the environment and a `.env` file. `.env.example` lists every one."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class ConfigError(SystemExit):
    """An operator's mistake in the settings: stop at start-up and say what to fix."""

    def __init__(self, message: str) -> None:
        super().__init__(f"rebound: configuration error: {message}")


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_file=".env", extra="ignore", populate_by_name=True)

    database_url: str = Field("sqlite:///rebound.db", alias="DATABASE_URL")
    encryption_key: str | None = Field(None, alias="REBOUND_ENCRYPTION_KEY")
    dialogs_dir: Path | None = Field(None, alias="REBOUND_DIALOGS_DIR")
    files_dir: Path = Field(Path("rebound-files"), alias="REBOUND_FILES_DIR")
    sqlite_synchronous: str = Field("NORMAL", alias="REBOUND_SQLITE_SYNCHRONOUS")
    log_level: str = Field("WARNING", alias="LOG_LEVEL")
    # The contextual reader for screening (bot/safety/contextual.py): about 1 crisis message in
    # 30 more caught, for 86 MiB, 1.8 s of start-up and about 0.05 ms a message on everyday chat.
    safety_contextual: bool = Field(True, alias="REBOUND_SAFETY_CONTEXTUAL")

    # Slack (adapters/slack): a single workspace token, or OAuth for many workspaces.
    slack_bot_token: str | None = Field(None, alias="SLACK_BOT_TOKEN")
    slack_app_token: str | None = Field(None, alias="SLACK_APP_TOKEN")
    slack_signing_secret: str | None = Field(None, alias="SLACK_SIGNING_SECRET")
    slack_client_id: str | None = Field(None, alias="SLACK_CLIENT_ID")
    slack_client_secret: str | None = Field(None, alias="SLACK_CLIENT_SECRET")
    slack_api_url: str | None = Field(None, alias="SLACK_API_URL")
    port: int = Field(3000, alias="PORT")
    health_port: int = Field(8080, alias="HEALTH_PORT")  # /healthz and /readyz; 0 turns it off

    # Discord (adapters/discord).
    discord_token: str | None = Field(None, alias="DISCORD_TOKEN")
    discord_guild_id: int | None = Field(None, alias="DISCORD_GUILD_ID")
    discord_shard_count: int | None = Field(None, alias="DISCORD_SHARD_COUNT")

    @property
    def slack_configured(self) -> bool:
        return bool(self.slack_bot_token or self.slack_client_id or self.slack_app_token)

    @property
    def discord_configured(self) -> bool:
        return bool(self.discord_token)

    @field_validator("database_url")
    @classmethod
    def _url(cls, value: str) -> str:
        if "://" not in value:
            raise ValueError(
                "must be an SQLAlchemy URL such as sqlite:///rebound.db or "
                "postgresql+psycopg://user@host/dbname"
            )
        if value.startswith(("postgres://", "postgresql://")):
            # The common Heroku-style form: use the psycopg 3 driver we ship with.
            value = "postgresql+psycopg://" + value.split("://", 1)[1]
        return value

    @field_validator("sqlite_synchronous")
    @classmethod
    def _sync(cls, value: str) -> str:
        value = value.upper()
        if value not in ("OFF", "NORMAL", "FULL", "EXTRA"):
            raise ValueError("must be one of OFF, NORMAL, FULL, EXTRA")
        return value

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")


def load_settings(**overrides: object) -> Settings:
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc'])}: {err['msg']}" for err in exc.errors()
        )
        raise ConfigError(problems) from None
