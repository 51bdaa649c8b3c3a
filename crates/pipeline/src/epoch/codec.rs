//! A compact binary form of documents and masked examples for spill files. Little endian;
//! read back only by the same process, so it carries no version.

use super::mixture::Drawn;
use maskforge_masking::{MaskedExample, PairType};
use maskforge_schema::documents::Document;

/// Appends a drawn document: its source, its copies, the document.
pub fn put_drawn(out: &mut Vec<u8>, d: &Drawn) {
    out.extend_from_slice(&d.source.to_le_bytes());
    out.extend_from_slice(&d.copies.to_le_bytes());
    put_document(out, &d.doc);
}

/// Reads a drawn document written by [`put_drawn`].
pub fn get_drawn(r: &mut Reader<'_>) -> Option<Drawn> {
    let source = r.u32()?;
    let copies = r.u32()?;
    let doc = get_document(r)?;
    Some(Drawn { doc, source, copies })
}

/// Appends a document.
pub fn put_document(out: &mut Vec<u8>, d: &Document) {
    out.extend_from_slice(&d.doc_id.to_le_bytes());
    put_u32s(out, &d.input_ids);
    put_u32s(out, &d.sentence_ends);
    out.extend(d.word_starts.iter().map(|&b| u8::from(b)));
}

/// Reads a document written by [`put_document`] (without its text, which the epoch never needs).
pub fn get_document(r: &mut Reader<'_>) -> Option<Document> {
    let doc_id = r.u64()?;
    let input_ids = r.u32s()?;
    let sentence_ends = r.u32s()?;
    let word_starts = r.bytes(input_ids.len())?.iter().map(|&b| b != 0).collect();
    Some(Document {
        doc_id,
        input_ids,
        sentence_ends,
        word_starts,
        text: String::new(),
    })
}

/// Appends a masked example.
pub fn put_example(out: &mut Vec<u8>, e: &MaskedExample) {
    out.extend_from_slice(&e.doc_id.to_le_bytes());
    out.extend_from_slice(&e.key.to_le_bytes());
    out.push(e.pair_type as u8);
    out.extend_from_slice(&e.truncated_tokens.to_le_bytes());
    put_u32s(out, &e.input_ids);
    out.extend_from_slice(&e.token_type_ids);
    out.extend(e.word_starts.iter().map(|&b| u8::from(b)));
    out.extend_from_slice(&(e.masked_positions.len() as u32).to_le_bytes());
    for p in &e.masked_positions {
        out.extend_from_slice(&p.to_le_bytes());
    }
    for l in &e.masked_labels {
        out.extend_from_slice(&l.to_le_bytes());
    }
    out.extend_from_slice(&e.mask_kinds);
}

/// Reads a masked example written by [`put_example`].
pub fn get_example(r: &mut Reader<'_>) -> Option<MaskedExample> {
    let doc_id = r.u64()?;
    let key = r.u64()?;
    let pair_type = PairType::from_code(r.bytes(1)?[0])?;
    let truncated_tokens = r.u32()?;
    let input_ids = r.u32s()?;
    let n = input_ids.len();
    let token_type_ids = r.bytes(n)?.to_vec();
    let word_starts = r.bytes(n)?.iter().map(|&b| b != 0).collect();
    let m = r.u32()? as usize;
    let masked_positions = (0..m).map(|_| r.u16()).collect::<Option<Vec<_>>>()?;
    let masked_labels = (0..m).map(|_| r.u32()).collect::<Option<Vec<_>>>()?;
    let mask_kinds = r.bytes(m)?.to_vec();
    Some(MaskedExample {
        doc_id,
        key,
        input_ids,
        token_type_ids,
        word_starts,
        masked_positions,
        masked_labels,
        mask_kinds,
        pair_type,
        truncated_tokens,
    })
}

fn put_u32s(out: &mut Vec<u8>, values: &[u32]) {
    out.extend_from_slice(&(values.len() as u32).to_le_bytes());
    for v in values {
        out.extend_from_slice(&v.to_le_bytes());
    }
}

/// A cursor over encoded bytes.
pub struct Reader<'a> {
    bytes: &'a [u8],
}

impl<'a> Reader<'a> {
    /// Reads from the start of `bytes`.
    pub fn new(bytes: &'a [u8]) -> Self {
        Self { bytes }
    }

    /// Whether everything was read.
    #[cfg(test)]
    pub fn is_empty(&self) -> bool {
        self.bytes.is_empty()
    }

    fn bytes(&mut self, n: usize) -> Option<&'a [u8]> {
        if self.bytes.len() < n {
            return None;
        }
        let (head, rest) = self.bytes.split_at(n);
        self.bytes = rest;
        Some(head)
    }

    fn u16(&mut self) -> Option<u16> {
        self.bytes(2).map(|b| u16::from_le_bytes([b[0], b[1]]))
    }

    fn u32(&mut self) -> Option<u32> {
        self.bytes(4).map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }

    fn u64(&mut self) -> Option<u64> {
        self.bytes(8)
            .map(|b| u64::from_le_bytes(b.try_into().unwrap_or([0; 8])))
    }

    fn u32s(&mut self) -> Option<Vec<u32>> {
        let n = self.u32()? as usize;
        let raw = self.bytes(n.checked_mul(4)?)?;
        Some(
            raw.chunks_exact(4)
                .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
                .collect(),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips() {
        let d = Document {
            doc_id: 9,
            input_ids: vec![1, 2, 3],
            sentence_ends: vec![1, 3],
            word_starts: vec![true, false, true],
            text: String::new(),
        };
        let e = MaskedExample {
            doc_id: 9,
            key: 77,
            input_ids: vec![101, 5, 103, 102],
            token_type_ids: vec![0, 0, 0, 0],
            word_starts: vec![true, true, false, true],
            masked_positions: vec![2],
            masked_labels: vec![6],
            mask_kinds: vec![0],
            pair_type: PairType::Swapped,
            truncated_tokens: 4,
        };
        let drawn = Drawn {
            doc: d.clone(),
            source: 3,
            copies: 2,
        };
        let mut buf = Vec::new();
        put_document(&mut buf, &d);
        put_example(&mut buf, &e);
        put_drawn(&mut buf, &drawn);
        let mut r = Reader::new(&buf);
        assert_eq!(get_document(&mut r), Some(d));
        assert_eq!(get_example(&mut r), Some(e));
        assert_eq!(get_drawn(&mut r), Some(drawn));
        assert!(r.is_empty());
        assert_eq!(get_example(&mut Reader::new(&buf[..5])), None);
    }
}
