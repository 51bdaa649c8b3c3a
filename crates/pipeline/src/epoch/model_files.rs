//! The files an outside trainer needs beside the shards: a Hugging Face tokenizer that
//! reproduces the documents' tokenization (`tokenizer.json`, `tokenizer_config.json`,
//! `special_tokens_map.json`, so `AutoTokenizer.from_pretrained(epoch_dir)` works) and the model
//! hints (`model_hints.json`: vocabulary size, special ids, sequence length, task) a model
//! configuration is built from.

use crate::PipelineError;
use maskforge_config::PipelineConfig;
use maskforge_masking::{PairTask, SpecialTokenNames};
use maskforge_schema::EpochSpec;
use maskforge_text::{PieceStyle, TextTokenizer, TokenizerKind};
use serde_json::{Value, json};

/// Name of the model hints file.
pub const MODEL_HINTS_FILE: &str = "model_hints.json";

/// The special tokens of an epoch and their ids.
struct Specials {
    cls: (String, u32),
    sep: (String, u32),
    mask: (String, u32),
    pad: Option<(String, u32)>,
    unk: Option<(String, u32)>,
}

/// The outside-trainer files of an epoch, name and bytes, in a fixed order.
pub fn model_files(
    config: &PipelineConfig,
    tokenizer: &TextTokenizer,
    spec: &EpochSpec,
) -> Result<Vec<(String, Vec<u8>)>, PipelineError> {
    let bad = |e: maskforge_text::TextError| PipelineError::Resource {
        what: "text.tokenizer.path",
        location: config.text.tokenizer.path.clone(),
        message: format!("cannot export it as a Hugging Face tokenizer: {e}"),
    };
    let names = SpecialTokenNames::of(&spec.pairs, &spec.masking);
    let with_id = |token: &str| tokenizer.token_to_id(token).map(|id| (token.to_owned(), id));
    let required = |token: &str| {
        with_id(token).ok_or_else(|| PipelineError::Resource {
            what: "text.tokenizer.path",
            location: config.text.tokenizer.path.clone(),
            message: format!("the vocabulary has no `{token}`"),
        })
    };
    let specials = Specials {
        cls: required(&names.cls)?,
        sep: required(&names.sep)?,
        mask: required(&names.mask)?,
        pad: ["[PAD]", "<pad>"].iter().find_map(|t| with_id(t)),
        unk: tokenizer
            .unknown_token()
            .and_then(|t| with_id(&t))
            .or_else(|| ["[UNK]", "<unk>"].iter().find_map(|t| with_id(t))),
    };
    let byte_level = matches!(tokenizer.style(), PieceStyle::ByteLevel);
    let mut listed: Vec<&str> = vec![&specials.cls.0, &specials.sep.0, &specials.mask.0];
    listed.extend(specials.pad.iter().chain(&specials.unk).map(|(t, _)| t.as_str()));
    let tokenizer_json = tokenizer
        .hugging_face_json(&specials.cls.0, &specials.sep.0, &listed)
        .map_err(bad)?;

    let mut map = serde_json::Map::new();
    for (key, token) in [
        ("cls_token", Some(&specials.cls)),
        ("sep_token", Some(&specials.sep)),
        ("mask_token", Some(&specials.mask)),
        ("pad_token", specials.pad.as_ref()),
        ("unk_token", specials.unk.as_ref()),
    ] {
        if let Some((t, _)) = token {
            map.insert(key.into(), json!(t));
        }
    }
    if byte_level {
        // RoBERTa's names for the sequence start and end are its cls and sep.
        map.insert("bos_token".into(), json!(specials.cls.0));
        map.insert("eos_token".into(), json!(specials.sep.0));
    }
    let special_tokens_map = Value::Object(map.clone());

    let kind = tokenizer.kind();
    let class = match kind {
        TokenizerKind::BertVocab { .. } => "BertTokenizerFast",
        _ if byte_level => "RobertaTokenizerFast",
        _ => "PreTrainedTokenizerFast",
    };
    let max_len = spec.pairs.max_seq_length as u64;
    let mut tokenizer_config = map;
    tokenizer_config.insert("tokenizer_class".into(), json!(class));
    tokenizer_config.insert("model_max_length".into(), json!(max_len));
    // Text that spells a special token is text (as maskforge encodes it), not the token.
    tokenizer_config.insert("split_special_tokens".into(), json!(true));
    tokenizer_config.insert("clean_up_tokenization_spaces".into(), json!(false));
    tokenizer_config.insert(
        "model_input_names".into(),
        json!(["input_ids", "token_type_ids", "attention_mask"]),
    );
    if let TokenizerKind::BertVocab { lowercase } = kind {
        tokenizer_config.insert("do_lower_case".into(), json!(lowercase));
        tokenizer_config.insert("tokenize_chinese_chars".into(), json!(true));
    }
    if byte_level {
        tokenizer_config.insert("add_prefix_space".into(), json!(false));
        tokenizer_config.insert("trim_offsets".into(), json!(true));
    }

    let vocab_size = tokenizer.vocab_size() as u64;
    let pad_id = specials.pad.as_ref().map_or(0, |(_, id)| *id);
    // RoBERTa counts positions from pad_id + 1, so it needs that many more embeddings.
    let max_positions = if byte_level {
        max_len + u64::from(pad_id) + 1
    } else {
        max_len
    };
    let task = serde_json::to_value(spec.pairs.task).map_err(|e| PipelineError::Internal(e.to_string()))?;
    let mut hf_config = json!({
        "vocab_size": vocab_size,
        "pad_token_id": pad_id,
        "max_position_embeddings": max_positions,
        "type_vocab_size": if byte_level { 1 } else { 2 },
    });
    if byte_level {
        hf_config["bos_token_id"] = json!(specials.cls.1);
        hf_config["eos_token_id"] = json!(specials.sep.1);
    }
    let id_of = |s: &Option<(String, u32)>| s.as_ref().map(|(_, id)| *id);
    let hints = json!({
        "model_type": if byte_level { "roberta" } else { "bert" },
        "task": task,
        "max_seq_length": max_len,
        "vocab_size": vocab_size,
        "special_ids": {
            "cls": specials.cls.1,
            "sep": specials.sep.1,
            "mask": specials.mask.1,
            "pad": id_of(&specials.pad),
            "unk": id_of(&specials.unk),
        },
        "sentence_label": match spec.pairs.task {
            PairTask::Nsp => Some("next_sentence_label"),
            PairTask::Sop => Some("sentence_order_label"),
            PairTask::FullSentences | PairTask::DocSentences => None,
        },
        "hf_config": hf_config,
    });
    let pretty = |v: &Value| serde_json::to_vec_pretty(v).map_err(|e| PipelineError::Internal(e.to_string()));
    Ok(vec![
        ("tokenizer.json".into(), tokenizer_json.into_bytes()),
        (
            "tokenizer_config.json".into(),
            pretty(&Value::Object(tokenizer_config))?,
        ),
        ("special_tokens_map.json".into(), pretty(&special_tokens_map)?),
        (MODEL_HINTS_FILE.into(), pretty(&hints)?),
    ])
}
