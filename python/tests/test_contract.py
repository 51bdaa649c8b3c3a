"""The Python reader refuses what the Rust reader refuses, with the Rust reader's words.

Each case crafts a small epoch (manifest.json, vocab.txt, part-00000.parquet written with
pyarrow as the Rust writer lays it out) with one breach of the contract of
crates/schema/src (dataset.rs, columns.rs, examples.rs, row_rules.rs) and asserts the exact
message. A sound epoch reads and loads through ExamplesLoader.

Run: python3 python/tests/test_contract.py (or pytest). With MASKFORGE_BIN set to a maskforge
binary, every crafted epoch is also read by `maskforge inspect`, whose error must hold the same
message.
"""

import copy
import hashlib
import json
import os
import random
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

import numpy as np  # noqa: E402
import pyarrow as pa  # noqa: E402
import pyarrow.parquet as pq  # noqa: E402

from maskforge_data import ContractError, ExamplesEpoch, ExamplesLoader, ManifestError  # noqa: E402
from maskforge_data.contract import RowRules, bad_rows, examples_schema, row_problem  # noqa: E402

VOCAB_SIZE = 200
# [PAD] 0, [UNK] 100, [CLS] 101, [SEP] 102, [MASK] 103, as in the BERT vocabularies.
VOCAB = [f"t{i}" for i in range(VOCAB_SIZE)]
VOCAB[0], VOCAB[100], VOCAB[101], VOCAB[102], VOCAB[103] = "[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"

SPEC = {
    "pairs": {
        "task": "nsp",
        "max_seq_length": 16,
        "short_seq_prob": 0.1,
        "single_sentence": "strict",
        "cls_token": "[CLS]",
        "sep_token": "[SEP]",
    },
    "masking": {
        "strategy": "whole_word",
        "probability": 0.15,
        "max_predictions": 3,
        "budget_unit": "tokens",
        "replacement_unit": "token",
        "replace": {"mask": 0.8, "similar": 0.0, "random": 0.1, "keep": 0.1},
        "ngram_weights": [1.0],
        "span_p": 0.2,
        "random_pool": "content",
        "mask_token": "[MASK]",
    },
}

STATS = {
    "documents_in": 3,
    "examples": 3,
    "tokens": 18,
    "masked_tokens": 6,
    "mask_rate": 1 / 3,
    "replacement": {"keep": 3, "mask": 3, "random": 0, "similar": 0},
    "ngram_lengths": {"1": 6},
    "pair_types": {"random_doc": 3},
    "single_sentence_chunks": 0,
    "truncated_examples": 0,
    "truncated_tokens": 0,
    "similar_fallbacks": {},
    "length_histogram": {"64": 3},
    "skipped": {},
}


def example(i):
    """A sound NSP row (the row of the Rust tests in examples.rs): a random-document pair."""
    return {
        "example_id": i,
        "doc_id": 40 + i,
        "input_ids": [101, 7, 8, 102, 9, 102],
        "token_type_ids": [0, 0, 0, 0, 1, 1],
        "word_starts": [True, True, False, True, True, True],
        "masked_positions": [1, 4],
        "masked_labels": [7, 9],
        "mask_kinds": [0, 3],
        "pair_type": 1,
        "nsp_label": 1,
        "sop_label": -1,
        "num_tokens": 6,
    }


def sha256(data):
    return hashlib.sha256(data).hexdigest()


def write_shard(path, rows, schema=None, row_group_size=None):
    """Rows written as the Rust writer writes them (list items named `item`)."""
    schema = schema or examples_schema("bin" in rows[0] if rows else False)
    table = pa.Table.from_pylist(rows, schema=schema)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    pq.write_table(table, path, use_compliant_nested_type=False, row_group_size=row_group_size)
    with open(path, "rb") as f:
        return f.read()


