//! `maskforge`: turns raw text corpora into BERT-family pretraining data.

mod output_file;
mod progress;

use anyhow::{Context, Result};
use clap::{Args, Parser, Subcommand};
use maskforge_config::{Overrides, PipelineConfig};
use maskforge_pipeline::{EpochOptions, PrepareOptions, PrepareReport, Split, Workers, prepare, run_epoch};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

#[derive(Parser)]
#[command(
    name = "maskforge",
    version,
    about = "Pretraining data for BERT-family models: prepare documents, then mask epochs"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Read the corpus and write the tokenized documents dataset to <output>/documents/.
    Prepare(JobArgs),
    /// Build epoch E from <output>/documents/: pairs, fresh masks, global shuffle, into <output>/epochs/E/.
    Epoch {
        #[command(flatten)]
        job: JobArgs,
        /// The epoch to build (a plain integer; masks are keyed on it).
        #[arg(long, value_name = "E", required_unless_present = "next", conflicts_with = "next")]
        epoch: Option<u32>,
        /// Build the first epoch that has no manifest yet (for scheduled reshuffles; one process).
        #[arg(long)]
        next: bool,
        /// With several workers: how long to wait for units that other workers claimed before
        /// giving up (a rerun of a stopped worker takes its units back).
        #[arg(long, value_name = "SECONDS", default_value_t = 3600)]
        wait_secs: u64,
    },
    /// Print the first epoch that has no manifest yet, so that a scheduler can hand the same
    /// `--epoch E` to every worker.
    NextEpoch(JobArgs),
    /// Run prepare, then epochs 0..K-1.
    Run {
        #[command(flatten)]
        job: JobArgs,
        /// Number of epochs to build after prepare.
        #[arg(long, value_name = "K", default_value_t = 1)]
        epochs: u32,
    },
    /// Print examples of an examples dataset, masked positions marked (kind:shown|original).
    Inspect {
        /// The examples dataset, e.g. out/quickstart/epochs/0.
        dataset: String,
        /// How many examples to print.
        #[arg(long, default_value_t = 5)]
        limit: usize,
        /// Which shard to read.
        #[arg(long, default_value_t = 0)]
        shard: usize,
        /// Which split's shards: train, validation or test.
        #[arg(long, default_value = "train")]
        split: String,
    },
    /// Check a documents dataset or an examples epoch against its manifest (exit 1 when
    /// anything fails): every shard's size, SHA-256, footer, schema; no stray shards.
    Verify {
        /// The dataset, e.g. out/quickstart/documents or out/quickstart/epochs/0.
        dataset: String,
        /// Also decode and check every row (and, for an epoch, restore its documents' tokens).
        #[arg(long)]
        deep: bool,
        /// Print the report as JSON (for schedulers).
        #[arg(long)]
        json: bool,
    },
    /// Run a read-only SQL query over datasets: each is table `documents` or `examples` (its
    /// held-out splits `examples_validation`, `examples_test`), or the name given as NAME=URL.
    /// Write one self-contained HTML page of charts for documents datasets and epochs (the
    /// manifests' statistics; several epochs side by side).
    Report {
        /// The datasets, e.g. out/quickstart/documents out/quickstart/epochs/0 out/quickstart/epochs/1.
        #[arg(required = true)]
        datasets: Vec<String>,
        /// Where to write the page (a local path).
        #[arg(long, value_name = "PATH", required_unless_present = "json")]
        out: Option<PathBuf>,
        /// Print the charts' numbers as JSON on stdout (for schedulers).
        #[arg(long)]
        json: bool,
    },
    #[command(override_usage = "maskforge sql DATASET_URL... QUERY [--format table|csv|json]")]
    Sql {
        /// The datasets (URL or NAME=URL), then the query.
        #[arg(required = true, num_args = 1.., value_name = "DATASET_URL|QUERY")]
        args: Vec<String>,
        /// How to print the result (table: at most 10,000 rows; csv and json stream them all).
        #[arg(long, value_enum, default_value_t = SqlFormat::Table)]
        format: SqlFormat,
        /// The most memory the query may use, e.g. 2GiB (default: a quarter of this machine's).
        #[arg(long, value_name = "SIZE", value_parser = maskforge_pipeline::QueryLimits::parse_size)]
        memory_limit: Option<usize>,
    },
}

/// `sql --format`.
#[derive(Clone, Copy, clap::ValueEnum)]
enum SqlFormat {
    /// An aligned text table.
    Table,
    /// CSV with a header row.
    Csv,
    /// A JSON array of row objects.
    Json,
}

