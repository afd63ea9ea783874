"""Argon2 hashes: a verification of a name that does not exist spends one argon2 run, as
one that exists does, and a process that never verifies one spends none on it."""

from __future__ import annotations

from typing import Literal

from argon2 import PasswordHasher

from fraud.adapters.passwords.argon2 import Argon2Hasher


class CountedRuns(PasswordHasher):
    """The library's hasher at its cheapest, counting its argon2 runs."""

    def __init__(self) -> None:
        super().__init__(time_cost=1, memory_cost=8, parallelism=1)
        self.runs = 0

    def hash(self, password: str | bytes, *, salt: bytes | None = None) -> str:
        self.runs += 1
        return super().hash(password, salt=salt)

    def verify(self, hash: str | bytes, password: str | bytes) -> Literal[True]:
        self.runs += 1
        return super().verify(hash, password)


def test_a_hasher_made_spends_no_argon2_run() -> None:
    library = CountedRuns()
    Argon2Hasher(library)
    assert library.runs == 0


def test_each_dummy_verification_spends_one_argon2_run_as_a_real_one_does() -> None:
    library = CountedRuns()
    hasher = Argon2Hasher(library)
    stored = hasher.hash("the right one")
    library.runs = 0
    assert hasher.verify(stored, "the right one") and not hasher.verify(stored, "a wrong one")
    assert library.runs == 2
    for _ in range(3):
        hasher.dummy_verify()
    assert library.runs == 5
