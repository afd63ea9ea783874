"""Training: a small ensemble of MLPs, early-stopped on validation PR-AUC.

Fraud is rare (about 0.5% of transactions), which the training handles three
ways: each network's output starts at the fraud rate (no wasted epochs on a
50% prior), early stopping and learning-rate decay watch the validation
PR-AUC (not accuracy or loss, which rarity makes meaningless), and the decision
thresholds are chosen afterwards on validation data for target false-positive
rates. Averaging a few networks trained from different seeds smooths the
ranking of the rare positives; the members are joined into one Keras model, so
serving still makes one call per batch.
"""

from __future__ import annotations

import numpy as np
import structlog

from fraud.adapters.tensorflow.model import KerasScorer, as_matrix
from fraud.adapters.tensorflow.network import build_network, keras
from fraud.domain.ports import TrainingData

log = structlog.get_logger(__name__)


class KerasTrainer:
    def __init__(
        self,
        *,
        seed: int = 7,
        members: int = 3,
        hidden: tuple[int, ...] = (128, 64),
        batch_size: int = 512,
        learning_rate: float = 2e-3,
        patience: int = 8,
        verbose: bool = True,
    ) -> None:
        self.seed = seed
        self.members = members
        self.hidden = hidden
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.patience = patience
        self.verbose = verbose

    def fit(self, train: TrainingData, validation: TrainingData, *, epochs: int) -> KerasScorer:
        x_train = as_matrix(train.features)
        y_train = np.asarray(train.labels, dtype=np.float32)
        x_val = as_matrix(validation.features)
        y_val = np.asarray(validation.labels, dtype=np.float32)
        networks = []
        for member in range(self.members):
            if self.verbose and self.members > 1:
                print(f"network {member + 1} of {self.members}", flush=True)
            networks.append(self._fit_one(x_train, y_train, x_val, y_val, epochs, member))
        return KerasScorer(ensemble(networks))

    def _fit_one(
        self,
        x_train: np.ndarray,
        y_train: np.ndarray,
        x_val: np.ndarray,
        y_val: np.ndarray,
        epochs: int,
        member: int,
    ) -> keras.Model:
        seed = self.seed + member
        keras.utils.set_random_seed(seed)
        network = build_network(
            x_train,
            hidden=self.hidden,
            fraud_rate=float(y_train.mean()),
            name=f"fraud_mlp_{member + 1}",
        )
        network.compile(
            optimizer=keras.optimizers.Adam(self.learning_rate),
            loss=keras.losses.BinaryCrossentropy(),
            metrics=[keras.metrics.AUC(curve="PR", name="pr_auc", num_thresholds=500)],
        )
        callbacks: list[keras.callbacks.Callback] = []
        if not self.verbose:  # no progress bar: the progress is an event per epoch
            callbacks.append(EpochLog(member + 1, self.members, epochs))
        if y_val.sum() > 0:
            callbacks += [
                keras.callbacks.EarlyStopping(
                    monitor="val_pr_auc",
                    mode="max",
                    patience=self.patience,
                    restore_best_weights=True,
                ),
                keras.callbacks.ReduceLROnPlateau(
                    monitor="val_pr_auc", mode="max", factor=0.5, patience=2, min_lr=1e-5
                ),
            ]
        history = network.fit(
            x_train,
            y_train,
            validation_data=(x_val, y_val) if len(x_val) else None,
            epochs=epochs,
            batch_size=self.batch_size,
            callbacks=callbacks,
            shuffle=True,
            verbose=1 if self.verbose else 0,
        )
        best = max(history.history.get("val_pr_auc", [float("nan")]))
        log.info(
            "network trained",
            seed=seed,
            epochs=len(history.history["loss"]),
            val_pr_auc=round(best, 4),
        )
        return network


class EpochLog(keras.callbacks.Callback):  # type: ignore[misc]
    """A log event per epoch: training's progress where nobody watches a progress bar."""

    def __init__(self, network: int, networks: int, epochs: int) -> None:
        super().__init__()
        self.network = network
        self.networks = networks
        self.epochs = epochs

    def on_epoch_end(self, epoch: int, logs: dict[str, float] | None = None) -> None:
        figures = {name: round(float(value), 4) for name, value in (logs or {}).items()}
        log.info(
            "epoch trained",
            network=f"{self.network}/{self.networks}",
            epoch=f"{epoch + 1}/{self.epochs}",
            **figures,
        )


def ensemble(networks: list[keras.Model]) -> keras.Model:
    """One model whose score is the members' average: one call scores the batch with all."""
    if len(networks) == 1:
        return networks[0]
    inputs = keras.Input(shape=networks[0].input_shape[1:], dtype="float32", name="features")
    outputs = keras.layers.Average(name="fraud_probability")(
        [network(inputs) for network in networks]
    )
    return keras.Model(inputs, outputs, name="fraud_ensemble")
