"""Keys at rest: does a database hold encrypted data, can this key read it, rotate to a new key."""

from __future__ import annotations

from sqlalchemy import Engine, select, update
from sqlalchemy.exc import OperationalError, ProgrammingError

from bot.ports import RECORD_TABLES
from bot.store import schema
from bot.store.crypto import Cipher

_conv = schema.conversations


def has_encrypted_data(engine: Engine) -> bool:
    try:
        with engine.connect() as conn:
            return conn.execute(select(_conv.c.state).limit(1)).first() is not None
    except (OperationalError, ProgrammingError):  # no tables yet: a new database
        return False


def check_key(engine: Engine, cipher: Cipher) -> None:
    """Raise CipherError at start-up, not mid-conversation, if the key cannot read the data."""
    with engine.connect() as conn:
        row = conn.execute(select(_conv.c.state).limit(1)).first()
    if row is not None:
        cipher.decrypt(row[0])


def rotate(engine: Engine, cipher: Cipher, *, batch: int = 1000) -> dict[str, int]:
    """Re-encrypt every encrypted value with the first key of `cipher` (the others may be the
    old ones). Returns how many values were rewritten, per table."""
    targets = [("conversations", "user_key", ("state",))] + [
        (name, "id", tuple(sorted(cols))) for name, cols in RECORD_TABLES.items() if cols
    ]
    counts: dict[str, int] = {}
    for name, pk, cols in targets:
        table = schema.metadata.tables[name]
        key_col = table.c[pk]
        done, last = 0, ""
        while True:
            with engine.begin() as conn:
                rows = conn.execute(
                    select(key_col, *(table.c[c] for c in cols))
                    .where(key_col > last)
                    .order_by(key_col)
                    .limit(batch)
                ).all()
                for row in rows:
                    values = {c: cipher.rotate(v) for c, v in zip(cols, row[1:], strict=True) if v}
                    if values:
                        conn.execute(update(table).where(key_col == row[0]).values(**values))
                        done += len(values)
            if len(rows) < batch:
                break
            last = rows[-1][0]
        counts[name] = done
    return counts
