#!/usr/bin/env python3
"""Reads a maskforge documents dataset the way an outside consumer would (pyarrow only) and
checks it against the documented contract (schemas/documents.md).

    python3 tests/python/check_documents.py DATASET_DIR --vocab VOCAB_TXT [--decode]

Checks: manifest fields and record accounting; every shard listed exists with its size, row count
and SHA-256; the Parquet schema is as documented; per document, `input_ids`, `word_starts` and
`num_tokens` agree, sentence ends increase and end at `num_tokens`, every id is in the vocabulary
and the first token starts a word. With --decode (needs the `text` column), the WordPiece tokens
of every document decode back to its normalized text without spaces, `[UNK]` matching anything.
Exits non-zero with a message on the first violation.
"""
import argparse
import hashlib
import json
import os
import re
import sys
import unicodedata

import pyarrow as pa
import pyarrow.parquet as pq

EXPECTED = {
    "doc_id": pa.uint64(),
    "source": pa.dictionary(pa.int32(), pa.string()),
    "input_ids": pa.list_(pa.field("item", pa.uint32(), nullable=False)),
    "sentence_ends": pa.list_(pa.field("item", pa.uint32(), nullable=False)),
    "word_starts": pa.list_(pa.field("item", pa.bool_(), nullable=False)),
    "num_tokens": pa.uint32(),
}


def fail(message):
    print(f"check_documents: {message}", file=sys.stderr)
    sys.exit(1)


def normalize(text, lowercase):
    """What BertNormalizer does to the text, minus the spaces it adds."""
    if lowercase:
        text = unicodedata.normalize("NFD", text.lower())
        text = "".join(c for c in text if unicodedata.category(c) != "Mn")
    return re.sub(r"\s+", "", text)


def decoded_pattern(tokens):
    parts = []
    for token in tokens:
        if token == "[UNK]":
            parts.append(".+?")
        else:
            parts.append(re.escape(token[2:] if token.startswith("##") else token))
    return "".join(parts)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("dataset")
    parser.add_argument("--vocab", required=True)
    parser.add_argument("--decode", action="store_true")
    parser.add_argument("--cased", action="store_true", help="the vocabulary is cased")
    args = parser.parse_args()

    with open(args.vocab, encoding="utf-8") as f:
        vocab = [line.rstrip("\n") for line in f]

    with open(os.path.join(args.dataset, "manifest.json"), encoding="utf-8") as f:
        manifest = json.load(f)
    for key in ["schema_version", "tool_version", "config_hash", "config", "tokenizer_hash",
                "dictionary_hash", "shards", "inputs", "counts"]:
        if key not in manifest:
            fail(f"manifest has no `{key}`")
    if manifest["schema_version"] != "maskforge.documents/2":
        fail(f"unexpected schema version {manifest['schema_version']}")
    counts = manifest["counts"]
    if counts["records_in"] != counts["documents_out"] + sum(counts["skipped"].values()):
        fail(f"records are not accounted for: {counts}")

    rows = tokens = sentences = checked_decode = 0
    for shard in manifest["shards"]:
        path = os.path.join(args.dataset, shard["path"])
        data = open(path, "rb").read()
        if len(data) != shard["bytes"] or hashlib.sha256(data).hexdigest() != shard["sha256"]:
            fail(f"{shard['path']}: size or checksum differs from the manifest")
        table = pq.read_table(path)
        if table.num_rows != shard["rows"]:
            fail(f"{shard['path']}: {table.num_rows} rows, manifest says {shard['rows']}")
        for name, dtype in EXPECTED.items():
            field = table.schema.field(name)
            if field.type != dtype or field.nullable:
                fail(f"{shard['path']}: column {name} is {field.type} (nullable={field.nullable}), expected {dtype}")
        meta = pq.read_metadata(path).metadata or {}
        if meta.get(b"maskforge.schema_version") != b"maskforge.documents/2":
            fail(f"{shard['path']}: footer lacks the schema version")
        has_text = "text" in table.schema.names
        if args.decode and not has_text:
            fail("--decode needs the text column (output.keep_text = true)")
        for row in table.to_pylist():
            ids, starts, ends, n = row["input_ids"], row["word_starts"], row["sentence_ends"], row["num_tokens"]
            where = f"{shard['path']} doc {row['doc_id']}"
            if not (len(ids) == len(starts) == n > 0):
                fail(f"{where}: {len(ids)} ids, {len(starts)} word starts, num_tokens {n}")
            if not ends or ends[-1] != n or any(b <= a for a, b in zip(ends, ends[1:])) or ends[0] <= 0:
                fail(f"{where}: bad sentence ends {ends[:10]}... for {n} tokens")
            if not starts[0]:
                fail(f"{where}: the first token does not start a word")
            if max(ids) >= len(vocab):
                fail(f"{where}: id {max(ids)} outside the vocabulary of {len(vocab)}")
            if args.decode:
                pattern = decoded_pattern(vocab[i] for i in ids)
                expected = normalize(row["text"], lowercase=not args.cased)
                if re.fullmatch(pattern, expected, flags=re.DOTALL) is None:
                    fail(f"{where}: tokens do not decode to the text\n  text:   {expected[:200]}\n  tokens: {pattern[:200]}")
                checked_decode += 1
            rows += 1
            tokens += n
            sentences += len(ends)
    if rows != counts["documents_out"] or tokens != counts["tokens"] or sentences != counts["sentences"]:
        fail(f"shards hold {rows} documents, {tokens} tokens, {sentences} sentences; manifest counts {counts}")
    print(f"check_documents: ok: {rows} documents, {tokens} tokens, {sentences} sentences"
          f"{f', {checked_decode} decoded' if args.decode else ''}")


if __name__ == "__main__":
    main()
