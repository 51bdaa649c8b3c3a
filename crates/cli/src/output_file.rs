//! Files a user names on the command line for maskforge to write (`report --out`): only a new
//! path or a regular file is written, through a temporary file beside it and a rename, so a
//! reader never sees half a page. Anything else that exists there (a character or block device
//! such as `/dev/null` or `/dev/full`, a FIFO, a socket, a folder, a link to any of them or to
//! nothing) is refused before any work, never renamed over.

use anyhow::{Context, Result, bail};
use std::io::Write;
use std::os::unix::fs::FileTypeExt;
use std::path::{Path, PathBuf};

/// Where `--out path` will be written: `path` itself when it is absent or a regular file, the
/// regular file a symbolic link names; an error naming the path and what it is otherwise.
pub fn target(flag: &str, path: &Path) -> Result<PathBuf> {
    let metadata = match std::fs::symlink_metadata(path) {
        Ok(m) => m,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(path.to_path_buf()),
        Err(e) => return Err(e).with_context(|| format!("{flag} {}", path.display())),
    };
    if metadata.is_file() {
        return Ok(path.to_path_buf());
    }
    if metadata.file_type().is_symlink() {
        let resolved = std::fs::canonicalize(path)
            .with_context(|| format!("{flag} {} is a symbolic link to nothing writable", path.display()))?;
        let kind = std::fs::metadata(&resolved).map(|m| kind(&m.file_type()))?;
        if kind == "regular file" {
            return Ok(resolved);
        }
        bail!(
            "{flag} {} links to {}, a {kind}, not a regular file: refusing to replace it",
            path.display(),
            resolved.display()
        );
    }
    bail!(
        "{flag} {} is a {}, not a regular file: refusing to replace it (name a new file)",
        path.display(),
        kind(&metadata.file_type())
    )
}

/// What a file type is, in words.
fn kind(t: &std::fs::FileType) -> &'static str {
    if t.is_file() {
        "regular file"
    } else if t.is_dir() {
        "folder"
    } else if t.is_char_device() {
        "character device"
    } else if t.is_block_device() {
        "block device"
    } else if t.is_fifo() {
        "FIFO"
    } else if t.is_socket() {
        "socket"
    } else {
        "special file"
    }
}

/// Writes `bytes` to `path` (a [`target`]) through a temporary file beside it, readable by
/// others like any file the user writes; a failed run leaves the earlier file in place.
pub fn write_atomically(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let folder = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    let mut file = tempfile::NamedTempFile::new_in(folder)?;
    file.write_all(bytes)?;
    file.as_file().sync_all()?;
    std::fs::set_permissions(file.path(), std::os::unix::fs::PermissionsExt::from_mode(0o644))?;
    file.persist(path).map_err(|e| e.error)?;
    Ok(())
}
