"""The examples contract, checked as the Rust ``schema`` crate checks it, with its messages.

Mirrors ``crates/schema/src``: ``dataset.rs`` (manifest paths stay inside the dataset folder,
shard size and checksum, errors ``<url>: cannot read examples shard: <message>``),
``columns.rs`` / ``examples.rs`` (``check_columns``, ``Example::check``, ``decode``'s
``row N (example E): ...``) and ``row_rules.rs`` (``RowRules::check``). The row checks are
vectorised with numpy over whole columns; only the first bad row is then checked again one
check at a time, in Rust's order, to name what is wrong with the words Rust uses.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass

import numpy as np
import pyarrow as pa


class ManifestError(ValueError):
    """The folder does not hold a readable maskforge examples dataset."""


class ContractError(ManifestError):
    """A manifest or shard breaks the examples contract: what the Rust reader refuses
    (``DatasetError::Invalid``). ``str(e)`` is ``<url>: <message>``; ``message`` holds the
    words of the Rust error, e.g. ``cannot read examples shard: row 3 (example 41): token type 7
    is not 0 or 1``. Being a :class:`ManifestError`, it is also a ``ValueError``."""

    def __init__(self, url: str, message: str) -> None:
        super().__init__(f"{url}: {message}")
        self.url, self.message = url, message


# --- manifest paths ---------------------------------------------------------------------------

TASKS = ("nsp", "sop", "full_sentences", "doc_sentences")
"""``spec.pairs.task`` spellings (``PairTask``, snake_case)."""
_TASK_DEBUG = {"nsp": "Nsp", "sop": "Sop", "full_sentences": "FullSentences", "doc_sentences": "DocSentences"}


def is_inside(path) -> bool:
    """Whether a manifest path names a file inside the dataset folder: relative, no ``..``,
    ``.`` or empty part, no backslash (``dataset.rs`` ``is_inside``)."""
    return (
        isinstance(path, str)
        and path != ""
        and "\\" not in path
        and all(part not in ("", ".", "..") for part in path.split("/"))
    )


def listed_paths(manifest: dict) -> list:
    """Every path the manifest names, in Rust's order: the shards of train, validation and
    test, then ``files``, then the vocabulary."""
    paths = []
    for section in (manifest, manifest.get("validation"), manifest.get("test")):
        if isinstance(section, dict):
            paths += [s.get("path") if isinstance(s, dict) else s for s in section.get("shards") or []]
    paths += [f.get("path") if isinstance(f, dict) else f for f in manifest.get("files") or []]
    vocab = manifest.get("vocab")
    paths.append(vocab.get("path") if isinstance(vocab, dict) else None)
    return paths


def check_paths(manifest: dict) -> str | None:
    """The Rust message for the first listed path that is not inside the folder, if any."""
    for path in listed_paths(manifest):
        if not is_inside(path):
            return f"lists {rust_debug(path)}, which is not a path inside the dataset folder"
    return None


def rust_debug(value) -> str:
    """``{:?}`` of a Rust ``&str``: double quotes, ``\\n``-style escapes, ``\\u{..}`` for the
    rest that does not print."""
    if not isinstance(value, str):
        return repr(value)
    out = ['"']
    for ch in value:
        special = {"\0": "\\0", "\t": "\\t", "\r": "\\r", "\n": "\\n", "\\": "\\\\", '"': '\\"'}.get(ch)
        if special:
            out.append(special)
        elif ch != " " and (not ch.isprintable() or unicodedata.combining(ch)):
            out.append(f"\\u{{{ord(ch):x}}}")
        else:
            out.append(ch)
    out.append('"')
    return "".join(out)


# --- rules from the manifest ------------------------------------------------------------------


@dataclass(frozen=True)
class RowRules:
    """The epoch-wide rules of rows (``RowRules``): ids below ``vocab_size``, the task's token
    types and labels (``task`` ``None``: only label ranges), at most ``max_seq_length`` tokens."""

    vocab_size: int
    task: str | None = None
    max_seq_length: int | None = None

    @classmethod
    def from_manifest(cls, manifest: dict) -> "RowRules":
        """``vocab.size``, ``spec.pairs.task`` and ``spec.pairs.max_seq_length`` (no ``spec``:
        no task or length rule). Raises ``ValueError`` with serde's words for a manifest the
        Rust reader would not parse."""
        vocab = manifest.get("vocab")
        if not isinstance(vocab, dict):
            raise ValueError("missing field `vocab`")
        size = vocab.get("size")
        if not _is_uint(size):
            raise ValueError("missing field `size`" if size is None else f"invalid value: {size!r}, expected u64")
        spec = manifest.get("spec")
        if spec is None:
            return cls(size)
        pairs = spec.get("pairs") if isinstance(spec, dict) else None
        if not isinstance(pairs, dict):
            raise ValueError("missing field `pairs`")
        task, length = pairs.get("task"), pairs.get("max_seq_length")
        if task not in TASKS:
            if task is None:
                raise ValueError("missing field `task`")
            raise ValueError(f"unknown variant `{task}`, expected one of `nsp`, `sop`, `full_sentences`, `doc_sentences`")
        if not _is_uint(length):
            raise ValueError("missing field `max_seq_length`" if length is None else f"invalid value: {length!r}, expected u32")
        return cls(size, task, length)


def _is_uint(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


# Under each task: the pair types that occur, and (nsp_label, sop_label) by pair type code
# (PairType::nsp_label / sop_label; codes 0 next, 1 random_doc, 2 swapped, 3 none).
_ALLOWED = {
    "nsp": (True, True, False, False),
    "sop": (True, True, True, False),
    "full_sentences": (False, False, False, True),
    "doc_sentences": (False, False, False, True),
}


def expected_labels(task: str, pair_type: int) -> tuple[int, int]:
    """``(nsp_label, sop_label)`` a row of ``pair_type`` has under ``task``."""
    nsp = {1: 1, 0: 0}.get(pair_type, -1) if task == "nsp" else -1
    sop = {2: 1, 1: 1, 0: 0}.get(pair_type, -1) if task == "sop" else -1
    return nsp, sop


# --- schema -----------------------------------------------------------------------------------

_ITEMS = {
    "input_ids": pa.uint32(),
    "token_type_ids": pa.uint8(),
    "word_starts": pa.bool_(),
    "masked_positions": pa.uint16(),
    "masked_labels": pa.uint32(),
    "mask_kinds": pa.uint8(),
}
_PLAIN = {
    "example_id": pa.uint64(),
    "doc_id": pa.uint64(),
    "pair_type": pa.uint8(),
    "nsp_label": pa.int8(),
    "sop_label": pa.int8(),
    "num_tokens": pa.uint16(),
}
_ORDER = (
    "example_id", "doc_id", "input_ids", "token_type_ids", "word_starts", "masked_positions",
    "masked_labels", "mask_kinds", "pair_type", "nsp_label", "sop_label", "num_tokens",
)


def examples_schema(with_bin: bool) -> pa.Schema:
    """The Arrow schema of an examples shard (``examples::schema``)."""
    fields = []
    for name in _ORDER:
        if name in _ITEMS:
            fields.append(pa.field(name, pa.list_(pa.field("item", _ITEMS[name], nullable=False)), nullable=False))
        else:
            fields.append(pa.field(name, _PLAIN[name], nullable=False))
    if with_bin:
        fields.append(pa.field("bin", pa.uint8(), nullable=False))
    return pa.schema(fields)


CHECKED_COLUMNS = (
    "example_id", "input_ids", "token_type_ids", "word_starts", "masked_positions", "masked_labels",
    "mask_kinds", "pair_type", "nsp_label", "sop_label",
)
"""The columns the row checks read (``decode`` reads them all; the others are only typed)."""


def check_schema(actual: pa.Schema) -> str | None:
    """The Rust message for the first column of the contract that is missing or of another type
    (up to the names and nullability of list items), if any (``check_columns``)."""
    expected = examples_schema("bin" in actual.names)
    for field in expected:
        index = actual.get_field_index(field.name)
        if index < 0:
            return f"no column `{field.name}`"
        found = actual.field(index).type
        if not _same_type(found, field.type):
            return f"column `{field.name}` is {arrow_display(found)}, the examples schema says {arrow_display(field.type)}"
    return None


def _same_type(a: pa.DataType, b: pa.DataType) -> bool:
    if pa.types.is_list(a) and pa.types.is_list(b):
        return _same_type(a.value_type, b.value_type)
    return a == b


_NAMES = {
    pa.null(): "Null", pa.bool_(): "Boolean", pa.int8(): "Int8", pa.int16(): "Int16", pa.int32(): "Int32",
    pa.int64(): "Int64", pa.uint8(): "UInt8", pa.uint16(): "UInt16", pa.uint32(): "UInt32",
    pa.uint64(): "UInt64", pa.float16(): "Float16", pa.float32(): "Float32", pa.float64(): "Float64",
    pa.date32(): "Date32", pa.date64(): "Date64", pa.binary(): "Binary", pa.large_binary(): "LargeBinary",
    pa.string(): "Utf8", pa.large_string(): "LargeUtf8",
}
_UNITS = {"s": "s", "ms": "ms", "us": "µs", "ns": "ns"}


def arrow_display(t: pa.DataType) -> str:
    """A type as arrow-rs 59 displays it (``List(non-null UInt16)``), which the Rust messages
    show; types arrow-rs has no spelling for fall back to pyarrow's."""
    t_types = pa.types
    if t in _NAMES:
        return _NAMES[t]
    for name in ("string_view", "binary_view"):
        if getattr(t_types, f"is_{name}", lambda _: False)(t):
            return "Utf8View" if name == "string_view" else "BinaryView"
    if t_types.is_timestamp(t):
        unit = _UNITS.get(t.unit, t.unit)
        return f"Timestamp({unit}, {rust_debug(t.tz)})" if t.tz else f"Timestamp({unit})"
    if t_types.is_time32(t) or t_types.is_time64(t):
        return f"Time{t.bit_width}({_UNITS.get(t.unit, t.unit)})"
    if t_types.is_duration(t):
        return f"Duration({_UNITS.get(t.unit, t.unit)})"
    if t_types.is_fixed_size_binary(t) and not t_types.is_decimal(t):
        return f"FixedSizeBinary({t.byte_width})"
    if t_types.is_decimal(t):
        return f"Decimal{t.bit_width}({t.precision}, {t.scale})"
    if t_types.is_dictionary(t):
        return f"Dictionary({arrow_display(t.index_type)}, {arrow_display(t.value_type)})"
    kind = (
        "List" if t_types.is_list(t) else "LargeList" if t_types.is_large_list(t)
        else "ListView" if getattr(t_types, "is_list_view", lambda _: False)(t)
        else "LargeListView" if getattr(t_types, "is_large_list_view", lambda _: False)(t)
        else None
    )
    if kind:
        f = t.value_field
        named = "" if f.name == "item" else f", field: '{f.name}'"
        return f"{kind}({_nullability(f)}{arrow_display(f.type)}{named}{_metadata(f)})"
    if t_types.is_fixed_size_list(t):
        f = t.value_field
        named = "" if f.name == "item" else f", field: '{f.name}'"
        return f"FixedSizeList({t.list_size} x {_nullability(f)}{arrow_display(f.type)}{named}{_metadata(f)})"
    if t_types.is_struct(t):
        return "Struct(" + ", ".join(_field(t.field(i)) for i in range(t.num_fields)) + ")"
    if t_types.is_map(t):
        return f"Map({_entries(t)}, {'sorted' if t.keys_sorted else 'unsorted'})"
    return str(t)


