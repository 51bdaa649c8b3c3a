//! Local scratch space of a job: spill files and the one-process epoch exchange.
//!
//! Every run works in `<temp>/maskforge-<output hash>/<pid>-<nanos>/`, where `<temp>` is
//! `output.temp_dir` or `$TMPDIR`. The folder holds an `owner` file with the process id and is
//! removed when the run ends, with the `maskforge-<output hash>` folder once no run uses it. A run killed with `kill -9` cannot remove it, so every run first
//! removes the sibling folders of the same output whose owner process is gone: what a killed run
//! left is reclaimed by the next run of that output.

use crate::PipelineError;
use std::path::{Path, PathBuf};

/// File naming the owning process inside a run's scratch folder.
const OWNER_FILE: &str = "owner";

/// The scratch folder of one run; removed on drop.
pub struct Scratch {
    folder: PathBuf,
}

impl Scratch {
    /// Creates the run's folder for `output_url` under `temp_dir` (default `$TMPDIR`), after
    /// removing what earlier, dead runs of the same output left.
    pub fn create(temp_dir: Option<&str>, output_url: &str) -> Result<Self, PipelineError> {
        let base = match temp_dir {
            Some(dir) => PathBuf::from(dir.strip_prefix("file://").unwrap_or(dir)),
            None => std::env::temp_dir(),
        };
        // The temporary folder itself must exist: a mistyped `output.temp_dir` (or `$TMPDIR`)
        // is refused, never created (with every missing folder above it).
        if !base.is_dir() {
            return Err(PipelineError::Internal(format!(
                "the temporary folder {} does not exist or is not a folder (set output.temp_dir or $TMPDIR to an \
                 existing local folder)",
                base.display()
            )));
        }
        let hash = maskforge_store::sha256_hex(output_url.as_bytes());
        let parent = base.join(format!("maskforge-{}", &hash[..16]));
        let fail = |what: &str, path: &Path, e: std::io::Error| {
            PipelineError::Internal(format!(
                "{what} {} (set output.temp_dir or $TMPDIR to a writable local folder): {e}",
                path.display()
            ))
        };
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0);
        let folder = parent.join(format!("{}-{nanos}", std::process::id()));
        // Another run that ends removes the shared parent when it is empty: create it again.
        let mut attempts = 0;
        loop {
            std::fs::create_dir_all(&parent).map_err(|e| fail("cannot create the scratch folder", &parent, e))?;
            reclaim(&parent);
            match std::fs::create_dir(&folder) {
                Ok(()) => break,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound && attempts < 3 => attempts += 1,
                Err(e) => return Err(fail("cannot create the scratch folder", &folder, e)),
            }
        }
        let scratch = Self { folder };
        let owner = scratch.folder.join(OWNER_FILE);
        std::fs::write(&owner, std::process::id().to_string())
            .map_err(|e| fail("cannot write to the scratch folder", &owner, e))?;
        Ok(scratch)
    }

    /// The run's folder.
    pub fn path(&self) -> &Path {
        &self.folder
    }

    /// A new, empty subfolder (removed with the scratch folder, or earlier on drop).
    pub fn subfolder(&self, prefix: &str) -> Result<tempfile::TempDir, PipelineError> {
        tempfile::Builder::new()
            .prefix(prefix)
            .tempdir_in(&self.folder)
            .map_err(|e| {
                PipelineError::Internal(format!(
                    "cannot create a spill folder in {}: {e}",
                    self.folder.display()
                ))
            })
    }
}

/// The error for a failed read or write of spill file `path` (a sorted run, a partition, a map
/// output) in the scratch folder.
pub fn spill_error(path: &Path, e: std::io::Error) -> PipelineError {
    PipelineError::Internal(format!("spill file {}: {e}", path.display()))
}

impl Drop for Scratch {
    /// Removes the run's folder, and the output's parent folder when no other run uses it.
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.folder);
        if let Some(parent) = self.folder.parent() {
            // Fails, harmlessly, while another run's folder is in it.
            let _ = std::fs::remove_dir(parent);
        }
    }
}

/// Removes the run folders under `parent` whose owner process no longer exists.
fn reclaim(parent: &Path) {
    let Ok(entries) = std::fs::read_dir(parent) else {
        return;
    };
    for entry in entries.flatten() {
        let folder = entry.path();
        let owner = std::fs::read_to_string(folder.join(OWNER_FILE))
            .ok()
            .and_then(|pid| pid.trim().parse::<u32>().ok())
            .or_else(|| {
                // A run killed before it wrote its owner file: the pid is in the name.
                folder.file_name()?.to_str()?.split('-').next()?.parse().ok()
            });
        let Some(pid) = owner else { continue };
        if pid != std::process::id() && !process_alive(pid) {
            match std::fs::remove_dir_all(&folder) {
                Ok(()) => log::info!("removed {} left by a stopped run (process {pid})", folder.display()),
                Err(e) => log::warn!("cannot remove {} left by a stopped run: {e}", folder.display()),
            }
        }
    }
}

/// Whether a process with this id runs on this machine.
fn process_alive(pid: u32) -> bool {
    Path::new(&format!("/proc/{pid}")).exists()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_dead_run_s_folder_is_reclaimed_and_a_live_one_kept() {
        let temp = tempfile::tempdir().unwrap();
        let dir = temp.path().to_str().unwrap();
        let first = Scratch::create(Some(dir), "file:///out").unwrap();
        let parent = first.path().parent().unwrap().to_path_buf();
        // A killed run: a pid that cannot exist (above the kernel's pid_max).
        let dead = parent.join("4194999-1");
        std::fs::create_dir(&dead).unwrap();
        std::fs::write(dead.join(OWNER_FILE), "4194999").unwrap();
        std::fs::write(dead.join("spill.bin"), vec![0u8; 1024]).unwrap();
        let second = Scratch::create(Some(dir), "file:///out").unwrap();
        assert!(!dead.exists(), "the dead run's folder is gone");
        assert!(first.path().exists(), "a live run's folder stays");
        let second_path = second.path().to_path_buf();
        drop(second);
        assert!(!second_path.exists(), "a finished run removes its folder");
        assert!(parent.exists(), "the parent stays while a live run uses it");
        drop(first);
        assert!(!parent.exists(), "the last run to end removes the empty parent");
        let third = Scratch::create(Some(dir), "file:///out").unwrap();
        assert!(third.path().is_dir(), "a later run creates the parent again");
        // Another output's runs are not touched.
        let other = Scratch::create(Some(dir), "file:///other").unwrap();
        assert_ne!(other.path().parent(), Some(parent.as_path()));
    }

    #[test]
    fn a_missing_temporary_folder_is_refused_not_created() {
        let temp = tempfile::tempdir().unwrap();
        let missing = temp.path().join("no/such/folder");
        let err = Scratch::create(Some(missing.to_str().unwrap()), "file:///out")
            .err()
            .unwrap()
            .to_string();
        assert!(
            err.contains("does not exist") && err.contains("no/such/folder"),
            "{err}"
        );
        assert!(!temp.path().join("no").exists(), "nothing was created");
        let file = temp.path().join("a-file");
        std::fs::write(&file, b"x").unwrap();
        assert!(Scratch::create(Some(file.to_str().unwrap()), "file:///out").is_err());
    }
}
