//! The pipeline file: one TOML file describes a whole job (sources, text, pairs, masking, output,
//! seed). It is parsed, overridden by `--set`, and validated before any work starts; every error
//! names the key and the line it was set on.

mod error;
mod locate;
mod model;
mod overrides;
mod validate;

pub use error::{ConfigError, Problem};
pub use model::*;

use std::path::Path;

/// What the command line changes in a pipeline file.
#[derive(Debug, Clone, Default)]
pub struct Overrides {
    /// `--input`: replaces the source URLs, keeping the first source's other options.
    pub inputs: Vec<String>,
    /// `--output`: replaces `output.url`.
    pub output: Option<String>,
    /// `--set KEY=VALUE`, applied in order.
    pub set: Vec<String>,
}

/// Reads a pipeline file, applies the command line's overrides and validates the result.
/// Relative paths inside the file are resolved against the file's folder; paths given on the
/// command line are left as they are (relative to the working directory).
pub fn load(path: &Path, overrides: &Overrides) -> Result<PipelineConfig, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
        path: path.display().to_string(),
        source,
    })?;
    let base = path.parent().filter(|p| !p.as_os_str().is_empty());
    parse(&text, &path.display().to_string(), base, overrides)
}

/// Parses pipeline text; `origin` names it in errors, `base_dir` resolves relative paths.
pub fn parse(
    text: &str,
    origin: &str,
    base_dir: Option<&Path>,
    overrides: &Overrides,
) -> Result<PipelineConfig, ConfigError> {
    let parse_error = |e: toml::de::Error| ConfigError::Parse {
        origin: origin.to_owned(),
        line: e.span().map(|s| text[..s.start].matches('\n').count() + 1),
        message: e.message().trim().to_owned(),
    };
    // Typing the file as written first reports unknown keys and wrong types with their lines.
    let as_written: PipelineConfig = toml::from_str(text).map_err(parse_error)?;
    let unchanged = overrides.set.is_empty() && overrides.inputs.is_empty() && overrides.output.is_none();
    let config = if unchanged && base_dir.is_none() {
        as_written
    } else {
        let mut table: toml::Table = toml::from_str(text).map_err(parse_error)?;
        if let Some(base) = base_dir {
            resolve_relative_paths(&mut table, base);
        }
        apply_command_line(&mut table, overrides)?;
        table.try_into().map_err(|e: toml::de::Error| ConfigError::Override {
            expr: overrides.set.join(" "),
            message: e.message().trim().to_owned(),
        })?
    };
    let mut config = config;
    if config.masking.max_predictions == 0 {
        config.masking.max_predictions = MaskingConfig::derived_max_predictions(config.pairs.max_seq_length);
    }
    let mut set_keys: Vec<&str> = overrides
        .set
        .iter()
        .filter_map(|o| o.split_once('=').map(|(k, _)| k.trim()))
        .collect();
    if !overrides.inputs.is_empty() {
        set_keys.push("sources.0.urls");
    }
    if overrides.output.is_some() {
        set_keys.push("output.url");
    }
    let problems: Vec<Problem> = validate::validate(&config)
        .into_iter()
        .map(|(key, message)| {
            let overridden = set_keys
                .iter()
                .any(|k| key.starts_with(k) || k.starts_with(key.as_str()));
            let place = if overridden {
                "command line".to_owned()
            } else {
                locate::line_of(text, &key).map_or_else(|| "default".to_owned(), |l| format!("line {l}"))
            };
            Problem { key, place, message }
        })
        .collect();
    if problems.is_empty() {
        Ok(config)
    } else {
        Err(ConfigError::Invalid {
            origin: origin.to_owned(),
            problems,
        })
    }
}

fn apply_command_line(table: &mut toml::Table, overrides: &Overrides) -> Result<(), ConfigError> {
    if !overrides.inputs.is_empty() {
        let urls = toml::Value::Array(overrides.inputs.iter().cloned().map(toml::Value::String).collect());
        let mut first = match table.get("sources").and_then(|s| s.as_array()).and_then(|a| a.first()) {
            Some(toml::Value::Table(t)) => t.clone(),
            _ => toml::Table::new(),
        };
        first.insert("urls".to_owned(), urls);
        table.insert(
            "sources".to_owned(),
            toml::Value::Array(vec![toml::Value::Table(first)]),
        );
    }
    if let Some(output) = &overrides.output {
        overrides::apply_override(table, &format!("output.url={}", toml::Value::String(output.clone())))?;
    }
    for expr in &overrides.set {
        overrides::apply_override(table, expr)?;
    }
    Ok(())
}

/// Keys whose values are locations (paths or URLs) rather than content.
const LOCATION_KEYS: [&[&str]; 6] = [
    &["text", "tokenizer", "path"],
    &["text", "tokenizer", "merges"],
    &["text", "jieba", "user_dict"],
    &["masking", "synonyms"],
    &["output", "url"],
    &["output", "temp_dir"],
];

