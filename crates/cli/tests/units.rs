//! Units inside files: a real JSON Lines, Parquet, CSV and text file cut into pieces by several
//! `unit_bytes` give the documents of the whole file, row for row and id for id; the `lines`
//! text layout makes every non-blank line a document.

mod common;

use arrow::array::{Array, AsArray};
use arrow::datatypes::{UInt32Type, UInt64Type};
use common::*;
use std::path::Path;

/// (doc_id, source, input_ids) of every document, in manifest order.
fn documents(dataset: &Path) -> Vec<(u64, String, Vec<u32>)> {
    let mut rows = Vec::new();
    for batch in shard_batches(dataset) {
        let ids = batch
            .column_by_name("doc_id")
            .unwrap()
            .as_primitive::<UInt64Type>()
            .clone();
        let source = arrow::compute::cast(
            batch.column_by_name("source").unwrap(),
            &arrow::datatypes::DataType::Utf8,
        )
        .unwrap();
        let tokens = batch.column_by_name("input_ids").unwrap().as_list::<i32>().clone();
        for r in 0..batch.num_rows() {
            rows.push((
                ids.value(r),
                source.as_string::<i32>().value(r).to_owned(),
                tokens.value(r).as_primitive::<UInt32Type>().values().to_vec(),
            ));
        }
    }
    rows
}

fn prepare(inputs: &[String], out: &Path, sets: &[String]) -> serde_json::Value {
    let pipeline = pipeline("quickstart.toml");
    let mut args = vec![
        "prepare",
        pipeline.as_str(),
        "--output",
        out.to_str().unwrap(),
        "--quiet",
    ];
    for input in inputs {
        args.extend(["--input", input.as_str()]);
    }
    args.extend(["--set", "sources.0.format=\"auto\""]);
    for set in sets {
        args.extend(["--set", set.as_str()]);
    }
    maskforge_ok(&args);
    manifest(&out.join("documents"))
}

#[test]
fn pieces_of_json_lines_parquet_and_text_give_the_whole_files_documents() {
    let tmp = tempfile::tempdir().unwrap();
    // A Parquet file of many row groups, rewritten from a real one.
    let parquet = tmp.path().join("help.parquet");
    run_python_inline(&format!(
        "import pyarrow.parquet as pq; pq.write_table(pq.read_table({:?}), {:?}, row_group_size=150)",
        corpus("formats/libreoffice-help-zh-cn.parquet"),
        parquet.to_str().unwrap()
    ));
    let inputs = vec![
        corpus("zh/debian-handbook-zh-cn.txt"),
        corpus("formats/fortunes-zh.jsonl"),
        parquet.to_str().unwrap().to_owned(),
    ];
    let whole = prepare(&inputs, &tmp.path().join("whole"), &[]);
    let expected = documents(&tmp.path().join("whole/documents"));
    assert!(expected.len() > 8000, "{}", expected.len());
    assert_eq!(
        whole["shards"].as_array().unwrap().len(),
        1,
        "the three files are one unit by default"
    );
    for unit_bytes in [4096, 30_011, 250_000] {
        let out = tmp.path().join(format!("cut-{unit_bytes}"));
        let cut = prepare(&inputs, &out, &[format!("sources.0.unit_bytes={unit_bytes}")]);
        assert!(
            cut["shards"].as_array().unwrap().len() >= 4,
            "unit_bytes {unit_bytes} cut the files: {}",
            cut["shards"]
        );
        assert_eq!(
            cut["inputs"], whole["inputs"],
            "unit_bytes {unit_bytes}: one entry per file"
        );
        assert_eq!(cut["counts"], whole["counts"], "unit_bytes {unit_bytes}");
        let got = documents(&out.join("documents"));
        assert_eq!(got.len(), expected.len(), "unit_bytes {unit_bytes}");
        assert!(
            got == expected,
            "unit_bytes {unit_bytes}: documents differ from the whole files'"
        );
    }
    // Ids are unique, and an outside reader accepts the cut dataset.
    let mut ids: Vec<u64> = expected.iter().map(|d| d.0).collect();
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), expected.len());
    python_check(&tmp.path().join("cut-4096/documents"), &chinese_vocab(), true);
}

#[test]
fn a_piece_that_starts_inside_a_file_names_the_byte_of_a_bad_line() {
    let tmp = tempfile::tempdir().unwrap();
    let file = tmp.path().join("bad.jsonl");
    let mut text = String::new();
    for i in 0..400 {
        text.push_str(&format!(
            "{{\"text\": \"第{i}行。这是一个测试句子，用来检查错误信息。\"}}\n"
        ));
    }
    let bad_at = text.len();
    text.push_str("{broken\n");
    std::fs::write(&file, &text).unwrap();
    let pipeline = pipeline("quickstart.toml");
    let out = tmp.path().join("out");
    let err = maskforge_err(&[
        "prepare",
        &pipeline,
        "--input",
        file.to_str().unwrap(),
        "--output",
        out.to_str().unwrap(),
        "--set",
        "sources.0.format=\"auto\"",
        "--set",
        "sources.0.unit_bytes=4096",
        "--set",
        "sources.0.on_bad_record=\"fail\"",
    ]);
    assert!(
        err.contains("bad.jsonl") && err.contains(&format!("the line at byte {bad_at}")),
        "{err}"
    );
}

