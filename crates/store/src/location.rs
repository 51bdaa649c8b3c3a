//! A location: an object store plus a path inside it, parsed from a plain path or a URL.

use crate::StoreError;
use bytes::Bytes;
use futures::StreamExt;
use object_store::local::LocalFileSystem;
use object_store::memory::InMemory;
use object_store::path::{Path, PathPart};
use object_store::{ObjectMeta, ObjectStore, ObjectStoreExt, PutPayload, WriteMultipart};

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};
use url::Url;

/// Objects larger than this are uploaded in parts of this size (S3 allows 10,000 parts of 5 MiB to 5 GiB).
pub const MULTIPART_THRESHOLD: usize = 32 << 20;

/// Characters escaped in the path of [`Location::url`], so that the URL parses back to the
/// same object (`#` and `?` would start a fragment or a query; `%` an escape).
const URL_PATH_ESCAPES: &percent_encoding::AsciiSet = &percent_encoding::CONTROLS
    .add(b' ')
    .add(b'"')
    .add(b'#')
    .add(b'%')
    .add(b'?')
    .add(b'<')
    .add(b'>')
    .add(b'`')
    .add(b'{')
    .add(b'}');

/// A folder or object in some store. Cheap to clone.
#[derive(Clone)]
pub struct Location {
    store: Arc<dyn ObjectStore>,
    /// `scheme://authority` of the store, as datafusion registers it.
    base: Url,
    path: Path,
}

impl std::fmt::Debug for Location {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.url())
    }
}

/// In-process stores of `memory://NAME` URLs, so that one name means one store for the whole process.
fn memory_stores() -> &'static Mutex<HashMap<String, Arc<InMemory>>> {
    static STORES: OnceLock<Mutex<HashMap<String, Arc<InMemory>>>> = OnceLock::new();
    STORES.get_or_init(Default::default)
}

/// Host and port of a URL, without any user name or password.
fn authority(url: &Url) -> String {
    match url.port() {
        Some(port) => format!("{}:{port}", url.host_str().unwrap_or_default()),
        None => url.host_str().unwrap_or_default().to_owned(),
    }
}

/// One client per remote store (scheme and authority), shared by every location in it.
fn remote_store(url: &Url) -> Result<Arc<dyn ObjectStore>, String> {
    static STORES: OnceLock<Mutex<HashMap<String, Arc<dyn ObjectStore>>>> = OnceLock::new();
    let key = format!("{}://{}", url.scheme(), authority(url));
    let mut stores = STORES
        .get_or_init(Default::default)
        .lock()
        .map_err(|_| "store registry poisoned".to_owned())?;
    if let Some(store) = stores.get(&key) {
        return Ok(store.clone());
    }
    let store = build_remote(url, &key).map_err(|e| crate::redact(&e.to_string()))?;
    stores.insert(key, store.clone());
    Ok(store)
}

/// Environment variable bounding how long a failing request is retried, in seconds.
pub const RETRY_SECS_VARIABLE: &str = "MASKFORGE_RETRY_SECS";