def write_epoch(folder, rows, *, spec=SPEC, schema=None, row_group_size=None, edit=None):
    """An epoch of one shard `part-00000.parquet` holding `rows`; `edit(manifest)` changes the
    manifest before it is written (its checksums are of the files as written)."""
    os.makedirs(folder, exist_ok=True)
    data = write_shard(os.path.join(folder, "part-00000.parquet"), rows, schema, row_group_size)
    vocab = ("\n".join(VOCAB) + "\n").encode()
    with open(os.path.join(folder, "vocab.txt"), "wb") as f:
        f.write(vocab)
    task = (spec or SPEC)["pairs"]["task"]
    manifest = {
        "schema_version": "maskforge.examples/1",
        "tool_version": "0.1.0",
        "documents_manifest_sha256": "0" * 64,
        "config_hash": "0" * 64,
        "config": {"pairs": {"task": task, "max_seq_length": 16}, "seed": 7},
        "seed": 7,
        "epoch": 0,
        "pair_epoch": 0,
        "tokenizer_hash": "0" * 64,
        "synonyms_hash": None,
        "vocab": {"path": "vocab.txt", "size": VOCAB_SIZE, "sha256": sha256(vocab)},
        "shards": [{"path": "part-00000.parquet", "rows": len(rows), "bytes": len(data), "sha256": sha256(data)}],
        "stats": STATS,
    }
    if spec is not None:
        manifest["spec"] = spec
    if edit:
        edit(manifest)
    with open(os.path.join(folder, "manifest.json"), "w") as f:
        json.dump(manifest, f, indent=2)
    return folder


def spec_of(task, max_seq_length=16):
    spec = copy.deepcopy(SPEC)
    spec["pairs"]["task"], spec["pairs"]["max_seq_length"] = task, max_seq_length
    return spec


def three_rows(breaks):
    """Rows 0-2, row 1 changed by `breaks`: errors name `row 2 (example 1)`."""
    rows = [example(0), example(1), example(2)]
    breaks(rows[1])
    for row in rows:
        row["num_tokens"] = len(row["input_ids"])
    return rows


def read_all(folder):
    epoch = ExamplesEpoch(folder)
    return [epoch.read_shard(i) for i in range(len(epoch.shards))]


def refusal(folder):
    """The ContractError reading the epoch in `folder` raises (the test fails without one)."""
    try:
        read_all(folder)
    except ContractError as e:
        return e
    raise AssertionError(f"{folder}: read without error")


def assert_refused(folder, url, message):
    e = refusal(folder)
    assert str(e) == f"{url}: {message}", f"\n got: {e}\nwant: {url}: {message}"
    assert e.url == url and e.message == message
    assert isinstance(e, ManifestError) and isinstance(e, ValueError)
    rust_agrees(folder, message)


def rust_agrees(folder, message):
    """With MASKFORGE_BIN, `maskforge inspect` refuses the epoch with the same words."""
    binary = os.environ.get("MASKFORGE_BIN")
    if not binary:
        return
    done = subprocess.run([binary, "inspect", folder], capture_output=True, text=True, timeout=120)
    assert done.returncode != 0, f"{folder}: maskforge inspect read it: {done.stdout[-400:]}"
    assert message in done.stderr, f"\n rust: {done.stderr.strip()}\npython: {message}"


SHARD = "cannot read examples shard: "

