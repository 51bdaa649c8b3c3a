//! Bad input reaching `maskforge prepare`: every case is a clear error naming the file (and line
//! or key), or a counted skip. Never a panic, never a silent loss.

mod common;

use common::*;
use std::path::{Path, PathBuf};

struct Case {
    dir: tempfile::TempDir,
    pipeline: String,
}

impl Case {
    fn new(extra: &str) -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let pipeline = write_pipeline(dir.path(), extra);
        Self { dir, pipeline }
    }

    fn file(&self, name: &str, bytes: &[u8]) -> String {
        let path = self.dir.path().join(name);
        std::fs::write(&path, bytes).expect("write input");
        path.to_string_lossy().into_owned()
    }

    fn output(&self) -> PathBuf {
        self.dir.path().join("out")
    }

    fn args<'a>(&'a self, input: &'a str, output: &'a str, extra: &[&'a str]) -> Vec<&'a str> {
        let mut args = vec![
            "prepare",
            self.pipeline.as_str(),
            "--input",
            input,
            "--output",
            output,
            "--quiet",
        ];
        args.extend_from_slice(extra);
        args
    }

    /// Runs prepare on `input`; returns the manifest.
    fn ok(&self, input: &str, extra: &[&str]) -> serde_json::Value {
        let output = self.output();
        maskforge_ok(&self.args(input, output.to_str().unwrap(), extra));
        let m = manifest(&output.join("documents"));
        balanced_counts(&m);
        m
    }

    /// Runs prepare on `input` expecting failure; returns stderr.
    fn err(&self, input: &str, extra: &[&str]) -> String {
        let output = self.output();
        let stderr = maskforge_err(&self.args(input, output.to_str().unwrap(), extra));
        assert!(
            !output.join("documents/manifest.json").exists(),
            "a failed run published a manifest"
        );
        stderr
    }
}

fn docs(m: &serde_json::Value) -> u64 {
    m["counts"]["documents_out"].as_u64().unwrap()
}

const FAIL: [&str; 2] = ["--set", "sources.0.on_bad_record=fail"];

#[test]
fn invalid_utf8_is_skipped_or_names_the_line() {
    let case = Case::new("");
    let input = case.file(
        "bad.txt",
        b"\xe7\xac\xac\xe4\xb8\x80\xe7\xaf\x87\n\nbroken \xff\xfe here\nmore\n\n\xe5\xa5\xbd\n",
    );
    let m = case.ok(&input, &[]);
    assert_eq!(docs(&m), 2);
    assert_eq!(skipped(&m, "invalid_utf8"), 1);
    let err = case.err(&input, &FAIL);
    assert!(
        err.contains("bad.txt, line 3") && err.contains("not valid UTF-8"),
        "{err}"
    );
}

#[test]
fn broken_json_lines_are_counted_by_reason() {
    let case = Case::new("");
    let lines = "{\"text\": \"第一条。\"}\n{\"text\": \"cut\n\n{\"text\": \"第三条。\"}\n[1, 2]\n{\"id\": 5}\n{\"text\": 42}\n{\"text\": \"  \\t \"}\n";
    let input = case.file("records.jsonl", lines.as_bytes());
    let m = case.ok(&input, &[]);
    assert_eq!(m["counts"]["records_in"], 7, "the blank line is not a record");
    assert_eq!(docs(&m), 2);
    assert_eq!(skipped(&m, "invalid_json"), 2);
    assert_eq!(skipped(&m, "missing_text"), 2);
    assert_eq!(skipped(&m, "empty"), 1);
    let err = case.err(&input, &FAIL);
    assert!(
        err.contains("records.jsonl, line 2") && err.contains("broken JSON"),
        "{err}"
    );
}

#[test]
fn truncated_gzip_fails_naming_the_file_and_unpublishes() {
    let case = Case::new("");
    let whole = std::fs::read(corpus("formats/fortunes-en.jsonl.gz")).unwrap();
    let good = case.file("good.jsonl.gz", &whole);
    case.ok(&good, &[]);
    assert!(case.output().join("documents/manifest.json").exists());
    let truncated = case.file("cut.jsonl.gz", &whole[..whole.len() / 2]);
    let err = case.err(&truncated, &[]);
    assert!(err.contains("cut.jsonl.gz") && err.contains("cannot read"), "{err}");
}

