//! A blocking `Read` over an object streamed from any store, for line-based parsers running on
//! worker threads. Memory is one fetched chunk, whatever the object's size. A stream cut off
//! midway (a dropped connection, a server restart) resumes from the last byte read, on the same
//! version of the object.

use crate::{Location, StoreError};
use bytes::Bytes;
use futures::StreamExt;
use futures::stream::BoxStream;
use object_store::{GetOptions, GetRange};
use std::io::Read;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;
use tokio::runtime::Handle;

/// How many times in a row a cut-off stream is resumed before the read fails.
const RESUMES: u32 = 5;

/// Reads an object chunk by chunk, blocking the calling (non-async) thread on the runtime.
pub struct StreamingReader {
    handle: Handle,
    location: Location,
    stream: BoxStream<'static, object_store::Result<Bytes>>,
    chunk: Bytes,
    /// Bytes of the object read so far.
    offset: u64,
    size: u64,
    /// The version read, so that a resumed stream continues the same bytes.
    etag: Option<String>,
    bytes_read: Arc<AtomicU64>,
}

impl StreamingReader {
    /// Starts reading `location`; every byte fetched is added to `bytes_read`.
    /// Must not be called from inside the runtime.
    pub fn open(location: &Location, handle: Handle, bytes_read: Arc<AtomicU64>) -> Result<Self, StoreError> {
        Self::open_at(location, 0, None, handle, bytes_read)
    }

    /// Starts reading `location` at byte `offset` (to its end). With `version` (the ETag listed
    /// for it), an object replaced since it was listed is an error rather than other bytes: the
    /// pieces of one file never mix two versions of it.
    /// Must not be called from inside the runtime.
    pub fn open_at(
        location: &Location,
        offset: u64,
        version: Option<&str>,
        handle: Handle,
        bytes_read: Arc<AtomicU64>,
    ) -> Result<Self, StoreError> {
        location.check_regular()?;
        let options = GetOptions {
            range: (offset > 0).then_some(GetRange::Offset(offset)),
            if_match: version.map(str::to_owned),
            ..Default::default()
        };
        let result = handle
            .block_on(location.store().get_opts(location.path(), options))
            .map_err(|e| location.error("reading", e))?;
        Ok(Self {
            handle,
            location: location.clone(),
            etag: result.meta.e_tag.clone(),
            size: result.meta.size,
            stream: result.into_stream(),
            chunk: Bytes::new(),
            offset,
            bytes_read,
        })
    }

    /// Asks for the rest of the object again.
    fn resume(&mut self) -> object_store::Result<()> {
        let options = GetOptions {
            range: Some(GetRange::Offset(self.offset)),
            if_match: self.etag.clone(),
            ..Default::default()
        };
        let result = self
            .handle
            .block_on(self.location.store().get_opts(self.location.path(), options))?;
        self.stream = result.into_stream();
        Ok(())
    }
}

impl Read for StreamingReader {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let mut failures = 0;
        while self.chunk.is_empty() {
            match self.handle.block_on(self.stream.next()) {
                None => return Ok(0),
                Some(Ok(chunk)) => {
                    failures = 0;
                    self.offset += chunk.len() as u64;
                    self.bytes_read.fetch_add(chunk.len() as u64, Ordering::Relaxed);
                    self.chunk = chunk;
                }
                Some(Err(e)) => {
                    failures += 1;
                    let url = self.location.url();
                    let fail = |e: &dyn std::fmt::Display| {
                        let message = crate::redact(&e.to_string());
                        std::io::Error::other(format!("reading {url}: {message}"))
                    };
                    if failures > RESUMES || self.offset >= self.size {
                        return Err(fail(&e));
                    }
                    log::warn!(
                        "reading {url} stopped at byte {} ({}); resuming",
                        self.offset,
                        crate::redact(&e.to_string())
                    );
                    std::thread::sleep(Duration::from_millis(200 << failures));
                    if let Err(e) = self.resume() {
                        return Err(fail(&e));
                    }
                }
            }
        }
        let n = buf.len().min(self.chunk.len());
        buf[..n].copy_from_slice(&self.chunk.split_to(n));
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    #[test]
    fn a_listed_version_that_was_replaced_is_an_error_not_other_bytes() {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let handle = runtime.handle().clone();
        let location = Location::parse("memory://reader/corpus.jsonl").unwrap();
        runtime
            .block_on(location.write(Bytes::from_static(b"first version\n")))
            .unwrap();
        let listed = runtime.block_on(crate::expand("memory://reader/corpus.jsonl")).unwrap();
        let version = listed.files[0].e_tag.clone().expect("the memory store has ETags");
        let bytes_read = Arc::new(AtomicU64::new(0));
        let mut text = String::new();
        StreamingReader::open_at(&location, 6, Some(&version), handle.clone(), bytes_read.clone())
            .unwrap()
            .read_to_string(&mut text)
            .unwrap();
        assert_eq!(text, "version\n");

        runtime
            .block_on(location.write(Bytes::from_static(b"second version\n")))
            .unwrap();
        let err = StreamingReader::open_at(&location, 6, Some(&version), handle.clone(), bytes_read.clone())
            .err()
            .expect("a replaced object must not be read as the listed one")
            .to_string();
        assert!(
            err.contains("memory://reader/corpus.jsonl") && err.contains("changed since it was listed"),
            "{err}"
        );
        // Without a version (a file opened by name), the current bytes are read.
        assert!(StreamingReader::open_at(&location, 0, None, handle, bytes_read).is_ok());
    }
}
