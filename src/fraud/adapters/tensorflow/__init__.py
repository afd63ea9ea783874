"""The TensorFlow/Keras fraud model: network, training and a saved-model store."""

import os

# TensorFlow's own logging below warnings is not ours to show (its native libraries'
# start-up notices ignore this: ``quiet`` keeps them off stderr).
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
