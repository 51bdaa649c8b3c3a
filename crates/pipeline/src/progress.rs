//! Progress reporting hooks; the command line draws a bar or prints log lines with them.

/// Receives progress of a job. Calls may come from several threads.
pub trait Progress: Send + Sync {
    /// The job starts; `total_bytes` of input are to be read.
    fn begin(&self, total_bytes: u64);
    /// More input was read and more documents were written.
    fn advance(&self, bytes: u64, documents: u64);
    /// The job is done.
    fn end(&self);
}

/// Reports nothing.
pub struct Silent;

impl Progress for Silent {
    fn begin(&self, _total_bytes: u64) {}
    fn advance(&self, _bytes: u64, _documents: u64) {}
    fn end(&self) {}
}
