"""The ``PasswordHasher`` port on argon2-cffi: argon2id with the library's RFC 9106
"low memory" defaults, the encoded hash carrying its own parameters and salt."""

from __future__ import annotations

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

DUMMY_PASSWORD = "a password nobody has"


class Argon2Hasher:
    def __init__(self, hasher: PasswordHasher | None = None) -> None:
        self._hasher = hasher or PasswordHasher()
        # Made by the first dummy verification, not by every process that starts: hashing
        # costs what a verification costs (one argon2 run, 0.3 s of CPU here).
        self._dummy: str | None = None

    def hash(self, password: str) -> str:
        return self._hasher.hash(password)

    def verify(self, password_hash: str, password: str) -> bool:
        try:
            return self._hasher.verify(password_hash, password)
        except (VerificationError, InvalidHashError):
            return False

    def dummy_verify(self) -> None:
        """One argon2 run with this hasher's parameters, as a verification is: the first
        makes the hash the later ones verify against (two threads at once may both make
        one; each then spends one run)."""
        if self._dummy is None:
            self._dummy = self._hasher.hash(DUMMY_PASSWORD)
        else:
            self.verify(self._dummy, "not it")
