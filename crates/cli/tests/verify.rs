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

#[test]
fn sound_datasets_pass_and_each_damage_is_named() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("out");
    run_quickstart(
        &out,
        &[
            "--input",
            &corpus("zh/fortunes-zh.txt"),
            "--set",
            "output.validation_fraction=0.1",
        ],
    );
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
    copy_tree(&epoch, &flipped);
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
    copy_tree(&epoch, &moved);
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
        copy_tree(dataset, &cut);
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
    copy_tree(&out, &wrong);
    let wrong_epoch = wrong.join("epochs/0");
    let changed_row = std::cell::Cell::new(None);
    craft_shard(&wrong_epoch, |batch| {
        use arrow::array::{AsArray, UInt32Array};
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
        let list = with_list_values(&labels, std::sync::Arc::new(UInt32Array::from(values)));
        replace_column(batch, "masked_labels", list)
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

/// The JSON report of `verify --json` on `dataset`, which must fail, with the process's stderr.
fn failing_report(dataset: &str, env: &[(String, String)]) -> (String, String) {
    let out = maskforge_env(&["verify", dataset, "--json"], env);
    assert!(!out.status.success(), "verify passed {dataset}");
    (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn hostile_datasets_fail_cleanly_and_never_print_secrets() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("out");
    run_quickstart(&out, &["--input", &corpus("zh/fortunes-zh.txt")]);
    let epoch = out.join("epochs/0");
    let shard = "part-00000.parquet";

    // A FIFO and a folder where a shard should be: named problems, no hang.
    for (name, make) in [
        (
            "fifo",
            (|p: &Path| {
                let made = std::process::Command::new("mkfifo").arg(p).status().unwrap();
                assert!(made.success());
            }) as fn(&Path),
        ),
        ("folder", |p: &Path| std::fs::create_dir(p).unwrap()),
    ] {
        let copy_of = tmp.path().join(name).join("epochs/0");
        copy_tree(&epoch, &copy_of);
        std::fs::remove_file(copy_of.join(shard)).unwrap();
        make(&copy_of.join(shard));
        for flags in [&[][..], &["--deep"][..]] {
            let (_, lines) = problems(&copy_of, flags);
            assert!(lines.iter().any(|l| l.starts_with(shard)), "{name}: {lines:?}");
        }
    }

    // A manifest whose shard path climbs out of the dataset (to the documents next door) is
    // refused, not followed.
    let climbing = tmp.path().join("climbing");
    copy_tree(&out, &climbing);
    let path = climbing.join("epochs/0/manifest.json");
    let text = std::fs::read_to_string(&path).unwrap();
    std::fs::write(
        &path,
        text.replacen(&format!("\"{shard}\""), "\"../../documents/part-00000.parquet\"", 1),
    )
    .unwrap();
    let (report, lines) = problems(&climbing.join("epochs/0"), &[]);
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("manifest.json") && l.contains("not a path inside")),
        "{report}"
    );

    // Credentials in the URL and in the environment appear in no output, in either format.
    let env = [
        ("AWS_ENDPOINT".to_owned(), "http://127.0.0.1:9".to_owned()),
        ("AWS_ACCESS_KEY_ID".to_owned(), "envkey123".to_owned()),
        ("AWS_SECRET_ACCESS_KEY".to_owned(), "envsecret789".to_owned()),
        ("AWS_ALLOW_HTTP".to_owned(), "true".to_owned()),
        ("MASKFORGE_RETRY_SECS".to_owned(), "1".to_owned()),
    ];
    for url in ["s3://user:urlsecret456@bucket/epochs/0", "s3://bucket/epochs/0"] {
        let (stdout, stderr) = failing_report(url, &env);
        let text = format!("{stdout}{stderr}");
        assert!(!text.is_empty());
        for secret in ["urlsecret456", "envsecret789"] {
            assert!(!text.contains(secret), "{secret} printed: {text}");
        }
        let plain = maskforge_env(&["verify", url], &env);
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&plain.stdout),
            String::from_utf8_lossy(&plain.stderr)
        );
        assert!(!plain.status.success());
        for secret in ["urlsecret456", "envsecret789"] {
            assert!(!text.contains(secret), "{secret} printed: {text}");
        }
    }
}

