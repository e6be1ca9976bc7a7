"""Keys at rest: a new SQLite database gets an owner-only key file and says so; missing or wrong
keys stop the start-up with what to do; rotation keeps old rows readable, then re-encrypts."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest
from sqlalchemy import select

from bot.app import open_store
from bot.config import ConfigError, load_settings
from bot.store import keys, schema
from bot.store.crypto import Cipher, CipherError
from bot.testing import FakeChat


async def test_a_new_database_gets_an_owner_only_key_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = tmp_path / "new.db"
    store = open_store(load_settings(DATABASE_URL=f"sqlite:///{db}"))
    await store.close()
    key = tmp_path / "new.db.key"
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    assert "created an encryption key at" in capsys.readouterr().err
    store = open_store(load_settings(DATABASE_URL=f"sqlite:///{db}"))  # reused, not replaced
    await store.close()
    assert "created" not in capsys.readouterr().err


async def test_data_without_its_key_refuses_to_start(tmp_path: Path, catalog) -> None:
    from bot.engine import Engine

    db = tmp_path / "kept.db"
    store = open_store(load_settings(DATABASE_URL=f"sqlite:///{db}"))
    await FakeChat(Engine(catalog, store)).say("my pitch was turned down this morning")
    await store.close()
    (tmp_path / "kept.db.key").rename(tmp_path / "elsewhere.key")
    with pytest.raises(ConfigError, match="holds encrypted data but its key file"):
        open_store(load_settings(DATABASE_URL=f"sqlite:///{db}"))
    with pytest.raises(ConfigError, match="cannot be decrypted"):
        open_store(
            load_settings(DATABASE_URL=f"sqlite:///{db}", REBOUND_ENCRYPTION_KEY=Cipher.generate())
        )


async def test_rotation_keeps_old_rows_readable_then_moves_them_to_the_new_key(
    tmp_path: Path, catalog
) -> None:
    from bot.engine import Engine

    old, new = Cipher.generate(), Cipher.generate()
    url = f"sqlite:///{tmp_path / 'r.db'}"
    store = open_store(load_settings(DATABASE_URL=url, REBOUND_ENCRYPTION_KEY=old))
    chat = FakeChat(Engine(catalog, store))
    await chat.say("the agency said no after two interviews")
    await chat.tap("A job application")
    await store.close()

    both = open_store(load_settings(DATABASE_URL=url, REBOUND_ENCRYPTION_KEY=f"{new},{old}"))
    assert (await both.export(str(chat.key)))["episodes"][0]["summary"].startswith("the agency")
    counts = keys.rotate(both.engine, both.cipher)
    assert counts["conversations"] == 1 and counts["episodes"] == 1
    with both.engine.connect() as conn:
        summary = conn.execute(select(schema.episodes.c.summary)).scalar()
    await both.close()
    assert Cipher(new).decrypt(summary) == "the agency said no after two interviews"
    with pytest.raises(CipherError):
        Cipher(old).decrypt(summary)
    only_new = open_store(load_settings(DATABASE_URL=url, REBOUND_ENCRYPTION_KEY=new))
    assert (await only_new.load(str(chat.key))) is not None
    await only_new.close()
