"""TensorFlow and Keras, imported without their native libraries' start-up chatter.

Every module of this package takes ``tf`` and ``keras`` from here.

TensorFlow 2.21 writes its oneDNN and CPU-feature notices from C++ through absl
before any logging is set up, whatever ``TF_CPP_MIN_LOG_LEVEL`` says, so they
would be the only lines of a service's output that are not JSON. While the
libraries load, file descriptor 2 points at a temporary file; what was written
there is logged afterwards at debug level, as events.

Keras also imports, whenever they are installed, the libraries of integrations this
project never uses: scikit-learn for its estimator wrappers (and SciPy with it), pandas
for data frames as input, and matplotlib's pyplot for image galleries. That was about 3 s
of CPU in each process that imports TensorFlow with the development extras installed
(9.4 to 10.1 s against 6.6 to 7.1, ``import tensorflow``, three of each), and pyplot's
share everywhere. While TensorFlow loads, those imports fail as if the libraries were
absent, which Keras expects; afterwards the project imports them as it likes (the charts
import matplotlib). Only training imports this module (`fraud train`, `fraud retrain`, and
`fraud run`'s first start, before it serves), with no other thread that could import one of
those meanwhile.
"""

from __future__ import annotations

import os
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager

import structlog

from fraud.adapters.imports import kept_out

log = structlog.get_logger(__name__)


# What Keras imports for integrations the project never uses (see the module's docstring).
UNUSED_BY_KERAS = ("sklearn", "pandas", "matplotlib", "matplotlib.pyplot")


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


with native_stderr_captured("tensorflow"), kept_out(dict.fromkeys(UNUSED_BY_KERAS)):
    import keras
    import tensorflow as tf

__all__ = ["keras", "native_stderr_captured", "tf"]
