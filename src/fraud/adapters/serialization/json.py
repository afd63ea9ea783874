"""JSON on the wire, with orjson: several times faster than the standard library's encoder,
which at thousands of messages a second per stage is the difference that matters."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import orjson


class JsonSerializer:
    def dumps(self, data: Mapping[str, Any]) -> bytes:
        return orjson.dumps(data)

    def loads(self, data: bytes) -> Any:
        try:
            return orjson.loads(data)
        except orjson.JSONDecodeError as error:
            raise ValueError(str(error)) from None
