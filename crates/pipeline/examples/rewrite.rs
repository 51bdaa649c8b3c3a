//! The baseline of `benches/epoch_vs_rewrite.sh`: a plain read and rewrite of a dataset's Parquet
//! shards (decode every row group, encode again with zstd), one shard after another. An epoch
//! job that is bound by I/O rather than by masking should take at most about twice as long.
//!
//! `cargo run --profile measure -p maskforge-pipeline --example rewrite -- DATASET_DIR OUT_DIR`

use parquet::arrow::ArrowWriter;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use parquet::basic::{Compression, ZstdLevel};
use parquet::file::properties::WriterProperties;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let (input, output) = (
        args.next().ok_or("usage: rewrite DATASET_DIR OUT_DIR")?,
        args.next().ok_or("OUT_DIR")?,
    );
    std::fs::create_dir_all(&output)?;
    let started = std::time::Instant::now();
    let (mut rows, mut bytes) = (0usize, 0u64);
    let mut shards: Vec<_> = std::fs::read_dir(&input)?
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .collect();
    shards.retain(|p| p.extension().is_some_and(|e| e == "parquet"));
    shards.sort();
    for path in shards {
        bytes += std::fs::metadata(&path)?.len();
        let reader = ParquetRecordBatchReaderBuilder::try_new(std::fs::File::open(&path)?)?.build()?;
        let props = WriterProperties::builder()
            .set_compression(Compression::ZSTD(ZstdLevel::try_new(3)?))
            .build();
        let out = std::fs::File::create(std::path::Path::new(&output).join(path.file_name().ok_or("name")?))?;
        let mut writer: Option<ArrowWriter<std::fs::File>> = None;
        let mut out = Some(out);
        for batch in reader {
            let batch = batch?;
            rows += batch.num_rows();
            if writer.is_none() {
                writer = Some(ArrowWriter::try_new(
                    out.take().ok_or("file")?,
                    batch.schema(),
                    Some(props.clone()),
                )?);
            }
            if let Some(w) = writer.as_mut() {
                w.write(&batch)?;
            }
        }
        if let Some(w) = writer {
            w.close()?;
        }
    }
    println!(
        "rewrite: {rows} rows, {:.1} MB in {:.2}s",
        bytes as f64 / 1e6,
        started.elapsed().as_secs_f64()
    );
    Ok(())
}
