//! `maskforge prepare` on the real corpora of `../shared/corpora/`, checked by an outside reader.

mod common;

use common::*;
use std::io::BufRead;

fn out_dir() -> tempfile::TempDir {
    tempfile::tempdir().expect("temp dir")
}

#[test]
fn chinese_text_with_the_macbert_pipeline() {
    let out = out_dir();
    let output = out.path().to_str().unwrap();
    let input = corpus("zh/debian-handbook-zh-cn.txt");
    let printed = maskforge_ok(&[
        "prepare",
        &pipeline("macbert-zh.toml"),
        "--input",
        &input,
        "--output",
        output,
        "--set",
        "output.keep_text=true",
        "--quiet",
    ]);
    let dataset = out.path().join("documents");
    assert!(String::from_utf8_lossy(&printed.stdout).trim().ends_with("/documents"));
    let m = manifest(&dataset);
    let counts = balanced_counts(&m);
    assert!(counts["documents_out"].as_u64().unwrap() > 100, "{counts}");
    assert_eq!(m["inputs"][0]["name"], "debian-handbook-zh-cn.txt");
    assert_eq!(
        m["inputs"][0]["bytes"].as_u64().unwrap(),
        std::fs::metadata(&input).unwrap().len()
    );
    python_check(&dataset, &chinese_vocab(), true);
}

#[test]
fn all_chinese_text_files_by_glob() {
    let out = out_dir();
    let glob = format!("{}/zh/*.txt", corpora().display());
    maskforge_ok(&[
        "prepare",
        &pipeline("quickstart.toml"),
        "--input",
        &glob,
        "--output",
        out.path().to_str().unwrap(),
        "--quiet",
    ]);
    let dataset = out.path().join("documents");
    let m = manifest(&dataset);
    balanced_counts(&m);
    let names: Vec<&str> = m["inputs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        [
            "chinese-poetry-12mb.txt",
            "debian-handbook-zh-cn.txt",
            "debian-reference-zh-cn.txt",
            "fortunes-zh.txt",
            "libreoffice-help-zh-cn.txt"
        ]
    );
    python_check(&dataset, &chinese_vocab(), false);
}

#[test]
fn english_text_with_uncased_wordpiece() {
    let out = out_dir();
    maskforge_ok(&[
        "prepare",
        &pipeline("bert-nsp-en.toml"),
        "--input",
        &corpus("en/kjv.txt"),
        "--output",
        out.path().to_str().unwrap(),
        "--set",
        "output.keep_text=true",
        "--quiet",
    ]);
    let dataset = out.path().join("documents");
    let counts = balanced_counts(&manifest(&dataset));
    assert!(counts["sentences"].as_u64().unwrap() > counts["documents_out"].as_u64().unwrap());
    let vocab = repo().join("assets/vocab/bert-base-uncased/vocab.txt");
    python_check(&dataset, vocab.to_str().unwrap(), true);
}

#[test]
fn json_lines_with_ids_and_gzip() {
    let out = out_dir();
    let dir = out.path();
    let pipeline = write_pipeline(dir, "id_column = \"id\"");
    let zh = corpus("formats/fortunes-zh.jsonl");
    let en = corpus("formats/fortunes-en.jsonl.gz");
    maskforge_ok(&[
        "prepare",
        &pipeline,
        "--input",
        &zh,
        "--input",
        &en,
        "--output",
        dir.join("o").to_str().unwrap(),
        "--quiet",
    ]);
    let dataset = dir.join("o/documents");
    let m = manifest(&dataset);
    balanced_counts(&m);
    let lines_zh = std::fs::read_to_string(&zh)
        .unwrap()
        .lines()
        .filter(|l| !l.trim().is_empty())
        .count() as u64;
    let gz = flate2::read::GzDecoder::new(std::fs::File::open(&en).unwrap());
    let lines_en = std::io::BufReader::new(gz)
        .lines()
        .map(|l| l.unwrap())
        .filter(|l| !l.trim().is_empty())
        .count() as u64;
    assert_eq!(m["inputs"][0]["records"].as_u64().unwrap(), lines_zh);
    assert_eq!(m["inputs"][1]["records"].as_u64().unwrap(), lines_en);
    assert_eq!(m["counts"]["records_in"].as_u64().unwrap(), lines_zh + lines_en);
    python_check(&dataset, &chinese_vocab(), false);
}

