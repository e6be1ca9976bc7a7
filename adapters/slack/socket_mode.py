"""Socket Mode: Rebound opens a websocket to Slack, so it needs no public URL.

slack-sdk reconnects by itself after a failed connect, but a connection can also drop silently
(slack-sdk issues 1110 and 1701, bolt issue 1529): a watchdog replaces it when it has been gone
for two checks in a row and slack-sdk is not already reconnecting.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

from slack_bolt.adapter.socket_mode.async_handler import AsyncSocketModeHandler
from slack_bolt.async_app import AsyncApp
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from adapters.slack.outbox import FAILURES, Sleep, error_code
from bot.config import ConfigError

log = logging.getLogger("rebound.slack")

WATCH_SECONDS = 30.0
CONNECT_WAIT_SECONDS = 10.0
# What Slack answers for a token that will never work as configured.
REFUSED = frozenset(
    {
        "account_inactive",
        "invalid_auth",
        "not_allowed_token_type",
        "not_authed",
        "token_expired",
        "token_revoked",
    }
)


class SocketConnection:
    def __init__(
        self,
        bolt: AsyncApp,
        app_token: str,
        client: AsyncWebClient,
        logger: logging.Logger,
        *,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        self.bolt = bolt
        self.app_token = app_token
        self.client = client
        self.logger = logger
        self.sleep = sleep  # the watchdog's pause between checks; tests step it by hand
        self.handler: AsyncSocketModeHandler | None = None
        self._connecting: asyncio.Task[Any] | None = None
        self._watchdog: asyncio.Task[None] | None = None

    async def start(self) -> None:
        """Check the app token (a refused one stops start-up), then connect. slack-sdk retries a
        failed connection by itself, so start-up does not wait for Slack forever."""
        try:
            await self.client.apps_connections_open(app_token=self.app_token)
        except SlackApiError as exc:
            if error_code(exc) in REFUSED:
                raise ConfigError(
                    f"Slack refused SLACK_APP_TOKEN ({error_code(exc)}): make an app-level "
                    "token with connections:write (Basic Information) and turn Socket Mode on"
                ) from None
            log.warning("Slack: could not check the app token (%s)", error_code(exc))
        except FAILURES as exc:
            log.warning("Slack: could not check the app token (%s)", error_code(exc))
        self._open()
        assert self._connecting is not None
        done, _ = await asyncio.wait({self._connecting}, timeout=CONNECT_WAIT_SECONDS)
        log.info("Slack: Socket Mode %s", "connected" if done else "still connecting")
        self._watchdog = asyncio.create_task(self._watch())

    async def stop(self) -> None:
        for task in (self._watchdog, self._connecting):
            if task is not None and not task.done():
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError, *FAILURES):
                    await task
        await self._close()

    def _open(self) -> None:
        self.handler = AsyncSocketModeHandler(
            self.bolt, self.app_token, logger=self.logger, web_client=self.client
        )
        self._connecting = asyncio.create_task(self.handler.connect_async())

    async def _close(self) -> None:
        if self.handler is not None:
            with contextlib.suppress(*FAILURES):
                await self.handler.close_async()

    async def _watch(self) -> None:
        misses = 0
        while True:
            await self.sleep(WATCH_SECONDS)
            if self._connecting is not None and not self._connecting.done():
                misses = 0  # slack-sdk is connecting; leave it to it
                continue
            try:
                ok = self.handler is not None and await self.handler.client.is_connected()
            except FAILURES:
                ok = False
            misses = 0 if ok else misses + 1
            if misses < 2:
                continue
            log.warning("Slack: Socket Mode connection lost, reconnecting")
            misses = 0
            await self._close()
            self._open()
