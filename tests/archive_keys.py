"""The tests' archive key: one fixed key for every `fraud` process and container a test
starts, as a deployment gives every host the same one. Never a real key."""

from __future__ import annotations

from fraud.adapters.system.archive_seal import HmacArchiveSeal
from fraud.settings import Secret

TEST_ARCHIVE_KEY = "7e57a7c41e" * 6 + "0123"  # 32 bytes, in hex


def archive_key_for_tests() -> Secret:
    return Secret(TEST_ARCHIVE_KEY)


def seal_for_tests() -> HmacArchiveSeal:
    return HmacArchiveSeal(bytes.fromhex(TEST_ARCHIVE_KEY))
