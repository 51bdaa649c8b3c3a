//! The adversarial suite: a careless user, an overlapping scheduler and a hostile input trying
//! to break maskforge's safety promises. Nothing it did not write is deleted; its own output is
//! never its input; changed inputs are read again; a manifest never names a missing or foreign
//! file; concurrent runs never mix; secrets are never printed; nothing hangs; absurd numbers and
//! bad vocabularies fail before anything published is touched; crafted shards are errors; killed
//! runs' scratch space is reclaimed; odd URLs and odd files work.

mod common;

use common::*;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// A temporary folder with the quickstart pipeline pointed into it.
struct Job {
    dir: tempfile::TempDir,
}

impl Job {
    fn new() -> Self {
        Self {
            dir: tempfile::tempdir().expect("temp dir"),
        }
    }

    fn path(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }

    fn out(&self) -> PathBuf {
        self.path("out")
    }

    /// `maskforge COMMAND quickstart --input INPUT --output out EXTRA...`.
    fn args(&self, command: &str, input: &str, extra: &[&str]) -> Vec<String> {
        let mut args: Vec<String> = [
            command,
            &pipeline("quickstart.toml"),
            "--input",
            input,
            "--output",
            &self.out().to_string_lossy(),
            "--quiet",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        args.extend(extra.iter().map(|s| s.to_string()));
        args
    }

    fn ok(&self, command: &str, input: &str, extra: &[&str]) -> String {
        let args = self.args(command, input, extra);
        let refs: Vec<&str> = args.iter().map(String::as_str).collect();
        String::from_utf8_lossy(&maskforge_ok(&refs).stderr).into_owned()
    }

    fn err(&self, command: &str, input: &str, extra: &[&str]) -> String {
        let args = self.args(command, input, extra);
        let refs: Vec<&str> = args.iter().map(String::as_str).collect();
        maskforge_err(&refs)
    }
}

fn sample() -> String {
    repo()
        .join("assets/quickstart/zh-sample.txt")
        .to_string_lossy()
        .into_owned()
}

/// The first `bytes` of a real corpus file, cut at a line end, written to `path`.
fn corpus_head(rel: &str, bytes: usize, path: &Path) -> String {
    let text = std::fs::read_to_string(corpus(rel)).expect("corpus");
    let mut cut = bytes.min(text.len());
    while !text.is_char_boundary(cut) {
        cut -= 1;
    }
    let end = text[..cut].rfind('\n').unwrap_or(0);
    std::fs::write(path, &text[..end + 1]).expect("write input");
    path.to_string_lossy().into_owned()
}

/// Waits for `child` at most `limit`; kills it and returns `None` when it is still running.
fn wait_at_most(child: &mut std::process::Child, limit: Duration) -> Option<std::process::ExitStatus> {
    let started = Instant::now();
    while started.elapsed() < limit {
        if let Some(status) = child.try_wait().expect("status") {
            return Some(status);
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let _ = child.kill();
    let _ = child.wait();
    None
}

fn stderr_of(child: std::process::Child) -> String {
    String::from_utf8_lossy(&child.wait_with_output().expect("output").stderr).into_owned()
}

// 1. Only files maskforge wrote, named by its own manifests, are ever removed.
#[test]
fn files_maskforge_did_not_write_survive_every_rerun() {
    let job = Job::new();
    let input = corpus_head("zh/libreoffice-help-zh-cn.txt", 60_000, &job.path("in.txt"));
    job.ok("prepare", &input, &["--set", "output.documents_shard_bytes=4096"]);
    job.ok("epoch", &input, &["--epoch", "0", "--set", "output.example_shards=4"]);
    let documents = job.out().join("documents");
    let epoch = job.out().join("epochs/0");
    let earlier_shards = manifest(&documents)["shards"].as_array().unwrap().len();
    assert!(earlier_shards > 2, "several documents shards to replace");
    // The user's files, some with maskforge-like names.
    let user_files = [
        documents.join("user.parquet"),
        documents.join("part-1.parquet"),
        epoch.join("keep/user.parquet"),
        epoch.join("notes.parquet"),
        epoch.join("bin-00/mine.parquet"),
    ];
    for file in &user_files {
        std::fs::create_dir_all(file.parent().unwrap()).unwrap();
        std::fs::write(file, b"the user's bytes").unwrap();
    }
    // Other configurations replace both datasets, with fewer shards.
    job.ok("prepare", &input, &["--set", "output.documents_shard_bytes=1048576"]);
    job.ok(
        "epoch",
        &input,
        &[
            "--epoch",
            "0",
            "--set",
            "output.example_shards=2",
            "--set",
            "masking.probability=0.2",
        ],
    );
    for file in &user_files {
        assert_eq!(
            std::fs::read(file).unwrap(),
            b"the user's bytes",
            "{} was touched",
            file.display()
        );
    }
    // What the earlier runs wrote and the new manifests do not list is gone.
    let listed = |dir: &Path| -> Vec<String> {
        manifest(dir)["shards"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s["path"].as_str().unwrap().to_owned())
            .collect()
    };
    let on_disk = |dir: &Path| -> Vec<String> {
        let mut names: Vec<String> = tree(dir)
            .into_iter()
            .map(|(name, _)| name)
            .filter(|n| n.starts_with("part-") && n.ends_with(".parquet") && n.len() > "part-1.parquet".len())
            .collect();
        names.sort();
        names
    };
    assert_eq!(on_disk(&documents), listed(&documents));
    assert_eq!(on_disk(&epoch), listed(&epoch));
    assert!(!documents.join("_lease.json").exists() && !epoch.join("_lease.json").exists());
}

// 1b. Shards named only by a unit marker (no manifest lists them) are still maskforge's.
#[test]
fn shards_of_units_a_rerun_no_longer_has_are_removed_through_their_markers() {
    let job = Job::new();
    let corpus_dir = job.path("corpus");
    std::fs::create_dir_all(&corpus_dir).unwrap();
    std::fs::copy(sample(), corpus_dir.join("a.txt")).unwrap();
    std::fs::copy(sample(), corpus_dir.join("b.txt")).unwrap();
    // Units of one sample file each: neither cut nor grouped.
    let unit = format!("sources.0.unit_bytes={}", std::fs::metadata(sample()).unwrap().len());
    job.ok("prepare", &corpus_dir.to_string_lossy(), &["--set", &unit]);
    let documents = job.out().join("documents");
    assert!(documents.join("part-00001-0000.parquet").exists());
    std::fs::remove_file(documents.join("manifest.json")).unwrap();
    job.ok(
        "prepare",
        &corpus_dir.join("a.txt").to_string_lossy(),
        &["--set", &unit],
    );
    assert!(
        !documents.join("part-00001-0000.parquet").exists(),
        "unit 1's shard was left"
    );
    assert!(
        !documents.join("_units/00001.json").exists(),
        "unit 1's marker was left"
    );
    assert_eq!(manifest(&documents)["shards"].as_array().unwrap().len(), 1);
}

// 2. An input folder or glob containing the output never reads the output back.
#[test]
fn its_own_output_is_never_its_input() {
    let job = Job::new();
    let data = job.path("data");
    std::fs::create_dir_all(&data).unwrap();
    std::fs::copy(sample(), data.join("zh-sample.txt")).unwrap();
    let run = |extra: &[&str]| {
        let mut args = vec!["prepare".to_owned(), pipeline("quickstart.toml")];
        args.extend(["--input", &data.to_string_lossy(), "--output"].map(String::from));
        args.push(data.join("out").to_string_lossy().into_owned());
        args.extend(extra.iter().map(|s| s.to_string()));
        let refs: Vec<&str> = args.iter().map(String::as_str).collect();
        maskforge_ok(&refs);
        manifest(&data.join("out/documents"))["counts"]["documents_out"]
            .as_u64()
            .unwrap()
    };
    let first = run(&[]);
    let second = run(&["--set", "text.min_tokens=3"]); // another config: a full rerun
    let third = run(&["--set", "text.min_tokens=2"]);
    assert!(first > 0);
    assert_eq!(first, third, "the rerun read its own output");
    assert!(second <= first);
    // An input that only names the output is refused, naming both.
    let own = data.join("out/documents");
    let mut args = vec![
        "prepare".to_owned(),
        write_pipeline(job.dir.path(), "format = \"parquet\""),
    ];
    args.extend([
        "--input".into(),
        format!("{}/*.parquet", own.display()),
        "--output".into(),
    ]);
    args.push(data.join("out").to_string_lossy().into_owned());
    let refs: Vec<&str> = args.iter().map(String::as_str).collect();
    let err = maskforge_err(&refs);
    assert!(err.contains("inside the output folder") && err.contains("out"), "{err}");
}

// 3. An input edited in place, with the same size, is read again.
#[test]
fn an_input_edited_in_place_with_the_same_size_is_read_again() {
    let job = Job::new();
    let input = job.path("in.txt");
    std::fs::write(
        &input,
        "今天天气很好。我们去公园散步。\n\n他在图书馆看书。书很有意思。\n",
    )
    .unwrap();
    let input = input.to_string_lossy().into_owned();
    job.ok("prepare", &input, &[]);
    let before = std::fs::read(job.out().join("documents/manifest.json")).unwrap();
    std::thread::sleep(Duration::from_millis(20));
    let same_size = "明天天气很坏。他们去商店买菜。\n\n她在教室里写字。字很有意思。\n";
    assert_eq!(same_size.len(), std::fs::metadata(&input).unwrap().len() as usize);
    std::fs::write(&input, same_size).unwrap();
    job.ok("prepare", &input, &[]);
    let after = std::fs::read(job.out().join("documents/manifest.json")).unwrap();
    assert_ne!(before, after, "the edited input was not read again");
}

// 4. A damaged dataset is rebuilt honestly, never published with a missing shard.
#[test]
fn a_truncated_manifest_and_a_deleted_shard_are_repaired() {
    let job = Job::new();
    let input = corpus_head("zh/libreoffice-help-zh-cn.txt", 30_000, &job.path("in.txt"));
    let small = ["--set", "output.documents_shard_bytes=4096"];
    job.ok("prepare", &input, &small);
    let documents = job.out().join("documents");
    let good = published(&documents);
    let manifest_path = documents.join("manifest.json");
    let text = std::fs::read(&manifest_path).unwrap();
    std::fs::write(&manifest_path, &text[..text.len() / 2]).unwrap();
    // Several workers refuse an unreadable manifest; one process rebuilds it.
    let mut args = job.args("prepare", &input, &small);
    args.extend(["--workers", "2", "--worker-index", "0"].map(String::from));
    let refs: Vec<&str> = args.iter().map(String::as_str).collect();
    assert!(maskforge_err(&refs).contains("cannot be read"));
    job.ok("prepare", &input, &small);
    assert_eq!(published(&documents), good, "rebuilt as before");
    // A deleted shard and a removed manifest: the unit is read again.
    let first_shard = manifest(&documents)["shards"][1]["path"].as_str().unwrap().to_owned();
    std::fs::remove_file(documents.join(&first_shard)).unwrap();
    std::fs::remove_file(&manifest_path).unwrap();
    job.ok("prepare", &input, &small);
    assert_eq!(
        published(&documents),
        good,
        "every listed shard is there with its checksum"
    );
    // A deleted shard under a present manifest is noticed too.
    std::fs::remove_file(documents.join(&first_shard)).unwrap();
    job.ok("prepare", &input, &small);
    assert_eq!(published(&documents), good);
}

// 5. Two epochs of different configurations at once never mix; the same one twice agrees.
#[test]
fn concurrent_epochs_never_mix() {
    let job = Job::new();
    let input = corpus_head("zh/libreoffice-help-zh-cn.txt", 40_000, &job.path("in.txt"));
    job.ok("prepare", &input, &[]);
    let epoch = job.out().join("epochs/0");
    let start = |probability: &str| {
        spawn(
            &job.args(
                "epoch",
                &input,
                &["--epoch", "0", "--set", &format!("masking.probability={probability}")],
            ),
            &[],
        )
    };
    for _ in 0..3 {
        let (a, b) = (start("0.15"), start("0.25"));
        let (a_ok, b_ok) = (a.wait_with_output().unwrap(), b.wait_with_output().unwrap());
        assert!(a_ok.status.success() || b_ok.status.success(), "one of them finishes");
        for out in [&a_ok, &b_ok] {
            let stderr = String::from_utf8_lossy(&out.stderr);
            assert!(
                out.status.success() || stderr.contains("another maskforge run"),
                "{stderr}"
            );
        }
        // Whatever is published is whole and of one configuration.
        let m = manifest(&epoch);
        for shard in m["shards"].as_array().unwrap() {
            let bytes = std::fs::read(epoch.join(shard["path"].as_str().unwrap())).unwrap();
            assert_eq!(
                sha256_hex(&bytes),
                shard["sha256"].as_str().unwrap(),
                "a shard of the other run"
            );
        }
    }
    // The same configuration twice at once: both finish, with the bytes of one run.
    let (a, b) = (start("0.15"), start("0.15"));
    let statuses = (a.wait_with_output().unwrap(), b.wait_with_output().unwrap());
    for out in [&statuses.0, &statuses.1] {
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    }
    let twice = published(&epoch);
    job.ok("epoch", &input, &["--epoch", "0", "--set", "masking.probability=0.2"]);
    job.ok("epoch", &input, &["--epoch", "0", "--set", "masking.probability=0.15"]);
    assert_eq!(published(&epoch), twice);
}

// 5b. A killed run's lease does not block the next run for ever.
#[test]
fn a_killed_run_s_lease_goes_stale_and_is_taken_over() {
    let job = Job::new();
    let input = job.path("in.txt");
    std::fs::copy(sample(), &input).unwrap();
    let input = input.to_string_lossy().into_owned();
    job.ok("prepare", &input, &[]);
    // A run that stopped holding the lease (as kill -9 leaves it).
    let lease = job.out().join("epochs/0/_lease.json");
    std::fs::create_dir_all(lease.parent().unwrap()).unwrap();
    std::fs::write(
        &lease,
        r#"{"identity":"another run","holder":"elsewhere:1","replaces":["part-00009.parquet"]}"#,
    )
    .unwrap();
    let err = job.err("epoch", &input, &["--epoch", "0"]);
    assert!(
        err.contains("another maskforge run") && err.contains("elsewhere:1"),
        "{err}"
    );
    std::thread::sleep(Duration::from_millis(1500));
    let env = [("MASKFORGE_LEASE_SECS".to_owned(), "1".to_owned())];
    let args = job.args("epoch", &input, &["--epoch", "0"]);
    let refs: Vec<&str> = args.iter().map(String::as_str).collect();
    ok_env(&refs, &env);
    assert!(!lease.exists(), "released after publishing");
    // A holder on this machine whose process is gone (kill -9) is stale at once.
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap();
    let record = format!(
        r#"{{"identity":"killed run","holder":"{}:4194999","replaces":[]}}"#,
        host.trim()
    );
    std::fs::write(&lease, record).unwrap();
    job.ok("epoch", &input, &["--epoch", "0", "--set", "masking.probability=0.2"]);
    assert!(!lease.exists());
    // A run that fails after taking the lease (here: a damaged documents shard, found by the
    // route phase) removes it, so that the corrected rerun, of any configuration, starts at once.
    let documents = job.out().join("documents");
    let shard = documents.join(manifest(&documents)["shards"][0]["path"].as_str().unwrap());
    let good = std::fs::read(&shard).unwrap();
    let mut damaged = good.clone();
    let middle = damaged.len() / 2;
    damaged[middle] ^= 0xFF;
    std::fs::write(&shard, &damaged).unwrap();
    let err = job.err("epoch", &input, &["--epoch", "1"]);
    assert!(err.contains(shard.file_name().unwrap().to_str().unwrap()), "{err}");
    let lease_1 = job.out().join("epochs/1/_lease.json");
    assert!(
        lease_1.parent().unwrap().exists(),
        "the failed run had taken the epoch's folder"
    );
    assert!(!lease_1.exists(), "the failed run left its lease");
    std::fs::write(&shard, &good).unwrap();
    job.ok("epoch", &input, &["--epoch", "1", "--set", "masking.probability=0.2"]);
}

/// A loopback HTTP server answering HEAD with a size and every GET with a 403 whose body echoes
/// the request, as a misconfigured proxy or S3-compatible server does.
fn echo_server() -> u16 {
    use std::io::{Read, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for stream in listener.incoming().take(200) {
            let Ok(mut stream) = stream else { continue };
            let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
            let mut request = vec![0u8; 16 << 10];
            let n = stream.read(&mut request).unwrap_or(0);
            let request = String::from_utf8_lossy(&request[..n]).into_owned();
            let response = if request.starts_with("HEAD") {
                "HTTP/1.1 200 OK\r\nContent-Length: 5000\r\nLast-Modified: Tue, 01 Dec 2026 00:00:00 GMT\r\nETag: \"1\"\r\nConnection: close\r\n\r\n".to_owned()
            } else {
                let body = format!("<Error><Code>AccessDenied</Code><Request>{request}</Request></Error>");
                format!(
                    "HTTP/1.1 403 Forbidden\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                )
            };
            let _ = stream.write_all(response.as_bytes());
        }
    });
    port
}

// 6. No secret reaches the terminal, whichever path the error takes.
#[test]
fn secrets_are_never_printed() {
    let port = echo_server();
    let job = Job::new();
    let secrets = [
        ("AWS_ACCESS_KEY_ID", "AKIAECHOKEYID0001"),
        ("AWS_SECRET_ACCESS_KEY", "echo-secret-access-key-0001"),
        ("AWS_SESSION_TOKEN", "echo-session-token-0001"),
        ("AWS_TOKEN", "echo-aws-token-0001"),
        ("AZURE_STORAGE_TOKEN", "echo-azure-token-0001"),
        ("AZURE_STORAGE_SAS_TOKEN", "sv=2021&sig=echoSAS0001"),
        ("AZURE_STORAGE_CLIENT_SECRET", "echo-azure-client-secret"),
    ];
    let mut env: Vec<(String, String)> = secrets.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
    env.extend([
        ("AWS_ENDPOINT_URL".to_owned(), format!("http://127.0.0.1:{port}")),
        ("AWS_ALLOW_HTTP".to_owned(), "true".to_owned()),
        ("AWS_REGION".to_owned(), "us-east-1".to_owned()),
        ("MASKFORGE_RETRY_SECS".to_owned(), "1".to_owned()),
    ]);
    let pipeline_file = write_pipeline(job.dir.path(), "");
    let out = job.out().to_string_lossy().into_owned();
    let attempts: Vec<Vec<String>> = vec![
        // Parquet and CSV through datafusion, text through the streaming reader.
        vec![
            "prepare",
            &pipeline_file,
            "--input",
            "s3://bucket/corpus.parquet",
            "--output",
            &out,
        ],
        vec![
            "prepare",
            &pipeline_file,
            "--input",
            "s3://bucket/corpus.csv",
            "--output",
            &out,
        ],
        vec![
            "prepare",
            &pipeline_file,
            "--input",
            "s3://bucket/corpus.jsonl",
            "--output",
            &out,
        ],
        // User information in URLs: in log lines, the tokenizer path and an invalid URL.
        vec![
            "prepare",
            &pipeline_file,
            "--input",
            &sample(),
            "--output",
            "s3://user:hunter2-pass@bucket/out",
        ],
        vec![
            "prepare",
            &pipeline_file,
            "--input",
            &sample(),
            "--output",
            &out,
            "--set",
            "text.tokenizer.path=http://user:hunter2-pass@127.0.0.1:9/vocab.txt",
        ],
        vec![
            "prepare",
            &pipeline_file,
            "--input",
            "s3://user:hunter2-pass@bucket:notaport/x.txt",
            "--output",
            &out,
        ],
    ]
    .into_iter()
    .map(|a| a.into_iter().map(String::from).collect())
    .collect();
    for args in attempts {
        let refs: Vec<&str> = args.iter().map(String::as_str).collect();
        let output = maskforge_env(&refs, &env);
        let printed = format!(
            "{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        assert!(!output.status.success(), "{args:?} should fail:\n{printed}");
        for (name, value) in secrets {
            assert!(!printed.contains(value), "{name} printed by {args:?}:\n{printed}");
        }
        for fragment in ["hunter2-pass", "echoSAS0001", "AKIAECHO"] {
            assert!(
                !printed.contains(fragment),
                "{fragment} printed by {args:?}:\n{printed}"
            );
        }
    }
}

// 7. A FIFO anywhere a file is read is refused at once; certificate errors are not retried.
#[test]
fn non_regular_files_never_hang() {
    let job = Job::new();
    let fifo = |name: &str| {
        let path = job.path(name);
        let status = std::process::Command::new("mkfifo")
            .arg(&path)
            .status()
            .expect("mkfifo");
        assert!(status.success());
        path.to_string_lossy().into_owned()
    };
    let input = fifo("corpus.txt");
    let vocab = fifo("vocab.txt");
    let dict = fifo("dict.txt");
    let synonyms = fifo("synonyms.tsv");
    let sample = sample();
    job.ok("prepare", &sample, &[]);
    let runs = [
        job.args("prepare", &input, &[]),
        job.args("prepare", &sample, &["--set", &format!("text.tokenizer.path={vocab}")]),
        job.args("prepare", &sample, &["--set", &format!("text.jieba.user_dict={dict}")]),
        job.args(
            "epoch",
            &sample,
            &[
                "--epoch",
                "0",
                "--set",
                &format!("masking.synonyms={synonyms}"),
                "--set",
                "masking.replace={mask=0.7,similar=0.1,random=0.1,keep=0.1}",
                "--set",
                "masking.replacement_unit=word",
            ],
        ),
    ];
    for args in runs {
        let mut child = spawn(&args, &[]);
        let status = wait_at_most(&mut child, Duration::from_secs(60));
        assert!(status.is_some(), "{args:?} hung on a FIFO");
        assert!(!status.unwrap().success());
        let stderr = stderr_of(child);
        assert!(
            stderr.contains("not a regular file") && stderr.contains("FIFO"),
            "{stderr}"
        );
    }
}

#[test]
fn certificate_failures_are_not_retried() {
    let dir = tempfile::tempdir().unwrap();
    let (key, cert) = (dir.path().join("key.pem"), dir.path().join("cert.pem"));
    let made = std::process::Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "1",
            "-subj",
            "/CN=localhost",
        ])
        .arg("-keyout")
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .output()
        .expect("openssl is part of the machine image");
    assert!(made.status.success(), "{}", String::from_utf8_lossy(&made.stderr));
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut server = std::process::Command::new("openssl")
        .args(["s_server", "-quiet", "-accept", &port.to_string()])
        .arg("-key")
        .arg(&key)
        .arg("-cert")
        .arg(&cert)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("openssl s_server");
    let started = Instant::now();
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() && started.elapsed() < Duration::from_secs(20) {
        std::thread::sleep(Duration::from_millis(50));
    }
    let job = Job::new();
    let env = [
        ("AWS_ENDPOINT_URL".to_owned(), format!("https://127.0.0.1:{port}")),
        ("AWS_ACCESS_KEY_ID".to_owned(), "key-id".to_owned()),
        ("AWS_SECRET_ACCESS_KEY".to_owned(), "secret-value".to_owned()),
        ("AWS_REGION".to_owned(), "us-east-1".to_owned()),
    ];
    // The default retry window is 180 s: an error within 60 s means it was not retried.
    let mut child = spawn(&job.args("prepare", "s3://bucket/corpus.txt", &[]), &env);
    let status = wait_at_most(&mut child, Duration::from_secs(60));
    let _ = server.kill();
    let _ = server.wait();
    assert!(status.is_some(), "a certificate failure was retried as transient");
    let stderr = stderr_of(child);
    assert!(stderr.to_lowercase().contains("certificate"), "{stderr}");
}

// 8 and 9. Absurd numbers and unusable vocabularies fail before anything published is touched.
#[test]
fn bad_settings_fail_before_the_published_data_is_touched() {
    let job = Job::new();
    let sample = sample();
    job.ok("run", &sample, &[]);
    let epoch = job.out().join("epochs/0");
    let documents = job.out().join("documents");
    let (epoch_before, documents_before) = (tree(&epoch), tree(&documents));
    let no_unk = job.path("no-unk/vocab.txt");
    let no_cls = job.path("no-cls/vocab.txt");
    let vocab = std::fs::read_to_string(chinese_vocab()).unwrap();
    for (path, drop) in [(&no_unk, "[UNK]"), (&no_cls, "[CLS]")] {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        let kept: Vec<&str> = vocab
            .lines()
            .map(|l| if l == drop { "[unused-x]" } else { l })
            .collect();
        std::fs::write(path, kept.join("\n") + "\n").unwrap();
    }
    let cases: Vec<(&str, Vec<String>, &str)> = vec![
        (
            "epoch",
            vec!["--set".into(), "output.example_shards=4294967295".into()],
            "output.example_shards",
        ),
        (
            "epoch",
            vec!["--set".into(), "output.shuffle_memory_mb=4294967295".into()],
            "output.shuffle_memory_mb",
        ),
        (
            "epoch",
            vec!["--set".into(), "output.validation_fraction=1.5".into()],
            "output.validation_fraction",
        ),
        (
            "epoch",
            vec!["--set".into(), "output.validation_fraction=nan".into()],
            "output.validation_fraction",
        ),
        (
            "epoch",
            vec![
                "--set".into(),
                "output.validation_fraction=0.6".into(),
                "--set".into(),
                "output.test_fraction=0.4".into(),
            ],
            "output.test_fraction",
        ),
        (
            "epoch",
            vec!["--set".into(), "output.split_shards=4294967295".into()],
            "output.split_shards",
        ),
        (
            "epoch",
            vec!["--set".into(), "output.row_group_rows=4294967295".into()],
            "output.row_group_rows",
        ),
        (
            "epoch",
            vec!["--set".into(), "output.temp_dir=/proc/maskforge-cannot".into()],
            "temporary folder /proc/maskforge-cannot does not exist",
        ),
        (
            "epoch",
            vec!["--set".into(), "pairs.cls_token=[NOPE]".into()],
            "pairs.cls_token",
        ),
        (
            "prepare",
            vec!["--set".into(), format!("text.tokenizer.path={}", no_unk.display())],
            "[UNK]",
        ),
        (
            "prepare",
            vec!["--set".into(), format!("text.tokenizer.path={}", no_cls.display())],
            "[CLS]",
        ),
        (
            "prepare",
            vec![
                "--set".into(),
                "output.documents_shard_bytes=18446744073709551615".into(),
            ],
            "documents_shard_bytes",
        ),
    ];
    for (command, extra, expected) in cases {
        let mut extra: Vec<&str> = extra.iter().map(String::as_str).collect();
        if command == "epoch" {
            extra.extend(["--epoch", "0"]);
        }
        let err = job.err(command, &sample, &extra);
        assert!(err.contains(expected), "{command} {extra:?}: {err}");
        assert_eq!(
            tree(&epoch),
            epoch_before,
            "{command} {extra:?} touched the published epoch"
        );
        assert_eq!(
            tree(&documents),
            documents_before,
            "{command} {extra:?} touched the documents"
        );
    }
    // More shards than examples: written, but said.
    let stderr = {
        let args = job.args(
            "epoch",
            &sample,
            &["--epoch", "1", "--set", "output.example_shards=400"],
        );
        let args: Vec<String> = args.into_iter().filter(|a| a != "--quiet").collect();
        let refs: Vec<&str> = args.iter().map(String::as_str).collect();
        String::from_utf8_lossy(&maskforge_ok(&refs).stderr).into_owned()
    };
    assert!(stderr.contains("some shards are empty"), "{stderr}");
}

// 10. Crafted shards are errors naming the file and row, never panics.
#[test]
fn crafted_shards_are_clear_errors() {
    use arrow::array::{Array, AsArray};
    use arrow::datatypes::{DataType, Field, UInt8Type};
    use std::sync::Arc;
    let job = Job::new();
    job.ok("run", &sample(), &[]);
    let epoch = job.out().join("epochs/0");
    let epoch_url = epoch.to_string_lossy().into_owned();
    // masked_positions as int32.
    craft_shard(&epoch, |batch| {
        let positions = batch
            .column_by_name("masked_positions")
            .unwrap()
            .as_list::<i32>()
            .clone();
        let values = arrow::compute::cast(positions.values(), &DataType::Int32).unwrap();
        replace_column(batch, "masked_positions", with_list_values(&positions, values))
    });
    let err = maskforge_err(&["inspect", &epoch_url]);
    assert!(
        err.contains("masked_positions") && err.contains("part-00000.parquet"),
        "{err}"
    );
    // mask_kinds shorter than masked_positions in a row.
    job.ok(
        "epoch",
        &sample(),
        &["--epoch", "0", "--set", "masking.probability=0.2"],
    );
    craft_shard(&epoch, |batch| {
        let kinds = batch.column_by_name("mask_kinds").unwrap().as_list::<i32>().clone();
        let mut builder = arrow::array::ListBuilder::new(arrow::array::UInt8Builder::new())
            .with_field(Arc::new(Field::new("item", DataType::UInt8, false)));
        for row in 0..kinds.len() {
            let values = kinds.value(row);
            let values = values.as_primitive::<UInt8Type>().values();
            let keep = if row == 0 {
                values.len().saturating_sub(1)
            } else {
                values.len()
            };
            builder.values().append_slice(&values[..keep]);
            builder.append(true);
        }
        replace_column(batch, "mask_kinds", Arc::new(builder.finish()))
    });
    let err = maskforge_err(&["inspect", &epoch_url]);
    assert!(err.contains("row 1") && err.contains("mask_kinds"), "{err}");
}

// 11. What a killed epoch left in the scratch folder is reclaimed by the next run.
#[test]
fn a_killed_epoch_s_scratch_space_is_reclaimed() {
    let job = Job::new();
    let input = corpus_head("zh/libreoffice-help-zh-cn.txt", 1_500_000, &job.path("in.txt"));
    job.ok("prepare", &input, &[]);
    let temp = job.path("tmp");
    std::fs::create_dir_all(&temp).unwrap();
    let temp_setting = format!("output.temp_dir={}", temp.display());
    let mut child = spawn(
        &job.args(
            "epoch",
            &input,
            &["--epoch", "0", "--set", &temp_setting, "--threads", "1"],
        ),
        &[],
    );
    assert!(
        wait_for_file(&temp, "owner", &mut child),
        "the epoch made its scratch folder"
    );
    let _ = child.kill();
    let _ = child.wait();
    let left = files_containing(&temp, "owner");
    assert_eq!(left, 1, "a killed run leaves its folder");
    job.ok("epoch", &input, &["--epoch", "0", "--set", &temp_setting]);
    assert_eq!(
        files_containing(&temp, ""),
        0,
        "the rerun removed the killed run's files and its own"
    );
}

/// A loopback HTTP server for the files of `root`, with HEAD and byte ranges.
fn file_server(root: PathBuf) -> u16 {
    use std::io::{Read, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for stream in listener.incoming().take(500) {
            let Ok(mut stream) = stream else { continue };
            let mut request = vec![0u8; 16 << 10];
            let n = stream.read(&mut request).unwrap_or(0);
            let request = String::from_utf8_lossy(&request[..n]).into_owned();
            let mut words = request.split_whitespace();
            let (method, target) = (words.next().unwrap_or(""), words.next().unwrap_or("/"));
            let name = percent_decode(target.trim_start_matches('/'));
            let Ok(body) = std::fs::read(root.join(&name)) else {
                let _ = stream.write_all(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
                continue;
            };
            let range = request.lines().find_map(|l| {
                let (k, v) = l.split_once(':')?;
                (k.eq_ignore_ascii_case("range")).then(|| v.trim().trim_start_matches("bytes=").to_owned())
            });
            let (status, slice, extra) = match range.and_then(|r| {
                let (a, b) = r.split_once('-')?;
                let a: usize = a.parse().ok()?;
                let b: usize = if b.is_empty() { body.len() - 1 } else { b.parse().ok()? };
                Some((a, b.min(body.len() - 1)))
            }) {
                Some((a, b)) => (
                    "206 Partial Content",
                    &body[a..=b],
                    format!("Content-Range: bytes {a}-{b}/{}\r\n", body.len()),
                ),
                None => ("200 OK", &body[..], String::new()),
            };
            let head = format!(
                "HTTP/1.1 {status}\r\nContent-Length: {}\r\n{extra}Accept-Ranges: bytes\r\nLast-Modified: Tue, 01 Dec 2026 00:00:00 GMT\r\nETag: \"v1\"\r\nConnection: close\r\n\r\n",
                slice.len()
            );
            let _ = stream.write_all(head.as_bytes());
            if method != "HEAD" {
                let _ = stream.write_all(slice);
            }
        }
    });
    port
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && i + 2 < bytes.len() + 1
            && s.is_char_boundary(i + 3)
            && let Ok(b) = u8::from_str_radix(&s[i + 1..i + 3], 16)
        {
            out.push(b);
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

// 12. Plain HTTP (with a port), and names with spaces, CJK, `#` and `%`.
#[test]
fn http_inputs_and_odd_names_round_trip() {
    let served = tempfile::tempdir().unwrap();
    std::fs::copy(
        corpus("formats/fortunes-zh.jsonl"),
        served.path().join("fortunes zh.jsonl"),
    )
    .unwrap();
    std::fs::copy(
        corpus("formats/libreoffice-help-zh-cn.parquet"),
        served.path().join("help.parquet"),
    )
    .unwrap();
    let port = file_server(served.path().to_path_buf());
    let job = Job::new();
    let pipeline_file = write_pipeline(job.dir.path(), "");
    for name in ["fortunes%20zh.jsonl", "help.parquet"] {
        let out = job.path(&format!("out-{}", &name[..4])).to_string_lossy().into_owned();
        let url = format!("http://127.0.0.1:{port}/{name}");
        maskforge_ok(&["prepare", &pipeline_file, "--input", &url, "--output", &out, "--quiet"]);
        assert!(
            manifest(&Path::new(&out).join("documents"))["counts"]["documents_out"]
                .as_u64()
                .unwrap()
                > 0
        );
    }
    // A local output whose name has CJK, `#`, `%` and a space: every job, inspect included.
    let odd = job.path("数据 #1 100%");
    let odd_url = odd.to_string_lossy().into_owned();
    let input = job.path("语料 [1].txt");
    std::fs::copy(sample(), &input).unwrap();
    let input = input.to_string_lossy().into_owned();
    maskforge_ok(&[
        "run",
        &pipeline("quickstart.toml"),
        "--input",
        &input,
        "--output",
        &odd_url,
        "--quiet",
    ]);
    let shown = maskforge_ok(&["inspect", &odd.join("epochs/0").to_string_lossy(), "--limit", "1"]);
    assert!(String::from_utf8_lossy(&shown.stdout).contains("example "));
    // S3 keys with spaces and CJK, against a real S3 server.
    let server = common::s3_server::S3Server::start();
    let bucket = server.bucket("corpus");
    std::fs::create_dir_all(bucket.join("my data")).unwrap();
    std::fs::copy(sample(), bucket.join("my data/语料 #1.txt")).unwrap();
    let env = server.env(common::s3_server::SECRET_KEY);
    let args = [
        "run",
        &pipeline("quickstart.toml"),
        "--input",
        "s3://corpus/my data/语料 #1.txt",
        "--output",
        "s3://corpus/out 数据",
        "--quiet",
    ];
    ok_env(&args, &env);
    assert!(
        bucket.join("out 数据/epochs/0/manifest.json").exists(),
        "keys are stored as named"
    );
    assert!(files_containing(&bucket, "%25") == 0 && files_containing(&bucket, "%20") == 0);
}

// 13. Input problems that used to pass silently.
#[test]
fn odd_inputs_are_read_as_a_user_means_them() {
    let job = Job::new();
    let run = |name: &str, bytes: &[u8], extra: &str| -> (serde_json::Value, String) {
        let dir = job.path(name);
        std::fs::create_dir_all(&dir).unwrap();
        let input = dir.join(name);
        std::fs::write(&input, bytes).unwrap();
        let pipeline_file = write_pipeline(&dir, extra);
        let out = dir.join("out").to_string_lossy().into_owned();
        let output = maskforge_ok(&[
            "prepare",
            &pipeline_file,
            "--input",
            &input.to_string_lossy(),
            "--output",
            &out,
        ]);
        (
            manifest(&dir.join("out/documents")),
            String::from_utf8_lossy(&output.stderr).into_owned(),
        )
    };
    // A byte order mark before the first JSON line.
    let (m, _) = run(
        "bom.jsonl",
        "\u{feff}{\"text\":\"今天天气很好。我们去公园。\"}\n{\"text\":\"他在看书。书很好看。\"}\n".as_bytes(),
        "",
    );
    assert_eq!(m["counts"]["documents_out"], 2, "{}", m["counts"]);
    // Classic Mac line ends: blank lines still separate documents.
    let (m, _) = run(
        "mac.txt",
        "今天天气很好。\r我们去公园。\r\r他在看书。\r书很好看。\r".as_bytes(),
        "format = \"text\"",
    );
    assert_eq!(m["counts"]["documents_out"], 2, "{}", m["counts"]);
    // An unbalanced quote in CSV is said.
    let csv = "id,text\n1,\"今天天气很好。我们去公园。\n2,他在看书。书很好看。\n3,我们在学习。学习很好。\n";
    let (_, stderr) = run("quote.csv", csv.as_bytes(), "");
    assert!(stderr.contains("unbalanced quote"), "{stderr}");
    // A dictionary-encoded string column.
    {
        use arrow::array::{DictionaryArray, StringArray};
        use arrow::datatypes::Int32Type;
        let texts: DictionaryArray<Int32Type> = vec![
            "今天天气很好。我们去公园。",
            "他在看书。书很好看。",
            "今天天气很好。我们去公园。",
        ]
        .into_iter()
        .collect();
        let ids = StringArray::from(vec!["a", "b", "c"]);
        let batch = arrow::record_batch::RecordBatch::try_from_iter([
            ("id", std::sync::Arc::new(ids) as arrow::array::ArrayRef),
            ("text", std::sync::Arc::new(texts) as arrow::array::ArrayRef),
        ])
        .unwrap();
        let mut bytes = Vec::new();
        let mut writer = parquet::arrow::ArrowWriter::try_new(&mut bytes, batch.schema(), None).unwrap();
        writer.write(&batch).unwrap();
        writer.close().unwrap();
        let (m, _) = run("dict.parquet", &bytes, "");
        assert_eq!(m["counts"]["documents_out"], 3, "{}", m["counts"]);
    }
    // A name with glob characters that exists is that file.
    let (m, _) = run(
        "notes[1].txt",
        "今天天气很好。我们去公园。\n".as_bytes(),
        "format = \"text\"",
    );
    assert_eq!(m["counts"]["documents_out"], 1);
}

// 14. Settings that would publish an empty split, or no example at all, are refused before
// any work, naming the key; nothing is written under epochs/.
#[test]
fn settings_that_leave_a_split_empty_are_refused_before_any_work() {
    let job = Job::new();
    let input = corpus("zh/fortunes-zh.txt");
    job.ok("prepare", &input, &[]);
    for (setting, expected) in [
        ("output.test_fraction=0.999999", "output.test_fraction"),
        (
            "output.validation_fraction=1e-12",
            "1e-12 leaves the validation split empty",
        ),
        ("sources.0.weight=1e-9", "the epoch would hold no example"),
    ] {
        let error = job.err("epoch", &input, &["--epoch", "0", "--set", setting]);
        assert!(error.contains(expected), "{setting}: {error}");
        assert!(!job.out().join("epochs/0").exists(), "{setting}: something was written");
    }
    let error = job.err(
        "epoch",
        &input,
        &["--epoch", "0", "--set", "output.test_fraction=0.999999"],
    );
    assert!(error.contains("leave the train split empty"), "{error}");
    // Fractions that give a split a document or more in expectation still build.
    job.ok(
        "epoch",
        &input,
        &["--epoch", "0", "--set", "output.validation_fraction=0.001"],
    );
    assert!(
        manifest(&job.out().join("epochs/0"))["validation"]["stats"]["examples"]
            .as_u64()
            .unwrap()
            > 0
    );
}

// 15. Untrusted names never reach the terminal raw: a manifest's shard name with ESC and a line
// break is quoted in plain `verify` (no forged line), and a file whose name the store cannot
// represent (ESC, a line break, not UTF-8) is skipped and counted, not a failed folder.
#[test]
fn untrusted_names_are_quoted_and_unrepresentable_files_skipped() {
    let job = Job::new();
    job.ok("run", &sample(), &[]);
    let epoch = job.out().join("epochs/0");
    let mut m = manifest(&epoch);
    let hostile = "part-\u{1b}[2J\nFAIL fake.parquet: ok\r.parquet";
    m["shards"][0]["path"] = hostile.into();
    std::fs::write(epoch.join("manifest.json"), serde_json::to_vec_pretty(&m).unwrap()).unwrap();
    let out = maskforge(&["verify", epoch.to_str().unwrap()]);
    assert!(!out.status.success());
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
    for text in [&stdout, &stderr] {
        assert!(!text.contains(['\u{1b}', '\r']), "raw control characters: {text:?}");
        assert!(
            !text.lines().any(|l| l.starts_with("FAIL fake")),
            "a forged line: {text}"
        );
    }
    assert!(stdout.contains("part-\\u{1b}[2J\\u{a}FAIL fake.parquet"), "{stdout}");

    let input = job.path("in");
    std::fs::create_dir_all(&input).unwrap();
    std::fs::copy(sample(), input.join("good.txt")).unwrap();
    let hostile_names: [&[u8]; 3] = [b"bad\x1b[31mred.txt", b"two\nlines.txt", b"latin\xe9.txt"];
    for name in hostile_names {
        use std::os::unix::ffi::OsStrExt;
        std::fs::copy(sample(), input.join(std::ffi::OsStr::from_bytes(name))).unwrap();
    }
    let pattern = format!("{}/*.txt", input.display());
    let other = Job::new();
    let stderr = other.ok("prepare", &pattern, &[]);
    let stderr_all = {
        let args: Vec<String> = other
            .args("prepare", &pattern, &[])
            .into_iter()
            .filter(|a| a != "--quiet")
            .collect();
        let refs: Vec<&str> = args.iter().map(String::as_str).collect();
        String::from_utf8_lossy(&maskforge_ok(&refs).stderr).into_owned()
    };
    for text in [&stderr, &stderr_all] {
        assert!(!text.contains(['\u{1b}', '\r']), "raw control characters: {text:?}");
    }
    assert!(
        stderr_all.contains("bad\\u{1b}[31mred.txt") && stderr_all.contains("cannot represent"),
        "{stderr_all}"
    );
    let documents = manifest(&other.out().join("documents"));
    assert_eq!(documents["counts"]["unrepresentable_names"], 3, "{documents}");
    let inputs: Vec<&str> = documents["inputs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["name"].as_str().unwrap())
        .collect();
    assert_eq!(inputs, ["good.txt"]);
    // An error that names such a path quotes it too.
    let missing = format!("{}/nothing\u{1b}[5m/*.txt", input.display());
    let error = other.err("prepare", &missing, &[]);
    assert!(
        !error.contains('\u{1b}') && error.contains("nothing\\u{1b}[5m"),
        "{error:?}"
    );
}

// 16. Smaller holes: shard names with CJK, `#` and `%` read back; a header-only or empty CSV
// gives no record, as an empty text file does; a CSV id that is not a number after 1000 numeric
// ones (lines mode) is an id, not a dropped row; max_predictions follows a short sequence length;
// a missing temporary folder is refused, not created.
#[test]
fn smaller_holes_of_the_third_round() {
    use std::fmt::Write;
    let job = Job::new();
    job.ok("run", &sample(), &[]);
    let epoch = job.out().join("epochs/0");
    let renamed = "分片 #1%.parquet";
    std::fs::rename(epoch.join("part-00000.parquet"), epoch.join(renamed)).unwrap();
    let mut m = manifest(&epoch);
    m["shards"][0]["path"] = renamed.into();
    std::fs::write(epoch.join("manifest.json"), serde_json::to_vec_pretty(&m).unwrap()).unwrap();
    let epoch_arg = epoch.to_str().unwrap();
    let verified = maskforge(&["verify", epoch_arg, "--deep"]);
    assert!(
        verified.status.success(),
        "{}",
        String::from_utf8_lossy(&verified.stdout)
    );
    let shown = maskforge_ok(&["inspect", epoch_arg, "--limit", "1"]);
    assert!(String::from_utf8_lossy(&shown.stdout).contains(renamed));
    let counted = maskforge_ok(&[
        "sql",
        epoch_arg,
        "SELECT count(*) AS n FROM examples",
        "--format",
        "csv",
    ]);
    assert_eq!(
        String::from_utf8_lossy(&counted.stdout).lines().nth(1),
        Some(m["stats"]["examples"].to_string().as_str())
    );

    let csv = job.path("csv");
    std::fs::create_dir_all(&csv).unwrap();
    std::fs::write(csv.join("header.csv"), "id,text\n\n").unwrap();
    std::fs::write(csv.join("empty.csv"), "").unwrap();
    let mut ids = String::from("id,text\n");
    for i in 0..1100 {
        writeln!(ids, "{i},\"第{i}个文档。它有两句话。\"").unwrap();
    }
    ids.push_str("x7,\"最后一个文档的编号不是整数。\"\n");
    std::fs::write(csv.join("ids.csv"), ids).unwrap();
    for lines in ["true", "false"] {
        for (file, documents) in [("header.csv", 0), ("empty.csv", 0), ("ids.csv", 1101)] {
            let out = Job::new();
            let mode = format!("sources.0.csv_newlines_in_values={lines}");
            let input = csv.join(file).display().to_string();
            let set = [
                "--set",
                "sources.0.format=csv",
                "--set",
                &mode,
                "--set",
                "sources.0.id_column=id",
            ];
            if documents == 0 || lines == "false" {
                out.ok("prepare", &input, &set);
            } else {
                // Read whole, datafusion types the id column from its first records: a clear error.
                let error = out.err("prepare", &input, &set);
                assert!(error.contains("x7") && error.contains("ids.csv"), "{error}");
                continue;
            }
            let counts = &manifest(&out.out().join("documents"))["counts"];
            assert_eq!(counts["documents_out"], documents, "{file} lines={lines}: {counts}");
            assert_eq!(
                counts["skipped"],
                serde_json::json!({}),
                "{file} lines={lines}: {counts}"
            );
        }
    }

    // 64-token sequences take a derived max_predictions (10; 0 asks for it, as leaving the key
    // out does); an explicit one above the length is still refused.
    let short = Job::new();
    short.ok(
        "run",
        &sample(),
        &["--set", "pairs.max_seq_length=64", "--set", "masking.max_predictions=0"],
    );
    let spec = &manifest(&short.out().join("epochs/0"))["spec"]["masking"];
    assert_eq!(spec["max_predictions"], 10);
    let error = short.err(
        "epoch",
        &sample(),
        &[
            "--epoch",
            "1",
            "--set",
            "pairs.max_seq_length=64",
            "--set",
            "masking.max_predictions=80",
        ],
    );
    assert!(error.contains("masking.max_predictions"), "{error}");

    // A temporary folder that does not exist is refused and not created.
    let missing = job.path("no/such/tmp");
    let error = job.err(
        "epoch",
        &sample(),
        &[
            "--epoch",
            "1",
            "--set",
            &format!("output.temp_dir={}", missing.display()),
        ],
    );
    assert!(error.contains("does not exist"), "{error}");
    assert!(!job.path("no").exists());
}
