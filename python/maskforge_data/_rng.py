"""maskforge's keyed randomness in Python, bit for bit (crates/masking/src/rng.rs).

Every random choice draws from a ChaCha8 stream seeded with SHA-256 of
``(seed, purpose, epoch, id)``; this module reproduces that stream and the draws the loader
makes from it (``below``, ``shuffle``, ``weighted``), so the Python loader visits examples in
the Rust loader's order. Only numpy is needed.
"""

from __future__ import annotations

import hashlib
import struct

import numpy as np

MASK64 = (1 << 64) - 1
_CONSTANTS = np.array([0x61707865, 0x3320646E, 0x79622D32, 0x6B206574], dtype=np.uint32)
# Blocks computed at once; ChaCha8Rng hands out 4 blocks per refill, but the stream is the same.
_BLOCKS = 64


def key_digest(seed: int, purpose: str, epoch: int, key: int) -> bytes:
    """The 32-byte ChaCha8 seed of ``(seed, purpose, epoch, key)``."""
    return hashlib.sha256(
        b"maskforge/1\0" + purpose.encode() + b"\0" + struct.pack("<QIQ", seed & MASK64, epoch, key & MASK64)
    ).digest()


def mix64(a: int, b: int) -> int:
    """The SplitMix64-style mixer maskforge uses to combine two integers into one key."""
    rotated = (b * 0x9E3779B97F4A7C15) & MASK64
    rotated = ((rotated << 31) | (rotated >> 33)) & MASK64
    z = a ^ rotated
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK64
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK64
    return z ^ (z >> 31)


def _rotl(x: np.ndarray, n: int) -> np.ndarray:
    return (x << np.uint32(n)) | (x >> np.uint32(32 - n))


def _chacha8_blocks(key: np.ndarray, first_block: int, count: int) -> np.ndarray:
    """``count`` consecutive ChaCha8 blocks (64-bit counter, stream 0) as little-endian u32 words."""
    counters = np.arange(first_block, first_block + count, dtype=np.uint64)
    state = np.empty((16, count), dtype=np.uint32)
    state[0:4] = _CONSTANTS[:, None]
    state[4:12] = key[:, None]
    state[12] = (counters & np.uint64(0xFFFFFFFF)).astype(np.uint32)
    state[13] = (counters >> np.uint64(32)).astype(np.uint32)
    state[14:16] = 0
    x = [state[i].copy() for i in range(16)]

    def quarter(a: int, b: int, c: int, d: int) -> None:
        x[a] += x[b]
        x[d] = _rotl(x[d] ^ x[a], 16)
        x[c] += x[d]
        x[b] = _rotl(x[b] ^ x[c], 12)
        x[a] += x[b]
        x[d] = _rotl(x[d] ^ x[a], 8)
        x[c] += x[d]
        x[b] = _rotl(x[b] ^ x[c], 7)

    with np.errstate(over="ignore"):
        for _ in range(4):  # 8 rounds: 4 double rounds
            quarter(0, 4, 8, 12)
            quarter(1, 5, 9, 13)
            quarter(2, 6, 10, 14)
            quarter(3, 7, 11, 15)
            quarter(0, 5, 10, 15)
            quarter(1, 6, 11, 12)
            quarter(2, 7, 8, 13)
            quarter(3, 4, 9, 14)
        out = np.stack(x) + state
    return out.T.reshape(-1)  # block after block, 16 words each


class KeyedRng:
    """The stream of one key; ``next_u64`` and the draws match ``maskforge_masking::KeyedRng``."""

    def __init__(self, seed: int, purpose: str, epoch: int, key: int) -> None:
        self._key = np.frombuffer(key_digest(seed, purpose, epoch, key), dtype="<u4").astype(np.uint32)
        self._block = 0
        self._words: list[int] = []
        self._at = 0

    def next_u64(self) -> int:
        """The next 64 bits: two stream words, the first one low."""
        if self._at + 2 > len(self._words):
            self._words = _chacha8_blocks(self._key, self._block, _BLOCKS).tolist()
            self._block += _BLOCKS
            self._at = 0
        low, high = self._words[self._at], self._words[self._at + 1]
        self._at += 2
        return low | (high << 32)

    def unit(self) -> float:
        """A float in [0, 1) from the top 53 bits."""
        return (self.next_u64() >> 11) * (1.0 / (1 << 53))

    def below(self, n: int) -> int:
        """A uniform integer in [0, n), by rejection (no modulo bias)."""
        n = max(n, 1)
        zone = MASK64 - (MASK64 % n)
        while True:
            x = self.next_u64()
            if x < zone:
                return x % n

    def shuffle(self, items: list) -> None:
        """Fisher-Yates from the end, in place."""
        for i in range(len(items) - 1, 0, -1):
            j = self.below(i + 1)
            items[i], items[j] = items[j], items[i]

    def weighted(self, weights: list[float]) -> int:
        """An index drawn with probability proportional to its weight."""
        total = 0.0
        for w in weights:
            total += w
        x = self.unit() * total
        for i, w in enumerate(weights):
            if x < w:
                return i
            x -= w
        positive = [i for i, w in enumerate(weights) if w > 0.0]
        return positive[-1] if positive else 0
