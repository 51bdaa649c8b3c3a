//! The pieces of one encoded sentence: ids, byte offsets, and whether each piece continues the
//! piece before it as its tokenizer marks it (`##`, no `Ġ`, ...).

/// Encoded pieces, in order; reusable across sentences.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Pieces {
    /// Token ids.
    pub ids: Vec<u32>,
    /// Byte offsets `(start, end)` into the sentence.
    pub offsets: Vec<(usize, usize)>,
    /// The piece is marked as continuing a word.
    pub continues: Vec<bool>,
}

impl Pieces {
    /// Number of pieces.
    pub fn len(&self) -> usize {
        self.ids.len()
    }

    /// Whether there are no pieces.
    pub fn is_empty(&self) -> bool {
        self.ids.is_empty()
    }

    /// Appends one piece.
    pub fn push(&mut self, id: u32, offsets: (usize, usize), continues: bool) {
        self.ids.push(id);
        self.offsets.push(offsets);
        self.continues.push(continues);
    }

    /// Keeps the first `len` pieces.
    pub fn truncate(&mut self, len: usize) {
        self.ids.truncate(len);
        self.offsets.truncate(len);
        self.continues.truncate(len);
    }

    /// Removes every piece.
    pub fn clear(&mut self) {
        self.truncate(0);
    }
}
