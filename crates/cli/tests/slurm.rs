//! The repository's Slurm template run for real on a one-node Slurm cluster that the test starts
//! (`deploy/slurm/local-cluster.sh`, its configuration and munge key in the test's folder):
//! prepare as a 3-task array job, the epoch as a dependent 3-task array job, on a 2-core node
//! (so tasks queue), output identical to one process; the daemons are stopped at the end.

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

/// The one-node cluster of `deploy/slurm/local-cluster.sh`, with its configuration, munge key
/// and state in the test's own folder; stopped when dropped, so nothing is left running.
struct Cluster {
    dir: std::path::PathBuf,
}

impl Cluster {
    fn start(dir: &Path) -> Self {
        let cluster = Self { dir: dir.to_path_buf() };
        run(&mut cluster.script("start"));
        cluster
    }

    fn script(&self, action: &str) -> Command {
        let mut cmd = Command::new("bash");
        cmd.arg(repo().join("deploy/slurm/local-cluster.sh"))
            .arg(action)
            .env("SLURM_LOCAL_DIR", &self.dir);
        cmd
    }

    /// A Slurm command (or a script calling them) that talks to this cluster.
    fn command(&self, program: &str) -> Command {
        let mut cmd = Command::new(program);
        cmd.env("SLURM_CONF", self.dir.join("slurm.conf"));
        cmd
    }

    /// The state of every task of a job (`COMPLETED`, `PENDING`, ...).
    fn task_states(&self, job: &str) -> Vec<String> {
        let text = run(self.command("scontrol").args(["show", "job", job]));
        text.split_whitespace()
            .filter_map(|field| field.strip_prefix("JobState="))
            .map(str::to_owned)
            .collect()
    }

    fn wait_for(&self, job: &str, logs: &Path) {
        let started = Instant::now();
        loop {
            let states = self.task_states(job);
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
}

impl Drop for Cluster {
    fn drop(&mut self) {
        let _ = self.script("stop").status();
    }
}

/// Whether a process with this id runs.
fn alive(pid: &str) -> bool {
    Path::new("/proc").join(pid.trim()).exists()
}

#[test]
fn the_slurm_template_runs_prepare_and_epoch_as_array_jobs() {
    let repo = repo();
    Command::new("sbatch").arg("--version").output().expect(
        "Slurm must be installed (scripts/test.sh installs it: apt-get install slurmctld slurmd slurm-client munge)",
    );
    let tmp = tempfile::tempdir().unwrap();
    let slurm_dir = tmp.path().join("slurm");
    let slurm = Cluster::start(&slurm_dir);
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
    let ids = run(slurm
        .command("bash")
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
    slurm.wait_for(ids[0], &logs);
    slurm.wait_for(ids[1], &logs);
    assert_eq!(
        slurm.task_states(ids[1]).len(),
        3,
        "the epoch runs as three array tasks"
    );

    for dataset in ["documents", "epochs/0"] {
        let (a, b) = (published(&single.join(dataset)), published(&cluster.join(dataset)));
        assert!(a.len() > 2);
        assert!(a == b, "{dataset} from the Slurm array jobs differs from one process");
    }
    assert!(!cluster.join("epochs/0/_exchange").exists());

    // Stopped, the cluster leaves no daemon running.
    let pids: Vec<String> = ["slurmd.pid", "slurmctld.pid", "munge/munged.pid"]
        .iter()
        .map(|f| std::fs::read_to_string(slurm_dir.join(f)).expect("pid file of a started daemon"))
        .collect();
    assert!(pids.iter().all(|p| alive(p)));
    drop(slurm);
    let left: Vec<&String> = pids.iter().filter(|p| alive(p)).collect();
    assert!(left.is_empty(), "daemons still running after stop: {left:?}");
}
