"""discord.py's side of the glue: the client and its intents, the DynamicItem templates that
route presses, and conversions between discord.py objects and `mapping`'s plain values.

Messages carry no per-message state: every button's custom id says what it means and is
dispatched by a `DynamicItem` template registered once in `setup_hook`, so buttons sent before
a restart still work, and no view is kept in memory for each message sent (views and modals are
stopped before sending, which tells discord.py not to store them).
"""

from __future__ import annotations

import asyncio
import io
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import discord
from discord import app_commands

from adapters.discord import mapping
from adapters.discord.mapping import (
    Button,
    InteractionPayload,
    MessagePayload,
    ModalSpec,
    Outgoing,
    Row,
)

NO_MENTIONS = discord.AllowedMentions.none()
_STYLES = {
    "primary": discord.ButtonStyle.primary,
    "secondary": discord.ButtonStyle.secondary,
    "success": discord.ButtonStyle.success,
}


class Handlers(Protocol):
    """What the client calls on the adapter (`runner.DiscordRunner`)."""

    async def on_message(self, message: discord.Message) -> None: ...

    async def on_component(self, interaction: discord.Interaction) -> None: ...

    async def open_form(self, interaction: discord.Interaction) -> None: ...

    async def on_modal(self, interaction: discord.Interaction) -> None: ...


def intents() -> discord.Intents:
    """Direct messages only. DM content is exempt from the privileged message-content intent,
    and interactions (commands, buttons, modals) need no intent at all."""
    chosen = discord.Intents.none()
    chosen.dm_messages = True
    return chosen


class Rebound(discord.AutoShardedClient):
    """discord.py's client, holding nothing but the adapter. Auto-sharded: DISCORD_SHARD_COUNT,
    or as many shards as Discord recommends."""

    def __init__(self, adapter: Handlers, **options: Any) -> None:
        super().__init__(
            intents=intents(),
            allowed_mentions=NO_MENTIONS,
            max_messages=None,  # keep no copy of what people write
            member_cache_flags=discord.MemberCacheFlags.none(),
            chunk_guilds_at_startup=False,
            **options,
        )
        self.adapter = adapter
        self.connected = asyncio.Event()  # every shard has a gateway session (READY)
        self._shards_connected: set[int] = set()
        self.tree = app_commands.CommandTree(
            self,
            allowed_contexts=app_commands.AppCommandContext(
                guild=True, dm_channel=True, private_channel=True
            ),
            allowed_installs=app_commands.AppInstallationType(guild=True, user=True),
        )

    async def setup_hook(self) -> None:
        self.add_dynamic_items(ChoiceButton, ChoiceSelect, WriteButton)

    async def on_shard_connect(self, shard_id: int) -> None:
        """Serving starts at each shard's READY; discord.py's own `on_ready` waits a further
        `guild_ready_timeout` for server data this bot does not ask for."""
        self._shards_connected.add(shard_id)
        if self.shard_count is not None and len(self._shards_connected) >= self.shard_count:
            self.connected.set()

    async def on_message(self, message: discord.Message) -> None:
        await self.adapter.on_message(message)

    async def on_interaction(self, interaction: discord.Interaction) -> None:
        if interaction.type is discord.InteractionType.modal_submit:
            await self.adapter.on_modal(interaction)


def _adapter(interaction: discord.Interaction) -> Handlers:
    return interaction.client.adapter  # type: ignore[attr-defined]


class ChoiceButton(discord.ui.DynamicItem[discord.ui.Button], template=mapping.CHOICE_TEMPLATE):
    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction, item: discord.ui.Button, match: re.Match[str], /
    ) -> ChoiceButton:
        return cls(item)

    async def callback(self, interaction: discord.Interaction) -> None:
        await _adapter(interaction).on_component(interaction)


class ChoiceSelect(discord.ui.DynamicItem[discord.ui.Select], template=mapping.SELECT_TEMPLATE):
    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction, item: discord.ui.Select, match: re.Match[str], /
    ) -> ChoiceSelect:
        return cls(item)

    async def callback(self, interaction: discord.Interaction) -> None:
        await _adapter(interaction).on_component(interaction)


class WriteButton(discord.ui.DynamicItem[discord.ui.Button], template=mapping.WRITE_TEMPLATE):
    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction, item: discord.ui.Button, match: re.Match[str], /
    ) -> WriteButton:
        return cls(item)

    async def callback(self, interaction: discord.Interaction) -> None:
        await _adapter(interaction).open_form(interaction)


# -- discord.py objects as the payload slices `mapping` reads --------------------------------


def message_payload(message: discord.Message) -> MessagePayload:
    payload: MessagePayload = {
        "id": str(message.id),
        "type": message.type.value,
        "content": message.content,
        "author": {
            "id": str(message.author.id),
            "bot": message.author.bot,
            "system": message.author.system,
        },
    }
    channel_type = getattr(message.channel, "type", None)
    if channel_type is not None:
        payload["channel_type"] = channel_type.value
    if message.guild is not None:
        payload["guild_id"] = str(message.guild.id)
    if message.webhook_id is not None:
        payload["webhook_id"] = str(message.webhook_id)
    return payload