#[test]
fn zstd_json_lines_read_like_the_plain_file() {
    let out = out_dir();
    let dir = out.path();
    let pipeline = write_pipeline(dir, "id_column = \"id\"");
    let plain = corpus("formats/fortunes-zh.jsonl");
    let compressed = dir.join("fortunes-zh.jsonl.zst");
    std::fs::write(
        &compressed,
        zstd::encode_all(std::fs::File::open(&plain).unwrap(), 3).unwrap(),
    )
    .unwrap();
    let run = |input: &str, name: &str| {
        let output = dir.join(name);
        maskforge_ok(&[
            "prepare",
            &pipeline,
            "--input",
            input,
            "--output",
            output.to_str().unwrap(),
            "--quiet",
        ]);
        manifest(&output.join("documents"))
    };
    let a = run(&plain, "plain");
    let b = run(compressed.to_str().unwrap(), "zst");
    assert_eq!(a["counts"], b["counts"]);
    // Same records and ids, but a different file name: the ids of the documents differ (the file
    // name is part of them), so only the counts are compared.
    assert!(a["counts"]["documents_out"].as_u64().unwrap() > 1000);
}

#[test]
fn parquet_with_sql_text_and_filter() {
    let out = out_dir();
    let dir = out.path();
    let extra = "text_sql = \"title || '\\n' || text\"\nid_column = \"id\"\nfilter = \"length(text) >= 200\"";
    let pipeline = write_pipeline(dir, extra);
    let input = corpus("formats/libreoffice-help-zh-cn.parquet");
    maskforge_ok(&[
        "prepare",
        &pipeline,
        "--input",
        &input,
        "--output",
        dir.to_str().unwrap(),
        "--set",
        "output.keep_text=true",
        "--quiet",
    ]);
    let dataset = dir.join("documents");
    let m = manifest(&dataset);
    let counts = balanced_counts(&m);
    assert_eq!(counts["records_in"], 2561, "SOURCES.md: 2,561 rows");
    let filtered = skipped(&m, "filtered");
    assert!(
        filtered > 100 && filtered < 2561,
        "filter should drop some rows, not all: {counts}"
    );
    python_check(&dataset, &chinese_vocab(), true);

    // Without the filter every row is a document or skipped for another reason.
    let all = dir.join("all");
    maskforge_ok(&[
        "prepare",
        &pipeline,
        "--input",
        &input,
        "--output",
        all.to_str().unwrap(),
        "--set",
        "sources.0.filter=\"1 = 1\"",
        "--quiet",
    ]);
    let m_all = manifest(&all.join("documents"));
    assert_eq!(skipped(&m_all, "filtered"), 0);
    assert!(m_all["counts"]["documents_out"].as_u64().unwrap() > counts["documents_out"].as_u64().unwrap());
}

#[test]
fn thread_count_does_not_change_the_bytes() {
    let out = out_dir();
    let run = |threads: &str, name: &str| {
        let output = out.path().join(name);
        maskforge_ok(&[
            "prepare",
            &pipeline("macbert-zh.toml"),
            "--input",
            &corpus("zh/fortunes-zh.txt"),
            "--input",
            &corpus("formats/fortunes-zh.jsonl"),
            "--output",
            output.to_str().unwrap(),
            "--set",
            "output.documents_shard_bytes=200000",
            "--threads",
            threads,
            "--quiet",
        ]);
        tree(&output.join("documents"))
    };
    let one = run("1", "t1");
    let two = run("2", "t2");
    assert!(one.len() > 3, "several shards expected, got {}", one.len());
    assert_eq!(
        one.iter().map(|(n, _)| n).collect::<Vec<_>>(),
        two.iter().map(|(n, _)| n).collect::<Vec<_>>()
    );
    for ((name, a), (_, b)) in one.iter().zip(&two) {
        assert!(a == b, "{name} differs between 1 and 2 threads");
    }
}

#[test]
fn rerun_replaces_the_dataset_and_removes_stale_shards() {
    let out = out_dir();
    let output = out.path().to_str().unwrap();
    let input = corpus("zh/debian-reference-zh-cn.txt");
    let args = |shard_bytes: &'static str| {
        vec![
            "prepare".to_owned(),
            pipeline("quickstart.toml"),
            "--input".into(),
            input.clone(),
            "--output".into(),
            output.to_owned(),
            "--set".into(),
            format!("output.documents_shard_bytes={shard_bytes}"),
            "--quiet".into(),
        ]
    };
    let small: Vec<String> = args("100000");
    maskforge_ok(&small.iter().map(String::as_str).collect::<Vec<_>>());
    let many = tree(&out.path().join("documents")).len();
    let big: Vec<String> = args("100000000");
    maskforge_ok(&big.iter().map(String::as_str).collect::<Vec<_>>());
    // Unit markers (`_units/`) stay; of the data only one shard and the manifest remain.
    let files: Vec<String> = tree(&out.path().join("documents"))
        .into_iter()
        .map(|f| f.0)
        .filter(|n| !n.starts_with("_units"))
        .collect();
    assert!(many > 2);
    assert_eq!(files.len(), 2, "one shard and the manifest remain: {files:?}");
}