fn resolve_relative_paths(table: &mut toml::Table, base: &Path) {
    let resolve = |v: &mut toml::Value| {
        if let toml::Value::String(s) = v {
            *s = resolve_path(s, base);
        }
    };
    if let Some(toml::Value::Array(sources)) = table.get_mut("sources") {
        for source in sources.iter_mut() {
            if let Some(toml::Value::Array(urls)) = source.get_mut("urls") {
                urls.iter_mut().for_each(resolve);
            }
        }
    }
    for path in LOCATION_KEYS {
        if let Some(v) = lookup_mut(table, path) {
            resolve(v);
        }
    }
}

fn lookup_mut<'a>(table: &'a mut toml::Table, path: &[&str]) -> Option<&'a mut toml::Value> {
    let (first, rest) = path.split_first()?;
    let mut value = table.get_mut(*first)?;
    for part in rest {
        value = value.get_mut(*part)?;
    }
    Some(value)
}

/// Joins a relative path onto `base`; URLs (`scheme://`) and absolute paths stay as they are.
pub fn resolve_path(location: &str, base: &Path) -> String {
    if location.contains("://") || Path::new(location).is_absolute() {
        location.to_owned()
    } else {
        base.join(location).to_string_lossy().into_owned()
    }
}

impl PipelineConfig {
    /// What decides the content of the documents dataset: the source options and the text path,
    /// and how shards are encoded, without locations (source URLs, tokenizer and dictionary
    /// paths, output URL). The same job over a corpus moved from disk to object storage has the
    /// same content configuration; the files behind the locations are identified by their hashes
    /// in the manifest instead. Masking and pair settings are not part of it: changing them does
    /// not invalidate prepared documents.
    pub fn documents_content_json(&self) -> serde_json::Value {
        let mut value = serde_json::json!({
            "sources": self.sources,
            "text": self.text,
            "output": {
                "documents_shard_bytes": self.output.documents_shard_bytes,
                "row_group_rows": self.output.row_group_rows,
                "zstd_level": self.output.zstd_level,
                "keep_text": self.output.keep_text,
            },
        });
        if let Some(sources) = value["sources"].as_array_mut() {
            for source in sources {
                if let Some(obj) = source.as_object_mut() {
                    obj.remove("urls");
                    // An epoch setting: reweighting needs no new documents.
                    obj.remove("weight");
                    // Named only when set, so the hashes of earlier datasets stay.
                    if obj.get("csv_newlines_in_values") == Some(&serde_json::Value::Bool(true)) {
                        obj.remove("csv_newlines_in_values");
                    }
                }
            }
        }
        for path in LOCATION_KEYS {
            let Some((last, parents)) = path.split_last() else {
                continue;
            };
            let node = parents.iter().try_fold(&mut value, |node, p| node.get_mut(*p));
            if let Some(obj) = node.and_then(|n| n.as_object_mut()) {
                obj.remove(*last);
            }
        }
        value
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(exprs: &[&str]) -> Overrides {
        Overrides {
            set: exprs.iter().map(|s| s.to_string()).collect(),
            ..Overrides::default()
        }
    }

    #[test]
    fn inputs_replace_urls_and_keep_source_options() {
        let text = "[[sources]]\nurls = ['a/*.jsonl']\ntext_column = 'body'\n[[sources]]\nurls = ['b']\n[text]\ntokenizer = { path = 'v.txt' }\n";
        let o = Overrides {
            inputs: vec!["x.jsonl".into(), "y/*.jsonl".into()],
            output: Some("out dir".into()),
            set: vec![],
        };
        let c = parse(text, "p.toml", Some(Path::new("pipes")), &o).unwrap();
        assert_eq!(c.sources.len(), 1);
        assert_eq!(c.sources[0].urls, ["x.jsonl", "y/*.jsonl"]);
        assert_eq!(c.sources[0].text_column(), "body");
        assert_eq!(c.output.url, "out dir");
    }

    const MINIMAL: &str = "[[sources]]\nurls = ['corpus/*.txt']\n\n[text]\ntokenizer = { path = 'vocab.txt' }\n";

    #[test]
    fn minimal_file_gets_defaults() {
        let c = parse(MINIMAL, "p.toml", None, &Overrides::default()).unwrap();
        assert_eq!(c.seed, 12345);
        assert_eq!(c.masking.probability, 0.15);
        assert_eq!(c.sources[0].text_column(), "text");
        assert_eq!(c.masking.max_predictions, 80, "derived for the default 512 tokens");
    }

    #[test]
    fn max_predictions_follows_the_sequence_length_unless_set() {
        for (length, expected) in [(64, 10), (128, 20), (512, 80), (8, 2), (100, 16)] {
            let c = parse(
                MINIMAL,
                "p.toml",
                None,
                &set(&[&format!("pairs.max_seq_length={length}")]),
            )
            .unwrap();
            assert_eq!(c.masking.max_predictions, expected, "{length}");
        }
        let c = parse(
            MINIMAL,
            "p.toml",
            None,
            &set(&["pairs.max_seq_length=64", "masking.max_predictions=7"]),
        )
        .unwrap();
        assert_eq!(c.masking.max_predictions, 7);
        let err = parse(
            MINIMAL,
            "p.toml",
            None,
            &set(&["pairs.max_seq_length=64", "masking.max_predictions=80"]),
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("masking.max_predictions"), "{err}");
    }

    #[test]
    fn unknown_key_names_key_and_line() {
        let text = format!("{MINIMAL}\n[masking]\nprobabilty = 0.2\n");
        let err = parse(&text, "p.toml", None, &Overrides::default())
            .unwrap_err()
            .to_string();
        assert!(err.contains("p.toml, line 8"), "{err}");
        assert!(err.contains("probabilty"), "{err}");
    }

    #[test]
    fn bad_value_names_key_and_line() {
        let text = format!("{MINIMAL}\n[masking]\nprobability = 1.5\n");
        let err = parse(&text, "p.toml", None, &Overrides::default())
            .unwrap_err()
            .to_string();
        assert!(err.contains("masking.probability (line 8)"), "{err}");
    }

    #[test]
    fn overrides_apply_and_are_validated() {
        let c = parse(MINIMAL, "p.toml", None, &set(&["masking.probability=0.2"])).unwrap();
        assert_eq!(c.masking.probability, 0.2);
        let err = parse(MINIMAL, "p.toml", None, &set(&["masking.probability=2"]))
            .unwrap_err()
            .to_string();
        assert!(err.contains("masking.probability (command line)"), "{err}");
        let err = parse(MINIMAL, "p.toml", None, &set(&["masking.nope=1"]))
            .unwrap_err()
            .to_string();
        assert!(err.contains("nope"), "{err}");
    }

    #[test]
    fn similar_words_need_a_synonym_table() {
        let text =
            format!("{MINIMAL}\n[masking]\nreplacement_unit = 'word'\n[masking.replace]\nmask = 0.0\nsimilar = 0.8\n");
        let err = parse(&text, "p.toml", None, &Overrides::default())
            .unwrap_err()
            .to_string();
        assert!(err.contains("masking.synonyms"), "{err}");
    }

    #[test]
    fn relative_paths_resolve_against_the_file() {
        let c = parse(MINIMAL, "p.toml", Some(Path::new("pipes")), &set(&["output.url=here"])).unwrap();
        assert_eq!(c.sources[0].urls[0], "pipes/corpus/*.txt");
        assert_eq!(c.text.tokenizer.path, "pipes/vocab.txt");
        assert_eq!(c.output.url, "here");
        let c = parse(
            "[[sources]]\nurls=['s3://b/x.jsonl']\n[text]\ntokenizer={path='/abs/v.txt'}\n",
            "p",
            Some(Path::new("d")),
            &Overrides::default(),
        )
        .unwrap();
        assert_eq!(c.sources[0].urls[0], "s3://b/x.jsonl");
        assert_eq!(c.text.tokenizer.path, "/abs/v.txt");
    }

    #[test]
    fn documents_content_has_no_locations_and_no_masking() {
        let a = parse(MINIMAL, "p.toml", Some(Path::new("a")), &Overrides::default()).unwrap();
        let b = parse(MINIMAL, "p.toml", Some(Path::new("b")), &set(&["output.url=s3://x/y"])).unwrap();
        assert_ne!(a, b);
        assert_eq!(a.documents_content_json(), b.documents_content_json());
        assert!(a.documents_content_json()["text"]["tokenizer"].get("path").is_none());
        assert!(a.documents_content_json().get("masking").is_none());
        let masked = parse(MINIMAL, "p.toml", None, &set(&["masking.probability=0.2"])).unwrap();
        assert_eq!(a.documents_content_json(), masked.documents_content_json());
        let kept = parse(MINIMAL, "p.toml", None, &set(&["output.keep_text=true"])).unwrap();
        assert_ne!(a.documents_content_json(), kept.documents_content_json());
    }

    #[test]
    fn sql_options_only_for_tabular_sources() {
        let text = "[[sources]]\nurls = ['c/*.jsonl']\nfilter = 'x > 1'\n[text]\ntokenizer = { path = 'v.txt' }\n";
        let err = parse(text, "p.toml", None, &Overrides::default())
            .unwrap_err()
            .to_string();
        assert!(err.contains("sources.0.filter (line 3)"), "{err}");
    }
}
