//! Property tests of masking.md section 9's per-example invariants over random documents and
//! configurations.

use maskforge_masking::*;
use proptest::prelude::*;

const CJK: &str = "的一是在不了有和人这中大为上个国我以要他时来用们生到作地于出就分对成会可主发年动同工也能下过子说产种面而方后多定行学法所民得经十三之进着等部度家电力里如水化高自二理起小物现实加量都两体制机当使点从业本去把性好应开它合还因由其些然前外天政四日那社义事平形相全表间样与关各重新线内数正心反你明看原又么利比或但质气第向道命此变条只没结解问意建月公无系军很情者最立代想已通并提直题党程展五果料象员革位入常文总次品式活设及管特件长求老头基资边流路级少图山统接知较将组见计别她手角期根论运农指几九区强放决西被干做必战先回则任取据处队南给色光门即保治北造百规热领七海口东导器压志世金增争济阶油思术极交受联什认六共权收证改清己美再采转更单风切打白教速花带安场身车例真务具万每目至达走积示议声报斗完类八离华名确才科张信马节话米整空元况今集温传土许步群广石记需段研界拉林律叫且究观越织装影算低持音众书布复容儿须际商非验连断深难近矿千周委素技备半办青省列习响约支般史感劳便团往酸历市克何除消构府称太准精值号率族维划选标写存候毛亲快效斯院查江型眼王按格养易置派层片始却专状育厂京识适属圆包火住调满县局照参红细引听该铁价严";

fn vocab() -> (Vec<String>, Vocabulary) {
    let mut tokens: Vec<String> = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "[unused1]"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    for c in 'a'..='z' {
        tokens.push(c.to_string());
        tokens.push(format!("##{c}"));
    }
    tokens.extend(CJK.chars().map(|c| c.to_string()));
    let names = SpecialTokenNames {
        cls: "[CLS]".into(),
        sep: "[SEP]".into(),
        mask: "[MASK]".into(),
    };
    let vocab = Vocabulary::new(tokens.clone(), &[0, 1, 2, 3, 4], &names, RandomPool::Content).unwrap();
    (tokens, vocab)
}

fn similar_words(tokens: &[String]) -> SimilarWords {
    let chars: Vec<char> = CJK.chars().collect();
    let mut table = String::new();
    for pair in chars.chunks(4) {
        if pair.len() == 4 {
            table.push_str(&format!("{}{}\t{}{} {}\n", pair[0], pair[1], pair[2], pair[3], pair[0]));
        }
    }
    let parsed = SynonymTable::parse(&table).unwrap();
    SimilarWords::build(&parsed, |w| {
        w.chars()
            .map(|c| tokens.iter().position(|t| *t == c.to_string()).map(|i| i as u32))
            .collect()
    })
}

/// A random document: sentences of words; a word is 1-3 tokens (a Latin piece plus `##`
/// continuations, or CJK characters of one jieba word).
fn document() -> impl Strategy<Value = (Vec<u32>, Vec<u32>, Vec<bool>)> {
    let word = prop_oneof![
        (0u32..26, proptest::collection::vec(0u32..26, 0..3)).prop_map(|(h, t)| {
            let mut ids = vec![6 + 2 * h];
            ids.extend(t.iter().map(|c| 7 + 2 * c));
            ids
        }),
        proptest::collection::vec(58u32..(58 + 400), 1..4),
    ];
    let sentence = proptest::collection::vec(word, 1..12);
    proptest::collection::vec(sentence, 1..8).prop_map(|sentences| {
        let (mut ids, mut ends, mut starts) = (Vec::new(), Vec::new(), Vec::new());
        for s in sentences {
            for w in s {
                starts.extend((0..w.len()).map(|i| i == 0));
                ids.extend(w);
            }
            ends.push(ids.len() as u32);
        }
        (ids, ends, starts)
    })
}

