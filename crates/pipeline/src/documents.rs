//! The stable id of a document of the documents dataset.

use sha2::{Digest, Sha256};

/// The id of a document: the first 8 bytes (little endian) of SHA-256 over the pattern it came
/// from (`source.url` positions), its file name relative to the pattern, and its own id or its
/// record index. It does not depend on where the corpus is stored.
pub fn document_id(origin: &str, file_name: &str, own_id: Option<&str>, index: u64) -> u64 {
    let key = match own_id {
        Some(id) => format!("id:{id}"),
        None => format!("#{index}"),
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
        let a = document_id("0.0", "a.txt", None, 3);
        assert_eq!(a, document_id("0.0", "a.txt", None, 3));
        assert_ne!(a, document_id("0.1", "a.txt", None, 3));
        assert_ne!(a, document_id("0.0", "b.txt", None, 3));
        assert_ne!(a, document_id("0.0", "a.txt", Some("3"), 3));
    }
}