# (what the row of example 1 breaks, the rules it is read under, the Rust message)
ROW_CASES = [
    ("token type 7", None, lambda e: e["token_type_ids"].__setitem__(5, 7), "token type 7 is not 0 or 1"),
    ("sop_label 5", None, lambda e: e.update(sop_label=5), "sop_label 5 is not -1, 0 or 1"),
    ("nsp_label 5", None, lambda e: e.update(nsp_label=5), "nsp_label 5 is not -1, 0 or 1"),
    (
        "nsp label not of its pair type",
        None,
        lambda e: e.update(nsp_label=0),
        "nsp_label 0 and sop_label -1 do not match pair type 1 of a Nsp epoch (1 and -1)",
    ),
    (
        "sop label not of its pair type",
        "sop",
        lambda e: e.update(pair_type=2, nsp_label=-1, sop_label=0),
        "nsp_label -1 and sop_label 0 do not match pair type 2 of a Sop epoch (-1 and 1)",
    ),
    ("id outside the vocabulary", None, lambda e: e["input_ids"].__setitem__(2, 250), "id 250 is outside the vocabulary of 200"),
    ("label outside the vocabulary", None, lambda e: e["masked_labels"].__setitem__(0, 200), "id 200 is outside the vocabulary of 200"),
    ("positions not increasing", None, lambda e: e.update(masked_positions=[4, 1]), "masked positions do not increase"),
    ("position repeated", None, lambda e: e.update(masked_positions=[4, 4]), "masked positions do not increase"),
    ("position outside", None, lambda e: e["masked_positions"].__setitem__(1, 6), "masked position 6 is outside the 6 tokens"),
    ("mask kind 9", None, lambda e: e["mask_kinds"].__setitem__(0, 9), "mask kind 9 is not one of 0-3"),
    ("pair type 9", None, lambda e: e.update(pair_type=9), "pair type 9 is not one of 0-3"),
    ("pair type 2 under NSP", None, lambda e: e.update(pair_type=2), "pair type 2 does not occur in a Nsp epoch"),
    ("pair type 3 under SOP", "sop", lambda e: e.update(pair_type=3, nsp_label=-1), "pair type 3 does not occur in a Sop epoch"),
    (
        "masked_labels shorter than the positions",
        None,
        lambda e: e["masked_labels"].pop(),
        "masked_labels has 1 entries for 2 masked positions",
    ),
    ("mask_kinds shorter", None, lambda e: e["mask_kinds"].pop(), "mask_kinds has 1 entries for 2 masked positions"),
    ("word_starts shorter", None, lambda e: e["word_starts"].pop(), "word_starts has 5 entries for 6 tokens"),
    ("token types longer", None, lambda e: e["token_type_ids"].append(1), "token_type_ids has 7 entries for 6 tokens"),
    (
        "token types going back",
        None,
        lambda e: e.update(token_type_ids=[0, 1, 0, 0, 1, 1]),
        "token types go back from segment 1 to segment 0",
    ),
    ("first token type 1", None, lambda e: e.update(token_type_ids=[1] * 6), "the first token has token type 1"),
    (
        "too long",
        None,
        lambda e: (e["input_ids"].extend([5] * 11), e["token_type_ids"].extend([1] * 11), e["word_starts"].extend([True] * 11)),
        "17 tokens, more than max_seq_length 16",
    ),
    (
        "a second segment when packing",
        "full_sentences",
        lambda e: e.update(token_type_ids=[0, 0, 0, 0, 1, 1]),
        "a packed sequence has token type 1 (packing has one segment)",
    ),
]


def packed(e):
    e.update(token_type_ids=[0] * 6, pair_type=3, nsp_label=-1, sop_label=-1)


def sop(e):
    e.update(pair_type=2, nsp_label=-1, sop_label=1)


SOUND = {"nsp": lambda e: None, "sop": sop, "full_sentences": packed, "doc_sentences": packed}


def test_every_breach_of_a_row_is_the_rust_message_naming_file_and_row():
    with tempfile.TemporaryDirectory() as tmp:
        for n, (what, task, breaks, message) in enumerate(ROW_CASES):
            task = task or "nsp"

            def rows_breaking(e, breaks=breaks, task=task):
                SOUND[task](e)
                breaks(e)

            rows = three_rows(rows_breaking)
            for row in rows[::2]:
                SOUND[task](row)
            folder = write_epoch(os.path.join(tmp, f"case{n}"), rows, spec=spec_of(task))
            assert_refused(folder, f"{folder}/part-00000.parquet", f"{SHARD}row 2 (example 1): {message}")


def test_the_tester_s_report():
    """The three holes the report found: a shard outside the folder, int32 positions with -1
    (which numpy would take as the last padded column), labels broadcast over positions."""
    with tempfile.TemporaryDirectory() as tmp:
        # A shard path that climbs out, to a file that is there and sound.
        outside = os.path.join(tmp, "outside.parquet")
        data = write_shard(outside, three_rows(lambda e: None))
        folder = write_epoch(
            os.path.join(tmp, "climbs"),
            three_rows(lambda e: None),
            edit=lambda m: m["shards"].__setitem__(
                0, {"path": "../outside.parquet", "rows": 3, "bytes": len(data), "sha256": sha256(data)}
            ),
        )
        assert_refused(
            folder,
            f"{folder}/manifest.json",
            'lists "../outside.parquet", which is not a path inside the dataset folder',
        )
        # masked_positions as int32, with -1.
        schema = examples_schema(False)
        int32 = pa.list_(pa.field("item", pa.int32(), nullable=False))
        schema = schema.set(schema.get_field_index("masked_positions"), pa.field("masked_positions", int32, nullable=False))
        folder = write_epoch(
            os.path.join(tmp, "int32"), three_rows(lambda e: e.update(masked_positions=[1, -1])), schema=schema
        )
        assert_refused(
            folder,
            f"{folder}/part-00000.parquet",
            f"{SHARD}column `masked_positions` is List(non-null Int32), the examples schema says List(non-null UInt16)",
        )
        # masked_labels shorter than masked_positions.
        folder = write_epoch(os.path.join(tmp, "short"), three_rows(lambda e: e.update(masked_labels=[7])))
        assert_refused(
            folder, f"{folder}/part-00000.parquet", f"{SHARD}row 2 (example 1): masked_labels has 1 entries for 2 masked positions"
        )


