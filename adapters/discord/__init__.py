"""The Discord adapter: DMs, slash commands, buttons and modals on discord.py 2.x.

`rebound run` imports this package and calls `build_runner(app)` when DISCORD_TOKEN is set;
`sync_commands(app)` registers the slash commands (see README.md beside this file).
"""

from adapters.discord.runner import DiscordRunner, build_runner, sync_commands

__all__ = ["DiscordRunner", "build_runner", "sync_commands"]
