//! `maskforge`: turns raw text corpora into BERT-family pretraining data.

mod progress;

use anyhow::{Context, Result};
use clap::{Args, Parser, Subcommand};
use maskforge_config::{Overrides, PipelineConfig};
use maskforge_pipeline::{PrepareOptions, PrepareReport, prepare};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

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
    /// Run the whole pipeline (for now: prepare).
    Run(JobArgs),
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

    fn threads(&self) -> usize {
        self.threads
            .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, usize::from))
            .max(1)
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let quiet = match &cli.command {
        Command::Prepare(a) | Command::Run(a) => a.quiet,
    };
    progress::init_logging(quiet);
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            progress::clear();
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli) -> Result<()> {
    match cli.command {
        Command::Prepare(args) | Command::Run(args) => {
            let config = args.load()?;
            run_prepare(&config, &args)?;
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
    let options = PrepareOptions {
        threads,
        progress: Arc::new(progress::Reporter::new(args.quiet, "prepare")),
    };
    let started = std::time::Instant::now();
    let report = prepare(config, &options).context("prepare failed")?;
    let counts = &report.manifest.counts;
    let skipped: Vec<String> = counts.skipped.iter().map(|(k, v)| format!("{k}={v}")).collect();
    log::info!(
        "prepare: {} records -> {} documents, {} sentences, {} tokens in {} shard(s); skipped: {} ({:.1}s)",
        counts.records_in,
        counts.documents_out,
        counts.sentences,
        counts.tokens,
        report.manifest.shards.len(),
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
