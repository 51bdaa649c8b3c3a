"""The sample order of one training epoch, as the Rust loader plans it
(crates/trainer/src/loader/order.rs).

Shards are grouped into streams, one per length bin. Within a stream the shards come in a
keyed random order and each shard's rows in a keyed random permutation, keyed on
``(seed, epoch)``. Step ``t`` takes the next ``global_batch`` positions of one stream (drawn
with probability proportional to what is left, keyed on ``(seed, epoch, t)``); rank ``r`` of
``w`` reads positions ``r, r + w, r + 2w, ...`` of that slice.
"""

from __future__ import annotations

from dataclasses import dataclass
from bisect import bisect_right

from ._rng import MASK64, KeyedRng, mix64

_ORDER = "loader-order"
_BIN = "loader-bin"


@dataclass
class Stream:
    """The shards of one length bin in their keyed order."""

    shards: list[int]
    """Manifest indices of the shards, in stream order."""
    starts: list[int]
    """Stream position of each shard's first row, and the stream length last."""

    def __len__(self) -> int:
        return self.starts[-1]

    def shard_at(self, position: int) -> int:
        """The index into ``shards`` of the shard holding stream position ``position``."""
        return bisect_right(self.starts, position) - 1


@dataclass(frozen=True)
class StepSlice:
    """What one step reads: ``length`` positions of stream ``stream`` from ``first``."""

    stream: int
    first: int
    length: int

    def rank_positions(self, rank: int, world_size: int) -> range:
        """The stream positions rank ``rank`` of ``world_size`` reads, in order."""
        return range(self.first + rank, self.first + self.length, max(world_size, 1))


class SampleOrder:
    """The order of one training epoch over a manifest's shards."""

    def __init__(self, shards: list[dict], seed: int, epoch: int, global_batch: int, held_out=()) -> None:
        self.seed, self.epoch = seed, epoch
        self.global_batch = max(global_batch, 1)
        held = set(held_out)
        # Rust sorts Option<u8>: no bin first.
        bins = sorted({s.get("bin") for s in shards}, key=lambda b: -1 if b is None else b)
        self.streams: list[Stream] = []
        for b in bins:
            members = [i for i, s in enumerate(shards) if s.get("bin") == b and i not in held]
            bin_key = MASK64 if b is None else b
            KeyedRng(seed, _ORDER, epoch, mix64(bin_key, 0)).shuffle(members)
            starts = [0]
            for i in members:
                starts.append(starts[-1] + shards[i]["rows"])
            self.streams.append(Stream(members, starts))
        self.cursors = [0] * len(self.streams)
        self.steps = 0

    def next_step(self) -> StepSlice | None:
        """Plans the next step; ``None`` at the end of the epoch."""
        remaining = [len(s) - c for s, c in zip(self.streams, self.cursors)]
        if all(r == 0 for r in remaining):
            return None
        if len(remaining) == 1:
            stream = 0
        else:
            stream = KeyedRng(self.seed, _BIN, self.epoch, self.steps).weighted([float(r) for r in remaining])
        first = self.cursors[stream]
        length = min(self.global_batch, remaining[stream])
        self.cursors[stream] += length
        self.steps += 1
        return StepSlice(stream, first, length)

    def row_permutation(self, shard: int, rows: int) -> list[int]:
        """Entry ``i`` is the file row of manifest shard ``shard`` at stream offset ``i``."""
        order = list(range(rows))
        KeyedRng(self.seed, _ORDER, self.epoch, mix64(shard, 1)).shuffle(order)
        return order