/// Flags shared by the jobs.
#[derive(Args)]
struct JobArgs {
    /// The pipeline definition (TOML).
    pipeline: PathBuf,
    /// Input URL or glob; replaces the pipeline's source URLs (repeatable).
    #[arg(long = "input", value_name = "URL")]
    inputs: Vec<String>,
    /// Output root; replaces output.url.
    #[arg(long, value_name = "URL")]
    output: Option<String>,
    /// Override any pipeline value by its dotted key, e.g. masking.probability=0.2 (repeatable).
    #[arg(long = "set", value_name = "KEY=VALUE")]
    set: Vec<String>,
    /// Worker threads (default: all cores). Does not change the output.
    #[arg(long, value_name = "N")]
    threads: Option<usize>,
    /// Print only warnings and errors.
    #[arg(long)]
    quiet: bool,
    /// Number of worker processes sharing the job (default: $SLURM_ARRAY_TASK_COUNT, else 1).
    #[arg(long, value_name = "N")]
    workers: Option<usize>,
    /// This worker's index, 0..N (default: $SLURM_ARRAY_TASK_ID - $SLURM_ARRAY_TASK_MIN,
    /// else $JOB_COMPLETION_INDEX, else 0).
    #[arg(long, value_name = "I")]
    worker_index: Option<usize>,
}

impl JobArgs {
    fn load(&self) -> Result<PipelineConfig> {
        let overrides = Overrides {
            inputs: self.inputs.clone(),
            output: self.output.clone(),
            set: self.set.clone(),
        };
        Ok(maskforge_config::load(&self.pipeline, &overrides)?)
    }

    /// This process's share, from the flags or the scheduler's environment.
    fn workers(&self) -> Result<Workers> {
        let env = |name: &str| -> Result<Option<usize>> {
            match std::env::var(name) {
                Ok(v) => Ok(Some(
                    v.trim()
                        .parse()
                        .with_context(|| format!("${name}={v} is not a number"))?,
                )),
                Err(_) => Ok(None),
            }
        };
        let count = match self.workers {
            Some(n) => n,
            None => env("SLURM_ARRAY_TASK_COUNT")?.unwrap_or(1),
        };
        let index = match self.worker_index {
            Some(i) => i,
            None => match env("SLURM_ARRAY_TASK_ID")? {
                Some(id) => id - env("SLURM_ARRAY_TASK_MIN")?.unwrap_or(0).min(id),
                None => env("JOB_COMPLETION_INDEX")?.unwrap_or(0),
            },
        };
        anyhow::ensure!(count >= 1, "--workers must be at least 1");
        anyhow::ensure!(
            index < count,
            "worker index {index} is not below the number of workers {count}"
        );
        Ok(Workers { count, index })
    }

    fn threads(&self) -> usize {
        self.threads
            .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, usize::from))
            .max(1)
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let quiet = match &cli.command {
        Command::Prepare(job) | Command::Epoch { job, .. } | Command::Run { job, .. } | Command::NextEpoch(job) => {
            job.quiet
        }
        Command::Inspect { .. } | Command::Verify { .. } | Command::Sql { .. } | Command::Report { .. } => false,
    };
    progress::init_logging(quiet);
    progress::redact_panics();
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) if matches!(e.downcast_ref(), Some(maskforge_pipeline::PipelineError::Interrupted)) => {
            eprintln!("interrupted");
            // The shells' status for a command stopped by SIGINT (128 + 2).
            ExitCode::from(130)
        }
        Err(e) => {
            progress::report_error(&e);
            ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli) -> Result<()> {
    match cli.command {
        Command::Prepare(job) => {
            run_prepare(&job.load()?, &job)?;
        }
        Command::Epoch {
            job,
            epoch,
            next,
            wait_secs,
        } => {
            let config = job.load()?;
            let epoch = match epoch {
                Some(e) if !next => e,
                _ => {
                    anyhow::ensure!(
                        job.workers()?.count == 1,
                        "--next needs one process: every worker must build the same epoch, so resolve it once \
                         with `maskforge next-epoch` and give each worker --epoch E"
                    );
                    maskforge_pipeline::next_epoch(&config).context("finding the next epoch")?
                }
            };
            run_one_epoch(&config, &job, epoch, Duration::from_secs(wait_secs))?
        }
        Command::NextEpoch(job) => {
            let config = job.load()?;
            println!(
                "{}",
                maskforge_pipeline::next_epoch(&config).context("finding the next epoch")?
            );
        }
        Command::Run { job, epochs } => {
            single_process(&job, "run")?;
            let config = job.load()?;
            run_prepare(&config, &job)?;
            for epoch in 0..epochs {
                run_one_epoch(&config, &job, epoch, Duration::from_secs(3600))?;
            }
        }
        Command::Verify { dataset, deep, json } => return run_verify(&dataset, deep, json),
        Command::Sql {
            args,
            format,
            memory_limit,
        } => run_sql(&args, format, memory_limit)?,
        Command::Report { datasets, out, json } => {
            let target = match &out {
                Some(out) => {
                    refuse_inside_datasets(out, &datasets)?;
                    Some(output_file::target("--out", out)?)
                }
                None => None,
            };
            let report = maskforge_pipeline::report(&datasets).context("report failed")?;
            if let (Some(out), Some(target)) = (&out, &target) {
                output_file::write_atomically(target, report.html.as_bytes())
                    .with_context(|| format!("cannot write {}", out.display()))?;
            }
            if json {
                println!(
                    "{}",
                    maskforge_store::redact(&serde_json::to_string_pretty(&report.summary)?)
                );
            } else if let Some(out) = &out {
                println!("{}", maskforge_store::printable(&out.display().to_string()));
            }
        }
        Command::Inspect {
            dataset,
            limit,
            shard,
            split,
        } => {
            let split = Split::from_name(&split)
                .with_context(|| format!("--split {split:?}: not one of train, validation, test"))?;
            let text = maskforge_pipeline::inspect(&dataset, split, limit, shard).context("inspect failed")?;
            // Tokens come from the dataset's vocab.txt: quoted, lines kept.
            print!("{}", maskforge_store::printable_lines(&text));
        }
    }
    Ok(())
}

