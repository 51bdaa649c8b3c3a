//! `--set key.path=value` overrides applied to the parsed TOML table before it is typed.

use crate::ConfigError;
use toml::{Table, Value};

/// Splits `key.path=value` and sets the value in `table`, creating tables on the way, and returns
/// the dotted key. Array elements are addressed by index (`sources.0.filter`). The value is read
/// as a TOML value (`0.2`, `true`, `["a", "b"]`, `"quoted"`) and otherwise taken as a plain string.
pub fn apply_override(table: &mut Table, expr: &str) -> Result<String, ConfigError> {
    let fail = |message: String| ConfigError::Override {
        expr: expr.to_owned(),
        message,
    };
    let (key, raw) = expr.split_once('=').ok_or_else(|| fail("expected KEY=VALUE".into()))?;
    let key = key.trim();
    let parts: Vec<&str> = key.split('.').collect();
    if parts.iter().any(|p| p.is_empty()) {
        return Err(fail(format!("`{key}` has an empty segment")));
    }
    set_in_table(table, &parts, parse_value(raw.trim())).map_err(fail)?;
    Ok(key.to_owned())
}

fn set_in_table(table: &mut Table, parts: &[&str], value: Value) -> Result<(), String> {
    match parts {
        [] => Err("empty key".into()),
        [last] => {
            table.insert((*last).to_owned(), value);
            Ok(())
        }
        [first, rest @ ..] => {
            let child = table
                .entry((*first).to_owned())
                .or_insert_with(|| Value::Table(Table::new()));
            set_in_value(child, first, rest, value)
        }
    }
}

fn set_in_value(current: &mut Value, name: &str, parts: &[&str], value: Value) -> Result<(), String> {
    match current {
        Value::Table(t) => set_in_table(t, parts, value),
        Value::Array(items) => {
            let len = items.len();
            let (index, rest) = parts.split_first().ok_or("empty key")?;
            let slot = index
                .parse::<usize>()
                .ok()
                .and_then(|i| items.get_mut(i))
                .ok_or_else(|| format!("`{name}` has {len} elements; `{index}` is not one of its indexes"))?;
            if rest.is_empty() {
                *slot = value;
                Ok(())
            } else {
                set_in_value(slot, index, rest, value)
            }
        }
        _ => Err(format!("`{name}` is a value, not a table")),
    }
}

fn parse_value(raw: &str) -> Value {
    match format!("v = {raw}").parse::<Table>() {
        Ok(mut t) => t.remove("v").unwrap_or_else(|| Value::String(raw.to_owned())),
        Err(_) => Value::String(raw.to_owned()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table(text: &str) -> Table {
        text.parse().expect("test TOML parses")
    }

    #[test]
    fn sets_nested_and_array_values_with_toml_types() {
        let mut t = table("[masking]\nprobability = 0.15\n[[sources]]\nurls = ['a']\n");
        apply_override(&mut t, "masking.probability=0.2").unwrap();
        apply_override(&mut t, "sources.0.filter=length(text) > 3").unwrap();
        apply_override(&mut t, "output.keep_text=true").unwrap();
        assert_eq!(t["masking"]["probability"].as_float(), Some(0.2));
        assert_eq!(t["sources"][0]["filter"].as_str(), Some("length(text) > 3"));
        assert_eq!(t["output"]["keep_text"].as_bool(), Some(true));
    }

    #[test]
    fn rejects_missing_equals_and_bad_index() {
        let mut t = table("[[sources]]\nurls = ['a']\n");
        assert!(apply_override(&mut t, "seed").is_err());
        let err = apply_override(&mut t, "sources.3.filter=x").unwrap_err().to_string();
        assert!(err.contains("has 1 elements"), "{err}");
        assert!(apply_override(&mut t, "a..b=1").is_err());
    }
}