fn masking_config() -> impl Strategy<Value = MaskSpec> {
    (
        prop_oneof![
            Just(MaskStrategy::Token),
            Just(MaskStrategy::WholeWord),
            Just(MaskStrategy::Ngram),
            Just(MaskStrategy::MacbertSequential),
            Just(MaskStrategy::Span)
        ],
        prop_oneof![Just(BudgetUnit::Tokens), Just(BudgetUnit::Words)],
        prop_oneof![Just(ReplacementUnit::Token), Just(ReplacementUnit::Word)],
        0.05f64..0.5,
        1u32..30,
        any::<bool>(),
    )
        .prop_map(
            |(strategy, budget_unit, replacement_unit, probability, max_predictions, macbert)| {
                let (mask, similar) = if macbert && replacement_unit == ReplacementUnit::Word {
                    (0.0, 0.8)
                } else {
                    (0.8, 0.0)
                };
                MaskSpec {
                    strategy,
                    budget_unit,
                    replacement_unit,
                    probability,
                    max_predictions,
                    replace: ReplaceShares {
                        mask,
                        similar,
                        random: 0.1,
                        keep: 0.1,
                    },
                    ngram_weights: MaskSpec::default_ngram_weights(4),
                    span_p: 0.2,
                    random_pool: RandomPool::Content,
                    mask_token: "[MASK]".into(),
                }
            },
        )
}

