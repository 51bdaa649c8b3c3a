//! `maskforge sql` on a real quickstart run: every example block of docs/operating.md runs as
//! written, results agree with the manifests' counts, only listed shards are read, and queries
//! that would write, clash or print lists as CSV are refused with a clear error.

mod common;

use common::*;
use std::io::Read;
use std::path::Path;
use std::process::{Command, Stdio};

/// `maskforge sql ARGS... --format json`, parsed.
fn sql_json(cwd: &Path, args: &[&str]) -> Vec<serde_json::Value> {
    let mut all = vec!["sql", "--format", "json"];
    all.extend(args);
    let out = Command::new(env!("CARGO_BIN_EXE_maskforge"))
        .args(&all)
        .current_dir(cwd)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{all:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("a JSON array of rows")
}

/// The `sh` blocks of docs/operating.md that run `maskforge sql`.
fn sql_blocks() -> Vec<String> {
    let text = std::fs::read_to_string(repo().join("docs/operating.md")).unwrap();
    text.split("```sh\n")
        .skip(1)
        .filter_map(|rest| rest.split_once("```").map(|(block, _)| block.to_owned()))
        .filter(|block| block.starts_with("maskforge sql "))
        .collect()
}

#[test]
fn documented_queries_run_and_agree_with_the_manifests() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("out/quickstart");
    run_quickstart(&out, &["--set", "output.validation_fraction=0.1"]);
    let blocks = sql_blocks();
    assert!(blocks.len() >= 5, "the docs' sql examples: {blocks:?}");
    let path = path_with_maskforge();
    for block in &blocks {
        let run = Command::new("bash")
            .args(["-euc", block])
            .current_dir(tmp.path())
            .env("PATH", &path)
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&run.stdout);
        assert!(
            run.status.success(),
            "{block}\n{}",
            String::from_utf8_lossy(&run.stderr)
        );
        assert!(stdout.lines().count() >= 2, "{block}\nprinted only {stdout:?}");
    }

    let cwd = tmp.path();
    let (documents, epoch) = ("out/quickstart/documents", "out/quickstart/epochs/0");
    let dm = manifest(&out.join("documents"));
    let em = manifest(&out.join("epochs/0"));
    let per_source = sql_json(
        cwd,
        &[
            documents,
            "SELECT source, count(*) AS n, sum(num_tokens) AS tokens FROM documents GROUP BY source",
        ],
    );
    let total = |rows: &[serde_json::Value], key: &str| rows.iter().map(|r| r[key].as_u64().unwrap()).sum::<u64>();
    assert_eq!(total(&per_source, "n"), dm["counts"]["documents_out"].as_u64().unwrap());
    assert_eq!(total(&per_source, "tokens"), dm["counts"]["tokens"].as_u64().unwrap());

    let stats = &em["stats"];
    let masked = sql_json(
        cwd,
        &[
            epoch,
            "SELECT count(*) AS n, sum(cardinality(masked_positions)) AS masked, sum(num_tokens) AS tokens FROM examples",
        ],
    );
    assert_eq!(masked[0]["n"], stats["examples"]);
    assert_eq!(masked[0]["masked"], stats["masked_tokens"]);
    assert_eq!(masked[0]["tokens"], stats["tokens"]);
    let pairs = sql_json(
        cwd,
        &[
            epoch,
            "SELECT pair_type, count(*) AS n FROM examples GROUP BY 1 ORDER BY 1",
        ],
    );
    let names = ["next", "random_doc", "swapped", "none"];
    for row in &pairs {
        let name = names[row["pair_type"].as_u64().unwrap() as usize];
        assert_eq!(row["n"], stats["pair_types"][name], "{name}");
    }
    let kinds = sql_json(
        cwd,
        &[
            epoch,
            "SELECT kind, count(*) AS n FROM (SELECT unnest(mask_kinds) AS kind FROM examples) GROUP BY kind",
        ],
    );
    let kind_names = ["mask", "similar", "random", "keep"];
    for row in &kinds {
        let name = kind_names[row["kind"].as_u64().unwrap() as usize];
        assert_eq!(row["n"], stats["replacement"][name], "{name}");
    }
    // The held-out split is its own table, and a name chosen with NAME=URL carries over to it.
    let validation = sql_json(
        cwd,
        &[&format!("e0={epoch}"), "SELECT count(*) AS n FROM e0_validation"],
    );
    assert_eq!(validation[0]["n"], em["validation"]["stats"]["examples"]);
    // Two epochs side by side: the same examples under both names give a full self-join.
    let both = sql_json(
        cwd,
        &[
            &format!("a={epoch}"),
            &format!("b={epoch}"),
            "SELECT count(*) AS n FROM a JOIN b ON a.example_id = b.example_id AND a.masked_positions = b.masked_positions",
        ],
    );
    assert_eq!(both[0]["n"], stats["examples"]);
}

