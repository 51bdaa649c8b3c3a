//! An examples dataset opened through its manifest: the shard list, checksummed shard reads,
//! rows decoded into [`Example`]s, and the vocabulary.

use crate::TrainerError;
use arrow::array::{AsArray, ListArray};
use arrow::datatypes::{Int8Type, UInt8Type, UInt16Type, UInt32Type, UInt64Type};
use maskforge_schema::{ExamplesManifest, MANIFEST_FILE, examples};
use maskforge_store::{Location, sha256_hex};
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

/// One row of an examples shard.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Example {
    /// Global position in the epoch the dataset was built for.
    pub example_id: u64,
    /// Source document.
    pub doc_id: u64,
    /// Token ids, masks applied.
    pub input_ids: Vec<u32>,
    /// Segment ids.
    pub token_type_ids: Vec<u8>,
    /// Word starts.
    pub word_starts: Vec<bool>,
    /// Masked positions, sorted.
    pub masked_positions: Vec<u16>,
    /// Original ids at the masked positions.
    pub masked_labels: Vec<u32>,
    /// NSP label (1 random next, 0 true next, -1 none).
    pub nsp_label: i8,
    /// SOP label (1 swapped, 0 in order, -1 none).
    pub sop_label: i8,
}

/// An examples dataset (`<output>/epochs/E/`), read through its manifest.
pub struct ExamplesDataset {
    root: Location,
    manifest: ExamplesManifest,
    runtime: tokio::runtime::Runtime,
    /// `vocab.txt`, read and checked on first use.
    vocabulary: std::sync::OnceLock<Vec<String>>,
}

impl ExamplesDataset {
    /// Opens the dataset at `url` (any location form of the pipeline): reads and checks its
    /// manifest.
    pub fn open(url: &str) -> Result<Self, TrainerError> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .map_err(|e| TrainerError::dataset(url, format!("cannot start the I/O runtime: {e}")))?;
        let root = Location::parse(url)?;
        let manifest_location = root.join(MANIFEST_FILE);
        let bytes = match runtime.block_on(manifest_location.read()) {
            Ok(bytes) => bytes,
            Err(maskforge_store::StoreError::NotFound { .. }) => {
                return Err(TrainerError::dataset(
                    manifest_location.url(),
                    "no manifest.json: not a published examples dataset (run maskforge epoch first)",
                ));
            }
            Err(e) => return Err(e.into()),
        };
        let manifest: ExamplesManifest = serde_json::from_slice(&bytes)
            .map_err(|e| TrainerError::dataset(manifest_location.url(), format!("not an examples manifest: {e}")))?;
        if manifest.schema_version != examples::SCHEMA_VERSION {
            return Err(TrainerError::dataset(
                manifest_location.url(),
                format!(
                    "schema version {} is not {} (the version this trainer reads)",
                    manifest.schema_version,
                    examples::SCHEMA_VERSION
                ),
            ));
        }
        Ok(Self {
            root,
            manifest,
            runtime,
            vocabulary: std::sync::OnceLock::new(),
        })
    }

    /// The manifest.
    pub fn manifest(&self) -> &ExamplesManifest {
        &self.manifest
    }

    /// The dataset's URL.
    pub fn url(&self) -> String {
        self.root.url()
    }

    /// The vocabulary (`vocab.txt`), one token per id; read once.
    pub fn vocabulary(&self) -> Result<&[String], TrainerError> {
        if let Some(tokens) = self.vocabulary.get() {
            return Ok(tokens);
        }
        let tokens = self.read_vocabulary()?;
        Ok(self.vocabulary.get_or_init(|| tokens))
    }

    fn read_vocabulary(&self) -> Result<Vec<String>, TrainerError> {
        let location = self.root.join(&self.manifest.vocab.path);
        let bytes = self.runtime.block_on(location.read())?;
        if sha256_hex(&bytes) != self.manifest.vocab.sha256 {
            return Err(TrainerError::dataset(
                location.url(),
                "checksum differs from the manifest",
            ));
        }
        let text = String::from_utf8(bytes.to_vec())
            .map_err(|e| TrainerError::dataset(location.url(), format!("not UTF-8: {e}")))?;
        Ok(text.lines().map(str::to_owned).collect())
    }

    /// Reads shard `index` of the manifest, checks its size and checksum, and decodes its rows
    /// in file order.
    pub fn read_shard(&self, index: usize) -> Result<Vec<Example>, TrainerError> {
        let entry = self.manifest.shards.get(index).ok_or_else(|| {
            TrainerError::dataset(
                self.url(),
                format!("no shard {index} (the manifest lists {})", self.manifest.shards.len()),
            )
        })?;
        let location = self.root.join(&entry.path);
        let url = location.url();
        let bytes = self.runtime.block_on(location.read())?;
        if bytes.len() as u64 != entry.bytes || sha256_hex(&bytes) != entry.sha256 {
            return Err(TrainerError::dataset(url, "size or checksum differs from the manifest"));
        }
        let rows = decode(bytes, &url)?;
        if rows.len() as u64 != entry.rows {
            return Err(TrainerError::dataset(
                url,
                format!("{} rows, the manifest says {}", rows.len(), entry.rows),
            ));
        }
        Ok(rows)
    }
}

