"""`rebound run`: serve every platform whose settings are present, in one process."""

from __future__ import annotations

import asyncio
import logging
import signal
from importlib import import_module

from bot.app import App, build_app
from bot.config import ConfigError, Settings
from bot.health import Health
from bot.nudges.scheduler import PassStats, Scheduler
from bot.ports import Runner, Sender

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


def build_scheduler(app: App, senders: list[Sender]) -> Scheduler:
    return Scheduler(app.store, app.engine.nudge, senders, app.engine.clock)


async def nudge_pass(settings: Settings) -> PassStats:
    """`rebound nudges`: one scheduler pass over everything due now, then exit."""
    app = build_app(settings)
    runners = build_runners(app)
    try:
        for runner in runners:
            await runner.start(serve=False)
        return await build_scheduler(app, runners).run_once()
    finally:
        for runner in runners:
            await runner.stop()
        await app.close()


async def serve(settings: Settings) -> None:
    app = build_app(settings)
    runners = build_runners(app)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    started: list[Runner] = []
    scheduler = build_scheduler(app, runners)
    health = Health(app.store.ping)
    try:
        if settings.health_port:
            await health.start("0.0.0.0", settings.health_port)
        for runner in runners:
            await runner.start()
            started.append(runner)
            log.info("adapter started", extra={"platform": runner.platform})
        health.started = True
        nudging = asyncio.create_task(scheduler.run_forever(stop=stop))
        await stop.wait()
        await nudging
    finally:
        health.started = False
        for runner in reversed(started):
            await runner.stop()
        await health.stop()
        await app.close()
