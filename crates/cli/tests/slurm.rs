//! The repository's Slurm template run for real on a one-node Slurm cluster that the test starts
//! (`deploy/slurm/local-cluster.sh`): prepare as a 3-task array job, the epoch as a dependent
//! 3-task array job, on a 2-core node (so tasks queue), output identical to one process.

mod common;

use common::*;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

fn run(cmd: &mut Command) -> String {
    let out = cmd.output().unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?} failed:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The state of every task of a job (`COMPLETED`, `PENDING`, ...).
fn task_states(job: &str) -> Vec<String> {
    let text = run(Command::new("scontrol").args(["show", "job", job]));
    text.split_whitespace()
        .filter_map(|field| field.strip_prefix("JobState="))
        .map(str::to_owned)
        .collect()
}

fn wait_for(job: &str, logs: &Path) {
    let started = Instant::now();
    loop {
        let states = task_states(job);
        if !states.is_empty() && states.iter().all(|s| s == "COMPLETED") {
            return;
        }
        let failed = states.iter().any(|s| {
            !matches!(
                s.as_str(),
                "COMPLETED" | "PENDING" | "RUNNING" | "CONFIGURING" | "COMPLETING"
            )
        });
        if failed || started.elapsed() > Duration::from_secs(600) {
            let mut output = String::new();
            for entry in std::fs::read_dir(logs).unwrap().flatten() {
                output += &format!(
                    "{}:\n{}\n",
                    entry.path().display(),
                    std::fs::read_to_string(entry.path()).unwrap_or_default()
                );
            }
            panic!("Slurm job {job} ended as {states:?}\n{output}");
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[test]
fn the_slurm_template_runs_prepare_and_epoch_as_array_jobs() {
    let repo = repo();
    Command::new("sbatch").arg("--version").output().expect(
        "Slurm must be installed (scripts/test.sh installs it: apt-get install slurmctld slurmd slurm-client munge)",
    );
    run(Command::new("bash").arg(repo.join("deploy/slurm/local-cluster.sh")));

    let tmp = tempfile::tempdir().unwrap();
    let input = tmp.path().join("in");
    std::fs::create_dir_all(&input).unwrap();
    for name in [
        "fortunes-zh.txt",
        "debian-handbook-zh-cn.txt",
        "debian-reference-zh-cn.txt",
    ] {
        std::fs::copy(corpora().join("zh").join(name), input.join(name)).unwrap();
    }
    let pattern = format!("{}/*.txt", input.display());
    // Units of 256 KiB: the handbook and the reference are cut into pieces the tasks share.
    let settings = [
        "--set",
        "pairs.negative_pool=400",
        "--set",
        "sources.0.unit_bytes=262144",
    ];
    let pipeline = pipeline("macbert-zh.toml");

    let single = tmp.path().join("single");
    let single_str = single.to_str().unwrap();
    for job in [vec!["prepare"], vec!["epoch", "--epoch", "0"]] {
        let mut args = job.clone();
        args.extend([
            pipeline.as_str(),
            "--input",
            &pattern,
            "--output",
            single_str,
            "--quiet",
        ]);
        args.extend(settings);
        maskforge_ok(&args);
    }

    let cluster = tmp.path().join("cluster");
    let logs = tmp.path().join("logs");
    std::fs::create_dir_all(&logs).unwrap();
    let ids = run(Command::new("bash")
        .arg(repo.join("deploy/slurm/prepare-then-epoch.sh"))
        .current_dir(&logs)
        .env("PIPELINE", &pipeline)
        .env("INPUT", &pattern)
        .env("OUTPUT", &cluster)
        .env("WORKERS", "3")
        .env("EPOCH", "next")
        .env("CPUS", "1")
        .env("EXTRA", settings.join(" "))
        .env("MASKFORGE", env!("CARGO_BIN_EXE_maskforge")));
    let ids: Vec<&str> = ids.split_whitespace().collect();
    assert_eq!(ids.len(), 2, "the template prints the two job ids: {ids:?}");
    wait_for(ids[0], &logs);
    wait_for(ids[1], &logs);
    assert_eq!(task_states(ids[1]).len(), 3, "the epoch runs as three array tasks");

    for dataset in ["documents", "epochs/0"] {
        let (a, b) = (published(&single.join(dataset)), published(&cluster.join(dataset)));
        assert!(a.len() > 2);
        assert!(a == b, "{dataset} from the Slurm array jobs differs from one process");
    }
    assert!(!cluster.join("epochs/0/_exchange").exists());
}
