//! Online re-masking: fresh masks for every training epoch from one materialised epoch, with the
//! masking code and the resolved spec of the epoch job (the `maskforge-masking` crate and the
//! manifest's `spec`). The original tokens are restored from the stored labels; word starts and
//! special positions are the stored ones.

use super::dataset::Example;
use crate::TrainerError;
use maskforge_masking::{Assembled, MaskStats, Masker, SpecialTokenNames, Vocabulary, mix64};
use maskforge_schema::ExamplesManifest;

/// Re-masks examples for a training epoch.
pub struct Remasker {
    masker: Masker,
    cls: u32,
    sep: u32,
}

impl Remasker {
    /// A re-masker from a masker and the ids of the cls and sep tokens.
    pub fn new(masker: Masker, cls: u32, sep: u32) -> Self {
        Self { masker, cls, sep }
    }

    /// The re-masker of the dataset's own masking spec (its manifest) and vocabulary.
    /// MacBERT similar-word replacement needs the synonym table, which the dataset does not
    /// carry: build that masker yourself and use [`Remasker::new`].
    pub fn from_manifest(manifest: &ExamplesManifest, vocab: Vec<String>) -> Result<Self, TrainerError> {
        let spec = manifest.spec.as_ref().ok_or_else(|| {
            TrainerError::config(
                "manifest spec",
                "the epoch was written by a maskforge without the resolved spec in its manifest; run the epoch again",
            )
        })?;
        if spec.masking.uses_similar_words() {
            return Err(TrainerError::config(
                "manifest spec.masking",
                "similar-word replacement needs the synonym table; build the Masker with it and use Remasker::new",
            ));
        }
        let names = SpecialTokenNames::of(&spec.pairs, &spec.masking);
        let vocabulary = Vocabulary::new(vocab, &[], &names, spec.masking.random_pool)
            .map_err(|e| TrainerError::config("vocab.txt", e.to_string()))?;
        let (cls, sep) = (vocabulary.cls, vocabulary.sep);
        Ok(Self::new(
            Masker::new(&spec.masking, vocabulary, None, manifest.seed),
            cls,
            sep,
        ))
    }

    /// `example` with the masks of training epoch `epoch` (keyed on the seed, the epoch and the
    /// example's document and id) instead of its stored ones.
    pub fn remask(&self, example: &Example, epoch: u32) -> Example {
        let mut original = example.input_ids.clone();
        for (&p, &label) in example.masked_positions.iter().zip(&example.masked_labels) {
            original[p as usize] = label;
        }
        let special = original.iter().map(|&id| id == self.cls || id == self.sep).collect();
        let assembled = Assembled {
            input_ids: original,
            token_type_ids: example.token_type_ids.clone(),
            word_starts: example.word_starts.clone(),
            special,
        };
        let key = mix64(example.doc_id, example.example_id);
        let masks = self.masker.mask(&assembled, key, epoch, &mut MaskStats::default());
        Example {
            input_ids: masks.input_ids,
            masked_positions: masks.masked_positions,
            masked_labels: masks.masked_labels,
            mask_kinds: masks.mask_kinds,
            ..example.clone()
        }
    }
}
