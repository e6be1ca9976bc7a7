"""A local stand-in for Discord: the REST routes discord.py calls (under /api/v10/) and a gateway
websocket, on 127.0.0.1. The real `client.login()` and `client.connect()` talk to it once
`discord.http.Route.BASE` and `discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY` point here.

It records every HTTP call (method, path, JSON body, uploaded files) and answers like Discord:
created messages echo what was sent, with an id. Tests push gateway events with `dispatch()` and
wait for calls with `wait_for()`; nothing sleeps.

Behaviour a test can switch on: a rejected token (401), users whose DMs are closed (403, code
50007), users Discord fails to reach (503), and one 429 before a route succeeds.
"""

from __future__ import annotations

import asyncio
import itertools
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import yarl
from aiohttp import WSMsgType, web

BOT_ID = "1100000000000000001"
APP_ID = "1100000000000000002"
OWNER_ID = "1100000000000000003"
TOKEN = "fake-token.for-tests.only"
BAD_TOKEN = "rejected-token.for-tests.only"
JSON = {"Content-Type": "application/json"}  # exactly this: discord.py checks it verbatim

BOT_USER = {
    "id": BOT_ID,
    "username": "rebound",
    "discriminator": "0",
    "global_name": "Rebound",
    "avatar": None,
    "bot": True,
    "public_flags": 0,
    "flags": 0,
}


@dataclass
class Call:
    method: str
    path: str
    query: dict[str, str]
    json: Any
    files: dict[str, bytes] = field(default_factory=dict)
    status: int = 0
    answer: Any = None  # what the fake answered: for a message, the message as Discord has it

    @property
    def kind(self) -> str:
        """A short name for the call, as a test reads it."""
        p = self.path.removeprefix("/api/v10")
        if p.startswith("/interactions/") and p.endswith("/callback"):
            return "callback"
        if p.startswith("/webhooks/") and p.endswith("/messages/@original"):
            return "edit_original" if self.method == "PATCH" else "original"
        if p.startswith("/webhooks/") and "/messages/" in p:
            return "edit_followup"
        if p.startswith("/webhooks/"):
            return "followup"
        if p == "/users/@me/channels":
            return "open_dm"
        if p.startswith("/channels/") and p.endswith("/messages") and self.method == "POST":
            return "send"
        if p.startswith("/channels/") and "/messages/" in p and self.method == "PATCH":
            return "edit"
        return f"{self.method} {p}"

    @property
    def channel_id(self) -> str | None:
        parts = self.path.removeprefix("/api/v10").split("/")
        return parts[2] if len(parts) > 2 and parts[1] == "channels" else None


def dm_channel_id(user_id: str) -> str:
    """The DM channel Discord would give this user (stable, so tests can predict it)."""
    return str(int(user_id) + 7)


