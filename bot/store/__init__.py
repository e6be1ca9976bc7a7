"""The store: where conversation state and everything a user wrote is kept (see sql.py)."""

from bot.store.sql import SqlStore, make_engine

__all__ = ["SqlStore", "make_engine"]
