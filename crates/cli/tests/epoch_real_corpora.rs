//! `maskforge epoch` and `run --epochs` on the real corpora of `../shared/corpora/`:
//! reproducible bytes, fresh masks per epoch, statistics within tolerance, every pipeline end to
//! end, and an outside reader (pyarrow, `datasets`) that restores every example's tokens from
//! the documents dataset.

mod common;

use common::*;
use std::collections::BTreeMap;
use std::path::Path;

fn run(args: &[&str]) {
    maskforge_ok(args);
}

/// `maskforge run PIPELINE --input CORPUS` into a folder of `root`; the stats of its epoch 0.
fn epoch_stats(root: &Path, pipeline_name: &str, corpus_file: &str, extra: &[&str]) -> serde_json::Value {
    let out = root.join(pipeline_name);
    let (pipeline, input) = (pipeline(pipeline_name), corpus(corpus_file));
    let mut args = vec![
        "run",
        pipeline.as_str(),
        "--input",
        input.as_str(),
        "--output",
        out.to_str().unwrap(),
        "--quiet",
    ];
    args.extend_from_slice(extra);
    run(&args);
    manifest(&out.join("epochs/0"))["stats"].clone()
}

fn n(v: &serde_json::Value) -> f64 {
    v.as_u64().map(|x| x as f64).or_else(|| v.as_f64()).unwrap_or(0.0)
}

#[test]
fn epochs_are_reproducible_thread_and_spill_independent_with_fresh_masks() {
    let out = tempfile::tempdir().unwrap();
    let root = out.path().to_str().unwrap();
    let pipeline = pipeline("macbert-zh.toml");
    let input = corpus("zh/debian-reference-zh-cn.txt");
    run(&["prepare", &pipeline, "--input", &input, "--output", root, "--quiet"]);
    let epoch = |e: &str, threads: &str, extra: &[&str]| {
        let mut args = vec![
            "epoch",
            pipeline.as_str(),
            "--input",
            input.as_str(),
            "--output",
            root,
            "--epoch",
            e,
            "--threads",
            threads,
            "--quiet",
        ];
        args.extend_from_slice(extra);
        run(&args);
        tree(&out.path().join("epochs").join(e))
    };
    let first = epoch("0", "1", &[]);
    let two_threads = epoch("0", "2", &[]);
    let spilled = epoch("0", "2", &["--set", "output.shuffle_memory_mb=1"]);
    assert!(first.len() >= 9, "8 shards, vocab and manifest");
    assert!(first == two_threads, "1 and 2 threads give different bytes");
    assert!(first == spilled, "spilling the shuffle changes the bytes");

    let e0 = read_examples(&out.path().join("epochs/0"));
    epoch("1", "2", &[]);
    let e1 = read_examples(&out.path().join("epochs/1"));
    // Static pairs: the same examples, in another order, with other masks.
    let key = |rows: &[ExampleRow]| {
        let mut v: Vec<(u64, u8, Vec<u32>)> = rows.iter().map(|r| (r.doc_id, r.pair_type, r.restored())).collect();
        v.sort();
        v
    };
    assert_eq!(
        key(&e0),
        key(&e1),
        "static pairs must give the same examples every epoch"
    );
    let masks = |rows: &[ExampleRow]| {
        rows.iter()
            .map(|r| ((r.doc_id, r.restored()), r.masked_positions.clone()))
            .collect::<BTreeMap<_, _>>()
    };
    let (m0, m1) = (masks(&e0), masks(&e1));
    let same = m0.iter().filter(|(k, v)| m1.get(*k) == Some(*v)).count();
    assert!(same * 10 < m0.len(), "{same} of {} examples kept their masks", m0.len());
    assert_ne!(
        e0.iter().map(|r| r.doc_id).collect::<Vec<_>>(),
        e1.iter().map(|r| r.doc_id).collect::<Vec<_>>(),
        "order must change"
    );
    assert!(e0.iter().enumerate().all(|(i, r)| r.example_id == i as u64));

    // Rebuilt pairs change the examples themselves.
    run(&[
        "epoch",
        &pipeline,
        "--output",
        root,
        "--epoch",
        "1",
        "--set",
        "pairs.rebuild_each_epoch=true",
        "--quiet",
    ]);
    let rebuilt = read_examples(&out.path().join("epochs/1"));
    assert_ne!(key(&e0), key(&rebuilt));
}

