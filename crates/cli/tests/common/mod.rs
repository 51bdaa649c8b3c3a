//! Shared helpers of the command-line tests: paths to the repository, the shared corpora and
//! vocabularies, and running the `maskforge` binary.
#![allow(dead_code)]

pub mod s3_server;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The repository root.
pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .expect("repository root")
}

/// `../shared/corpora` beside the repository, or `$MASKFORGE_CORPORA`.
pub fn corpora() -> PathBuf {
    let path = std::env::var("MASKFORGE_CORPORA")
        .map(PathBuf::from)
        .unwrap_or_else(|_| repo().join("../shared/corpora"));
    assert!(
        path.is_dir(),
        "corpora not found at {} (set MASKFORGE_CORPORA)",
        path.display()
    );
    path
}

/// A file of the shared corpora.
pub fn corpus(rel: &str) -> String {
    corpora().join(rel).to_string_lossy().into_owned()
}

/// A bundled pipeline.
pub fn pipeline(name: &str) -> String {
    repo().join("pipelines").join(name).to_string_lossy().into_owned()
}

/// The bundled Chinese vocabulary.
pub fn chinese_vocab() -> String {
    repo()
        .join("assets/vocab/bert-base-chinese/vocab.txt")
        .to_string_lossy()
        .into_owned()
}

/// Runs `maskforge ARGS` and returns its output.
pub fn maskforge(args: &[&str]) -> Output {
    maskforge_env(args, &[])
}

/// Runs `maskforge ARGS` with extra environment variables.
pub fn maskforge_env(args: &[&str], env: &[(String, String)]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_maskforge"))
        .args(args)
        .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .output()
        .expect("run maskforge")
}

/// Runs `maskforge ARGS`, panicking with its stderr unless it succeeds.
pub fn maskforge_ok(args: &[&str]) -> Output {
    let out = maskforge(args);
    assert!(
        out.status.success(),
        "maskforge {args:?} failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_no_panic(&out);
    out
}

/// Runs `maskforge ARGS`, expecting failure, and returns its stderr.
pub fn maskforge_err(args: &[&str]) -> String {
    let out = maskforge(args);
    assert!(!out.status.success(), "maskforge {args:?} should have failed");
    assert_no_panic(&out);
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn assert_no_panic(out: &Output) {
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains("panicked"), "maskforge panicked:\n{stderr}");
}

/// The parsed manifest of a dataset folder.
pub fn manifest(dataset: &Path) -> serde_json::Value {
    let text = std::fs::read_to_string(dataset.join("manifest.json")).expect("manifest.json");
    serde_json::from_str(&text).expect("manifest is JSON")
}

/// Checks `records_in == documents_out + sum(skipped)` and returns the counts.
pub fn balanced_counts(manifest: &serde_json::Value) -> serde_json::Value {
    let counts = manifest["counts"].clone();
    let skipped: u64 = counts["skipped"]
        .as_object()
        .expect("skipped")
        .values()
        .map(|v| v.as_u64().unwrap())
        .sum();
    assert_eq!(
        counts["records_in"].as_u64().unwrap(),
        counts["documents_out"].as_u64().unwrap() + skipped,
        "{counts}"
    );
    counts
}

/// Skip count of one reason (0 when absent).
pub fn skipped(manifest: &serde_json::Value, reason: &str) -> u64 {
    manifest["counts"]["skipped"][reason].as_u64().unwrap_or(0)
}

/// Runs the outside-consumer check of `tests/python/check_documents.py` on a dataset.
pub fn python_check(dataset: &Path, vocab: &str, decode: bool) {
    let mut args = vec![dataset.as_os_str(), "--vocab".as_ref(), vocab.as_ref()];
    if decode {
        args.push("--decode".as_ref());
    }
    run_python("check_documents.py", &args);
}

/// Runs `tests/python/SCRIPT ARGS` and returns its stdout; fails the test, with both outputs,
/// unless it succeeds.
pub fn run_python<S: AsRef<std::ffi::OsStr>>(script: &str, args: &[S]) -> String {
    let out = Command::new("python3")
        .arg(repo().join("tests/python").join(script))
        .args(args)
        .output()
        .expect("python3 must be installed (scripts/test.sh installs what the tests need)");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{script} failed:\n{stdout}{}\n(scripts/test.sh installs the Python requirements)",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

/// A small pipeline file for `inputs` with the Chinese vocabulary, written into `dir`.
pub fn write_pipeline(dir: &Path, extra: &str) -> String {
    let text = format!(
        "[[sources]]\nurls = []\n{extra}\n\n[text]\ntokenizer = {{ path = {vocab:?} }}\n",
        vocab = chinese_vocab()
    );
    let path = dir.join("pipeline.toml");
    std::fs::write(&path, text).expect("write pipeline");
    path.to_string_lossy().into_owned()
}

/// A copy of the folder `from` at `to` (created).
pub fn copy_tree(from: &Path, to: &Path) {
    for (path, bytes) in tree(from) {
        let target = to.join(path);
        std::fs::create_dir_all(target.parent().unwrap()).unwrap();
        std::fs::write(target, bytes).unwrap();
    }
}

/// `$PATH` with the folder of the maskforge binary under test first (for documented shell
/// snippets that call `maskforge`).
pub fn path_with_maskforge() -> String {
    let bin = Path::new(env!("CARGO_BIN_EXE_maskforge")).parent().unwrap().to_owned();
    format!("{}:{}", bin.display(), std::env::var("PATH").unwrap_or_default())
}

/// `maskforge run` of the quickstart pipeline into `output` (documents and epoch 0), with
/// more flags (`--input`, `--set`).
pub fn run_quickstart(output: &Path, flags: &[&str]) {
    let pipeline = pipeline("quickstart.toml");
    let mut args = vec![
        "run",
        pipeline.as_str(),
        "--output",
        output.to_str().unwrap(),
        "--quiet",
    ];
    args.extend(flags);
    maskforge_ok(&args);
}

/// All files below `dir` with their bytes, sorted by relative path.
pub fn tree(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).expect("read dir") {
            let path = entry.expect("entry").path();
            if path.is_dir() {
                stack.push(path);
            } else {
                let rel = path.strip_prefix(dir).unwrap().to_string_lossy().into_owned();
                out.push((rel, std::fs::read(&path).unwrap()));
            }
        }
    }
    out.sort();
    out
}

