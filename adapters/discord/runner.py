"""The Discord adapter as `rebound run` uses it: a `bot.ports.Runner` and `Sender`.

It receives Discord's events, acknowledges them in time, hands them to `Engine.handle` and sends
back what `mapping` makes of the replies. No dialog logic lives here. The rules it keeps:

- An interaction is acknowledged before any other work (a defer, or an edit of the pressed
  message), so Discord's 3-second limit never depends on the database. If that first answer
  fails, the turn is not run: nothing changes behind the user's back.
- A command used anywhere but the user's DM with the bot is answered ephemerally and continues
  in the DM: nothing a user writes is posted in a shared channel. If their DMs are closed, the
  ephemeral answer says how to open them.
- A pressed message is edited at once so its buttons cannot be pressed again; a second press
  that raced the edit is acknowledged and otherwise ignored (the engine would refuse it too).
- One user's turns and nudges are delivered one at a time, in order; a paced breathing exercise
  gives way when the user does something else.
- Every send, edit and interaction response disables mentions; discord.py's rate-limit handling
  is used as is.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
from collections import OrderedDict
from collections.abc import AsyncIterator, Awaitable, Callable, Collection, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import aiohttp
import discord
from discord import app_commands

from adapters.discord import mapping
from adapters.discord.client import (
    NO_MENTIONS,
    ChannelOutbox,
    Editable,
    InteractionOutbox,
    Outbox,
    Rebound,
    build_modal,
    build_view,
    components_of,
    interaction_payload,
    message_payload,
)
from adapters.discord.mapping import Button, Outgoing
from bot.config import ConfigError
from bot.events import ConversationKey, Incoming, Reply
from bot.ports import DeliveryFailed, Unreachable

log = logging.getLogger("rebound.discord")

_ANSWERED_MEMORY = 10_000  # ids of messages whose buttons were pressed, to ignore a double press


class EnginePort(Protocol):
    """What the adapter uses of `bot.engine.Engine` (not imported: adapters stay thin)."""

    async def handle(self, event: Incoming) -> list[Reply]: ...

    def text(self, key: str, **values: Any) -> str: ...


@dataclass
class _Conversation:
    lock: asyncio.Lock
    holders: int = 0  # turns and nudges using or waiting for the lock
    turns_waiting: int = 0  # the user's own turns waiting: a breathing exercise gives way


class DiscordRunner:
    platform = mapping.PLATFORM

    def __init__(
        self,
        engine: EnginePort,
        *,
        token: str,
        commands: Collection[str],
        shard_count: int | None = None,
        pace: Callable[[float], Awaitable[Any]] = asyncio.sleep,
        **client_options: Any,
    ) -> None:
        """`commands`: the command names the dialogs provide. `pace` waits between the steps
        of the breathing exercise (tests pass one that does not sleep). `client_options` go to
        discord.py's client."""
        self.engine = engine
        self._token = token
        self.commands = mapping.available_commands(commands)
        self._pace = pace
        self.client = Rebound(self, shard_count=shard_count, **client_options)
        for name, description in self.commands.items():
            self.client.tree.add_command(
                app_commands.Command(name=name, description=description, callback=self.on_command)
            )
        self._conversations: dict[str, _Conversation] = {}
        self._answered: OrderedDict[int, None] = OrderedDict()
        self._gateway: asyncio.Task[None] | None = None
        self._active = 0
        self._idle = asyncio.Event()
        self._idle.set()

    # -- Runner -------------------------------------------------------------------------------

    async def login(self) -> None:
        """Check the token with Discord and register the button templates; no gateway yet."""
        _keep_discord_logs_quiet()
        try:
            await self.client.login(self._token)
        except discord.LoginFailure as exc:
            await self.client.close()
            raise ConfigError(
                f"DISCORD_TOKEN was rejected by Discord: {exc} Copy the bot token again from "
                "the developer portal (your application, Bot, Reset Token) and set "
                "DISCORD_TOKEN to it, without quotes or a 'Bot ' prefix."
            ) from None
        application = self.client.application
        if application is not None and application.interactions_endpoint_url:
            await self.client.close()
            raise ConfigError(
                "the Discord application has an Interactions Endpoint URL set, so Discord sends "
                "commands and button presses there instead of to this bot. Clear it in the "
                "developer portal (General Information)."
            )

    async def start(self, *, serve: bool = True) -> None:
        """Log in, connect the gateway, and return once every shard has its session. With
        serve=False (`rebound nudges`), log in only: enough to send."""
        await self.login()
        if not serve:
            return
        self._gateway = asyncio.create_task(self.client.connect(), name="rebound-discord")
        ready = asyncio.create_task(self.client.connected.wait())
        done, _ = await asyncio.wait({self._gateway, ready}, return_when=asyncio.FIRST_COMPLETED)
        if ready in done:
            return
        ready.cancel()
        error = self._gateway.exception()
        if isinstance(error, discord.PrivilegedIntentsRequired):
            raise ConfigError(f"Discord refused the gateway connection: {error}") from None
        if isinstance(error, discord.LoginFailure) or (
            isinstance(error, discord.ConnectionClosed) and error.code == 4004
        ):
            raise ConfigError("DISCORD_TOKEN was rejected by Discord's gateway") from None
        if error is not None:
            raise error

    async def stop(self) -> None:
        await self.client.close()
        if self._gateway is not None:
            with contextlib.suppress(Exception, asyncio.CancelledError):
                await self._gateway

    async def idle(self) -> None:
        """Wait until no event is being handled (tests use it to know a turn is complete)."""
        await self._idle.wait()

    # -- Sender -------------------------------------------------------------------------------

    async def send(self, key: ConversationKey, replies: list[Reply]) -> None:
        """A nudge, in the user's DM. Raises Unreachable when Discord will not deliver (DMs
        closed: 403, code 50007; an unknown user) and DeliveryFailed on a temporary failure."""
        if key.platform != self.platform or not key.user.isdigit():
            raise Unreachable(f"not a Discord user ({key.platform})")
        try:
            channel = await self.client.create_dm(discord.Object(int(key.user)))
            async with self._serial(key.user, turn=False) as conv:
                await self._send_all(ChannelOutbox(channel), mapping.render(replies), conv)
        except (discord.Forbidden, discord.NotFound) as exc:
            _log_http("a nudge cannot be delivered", exc, logging.INFO)
            raise Unreachable("Discord will not deliver to this user") from None
        except (discord.HTTPException, discord.RateLimited) as exc:
            _log_http("a nudge was not taken", exc)
            raise DeliveryFailed("Discord did not take the message") from None
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            raise DeliveryFailed(f"Discord could not be reached ({type(exc).__name__})") from None

    # -- events -------------------------------------------------------------------------------

    async def on_message(self, message: discord.Message) -> None:
        if not isinstance(message.channel, discord.DMChannel):
            return  # servers are never read: the bot has no message-content intent anyway
        user = self.client.user
        event = mapping.message_to_event(
            message_payload(message), bot_id=user.id if user is not None else None
        )
        if event is None:
            return
        async with self._busy():
            await self._turn(event, ChannelOutbox(message.channel))

    async def on_command(self, interaction: discord.Interaction) -> None:
        """Every slash command: a "thinking…" answer at once (ephemeral outside the DM)."""
        event = self._event(interaction)
        if event is None:
            return
        async with self._busy():
            if not await self._ack(
                interaction.response.defer(ephemeral=event.public, thinking=True)
            ):
                return
            if event.public:
                await self._public_turn(interaction, event)
                return
            outbox = InteractionOutbox(interaction, fill_original=True)
            await self._turn(event, outbox)
            if outbox.sent == 0:  # nothing to say (a repeated event): clear "thinking…"
                with contextlib.suppress(discord.HTTPException):
                    await interaction.delete_original_response()

    async def on_component(self, interaction: discord.Interaction) -> None:
        """A button or select of ours: the pressed message is edited first (its buttons are
        disabled, the answer shown), which also answers the interaction."""
        event = self._event(interaction)
        message = interaction.message
        async with self._busy():
            if event is None or message is None or message.id in self._answered:
                await self._ack(interaction.response.defer())
                return
            if event.public:
                if await self._ack(interaction.response.defer(ephemeral=True, thinking=True)):
                    await self._public_turn(interaction, event)
                return
            self._remember_answered(message.id)
            data = interaction.data or {}
            frozen = mapping.freeze(
                components_of(message),
                pressed=str(data.get("custom_id", "")),
                values=[str(v) for v in data.get("values") or ()],
            )
            edit = interaction.response.edit_message(
                view=build_view(frozen), allowed_mentions=NO_MENTIONS
            )
            if not await self._ack(edit):
                self._answered.pop(message.id, None)
                return
            await self._turn(event, InteractionOutbox(interaction))

    async def open_form(self, interaction: discord.Interaction) -> None:
        """ "Write it": the modal has to be the first answer, so it goes straight away, built
        from the card on the pressed message."""
        message = interaction.message
        embeds = [e.to_dict() for e in message.embeds] if message is not None else []
        spec = mapping.modal_for(str((interaction.data or {}).get("custom_id", "")), embeds)
        async with self._busy():
            if spec is None:
                await self._ack(interaction.response.defer())
            else:
                await self._ack(interaction.response.send_modal(build_modal(spec)))

    async def on_modal(self, interaction: discord.Interaction) -> None:
        """A form sent: its text is the turn; the message that opened it is marked answered."""
        event = self._event(interaction)
        if event is None:
            return  # not one of our forms
        message = interaction.message
        async with self._busy():
            if event.public:
                if await self._ack(interaction.response.defer(ephemeral=True, thinking=True)):
                    await self._public_turn(interaction, event)
                return
            if message is None:
                if await self._ack(interaction.response.defer(thinking=True)):
                    await self._turn(event, InteractionOutbox(interaction, fill_original=True))
                return
            self._remember_answered(message.id)
            rows = components_of(message)
            write = next(
                (
                    item.custom_id
                    for row in rows
                    for item in row
                    if isinstance(item, Button) and item.custom_id.startswith(mapping.WRITE)
                ),
                "",
            )
            edit = interaction.response.edit_message(
                view=build_view(mapping.freeze(rows, pressed=write)), allowed_mentions=NO_MENTIONS
            )
            if await self._ack(edit):
                await self._turn(event, InteractionOutbox(interaction))

    # -- turns --------------------------------------------------------------------------------

    async def _turn(self, event: Incoming, outbox: Outbox) -> None:
        async with self._serial(event.key.user, turn=True) as conv:
            replies = await self.engine.handle(event)
            try:
                await self._send_all(outbox, mapping.render(replies), conv)
            except discord.HTTPException as exc:
                _log_http("a reply was not delivered", exc)

    async def _public_turn(self, interaction: discord.Interaction, event: Incoming) -> None:
        """Used outside the user's DM with the bot, and already deferred ephemerally: the replies
        go to the DM, and the ephemeral answer says so or explains how to open DMs."""
        async with self._serial(event.key.user, turn=True) as conv:
            messages = mapping.render(await self.engine.handle(event))
            told = False

            async def tell(text: str) -> None:
                nonlocal told
                told = True
                with contextlib.suppress(discord.HTTPException):
                    await interaction.edit_original_response(
                        content=text, allowed_mentions=NO_MENTIONS
                    )

            notice = mapping.to_markdown(self.engine.text("private_continue"))
            try:
                if messages:
                    channel = await self.client.create_dm(interaction.user)
                    await self._send_all(
                        ChannelOutbox(channel), messages, conv, on_first=lambda: tell(notice)
                    )
            except discord.Forbidden as exc:
                _log_http("the user's DMs are closed to the bot", exc, logging.INFO)
                if not told:
                    await tell(self.engine.text("dms_closed"))
            except discord.HTTPException as exc:
                _log_http("a reply was not delivered by DM", exc)
                if not told:
                    await tell(self.engine.text("try_again"))
            if not told:
                await tell(notice)

    async def _send_all(
        self,
        outbox: Outbox,
        messages: Sequence[Outgoing],
        conv: _Conversation,
        *,
        on_first: Callable[[], Awaitable[None]] | None = None,
    ) -> None:
        for number, out in enumerate(messages):
            sent = await outbox.send(out)
            if number == 0 and on_first is not None:
                await on_first()
            if out.breathing is not None:
                await self._breathe(sent, out, conv)

    async def _breathe(self, message: Editable, out: Outgoing, conv: _Conversation) -> None:
        """The exercise, paced in one message edited in place. It gives way as soon as the user
        does something else."""
        assert out.breathing is not None
        for status, seconds in mapping.breath_frames(out.breathing):
            stop = conv.turns_waiting > 0
            line = mapping.BREATH_PAUSED if stop else status
            try:
                await message.edit(
                    content=mapping.with_status(out.content, line), allowed_mentions=NO_MENTIONS
                )
            except discord.HTTPException as exc:
                _log_http("the breathing exercise stopped", exc)
                return
            if stop:
                return
            if seconds > 0:
                await self._pace(seconds)

    # -- helpers ------------------------------------------------------------------------------

    def _event(self, interaction: discord.Interaction) -> Incoming | None:
        return mapping.interaction_to_event(
            interaction_payload(interaction), commands=self.commands
        )

    async def _ack(self, response: Awaitable[Any]) -> bool:
        """Answer an interaction. If that fails (too late, or answered before), the turn is not
        run: the user sees Discord's "interaction failed", and nothing changed."""
        try:
            await response
        except (discord.HTTPException, discord.InteractionResponded) as exc:
            _log_http("an interaction could not be answered", exc)
            return False
        return True

    def _remember_answered(self, message_id: int) -> None:
        self._answered[message_id] = None
        while len(self._answered) > _ANSWERED_MEMORY:
            self._answered.popitem(last=False)

    @contextlib.asynccontextmanager
    async def _serial(self, user: str, *, turn: bool) -> AsyncIterator[_Conversation]:
        """One user's turns and nudges, one at a time, in arrival order."""
        conv = self._conversations.setdefault(user, _Conversation(asyncio.Lock()))
        conv.holders += 1
        waiting = int(turn)
        conv.turns_waiting += waiting
        try:
            async with conv.lock:
                conv.turns_waiting -= waiting
                waiting = 0
                yield conv
        finally:
            conv.turns_waiting -= waiting
            conv.holders -= 1
            if conv.holders == 0:
                self._conversations.pop(user, None)

    @contextlib.asynccontextmanager
    async def _busy(self) -> AsyncIterator[None]:
        self._active += 1
        self._idle.clear()
        try:
            yield
        finally:
            self._active -= 1
            if self._active == 0:
                self._idle.set()