def _nullability(f: pa.Field) -> str:
    return "" if f.nullable else "non-null "


def _metadata(f: pa.Field) -> str:
    if not f.metadata:
        return ""
    items = sorted((k.decode(errors="replace"), v.decode(errors="replace")) for k, v in f.metadata.items())
    return ", metadata: {" + ", ".join(f"{rust_debug(k)}: {rust_debug(v)}" for k, v in items) + "}"


def _field(f: pa.Field) -> str:
    return f"{rust_debug(f.name)}: {_nullability(f)}{arrow_display(f.type)}{_metadata(f)}"


def _entries(t) -> str:
    # arrow-rs shows the entries field of a map: a non-null struct of key and value.
    return f'"entries": non-null Struct({_field(t.key_field)}, {_field(t.item_field)})'


# --- rows -------------------------------------------------------------------------------------


class _List:
    """A list column as numpy: per-row ``lengths`` and the ``values`` of each chunk with its
    offsets (relative to the chunk's values) and first row."""

    def __init__(self, column: pa.ChunkedArray, with_values: bool = True) -> None:
        self.chunks = []
        lengths = []
        base = 0
        for chunk in column.chunks:
            offsets = np.asarray(chunk.offsets, dtype=np.int64)
            values = None
            if with_values:
                values = np.asarray(chunk.values.slice(offsets[0], offsets[-1] - offsets[0]))
            offsets = offsets - offsets[0]
            self.chunks.append((base, offsets, values))
            lengths.append(np.diff(offsets))
            base += len(chunk)
        self.lengths = np.concatenate(lengths) if lengths else np.zeros(0, np.int64)
        self.rows = base

    def rows_where(self, condition) -> np.ndarray:
        """Rows holding a value for which ``condition(values)`` is true."""
        hit = np.zeros(self.rows, dtype=bool)
        for base, offsets, values in self.chunks:
            at = np.flatnonzero(condition(values))
            if at.size:
                hit[base + np.searchsorted(offsets, at, side="right") - 1] = True
        return hit

    def rows_where_pairs(self, condition) -> np.ndarray:
        """Rows holding two consecutive values ``a, b`` for which ``condition(a, b)`` is true."""
        hit = np.zeros(self.rows, dtype=bool)
        for base, offsets, values in self.chunks:
            at = np.flatnonzero(condition(values[:-1], values[1:]))
            if at.size:
                first = np.searchsorted(offsets, at, side="right") - 1
                second = np.searchsorted(offsets, at + 1, side="right") - 1
                same = first == second
                hit[base + first[same]] = True
        return hit

    def row_max(self, empty: int) -> np.ndarray:
        """The largest value of each row (``empty`` for an empty row)."""
        return self._per_row(lambda values, starts: np.maximum.reduceat(values, starts), empty)

    def row_first(self, empty: int) -> np.ndarray:
        """The first value of each row (``empty`` for an empty row)."""
        return self._per_row(lambda values, starts: values[starts], empty)

    def _per_row(self, reduce, empty: int) -> np.ndarray:
        out = np.full(self.rows, empty, dtype=np.int64)
        for base, offsets, values in self.chunks:
            starts = offsets[:-1]
            full = np.flatnonzero(starts < offsets[1:])
            if full.size:
                out[base + full] = reduce(values, starts[full])
        return out


