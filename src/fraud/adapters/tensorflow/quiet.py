"""TensorFlow and Keras, imported without their native libraries' start-up chatter.

Every module of this package takes ``tf`` and ``keras`` from here.

TensorFlow 2.21 writes its oneDNN and CPU-feature notices from C++ through absl
before any logging is set up, whatever ``TF_CPP_MIN_LOG_LEVEL`` says, so they
would be the only lines of a service's output that are not JSON. While the
libraries load, file descriptor 2 points at a temporary file; what was written
there is logged afterwards at debug level, as events.
"""

from __future__ import annotations

import os
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager

import structlog

log = structlog.get_logger(__name__)


@contextmanager
def native_stderr_captured(what: str) -> Iterator[None]:
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as sink:
        os.dup2(sink.fileno(), 2)
        try:
            yield
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            sink.seek(0)
            written = sink.read().decode("utf-8", errors="replace").splitlines()
    for line in filter(None, written):
        if line.startswith("{"):  # one of our own events, from another thread meanwhile
            print(line, file=sys.stderr, flush=True)
        else:
            log.debug("native library output", library=what, line=line)


with native_stderr_captured("tensorflow"):
    import keras
    import tensorflow as tf

__all__ = ["keras", "native_stderr_captured", "tf"]
