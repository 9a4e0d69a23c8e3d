"""photomatch: find the original photos behind low-quality thumbnails in a local album.

The public API is what ``__all__`` lists: index an album (``index_album``),
match thumbnail folders against it (``match_album``), export the chosen
originals (``export_originals``), the result types they return, the matching
``Policy``, the errors, and the search kernel ``hamming_topk``. Everything else
is reached through its submodule (``photomatch.results.read_json``,
``photomatch.index.AlbumIndex``, ``photomatch.hashing``...), whose contents may
change between versions.
"""

from __future__ import annotations

import importlib
import warnings
from importlib.metadata import version as _version
from typing import TYPE_CHECKING

from ._core import hamming_topk
from .api import index_album, match_album
from .decision import Policy
from .errors import AlbumIndexError, DecodeError, ExportError, PhotomatchError, UsageError
from .export import ExportItem, export_originals
from .index import IndexReport
from .results import Candidate, MatchRun, QueryResult, SetInfo, Skipped

#: The installed distribution's version (the one in pyproject.toml).
__version__ = _version("photomatch")

__all__ = [
    "AlbumIndexError",
    "Candidate",
    "DecodeError",
    "ExportError",
    "ExportItem",
    "IndexReport",
    "MatchRun",
    "PhotomatchError",
    "Policy",
    "QueryResult",
    "SetInfo",
    "Skipped",
    "UsageError",
    "__version__",
    "export_originals",
    "hamming_topk",
    "index_album",
    "match_album",
]

#: Names this package exported before its API was narrowed, and the submodule
#: that has each: still found here, with a DeprecationWarning, for a while.
_MOVED = {
    "HASH_VERSION": "hashing",
    "WORDS": "hashing",
    "ImageHashes": "hashing",
    "hash_file": "hashing",
    "AlbumArrays": "index",
    "AlbumIndex": "index",
    "QueryImage": "matching",
    "hash_queries": "matching",
    "match": "matching",
    "read_json": "results",
    "hamming_distances": "_core",
}

if not TYPE_CHECKING:  # type checkers see only the public names

    def __getattr__(name: str) -> object:
        module = _MOVED.get(name)
        if module is None:
            raise AttributeError(f"module 'photomatch' has no attribute {name!r}")
        warnings.warn(
            f"photomatch.{name} is not part of the public API: use photomatch.{module}.{name}",
            DeprecationWarning,
            stacklevel=2,
        )
        return getattr(importlib.import_module(f"{__name__}.{module}"), name)