/// Builds a client from the cloud's standard environment: `AWS_*` (with `AWS_ENDPOINT_URL` and
/// `AWS_ALLOW_HTTP` for S3-compatible servers; path-style requests), `GOOGLE_*`, `AZURE_*`.
/// Transient errors (refused connections, 5xx, timeouts of idempotent requests) are retried with
/// exponential backoff (at most 15 s apart) for [`RETRY_SECS_VARIABLE`] seconds (default 180).
fn build_remote(url: &Url, store_url: &str) -> object_store::Result<Arc<dyn ObjectStore>> {
    use object_store::aws::AmazonS3Builder;
    use object_store::azure::MicrosoftAzureBuilder;
    use object_store::gcp::GoogleCloudStorageBuilder;
    use object_store::http::HttpBuilder;
    // The time limit, not the count, ends retries: a short outage is ridden out.
    let retry = object_store::RetryConfig {
        retry_timeout: retry_timeout(std::env::var(RETRY_SECS_VARIABLE).ok().as_deref()),
        max_retries: 1000,
        ..Default::default()
    };
    let connector = crate::tls::PermanentTlsErrors;
    Ok(match url.scheme() {
        "s3" | "s3a" => Arc::new(
            AmazonS3Builder::from_env()
                .with_url(store_url)
                .with_retry(retry)
                .with_http_connector(connector)
                .build()?,
        ),
        "gs" => Arc::new(
            GoogleCloudStorageBuilder::from_env()
                .with_url(store_url)
                .with_retry(retry)
                .with_http_connector(connector)
                .build()?,
        ),
        "az" | "abfs" | "abfss" => Arc::new(
            MicrosoftAzureBuilder::from_env()
                .with_url(store_url)
                .with_retry(retry)
                .with_http_connector(connector)
                .build()?,
        ),
        // A plain `http://` URL is the user's explicit choice of an unencrypted server.
        _ => Arc::new(
            HttpBuilder::new()
                .with_url(store_url)
                .with_retry(retry)
                .with_client_options(object_store::ClientOptions::new().with_allow_http(url.scheme() == "http"))
                .with_http_connector(connector)
                .build()?,
        ),
    })
}

/// Copies `file` to `destination` atomically: into a hidden temporary file in the same folder,
/// then renamed over the destination (a reader sees the old file or the whole new one).
fn copy_into_place(file: &std::path::Path, destination: &std::path::Path) -> std::io::Result<()> {
    let folder = destination.parent().unwrap_or(std::path::Path::new("."));
    std::fs::create_dir_all(folder)?;
    let name = destination.file_name().map(|n| n.to_string_lossy()).unwrap_or_default();
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    let temporary = folder.join(format!(".{name}.{}-{nanos}.part", std::process::id()));
    let copied = std::fs::copy(file, &temporary).and_then(|_| std::fs::rename(&temporary, destination));
    if copied.is_err() {
        let _ = std::fs::remove_file(&temporary);
    }
    copied
}

/// The retry time limit from the variable's value; unset or unreadable means 180 s.
fn retry_timeout(value: Option<&str>) -> std::time::Duration {
    let seconds = value
        .and_then(|v| v.trim().parse::<f64>().ok())
        .filter(|s| s.is_finite() && *s >= 0.0);
    std::time::Duration::from_secs_f64(seconds.unwrap_or(180.0))
}

impl Location {
    /// Parses a plain path (relative to the working directory), `file://`, or `memory://`.
    pub fn parse(location: &str) -> Result<Self, StoreError> {
        let invalid = |message: String| StoreError::InvalidUrl {
            url: location.to_owned(),
            message,
        };
        if !location.contains("://") {
            return Self::local(std::path::Path::new(location)).map_err(invalid);
        }
        // Object keys have no query or fragment: `#` and `?` in `s3://b/a #1.txt` are part of
        // the name (as in every cloud's own tools); only http(s) URLs keep their meaning.
        let is_http = location.starts_with("http://") || location.starts_with("https://");
        let literal = if is_http {
            location.to_owned()
        } else {
            location.replace('#', "%23").replace('?', "%3F")
        };
        let url = Url::parse(&literal).map_err(|e| invalid(e.to_string()))?;
        match url.scheme() {
            "file" => {
                let path = url
                    .to_file_path()
                    .map_err(|()| invalid("not a local file path".into()))?;
                Self::local(&path).map_err(invalid)
            }
            "memory" => {
                let name = url.host_str().unwrap_or_default().to_owned();
                let store = {
                    let mut stores = memory_stores()
                        .lock()
                        .map_err(|_| invalid("memory store registry poisoned".into()))?;
                    stores
                        .entry(name.clone())
                        .or_insert_with(|| Arc::new(InMemory::new()))
                        .clone()
                };
                let base = Url::parse(&format!("memory://{name}")).map_err(|e| invalid(e.to_string()))?;
                let path = Path::from_url_path(url.path()).map_err(|e| invalid(e.to_string()))?;
                Ok(Self { store, base, path })
            }
            "s3" | "s3a" | "gs" | "az" | "abfs" | "abfss" | "http" | "https" => {
                let store = remote_store(&url).map_err(invalid)?;
                let base = Url::parse(&format!("{}://{}", url.scheme(), authority(&url)))
                    .map_err(|e| invalid(e.to_string()))?;
                // The URL's path is percent-encoded; the object's key is not (`my%20data` is `my data`).
                let path = Path::from_url_path(url.path()).map_err(|e| invalid(e.to_string()))?;
                Ok(Self { store, base, path })
            }
            other => Err(invalid(format!(
                "unsupported scheme `{other}://` (supported: plain paths, file://, s3://, gs://, az://, http(s):// for reading, memory://)"
            ))),
        }
    }

