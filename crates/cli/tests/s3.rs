//! Both jobs against a real S3-compatible server (s3s-fs, which verifies request signatures) on
//! 127.0.0.1, started by the test itself: same bytes as a local run, clear errors, no secrets.

mod common;

use common::s3_server::{S3Server, SECRET_KEY};
use common::*;
use std::path::Path;

#[test]
fn s3_runs_match_local_runs_byte_for_byte() {
    let server = S3Server::start();
    let bucket = server.bucket("corpus-bucket");
    let local = tempfile::tempdir().unwrap();
    for name in [
        "zh/fortunes-zh.txt",
        "zh/debian-reference-zh-cn.txt",
        "formats/libreoffice-help-zh-cn.parquet",
    ] {
        let file = Path::new(name).file_name().unwrap();
        std::fs::create_dir_all(bucket.join("in")).unwrap();
        std::fs::copy(corpora().join(name), bucket.join("in").join(file)).unwrap();
        std::fs::create_dir_all(local.path().join("in")).unwrap();
        std::fs::copy(corpora().join(name), local.path().join("in").join(file)).unwrap();
    }
    let env = server.env(SECRET_KEY);
    let pipeline = pipeline("macbert-zh.toml");
    let s3_args: Vec<String> = [
        "run",
        &pipeline,
        "--input",
        "s3://corpus-bucket/in/*.txt",
        "--input",
        "s3://corpus-bucket/in/*.parquet",
        "--output",
        "s3://corpus-bucket/out",
        "--quiet",
        // Units of 256 KiB: pieces of the larger files are read with ranged GETs.
        "--set",
        "sources.0.unit_bytes=262144",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    ok_env(&s3_args.iter().map(String::as_str).collect::<Vec<_>>(), &env);
    let local_in = local.path().join("in");
    let local_out = local.path().join("out");
    maskforge_ok(&[
        "run",
        &pipeline,
        "--input",
        &format!("file://{}/*.txt", local_in.display()),
        "--input",
        &format!("{}/*.parquet", local_in.display()),
        "--output",
        local_out.to_str().unwrap(),
        "--quiet",
        "--set",
        "sources.0.unit_bytes=262144",
    ]);
    for dataset in ["documents", "epochs/0"] {
        let remote = published(&bucket.join("out").join(dataset));
        let here = published(&local_out.join(dataset));
        assert!(remote.len() > 2);
        assert_eq!(remote.len(), here.len());
        for ((name, a), (_, b)) in remote.iter().zip(&here) {
            assert!(a == b, "{dataset}/{name} differs between s3:// and a local run");
        }
    }
    // The operators' tools read through S3 what they read locally.
    for flags in [&[][..], &["--deep"][..]] {
        let mut args = vec!["verify", "s3://corpus-bucket/out/epochs/0"];
        args.extend(flags);
        ok_env(&args, &env);
    }
    let query = "SELECT d.source, e.pair_type, count(*) AS n, sum(cardinality(e.masked_positions)) AS masked \
                 FROM examples e JOIN documents d ON e.doc_id = d.doc_id GROUP BY 1, 2 ORDER BY 1, 2";
    let remote = maskforge_env(
        &[
            "sql",
            "s3://corpus-bucket/out/documents",
            "s3://corpus-bucket/out/epochs/0",
            "--format",
            "csv",
            query,
        ],
        &env,
    );
    assert!(remote.status.success(), "{}", String::from_utf8_lossy(&remote.stderr));
    let documents = local_out.join("documents");
    let epoch = local_out.join("epochs/0");
    let here = maskforge_ok(&[
        "sql",
        documents.to_str().unwrap(),
        epoch.to_str().unwrap(),
        "--format",
        "csv",
        query,
    ]);
    assert_eq!(
        String::from_utf8_lossy(&remote.stdout),
        String::from_utf8_lossy(&here.stdout)
    );
    assert!(remote.stdout.len() > 40);
    // The outside reader agrees with what went through S3.
    python_examples_check(&bucket.join("out/epochs/0"), &bucket.join("out/documents"), &[]);
}

#[test]
fn wrong_credentials_and_missing_bucket_are_clear_and_print_no_secret() {
    let server = S3Server::start();
    let bucket = server.bucket("b");
    std::fs::write(bucket.join("a.txt"), "第一篇。\n").unwrap();
    let wrong = "WRONG-secret-Key-do-not-print";
    let out = maskforge_env(
        &[
            "prepare",
            &pipeline("quickstart.toml"),
            "--input",
            "s3://b/a.txt",
            "--output",
            "s3://b/out",
        ],
        &server.env(wrong),
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(stderr.contains("s3://b/a.txt"), "{stderr}");
    assert!(
        !stderr.contains(wrong) && !stderr.contains(SECRET_KEY),
        "a secret leaked:\n{stderr}"
    );
    assert!(!stderr.contains("panicked"), "{stderr}");

    let out = maskforge_env(
        &[
            "prepare",
            &pipeline("quickstart.toml"),
            "--input",
            "s3://no-such-bucket/a.txt",
            "--output",
            "s3://b/out2",
        ],
        &server.env(SECRET_KEY),
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(stderr.contains("s3://no-such-bucket/a.txt"), "{stderr}");
    assert!(!stderr.contains(SECRET_KEY) && !stderr.contains("panicked"), "{stderr}");
    assert!(!bucket.join("out2").exists());

    // The operators' tools fail as clearly, with no secret either.
    for args in [
        &["verify", "s3://b/out/epochs/0"][..],
        &["verify", "s3://b/out/epochs/0", "--json"][..],
        &["sql", "s3://b/out/documents", "SELECT 1"][..],
    ] {
        let out = maskforge_env(args, &server.env(wrong));
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(!out.status.success(), "{args:?}");
        assert!(text.contains("s3://b/out/"), "{args:?}: {text}");
        assert!(
            !text.contains(wrong) && !text.contains(SECRET_KEY) && !text.contains("panicked"),
            "{text}"
        );
    }
}
