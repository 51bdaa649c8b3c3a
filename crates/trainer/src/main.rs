//! `maskforge-train`: pretrains a BERT (MLM + NSP/SOP) on a maskforge examples dataset.

use anyhow::{Context, Result};
use candle_core::Device;
use clap::Parser;
use maskforge_trainer::loader::ExamplesDataset;
use maskforge_trainer::model::ModelConfig;
use maskforge_trainer::train::{RunConfig, Trainer};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

#[derive(Parser)]
#[command(
    name = "maskforge-train",
    version,
    about = "Pretrain a BERT (MLM + NSP/SOP) on a maskforge examples dataset"
)]
struct Cli {
    /// The examples dataset (an epoch folder with manifest.json): path, file://, s3://, gs://, az://.
    #[arg(long, value_name = "URL")]
    data: String,
    /// Model and training settings (TOML with [model] and [train]); or --preset.
    #[arg(long, value_name = "FILE", required_unless_present_any = ["preset", "resume"])]
    config: Option<PathBuf>,
    /// A built-in model size with default training settings: tiny or base.
    #[arg(long, value_name = "NAME", conflicts_with = "config")]
    preset: Option<String>,
    /// Folder for checkpoints (step-NNNNNNN/).
    #[arg(long, value_name = "DIR")]
    out: PathBuf,
    /// Continue from a checkpoint folder.
    #[arg(long, value_name = "DIR")]
    resume: Option<PathBuf>,
    /// Stop after this many optimizer steps in all (default: train.steps).
    #[arg(long, value_name = "N")]
    steps: Option<u64>,
    /// cpu, cuda or cuda:N (cuda needs a build with --features cuda).
    #[arg(long, default_value = "cpu")]
    device: String,
    /// Print only the summary.
    #[arg(long)]
    quiet: bool,
}

fn main() {
    let cli = Cli::parse();
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or(if cli.quiet {
        "warn"
    } else {
        "info"
    }))
    .format_target(false)
    .format(|out, record| {
        use std::io::Write;
        // Secrets never leave the process: every log line and error is redacted.
        let line = maskforge_store::redact(&record.args().to_string());
        writeln!(out, "[{} {}] {line}", out.timestamp(), record.level())
    })
    .init();
    std::panic::set_hook(Box::new(|info| {
        eprintln!(
            "maskforge-train panicked (a bug): {}",
            maskforge_store::redact(&info.to_string())
        );
    }));
    if let Err(e) = run(cli) {
        eprintln!("error: {}", maskforge_store::redact(&format!("{e:#}")));
        std::process::exit(1);
    }
}

fn device(name: &str) -> Result<Device> {
    match name {
        "cpu" => Ok(Device::Cpu),
        "cuda" => cuda(0),
        other => {
            let ordinal = other
                .strip_prefix("cuda:")
                .and_then(|n| n.parse().ok())
                .with_context(|| format!("unknown device `{other}` (cpu, cuda or cuda:N)"))?;
            cuda(ordinal)
        }
    }
}

/// GPU `ordinal`, in a build without CUDA: an error that says how to get one.
#[cfg(not(feature = "cuda"))]
fn cuda(_ordinal: usize) -> Result<Device> {
    anyhow::bail!(
        "this maskforge-train was built without CUDA; build it with `--features cuda` \
         (bash scripts/cuda_build.sh --release, see docs/training.md) or use --device cpu"
    )
}

/// GPU `ordinal`; a machine without the NVIDIA driver is told so instead of failing (or
/// panicking) inside the CUDA library loader.
#[cfg(feature = "cuda")]
fn cuda(ordinal: usize) -> Result<Device> {
    let driver = std::path::Path::new("/proc/driver/nvidia/version");
    if cfg!(target_os = "linux") && !driver.exists() {
        anyhow::bail!(
            "no NVIDIA GPU driver on this machine ({} is missing); use --device cpu",
            driver.display()
        );
    }
    match std::panic::catch_unwind(|| Device::new_cuda(ordinal)) {
        Ok(device) => Ok(device.with_context(|| format!("no usable CUDA GPU {ordinal}"))?),
        Err(_) => anyhow::bail!("the CUDA driver library could not be loaded (is libcuda.so on the library path?)"),
    }
}