    fn local(path: &std::path::Path) -> Result<Self, String> {
        let absolute = std::path::absolute(path).map_err(|e| e.to_string())?;
        let normalized = normalize(&absolute);
        let path = Path::from_absolute_path(&normalized).map_err(|e| e.to_string())?;
        let base = Url::parse("file:///").map_err(|e| e.to_string())?;
        Ok(Self {
            store: Arc::new(LocalFileSystem::new()),
            base,
            path,
        })
    }

    /// The location below this one at `relative` (`a/b.parquet`).
    pub fn join(&self, relative: &str) -> Self {
        let mut path = self.path.clone();
        for part in relative.split('/').filter(|p| !p.is_empty()) {
            // A segment is taken as it is (CJK, `#`, `%`: the name of a file or key, as
            // `Location::parse` keeps them); only one the store cannot hold is escaped.
            path = match PathPart::parse(part) {
                Ok(valid) => path.join(valid),
                Err(_) => path.join(part),
            };
        }
        Self {
            store: self.store.clone(),
            base: self.base.clone(),
            path,
        }
    }

    /// The full URL, for messages and for datafusion; [`Location::parse`] of it gives this
    /// location back (the port is kept; `%`, `#`, `?` and spaces in names are escaped).
    pub fn url(&self) -> String {
        let path: Vec<String> = self
            .path
            .parts()
            .map(|part| {
                let key = percent_encoding::percent_decode_str(part.as_ref()).decode_utf8_lossy();
                percent_encoding::utf8_percent_encode(&key, URL_PATH_ESCAPES).to_string()
            })
            .collect();
        format!("{}://{}/{}", self.base.scheme(), authority(&self.base), path.join("/"))
    }

    /// Whether `other` is this location or lies below it (same store, path prefix).
    pub fn contains(&self, other: &Location) -> bool {
        if self.base != other.base {
            return false;
        }
        if let (Some(mine), Some(theirs)) = (self.local_path(), other.local_path()) {
            // Through symbolic links too.
            return real_path(&theirs).starts_with(real_path(&mine));
        }
        other.path.prefix_matches(&self.path)
    }

    /// The file system path of a local location.
    pub fn local_path(&self) -> Option<std::path::PathBuf> {
        if self.base.scheme() != "file" {
            return None;
        }
        let mut url = Url::parse("file:///").ok()?;
        url.path_segments_mut().ok()?.pop_if_empty().extend(self.path.parts());
        url.to_file_path().ok()
    }

    /// Refuses a local path that exists but is not a regular file or folder: reading a FIFO
    /// blocks until someone writes to it, a device never ends.
    pub fn check_regular(&self) -> Result<(), StoreError> {
        let Some(path) = self.local_path() else {
            return Ok(());
        };
        let Ok(meta) = std::fs::metadata(&path) else {
            return Ok(()); // missing: the operation itself reports it
        };
        let kind = meta.file_type();
        if kind.is_file() || kind.is_dir() {
            return Ok(());
        }
        use std::os::unix::fs::FileTypeExt;
        let kind = if kind.is_fifo() {
            "a FIFO"
        } else if kind.is_socket() {
            "a socket"
        } else if kind.is_char_device() || kind.is_block_device() {
            "a device"
        } else {
            "not a file"
        };
        Err(StoreError::NotRegular { url: self.url(), kind })
    }

    /// `scheme://authority` of the store.
    pub fn base_url(&self) -> &Url {
        &self.base
    }

