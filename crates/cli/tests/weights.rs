//! Weighted mixtures (`sources.N.weight`): on two real corpora of about the same size, weights
//! 0.5 and 2.0 give the drawn copies and realised shares the weights imply (within statistical
//! tolerance), copies of a document get masks of their own, a fractional weight draws another
//! half each epoch, the same run gives the same bytes for any thread count, copies never leave
//! their document's split, reweighting needs no new documents, and absurd weights are refused.

mod common;

use common::*;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::Path;

const WEIGHTS: [&str; 4] = ["--set", "sources.0.weight=0.5", "--set", "sources.1.weight=2.0"];

/// A pipeline of two sources with about 5,670 documents each: fortune cookies as JSON Lines
/// (source 0) and as BERT-layout text (source 1).
fn mixture_pipeline(dir: &Path) -> String {
    let text = format!(
        "seed = 7\n\
         [[sources]]\nurls = [{jsonl:?}]\n\
         [[sources]]\nurls = [{text:?}]\n\
         [text]\nlanguage = \"zh\"\ntokenizer = {{ path = {vocab:?} }}\n\
         [pairs]\ntask = \"sop\"\nmax_seq_length = 128\n\
         [output]\nurl = {out:?}\nexample_shards = 2\n",
        jsonl = corpus("formats/fortunes-zh.jsonl"),
        text = corpus("zh/fortunes-zh.txt"),
        vocab = chinese_vocab(),
        out = dir.join("out").to_string_lossy(),
    );
    let path = dir.join("pipeline.toml");
    std::fs::write(&path, text).unwrap();
    path.to_string_lossy().into_owned()
}

/// `maskforge epoch` of `pipeline` with more flags, quietly.
fn epoch(pipeline: &str, flags: &[&str]) {
    let mut args = vec!["epoch", pipeline, "--quiet"];
    args.extend(flags);
    maskforge_ok(&args);
}

/// `(weight, documents, drawn, examples, tokens, share)` of each source of a manifest's stats.
fn source_stats(stats: &serde_json::Value) -> Vec<(f64, u64, u64, u64, u64, f64)> {
    stats["sources"]
        .as_array()
        .expect("stats.sources")
        .iter()
        .map(|s| {
            let n = |k: &str| s[k].as_u64().unwrap();
            let f = |k: &str| s[k].as_f64().unwrap();
            (
                f("weight"),
                n("documents"),
                n("drawn"),
                n("examples"),
                n("tokens"),
                f("share"),
            )
        })
        .collect()
}

/// The source of every document id, from the documents manifest's shard entries.
fn sources_of_documents(documents: &Path) -> HashMap<u64, u64> {
    use arrow::array::AsArray;
    use arrow::datatypes::UInt64Type;
    let m = manifest(documents);
    let mut out = HashMap::new();
    for shard in m["shards"].as_array().unwrap() {
        let source = shard["source"].as_u64().expect("documents shards record their source");
        let file = std::fs::File::open(documents.join(shard["path"].as_str().unwrap())).unwrap();
        let reader = parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(file)
            .unwrap()
            .build()
            .unwrap();
        for batch in reader {
            let batch = batch.unwrap();
            let ids = batch.column_by_name("doc_id").unwrap().as_primitive::<UInt64Type>();
            out.extend(ids.values().iter().map(|&id| (id, source)));
        }
    }
    out
}