def test_every_manifest_path_stays_inside_the_folder():
    def vocab(path):
        return lambda m: m["vocab"].update(path=path)

    def file(path):
        return lambda m: m.update(files=[{"path": path, "bytes": 1, "sha256": "0" * 64}])

    def validation(path):
        return lambda m: m.update(validation={"shards": [dict(m["shards"][0], path=path)], "stats": STATS})

    cases = [
        (vocab("/etc/passwd"), '"/etc/passwd"'),
        (vocab("./vocab.txt"), '"./vocab.txt"'),
        (file("a//b"), '"a//b"'),
        (file("a\\..\\b"), '"a\\\\..\\\\b"'),
        (validation("validation/../../x.parquet"), '"validation/../../x.parquet"'),
        (validation("x/.."), '"x/.."'),
        (lambda m: m["shards"][0].update(path=""), '""'),
    ]
    with tempfile.TemporaryDirectory() as tmp:
        for n, (edit, shown) in enumerate(cases):
            folder = write_epoch(os.path.join(tmp, f"case{n}"), three_rows(lambda e: None), edit=edit)
            try:
                ExamplesEpoch(folder)
            except ContractError as e:
                assert str(e) == f"{folder}/manifest.json: lists {shown}, which is not a path inside the dataset folder", e
            else:
                raise AssertionError(f"case {n} opened")
            rust_agrees(folder, f"lists {shown}, which is not a path inside the dataset folder")
        # Paths into sub-folders are inside.
        folder = write_epoch(os.path.join(tmp, "inside"), three_rows(lambda e: None), edit=validation("validation/part-00000.parquet"))
        os.makedirs(os.path.join(folder, "validation"))
        os.link(os.path.join(folder, "part-00000.parquet"), os.path.join(folder, "validation/part-00000.parquet"))
        assert ExamplesEpoch(folder, "validation").read_shard(0).num_rows == 3


def test_the_file_must_be_the_one_the_manifest_describes():
    with tempfile.TemporaryDirectory() as tmp:
        rows = three_rows(lambda e: None)
        folder = write_epoch(os.path.join(tmp, "changed"), rows, edit=lambda m: m["shards"][0].update(sha256="0" * 64))
        assert_refused(
            folder, f"{folder}/part-00000.parquet", "size or checksum differs from the manifest (changed after it was written?)"
        )
        folder = write_epoch(os.path.join(tmp, "rows"), rows, edit=lambda m: m["shards"][0].update(rows=4))
        assert_refused(folder, f"{folder}/part-00000.parquet", f"{SHARD}3 rows, the manifest says 4")
        folder = write_epoch(os.path.join(tmp, "vocab"), rows, edit=lambda m: m["vocab"].update(sha256="0" * 64))
        try:
            ExamplesEpoch(folder).vocabulary()
        except ContractError as e:
            assert str(e) == f"{folder}/vocab.txt: checksum differs from the manifest", e
        else:
            raise AssertionError("a changed vocabulary was read")