class FakeDiscord:
    def __init__(self) -> None:
        self.calls: list[Call] = []
        self.identifies: list[dict[str, Any]] = []
        self.closed_dms: set[str] = set()
        self.failing_dms: set[str] = set()
        self.rate_limit_once: set[str] = set()  # call kinds answered once with a 429
        self.application: dict[str, Any] = {}  # overrides of the application's fields
        self.late = False  # interaction callbacks answered "Unknown interaction" (too late)
        self._changed = asyncio.Condition()
        self._sockets: list[web.WebSocketResponse] = []
        self._seq = itertools.count(1)
        self._ids = itertools.count(1_200_000_000_000_000_000)
        self._runner: web.AppRunner | None = None
        self.base = ""
        self.gateway = yarl.URL("ws://invalid/")

    # -- lifecycle ----------------------------------------------------------------------------

    async def start(self) -> None:
        app = web.Application()
        app.router.add_get("/gateway", self._gateway)
        app.router.add_route("*", "/api/v10/{tail:.*}", self._rest)
        self._runner = web.AppRunner(app, handle_signals=False)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self.base = f"http://127.0.0.1:{port}/api/v10"
        self.gateway = yarl.URL(f"ws://127.0.0.1:{port}/gateway")

    async def close(self) -> None:
        for ws in list(self._sockets):
            await ws.close()
        if self._runner is not None:
            await self._runner.cleanup()

    # -- what tests use -----------------------------------------------------------------------

    async def dispatch(self, event: str, data: dict[str, Any]) -> None:
        """Push a gateway event (op 0) to every connected shard."""
        await self.wait_until(lambda: bool(self._sockets))
        frame = {"op": 0, "t": event, "s": next(self._seq), "d": data}
        for ws in list(self._sockets):
            await ws.send_str(json.dumps(frame))

    async def wait_until(self, predicate: Callable[[], bool], within: float = 10) -> None:
        """Wait (on a condition, not a clock) until the predicate holds; fail after `within` s."""

        async def waiting() -> None:
            async with self._changed:
                await self._changed.wait_for(predicate)

        await asyncio.wait_for(waiting(), within)

    async def wait_for(self, kind: str, count: int = 1, since: int = 0, **match: Any) -> list[Call]:
        """The first `count` calls of a kind made after call number `since` (and, optionally,
        matching attributes such as `channel_id`), once they exist."""

        def found() -> list[Call]:
            return [
                c
                for c in self.calls[since:]
                if c.kind == kind and all(getattr(c, k) == v for k, v in match.items())
            ]

        await self.wait_until(lambda: len(found()) >= count)
        return found()[:count]

    def of(self, kind: str) -> list[Call]:
        return [c for c in self.calls if c.kind == kind]

    def sent_to(self, channel_id: str) -> list[Call]:
        return [c for c in self.calls if c.kind == "send" and c.channel_id == channel_id]

    # -- the gateway --------------------------------------------------------------------------

    async def _gateway(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        await ws.send_str(json.dumps({"op": 10, "d": {"heartbeat_interval": 45_000}}))
        async for msg in ws:
            if msg.type is not WSMsgType.TEXT:
                break
            frame = json.loads(msg.data)
            if frame["op"] == 1:  # heartbeat
                await ws.send_str(json.dumps({"op": 11}))
            elif frame["op"] == 2:  # identify
                shard = frame["d"].get("shard", [0, 1])
                ready = {
                    "v": 10,
                    "user": BOT_USER,
                    "guilds": [],
                    "session_id": f"session-{shard[0]}",
                    "resume_gateway_url": str(self.gateway),
                    "shard": shard,
                    "application": {"id": APP_ID, "flags": 0},
                    "private_channels": [],
                    "relationships": [],
                }
                await ws.send_str(
                    json.dumps({"op": 0, "t": "READY", "s": next(self._seq), "d": ready})
                )
                async with self._changed:
                    self.identifies.append(frame["d"])
                    self._sockets.append(ws)
                    self._changed.notify_all()
        if ws in self._sockets:
            self._sockets.remove(ws)
        return ws

    # -- REST ---------------------------------------------------------------------------------

    async def _rest(self, request: web.Request) -> web.Response:
        body: Any = None
        files: dict[str, bytes] = {}
        if request.content_type == "multipart/form-data":
            reader = await request.multipart()
            async for part in reader:
                name = part.name or ""  # type: ignore[union-attr]
                data = await part.read()  # type: ignore[union-attr]
                if name == "payload_json":
                    body = json.loads(data)
                else:
                    files[part.filename or name] = bytes(data)  # type: ignore[union-attr]
        elif request.can_read_body:
            raw = await request.read()
            body = json.loads(raw) if raw else None
        call = Call(request.method, request.path, dict(request.query), body, files)
        status, answer = self._answer(call, request.headers.get("Authorization", ""))
        call.status, call.answer = status, answer
        async with self._changed:
            self.calls.append(call)
            self._changed.notify_all()
        headers = dict(JSON)
        if status == 429:
            headers["Via"] = "1.1 google"
        if status == 204:
            return web.Response(status=204)
        return web.Response(status=status, body=json.dumps(answer).encode(), headers=headers)

    def _answer(self, call: Call, auth: str) -> tuple[int, Any]:
        path = call.path.removeprefix("/api/v10")
        if auth == f"Bot {BAD_TOKEN}":
            return 401, {"message": "401: Unauthorized", "code": 0}
        if call.kind in self.rate_limit_once:
            self.rate_limit_once.discard(call.kind)
            return 429, {
                "message": "You are being rate limited.",
                "retry_after": 0.0,
                "global": False,
            }
        if path == "/users/@me":
            return 200, BOT_USER
        if path == "/oauth2/applications/@me":
            return 200, self._application()
        if path == "/gateway/bot":
            return 200, {
                "url": str(self.gateway),
                "shards": 1,
                "session_start_limit": {
                    "total": 1000,
                    "remaining": 999,
                    "reset_after": 0,
                    "max_concurrency": 1,
                },
            }
        if path == "/gateway":
            return 200, {"url": str(self.gateway)}
        if call.kind == "open_dm":
            user = str(call.json["recipient_id"])
            return 200, {
                "id": dm_channel_id(user),
                "type": 1,
                "last_message_id": None,
                "recipients": [self._user(user)],
            }
        if call.kind in ("send", "followup", "edit", "edit_followup", "edit_original"):
            channel = call.channel_id or "0"
            user = str(int(channel) - 7)
            if call.kind == "send" and user in self.closed_dms:
                return 403, {"message": "Cannot send messages to this user", "code": 50007}
            if call.kind == "send" and user in self.failing_dms:
                return 503, {"message": "upstream connect error", "code": 0}
            return 200, self._message(call)
        if call.kind == "callback" and self.late:
            return 404, {"message": "Unknown interaction", "code": 10062}
        if call.kind == "callback":
            return 200, self._callback(call)
        if call.method == "PUT" and path.endswith("/commands"):
            return 200, [
                {
                    **command,
                    "id": str(next(self._ids)),
                    "application_id": APP_ID,
                    "version": "1",
                }
                for command in call.json
            ]
        if call.method == "DELETE":
            return 204, None
        return 404, {"message": "404: Not Found", "code": 0}

    def _application(self) -> dict[str, Any]:
        return {
            "id": APP_ID,
            "name": "Rebound",
            "description": "",
            "icon": None,
            "bot_public": True,
            "bot_require_code_grant": False,
            "owner": self._user(OWNER_ID),
            "verify_key": "0" * 64,
            "flags": 0,
            "summary": "",
            **self.application,
        }

    @staticmethod
    def _user(user_id: str) -> dict[str, Any]:
        return {
            "id": user_id,
            "username": f"user{user_id[-4:]}",
            "discriminator": "0",
            "global_name": None,
            "avatar": None,
        }

    def _message(self, call: Call, body: dict[str, Any] | None = None) -> dict[str, Any]:
        body = body if body is not None else (call.json or {})
        parts = call.path.removeprefix("/api/v10").split("/")
        message_id = parts[-1] if call.method == "PATCH" and parts[-1].isdigit() else None
        return {
            "id": message_id or str(next(self._ids)),
            "channel_id": call.channel_id or "0",
            "type": 0,
            "content": body.get("content") or "",
            "author": BOT_USER,
            "attachments": [
                {
                    "id": str(next(self._ids)),
                    "filename": name,
                    "size": len(data),
                    "url": f"https://cdn.invalid/{name}",
                    "proxy_url": f"https://cdn.invalid/{name}",
                }
                for name, data in call.files.items()
            ],
            "embeds": body.get("embeds") or [],
            "components": body.get("components") or [],
            "mentions": [],
            "mention_roles": [],
            "mention_everyone": False,
            "pinned": False,
            "tts": False,
            "timestamp": "2026-03-02T09:00:00.000000+00:00",
            "edited_timestamp": None,
            "flags": body.get("flags") or 0,
        }

    def _callback(self, call: Call) -> dict[str, Any]:
        interaction_id = call.path.removeprefix("/api/v10").split("/")[2]
        kind = call.json["type"]
        data = call.json.get("data") or {}
        answer: dict[str, Any] = {
            "interaction": {
                "id": interaction_id,
                "type": 2,
                "response_message_loading": kind == 5,
                "response_message_ephemeral": bool(data.get("flags", 0) & 64),
            },
        }
        if kind in (4, 5, 7):
            answer["resource"] = {"type": kind, "message": self._message(call, data)}
            answer["interaction"]["response_message_id"] = answer["resource"]["message"]["id"]
        elif kind is not None:
            answer["resource"] = {"type": kind}
        return answer