fn run(cli: Cli) -> Result<()> {
    let device = device(&cli.device).with_context(|| format!("cannot use device {}", cli.device))?;
    let dataset = Arc::new(ExamplesDataset::open(&cli.data).with_context(|| format!("opening {}", cli.data))?);
    let mut trainer = match &cli.resume {
        Some(dir) => {
            Trainer::resume(dataset, dir, device).with_context(|| format!("resuming from {}", dir.display()))?
        }
        None => {
            let config = match (&cli.config, cli.preset.as_deref()) {
                (Some(path), _) => RunConfig::read(path)?,
                (None, Some("tiny")) => RunConfig {
                    model: ModelConfig::tiny(),
                    train: Default::default(),
                },
                (None, Some("base")) => RunConfig {
                    model: ModelConfig::base(),
                    train: Default::default(),
                },
                (None, other) => anyhow::bail!("unknown preset {other:?} (tiny or base)"),
            };
            Trainer::new(dataset, config.model, config.train, device)?
        }
    };
    let until = cli.steps.unwrap_or(trainer.config().steps);
    log::info!(
        "{} parameters; training from step {} to {until}",
        trainer.params().count(),
        trainer.step()
    );
    std::fs::create_dir_all(&cli.out).with_context(|| format!("creating {}", cli.out.display()))?;
    let bar = if cli.quiet {
        indicatif::ProgressBar::hidden()
    } else {
        indicatif::ProgressBar::new(until)
    };
    bar.set_position(trainer.step());
    bar.set_style(
        indicatif::ProgressStyle::with_template("{bar:30} {pos}/{len} steps {msg} [{elapsed_precise}<{eta_precise}]")
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    let (eval_every, checkpoint_every) = (trainer.config().eval_every, trainer.config().checkpoint_every);
    let started = Instant::now();
    let (mut tokens, mut training_seconds) = (0usize, 0.0f64);
    while trainer.step() < until {
        // Train to the next evaluation or checkpoint boundary, then do it.
        let next = [eval_every, checkpoint_every]
            .iter()
            .filter(|&&every| every > 0)
            .map(|&every| (trainer.step() / every + 1) * every)
            .min()
            .unwrap_or(until)
            .min(until);
        trainer.train(next, |report| {
            tokens += report.tokens;
            training_seconds += report.seconds;
            bar.set_position(report.step);
            bar.set_message(format!(
                "loss {:.3} (mlm {:.3}, sentence {:.3}) {:.0} tokens/s",
                report.loss,
                report.mlm_loss,
                report.sentence_loss,
                report.tokens as f64 / report.seconds.max(1e-9)
            ));
        })?;
        let step = trainer.step();
        if eval_every > 0 && step % eval_every == 0 || step == until {
            let eval = trainer.evaluate(trainer.config().eval_batches)?;
            bar.suspend(|| {
                log::info!(
                    "step {step}: held-out MLM accuracy {:.4} (loss {:.3}), sentence accuracy {:.4} on {} examples",
                    eval.mlm_accuracy,
                    eval.mlm_loss,
                    eval.sentence_accuracy,
                    eval.examples
                )
            });
        }
        if checkpoint_every > 0 && step % checkpoint_every == 0 || step == until {
            let dir = trainer.save_checkpoint(&cli.out)?;
            bar.suspend(|| log::info!("checkpoint {}", dir.display()));
        }
    }
    bar.finish_and_clear();
    println!(
        "trained to step {} in {:.1}s ({:.0} tokens/s while training); checkpoints in {}",
        trainer.step(),
        started.elapsed().as_secs_f64(),
        tokens as f64 / training_seconds.max(1e-9),
        cli.out.display()
    );
    Ok(())
}
