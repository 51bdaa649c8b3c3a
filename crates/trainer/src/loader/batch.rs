//! Collating examples into a padded batch: the batch's longest example rounded up to a
//! multiple of 8, attention mask, token types, MLM labels (-100 where nothing is predicted)
//! and the sentence label of the task.

use super::dataset::Example;

/// Label of positions and sentences that are not predicted.
pub const IGNORE: i64 = -100;

/// The sentence task whose label a batch carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SentenceTask {
    /// Next sentence prediction (`nsp_label`).
    Nsp,
    /// Sentence order prediction (`sop_label`).
    Sop,
    /// No sentence task (packed sequences).
    None,
}

/// A padded batch, row-major `[size, seq_len]`, ready to become tensors of any framework.
#[derive(Debug, Clone, PartialEq)]
pub struct Batch {
    /// Examples in the batch (0 for a rank with nothing left in the last step).
    pub size: usize,
    /// Padded length: the longest example rounded up to a multiple of 8.
    pub seq_len: usize,
    /// Token ids, padded with the pad id.
    pub input_ids: Vec<u32>,
    /// Segment ids, padded with 0.
    pub token_type_ids: Vec<u32>,
    /// 1 for real tokens, 0 for padding.
    pub attention_mask: Vec<u32>,
    /// The original id at masked positions, [`IGNORE`] elsewhere.
    pub mlm_labels: Vec<i64>,
    /// One per example: the sentence label, or [`IGNORE`].
    pub sentence_labels: Vec<i64>,
    /// The examples' ids in the dataset.
    pub example_ids: Vec<u64>,
}

impl Batch {
    /// Pads `examples` into a batch.
    pub fn collate(examples: &[Example], pad_id: u32, task: SentenceTask) -> Self {
        let longest = examples.iter().map(|e| e.input_ids.len()).max().unwrap_or(0);
        let seq_len = longest.div_ceil(8) * 8;
        let cells = examples.len() * seq_len;
        let mut batch = Batch {
            size: examples.len(),
            seq_len,
            input_ids: vec![pad_id; cells],
            token_type_ids: vec![0; cells],
            attention_mask: vec![0; cells],
            mlm_labels: vec![IGNORE; cells],
            sentence_labels: Vec::with_capacity(examples.len()),
            example_ids: Vec::with_capacity(examples.len()),
        };
        for (row, e) in examples.iter().enumerate() {
            let base = row * seq_len;
            for (i, (&id, &t)) in e.input_ids.iter().zip(&e.token_type_ids).enumerate() {
                batch.input_ids[base + i] = id;
                batch.token_type_ids[base + i] = u32::from(t);
                batch.attention_mask[base + i] = 1;
            }
            for (&p, &label) in e.masked_positions.iter().zip(&e.masked_labels) {
                batch.mlm_labels[base + p as usize] = i64::from(label);
            }
            let label = match task {
                SentenceTask::Nsp => e.nsp_label,
                SentenceTask::Sop => e.sop_label,
                SentenceTask::None => -1,
            };
            batch
                .sentence_labels
                .push(if label < 0 { IGNORE } else { i64::from(label) });
            batch.example_ids.push(e.example_id);
        }
        batch
    }

    /// Real (unpadded) tokens in the batch.
    pub fn tokens(&self) -> usize {
        self.attention_mask.iter().filter(|&&m| m == 1).count()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pads_to_a_multiple_of_eight_with_ignored_labels() {
        let e = |n: usize, label: i8| Example {
            example_id: n as u64,
            doc_id: 0,
            input_ids: (1..=n as u32).collect(),
            token_type_ids: vec![0; n],
            word_starts: vec![true; n],
            masked_positions: vec![1],
            masked_labels: vec![77],
            mask_kinds: vec![0],
            nsp_label: -1,
            sop_label: label,
            ..Example::default()
        };
        let batch = Batch::collate(&[e(3, 1), e(9, -1)], 0, SentenceTask::Sop);
        assert_eq!((batch.size, batch.seq_len), (2, 16));
        assert_eq!(&batch.input_ids[..4], &[1, 2, 3, 0]);
        assert_eq!(&batch.attention_mask[..4], &[1, 1, 1, 0]);
        assert_eq!(batch.mlm_labels[1], 77);
        assert_eq!(batch.mlm_labels[16 + 1], 77);
        assert_eq!(batch.mlm_labels.iter().filter(|&&l| l != IGNORE).count(), 2);
        assert_eq!(batch.sentence_labels, [1, IGNORE]);
        assert_eq!(batch.tokens(), 12);
    }
}
