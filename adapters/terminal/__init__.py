"""The terminal adapter: `rebound chat` (friendly) and `rebound chat --json` (scriptable)."""
