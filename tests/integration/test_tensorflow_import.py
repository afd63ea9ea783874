"""TensorFlow as the adapter imports it: without the libraries Keras would load for
integrations the project never uses, which cost seconds of CPU in every process that trains."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

pytestmark = pytest.mark.tensorflow

# Imports TensorFlow through the adapter, says which of Keras's optional libraries that
# loaded, then trains a network a step, imports them itself and draws with pyplot.
PROBE = """
import json, sys
import numpy as np
from fraud.adapters.tensorflow.quiet import UNUSED_BY_KERAS, keras
loaded = sorted(name for name in UNUSED_BY_KERAS if sys.modules.get(name) is not None)
model = keras.Sequential([keras.Input(shape=(2,)), keras.layers.Dense(1)])
model.compile(loss="mse")
model.fit(np.array([[0.0, 1.0]]), np.array([1.0]), epochs=1, verbose=0)
import matplotlib.pyplot as plt
plt.figure()
afterwards = sorted(name for name in ("matplotlib", "matplotlib.pyplot") if name in sys.modules)
print(json.dumps({"loaded": loaded, "afterwards": afterwards}))
"""


def test_keras_loads_none_of_the_integrations_and_they_import_afterwards() -> None:
    result = subprocess.run(
        [sys.executable, "-c", PROBE], capture_output=True, text=True, timeout=300
    )

    assert result.returncode == 0, result.stderr[-3000:]
    assert json.loads(result.stdout.splitlines()[-1]) == {
        "loaded": [],
        "afterwards": ["matplotlib", "matplotlib.pyplot"],
    }
