//! The exchange between the phases of an epoch, kept in object storage (one process keeps it in
//! a local folder). Each phase has numbered units. A worker claims a unit (conditional create of
//! `claims/<phase>-<unit>`), does it, and commits it with `done/<phase>-<unit>.json` written after
//! the unit's objects. A worker first does the units the deterministic assignment gives it, then
//! takes units nobody has claimed, then waits until every unit of the phase is committed. Claims
//! are per worker index, so a rerun of a killed worker takes its own claims back; claims made
//! with another number of workers are taken by anyone.

use crate::PipelineError;
use crate::workers::Workers;
use maskforge_store::Location;
use rayon::prelude::*;
use serde::Serialize;
use serde::de::DeserializeOwned;
use std::collections::BTreeSet;
use std::time::{Duration, Instant};

/// A phase of the epoch job.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// Document shards routed to partition groups.
    Route,
    /// Partition groups built into sorted, range-indexed runs of examples.
    Map,
    /// Output shards merged from the runs.
    Reduce,
}

impl Phase {
    fn name(self) -> &'static str {
        match self {
            Phase::Route => "route",
            Phase::Map => "map",
            Phase::Reduce => "reduce",
        }
    }
}

/// How a phase ended for this worker.
#[derive(Debug, PartialEq, Eq)]
pub enum PhaseEnd {
    /// Every unit is committed.
    Complete,
    /// Another worker already published the dataset (and may have removed the exchange).
    Published,
}

/// One phase as the exchange runs it: numbered units of known sizes, each done on the worker
/// pool and committed with its result (route, map and reduce implement it).
pub trait PhaseWork: Sync {
    /// Which phase this is (names its claims and markers).
    const PHASE: Phase;
    /// What a unit commits, read back by every worker once the phase is complete.
    type Output: Serialize + DeserializeOwned;
    /// The sizes of the units, which assign them to workers.
    fn unit_sizes(&self) -> Vec<u64>;
    /// Does unit `unit`, writing its objects; returns what it commits.
    fn run_unit(&self, unit: usize) -> Result<Self::Output, PipelineError>;
}

/// The exchange folder of one epoch run, seen by one worker.
pub struct Exchange {
    root: Location,
    workers: Workers,
    /// Published when this object exists: waiting stops.
    manifest: Location,
    /// How long to wait for units other workers claimed.
    patience: Duration,
}

impl Exchange {
    /// The exchange under `root`, for `workers`, ending when `manifest` appears.
    pub fn new(root: Location, workers: Workers, manifest: Location, patience: Duration) -> Self {
        Self {
            root,
            workers,
            manifest,
            patience,
        }
    }

    /// The location of an object of the exchange.
    pub fn object(&self, relative: &str) -> Location {
        self.root.join(relative)
    }

    fn done(&self, phase: Phase, unit: usize) -> Location {
        self.root.join(&format!("done/{}-{unit:05}.json", phase.name()))
    }

    fn claim_of(&self, phase: Phase, unit: usize) -> Location {
        self.root.join(&format!("claims/{}-{unit:05}", phase.name()))
    }

    /// Records `value` as the result of a unit (after the unit's objects are written).
    pub async fn commit<T: Serialize>(&self, phase: Phase, unit: usize, value: &T) -> Result<(), PipelineError> {
        crate::dataset::publish(&self.done(phase, unit), value).await
    }