def test_columns_of_another_type_or_missing_are_named():
    cases = [
        ("nsp_label", pa.int64(), "column `nsp_label` is Int64, the examples schema says Int8"),
        ("input_ids", pa.list_(pa.field("item", pa.int64())), "column `input_ids` is List(Int64), the examples schema says List(non-null UInt32)"),
        ("example_id", pa.int64(), "column `example_id` is Int64, the examples schema says UInt64"),
        ("word_starts", pa.list_(pa.field("item", pa.uint8(), nullable=False)), "column `word_starts` is List(non-null UInt8), the examples schema says List(non-null Boolean)"),
    ]
    with tempfile.TemporaryDirectory() as tmp:
        for n, (name, kind, message) in enumerate(cases):
            schema = examples_schema(False)
            schema = schema.set(schema.get_field_index(name), pa.field(name, kind, nullable=False))
            rows = three_rows(lambda e: None)
            if name == "word_starts":
                rows = [dict(e, word_starts=[int(w) for w in e["word_starts"]]) for e in rows]
            folder = write_epoch(os.path.join(tmp, f"case{n}"), rows, schema=schema)
            assert_refused(folder, f"{folder}/part-00000.parquet", SHARD + message)
        # A column missing.
        schema = examples_schema(False)
        schema = schema.remove(schema.get_field_index("doc_id"))
        rows = [{k: v for k, v in e.items() if k != "doc_id"} for e in three_rows(lambda e: None)]
        folder = write_epoch(os.path.join(tmp, "missing"), rows, schema=schema)
        assert_refused(folder, f"{folder}/part-00000.parquet", SHARD + "no column `doc_id`")
        # The bin column, when there, has its type too.
        schema = examples_schema(False).append(pa.field("bin", pa.int32(), nullable=False))
        rows = [dict(e, bin=1) for e in three_rows(lambda e: None)]
        folder = write_epoch(os.path.join(tmp, "bin"), rows, schema=schema)
        assert_refused(folder, f"{folder}/part-00000.parquet", SHARD + "column `bin` is Int32, the examples schema says UInt8")


def test_nulls_are_refused():
    """Not a Rust check (arrow-rs reads a null slot as what lies under it): Python refuses it."""
    schema = examples_schema(False)
    schema = schema.set(schema.get_field_index("sop_label"), pa.field("sop_label", pa.int8(), nullable=True))
    with tempfile.TemporaryDirectory() as tmp:
        folder = write_epoch(os.path.join(tmp, "nulls"), three_rows(lambda e: e.update(sop_label=None)), schema=schema)
        e = refusal(folder)
        assert e.message == f"{SHARD}column `sop_label` holds nulls, the examples schema has none", e


def test_the_first_bad_row_is_named_across_row_groups():
    rows = [example(i) for i in range(50)]
    rows[33]["mask_kinds"][1] = 4
    rows[41]["pair_type"] = 9
    with tempfile.TemporaryDirectory() as tmp:
        folder = write_epoch(os.path.join(tmp, "groups"), rows, row_group_size=8)
        table = pq.read_table(os.path.join(folder, "part-00000.parquet"))
        assert table.column("input_ids").num_chunks > 1
        assert_refused(folder, f"{folder}/part-00000.parquet", f"{SHARD}row 34 (example 33): mask kind 4 is not one of 0-3")


def test_without_a_recorded_spec_only_the_label_ranges_are_checked():
    with tempfile.TemporaryDirectory() as tmp:
        # nsp_label 0 for a random_doc pair: fine without a task, as in Rust.
        folder = write_epoch(os.path.join(tmp, "old"), three_rows(lambda e: e.update(nsp_label=0)), spec=None)
        read_all(folder)
        folder = write_epoch(os.path.join(tmp, "old5"), three_rows(lambda e: e.update(sop_label=5)), spec=None)
        assert_refused(folder, f"{folder}/part-00000.parquet", f"{SHARD}row 2 (example 1): sop_label 5 is not -1, 0 or 1")


def test_a_manifest_the_rust_reader_does_not_parse_is_refused():
    with tempfile.TemporaryDirectory() as tmp:
        spec = spec_of("mlm")
        folder = write_epoch(os.path.join(tmp, "task"), three_rows(lambda e: None), spec=spec)
        try:
            ExamplesEpoch(folder)
        except ContractError as e:
            assert e.message.startswith("not an examples manifest: unknown variant `mlm`"), e
        else:
            raise AssertionError("an unknown task was read")
        folder = write_epoch(os.path.join(tmp, "version"), [], edit=lambda m: m.update(schema_version="maskforge.examples/2"))
        try:
            ExamplesEpoch(folder)
        except ContractError as e:
            assert e.message == "schema version maskforge.examples/2 is not maskforge.examples/1 (the version this build reads)", e
        else:
            raise AssertionError("another schema version was read")


