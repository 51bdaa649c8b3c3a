//! The writer's lease of a dataset folder: `_lease.json`, taken by conditional create before a
//! job writes anything there and removed after it publishes. It names the run's identity (a
//! hash of everything that decides the output bytes), so that processes of one identity (the
//! workers of a run, a rerun after a kill, the same job started twice) share it and write the
//! same files, while a run of another identity is refused instead of mixing its files in.
//!
//! The holder renews the lease every [`LEASE_SECS_VARIABLE`]/4 seconds; a lease not renewed for
//! that long belongs to a stopped run and is taken over, and so is one whose holder ran on this
//! machine and no longer exists. A single process that fails removes its lease. The lease also carries `replaces`: the
//! shards of the datasets published here before, which the publisher of this run may remove,
//! so that their names survive a kill between unpublishing and publishing.

use crate::PipelineError;
use maskforge_store::{Location, StoreError};
use std::collections::BTreeSet;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

/// File name of the lease inside a dataset folder.
pub const LEASE_FILE: &str = "_lease.json";
/// Environment variable: seconds without renewal after which a lease is stale (default 120).
pub const LEASE_SECS_VARIABLE: &str = "MASKFORGE_LEASE_SECS";

/// The content of `_lease.json`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
struct LeaseRecord {
    /// Hash of what decides the run's output bytes.
    identity: String,
    /// `host:pid` of the process that took or last renewed it (for messages).
    holder: String,
    /// Shard paths of earlier datasets that this run's publisher may remove.
    replaces: BTreeSet<String>,
}

/// A held lease; renewed in the background until released or dropped.
pub struct Lease {
    location: Location,
    identity: String,
    lost: Arc<AtomicBool>,
    stop: Option<std::sync::mpsc::Sender<()>>,
    renewer: Option<std::thread::JoinHandle<()>>,
    /// Removes the lease when the run fails (one process: nobody else of its identity needs it).
    remove_on_failure: Option<tokio::runtime::Handle>,
}

fn holder() -> String {
    format!("{}:{}", self_host(), std::process::id())
}

/// How long a lease lives without renewal.
pub fn lease_duration() -> Duration {
    let secs = std::env::var(LEASE_SECS_VARIABLE)
        .ok()
        .and_then(|v| v.trim().parse::<f64>().ok())
        .filter(|s| s.is_finite() && *s > 0.0)
        .unwrap_or(120.0);
    Duration::from_secs_f64(secs)
}

impl Lease {
    /// Takes (or joins, for the same identity) the lease of `dataset`. `replaces` are shards of
    /// earlier datasets found now; they are merged with those an earlier holder recorded.
    /// Fails, naming the holder, while a live run of another identity holds it. A `single`
    /// process removes the lease when it fails; workers leave it to go stale.
    pub async fn acquire(
        dataset: &Location,
        identity: &str,
        replaces: BTreeSet<String>,
        handle: &tokio::runtime::Handle,
        single: bool,
    ) -> Result<Self, PipelineError> {
        let mut lease = Self::take(dataset, identity, replaces, handle).await?;
        lease.remove_on_failure = single.then(|| handle.clone());
        Ok(lease)
    }

    async fn take(
        dataset: &Location,
        identity: &str,
        replaces: BTreeSet<String>,
        handle: &tokio::runtime::Handle,
    ) -> Result<Self, PipelineError> {
        let location = dataset.join(LEASE_FILE);
        let mut record = LeaseRecord {
            identity: identity.to_owned(),
            holder: holder(),
            replaces,
        };
        for _ in 0..5 {
            if location.create(encode(&record)?).await? {
                return Ok(Self::start(location, identity, handle));
            }
            let Some((existing, age)) = read(&location).await? else {
                continue; // released meanwhile: try again
            };
            match existing {
                Some(existing) if existing.identity == identity => {
                    // Same identity: a worker of this run, or a rerun after a kill.
                    let merged: BTreeSet<String> = existing.replaces.union(&record.replaces).cloned().collect();
                    if merged != existing.replaces {
                        record.replaces = merged;
                        location.write(encode(&record)?).await?;
                    }
                    return Ok(Self::start(location, identity, handle));
                }
                Some(existing) if age < lease_duration() && !holder_is_gone(&existing.holder) => {
                    return Err(PipelineError::input(
                        &dataset.url(),
                        format!(
                            "another maskforge run with another configuration or input is writing here \
                             (holder {}, lease renewed {}s ago); wait for it to finish, or, if it was stopped, \
                             remove {} or wait {}s until the lease is stale",
                            existing.holder,
                            age.as_secs(),
                            location.url(),
                            lease_duration().as_secs()
                        ),
                    ));
                }
                stale => {
                    // A stopped run's lease (or an unreadable one): take it over, keeping what
                    // it meant to replace.
                    if let Some(stale) = stale {
                        log::warn!(
                            "{}: taking over the stale lease of {} (not renewed for {}s)",
                            dataset.url(),
                            stale.holder,
                            age.as_secs()
                        );
                        record.replaces.extend(stale.replaces);
                    }
                    location.delete().await?;
                }
            }
        }
        Err(PipelineError::input(
            &location.url(),
            "the lease changed hands five times while taking it; another run is competing for this dataset",
        ))
    }

