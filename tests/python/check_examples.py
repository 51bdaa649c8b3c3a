#!/usr/bin/env python3
"""Reads a maskforge examples dataset (one epoch, `<out>/epochs/E/`) the way an outside consumer
would (pyarrow and numpy; Hugging Face `datasets` only with --datasets) and checks it against the
contract of `crates/schema/src/examples.rs` and `crates/schema/src/manifest.rs`.

    python3 tests/python/check_examples.py EXAMPLES_DIR --documents DOCUMENTS_DIR \
        [--max-seq-length L] [--datasets] [--split train|validation|test]

With --split, the shards and statistics of that split are checked (train: the manifest's own
`shards` and `stats`), and every example's document must be in that split by the documented
keyed rule (schemas/examples.md#splits).

Checks, in order (the first violation ends the run with a message and exit status 1):

1. manifest.json: schema version, the documents dataset it was built from (manifest hash, config
   hash, tokenizer hash, documents read), config_hash recomputed, vocab.txt size and SHA-256,
   every shard's existence, size, SHA-256, row count and name, no unlisted `.parquet` file,
   balanced shard sizes within each length bin (larger first, `example_shards` per bin), and the
   statistics (examples, tokens, masked tokens, mask rate, replacement kinds, pair
   types, length histogram, bins) recounted from the rows.
2. The Parquet schema of every shard, column by column (types, non-nullable, list items named
   `item` and non-null), and the footer key-value metadata.
3. `example_id` dense from 0 in shard order (shards in manifest order).
4. Per example: lengths agree, first token is the CLS token and the last the SEP token, token
   types, word starts of special tokens and segment starts, masked positions sorted, unique,
   never on a special token, the kinds (0 = mask token, 3 = unchanged; with the content random
   pool no random/similar replacement is a markup token), whole words only (every strategy but
   `token`), the token or word budget, NSP/SOP labels against pair type and task, the length bin.
5. Labels put back at the masked positions give the unmasked example; its segments are found in
   the documents dataset: A+B (pair type 0) or B+A (2) contiguous in the example's document, or,
   when truncated to the maximum length, A and B in that order with the truncated tokens between;
   A of a random-document pair (1) in the document and B in another document; for packed
   sequences (3) the first piece in the document (a suffix of it when more pieces follow), whole
   documents between separators and a document prefix last. Word starts agree with the
   document's (except at segment starts, which always start a word). Every example is checked.
6. Hugging Face-style MLM labels (-100 everywhere but the masked positions) built with numpy.
7. With --datasets: `datasets.load_dataset("parquet", ...)` reads the same rows, and a batch
   converts with `.with_format("numpy")`.
"""
import argparse
import bisect
import hashlib
import json
import math
import os
import random
import shutil
import sys
import tempfile

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

SCHEMA_VERSION = "maskforge.examples/1"
DOCUMENTS_SCHEMA_VERSION = "maskforge.documents/2"
PAIR_NAMES = ["next", "random_doc", "swapped", "none"]
KIND_NAMES = ["mask", "similar", "random", "keep"]
NEXT, RANDOM_DOC, SWAPPED, PACKED = 0, 1, 2, 3
SENTINEL = b"\xff\xff\xff\xff"  # token id 0xFFFFFFFF: never in a vocabulary; separates documents


SPLITS = ["train", "validation", "test"]


def split_of(rule, doc_id):
    """The split of a document by the rule of schemas/examples.md#splits."""
    digest = hashlib.sha256(b"maskforge/1\0split\0" + rule["seed"].to_bytes(8, "little")
                            + (0).to_bytes(4, "little") + doc_id.to_bytes(8, "little")).digest()
    u = int.from_bytes(digest[:8], "little") / 2.0**64
    if u < rule["validation_fraction"]:
        return "validation"
    if u < rule["validation_fraction"] + rule["test_fraction"]:
        return "test"
    return "train"


def list_of(t):
    return pa.list_(pa.field("item", t, nullable=False))


EXPECTED_COLUMNS = [
    ("example_id", pa.uint64()),
    ("doc_id", pa.uint64()),
    ("input_ids", list_of(pa.uint32())),
    ("token_type_ids", list_of(pa.uint8())),
    ("word_starts", list_of(pa.bool_())),
    ("masked_positions", list_of(pa.uint16())),
    ("masked_labels", list_of(pa.uint32())),
    ("mask_kinds", list_of(pa.uint8())),
    ("pair_type", pa.uint8()),
    ("nsp_label", pa.int8()),
    ("sop_label", pa.int8()),
    ("num_tokens", pa.uint16()),
]
BIN_COLUMN = ("bin", pa.uint8())


def fail(message):
    print(f"check_examples: {message}", file=sys.stderr)
    sys.exit(1)


