"""The trained network evaluated with numpy: its scores, and why each score is what it is.

Serving does not import TensorFlow (seconds of CPU and hundreds of MB a process, for a
network of two small layers): the saved weights are read by
:mod:`fraud.adapters.tensorflow.keras_file` and evaluated here, the encoder included, as
:func:`~fraud.adapters.tensorflow.network.build_network` lays them out. The integrated
gradients are those of :class:`~fraud.adapters.tensorflow.attribution.Attributor` (same
baseline, steps, midpoint path in the encoder's output and averaged log-odds), with the
ReLU layers' backward pass written out.

A row's score must not depend on the rows beside it: a redelivered transaction comes back
in another batch, and the ledger keeps a score that differs as another scoring. The matrix
kernels sum a row in another order when a batch's row count is not a multiple of their
block (or is one row), so every call is padded with zero rows to a multiple of
:data:`ROW_BLOCK`, which gives a row the same score to the last bit in any batch (a
multiple of 8 where OpenBLAS runs its Haswell kernels: :data:`EIGHT_ROW_CORES`); and it
all runs in float64, so that were a kernel to sum otherwise, a row would move by around
1e-16, not by the float32 bit or two that Keras' kernels move it by. Measured on the
default model (two members of 128 and 64 units, one BLAS thread, a loaded 2-core host),
float32 would score 512 rows in 3.2 ms against 7.6 to 10.6, but score and attribute them,
what the score stage does, in the same 24 to 26 ms, and 64 rows in the same 0.4 to 0.6 and
2.5 ms (Keras: 3.1 and 19 to 24 ms for 512, 0.75 and 4 ms for 64).

Keras' float32 encoder is itself a rounding away from these numbers: its log1p is an ulp
off at times, and a piece 6e-4 wide turns that into 1e-4 of the piece's column, so on the
default model 5 scores in 20,000 were 1e-6 to 1.9e-6 from Keras' (the rest well within
the ledger's SCORE_TOLERANCE, every decision and reason the same).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np
from threadpoolctl import threadpool_info

from fraud.domain.features import FEATURE_NAMES

# Points per row along the path from the baseline, each at the middle of its slice.
STEPS = 8
# Every call evaluates a multiple of this many rows (zero rows added): see the module's doc.
ROW_BLOCK = 64
# OpenBLAS cores (as it names them) on which a row's product is the same to the bit in any
# multiple of 8 rows: their double-precision kernel takes 4 rows at a time along one path
# for every size, where SkylakeX's, for one, has another for small products. A batch of a
# row or two is then padded to 8 rows, not 64: on the default model the score stage's call
# for two rows took 3.5 ms padded to 64. Checked on Haswell: scores, log-odds and
# attributions of batches of 1 to 2,000 rows the same to the bit padded to 8 as to 64.
EIGHT_ROW_CORES = frozenset({"Haswell", "Zen"})
# A batch of at most ROW_BLOCK rows walks its attributions' path for a multiple of this
# many rows, not ROW_BLOCK (its scores still come from ROW_BLOCK rows). The path is most of
# a batch's work, and a batch at a thousand transactions a second holds a few rows: on the
# default model, one BLAS thread, 12 rows were scored and attributed in 1.3 ms instead of
# 2.7, 4 rows in 1.05 instead of 2.7. A row's attributions already moved in their last bit
# (4e-16) with the batch it came in; its score does not move at all.
PATH_ROW_BLOCK = 8
# A larger batch (an offline replay's) goes through in passes of this many rows, a multiple of
# ROW_BLOCK, so that its path's arrays stay a few MB: scored and attributed in one pass, a
# replay's 20,000 rows took 1 GB and a second of the kernel's time mapping it.
LARGEST_PASS = 1_024


@dataclass(frozen=True, slots=True)
class Dense:
    """A dense layer's weights: ``inputs @ kernel + bias``."""

    kernel: np.ndarray  # (inputs, units)
    bias: np.ndarray  # (units,)

    @property
    def units(self) -> int:
        return int(self.kernel.shape[1])