def _plain(column: pa.ChunkedArray) -> np.ndarray:
    return np.concatenate([np.asarray(c) for c in column.chunks]) if column.num_chunks else np.zeros(0, np.int64)


def bad_rows(table: pa.Table, rules: RowRules) -> np.ndarray:
    """Whether each row breaks ``Example::check`` or ``rules`` (vectorised; see
    :func:`row_problem` for what)."""
    ids, types = _List(table.column("input_ids")), _List(table.column("token_type_ids"))
    starts = _List(table.column("word_starts"), with_values=False)  # only its lengths are checked
    positions, labels, kinds = (_List(table.column(n)) for n in ("masked_positions", "masked_labels", "mask_kinds"))
    pair = _plain(table.column("pair_type")).astype(np.int64)
    nsp = _plain(table.column("nsp_label")).astype(np.int64)
    sop = _plain(table.column("sop_label")).astype(np.int64)
    tokens, npos = ids.lengths, positions.lengths
    bad = (types.lengths != tokens) | (starts.lengths != tokens)
    bad |= (labels.lengths != npos) | (kinds.lengths != npos)
    bad |= positions.row_max(-1) >= tokens
    bad |= positions.rows_where_pairs(lambda a, b: a >= b)
    bad |= kinds.rows_where(lambda k: k > 3)
    bad |= pair > 3
    if rules.vocab_size <= 0xFFFFFFFF:
        vocab = np.uint32(rules.vocab_size)
        bad |= ids.rows_where(lambda v: v >= vocab) | labels.rows_where(lambda v: v >= vocab)
    if rules.max_seq_length is not None:
        bad |= tokens > rules.max_seq_length
    bad |= types.rows_where(lambda t: t > 1)
    bad |= types.rows_where_pairs(lambda a, b: a > b)
    bad |= types.row_first(0) == 1
    if rules.task in ("full_sentences", "doc_sentences"):
        bad |= types.rows_where(lambda t: t == 1)
    bad |= (nsp < -1) | (nsp > 1) | (sop < -1) | (sop > 1)
    if rules.task is not None:
        known = pair <= 3
        code = np.where(known, pair, 0)
        allowed = np.asarray(_ALLOWED[rules.task])[code]
        want = np.array([expected_labels(rules.task, p) for p in range(4)], dtype=np.int64)[code]
        bad |= known & (~allowed | (nsp != want[:, 0]) | (sop != want[:, 1]))
    return bad