#[test]
fn statistics_on_real_corpora_are_within_tolerance() {
    let out = tempfile::tempdir().unwrap();
    let root = out.path();
    // RoBERTa token masking on English: mask rate and the 80/10/10 mix.
    let s = epoch_stats(root, "roberta-en.toml", "en/brown.txt", &[]);
    let masked = n(&s["masked_tokens"]);
    let (rate, mask, random, keep) = (
        n(&s["mask_rate"]),
        n(&s["replacement"]["mask"]) / masked,
        n(&s["replacement"]["random"]) / masked,
        n(&s["replacement"]["keep"]) / masked,
    );
    eprintln!(
        "roberta-en on brown.txt: {} examples, mask rate {rate:.4}, mix {mask:.4}/{random:.4}/{keep:.4}",
        s["examples"]
    );
    assert!((rate - 0.15).abs() < 0.003, "mask rate {rate}");
    assert!((mask - 0.8).abs() < 0.01 && (random - 0.1).abs() < 0.01 && (keep - 0.1).abs() < 0.01);

    // ALBERT n-grams: the 1/n histogram (6/11, 3/11, 2/11), distorted only by budget shrinking.
    // ALBERT's own budget (20 of 512 tokens) shrinks many n-grams at the cap; a budget of 80
    // leaves the weights visible.
    let s = epoch_stats(
        root,
        "albert-sop.toml",
        "en/kjv.txt",
        &["--set", "masking.max_predictions=80"],
    );
    let h = &s["ngram_lengths"];
    let units = n(&h["1"]) + n(&h["2"]) + n(&h["3"]);
    let shares = [n(&h["1"]) / units, n(&h["2"]) / units, n(&h["3"]) / units];
    eprintln!(
        "albert-sop on kjv.txt: {} examples, n-gram shares {shares:.4?}, mask rate {:.4}",
        s["examples"],
        n(&s["mask_rate"])
    );
    for (got, want) in shares.iter().zip([6.0 / 11.0, 3.0 / 11.0, 2.0 / 11.0]) {
        assert!((got - want).abs() < 0.03, "n-gram shares {shares:?}");
    }
    // SOP: half of the pairs swapped.
    let (swapped, next) = (n(&s["pair_types"]["swapped"]), n(&s["pair_types"]["next"]));
    let swap_rate = swapped / (swapped + next);
    eprintln!(
        "albert-sop on kjv.txt: SOP swap rate {swap_rate:.4} of {} pairs",
        swapped + next
    );
    assert!((swap_rate - 0.5).abs() < 0.03, "swap rate {swap_rate}");

    // BERT NSP: random next for half of the multi-sentence chunks and all single-sentence chunks.
    let s = epoch_stats(root, "bert-nsp-en.toml", "en/fortunes.txt", &[]);
    let (random_doc, total, single) = (
        n(&s["pair_types"]["random_doc"]),
        n(&s["examples"]),
        n(&s["single_sentence_chunks"]),
    );
    let expected = (single + 0.5 * (total - single)) / total;
    let random_rate = random_doc / total;
    eprintln!(
        "bert-nsp-en on fortunes.txt: NSP random rate {random_rate:.4}, expected {expected:.4} ({single} single-sentence chunks of {total})"
    );
    assert!(
        (random_rate - expected).abs() < 0.02,
        "NSP random rate {random_rate}, expected {expected}"
    );
    let wwm_rate = n(&s["mask_rate"]);
    eprintln!("bert-nsp-en whole-word: mask rate {wwm_rate:.4}");
    assert!((wwm_rate - 0.15).abs() < 0.02, "whole-word mask rate {wwm_rate}");

    // MacBERT: no [MASK] at all; similar words where the table has them, every fallback counted.
    let s = epoch_stats(root, "macbert-zh.toml", "zh/fortunes-zh.txt", &[]);
    let h = &s["ngram_lengths"];
    let units: f64 = (1..=4).map(|k| n(&h[k.to_string()])).sum();
    eprintln!(
        "macbert-zh on fortunes-zh.txt: mix {}, n-gram units {h}, fallbacks {}, shares {:.3?}",
        s["replacement"],
        s["similar_fallbacks"],
        (1..=4).map(|k| n(&h[k.to_string()]) / units).collect::<Vec<_>>()
    );
    assert_eq!(n(&s["replacement"]["mask"]), 0.0);
    assert!(n(&s["replacement"]["similar"]) > 0.0);
    let words_replaced_by_similar_kind = n(&s["replacement"]["similar"]);
    assert!(
        words_replaced_by_similar_kind > 0.3 * n(&s["masked_tokens"]),
        "similar share too low: {}",
        s["replacement"]
    );
}

#[test]
fn every_pipeline_runs_end_to_end_and_reads_back_outside() {
    let out = tempfile::tempdir().unwrap();
    let cases = [
        ("quickstart.toml", "zh/debian-reference-zh-cn.txt", vec!["--datasets"]),
        ("macbert-zh.toml", "zh/fortunes-zh.txt", vec![]),
        ("bert-nsp-en.toml", "en/fortunes.txt", vec![]),
        ("albert-sop.toml", "en/fortunes.txt", vec![]),
        ("roberta-en.toml", "en/fortunes.txt", vec![]),
    ];
    for (name, input, extra) in cases {
        let root = out.path().join(name);
        run(&[
            "run",
            &pipeline(name),
            "--input",
            &corpus(input),
            "--output",
            root.to_str().unwrap(),
            "--epochs",
            "2",
            "--quiet",
        ]);
        for e in ["0", "1"] {
            let mut args = extra.clone();
            let l = if name == "quickstart.toml" || name == "bert-nsp-en.toml" {
                "128"
            } else {
                "512"
            };
            args.extend(["--max-seq-length", l]);
            python_examples_check(&root.join("epochs").join(e), &root.join("documents"), &args);
        }
    }
}

