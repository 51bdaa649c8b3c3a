//! `maskforge inspect`: examples of an examples dataset decoded with its stored vocabulary, the
//! masked positions marked with what was done and the original token.

use crate::{PipelineError, dataset};
use maskforge_masking::{MaskKind, PairType};
use maskforge_schema::examples::Example;
use maskforge_schema::{Dataset, ExamplesManifest, Split};
use maskforge_store::Location;

/// Renders up to `limit` examples of shard `shard` of split `split` of the examples dataset at
/// `url`.
pub fn inspect(url: &str, split: Split, limit: usize, shard: usize) -> Result<String, PipelineError> {
    let runtime = dataset::io_runtime()?;
    let whole = runtime.block_on(Dataset::<ExamplesManifest>::open(Location::parse(url)?))?;
    let dataset = whole
        .split(split)
        .ok_or_else(|| PipelineError::input(url, format!("this epoch has no {} split", split.name())))?;
    let entry = dataset.shard(shard)?;
    let vocab = runtime.block_on(dataset.read_vocabulary())?;
    let manifest = dataset.manifest();
    let mut out = format!(
        "{url}: epoch {}, {}: {} examples in {} shards, mask rate {:.4}; shard {shard} ({}) has {} rows\n",
        manifest.epoch,
        split.name(),
        manifest.stats.examples,
        manifest.shards.len(),
        manifest.stats.mask_rate,
        entry.path,
        entry.rows
    );
    let mut shown = Vec::new();
    runtime.block_on(dataset.for_each_batch(shard, |rows| {
        let room = limit.saturating_sub(shown.len());
        shown.extend(rows.into_iter().take(room));
    }))?;
    for example in &shown {
        render(&mut out, example, &vocab);
    }
    Ok(out)
}

/// Appends one example: its header, then every token, masked ones as `⟨kind:shown|original⟩`.
fn render(out: &mut String, e: &Example, vocab: &[String]) {
    let token = |id: u32| vocab.get(id as usize).map_or("?", String::as_str);
    let pair_type = PairType::from_code(e.pair_type).map_or("?", PairType::name);
    out.push_str(&format!(
        "\nexample {} (doc {}, {pair_type}, nsp {}, sop {}, {} tokens, {} masked)\n ",
        e.example_id,
        e.doc_id,
        e.nsp_label,
        e.sop_label,
        e.input_ids.len(),
        e.masked_positions.len()
    ));
    for (i, &id) in e.input_ids.iter().enumerate() {
        match e.masked_positions.iter().position(|&p| p as usize == i) {
            Some(m) => {
                let kind = MaskKind::from_code(e.mask_kinds[m]);
                let label = token(e.masked_labels[m]);
                match kind {
                    Some(MaskKind::Keep) => out.push_str(&format!(" ⟨keep:{label}⟩")),
                    _ => out.push_str(&format!(
                        " ⟨{}:{}|{label}⟩",
                        kind.map_or("?", MaskKind::name),
                        token(id)
                    )),
                }
            }
            None => {
                out.push(' ');
                out.push_str(token(id));
            }
        }
    }
    out.push('\n');
}
