//! Loading what the text path needs (tokenizer files, jieba user dictionary) from any location.

use crate::PipelineError;
use maskforge_config::{Language, PipelineConfig};
use maskforge_store::{Location, StoreError};
use maskforge_text::{Segmenter, SplitRules, TextProcessor, TextTokenizer, TokenizerFiles};

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
    let names = maskforge_masking::SpecialTokenNames {
        cls: config.pairs.cls_token.clone(),
        sep: config.pairs.sep_token.clone(),
        mask: config.masking.mask_token.clone(),
    };
    maskforge_masking::Vocabulary::new(
        tokenizer.vocabulary(),
        &tokenizer.special_ids(),
        &names,
        config.masking.random_pool,
    )
    .map_err(|e| error(e.to_string()))?;
    Ok(())
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
