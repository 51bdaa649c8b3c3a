//! The prepare job end to end through `memory://` URLs: inputs, output and the shard checksums
//! all go through object_store, with no local paths except the tokenizer.

use bytes::Bytes;
use maskforge_config::{Overrides, parse};
use maskforge_pipeline::{PrepareOptions, Silent, Workers, prepare};
use maskforge_schema::DocumentsManifest;
use maskforge_store::{Location, sha256_hex};
use std::path::PathBuf;
use std::sync::Arc;

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn corpora() -> PathBuf {
    std::env::var("MASKFORGE_CORPORA")
        .map(PathBuf::from)
        .unwrap_or_else(|_| repo().join("../shared/corpora"))
}

#[test]
fn prepare_through_memory_urls_matches_the_manifest() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let text = std::fs::read(corpora().join("zh/fortunes-zh.txt")).unwrap();
    let jsonl = std::fs::read(corpora().join("formats/fortunes-zh.jsonl")).unwrap();
    rt.block_on(async {
        let corpus = Location::parse("memory://prepare-in/corpus").unwrap();
        corpus.join("zh/fortunes.txt").write(Bytes::from(text)).await.unwrap();
        corpus
            .join("zh/fortunes.jsonl")
            .write(Bytes::from(jsonl))
            .await
            .unwrap();
    });

    let vocab = repo().join("assets/vocab/bert-base-chinese/vocab.txt");
    let pipeline = format!(
        "[[sources]]\nurls = ['memory://prepare-in/corpus/zh/*']\n[text]\ntokenizer = {{ path = {:?} }}\n[output]\nurl = 'memory://prepare-out/run'\ndocuments_shard_bytes = 300000\n",
        vocab.to_str().unwrap()
    );
    let config = parse(&pipeline, "memory-test", None, &Overrides::default()).unwrap();
    let report = prepare(
        &config,
        &PrepareOptions {
            threads: 2,
            workers: Workers::single(),
            progress: Arc::new(Silent),
        },
    )
    .unwrap();
    assert_eq!(report.dataset_url, "memory://prepare-out/run/documents");

    let dataset = Location::parse(&report.dataset_url).unwrap();
    let manifest: DocumentsManifest =
        serde_json::from_slice(&rt.block_on(dataset.join("manifest.json").read()).unwrap()).unwrap();
    assert_eq!(Some(&manifest), report.manifest.as_ref());
    assert!(manifest.counts.balanced());
    assert_eq!(
        manifest.inputs.iter().map(|i| i.name.as_str()).collect::<Vec<_>>(),
        ["fortunes.jsonl", "fortunes.txt"]
    );
    assert!(manifest.shards.len() >= 4, "small shard size gives several shards");
    for shard in &manifest.shards {
        let bytes = rt.block_on(dataset.join(&shard.path).read()).unwrap();
        assert_eq!(bytes.len() as u64, shard.bytes);
        assert_eq!(sha256_hex(&bytes), shard.sha256);
    }
    // The JSON Lines copy and the text file hold the same fortunes: same document count.
    assert_eq!(manifest.inputs[0].records, manifest.inputs[1].records);
}