/// `run` is one process; `prepare` and `epoch` can be split over workers.
fn single_process(job: &JobArgs, command: &str) -> Result<()> {
    let workers = job.workers()?;
    anyhow::ensure!(
        workers.count == 1,
        "`{command}` runs in one process ({} workers asked for); split the jobs over workers with `prepare`, then `epoch`",
        workers.count
    );
    Ok(())
}

fn run_one_epoch(config: &PipelineConfig, args: &JobArgs, epoch: u32, patience: Duration) -> Result<()> {
    let threads = args.threads();
    let workers = args.workers()?;
    log::info!(
        "epoch {epoch}: {}/documents -> {}/epochs/{epoch} ({threads} threads, worker {} of {})",
        config.output.url,
        config.output.url,
        workers.index,
        workers.count
    );
    let options = EpochOptions {
        threads,
        progress: Arc::new(progress::Reporter::new(args.quiet, "epoch")),
        workers,
        patience,
    };
    let started = std::time::Instant::now();
    let report = run_epoch(config, epoch, &options).with_context(|| format!("epoch {epoch} failed"))?;
    let s = &report.manifest.stats;
    let pairs: Vec<String> = s.pair_types.iter().map(|(k, v)| format!("{k}={v}")).collect();
    let mix: Vec<String> = s.replacement.iter().map(|(k, v)| format!("{k}={v}")).collect();
    log::info!(
        "epoch {epoch}: {} documents -> {} examples in {} shard(s), {} tokens, mask rate {:.4} ({}), pairs: {} ({:.1}s)",
        s.documents_in,
        s.examples,
        report.manifest.shards.len(),
        s.tokens,
        s.mask_rate,
        mix.join(", "),
        pairs.join(", "),
        started.elapsed().as_secs_f64()
    );
    if s.sources.len() > 1 || s.sources.iter().any(|source| source.weight != 1.0) {
        let mixture: Vec<String> = s
            .sources
            .iter()
            .enumerate()
            .map(|(i, m)| {
                format!(
                    "{i}: weight {} drew {} of {} documents, {:.1}% of the tokens",
                    m.weight,
                    m.drawn,
                    m.documents,
                    m.share * 100.0
                )
            })
            .collect();
        log::info!("epoch {epoch}: sources {}", mixture.join("; "));
    }
    for split in [Split::Validation, Split::Test] {
        if let Some((shards, s)) = report.manifest.section(split) {
            log::info!(
                "epoch {epoch}: {}: {} documents -> {} examples in {} shard(s) under {}",
                split.name(),
                s.documents_in,
                s.examples,
                shards.len(),
                split.folder()
            );
        }
    }
    println!("{}", report.dataset_url);
    Ok(())
}

