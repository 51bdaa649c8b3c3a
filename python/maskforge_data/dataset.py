"""Opening a maskforge examples epoch (``<output>/epochs/E/``) through its manifest.

Needs only pyarrow. Locations are local paths or any URI pyarrow's file systems understand
(``s3://``, ``gs://``, ``file://``, ...).
"""

from __future__ import annotations

import json

import pyarrow.fs as pafs
import pyarrow.parquet as pq

EXAMPLES_SCHEMA = "maskforge.examples/1"


class ManifestError(ValueError):
    """The folder does not hold a readable maskforge examples dataset."""


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
        version = self.manifest.get("schema_version")
        if version != EXAMPLES_SCHEMA:
            raise ManifestError(f"{location}: schema {version!r}, this reader knows {EXAMPLES_SCHEMA}")
        if split not in SPLITS:
            raise ValueError(f"split {split!r} is not one of {', '.join(SPLITS)}")
        self.split = split
        section = self.manifest if split == "train" else self.manifest.get(split)
        if section is None:
            raise ManifestError(f"{location}: this epoch has no {split} split")
        self.shards: list[dict] = section["shards"]

    def _read(self, name: str) -> bytes:
        with self.fs.open_input_stream(f"{self.root}/{name}") as f:
            return f.read()

    @property
    def task(self) -> str:
        """``nsp``, ``sop`` or ``none`` (packed sequences)."""
        spec = self.manifest.get("spec") or {}
        return (spec.get("pairs") or self.manifest["config"]["pairs"])["task"]

    def vocabulary(self) -> list[str]:
        """The tokens of ``vocab.txt``, one per id (split on newlines only)."""
        text = self._read("vocab.txt").decode("utf-8")
        lines = text.split("\n")
        return lines[:-1] if lines and lines[-1] == "" else lines

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
        """Manifest shard ``index`` as a ``pyarrow.Table`` (its size checked against the manifest)."""
        entry = self.shards[index]
        path = f"{self.root}/{entry['path']}"
        size = self.fs.get_file_info(path).size
        if size != entry["bytes"]:
            raise ManifestError(f"{self.location}/{entry['path']}: {size} bytes, the manifest says {entry['bytes']}")
        with self.fs.open_input_file(path) as f:
            table = pq.read_table(f, columns=columns)
        if table.num_rows != entry["rows"]:
            raise ManifestError(f"{self.location}/{entry['path']}: {table.num_rows} rows, the manifest says {entry['rows']}")
        return table
