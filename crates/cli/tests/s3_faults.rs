//! Storage faults against a real S3-compatible server that the test kills and restarts: an
//! outage of a few seconds in the middle of prepare and of a two-worker epoch is ridden out by
//! retries (same bytes as an undisturbed run); a server gone for good ends the run with a clear
//! error naming the object, no secret, and nothing published.

mod common;

use common::s3_server::{S3Server, SECRET_KEY};
use common::*;
use std::path::Path;
use std::process::Child;
use std::time::{Duration, Instant};

fn copy_inputs(dir: &Path) {
    std::fs::create_dir_all(dir).unwrap();
    for name in [
        "fortunes-zh.txt",
        "debian-handbook-zh-cn.txt",
        "debian-reference-zh-cn.txt",
    ] {
        std::fs::copy(corpora().join("zh").join(name), dir.join(name)).unwrap();
    }
}

fn args(job: &str, bucket: &str, extra: &[&str]) -> Vec<String> {
    let mut args: Vec<String> = [
        job,
        &pipeline("macbert-zh.toml"),
        "--input",
        &format!("s3://{bucket}/in/*.txt"),
        "--output",
        &format!("s3://{bucket}/out"),
        "--quiet",
        "--threads",
        "1",
        "--set",
        "pairs.negative_pool=400",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    args.extend(extra.iter().map(|s| s.to_string()));
    args
}

#[test]
fn an_outage_of_a_few_seconds_is_retried() {
    let mut server = S3Server::start();
    let (calm, stormy) = (server.bucket("calm"), server.bucket("stormy"));
    copy_inputs(&calm.join("in"));
    copy_inputs(&stormy.join("in"));
    let env = server.env(SECRET_KEY);
    for job in ["prepare", "epoch"] {
        let extra: &[&str] = if job == "epoch" { &["--epoch", "0"] } else { &[] };
        ok_env(
            &args(job, "calm", extra).iter().map(String::as_str).collect::<Vec<_>>(),
            &env,
        );
    }

    // Prepare: the server dies once the first unit is committed, and is back 3 s later.
    let mut prepare = spawn(&args("prepare", "stormy", &[]), &env);
    let hit = wait_for_file(&stormy.join("out/documents"), "_units/", &mut prepare);
    server.stop();
    std::thread::sleep(Duration::from_secs(3));
    server.restart();
    let out = prepare.wait_with_output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(hit, "prepare ended before the outage");

    // Epoch over two workers (the exchange lives in the bucket): the outage hits after the
    // first routed shard.
    let epoch = stormy.join("out/epochs/0");
    let mut workers: Vec<Child> = (0..2)
        .map(|i| {
            let index = i.to_string();
            spawn(
                &args(
                    "epoch",
                    "stormy",
                    &["--epoch", "0", "--workers", "2", "--worker-index", &index],
                ),
                &env,
            )
        })
        .collect();
    let hit = wait_for_file(&epoch, "done/route-", &mut workers[0]);
    server.stop();
    std::thread::sleep(Duration::from_secs(3));
    server.restart();
    for worker in workers {
        let out = worker.wait_with_output().unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    }
    assert!(hit, "the epoch ended before the outage");

    for dataset in ["documents", "epochs/0"] {
        let (a, b) = (
            published(&calm.join("out").join(dataset)),
            published(&stormy.join("out").join(dataset)),
        );
        assert_eq!(a.len(), b.len());
        assert!(a == b, "{dataset} differs after an outage");
    }
}

#[test]
fn a_server_gone_for_good_fails_clearly_and_publishes_nothing() {
    let mut server = S3Server::start();
    let bucket = server.bucket("gone");
    copy_inputs(&bucket.join("in"));
    let mut env = server.env(SECRET_KEY);
    env.push(("MASKFORGE_RETRY_SECS".into(), "2".into()));
    let started = Instant::now();
    let mut prepare = spawn(&args("prepare", "gone", &[]), &env);
    assert!(wait_for_file(&bucket.join("out/documents"), "_units/", &mut prepare));
    server.stop();
    let out = prepare.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "prepare succeeded without a server");
    println!("the error a user sees:\n{stderr}");
    assert!(stderr.contains("s3://gone/"), "the error names no object:\n{stderr}");
    assert!(!stderr.contains(SECRET_KEY) && !stderr.contains("panicked"), "{stderr}");
    assert!(!bucket.join("out/documents/manifest.json").exists());
    assert!(
        started.elapsed() < Duration::from_secs(90),
        "giving up took {:?}",
        started.elapsed()
    );
}
