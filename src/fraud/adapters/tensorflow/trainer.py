"""Training: class-weighted binary cross-entropy, early stopping on validation PR-AUC."""

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
        batch_size: int = 256,
        learning_rate: float = 1e-3,
        patience: int = 5,
        verbose: bool = True,
    ) -> None:
        self.seed = seed
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.patience = patience
        self.verbose = verbose

    def fit(self, train: TrainingData, validation: TrainingData, *, epochs: int) -> KerasScorer:
        keras.utils.set_random_seed(self.seed)
        x_train = as_matrix(train.features)
        y_train = np.asarray(train.labels, dtype=np.float32)
        x_val = as_matrix(validation.features)
        y_val = np.asarray(validation.labels, dtype=np.float32)

        network = build_network(x_train)
        network.compile(
            optimizer=keras.optimizers.Adam(self.learning_rate),
            loss=keras.losses.BinaryCrossentropy(),
            metrics=[keras.metrics.AUC(curve="PR", name="pr_auc")],
        )
        callbacks = []
        has_validation_fraud = bool(y_val.sum())
        if has_validation_fraud:
            callbacks.append(
                keras.callbacks.EarlyStopping(
                    monitor="val_pr_auc",
                    mode="max",
                    patience=self.patience,
                    restore_best_weights=True,
                )
            )
        network.fit(
            x_train,
            y_train,
            validation_data=(x_val, y_val) if len(x_val) else None,
            epochs=epochs,
            batch_size=self.batch_size,
            class_weight=_balanced_weights(y_train),
            callbacks=callbacks,
            shuffle=True,
            verbose=1 if self.verbose else 0,
        )
        return KerasScorer(network)


def _balanced_weights(labels: np.ndarray) -> dict[int, float]:
    """Weight the rare class up, by the square root of the imbalance.

    Full balancing over-corrects with fraud this rare and makes the network
    chase noise; the decision thresholds are chosen on validation data anyway.
    """
    positives = float(labels.sum())
    negatives = float(len(labels) - positives)
    if positives == 0 or negatives == 0:
        return {0: 1.0, 1: 1.0}
    return {0: 1.0, 1: float(np.sqrt(negatives / positives))}
