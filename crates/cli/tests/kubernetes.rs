//! The commands of the repository's Kubernetes Indexed Jobs (`deploy/kubernetes/`), run as the
//! pods would run them: the `args` of each template, each worker with its own
//! `JOB_COMPLETION_INDEX`, against a real S3-compatible server holding the templates' buckets.
//! Only the pipeline path (a file in the image) and the worker and thread counts are adapted to
//! this machine. Output identical to one local process.

mod common;

use common::s3_server::{S3Server, SECRET_KEY};
use common::*;
use std::process::{Command, Stdio};

/// The container `args` of a template, with this machine's pipeline and `workers` workers.
fn template_args(file: &str, workers: usize) -> Vec<String> {
    let text = std::fs::read_to_string(repo().join("deploy/kubernetes").join(file)).unwrap();
    let start = text.find("args: [").expect("the template has container args") + "args: ".len();
    let end = start + text[start..].find(']').unwrap() + 1;
    let args: Vec<String> = serde_json::from_str(&text[start..end]).expect("args in JSON syntax");
    let completions: usize = text
        .lines()
        .find_map(|l| l.trim().strip_prefix("completions:"))
        .and_then(|v| v.trim().parse().ok())
        .expect("an Indexed Job has completions");
    let mut adapted = Vec::new();
    let mut it = args.into_iter().peekable();
    while let Some(arg) = it.next() {
        match arg.as_str() {
            "--workers" => {
                let value: usize = it.next().unwrap().parse().unwrap();
                assert_eq!(value, completions, "{file}: --workers must equal completions");
                adapted.extend(["--workers".into(), workers.to_string()]);
            }
            "--threads" => {
                it.next();
                adapted.extend(["--threads".into(), "1".into()]);
            }
            path if path.starts_with("/pipelines/") => {
                adapted.push(pipeline(path.trim_start_matches("/pipelines/")));
            }
            _ => adapted.push(arg),
        }
    }
    adapted.extend(["--set".into(), "pairs.negative_pool=400".into()]);
    // Units of 256 KiB, so that the indexed pods share pieces of the larger files.
    adapted.extend(["--set".into(), "sources.0.unit_bytes=262144".into()]);
    adapted
}

#[test]
fn the_indexed_job_commands_run_with_job_completion_index() {
    let server = S3Server::start();
    // The buckets the templates name: s3://corpus/zh/**/*.txt in, s3://bucket/run out.
    let corpus = server.bucket("corpus");
    for (i, name) in [
        "fortunes-zh.txt",
        "debian-handbook-zh-cn.txt",
        "debian-reference-zh-cn.txt",
    ]
    .iter()
    .enumerate()
    {
        let dir = corpus.join("zh").join(format!("part-{i}"));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::copy(corpora().join("zh").join(name), dir.join(name)).unwrap();
    }
    let output = server.bucket("bucket");
    let env = server.env(SECRET_KEY);

    let workers = 3;
    for file in ["prepare-indexed-job.yaml", "epoch-job.yaml"] {
        let args = template_args(file, workers);
        let pods: Vec<_> = (0..workers)
            .map(|index| {
                Command::new(env!("CARGO_BIN_EXE_maskforge"))
                    .args(&args)
                    .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
                    .env("JOB_COMPLETION_INDEX", index.to_string())
                    .stdout(Stdio::null())
                    .stderr(Stdio::piped())
                    .spawn()
                    .unwrap()
            })
            .collect();
        for pod in pods {
            let out = pod.wait_with_output().unwrap();
            assert!(out.status.success(), "{file}: {}", String::from_utf8_lossy(&out.stderr));
        }
    }

    let local = tempfile::tempdir().unwrap();
    let out = local.path().join("run");
    let input = format!("{}/**/*.txt", corpus.join("zh").display());
    for job in [vec!["prepare"], vec!["epoch", "--epoch", "0"]] {
        let mut args = job.clone();
        let pipeline = pipeline("macbert-zh.toml");
        args.extend([
            pipeline.as_str(),
            "--input",
            &input,
            "--output",
            out.to_str().unwrap(),
            "--quiet",
        ]);
        args.extend([
            "--set",
            "pairs.negative_pool=400",
            "--set",
            "sources.0.unit_bytes=262144",
        ]);
        maskforge_ok(&args);
    }
    for dataset in ["documents", "epochs/0"] {
        let (a, b) = (
            published(&out.join(dataset)),
            published(&output.join("run").join(dataset)),
        );
        assert!(a.len() > 2);
        assert!(
            a == b,
            "{dataset} from the Indexed Job commands differs from one process"
        );
    }
}
