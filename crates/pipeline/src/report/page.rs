//! The HTML around the charts: one self-contained page (inline style, no script, nothing
//! fetched), sections, and tables of numbers.

use super::svg::format_value;

/// Text made safe for HTML content and attribute values.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// A page being written: sections of headings, tables and charts.
pub struct Page {
    body: String,
}

impl Page {
    /// An empty page.
    pub fn new() -> Self {
        Self { body: String::new() }
    }

    /// A section heading (`level` 2 or 3).
    pub fn heading(&mut self, level: u8, text: &str) {
        self.body.push_str(&format!("<h{level}>{}</h{level}>\n", escape(text)));
    }

    /// A paragraph of plain text.
    pub fn paragraph(&mut self, text: &str) {
        self.body.push_str(&format!("<p>{}</p>\n", escape(text)));
    }

    /// A two-column table of named numbers or words (`data-key` on each row).
    pub fn facts(&mut self, rows: &[(&str, Fact)]) {
        self.body.push_str("<table class=\"facts\">\n");
        for (key, value) in rows {
            let shown = match value {
                Fact::Number(n) => format_value(*n),
                Fact::Text(t) => t.clone(),
            };
            self.body.push_str(&format!(
                "<tr data-key=\"{k}\"><th>{k}</th><td>{}</td></tr>\n",
                escape(&shown),
                k = escape(key)
            ));
        }
        self.body.push_str("</table>\n");
    }

    /// A table with a header row; cells are text.
    pub fn table(&mut self, header: &[&str], rows: &[Vec<String>]) {
        self.body.push_str("<table class=\"grid\">\n<tr>");
        for cell in header {
            self.body.push_str(&format!("<th>{}</th>", escape(cell)));
        }
        self.body.push_str("</tr>\n");
        for row in rows {
            self.body.push_str("<tr>");
            for cell in row {
                self.body.push_str(&format!("<td>{}</td>", escape(cell)));
            }
            self.body.push_str("</tr>\n");
        }
        self.body.push_str("</table>\n");
    }

    /// A chart (SVG from [`super::svg`]) with a caption.
    pub fn chart(&mut self, svg: &str, caption: &str) {
        self.body.push_str(&format!(
            "<figure>{svg}<figcaption>{}</figcaption></figure>\n",
            escape(caption)
        ));
    }

    /// The whole page.
    pub fn finish(self, title: &str) -> String {
        format!(
            "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
             <meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'; img-src data:\">\
             <title>{t}</title><style>{STYLE}</style></head>\n<body>\n<h1>{t}</h1>\n{}</body></html>\n",
            self.body,
            t = escape(title)
        )
    }
}

/// A value of a facts table.
pub enum Fact {
    /// A count or a fraction.
    Number(f64),
    /// Words (a URL, a hash, a strategy).
    Text(String),
}

const STYLE: &str = "body{font-family:sans-serif;margin:2em auto;max-width:780px;color:#222;background:#fff}\
h2{border-bottom:1px solid #ccc;margin-top:2em}table{border-collapse:collapse;margin:.5em 0}\
th,td{border:1px solid #ddd;padding:2px 8px;text-align:left;font-size:13px}\
td{font-variant-numeric:tabular-nums}figure{margin:1em 0}figcaption{font-size:12px;color:#555}";
