"""The composition root: the one place that builds the pieces and wires them together."""

from __future__ import annotations

import asyncio
import logging
import sys
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, NoSuchModuleError, OperationalError

from bot.config import ConfigError, Settings
from bot.engine import Engine
from bot.flows import DEFAULT_DIR, Catalog, FlowError, load_catalog
from bot.logs import configure
from bot.safety import Screening, screen
from bot.safety.contextual import ContextualModel
from bot.safety.model import Model
from bot.safety.screen import Pending, first_look
from bot.safety.screen import model as safety_model
from bot.store import SqlStore, keys, make_engine, migrate
from bot.store.crypto import Cipher, CipherError, create_key_file, key_path_beside

log = logging.getLogger("rebound")


@dataclass
class App:
    settings: Settings
    catalog: Catalog
    store: SqlStore
    engine: Engine

    async def close(self) -> None:
        await self.store.close()


def load_dialogs(settings: Settings) -> Catalog:
    try:
        return load_catalog(settings.dialogs_dir or DEFAULT_DIR)
    except FlowError as exc:
        raise ConfigError(str(exc)) from None


def open_store(settings: Settings, *, migrate_sqlite: bool = True) -> SqlStore:
    url = settings.database_url
    try:
        parsed = make_url(url)
        engine = make_engine(url, synchronous=settings.sqlite_synchronous)
    except (ArgumentError, NoSuchModuleError, ValueError) as exc:
        raise ConfigError(f"DATABASE_URL is not usable ({exc})") from None
    key = settings.encryption_key
    if not key:
        if not settings.is_sqlite or not parsed.database or parsed.database == ":memory:":
            raise ConfigError(
                "REBOUND_ENCRYPTION_KEY is required with this DATABASE_URL: the users' words are "
                "encrypted at rest. Make one with `rebound keygen` and keep it safe."
            )
        key_path = key_path_beside(Path(parsed.database))
        if key_path.exists():
            key = key_path.read_text().strip()
        elif Path(parsed.database).exists() and keys.has_encrypted_data(engine):
            raise ConfigError(
                f"{parsed.database} holds encrypted data but its key file {key_path} is missing "
                "and REBOUND_ENCRYPTION_KEY is not set. Restore the key (a new one could not "
                "read anything)."
            )
        else:
            key = create_key_file(key_path)
            print(
                f"rebound: created an encryption key at {key_path} (owner-only). Keep it with "
                "the database: without it nobody, you included, can read what was written.",
                file=sys.stderr,
            )
    try:
        cipher = Cipher(key)
    except CipherError as exc:
        raise ConfigError(str(exc)) from None
    try:
        if settings.is_sqlite and migrate_sqlite:
            if parsed.database and parsed.database != ":memory:":
                Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
            migrate.upgrade(engine)
        elif migrate.current(engine) != migrate.head():
            raise ConfigError(
                f"the database at DATABASE_URL is not at the current schema ({migrate.head()}): "
                "run `rebound db upgrade` first"
            )
    except OperationalError as exc:
        raise ConfigError(
            f"cannot reach the database in DATABASE_URL ({type(exc.orig).__name__}: "
            f"{str(exc.orig).strip().splitlines()[0] if exc.orig else exc}). Check host, port, "
            "name and credentials."
        ) from None
    try:
        keys.check_key(engine, cipher)
    except CipherError as exc:
        raise ConfigError(str(exc)) from None
    return SqlStore(engine, cipher)


def load_safety_model() -> Model:
    """The screening model, loaded now so that a broken model.json stops start-up, not a turn."""
    try:
        return safety_model()
    except ValueError as exc:
        raise ConfigError(str(exc)) from None


def load_contextual() -> ContextualModel:
    """The contextual reader (REBOUND_SAFETY_CONTEXTUAL), loaded so that a missing package or
    file stops start-up with what to do."""
    try:
        return ContextualModel()
    except ValueError as exc:
        raise ConfigError(str(exc)) from None


def screen_off_loop(reader: ContextualModel) -> Callable[[str], Awaitable[Screening]]:
    """The screen with the contextual reader, for the event loop: the reader runs in a worker
    thread, so that a long message (many windows of about 2 ms) never stalls other people's
    turns (ONNX Runtime releases the GIL while it reads). If it fails, the word model's own
    verdict stands, as with the reader off, and the log says so (never the text)."""

    async def screen_message(text: str) -> Screening:
        verdict = first_look(text, reader.band)
        if not isinstance(verdict, Pending):
            return verdict
        try:
            reading = await asyncio.to_thread(reader.read, verdict.rest)
        except Exception as exc:
            log.error(
                "contextual reader failed (%s); the word model's verdict stands", type(exc).__name__
            )
            return verdict.alone
        return verdict.settle(reading)

    return screen_message


def load_screen(settings: Settings) -> Callable[[str], Screening | Awaitable[Screening]]:
    """The screen every message goes through, its models loaded now: the rules and the linear
    model, plus the contextual reader (read off the event loop) unless
    REBOUND_SAFETY_CONTEXTUAL=false."""
    load_safety_model()
    return screen_off_loop(load_contextual()) if settings.safety_contextual else screen


def build_app(settings: Settings) -> App:
    configure(settings.log_level)
    catalog = load_dialogs(settings)
    screening = load_screen(settings)
    store = open_store(settings)
    return App(settings, catalog, store, Engine(catalog, store, screen=screening))
