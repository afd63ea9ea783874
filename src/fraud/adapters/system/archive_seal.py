"""Model archives signed with HMAC-SHA256 under the archive key (the ``ArchiveSeal`` port).

The signature covers the model's version as well as the archive's bytes, so an archive
cannot be moved to another version's row; it is stored beside the archive in the
database, where it is safe: without the key, which the database never holds, nobody can
make one. A signature reads ``hmac-sha256:<key id>:<mac>``: the key id (a MAC of a fixed
text, which says nothing of the key) tells a host given another key apart from an
altered archive in the message an operator reads.
"""

from __future__ import annotations

import hashlib
import hmac

from fraud.domain.registry import SignatureCheck

SCHEME = "hmac-sha256"
MIN_KEY_BYTES = 32
_KEY_ID_TEXT = b"fraud model archive key id"
_DOMAIN = b"fraud model archive v1\0"  # a MAC made for anything else never matches one


class HmacArchiveSeal:
    def __init__(self, key: bytes) -> None:
        if len(key) < MIN_KEY_BYTES:
            raise ValueError(f"an archive key has at least {MIN_KEY_BYTES} bytes")
        self._key = key
        self.key_id = hmac.new(key, _KEY_ID_TEXT, hashlib.sha256).hexdigest()[:16]

    def __repr__(self) -> str:
        return f"HmacArchiveSeal(key_id={self.key_id!r})"

    def sign(self, version: str, archive: bytes) -> str:
        return f"{SCHEME}:{self.key_id}:{self._mac(version, archive)}"

    def check(self, version: str, archive: bytes, signature: str) -> SignatureCheck:
        expected = self.sign(version, archive).encode()
        if hmac.compare_digest(expected, signature.encode("utf-8", "replace")):
            return SignatureCheck.GOOD
        scheme, _, rest = signature.partition(":")
        key_id = rest.partition(":")[0]
        if scheme == SCHEME and key_id == self.key_id:
            return SignatureCheck.ALTERED
        return SignatureCheck.OTHER_KEY

    def _mac(self, version: str, archive: bytes) -> str:
        name = version.encode()
        mac = hmac.new(self._key, _DOMAIN, hashlib.sha256)
        mac.update(len(name).to_bytes(4, "big"))  # the version's end is never ambiguous
        mac.update(name)
        mac.update(archive)
        return mac.hexdigest()