    /// The store behind the location.
    pub fn store(&self) -> &Arc<dyn ObjectStore> {
        &self.store
    }

    /// The path inside the store.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The error of `operation` failing here; a missing object is [`StoreError::NotFound`].
    pub(crate) fn error(&self, operation: &'static str, source: object_store::Error) -> StoreError {
        match source {
            object_store::Error::NotFound { .. } => StoreError::NotFound { url: self.url() },
            object_store::Error::Precondition { .. } => StoreError::Store {
                operation,
                url: self.url(),
                message: "the object changed since it was listed (another ETag); run again to read the new version"
                    .into(),
            },
            source => StoreError::Store {
                operation,
                url: self.url(),
                message: crate::redact(&source.to_string()),
            },
        }
    }

    /// Reads the whole object (for small files: manifests, vocabularies, dictionaries).
    pub async fn read(&self) -> Result<Bytes, StoreError> {
        self.check_regular()?;
        let result = self.store.get(&self.path).await.map_err(|e| self.error("reading", e))?;
        result.bytes().await.map_err(|e| self.error("reading", e))
    }

    /// Reads bytes `range` of the object.
    pub async fn read_range(&self, range: std::ops::Range<u64>) -> Result<Bytes, StoreError> {
        self.check_regular()?;
        self.store
            .get_range(&self.path, range)
            .await
            .map_err(|e| self.error("reading", e))
    }

    /// Writes the object atomically: readers see the old object or the whole new one. Objects
    /// over [`MULTIPART_THRESHOLD`] go up as a multipart upload in parts of that size.
    pub async fn write(&self, bytes: Bytes) -> Result<(), StoreError> {
        self.write_in_parts(bytes, MULTIPART_THRESHOLD).await
    }

    async fn write_in_parts(&self, bytes: Bytes, part_size: usize) -> Result<(), StoreError> {
        if bytes.len() <= part_size {
            self.store
                .put(&self.path, PutPayload::from(bytes))
                .await
                .map_err(|e| self.error("writing", e))?;
            return Ok(());
        }
        let upload = self
            .store
            .put_multipart(&self.path)
            .await
            .map_err(|e| self.error("writing", e))?;
        let mut writer = WriteMultipart::new_with_chunk_size(upload, part_size);
        writer.put(bytes);
        writer.finish().await.map_err(|e| self.error("writing", e))?;
        Ok(())
    }

    /// Uploads a local file as the object, in parts of [`MULTIPART_THRESHOLD`] when larger, so
    /// memory holds one part at a time. A local destination gets a file copy (to a hidden
    /// temporary name beside it, then renamed into place), which holds no part in memory.
    pub async fn write_file(&self, file: &std::path::Path) -> Result<(), StoreError> {
        use std::io::Read;
        let local_error = |e: std::io::Error| StoreError::Store {
            operation: "uploading",
            url: self.url(),
            message: format!("reading {}: {e}", file.display()),
        };
        if let Some(destination) = self.local_path() {
            return copy_into_place(file, &destination).map_err(|e| StoreError::Store {
                operation: "uploading",
                url: self.url(),
                message: format!("copying {}: {e}", file.display()),
            });
        }
        let mut reader = std::fs::File::open(file).map_err(local_error)?;
        let part = |reader: &mut std::fs::File| -> Result<Bytes, StoreError> {
            let mut buffer = Vec::with_capacity(MULTIPART_THRESHOLD);
            reader
                .by_ref()
                .take(MULTIPART_THRESHOLD as u64)
                .read_to_end(&mut buffer)
                .map_err(local_error)?;
            Ok(buffer.into())
        };
        let first = part(&mut reader)?;
        if first.len() < MULTIPART_THRESHOLD {
            return self.write(first).await;
        }
        let upload = self
            .store
            .put_multipart(&self.path)
            .await
            .map_err(|e| self.error("writing", e))?;
        let mut writer = WriteMultipart::new_with_chunk_size(upload, MULTIPART_THRESHOLD);
        let mut next = first;
        while !next.is_empty() {
            writer
                .wait_for_capacity(2)
                .await
                .map_err(|e| self.error("writing", e))?;
            writer.put(next);
            next = part(&mut reader)?;
        }
        writer.finish().await.map_err(|e| self.error("writing", e))?;
        Ok(())
    }

