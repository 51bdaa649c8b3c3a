//! `maskforge prepare` and `maskforge epoch` split over worker processes on a local file system
//! (the largest file cut into pieces by `unit_bytes`): any number of concurrent workers, workers
//! given their index by Slurm or Kubernetes variables, and a kill -9 followed by a rerun all give
//! the bytes of one uninterrupted process.

mod common;

use common::*;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn args(job: &str, out: &Path) -> Vec<String> {
    let mut a = vec![job.to_owned(), pipeline("macbert-zh.toml")];
    for input in [
        format!("{}/zh/*.txt", corpora().display()),
        corpus("formats/fortunes-zh.jsonl"),
    ] {
        a.push("--input".into());
        a.push(input);
    }
    a.extend(["--output".into(), out.to_str().unwrap().to_owned(), "--quiet".into()]);
    // Several partition groups, so that the epoch's map phase has units to share.
    a.extend(["--set".into(), "pairs.negative_pool=3000".into()]);
    // Units of 1 MiB: the 12 MB poetry file is cut into pieces that workers share.
    a.extend(["--set".into(), "sources.0.unit_bytes=1048576".into()]);
    if job == "epoch" {
        a.extend(["--epoch".into(), "0".into()]);
    }
    a
}

fn command(out: &Path, extra: &[&str], env: &[(&str, &str)]) -> Command {
    job_command("prepare", out, extra, env)
}

fn job_command(job: &str, out: &Path, extra: &[&str], env: &[(&str, &str)]) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_maskforge"));
    cmd.args(args(job, out))
        .args(extra)
        .envs(env.iter().copied())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    cmd
}

#[test]
fn concurrent_workers_and_scheduler_indexes_match_one_process() {
    let tmp = tempfile::tempdir().unwrap();
    let single = tmp.path().join("single");
    let status = command(&single, &[], &[]).status().unwrap();
    assert!(status.success());
    let expected = published(&single.join("documents"));

    let status = job_command("epoch", &single, &[], &[]).status().unwrap();
    assert!(status.success());
    let expected_epoch = published(&single.join("epochs/0"));

    // Three workers at once: flags, Slurm's variables, Kubernetes' completion index.
    let three = tmp.path().join("three");
    for job in ["prepare", "epoch"] {
        let children = vec![
            job_command(job, &three, &["--workers", "3", "--worker-index", "0"], &[])
                .spawn()
                .unwrap(),
            job_command(
                job,
                &three,
                &[],
                &[
                    ("SLURM_ARRAY_TASK_COUNT", "3"),
                    ("SLURM_ARRAY_TASK_ID", "5"),
                    ("SLURM_ARRAY_TASK_MIN", "4"),
                ],
            )
            .spawn()
            .unwrap(),
            job_command(job, &three, &["--workers", "3"], &[("JOB_COMPLETION_INDEX", "2")])
                .spawn()
                .unwrap(),
        ];
        for child in children {
            let out = child.wait_with_output().unwrap();
            assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        }
    }
    assert!(
        published(&three.join("documents")) == expected,
        "3 workers differ from one process"
    );
    assert!(
        published(&three.join("epochs/0")) == expected_epoch,
        "an epoch over 3 workers differs from one process"
    );
    assert!(!three.join("epochs/0/_exchange").exists());

    // A worker rerun after publication has nothing to do; a worker of another configuration
    // refuses to mix into the dataset.
    let again = command(&three, &["--workers", "3", "--worker-index", "1"], &[])
        .output()
        .unwrap();
    assert!(again.status.success());
    let other = command(
        &three,
        &["--workers", "2", "--worker-index", "0", "--set", "text.min_tokens=3"],
        &[],
    )
    .output()
    .unwrap();
    let stderr = String::from_utf8_lossy(&other.stderr);
    assert!(
        !other.status.success() && stderr.contains("several workers never replace it"),
        "{stderr}"
    );
    let bad = command(&three, &["--workers", "2", "--worker-index", "2"], &[])
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&bad.stderr).contains("worker index 2 is not below the number of workers 2"));
}

#[test]
fn kill_nine_and_rerun_give_the_same_bytes() {
    let tmp = tempfile::tempdir().unwrap();
    let clean = tmp.path().join("clean");
    assert!(command(&clean, &["--threads", "1"], &[]).status().unwrap().success());
    let expected = published(&clean.join("documents"));

    let killed = tmp.path().join("killed");
    let documents = killed.join("documents");
    // Kill at two points: once some units are committed, and again later in the rerun.
    for wait_for_markers in [2, 4] {
        let mut child = command(&killed, &["--threads", "1"], &[]).spawn().unwrap();
        let started = Instant::now();
        loop {
            let markers = std::fs::read_dir(documents.join("_units"))
                .map(|d| d.count())
                .unwrap_or(0);
            if markers >= wait_for_markers || started.elapsed() > Duration::from_secs(120) {
                break;
            }
            if child.try_wait().unwrap().is_some() {
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = child.kill();
        let _ = child.wait();
        if documents.join("manifest.json").exists() {
            break; // the run finished before the kill; the rerun below still must match
        }
    }
    let rerun = command(&killed, &["--threads", "2"], &[]).output().unwrap();
    assert!(rerun.status.success(), "{}", String::from_utf8_lossy(&rerun.stderr));
    assert!(
        published(&documents) == expected,
        "a killed and rerun job differs from a clean one"
    );
}