def sha256_file(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def load_json(path):
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError as e:
        fail(f"cannot read {path}: {e}")
    try:
        return json.loads(data), data
    except ValueError as e:
        fail(f"{path} is not JSON: {e}")


def require(mapping, keys, where):
    for key in keys:
        if key not in mapping:
            fail(f"{where} has no `{key}`")


# ---------------------------------------------------------------------------------------------
# Reading list columns as flat numpy arrays


def flat_list(column, dtype):
    """(offsets relative to the first value, values) of a non-null list column."""
    arr = column.combine_chunks() if isinstance(column, pa.ChunkedArray) else column
    offsets = np.asarray(arr.offsets, dtype=np.int64)
    values = arr.flatten().to_numpy(zero_copy_only=False).astype(dtype, copy=False)
    return offsets - offsets[0], values


def plain(column, dtype):
    return column.to_numpy().astype(dtype, copy=False)


# ---------------------------------------------------------------------------------------------
# The documents dataset


class Documents:
    """doc_id -> document tokens (as little-endian uint32 bytes) and word starts; plus the whole
    corpus as one byte string, every document framed by SENTINEL, to find text of unknown
    documents (negatives of NSP, packed documents after the first)."""

    def __init__(self, root):
        manifest, raw = load_json(os.path.join(root, "manifest.json"))
        require(manifest, ["schema_version", "config_hash", "tokenizer_hash", "shards", "counts"],
                f"{root}/manifest.json")
        if manifest["schema_version"] != DOCUMENTS_SCHEMA_VERSION:
            fail(f"documents: unexpected schema version {manifest['schema_version']!r}")
        self.manifest = manifest
        self.manifest_sha256 = hashlib.sha256(raw).hexdigest()
        self.by_id = {}  # doc_id -> list of document indices (ids can repeat)
        self.tokens = []  # bytes per document
        self.word_starts = []  # np.bool_ per document
        self.ids = []
        self.source_of = {}  # doc_id -> index of its [[sources]] entry, when shards record it
        rows = 0
        for shard in manifest["shards"]:
            path = os.path.join(root, shard["path"])
            if not os.path.exists(path):
                fail(f"documents: shard {shard['path']} listed in the manifest is missing")
            table = pq.read_table(path, columns=["doc_id", "input_ids", "word_starts"])
            doc_ids = plain(table.column("doc_id"), np.uint64)
            io, iv = flat_list(table.column("input_ids"), np.uint32)
            wo, wv = flat_list(table.column("word_starts"), np.bool_)
            if not np.array_equal(io, wo):
                fail(f"documents: {shard['path']}: input_ids and word_starts differ in length")
            blob = iv.astype("<u4").tobytes()
            for r in range(table.num_rows):
                index = len(self.tokens)
                self.by_id.setdefault(int(doc_ids[r]), []).append(index)
                self.ids.append(int(doc_ids[r]))
                if "source" in shard:
                    self.source_of[int(doc_ids[r])] = shard["source"]
                self.tokens.append(blob[4 * io[r]:4 * io[r + 1]])
                self.word_starts.append(wv[io[r]:io[r + 1]])
            rows += table.num_rows
        self.rows = rows
        self.whole = {}  # document tokens -> document indices (packed pieces that are whole documents)
        for index, t in enumerate(self.tokens):
            self.whole.setdefault(t, []).append(index)
        self.corpus = SENTINEL + SENTINEL.join(self.tokens) + SENTINEL
        starts, at = [], len(SENTINEL)
        for t in self.tokens:
            starts.append(at)
            at += len(t) + len(SENTINEL)
        self.starts = starts  # byte offset of each document in `corpus`

    def locate(self, byte_pos):
        """(document index, token offset in it) of an aligned byte position in the corpus."""
        d = bisect.bisect_right(self.starts, byte_pos) - 1
        return d, (byte_pos - self.starts[d]) // 4


def find_aligned(hay, needle, start=0):
    """Byte offset of the first 4-byte aligned occurrence of `needle` at or after `start`."""
    i = hay.find(needle, start)
    while i != -1 and i % 4:
        i = hay.find(needle, i + 1)
    return i


def ws_agree(doc_ws, at, seg_ws, forced):
    """Word starts of a segment at token offset `at` of a document: equal, except at `forced`
    offsets (segment starts), which must be True in the example."""
    expected = doc_ws[at:at + len(seg_ws)].copy()
    if len(expected) != len(seg_ws):
        return False
    expected[list(forced)] = True
    return bool(np.array_equal(expected, seg_ws))


def find_in_doc(doc_bytes, doc_ws, needle, needle_ws, forced, start_byte=0):
    """Token offset of the first occurrence of `needle` in a document at or after `start_byte`
    whose word starts agree; -1 if the tokens occur nowhere, -2 if they occur but never with
    agreeing word starts."""
    seen = False
    i = find_aligned(doc_bytes, needle, start_byte)
    while i != -1:
        seen = True
        if ws_agree(doc_ws, i // 4, needle_ws, forced):
            return i // 4
        i = find_aligned(doc_bytes, needle, i + 4)
    return -2 if seen else -1


# ---------------------------------------------------------------------------------------------


def main():
    parser = argparse.ArgumentParser(description="Check a maskforge examples dataset (one epoch).")
    parser.add_argument("examples", help="the epoch folder, <out>/epochs/E")
    parser.add_argument("--documents", required=True, help="the documents dataset, <out>/documents")
    parser.add_argument("--max-seq-length", type=int, help="every example must fit in this many tokens")
    parser.add_argument("--datasets", action="store_true", help="also read it with Hugging Face datasets")
    parser.add_argument("--split", default="train", choices=SPLITS, help="which split's shards to check")
    args = parser.parse_args()
    root = args.examples

    # ---- 1. manifest, vocabulary, shard files ---------------------------------------------
    manifest, _ = load_json(os.path.join(root, "manifest.json"))
    require(manifest, ["schema_version", "tool_version", "documents_manifest_sha256", "config_hash", "config",
                       "seed", "epoch", "pair_epoch", "tokenizer_hash", "synonyms_hash", "vocab", "shards",
                       "stats"], "manifest.json")
    if manifest["schema_version"] != SCHEMA_VERSION:
        fail(f"manifest schema_version is {manifest['schema_version']!r}, expected {SCHEMA_VERSION!r}")
    config = manifest["config"]
    require(config, ["seed", "pairs", "masking", "output"], "manifest config")
    pairs, masking, output = config["pairs"], config["masking"], config["output"]
    require(pairs, ["task", "max_seq_length", "cls_token", "sep_token", "rebuild_each_epoch", "single_sentence"],
            "manifest config.pairs")
    require(masking, ["mask_token", "max_predictions", "probability", "budget_unit", "random_pool"],
            "manifest config.masking")
    require(output, ["example_shards", "length_bins"], "manifest config.output")
    split_rule = manifest.get("split")
    if args.split == "train":
        section = manifest
    elif args.split in manifest:
        section = manifest[args.split]
    else:
        fail(f"the manifest has no {args.split} section")
    require(section, ["shards", "stats"], f"manifest {args.split}")
    stats = section["stats"]
    require(stats, ["documents_in", "examples", "tokens", "masked_tokens", "mask_rate", "replacement",
                    "pair_types", "length_histogram"], "manifest stats")

    blob = json.dumps(config, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    if hashlib.sha256(blob.encode()).hexdigest() != manifest["config_hash"]:
        fail("config_hash is not the SHA-256 of the manifest's config (compact JSON, keys sorted)")
    if manifest["seed"] != config["seed"]:
        fail(f"manifest seed {manifest['seed']} differs from config.seed {config['seed']}")
    expected_pair_epoch = manifest["epoch"] if pairs["rebuild_each_epoch"] else 0
    if manifest["pair_epoch"] != expected_pair_epoch:
        fail(f"pair_epoch {manifest['pair_epoch']}, expected {expected_pair_epoch} "
             f"(epoch {manifest['epoch']}, rebuild_each_epoch {pairs['rebuild_each_epoch']})")
    # The resolved spec agrees with the configuration it was resolved from.
    require(manifest, ["spec"], "manifest.json")
    spec = manifest["spec"]
    require(spec, ["pairs", "masking"], "manifest spec")
    for key in ["task", "max_seq_length", "short_seq_prob", "single_sentence", "cls_token", "sep_token"]:
        if spec["pairs"].get(key) != pairs.get(key):
            fail(f"spec.pairs.{key} is {spec['pairs'].get(key)!r}, config.pairs.{key} is {pairs.get(key)!r}")
    for key in ["strategy", "probability", "max_predictions", "budget_unit", "replacement_unit", "replace",
                "span_p", "random_pool", "mask_token"]:
        if spec["masking"].get(key) != masking.get(key):
            fail(f"spec.masking.{key} is {spec['masking'].get(key)!r}, config.masking.{key} is {masking.get(key)!r}")
    weights = masking.get("ngram_weights") or [1.0 / k for k in range(1, masking["ngram_max"] + 1)]
    if spec["masking"].get("ngram_weights") != weights:
        fail(f"spec.masking.ngram_weights is {spec['masking'].get('ngram_weights')!r}, expected {weights!r}")
    folder = os.path.basename(os.path.normpath(root))
    if folder.isdigit() and int(folder) != manifest["epoch"]:
        fail(f"folder {folder} holds epoch {manifest['epoch']}")

    docs = Documents(args.documents)
    if docs.manifest_sha256 != manifest["documents_manifest_sha256"]:
        fail("documents_manifest_sha256 is not the SHA-256 of the given documents dataset's manifest.json "
             "(examples built from other documents?)")
    if config.get("documents_config_hash") != docs.manifest["config_hash"]:
        fail("config.documents_config_hash differs from the documents manifest's config_hash")
    if manifest["tokenizer_hash"] != docs.manifest["tokenizer_hash"]:
        fail("tokenizer_hash differs from the documents manifest's")
    if docs.rows != docs.manifest["counts"]["documents_out"]:
        fail(f"documents: shards hold {docs.rows} rows, manifest counts {docs.manifest['counts']['documents_out']}")
    # Every document is read by exactly one split.
    sections = [manifest] + [manifest[k] for k in SPLITS[1:] if k in manifest]
    documents_in = sum(sec["stats"]["documents_in"] for sec in sections)
    if documents_in != docs.rows:
        fail(f"stats.documents_in of the splits add up to {documents_in}, the documents dataset has {docs.rows} "
             "documents")
    if split_rule is None and len(sections) > 1:
        fail("held-out sections without a split rule")
    if split_rule is not None:
        require(split_rule, ["seed", "validation_fraction", "test_fraction"], "manifest split")
        for key in SPLITS[1:]:
            made = split_rule[f"{key}_fraction"] > 0
            if made != (key in manifest):
                fail(f"{key}_fraction is {split_rule[f'{key}_fraction']} but the {key} section is "
                     f"{'missing' if made else 'present'}")

    vocab_entry = manifest["vocab"]
    require(vocab_entry, ["path", "size", "sha256"], "manifest vocab")
    vocab_path = os.path.join(root, vocab_entry["path"])
    if not os.path.exists(vocab_path):
        fail(f"{vocab_entry['path']} is missing")
    if sha256_file(vocab_path) != vocab_entry["sha256"]:
        fail(f"{vocab_entry['path']}: SHA-256 differs from the manifest")
    with open(vocab_path, encoding="utf-8", newline="") as f:
        vocab_text = f.read()
    if not vocab_text.endswith("\n"):
        fail(f"{vocab_entry['path']} does not end with a newline")
    vocab = vocab_text[:-1].split("\n")
    if len(vocab) != vocab_entry["size"]:
        fail(f"{vocab_entry['path']} has {len(vocab)} tokens, manifest says {vocab_entry['size']}")

    def token_id(name, key):
        try:
            return vocab.index(name)
        except ValueError:
            fail(f"{key} = {name!r} is not in {vocab_entry['path']}")

    cls = token_id(pairs["cls_token"], "pairs.cls_token")
    sep = token_id(pairs["sep_token"], "pairs.sep_token")
    mask = token_id(masking["mask_token"], "masking.mask_token")
    vocab_size = len(vocab)

    task = pairs["task"]
    allowed_pair_types = {
        "nsp": {NEXT, RANDOM_DOC},
        "sop": {NEXT, SWAPPED} | ({RANDOM_DOC} if pairs["single_sentence"] == "compat" else set()),
        "full_sentences": {PACKED},
        "doc_sentences": {PACKED},
    }.get(task)
    if allowed_pair_types is None:
        fail(f"unknown config.pairs.task {task!r}")
    nsp_of = np.array([0, 1, -1, -1] if task == "nsp" else [-1] * 4, dtype=np.int8)
    sop_of = np.array([0, 1, 1, -1] if task == "sop" else [-1] * 4, dtype=np.int8)
    config_max = int(pairs["max_seq_length"])
    max_predictions = int(masking["max_predictions"])
    content_pool = masking["random_pool"] == "content"
    # the content pool leaves out markup ([PAD], [unused3], <s>, ...) and empty tokens
    markup = np.array([(len(t) > 2 and ((t[0] == "[" and t[-1] == "]") or (t[0] == "<" and t[-1] == ">")))
                       or not t for t in vocab] + [False])
    whole_words = masking.get("strategy") != "token"

    bounds = list(output["length_bins"])
    binned = bool(bounds)
    if binned and bounds[-1] < config_max:
        bounds.append(config_max)
    shards_per_bin = max(1, int(output["example_shards"]))
    prefix = "" if args.split == "train" else f"{args.split}/"
    if args.split != "train":
        fraction = split_rule[f"{args.split}_fraction"]
        shards_per_bin = int(output.get("split_shards") or
                             min(max(1, math.ceil(int(output["example_shards"]) * fraction)),
                                 int(output["example_shards"])))

    shards = section["shards"]
    if not shards:
        fail("the manifest lists no shards")
    rows_by_bin = {}
    for k, shard in enumerate(shards):
        require(shard, ["path", "rows", "bytes", "sha256"], f"manifest shards[{k}]")
        path = os.path.join(root, shard["path"])
        if not os.path.isfile(path):
            fail(f"shard {shard['path']} listed in the manifest is missing")
        if os.path.getsize(path) != shard["bytes"]:
            fail(f"{shard['path']}: {os.path.getsize(path)} bytes, manifest says {shard['bytes']}")
        if sha256_file(path) != shard["sha256"]:
            fail(f"{shard['path']}: SHA-256 differs from the manifest")
        if binned != ("bin" in shard):
            fail(f"{shard['path']}: shard `bin` is {'missing' if binned else 'present'} "
                 f"but length_bins is {output['length_bins']}")
        b = shard.get("bin", 0)
        if binned and not 0 <= b < len(bounds):
            fail(f"{shard['path']}: bin {b} outside the {len(bounds)} bins {bounds}")
        if k and b < shards[k - 1].get("bin", 0):
            fail(f"{shard['path']}: shards are not in bin order")
        k_in_bin = len(rows_by_bin.get(b, []))
        expected_path = prefix + (f"bin-{b:02d}/part-{k_in_bin:05d}.parquet" if binned
                                  else f"part-{k_in_bin:05d}.parquet")
        if shard["path"] != expected_path:
            fail(f"shard {k} is {shard['path']!r}, expected {expected_path!r}")
        rows_by_bin.setdefault(b, []).append(shard["rows"])
    listed = {os.path.normpath(s["path"]) for sec in sections for s in sec["shards"]}
    for folder_path, _, files in os.walk(root):
        for f in files:
            rel = os.path.normpath(os.path.relpath(os.path.join(folder_path, f), root))
            if f.endswith(".parquet") and rel not in listed:
                fail(f"{rel} is not listed in the manifest (a reader globbing *.parquet would read it)")
    for b, counts in rows_by_bin.items():
        if max(counts) - min(counts) > 1:
            fail(f"bin {b}: shard row counts {counts} differ by more than 1")
        if len(counts) != shards_per_bin:
            fail(f"bin {b}: {len(counts)} shards, config.output.example_shards is {shards_per_bin}")
        if counts != sorted(counts, reverse=True):
            fail(f"bin {b}: shard row counts {counts} are not the larger ones first")
    total_rows = sum(s["rows"] for s in shards)
    if total_rows != stats["examples"]:
        fail(f"shards hold {total_rows} rows, stats.examples is {stats['examples']}")

    # ---- 2-6. every shard ------------------------------------------------------------------
    expected_columns = EXPECTED_COLUMNS + ([BIN_COLUMN] if binned else [])
    next_id = 0
    totals = {"tokens": 0, "masked": 0}
    per_source = {}  # source -> [examples, tokens]
    kinds_count = np.zeros(4, dtype=np.int64)
    pair_count = np.zeros(4, dtype=np.int64)
    histogram = {}
    bin_count = {}
    found = {"exact": 0, "truncated": 0, "random_b": 0, "packed_pieces": 0, "changed_random": 0,
             "unchanged_random": 0, "unchanged_similar": 0}
    sample = {}  # example_id -> input_ids, for the datasets check
    sample_ids = {0, total_rows - 1} | set(random.Random(0).sample(range(total_rows), min(8, total_rows)))

    for shard in shards:
        name = shard["path"]
        path = os.path.join(root, name)

        # -- 2. schema and footer
        schema = pq.read_schema(path)
        if schema.names != [n for n, _ in expected_columns]:
            fail(f"{name}: columns {schema.names}, expected {[n for n, _ in expected_columns]}")
        for col, dtype in expected_columns:
            field = schema.field(col)
            if field.nullable:
                fail(f"{name}: column {col} is nullable")
            if field.type != dtype:
                fail(f"{name}: column {col} is {field.type}, expected {dtype}")
            if pa.types.is_list(dtype):
                item = field.type.value_field
                if item.name != "item" or item.nullable or item.type != dtype.value_type:
                    fail(f"{name}: column {col} has list items {item}, expected non-null `item: {dtype.value_type}`")
        meta = pq.read_metadata(path).metadata or {}
        if meta.get(b"maskforge.schema_version") != SCHEMA_VERSION.encode():
            fail(f"{name}: footer maskforge.schema_version is {meta.get(b'maskforge.schema_version')!r}")
        if meta.get(b"maskforge.config_hash") != manifest["config_hash"].encode():
            fail(f"{name}: footer maskforge.config_hash differs from the manifest's config_hash")

        table = pq.read_table(path)
        n = table.num_rows
        if n != shard["rows"]:
            fail(f"{name}: {n} rows, manifest says {shard['rows']}")
        for col in table.column_names:
            if table.column(col).null_count:
                fail(f"{name}: column {col} has nulls")
        if n == 0:
            continue

        # -- 3. dense example ids
        example_id = plain(table.column("example_id"), np.uint64)
        expected_ids = np.arange(next_id, next_id + n, dtype=np.uint64)
        if not np.array_equal(example_id, expected_ids):
            r = int(np.argmax(example_id != expected_ids))
            fail(f"{name} row {r}: example_id {example_id[r]}, expected {expected_ids[r]} (ids must be dense "
                 f"from 0 in manifest shard order)")
        next_id += n

        # -- 4. per example
        doc_id = plain(table.column("doc_id"), np.uint64)
        if split_rule is not None:
            for r, d in enumerate(doc_id):
                if split_of(split_rule, int(d)) != args.split:
                    fail(f"{name} row {r}: document {int(d)} belongs to {split_of(split_rule, int(d))}, "
                         f"not {args.split}")
        o, ids = flat_list(table.column("input_ids"), np.int64)
        tto, tt = flat_list(table.column("token_type_ids"), np.int64)
        wso, ws = flat_list(table.column("word_starts"), np.bool_)
        po, pos = flat_list(table.column("masked_positions"), np.int64)
        lo, labels = flat_list(table.column("masked_labels"), np.int64)
        ko, kinds = flat_list(table.column("mask_kinds"), np.int64)
        pair_type = plain(table.column("pair_type"), np.int64)
        nsp = plain(table.column("nsp_label"), np.int8)
        sop = plain(table.column("sop_label"), np.int8)
        num_tokens = plain(table.column("num_tokens"), np.int64)
        lens = np.diff(o)
        counts = np.diff(po)

        def where(r):
            return f"{name} row {r} (example_id {int(example_id[r])}, doc_id {int(doc_id[r])})"

        def check_rows(ok, message):
            """Fails at the first row where `ok` is False; `message(r)` describes it."""
            if not np.all(ok):
                r = int(np.argmin(ok))
                fail(f"{where(r)}: {message(r)}")

        check_rows(num_tokens == lens, lambda r: f"num_tokens {num_tokens[r]} but {lens[r]} input_ids")
        check_rows(np.diff(tto) == lens, lambda r: f"{np.diff(tto)[r]} token_type_ids for {lens[r]} input_ids")
        check_rows(np.diff(wso) == lens, lambda r: f"{np.diff(wso)[r]} word_starts for {lens[r]} input_ids")
        check_rows((np.diff(lo) == counts) & (np.diff(ko) == counts),
                   lambda r: f"{counts[r]} masked_positions, {np.diff(lo)[r]} masked_labels, "
                             f"{np.diff(ko)[r]} mask_kinds")
        check_rows(lens >= 3, lambda r: f"only {lens[r]} tokens")
        check_rows(lens <= config_max, lambda r: f"{lens[r]} tokens, pairs.max_seq_length is {config_max}")
        if args.max_seq_length is not None:
            check_rows(lens <= args.max_seq_length,
                       lambda r: f"{lens[r]} tokens, more than --max-seq-length {args.max_seq_length}")
        check_rows(np.isin(pair_type, sorted(allowed_pair_types)),
                   lambda r: f"pair_type {pair_type[r]} is not possible with task {task!r}")
        check_rows(nsp == nsp_of[pair_type],
                   lambda r: f"nsp_label {nsp[r]} for pair_type {pair_type[r]} with task {task!r} "
                             f"(expected {nsp_of[pair_type[r]]})")
        check_rows(sop == sop_of[pair_type],
                   lambda r: f"sop_label {sop[r]} for pair_type {pair_type[r]} with task {task!r} "
                             f"(expected {sop_of[pair_type[r]]})")
        if ids.size and ids.max() >= vocab_size:
            r = int(np.searchsorted(o, int(np.argmax(ids >= vocab_size)), side="right") - 1)
            fail(f"{where(r)}: input id {int(ids.max())} outside the vocabulary of {vocab_size}")
        check_rows(ids[o[:-1]] == cls, lambda r: f"first token is {ids[o[r]]} ({vocab[ids[o[r]]]!r}), "
                                                 f"expected {cls} ({pairs['cls_token']!r})")
        check_rows(ids[o[1:] - 1] == sep, lambda r: f"last token is {ids[o[r + 1] - 1]} ({vocab[ids[o[r + 1] - 1]]!r}), "
                                                    f"expected {sep} ({pairs['sep_token']!r})")
        check_rows(counts <= max_predictions,
                   lambda r: f"{counts[r]} masked positions, masking.max_predictions is {max_predictions}")
        if masking["budget_unit"] == "tokens":
            limit = np.array([min(max_predictions, max(1, round(int(x) * float(masking["probability"]))))
                              for x in lens])
            check_rows(counts <= limit, lambda r: f"{counts[r]} masked positions, the token budget of "
                                                  f"{lens[r]} tokens is {limit[r]}")

        # masked positions
        prow = np.repeat(np.arange(n), counts)
        if pos.size:
            in_range = pos < lens[prow]
            if not in_range.all():
                k = int(np.argmin(in_range))
                fail(f"{where(prow[k])}: masked position {pos[k]} outside {lens[prow[k]]} tokens")
            same_row = prow[1:] == prow[:-1]
            increasing = (pos[1:] > pos[:-1]) | ~same_row
            if not increasing.all():
                k = int(np.argmin(increasing))
                fail(f"{where(prow[k])}: masked positions not sorted and unique: "
                     f"{pos[po[prow[k]]:po[prow[k] + 1]].tolist()}")
            if kinds.max() > 3:
                k = int(np.argmax(kinds > 3))
                fail(f"{where(prow[k])}: mask kind {kinds[k]}")
            if labels.max() >= vocab_size:
                k = int(np.argmax(labels >= vocab_size))
                fail(f"{where(prow[k])}: masked label {labels[k]} outside the vocabulary of {vocab_size}")
        absolute = o[prow] + pos
        shown = ids[absolute]

        def check_masked(ok, message):
            if not np.all(ok):
                k = int(np.argmin(ok))
                r = int(prow[k])
                fail(f"{where(r)}: masked position {pos[k]} (kind {kinds[k]}, shown {shown[k]}, "
                     f"label {labels[k]}): {message}")

        check_masked((pos != 0) & (pos != lens[prow] - 1), "a CLS/SEP position is masked")
        check_masked((labels != cls) & (labels != sep), "the original token is CLS/SEP (a special token is masked)")
        check_masked((kinds != 0) | (shown == mask), f"kind 0 (mask) but the token is not {mask} ({masking['mask_token']!r})")
        check_masked((kinds != 3) | (shown == labels), "kind 3 (keep) but the token differs from the label")
        if content_pool:
            check_masked(~np.isin(kinds, [1, 2]) | ~markup[np.minimum(shown, vocab_size)],
                         f"a random/similar replacement is a markup or empty token (random_pool is 'content')")
        found["unchanged_random"] += int(np.sum((kinds == 2) & (shown == labels)))
        found["unchanged_similar"] += int(np.sum((kinds == 1) & (shown == labels)))

        # -- 5a. restore, and the structure of the unmasked example
        restored = ids.copy()
        restored[absolute] = labels
        row_of = np.repeat(np.arange(n), lens)
        index = np.arange(ids.size) - o[row_of]
        is_cls = restored == cls
        if not np.array_equal(np.flatnonzero(is_cls), o[:-1]):
            k = int(np.setdiff1d(np.flatnonzero(is_cls), o[:-1])[0])
            fail(f"{where(row_of[k])}: CLS token inside the example at position {index[k]}")
        is_mask = restored == mask
        if is_mask.any():
            k = int(np.argmax(is_mask))
            fail(f"{where(row_of[k])}: the unmasked example holds the mask token at position {index[k]}")
        is_sep = restored == sep
        sep_at = np.flatnonzero(is_sep)
        sep_rows = row_of[sep_at]
        _, first = np.unique(sep_rows, return_index=True)
        first_sep = index[sep_at[first]]  # every row has one (the last token)
        sep_count = np.bincount(sep_rows, minlength=n)
        packed = pair_type == PACKED
        check_rows(packed | (sep_count == 2), lambda r: f"{sep_count[r]} SEP tokens in a pair (pair_type {pair_type[r]})")
        if task == "doc_sentences":
            check_rows(sep_count == 1, lambda r: f"{sep_count[r]} SEP tokens; doc_sentences never joins documents")
        adjacent = is_sep[1:] & is_sep[:-1] & (row_of[1:] == row_of[:-1])
        if adjacent.any():
            k = int(np.argmax(adjacent))
            fail(f"{where(row_of[k])}: empty segment (SEP at positions {index[k]} and {index[k] + 1})")
        check_rows(first_sep >= 2, lambda r: "empty first segment")
        if content_pool and np.any(~is_sep & (ids == sep)):
            k = int(np.argmax(~is_sep & (ids == sep)))
            fail(f"{where(row_of[k])}: SEP id at content position {index[k]}")

        expected_tt = np.where(packed[row_of], 0, (index > first_sep[row_of]).astype(np.int64))
        if not np.array_equal(tt, expected_tt):
            k = int(np.argmax(tt != expected_tt))
            r = int(row_of[k])
            fail(f"{where(r)}: token_type_ids[{index[k]}] is {tt[k]}, expected {expected_tt[k]} (pair_type "
                 f"{pair_type[r]}, {lens[r]} tokens, first SEP at {first_sep[r]}; 0 up to it, then 1 for pairs, "
                 f"0 throughout for packed sequences)")
        must_start = is_cls | is_sep | (index == 1)
        b_start = o[:-1] + first_sep + 1
        b_start = b_start[~packed]
        must_start[b_start] = True
        after_sep = np.flatnonzero(is_sep[:-1]) + 1
        after_sep = after_sep[(row_of[after_sep] == row_of[after_sep - 1])]
        must_start[after_sep] = True
        if np.any(must_start & ~ws):
            k = int(np.argmax(must_start & ~ws))
            fail(f"{where(row_of[k])}: word_starts is false at position {index[k]} (a special token or a "
                 f"segment start)")

        # whole words (a word: a flagged token and the unflagged ones after it; special tokens are
        # flagged, so they are words of their own and never masked)
        masked_flat = np.zeros(ids.size, dtype=bool)
        masked_flat[absolute] = True
        special_flat = is_cls | is_sep
        if whole_words:
            word = np.cumsum(ws) - 1
            size = np.bincount(word)
            hit = np.bincount(word[masked_flat], minlength=size.size)
            partial = (hit > 0) & (hit < size)
            if partial.any():
                w0 = int(np.argmax(partial))
                k = int(np.argmax(word == w0))
                fail(f"{where(row_of[k])}: strategy {masking.get('strategy')!r} masked {hit[w0]} of the {size[w0]} "
                     f"tokens of the word at position {index[k]} (a whole-word strategy never masks part of a word)")
        else:
            word = np.arange(ids.size)
        if masking["budget_unit"] == "words":
            first_of_word = np.r_[True, word[1:] != word[:-1]]
            words_per_row = np.bincount(row_of[first_of_word & ~special_flat], minlength=n)
            masked_words = np.bincount(row_of[first_of_word & masked_flat], minlength=n)
            word_limit = np.array([max(1, round(int(x) * float(masking["probability"]))) for x in words_per_row])
            check_rows(masked_words <= word_limit,
                       lambda r: f"{masked_words[r]} masked words, the word budget of {words_per_row[r]} words "
                                 f"is {word_limit[r]}")

        # -- 6. Hugging Face MLM labels
        hf_labels = np.full(ids.size, -100, dtype=np.int64)
        hf_labels[absolute] = labels
        if int(np.count_nonzero(hf_labels != -100)) != pos.size:
            fail(f"{name}: {np.count_nonzero(hf_labels != -100)} labels != -100 for {pos.size} masked positions")
        per_row = np.bincount(row_of[hf_labels != -100], minlength=n)
        check_rows(per_row == counts, lambda r: f"{per_row[r]} labels for {counts[r]} masked positions")
        # `absolute` increases (rows in order, positions sorted), so it lines up with the labels
        if not np.all(ids[np.flatnonzero(hf_labels != -100)][kinds == 0] == mask):
            fail(f"{name}: input_ids at kind-0 labels are not the mask token")
        width = int(lens.max())
        batch_ids = np.zeros((n, width), dtype=np.int64)
        batch_labels = np.full((n, width), -100, dtype=np.int64)
        batch_ids[row_of, index] = ids
        batch_labels[row_of, index] = hf_labels
        attention = np.arange(width)[None, :] < lens[:, None]
        if int(attention.sum()) != ids.size or int((batch_labels != -100).sum()) != pos.size:
            fail(f"{name}: padded batch does not hold every token and label")

        # -- statistics
        totals["tokens"] += int(lens.sum())
        totals["masked"] += int(pos.size)
        for d, length in zip(doc_id.tolist(), lens.tolist()):
            counts_of = per_source.setdefault(docs.source_of.get(int(d)), [0, 0])
            counts_of[0] += 1
            counts_of[1] += int(length)
        kinds_count += np.bincount(kinds, minlength=4)[:4]
        pair_count += np.bincount(pair_type, minlength=4)[:4]
        for key, c in zip(*np.unique((lens + 63) // 64 * 64, return_counts=True)):
            histogram[str(int(key))] = histogram.get(str(int(key)), 0) + int(c)
        if binned:
            row_bin = plain(table.column("bin"), np.int64)
            check_rows(row_bin == shard["bin"], lambda r: f"bin {row_bin[r]} in a shard of bin {shard['bin']}")
            hi = np.array(bounds)[row_bin]
            lo_bound = np.where(row_bin > 0, np.array([0] + bounds)[row_bin], 0)
            check_rows((lens <= hi) & (lens > lo_bound),
                       lambda r: f"{lens[r]} tokens in bin {row_bin[r]} of bounds {bounds}")
            bin_count[shard["bin"]] = bin_count.get(shard["bin"], 0) + n

        for r in range(n):
            e = int(example_id[r])
            if e in sample_ids:
                sample[e] = ids[o[r]:o[r + 1]].copy()

        # -- 5b. segments against the documents
        rb = restored.astype("<u4").tobytes()
        ws_rows = [ws[o[r]:o[r + 1]] for r in range(n)]
        for r in range(n):
            start, end = int(o[r]), int(o[r + 1])
            d = int(doc_id[r])
            candidates = docs.by_id.get(d)
            if not candidates:
                fail(f"{where(r)}: doc_id {d} is not in the documents dataset")
            pt = int(pair_type[r])
            w = ws_rows[r]
            if pt != PACKED:
                s = int(first_sep[r])
                a = rb[4 * (start + 1):4 * (start + s)]
                b = rb[4 * (start + s + 1):4 * (end - 1)]
                a_ws, b_ws = w[1:s], w[s + 1:-1]
                if pt == RANDOM_DOC:
                    if not any(find_in_doc(docs.tokens[c], docs.word_starts[c], a, a_ws, [0]) >= 0
                               for c in candidates):
                        fail(f"{where(r)}: segment A ({len(a) // 4} tokens) of a random-document pair is not a "
                             f"contiguous part of document {d} (or its word starts differ)")
                    ok = False
                    i = find_aligned(docs.corpus, b)
                    while i != -1 and not ok:
                        c, t = docs.locate(i)
                        ok = docs.ids[c] != d and ws_agree(docs.word_starts[c], t, b_ws, [0])
                        i = find_aligned(docs.corpus, b, i + 4)
                    if not ok:
                        fail(f"{where(r)}: segment B ({len(b) // 4} tokens) of a random-document pair is not a "
                             f"contiguous part of any other document (or its word starts differ)")
                    found["random_b"] += 1
                    continue
                # in document order: X then Y
                x, y, x_ws, y_ws = (a, b, a_ws, b_ws) if pt == NEXT else (b, a, b_ws, a_ws)
                xy_ws = np.concatenate([x_ws, y_ws])
                if any(find_in_doc(docs.tokens[c], docs.word_starts[c], x + y, xy_ws, [0, len(x) // 4]) >= 0
                       for c in candidates):
                    found["exact"] += 1
                    continue
                order = "A+B" if pt == NEXT else "B+A"
                if lens[r] != config_max:
                    fail(f"{where(r)}: {order} (pair_type {pt}, {len(a) // 4}+{len(b) // 4} tokens) is not a "
                         f"contiguous part of document {d}, and the example ({lens[r]} tokens) was not truncated "
                         f"to max_seq_length {config_max}")
                ok = False
                for c in candidates:
                    t = find_in_doc(docs.tokens[c], docs.word_starts[c], x, x_ws, [0])
                    while t >= 0 and not ok:
                        ok = find_in_doc(docs.tokens[c], docs.word_starts[c], y, y_ws, [0],
                                         start_byte=4 * t + len(x)) >= 0
                        t = -1 if ok else find_in_doc(docs.tokens[c], docs.word_starts[c], x, x_ws, [0],
                                                      start_byte=4 * t + 4)
                    if ok:
                        break
                if not ok:
                    fail(f"{where(r)}: truncated pair (pair_type {pt}, {len(a) // 4}+{len(b) // 4} tokens): "
                         f"{'A' if pt == NEXT else 'B'} then {'B' if pt == NEXT else 'A'} are not found in that "
                         f"order in document {d} (or their word starts differ)")
                found["truncated"] += 1
                continue

            # packed: pieces split at the SEPs inside
            seps = [int(k) - start for k in sep_at[(sep_at >= start) & (sep_at < end)]]
            bounds_p = [0] + seps
            pieces = [(rb[4 * (start + p + 1):4 * (start + q)], w[p + 1:q]) for p, q in zip(bounds_p, bounds_p[1:])]
            first_piece, first_ws = pieces[0]
            ok = False
            for c in candidates:
                dt, dw = docs.tokens[c], docs.word_starts[c]
                if len(pieces) == 1:
                    ok = find_in_doc(dt, dw, first_piece, first_ws, [0]) >= 0
                else:  # the rest of the document: a suffix
                    at = (len(dt) - len(first_piece)) // 4
                    ok = dt.endswith(first_piece) and ws_agree(dw, at, first_ws, [0])
                if ok:
                    break
            if not ok:
                fail(f"{where(r)}: first packed piece ({len(first_piece) // 4} tokens) is not a contiguous part "
                     f"{'' if len(pieces) == 1 else '(suffix) '}of document {d} (or its word starts differ)")
            for k, (piece, piece_ws) in enumerate(pieces[1:], start=1):
                last = k == len(pieces) - 1
                ok = any(ws_agree(docs.word_starts[c], 0, piece_ws, []) for c in docs.whole.get(piece, []))
                needle = SENTINEL + piece + (b"" if last else SENTINEL)
                i = -1 if ok else find_aligned(docs.corpus, needle)
                while i != -1 and not ok:
                    c, t = docs.locate(i + 4)
                    ok = ws_agree(docs.word_starts[c], t, piece_ws, [])
                    i = find_aligned(docs.corpus, needle, i + 4)
                if not ok:
                    fail(f"{where(r)}: packed piece {k} ({len(piece) // 4} tokens, after a SEP) is not "
                         f"{'the start' if last else 'the whole'} of any document (or its word starts differ)")
                found["packed_pieces"] += 1

    if next_id != total_rows:
        fail(f"read {next_id} examples, manifest rows add up to {total_rows}")

    # ---- 1 (continued). statistics against the rows ------------------------------------------
    def compare(key, expected, actual):
        if expected != actual:
            fail(f"stats.{key} is {expected}, the rows give {actual}")

    compare("examples", stats["examples"], next_id)
    compare("tokens", stats["tokens"], totals["tokens"])
    compare("masked_tokens", stats["masked_tokens"], totals["masked"])
    rate = totals["masked"] / totals["tokens"] if totals["tokens"] else 0.0
    if not math.isclose(stats["mask_rate"], rate, rel_tol=1e-9, abs_tol=1e-12):
        fail(f"stats.mask_rate is {stats['mask_rate']}, the rows give {rate}")
    compare("replacement", stats["replacement"], {k: int(c) for k, c in zip(KIND_NAMES, kinds_count)})
    compare("pair_types", stats["pair_types"], {k: int(c) for k, c in zip(PAIR_NAMES, pair_count) if c})
    compare("length_histogram", stats["length_histogram"], histogram)
    # The mixture: examples and tokens per source from the rows (a row's source is its document's
    # shard's), drawn copies whole or near weight x documents, shares summing to 1.
    if "sources" in stats:
        sources = stats["sources"]
        for i, entry in enumerate(sources):
            require(entry, ["weight", "documents", "drawn", "examples", "tokens", "share"], f"stats.sources.{i}")
            examples_of, tokens_of = per_source.get(i, [0, 0])
            compare(f"sources.{i}.examples", entry["examples"], examples_of)
            compare(f"sources.{i}.tokens", entry["tokens"], tokens_of)
            share = tokens_of / totals["tokens"] if totals["tokens"] else 0.0
            if not math.isclose(entry["share"], share, rel_tol=1e-9, abs_tol=1e-12):
                fail(f"stats.sources.{i}.share is {entry['share']}, the rows give {share}")
            w, n = entry["weight"], entry["documents"]
            whole = math.floor(w)
            if not whole * n <= entry["drawn"] <= (whole + (w > whole)) * n:
                fail(f"stats.sources.{i}: {entry['drawn']} copies drawn of {n} documents at weight {w}")
        if set(per_source) - set(range(len(sources))):
            fail(f"examples of documents of no listed source: {sorted(map(str, per_source))}")
    if binned:
        actual_bins = {str(b): bin_count.get(b, 0) for b in range(len(bounds))}
        compare("bins", {k: v for k, v in stats.get("bins", {}).items()}, actual_bins)
        for b, c in bin_count.items():
            if sum(rows_by_bin[b]) != c:
                fail(f"bin {b}: shards list {sum(rows_by_bin[b])} rows, hold {c}")
        empty = [b for b in rows_by_bin if sum(rows_by_bin[b]) == 0]
        if empty:
            fail(f"bins {empty} have shards but no examples")
    elif stats.get("bins"):
        fail(f"stats.bins is {stats['bins']} without length bins")

    # ---- 7. Hugging Face datasets --------------------------------------------------------------
    datasets_note = ""
    if args.datasets:
        datasets_note = check_datasets(root, shards, sample, total_rows)

    mix = ", ".join(f"{k} {100 * c / max(1, totals['masked']):.1f}%" for k, c in zip(KIND_NAMES, kinds_count))
    pair_mix = " ".join(f"{k}={int(c)}" for k, c in zip(PAIR_NAMES, pair_count) if c)
    located = []
    if found["exact"] or found["truncated"]:
        located.append(f"{found['exact']} contiguous + {found['truncated']} truncated pairs")
    if found["random_b"]:
        located.append(f"{found['random_b']} random-document pairs")
    if pair_count[PACKED]:
        located.append(f"{int(pair_count[PACKED])} packed ({found['packed_pieces']} further pieces)")
    unchanged = found["unchanged_random"] + found["unchanged_similar"]
    print(f"check_examples: ok: {next_id} examples, {totals['tokens']} tokens, {len(shards)} shards"
          f"{f' in {len(rows_by_bin)} bins' if binned else ''}, task {task}, pairs {pair_mix or '-'}; "
          f"{totals['masked']} masked ({mix}{f'; {unchanged} random/similar equal to the label' if unchanged else ''}); "
          f"located in documents: {'; '.join(located) or '-'}{datasets_note}")


def check_datasets(root, shards, sample, total_rows):
    try:
        import datasets  # only with --datasets
    except ImportError:
        fail("--datasets needs the `datasets` package (python3 -m pip install datasets)")

    datasets.disable_progress_bars()
    datasets.logging.set_verbosity_error()

    paths = [os.path.join(root, s["path"]) for s in shards]
    ordered = sorted(paths)
    cache = tempfile.mkdtemp(prefix="check-examples-hf-")
    try:
        ds = datasets.load_dataset("parquet", data_files=ordered, split="train", cache_dir=cache)
        if ds.num_rows != total_rows:
            fail(f"datasets: {ds.num_rows} rows, expected {total_rows}")
        # where each example id lands when the files are read in sorted order: (first id, rows, first row)
        first_id, rows, at = {}, {}, 0
        for s in shards:
            p = os.path.join(root, s["path"])
            first_id[p], rows[p] = at, s["rows"]
            at += s["rows"]
        spans, at = [], 0
        for p in ordered:
            spans.append((first_id[p], rows[p], at))
            at += rows[p]
        for e, expected in sorted(sample.items()):
            position = next(start + (e - f) for f, count, start in spans if f <= e < f + count)
            row = ds[position]
            if row["example_id"] != e or list(row["input_ids"]) != expected.tolist():
                fail(f"datasets: row {position} is example {row['example_id']}, expected example {e} "
                     f"with the input_ids pyarrow reads")
        k = min(16, total_rows)
        batch = ds.with_format("numpy")[:k]
        for col in ["input_ids", "masked_positions", "masked_labels"]:
            values = batch[col]
            if len(values) != k:
                fail(f"datasets: numpy batch of {k} has {len(values)} {col}")
            for v in values:
                if not isinstance(v, np.ndarray) or v.dtype.kind not in "ui":
                    fail(f"datasets: numpy format gives {type(v).__name__} "
                         f"{getattr(v, 'dtype', '')} for {col}")
        for v, e in zip(batch["input_ids"], batch["example_id"]):
            if int(e) in sample and not np.array_equal(v, sample[int(e)]):
                fail(f"datasets: numpy input_ids of example {int(e)} differ from pyarrow's")
        features = ds.features
        dtype = getattr(getattr(features["input_ids"], "feature", None), "dtype", None)
        del ds, batch
        return f"; datasets: {total_rows} rows, {len(sample)} compared, numpy batch of {k} (input_ids {dtype})"
    finally:
        shutil.rmtree(cache, ignore_errors=True)


if __name__ == "__main__":
    main()