fn pairs_config() -> impl Strategy<Value = PairSpec> {
    (
        prop_oneof![
            Just(PairTask::Nsp),
            Just(PairTask::Sop),
            Just(PairTask::FullSentences),
            Just(PairTask::DocSentences)
        ],
        8u32..64,
        any::<bool>(),
    )
        .prop_map(|(task, max_seq_length, compat)| PairSpec {
            task,
            max_seq_length,
            short_seq_prob: 0.1,
            single_sentence: if compat {
                SingleSentencePolicy::Compat
            } else {
                SingleSentencePolicy::Strict
            },
            cls_token: "[CLS]".into(),
            sep_token: "[SEP]".into(),
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    #[test]
    fn every_example_keeps_the_invariants(
        docs in proptest::collection::vec(document(), 1..5),
        pairs in pairs_config(),
        masking in masking_config(),
        seed in any::<u64>(),
        epoch in 0u32..3,
    ) {
        let (tokens, vocab) = vocab();
        let similar = similar_words(&tokens);
        let refs: Vec<DocumentRef<'_>> = docs.iter().enumerate().map(|(i, (ids, ends, starts))| DocumentRef {
            doc_id: i as u64 + 100, copy: 0, input_ids: ids, sentence_ends: ends, word_starts: starts,
        }).collect();
        let mut stats = PairStats::default();
        let mut instances = Vec::new();
        let mut packer = Packer::new(&pairs, vocab.sep);
        for d in &refs {
            match pairs.task {
                PairTask::Nsp | PairTask::Sop => instances.extend(pair_instances(*d, refs.as_slice(), &pairs, seed, 0, &mut stats)),
                _ => instances.extend(packer.push(*d, &mut stats)),
            }
        }
        instances.extend(packer.flush(&mut stats));
        let masker = Masker::new(&masking, vocab.clone(), Some(similar), seed);
        let mut mstats = MaskStats::default();
        let l = pairs.max_seq_length as usize;
        for inst in &instances {
            let assembled = inst.assemble(vocab.cls, vocab.sep);
            let ex = masker.mask_instance(inst, epoch, &mut mstats);
            let n = ex.input_ids.len();
            prop_assert!(n <= l, "length {} > L {}", n, l);
            prop_assert_eq!(ex.input_ids[0], vocab.cls);
            prop_assert_eq!(assembled.input_ids[n - 1], vocab.sep);
            prop_assert_eq!(ex.token_type_ids.len(), n);
            prop_assert_eq!(ex.word_starts.len(), n);
            // [SEP] closes A (token type 0) and, for pairs, B (token type 1).
            let first_sep = assembled.input_ids.iter().position(|&t| t == vocab.sep).unwrap();
            prop_assert!(ex.token_type_ids[..=first_sep].iter().all(|&t| t == 0));
            if inst.pair_type != PairType::None {
                prop_assert!(ex.token_type_ids[first_sep + 1..].iter().all(|&t| t == 1));
                prop_assert!(!inst.a.is_empty() && !inst.b.is_empty());
            }
            // Positions sorted, unique, never special; labels are the original ids.
            prop_assert!(ex.masked_positions.windows(2).all(|w| w[0] < w[1]));
            prop_assert_eq!(ex.masked_positions.len(), ex.masked_labels.len());
            prop_assert_eq!(ex.masked_positions.len(), ex.mask_kinds.len());
            let mut restored = ex.input_ids.clone();
            for ((&p, &label), &kind) in ex.masked_positions.iter().zip(&ex.masked_labels).zip(&ex.mask_kinds) {
                prop_assert!(!assembled.special[p as usize], "special token masked at {}", p);
                prop_assert_eq!(label, assembled.input_ids[p as usize]);
                if kind == MaskKind::Mask as u8 { prop_assert_eq!(ex.input_ids[p as usize], vocab.mask); }
                if kind == MaskKind::Keep as u8 { prop_assert_eq!(ex.input_ids[p as usize], label); }
                restored[p as usize] = label;
            }
            prop_assert_eq!(&restored, &assembled.input_ids);
            // Unmasked positions are untouched.
            for i in 0..n {
                if !ex.masked_positions.contains(&(i as u16)) {
                    prop_assert_eq!(ex.input_ids[i], assembled.input_ids[i]);
                }
            }
            // Budget: never more than M tokens; with the token unit never more than the budget.
            prop_assert!(ex.masked_positions.len() <= masking.max_predictions as usize);
            if masking.budget_unit == BudgetUnit::Tokens {
                let budget = Budget::new(BudgetUnit::Tokens, n, 0, masking.probability, masking.max_predictions as usize);
                prop_assert!(ex.masked_positions.len() <= budget.limit());
            }
            // Whole-word strategies never select part of a word.
            if masking.strategy != MaskStrategy::Token {
                for w in assembled.words() {
                    let chosen = w.clone().filter(|p| ex.masked_positions.contains(&(*p as u16))).count();
                    prop_assert!(chosen == 0 || chosen == w.len(), "word {:?} partly masked", w);
                }
            }
            // The same key gives the same masks; the next epoch's masks come from another stream.
            let again = masker.mask_instance(inst, epoch, &mut MaskStats::default());
            prop_assert_eq!(&again, &ex);
            let next = masker.mask(&assembled, ex.key, epoch + 1, &mut MaskStats::default());
            prop_assert_eq!(next.input_ids.len(), n);
        }
        let pair_total: u64 = stats.instances();
        prop_assert_eq!(pair_total, instances.len() as u64);
    }
}

#[test]
fn nsp_and_sop_labels_follow_the_pair_type() {
    assert_eq!(PairType::RandomDoc.nsp_label(PairTask::Nsp), 1);
    assert_eq!(PairType::Next.nsp_label(PairTask::Nsp), 0);
    assert_eq!(PairType::Next.nsp_label(PairTask::Sop), -1);
    assert_eq!(PairType::Next.sop_label(PairTask::Nsp), -1);
    assert_eq!(PairType::Swapped.sop_label(PairTask::Sop), 1);
    assert_eq!(PairType::RandomDoc.sop_label(PairTask::Sop), 1);
    assert_eq!(PairType::Next.sop_label(PairTask::Sop), 0);
    assert_eq!(PairType::None.nsp_label(PairTask::FullSentences), -1);
    assert_eq!(PairType::None.sop_label(PairTask::DocSentences), -1);
}