    fn start(location: Location, identity: &str, handle: &tokio::runtime::Handle) -> Self {
        let (stop, stopped) = std::sync::mpsc::channel::<()>();
        let lost = Arc::new(AtomicBool::new(false));
        let renewer = {
            let (location, identity, lost, handle) =
                (location.clone(), identity.to_owned(), lost.clone(), handle.clone());
            std::thread::Builder::new()
                .name("maskforge-lease".into())
                .spawn(move || {
                    let every = lease_duration() / 4;
                    while let Err(std::sync::mpsc::RecvTimeoutError::Timeout) = stopped.recv_timeout(every) {
                        match handle.block_on(renew(&location, &identity)) {
                            Ok(true) => {}
                            Ok(false) => {
                                lost.store(true, Ordering::SeqCst);
                                return;
                            }
                            Err(e) => log::warn!("renewing {}: {e}", location.url()),
                        }
                    }
                })
                .ok()
        };
        Self {
            location,
            identity: identity.to_owned(),
            lost,
            stop: Some(stop),
            renewer,
            remove_on_failure: None,
        }
    }

    /// The shards of earlier datasets this run may remove once it has published.
    pub async fn replaces(&self) -> Result<BTreeSet<String>, PipelineError> {
        Ok(read(&self.location)
            .await?
            .and_then(|(r, _)| r)
            .filter(|r| r.identity == self.identity)
            .map(|r| r.replaces)
            .unwrap_or_default())
    }

    /// Fails unless this run still holds the lease (checked before publishing). A lease that
    /// is gone was released by another process of this identity that published first: it is
    /// taken again.
    pub async fn check(&self) -> Result<(), PipelineError> {
        if !self.lost.load(Ordering::SeqCst) {
            for _ in 0..3 {
                match read(&self.location).await? {
                    Some((Some(record), _)) => {
                        if record.identity == self.identity {
                            return Ok(());
                        }
                        break;
                    }
                    Some((None, _)) => break,
                    None => {
                        let record = LeaseRecord {
                            identity: self.identity.clone(),
                            holder: holder(),
                            replaces: BTreeSet::new(),
                        };
                        if self.location.create(encode(&record)?).await? {
                            return Ok(());
                        }
                    }
                }
            }
        }
        Err(PipelineError::input(
            &self.location.url(),
            "this run lost its lease to another run (it was stopped longer than the lease lasts); \
             nothing was published; run it again",
        ))
    }

    /// Stops renewing; with `remove`, deletes the lease (the publisher does, after cleaning up).
    pub async fn release(mut self, remove: bool) -> Result<(), PipelineError> {
        self.remove_on_failure = None;
        self.stop_renewing();
        if remove {
            self.location.delete().await?;
        }
        Ok(())
    }

    fn stop_renewing(&mut self) {
        self.stop.take();
        if let Some(renewer) = self.renewer.take() {
            let _ = renewer.join();
        }
    }
}

impl Drop for Lease {
    fn drop(&mut self) {
        // A failed run stops renewing; one process removes its lease (so that a corrected
        // rerun starts at once), a worker's goes stale or a rerun of it joins it.
        self.stop_renewing();
        if let Some(handle) = self.remove_on_failure.take()
            && tokio::runtime::Handle::try_current().is_err()
            && let Err(e) = handle.block_on(self.location.delete())
        {
            log::warn!("cannot remove {}: {e}", self.location.url());
        }
    }
}

/// Whether the holder ran on this machine and its process is gone (killed): its lease is stale
/// at once.
fn holder_is_gone(holder: &str) -> bool {
    let Some((host, pid)) = holder.rsplit_once(':') else {
        return false;
    };
    let this_host = self_host();
    match pid.parse::<u32>() {
        Ok(pid) => host == this_host && pid != std::process::id() && !Path::new(&format!("/proc/{pid}")).exists(),
        Err(_) => false,
    }
}

fn self_host() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_owned())
        .unwrap_or_else(|_| "host".into())
}

fn encode(record: &LeaseRecord) -> Result<bytes::Bytes, PipelineError> {
    serde_json::to_vec_pretty(record)
        .map(Into::into)
        .map_err(|e| PipelineError::Internal(e.to_string()))
}

/// The lease and its age; `None` when there is none, `Some((None, age))` when it is unreadable.
async fn read(location: &Location) -> Result<Option<(Option<LeaseRecord>, Duration)>, PipelineError> {
    let Some(meta) = location.head().await? else {
        return Ok(None);
    };
    let bytes = match location.read().await {
        Ok(bytes) => bytes,
        Err(StoreError::NotFound { .. }) => return Ok(None),
        Err(e) => return Err(e.into()),
    };
    let age = (unix_millis_now() - meta.last_modified.timestamp_millis()).max(0) as u64;
    Ok(Some((serde_json::from_slice(&bytes).ok(), Duration::from_millis(age))))
}

/// Renews the lease if this identity still holds it; `false` when another run took it.
async fn renew(location: &Location, identity: &str) -> Result<bool, PipelineError> {
    match read(location).await? {
        Some((Some(mut record), _)) if record.identity == identity => {
            record.holder = holder();
            location.write(encode(&record)?).await?;
            Ok(true)
        }
        None => Ok(true), // released by the publisher of this run
        _ => Ok(false),
    }
}

/// Milliseconds since the Unix epoch.
fn unix_millis_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}