#[test]
fn parquet_missing_column_wrong_type_and_corrupt_footer() {
    let case = Case::new("");
    let input = corpus("formats/libreoffice-help-zh-cn.parquet");
    let err = case.err(&input, &["--set", "sources.0.text_column=body"]);
    assert!(
        err.contains("libreoffice-help-zh-cn.parquet") && err.contains("body"),
        "{err}"
    );

    let wrong = case.dir.path().join("numbers.parquet");
    write_int_parquet(&wrong);
    let err = case.err(wrong.to_str().unwrap(), &[]);
    assert!(
        err.contains("numbers.parquet") && err.contains("column `text` has type Int64, not a string"),
        "{err}"
    );

    let mut bytes = std::fs::read(&input).unwrap();
    let n = bytes.len();
    bytes[n - 8..n - 4].copy_from_slice(&[0xff, 0xff, 0xff, 0x7f]);
    let corrupt = case.file("corrupt.parquet", &bytes);
    let err = case.err(&corrupt, &[]);
    assert!(
        err.contains("corrupt.parquet") && err.contains("cannot open as Parquet"),
        "{err}"
    );
}

fn write_int_parquet(path: &Path) {
    use arrow::array::Int64Array;
    use arrow::datatypes::{DataType, Field, Schema};
    use std::sync::Arc;
    let schema = Arc::new(Schema::new(vec![Field::new("text", DataType::Int64, false)]));
    let batch =
        arrow::record_batch::RecordBatch::try_new(schema.clone(), vec![Arc::new(Int64Array::from(vec![1, 2, 3]))])
            .unwrap();
    let mut writer = parquet::arrow::ArrowWriter::try_new(std::fs::File::create(path).unwrap(), schema, None).unwrap();
    writer.write(&batch).unwrap();
    writer.close().unwrap();
}

#[test]
fn csv_reads_through_datafusion() {
    let case = Case::new("id_column = \"key\"\nfilter = \"key <> 'b'\"");
    let input = case.file(
        "table.csv",
        "key,text\na,第一行文字。\nb,第二行。\nc,\"带,逗号的\n两行文字\"\n".as_bytes(),
    );
    let m = case.ok(&input, &[]);
    assert_eq!(m["counts"]["records_in"], 3);
    assert_eq!(docs(&m), 2);
    assert_eq!(skipped(&m, "filtered"), 1);

    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    std::io::Write::write_all(&mut gz, &std::fs::read(&input).unwrap()).unwrap();
    let compressed = case.file("table.csv.gz", &gz.finish().unwrap());
    assert_eq!(case.ok(&compressed, &[])["counts"], m["counts"]);
}

#[test]
fn a_json_array_is_not_json_lines_and_duplicate_inputs_are_read_once() {
    let case = Case::new("");
    let array = case.file("array.json", "[\n{\"text\": \"好\"}\n]\n".as_bytes());
    let err = case.err(&array, &[]);
    assert!(
        err.contains("array.json, line 1") && err.contains("JSON array"),
        "{err}"
    );

    let input = case.file("one.txt", "第一篇。\n\n第二篇。\n".as_bytes());
    let glob = format!("{}/*.txt", case.dir.path().display());
    let output = case.output();
    maskforge_ok(&[
        "prepare",
        &case.pipeline,
        "--input",
        &input,
        "--input",
        &glob,
        "--output",
        output.to_str().unwrap(),
        "--quiet",
    ]);
    assert_eq!(manifest(&output.join("documents"))["counts"]["documents_out"], 2);
}

#[test]
fn empty_files_whitespace_nul_bytes_and_one_character() {
    let case = Case::new("");
    let empty = case.file("empty.txt", b"");
    let m = case.ok(&empty, &[]);
    assert_eq!(m["counts"]["records_in"], 0);
    assert_eq!(m["shards"].as_array().unwrap().len(), 0);

    let blank = case.file("blank.txt", b"   \n\t\n \r\n");
    assert_eq!(case.ok(&blank, &[])["counts"]["records_in"], 0);

    let nul = case.file("nul.txt", "你\0好\n\n\0\0\0\n\n好".as_bytes());
    let m = case.ok(&nul, &["--set", "output.keep_text=true"]);
    assert_eq!(docs(&m), 2);
    assert_eq!(skipped(&m, "empty"), 1);
    assert_eq!(m["counts"]["tokens"], 3, "NUL bytes are dropped, 你好 + 好");
}

#[test]
fn a_fifty_megabyte_line_is_skipped_and_counted() {
    let case = Case::new("");
    let mut bytes = vec![b'a'; 50 << 20];
    bytes.extend_from_slice("\n\n正常的文档。\n".as_bytes());
    let input = case.file("huge.txt", &bytes);
    drop(bytes);
    let m = case.ok(&input, &[]);
    assert_eq!(docs(&m), 1);
    assert_eq!(skipped(&m, "record_too_large"), 1);
    // With a larger limit the line is a (long) document of its own.
    let m = case.ok(&input, &["--set", "sources.0.max_record_bytes=60000000"]);
    assert_eq!(docs(&m), 2);
}

