"""The exact-order loader: the batches one rank of ``world_size`` reads in one training epoch,
in the global order of the Rust loader (``maskforge-train``), with exact resume from a small
state (``{"epoch", "steps", "samples"}``, the Rust ``LoaderState``). Shards are read through
:meth:`ExamplesEpoch.read_shard`, so a shard that breaks the contract stops the iteration with a
:class:`~maskforge_data.ContractError` naming the file and row, as the Rust loader stops.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

from .collate import collate
from .dataset import ExamplesEpoch
from .order import SampleOrder

_COLUMNS = ["example_id", "input_ids", "token_type_ids", "masked_positions", "masked_labels", "nsp_label", "sop_label"]


@dataclass
class LoaderState:
    """Where a training epoch stands: its number, the steps taken and the examples read (all ranks)."""

    epoch: int = 0
    steps: int = 0
    samples: int = 0

    def to_dict(self) -> dict:
        return asdict(self)


class ExamplesLoader:
    """Iterates the batches of one training epoch of ``epoch_dir`` for one rank.

    Every step, the ``global_batch`` examples of all ranks together come from one length bin;
    this rank gets every ``world_size``-th of them, so ``global_batch`` must be a multiple of
    ``world_size``. Pass the ``state`` saved with a checkpoint to continue exactly after it.
    """

    def __init__(
        self,
        epoch_dir: str | ExamplesEpoch,
        *,
        seed: int,
        global_batch: int,
        rank: int = 0,
        world_size: int = 1,
        state: LoaderState | dict | None = None,
        with_example_ids: bool = False,
        held_out=(),
    ) -> None:
        if world_size < 1 or not 0 <= rank < world_size:
            raise ValueError(f"rank {rank} is not below the world size {world_size}")
        if global_batch % world_size:
            raise ValueError(f"{global_batch} examples per step do not split evenly over {world_size} ranks")
        self.epoch = epoch_dir if isinstance(epoch_dir, ExamplesEpoch) else ExamplesEpoch(epoch_dir)
        self.rank, self.world_size = rank, world_size
        self.with_example_ids = with_example_ids
        state = LoaderState(**state) if isinstance(state, dict) else (state or LoaderState())
        self.order = SampleOrder(self.epoch.shards, seed, state.epoch, global_batch, held_out)
        samples = 0
        while self.order.steps < state.steps:
            step = self.order.next_step()
            if step is None:
                break
            samples += step.length
        if self.order.steps != state.steps or samples != state.samples:
            raise ValueError(
                f"step {state.steps} / {state.samples} examples does not match this dataset's order of epoch "
                f"{state.epoch} ({self.order.steps} steps, {samples} examples)"
            )
        self._state = state
        self.pad_id = self.epoch.pad_id()
        self.task = self.epoch.task
        self._loaded: dict[int, tuple[int, list[dict]]] = {}

    def state(self) -> LoaderState:
        """The state after the last batch returned (save it with a checkpoint)."""
        return LoaderState(**asdict(self._state))

    def _example(self, stream_index: int, position: int) -> dict:
        stream = self.order.streams[stream_index]
        k = stream.shard_at(position)
        loaded = self._loaded.get(stream_index)
        if loaded is None or loaded[0] != k:
            shard = stream.shards[k]
            rows = self.epoch.read_shard(shard, columns=_COLUMNS).to_pylist()
            rows = [rows[i] for i in self.order.row_permutation(shard, len(rows))]
            self._loaded[stream_index] = loaded = (k, rows)
        return loaded[1][position - stream.starts[k]]

    def __iter__(self):
        return self

    def __next__(self) -> dict:
        step = self.order.next_step()
        if step is None:
            raise StopIteration
        examples = [self._example(step.stream, p) for p in step.rank_positions(self.rank, self.world_size)]
        self._state.steps += 1
        self._state.samples += step.length
        batch = collate(examples, self.pad_id, self.task)
        if self.with_example_ids:
            batch["example_ids"] = [e["example_id"] for e in examples]
        return batch
