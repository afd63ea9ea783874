"""The TensorFlow/Keras fraud model: network, training and a saved-model store."""