/// The script of the "Next epoch" step of deploy/ci/next-epoch.yml, dedented.
fn next_epoch_script() -> String {
    let text = std::fs::read_to_string(repo().join("deploy/ci/next-epoch.yml")).unwrap();
    let step = text.split("- name: Next epoch").nth(1).expect("a Next epoch step");
    let script = step.split("run: |\n").nth(1).expect("a run: | block");
    script
        .lines()
        .take_while(|l| !l.trim_start().starts_with("- name:"))
        .map(|l| l.trim_start())
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn the_scheduled_ci_template_builds_verifies_and_reports_each_epoch() {
    let tmp = tempfile::tempdir().unwrap();
    let output = tmp.path().join("run");
    maskforge_ok(&[
        "prepare",
        &pipeline("quickstart.toml"),
        "--output",
        output.to_str().unwrap(),
        "--quiet",
    ]);
    let script = next_epoch_script();
    assert!(script.contains("maskforge verify \"$url\""), "{script}");
    let script = script
        .replace("run=s3://bucket/run", &format!("run={}", output.display()))
        .replace("pipelines/macbert-zh.toml", &pipeline("quickstart.toml"));
    let path = path_with_maskforge();
    for epoch in 0..2 {
        let run = std::process::Command::new("bash")
            .args(["-c", &script])
            .current_dir(tmp.path())
            .env("PATH", &path)
            .output()
            .unwrap();
        assert!(
            run.status.success(),
            "{script}\n{}",
            String::from_utf8_lossy(&run.stderr)
        );
        let verified: serde_json::Value =
            serde_json::from_slice(&std::fs::read(tmp.path().join("verify.json")).unwrap()).unwrap();
        assert_eq!(verified["problems"].as_array().unwrap().len(), 0);
        assert!(
            verified["url"].as_str().unwrap().ends_with(&format!("/epochs/{epoch}")),
            "{verified}"
        );
        let summary: serde_json::Value =
            serde_json::from_slice(&std::fs::read(tmp.path().join("summary.json")).unwrap()).unwrap();
        assert_eq!(summary["datasets"][1]["epoch"], epoch);
        assert_eq!(
            summary["datasets"][1]["stats"]["train"],
            manifest(&output.join(format!("epochs/{epoch}")))["stats"]
        );
        assert!(
            std::fs::read_to_string(tmp.path().join("report.html"))
                .unwrap()
                .contains("<svg")
        );
    }
}

/// `array`'s rows with `change(row, values)` applied to each row's values (a list column of
/// `T`), as a new list column of the same type.
fn map_list<T: arrow::datatypes::ArrowPrimitiveType>(
    batch: &arrow::record_batch::RecordBatch,
    name: &str,
    change: impl Fn(usize, &mut Vec<T::Native>),
) -> arrow::array::ArrayRef {
    use arrow::array::{Array, AsArray, PrimitiveArray};
    let list = batch.column_by_name(name).unwrap().as_list::<i32>().clone();
    let offsets = list.value_offsets().to_vec();
    let mut values = list.values().as_primitive::<T>().values().to_vec();
    for row in 0..list.len() {
        let (start, end) = (offsets[row] as usize, offsets[row + 1] as usize);
        let mut part = values[start..end].to_vec();
        change(row, &mut part);
        assert_eq!(part.len(), end - start, "map_list keeps lengths");
        values[start..end].copy_from_slice(&part);
    }
    with_list_values(
        &list,
        std::sync::Arc::new(PrimitiveArray::<T>::from_iter_values(values)),
    )
}

#[test]
fn deep_verification_checks_every_value_range_of_the_contract() {
    use arrow::array::{ArrayRef, Int8Array, UInt8Array};
    use arrow::datatypes::{UInt8Type, UInt32Type};
    use arrow::record_batch::RecordBatch;
    use std::sync::Arc;
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("out");
    // The quickstart: SOP pairs, the Chinese BERT vocabulary ([CLS] 101, [SEP] 102).
    run_quickstart(&out, &["--input", &corpus("zh/fortunes-zh.txt")]);
    let rows = |batch: &RecordBatch| batch.num_rows();
    type Craft = Box<dyn Fn(RecordBatch) -> RecordBatch>;
    let crafts: Vec<(&str, Craft)> = vec![
        (
            "token type 7 is not 0 or 1",
            Box::new(|b| {
                let list = map_list::<UInt8Type>(&b, "token_type_ids", |_, v| v.fill(7));
                replace_column(b, "token_type_ids", list)
            }),
        ),
        (
            "sop_label 5 is not -1, 0 or 1",
            Box::new(move |b| {
                let n = rows(&b);
                replace_column(b, "sop_label", Arc::new(Int8Array::from(vec![5i8; n])) as ArrayRef)
            }),
        ),
        (
            "pair type 3 does not occur in a Sop epoch",
            Box::new(move |b| {
                let n = rows(&b);
                replace_column(b, "pair_type", Arc::new(UInt8Array::from(vec![3u8; n])) as ArrayRef)
            }),
        ),
        (
            "do not match pair type",
            Box::new(|b| {
                use arrow::array::AsArray;
                let sop = b
                    .column_by_name("sop_label")
                    .unwrap()
                    .as_primitive::<arrow::datatypes::Int8Type>();
                let flipped: Int8Array = sop.iter().map(|l| l.map(|l| 1 - l)).collect();
                replace_column(b, "sop_label", Arc::new(flipped) as ArrayRef)
            }),
        ),
        (
            "is outside the vocabulary of 21128",
            Box::new(|b| {
                let list = map_list::<UInt32Type>(&b, "input_ids", |row, v| {
                    if row == 3 {
                        v[1] = 21128;
                    }
                });
                replace_column(b, "input_ids", list)
            }),
        ),
        (
            "the first token is Some(100), not the start token Some(101)",
            Box::new(|b| {
                let list = map_list::<UInt32Type>(&b, "input_ids", |row, v| {
                    if row == 2 {
                        v[0] = 100;
                    }
                });
                replace_column(b, "input_ids", list)
            }),
        ),
        (
            "holds the special token 102",
            Box::new(|b| {
                let list = map_list::<UInt32Type>(&b, "masked_labels", |_, v| {
                    if let Some(first) = v.first_mut() {
                        *first = 102;
                    }
                });
                replace_column(b, "masked_labels", list)
            }),
        ),
    ];
    for (expected, craft) in crafts {
        let copy = tmp.path().join("copy");
        let _ = std::fs::remove_dir_all(&copy);
        copy_tree(&out, &copy);
        let epoch = copy.join("epochs/0");
        craft_shard(&epoch, craft);
        // Checksums and footer are right: the plain check passes, the deep one names the row.
        let plain = verify(&epoch, &[]);
        assert!(
            plain.status.success(),
            "{expected}: {}",
            String::from_utf8_lossy(&plain.stdout)
        );
        let (_, lines) = problems(&epoch, &["--deep"]);
        assert!(
            lines
                .iter()
                .any(|l| l.starts_with("part-00000.parquet") && l.contains(expected) && l.contains("row ")),
            "{expected}: {lines:?}"
        );
    }
}
