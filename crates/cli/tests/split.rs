//! The validation and test splits (`output.validation_fraction`, `output.test_fraction`):
//! disjoint by document, fixed across epochs and rebuilt pairs, never mixed into train (also
//! not through NSP negatives), the same bytes for any thread count, and replaced without
//! touching files maskforge did not write.

mod common;

use common::*;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::Path;

const SPLIT: [&str; 6] = [
    "--set",
    "output.validation_fraction=0.15",
    "--set",
    "output.test_fraction=0.1",
    "--set",
    "pairs.negative_pool=40",
];

/// Validates the manifests of `datasets` against `schemas/*.schema.json`.
fn check_manifest_schema(datasets: &[&Path]) {
    run_python("check_manifest_schema.py", datasets);
}

/// `maskforge ARGS --quiet`, expected to succeed.
fn run(args: &[&str]) {
    let mut all = args.to_vec();
    all.push("--quiet");
    maskforge_ok(&all);
}

/// The examples of one split of an epoch, read through the manifest section's shard list.
fn split_examples(epoch: &Path, split: &str) -> Vec<ExampleRow> {
    let m = manifest(epoch);
    if split == "train" {
        return read_examples(epoch);
    }
    // read_examples reads a manifest's `shards`: give it the section's as a manifest of its own.
    let view = tempfile::tempdir().unwrap();
    let mut section = m.clone();
    section["shards"] = m[split]["shards"].clone();
    std::fs::write(view.path().join("manifest.json"), section.to_string()).unwrap();
    for shard in m[split]["shards"].as_array().unwrap() {
        let path = shard["path"].as_str().unwrap();
        assert!(path.starts_with(&format!("{split}/")), "{path}");
        let to = view.path().join(path);
        std::fs::create_dir_all(to.parent().unwrap()).unwrap();
        std::fs::copy(epoch.join(path), to).unwrap();
    }
    read_examples(view.path())
}

/// Document ids per split of an epoch.
fn doc_ids(epoch: &Path) -> BTreeMap<&'static str, BTreeSet<u64>> {
    ["train", "validation", "test"]
        .into_iter()
        .map(|split| (split, split_examples(epoch, split).iter().map(|e| e.doc_id).collect()))
        .collect()
}

/// Every document's token ids, by doc id, from the documents dataset.
fn document_tokens(documents: &Path) -> HashMap<u64, Vec<u32>> {
    use arrow::array::AsArray;
    use arrow::datatypes::{UInt32Type, UInt64Type};
    let mut out = HashMap::new();
    for batch in shard_batches(documents) {
        let ids = batch
            .column_by_name("doc_id")
            .unwrap()
            .as_primitive::<UInt64Type>()
            .clone();
        let tokens = batch.column_by_name("input_ids").unwrap().as_list::<i32>().clone();
        for r in 0..batch.num_rows() {
            let t = tokens.value(r).as_primitive::<UInt32Type>().values().to_vec();
            out.insert(ids.value(r), t);
        }
    }
    out
}

/// The split of a document by the rule `schemas/examples.md` states: the first 8 bytes (little
/// endian) of SHA-256(`maskforge/1\0` `split` `\0` seed epoch=0 doc_id), as a fraction of 2^64.
fn documented_split(seed: u64, validation: f64, test: f64, doc_id: u64) -> &'static str {
    use sha2::{Digest, Sha256};
    let digest = Sha256::new()
        .chain_update(b"maskforge/1\0split\0")
        .chain_update(seed.to_le_bytes())
        .chain_update(0u32.to_le_bytes())
        .chain_update(doc_id.to_le_bytes())
        .finalize();
    let value = u64::from_le_bytes(digest[..8].try_into().unwrap()) as f64 / 2f64.powi(64);
    if value < validation {
        "validation"
    } else if value < validation + test {
        "test"
    } else {
        "train"
    }
}

