"""Match thumbnails against an album index: kernel top-k, then a decision.

Each thumbnail is hashed like an album photo but with its full frame only; the
Rust kernel returns its nearest album view rows by Hamming distance; rows are
collapsed to files (a file's distance is that of its closest view); then the
policy decides:

* ``unmatched`` when the best file is farther than ``Policy.match_max`` bits;
* ``ambiguous`` when other files lie within ``Policy.ambiguous_margin`` bits of
  the best (burst frames, duplicates): all of them are listed, best first;
* ``matched`` otherwise.

Thresholds are in bits out of ``64 * hashing.WORDS``. They were set from the
distances measured on the test albums (recompressed, downscaled and cropped
thumbnails of their originals land at 0-14 bits; other photos at 35+ bits),
leaving room on both sides.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np
from tqdm import tqdm

from . import hashing
from ._core import hamming_topk
from .errors import DecodeError, UsageError
from .index import AlbumArrays, scan_album
from .results import AMBIGUOUS, MATCHED, UNMATCHED, Candidate, QueryResult, SetInfo, Skipped


@dataclass(frozen=True)
class Policy:
    """Decision thresholds, in bits of Hamming distance."""

    match_max: int = 24
    ambiguous_margin: int = 6
    #: Album view rows fetched per thumbnail before collapsing to files.
    rows_per_query: int = 64
    #: Candidates kept per thumbnail in the results.
    max_candidates: int = 5


DEFAULT_POLICY = Policy()


@dataclass(frozen=True)
class QueryImage:
    """A hashed thumbnail: its set, path, and uint64 ``(1, WORDS)`` hash row."""

    set: str
    path: str
    row: np.ndarray


def name_sets(folders: Sequence[str]) -> tuple[SetInfo, ...]:
    """One set per folder, named after it; repeated names get ``-2``, ``-3`` ..."""
    seen: dict[str, int] = {}
    sets = []
    for folder in folders:
        base = os.path.basename(os.path.normpath(os.path.abspath(folder))) or "set"
        seen[base] = seen.get(base, 0) + 1
        name = base if seen[base] == 1 else f"{base}-{seen[base]}"
        sets.append(SetInfo(name=name, folder=os.path.abspath(folder)))
    return tuple(sets)


def hash_queries(
    sets: Sequence[SetInfo], progress: bool = True, jobs: int | None = None
) -> tuple[list[QueryImage], list[Skipped]]:
    """Hash every thumbnail of every set; unreadable ones are skipped with their reason."""
    todo: list[tuple[str, str]] = []
    for s in sets:
        if not os.path.isdir(s.folder):
            raise UsageError(f"thumbnail folder not found: {s.folder}")
        entries, _ = scan_album(s.folder)
        if not entries:
            raise UsageError(f"thumbnail folder holds no image: {s.folder}")
        todo += [(s.name, os.path.join(s.folder, e.rel)) for e in entries]

    def one(item: tuple[str, str]) -> QueryImage | Skipped:
        set_name, path = item
        try:
            hashed = hashing.hash_file(path, album=False)
        except DecodeError as exc:
            return Skipped(path, exc.reason)
        except OSError as exc:
            return Skipped(path, exc.strerror or str(exc))
        return QueryImage(set_name, path, hashed.rows[:1])

    queries: list[QueryImage] = []
    skipped: list[Skipped] = []
    with (
        ThreadPoolExecutor(max_workers=jobs or os.cpu_count() or 1) as pool,
        tqdm(
            total=len(todo),
            unit="img",
            desc="thumbnails",
            file=sys.stderr,
            disable=not progress,
            dynamic_ncols=True,
        ) as bar,
    ):
        for item in pool.map(one, todo):
            (queries if isinstance(item, QueryImage) else skipped).append(item)
            bar.update(1)
    return queries, skipped


def match(
    album: AlbumArrays, queries: Sequence[QueryImage], policy: Policy = DEFAULT_POLICY
) -> list[QueryResult]:
    """Decide, for each thumbnail, which album file it came from (see module doc)."""
    if not queries:
        return []
    if len(album.paths) == 0:
        return [QueryResult(q.set, q.path, UNMATCHED, None, None, ()) for q in queries]
    query_rows = np.ascontiguousarray(np.concatenate([q.row for q in queries]), dtype=np.uint64)
    k = min(policy.rows_per_query, album.hashes.shape[0])
    rows, distances = hamming_topk(query_rows, album.hashes, k)
    return [
        _decide(q, _collapse(album, rows[i], distances[i]), policy) for i, q in enumerate(queries)
    ]


def _collapse(album: AlbumArrays, rows: np.ndarray, distances: np.ndarray) -> list[Candidate]:
    """Album rows (sorted by distance) to files, each at its closest view."""
    best: dict[int, Candidate] = {}
    for row, dist in zip(rows.tolist(), distances.tolist(), strict=True):
        file = int(album.row_file[row])
        if file not in best:
            view = hashing.VIEW_NAMES[int(album.row_view[row])]
            best[file] = Candidate(album.paths[file], int(dist), view)
    return list(best.values())


def _decide(query: QueryImage, candidates: list[Candidate], policy: Policy) -> QueryResult:
    shown = tuple(candidates[: policy.max_candidates])
    if not candidates or candidates[0].distance > policy.match_max:
        nearest = candidates[0].distance if candidates else None
        return QueryResult(query.set, query.path, UNMATCHED, None, nearest, shown)
    top = candidates[0]
    close = tuple(
        c
        for c in candidates
        if c.distance <= min(top.distance + policy.ambiguous_margin, policy.match_max)
    )
    if len(close) > 1:
        return QueryResult(query.set, query.path, AMBIGUOUS, None, top.distance, close)
    return QueryResult(query.set, query.path, MATCHED, top.path, top.distance, shown)