def test_sound_epochs_of_every_task_read_and_load():
    with tempfile.TemporaryDirectory() as tmp:
        for task, sound in SOUND.items():
            rows = [example(i) for i in range(24)]
            for e in rows:
                sound(e)
            folder = write_epoch(os.path.join(tmp, task), rows, spec=spec_of(task), row_group_size=10)
            epoch = ExamplesEpoch(folder)
            table = epoch.read_shard(0)
            assert table.num_rows == 24 and table.column_names == examples_schema(False).names
            assert epoch.read_shard(0, columns=["input_ids"]).column_names == ["input_ids"]
            assert epoch.pad_id() == 0 and len(epoch.vocabulary()) == VOCAB_SIZE
            batches = list(ExamplesLoader(folder, seed=1, global_batch=8, with_example_ids=True))
            assert len(batches) == 3
            assert sorted(i for b in batches for i in b["example_ids"]) == list(range(24))
            labels = batches[0]["labels"]
            assert labels.shape == (8, 8) and (labels[:, 1] == 7).all() and (labels[:, 4] == 9).all()
            assert (labels[:, [0, 2, 3, 5, 6, 7]] == -100).all()
            if task == "nsp":
                assert (batches[0]["next_sentence_label"] == 1).all()
            if task == "sop":
                assert (batches[0]["sentence_order_label"] == 1).all()


def test_the_loader_refuses_a_bad_shard():
    with tempfile.TemporaryDirectory() as tmp:
        folder = write_epoch(os.path.join(tmp, "bad"), three_rows(lambda e: e.update(masked_labels=[7])))
        loader = ExamplesLoader(folder, seed=0, global_batch=3)
        try:
            next(loader)
        except ContractError as e:
            assert e.message.endswith("masked_labels has 1 entries for 2 masked positions"), e
        else:
            raise AssertionError("the loader read a bad shard")


def test_the_vectorised_checks_agree_with_the_row_checks():
    """`bad_rows` flags exactly the rows `row_problem` finds something wrong with, over random
    breaches, chunked and sliced columns and every task."""
    rng = random.Random(5)
    breaches = [b for _, _, b, _ in ROW_CASES] + [
        lambda e: e.update(masked_positions=[], masked_labels=[], mask_kinds=[]),
        lambda e: e.update(input_ids=[], token_type_ids=[], word_starts=[], masked_positions=[], masked_labels=[], mask_kinds=[]),
        lambda e: e.update(input_ids=[], token_type_ids=[], word_starts=[]),
        lambda e: e["masked_positions"].__setitem__(0, 65535),
        lambda e: e.update(sop_label=-128),
        lambda e: e.update(nsp_label=-1),
        lambda e: e.update(pair_type=0, nsp_label=0),
        lambda e: e.update(pair_type=255),
        lambda e: e["input_ids"].__setitem__(0, 2**32 - 1),
    ]
    schema = examples_schema(False)
    for task in (None, "nsp", "sop", "full_sentences", "doc_sentences"):
        for rules in (RowRules(VOCAB_SIZE, task, 16 if task else None), RowRules(2**40, task, 6 if task else None)):
            rows = []
            for i in range(400):
                e = example(i)
                SOUND[task or "nsp"](e)
                for _ in range(rng.choice([0, 0, 0, 1, 2])):
                    try:
                        rng.choice(breaches)(e)
                    except IndexError:  # an earlier breach emptied the list
                        pass
                rows.append(e)
            pieces = [pa.Table.from_pylist(rows[a:b], schema=schema) for a, b in ((0, 150), (150, 151), (151, 400))]
            table = pa.concat_tables(pieces).slice(3, 390)
            want = np.array([row_problem(e, rules) is not None for e in rows[3:393]])
            got = bad_rows(table, rules)
            assert want.any() and not want.all()
            assert (got == want).all(), (task, rules, np.flatnonzero(got != want)[:5])


def main():
    tests = [v for k, v in sorted(globals().items()) if k.startswith("test_") and callable(v)]
    for test in tests:
        test()
    print(f"ok ({len(tests)} tests)")


if __name__ == "__main__":
    main()
