//! Both jobs split over three concurrent worker processes against a real S3-compatible server:
//! the same bytes as one local process, a reader polling the bucket never sees a manifest before
//! its shards, and a prepare process or an epoch worker killed with -9 (at two points each) and
//! rerun changes nothing.

mod common;

use common::s3_server::{S3Server, SECRET_KEY};
use common::*;
use std::path::Path;
use std::process::Child;

/// Inputs copied into the bucket: three text files and a Parquet file (four prepare units).
const INPUTS: [&str; 4] = [
    "zh/fortunes-zh.txt",
    "zh/debian-reference-zh-cn.txt",
    "zh/debian-handbook-zh-cn.txt",
    "formats/libreoffice-help-zh-cn.parquet",
];

/// Settings that give the epoch several partition groups and two length bins.
/// Units of 256 KiB: the larger files are cut, the smaller grouped, so workers share them.
const SETTINGS: [&str; 6] = [
    "--set",
    "pairs.negative_pool=400",
    "--set",
    "output.length_bins=[128, 512]",
    "--set",
    "sources.0.unit_bytes=262144",
];

fn copy_inputs(dir: &Path) {
    std::fs::create_dir_all(dir).unwrap();
    for name in INPUTS {
        std::fs::copy(corpora().join(name), dir.join(Path::new(name).file_name().unwrap())).unwrap();
    }
}

/// `maskforge <job>` on `input_root`/`output` with this file's settings.
fn job_args(job: &str, input_root: &str, output: &str, extra: &[&str]) -> Vec<String> {
    let mut args: Vec<String> = vec![job.into(), pipeline("macbert-zh.toml")];
    for pattern in ["*.txt", "*.parquet"] {
        args.extend(["--input".into(), format!("{input_root}/{pattern}")]);
    }
    args.extend(["--output".into(), output.into(), "--quiet".into()]);
    args.extend(SETTINGS.iter().map(|s| s.to_string()));
    args.extend(extra.iter().map(|s| s.to_string()));
    args
}

fn wait_ok(child: Child) {
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "a worker failed:\n{stderr}");
    assert!(!stderr.contains(SECRET_KEY));
}

/// One local process: prepare, then epoch 0.
fn local_reference(dir: &Path) -> std::path::PathBuf {
    let input = dir.join("in");
    copy_inputs(&input);
    let out = dir.join("out");
    let (input, out_str) = (input.to_str().unwrap(), out.to_str().unwrap());
    for job in ["prepare", "epoch"] {
        let args = job_args(
            job,
            input,
            out_str,
            if job == "epoch" { &["--epoch", "0"] } else { &[] },
        );
        maskforge_ok(&args.iter().map(String::as_str).collect::<Vec<_>>());
    }
    out
}

fn assert_same(a: &Path, b: &Path) {
    for dataset in ["documents", "epochs/0"] {
        let (x, y) = (published(&a.join(dataset)), published(&b.join(dataset)));
        assert!(x.len() > 3, "{dataset}: {} files", x.len());
        assert_eq!(
            x.iter().map(|f| &f.0).collect::<Vec<_>>(),
            y.iter().map(|f| &f.0).collect::<Vec<_>>()
        );
        for ((name, p), (_, q)) in x.iter().zip(&y) {
            assert!(p == q, "{dataset}/{name} differs");
        }
    }
}

#[test]
fn three_workers_on_s3_match_one_local_process() {
    let tmp = tempfile::tempdir().unwrap();
    let expected = local_reference(tmp.path());
    let reference = manifest(&expected.join("epochs/0"));
    assert!(reference["stats"]["bins"].as_object().unwrap().len() == 2);

    let server = S3Server::start();
    let bucket = server.bucket("workers");
    copy_inputs(&bucket.join("in"));
    let env = server.env(SECRET_KEY);
    for (job, dataset) in [("prepare", "documents"), ("epoch", "epochs/0")] {
        let watcher = ManifestWatcher::start(&bucket.join("out").join(dataset));
        let workers: Vec<Child> = (0..3)
            .map(|i| {
                let index = i.to_string();
                let mut extra = vec!["--workers", "3", "--worker-index", &index, "--threads", "1"];
                if job == "epoch" {
                    extra.extend(["--epoch", "0"]);
                }
                spawn(&job_args(job, "s3://workers/in", "s3://workers/out", &extra), &env)
            })
            .collect();
        workers.into_iter().for_each(wait_ok);
        assert!(watcher.finish() > 0, "the watcher never saw {dataset} published");
    }
    assert_same(&expected, &bucket.join("out"));
    assert_eq!(
        files_containing(&bucket.join("out/epochs/0"), "_exchange"),
        0,
        "the exchange is removed after publication"
    );
}

#[test]
fn workers_killed_twice_and_rerun_give_the_same_bytes() {
    let tmp = tempfile::tempdir().unwrap();
    let expected = local_reference(tmp.path());

    let server = S3Server::start();
    let bucket = server.bucket("killed");
    copy_inputs(&bucket.join("in"));
    let env = server.env(SECRET_KEY);
    // Prepare killed once one unit is committed and its rerun once three are, then run to the
    // end; a reader polling the bucket meanwhile never sees a manifest early.
    let prepare = job_args("prepare", "s3://killed/in", "s3://killed/out", &["--threads", "1"]);
    let documents = bucket.join("out/documents");
    let watcher = ManifestWatcher::start(&documents);
    for committed in [1, 3] {
        let mut victim = spawn(&prepare, &env);
        let reached = wait_for_files(&documents, "_units/", committed, &mut victim);
        let _ = victim.kill();
        let status = victim.wait().unwrap();
        assert!(
            reached && !status.success(),
            "prepare was not killed mid-run ({status})"
        );
    }
    ok_env(&prepare.iter().map(String::as_str).collect::<Vec<_>>(), &env);
    watcher.finish();

    let epoch = bucket.join("out/epochs/0");
    let worker = |i: usize| {
        let index = i.to_string();
        let extra = [
            "--workers",
            "3",
            "--worker-index",
            &index,
            "--threads",
            "1",
            "--epoch",
            "0",
        ];
        spawn(&job_args("epoch", "s3://killed/in", "s3://killed/out", &extra), &env)
    };
    let watcher = ManifestWatcher::start(&epoch);
    let others = [worker(0), worker(2)];
    // Worker 1 dies once routing has begun, its rerun dies once a map unit is committed, and a
    // third run finishes; the others wait for the units it claimed.
    for point in ["done/route-", "done/map-"] {
        let mut victim = worker(1);
        let reached = wait_for_file(&epoch, point, &mut victim);
        let _ = victim.kill();
        let status = victim.wait().unwrap();
        assert!(
            reached && !status.success(),
            "worker 1 was not killed mid-run at {point} ({status})"
        );
    }
    wait_ok(worker(1));
    others.into_iter().for_each(wait_ok);
    watcher.finish();
    assert_same(&expected, &bucket.join("out"));
    assert_eq!(files_containing(&epoch, "_exchange"), 0);
}
