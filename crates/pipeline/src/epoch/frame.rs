//! The two framings of the epoch's exchange objects and spill files, in one place (little
//! endian, read back only by maskforge of the same version, so they carry no version):
//!
//! - **records**: each a `u32` length and its bytes — routed documents, partition spill files;
//! - **items**: each an 18-byte [`SortKey`], a `u32` payload length and the payload — the
//!   sorter's spilled runs and the map phase's runs (which the reduce phase reads by byte range).

use super::shuffle::SortKey;
use std::io::{Read, Write};

/// Bytes of an item before its payload: the key and the payload length.
pub const ITEM_HEADER: usize = SortKey::BYTES + 4;
const KEY: usize = SortKey::BYTES;

/// Appends a record.
pub fn put_record(out: &mut impl Write, record: &[u8]) -> std::io::Result<()> {
    out.write_all(&(record.len() as u32).to_le_bytes())?;
    out.write_all(record)
}

/// The records of `bytes`, in order; an `Err` (and the end) where they are cut or damaged.
pub fn records(bytes: &[u8]) -> impl Iterator<Item = Result<&[u8], Damaged>> {
    let mut rest = bytes;
    std::iter::from_fn(move || {
        if rest.is_empty() {
            return None;
        }
        let record = rest
            .get(..4)
            .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]) as usize)
            .and_then(|n| rest.get(4..4 + n));
        match record {
            Some(record) => {
                rest = &rest[4 + record.len()..];
                Some(Ok(record))
            }
            None => {
                rest = &[];
                Some(Err(Damaged))
            }
        }
    })
}

/// Bytes that do not hold whole records or items.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Damaged;

/// Appends an item.
pub fn put_item(out: &mut impl Write, key: SortKey, payload: &[u8]) -> std::io::Result<()> {
    out.write_all(&key.to_bytes())?;
    out.write_all(&(payload.len() as u32).to_le_bytes())?;
    out.write_all(payload)
}

/// The size of an item with `payload_len` payload bytes.
pub fn item_size(payload_len: usize) -> u64 {
    (ITEM_HEADER + payload_len) as u64
}

/// The first item of `bytes`: its key, payload and size, or `Err(n)` when `bytes` holds only
/// part of it and at least `n` bytes are needed.
pub fn parse_item(bytes: &[u8]) -> Result<(SortKey, &[u8], usize), usize> {
    let Some(header) = bytes.get(..ITEM_HEADER) else {
        return Err(ITEM_HEADER);
    };
    let mut key = [0u8; KEY];
    key.copy_from_slice(&header[..KEY]);
    let len = u32::from_le_bytes([header[KEY], header[KEY + 1], header[KEY + 2], header[KEY + 3]]) as usize;
    let size = ITEM_HEADER + len;
    match bytes.get(ITEM_HEADER..size) {
        Some(payload) => Ok((SortKey::from_bytes(&key), payload, size)),
        None => Err(size),
    }
}

/// Reads the next item of `reader`; `None` at a clean end (no byte of a next item).
pub fn read_item(reader: &mut impl Read) -> std::io::Result<Option<(SortKey, Vec<u8>)>> {
    let mut header = [0u8; ITEM_HEADER];
    let first = loop {
        match reader.read(&mut header[..1]) {
            Ok(n) => break n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        }
    };
    if first == 0 {
        return Ok(None);
    }
    reader.read_exact(&mut header[1..])?;
    let mut key = [0u8; KEY];
    key.copy_from_slice(&header[..KEY]);
    let len = u32::from_le_bytes([header[KEY], header[KEY + 1], header[KEY + 2], header[KEY + 3]]) as usize;
    let mut payload = vec![0u8; len];
    reader.read_exact(&mut payload)?;
    Ok(Some((SortKey::from_bytes(&key), payload)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(i: u64) -> SortKey {
        SortKey {
            section: (i % 2) as u8,
            bin: (i % 3) as u8,
            rank: i * 7,
            key: i,
        }
    }

    #[test]
    fn records_round_trip_and_a_cut_is_damage() {
        let mut bytes = Vec::new();
        for r in [&b"abc"[..], b"", b"z"] {
            put_record(&mut bytes, r).unwrap();
        }
        let back: Vec<&[u8]> = records(&bytes).collect::<Result<_, _>>().unwrap();
        assert_eq!(back, [&b"abc"[..], b"", b"z"]);
        let cut: Vec<_> = records(&bytes[..bytes.len() - 1]).collect();
        assert_eq!(cut.last(), Some(&Err(Damaged)));
        assert_eq!(cut.len(), 3);
    }

    #[test]
    fn items_parse_from_slices_and_readers_alike() {
        let mut bytes = Vec::new();
        for i in 0..3u64 {
            put_item(&mut bytes, key(i), &vec![i as u8; i as usize * 5]).unwrap();
        }
        assert_eq!(bytes.len() as u64, (0..3).map(|i| item_size(i * 5)).sum::<u64>());
        let mut at = 0;
        let mut reader = &bytes[..];
        for i in 0..3u64 {
            let (k, payload, size) = parse_item(&bytes[at..]).unwrap();
            assert_eq!((k, payload.len()), (key(i), i as usize * 5));
            assert_eq!(read_item(&mut reader).unwrap(), Some((k, payload.to_vec())));
            at += size;
        }
        assert_eq!(read_item(&mut reader).unwrap(), None);
        assert_eq!(parse_item(&bytes[..10]), Err(ITEM_HEADER));
        let second = item_size(0) as usize;
        assert_eq!(
            parse_item(&bytes[second..second + ITEM_HEADER + 1]),
            Err(ITEM_HEADER + 5)
        );
        let mut cut = &bytes[..bytes.len() - 1];
        for _ in 0..2 {
            read_item(&mut cut).unwrap();
        }
        assert!(read_item(&mut cut).is_err(), "a cut item is an error, not the end");
    }
}