    /// The committed result of a unit, `None` when it is not committed.
    pub async fn result<T: DeserializeOwned>(&self, phase: Phase, unit: usize) -> Result<Option<T>, PipelineError> {
        let location = self.done(phase, unit);
        match location.read().await {
            Ok(bytes) => serde_json::from_slice(&bytes)
                .map(Some)
                .map_err(|e| PipelineError::Internal(format!("unit marker {} cannot be read: {e}", location.url()))),
            Err(maskforge_store::StoreError::NotFound { .. }) => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    /// The committed results of every unit of a phase, in unit order.
    pub async fn results<T: DeserializeOwned>(&self, phase: Phase, units: usize) -> Result<Vec<T>, PipelineError> {
        let mut all = Vec::with_capacity(units);
        for unit in 0..units {
            let value = self.result(phase, unit).await?.ok_or_else(|| {
                PipelineError::Internal(format!(
                    "{} unit {unit} lost its marker under {}",
                    phase.name(),
                    self.root.url()
                ))
            })?;
            all.push(value);
        }
        Ok(all)
    }

    /// Tries to take a unit: true when this worker may do it.
    async fn claim(&self, phase: Phase, unit: usize) -> Result<bool, PipelineError> {
        let location = self.claim_of(phase, unit);
        let me = format!("{}/{}", self.workers.index, self.workers.count);
        if location.create(me.clone().into()).await? {
            return Ok(true);
        }
        let holder = match location.read().await {
            Ok(bytes) => String::from_utf8_lossy(&bytes).into_owned(),
            Err(maskforge_store::StoreError::NotFound { .. }) => String::new(),
            Err(e) => return Err(e.into()),
        };
        if holder == me {
            return Ok(true); // an earlier run of this worker index
        }
        let stale = holder
            .split_once('/')
            .is_none_or(|(_, count)| count != self.workers.count.to_string());
        if stale {
            location.write(me.into()).await?;
            return Ok(true);
        }
        Ok(false)
    }

    /// The committed units of a phase (one listing).
    async fn committed(&self, phase: Phase) -> Result<BTreeSet<usize>, PipelineError> {
        let folder = self.root.join("done");
        let prefix = format!("{}-", phase.name());
        Ok(folder
            .entries()
            .await?
            .iter()
            .filter_map(|entry| {
                entry
                    .relative
                    .strip_prefix(&prefix)?
                    .strip_suffix(".json")?
                    .parse()
                    .ok()
            })
            .collect())
    }

    /// Runs `work`'s phase with this worker's units done on `pool`, batches of as many units
    /// as it has threads; every unit's committed result in unit order, or `None` when another
    /// worker published the epoch meanwhile.
    pub fn run_phase<W: PhaseWork>(
        &self,
        work: &W,
        handle: &tokio::runtime::Handle,
        pool: &rayon::ThreadPool,
    ) -> Result<Option<Vec<W::Output>>, PipelineError> {
        let sizes = work.unit_sizes();
        let end = self.run(handle, W::PHASE, &sizes, pool.current_num_threads(), |units| {
            pool.install(|| {
                units.par_iter().try_for_each(|&unit| {
                    let output = work.run_unit(unit)?;
                    handle.block_on(self.commit(W::PHASE, unit, &output))
                })
            })
        })?;
        match end {
            PhaseEnd::Published => Ok(None),
            PhaseEnd::Complete => handle.block_on(self.results(W::PHASE, sizes.len())).map(Some),
        }
    }

    /// Runs a phase of `sizes.len()` units: this worker's share (by [`Workers::assign`] on
    /// `sizes`), then unclaimed units, then waits for the rest. `work` gets batches of claimed,
    /// uncommitted units and must commit each one.
    fn run(
        &self,
        handle: &tokio::runtime::Handle,
        phase: Phase,
        sizes: &[u64],
        batch: usize,
        mut work: impl FnMut(&[usize]) -> Result<(), PipelineError>,
    ) -> Result<PhaseEnd, PipelineError> {
        let units = sizes.len();
        let owners = Workers::assign(self.workers.count, sizes);
        let mut committed = handle.block_on(self.committed(phase))?;
        let mine: Vec<usize> = (0..units)
            .filter(|u| owners[*u] == self.workers.index && !committed.contains(u))
            .collect();
        // Claimed a batch at a time, so that idle workers can take what this one has not begun.
        for chunk in mine.chunks(batch.max(1)) {
            let mut claimed = Vec::with_capacity(chunk.len());
            for &unit in chunk {
                if handle.block_on(self.claim(phase, unit))? {
                    claimed.push(unit);
                }
            }
            if !claimed.is_empty() {
                work(&claimed)?;
            }
        }
        let started = Instant::now();
        let mut pause = Duration::from_millis(100);
        loop {
            committed = handle.block_on(self.committed(phase))?;
            if committed.len() >= units && (0..units).all(|u| committed.contains(&u)) {
                return Ok(PhaseEnd::Complete);
            }
            if handle.block_on(self.manifest.head())?.is_some() {
                return Ok(PhaseEnd::Published);
            }
            // Units nobody took (their worker has not started, or never will): take them,
            // starting after this worker's index so that idle workers spread out.
            let mut taken = Vec::new();
            for unit in (0..units).map(|u| (u + self.workers.index * units / self.workers.count) % units) {
                if taken.len() >= batch.max(1) {
                    break;
                }
                if !committed.contains(&unit) && handle.block_on(self.claim(phase, unit))? {
                    taken.push(unit);
                }
            }
            if !taken.is_empty() {
                work(&taken)?;
                continue;
            }
            if started.elapsed() > self.patience {
                let missing: Vec<String> = (0..units)
                    .filter(|u| !committed.contains(u))
                    .take(8)
                    .map(|u| u.to_string())
                    .collect();
                return Err(PipelineError::Internal(format!(
                    "gave up after {}s waiting for {} unit(s) {} claimed by other workers under {}; \
                     rerun the workers that stopped (a rerun takes its claims back)",
                    self.patience.as_secs(),
                    phase.name(),
                    missing.join(", "),
                    self.root.url()
                )));
            }
            std::thread::sleep(pause);
            pause = (pause * 2).min(Duration::from_secs(2));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn exchange(name: &str, index: usize, count: usize) -> Exchange {
        let root = Location::parse(&format!("memory://{name}/x")).unwrap();
        let manifest = root.join("manifest.json");
        Exchange::new(root, Workers { count, index }, manifest, Duration::from_secs(5))
    }

    #[test]
    fn claims_belong_to_a_worker_index_and_its_reruns() {
        let runtime = crate::dataset::io_runtime().unwrap();
        let (a, b) = (exchange("claims", 0, 2), exchange("claims", 1, 2));
        runtime.block_on(async {
            assert!(a.claim(Phase::Map, 3).await.unwrap());
            assert!(!b.claim(Phase::Map, 3).await.unwrap(), "another worker's claim");
            assert!(
                a.claim(Phase::Map, 3).await.unwrap(),
                "a rerun of worker 0 takes it back"
            );
            let other_run = exchange("claims", 1, 3);
            assert!(
                other_run.claim(Phase::Map, 3).await.unwrap(),
                "claims of another worker count are stale"
            );
            let same_run = exchange("claims", 2, 3);
            assert!(!same_run.claim(Phase::Map, 3).await.unwrap());
        });
    }

    #[test]
    fn a_worker_takes_units_nobody_claimed_and_waits_for_the_others() {
        let runtime = crate::dataset::io_runtime().unwrap();
        let handle = runtime.handle().clone();
        let (a, b) = (exchange("steal", 0, 3), exchange("steal", 1, 3));
        // Worker 1 has claimed unit 1 and commits it a little later; worker 2 never starts.
        assert!(handle.block_on(b.claim(Phase::Route, 1)).unwrap());
        let late = std::thread::spawn({
            let handle = handle.clone();
            move || {
                std::thread::sleep(Duration::from_millis(300));
                handle.block_on(b.commit(Phase::Route, 1, &"from worker 1")).unwrap();
            }
        });
        let mut done = Vec::new();
        let end = a
            .run(&handle, Phase::Route, &[1, 1, 1], 1, |units| {
                for &unit in units {
                    handle.block_on(a.commit(Phase::Route, unit, &"from worker 0"))?;
                    done.push(unit);
                }
                Ok(())
            })
            .unwrap();
        late.join().unwrap();
        assert_eq!(end, PhaseEnd::Complete);
        done.sort();
        assert_eq!(done, [0, 2], "its own unit and the unclaimed one, not the claimed one");
        let results: Vec<String> = handle.block_on(a.results(Phase::Route, 3)).unwrap();
        assert_eq!(results, ["from worker 0", "from worker 1", "from worker 0"]);
    }
}
