//! Differential tests of the fast WordPiece path against Hugging Face `tokenizers`: the same
//! ids, byte offsets and continuation marks on every line of every file of `../shared/corpora/`
//! and on generated strings built to break it, for cased and uncased BERT vocabularies loaded
//! both from `vocab.txt` and from `tokenizer.json`.

use maskforge_text::{Pieces, TextTokenizer, TokenizerFiles};
use std::io::Read;
use std::path::PathBuf;

fn shared(kind: &str, env: &str) -> PathBuf {
    std::env::var(env).map(PathBuf::from).unwrap_or_else(|_| {
        PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("../../../shared")
            .join(kind)
    })
}

fn read_vocab(rel: &str) -> Vec<u8> {
    let path = shared("vocab", "MASKFORGE_VOCAB").join(rel);
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The BERT tokenizers under test, by name.
fn tokenizers() -> Vec<(&'static str, TextTokenizer)> {
    let build = |files| TextTokenizer::from_files(&files).expect("tokenizer");
    let all = vec![
        (
            "bert-base-chinese vocab.txt, uncased",
            build(TokenizerFiles::BertVocab {
                vocab: read_vocab("bert-base-chinese/vocab.txt"),
                lowercase: true,
            }),
        ),
        (
            "bert-base-chinese tokenizer.json",
            build(TokenizerFiles::Json(read_vocab("bert-base-chinese/tokenizer.json"))),
        ),
        (
            "bert-base-uncased tokenizer.json",
            build(TokenizerFiles::Json(read_vocab("bert-base-uncased/tokenizer.json"))),
        ),
        (
            "bert-base-uncased vocab.txt, cased",
            build(TokenizerFiles::BertVocab {
                vocab: read_vocab("bert-base-uncased/vocab.txt"),
                lowercase: false,
            }),
        ),
    ];
    let mut all = all;
    // The other switches of BertNormalizer: no cleaning, no CJK spacing, lower-casing without
    // accent stripping.
    let mut json: serde_json::Value =
        serde_json::from_slice(&read_vocab("bert-base-uncased/tokenizer.json")).expect("tokenizer.json");
    json["normalizer"] = serde_json::json!({
        "type": "BertNormalizer", "clean_text": false, "handle_chinese_chars": false,
        "strip_accents": false, "lowercase": true
    });
    all.push((
        "bert-base-uncased tokenizer.json, no cleaning, no CJK spacing, no stripping",
        build(TokenizerFiles::Json(serde_json::to_vec(&json).expect("json"))),
    ));
    for (name, t) in &all {
        assert!(t.is_fast(), "{name} must take the fast path");
    }
    all
}

/// Compares the fast path alone with the reference on `text`; returns a description of the
/// first difference. Text the fast path declines (and hands to the reference) counts in
/// `declined`.
fn differs(tokenizer: &TextTokenizer, text: &str, fast: &mut Pieces, declined: &mut usize) -> Option<String> {
    fast.clear();
    let path = tokenizer.fast().expect("fast path");
    if path.encode(text, fast).is_err() {
        *declined += 1;
        assert!(fast.is_empty(), "a declined text leaves nothing behind");
        return None;
    }
    let reference = tokenizer.encode_reference(text).expect("reference encode");
    if *fast == reference {
        return None;
    }
    let at = (0..fast.len().max(reference.len()))
        .find(|&i| {
            fast.ids.get(i) != reference.ids.get(i)
                || fast.offsets.get(i) != reference.offsets.get(i)
                || fast.continues.get(i) != reference.continues.get(i)
        })
        .unwrap_or(0);
    let show = |p: &Pieces| format!("{:?} {:?} {:?}", p.ids.get(at), p.offsets.get(at), p.continues.get(at));
    Some(format!(
        "{text:?}: piece {at}: fast {} reference {}",
        show(fast),
        show(&reference)
    ))
}

/// Every text of every corpus file: lines of text files, the `text` of JSON Lines records,
/// the `text` column of Parquet files.
fn corpus_texts() -> Vec<(String, Vec<String>)> {
    let root = shared("corpora", "MASKFORGE_CORPORA");
    let mut files = Vec::new();
    for dir in ["zh", "en", "formats"] {
        let mut entries: Vec<PathBuf> = std::fs::read_dir(root.join(dir))
            .unwrap_or_else(|e| panic!("{}: {e}", root.join(dir).display()))
            .map(|e| e.expect("dir entry").path())
            .collect();
        entries.sort();
        files.extend(entries);
    }
    files
        .into_iter()
        .map(|path| {
            let name = path.display().to_string();
            let texts = if name.ends_with(".parquet") {
                parquet_texts(&path)
            } else {
                let mut bytes = std::fs::read(&path).expect("corpus file");
                if name.ends_with(".gz") {
                    let mut out = Vec::new();
                    flate2::read::GzDecoder::new(&bytes[..])
                        .read_to_end(&mut out)
                        .expect("gzip");
                    bytes = out;
                }
                let text = String::from_utf8_lossy(&bytes).into_owned();
                if name.contains(".jsonl") {
                    text.lines()
                        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
                        .filter_map(|v| v["text"].as_str().map(str::to_owned))
                        .collect()
                } else {
                    text.lines().map(str::to_owned).collect()
                }
            };
            assert!(!texts.is_empty(), "{name} yields no text");
            (name, texts)
        })
        .collect()
}

fn parquet_texts(path: &std::path::Path) -> Vec<String> {
    use arrow::array::{Array, AsArray};
    let file = std::fs::File::open(path).expect("parquet file");
    let reader = parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(file)
        .expect("parquet")
        .build()
        .expect("parquet reader");
    let mut texts = Vec::new();
    for batch in reader {
        let batch = batch.expect("batch");
        let column = batch.column_by_name("text").expect("text column");
        let column = arrow::compute::cast(column, &arrow::datatypes::DataType::Utf8).expect("utf8");
        let strings = column.as_string::<i32>();
        texts.extend(
            (0..strings.len())
                .filter(|&i| strings.is_valid(i))
                .map(|i| strings.value(i).to_owned()),
        );
    }
    texts
}

/// Runs `check` for every tokenizer on its own thread and gathers the failures it reports.
fn on_every_tokenizer(
    tokenizers: &[(&'static str, TextTokenizer)],
    check: impl Fn(&str, &TextTokenizer) -> Vec<String> + Sync,
) -> Vec<String> {
    std::thread::scope(|scope| {
        let check = &check;
        let jobs: Vec<_> = tokenizers
            .iter()
            .map(|(name, tokenizer)| scope.spawn(move || check(name, tokenizer)))
            .collect();
        jobs.into_iter().flat_map(|j| j.join().expect("thread")).collect()
    })
}

#[test]
fn same_pieces_as_hugging_face_on_every_corpus_file() {
    let tokenizers = tokenizers();
    let corpora = corpus_texts();
    let failures = on_every_tokenizer(&tokenizers, |name, tokenizer| {
        let mut fast = Pieces::default();
        let mut failures = Vec::new();
        let (mut declined, mut total) = (0, 0);
        for (file, texts) in &corpora {
            let mut count = 0;
            total += texts.len();
            for text in texts {
                if let Some(d) = differs(tokenizer, text, &mut fast, &mut declined) {
                    count += 1;
                    if count <= 3 {
                        failures.push(format!("{name} on {file}: {d}"));
                    }
                }
            }
            if count > 3 {
                failures.push(format!("{name} on {file}: {count} texts differ in all"));
            }
        }
        // The corpora are ordinary text: the fast path takes (nearly) all of it.
        if declined * 10_000 > total {
            failures.push(format!("{name}: declined {declined} of {total} texts"));
        }
        eprintln!("{name}: {total} texts, {declined} declined");
        failures
    });
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// A deterministic generator (SplitMix64), so a failure reproduces.
struct Strings(u64);

impl Strings {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    fn pick<'a>(&mut self, items: &'a [&'a str]) -> &'a str {
        items[self.below(items.len())]
    }
}

/// Fragments of the kinds of text that trip normalizers and WordPiece.
const FRAGMENTS: &[&str] = &[
    "the",
    "Tokenization",
    "UNBELIEVABLE",
    "don't",
    "e-mail",
    "3.14",
    "1,000",
    " ",
    "  ",
    "\t",
    "\n",
    "\r\n",
    "中文",
    "分词器",
    "我爱北京天安门",
    "，",
    "。",
    "「",
    "」",
    "…",
    "——",
    "《",
    "》",
    "café",
    "naïve",
    "Ångström",
    "Éric",
    "résumé",
    "ß",
    "ﬁ",
    "İstanbul",
    "ΣΊΣΥΦΟΣ",
    "Ǆemal",
    "K",
    "Å",
    "e\u{301}",
    "a\u{308}\u{301}",
    "\u{301}",
    "o\u{316}\u{301}",
    "\u{20dd}",
    "क्षि",
    "\u{93e}",
    "\u{1d165}",
    "한국어",
    "日本語",
    "ひらがな",
    "カタカナ",
    "ｶﾀｶﾅ",
    "ＡＢＣ",
    "１２３",
    "！",
    "？",
    "\u{3000}",
    "\u{0}",
    "\u{b}",
    "\u{c}",
    "\u{1f}",
    "\u{7f}",
    "\u{85}",
    "\u{a0}",
    "\u{2028}",
    "\u{200b}",
    "\u{200d}",
    "\u{feff}",
    "\u{fffd}",
    "\u{e000}",
    "\u{f0000}",
    "\u{378}",
    "\u{e0041}",
    "😀",
    "👍🏽",
    "👨‍👩‍👧",
    "🇨🇳",
    "\u{2f800}",
    "\u{f900}",
    "\u{fa0e}",
    "𠀀",
    "\u{2b820}",
    "\u{2b91f}",
    "$",
    "+",
    "<=>",
    "^_^",
    "`",
    "|",
    "~",
    "#",
    "##",
    "##ing",
    "[SEP]",
    "[UNK]",
    "<s>",
    "@user",
    "http://a.b/c?d=e",
];

fn generated(rng: &mut Strings) -> String {
    let mut s = String::new();
    for _ in 0..1 + rng.below(12) {
        match rng.below(10) {
            0 => {
                // A very long word, around the 100-character limit.
                let n = 95 + rng.below(10);
                s.push_str(&"ab".repeat(n).chars().take(n).collect::<String>());
            }
            1 => {
                // Any code point at all.
                if let Some(c) = char::from_u32(rng.below(0x11_0000) as u32) {
                    s.push(c);
                }
            }
            _ => s.push_str(rng.pick(FRAGMENTS)),
        }
    }
    s
}

#[test]
fn same_pieces_as_hugging_face_on_generated_strings() {
    let tokenizers = tokenizers();
    let mut rng = Strings(0x6d61_736b_666f_7267);
    let mut fast = Pieces::default();
    let mut failures = Vec::new();
    let mut declined = 0;
    const STRINGS: usize = 20_000;
    for _ in 0..STRINGS {
        let text = generated(&mut rng);
        for (name, tokenizer) in &tokenizers {
            if let Some(d) = differs(tokenizer, &text, &mut fast, &mut declined) {
                failures.push(format!("{name}: {d}"));
            }
        }
        if failures.len() > 10 {
            break;
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    // Only the strings with a spacing combining mark under accent stripping are declined.
    assert!(
        declined < STRINGS / 4,
        "declined {declined} of {}",
        STRINGS * tokenizers.len()
    );
    eprintln!("generated: declined {declined} of {}", STRINGS * tokenizers.len());
}

#[test]
fn every_fragment_alone_and_joined() {
    let tokenizers = tokenizers();
    let mut fast = Pieces::default();
    let mut failures = Vec::new();
    let mut declined = 0;
    for (name, tokenizer) in &tokenizers {
        for a in FRAGMENTS {
            for b in FRAGMENTS {
                let text = format!("{a}{b}");
                if let Some(d) = differs(tokenizer, &text, &mut fast, &mut declined) {
                    failures.push(format!("{name}: {d}"));
                }
            }
        }
    }
    failures.truncate(20);
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn words_over_the_limit_and_unknown_words_are_one_unknown_piece() {
    let tokenizer = TextTokenizer::from_files(&TokenizerFiles::Json(read_vocab("bert-base-uncased/tokenizer.json")))
        .expect("tokenizer");
    let unk = tokenizer.token_to_id("[UNK]").expect("unk");
    let long = "a".repeat(101);
    let pieces = tokenizer.encode(&format!("x {long} y")).expect("encode");
    assert_eq!(pieces.ids[1], unk);
    assert_eq!(pieces.offsets[1], (2, 103));
    let exactly = "a".repeat(100);
    assert!(!tokenizer.encode(&exactly).expect("encode").ids.contains(&unk));
    // A word with a character the vocabulary lacks is one unknown piece over the whole word.
    let pieces = tokenizer.encode("abc\u{e000}def ok").expect("encode");
    let reference = tokenizer.encode_reference("abc\u{e000}def ok").expect("reference");
    assert_eq!(pieces, reference);
}

#[test]
fn declined_sentences_still_encode_exactly_through_the_reference() {
    let tokenizer = TextTokenizer::from_files(&TokenizerFiles::Json(read_vocab("bert-base-uncased/tokenizer.json")))
        .expect("tokenizer");
    // U+1D165 (a combining stem with a non-zero combining class, category Mc) under accent
    // stripping: the fast path declines the sentence, the tokenizer hands it to the reference.
    let text = "note \u{1d15f}\u{1d165} here";
    let mut pieces = Pieces::default();
    assert!(tokenizer.fast().expect("fast").encode(text, &mut pieces).is_err());
    assert_eq!(
        tokenizer.encode(text).expect("encode"),
        tokenizer.encode_reference(text).expect("reference")
    );
    // The cased vocabulary (no stripping) takes it on the fast path.
    let cased = TextTokenizer::from_files(&TokenizerFiles::BertVocab {
        vocab: read_vocab("bert-base-uncased/vocab.txt"),
        lowercase: false,
    })
    .expect("tokenizer");
    assert!(cased.fast().expect("fast").encode(text, &mut pieces).is_ok());
    assert_eq!(pieces, cased.encode_reference(text).expect("reference"));
}

#[test]
fn other_pipelines_use_the_reference() {
    let gpt2 = TextTokenizer::from_files(&TokenizerFiles::Gpt2 {
        vocab: read_vocab("gpt2/vocab.json"),
        merges: read_vocab("gpt2/merges.txt"),
    })
    .expect("tokenizer");
    assert!(!gpt2.is_fast());
    // A tokenizer.json whose normalizer is not BertNormalizer keeps to `tokenizers`.
    let mut json: serde_json::Value =
        serde_json::from_slice(&read_vocab("bert-base-uncased/tokenizer.json")).expect("json");
    json["normalizer"] = serde_json::json!({"type": "Lowercase"});
    let lowercase_only =
        TextTokenizer::from_files(&TokenizerFiles::Json(serde_json::to_vec(&json).expect("json"))).expect("tokenizer");
    assert!(!lowercase_only.is_fast());
    // Added tokens that are not special are matched in the text by `tokenizers`: no fast path.
    let mut json: serde_json::Value =
        serde_json::from_slice(&read_vocab("bert-base-uncased/tokenizer.json")).expect("json");
    json["added_tokens"]
        .as_array_mut()
        .expect("added tokens")
        .push(serde_json::json!({
            "id": 30522, "content": "maskforge", "single_word": false, "lstrip": false, "rstrip": false,
            "normalized": true, "special": false
        }));
    let added =
        TextTokenizer::from_files(&TokenizerFiles::Json(serde_json::to_vec(&json).expect("json"))).expect("tokenizer");
    assert!(!added.is_fast());
    let text = "say maskforge twice: maskforge";
    assert_eq!(
        added.encode(text).expect("encode"),
        added.encode_reference(text).expect("reference")
    );
    assert!(added.encode(text).expect("encode").ids.contains(&30522));
    assert_eq!(
        lowercase_only.encode("Héllo").expect("encode"),
        lowercase_only.encode_reference("Héllo").expect("reference")
    );
}

#[test]
fn every_character_of_the_basic_plane_and_a_sample_beyond() {
    let tokenizers = tokenizers();
    let chars = (0..=0xFFFFu32)
        .chain((0x1_0000..=0x10_FFFF).step_by(97))
        .filter_map(char::from_u32);
    let texts: Vec<String> = chars.map(|c| format!("x{c}y {c}")).collect();
    let failures = on_every_tokenizer(&tokenizers, |name, tokenizer| {
        let mut fast = Pieces::default();
        let mut declined = 0;
        texts
            .iter()
            .filter_map(|t| differs(tokenizer, t, &mut fast, &mut declined))
            .take(5)
            .map(|d| format!("{name}: {d}"))
            .collect()
    });
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
