//! Both jobs against a real S3-compatible server (s3s-fs, which verifies request signatures) on
//! 127.0.0.1, started by the test itself: same bytes as a local run, clear errors, no secrets.

mod common;

use common::*;
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const ACCESS_KEY: &str = "maskforge-test";
const SECRET_KEY: &str = "s3cr3t-Value-never-printed";

/// A running s3s-fs serving a temporary folder; every folder in it is a bucket.
struct S3Server {
    child: Child,
    port: u16,
    root: tempfile::TempDir,
}

impl S3Server {
    fn start() -> Self {
        let root = tempfile::tempdir().expect("temp dir");
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("free port")
            .port();
        let child = Command::new("s3s-fs")
            .args(["--host", "127.0.0.1", "--port", &port.to_string(), "--access-key", ACCESS_KEY, "--secret-key", SECRET_KEY])
            .arg(root.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("s3s-fs must be installed (scripts/test.sh installs it: cargo install s3s-fs --version 0.14.1 --features binary --locked)");
        let started = Instant::now();
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(started.elapsed() < Duration::from_secs(20), "s3s-fs did not start");
            std::thread::sleep(Duration::from_millis(50));
        }
        Self { child, port, root }
    }

    fn bucket(&self, name: &str) -> PathBuf {
        let dir = self.root.path().join(name);
        std::fs::create_dir_all(&dir).expect("bucket folder");
        dir
    }

    fn env(&self, secret: &str) -> Vec<(String, String)> {
        [
            ("AWS_ACCESS_KEY_ID", ACCESS_KEY.to_owned()),
            ("AWS_SECRET_ACCESS_KEY", secret.to_owned()),
            ("AWS_ENDPOINT_URL", format!("http://127.0.0.1:{}", self.port)),
            ("AWS_ALLOW_HTTP", "true".to_owned()),
            ("AWS_REGION", "us-east-1".to_owned()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect()
    }
}

impl Drop for S3Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn ok_env(args: &[&str], env: &[(String, String)]) {
    let out = maskforge_env(args, env);
    assert!(
        out.status.success(),
        "maskforge {args:?} failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The files a dataset's manifest lists, plus the manifest, with their bytes.
fn dataset_files(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let m = manifest(dir);
    let mut names: Vec<String> = m["shards"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["path"].as_str().unwrap().to_owned())
        .collect();
    names.push("manifest.json".into());
    if let Some(vocab) = m["vocab"]["path"].as_str() {
        names.push(vocab.to_owned());
    }
    names
        .into_iter()
        .map(|n| (n.clone(), std::fs::read(dir.join(&n)).unwrap()))
        .collect()
}

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
    ]);
    for dataset in ["documents", "epochs/0"] {
        let remote = dataset_files(&bucket.join("out").join(dataset));
        let here = dataset_files(&local_out.join(dataset));
        assert!(remote.len() > 2);
        assert_eq!(remote.len(), here.len());
        for ((name, a), (_, b)) in remote.iter().zip(&here) {
            assert!(a == b, "{dataset}/{name} differs between s3:// and a local run");
        }
    }
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
}