#[test]
fn only_listed_shards_are_read_and_misuse_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("out");
    run_quickstart(&out, &[]);
    let epoch = out.join("epochs/0");
    let epoch_arg = epoch.to_str().unwrap();
    let examples = manifest(&epoch)["stats"]["examples"].as_u64().unwrap();
    // A stray copy of a shard beside the listed ones is not counted.
    std::fs::copy(epoch.join("part-00000.parquet"), epoch.join("part-00099.parquet")).unwrap();
    let counted = sql_json(tmp.path(), &[epoch_arg, "SELECT count(*) AS n FROM examples"]);
    assert_eq!(counted[0]["n"].as_u64().unwrap(), examples);

    // A FIFO in place of a listed shard is refused, not waited on.
    let fifo_copy = tmp.path().join("fifo");
    copy_tree(&epoch, &fifo_copy);
    std::fs::remove_file(fifo_copy.join("part-00001.parquet")).unwrap();
    assert!(
        Command::new("mkfifo")
            .arg(fifo_copy.join("part-00001.parquet"))
            .status()
            .unwrap()
            .success()
    );
    let error = maskforge_err(&["sql", fifo_copy.to_str().unwrap(), "SELECT count(*) FROM examples"]);
    assert!(
        error.contains("part-00001.parquet") && error.contains("FIFO"),
        "{error}"
    );

    // Writing statements are refused and write nothing.
    let target = tmp.path().join("copied.csv");
    for query in [
        format!("COPY (SELECT * FROM examples) TO '{}'", target.display()),
        format!("CREATE EXTERNAL TABLE t STORED AS CSV LOCATION '{}'", target.display()),
        "INSERT INTO examples SELECT * FROM examples".to_owned(),
        "SET datafusion.execution.batch_size = 1".to_owned(),
    ] {
        let error = maskforge_err(&["sql", epoch_arg, &query]);
        assert!(error.contains("not supported"), "{query}: {error}");
    }
    assert!(!target.exists());

    // Two datasets that would share a table name, a folder with no dataset, lists as CSV.
    let error = maskforge_err(&["sql", epoch_arg, epoch_arg, "SELECT 1"]);
    assert!(
        error.contains("table `examples`") && error.contains("NAME=URL"),
        "{error}"
    );
    let error = maskforge_err(&["sql", tmp.path().to_str().unwrap(), "SELECT 1"]);
    assert!(error.contains("manifest.json"), "{error}");
    let error = maskforge_err(&["sql", epoch_arg, "--format", "csv", "SELECT input_ids FROM examples"]);
    assert!(
        error.contains("input_ids") && error.contains("--format json"),
        "{error}"
    );
    let error = maskforge_err(&["sql", "SELECT 1"]);
    assert!(error.contains("at least one dataset"), "{error}");
    // A result without rows is still a CSV file with its header (quoted where needed).
    let empty = maskforge_ok(&[
        "sql",
        epoch_arg,
        "--format",
        "csv",
        "SELECT doc_id, num_tokens AS \"tokens, all\" FROM examples WHERE num_tokens < 0",
    ]);
    assert_eq!(String::from_utf8_lossy(&empty.stdout), "doc_id,\"tokens, all\"\n");
    let error = maskforge_err(&["sql", epoch_arg, "SELECT * FROM nope"]);
    assert!(error.contains("nope"), "{error}");

    // A reader that stops early (`| head`) ends the command quietly.
    let mut child = Command::new(env!("CARGO_BIN_EXE_maskforge"))
        .args(["sql", epoch_arg, "--format", "json", "SELECT * FROM examples"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut head = [0u8; 100];
    child.stdout.take().unwrap().read_exact(&mut head).unwrap();
    let done = child.wait_with_output().unwrap();
    assert!(done.status.success(), "{}", String::from_utf8_lossy(&done.stderr));
    assert!(done.stderr.is_empty(), "{}", String::from_utf8_lossy(&done.stderr));
}

/// `maskforge sql ARGS...` run from `cwd`: its exit code, stdout and stderr.
fn sql_run(cwd: &Path, args: &[&str]) -> (Option<i32>, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_maskforge"))
        .arg("sql")
        .args(args)
        .current_dir(cwd)
        .output()
        .unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn queries_are_bounded_in_memory_and_output_and_stop_on_sigint() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("out");
    run_quickstart(&out, &[]);
    let documents = out.join("documents");
    let docs = documents.to_str().unwrap();

    // Functions that build values of a size their arguments choose are refused before they
    // allocate; an aggregation past the memory pool fails instead of growing.
    for (query, expected) in [
        (
            "SELECT length(repeat('x', 2000000000))",
            "repeat() would build 2000000000 bytes",
        ),
        ("SELECT length(lpad('x', 1000000000, 'y'))", "lpad() would build"),
        ("SELECT cardinality(range(1, 2000000000))", "range() would build"),
        (
            "SELECT cardinality(array_repeat(1, 500000000))",
            "array_repeat() would build",
        ),
        (
            "SELECT cardinality(array_agg(value)) FROM generate_series(1, 2000000000)",
            "Resources exhausted",
        ),
    ] {
        let (code, _, stderr) = sql_run(tmp.path(), &[docs, query, "--memory-limit", "64MiB"]);
        assert_eq!(code, Some(1), "{query}: {stderr}");
        assert!(
            stderr.contains(expected) && stderr.contains("emory"),
            "{query}: {stderr}"
        );
    }
    // The same functions at sizes within the limit give datafusion's answers.
    let small = sql_json(
        tmp.path(),
        &[
            docs,
            "SELECT repeat('ab', 3) AS r, lpad('x', 3, '-') AS l, rpad('x', 2, '.') AS p, \
             cardinality(range(0, 5)) AS n, array_repeat(7, 2) AS a, array_resize([1], 3, 0) AS z",
        ],
    );
    assert_eq!(small[0]["r"], "ababab");
    assert_eq!(small[0]["l"], "--x");
    assert_eq!(small[0]["p"], "x.");
    assert_eq!(small[0]["n"], 5);
    assert_eq!(small[0]["a"], serde_json::json!([7, 7]));
    assert_eq!(small[0]["z"], serde_json::json!([1, 0, 0]));
    let (code, _, stderr) = sql_run(tmp.path(), &[docs, "SELECT 1", "--memory-limit", "lots"]);
    assert_eq!(code, Some(2), "{stderr}");
    assert!(
        stderr.contains("--memory-limit") && stderr.contains("`lots` is not a size"),
        "{stderr}"
    );

    // A table holds at most 10,000 rows and says it cut the result; CSV streams all of them.
    let (code, table, _) = sql_run(tmp.path(), &[docs, "SELECT value FROM generate_series(1, 30000)"]);
    assert_eq!(code, Some(0));
    assert!(
        table.contains("| 10000 |") && !table.contains("| 10001 |"),
        "{}",
        &table[table.len() - 300..]
    );
    assert!(table.contains("the first 10000 rows; the result has more"));
    let (_, csv, _) = sql_run(
        tmp.path(),
        &[docs, "SELECT value FROM generate_series(1, 30000)", "--format", "csv"],
    );
    assert_eq!(csv.lines().count(), 30001);

    // SIGINT stops a long query with the shells' status 130, also when the shell that started
    // it made it ignore SIGINT (as a non-interactive shell does for `cmd &`).
    let mut child = Command::new("bash")
        .arg("-c")
        .arg(format!(
            "trap '' INT; exec '{}' sql '{docs}' 'SELECT count(*) FROM generate_series(1, 100000000000)'",
            env!("CARGO_BIN_EXE_maskforge")
        ))
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(std::time::Duration::from_millis(1500));
    let sent = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(sent.success());
    let status = child.wait().unwrap();
    let mut stderr = String::new();
    child.stderr.take().unwrap().read_to_string(&mut stderr).unwrap();
    assert_eq!(status.code(), Some(130), "{stderr}");
    assert!(stderr.contains("interrupted"), "{stderr}");
}