/// `maskforge verify`: the report, then an error when anything failed (exit status 1). The
/// report passes through the same redaction as every log line: problems can quote URLs.
fn run_verify(dataset: &str, deep: bool, json: bool) -> Result<()> {
    let started = std::time::Instant::now();
    let report = maskforge_pipeline::verify(dataset, deep).context("verify failed")?;
    let text = if json {
        serde_json::to_string_pretty(&report)?
    } else {
        let mut lines: Vec<String> = report
            .problems
            .iter()
            .map(|p| {
                // Names come from the manifest and the folder: quoted, one problem a line.
                let (file, what) = (maskforge_store::printable(&p.file), maskforge_store::printable(&p.what));
                match p.row {
                    Some(row) => format!("FAIL {file} row {row}: {what}"),
                    None => format!("FAIL {file}: {what}"),
                }
            })
            .collect();
        lines.push(format!(
            "{}: {} dataset, {} shards, {} rows, {} bytes read{}: {} ({:.1}s)",
            maskforge_store::printable(&report.url),
            report.kind,
            report.shards,
            report.rows,
            report.bytes,
            if deep { ", every row checked" } else { "" },
            if report.ok() {
                "ok".to_owned()
            } else {
                format!("{} problem(s)", report.problems.len())
            },
            started.elapsed().as_secs_f64()
        ));
        lines.join("\n")
    };
    println!("{}", maskforge_store::redact(&text));
    anyhow::ensure!(report.ok(), "{}: {} problem(s)", report.url, report.problems.len());
    Ok(())
}

/// `maskforge sql`: the datasets, then the query, the result on stdout. A reader that stops
/// early (`| head`) ends the command quietly.
fn run_sql(args: &[String], format: SqlFormat, memory_limit: Option<usize>) -> Result<()> {
    use maskforge_pipeline::{PipelineError, QueryFormat, QueryLimits, TableSource};
    let (query, datasets) = match args.split_last() {
        Some((query, datasets)) if !datasets.is_empty() => (query, datasets),
        _ => anyhow::bail!("sql needs at least one dataset and a query: maskforge sql DATASET_URL... QUERY"),
    };
    let sources: Vec<TableSource> = datasets.iter().map(|a| TableSource::parse(a)).collect();
    let format = match format {
        SqlFormat::Table => QueryFormat::Table,
        SqlFormat::Csv => QueryFormat::Csv,
        SqlFormat::Json => QueryFormat::Json,
    };
    let limits = match memory_limit {
        Some(memory_bytes) => QueryLimits { memory_bytes },
        None => QueryLimits::default(),
    };
    match maskforge_pipeline::sql(&sources, query, format, &limits, &mut std::io::stdout().lock()) {
        Err(PipelineError::Output(e)) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        other => other.map(|_| ()).context("sql failed"),
    }
}

/// Refuses a report path inside one of the (local) datasets it reports on: maskforge writes
/// into a dataset folder only the files of that dataset.
fn refuse_inside_datasets(out: &std::path::Path, datasets: &[String]) -> Result<()> {
    let folder = match out.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => std::path::Path::new("."),
    };
    let Ok(folder) = folder.canonicalize() else {
        return Ok(()); // a missing folder: the write reports it
    };
    for dataset in datasets {
        let location = maskforge_store::Location::parse(dataset)?;
        if let Some(root) = location.local_path().and_then(|p| p.canonicalize().ok())
            && folder.starts_with(&root)
        {
            anyhow::bail!(
                "--out {} is inside the dataset {dataset}: write the report outside it",
                out.display()
            );
        }
    }
    Ok(())
}

fn run_prepare(config: &PipelineConfig, args: &JobArgs) -> Result<PrepareReport> {
    let threads = args.threads();
    log::info!(
        "prepare: {} source(s) -> {}/documents ({threads} threads)",
        config.sources.len(),
        config.output.url
    );
    let workers = args.workers()?;
    let options = PrepareOptions {
        threads,
        workers,
        progress: Arc::new(progress::Reporter::new(args.quiet, "prepare")),
    };
    let started = std::time::Instant::now();
    let report = prepare(config, &options).context("prepare failed")?;
    let Some(manifest) = &report.manifest else {
        log::info!(
            "prepare: worker {} of {} done; {} of {} units committed, not published yet ({:.1}s)",
            workers.index,
            workers.count,
            report.units_committed,
            report.units,
            started.elapsed().as_secs_f64()
        );
        return Ok(report);
    };
    let counts = &manifest.counts;
    let skipped: Vec<String> = counts.skipped.iter().map(|(k, v)| format!("{k}={v}")).collect();
    log::info!(
        "prepare: {} records -> {} documents, {} sentences, {} tokens in {} shard(s); skipped: {} ({:.1}s)",
        counts.records_in,
        counts.documents_out,
        counts.sentences,
        counts.tokens,
        manifest.shards.len(),
        if skipped.is_empty() {
            "none".to_owned()
        } else {
            skipped.join(", ")
        },
        started.elapsed().as_secs_f64()
    );
    println!("{}", report.dataset_url);
    Ok(report)
}
