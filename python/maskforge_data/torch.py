"""PyTorch views of an examples epoch (needs torch; the rest of the package does not).

- :class:`MaskforgeIterableDataset`: one rank's batches in the Rust loader's order, already
  collated (use ``DataLoader(ds, batch_size=None)``); exact resume through ``state``.
- :class:`MaskforgeDataset`: a map-style dataset of single examples in file order, for
  samplers of your own or ``transformers.Trainer`` with :func:`data_collator`.
"""

from __future__ import annotations

from bisect import bisect_right

import torch
from torch.utils.data import Dataset, IterableDataset

from .collate import collate
from .dataset import ExamplesEpoch
from .loader import ExamplesLoader

_COLUMNS = ["input_ids", "token_type_ids", "masked_positions", "masked_labels", "nsp_label", "sop_label"]


def _tensors(batch: dict) -> dict:
    return {k: torch.from_numpy(v) for k, v in batch.items() if k != "example_ids"}


class MaskforgeIterableDataset(IterableDataset):
    """Batches (dicts of int64 tensors named as Hugging Face models expect) of one rank."""

    def __init__(self, epoch_dir: str, split: str = "train", **loader_options) -> None:
        super().__init__()
        self.epoch = ExamplesEpoch(epoch_dir, split)
        self.loader_options = loader_options
        self.loader: ExamplesLoader | None = None

    def __iter__(self):
        self.loader = ExamplesLoader(self.epoch, **self.loader_options)
        return (_tensors(batch) for batch in self.loader)

    def state(self):
        """The loader state after the last batch yielded (save it with a checkpoint)."""
        return self.loader.state() if self.loader else None


class MaskforgeDataset(Dataset):
    """Every example of one split of the epoch, in manifest shard and file row order
    (unpadded lists).

    Holds the epoch's columns as Arrow tables (compact, columnar); for epochs larger than
    memory use :class:`MaskforgeIterableDataset`.
    """

    def __init__(self, epoch_dir: str, split: str = "train") -> None:
        self.epoch = ExamplesEpoch(epoch_dir, split)
        self.tables = [self.epoch.read_shard(i, _COLUMNS) for i in range(len(self.epoch.shards))]
        self.starts = [0]
        for table in self.tables:
            self.starts.append(self.starts[-1] + table.num_rows)
        self.pad_id, self.task = self.epoch.pad_id(), self.epoch.task

    def __len__(self) -> int:
        return self.starts[-1]

    def __getitem__(self, index: int) -> dict:
        if not 0 <= index < len(self):
            raise IndexError(index)
        k = bisect_right(self.starts, index) - 1
        return self.tables[k].slice(index - self.starts[k], 1).to_pylist()[0]

    def data_collator(self, examples: list[dict]) -> dict:
        """Pads a list of examples into Hugging Face-named int64 tensors."""
        return _tensors(collate(examples, self.pad_id, self.task))
