//! The stable id of a document of the documents dataset.

use sha2::{Digest, Sha256};

/// Where a record is in its file, found without reading the file from its start: so that a
/// file cut into pieces gives its records the same keys as the whole file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RecordKey {
    /// Byte offset of the record's first line in the (decompressed) file: text, JSON Lines.
    Offset(u64),
    /// 0-based row of the file: Parquet, CSV.
    Row(u64),
}

/// The id of a document: the first 8 bytes (little endian) of SHA-256 over the pattern it came
/// from (`source.url` positions), its file name relative to the pattern, and its own id or its
/// record key. It depends neither on where the corpus is stored nor on how the file was cut.
pub fn document_id(origin: &str, file_name: &str, own_id: Option<&str>, record: RecordKey) -> u64 {
    let key = match (own_id, record) {
        (Some(id), _) => format!("id:{id}"),
        (None, RecordKey::Offset(offset)) => format!("@{offset}"),
        (None, RecordKey::Row(row)) => format!("#{row}"),
    };
    let digest = Sha256::new()
        .chain_update(origin)
        .chain_update([0])
        .chain_update(file_name)
        .chain_update([0])
        .chain_update(key)
        .finalize();
    let mut first = [0u8; 8];
    first.copy_from_slice(&digest[..8]);
    u64::from_le_bytes(first)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_depend_on_origin_name_and_key_only() {
        let a = document_id("0.0", "a.txt", None, RecordKey::Offset(3));
        assert_eq!(a, document_id("0.0", "a.txt", None, RecordKey::Offset(3)));
        assert_ne!(a, document_id("0.1", "a.txt", None, RecordKey::Offset(3)));
        assert_ne!(a, document_id("0.0", "b.txt", None, RecordKey::Offset(3)));
        assert_ne!(a, document_id("0.0", "a.txt", None, RecordKey::Row(3)));
        assert_ne!(a, document_id("0.0", "a.txt", Some("3"), RecordKey::Offset(3)));
        assert_eq!(
            document_id("0.0", "a.txt", Some("x"), RecordKey::Row(1)),
            document_id("0.0", "a.txt", Some("x"), RecordKey::Offset(9))
        );
    }
}
