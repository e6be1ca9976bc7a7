"""Liveness and readiness for `rebound run` behind a load balancer or an orchestrator.

GET /healthz: the process is up. GET /readyz: the database answers and every adapter started.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from aiohttp import web


class Health:
    def __init__(self, ping: Callable[[], Awaitable[None]], *, timeout: float = 2.0) -> None:
        self.ping = ping
        self.timeout = timeout
        self.started = False
        self._runner: web.AppRunner | None = None

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_get("/healthz", self._live)
        app.router.add_get("/readyz", self._ready)
        return app

    async def _live(self, _request: web.Request) -> web.Response:
        return web.json_response({"status": "ok"})

    async def _ready(self, _request: web.Request) -> web.Response:
        if not self.started:
            return web.json_response({"status": "starting"}, status=503)
        try:
            await asyncio.wait_for(self.ping(), timeout=self.timeout)
        except Exception as exc:
            return web.json_response(
                {"status": "unavailable", "database": type(exc).__name__}, status=503
            )
        return web.json_response({"status": "ready"})

    async def start(self, host: str, port: int) -> None:
        self._runner = web.AppRunner(self.app())
        await self._runner.setup()
        await web.TCPSite(self._runner, host, port).start()

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
