//! Splitting a job's units over worker processes started by a scheduler. Worker `i` of `n` takes
//! the units a deterministic rule gives it; object storage is the only shared state.

/// Which share of the work this process does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Workers {
    /// Number of worker processes.
    pub count: usize,
    /// This process's index, `0..count`.
    pub index: usize,
}

impl Workers {
    /// One process doing everything.
    pub fn single() -> Self {
        Self { count: 1, index: 0 }
    }

    /// The worker of every unit: largest units first, each to the worker with the least work
    /// so far (lowest index on ties). Depends only on the sizes, so every worker computes the
    /// same assignment.
    pub fn assign(count: usize, sizes: &[u64]) -> Vec<usize> {
        let count = count.max(1);
        let mut order: Vec<usize> = (0..sizes.len()).collect();
        order.sort_by(|&a, &b| sizes[b].cmp(&sizes[a]).then(a.cmp(&b)));
        let mut load = vec![0u64; count];
        let mut owner = vec![0; sizes.len()];
        for unit in order {
            let worker = (0..count).min_by_key(|&w| (load[w], w)).unwrap_or(0);
            load[worker] += sizes[unit];
            owner[unit] = worker;
        }
        owner
    }
}

#[cfg(test)]
mod tests {
    use super::Workers;

    #[test]
    fn assignment_balances_bytes_and_is_deterministic() {
        let sizes = [100, 10, 60, 40, 30, 30];
        let owner = Workers::assign(2, &sizes);
        let load = |w| {
            sizes
                .iter()
                .zip(&owner)
                .filter(|(_, o)| **o == w)
                .map(|(s, _)| s)
                .sum::<u64>()
        };
        assert_eq!(load(0) + load(1), 270);
        assert!(load(0).abs_diff(load(1)) <= 10, "{owner:?}");
        assert_eq!(owner, Workers::assign(2, &sizes));
        assert!(Workers::assign(1, &sizes).iter().all(|&w| w == 0));
    }
}