#[test]
fn the_lines_layout_makes_every_non_blank_line_a_document() {
    let tmp = tempfile::tempdir().unwrap();
    let source = std::fs::read_to_string(corpus("zh/fortunes-zh.txt")).unwrap();
    let lines: Vec<&str> = source
        .lines()
        .map(str::trim)
        .filter(|l| l.chars().count() >= 8)
        .take(600)
        .collect();
    let file = tmp.path().join("one-per-line.txt");
    std::fs::write(&file, lines.join("\n") + "\n").unwrap();
    let inputs = vec![file.to_str().unwrap().to_owned()];

    let paragraphs = prepare(&inputs, &tmp.path().join("paragraphs"), &[]);
    assert_eq!(
        paragraphs["counts"]["records_in"], 1,
        "without blank lines the file is one document"
    );
    let by_line = prepare(
        &inputs,
        &tmp.path().join("lines"),
        &["sources.0.text_layout=\"lines\"".into()],
    );
    assert_eq!(by_line["counts"]["records_in"], lines.len() as u64);
    assert_eq!(by_line["counts"]["documents_out"], lines.len() as u64);
    // Each document is its line (sentences split inside it), in order.
    let batches = shard_batches(&tmp.path().join("lines/documents"));
    let texts: Vec<String> = batches
        .iter()
        .flat_map(|b| {
            let t = b.column_by_name("text").unwrap().as_string::<i32>().clone();
            (0..t.len()).map(move |r| t.value(r).replace('\n', ""))
        })
        .collect();
    let squeeze = |s: &str| s.split_whitespace().collect::<String>();
    assert_eq!(texts.len(), lines.len());
    for (text, line) in texts.iter().zip(&lines) {
        assert_eq!(squeeze(text), squeeze(line));
    }
    // Cut into pieces, the same documents.
    let cut = prepare(
        &inputs,
        &tmp.path().join("lines-cut"),
        &[
            "sources.0.text_layout=\"lines\"".into(),
            "sources.0.unit_bytes=2000".into(),
        ],
    );
    assert_eq!(cut["counts"], by_line["counts"]);
    assert!(documents(&tmp.path().join("lines-cut/documents")) == documents(&tmp.path().join("lines/documents")));

    // The layout on a source that is not text, and absurd unit sizes, are refused.
    let pipeline = pipeline("quickstart.toml");
    let out = tmp.path().join("refused");
    for (set, expected) in [
        ("sources.0.text_layout=\"lines\"", "sources.0.text_layout"),
        ("sources.0.unit_bytes=0", "sources.0.unit_bytes"),
        ("sources.0.unit_bytes=2000000000000000", "sources.0.unit_bytes"),
        (
            "sources.0.csv_newlines_in_values=false",
            "sources.0.csv_newlines_in_values",
        ),
    ] {
        let err = maskforge_err(&[
            "prepare",
            &pipeline,
            "--input",
            &corpus("formats/fortunes-zh.jsonl"),
            "--output",
            out.to_str().unwrap(),
            "--set",
            "sources.0.format=\"jsonl\"",
            "--set",
            set,
        ]);
        assert!(err.contains(expected), "{set}: {err}");
    }
}