def interaction_payload(interaction: discord.Interaction) -> InteractionPayload:
    payload: InteractionPayload = {
        "id": str(interaction.id),
        "type": interaction.type.value,
        "data": dict(interaction.data or {}),
        "user": {"id": str(interaction.user.id)},
    }
    ctx = interaction.context
    if ctx.guild:
        payload["context"] = mapping.CONTEXT_GUILD
    elif ctx.dm_channel:
        payload["context"] = mapping.CONTEXT_BOT_DM
    elif ctx.private_channel:
        payload["context"] = mapping.CONTEXT_PRIVATE_CHANNEL
    if interaction.guild_id is not None:
        payload["guild_id"] = str(interaction.guild_id)
    channel = interaction.channel
    if channel is not None and channel.type is not None:
        payload["channel"] = {"id": str(channel.id), "type": channel.type.value}
    return payload


def components_of(message: discord.Message) -> list[Row]:
    return mapping.rows_from_components(c.to_dict() for c in message.components)


# -- mapping's plain values as discord.py objects ---------------------------------------------


def build_view(rows: Sequence[Row]) -> discord.ui.View:
    """A static view, stopped so that discord.py does not keep it for the message."""
    view = discord.ui.View(timeout=None)
    for number, row in enumerate(rows):
        for item in row:
            if isinstance(item, Button):
                view.add_item(
                    discord.ui.Button(
                        style=_STYLES[item.style],
                        label=item.label,
                        custom_id=item.custom_id,
                        disabled=item.disabled,
                        row=number,
                    )
                )
            else:
                view.add_item(
                    discord.ui.Select(
                        custom_id=item.custom_id,
                        placeholder=item.placeholder,
                        min_values=1,
                        max_values=item.max_values,
                        options=[
                            discord.SelectOption(label=o.label, value=o.value, default=o.default)
                            for o in item.options
                        ],
                        disabled=item.disabled,
                        row=number,
                    )
                )
    view.stop()
    return view


def build_modal(spec: ModalSpec) -> discord.ui.Modal:
    """A stopped modal: discord.py does not wait for it, and its submit arrives as an ordinary
    interaction (`Rebound.on_interaction`), so a form opened before a restart can still be
    sent. The text input sits in a Label (discord.py 2.6+, component type 18)."""
    modal = discord.ui.Modal(title=spec.title, custom_id=spec.custom_id, timeout=None)
    text_input: discord.ui.TextInput[Any] = discord.ui.TextInput(
        custom_id=mapping.ANSWER,
        style=discord.TextStyle.paragraph if spec.paragraph else discord.TextStyle.short,
        default=spec.value or None,
        max_length=spec.max_length,
        required=True,
    )
    modal.add_item(discord.ui.Label(text=spec.label, component=text_input))
    modal.stop()
    return modal


def _parts(out: Outgoing) -> dict[str, Any]:
    parts: dict[str, Any] = {"allowed_mentions": NO_MENTIONS}
    if out.content:
        parts["content"] = out.content
    if out.card is not None:
        embed = discord.Embed(title=out.card.title, description=out.card.initial or None)
        parts["embed"] = embed.set_footer(text=out.card.label)
    if out.rows:
        parts["view"] = build_view(out.rows)
    return parts


def _files(out: Outgoing) -> list[discord.File]:
    return [
        discord.File(io.BytesIO(f.data), filename=f.name, description=f.alt or None)
        for f in out.files
    ]


# -- where a turn's messages go ---------------------------------------------------------------


class Editable(Protocol):
    async def edit(self, *, content: str, allowed_mentions: discord.AllowedMentions) -> Any: ...


class Outbox(Protocol):
    async def send(self, out: Outgoing) -> Editable: ...


@dataclass
class ChannelOutbox:
    """Plain messages in a DM channel."""

    channel: discord.abc.Messageable

    async def send(self, out: Outgoing) -> Editable:
        parts = _parts(out)
        if out.files:
            parts["files"] = _files(out)
        return await self.channel.send(**parts)


@dataclass
class InteractionOutbox:
    """Messages answering an interaction in the user's DM with the bot: the first fills the
    deferred "thinking…" response of a command; the others are follow-ups."""

    interaction: discord.Interaction
    fill_original: bool = False
    sent: int = 0

    async def send(self, out: Outgoing) -> Editable:
        parts = _parts(out)
        self.sent += 1
        if self.fill_original:
            self.fill_original = False
            if out.files:
                parts["attachments"] = _files(out)
            return await self.interaction.edit_original_response(**parts)
        if out.files:
            parts["files"] = _files(out)
        return await self.interaction.followup.send(wait=True, **parts)