#[test]
fn splits_are_disjoint_fixed_across_epochs_and_never_mixed_into_train() {
    let out = tempfile::tempdir().unwrap();
    let root = out.path().to_str().unwrap();
    let input = corpus("en/fortunes.txt");
    let mut args = vec![
        "run",
        &*pipeline("bert-nsp-en.toml").leak(),
        "--input",
        &input,
        "--output",
        root,
        "--epochs",
        "2",
        "--set",
        "pairs.rebuild_each_epoch=true",
    ];
    args.extend(SPLIT);
    run(&args);
    let documents = manifest(&out.path().join("documents"));
    let documents_out = documents["counts"]["documents_out"].as_u64().unwrap();
    let (e0, e1) = (out.path().join("epochs/0"), out.path().join("epochs/1"));
    let m0 = manifest(&e0);

    // The manifest names the rule; every document is in exactly one split's count.
    assert_eq!(m0["split"]["validation_fraction"], 0.15);
    assert_eq!(m0["split"]["test_fraction"], 0.1);
    assert_eq!(m0["split"]["seed"], m0["seed"]);
    let documents_in = |m: &serde_json::Value, key: &str| {
        let section = if key == "train" { m } else { &m[key] };
        section["stats"]["documents_in"].as_u64().unwrap()
    };
    let per_split: Vec<u64> = ["train", "validation", "test"]
        .iter()
        .map(|k| documents_in(&m0, k))
        .collect();
    assert_eq!(per_split.iter().sum::<u64>(), documents_out, "{per_split:?}");
    let share = |n: u64| n as f64 / documents_out as f64;
    assert!((share(per_split[1]) - 0.15).abs() < 0.03, "{per_split:?}");
    assert!((share(per_split[2]) - 0.1).abs() < 0.03, "{per_split:?}");
    // Default shard count: example_shards (8) times the fraction, rounded up.
    assert_eq!(m0["shards"].as_array().unwrap().len(), 8);
    assert_eq!(m0["validation"]["shards"].as_array().unwrap().len(), 2);
    assert_eq!(m0["test"]["shards"].as_array().unwrap().len(), 1);
    for key in ["validation", "test"] {
        let rows: Vec<u64> = m0[key]["shards"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s["rows"].as_u64().unwrap())
            .collect();
        assert!(
            rows.iter().max().unwrap() - rows.iter().min().unwrap() <= 1,
            "{key}: {rows:?}"
        );
        assert_eq!(rows.iter().sum::<u64>(), m0[key]["stats"]["examples"].as_u64().unwrap());
    }

    // The outside reader's checks on every split: rows, masks, segments found in the documents,
    // balanced shards, each document in its split by the rule, documents_in adding up.
    let docs_dir = out.path().join("documents");
    for (epoch, split) in [(&e0, "train"), (&e0, "validation"), (&e0, "test"), (&e1, "validation")] {
        python_examples_check(epoch, &docs_dir, &["--split", split, "--max-seq-length", "128"]);
    }

    // Disjoint by document, and the same documents in every epoch (pairs were rebuilt).
    let ids0 = doc_ids(&e0);
    let ids1 = doc_ids(&e1);
    for (a, b) in [("train", "validation"), ("train", "test"), ("validation", "test")] {
        assert!(ids0[a].is_disjoint(&ids0[b]), "{a} and {b} share documents");
    }
    assert!(ids0.values().all(|ids| ids.len() > 20), "every split has documents");
    // Each document is where the documented rule puts it (an implementation of its own here).
    let seed = m0["seed"].as_u64().unwrap();
    for (split, ids) in &ids0 {
        for &id in ids {
            assert_eq!(documented_split(seed, 0.15, 0.1, id), *split, "document {id}");
        }
    }
    assert_eq!(ids0, ids1, "the split moved between epochs");
    let (v0, v1) = (split_examples(&e0, "validation"), split_examples(&e1, "validation"));
    assert_ne!(v0, v1, "epoch 1 has fresh pairs and masks for the validation split too");

    // NSP negatives come from the example's own split: the second segment of every example
    // is a run of some document, and when its opening words occur in one split only, that
    // split is the example's.
    let tokens = document_tokens(&out.path().join("documents"));
    let split_of: HashMap<u64, &str> = ids0
        .iter()
        .flat_map(|(split, ids)| ids.iter().map(move |id| (*id, *split)))
        .collect();
    let mut where_found: HashMap<[u32; 4], BTreeSet<&str>> = HashMap::new();
    for (id, t) in &tokens {
        // Documents without any example (too short) have no split seen here: skip them.
        let Some(split) = split_of.get(id) else { continue };
        for w in t.windows(4) {
            where_found.entry([w[0], w[1], w[2], w[3]]).or_default().insert(split);
        }
    }
    let (sep, mut checked, mut random_docs) = (102u32, 0, 0);
    for epoch in [&e0, &e1] {
        for split in ["train", "validation", "test"] {
            for e in split_examples(epoch, split) {
                let ids = e.restored();
                let first_sep = ids.iter().position(|&t| t == sep).unwrap();
                let second: Vec<u32> = ids[first_sep + 1..].iter().copied().take_while(|&t| t != sep).collect();
                if e.pair_type == 1 {
                    random_docs += 1;
                }
                let Some(found) = second.get(..4).and_then(|w| where_found.get(w)) else {
                    continue;
                };
                if found.len() == 1 {
                    checked += 1;
                    assert!(
                        found.contains(split),
                        "a {split} example's second segment is from {found:?}"
                    );
                }
            }
        }
    }
    assert!(
        random_docs > 100 && checked > 1000,
        "{random_docs} random-document pairs, {checked} checked"
    );
}

