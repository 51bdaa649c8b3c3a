//! The components of the text path alone, for `benches/speed.sh`: jieba-rs (precise mode, HMM),
//! Hugging Face `tokenizers` WordPiece (BERT normalizer + pre-tokenizer, per line), the project's
//! tokenizer (the fast WordPiece path) and jieba-rs + the project's tokenizer, each over every
//! non-blank line of the given files, one thread, files read into memory first. Prints one line
//! per component: `NAME SECONDS MB`, and checks that both tokenizers give the same ids. With a
//! GPT-2 `vocab.json` (and `merges.txt` beside it) the project's tokenizer is byte-level BPE
//! through `tokenizers` plus the project's piece conversion.
//!
//! `cargo run --profile measure -p maskforge-text --example components -- VOCAB FILE...`

use jieba_rs::Jieba;
use maskforge_text::{Pieces, TextTokenizer, TokenizerFiles};
use std::time::Instant;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let vocab = args.next().ok_or("usage: components VOCAB FILE...")?;
    let mut text = String::new();
    for file in args {
        text.push_str(&String::from_utf8_lossy(&std::fs::read(file)?));
        text.push('\n');
    }
    let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    let megabytes = text.len() as f64 / 1e6;
    let files = if vocab.ends_with("vocab.json") {
        let merges = std::path::Path::new(&vocab).with_file_name("merges.txt");
        TokenizerFiles::Gpt2 {
            vocab: std::fs::read(&vocab)?,
            merges: std::fs::read(merges)?,
        }
    } else {
        TokenizerFiles::BertVocab {
            vocab: std::fs::read(&vocab)?,
            lowercase: true,
        }
    };
    let tokenizer = TextTokenizer::from_files(&files)?;
    let jieba = Jieba::new();
    let time = |name: &str, work: &mut dyn FnMut() -> usize| {
        let started = Instant::now();
        let count = work();
        let seconds = started.elapsed().as_secs_f64();
        println!("{name} {seconds:.3} {megabytes:.2} ({count} items)");
    };
    time("jieba", &mut || lines.iter().map(|l| jieba.cut(l, true).len()).sum());
    time("hf_tokenizer", &mut || {
        lines
            .iter()
            .map(|l| tokenizer.inner().encode(*l, false).map_or(0, |e| e.len()))
            .sum()
    });
    let mut pieces = Pieces::default();
    let mut fast = |with_jieba: bool| {
        let mut count = 0;
        for line in &lines {
            pieces.clear();
            if tokenizer.encode_into(line, &mut pieces).is_ok() {
                count += pieces.len();
            }
            if with_jieba {
                count += jieba.cut(line, true).len();
            }
        }
        count
    };
    time("maskforge_tokenizer", &mut || fast(false));
    time("jieba_plus_maskforge_tokenizer", &mut || fast(true));
    let differing = lines
        .iter()
        .filter(|l| {
            let fast = tokenizer.encode(l).map(|p| p.ids).unwrap_or_default();
            let reference = tokenizer.encode_reference(l).map(|p| p.ids).unwrap_or_default();
            fast != reference
        })
        .count();
    println!("differing_lines {differing} of {}", lines.len());
    Ok(())
}
