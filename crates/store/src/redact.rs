//! Secret redaction: the one function every message of maskforge passes through before it is
//! printed (the binaries' logger, error report and panic hook call it), and that storage errors
//! apply as they are made.
//!
//! Three kinds of secret are replaced by `***`:
//! - the value of every credential variable of the environment: any `AWS_*`, `AZURE_*`,
//!   `GOOGLE_*`, `GCS_*`, `GCP_*` or `OBJECT_STORE_*` variable whose name says it holds a key,
//!   secret, token, password, signature, SAS or credential (object_store reads them all);
//! - the user information of URLs (`s3://user:pass@bucket/...` becomes `s3://***@bucket/...`);
//! - the values of credential headers and query parameters that a server may echo back
//!   (`x-amz-security-token`, `X-Amz-Credential`, `X-Amz-Signature`, `Authorization`, a SAS
//!   `sig=`, `access_key`, ...).

/// Prefixes of the variables that cloud clients read credentials from.
const CLOUD_PREFIXES: [&str; 6] = ["AWS_", "AZURE_", "GOOGLE_", "GCS_", "GCP_", "OBJECT_STORE_"];
/// Words in a variable name that mark its value as a secret.
const SECRET_WORDS: [&str; 8] = [
    "KEY",
    "SECRET",
    "TOKEN",
    "PASSWORD",
    "SIGNATURE",
    "SAS",
    "CREDENTIAL",
    "AUTH",
];
/// Names of headers and query parameters whose values are secrets (compared case-insensitively).
const SECRET_FIELDS: [&str; 14] = [
    "x-amz-security-token",
    "x-amz-credential",
    "x-amz-signature",
    "authorization",
    "x-ms-authorization",
    "proxy-authorization",
    "sig",
    "signature",
    "access_key",
    "secret_key",
    "aws_access_key_id",
    "aws_secret_access_key",
    "token",
    "password",
];

/// Whether an environment variable of this name holds a credential.
pub fn is_secret_variable(name: &str) -> bool {
    let upper = name.to_ascii_uppercase();
    CLOUD_PREFIXES.iter().any(|p| upper.starts_with(p)) && SECRET_WORDS.iter().any(|w| upper.contains(w))
}

/// `text` with every secret replaced by `***`.
pub fn redact(text: &str) -> String {
    let mut out = text.to_owned();
    let mut values: Vec<String> = std::env::vars_os()
        .filter_map(|(name, value)| {
            let (name, value) = (name.into_string().ok()?, value.into_string().ok()?);
            (is_secret_variable(&name) && value.trim().len() >= 4).then(|| value.trim().to_owned())
        })
        .collect();
    // Longest first, so that a secret containing another is replaced whole.
    values.sort_by_key(|v| std::cmp::Reverse(v.len()));
    for value in values {
        out = out.replace(&value, "***");
    }
    redact_fields(&redact_userinfo(&out))
}

/// Replaces the user information of every `scheme://user[:password]@host` in `text`.
fn redact_userinfo(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find("://") {
        let (before, after) = rest.split_at(at + 3);
        out.push_str(before);
        // The authority ends at the first '/', whitespace, quote or bracket; userinfo before '@'.
        let end = after
            .find(|c: char| c == '/' || c.is_whitespace() || matches!(c, '"' | '\'' | '`' | '<' | '>' | ')'))
            .unwrap_or(after.len());
        match after[..end].rfind('@') {
            Some(at_sign) if at_sign > 0 => {
                out.push_str("***");
                rest = &after[at_sign..];
            }
            _ => rest = after,
        }
    }
    out.push_str(rest);
    out
}

