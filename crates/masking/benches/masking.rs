//! Criterion bench of the masking path on real Chinese documents: pair building (SOP), assembly
//! and masking per strategy, in examples per second.

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use maskforge_masking::*;
use maskforge_text::{Segmenter, SplitRules, TextProcessor, TextTokenizer, TokenizerFiles};
use std::path::{Path, PathBuf};

struct Doc {
    ids: Vec<u32>,
    ends: Vec<u32>,
    starts: Vec<bool>,
}

/// BERT's 80/10/10 replacement shares.
const BERT_SHARES: ReplaceShares = ReplaceShares {
    mask: 0.8,
    similar: 0.0,
    random: 0.1,
    keep: 0.1,
};

fn documents(root: &Path) -> (Vec<Doc>, TextTokenizer) {
    let corpora = std::env::var("MASKFORGE_CORPORA")
        .map(PathBuf::from)
        .unwrap_or_else(|_| root.join("../shared/corpora"));
    let text = std::fs::read_to_string(corpora.join("zh/fortunes-zh.txt")).expect("shared corpora");
    let vocab = std::fs::read(root.join("assets/vocab/bert-base-chinese/vocab.txt")).expect("bundled vocab");
    let files = TokenizerFiles::BertVocab { vocab, lowercase: true };
    let processor = TextProcessor::new(
        TextTokenizer::from_files(&files).expect("tokenizer"),
        Segmenter::jieba(true, None).expect("jieba"),
        SplitRules { latin_period: false },
        1,
        false,
    );
    let docs = text
        .split("\n\n")
        .take(2000)
        .filter_map(|d| processor.process(d).ok()?.ok())
        .map(|d| Doc {
            ids: d.input_ids,
            ends: d.sentence_ends,
            starts: d.word_starts,
        })
        .collect();
    (docs, TextTokenizer::from_files(&files).expect("tokenizer"))
}

fn masking(c: &mut Criterion) {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
    let (docs, tokenizer) = documents(&root);
    let refs: Vec<DocumentRef<'_>> = docs
        .iter()
        .enumerate()
        .map(|(i, d)| DocumentRef {
            doc_id: i as u64,
            copy: 0,
            input_ids: &d.ids,
            sentence_ends: &d.ends,
            word_starts: &d.starts,
        })
        .collect();
    let names = SpecialTokenNames {
        cls: "[CLS]".into(),
        sep: "[SEP]".into(),
        mask: "[MASK]".into(),
    };
    let vocab = Vocabulary::new(
        tokenizer.vocabulary(),
        &tokenizer.special_ids(),
        &names,
        RandomPool::Content,
    )
    .expect("vocab");
    let pairs = PairSpec {
        task: PairTask::Sop,
        max_seq_length: 128,
        short_seq_prob: 0.1,
        single_sentence: SingleSentencePolicy::Strict,
        cls_token: "[CLS]".into(),
        sep_token: "[SEP]".into(),
    };
    let mut stats = PairStats::default();
    let instances: Vec<Instance> = refs
        .iter()
        .flat_map(|d| pair_instances(*d, &refs, &pairs, 1, 0, &mut stats))
        .collect();
    let tokens: usize = instances.iter().map(|i| i.a.len() + i.b.len() + 3).sum();

    let mut group = c.benchmark_group("masking_zh");
    group.sample_size(10);
    group.throughput(Throughput::Elements(refs.len() as u64));
    group.bench_function("sop_pairs", |b| {
        b.iter(|| {
            refs.iter()
                .map(|d| pair_instances(*d, &refs, &pairs, 1, 0, &mut PairStats::default()).len())
                .sum::<usize>()
        })
    });
    group.throughput(Throughput::Bytes(tokens as u64 * 4));
    let strategies = [
        ("token", MaskStrategy::Token, ReplacementUnit::Token, BERT_SHARES),
        (
            "whole_word",
            MaskStrategy::WholeWord,
            ReplacementUnit::Token,
            BERT_SHARES,
        ),
        ("ngram", MaskStrategy::Ngram, ReplacementUnit::Word, BERT_SHARES),
    ];
    for (name, strategy, replacement_unit, replace) in strategies {
        let config = MaskSpec {
            strategy,
            probability: 0.15,
            max_predictions: 80,
            budget_unit: BudgetUnit::Tokens,
            replacement_unit,
            replace,
            ngram_weights: MaskSpec::default_ngram_weights(4),
            span_p: 0.2,
            random_pool: RandomPool::Content,
            mask_token: "[MASK]".into(),
        };
        let masker = Masker::new(&config, vocab.clone(), None, 1);
        group.bench_function(name, |b| {
            b.iter(|| {
                let mut s = MaskStats::default();
                for inst in &instances {
                    masker.mask_instance(inst, 0, &mut s);
                }
                s.masked_tokens
            })
        });
    }
    group.finish();
}

criterion_group!(benches, masking);
criterion_main!(benches);