#[test]
fn length_bins_give_balanced_shards_per_bin() {
    let out = tempfile::tempdir().unwrap();
    let root = out.path().to_str().unwrap();
    run(&[
        "run",
        &pipeline("quickstart.toml"),
        "--input",
        &corpus("zh/debian-reference-zh-cn.txt"),
        "--output",
        root,
        "--set",
        "output.length_bins=[32, 64, 96]",
        "--set",
        "output.example_shards=3",
        "--quiet",
    ]);
    let dataset = out.path().join("epochs/0");
    let m = manifest(&dataset);
    let mut per_bin: BTreeMap<u64, Vec<u64>> = BTreeMap::new();
    for s in m["shards"].as_array().unwrap() {
        assert!(s["path"].as_str().unwrap().starts_with("bin-"));
        per_bin
            .entry(s["bin"].as_u64().unwrap())
            .or_default()
            .push(s["rows"].as_u64().unwrap());
    }
    assert!(per_bin.len() >= 3, "{per_bin:?}");
    for rows in per_bin.values() {
        assert!(
            rows.iter().max().unwrap() - rows.iter().min().unwrap() <= 1,
            "{per_bin:?}"
        );
    }
    python_examples_check(&dataset, &out.path().join("documents"), &["--max-seq-length", "128"]);
}

/// `maskforge epoch PIPELINE --output ROOT --epoch 0 --set S...`, expected to fail; its stderr.
fn epoch_err(pipeline_name: &str, root: &str, sets: &[&str]) -> String {
    let pipeline = pipeline(pipeline_name);
    let mut args = vec!["epoch", pipeline.as_str(), "--output", root, "--epoch", "0"];
    for set in sets {
        args.extend(["--set", set]);
    }
    maskforge_err(&args)
}

#[test]
fn epoch_errors_are_clear() {
    let out = tempfile::tempdir().unwrap();
    let root = out.path().to_str().unwrap();
    let err = maskforge_err(&["epoch", &pipeline("quickstart.toml"), "--output", root, "--epoch", "0"]);
    assert!(
        err.contains("no documents dataset here") && err.contains("maskforge prepare"),
        "{err}"
    );
    run(&["prepare", &pipeline("quickstart.toml"), "--output", root, "--quiet"]);
    let err = epoch_err("quickstart.toml", root, &["text.min_tokens=5"]);
    assert!(
        err.contains("prepared with another text or source configuration"),
        "{err}"
    );
    let mac = out.path().join("mac");
    let mac = mac.to_str().unwrap();
    run(&["prepare", &pipeline("macbert-zh.toml"), "--output", mac, "--quiet"]);
    let err = epoch_err("macbert-zh.toml", mac, &["masking.synonyms=/nonexistent/table.tsv"]);
    assert!(err.contains("masking.synonyms /nonexistent/table.tsv"), "{err}");
    let err = epoch_err(
        "quickstart.toml",
        root,
        &["masking.replace.similar=0.1", "masking.replace.keep=0.0"],
    );
    assert!(
        err.contains("masking.synonyms") && err.contains("masking.replacement_unit"),
        "{err}"
    );
    let err = epoch_err("quickstart.toml", root, &["pairs.sep_token=的"]);
    assert!(err.contains("`的` (pairs.sep_token) is an ordinary token"), "{err}");
    // The documents dataset does not care about masking settings: they apply per epoch.
    run(&[
        "epoch",
        &pipeline("quickstart.toml"),
        "--output",
        root,
        "--epoch",
        "0",
        "--set",
        "masking.probability=0.2",
        "--quiet",
    ]);
    // `--next` builds the first epoch without a manifest.
    let printed = maskforge_ok(&[
        "epoch",
        &pipeline("quickstart.toml"),
        "--output",
        root,
        "--next",
        "--quiet",
    ]);
    assert!(String::from_utf8_lossy(&printed.stdout).trim().ends_with("/epochs/1"));
    assert!(out.path().join("epochs/1/manifest.json").exists());
    let err = maskforge_err(&["inspect", &format!("{root}/epochs/0"), "--shard", "9"]);
    assert!(err.contains("no shard 9"), "{err}");
    let shown = maskforge_ok(&["inspect", &format!("{root}/epochs/0"), "--limit", "1"]);
    let text = String::from_utf8_lossy(&shown.stdout);
    assert!(text.contains("[CLS]") && text.contains("⟨mask:[MASK]|"), "{text}");
}
