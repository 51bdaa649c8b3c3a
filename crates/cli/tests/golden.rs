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
        "44a1d1647e95c522ee2ed83f2b0cc76674d25190ece5190dbdb9a0dfda2fda55",
    ),
    (
        "macbert-zh.toml",
        "zh/debian-reference-zh-cn.txt",
        "79321dffd4a44fcc48880b887707f841c17f280a5ce6f0b77cfffb97d10d33a8",
    ),
    (
        "bert-nsp-en.toml",
        "en/fortunes.txt",
        "a35ae50a5e36933459a81f27d21950374d4a7a47bbf70b02067b8bc3463f02a2",
    ),
    (
        "albert-sop.toml",
        "en/fortunes.txt",
        "68889369e76a8938d973da1a9f2a9479ce9276ac2cb55b31de48be309589e229",
    ),
    (
        "roberta-en.toml",
        "en/fortunes.txt",
        "bc12d9dcad1b838033558d1e3b118dc75150dc034ad5439c429ff5c008f22789",
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