/// Runs the outside-consumer check of `tests/python/check_examples.py` on an epoch.
pub fn python_examples_check(examples: &Path, documents: &Path, extra: &[&str]) {
    let mut args = vec![examples.as_os_str(), "--documents".as_ref(), documents.as_os_str()];
    args.extend(extra.iter().map(|a| std::ffi::OsStr::new(*a)));
    run_python("check_examples.py", &args);
}

/// One row of an examples dataset, as the tests need it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExampleRow {
    pub example_id: u64,
    pub doc_id: u64,
    pub input_ids: Vec<u32>,
    pub masked_positions: Vec<u16>,
    pub masked_labels: Vec<u32>,
    pub pair_type: u8,
}

impl ExampleRow {
    /// The tokens before masking.
    pub fn restored(&self) -> Vec<u32> {
        let mut ids = self.input_ids.clone();
        for (&p, &l) in self.masked_positions.iter().zip(&self.masked_labels) {
            ids[p as usize] = l;
        }
        ids
    }
}

/// The record batches of every shard a dataset's manifest lists, in manifest order.
pub fn shard_batches(dataset: &Path) -> Vec<arrow::record_batch::RecordBatch> {
    let m = manifest(dataset);
    let mut batches = Vec::new();
    for shard in m["shards"].as_array().unwrap() {
        let file = std::fs::File::open(dataset.join(shard["path"].as_str().unwrap())).unwrap();
        let reader = parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(file)
            .unwrap()
            .build()
            .unwrap();
        batches.extend(reader.map(|batch| batch.unwrap()));
    }
    batches
}