def row_problem(e: dict, rules: RowRules) -> str | None:
    """What is wrong with one row (a dict of its columns), in the words and order of
    ``Example::check`` then ``RowRules::check``; ``None`` when nothing is."""
    tokens = len(e["input_ids"])
    for name in ("token_type_ids", "word_starts"):
        if len(e[name]) != tokens:
            return f"{name} has {len(e[name])} entries for {tokens} tokens"
    positions = e["masked_positions"]
    for name in ("masked_labels", "mask_kinds"):
        if len(e[name]) != len(positions):
            return f"{name} has {len(e[name])} entries for {len(positions)} masked positions"
    for p in positions:
        if p >= tokens:
            return f"masked position {p} is outside the {tokens} tokens"
    if any(a >= b for a, b in zip(positions, positions[1:])):
        return "masked positions do not increase"
    for k in e["mask_kinds"]:
        if k > 3:
            return f"mask kind {k} is not one of 0-3"
    if e["pair_type"] > 3:
        return f"pair type {e['pair_type']} is not one of 0-3"
    for i in list(e["input_ids"]) + list(e["masked_labels"]):
        if i >= rules.vocab_size:
            return f"id {i} is outside the vocabulary of {rules.vocab_size}"
    if rules.max_seq_length is not None and tokens > rules.max_seq_length:
        return f"{tokens} tokens, more than max_seq_length {rules.max_seq_length}"
    kinds = e["token_type_ids"]
    for t in kinds:
        if t > 1:
            return f"token type {t} is not 0 or 1"
    if any(a > b for a, b in zip(kinds, kinds[1:])):
        return "token types go back from segment 1 to segment 0"
    if kinds and kinds[0] == 1:
        return "the first token has token type 1"
    if rules.task in ("full_sentences", "doc_sentences") and 1 in kinds:
        return "a packed sequence has token type 1 (packing has one segment)"
    for name in ("nsp_label", "sop_label"):
        if not -1 <= e[name] <= 1:
            return f"{name} {e[name]} is not -1, 0 or 1"
    if rules.task is None:
        return None
    pair, task = e["pair_type"], _TASK_DEBUG[rules.task]
    if not _ALLOWED[rules.task][pair]:
        return f"pair type {pair} does not occur in a {task} epoch"
    nsp, sop = expected_labels(rules.task, pair)
    if (e["nsp_label"], e["sop_label"]) != (nsp, sop):
        return (
            f"nsp_label {e['nsp_label']} and sop_label {e['sop_label']} do not match pair type {pair} "
            f"of a {task} epoch ({nsp} and {sop})"
        )
    return None


