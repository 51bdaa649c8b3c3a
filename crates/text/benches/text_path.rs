//! Criterion bench of the text path on real Chinese text: the whole path (clean, split,
//! tokenize, jieba, word starts) against jieba-rs plus the tokenizer alone on the same lines.

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use jieba_rs::Jieba;
use maskforge_text::{Segmenter, SplitRules, TextProcessor, TextTokenizer, TokenizerFiles};
use std::path::{Path, PathBuf};

fn sample() -> (Vec<String>, usize) {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
    let corpora = std::env::var("MASKFORGE_CORPORA")
        .map(PathBuf::from)
        .unwrap_or_else(|_| root.join("../shared/corpora"));
    let text = std::fs::read_to_string(corpora.join("zh/debian-handbook-zh-cn.txt")).expect("shared corpora");
    let mut documents: Vec<String> = Vec::new();
    let mut bytes = 0;
    for doc in text.split("\n\n") {
        if bytes > 256 << 10 {
            break;
        }
        bytes += doc.len();
        documents.push(doc.to_owned());
    }
    (documents, bytes)
}

fn tokenizer(root: &Path) -> TextTokenizer {
    let vocab = std::fs::read(root.join("assets/vocab/bert-base-chinese/vocab.txt")).expect("bundled vocab");
    TextTokenizer::from_files(&TokenizerFiles::BertVocab { vocab, lowercase: true }).expect("tokenizer")
}

fn text_path(c: &mut Criterion) {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
    let (documents, bytes) = sample();
    let mut group = c.benchmark_group("text_path_zh");
    group.throughput(Throughput::Bytes(bytes as u64));
    group.sample_size(10);

    let processor = TextProcessor::new(
        tokenizer(&root),
        Segmenter::jieba(true, None).expect("jieba"),
        SplitRules { latin_period: false },
        1,
        false,
    );
    group.bench_function("maskforge_text_path", |b| {
        b.iter(|| {
            documents
                .iter()
                .filter_map(|d| processor.process(d).ok()?.ok())
                .map(|d| d.input_ids.len())
                .sum::<usize>()
        })
    });

    let tok = tokenizer(&root);
    let jieba = Jieba::new();
    group.bench_function("jieba_plus_tokenizer_alone", |b| {
        b.iter(|| {
            let mut n = 0;
            for line in documents.iter().flat_map(|d| d.lines()) {
                n += jieba.cut(line, true).len();
                n += tok.encode(line).map(|p| p.len()).unwrap_or(0);
            }
            n
        })
    });
    group.finish();

    // The tokenizer alone: the fast WordPiece path against Hugging Face tokenizers.
    let lines: Vec<&str> = documents.iter().flat_map(|d| d.lines()).collect();
    let mut group = c.benchmark_group("wordpiece_zh");
    group.throughput(Throughput::Bytes(bytes as u64));
    group.sample_size(10);
    group.bench_function("fast_wordpiece", |b| {
        let mut pieces = maskforge_text::Pieces::default();
        b.iter(|| {
            let mut n = 0;
            for line in &lines {
                pieces.clear();
                tok.encode_into(line, &mut pieces).expect("encode");
                n += pieces.len();
            }
            n
        })
    });
    group.bench_function("hf_tokenizers", |b| {
        b.iter(|| {
            lines
                .iter()
                .map(|line| tok.inner().encode(*line, false).map(|e| e.len()).unwrap_or(0))
                .sum::<usize>()
        })
    });
    group.finish();
}

criterion_group!(benches, text_path);
criterion_main!(benches);