    /// Writes the object only if nothing exists there yet; `false` when something already does
    /// (conditional create where the store supports it). object_store does not retry a create
    /// cut off in flight (it is not idempotent); callers read the object back on `false`, so a
    /// create whose reply was lost and that is sent again is safe, and transport failures are
    /// retried here for the retry window.
    pub async fn create(&self, bytes: Bytes) -> Result<bool, StoreError> {
        let options = || object_store::PutOptions {
            mode: object_store::PutMode::Create,
            ..Default::default()
        };
        let window = retry_timeout(std::env::var(RETRY_SECS_VARIABLE).ok().as_deref());
        let started = std::time::Instant::now();
        let mut pause = std::time::Duration::from_millis(200);
        loop {
            match self
                .store
                .put_opts(&self.path, PutPayload::from(bytes.clone()), options())
                .await
            {
                Ok(_) => return Ok(true),
                Err(object_store::Error::AlreadyExists { .. }) => return Ok(false),
                Err(e) if is_transport_error(&e) && started.elapsed() + pause < window => {
                    log::debug!("{}: create cut off ({e}); sending it again", self.url());
                    tokio::time::sleep(pause).await;
                    pause = (pause * 2).min(std::time::Duration::from_secs(5));
                }
                Err(e) => return Err(self.error("writing", e)),
            }
        }
    }

    /// Metadata of the object, or `None` when it does not exist.
    pub async fn head(&self) -> Result<Option<ObjectMeta>, StoreError> {
        self.check_regular()?;
        match self.store.head(&self.path).await {
            Ok(meta) => Ok(Some(meta)),
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(e) => Err(self.error("inspecting", e)),
        }
    }

    /// Deletes the object; a missing object is not an error.
    pub async fn delete(&self) -> Result<(), StoreError> {
        match self.store.delete(&self.path).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(self.error("deleting", e)),
        }
    }

    /// Deletes every object below this location; on a local file system the emptied folders
    /// go too.
    pub async fn delete_all(&self) -> Result<(), StoreError> {
        for meta in self.list().await? {
            self.sibling(meta.location).delete().await?;
        }
        if let Some(folder) = self.local_path() {
            match std::fs::remove_dir_all(&folder) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => {
                    return Err(StoreError::Store {
                        operation: "deleting",
                        url: self.url(),
                        message: e.to_string(),
                    });
                }
            }
        }
        Ok(())
    }

    /// Every object below this location (recursively), sorted by path, each with its path
    /// relative to this location (`epochs/3/manifest.json` listed from the output root is
    /// `3/manifest.json` from `epochs`).
    pub async fn entries(&self) -> Result<Vec<Entry>, StoreError> {
        Ok(self
            .list()
            .await?
            .into_iter()
            .filter_map(|meta| {
                let relative: Vec<String> = meta
                    .location
                    .prefix_match(&self.path)?
                    .map(|part| part.as_ref().to_owned())
                    .collect();
                Some(Entry {
                    relative: relative.join("/"),
                    size: meta.size,
                    location: self.sibling(meta.location),
                })
            })
            .collect())
    }

    /// Every object below this location (recursively), sorted by path; a file whose name the
    /// store cannot represent is left out with a warning.
    pub(crate) async fn list(&self) -> Result<Vec<ObjectMeta>, StoreError> {
        let (all, unrepresentable) = self.list_counting().await?;
        for name in unrepresentable {
            log::warn!(
                "{}: skipped {name}, a name the object store cannot represent",
                self.url()
            );
        }
        Ok(all)
    }

    /// Every object below this location (recursively), sorted by path, and the names (made
    /// [`printable`](crate::printable)) of the files left out because the store cannot
    /// represent them: a local file whose name holds a control character such as ESC, or is not
    /// UTF-8. One such file never fails the listing of its folder.
    pub(crate) async fn list_counting(&self) -> Result<(Vec<ObjectMeta>, Vec<String>), StoreError> {
        let prefix = (!self.path.as_ref().is_empty()).then_some(&self.path);
        let mut listing = self.store.list(prefix);
        let mut all = Vec::new();
        while let Some(item) = listing.next().await {
            match item {
                Ok(meta) => all.push(meta),
                Err(object_store::Error::NotFound { .. }) => return Ok((Vec::new(), Vec::new())),
                // object_store's local listing ends at the first such name: walk the folder here.
                Err(object_store::Error::InvalidPath { .. }) if self.local_path().is_some() => {
                    return self.list_local_skipping().await;
                }
                Err(e) => return Err(self.error("listing", e)),
            }
        }
        all.sort_by(|a, b| a.location.cmp(&b.location));
        Ok((all, Vec::new()))
    }

    /// [`Location::list_counting`] of a local folder that holds a name the store cannot
    /// represent: the folder walked like object_store walks it (links followed, regular files
    /// only), every representable file's metadata from the store (so its ETag is the store's),
    /// the others named.
    async fn list_local_skipping(&self) -> Result<(Vec<ObjectMeta>, Vec<String>), StoreError> {
        let folder = self.local_path().unwrap_or_default();
        let (mut files, mut unrepresentable) = (Vec::new(), Vec::new());
        let mut visited = std::collections::HashSet::new();
        walk_local(&folder, &mut Vec::new(), &mut files, &mut unrepresentable, &mut visited).map_err(|e| {
            StoreError::Store {
                operation: "listing",
                url: self.url(),
                message: e.to_string(),
            }
        })?;
        let mut all = Vec::with_capacity(files.len());
        for relative in files {
            let parts = self
                .path
                .parts()
                .chain(relative.iter().filter_map(|p| PathPart::parse(p).ok()));
            let path: Path = parts.collect();
            if let Some(meta) = self.sibling(path).head().await? {
                all.push(meta);
            }
        }
        all.sort_by(|a, b| a.location.cmp(&b.location));
        unrepresentable.sort();
        Ok((all, unrepresentable))
    }

    /// The location of another object in the same store.
    pub fn sibling(&self, path: Path) -> Self {
        Self {
            store: self.store.clone(),
            base: self.base.clone(),
            path,
        }
    }
}

