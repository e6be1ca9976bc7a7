"""Sending what blocks.plan() decided, through the Web API; Slack's errors translated at the seam.

Rate-limited calls (HTTP 429) wait for Retry-After and are tried again; what still fails becomes
bot.ports.Unreachable (the user cannot be messaged: retrying will not help) or DeliveryFailed
(try again later). Only error codes are logged, never what a message said.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp
from slack_sdk.errors import SlackApiError, SlackClientError
from slack_sdk.http_retry.builtin_async_handlers import (
    AsyncConnectionErrorRetryHandler,
    AsyncRateLimitErrorRetryHandler,
    AsyncServerErrorRetryHandler,
)
from slack_sdk.http_retry.request import HttpRequest
from slack_sdk.http_retry.response import HttpResponse
from slack_sdk.http_retry.state import RetryState
from slack_sdk.web.async_client import AsyncWebClient

from adapters.slack import blocks
from bot.events import Breathing, Reply
from bot.ports import DeliveryFailed, Unreachable

log = logging.getLogger("rebound.slack")

Sleep = Callable[[float], Awaitable[Any]]

# Web API errors after which messaging this user cannot work until something changes on their
# side (DMs closed, account gone, app uninstalled or its token revoked).
PERMANENT = frozenset(
    {
        "access_denied",
        "account_inactive",
        "cannot_dm_bot",
        "channel_not_found",
        "ekm_access_denied",
        "invalid_auth",
        "is_archived",
        "messages_tab_disabled",
        "no_permission",
        "not_authed",
        "not_in_channel",
        "restricted_action",
        "team_access_not_granted",
        "team_not_found",
        "token_expired",
        "token_revoked",
        "user_disabled",
        "user_not_found",
        "user_not_visible",
        "users_not_found",
    }
)


class RateLimitRetry(AsyncRateLimitErrorRetryHandler):
    """slack-sdk's 429 handler (wait for Retry-After, then try again), with the wait injectable
    so that tests do not sleep."""

    def __init__(self, max_retry_count: int = 3, sleep: Sleep = asyncio.sleep) -> None:
        super().__init__(max_retry_count=max_retry_count)
        self._sleep = sleep

    async def prepare_for_next_attempt_async(
        self,
        *,
        state: RetryState,
        request: HttpRequest,
        response: HttpResponse | None = None,
        error: Exception | None = None,
    ) -> None:
        if response is None:
            raise error  # type: ignore[misc]
        state.next_attempt_requested = True
        seconds = 1.0
        for name, values in response.headers.items():
            if name.lower() == "retry-after" and values:
                with contextlib.suppress(ValueError):
                    seconds = max(0.0, float(values[0]))
        await self._sleep(seconds + random.random() / 4)
        state.increment_current_attempt()


class _Paced:
    """slack-sdk's back-off between retries, with the wait injectable."""

    _sleep: Sleep
    interval_calculator: Any

    async def prepare_for_next_attempt_async(
        self,
        *,
        state: RetryState,
        request: HttpRequest,
        response: HttpResponse | None = None,
        error: Exception | None = None,
    ) -> None:
        state.next_attempt_requested = True
        await self._sleep(self.interval_calculator.calculate_sleep_duration(state.current_attempt))
        state.increment_current_attempt()


class ServerErrorRetry(_Paced, AsyncServerErrorRetryHandler):
    """500 and 503: try again after a short back-off."""

    def __init__(self, max_retry_count: int = 2, sleep: Sleep = asyncio.sleep) -> None:
        super().__init__(max_retry_count=max_retry_count)
        self._sleep = sleep


class ConnectionErrorRetry(_Paced, AsyncConnectionErrorRetryHandler):
    """A dropped or refused connection: try again after a short back-off."""

    def __init__(self, max_retry_count: int = 2, sleep: Sleep = asyncio.sleep) -> None:
        super().__init__(max_retry_count=max_retry_count)
        self._sleep = sleep


def retry_handlers(sleep: Sleep = asyncio.sleep) -> list[Any]:
    return [
        ConnectionErrorRetry(sleep=sleep),
        RateLimitRetry(max_retry_count=3, sleep=sleep),
        ServerErrorRetry(sleep=sleep),
    ]


def error_code(exc: BaseException) -> str:
    if isinstance(exc, SlackApiError):
        return str(exc.response.get("error") or f"http_{exc.response.status_code}")
    return type(exc).__name__


def translate(exc: BaseException) -> Unreachable | DeliveryFailed:
    """A Slack or network failure in the core's terms."""
    code = error_code(exc)
    if isinstance(exc, SlackApiError) and code in PERMANENT:
        return Unreachable(f"slack: {code}")
    return DeliveryFailed(f"slack: {code}")


FAILURES = (SlackApiError, SlackClientError, aiohttp.ClientError, asyncio.TimeoutError)


class Outbox:
    def __init__(self, pace: Sleep = asyncio.sleep) -> None:
        self.pace = pace  # how breathing is paced; tests pass a sleep that returns at once

    async def deliver(self, client: AsyncWebClient, channel: str, replies: list[Reply]) -> None:
        """Post the replies in `channel`, in order. Raises the Web API's errors."""
        for item in blocks.plan(replies):
            if isinstance(item, blocks.Post):
                await client.chat_postMessage(
                    channel=channel,
                    text=item.text,
                    blocks=item.blocks,
                    unfurl_links=False,
                    unfurl_media=False,
                    link_names=False,
                )
            elif isinstance(item, blocks.Breathe):
                await self.breathe(client, channel, item.breathing)
            else:
                await client.files_upload_v2(
                    channel=channel,
                    content=item.file.data,
                    filename=item.file.name,
                    title=item.file.name,
                    alt_txt=item.file.alt or None,
                )

    async def breathe(self, client: AsyncWebClient, channel: str, b: Breathing) -> None:
        """One message, updated in place for each breath in and out. If an update fails the
        exercise stops quietly and the conversation goes on."""
        text, frame = blocks.breath(b, 1, "in")
        posted = await client.chat_postMessage(channel=channel, text=text, blocks=frame)
        where = {"channel": posted.get("channel") or channel, "ts": posted["ts"]}
        try:
            for n in range(1, b.count + 1):
                if n > 1:
                    await self._frame(client, where, b, n, "in")
                await self.pace(b.inhale_seconds)
                await self._frame(client, where, b, n, "out")
                await self.pace(b.exhale_seconds)
            await self._frame(client, where, b, b.count, "done")
        except FAILURES as exc:
            log.warning("breathing exercise stopped early: %s", error_code(exc))

    async def _frame(
        self, client: AsyncWebClient, where: dict[str, str], b: Breathing, n: int, phase: str
    ) -> None:
        text, frame = blocks.breath(b, n, phase)
        await client.chat_update(**where, text=text, blocks=frame)