#[test]
fn weights_half_and_double_give_the_shares_they_imply_reproducibly() {
    let dir = tempfile::tempdir().unwrap();
    let pipeline = mixture_pipeline(dir.path());
    let out = dir.path().join("out");
    maskforge_ok(&["prepare", &pipeline, "--quiet"]);
    let documents_manifest = std::fs::read(out.join("documents/manifest.json")).unwrap();
    let source_of = sources_of_documents(&out.join("documents"));

    // Unweighted: every document once, each source about half of the tokens.
    epoch(&pipeline, &["--epoch", "0"]);
    let plain = manifest(&out.join("epochs/0"));
    let base = source_stats(&plain["stats"]);
    assert_eq!(base.len(), 2);
    for (weight, documents, drawn, ..) in &base {
        assert_eq!((*weight, *drawn), (1.0, *documents));
        assert!(*documents > 5000, "{documents} documents");
    }
    assert!(
        plain["config"].get("weights").is_none(),
        "unweighted epochs keep their hash"
    );
    let plain_examples = read_examples(&out.join("epochs/0"));

    // Weighted 0.5 / 2.0, with the documents as they are (the weight is an epoch setting).
    let mut flags = vec!["--epoch", "1"];
    flags.extend(WEIGHTS);
    epoch(&pipeline, &flags);
    assert_eq!(
        std::fs::read(out.join("documents/manifest.json")).unwrap(),
        documents_manifest,
        "reweighting must not prepare the documents again"
    );
    let weighted_dir = out.join("epochs/1");
    let weighted = manifest(&weighted_dir);
    assert_eq!(weighted["config"]["weights"], serde_json::json!([0.5, 2.0]));
    let got = source_stats(&weighted["stats"]);
    let (n0, n1) = (base[0].1, base[1].1);
    assert_eq!((got[0].0, got[0].1, got[1].0, got[1].1), (0.5, n0, 2.0, n1));
    // Weight 2: every document exactly twice. Weight 0.5: Binomial(n0, 0.5), within 5 sd.
    assert_eq!(got[1].2, 2 * n1);
    let sd = (n0 as f64 * 0.25).sqrt();
    assert!(
        (got[0].2 as f64 - n0 as f64 / 2.0).abs() < 5.0 * sd,
        "{} of {n0} drawn at weight 0.5",
        got[0].2
    );
    // The realised token share against the one the unweighted token counts imply.
    let (t0, t1) = (base[0].4 as f64, base[1].4 as f64);
    let expected = 0.5 * t0 / (0.5 * t0 + 2.0 * t1);
    assert!(
        (got[0].5 - expected).abs() < 0.02,
        "share {} of source 0, expected about {expected}",
        got[0].5
    );
    assert!((got[0].5 + got[1].5 - 1.0).abs() < 1e-9);
    assert_eq!(got[0].3 + got[1].3, weighted["stats"]["examples"].as_u64().unwrap());
    // The manifest's counts agree with the rows (the checker recounts them per source).
    python_examples_check(&weighted_dir, &out.join("documents"), &[]);
    run_python("check_manifest_schema.py", &[&weighted_dir, &out.join("documents")]);

    // Copies: about twice the examples per document of source 1, with masks of their own.
    let examples = read_examples(&weighted_dir);
    let per_doc = |rows: &[ExampleRow], source: u64| -> BTreeMap<u64, Vec<ExampleRow>> {
        let mut by: BTreeMap<u64, Vec<ExampleRow>> = BTreeMap::new();
        for row in rows.iter().filter(|r| source_of[&r.doc_id] == source) {
            by.entry(row.doc_id).or_default().push(row.clone());
        }
        by
    };
    let (plain_1, weighted_1) = (per_doc(&plain_examples, 1), per_doc(&examples, 1));
    let once: Vec<u64> = plain_1.iter().filter(|(_, e)| e.len() == 1).map(|(d, _)| *d).collect();
    let twice: Vec<&Vec<ExampleRow>> = once
        .iter()
        .filter_map(|d| weighted_1.get(d))
        .filter(|e| e.len() == 2)
        .collect();
    assert!(
        twice.len() * 10 > once.len() * 8,
        "{} of {} documents",
        twice.len(),
        once.len()
    );
    // Copies in the same order (SOP may swap one) must still be masked apart.
    let same_order: Vec<_> = twice.iter().filter(|e| e[0].restored() == e[1].restored()).collect();
    let masked_alike = same_order
        .iter()
        .filter(|e| e[0].masked_positions == e[1].masked_positions)
        .count();
    assert!(same_order.len() > 500, "{} copies in the same order", same_order.len());
    assert!(
        masked_alike * 5 < same_order.len(),
        "{masked_alike} of {} copied documents have the same masks in both copies",
        same_order.len()
    );
    // Weight 0.5: about half of source 0's documents, another half in another epoch.
    let drawn_docs = |rows: &[ExampleRow]| -> BTreeSet<u64> { per_doc(rows, 0).into_keys().collect() };
    let half = drawn_docs(&examples);
    let mut flags = vec!["--epoch", "2"];
    flags.extend(WEIGHTS);
    epoch(&pipeline, &flags);
    let other_half = drawn_docs(&read_examples(&out.join("epochs/2")));
    let all = drawn_docs(&plain_examples);
    assert!(half.is_subset(&all) && other_half.is_subset(&all));
    let common = half.intersection(&other_half).count();
    assert!(
        common * 10 < half.len() * 7 && common * 10 > half.len() * 3,
        "{common} of {} documents drawn in both epochs",
        half.len()
    );

    // Reproducible: the weighted epoch again, with another thread count, gives the same bytes.
    let first = published(&weighted_dir);
    let mut flags = vec!["--epoch", "1", "--threads", "1"];
    flags.extend(WEIGHTS);
    epoch(&pipeline, &flags);
    assert_eq!(
        published(&weighted_dir),
        first,
        "weighted epoch 1 differs on a rerun with 1 thread"
    );
}

