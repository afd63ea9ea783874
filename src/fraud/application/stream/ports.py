"""What the stream needs from outside that the domain's ports do not say: where the preprocess
stage keeps its users' profiles between batches, and between the workers that own them."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Protocol

from fraud.application.stream.stage import BatchOutput
from fraud.domain.features import BehaviourProfiles
from fraud.domain.ports import AssignedPartition, MessageBus


class ProfileStore(Protocol):
    """Where the profiles of newly owned users come from, and where their changes go.

    The stage hands over what it knows of its batch (whose user is in which partition, how
    far each partition is handled); how that is written down, and read back by a worker
    taking a partition over, is the store's: ``adapters/state_store``.
    """

    # Whether the merchant counts of this worker's partitions are written for the others.
    shares_counts: bool

    def restore(
        self,
        profiles: BehaviourProfiles,
        assigned: Sequence[AssignedPartition],
        bus: MessageBus,
    ) -> Sequence[AssignedPartition]:
        """Rebuild the users of ``assigned`` into ``profiles`` (emptied, then given every
        label and merchant count by the caller); returns the partitions that must resume
        elsewhere than at their committed offset, and where."""

    def changes(
        self,
        profiles: BehaviourProfiles,
        owners: Mapping[str, int],
        handled: Mapping[int, int],
        owned: set[int],
    ) -> BatchOutput:
        """What to write down once a batch is handled (``owners``: the partition of each
        user it held; ``handled``: each partition's offset handled up to, messages held
        back excluded; ``owned``: this worker's partitions); published after the batch's
        outputs, before its offsets commit."""