class Encoder:
    """Raw feature vectors to what the dense layers read, as the saved ``FeatureEncoder``
    computes them: each numeric column's pieces (how far into each piece its value, log
    scaled for some columns, is: 0 to 1) side by side, then each category one-hot.

    The pieces' starts and widths are the float32 values the trained network used."""

    def __init__(
        self,
        edges: Sequence[Sequence[float]],
        numeric_columns: Sequence[int],
        log_columns: Sequence[int],
        category_columns: Sequence[tuple[int, int]],
    ) -> None:
        self.numeric_columns = np.asarray(numeric_columns, dtype=np.intp)
        self._logged = np.isin(self.numeric_columns, np.asarray(log_columns, dtype=np.intp))
        self.category_columns = tuple((int(column), int(size)) for column, size in category_columns)
        columns = [np.asarray(column, dtype=np.float64) for column in edges]
        self._piece_column = np.concatenate(
            [np.full(len(column) - 1, i, dtype=np.intp) for i, column in enumerate(columns)]
        )
        self._piece_start = _float32(np.concatenate([column[:-1] for column in columns]))
        self._piece_width = _float32(
            np.maximum(np.concatenate([np.diff(column) for column in columns]), 1e-6)
        )
        self.sources = [int(self.numeric_columns[i]) for i in self._piece_column] + [
            column for column, size in self.category_columns for _ in range(size)
        ]
        # (encoded columns, features): 1 where an encoded column comes from a feature.
        self.to_features = np.zeros((len(self.sources), len(FEATURE_NAMES)))
        self.to_features[np.arange(len(self.sources)), self.sources] = 1.0
        # A padding row's encoding: exact (log1p(0) is 0, the rest is arithmetic IEEE rounds
        # one way), so it is that of a zero row in any batch.
        self._padding = self.encode(np.zeros((1, len(FEATURE_NAMES))))[0]

    @property
    def width(self) -> int:
        return len(self.sources)

    def encodes_as(self, other: Encoder) -> bool:
        """Whether ``other`` gives every matrix this one's encoding, to the bit: the same
        columns, pieces and categories."""
        return self.category_columns == other.category_columns and all(
            np.array_equal(mine, theirs)
            for mine, theirs in (
                (self.numeric_columns, other.numeric_columns),
                (self._logged, other._logged),
                (self._piece_column, other._piece_column),
                (self._piece_start, other._piece_start),
                (self._piece_width, other._piece_width),
            )
        )

    def encode_padded(self, matrix: np.ndarray, rows: int) -> np.ndarray:
        """What :meth:`encode` gives for ``matrix`` and zero rows below it up to ``rows``,
        the zero rows' encoding copied rather than worked out: a batch of a row or two is
        padded to :data:`ROW_BLOCK` rows, and encoding them all took 0.9 of the 3.8 ms its
        attribution took (the default model, profiled). The rows are encoded
        :data:`PATH_ROW_BLOCK` at a time, zero rows added, so that a vectorised log1p never
        takes a row alone; every step is elementwise, so a row's encoding is the same in any
        batch (checked to the bit against encoding the padded matrix, batches of 1 to 2,000)."""
        given = len(matrix)
        encoding = -(-given // PATH_ROW_BLOCK) * PATH_ROW_BLOCK
        encoded = np.empty((rows, self.width))
        if encoding == given:
            encoded[:given] = self.encode(matrix)
        else:
            block = np.zeros((encoding, matrix.shape[1]))
            block[:given] = matrix
            encoded[:encoding] = self.encode(block)
        encoded[encoding:] = self._padding
        return encoded

    def encode(self, matrix: np.ndarray) -> np.ndarray:
        numeric = matrix[:, self.numeric_columns]
        numeric[:, self._logged] = np.log1p(np.maximum(numeric[:, self._logged], 0.0))
        pieces = numeric[:, self._piece_column]
        pieces -= self._piece_start  # in place: a batch's arrays are large enough to matter
        pieces /= self._piece_width
        parts = [np.clip(pieces, 0.0, 1.0, out=pieces)]
        for column, size in self.category_columns:
            codes = np.clip(matrix[:, column], 0, size - 1).astype(np.intp)  # as Keras: truncated
            parts.append(np.eye(size)[codes])
        return np.concatenate(parts, axis=1)


@dataclass(frozen=True, slots=True)
class Mlp:
    """One network: the encoder, dense ReLU layers, and a one-unit layer whose output is the
    log-odds (the sigmoid's input)."""

    encoder: Encoder
    layers: tuple[Dense, ...]  # the hidden ReLU layers, then the log-odds layer

    def __post_init__(self) -> None:
        widths = [self.encoder.width, *(layer.units for layer in self.layers)]
        for layer, inputs in zip(self.layers, widths, strict=False):
            if layer.kernel.shape != (inputs, layer.units) or layer.bias.shape != (layer.units,):
                raise ValueError(
                    f"a dense layer of {layer.units} units reads {inputs} columns: its kernel "
                    f"is {layer.kernel.shape} and its bias {layer.bias.shape}"
                )
        if widths[-1] != 1:
            raise ValueError(f"the last layer gives the log-odds: 1 unit, not {widths[-1]}")

    def first_layer(self, encoded: np.ndarray) -> np.ndarray:
        """The first layer's input times its kernel, bias not added."""
        return encoded @ self.layers[0].kernel

    def log_odds(self, first: np.ndarray) -> tuple[np.ndarray, list[np.ndarray]]:
        """From the first layer's product (any leading shape), the log-odds and, per ReLU
        layer, where it passes its input on: what the backward pass needs."""
        shape = first.shape[:-1]
        values = (first + self.layers[0].bias).reshape(-1, first.shape[-1])
        active = []
        for layer in self.layers[1:]:
            on = values > 0
            active.append(on)
            values = np.where(on, values, 0.0) @ layer.kernel + layer.bias
        return values.reshape(shape), active

    def first_layer_gradient(self, upstream: np.ndarray, active: list[np.ndarray]) -> np.ndarray:
        """The gradient at the first layer's output (before its ReLU) of the log-odds
        weighted by ``upstream``, through each ReLU layer by hand (a ReLU passes the gradient
        where its input was above 0, as TensorFlow's does)."""
        gradient = upstream.reshape(-1, 1)
        for layer, on in zip(reversed(self.layers[1:]), reversed(active), strict=True):
            gradient = (gradient @ layer.kernel.T) * on
        return gradient.reshape(*upstream.shape, -1)


class Network:
    """The networks whose probabilities a model averages (one, for a single network), each
    evaluated for a whole batch at once."""

    def __init__(self, members: Sequence[Mlp], row_block: int | None = None) -> None:
        if not members:
            raise ValueError("a model needs at least one network")
        self.members = _sharing_encoders(members)
        # Every call evaluates a multiple of this many rows: see the module's doc.
        self.row_block = served_row_block() if row_block is None else row_block
        if self.row_block % PATH_ROW_BLOCK or LARGEST_PASS % self.row_block:
            raise ValueError(
                f"a row block of {self.row_block} rows: a multiple of {PATH_ROW_BLOCK} "
                f"dividing {LARGEST_PASS}, please"
            )
        # The baseline's encoding and first-layer product per member, for the last baseline
        # attributed from (a model keeps one): a batch of a row or two made them again each
        # time, a sixth of its attribution's time in a profile of a worker at 200/s.
        self._start: tuple[bytes, list[tuple[np.ndarray, np.ndarray]]] | None = None

    def score(self, matrix: np.ndarray) -> np.ndarray:
        """Each row's fraud probability: the members' average."""
        return _sigmoid(self._members_log_odds(matrix)).mean(axis=0)[: len(matrix)]

    def log_odds(self, matrix: np.ndarray) -> np.ndarray:
        """The log-odds of each row's score, which its attributions explain."""
        return _averaged_log_odds(self._members_log_odds(matrix))[: len(matrix)]

    def score_and_attribute(
        self, matrix: np.ndarray, baseline: np.ndarray, steps: int = STEPS
    ) -> tuple[np.ndarray, np.ndarray]:
        """Each row's score and, per feature, how much it moved the row's log-odds away from
        ``baseline``'s: the gradient of the averaged log-odds at ``steps`` midpoints of the
        straight path from the baseline's encoding to the row's, averaged, times how far each
        encoded column moved, summed back to the feature it comes from.

        The path is straight in the encoder's output, so the first layer's product along it
        is the baseline's plus a share of the row's less the baseline's: the widest product
        is made once per row, not once per point."""
        matrix = _checked(matrix)
        if len(matrix) > LARGEST_PASS:
            passes = [
                self.score_and_attribute(matrix[at : at + LARGEST_PASS], baseline, steps)
                for at in range(0, len(matrix), LARGEST_PASS)
            ]
            return np.concatenate([s for s, _ in passes]), np.concatenate([a for _, a in passes])
        rows, padded = len(matrix), self._padded_rows(len(matrix))
        # A batch of one block walks the path for its rows and up to PATH_ROW_BLOCK - 1 zero
        # rows only: steps times as many points, a multiple of ROW_BLOCK when steps is 8.
        traced = padded if rows > self.row_block else -(-rows // PATH_ROW_BLOCK) * PATH_ROW_BLOCK
        points = (np.arange(steps) + 0.5) / steps
        moves, firsts, along, actives = [], [], [], []
        for mlp, encoded, (start, first_of_start) in zip(
            self.members, self._encoded(matrix, padded), self._starts(baseline), strict=True
        ):
            moves.append(encoded[:traced] - start)
            first = mlp.first_layer(encoded)
            firsts.append(first)
            path = first_of_start + points[:, None, None] * (first[:traced] - first_of_start)
            log_odds, active = mlp.log_odds(path)  # (steps, rows): step-major, like Attributor
            along.append(log_odds)
            actives.append(active)
        pairs = zip(self.members, firsts, strict=True)
        scores = _sigmoid(np.stack([mlp.log_odds(first)[0] for mlp, first in pairs])).mean(axis=0)
        weights = _averaged_log_odds_gradient(np.stack(along))  # (members, steps, rows)
        attributions = np.zeros((traced, len(FEATURE_NAMES)))
        for mlp, weight, active, move in zip(self.members, weights, actives, moves, strict=True):
            gradient = mlp.first_layer_gradient(weight, active).mean(axis=0)
            attributions += (move * (gradient @ mlp.layers[0].kernel.T)) @ mlp.encoder.to_features
        return scores[:rows], attributions[:rows]

    def _padded_rows(self, rows: int) -> int:
        """How many rows a call of ``rows`` evaluates: a multiple of the row block."""
        return max(-(-rows // self.row_block), 1) * self.row_block

    def _starts(self, baseline: np.ndarray) -> list[tuple[np.ndarray, np.ndarray]]:
        """Each member's encoding of ``baseline`` and its first-layer product."""
        baseline = _checked(baseline[None])
        known = self._start
        if known is None or known[0] != baseline.tobytes():
            starts = []
            for mlp in self.members:
                start = mlp.encoder.encode(baseline)
                starts.append((start, mlp.first_layer(start)))
            known = (baseline.tobytes(), starts)
            self._start = known  # one assignment: safe for threads sharing the network
        return known[1]

    def _members_log_odds(self, matrix: np.ndarray) -> np.ndarray:
        """Each member's log-odds (first axis) of each row, padding rows included."""
        matrix = _checked(matrix)
        if len(matrix) > LARGEST_PASS:
            passes = range(0, len(matrix), LARGEST_PASS)
            return np.concatenate(
                [self._members_log_odds(matrix[at : at + LARGEST_PASS]) for at in passes], axis=1
            )
        padded = self._padded_rows(len(matrix))
        return np.stack(
            [
                mlp.log_odds(mlp.first_layer(encoded))[0]
                for mlp, encoded in zip(self.members, self._encoded(matrix, padded), strict=True)
            ]
        )

    def _encoded(self, matrix: np.ndarray, padded: int) -> list[np.ndarray]:
        """Each member's encoding of ``matrix`` padded to ``padded`` rows, made once for the
        members that share an encoder."""
        encodings: dict[int, np.ndarray] = {}
        for mlp in self.members:
            if id(mlp.encoder) not in encodings:
                encodings[id(mlp.encoder)] = mlp.encoder.encode_padded(matrix, padded)
        return [encodings[id(mlp.encoder)] for mlp in self.members]


def _sharing_encoders(members: Sequence[Mlp]) -> tuple[Mlp, ...]:
    """The members, those whose encoders encode alike given the first such one: a batch is
    then encoded once for them. A trained model's members are fitted to the same pieces, and
    encoding a one-row batch was 7% of its score and attribution (4% for 64 to 1,024 rows)."""
    encoders: list[Encoder] = []
    shared = []
    for mlp in members:
        same = next((known for known in encoders if known.encodes_as(mlp.encoder)), None)
        if same is None:
            encoders.append(mlp.encoder)
            shared.append(mlp)
        else:
            shared.append(replace(mlp, encoder=same))
    return tuple(shared)


def _checked(matrix: np.ndarray) -> np.ndarray:
    matrix = np.asarray(matrix, dtype=np.float64)
    if matrix.ndim != 2 or matrix.shape[1] != len(FEATURE_NAMES):
        raise ValueError(
            f"a batch is a matrix of one column per feature ({len(FEATURE_NAMES)}), "
            f"got shape {matrix.shape}"
        )
    return matrix


def served_row_block() -> int:
    """The row block of this host's BLAS: 8 on the :data:`EIGHT_ROW_CORES`, else
    :data:`ROW_BLOCK` (another core, another BLAS)."""
    cores = {
        str(library.get("architecture"))
        for library in threadpool_info()
        if library.get("internal_api") == "openblas"
    }
    return PATH_ROW_BLOCK if cores and cores <= EIGHT_ROW_CORES else ROW_BLOCK


def _float32(values: np.ndarray) -> np.ndarray:
    return values.astype(np.float32).astype(np.float64)


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return np.exp(-np.logaddexp(0.0, -x))


def _log_sigmoid(x: np.ndarray) -> np.ndarray:
    return -np.logaddexp(0.0, -x)


def _log_sum_exp(x: np.ndarray) -> np.ndarray:
    top = x.max(axis=0)
    return top + np.log(np.exp(x - top).sum(axis=0))


def _averaged_log_odds(log_odds: np.ndarray) -> np.ndarray:
    """The log-odds of the members' average probability, from theirs (members on the first
    axis): log of the mean probability less log of the mean complement, each a log-sum-exp of
    log-sigmoids, so that it stays exact where the probabilities round to 0 or 1."""
    if len(log_odds) == 1:
        return log_odds[0]
    return _log_sum_exp(_log_sigmoid(log_odds)) - _log_sum_exp(_log_sigmoid(-log_odds))


def _averaged_log_odds_gradient(log_odds: np.ndarray) -> np.ndarray:
    """How the averaged log-odds moves with each member's (members on the first axis): a
    member's share of the probability times its complement, plus its share of the complement
    times its probability (1 for a single network)."""
    if len(log_odds) == 1:
        return np.ones_like(log_odds)
    fraud, legitimate = _log_sigmoid(log_odds), _log_sigmoid(-log_odds)
    share_of_fraud = np.exp(fraud - _log_sum_exp(fraud))
    share_of_legitimate = np.exp(legitimate - _log_sum_exp(legitimate))
    return share_of_fraud * np.exp(legitimate) + share_of_legitimate * np.exp(fraud)