#[test]
fn copies_stay_in_their_documents_split() {
    let dir = tempfile::tempdir().unwrap();
    let pipeline = mixture_pipeline(dir.path());
    let out = dir.path().join("out");
    maskforge_ok(&["prepare", &pipeline, "--quiet"]);
    let mut flags = vec!["--epoch", "0", "--set", "output.validation_fraction=0.2"];
    flags.extend(["--set", "sources.0.weight=0", "--set", "sources.1.weight=3"]);
    epoch(&pipeline, &flags);
    let m = manifest(&out.join("epochs/0"));
    let train = source_stats(&m["stats"]);
    let validation = source_stats(&m["validation"]["stats"]);
    // Weight 0 draws nothing; weight 3 every document three times, in each split.
    for stats in [&train, &validation] {
        assert_eq!((stats[0].2, stats[0].3, stats[0].5), (0, 0, 0.0));
        assert_eq!(stats[1].2, 3 * stats[1].1);
        assert!(stats[1].1 > 0 && (stats[1].5 - 1.0).abs() < 1e-12);
    }
    // Every document is in one split, with all its copies.
    let train_docs: BTreeSet<u64> = read_examples(&out.join("epochs/0")).iter().map(|e| e.doc_id).collect();
    let validation_docs: BTreeSet<u64> = m["validation"]["shards"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|shard| {
            let view = tempfile::tempdir().unwrap();
            let mut section = m.clone();
            section["shards"] = serde_json::json!([shard]);
            std::fs::write(view.path().join("manifest.json"), section.to_string()).unwrap();
            let path = shard["path"].as_str().unwrap();
            std::fs::create_dir_all(view.path().join("validation")).unwrap();
            std::fs::copy(out.join("epochs/0").join(path), view.path().join(path)).unwrap();
            read_examples(view.path()).into_iter().map(|e| e.doc_id)
        })
        .collect();
    assert!(!validation_docs.is_empty());
    assert!(
        train_docs.is_disjoint(&validation_docs),
        "a copy crossed into another split"
    );
    python_examples_check(
        &out.join("epochs/0"),
        &out.join("documents"),
        &["--split", "validation"],
    );
}

#[test]
fn absurd_weights_are_refused_with_the_key_named() {
    let dir = tempfile::tempdir().unwrap();
    let pipeline = mixture_pipeline(dir.path());
    for (value, expected) in [
        ("-1", "sources.0.weight"),
        ("nan", "sources.0.weight"),
        ("inf", "sources.0.weight"),
        ("1e9", "sources.0.weight"),
    ] {
        let setting = format!("sources.0.weight={value}");
        let err = maskforge_err(&["epoch", &pipeline, "--epoch", "0", "--set", &setting]);
        assert!(
            err.contains(expected) && err.contains("between 0 and 1000"),
            "{value}: {err}"
        );
    }
    let err = maskforge_err(&[
        "prepare",
        &pipeline,
        "--set",
        "sources.0.weight=0",
        "--set",
        "sources.1.weight=0.0",
    ]);
    assert!(err.contains("every source has weight 0"), "{err}");
}