/// Every example of an examples dataset, in manifest (example_id) order.
pub fn read_examples(dataset: &Path) -> Vec<ExampleRow> {
    use arrow::array::{AsArray, ListArray};
    use arrow::datatypes::{UInt8Type, UInt16Type, UInt32Type, UInt64Type};
    let mut rows = Vec::new();
    for batch in shard_batches(dataset) {
        let col = |n: &str| batch.column_by_name(n).unwrap().clone();
        let list = |n: &str| -> ListArray { col(n).as_list::<i32>().clone() };
        let (ids, pos, labels) = (list("input_ids"), list("masked_positions"), list("masked_labels"));
        for r in 0..batch.num_rows() {
            rows.push(ExampleRow {
                example_id: col("example_id").as_primitive::<UInt64Type>().value(r),
                doc_id: col("doc_id").as_primitive::<UInt64Type>().value(r),
                input_ids: ids.value(r).as_primitive::<UInt32Type>().values().to_vec(),
                masked_positions: pos.value(r).as_primitive::<UInt16Type>().values().to_vec(),
                masked_labels: labels.value(r).as_primitive::<UInt32Type>().values().to_vec(),
                pair_type: col("pair_type").as_primitive::<UInt8Type>().value(r),
            });
        }
    }
    rows
}

/// Runs `maskforge` with extra environment variables and expects success.
pub fn ok_env(args: &[&str], env: &[(String, String)]) {
    let out = maskforge_env(args, env);
    assert!(
        out.status.success(),
        "maskforge {args:?} failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The files a published dataset's manifest lists, the manifest and the vocabulary (if any),
/// with their bytes.
pub fn published(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let m = manifest(dir);
    let mut names: Vec<String> = m["shards"]
        .as_array()
        .expect("shards")
        .iter()
        .map(|s| s["path"].as_str().expect("path").to_owned())
        .collect();
    names.push("manifest.json".into());
    if let Some(vocab) = m["vocab"]["path"].as_str() {
        names.push(vocab.to_owned());
    }
    names
        .into_iter()
        .map(|n| (n.clone(), std::fs::read(dir.join(&n)).expect("published file")))
        .collect()
}

/// Files below `dir` whose path contains `part`.
pub fn files_containing(dir: &Path, part: &str) -> usize {
    if !dir.exists() {
        return 0;
    }
    let mut count = 0;
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
            } else if path.to_string_lossy().contains(part) {
                count += 1;
            }
        }
    }
    count
}

/// Watches a dataset folder from another thread, as a reader polling for a finished dataset
/// would: every time a manifest is there, each file it lists must be there, complete.
pub struct ManifestWatcher {
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    thread: Option<std::thread::JoinHandle<(usize, Vec<String>)>>,
}

impl ManifestWatcher {
    /// Starts polling `dataset/manifest.json` every few milliseconds.
    pub fn start(dataset: &Path) -> Self {
        use std::sync::atomic::Ordering;
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let (flag, dir) = (stop.clone(), dataset.to_path_buf());
        let thread = std::thread::spawn(move || {
            let (mut seen, mut problems) = (0, Vec::new());
            while !flag.load(Ordering::Relaxed) {
                if let Ok(text) = std::fs::read(dir.join("manifest.json")) {
                    seen += 1;
                    match serde_json::from_slice::<serde_json::Value>(&text) {
                        Ok(m) => {
                            for shard in m["shards"].as_array().into_iter().flatten() {
                                let path = dir.join(shard["path"].as_str().unwrap_or_default());
                                let ok = std::fs::read(&path).is_ok_and(|bytes| {
                                    sha256_hex(&bytes) == shard["sha256"].as_str().unwrap_or_default()
                                });
                                if !ok {
                                    problems.push(format!("{} incomplete while the manifest exists", path.display()));
                                }
                            }
                        }
                        Err(e) => problems.push(format!("manifest unreadable: {e}")),
                    }
                }
                std::thread::sleep(std::time::Duration::from_millis(5));
            }
            (seen, problems)
        });
        Self {
            stop,
            thread: Some(thread),
        }
    }

    /// Stops polling; panics if the reader ever saw a manifest before its files; returns how
    /// many times it saw one.
    pub fn finish(mut self) -> usize {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
        let (seen, problems) = self.thread.take().expect("running").join().expect("watcher");
        assert!(problems.is_empty(), "a reader saw an unfinished dataset: {problems:?}");
        seen
    }
}

