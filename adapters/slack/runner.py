"""The Slack runner: slack-bolt's AsyncApp in HTTP mode (signed requests on PORT at
/slack/events) or Socket Mode (SLACK_APP_TOKEN), with the OAuth install flow when
SLACK_CLIENT_ID is set, and the Sender that delivers nudges to a user's DM."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Collection
from typing import TYPE_CHECKING, Any

import aiohttp
from aiohttp import web
from slack_bolt.async_app import AsyncApp
from slack_bolt.oauth.async_oauth_settings import AsyncOAuthSettings
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from adapters.slack.listeners import EngineLike, Handlers
from adapters.slack.outbox import (
    FAILURES,
    Outbox,
    Sleep,
    error_code,
    retry_handlers,
    translate,
)
from adapters.slack.settings import SlackConfig, slack_config
from adapters.slack.socket_mode import REFUSED, SocketConnection
from bot.config import ConfigError
from bot.events import ConversationKey, Reply
from bot.ports import Unreachable

if TYPE_CHECKING:  # imported when the install flow is on (it needs greenlet, see installs.py)
    from adapters.slack.installs import InstallationStore, StateStore

log = logging.getLogger("rebound.slack")

PATH = "/slack/events"
# What the bot needs, and nothing more (see adapters/slack/README.md for why each).
BOT_SCOPES = ("chat:write", "commands", "im:history", "im:write", "files:write", "users:read")


def library_logger() -> logging.Logger:
    """slack-bolt and slack-sdk log request bodies (what users wrote) and tokens at DEBUG; they
    get a logger that never goes below INFO, whatever LOG_LEVEL says."""
    lib = logging.getLogger("rebound.slack.lib")
    lib.setLevel(max(logging.INFO, logging.getLogger("rebound").getEffectiveLevel()))
    return lib


class SlackRunner:
    platform = "slack"

    def __init__(
        self,
        config: SlackConfig,
        engine: EngineLike,
        *,
        commands: Collection[str],
        pace: Sleep = asyncio.sleep,
        retry_sleep: Sleep = asyncio.sleep,
        watch_sleep: Sleep = asyncio.sleep,
        host: str = "0.0.0.0",
    ) -> None:
        self.config = config
        self.host = host
        self._lib_log = library_logger()
        client_kw: dict[str, Any] = {"retry_handlers": retry_handlers(retry_sleep)}
        if config.api_url:
            client_kw["base_url"] = config.api_url
        self.client = AsyncWebClient(token=config.bot_token, logger=self._lib_log, **client_kw)
        self._db: Any = None  # the install flow's SQLAlchemy engine
        self.installs: InstallationStore | None = None
        self._states: StateStore | None = None
        oauth = None
        if config.oauth:
            assert config.client_id and config.client_secret
            try:
                from adapters.slack.installs import InstallationStore, StateStore, make_db
            except ImportError as exc:
                raise ConfigError(
                    f"the Slack install flow (SLACK_CLIENT_ID) needs {exc.name}: "
                    "pip install 'rebound[slack]' 'SQLAlchemy[asyncio]'"
                ) from None
            self._db = make_db(config.database_url)
            self.installs = InstallationStore(config.client_id, self._db)
            self._states = StateStore(self._db)
            oauth = AsyncOAuthSettings(
                client_id=config.client_id,
                client_secret=config.client_secret,
                scopes=list(BOT_SCOPES),
                installation_store=self.installs,
                state_store=self._states,
                logger=self._lib_log,
            )
        self.bolt = AsyncApp(
            name="rebound.slack.bolt",  # bolt sets this logger's level: not "rebound"
            client=self.client,
            signing_secret=config.signing_secret or "",
            oauth_settings=oauth,
            request_verification_enabled=config.mode == "http",
            logger=self._lib_log,
        )
        self.outbox = Outbox(pace)
        self.handlers = Handlers(engine, self.outbox, commands=commands)
        self.handlers.register(self.bolt)
        self._forget_revoked_installs()
        self._web: web.AppRunner | None = None
        self.socket: SocketConnection | None = None
        if config.mode == "socket":
            assert config.app_token
            self.socket = SocketConnection(
                self.bolt, config.app_token, self.client, self._lib_log, sleep=watch_sleep
            )

    def _forget_revoked_installs(self) -> None:
        """tokens_revoked and app_uninstalled: with the install flow, bolt's own listeners
        delete the workspace's tokens (tracked like ours, so shutdown waits for them); with one
        token there is nothing to forget, but the events are still acknowledged."""
        if not self.config.oauth:
            self.bolt.event("tokens_revoked")(_ignore)
            self.bolt.event("app_uninstalled")(_ignore)
            return
        revoked = self.bolt.default_tokens_revoked_event_listener()
        uninstalled = self.bolt.default_app_uninstalled_event_listener()

        async def on_revoked(event: dict[str, Any], context: Any) -> None:
            self.handlers.track()
            await revoked(event=event, context=context)

        async def on_uninstalled(context: Any) -> None:
            self.handlers.track()
            await uninstalled(context=context)

        self.bolt.event("tokens_revoked")(on_revoked)
        self.bolt.event("app_uninstalled")(on_uninstalled)

    def web_app(self) -> web.Application:
        """The HTTP endpoint: events, commands and interactivity on /slack/events (signature
        checked by bolt), plus /slack/install and /slack/oauth_redirect with the install flow."""
        return self.bolt.web_app(path=PATH, port=self.config.port)

    async def open(self) -> None:
        """What serving needs besides a listening socket: a shared HTTP session for the Web API
        and, with the install flow, its tables."""
        if self.client.session is None:
            self.client.session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30))
        if self.installs is not None and self._states is not None:
            await self.installs.create_tables()
            await self._states.create_tables()

    async def start(self, *, serve: bool = True) -> None:
        """Connect; with serve=False (`rebound nudges`) only what sending needs, no port."""
        await self.open()
        try:
            await self._check_bot_token()
            if not serve:
                return
            if self.config.mode == "http":
                self._web = web.AppRunner(self.web_app(), access_log=None)
                await self._web.setup()
                await web.TCPSite(self._web, self.host, self.config.port).start()
                log.info("Slack: HTTP mode on port %d, path %s", self.config.port, PATH)
            elif self.socket is not None:
                await self.socket.start()
        except BaseException:
            await self.stop()
            raise

    async def _check_bot_token(self) -> None:
        """A token Slack refuses is an operator's mistake: say so at start-up. Slack being
        unreachable for a moment is not: carry on, and calls will be retried."""
        if not self.config.bot_token:
            return
        try:
            await self.client.auth_test()
        except SlackApiError as exc:
            if error_code(exc) in REFUSED:
                raise ConfigError(
                    f"Slack refused SLACK_BOT_TOKEN ({error_code(exc)}): copy the Bot User "
                    "OAuth Token again (OAuth & Permissions), or reinstall the app"
                ) from None
            log.warning("Slack: could not check the bot token (%s)", error_code(exc))
        except FAILURES as exc:
            log.warning("Slack: could not check the bot token (%s)", error_code(exc))

    async def stop(self) -> None:
        await self.drain(within=10)
        if self.socket is not None:
            await self.socket.stop()
        if self._web is not None:
            await self._web.cleanup()
        if self.client.session is not None:
            await self.client.session.close()
            self.client.session = None
        if self._db is not None:
            await asyncio.to_thread(self._db.dispose)

    async def drain(self, within: float | None = None) -> None:
        """Wait for the work that listeners started after acknowledging (tests; shutdown)."""
        for _ in range(3):  # let listeners that bolt has just scheduled begin
            await asyncio.sleep(0)
        while busy := {t for t in self.handlers.busy if t is not asyncio.current_task()}:
            _, pending = await asyncio.wait(busy, timeout=within)
            if pending:
                log.warning("Slack: %d listeners still running at shutdown", len(pending))
                return

    # -- the Sender port (nudges) ----------------------------------------------------------

    async def send(self, key: ConversationKey, replies: list[Reply]) -> None:
        """Deliver the replies in the user's DM. Raises Unreachable or DeliveryFailed."""
        if not replies:
            return
        try:
            client = await self._client_for(key.space)
            async with self.handlers.in_order(key):
                channel = await self.handlers.dm(client, key)
                await self.outbox.deliver(client, channel, replies)
        except FAILURES as exc:
            raise translate(exc) from None

    async def _client_for(self, team: str) -> AsyncWebClient:
        if self.installs is None:
            return self.client
        bot = await self.installs.async_find_bot(enterprise_id=None, team_id=team or None)
        if bot is None:
            raise Unreachable("slack: the app is not installed in this workspace")
        return AsyncWebClient(
            token=bot.bot_token,
            base_url=self.client.base_url,
            session=self.client.session,
            retry_handlers=list(self.client.retry_handlers or []),
            logger=self._lib_log,
        )


async def _ignore() -> None:
    return None


def build_runner(app: Any, **sleeps: Sleep) -> SlackRunner:
    """Called by `rebound run` with bot.app.App. Raises ConfigError for a bad Slack setting.
    Tests pass `pace`, `retry_sleep` or `watch_sleep` so that nothing waits for real."""
    return SlackRunner(
        slack_config(app.settings), app.engine, commands=set(app.catalog.commands), **sleeps
    )
