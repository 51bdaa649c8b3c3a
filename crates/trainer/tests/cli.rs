//! `maskforge-train` as a user runs it: train a few steps from a config file, resume from the
//! checkpoint it wrote, and clear errors for a missing dataset or a bad device.

mod common;

use common::{english_nsp, repo};
use std::process::Command;

fn train(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_maskforge-train"))
        .args(args)
        .output()
        .expect("run maskforge-train")
}

#[test]
fn trains_checkpoints_and_resumes_from_the_command_line() {
    let tmp = tempfile::tempdir().unwrap();
    let data = english_nsp(&tmp.path().join("data"), &[]);
    let (data, out) = (data.to_str().unwrap(), tmp.path().join("ckpt"));
    let config = repo().join("crates/trainer/configs/tiny.toml");
    let first = train(&[
        "--data",
        data,
        "--config",
        config.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
        "--steps",
        "3",
        "--quiet",
    ]);
    assert!(first.status.success(), "{}", String::from_utf8_lossy(&first.stderr));
    let checkpoint = out.join("step-0000003");
    for file in ["model.safetensors", "optimizer.safetensors", "state.json"] {
        assert!(checkpoint.join(file).is_file(), "{file} missing");
    }
    let state: serde_json::Value =
        serde_json::from_slice(&std::fs::read(checkpoint.join("state.json")).unwrap()).unwrap();
    assert_eq!(state["step"], 3);
    assert_eq!(state["loader"]["steps"], 3);
    assert!(String::from_utf8_lossy(&first.stdout).contains("tokens/s"));

    let resumed = train(&[
        "--data",
        data,
        "--resume",
        checkpoint.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
        "--steps",
        "5",
        "--quiet",
    ]);
    assert!(resumed.status.success(), "{}", String::from_utf8_lossy(&resumed.stderr));
    assert!(out.join("step-0000005/state.json").is_file());

    let missing = train(&[
        "--data",
        tmp.path().to_str().unwrap(),
        "--preset",
        "tiny",
        "--out",
        out.to_str().unwrap(),
    ]);
    let stderr = String::from_utf8_lossy(&missing.stderr);
    assert!(
        !missing.status.success() && stderr.contains("no manifest.json"),
        "{stderr}"
    );
    let device = train(&[
        "--data",
        data,
        "--preset",
        "tiny",
        "--out",
        out.to_str().unwrap(),
        "--device",
        "tpu",
    ]);
    let stderr = String::from_utf8_lossy(&device.stderr);
    assert!(
        !device.status.success() && stderr.contains("unknown device `tpu`"),
        "{stderr}"
    );
    // Asked for a GPU, a build without CUDA (or, with it, a machine without the NVIDIA driver)
    // says so, names the way out and writes nothing.
    let gpu_out = tmp.path().join("gpu");
    let gpu = train(&[
        "--data",
        data,
        "--preset",
        "tiny",
        "--out",
        gpu_out.to_str().unwrap(),
        "--device",
        "cuda",
    ]);
    let stderr = String::from_utf8_lossy(&gpu.stderr);
    let expected = if cfg!(feature = "cuda") {
        "no NVIDIA GPU driver on this machine"
    } else {
        "built without CUDA; build it with `--features cuda`"
    };
    assert!(!gpu.status.success() && stderr.contains(expected), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert!(!gpu_out.exists(), "nothing written for a device that cannot be used");
}

/// Held-out shards that hold no example (an epoch of 21 examples in 32 shards): the trainer
/// refuses to start instead of reporting a loss of 0 on 0 examples.
#[test]
fn an_empty_evaluation_set_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let sample = repo().join("assets/quickstart/zh-sample.txt");
    let data = common::epoch_dataset(
        &tmp.path().join("data"),
        "quickstart.toml",
        &[sample.to_str().unwrap()],
        &["output.example_shards=32"],
    );
    let out = tmp.path().join("ckpt");
    let run = train(&[
        "--data",
        data.to_str().unwrap(),
        "--preset",
        "tiny",
        "--out",
        out.to_str().unwrap(),
        "--steps",
        "1",
    ]);
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(!run.status.success(), "{stderr}");
    assert!(
        stderr.contains("held-out shards") && stderr.contains("holds no example"),
        "{stderr}"
    );
    assert!(!out.exists());
}