/// SHA-256 of `bytes`, in hex.
pub fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(bytes))
}

/// Starts `maskforge args` with extra environment variables; stderr is captured.
pub fn spawn(args: &[String], env: &[(String, String)]) -> std::process::Child {
    Command::new(env!("CARGO_BIN_EXE_maskforge"))
        .args(args)
        .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("start maskforge")
}

/// Waits until a file below `dir` has `part` in its path (true), or `child` ends first or two
/// minutes pass (false).
pub fn wait_for_file(dir: &Path, part: &str, child: &mut std::process::Child) -> bool {
    wait_for_files(dir, part, 1, child)
}

/// Waits until `count` files below `dir` have `part` in their path (true), or `child` ends
/// first or two minutes pass (false).
pub fn wait_for_files(dir: &Path, part: &str, count: usize, child: &mut std::process::Child) -> bool {
    let started = std::time::Instant::now();
    while started.elapsed() < std::time::Duration::from_secs(120) {
        if files_containing(dir, part) >= count {
            return true;
        }
        if child.try_wait().expect("child status").is_some() {
            return false;
        }
        std::thread::sleep(std::time::Duration::from_millis(2));
    }
    false
}

/// Rewrites shard 0 of `epoch` with `change` applied to its rows (its footer metadata kept),
/// and fixes the manifest.
pub fn craft_shard(
    epoch: &Path,
    change: impl Fn(arrow::record_batch::RecordBatch) -> arrow::record_batch::RecordBatch,
) {
    let mut m = manifest(epoch);
    let path = epoch.join(m["shards"][0]["path"].as_str().unwrap());
    let file = std::fs::File::open(&path).unwrap();
    let builder = parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(file).unwrap();
    // The footer's key-value metadata (schema version, config hash) is kept.
    let metadata = builder.metadata().file_metadata().key_value_metadata().cloned();
    let schema = builder.schema().clone();
    let batches: Vec<_> = builder.build().unwrap().map(|b| b.unwrap()).collect();
    let batch = change(arrow::compute::concat_batches(&schema, &batches).unwrap());
    let mut bytes = Vec::new();
    let properties = parquet::file::properties::WriterProperties::builder()
        .set_key_value_metadata(metadata)
        .build();
    let mut writer = parquet::arrow::ArrowWriter::try_new(&mut bytes, batch.schema(), Some(properties)).unwrap();
    writer.write(&batch).unwrap();
    writer.close().unwrap();
    std::fs::write(&path, &bytes).unwrap();
    m["shards"][0]["bytes"] = bytes.len().into();
    m["shards"][0]["sha256"] = sha256_hex(&bytes).into();
    m["shards"][0]["rows"] = batch.num_rows().into();
    std::fs::write(epoch.join("manifest.json"), serde_json::to_vec_pretty(&m).unwrap()).unwrap();
}

pub fn replace_column(
    batch: arrow::record_batch::RecordBatch,
    name: &str,
    array: arrow::array::ArrayRef,
) -> arrow::record_batch::RecordBatch {
    use arrow::datatypes::{Field, Schema};
    let schema = batch.schema();
    let index = schema.index_of(name).unwrap();
    let mut fields: Vec<Field> = schema.fields().iter().map(|f| f.as_ref().clone()).collect();
    fields[index] = Field::new(name, array.data_type().clone(), false);
    let mut columns = batch.columns().to_vec();
    columns[index] = array;
    arrow::record_batch::RecordBatch::try_new(std::sync::Arc::new(Schema::new(fields)), columns).unwrap()
}

/// `list` with its values replaced by `values` (same offsets and nulls; the item type is that
/// of `values`): how a test changes the ids of a list column, or their type.
pub fn with_list_values(list: &arrow::array::ListArray, values: arrow::array::ArrayRef) -> arrow::array::ArrayRef {
    use arrow::array::Array;
    use arrow::datatypes::Field;
    let item = std::sync::Arc::new(Field::new("item", values.data_type().clone(), false));
    std::sync::Arc::new(arrow::array::ListArray::new(
        item,
        list.offsets().clone(),
        values,
        list.nulls().cloned(),
    ))
}
