//! Loading what the jobs need from any location: the tokenizer files and jieba user dictionary
//! of the text path, the masking vocabulary and the similar-word table of the epoch.

use crate::PipelineError;
use maskforge_config::{Language, PipelineConfig};
use maskforge_masking::{MaskingError, SimilarWords, SpecialRole, SpecialTokenNames, SynonymTable, Vocabulary};
use maskforge_store::{Location, StoreError, sha256_hex};
use maskforge_text::{Segmenter, SplitRules, TextProcessor, TextTokenizer, TokenizerFiles};
use rayon::prelude::*;

/// Reads a resource file, naming the setting it comes from in errors.
async fn read(what: &'static str, location: &str) -> Result<Vec<u8>, PipelineError> {
    let resource_error = |message: String| PipelineError::Resource {
        what,
        location: location.to_owned(),
        message,
    };
    let loc = Location::parse(location).map_err(|e| resource_error(e.to_string()))?;
    match loc.read().await {
        Ok(bytes) => Ok(bytes.to_vec()),
        Err(StoreError::NotFound { .. }) => Err(resource_error("file not found".into())),
        Err(e) => Err(resource_error(e.to_string())),
    }
}

/// Loads the tokenizer the pipeline names and checks that its vocabulary has the mask token.
pub async fn load_tokenizer(config: &PipelineConfig) -> Result<TextTokenizer, PipelineError> {
    let tok = &config.text.tokenizer;
    let files = if let Some(merges) = &tok.merges {
        TokenizerFiles::Gpt2 {
            vocab: read("text.tokenizer.path", &tok.path).await?,
            merges: read("text.tokenizer.merges", merges).await?,
        }
    } else if tok.path.ends_with(".json") {
        TokenizerFiles::Json(read("text.tokenizer.path", &tok.path).await?)
    } else if tok.path.ends_with(".txt") {
        TokenizerFiles::BertVocab {
            vocab: read("text.tokenizer.path", &tok.path).await?,
            lowercase: tok.lowercase.unwrap_or(true),
        }
    } else {
        return Err(PipelineError::Resource {
            what: "text.tokenizer.path",
            location: tok.path.clone(),
            message: "expected a tokenizer.json, a BERT vocab.txt, or a GPT-2 vocab.json with merges".into(),
        });
    };
    let tokenizer = TextTokenizer::from_files(&files).map_err(|e| PipelineError::Resource {
        what: "text.tokenizer.path",
        location: tok.path.clone(),
        message: e.to_string(),
    })?;
    check_special_tokens(config, &tokenizer)?;
    Ok(tokenizer)
}

/// Checks, before any input is read, every token that a job of the pipeline needs: the model's
/// unknown token (WordPiece without it fails on every unknown word), the mask, cls and sep
/// tokens, each special in the vocabulary.
fn check_special_tokens(config: &PipelineConfig, tokenizer: &TextTokenizer) -> Result<(), PipelineError> {
    let error = |message: String| PipelineError::Resource {
        what: "text.tokenizer.path",
        location: config.text.tokenizer.path.clone(),
        message,
    };
    if let Some(unk) = tokenizer.unknown_token()
        && tokenizer.token_to_id(&unk).is_none()
    {
        return Err(error(format!(
            "the vocabulary has no unknown token `{unk}`, which the tokenizer emits for words it cannot encode"
        )));
    }
    if tokenizer.token_to_id(&config.masking.mask_token).is_none() {
        return Err(error(format!(
            "the vocabulary has no mask token `{}` (masking.mask_token)",
            config.masking.mask_token
        )));
    }
    masking_vocabulary(config, tokenizer, tokenizer.vocabulary())?;
    Ok(())
}

/// The masking view of the tokenizer's vocabulary `tokens`, with the special tokens the
/// pipeline names; errors name the setting of the token that is wrong.
pub fn masking_vocabulary(
    config: &PipelineConfig,
    tokenizer: &TextTokenizer,
    tokens: Vec<String>,
) -> Result<Vocabulary, PipelineError> {
    let names = SpecialTokenNames::of(&config.pairs.spec(), &config.masking.spec());
    let key = |role: SpecialRole| match role {
        SpecialRole::Cls => "pairs.cls_token",
        SpecialRole::Sep => "pairs.sep_token",
        SpecialRole::Mask => "masking.mask_token",
    };
    Vocabulary::new(tokens, &tokenizer.special_ids(), &names, config.masking.random_pool).map_err(|e| {
        let message = match e {
            MaskingError::MissingToken { token, role } => format!("the vocabulary has no `{token}` ({})", key(role)),
            MaskingError::NotSpecial { token, role } => {
                format!(
                    "`{token}` ({}) is an ordinary token of the vocabulary, not a special token",
                    key(role)
                )
            }
            other => other.to_string(),
        };
        PipelineError::Resource {
            what: "text.tokenizer.path",
            location: config.text.tokenizer.path.clone(),
            message,
        }
    })
}

