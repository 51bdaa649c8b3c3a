//! Bar charts as inline SVG, drawn from numbers alone (no script, no fonts or files to fetch).
//! Every bar carries its exact number (`data-label`, `data-value`, and a tooltip), so a reader
//! or a test can check the chart against the manifest it came from.

use super::page::escape;

/// One series of a chart: a value per label.
pub struct Series {
    /// Its name in the legend and in `data-series`.
    pub name: String,
    /// One value per label of the chart.
    pub values: Vec<f64>,
}

/// Bar colours, one per series.
const COLOURS: [&str; 6] = ["#3b6ea8", "#e0803a", "#4e9a5b", "#b84a62", "#7d5fb2", "#8c8c8c"];

const WIDTH: f64 = 720.0;
const PLOT_TOP: f64 = 36.0;
const PLOT_HEIGHT: f64 = 200.0;
const LEFT: f64 = 60.0;
const BOTTOM: f64 = 70.0;

/// A grouped bar chart: a group of bars per label, one bar per series; values labelled above
/// the bars when they fit.
pub fn bars(title: &str, labels: &[String], series: &[Series]) -> String {
    let max = series
        .iter()
        .flat_map(|s| s.values.iter().copied())
        .fold(0.0f64, f64::max);
    let scale = if max > 0.0 { PLOT_HEIGHT / max } else { 0.0 };
    let groups = labels.len().max(1) as f64;
    let group_width = (WIDTH - LEFT - 10.0) / groups;
    let bar_width = (group_width * 0.8 / series.len().max(1) as f64).max(1.0);
    let height = PLOT_TOP + PLOT_HEIGHT + BOTTOM;
    let mut svg = format!(
        r#"<svg class="chart" data-chart="{t}" role="img" viewBox="0 0 {WIDTH} {height}" width="{WIDTH}" height="{height}" xmlns="http://www.w3.org/2000/svg"><title>{t}</title>"#,
        t = escape(title)
    );
    svg.push_str(&format!(
        r##"<text x="{LEFT}" y="16" font-size="13" font-weight="bold" fill="#222">{}</text>"##,
        escape(title)
    ));
    let baseline = PLOT_TOP + PLOT_HEIGHT;
    svg.push_str(&format!(
        r##"<line x1="{LEFT}" y1="{baseline}" x2="{}" y2="{baseline}" stroke="#444"/>"##,
        WIDTH - 10.0
    ));
    svg.push_str(&format!(
        r##"<text x="{}" y="{}" font-size="11" text-anchor="end" fill="#444">{}</text>"##,
        LEFT - 6.0,
        PLOT_TOP + 4.0,
        format_value(max)
    ));
    let show_values = bar_width >= 24.0;
    for (g, label) in labels.iter().enumerate() {
        let group_x = LEFT + g as f64 * group_width + group_width * 0.1;
        for (s, one) in series.iter().enumerate() {
            let value = one.values.get(g).copied().unwrap_or(0.0);
            let bar_height = value * scale;
            let x = group_x + s as f64 * bar_width;
            let y = baseline - bar_height;
            svg.push_str(&format!(
                r#"<g class="bar" data-series="{series}" data-label="{label}" data-value="{exact}"><title>{label} ({series}): {shown}</title><rect x="{x:.1}" y="{y:.1}" width="{w:.1}" height="{bar_height:.1}" fill="{colour}"/>"#,
                series = escape(&one.name),
                label = escape(label),
                exact = exact_value(value),
                shown = format_value(value),
                w = (bar_width - 1.0).max(0.5),
                colour = COLOURS[s % COLOURS.len()],
            ));
            if show_values {
                svg.push_str(&format!(
                    r##"<text x="{:.1}" y="{:.1}" font-size="10" text-anchor="middle" fill="#222">{}</text>"##,
                    x + bar_width / 2.0,
                    y - 3.0,
                    format_value(value)
                ));
            }
            svg.push_str("</g>");
        }
        // Labels turn when there are many.
        let label_x = LEFT + (g as f64 + 0.5) * group_width;
        let label_y = baseline + 14.0;
        let turn = if labels.len() > 8 {
            format!(r#" transform="rotate(-45 {label_x:.1} {label_y:.1})" text-anchor="end""#)
        } else {
            r#" text-anchor="middle""#.to_owned()
        };
        svg.push_str(&format!(
            r##"<text x="{label_x:.1}" y="{label_y:.1}" font-size="11" fill="#222"{turn}>{}</text>"##,
            escape(label)
        ));
    }
    if series.len() > 1 {
        for (s, one) in series.iter().enumerate() {
            let x = LEFT + s as f64 * 180.0;
            let y = height - 12.0;
            svg.push_str(&format!(
                r##"<rect x="{x}" y="{}" width="10" height="10" fill="{}"/><text x="{}" y="{y}" font-size="11" fill="#222">{}</text>"##,
                y - 9.0,
                COLOURS[s % COLOURS.len()],
                x + 14.0,
                escape(&one.name)
            ));
        }
    }
    svg.push_str("</svg>");
    svg
}

/// A value as shown: whole numbers with thousands separators, fractions with four digits.
pub fn format_value(value: f64) -> String {
    if value.fract() == 0.0 && value.abs() < 1e15 {
        let digits = format!("{}", value.abs() as u64);
        let mut out = String::new();
        for (i, c) in digits.chars().enumerate() {
            if i > 0 && (digits.len() - i).is_multiple_of(3) {
                out.push(',');
            }
            out.push(c);
        }
        if value < 0.0 { format!("-{out}") } else { out }
    } else {
        format!("{value:.4}")
    }
}

/// A value exactly, for `data-value`: integers without a fraction.
fn exact_value(value: f64) -> String {
    if value.fract() == 0.0 && value.abs() < 1e15 {
        format!("{}", value as i64)
    } else {
        format!("{value}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_bar_carries_its_exact_value_and_labels_are_escaped() {
        let svg = bars(
            "pairs <&>",
            &["next".to_owned(), "a\"b".to_owned()],
            &[Series {
                name: "train".to_owned(),
                values: vec![3371.0, 0.25],
            }],
        );
        assert!(svg.contains(r#"data-label="next" data-value="3371""#), "{svg}");
        assert!(svg.contains(r#"data-label="a&quot;b" data-value="0.25""#), "{svg}");
        assert!(svg.contains("pairs &lt;&amp;&gt;"));
        assert!(!svg.contains("<&>"));
    }

    #[test]
    fn values_read_as_people_write_them() {
        assert_eq!(format_value(1234567.0), "1,234,567");
        assert_eq!(format_value(64.0), "64");
        assert_eq!(format_value(0.148909), "0.1489");
        assert_eq!(format_value(0.0), "0");
    }
}