# -- logs: ids, statuses and codes only -------------------------------------------------------


def _log_http(what: str, exc: BaseException, level: int = logging.WARNING) -> None:
    """Never the request or the response text: they can hold what the user wrote."""
    extra: dict[str, Any] = {"platform": mapping.PLATFORM, "error": type(exc).__name__}
    if isinstance(exc, discord.HTTPException):
        extra.update(status=exc.status, code=exc.code)
    log.log(level, what, extra=extra)


_WEBHOOK_TOKEN = re.compile(r"(/(?:webhooks|interactions)/\d+/)[^/\s?]+")


class _RedactTokens(logging.Filter):
    """discord.py's rate-limit warnings quote request URLs, which hold interaction tokens."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if "/webhooks/" in message or "/interactions/" in message:
            record.msg, record.args = _WEBHOOK_TOKEN.sub(r"\1***", message), None
        return True


def _keep_discord_logs_quiet() -> None:
    """discord.py logs whole payloads (what users write) at DEBUG: never below INFO here."""
    root = logging.getLogger("discord")
    if root.level < logging.INFO:  # NOTSET (inherit from the root logger) included
        root.setLevel(logging.INFO)
    for name in ("discord.http", "discord.webhook.async_"):
        logger = logging.getLogger(name)
        if not any(isinstance(f, _RedactTokens) for f in logger.filters):
            logger.addFilter(_RedactTokens())


# -- composition ------------------------------------------------------------------------------


class AppPort(Protocol):
    """The parts of `bot.app.App` used here (not imported: it would pull in the store)."""

    settings: Any
    catalog: Any
    engine: Any


def build_runner(app: AppPort, **options: Any) -> DiscordRunner:
    """`rebound run` calls this when DISCORD_TOKEN is set. Nothing is contacted yet."""
    settings = app.settings
    token = (settings.discord_token or "").strip()
    if not token:
        raise ConfigError(
            "DISCORD_TOKEN is not set: copy your bot's token from the Discord developer portal "
            "(see adapters/discord/README.md)"
        )
    shards = settings.discord_shard_count
    if shards is not None and shards < 1:
        raise ConfigError("DISCORD_SHARD_COUNT must be 1 or more (or unset for automatic)")
    return DiscordRunner(
        app.engine, token=token, commands=app.catalog.commands, shard_count=shards, **options
    )


async def sync_commands(app: AppPort, **options: Any) -> str:
    """Register the slash commands with Discord: to DISCORD_GUILD_ID if set (instant, for a test
    server), otherwise globally. Run it once per release, not on every start: Discord limits
    how many commands can be created per day."""
    runner = build_runner(app, **options)
    tree = runner.client.tree
    guild_id = app.settings.discord_guild_id
    try:
        await runner.login()
        if guild_id:
            guild = discord.Object(int(guild_id))
            tree.copy_global_to(guild=guild)
            synced = await tree.sync(guild=guild)
            where = f"to the server {guild_id}, where they work right away"
        else:
            synced = await tree.sync()
            where = "globally, for every server and user that installs the app"
    except discord.Forbidden as exc:
        raise ConfigError(
            f"Discord refused to register the commands (HTTP {exc.status}, code {exc.code}). "
            "For DISCORD_GUILD_ID, invite the bot to that server with the applications.commands "
            "scope first."
        ) from None
    finally:
        await runner.client.close()
    names = " ".join(f"/{c.name}" for c in synced)
    return f"registered {len(synced)} commands {where}: {names}"
