//! The text path on the real vocabularies of `../shared/vocab/`.

use maskforge_text::*;
use std::path::PathBuf;

fn vocab(rel: &str) -> Vec<u8> {
    let root = std::env::var("MASKFORGE_VOCAB")
        .map(PathBuf::from)
        .unwrap_or_else(|_| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/vocab"));
    std::fs::read(root.join(rel)).unwrap_or_else(|e| panic!("missing {rel} under {}: {e}", root.display()))
}

fn chinese() -> TextTokenizer {
    TextTokenizer::from_files(&TokenizerFiles::BertVocab {
        vocab: vocab("bert-base-chinese/vocab.txt"),
        lowercase: true,
    })
    .unwrap()
}

fn tokens_and_starts(tok: &TextTokenizer, seg: &Segmenter, sentence: &str) -> Vec<(String, bool)> {
    let pieces = tok.encode(sentence).unwrap();
    let starts = word_starts(sentence, &pieces, tok.style(), seg);
    let tokens = pieces.ids.iter().map(|&id| tok.inner().id_to_token(id).unwrap());
    tokens.zip(starts).collect()
}

#[test]
fn chinese_word_starts_follow_jieba_words() {
    let tok = chinese();
    let seg = Segmenter::jieba(true, None).unwrap();
    let got = tokens_and_starts(&tok, &seg, "我爱北京天安门");
    // jieba: 我 / 爱 / 北京 / 天安门
    let expected = [
        ("我", true),
        ("爱", true),
        ("北", true),
        ("京", false),
        ("天", true),
        ("安", false),
        ("门", false),
    ];
    let expected: Vec<(String, bool)> = expected.iter().map(|(t, s)| (t.to_string(), *s)).collect();
    assert_eq!(got, expected);
    // Without segmentation every CJK character starts a word.
    let flat = tokens_and_starts(&tok, &Segmenter::none(), "北京");
    assert!(flat.iter().all(|(_, s)| *s));
}

#[test]
fn mixed_latin_pieces_and_numbers() {
    let tok = chinese();
    let seg = Segmenter::jieba(true, None).unwrap();
    let got = tokens_and_starts(&tok, &seg, "使用Debian系统");
    let pieces: Vec<&str> = got.iter().map(|(t, _)| t.as_str()).collect();
    let starts: Vec<bool> = got.iter().map(|(_, s)| *s).collect();
    // A ## continuation never starts a word; the first CJK of a jieba word always does.
    for (piece, start) in got.iter() {
        if piece.starts_with("##") {
            assert!(!start, "{pieces:?} {starts:?}");
        }
    }
    assert!(starts[0]);
}

#[test]
fn tokenizer_json_and_vocab_txt_agree_on_chinese_ids() {
    let from_txt = chinese();
    let from_json =
        TextTokenizer::from_files(&TokenizerFiles::Json(vocab("bert-base-chinese/tokenizer.json"))).unwrap();
    let text = "在 Debian 这种规模的项目中，很难避免遇到与你意见不和的人。";
    assert_eq!(from_txt.encode(text).unwrap().ids, from_json.encode(text).unwrap().ids);
    assert_eq!(from_json.style(), &PieceStyle::WordPiece("##".into()));
    assert_ne!(from_txt.hash(), from_json.hash());
    // A corpus that spells a special token gets text tokens, not the special id.
    let sep = from_json.token_to_id("[SEP]").unwrap();
    assert!(!from_json.encode("前[SEP]后").unwrap().ids.contains(&sep));
}

#[test]
fn uncased_wordpiece_marks_continuations() {
    let tok = TextTokenizer::from_files(&TokenizerFiles::Json(vocab("bert-base-uncased/tokenizer.json"))).unwrap();
    let got = tokens_and_starts(&tok, &Segmenter::none(), "Tokenization is unbelievable");
    let words: Vec<bool> = got.iter().map(|(_, s)| *s).collect();
    assert_eq!(got[0].0, "token");
    assert_eq!(
        got.iter().filter(|(t, _)| t.starts_with("##")).count(),
        words.iter().filter(|s| !**s).count()
    );
    // The shipped tokenizer.json pads to 128; the loader switches padding off.
    assert_eq!(tok.encode("hello").unwrap().len(), 1);
}

#[test]
fn gpt2_byte_level_pieces() {
    let tok = TextTokenizer::from_files(&TokenizerFiles::Gpt2 {
        vocab: vocab("gpt2/vocab.json"),
        merges: vocab("gpt2/merges.txt"),
    })
    .unwrap();
    assert_eq!(tok.style(), &PieceStyle::ByteLevel);
    let got = tokens_and_starts(&tok, &Segmenter::none(), "Hello world, unbelievably");
    assert_eq!(got[0], ("Hello".to_string(), true));
    assert_eq!(got[1], ("Ġworld".to_string(), true));
    assert_eq!(got[2], (",".to_string(), false));
    assert_eq!(tok.encode("Hello world").unwrap().ids, [15496, 995]);
    // Byte-level pieces of Chinese carry no space marker; jieba words still start words.
    let seg = Segmenter::jieba(true, None).unwrap();
    let count = |s: &Segmenter| {
        tokens_and_starts(&tok, s, "我爱北京天安门")
            .iter()
            .filter(|(_, s)| *s)
            .count()
    };
    assert_eq!(count(&Segmenter::none()), 1);
    assert_eq!(count(&seg), 4, "我 / 爱 / 北京 / 天安门");
}

#[test]
fn documents_have_consistent_sentence_ends() {
    let processor = TextProcessor::new(
        chinese(),
        Segmenter::jieba(true, None).unwrap(),
        SplitRules { latin_period: true },
        1,
        true,
    );
    let doc = processor
        .process("要有礼貌\n在 Debian 这种规模的项目中，很难避免。请接受这一事实！\n\n")
        .unwrap()
        .unwrap();
    assert_eq!(doc.sentence_ends.len(), 3);
    assert_eq!(*doc.sentence_ends.last().unwrap() as usize, doc.input_ids.len());
    assert!(doc.sentence_ends.windows(2).all(|w| w[0] < w[1]));
    assert_eq!(doc.word_starts.len(), doc.input_ids.len());
    assert_eq!(
        doc.text,
        "要有礼貌\n在 Debian 这种规模的项目中，很难避免。\n请接受这一事实！"
    );
    assert_eq!(processor.process(" \u{0}\u{fffd} \n\t").unwrap(), Err(Rejection::Empty));
    let strict = TextProcessor::new(
        chinese(),
        Segmenter::none(),
        SplitRules { latin_period: false },
        5,
        false,
    );
    assert_eq!(strict.process("好").unwrap(), Err(Rejection::TooShort));
}

#[test]
fn broken_vocabularies_are_errors_not_panics() {
    assert!(TextTokenizer::from_files(&TokenizerFiles::Json(b"{not json".to_vec())).is_err());
    let bad_merges = TokenizerFiles::Gpt2 {
        vocab: b"{\"a\": 0}".to_vec(),
        merges: b"#version: 0.2\nonlyone\n".to_vec(),
    };
    let err = TextTokenizer::from_files(&bad_merges).err().unwrap().to_string();
    assert!(err.contains("line 2"), "{err}");
    assert!(Segmenter::jieba(true, Some(b"word notanumber\n")).is_err());
}