/// Writes a CSV file (id, n, text) of the real fortune cookies at `path`, one record a line
/// (line breaks in the texts become spaces; the csv module quotes commas and quotes), and
/// returns its bytes.
fn write_fortunes_csv(path: &Path) -> Vec<u8> {
    let script = [
        "import csv, json, sys",
        "rows = [json.loads(l) for l in open(sys.argv[1], encoding='utf-8')]",
        "with open(sys.argv[2], 'w', newline='', encoding='utf-8') as f:",
        "    w = csv.writer(f)",
        "    w.writerow(['id', 'n', 'text'])",
        "    for i, r in enumerate(rows):",
        "        w.writerow(['f%d' % i, i, ' '.join(r['text'].splitlines()) + ', \"quoted\"'])",
    ]
    .join("\n");
    let out = std::process::Command::new("python3")
        .args([
            "-c",
            &script,
            &corpus("formats/fortunes-zh.jsonl"),
            path.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    std::fs::read(path).unwrap()
}

#[test]
fn pieces_of_a_csv_file_read_as_lines_give_the_whole_files_documents() {
    let tmp = tempfile::tempdir().unwrap();
    let clean = tmp.path().join("fortunes.csv");
    let bytes = write_fortunes_csv(&clean);
    assert!(bytes.len() > 1_500_000 && bytes.windows(2).any(|w| w == b"\"\""));
    let lines = "sources.0.csv_newlines_in_values=false".to_owned();
    let input = vec![clean.to_str().unwrap().to_owned()];

    // Read as lines, the whole file gives the texts datafusion's CSV reader gives, in order.
    let by_datafusion = prepare(&input, &tmp.path().join("datafusion"), &[]);
    let by_line = prepare(&input, &tmp.path().join("lines"), std::slice::from_ref(&lines));
    assert_eq!(by_line["counts"], by_datafusion["counts"]);
    let tokens = |docs: Vec<(u64, String, Vec<u32>)>| -> Vec<Vec<u32>> { docs.into_iter().map(|d| d.2).collect() };
    let expected_tokens = tokens(documents(&tmp.path().join("datafusion/documents")));
    assert!(expected_tokens.len() > 5000);
    assert_eq!(tokens(documents(&tmp.path().join("lines/documents"))), expected_tokens);

    // A bad line of each kind in the middle: counted, and the other lines unchanged.
    let dirty = tmp.path().join("dirty.csv");
    // After the first 1000 records, whose values decide the column types (`n` stays numeric).
    let middle = bytes
        .iter()
        .enumerate()
        .filter(|(_, b)| **b == b'\n')
        .nth(4000)
        .unwrap()
        .0
        + 1;
    let mut text = bytes[..middle].to_vec();
    let wrong_fields_at = text.len();
    text.extend_from_slice(b"g1,1,two,fields too many\n");
    text.extend_from_slice(b"g2,2,\xff\xfe not UTF-8\n");
    text.extend_from_slice(b"g3,not a number,the n column is numeric\n");
    text.extend_from_slice(b"g4,4,\"a value with a line\n break inside quotes\"\n");
    text.extend_from_slice(&bytes[middle..]);
    std::fs::write(&dirty, &text).unwrap();
    let input = vec![dirty.to_str().unwrap().to_owned()];
    let options = [
        lines.clone(),
        "sources.0.id_column=\"id\"".to_owned(),
        "sources.0.filter=n % 3 <> 0".to_owned(),
    ];
    let whole = prepare(&input, &tmp.path().join("whole"), &options);
    let counts = &whole["counts"];
    assert_eq!(counts["skipped"]["invalid_csv"], 4, "{counts}");
    assert_eq!(counts["skipped"]["invalid_utf8"], 1, "{counts}");
    assert!(counts["skipped"]["filtered"].as_u64().unwrap() > 1800, "{counts}");
    let expected = documents(&tmp.path().join("whole/documents"));
    for unit_bytes in [4096, 30_011, 250_000] {
        let out = tmp.path().join(format!("cut-{unit_bytes}"));
        let mut sets = options.to_vec();
        sets.push(format!("sources.0.unit_bytes={unit_bytes}"));
        let cut = prepare(&input, &out, &sets);
        assert!(cut["shards"].as_array().unwrap().len() >= 4, "unit_bytes {unit_bytes}");
        assert_eq!(cut["counts"], whole["counts"], "unit_bytes {unit_bytes}");
        assert_eq!(cut["inputs"], whole["inputs"], "unit_bytes {unit_bytes}");
        assert!(
            documents(&out.join("documents")) == expected,
            "unit_bytes {unit_bytes}: documents differ"
        );
    }
    python_check(&tmp.path().join("cut-4096/documents"), &chinese_vocab(), true);

    // Under on_bad_record = "fail", a piece inside the file names the bad line's byte.
    let mut sets = vec![
        lines,
        "sources.0.unit_bytes=4096".to_owned(),
        "sources.0.on_bad_record=\"fail\"".to_owned(),
    ];
    let pipeline = pipeline("quickstart.toml");
    let out = tmp.path().join("fail");
    let mut args = vec!["prepare", pipeline.as_str(), "--input", input[0].as_str()];
    args.extend(["--output", out.to_str().unwrap(), "--set", "sources.0.format=\"auto\""]);
    for set in &mut sets {
        args.extend(["--set", set.as_str()]);
    }
    let err = maskforge_err(&args);
    assert!(
        err.contains("dirty.csv")
            && err.contains(&format!("the line at byte {wrong_fields_at}"))
            && err.contains("malformed CSV"),
        "{err}"
    );
}

/// Runs a Python snippet (pyarrow is installed by the test script).
fn run_python_inline(code: &str) {
    let out = std::process::Command::new("python3")
        .args(["-c", code])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
}
