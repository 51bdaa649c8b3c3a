//! `maskforge report` in a real headless browser (Debian's `chromium`): a MacBERT run over two
//! real Chinese sources and two epochs renders to a page whose screenshot is not blank and whose
//! charts, read back from the browser's DOM, hold the manifests' numbers. Also: nothing is
//! fetched, a hostile source name stays text, and a failed report keeps the earlier page.

mod common;

use common::*;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

/// The browser: Debian's `chromium` (scripts/test.sh installs it).
fn chromium() -> String {
    for name in ["chromium", "chromium-browser", "google-chrome"] {
        if Command::new(name)
            .arg("--version")
            .output()
            .is_ok_and(|o| o.status.success())
        {
            return name.to_owned();
        }
    }
    panic!("no chromium: scripts/test.sh installs Debian's chromium package");
}

/// Runs headless chromium on `page` with `mode` (`--dump-dom` or `--screenshot=PATH`), in a
/// fresh profile and with no network; returns stdout.
fn headless(page: &Path, mode: &str, profile: &Path) -> String {
    let out = Command::new("timeout")
        .arg("180")
        .arg(chromium())
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--proxy-server=127.0.0.1:9",
            "--window-size=900,6000",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .arg(mode)
        .arg(format!("file://{}", page.display()))
        .output()
        .expect("run chromium");
    assert!(
        out.status.success(),
        "chromium failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// An attribute's value in one tag's text, its character references undone.
fn attribute(tag: &str, name: &str) -> Option<String> {
    let start = tag.find(&format!(" {name}=\""))? + name.len() + 3;
    let raw = tag[start..].split('"').next()?;
    Some(
        raw.replace("&lt;", "<")
            .replace("&gt;", ">")
            .replace("&quot;", "\"")
            .replace("&#39;", "'")
            .replace("&amp;", "&"),
    )
}

/// The bars of the DOM by section (`<h2>` text), then chart title, then series and label:
/// their `data-value`s.
type Bars = BTreeMap<String, BTreeMap<String, BTreeMap<(String, String), f64>>>;

fn read_bars(dom: &str) -> Bars {
    let mut bars = Bars::new();
    for section in dom.split("<h2>").skip(1) {
        let heading = section.split("</h2>").next().unwrap().to_owned();
        let charts = bars.entry(heading).or_default();
        for chart in section.split("<svg ").skip(1) {
            let title = attribute(chart, "data-chart").unwrap();
            let values = charts.entry(title).or_default();
            for bar in chart.split("<g class=\"bar\"").skip(1) {
                let tag = bar.split('>').next().unwrap();
                let key = (
                    attribute(tag, "data-series").unwrap(),
                    attribute(tag, "data-label").unwrap(),
                );
                values.insert(key, attribute(tag, "data-value").unwrap().parse().unwrap());
            }
        }
    }
    bars
}

/// A chart's bars of one series as label -> value.
fn series(bars: &Bars, section: &str, chart: &str, name: &str) -> BTreeMap<String, f64> {
    let (_, charts) = bars
        .iter()
        .find(|(heading, _)| heading.starts_with(section))
        .unwrap_or_else(|| panic!("no section {section}: {:?}", bars.keys()));
    let chart = charts
        .get(chart)
        .unwrap_or_else(|| panic!("no chart {chart} in {section}: {:?}", charts.keys()));
    chart
        .iter()
        .filter(|((s, _), _)| s == name)
        .map(|((_, label), v)| (label.clone(), *v))
        .collect()
}

/// A manifest map of counts as label -> value, labels made by `label`.
fn counts(map: &serde_json::Value, label: impl Fn(&str) -> String) -> BTreeMap<String, f64> {
    map.as_object()
        .unwrap()
        .iter()
        .map(|(k, v)| (label(k), v.as_f64().unwrap()))
        .collect()
}

/// The share of pixels that are not white, and whether both bar colours occur.
fn screenshot_ink(png_path: &Path) -> (f64, bool, bool) {
    let decoder = png::Decoder::new(std::io::BufReader::new(std::fs::File::open(png_path).unwrap()));
    let mut reader = decoder.read_info().unwrap();
    let mut pixels = vec![0; reader.output_buffer_size().unwrap()];
    let info = reader.next_frame(&mut pixels).unwrap();
    let channels = info.color_type.samples();
    assert_eq!(info.bit_depth, png::BitDepth::Eight);
    let (mut ink, mut blue, mut orange) = (0usize, false, false);
    let total = (info.width * info.height) as usize;
    for px in pixels[..info.buffer_size()].chunks(channels) {
        let (r, g, b) = (px[0], px[1], px[2]);
        if (r, g, b) != (255, 255, 255) {
            ink += 1;
        }
        blue |= (r, g, b) == (0x3b, 0x6e, 0xa8);
        orange |= (r, g, b) == (0xe0, 0x80, 0x3a);
    }
    (ink as f64 / total as f64, blue, orange)
}

#[test]
fn the_report_renders_in_chromium_and_its_charts_hold_the_manifests_numbers() {
    let tmp = tempfile::tempdir().unwrap();
    let inputs = tmp.path().join("in");
    std::fs::create_dir_all(&inputs).unwrap();
    // A source name that is markup: it must stay text in the page.
    let hostile = "evil<script>alert(1)&amp;.txt";
    std::fs::copy(corpora().join("zh/fortunes-zh.txt"), inputs.join(hostile)).unwrap();
    std::fs::copy(
        corpora().join("zh/debian-reference-zh-cn.txt"),
        inputs.join("debian-reference-zh-cn.txt"),
    )
    .unwrap();
    let out = tmp.path().join("out");
    maskforge_ok(&[
        "run",
        &pipeline("macbert-zh.toml"),
        "--input",
        &format!("{}/*.txt", inputs.display()),
        "--output",
        out.to_str().unwrap(),
        "--epochs",
        "2",
        "--set",
        "output.validation_fraction=0.05",
        "--quiet",
    ]);
    let page = tmp.path().join("report.html");
    let (documents, e0, e1) = (out.join("documents"), out.join("epochs/0"), out.join("epochs/1"));
    let args: Vec<&str> = [
        "report",
        documents.to_str().unwrap(),
        e0.to_str().unwrap(),
        e1.to_str().unwrap(),
    ]
    .to_vec();
    let mut with_out = args.clone();
    with_out.extend(["--out", page.to_str().unwrap()]);
    maskforge_ok(&with_out);

    // Self-contained: no script, nothing to fetch (the SVG namespace is a name, not a fetch).
    let html = std::fs::read_to_string(&page).unwrap();
    let lower = html.to_ascii_lowercase();
    for banned in ["<script", "<link", " src=", "url(", "@import"] {
        assert!(!lower.contains(banned), "the page holds {banned}");
    }
    assert_eq!(
        lower.matches("http").count(),
        lower.matches("xmlns=\"http://www.w3.org/2000/svg\"").count() + 1,
        "only the SVG namespace and the Content-Security-Policy mention http"
    );
    assert!(
        html.contains("evil&lt;script&gt;alert(1)&amp;amp;.txt"),
        "the hostile source name is shown as text"
    );

    let profile = tempfile::tempdir().unwrap();
    let dom = headless(&page, "--dump-dom", profile.path());
    assert!(!dom.contains("<script"), "the browser built no script element");
    let bars = read_bars(&dom);

    // Documents: skips by reason, documents and tokens per source, against the manifest.
    let dm = manifest(&documents);
    let skipped = series(&bars, "Documents", "skipped records by reason", "records");
    for (reason, count) in counts(&dm["counts"]["skipped"], str::to_owned) {
        assert_eq!(skipped[&reason], count, "{reason}");
    }
    assert_eq!(skipped.len(), 9, "every reason has a bar, zero or not");
    let per_source = series(&bars, "Documents", "documents per source", "documents");
    assert_eq!(
        per_source.keys().cloned().collect::<Vec<_>>(),
        vec!["debian-reference-zh-cn.txt".to_owned(), hostile.to_owned()]
    );
    assert_eq!(
        per_source.values().sum::<f64>(),
        dm["counts"]["documents_out"].as_f64().unwrap()
    );
    let tokens = series(&bars, "Documents", "tokens per source", "tokens");
    assert_eq!(tokens.values().sum::<f64>(), dm["counts"]["tokens"].as_f64().unwrap());
    let lengths = series(&bars, "Documents", "document lengths", "documents");
    assert_eq!(
        lengths.values().sum::<f64>(),
        dm["counts"]["documents_out"].as_f64().unwrap()
    );

    // Each epoch: every chart against its manifest's statistics.
    let mut rates = Vec::new();
    for (n, epoch) in [(0, &e0), (1, &e1)] {
        let m = manifest(epoch);
        let stats = &m["stats"];
        let section = format!("Epoch {n}:");
        let le = |k: &str| format!("≤{k}");
        assert_eq!(
            series(&bars, &section, "example lengths", "examples"),
            counts(&stats["length_histogram"], le)
        );
        assert_eq!(
            series(&bars, &section, "mask kinds", "positions"),
            counts(&stats["replacement"], str::to_owned)
        );
        assert_eq!(
            series(&bars, &section, "pair types", "examples"),
            counts(&stats["pair_types"], str::to_owned)
        );
        assert_eq!(
            series(&bars, &section, "similar-word fallbacks", "replacements"),
            counts(&stats["similar_fallbacks"], str::to_owned)
        );
        assert!(
            !stats["similar_fallbacks"].as_object().unwrap().is_empty(),
            "MacBERT falls back somewhere"
        );
        let units = series(&bars, &section, "masking units by length in words", "units");
        for (length, count) in counts(&stats["ngram_lengths"], str::to_owned) {
            assert_eq!(units[&length], count, "{length}-word units");
        }
        let weights: Vec<f64> = m["spec"]["masking"]["ngram_weights"]
            .as_array()
            .unwrap()
            .iter()
            .map(|w| w.as_f64().unwrap())
            .collect();
        let total: f64 = weights.iter().sum();
        let configured = series(
            &bars,
            &section,
            "n-gram lengths against the configured weights",
            "configured weight",
        );
        for (i, w) in weights.iter().enumerate() {
            assert!((configured[&(i + 1).to_string()] - w / total).abs() < 1e-12);
        }
        let mixture = series(&bars, &section, "sources: the mixture", "share of the tokens");
        for (i, source) in stats["sources"].as_array().unwrap().iter().enumerate() {
            assert_eq!(mixture[&format!("source {i}")], source["share"].as_f64().unwrap());
        }
        rates.push(stats["mask_rate"].as_f64().unwrap());
        // The facts table shows the counts too.
        let examples = stats["examples"].as_u64().unwrap();
        let shown = format!(
            "<tr data-key=\"examples\"><th>examples</th><td>{}</td></tr>",
            thousands(examples)
        );
        assert!(dom.contains(&shown), "{shown}");
    }
    let across = series(&bars, "Across epochs", "mask rate per epoch", "mask rate");
    assert_eq!(across["epoch 0"], rates[0]);
    assert_eq!(across["epoch 1"], rates[1]);

    // The page renders: a screenshot with ink, in the charts' colours.
    let shot = tmp.path().join("report.png");
    headless(&page, &format!("--screenshot={}", shot.display()), profile.path());
    let (ink, blue, orange) = screenshot_ink(&shot);
    assert!(
        ink > 0.02,
        "the screenshot is almost blank ({:.4} of pixels not white)",
        ink
    );
    assert!(blue && orange, "the bars are drawn (blue {blue}, orange {orange})");

    // A failed report (a damaged manifest) names the file and keeps the earlier page.
    let damaged = tmp.path().join("damaged");
    std::fs::create_dir_all(&damaged).unwrap();
    std::fs::write(
        damaged.join("manifest.json"),
        "{\"schema_version\": \"maskforge.examples/",
    )
    .unwrap();
    let before = std::fs::read(&page).unwrap();
    let error = maskforge_err(&["report", damaged.to_str().unwrap(), "--out", page.to_str().unwrap()]);
    assert!(error.contains("manifest.json"), "{error}");
    assert_eq!(std::fs::read(&page).unwrap(), before);
    // Never into a dataset's folder (it would sit among, or replace, the dataset's files).
    for inside in [
        e0.join("report.html"),
        e0.join("manifest.json"),
        documents.join("validation/r.html"),
    ] {
        std::fs::create_dir_all(inside.parent().unwrap()).unwrap();
        let error = maskforge_err(&[
            "report",
            e0.to_str().unwrap(),
            documents.to_str().unwrap(),
            "--out",
            inside.to_str().unwrap(),
        ]);
        assert!(error.contains("inside the dataset"), "{error}");
    }
    assert_eq!(manifest(&e0)["epoch"], 0);
    assert!(!e0.join("report.html").exists());
    // Only a new path or a regular file is written: a device, a FIFO, a socket, a folder or a
    // link to one is refused and left as it was (never renamed over).
    let specials = tmp.path().join("specials");
    std::fs::create_dir_all(&specials).unwrap();
    let fifo = specials.join("fifo");
    assert!(
        std::process::Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap()
            .success()
    );
    let socket = specials.join("socket");
    let _listener = std::os::unix::net::UnixListener::bind(&socket).unwrap();
    let mut refused = vec![
        (fifo.clone(), "is a FIFO"),
        (socket, "is a socket"),
        (specials.clone(), "is a folder"),
    ];
    // A character device node of our own (the full device's numbers) where mknod is allowed
    // (root, as in CI); /dev itself is never a test target.
    let device = specials.join("full");
    if std::process::Command::new("mknod")
        .arg(&device)
        .args(["c", "1", "7"])
        .status()
        .is_ok_and(|s| s.success())
    {
        refused.push((device.clone(), "is a character device"));
        let link = specials.join("link-to-device");
        std::os::unix::fs::symlink(&device, &link).unwrap();
        refused.push((link, "a character device, not a regular file"));
    } else {
        eprintln!("mknod is not allowed here: the character-device case is not run");
    }
    let dangling = specials.join("dangling");
    std::os::unix::fs::symlink(specials.join("nothing"), &dangling).unwrap();
    refused.push((dangling, "a symbolic link to nothing"));
    for (path, what) in &refused {
        let kind_before = std::fs::symlink_metadata(path).unwrap().file_type();
        let error = maskforge_err(&["report", e0.to_str().unwrap(), "--out", path.to_str().unwrap()]);
        assert!(
            error.contains(what) && error.contains("--out"),
            "{}: {error}",
            path.display()
        );
        assert_eq!(std::fs::symlink_metadata(path).unwrap().file_type(), kind_before);
    }
    // A link to a regular file writes the file it names, and keeps the link.
    let real = specials.join("real.html");
    std::fs::write(&real, "old").unwrap();
    let link = specials.join("link.html");
    std::os::unix::fs::symlink(&real, &link).unwrap();
    maskforge_ok(&["report", e0.to_str().unwrap(), "--out", link.to_str().unwrap()]);
    assert!(std::fs::symlink_metadata(&link).unwrap().file_type().is_symlink());
    assert!(std::fs::read_to_string(&real).unwrap().contains("<svg"));

    let nowhere = PathBuf::from(tmp.path()).join("no/such/folder/report.html");
    let error = maskforge_err(&["report", e0.to_str().unwrap(), "--out", nowhere.to_str().unwrap()]);
    assert!(error.contains("no/such/folder"), "{error}");
    assert_eq!(
        std::fs::read_dir(tmp.path())
            .unwrap()
            .filter(|e| e.as_ref().unwrap().file_name().to_string_lossy().starts_with(".tmp"))
            .count(),
        0
    );
}

/// `n` with thousands separators, as the page shows counts.
fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}