/// An object found by [`Location::entries`].
#[derive(Debug, Clone)]
pub struct Entry {
    /// Where it is.
    pub location: Location,
    /// Its path below the listed location, parts joined with `/`.
    pub relative: String,
    /// Its size in bytes.
    pub size: u64,
}

/// Whether a store error is a request that got no answer at all (a reset or refused connection),
/// not an answer with a status: only those are sent again.
fn is_transport_error(e: &object_store::Error) -> bool {
    let text = e.to_string();
    text.contains("error sending request")
        && !text.contains("status")
        && !text.to_ascii_lowercase().contains("certificate")
}

/// `path` with symbolic links resolved in its longest existing ancestor.
fn real_path(path: &std::path::Path) -> std::path::PathBuf {
    let mut existing = path;
    let mut rest = Vec::new();
    loop {
        if let Ok(real) = std::fs::canonicalize(existing) {
            return rest.iter().rev().fold(real, |p, part| p.join(part));
        }
        match (existing.parent(), existing.file_name()) {
            (Some(parent), Some(name)) => {
                rest.push(name.to_owned());
                existing = parent;
            }
            _ => return path.to_path_buf(),
        }
    }
}

/// Removes `.` and `..` components without touching the file system.
fn normalize(path: &std::path::Path) -> std::path::PathBuf {
    use std::path::Component;
    let mut out = std::path::PathBuf::new();
    for c in path.components() {
        match c {
            Component::CurDir => {}
            Component::ParentDir => {
                out.pop();
            }
            other => out.push(other),
        }
    }
    out
}

