"""Reading maskforge examples epochs from Python with only pyarrow and numpy.

- :class:`ExamplesEpoch` opens ``<output>/epochs/E/`` through its manifest and reads its shards
  checked as the Rust reader checks them (:mod:`maskforge_data.contract`; a breach is a
  :class:`ContractError`);
- :class:`ExamplesLoader` yields one rank's batches in the Rust loader's global order, with
  exact resume;
- :func:`collate` pads examples into Hugging Face-named int64 arrays;
- :mod:`maskforge_data.torch` (needs torch) wraps them as PyTorch datasets.
"""

from .collate import IGNORE, collate
from .contract import ContractError, ManifestError
from .dataset import ExamplesEpoch
from .loader import ExamplesLoader, LoaderState

__all__ = [
    "IGNORE",
    "ContractError",
    "ExamplesEpoch",
    "ExamplesLoader",
    "LoaderState",
    "ManifestError",
    "collate",
]
