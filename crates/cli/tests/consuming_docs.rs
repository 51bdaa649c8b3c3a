//! Every Python block of docs/consuming.md runs as written against real quickstart epochs, one
//! without and one with a validation split (blocks that need torch run where it is installed:
//! `benches/hf_trainer.sh`).

mod common;

use common::*;

#[test]
fn every_block_of_consuming_md_runs() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = dir.path().join("out/quickstart");
    maskforge_ok(&[
        "run",
        &pipeline("quickstart.toml"),
        "--output",
        &out.to_string_lossy(),
        "--quiet",
    ]);
    let split = dir.path().join("out/quickstart-split");
    maskforge_ok(&[
        "run",
        &pipeline("quickstart.toml"),
        "--output",
        &split.to_string_lossy(),
        "--set",
        "output.validation_fraction=0.2",
        "--quiet",
    ]);
    std::os::unix::fs::symlink(repo().join("python"), dir.path().join("python")).expect("link python/");
    let stdout = run_python(
        "run_doc_blocks.py",
        &[repo().join("docs/consuming.md").as_os_str(), dir.path().as_os_str()],
    );
    assert!(stdout.contains("blocks ran"), "{stdout}");
}

/// The Python reader refuses every crafted shard the Rust reader refuses, with the same words:
/// `python/tests/test_contract.py`, each crafted epoch also read by this `maskforge inspect`.
#[test]
fn the_python_reader_applies_the_rust_contract() {
    let out = std::process::Command::new("python3")
        .arg(repo().join("python/tests/test_contract.py"))
        .env("MASKFORGE_BIN", env!("CARGO_BIN_EXE_maskforge"))
        .output()
        .expect("python3 (scripts/test.sh installs pyarrow and numpy)");
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
    assert!(out.status.success(), "{stdout}{stderr}");
    assert!(stdout.contains("ok ("), "{stdout}");
}