/// Collects the regular files below `dir` (links followed, each folder once) as path parts
/// relative to the walk's start, and the printable paths of those whose name is not UTF-8 or
/// not a valid object store path segment.
fn walk_local(
    dir: &std::path::Path,
    relative: &mut Vec<String>,
    files: &mut Vec<Vec<String>>,
    unrepresentable: &mut Vec<String>,
    visited: &mut std::collections::HashSet<(u64, u64)>,
) -> std::io::Result<()> {
    use std::os::unix::fs::MetadataExt;
    let here = std::fs::metadata(dir)?;
    if !visited.insert((here.dev(), here.ino())) {
        return Ok(());
    }
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let Ok(metadata) = std::fs::metadata(entry.path()) else {
            continue; // a link to nothing
        };
        let name = entry.file_name();
        let Some(name) = name.to_str().filter(|n| PathPart::parse(n).is_ok()) else {
            if metadata.is_file() || metadata.is_dir() {
                unrepresentable.push(crate::printable(&entry.path().to_string_lossy()).into_owned());
            }
            continue;
        };
        relative.push(name.to_owned());
        if metadata.is_dir() {
            walk_local(&entry.path(), relative, files, unrepresentable, visited)?;
        } else if metadata.is_file() {
            files.push(relative.clone());
        }
        relative.pop();
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_paths_and_urls() {
        let l = Location::parse("/tmp/x/../y/z.txt").unwrap();
        assert_eq!(l.url(), "file:///tmp/y/z.txt");
        let m = Location::parse("memory://bucket/a/b").unwrap();
        assert_eq!(m.url(), "memory://bucket/a/b");
        assert_eq!(m.join("c/d.parquet").url(), "memory://bucket/a/b/c/d.parquet");
        let err = Location::parse("ftp://host/x").unwrap_err().to_string();
        assert!(err.contains("unsupported scheme `ftp://`"), "{err}");
    }

    #[tokio::test(flavor = "current_thread")]
    async fn memory_round_trip_list_and_delete() {
        let dir = Location::parse("memory://roundtrip/data").unwrap();
        dir.join("b.txt").write(Bytes::from_static(b"bee")).await.unwrap();
        dir.join("a.txt").write(Bytes::from_static(b"ay")).await.unwrap();
        // The same name in a new parse sees the same store.
        let again = Location::parse("memory://roundtrip/data/a.txt").unwrap();
        assert_eq!(again.read().await.unwrap().as_ref(), b"ay");
        let names: Vec<String> = dir
            .list()
            .await
            .unwrap()
            .iter()
            .map(|m| m.location.to_string())
            .collect();
        assert_eq!(names, ["data/a.txt", "data/b.txt"]);
        again.delete().await.unwrap();
        again.delete().await.unwrap();
        assert!(again.head().await.unwrap().is_none());
        assert!(matches!(again.read().await, Err(StoreError::NotFound { .. })));
    }

    #[tokio::test(flavor = "current_thread")]
    async fn joined_names_with_cjk_hash_and_percent_name_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let name = "分片 #1%.parquet";
        std::fs::write(dir.path().join(name), b"x").unwrap();
        let root = Location::parse(dir.path().to_str().unwrap()).unwrap();
        let joined = root.join(name);
        assert!(joined.head().await.unwrap().is_some(), "{}", joined.url());
        assert_eq!(Location::parse(&joined.url()).unwrap().path(), joined.path());
        let memory = Location::parse("memory://join/a").unwrap();
        memory.join(name).write(Bytes::from_static(b"y")).await.unwrap();
        let names: Vec<String> = memory
            .entries()
            .await
            .unwrap()
            .into_iter()
            .map(|e| e.relative)
            .collect();
        assert_eq!(names, [name]);
    }

    #[tokio::test(flavor = "current_thread")]
    async fn multipart_writes_read_back_whole() {
        let data: Vec<u8> = (0..(12u32 << 20)).map(|i| (i % 251) as u8).collect();
        let dir = tempfile::tempdir().unwrap();
        for location in [
            Location::parse("memory://multipart/x.bin").unwrap(),
            Location::parse(dir.path().join("x.bin").to_str().unwrap()).unwrap(),
        ] {
            location
                .write_in_parts(Bytes::from(data.clone()), 5 << 20)
                .await
                .unwrap();
            assert_eq!(location.read().await.unwrap().as_ref(), data.as_slice());
        }
    }
}
