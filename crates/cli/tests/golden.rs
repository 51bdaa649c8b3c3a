//! Golden hashes: the bytes every bundled pipeline writes (documents shards, epoch 0 shards and
//! vocabulary) for its quickstart sample plus one real corpus file, pinned. A change here is a
//! change of output bytes: it needs a schema version bump and a note in `schemas/` (or it is a
//! bug). On a mismatch the test prints the new digests.

mod common;

use common::*;
use sha2::{Digest, Sha256};

/// (pipeline, extra real input, digest of its output).
const GOLDEN: [(&str, &str, &str); 5] = [
    (
        "quickstart.toml",
        "zh/debian-reference-zh-cn.txt",
        "5fbf45ef2e04bf26fb9b757dff4e7a89c9b54ece4514c7243806df84f80d4a69",
    ),
    (
        "macbert-zh.toml",
        "zh/debian-reference-zh-cn.txt",
        "08a199aeffcc4151b63cdfa07d22284316fae9d445a550e3849c87f380e3206c",
    ),
    (
        "bert-nsp-en.toml",
        "en/fortunes.txt",
        "93faf227c89d6ab9e92740124de1635c5ec3fe0ec6a3952f5bfe1f1c06d14b21",
    ),
    (
        "albert-sop.toml",
        "en/fortunes.txt",
        "9804334441392d3fd344f99c0dff828751a710eba7e14bb0f4664a78bdb616bf",
    ),
    (
        "roberta-en.toml",
        "en/fortunes.txt",
        "a25aa3defb237d1c26a00038298dffea4ee76c4e37125971fce344826813b8dc",
    ),
];

/// SHA-256 over the shard digests of the documents manifest, then epoch 0's, then its vocab.
fn digest(output: &std::path::Path) -> String {
    let mut lines = Vec::new();
    for dataset in ["documents", "epochs/0"] {
        let manifest = manifest(&output.join(dataset));
        for shard in manifest["shards"].as_array().expect("shards") {
            lines.push(format!(
                "{dataset}/{} {}",
                shard["path"].as_str().expect("path"),
                shard["sha256"].as_str().expect("sha256")
            ));
        }
        if let Some(vocab) = manifest["vocab"]["sha256"].as_str() {
            lines.push(format!("{dataset}/vocab.txt {vocab}"));
        }
    }
    hex::encode(Sha256::digest(lines.join("\n").as_bytes()))
}

#[test]
fn every_pipeline_writes_its_pinned_bytes() {
    let sample = |pipeline: &str| {
        let text = std::fs::read_to_string(pipeline).expect("pipeline file");
        let sample = if text.contains("zh-sample") {
            "zh-sample.txt"
        } else {
            "en-sample.txt"
        };
        repo()
            .join("assets/quickstart")
            .join(sample)
            .to_string_lossy()
            .into_owned()
    };
    let mut mismatches = Vec::new();
    for (name, extra, expected) in GOLDEN {
        let dir = tempfile::tempdir().expect("tempdir");
        let out = dir.path().join("out");
        let pipeline = pipeline(name);
        let (sample, real) = (sample(&pipeline), corpus(extra));
        maskforge_ok(&[
            "run",
            &pipeline,
            "--input",
            &sample,
            "--input",
            &real,
            "--output",
            &out.to_string_lossy(),
            "--quiet",
        ]);
        let got = digest(&out);
        if got != expected {
            mismatches.push(format!("(\"{name}\", \"{extra}\", \"{got}\")"));
        }
    }
    assert!(
        mismatches.is_empty(),
        "output bytes changed:\n{}",
        mismatches.join("\n")
    );
}
