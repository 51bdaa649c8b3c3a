//! A blocking `Read` over an object streamed from any store, for line-based parsers running on
//! worker threads. Memory is one fetched chunk, whatever the object's size.

use crate::{Location, StoreError};
use bytes::Bytes;
use futures::StreamExt;
use futures::stream::BoxStream;
use object_store::ObjectStoreExt;
use std::io::Read;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use tokio::runtime::Handle;

/// Reads an object chunk by chunk, blocking the calling (non-async) thread on the runtime.
pub struct StreamingReader {
    handle: Handle,
    stream: BoxStream<'static, object_store::Result<Bytes>>,
    chunk: Bytes,
    url: String,
    bytes_read: Arc<AtomicU64>,
}

impl StreamingReader {
    /// Starts reading `location`; every byte fetched is added to `bytes_read`.
    /// Must not be called from inside the runtime.
    pub fn open(location: &Location, handle: Handle, bytes_read: Arc<AtomicU64>) -> Result<Self, StoreError> {
        let result = handle
            .block_on(location.store().get(location.path()))
            .map_err(|e| location.error("reading", e))?;
        Ok(Self {
            handle,
            stream: result.into_stream(),
            chunk: Bytes::new(),
            url: location.url(),
            bytes_read,
        })
    }
}

impl Read for StreamingReader {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        while self.chunk.is_empty() {
            match self.handle.block_on(self.stream.next()) {
                None => return Ok(0),
                Some(Ok(chunk)) => {
                    self.bytes_read.fetch_add(chunk.len() as u64, Ordering::Relaxed);
                    self.chunk = chunk;
                }
                Some(Err(e)) => {
                    let message = crate::redact(&e.to_string());
                    return Err(std::io::Error::other(format!("reading {}: {message}", self.url)));
                }
            }
        }
        let n = buf.len().min(self.chunk.len());
        buf[..n].copy_from_slice(&self.chunk.split_to(n));
        Ok(n)
    }
}
