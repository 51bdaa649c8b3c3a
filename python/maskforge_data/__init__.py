"""Reading maskforge examples epochs from Python with only pyarrow and numpy.

- :class:`ExamplesEpoch` opens ``<output>/epochs/E/`` through its manifest;
- :class:`ExamplesLoader` yields one rank's batches in the Rust loader's global order, with
  exact resume;
- :func:`collate` pads examples into Hugging Face-named int64 arrays;
- :mod:`maskforge_data.torch` (needs torch) wraps them as PyTorch datasets.
"""

from .collate import IGNORE, collate
from .dataset import ExamplesEpoch, ManifestError
from .loader import ExamplesLoader, LoaderState

__all__ = ["IGNORE", "ExamplesEpoch", "ExamplesLoader", "LoaderState", "ManifestError", "collate"]
