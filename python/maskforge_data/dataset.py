"""Opening a maskforge examples epoch (``<output>/epochs/E/``) through its manifest.

Needs only pyarrow and numpy. Locations are local paths or any URI pyarrow's file systems
understand (``s3://``, ``gs://``, ``file://``, ...). Everything read is checked as the Rust
reader checks it (:mod:`maskforge_data.contract`): the manifest's paths stay inside the folder,
shards and vocabulary match the manifest's sizes and checksums, and every shard row keeps the
examples contract; a breach is a :class:`ContractError` with the Rust reader's words.
"""

from __future__ import annotations

import hashlib
import json

import pyarrow as pa
import pyarrow.fs as pafs
import pyarrow.parquet as pq

from .contract import CHECKED_COLUMNS, ContractError, ManifestError, RowRules, check_paths, check_rows, check_schema

EXAMPLES_SCHEMA = "maskforge.examples/1"

__all__ = ["EXAMPLES_SCHEMA", "SPLITS", "ContractError", "ExamplesEpoch", "ManifestError"]

SPLITS = ("train", "validation", "test")


class ExamplesEpoch:
    """One examples epoch: its manifest, vocabulary and the shards of one split.

    ``split`` is ``train`` (the manifest's ``shards``), ``validation`` or ``test`` (the
    manifest's ``validation.shards`` / ``test.shards``, written with
    ``output.validation_fraction`` / ``test_fraction``).
    """

    def __init__(self, location: str, split: str = "train") -> None:
        self.fs, self.root = pafs.FileSystem.from_uri(location) if "://" in location else (
            pafs.LocalFileSystem(),
            location,
        )
        self.root = self.root.rstrip("/")
        self.location = location
        try:
            self.manifest = json.loads(self._read("manifest.json"))
        except (OSError, ValueError) as e:
            raise ManifestError(f"{location}: no readable manifest.json ({e})") from e
        manifest_url = self._url("manifest.json")
        if not isinstance(self.manifest, dict):
            raise ContractError(manifest_url, "not an examples manifest: expected a JSON object")
        version = self.manifest.get("schema_version")
        if version != EXAMPLES_SCHEMA:
            raise ContractError(
                manifest_url, f"schema version {version} is not {EXAMPLES_SCHEMA} (the version this build reads)"
            )
        try:
            self.rules = RowRules.from_manifest(self.manifest)
            _check_entries(self.manifest)
        except ValueError as e:
            raise ContractError(manifest_url, f"not an examples manifest: {e}") from None
        outside = check_paths(self.manifest)
        if outside:
            raise ContractError(manifest_url, outside)
        if split not in SPLITS:
            raise ValueError(f"split {split!r} is not one of {', '.join(SPLITS)}")
        self.split = split
        section = self.manifest if split == "train" else self.manifest.get(split)
        if section is None:
            raise ManifestError(f"{location}: this epoch has no {split} split")
        self.shards: list[dict] = section["shards"]
        self._vocabulary: list[str] | None = None

    def _url(self, path: str) -> str:
        """The location of ``path`` (relative to the epoch folder) in messages."""
        return f"{self.location.rstrip('/')}/{path}"

    def _read(self, name: str) -> bytes:
        with self.fs.open_input_stream(f"{self.root}/{name}") as f:
            return f.read()

    @property
    def task(self) -> str:
        """``nsp``, ``sop``, ``full_sentences`` or ``doc_sentences`` (packed sequences)."""
        spec = self.manifest.get("spec") or {}
        return (spec.get("pairs") or self.manifest["config"]["pairs"])["task"]

    def vocabulary(self) -> list[str]:
        """The tokens of the manifest's vocabulary file (``vocab.txt``), one per id (split on
        newlines only), checked against the manifest's checksum."""
        if self._vocabulary is None:
            entry = self.manifest["vocab"]
            url = self._url(entry["path"])
            data = self._read(entry["path"])
            if hashlib.sha256(data).hexdigest() != entry["sha256"]:
                raise ContractError(url, "checksum differs from the manifest")
            try:
                text = data.decode("utf-8")
            except UnicodeDecodeError as e:
                raise ContractError(url, f"not UTF-8: {_utf8_error(e)}") from None
            lines = text.split("\n")
            self._vocabulary = lines[:-1] if lines and lines[-1] == "" else lines
        return list(self._vocabulary)

    def pad_id(self) -> int:
        """The id the Rust loader pads with: ``[PAD]`` or ``<pad>``, else 0."""
        vocab = self.vocabulary()
        for token in ("[PAD]", "<pad>"):
            if token in vocab:
                return vocab.index(token)
        return 0

    def __len__(self) -> int:
        return sum(s["rows"] for s in self.shards)

    def read_shard(self, index: int, columns=None):
        """Manifest shard ``index`` as a ``pyarrow.Table`` of ``columns`` (all by default), checked
        as the Rust reader checks it: size and SHA-256 against the manifest, the columns' types,
        every row against the contract and the epoch's rules (all rows are checked whatever
        ``columns`` asks for), the row count against the manifest. Raises :class:`ContractError`."""
        entry = self.shards[index]
        url = self._url(entry["path"])
        data = self._read(entry["path"])
        if len(data) != entry["bytes"] or hashlib.sha256(data).hexdigest() != entry["sha256"]:
            raise ContractError(url, "size or checksum differs from the manifest (changed after it was written?)")

        def bad(message) -> ContractError:
            return ContractError(url, f"cannot read examples shard: {message}")

        try:
            file = pq.ParquetFile(pa.BufferReader(data))
            schema = file.schema_arrow
        except (pa.ArrowException, OSError) as e:
            raise bad(e) from None
        problem = check_schema(schema)
        if problem:
            raise bad(problem)
        wanted = list(schema.names if columns is None else columns)
        unknown = [c for c in wanted if c not in schema.names]
        if unknown:
            raise ValueError(f"{url}: no column {', '.join(unknown)} (it has {', '.join(schema.names)})")
        try:
            table = file.read(columns=wanted + [c for c in CHECKED_COLUMNS if c not in wanted])
        except (pa.ArrowException, OSError) as e:
            raise bad(e) from None
        problem = check_rows(table, self.rules)
        if problem:
            raise bad(problem)
        if table.num_rows != entry["rows"]:
            raise bad(f"{table.num_rows} rows, the manifest says {entry['rows']}")
        return table.select(wanted)


