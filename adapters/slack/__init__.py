"""The Slack adapter: `rebound run` calls build_runner(app) when Slack settings are present.

mapping.py and blocks.py are pure translations (Slack payloads to engine events, replies to Block
Kit); listeners.py, outbox.py and runner.py are the glue on slack-bolt's AsyncApp.
"""

from adapters.slack.runner import SlackRunner, build_runner

__all__ = ["SlackRunner", "build_runner"]
