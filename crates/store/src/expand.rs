//! Expanding input URLs and globs into a sorted list of files.

use crate::{Location, StoreError};
use globset::GlobBuilder;

/// One input file found by [`expand`].
#[derive(Debug, Clone)]
pub struct InputFile {
    /// Where it is.
    pub location: Location,
    /// Its path relative to the pattern's fixed prefix folder (`zh/a.txt` for `corpus/**/*.txt`),
    /// independent of where the corpus is stored.
    pub name: String,
    /// Size in bytes.
    pub size: u64,
    /// The store's version tag (ETag) of the object, when it has one.
    pub e_tag: Option<String>,
}

/// The files a pattern names, and the files below it left out because the store cannot
/// represent their names (a local name with a control character, or not UTF-8), made printable.
#[derive(Debug, Clone, Default)]
pub struct Expansion {
    /// The files, sorted by name.
    pub files: Vec<InputFile>,
    /// Names of files that were skipped.
    pub unrepresentable: Vec<String>,
}

/// Expands a URL, folder or glob (`*`, `?`, `[..]`, `{a,b}`, `**`) into its files, sorted by name.
/// A file or folder that exists under the pattern's literal name is taken as it is (so
/// `data[1].txt` reads that file); in a glob, `[[]` matches a literal `[`. A pattern that matches
/// nothing is an error naming it; files whose names the store cannot represent are skipped and
/// named in [`Expansion::unrepresentable`].
pub async fn expand(pattern: &str) -> Result<Expansion, StoreError> {
    let glob_at = pattern.find(['*', '?', '[', '{']);
    let Some(glob_at) = glob_at else {
        return expand_plain(pattern).await;
    };
    if exists_literally(pattern).await? {
        return expand_plain(pattern).await;
    }
    let folder_end = pattern[..glob_at].rfind('/').map_or(0, |i| i + 1);
    let (folder, relative_glob) = pattern.split_at(folder_end);
    let folder = if folder.is_empty() { "." } else { folder };
    let matcher = GlobBuilder::new(relative_glob)
        .literal_separator(true)
        .build()
        .map_err(|e| StoreError::InvalidUrl {
            url: pattern.to_owned(),
            message: e.to_string(),
        })?
        .compile_matcher();
    let root = Location::parse(folder)?;
    let listed = list_below(&root).await?;
    let matched: Vec<InputFile> = listed.files.into_iter().filter(|f| matcher.is_match(&f.name)).collect();
    if matched.is_empty() {
        return Err(StoreError::NotFound {
            url: pattern.to_owned(),
        });
    }
    Ok(Expansion {
        files: matched,
        unrepresentable: listed.unrepresentable,
    })
}

/// A plain URL: the object itself, or every file below it when it is a folder.
async fn expand_plain(url: &str) -> Result<Expansion, StoreError> {
    let location = Location::parse(url)?;
    if let Some(meta) = location.head().await? {
        let name = location.path().filename().unwrap_or_default().to_owned();
        return Ok(Expansion {
            files: vec![InputFile {
                location,
                name,
                size: meta.size,
                e_tag: meta.e_tag,
            }],
            unrepresentable: Vec::new(),
        });
    }
    let listed = list_below(&location).await?;
    if listed.files.is_empty() {
        return Err(StoreError::NotFound { url: url.to_owned() });
    }
    Ok(listed)
}

/// Whether an object or a non-empty folder has exactly this name.
async fn exists_literally(pattern: &str) -> Result<bool, StoreError> {
    let Ok(location) = Location::parse(pattern) else {
        return Ok(false);
    };
    if location.head().await?.is_some() {
        return Ok(true);
    }
    Ok(!location.list().await?.is_empty())
}

async fn list_below(root: &Location) -> Result<Expansion, StoreError> {
    let mut files = Vec::new();
    let (listed, unrepresentable) = root.list_counting().await?;
    for meta in listed {
        let Some(parts) = meta.location.prefix_match(root.path()) else {
            continue;
        };
        let name = parts.map(|p| p.as_ref().to_owned()).collect::<Vec<_>>().join("/");
        if name.is_empty() || name.split('/').any(|p| p.starts_with('.')) {
            continue; // hidden files and folders (editor swap files, .DS_Store, markers)
        }
        files.push(InputFile {
            location: root.sibling(meta.location),
            name,
            size: meta.size,
            e_tag: meta.e_tag,
        });
    }
    files.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(Expansion { files, unrepresentable })
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;

    #[tokio::test(flavor = "current_thread")]
    async fn globs_match_relative_names_in_order() {
        let root = Location::parse("memory://expand/corpus").unwrap();
        for name in [
            "zh/b.txt",
            "zh/a.txt",
            "en/c.txt",
            "zh/deep/d.txt",
            "zh/.hidden.txt",
            "x.jsonl",
        ] {
            root.join(name).write(Bytes::from_static(b"x")).await.unwrap();
        }
        let names = |v: Expansion| v.files.into_iter().map(|f| f.name).collect::<Vec<_>>();
        assert_eq!(
            names(expand("memory://expand/corpus/zh/*.txt").await.unwrap()),
            ["a.txt", "b.txt"]
        );
        assert_eq!(
            names(expand("memory://expand/corpus/**/*.txt").await.unwrap()),
            ["en/c.txt", "zh/a.txt", "zh/b.txt", "zh/deep/d.txt"]
        );
        assert_eq!(
            names(expand("memory://expand/corpus/x.jsonl").await.unwrap()),
            ["x.jsonl"]
        );
        assert_eq!(names(expand("memory://expand/corpus/en").await.unwrap()), ["c.txt"]);
        let err = expand("memory://expand/corpus/*.parquet")
            .await
            .unwrap_err()
            .to_string();
        assert_eq!(err, "not found: memory://expand/corpus/*.parquet");
        assert!(matches!(
            expand("memory://expand/nothing.txt").await,
            Err(StoreError::NotFound { .. })
        ));
    }
}