#[test]
fn missing_tokenizer_vocab_without_mask_and_missing_input() {
    let case = Case::new("");
    let input = case.file("a.txt", "好".as_bytes());
    let err = case.err(&input, &["--set", "text.tokenizer.path=/nonexistent/vocab.txt"]);
    assert!(
        err.contains("text.tokenizer.path /nonexistent/vocab.txt: file not found"),
        "{err}"
    );

    let vocab = case.file("vocab.txt", "[PAD]\n[UNK]\n[CLS]\n[SEP]\n好\n".as_bytes());
    let err = case.err(&input, &["--set", &format!("text.tokenizer.path={vocab}")]);
    assert!(err.contains("no mask token `[MASK]`"), "{err}");

    let err = case.err("/nonexistent/corpus/*.txt", &[]);
    assert!(err.contains("not found: /nonexistent/corpus/*.txt"), "{err}");
    let err = case.err("ftp://example.invalid/x.txt", &[]);
    assert!(err.contains("unsupported scheme `ftp://`"), "{err}");
    let unknown = case.file("notes.md", b"x");
    let err = case.err(&unknown, &[]);
    assert!(err.contains("notes.md") && err.contains("sources.0.format"), "{err}");
}

#[test]
fn config_errors_name_key_and_line_before_any_work() {
    let case = Case::new("");
    let input = case.file("a.txt", "好".as_bytes());
    let bad = case.file(
        "bad.toml",
        b"[[sources]]\nurls = ['x.txt']\n\n[text]\ntokenizer = { path = 'v.txt' }\n\n[masking]\nprobabilty = 0.2\n",
    );
    let err = maskforge_err(&["prepare", &bad, "--input", &input]);
    assert!(err.contains("bad.toml, line 8") && err.contains("probabilty"), "{err}");
    let bad = case.file(
        "range.toml",
        b"[[sources]]\nurls = ['x.txt']\n\n[text]\ntokenizer = { path = 'v.txt' }\n\n[pairs]\nmax_seq_length = 4\n",
    );
    let err = maskforge_err(&["prepare", &bad]);
    assert!(err.contains("pairs.max_seq_length (line 8)"), "{err}");
    let err = maskforge_err(&[
        "prepare",
        &case.pipeline,
        "--input",
        &input,
        "--set",
        "masking.probability=1.5",
    ]);
    assert!(err.contains("masking.probability (command line)"), "{err}");
    let err = maskforge_err(&["prepare", "/nonexistent/pipeline.toml"]);
    assert!(
        err.contains("cannot read pipeline file /nonexistent/pipeline.toml"),
        "{err}"
    );
}

/// A text file without blank lines is one huge document: prepare keeps it (it is valid input)
/// but warns with the file name and counts it, and a normal file is not counted.
#[test]
fn a_file_without_blank_lines_is_warned_about_and_counted() {
    let case = Case::new("");
    let fortunes = std::fs::read_to_string(corpus("zh/fortunes-zh.txt")).expect("corpus");
    let mut joined = String::new();
    for line in fortunes.lines().filter(|l| !l.trim().is_empty()) {
        if joined.len() > 1_500_000 {
            break;
        }
        joined.push_str(line);
        joined.push('\n');
    }
    let input = case.file("no-blank-lines.txt", joined.as_bytes());
    let output = case.output();
    let run = maskforge_ok(&case.args(&input, output.to_str().unwrap(), &[]));
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(
        stderr.contains("no-blank-lines.txt") && stderr.contains("a document of 1.5 MB"),
        "{stderr}"
    );
    assert!(stderr.contains("the whole file became one document"), "{stderr}");
    let counts = balanced_counts(&manifest(&output.join("documents")));
    assert_eq!(counts["documents_out"], 1);
    assert_eq!(counts["large_documents"], 1);
    assert_eq!(counts["single_document_inputs"], 1);

    let normal = Case::new("");
    let text = std::fs::read_to_string(corpus("zh/debian-reference-zh-cn.txt")).expect("corpus");
    let input = normal.file("paragraphs.txt", text.as_bytes());
    let output = normal.output();
    let run = maskforge_ok(&normal.args(&input, output.to_str().unwrap(), &[]));
    assert!(!String::from_utf8_lossy(&run.stderr).contains("one document"));
    let counts = balanced_counts(&manifest(&output.join("documents")));
    assert!(counts.get("large_documents").is_none() && counts.get("single_document_inputs").is_none());
}
