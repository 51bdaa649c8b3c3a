//! The value ranges an examples row must keep that depend on its epoch (the manifest's
//! vocabulary, sentence task and sequence length), checked by every reader after
//! [`Example::check`]: a crafted shard with a token type of 7 or a sentence label of 5 is an
//! error naming the file and row, never an index error inside a trainer.

use crate::examples::Example;
use maskforge_masking::{PairTask, PairType};

/// The epoch-wide rules of [`Example`] rows, from an examples manifest.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RowRules {
    /// Every input id and masked label is below this.
    pub vocab_size: u64,
    /// The sentence task (absent in manifests written before the spec was recorded: then only
    /// the label ranges are checked).
    pub task: Option<PairTask>,
    /// The longest example, special tokens included.
    pub max_seq_length: Option<u32>,
}

impl RowRules {
    /// What is wrong with `e` under these rules, if anything.
    pub fn check(&self, e: &Example) -> Result<(), String> {
        if let Some(id) = e
            .input_ids
            .iter()
            .chain(&e.masked_labels)
            .find(|&&id| u64::from(id) >= self.vocab_size)
        {
            return Err(format!("id {id} is outside the vocabulary of {}", self.vocab_size));
        }
        if let Some(max) = self.max_seq_length
            && e.input_ids.len() > max as usize
        {
            return Err(format!("{} tokens, more than max_seq_length {max}", e.input_ids.len()));
        }
        self.check_segments(e)?;
        self.check_labels(e)
    }

    /// Token types: 0 for the first segment, then 1 for the second (all 0 when packed).
    fn check_segments(&self, e: &Example) -> Result<(), String> {
        if let Some(&t) = e.token_type_ids.iter().find(|&&t| t > 1) {
            return Err(format!("token type {t} is not 0 or 1"));
        }
        if e.token_type_ids.windows(2).any(|w| w[0] > w[1]) {
            return Err("token types go back from segment 1 to segment 0".into());
        }
        if e.token_type_ids.first() == Some(&1) {
            return Err("the first token has token type 1".into());
        }
        if self.task.is_some_and(PairTask::is_packing) && e.token_type_ids.contains(&1) {
            return Err("a packed sequence has token type 1 (packing has one segment)".into());
        }
        Ok(())
    }

    /// Sentence labels: in range, and those the pair type gives under the task.
    fn check_labels(&self, e: &Example) -> Result<(), String> {
        for (name, label) in [("nsp_label", e.nsp_label), ("sop_label", e.sop_label)] {
            if !(-1..=1).contains(&label) {
                return Err(format!("{name} {label} is not -1, 0 or 1"));
            }
        }
        let (Some(task), Some(pair)) = (self.task, PairType::from_code(e.pair_type)) else {
            return Ok(());
        };
        let allowed = match task {
            PairTask::Nsp => matches!(pair, PairType::Next | PairType::RandomDoc),
            PairTask::Sop => matches!(pair, PairType::Next | PairType::RandomDoc | PairType::Swapped),
            PairTask::FullSentences | PairTask::DocSentences => pair == PairType::None,
        };
        if !allowed {
            return Err(format!("pair type {} does not occur in a {task:?} epoch", e.pair_type));
        }
        let (nsp, sop) = (pair.nsp_label(task), pair.sop_label(task));
        if (e.nsp_label, e.sop_label) != (nsp, sop) {
            return Err(format!(
                "nsp_label {} and sop_label {} do not match pair type {} of a {task:?} epoch ({nsp} and {sop})",
                e.nsp_label, e.sop_label, e.pair_type
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nsp_row() -> Example {
        Example {
            example_id: 0,
            doc_id: 1,
            input_ids: vec![101, 7, 8, 102, 9, 102],
            token_type_ids: vec![0, 0, 0, 0, 1, 1],
            word_starts: vec![true; 6],
            masked_positions: vec![1],
            masked_labels: vec![7],
            mask_kinds: vec![0],
            pair_type: 1,
            nsp_label: 1,
            sop_label: -1,
            bin: 0,
        }
    }

    const NSP: RowRules = RowRules {
        vocab_size: 200,
        task: Some(PairTask::Nsp),
        max_seq_length: Some(8),
    };

    #[test]
    fn a_row_the_epoch_wrote_passes() {
        NSP.check(&nsp_row()).unwrap();
        let mut sop = nsp_row();
        (sop.pair_type, sop.nsp_label, sop.sop_label) = (2, -1, 1);
        RowRules {
            task: Some(PairTask::Sop),
            ..NSP
        }
        .check(&sop)
        .unwrap();
    }

    #[test]
    fn every_range_of_the_contract_is_checked() {
        type Breaks = fn(&mut Example);
        let broken: [(&str, RowRules, Breaks); 11] = [
            ("token type 7", NSP, |e| e.token_type_ids = vec![7; 6]),
            ("go back", NSP, |e| e.token_type_ids = vec![0, 1, 0, 0, 1, 1]),
            ("first token has token type 1", NSP, |e| e.token_type_ids = vec![1; 6]),
            ("nsp_label 5", NSP, |e| e.nsp_label = 5),
            ("sop_label -3", NSP, |e| e.sop_label = -3),
            ("do not match pair type 1", NSP, |e| e.nsp_label = 0),
            ("pair type 2 does not occur in a Nsp epoch", NSP, |e| e.pair_type = 2),
            ("id 250 is outside the vocabulary of 200", NSP, |e| e.input_ids[2] = 250),
            ("id 200 is outside", NSP, |e| e.masked_labels[0] = 200),
            (
                "more than max_seq_length 4",
                RowRules {
                    max_seq_length: Some(4),
                    ..NSP
                },
                |_| {},
            ),
            (
                "packed sequence has token type 1",
                RowRules {
                    task: Some(PairTask::FullSentences),
                    ..NSP
                },
                |e| (e.pair_type, e.nsp_label) = (3, -1),
            ),
        ];
        for (expected, rules, breaks) in broken {
            let mut row = nsp_row();
            breaks(&mut row);
            let err = rules.check(&row).unwrap_err();
            assert!(err.contains(expected), "{expected}: {err}");
        }
    }

    #[test]
    fn without_a_recorded_task_only_label_ranges_are_checked() {
        let rules = RowRules { task: None, ..NSP };
        let mut row = nsp_row();
        row.nsp_label = 0;
        rules.check(&row).unwrap();
        row.sop_label = 5;
        assert!(rules.check(&row).unwrap_err().contains("sop_label 5"));
    }
}
