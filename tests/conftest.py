from __future__ import annotations

import os
import shutil
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bot.engine import Engine
from bot.flows import Catalog, load_catalog
from bot.safety import screen
from bot.store import SqlStore, make_engine, migrate
from bot.store.crypto import Cipher
from bot.testing import FakeChat, FakeClock

KEY = Cipher.generate()
POSTGRES_URL = os.environ.get("REBOUND_TEST_POSTGRES_URL")


@pytest.fixture
def cipher() -> Cipher:
    return Cipher(KEY)


@pytest.fixture(scope="session")
def catalog() -> Catalog:
    return load_catalog()


@pytest.fixture(scope="session")
def migrated_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Migrate one SQLite file per session; each test gets a copy (a real file, real schema)."""
    path = tmp_path_factory.mktemp("template") / "rebound.db"
    engine = make_engine(f"sqlite:///{path}")
    migrate.upgrade(engine)
    engine.dispose()
    return path


@pytest.fixture
def db_url(tmp_path: Path, migrated_template: Path) -> str:
    path = tmp_path / "rebound.db"
    shutil.copy(migrated_template, path)
    return f"sqlite:///{path}"


@pytest.fixture
async def store(db_url: str) -> AsyncIterator[SqlStore]:
    s = SqlStore(make_engine(db_url), Cipher(KEY))
    yield s
    await s.close()


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def engine(catalog: Catalog, store: SqlStore, clock: FakeClock) -> Engine:
    return Engine(catalog, store, clock=clock, screen=screen)


@pytest.fixture
def chat(engine: Engine) -> FakeChat:
    return FakeChat(engine)


FIXTURE_DIALOGS = Path(__file__).parent / "fixtures" / "dialogs"


@pytest.fixture(scope="session")
def survey() -> Catalog:
    """Three text questions in a row: enough to see answers applied once and in order."""
    return load_catalog(FIXTURE_DIALOGS)


@pytest.fixture(scope="session")
def postgres_url() -> str:
    """A migrated PostgreSQL database, or a visible skip (a failure under CI, see .ci/run)."""
    if not POSTGRES_URL:
        reason = "no PostgreSQL configured: set REBOUND_TEST_POSTGRES_URL to run these tests"
        if os.environ.get("REBOUND_REQUIRE_POSTGRES"):
            pytest.fail(reason + " (REBOUND_REQUIRE_POSTGRES is set)")
        pytest.skip(reason)
    from sqlalchemy import text

    from bot.store.schema import metadata

    engine = make_engine(POSTGRES_URL)
    with engine.begin() as conn:
        metadata.drop_all(conn)
        conn.execute(text("DROP TABLE IF EXISTS alembic_version"))
    migrate.upgrade(engine)
    engine.dispose()
    return POSTGRES_URL


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def any_db_url(request: pytest.FixtureRequest, tmp_path: Path, migrated_template: Path) -> str:
    if request.param == "sqlite":
        return request.getfixturevalue("db_url")
    return request.getfixturevalue("postgres_url")


@pytest.fixture
async def any_store(any_db_url: str) -> AsyncIterator[SqlStore]:
    s = SqlStore(make_engine(any_db_url), Cipher(KEY))
    yield s
    await s.close()