#[test]
fn splits_are_the_same_bytes_for_any_thread_count_and_replaced_cleanly() {
    let out = tempfile::tempdir().unwrap();
    let root = out.path().join("a");
    let other = out.path().join("b");
    let workers = out.path().join("c");
    let input = corpus("en/fortunes.txt");
    let pipeline = pipeline("bert-nsp-en.toml");
    let mut prepare = vec![
        "prepare",
        &pipeline,
        "--input",
        &input,
        "--output",
        root.to_str().unwrap(),
    ];
    prepare.extend(["--set", "output.documents_shard_bytes=200000"]);
    run(&prepare);
    for (path, bytes) in tree(&root.join("documents")) {
        for copy in [&other, &workers] {
            let to = copy.join("documents").join(&path);
            std::fs::create_dir_all(to.parent().unwrap()).unwrap();
            std::fs::write(to, &bytes).unwrap();
        }
    }
    let epoch = |at: &Path, threads: &str, extra: &[&str]| {
        let mut args = vec!["epoch", &pipeline, "--output", at.to_str().unwrap(), "--epoch", "0"];
        args.extend(["--threads", threads, "--set", "output.length_bins=[64]"]);
        args.extend(SPLIT);
        args.extend(extra);
        run(&args);
    };
    epoch(&root, "1", &[]);
    epoch(&other, "2", &[]);
    let (a, b) = (root.join("epochs/0"), other.join("epochs/0"));
    assert_eq!(tree(&a), tree(&b), "thread count changed the bytes");
    // Two worker processes at once, exchanging through the output: the same bytes.
    let children: Vec<_> = ["0", "1"]
        .into_iter()
        .map(|index| {
            let mut args: Vec<String> = [
                "epoch",
                &pipeline,
                "--output",
                workers.to_str().unwrap(),
                "--epoch",
                "0",
            ]
            .map(String::from)
            .to_vec();
            for a in [
                "--workers",
                "2",
                "--worker-index",
                index,
                "--quiet",
                "--set",
                "output.length_bins=[64]",
            ]
            .into_iter()
            .chain(SPLIT)
            {
                args.push(a.to_owned());
            }
            spawn(&args, &[])
        })
        .collect();
    for mut child in children {
        assert!(child.wait().unwrap().success());
    }
    let published =
        |dir: &Path| -> Vec<(String, Vec<u8>)> { tree(dir).into_iter().filter(|(p, _)| !p.starts_with('_')).collect() };
    assert_eq!(
        published(&workers.join("epochs/0")),
        tree(&a),
        "two workers changed the bytes"
    );
    check_manifest_schema(&[&root.join("documents"), &a]);
    let m = manifest(&a);
    assert!(
        m["validation"]["shards"]
            .as_array()
            .unwrap()
            .iter()
            .all(|s| s["path"].as_str().unwrap().starts_with("validation/bin-")),
        "binned held-out shards live under validation/bin-BB/"
    );
    let inspected = maskforge_ok(&["inspect", a.to_str().unwrap(), "--split", "test", "--limit", "1"]);
    assert!(String::from_utf8_lossy(&inspected.stdout).contains("test:"));
    let err = maskforge_err(&["inspect", a.to_str().unwrap(), "--split", "holdout"]);
    assert!(err.contains("not one of train, validation, test"), "{err}");

    // Rerun without a test split: test/ shards go, a file the user put there stays, and the
    // epoch has no test section any more.
    std::fs::write(a.join("test/notes.txt"), "mine").unwrap();
    let mut args = vec!["epoch", &pipeline, "--output", root.to_str().unwrap(), "--epoch", "0"];
    args.extend([
        "--set",
        "output.length_bins=[64]",
        "--set",
        "output.validation_fraction=0.15",
    ]);
    run(&args);
    let m = manifest(&a);
    assert!(
        m.get("test").is_none() && m["split"]["test_fraction"] == 0.0,
        "{}",
        m["split"]
    );
    check_manifest_schema(&[&a]);
    let left: Vec<String> = tree(&a.join("test")).into_iter().map(|(p, _)| p).collect();
    assert_eq!(left, ["notes.txt"]);
    let err = maskforge_err(&["inspect", a.to_str().unwrap(), "--split", "test"]);
    assert!(err.contains("no test split"), "{err}");

    // And without any split the epoch is as it always was: no split keys, no held-out folder.
    let mut args = vec!["epoch", &pipeline, "--output", root.to_str().unwrap(), "--epoch", "0"];
    args.extend(["--set", "output.length_bins=[64]"]);
    run(&args);
    let m = manifest(&a);
    assert!(m.get("split").is_none() && m.get("validation").is_none(), "{m}");
    check_manifest_schema(&[&a]);
    assert_eq!(files_containing(&a.join("validation"), ".parquet"), 0);
}
