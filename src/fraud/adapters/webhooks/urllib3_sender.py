"""The ``WebhookSender`` port on urllib3: one POST per attempt, bounded in time, never
following a redirect, reading nothing of the answer but its status.

Where a receiver may be is the deployment's choice (``FRAUD_WEBHOOK_PRIVATE_ADDRESSES``):
by default only public addresses, since whoever may add a subscription could otherwise make
the service call into its own network (server-side request forgery); ``allow`` lets
receivers inside the network (a test, a system beside the service). Link-local addresses
(a cloud's metadata service) are refused either way. The host is resolved and every address
checked before each attempt; a name that resolves to another address between that check
and the connection (DNS rebinding) is not caught, which is why private addresses are
refused outright rather than trusted to a name.
"""

from __future__ import annotations

import ipaddress
import socket
import time
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import urlsplit

import urllib3

from fraud.domain.ports.webhooks import SendResult
from fraud.domain.webhooks import forbidden_address

Resolve = Callable[..., list[Any]]


class Urllib3Sender:
    def __init__(
        self,
        timeout_s: float = 5.0,
        private_addresses: bool = False,
        resolve: Resolve = socket.getaddrinfo,
    ) -> None:
        self.private_addresses = private_addresses
        self._resolve = resolve
        self._pool = urllib3.PoolManager(
            num_pools=64,
            maxsize=4,
            retries=False,  # the outbox retries, with backoff, and counts each attempt
            timeout=urllib3.Timeout(connect=min(3.0, timeout_s), read=timeout_s),
        )

    def send(self, url: str, body: bytes, headers: Mapping[str, str]) -> SendResult:
        started = time.perf_counter()
        try:
            response = self._pool.request(
                "POST",
                url,
                body=body,
                headers=dict(headers),
                redirect=False,
                preload_content=False,
            )
        except urllib3.exceptions.HTTPError as error:
            return SendResult(None, _described(error), time.perf_counter() - started)
        # The answer's body is not read: a receiver cannot hold the sender by streaming it.
        response.close()
        return SendResult(response.status, None, time.perf_counter() - started)

    def refusal(self, url: str) -> str | None:
        parts = urlsplit(url)
        host = parts.hostname or ""
        try:
            addresses = [str(ipaddress.ip_address(host))]
        except ValueError:
            try:
                found = self._resolve(host, parts.port or 443, proto=socket.IPPROTO_TCP)
            except (OSError, UnicodeError) as error:
                return f"host {host!r} cannot be resolved ({error})"
            addresses = sorted({str(entry[4][0]).split("%")[0] for entry in found})
        for address in addresses:
            if (problem := forbidden_address(address, self.private_addresses)) is not None:
                return f"{host} resolves to {problem}" if address != host else problem
        return None

    def close(self) -> None:
        self._pool.clear()


def _described(error: Exception) -> str:
    """What went wrong in a line: the kind of failure, not urllib3's nested repr."""
    reason = getattr(error, "reason", None)
    text = str(reason or error)
    return f"{type(error).__name__}: {text.splitlines()[0][:300] if text else ''}"
