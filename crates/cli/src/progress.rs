//! Progress on the terminal: a bar (bytes, documents, rate, ETA) when stderr is a terminal,
//! plain log lines every few seconds otherwise, nothing with `--quiet`. Log records are printed
//! above the bar so they do not tear it.

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::io::IsTerminal;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

/// The bar currently shown, if any, so that log lines can be printed above it.
static ACTIVE_BAR: Mutex<Option<ProgressBar>> = Mutex::new(None);

/// Logs through `ACTIVE_BAR` when a bar is shown.
struct Logger {
    level: log::LevelFilter,
}

impl log::Log for Logger {
    fn enabled(&self, metadata: &log::Metadata) -> bool {
        metadata.level() <= self.level && metadata.target().starts_with("maskforge")
    }

    fn log(&self, record: &log::Record) {
        if !self.enabled(record.metadata()) {
            return;
        }
        let line = match record.level() {
            log::Level::Info => format!("{}", record.args()),
            level => format!("{}: {}", level.as_str().to_lowercase(), record.args()),
        };
        // Every message leaves the process through here or `report_error`: secrets go, and
        // control characters of untrusted names are escaped (one record, one line).
        let line = maskforge_store::printable(&maskforge_store::redact(&line)).into_owned();
        match ACTIVE_BAR.lock().ok().and_then(|b| b.clone()) {
            Some(bar) => bar.suspend(|| eprintln!("{line}")),
            None => eprintln!("{line}"),
        }
    }

    fn flush(&self) {}
}

/// Installs the logger: info and above, or warnings only when quiet. `RUST_LOG=debug` adds more.
pub fn init_logging(quiet: bool) {
    static LOGGER: OnceLock<Logger> = OnceLock::new();
    let level = match std::env::var("RUST_LOG").ok().and_then(|v| v.parse().ok()) {
        Some(level) => level,
        None if quiet => log::LevelFilter::Warn,
        None => log::LevelFilter::Info,
    };
    let logger = LOGGER.get_or_init(|| Logger { level });
    if log::set_logger(logger).is_ok() {
        log::set_max_level(level);
    }
}

/// Prints a failed command's error, its causes and secrets redacted.
pub fn report_error(error: &anyhow::Error) {
    clear();
    eprintln!(
        "error: {}",
        maskforge_store::printable_lines(&maskforge_store::redact(&format!("{error:#}")))
    );
}

/// Prints panics (a bug) through the same redaction as every other message.
pub fn redact_panics() {
    std::panic::set_hook(Box::new(|info| {
        clear();
        eprintln!(
            "maskforge panicked (a bug): {}",
            maskforge_store::printable_lines(&maskforge_store::redact(&info.to_string()))
        );
    }));
}

/// Removes the bar (before an error message).
pub fn clear() {
    if let Some(bar) = ACTIVE_BAR.lock().ok().and_then(|mut b| b.take()) {
        bar.finish_and_clear();
    }
}

/// Reports a job's progress as a bar or as periodic log lines.
pub struct Reporter {
    job: &'static str,
    quiet: bool,
    bar: Mutex<Option<ProgressBar>>,
    total: AtomicU64,
    bytes: AtomicU64,
    documents: AtomicU64,
    started: Mutex<Instant>,
    last_line: Mutex<Instant>,
}

impl Reporter {
    /// A reporter for `job`; silent when `quiet`.
    pub fn new(quiet: bool, job: &'static str) -> Self {
        Self {
            job,
            quiet,
            bar: Mutex::new(None),
            total: AtomicU64::new(0),
            bytes: AtomicU64::new(0),
            documents: AtomicU64::new(0),
            started: Mutex::new(Instant::now()),
            last_line: Mutex::new(Instant::now()),
        }
    }
}

const LOG_EVERY: Duration = Duration::from_secs(10);

impl maskforge_pipeline::Progress for Reporter {
    fn begin(&self, total_bytes: u64) {
        self.total.store(total_bytes, Ordering::Relaxed);
        if let Ok(mut s) = self.started.lock() {
            *s = Instant::now();
        }
        if self.quiet || !std::io::stderr().is_terminal() {
            return;
        }
        let bar = ProgressBar::with_draw_target(Some(total_bytes), ProgressDrawTarget::stderr());
        let style = ProgressStyle::with_template(
            "{prefix} [{bar:30}] {binary_bytes}/{binary_total_bytes} {binary_bytes_per_sec} {msg} ETA {eta}",
        )
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .progress_chars("=> ");
        bar.set_style(style);
        bar.set_prefix(self.job);
        bar.enable_steady_tick(Duration::from_millis(200));
        if let Ok(mut b) = self.bar.lock() {
            *b = Some(bar.clone());
        }
        if let Ok(mut active) = ACTIVE_BAR.lock() {
            *active = Some(bar);
        }
    }

    fn advance(&self, bytes: u64, documents: u64) {
        let done = self.bytes.fetch_add(bytes, Ordering::Relaxed) + bytes;
        let docs = self.documents.fetch_add(documents, Ordering::Relaxed) + documents;
        if let Some(bar) = self.bar.lock().ok().and_then(|b| b.clone()) {
            bar.set_position(done);
            bar.set_message(format!("{docs} docs"));
            return;
        }
        if self.quiet {
            return;
        }
        let Ok(mut last) = self.last_line.lock() else { return };
        if last.elapsed() < LOG_EVERY {
            return;
        }
        *last = Instant::now();
        let elapsed = self
            .started
            .lock()
            .map(|s| s.elapsed().as_secs_f64())
            .unwrap_or(0.0)
            .max(1e-3);
        let total = self.total.load(Ordering::Relaxed);
        let rate = done as f64 / elapsed;
        let eta = if rate > 0.0 {
            (total.saturating_sub(done)) as f64 / rate
        } else {
            0.0
        };
        log::info!(
            "{}: {:.1}/{:.1} MiB ({:.0}%), {docs} documents, {:.2} MiB/s, ETA {:.0}s",
            self.job,
            done as f64 / 1048576.0,
            total as f64 / 1048576.0,
            if total > 0 {
                100.0 * done as f64 / total as f64
            } else {
                100.0
            },
            rate / 1048576.0,
            eta
        );
    }

    fn end(&self) {
        if let Some(bar) = self.bar.lock().ok().and_then(|mut b| b.take()) {
            bar.finish_and_clear();
        }
        clear();
    }
}
