"""`rebound run`: serve every platform whose settings are present, in one process."""

from __future__ import annotations

import asyncio
import logging
import signal
from importlib import import_module

from bot.app import App, build_app
from bot.config import ConfigError, Settings
from bot.ports import Runner

log = logging.getLogger("rebound.run")

# platform -> module with `build_runner(app) -> Runner`, imported only when configured.
ADAPTERS = {"slack": "adapters.slack", "discord": "adapters.discord"}


def configured(settings: Settings) -> list[str]:
    return [
        name
        for name, on in (
            ("slack", settings.slack_configured),
            ("discord", settings.discord_configured),
        )
        if on
    ]


def build_runners(app: App) -> list[Runner]:
    names = configured(app.settings)
    if not names:
        raise ConfigError(
            "no platform is configured: set SLACK_BOT_TOKEN (or SLACK_CLIENT_ID and "
            "SLACK_CLIENT_SECRET) for Slack, DISCORD_TOKEN for Discord; `rebound chat` needs none"
        )
    runners = []
    for name in names:
        try:
            module = import_module(ADAPTERS[name])
        except ImportError as exc:
            raise ConfigError(
                f"{name} is configured but its libraries are missing ({exc.name}): "
                f"pip install 'rebound[{name}]'"
            ) from None
        runners.append(module.build_runner(app))
    return runners


async def serve(settings: Settings) -> None:
    app = build_app(settings)
    runners = build_runners(app)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    started: list[Runner] = []
    try:
        for runner in runners:
            await runner.start()
            started.append(runner)
            log.info("%s adapter started", runner.platform)
        await stop.wait()
    finally:
        for runner in reversed(started):
            await runner.stop()
        await app.close()
