//! The Hugging Face files of every epoch: for each bundled pipeline, on its quickstart sample and
//! a real corpus file, `AutoTokenizer.from_pretrained(epoch_dir)` reproduces every document's ids
//! sentence by sentence, and the model hints agree with the tokenizer and the manifest
//! (`tests/python/check_hf_tokenizer.py`, which needs `transformers`; no torch).

mod common;

use common::*;

#[test]
fn auto_tokenizer_reproduces_the_documents_of_every_pipeline() {
    for (name, sample, real) in [
        ("quickstart.toml", "zh-sample.txt", "zh/debian-reference-zh-cn.txt"),
        ("macbert-zh.toml", "zh-sample.txt", "zh/fortunes-zh.txt"),
        ("bert-nsp-en.toml", "en-sample.txt", "en/fortunes.txt"),
        ("albert-sop.toml", "en-sample.txt", "en/fortunes.txt"),
        ("roberta-en.toml", "en-sample.txt", "en/fortunes.txt"),
    ] {
        let dir = tempfile::tempdir().expect("tempdir");
        let out = dir.path().join("out");
        let sample = repo().join("assets/quickstart").join(sample);
        maskforge_ok(&[
            "run",
            &pipeline(name),
            "--input",
            &sample.to_string_lossy(),
            "--input",
            &corpus(real),
            "--output",
            &out.to_string_lossy(),
            "--set",
            "output.keep_text=true",
            "--quiet",
        ]);
        run_python("check_hf_tokenizer.py", &[out.join("epochs/0"), out.join("documents")]);
    }
}
