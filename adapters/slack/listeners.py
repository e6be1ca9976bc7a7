"""Bolt listeners: acknowledge, map the payload, let the engine answer, send the answer.

No dialog logic lives here. Every listener acknowledges first (Slack wants an answer within
3 seconds) and then works; a form's modal is opened right after the acknowledgement because its
trigger_id expires within about 3 seconds. Turns and their replies for one user go out one at a
time and in order. A duplicate delivery gets no replies from the engine and nothing is sent.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections import OrderedDict
from collections.abc import AsyncIterator, Awaitable, Callable, Collection
from contextlib import asynccontextmanager
from dataclasses import replace
from typing import Any, Protocol, cast

from slack_bolt.async_app import AsyncApp
from slack_sdk.web.async_client import AsyncWebClient

from adapters.slack import blocks, mapping
from adapters.slack.outbox import FAILURES, Outbox, error_code
from bot.events import ConversationKey, Incoming, Reply

log = logging.getLogger("rebound.slack")

DM_LOOKUP_SECONDS = 1.5
Envelope = mapping.EventEnvelopePayload
Actions = mapping.BlockActionsPayload
Submission = (
    mapping.ViewSubmissionPayload
)  # a slash command's ack must not wait longer than this for the DM id


class EngineLike(Protocol):
    async def handle(self, event: Incoming) -> list[Reply]: ...

    async def home(self, key: Any) -> Reply: ...

    def text(self, key: str, **values: Any) -> str: ...


class Handlers:
    def __init__(
        self,
        engine: EngineLike,
        outbox: Outbox,
        *,
        commands: Collection[str],
        dm_cache_size: int = 10_000,
    ) -> None:
        self.engine = engine
        self.outbox = outbox
        self.commands = frozenset(commands)
        self.busy: set[asyncio.Task[Any]] = set()
        self._locks: dict[ConversationKey, list[Any]] = {}  # key -> [lock, waiting]
        self._dms: OrderedDict[tuple[str, str], str] = OrderedDict()
        self._dm_cache_size = dm_cache_size
        self._tz: OrderedDict[ConversationKey, str | None] = OrderedDict()

    def register(self, app: AsyncApp) -> None:
        app.event("message")(self.on_message)
        app.event("app_home_opened")(self.on_home_opened)
        app.command(re.compile(r"^/"))(self.on_command)
        app.action(re.compile(r"^" + re.escape(mapping.PREFIX)))(self.on_action)
        app.view(mapping.FORM)(self.on_form)
        # Anything else interactive (an element from an older release): acknowledge, so that
        # Slack does not show the user an error, and do nothing.
        app.action(re.compile(".*"))(_ack_only)
        app.view(re.compile(".*"))(_ack_only)

    # -- listeners -------------------------------------------------------------------------

    async def on_message(self, body: dict[str, Any], client: AsyncWebClient, context: Any) -> None:
        self.track()
        event = mapping.message_to_event(cast(Envelope, body), bot_user=context.bot_user_id)
        if event is None:
            return
        channel = body["event"]["channel"]
        self._remember_dm(event.key, channel)
        await self._turn(client, event, channel)

    async def on_home_opened(self, body: dict[str, Any], client: AsyncWebClient) -> None:
        self.track()
        welcome = mapping.welcome_event(cast(Envelope, body))
        if welcome is not None:
            channel = body["event"].get("channel") or await self._dm_or_none(client, welcome.key)
            if channel:
                await self._turn(client, welcome, channel)
            return
        key = mapping.home_opened_key(cast(Envelope, body))
        if key is None:
            return
        try:
            home = await self.engine.home(key)
            await client.views_publish(user_id=key.user, view=blocks.home_view(home))
        except FAILURES as exc:
            log.warning("could not publish the App Home: %s", error_code(exc))

    async def on_command(
        self, ack: Callable[..., Awaitable[Any]], body: dict[str, Any], client: AsyncWebClient
    ) -> None:
        self.track()
        key = mapping.command_key(cast(mapping.SlashCommandPayload, body))
        channel_id = str(body.get("channel_id", ""))
        dm = None
        if channel_id.startswith("D"):  # a DM, but is it the user's DM with us?
            try:
                dm = await asyncio.wait_for(self.dm(client, key), DM_LOOKUP_SECONDS)
            except FAILURES as exc:
                log.warning("could not look up the DM for a command: %s", error_code(exc))
        event = mapping.command_to_event(
            cast(mapping.SlashCommandPayload, body),
            commands=self.commands,
            own_dm=dm is not None and dm == channel_id,
        )
        if event.public:
            notice = blocks.escape(self.engine.text("private_continue"))
            await ack(text=notice, response_type="ephemeral")
        else:
            await ack()
        try:
            channel = dm or await self.dm(client, key)
        except FAILURES as exc:
            log.warning("could not open a DM after a command: %s", error_code(exc))
            return
        await self._turn(client, event, channel)

    async def on_action(
        self, ack: Callable[..., Awaitable[Any]], body: dict[str, Any], client: AsyncWebClient
    ) -> None:
        self.track()
        await ack()
        request = mapping.form_request(cast(Actions, body))
        if request is not None:
            try:  # right away: the trigger_id expires in about 3 seconds
                await client.views_open(trigger_id=body["trigger_id"], view=blocks.modal(request))
            except FAILURES as exc:
                log.warning("could not open a form: %s", error_code(exc))
            return
        event = mapping.action_to_event(cast(Actions, body))
        if event is None:
            return
        container = body.get("container") or {}
        message = body.get("message") or {}
        before = None
        if container.get("type") == "message" and message.get("blocks"):
            channel = container["channel_id"]
            note = blocks.chose_note(mapping.chosen_labels(cast(Actions, body)))
            before = self._updater(client, channel, container["message_ts"], message, note)
        else:  # the App Home tab: the conversation goes on in the DM
            channel = await self._dm_or_none(client, event.key)
            if channel is None:
                return
        await self._turn(client, event, channel, before)

    async def on_form(
        self, ack: Callable[..., Awaitable[Any]], body: dict[str, Any], client: AsyncWebClient
    ) -> None:
        self.track()
        event = mapping.submission_to_event(cast(Submission, body))
        if event is None:
            await ack(response_action="errors", errors={mapping.FORM: self.engine.text("empty")})
            return
        await ack()
        meta = mapping.form_meta(cast(Submission, body))
        channel = meta.get("c") or await self._dm_or_none(client, event.key)
        if channel is None:
            return
        before = None
        if meta.get("c") and meta.get("ts"):
            before = self._form_updater(client, meta["c"], meta["ts"])
        await self._turn(client, event, channel, before)

    # -- a turn ----------------------------------------------------------------------------

    async def _turn(
        self,
        client: AsyncWebClient,
        event: Incoming,
        channel: str,
        before: Callable[[], Awaitable[None]] | None = None,
    ) -> None:
        """The engine's answer, then (unless it was a duplicate) the pressed message updated and
        the replies posted: one user's turns go out in the order they came in."""
        async with self.in_order(event.key):
            event = replace(event, tz=await self._profile_tz(client, event.key))
            replies = await self.engine.handle(event)
            if not replies:
                return
            try:
                if before is not None:
                    await before()
                await self.outbox.deliver(client, channel, replies)
            except FAILURES as exc:
                log.warning("could not deliver a reply: %s", error_code(exc))

    async def _profile_tz(self, client: AsyncWebClient, key: ConversationKey) -> str | None:
        """The time zone on the user's Slack profile (users.info), once per user per process;
        the engine offers it as the default when they set up nudges."""
        if key in self._tz:
            return self._tz[key]
        tz = None
        try:
            response = await client.users_info(user=key.user)
            tz = ((response.get("user") or {}).get("tz")) or None
        except FAILURES as exc:
            log.info("users.info unavailable (%s); the user will be asked", error_code(exc))
        self._tz[key] = tz
        while len(self._tz) > self._dm_cache_size:
            self._tz.popitem(last=False)
        return tz

    @asynccontextmanager
    async def in_order(self, key: ConversationKey) -> AsyncIterator[None]:
        """One user's turns and nudges go out one at a time, in the order they came in."""
        entry = self._locks.setdefault(key, [asyncio.Lock(), 0])
        entry[1] += 1
        try:
            async with entry[0]:
                yield
        finally:
            entry[1] -= 1
            if entry[1] == 0:
                self._locks.pop(key, None)

    def _updater(
        self,
        client: AsyncWebClient,
        channel: str,
        ts: str,
        message: dict[str, Any],
        note: str,
    ) -> Callable[[], Awaitable[None]]:
        async def update() -> None:
            try:
                await client.chat_update(
                    channel=channel,
                    ts=ts,
                    text=message.get("text") or "Rebound",
                    blocks=blocks.answered(message.get("blocks") or [], note),
                )
            except FAILURES as exc:  # the reply matters more than tidying the old message
                log.warning("could not update an answered message: %s", error_code(exc))

        return update

    def _form_updater(
        self, client: AsyncWebClient, channel: str, ts: str
    ) -> Callable[[], Awaitable[None]]:
        async def update() -> None:
            try:
                found = await client.conversations_history(
                    channel=channel, latest=ts, oldest=ts, inclusive=True, limit=1
                )
            except FAILURES as exc:
                log.warning("could not read the form's message: %s", error_code(exc))
                return
            for message in found.get("messages") or []:
                if message.get("ts") == ts:
                    await self._updater(client, channel, ts, message, blocks.UI["saved"])()

        return update

    # -- DMs and bookkeeping ---------------------------------------------------------------

    async def dm(self, client: AsyncWebClient, key: ConversationKey) -> str:
        """The user's DM channel with the bot (conversations.open; remembered)."""
        cached = self._dms.get((key.space, key.user))
        if cached:
            return cached
        opened = await client.conversations_open(users=key.user)
        channel = str(opened["channel"]["id"])
        self._remember_dm(key, channel)
        return channel

    async def _dm_or_none(self, client: AsyncWebClient, key: ConversationKey) -> str | None:
        try:
            return await self.dm(client, key)
        except FAILURES as exc:
            log.warning("could not open a DM: %s", error_code(exc))
            return None

    def _remember_dm(self, key: ConversationKey, channel: str) -> None:
        self._dms[(key.space, key.user)] = channel
        self._dms.move_to_end((key.space, key.user))
        while len(self._dms) > self._dm_cache_size:
            self._dms.popitem(last=False)

    def track(self) -> None:
        """Remember the running listener, so that stop() (and tests) can wait for its work."""
        task = asyncio.current_task()
        if task is not None:
            self.busy.add(task)
            task.add_done_callback(self.busy.discard)


async def _ack_only(ack: Callable[..., Awaitable[Any]]) -> None:
    await ack()
