//! The layout of an epoch's output: length bins, rank ranges, and the slice of its bin's
//! shuffled order each shard holds (balanced: shard k of S holds `N div S` or `N div S + 1`
//! examples). Pure arithmetic, shared by the map and reduce phases.

use maskforge_schema::Split;

/// Where an example's length falls: the first bin whose bound it does not pass.
pub struct Bins {
    bounds: Vec<u32>,
    binned: bool,
}

impl Bins {
    /// The bins of `output.length_bins` (`bounds`), closed by `max_seq_length`.
    pub fn new(bounds: &[u32], max_seq_length: u32) -> Self {
        let mut all = bounds.to_vec();
        if all.last().is_some_and(|&b| b < max_seq_length) {
            all.push(max_seq_length);
        }
        Self {
            bounds: all,
            binned: !bounds.is_empty(),
        }
    }

    /// Whether length bins are configured (the `bin` column and `bin-BB/` folders).
    pub fn binned(&self) -> bool {
        self.binned
    }

    /// Number of bins (1 without binning).
    pub fn count(&self) -> usize {
        self.bounds.len().max(1)
    }

    /// The bin of an example of `length` tokens (0 without binning).
    pub fn of(&self, length: usize) -> u8 {
        if !self.binned {
            return 0;
        }
        self.bounds.iter().position(|&b| length <= b as usize).unwrap_or(0) as u8
    }
}

/// Rank ranges per bin for `shards` output shards per bin: several per shard, so a reducer
/// reads little beyond its shard.
pub fn ranges_per_bin(shards: u32) -> usize {
    (shards.max(1) as usize * 4).min(1 << 16)
}

/// The rank range of `rank` among `ranges` equal parts of the `u64` space.
pub fn range_of(rank: u64, ranges: usize) -> usize {
    ((u128::from(rank) * ranges as u128) >> 64) as usize
}

/// The rows of each shard of a bin with `n` examples in `shards` shards.
pub fn balanced(n: u64, shards: u32) -> Vec<u64> {
    let s = u64::from(shards.max(1));
    (0..s).map(|k| n / s + u64::from(k < n % s)).collect()
}

/// One output shard: where it goes and which interval of its stream's order it holds (a
/// stream is one length bin of one split).
#[derive(Debug, Clone)]
pub struct ShardSlice {
    /// Path inside the examples dataset.
    pub path: String,
    /// The split it belongs to.
    pub split: Split,
    /// Length bin (`None` without binning).
    pub bin: Option<u8>,
    /// The stream: `section * bins + bin` (the bin is 0 without binning).
    pub stream: usize,
    /// Position within the stream of the shard's first example.
    pub first: u64,
    /// Examples in the shard.
    pub rows: u64,
    /// Position (`example_id`) of the shard's first example within its split.
    pub first_example_id: u64,
}

/// The shards of `split`, whose streams start at `first_stream`, with `bin_totals[b]`
/// examples in bin `b`, `shards` per bin; a bin without examples has no shards when binned.
/// `example_id`s run over the bins in order, from 0 in each split. Paths are in the split's
/// folder.
pub fn shard_slices(
    split: Split,
    first_stream: usize,
    bin_totals: &[u64],
    shards: u32,
    binned: bool,
) -> Vec<ShardSlice> {
    let mut slices = Vec::new();
    let mut next_id = 0u64;
    for (bin, &count) in bin_totals.iter().enumerate() {
        if binned && count == 0 {
            continue;
        }
        let mut first = 0u64;
        for (k, rows) in balanced(count, shards).into_iter().enumerate() {
            let folder = split.folder();
            let path = if binned {
                format!("{folder}bin-{bin:02}/part-{k:05}.parquet")
            } else {
                format!("{folder}part-{k:05}.parquet")
            };
            slices.push(ShardSlice {
                path,
                split,
                bin: binned.then_some(bin as u8),
                stream: first_stream + bin,
                first,
                rows,
                first_example_id: next_id,
            });
            first += rows;
            next_id += rows;
        }
    }
    slices
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shards_differ_by_at_most_one() {
        assert_eq!(balanced(10, 3), [4, 3, 3]);
        assert_eq!(balanced(2, 4), [1, 1, 0, 0]);
        assert_eq!(balanced(9, 3), [3, 3, 3]);
    }

    #[test]
    fn ranges_split_the_rank_space_evenly() {
        assert_eq!(range_of(0, 8), 0);
        assert_eq!(range_of(u64::MAX, 8), 7);
        assert_eq!(range_of(u64::MAX / 2, 2), 0);
        assert_eq!(range_of(u64::MAX / 2 + 1, 2), 1);
        assert_eq!(range_of(12345, 1), 0);
    }

    #[test]
    fn slices_number_examples_densely_across_bins() {
        let slices = shard_slices(Split::Train, 0, &[5, 0, 2], 2, true);
        let paths: Vec<&str> = slices.iter().map(|s| s.path.as_str()).collect();
        assert_eq!(
            paths,
            [
                "bin-00/part-00000.parquet",
                "bin-00/part-00001.parquet",
                "bin-02/part-00000.parquet",
                "bin-02/part-00001.parquet"
            ]
        );
        let ids: Vec<(u64, u64, u64)> = slices.iter().map(|s| (s.first_example_id, s.first, s.rows)).collect();
        assert_eq!(ids, [(0, 0, 3), (3, 3, 2), (5, 0, 1), (6, 1, 1)]);
        let streams: Vec<usize> = slices.iter().map(|s| s.stream).collect();
        assert_eq!(streams, [0, 0, 2, 2]);
        let flat = shard_slices(Split::Train, 0, &[0], 3, false);
        assert_eq!(flat.len(), 3, "an empty unbinned epoch still has its shards");
        assert!(flat.iter().all(|s| s.rows == 0 && s.bin.is_none()));
        let held_out = shard_slices(Split::Validation, 3, &[1, 4, 0], 2, true);
        let placed: Vec<(&str, usize, u64)> = held_out
            .iter()
            .map(|s| (s.path.as_str(), s.stream, s.first_example_id))
            .collect();
        assert_eq!(
            placed,
            [
                ("validation/bin-00/part-00000.parquet", 3, 0),
                ("validation/bin-00/part-00001.parquet", 3, 1),
                ("validation/bin-01/part-00000.parquet", 4, 1),
                ("validation/bin-01/part-00001.parquet", 4, 3)
            ]
        );
    }

    #[test]
    fn bins_close_at_the_longest_example() {
        let bins = Bins::new(&[128, 256], 512);
        assert_eq!(
            (bins.count(), bins.of(100), bins.of(128), bins.of(129), bins.of(512)),
            (3, 0, 0, 1, 2)
        );
        let none = Bins::new(&[], 512);
        assert_eq!((none.count(), none.of(500), none.binned()), (1, 0, false));
    }
}
