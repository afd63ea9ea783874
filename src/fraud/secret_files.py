"""Secret settings from a directory of files (``FRAUD_SECRETS_DIR``), as orchestrators mount them.

Kubernetes mounts each key of a Secret as a file named after the key (through symbolic
links into a hidden ``..data`` folder, which it swaps on an update); Docker and Podman
secrets, systemd's credentials and Vault's agent do much the same. With
``FRAUD_SECRETS_DIR`` set, a file there named after a secret setting (``FRAUD_DATABASE_URL``)
gives that setting's value, so the secret never sits in the process's environment, where
``/proc/PID/environ``, crash reporters and ``kubectl describe`` would show it.

The environment wins: a variable set (non-empty) in the environment, or its ``_FILE``
form, is used and the directory's file for it is not read. That is the order other
settings loaders keep (pydantic-settings, Spring), and it lets an operator override one
value for a single command without editing the mounted Secret.

Only the secret settings below are read from the directory: a file named for another
``FRAUD_`` setting, or misspelt, is refused by name rather than silently ignored. Hidden
entries (Kubernetes' ``..data``) and names not starting with ``FRAUD_`` are someone
else's and left alone. No value read here is ever part of a message.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

SECRETS_DIR = "FRAUD_SECRETS_DIR"
SECRET_SETTINGS = (
    "FRAUD_DATABASE_URL",  # holds the database password
    "FRAUD_ARCHIVE_KEY",  # signs model archives; the same on every host
    "FRAUD_SECRET_KEY",  # signs session cookies
    "FRAUD_KAFKA_SASL_USERNAME",
    "FRAUD_KAFKA_SASL_PASSWORD",
    "FRAUD_RATE_LIMIT_STORAGE",  # a redis:// URL may hold a password
)
# A setting's value is a line of text, not a file's worth: past this it is a wrong mount.
MAX_SECRET_BYTES = 64 * 1024


class UnreadableSecrets(ValueError):
    """The secrets directory, or a file in it, that cannot be used; names it and the rule."""


def with_secret_files(env: Mapping[str, str]) -> Mapping[str, str]:
    """``env`` with each secret setting it lacks taken from ``FRAUD_SECRETS_DIR``'s files."""
    folder = env.get(SECRETS_DIR, "").strip()
    if not folder:
        return env
    if not os.path.isdir(folder):
        raise UnreadableSecrets(f"{SECRETS_DIR}: no such directory: {folder!r}")
    merged = dict(env)
    for path in sorted(Path(folder).iterdir()):
        name = path.name
        if name.startswith(".") or not name.startswith("FRAUD_"):
            continue
        if name not in SECRET_SETTINGS:
            raise UnreadableSecrets(
                f"{SECRETS_DIR}: {name} is not a secret setting; secrets read from files are "
                f"{', '.join(SECRET_SETTINGS)} (set other settings in the environment)"
            )
        if _given(env, name) or _given(env, f"{name}_FILE"):
            continue  # the environment wins
        merged[name] = _read(path)
    return merged


def _given(env: Mapping[str, str], name: str) -> bool:
    return bool(env.get(name, "").strip())


def _read(path: Path) -> str:
    where = f"{SECRETS_DIR}: {path}"
    try:
        if not path.is_file():
            raise UnreadableSecrets(f"{where} is not a file")
        if path.stat().st_size > MAX_SECRET_BYTES:
            raise UnreadableSecrets(f"{where} is larger than {MAX_SECRET_BYTES} bytes")
        value = path.read_text(encoding="utf-8").rstrip("\r\n")
    except OSError as error:
        raise UnreadableSecrets(f"{where} cannot be read ({error.strerror})") from None
    except UnicodeDecodeError:
        raise UnreadableSecrets(f"{where} is not UTF-8 text") from None
    if not value.strip():
        raise UnreadableSecrets(f"{where} is empty")
    return value
