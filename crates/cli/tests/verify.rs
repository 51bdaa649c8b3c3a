//! `maskforge verify` on real datasets: a sound documents dataset and epoch (with a validation
//! split) pass plain and deep, and every kind of damage is found and named: a flipped byte, a
//! missing shard, a truncated manifest, a stray shard, and a row whose labels do not restore its
//! document (which only the deep check can see).

mod common;

use common::*;
use std::path::Path;
use std::process::Output;

/// `maskforge verify DATASET [FLAGS]`.
fn verify(dataset: &Path, flags: &[&str]) -> Output {
    let mut args = vec!["verify", dataset.to_str().unwrap()];
    args.extend(flags);
    maskforge(&args)
}

/// The JSON report of a `verify --json` that found problems, and their lines as `file: what`.
fn problems(dataset: &Path, flags: &[&str]) -> (serde_json::Value, Vec<String>) {
    let mut all = flags.to_vec();
    all.push("--json");
    let out = verify(dataset, &all);
    assert!(!out.status.success(), "verify passed a damaged dataset");
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).expect("a JSON report");
    let lines = report["problems"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            format!(
                "{} row {}: {}",
                p["file"].as_str().unwrap(),
                p["row"],
                p["what"].as_str().unwrap()
            )
        })
        .collect();
    (report, lines)
}

/// A copy of the folder `from` at `to`.
fn copy(from: &Path, to: &Path) {
    for (path, bytes) in tree(from) {
        let target = to.join(path);
        std::fs::create_dir_all(target.parent().unwrap()).unwrap();
        std::fs::write(target, bytes).unwrap();
    }
}

#[test]
fn sound_datasets_pass_and_each_damage_is_named() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("out");
    let output = out.to_str().unwrap();
    maskforge_ok(&[
        "run",
        &pipeline("quickstart.toml"),
        "--input",
        &corpus("zh/fortunes-zh.txt"),
        "--output",
        output,
        "--set",
        "output.validation_fraction=0.1",
        "--quiet",
    ]);
    let (documents, epoch) = (out.join("documents"), out.join("epochs/0"));
    for dataset in [&documents, &epoch] {
        for flags in [&[][..], &["--deep"][..]] {
            let ok = verify(dataset, flags);
            let stdout = String::from_utf8_lossy(&ok.stdout);
            assert!(ok.status.success(), "{stdout}{}", String::from_utf8_lossy(&ok.stderr));
            assert!(stdout.contains(": ok"), "{stdout}");
        }
    }
    let out_json = verify(&epoch, &["--json"]);
    let report: serde_json::Value = serde_json::from_slice(&out_json.stdout).unwrap();
    let m = manifest(&epoch);
    let listed = m["shards"].as_array().unwrap().len() + m["validation"]["shards"].as_array().unwrap().len();
    assert_eq!(report["kind"], "examples");
    assert_eq!(
        report["shards"].as_u64().unwrap() as usize,
        listed,
        "validation shards are verified too"
    );
    assert_eq!(report["problems"].as_array().unwrap().len(), 0);

    // A flipped byte in a validation shard.
    let flipped = tmp.path().join("flipped/epochs/0");
    copy(&epoch, &flipped);
    let shard = m["validation"]["shards"][0]["path"].as_str().unwrap();
    let mut bytes = std::fs::read(flipped.join(shard)).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0x40;
    std::fs::write(flipped.join(shard), bytes).unwrap();
    let (_, lines) = problems(&flipped, &[]);
    assert!(
        lines.iter().any(|l| l.starts_with(shard) && l.contains("checksum")),
        "{lines:?}"
    );

    // A missing shard and a stray one, both named.
    let moved = tmp.path().join("moved/epochs/0");
    copy(&epoch, &moved);
    std::fs::rename(moved.join("part-00001.parquet"), moved.join("part-00099.parquet")).unwrap();
    let (_, lines) = problems(&moved, &[]);
    assert!(lines.iter().any(|l| l.starts_with("part-00001.parquet")), "{lines:?}");
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("part-00099.parquet") && l.contains("not listed")),
        "{lines:?}"
    );

    // A truncated manifest, of either dataset.
    for dataset in [&documents, &epoch] {
        let cut = tmp.path().join("cut").join(dataset.file_name().unwrap());
        copy(dataset, &cut);
        let text = std::fs::read(cut.join("manifest.json")).unwrap();
        std::fs::write(cut.join("manifest.json"), &text[..text.len() / 2]).unwrap();
        let (report, lines) = problems(&cut, &[]);
        assert_eq!(report["kind"], "unknown");
        assert!(
            lines
                .iter()
                .any(|l| l.starts_with("manifest.json") && l.contains("not JSON")),
            "{lines:?}"
        );
    }

    // A row whose label does not restore its document, in a shard whose checksums are right:
    // the plain check passes, the deep one names the row.
    let wrong = tmp.path().join("wrong");
    copy(&out, &wrong);
    let wrong_epoch = wrong.join("epochs/0");
    let changed_row = std::cell::Cell::new(None);
    craft_shard(&wrong_epoch, |batch| {
        use arrow::array::{Array, AsArray, ListArray, UInt32Array};
        use arrow::datatypes::UInt32Type;
        let positions = batch
            .column_by_name("masked_positions")
            .unwrap()
            .as_list::<i32>()
            .clone();
        let labels = batch.column_by_name("masked_labels").unwrap().as_list::<i32>().clone();
        let ids = batch.column_by_name("input_ids").unwrap().as_list::<i32>().clone();
        // The first row with a masked position in its first segment (before the first [SEP]).
        let sep = 102u32;
        let row = (0..batch.num_rows())
            .find(|&r| {
                let first_sep = ids
                    .value(r)
                    .as_primitive::<UInt32Type>()
                    .values()
                    .iter()
                    .position(|&t| t == sep);
                let p = positions.value(r);
                let p = p.as_primitive::<arrow::datatypes::UInt16Type>();
                !p.is_empty() && first_sep.is_some_and(|s| (p.value(0) as usize) < s)
            })
            .expect("a row masked in its first segment");
        changed_row.set(Some(row));
        let mut values = labels.values().as_primitive::<UInt32Type>().values().to_vec();
        let at = labels.value_offsets()[row] as usize;
        values[at] = if values[at] > 1000 {
            values[at] - 1
        } else {
            values[at] + 1
        };
        let list = ListArray::new(
            std::sync::Arc::new(arrow::datatypes::Field::new(
                "item",
                arrow::datatypes::DataType::UInt32,
                false,
            )),
            labels.offsets().clone(),
            std::sync::Arc::new(UInt32Array::from(values)),
            labels.nulls().cloned(),
        );
        replace_column(batch, "masked_labels", std::sync::Arc::new(list))
    });
    let plain = verify(&wrong_epoch, &[]);
    assert!(plain.status.success(), "{}", String::from_utf8_lossy(&plain.stdout));
    let (_, lines) = problems(&wrong_epoch, &["--deep"]);
    let row = changed_row.get().unwrap();
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with(&format!("part-00000.parquet row {row}: its first segment"))),
        "{lines:?}"
    );
}
