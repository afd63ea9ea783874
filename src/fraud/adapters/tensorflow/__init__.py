"""The TensorFlow/Keras fraud model: network, training and a saved-model store."""

import os

# TensorFlow's C++ start-up chatter (oneDNN notices, CPU feature lists) is not ours to show.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