fn decode(bytes: bytes::Bytes, url: &str) -> Result<Vec<Example>, TrainerError> {
    let bad = |m: String| TrainerError::dataset(url, format!("cannot read examples shard: {m}"));
    let builder = ParquetRecordBatchReaderBuilder::try_new(bytes).map_err(|e| bad(e.to_string()))?;
    examples::check_schema(builder.schema()).map_err(&bad)?;
    let reader = builder.build().map_err(|e| bad(e.to_string()))?;
    let mut out = Vec::new();
    for batch in reader {
        let batch = batch.map_err(|e| bad(e.to_string()))?;
        let column = |name: &str| {
            batch
                .column_by_name(name)
                .cloned()
                .ok_or_else(|| bad(format!("no column `{name}`")))
        };
        let list = |name: &str| -> Result<ListArray, TrainerError> {
            column(name)?
                .as_list_opt::<i32>()
                .cloned()
                .ok_or_else(|| bad(format!("`{name}` is not a list")))
        };
        let wrong = |name: &str| bad(format!("`{name}` has another type than the schema's"));
        let example_ids = column(examples::EXAMPLE_ID)?;
        let example_ids = example_ids
            .as_primitive_opt::<UInt64Type>()
            .ok_or_else(|| wrong(examples::EXAMPLE_ID))?;
        let doc_ids = column(examples::DOC_ID)?;
        let doc_ids = doc_ids
            .as_primitive_opt::<UInt64Type>()
            .ok_or_else(|| wrong(examples::DOC_ID))?;
        let nsp = column(examples::NSP_LABEL)?;
        let nsp = nsp
            .as_primitive_opt::<Int8Type>()
            .ok_or_else(|| wrong(examples::NSP_LABEL))?;
        let sop = column(examples::SOP_LABEL)?;
        let sop = sop
            .as_primitive_opt::<Int8Type>()
            .ok_or_else(|| wrong(examples::SOP_LABEL))?;
        let (ids, types, starts, positions, labels, kinds) = (
            list(examples::INPUT_IDS)?,
            list(examples::TOKEN_TYPE_IDS)?,
            list(examples::WORD_STARTS)?,
            list(examples::MASKED_POSITIONS)?,
            list(examples::MASKED_LABELS)?,
            list(examples::MASK_KINDS)?,
        );
        for row in 0..batch.num_rows() {
            let input_ids = ids.value(row);
            let token_types = types.value(row);
            let word_starts = starts.value(row);
            let masked_positions = positions.value(row);
            let masked_labels = labels.value(row);
            let word_starts = word_starts
                .as_boolean_opt()
                .ok_or_else(|| wrong(examples::WORD_STARTS))?;
            let example = Example {
                example_id: example_ids.value(row),
                doc_id: doc_ids.value(row),
                input_ids: input_ids
                    .as_primitive_opt::<UInt32Type>()
                    .ok_or_else(|| wrong(examples::INPUT_IDS))?
                    .values()
                    .to_vec(),
                token_type_ids: token_types
                    .as_primitive_opt::<UInt8Type>()
                    .ok_or_else(|| wrong(examples::TOKEN_TYPE_IDS))?
                    .values()
                    .to_vec(),
                word_starts: (0..word_starts.len()).map(|i| word_starts.value(i)).collect(),
                masked_positions: masked_positions
                    .as_primitive_opt::<UInt16Type>()
                    .ok_or_else(|| wrong(examples::MASKED_POSITIONS))?
                    .values()
                    .to_vec(),
                masked_labels: masked_labels
                    .as_primitive_opt::<UInt32Type>()
                    .ok_or_else(|| wrong(examples::MASKED_LABELS))?
                    .values()
                    .to_vec(),
                nsp_label: nsp.value(row),
                sop_label: sop.value(row),
            };
            let shape = examples::RowShape {
                tokens: example.input_ids.len(),
                token_types: example.token_type_ids.len(),
                word_starts: example.word_starts.len(),
                labels: example.masked_labels.len(),
                kinds: kinds.value_length(row) as usize,
            };
            examples::check_row(shape, &example.masked_positions)
                .map_err(|e| bad(format!("row {} (example {}): {e}", out.len() + 1, example.example_id)))?;
            out.push(example);
        }
    }
    Ok(out)
}
