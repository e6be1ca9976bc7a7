"""Building the payloads Discord would send, and reading what the bot sent back."""

from __future__ import annotations

import copy
import itertools
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tests.discord.fake_discord import Call, FakeDiscord, dm_channel_id

PAYLOADS = Path(__file__).parent / "payloads"
USER = "1300000000000000001"
KEY = f"discord::{USER}"
DM = dm_channel_id(USER)
GUILD_CHANNEL = "1300000000000000301"
EPHEMERAL = 64

_ids = itertools.count(1_300_000_000_000_001_000)


def payload(name: str) -> dict[str, Any]:
    """The `d` of a recorded gateway frame, as a fresh copy to change and dispatch."""
    frame = json.loads((PAYLOADS / f"{name}.json").read_text())
    return copy.deepcopy(frame["d"])


def fresh_id() -> str:
    return str(next(_ids))


def dm_message(text: str, message_id: str | None = None) -> dict[str, Any]:
    data = payload("message_create_dm")
    data["id"] = message_id or fresh_id()
    data["content"] = text
    return data


def interaction(name: str) -> dict[str, Any]:
    data = payload(name)
    data["id"] = fresh_id()
    data["token"] = f"token-{data['id']}"
    return data


def command(name: str, *, where: str = "dm") -> dict[str, Any]:
    data = interaction("interaction_command_dm" if where == "dm" else "interaction_command_guild")
    data["data"]["name"] = name
    return data


def press(message: dict[str, Any], custom_id: str, *, values: list[str] | None = None) -> dict:
    """A button press (or, with `values`, a select) on a message as Discord holds it."""
    data = interaction("interaction_select" if values is not None else "interaction_button")
    data["message"] = message
    data["data"] = {"custom_id": custom_id, "component_type": 2 if values is None else 3}
    if values is not None:
        data["data"]["values"] = values
    return data


def submit(message: dict[str, Any], custom_id: str, text: str) -> dict[str, Any]:
    data = interaction("interaction_modal_submit")
    data["message"] = message
    data["data"]["custom_id"] = custom_id
    data["data"]["components"][0]["component"]["value"] = text
    return data


def body(call: Call) -> dict[str, Any]:
    """The message part of a call: an interaction callback keeps it under `data`."""
    if call.kind == "callback":
        return call.json.get("data") or {}
    return call.json or {}


def items(call: Call) -> list[dict[str, Any]]:
    """Every button and select in a sent message, row by row flattened."""
    return [item for row in body(call).get("components") or [] for item in row["components"]]


def rows(call: Call) -> list[list[str]]:
    """The labels of the buttons (or a select's option labels) in each row."""
    out = []
    for row in body(call).get("components") or []:
        labels = []
        for item in row["components"]:
            labels += (
                [o["label"] for o in item["options"]] if item["type"] == 3 else [item["label"]]
            )
        out.append(labels)
    return out


def button(call: Call, label: str) -> str:
    """The custom id of the button with this label."""
    for item in items(call):
        if item["type"] == 2 and item["label"] == label:
            return item["custom_id"]
    raise AssertionError(f"no button {label!r} in {rows(call)}")


def message_of(call: Call) -> dict[str, Any]:
    """The message as Discord holds it after this call (what a later press carries)."""
    answer = call.answer
    return answer["resource"]["message"] if call.kind == "callback" else answer


def assert_no_pings(fake: FakeDiscord) -> None:
    """Everything the bot posted or edited disables mentions: @everyone, @here, roles and users
    typed by someone ping nobody."""
    checked = 0
    for call in fake.calls:
        if call.kind in ("send", "edit", "followup", "edit_followup", "edit_original") or (
            call.kind == "callback" and call.json["type"] in (4, 7)
        ):
            assert body(call).get("allowed_mentions") == {"parse": []}, call
            checked += 1
    assert checked > 0


# -- a person talking to the bot through the fake -----------------------------------------------

MESSAGE_KINDS = ("send", "followup", "edit_original")


class DiscordUser:
    """Talks to the running adapter the way the Discord client would, and keeps what the bot
    answered to the last turn (`messages`; `callback` for a press or submit)."""

    def __init__(self, fake: FakeDiscord, runner: Any) -> None:
        self.fake = fake
        self.runner = runner
        self.messages: list[Call] = []
        self.callback: Call | None = None
        self.screen: Call | None = None  # the newest message with buttons or a select

    async def _turn(self, event: str, data: dict[str, Any], first: str) -> list[Call]:
        mark = len(self.fake.calls)
        await self.fake.dispatch(event, data)
        await self.fake.wait_for(first, since=mark)
        await self.runner.idle()
        made = self.fake.calls[mark:]
        self.messages = [c for c in made if c.kind in MESSAGE_KINDS and c.status == 200]
        callbacks = [c for c in made if c.kind == "callback"]
        self.callback = callbacks[0] if callbacks else None
        for message in self.messages:
            if items(message):
                self.screen = message
        return self.messages

    async def say(self, text: str, **kw: str) -> list[Call]:
        return await self._turn("MESSAGE_CREATE", dm_message(text, **kw), "send")

    async def command(self, name: str) -> list[Call]:
        return await self._turn("INTERACTION_CREATE", command(name), "edit_original")

    async def press(self, custom_id: str, values: list[str] | None = None) -> list[Call]:
        assert self.screen is not None, "nothing to press"
        event = press(message_of(self.screen), custom_id, values=values)
        return await self._turn("INTERACTION_CREATE", event, "callback")

    async def tap(self, label: str) -> list[Call]:
        assert self.screen is not None, "nothing to press"
        return await self.press(button(self.screen, label))

    async def submit(self, form_id: str, text: str) -> list[Call]:
        assert self.screen is not None
        event = submit(message_of(self.screen), form_id, text)
        return await self._turn("INTERACTION_CREATE", event, "callback")

    def text(self) -> str:
        return "\n".join(body(m).get("content") or "" for m in self.messages)

    def card(self) -> dict[str, Any] | None:
        for message in reversed(self.messages):
            for embed in body(message).get("embeds") or []:
                return embed
        return None

    def answer(self) -> tuple[str, list[str] | None] | None:
        """The first answer on screen (a button, or a select's first option), leaving out ways
        out (commands, later, skip) and the form button."""
        if self.screen is None or self.screen not in self.messages:
            return None
        for item in items(self.screen):
            if item["type"] == 3:
                return item["custom_id"], [item["options"][0]["value"]]
            cid = item["custom_id"]
            if cid.startswith(("rb:c:cmd:", "rb:c:timer:", "rb:w:")) or cid.endswith("__skip"):
                continue
            return cid, None
        return None

    async def walk(self, until: Callable[[DiscordUser], bool], *, text: str) -> None:
        """Answer whatever is asked (first option, or `text`) until `until` holds."""
        for _ in range(40):
            if until(self):
                return
            answer = self.answer()
            if answer is None:
                await self.say(text)
            else:
                await self.press(*answer)
        raise AssertionError(f"never got there; last said: {self.text()!r}")


def has_choice(custom_id: str) -> Callable[[DiscordUser], bool]:
    def check(user: DiscordUser) -> bool:
        return any(i.get("custom_id") == custom_id for m in user.messages for i in items(m))

    return check


def has_form(user: DiscordUser) -> bool:
    return user.card() is not None