def null_problem(table: pa.Table) -> str | None:
    """A contract column holding nulls (the schema has none; arrow-rs would read a null slot as
    whatever value lies under it, so the Python reader refuses it instead)."""
    for name in table.column_names:
        column = table.column(name)
        if column.null_count or (
            isinstance(column.type, pa.ListType) and any(c.values.null_count for c in column.chunks)
        ):
            return f"column `{name}` holds nulls, the examples schema has none"
    return None


def check_rows(table: pa.Table, rules: RowRules, first_row: int = 0) -> str | None:
    """The Rust message for the first row of ``table`` that breaks the contract
    (``row N (example E): ...``, N counted from 1 + ``first_row``), if any. ``table`` holds
    at least :data:`CHECKED_COLUMNS`, of the schema's types."""
    contract = set(examples_schema(True).names)
    problem = null_problem(table.select([n for n in table.column_names if n in contract]))
    if problem:
        return problem
    bad = bad_rows(table, rules)
    if not bad.any():
        return None
    row = int(np.argmax(bad))
    e = table.select(list(CHECKED_COLUMNS)).slice(row, 1).to_pylist()[0]
    problem = row_problem(e, rules) or "breaks the examples contract"
    return f"row {first_row + row + 1} (example {e['example_id']}): {problem}"
