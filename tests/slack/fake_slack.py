"""A local stand-in for Slack's Web API, answering the way Slack does and recording every call.

It keeps each channel's messages as Slack would show them (chat.update replaces a message in
place), so tests can assert on what the user sees. `fail(method, ...)` makes the next call(s) of
a method answer with an error such as a 429 with Retry-After.
"""

from __future__ import annotations

import asyncio
import itertools
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiohttp import web
from aiohttp.test_utils import TestServer

PAYLOADS = Path(__file__).parent / "payloads"
TEAM = "T0TEAM01"
BOT_USER = "U0BOT001"
BOT_ID = "B0BOT001"
_JSON_FIELDS = ("blocks", "view", "files", "attachments")


def payload(name: str) -> dict[str, Any]:
    return json.loads((PAYLOADS / f"{name}.json").read_text())


@dataclass
class Call:
    method: str
    params: dict[str, Any]
    token: str


@dataclass
class FakeSlack:
    calls: list[Call] = field(default_factory=list)
    channels: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    unreachable: set[str] = field(default_factory=set)
    uploads: dict[str, bytes] = field(default_factory=dict)
    tokens: dict[str, str] = field(default_factory=lambda: {"xoxb-test-token": TEAM})
    oauth_answer: dict[str, Any] = field(default_factory=dict)
    profile_tz: dict[str, str] = field(default_factory=dict)  # user -> tz on their profile
    server: TestServer | None = None
    sockets: list[web.WebSocketResponse] = field(default_factory=list)
    socket_ready: asyncio.Event = field(default_factory=asyncio.Event)
    _acks: dict[str, asyncio.Future[dict[str, Any]]] = field(default_factory=dict)
    _failures: dict[str, list[tuple[int, dict[str, str], dict[str, Any]]]] = field(
        default_factory=dict
    )
    _ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))

    # -- lifecycle -----------------------------------------------------------------------------

    async def start(self) -> str:
        app = web.Application()
        app.router.add_post("/api/{method}", self._api)
        app.router.add_get("/api/{method}", self._api)
        app.router.add_post("/upload/{file_id}", self._upload)
        app.router.add_get("/socket", self._socket)
        self.server = TestServer(app)
        await self.server.start_server()
        return self.base_url

    async def close(self) -> None:
        if self.server is not None:
            await self.server.close()

    @property
    def base_url(self) -> str:
        assert self.server is not None
        return str(self.server.make_url("/api/"))

    # -- what tests look at --------------------------------------------------------------------

    def fail(
        self,
        method: str,
        *,
        status: int = 200,
        error: str = "internal_error",
        headers: dict[str, str] | None = None,
        times: int = 1,
    ) -> None:
        answer = (status, headers or {}, {"ok": False, "error": error})
        self._failures.setdefault(method, []).extend([answer] * times)

    def called(self, method: str) -> list[dict[str, Any]]:
        return [c.params for c in self.calls if c.method == method]

    def dm(self, user: str) -> list[dict[str, Any]]:
        """The user's DM with the bot, oldest first, as it looks now."""
        return self.channels.get(self.dm_id(user), [])

    @staticmethod
    def dm_id(user: str) -> str:
        return "D" + user[1:]

    # -- the Web API ---------------------------------------------------------------------------

    async def _api(self, request: web.Request) -> web.Response:
        method = request.match_info["method"]
        params: dict[str, Any] = dict(request.query)
        if request.content_type == "application/json":
            params.update(await request.json())
        elif request.can_read_body:
            params.update(dict(await request.post()))
        for name in _JSON_FIELDS:
            if isinstance(params.get(name), str):
                params[name] = json.loads(params[name])
        auth = request.headers.get("Authorization", "")
        token = auth.removeprefix("Bearer ") or str(params.get("token", ""))
        self.calls.append(Call(method, params, token))
        if self._failures.get(method):
            status, headers, body = self._failures[method].pop(0)
            return web.json_response(body, status=status, headers=headers)
        handler = getattr(self, "_" + method.replace(".", "_"), None)
        if handler is None:
            return web.json_response({"ok": False, "error": "unknown_method"})
        return web.json_response(handler(params, token))

    def _ts(self) -> str:
        return f"{1_700_000_000 + next(self._ids)}.000100"

    def _channel_for(self, channel: str) -> str:
        return self.dm_id(channel) if channel.startswith("U") else channel

    def _users_info(self, params: dict[str, Any], token: str) -> dict[str, Any]:
        user = str(params["user"])
        profile: dict[str, Any] = {"id": user, "name": "someone"}
        if user in self.profile_tz:
            profile |= {"tz": self.profile_tz[user], "tz_label": "Local Time", "tz_offset": 0}
        return {"ok": True, "user": profile}

    def _auth_test(self, params: dict[str, Any], token: str) -> dict[str, Any]:
        team = self.tokens.get(token)
        if team is None:
            return {"ok": False, "error": "invalid_auth"}
        return {
            "ok": True,
            "url": "https://example.slack.com/",
            "team": "Example",
            "user": "rebound",
            "team_id": team,
            "user_id": BOT_USER,
            "bot_id": BOT_ID,
            "is_enterprise_install": False,
        }

    def _chat_postMessage(self, params: dict[str, Any], token: str) -> dict[str, Any]:
        channel = self._channel_for(str(params["channel"]))
        if channel[1:] in {u[1:] for u in self.unreachable}:
            return {"ok": False, "error": "channel_not_found"}
        blocks = [
            dict(b, block_id=b.get("block_id") or f"b{i}x")
            for i, b in enumerate(params.get("blocks") or [])
        ]
        message = {
            "type": "message",
            "user": BOT_USER,
            "bot_id": BOT_ID,
            "ts": self._ts(),
            "text": params.get("text", ""),
            "blocks": blocks,
        }
        self.channels.setdefault(channel, []).append(message)
        return {"ok": True, "channel": channel, "ts": message["ts"], "message": message}

    def _chat_update(self, params: dict[str, Any], token: str) -> dict[str, Any]:
        for message in self.channels.get(str(params["channel"]), []):
            if message["ts"] == params["ts"]:
                message["text"] = params.get("text", message["text"])
                if "blocks" in params:
                    message["blocks"] = params["blocks"]
                message["edits"] = message.get("edits", 0) + 1
                return {"ok": True, "channel": params["channel"], "ts": params["ts"]}
        return {"ok": False, "error": "message_not_found"}

    def _chat_postEphemeral(self, params: dict[str, Any], token: str) -> dict[str, Any]:
        return {"ok": True, "message_ts": self._ts()}

    def _conversations_open(self, params: dict[str, Any], token: str) -> dict[str, Any]:
        user = str(params.get("users", ""))
        if user in self.unreachable:
            return {"ok": False, "error": "user_not_found"}
        return {"ok": True, "channel": {"id": self.dm_id(user)}}

    def _conversations_history(self, params: dict[str, Any], token: str) -> dict[str, Any]:
        found = [
            m for m in self.channels.get(str(params["channel"]), []) if m["ts"] == params["latest"]
        ]
        return {"ok": True, "messages": found, "has_more": False}

    def _views_open(self, params: dict[str, Any], token: str) -> dict[str, Any]:
        view = dict(params["view"], id=f"V0MODAL{next(self._ids):02d}", state={"values": {}})
        return {"ok": True, "view": view}

    def _views_publish(self, params: dict[str, Any], token: str) -> dict[str, Any]:
        return {"ok": True, "view": dict(params["view"], id="V0HOME001")}

    def _files_getUploadURLExternal(self, params: dict[str, Any], token: str) -> dict[str, Any]:
        file_id = f"F0FILE{next(self._ids):03d}"
        assert self.server is not None
        return {
            "ok": True,
            "upload_url": str(self.server.make_url(f"/upload/{file_id}")),
            "file_id": file_id,
        }

    def _files_completeUploadExternal(self, params: dict[str, Any], token: str) -> dict[str, Any]:
        files = [
            {"id": f["id"], "title": f.get("title"), "name": f.get("title")}
            for f in (params.get("files") or [])
        ]
        channel = str(params.get("channel_id", ""))
        for f in files:
            self.channels.setdefault(channel, []).append(
                {"type": "message", "ts": self._ts(), "text": "", "files": [f]}
            )
        return {"ok": True, "files": files}

    def _oauth_v2_access(self, params: dict[str, Any], token: str) -> dict[str, Any]:
        answer = self.oauth_answer or payload("oauth_v2_access")
        self.tokens[answer["access_token"]] = answer["team"]["id"]
        return answer

    # -- Socket Mode -----------------------------------------------------------------------------

    def _apps_connections_open(self, params: dict[str, Any], token: str) -> dict[str, Any]:
        if not token.startswith("xapp-"):
            return {"ok": False, "error": "not_allowed_token_type"}
        assert self.server is not None
        url = str(self.server.make_url("/socket")).replace("http://", "ws://")
        return {"ok": True, "url": url}

    async def _socket(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        self.sockets.append(ws)
        await ws.send_json(
            {
                "type": "hello",
                "num_connections": 1,
                "debug_info": {"host": "applink-fake", "approximate_connection_time": 18060},
                "connection_info": {"app_id": "A0APP001"},
            }
        )
        self.socket_ready.set()
        async for message in ws:
            ack = json.loads(message.data)
            future = self._acks.pop(ack.get("envelope_id", ""), None)
            if future is not None and not future.done():
                future.set_result(ack)
        return ws

    async def push(self, kind: str, body: dict[str, Any]) -> dict[str, Any]:
        """Send an envelope over the newest Socket Mode connection; return the app's ack."""
        envelope_id = f"env-{next(self._ids)}"
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._acks[envelope_id] = future
        await self.sockets[-1].send_json(
            {
                "envelope_id": envelope_id,
                "type": kind,
                "payload": body,
                "accepts_response_payload": kind != "events_api",
                "retry_attempt": 0,
                "retry_reason": "",
            }
        )
        return await asyncio.wait_for(future, 5)

    async def _upload(self, request: web.Request) -> web.Response:
        self.uploads[request.match_info["file_id"]] = await request.read()
        return web.Response(text=f"OK - {len(self.uploads[request.match_info['file_id']])}")


def visible(message: dict[str, Any]) -> str:
    """Everything a person sees in a message: section and context text, and button labels."""
    out: list[str] = []
    for block in message.get("blocks") or []:
        if "text" in block:
            out.append(block["text"]["text"])
        for element in block.get("elements") or []:
            if "text" in element and isinstance(element["text"], dict):
                out.append(element["text"]["text"])
            elif "text" in element:
                out.append(element["text"])
            for option in element.get("options") or []:
                out.append(option["text"]["text"])
    for f in message.get("files") or []:
        out.append(f"[file {f['title']}]")
    return "\n".join(out)


def buttons(message: dict[str, Any]) -> list[str]:
    return [
        element["text"]["text"]
        for block in message.get("blocks") or []
        if block.get("type") == "actions"
        for element in block.get("elements") or []
        if element.get("type") == "button"
    ]