/// The similar-word table in token ids, and its hash, when similar-word replacement is on.
pub async fn similar_words(
    config: &PipelineConfig,
    tokenizer: &TextTokenizer,
    pool: &rayon::ThreadPool,
) -> Result<(Option<SimilarWords>, Option<String>), PipelineError> {
    let Some(location) = config
        .masking
        .synonyms
        .as_deref()
        .filter(|_| config.masking.replace.similar > 0.0)
    else {
        return Ok((None, None));
    };
    let resource_error = |message: String| PipelineError::Resource {
        what: "masking.synonyms",
        location: location.to_owned(),
        message,
    };
    let bytes = Location::parse(location)
        .map_err(|e| resource_error(e.to_string()))?
        .read()
        .await
        .map_err(|e| resource_error(e.to_string()))?;
    let text = std::str::from_utf8(&bytes).map_err(|e| resource_error(format!("not UTF-8: {e}")))?;
    let table = SynonymTable::parse(text).map_err(|e| resource_error(e.to_string()))?;
    let unk = tokenizer
        .token_to_id("[UNK]")
        .or_else(|| tokenizer.token_to_id("<unk>"));
    let ids = pool.install(|| {
        table
            .lexicon()
            .par_iter()
            .map(|word| {
                let ids = tokenizer.encode(word).ok()?.ids;
                (!ids.iter().any(|id| Some(*id) == unk)).then_some(ids)
            })
            .collect()
    });
    let similar = SimilarWords::from_ids(&table, ids);
    if similar.words() == 0 {
        return Err(resource_error(
            "no word of the table has a similar word the tokenizer can encode".into(),
        ));
    }
    Ok((Some(similar), Some(sha256_hex(&bytes))))
}

/// Builds the whole text path of the pipeline.
pub async fn load_text_processor(config: &PipelineConfig) -> Result<TextProcessor, PipelineError> {
    let jieba = &config.text.jieba;
    // jieba's dictionary takes a quarter of a second to build: on its own thread, while the
    // tokenizer loads.
    let segmenter = if segments(config) {
        let user_dict = user_dictionary(config).await?;
        let hmm = jieba.hmm;
        Some(std::thread::spawn(move || Segmenter::jieba(hmm, user_dict.as_deref())))
    } else {
        None
    };
    let tokenizer = load_tokenizer(config).await;
    let segmenter = match segmenter {
        Some(building) => building
            .join()
            .map_err(|_| PipelineError::Internal("building the jieba dictionary panicked".into()))?
            .map_err(|e| PipelineError::Resource {
                what: "text.jieba.user_dict",
                location: jieba.user_dict.clone().unwrap_or_default(),
                message: e.to_string(),
            })?,
        None => Segmenter::none(),
    };
    let tokenizer = tokenizer?;
    let rules = SplitRules {
        latin_period: config.text.language != Language::Zh,
    };
    Ok(TextProcessor::new(
        tokenizer,
        segmenter,
        rules,
        config.text.min_tokens,
        config.output.keep_text,
    ))
}

/// Whether the text path segments with jieba.
fn segments(config: &PipelineConfig) -> bool {
    config.text.jieba.enabled && config.text.language != Language::En
}

async fn user_dictionary(config: &PipelineConfig) -> Result<Option<Vec<u8>>, PipelineError> {
    match &config.text.jieba.user_dict {
        Some(path) => Ok(Some(read("text.jieba.user_dict", path).await?)),
        None => Ok(None),
    }
}

/// The hash of the segmentation the text path uses ([`maskforge_text::Segmenter::hash`]),
/// without loading jieba's dictionary: what the epoch job checks its documents against.
pub async fn segmentation_hash(config: &PipelineConfig) -> Result<String, PipelineError> {
    if !segments(config) {
        return Ok(Segmenter::none().hash().to_owned());
    }
    let user_dict = user_dictionary(config).await?;
    Ok(Segmenter::jieba_hash(config.text.jieba.hmm, user_dict.as_deref()))
}
