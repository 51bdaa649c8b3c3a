//! The baseline of `benches/prepare_vs_baseline.sh`: jieba-rs (precise mode, HMM) plus the
//! Hugging Face tokenizer alone on every line of the given files, one thread, no output. This is
//! the least any pipeline built on these two libraries must spend on the same text.
//!
//! `cargo run --profile measure -p maskforge-text --example baseline -- VOCAB_TXT FILE...`

use jieba_rs::Jieba;
use maskforge_text::{TextTokenizer, TokenizerFiles};
use std::io::BufRead;
use std::time::Instant;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let vocab = args.next().ok_or("usage: baseline VOCAB_TXT FILE...")?;
    let files: Vec<String> = args.collect();
    let tokenizer = TextTokenizer::from_files(&TokenizerFiles::BertVocab {
        vocab: std::fs::read(vocab)?,
        lowercase: true,
    })?;
    let jieba = Jieba::new();
    let started = Instant::now();
    let (mut bytes, mut tokens, mut words) = (0usize, 0usize, 0usize);
    for file in &files {
        for line in std::io::BufReader::new(std::fs::File::open(file)?).lines() {
            let line = line?;
            bytes += line.len() + 1;
            if line.trim().is_empty() {
                continue;
            }
            words += jieba.cut(&line, true).len();
            tokens += tokenizer.encode(&line)?.get_ids().len();
        }
    }
    let seconds = started.elapsed().as_secs_f64();
    println!(
        "baseline: {:.1} MB, {tokens} tokens, {words} words in {seconds:.2}s ({:.2} MB/s)",
        bytes as f64 / 1e6,
        bytes as f64 / 1e6 / seconds
    );
    Ok(())
}