def _check_entries(manifest: dict) -> None:
    """The manifest fields this reader uses are there, with their types (what serde would
    refuse in the Rust reader, in its words without the line and column)."""
    sections = [manifest] + [manifest[s] for s in ("validation", "test") if manifest.get(s) is not None]
    for section in sections:
        if not isinstance(section, dict) or not isinstance(section.get("shards"), list):
            raise ValueError("missing field `shards`")
        for entry in section["shards"]:
            _fields(entry, path=str, rows=int, bytes=int, sha256=str)
    _fields(manifest["vocab"], path=str, size=int, sha256=str)
    for entry in manifest.get("files") or []:
        _fields(entry, path=str, bytes=int, sha256=str)


def _fields(entry, **types) -> None:
    if not isinstance(entry, dict):
        raise ValueError(f"invalid type: {type(entry).__name__}, expected struct")
    for name, kind in types.items():
        if name not in entry:
            raise ValueError(f"missing field `{name}`")
        value = entry[name]
        if not isinstance(value, kind) or isinstance(value, bool) or (kind is int and value < 0):
            raise ValueError(f"invalid value for `{name}`: {value!r}")


def _utf8_error(e: UnicodeDecodeError) -> str:
    """A decoding error in the words of Rust's ``Utf8Error``."""
    if e.reason == "unexpected end of data":
        return f"incomplete utf-8 byte sequence from index {e.start}"
    return f"invalid utf-8 sequence of {e.end - e.start} bytes from index {e.start}"