/// Replaces the value after `name=`, `name: ` or `"name":"` for every secret field name.
fn redact_fields(text: &str) -> String {
    let lower = text.to_ascii_lowercase();
    let bytes = text.as_bytes();
    let mut cuts: Vec<(usize, usize)> = Vec::new();
    for field in SECRET_FIELDS {
        let mut from = 0;
        while let Some(found) = lower[from..].find(field) {
            let start = from + found;
            from = start + field.len();
            // Whole names only: `sig` must not match inside `signal`.
            let before_ok = start == 0 || !is_name_byte(bytes[start - 1]);
            let mut i = start + field.len();
            if !before_ok || (i < bytes.len() && is_name_byte(bytes[i])) {
                continue;
            }
            // Separator: optional closing quote, then '=' or ':', then spaces and quotes.
            if i < bytes.len() && bytes[i] == b'"' {
                i += 1;
            }
            if i >= bytes.len() || !matches!(bytes[i], b'=' | b':') {
                continue;
            }
            i += 1;
            while i < bytes.len() && matches!(bytes[i], b' ' | b'"' | b'\'') {
                i += 1;
            }
            // "Authorization: AWS4-HMAC-SHA256 Credential=..., Signature=..." is one value.
            let multi_word = field.ends_with("authorization");
            let value_start = i;
            while i < bytes.len() && !ends_value(bytes[i], multi_word) {
                i += 1;
            }
            if i > value_start {
                cuts.push((value_start, i));
            }
        }
    }
    if cuts.is_empty() {
        return text.to_owned();
    }
    cuts.sort();
    let mut out = String::with_capacity(text.len());
    let mut at = 0;
    for (start, end) in cuts {
        if start < at {
            at = at.max(end);
            continue;
        }
        out.push_str(&text[at..start]);
        out.push_str("***");
        at = end;
    }
    out.push_str(&text[at..]);
    out
}

fn is_name_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_' || b == b'-'
}

fn ends_value(b: u8, multi_word: bool) -> bool {
    match b {
        b'&' | b'"' | b'\'' | b'<' | b'\n' | b'\r' | b';' => true,
        b' ' | b'\t' | b',' => !multi_word,
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_of_credential_variables() {
        for name in [
            "AWS_SECRET_ACCESS_KEY",
            "AWS_SESSION_TOKEN",
            "AWS_TOKEN",
            "AWS_ACCESS_KEY_ID",
            "AZURE_STORAGE_TOKEN",
            "AZURE_STORAGE_SAS_TOKEN",
            "AZURE_STORAGE_CLIENT_SECRET",
            "AZURE_STORAGE_ACCOUNT_KEY",
            "AZURE_FEDERATED_TOKEN",
            "GOOGLE_SERVICE_ACCOUNT_KEY",
        ] {
            assert!(is_secret_variable(name), "{name}");
        }
        for name in [
            "AWS_REGION",
            "AWS_ENDPOINT_URL",
            "AZURE_STORAGE_ACCOUNT_NAME",
            "HOME",
            "KEY",
        ] {
            assert!(!is_secret_variable(name), "{name}");
        }
    }

    #[test]
    fn userinfo_is_removed_from_every_url() {
        assert_eq!(
            redact_userinfo("reading s3://user:pa:ss@bucket/a@b.txt and https://tok@h:9/x, file:///a@b"),
            "reading s3://***@bucket/a@b.txt and https://***@h:9/x, file:///a@b"
        );
        assert_eq!(redact_userinfo("no url here @ all"), "no url here @ all");
    }

    #[test]
    fn echoed_headers_and_query_parameters_lose_their_values() {
        let echoed = "GET /b/k?X-Amz-Credential=AKIAXYZ%2F2026&X-Amz-Signature=deadbeef&part=1 \
                      x-amz-security-token: FwoGZXIvYXdz \"Authorization\":\"AWS4-HMAC-SHA256 Credential=AKIAXYZ/x, Signature=abc\" \
                      sv=2021&sig=c2VjcmV0 signal=ok";
        let out = redact_fields(echoed);
        for secret in ["AKIAXYZ", "deadbeef", "FwoGZXIvYXdz", "abc\"", "c2VjcmV0"] {
            assert!(!out.contains(secret), "{secret} in {out}");
        }
        assert!(
            out.contains("part=1") && out.contains("signal=ok") && out.contains("sv=2021"),
            "{out}"
        );
    }
}
