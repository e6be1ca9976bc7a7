"""Where the install flow keeps each workspace's bot token: slack-sdk's SQLAlchemy stores, in
the same database as everything else (DATABASE_URL), in tables of their own (slack_*).

slack-sdk's async SQLAlchemy stores need an async driver (aiosqlite, asyncpg) that Rebound does
not otherwise depend on; its sync stores on a plain SQLAlchemy engine, run in a worker thread, do
the same work without blocking the event loop.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import sqlalchemy
from slack_sdk.oauth.installation_store import Bot, Installation
from slack_sdk.oauth.installation_store.async_installation_store import AsyncInstallationStore
from slack_sdk.oauth.installation_store.sqlalchemy import SQLAlchemyInstallationStore
from slack_sdk.oauth.state_store.async_state_store import AsyncOAuthStateStore
from slack_sdk.oauth.state_store.sqlalchemy import SQLAlchemyOAuthStateStore

# Its own level never goes below INFO (runner.library_logger): slack-sdk's stores log rows,
# tokens included, at DEBUG.
log = logging.getLogger("rebound.slack.lib")


def make_db(url: str) -> sqlalchemy.Engine:
    kwargs: dict[str, Any] = {"pool_pre_ping": True}
    if url.startswith("sqlite"):
        kwargs["connect_args"] = {"timeout": 15, "check_same_thread": False}
    return sqlalchemy.create_engine(url, **kwargs)


class InstallationStore(AsyncInstallationStore):
    def __init__(self, client_id: str, db: sqlalchemy.Engine) -> None:
        self.sync = SQLAlchemyInstallationStore(client_id=client_id, engine=db, logger=log)

    @property
    def logger(self) -> logging.Logger:
        return log

    async def create_tables(self) -> None:
        await asyncio.to_thread(self.sync.create_tables)

    async def async_save(self, installation: Installation) -> None:
        await asyncio.to_thread(self.sync.save, installation)

    async def async_save_bot(self, bot: Bot) -> None:
        await asyncio.to_thread(self.sync.save_bot, bot)

    async def async_find_bot(
        self,
        *,
        enterprise_id: str | None,
        team_id: str | None,
        is_enterprise_install: bool | None = False,
    ) -> Bot | None:
        return await asyncio.to_thread(
            self.sync.find_bot,
            enterprise_id=enterprise_id,
            team_id=team_id,
            is_enterprise_install=is_enterprise_install,
        )

    async def async_find_installation(
        self,
        *,
        enterprise_id: str | None,
        team_id: str | None,
        user_id: str | None = None,
        is_enterprise_install: bool | None = False,
    ) -> Installation | None:
        return await asyncio.to_thread(
            self.sync.find_installation,
            enterprise_id=enterprise_id,
            team_id=team_id,
            user_id=user_id,
            is_enterprise_install=is_enterprise_install,
        )

    async def async_delete_bot(self, *, enterprise_id: str | None, team_id: str | None) -> None:
        await asyncio.to_thread(self.sync.delete_bot, enterprise_id=enterprise_id, team_id=team_id)

    async def async_delete_installation(
        self, *, enterprise_id: str | None, team_id: str | None, user_id: str | None = None
    ) -> None:
        await asyncio.to_thread(
            self.sync.delete_installation,
            enterprise_id=enterprise_id,
            team_id=team_id,
            user_id=user_id,
        )


class StateStore(AsyncOAuthStateStore):
    """The OAuth `state` values, so that a redirect is only accepted for an install we began."""

    def __init__(self, db: sqlalchemy.Engine, expiration_seconds: int = 600) -> None:
        self.sync = SQLAlchemyOAuthStateStore(
            expiration_seconds=expiration_seconds, engine=db, logger=log
        )

    @property
    def logger(self) -> logging.Logger:
        return log

    async def create_tables(self) -> None:
        await asyncio.to_thread(self.sync.create_tables)

    async def async_issue(self, *args: Any, **kwargs: Any) -> str:
        return await asyncio.to_thread(self.sync.issue, *args, **kwargs)

    async def async_consume(self, state: str) -> bool:
        return await asyncio.to_thread(self.sync.consume, state)
