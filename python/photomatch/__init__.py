"""photomatch: find the original photos behind low-quality thumbnails in a local album.

The public API: index an album, hash images, match thumbnails, read results,
export originals, and the search kernels themselves.
"""

from importlib.metadata import version as _version

from ._core import hamming_distances, hamming_topk
from .api import index_album, match_album
from .decision import Policy
from .errors import AlbumIndexError, DecodeError, ExportError, PhotomatchError, UsageError
from .export import ExportItem, export_originals
from .hashing import HASH_VERSION, WORDS, ImageHashes, hash_file
from .index import AlbumArrays, AlbumIndex, IndexReport
from .matching import QueryImage, hash_queries, match
from .results import Candidate, MatchRun, QueryResult, SetInfo, Skipped, read_json

#: The installed distribution's version (the one in pyproject.toml).
__version__ = _version("photomatch")

__all__ = [
    "HASH_VERSION",
    "WORDS",
    "AlbumArrays",
    "AlbumIndex",
    "AlbumIndexError",
    "Candidate",
    "DecodeError",
    "ExportError",
    "ExportItem",
    "ImageHashes",
    "IndexReport",
    "MatchRun",
    "PhotomatchError",
    "Policy",
    "QueryImage",
    "QueryResult",
    "SetInfo",
    "Skipped",
    "UsageError",
    "export_originals",
    "hamming_distances",
    "hamming_topk",
    "hash_file",
    "hash_queries",
    "index_album",
    "match",
    "match_album",
    "read_json",
]
