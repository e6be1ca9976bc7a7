"""Encryption at rest for the user's own words (Fernet: AES-128-CBC with HMAC-SHA256).

Several keys may be given, newest first, to rotate: everything is readable with any of them and
new data is written with the first."""

from __future__ import annotations

import os
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken, MultiFernet


class CipherError(ValueError):
    pass


class Cipher:
    def __init__(self, keys: str) -> None:
        try:
            self._fernet = MultiFernet([Fernet(k.strip()) for k in keys.split(",") if k.strip()])
        except (ValueError, TypeError) as exc:
            raise CipherError(
                "REBOUND_ENCRYPTION_KEY is not a valid key list: each key must be 32 url-safe "
                "base64-encoded bytes (make one with `rebound keygen`)"
            ) from exc

    def encrypt(self, text: str) -> str:
        return self._fernet.encrypt(text.encode()).decode()

    def decrypt(self, token: str) -> str:
        try:
            return self._fernet.decrypt(token.encode()).decode()
        except InvalidToken as exc:
            raise CipherError(
                "stored data cannot be decrypted with REBOUND_ENCRYPTION_KEY: was the key changed? "
                "Put the old key after the new one (comma-separated) to rotate."
            ) from exc

    @staticmethod
    def generate() -> str:
        return Fernet.generate_key().decode()

    def rotate(self, token: str) -> str:
        """Re-encrypt with the first key (whichever key it was written with)."""
        return self._fernet.rotate(token.encode()).decode()


def key_path_beside(db_path: Path) -> Path:
    return db_path.with_name(db_path.name + ".key")


def create_key_file(path: Path) -> str:
    """For the zero-setup SQLite store: a key readable by its owner only."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(Cipher.generate())
    return path.read_text().strip()
