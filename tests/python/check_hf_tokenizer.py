"""Checks the Hugging Face files of an examples epoch against its documents dataset:
`AutoTokenizer.from_pretrained(EPOCH_DIR)` must give every stored document's ids, sentence by
sentence (the documents need `output.keep_text = true`), and for a byte-level tokenizer line by
line too (a sentence encoded with the space before it), and `model_hints.json` must agree with
the tokenizer and the manifest.

usage: check_hf_tokenizer.py EPOCH_DIR DOCUMENTS_DIR
"""

import hashlib
import json
import os
import sys

import pyarrow.parquet as pq
from transformers import AutoTokenizer
from transformers.utils import logging as hf_logging

hf_logging.set_verbosity_error()  # long documents are fine here: no model reads them

epoch_dir, documents_dir = sys.argv[1], sys.argv[2]
manifest = json.load(open(os.path.join(epoch_dir, "manifest.json")))
listed = {f["path"]: f for f in manifest["files"]}
for name in ["tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "model_hints.json"]:
    assert name in listed, f"{name} is not in the manifest's files"
    with open(os.path.join(epoch_dir, name), "rb") as f:
        data = f.read()
    assert len(data) == listed[name]["bytes"], f"{name}: size differs from the manifest"
    assert hashlib.sha256(data).hexdigest() == listed[name]["sha256"], f"{name}: SHA-256 differs from the manifest"

tokenizer = AutoTokenizer.from_pretrained(epoch_dir)
hints = json.load(open(os.path.join(epoch_dir, "model_hints.json")))
spec = manifest["spec"]
assert hints["task"] == spec["pairs"]["task"]
assert hints["max_seq_length"] == spec["pairs"]["max_seq_length"] == tokenizer.model_max_length
assert hints["vocab_size"] == len(tokenizer) == manifest["vocab"]["size"], (hints["vocab_size"], len(tokenizer))
ids = hints["special_ids"]
assert ids["cls"] == tokenizer.cls_token_id == tokenizer.convert_tokens_to_ids(spec["pairs"]["cls_token"])
assert ids["sep"] == tokenizer.sep_token_id == tokenizer.convert_tokens_to_ids(spec["pairs"]["sep_token"])
assert ids["mask"] == tokenizer.mask_token_id == tokenizer.convert_tokens_to_ids(spec["masking"]["mask_token"])
assert ids["pad"] == tokenizer.pad_token_id, (ids["pad"], tokenizer.pad_token_id)
assert ids["unk"] == tokenizer.unk_token_id
assert hints["hf_config"]["pad_token_id"] == ids["pad"]
pair = tokenizer("a", "b")
assert pair["input_ids"][0] == ids["cls"] and pair["input_ids"][-1] == ids["sep"], pair
assert set(pair["token_type_ids"]) <= {0, 1}

docs_manifest = json.load(open(os.path.join(documents_dir, "manifest.json")))
documents = 0
# Byte-level BPE (GPT-2, RoBERTa): a word after a space is another token than the word alone.
byte_level = json.load(open(os.path.join(epoch_dir, "tokenizer.json"))).get("pre_tokenizer", {}).get("type") == "ByteLevel"
joins = [0, 0]  # sentences that continue a line, lines
for shard in docs_manifest["shards"]:
    table = pq.read_table(os.path.join(documents_dir, shard["path"]), columns=["doc_id", "input_ids", "sentence_ends", "text"])
    for row in table.to_pylist():
        sentences = row["text"].split("\n")
        encoded = tokenizer(sentences, add_special_tokens=False)["input_ids"]
        got, ends = [], []
        for piece in encoded:
            if piece:
                got.extend(piece)
                ends.append(len(got))
        if got != row["input_ids"] or ends != row["sentence_ends"]:
            first = next((i for i, (a, b) in enumerate(zip(got, row["input_ids"])) if a != b), min(len(got), len(row["input_ids"])))
            sys.exit(
                f"document {row['doc_id']}: the Hugging Face tokenizer differs at token {first}: "
                f"{got[first:first + 5]} against stored {row['input_ids'][first:first + 5]}"
            )
        if byte_level:
            # Sentences are encoded as they stand in their line: the sentences of one line put
            # back together (a sentence with white space before it continues the line) encode,
            # all at once, to the same ids, so the training text tokenizes like the real text.
            lines = []
            for sentence in sentences:
                if lines and sentence[:1].isspace():
                    lines[-1] += sentence
                else:
                    lines.append(sentence)
                    joins[1] += 1
            joins[0] += len(sentences) - len(lines)
            whole = [i for piece in tokenizer(lines, add_special_tokens=False)["input_ids"] for i in piece]
            if whole != row["input_ids"]:
                sys.exit(f"document {row['doc_id']}: its lines encoded whole differ from its sentences encoded one by one")
        documents += 1
assert documents > 0
if byte_level:
    assert joins[0] > 0, "no sentence continued a line: the join check checked nothing"
    print(f"{joins[0]} sentence joins inside {joins[1]} lines encode as the whole lines do")
print(f"{epoch_dir}: {documents} documents reproduced by AutoTokenizer ({type(tokenizer).__name__})")
