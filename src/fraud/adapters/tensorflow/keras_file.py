"""A saved ``model.keras`` read without TensorFlow, into the numpy network that serves it.

The file is a zip of ``config.json`` (the nested Functional configuration: an ensemble's
members, each one's ``FeatureEncoder`` with its edges and its Dense layers' units and
activations) and ``model.weights.h5``, where Keras keeps each layer's variables under a
name it makes from the layer's class, numbered in layer order within its model
(``layers/functional_1/layers/dense_2/vars/0`` is the kernel of the second member's third
Dense layer). Only the shapes :func:`~fraud.adapters.tensorflow.network.build_network`
and :func:`~fraud.adapters.tensorflow.trainer.ensemble` make are read; any other network
is refused, saying what was found, rather than scored wrongly.
``tests/integration/test_served_network.py`` checks this layout against Keras' own loader.
"""

from __future__ import annotations

import io
import itertools
import json
import re
import zipfile
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from fraud.adapters.numpy.network import Dense, Encoder, Mlp, Network
from fraud.domain.errors import ModelNotFound

CONFIG = "config.json"
WEIGHTS = "model.weights.h5"
ENCODER = "FeatureEncoder"


def read_network(path: Path) -> Network:
    """The network saved at ``path``, its weights in float64."""
    try:
        with zipfile.ZipFile(path) as saved:
            config = json.loads(saved.read(CONFIG))
            weights = saved.read(WEIGHTS)
    except (OSError, KeyError, ValueError, zipfile.BadZipFile) as unreadable:
        raise ModelNotFound(f"{path} is not a readable Keras model file ({unreadable})") from None
    with h5py.File(io.BytesIO(weights), "r") as variables:
        return _Reader(path, variables).network(config)


class _Reader:
    def __init__(self, path: Path, variables: h5py.File) -> None:
        self.path = path
        self.variables = variables

    def network(self, config: dict[str, Any]) -> Network:
        layers = self._layers(config, "the model")
        classes = [layer.get("class_name") for layer in layers]
        if ENCODER in classes:
            return Network([self._mlp(config, "")])
        # An ensemble: the input, the members side by side on it, their average.
        if (
            len(layers) < 3
            or classes[0] != "InputLayer"
            or classes[-1] != "Average"
            or any(name != "Functional" for name in classes[1:-1])
        ):
            raise self._refused(
                "a network (an encoder, Dense layers, a one-unit sigmoid) or an ensemble of "
                "them (the input, the networks, their Average)",
                " -> ".join(map(str, classes)),
            )
        members = layers[1:-1]
        averaged = [_source(node) for node in _inputs(layers[-1])]
        if averaged != [member["name"] for member in members]:
            raise self._refused("an Average of every member", f"an Average of {averaged}")
        saved_as = _saved_names(layers)[1:-1]
        pairs = zip(members, saved_as, strict=True)
        return Network([self._mlp(member, f"layers/{name}/") for member, name in pairs])

    def _mlp(self, config: dict[str, Any], prefix: str) -> Mlp:
        layers = self._layers(config, config.get("name", "the model"))
        names = _saved_names(layers)
        classes = [layer.get("class_name") for layer in layers]
        if classes[:2] != ["InputLayer", ENCODER] or classes[-1] != "Dense":
            raise self._refused(
                "InputLayer -> FeatureEncoder -> (Dense relu, Dropout)... -> Dense sigmoid",
                " -> ".join(map(str, classes)),
            )
        for before, layer in itertools.pairwise(layers):
            sources = [_source(node) for node in _inputs(layer)]
            if sources != [before["name"]]:
                raise self._refused(
                    "each layer reading the one before it",
                    f"{layer['name']} reading {sources}",
                )
        encoder = self._encoder(layers[1]["config"])
        dense = []
        for at, layer in enumerate(layers[2:], start=2):
            if layer["class_name"] == "Dropout":
                continue  # only training drops anything
            last = at == len(layers) - 1
            dense.append(self._dense(layer, f"{prefix}layers/{names[at]}", last))
        try:
            return Mlp(encoder, tuple(dense))
        except ValueError as mismatch:
            raise self._refused("weights that fit the layers", str(mismatch)) from None

    def _encoder(self, config: dict[str, Any]) -> Encoder:
        try:
            return Encoder(
                config["edges"],
                config["numeric_columns"],
                config["log_columns"],
                [(int(column), int(size)) for column, size in config["category_columns"]],
            )
        except (KeyError, TypeError, ValueError) as broken:
            raise self._refused("a FeatureEncoder's edges and columns", repr(broken)) from None

    def _dense(self, layer: dict[str, Any], group: str, last: bool) -> Dense:
        config = layer["config"]
        if layer["class_name"] != "Dense":
            raise self._refused("Dense or Dropout layers after the encoder", layer["class_name"])
        wanted = "sigmoid" if last else "relu"
        if config.get("activation") != wanted or not config.get("use_bias", False):
            raise self._refused(
                f"a {wanted} Dense layer with a bias",
                f"{layer['name']}: activation {config.get('activation')!r}, "
                f"use_bias {config.get('use_bias')!r}",
            )
        try:
            kernel, bias = (np.asarray(self.variables[f"{group}/vars/{i}"]) for i in (0, 1))
        except KeyError:
            raise self._refused(f"{group}/vars/0 and 1 in {WEIGHTS}", "them missing") from None
        return Dense(kernel.astype(np.float64), bias.astype(np.float64))

    def _layers(self, config: dict[str, Any], what: str) -> list[dict[str, Any]]:
        layers = config.get("config", {}).get("layers") if config.get("class_name") else None
        if config.get("class_name") != "Functional" or not isinstance(layers, list):
            raise self._refused(f"{what} as a Functional model", str(config.get("class_name")))
        return layers

    def _refused(self, expected: str, found: str) -> ModelNotFound:
        return ModelNotFound(
            f"{self.path} holds a network this service cannot serve: expected {expected}, "
            f"found {found}"
        )


def _inputs(layer: dict[str, Any]) -> list[dict[str, Any]]:
    """The tensors a layer of a Functional configuration is called on."""
    nodes = layer.get("inbound_nodes") or []
    if len(nodes) != 1:
        return []
    arguments = nodes[0].get("args") or []
    first = arguments[0] if arguments else []
    return first if isinstance(first, list) else [first]


def _source(tensor: dict[str, Any]) -> str:
    history = tensor.get("config", {}).get("keras_history") or [None]
    return str(history[0])


def _saved_names(layers: list[dict[str, Any]]) -> list[str]:
    """The names Keras saves a model's layers' variables under: the layer's class in snake
    case, numbered from the second of a class on (``dense``, ``dense_1``, ...)."""
    used: dict[str, int] = {}
    names = []
    for layer in layers:
        name = _snake_case(str(layer.get("class_name")))
        if name in used:
            used[name] += 1
            names.append(f"{name}_{used[name]}")
        else:
            used[name] = 0
            names.append(name)
    return names


def _snake_case(name: str) -> str:
    """As ``keras.src.utils.naming.to_snake_case``."""
    name = re.sub(r"\W+", "", name)
    name = re.sub("(.)([A-Z][a-z]+)", r"\1_\2", name)
    return re.sub("([a-z])([A-Z])", r"\1_\2", name).lower()
