//! Keyed randomness (masking.md section 1): every random decision draws from a ChaCha8 stream
//! seeded by SHA-256 of `(seed, purpose, epoch, id)`. There is no global or sequential RNG, so
//! output never depends on threads, workers, listing order or restarts.

use rand_chacha::ChaCha8Rng;
use rand_core::{RngCore, SeedableRng};
use sha2::{Digest, Sha256};

/// What a random stream is for; part of its key so that streams never collide.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    /// Building the pairs of one document (per pair-epoch).
    Pairs,
    /// Choosing negative documents for one document.
    Negative,
    /// Masking one example (per epoch).
    Mask,
    /// The position of one example in the epoch's order.
    Shuffle,
    /// A trainer's order of shards and rows for one training epoch.
    LoaderOrder,
    /// A trainer's choice of length bin for one step.
    LoaderBin,
    /// A model's initial weights.
    Init,
    /// A model's dropout masks for one step.
    Dropout,
    /// The split (train, validation, test) of one document, for every epoch.
    Split,
    /// Whether an epoch draws one more copy of a document of a weighted source.
    Weight,
}

impl Purpose {
    fn tag(self) -> &'static [u8] {
        match self {
            Purpose::Pairs => b"pairs",
            Purpose::Negative => b"negative",
            Purpose::Mask => b"mask",
            Purpose::Shuffle => b"shuffle",
            Purpose::LoaderOrder => b"loader-order",
            Purpose::LoaderBin => b"loader-bin",
            Purpose::Init => b"init",
            Purpose::Dropout => b"dropout",
            Purpose::Split => b"split",
            Purpose::Weight => b"weight",
        }
    }
}

fn key_digest(seed: u64, purpose: Purpose, epoch: u32, id: u64) -> [u8; 32] {
    Sha256::new()
        .chain_update(b"maskforge/1\0")
        .chain_update(purpose.tag())
        .chain_update([0])
        .chain_update(seed.to_le_bytes())
        .chain_update(epoch.to_le_bytes())
        .chain_update(id.to_le_bytes())
        .finalize()
        .into()
}

/// A keyed 64-bit value (no stream): used as the sort key of the global shuffle.
pub fn keyed_u64(seed: u64, purpose: Purpose, epoch: u32, id: u64) -> u64 {
    let digest = key_digest(seed, purpose, epoch, id);
    let mut first = [0u8; 8];
    first.copy_from_slice(&digest[..8]);
    u64::from_le_bytes(first)
}

/// Mixes two 64-bit values into one (SplitMix64 finalizer); used to name examples.
pub fn mix64(a: u64, b: u64) -> u64 {
    let mut z = a ^ b.wrapping_mul(0x9E37_79B9_7F4A_7C15).rotate_left(31);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// A random stream for one key.
pub struct KeyedRng(ChaCha8Rng);

impl KeyedRng {
    /// The stream of `(seed, purpose, epoch, id)`.
    pub fn new(seed: u64, purpose: Purpose, epoch: u32, id: u64) -> Self {
        Self(ChaCha8Rng::from_seed(key_digest(seed, purpose, epoch, id)))
    }

    /// 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0.next_u64()
    }

    /// Uniform in `[0, 1)` with 53 bits of precision.
    pub fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }

    /// True with probability `p`.
    pub fn chance(&mut self, p: f64) -> bool {
        self.unit() < p
    }

    /// Uniform in `0..n` without modulo bias; `n` must be positive.
    pub fn below(&mut self, n: usize) -> usize {
        let n = n.max(1) as u64;
        let zone = u64::MAX - (u64::MAX % n);
        loop {
            let x = self.next_u64();
            if x < zone {
                return (x % n) as usize;
            }
        }
    }

    /// Uniform in `lo..=hi`.
    pub fn between(&mut self, lo: usize, hi: usize) -> usize {
        lo + self.below(hi - lo + 1)
    }

    /// Fisher-Yates shuffle.
    pub fn shuffle<T>(&mut self, items: &mut [T]) {
        for i in (1..items.len()).rev() {
            items.swap(i, self.below(i + 1));
        }
    }

    /// An index drawn with probability proportional to `weights` (non-negative, positive sum).
    pub fn weighted(&mut self, weights: &[f64]) -> usize {
        let total: f64 = weights.iter().sum();
        let mut x = self.unit() * total;
        for (i, w) in weights.iter().enumerate() {
            if x < *w {
                return i;
            }
            x -= w;
        }
        weights.iter().rposition(|w| *w > 0.0).unwrap_or(0)
    }

    /// A geometric draw on `1..` with success probability `p` (SpanBERT span lengths).
    pub fn geometric(&mut self, p: f64) -> usize {
        let u = 1.0 - self.unit(); // (0, 1]
        (u.ln() / (1.0 - p).ln()).floor() as usize + 1
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Pinned values: the stream is part of the output contract, and `python/maskforge_data/_rng.py`
    /// reproduces it (its test pins the same numbers).
    #[test]
    fn the_stream_of_a_key_is_pinned() {
        let mut r = KeyedRng::new(1, Purpose::Mask, 0, 7);
        let first: Vec<u64> = (0..3).map(|_| r.next_u64()).collect();
        assert_eq!(first, [4896090564614335870, 12272128958678847177, 16258599240749563629]);
        assert_eq!(mix64(5, 0), 13168350753275463132);
        assert_eq!(mix64(u64::MAX, 0), 13029008266876403067);
    }

    #[test]
    fn same_key_same_stream_other_key_other_stream() {
        let a: Vec<u64> = (0..4)
            .map({
                let mut r = KeyedRng::new(1, Purpose::Mask, 0, 7);
                move |_| r.next_u64()
            })
            .collect();
        let mut again = KeyedRng::new(1, Purpose::Mask, 0, 7);
        assert_eq!(a, (0..4).map(|_| again.next_u64()).collect::<Vec<_>>());
        for other in [
            KeyedRng::new(2, Purpose::Mask, 0, 7),
            KeyedRng::new(1, Purpose::Pairs, 0, 7),
            KeyedRng::new(1, Purpose::Mask, 1, 7),
            KeyedRng::new(1, Purpose::Mask, 0, 8),
        ] {
            let mut other = other;
            assert_ne!(a[0], other.next_u64());
        }
    }

    #[test]
    fn draws_are_in_range_and_roughly_uniform() {
        let mut r = KeyedRng::new(3, Purpose::Shuffle, 0, 0);
        let mut counts = [0usize; 5];
        for _ in 0..50_000 {
            counts[r.below(5)] += 1;
        }
        assert!(counts.iter().all(|&c| (9_000..11_000).contains(&c)), "{counts:?}");
        let heads = (0..20_000).filter(|_| r.chance(0.3)).count();
        assert!((5_600..6_400).contains(&heads), "{heads}");
        let mut w = [0usize; 3];
        for _ in 0..30_000 {
            w[r.weighted(&[3.0, 2.0, 1.0])] += 1;
        }
        assert!(
            (14_000..16_000).contains(&w[0]) && (4_400..5_600).contains(&w[2]),
            "{w:?}"
        );
        let mean = (0..20_000).map(|_| r.geometric(0.2) as f64).sum::<f64>() / 20_000.0;
        assert!((4.8..5.2).contains(&mean), "geometric(0.2) has mean 5, got {mean}");
    }
}
