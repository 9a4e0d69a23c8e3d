"""Search an album held as several row arrays (shards), with the exact result of one array.

An album of 10^8 photos is 1.5 x 10^9 view rows (24 GB at two words a row): more
than one machine may want to hold, and more than one memory map. Two ways, with the
same answer as ``hamming_topk`` on the concatenated rows, ties included:

* ``hamming_topk_shards``: shards held by this process (arrays, memory maps) are
  searched in one kernel call (Rust, rayon, GIL released) that cuts them into the
  chunks it would cut one array into, with global row numbers, and shares each
  query's bound on its k-th distance across all of them: no copy, and about the
  cost of one array.
* ``merge_topk``: per-shard answers computed elsewhere (other processes or machines,
  each ``hamming_topk`` on its own shard) merged here in numpy.

Why merging per-shard answers is exact: the kernel orders a
query's candidates by ``(distance, row)``, a total order. Shard ``s`` holds the
global rows ``offset_s .. offset_s + len_s - 1`` in the same order, so inside one
shard the order by ``(distance, local row)`` is the order by ``(distance, global
row)``. A row among the ``k`` first of the whole album is therefore among the ``k``
first of its own shard (fewer rows compete there), so the union of the per-shard
top-k holds the global top-k, and sorting that union by ``(distance, global row)``
and keeping ``k`` gives it, ties included. The merge costs
``O(Q * S * k log(S * k))`` for S shards, nothing next to the scans.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

from . import _core

TopK = tuple[npt.NDArray[np.int64], npt.NDArray[np.uint32]]
#: The merge packs (distance, global row) into one uint64 when both fit these widths
#: (rows below 2^40, distances below 2^24); otherwise it sorts the pairs as they are.
_ROW_BITS = 40
_DIST_BITS = 24


def shard_offsets(shards: Sequence[npt.NDArray[np.uint64]]) -> npt.NDArray[np.int64]:
    """The global row of each shard's first row: ``int64`` of shape ``(S,)``, from 0."""
    sizes = np.array([len(s) for s in shards], dtype=np.int64)
    return np.cumsum(sizes) - sizes


def merge_topk(parts: Sequence[TopK], offsets: Sequence[int], q: int, k: int) -> TopK:
    """Merge per-shard top-k answers into the top-k of the shards concatenated.

    Args:
        parts: per shard, ``(indices, distances)`` as ``hamming_topk`` returns them
            for that shard alone: ``int64`` local rows and ``uint32`` distances,
            shape ``(q, min(k, len(shard)))``, each row sorted by (distance, row).
        offsets: the global row of each shard's first row (``shard_offsets``).
        q: number of queries (the answers' first axis; needed when there are no shards).
        k: number of neighbours wanted, at least 1.

    Returns:
        ``(indices, distances)`` of shape ``(q, min(k, total rows))``: global rows,
        each row sorted by ``(distance, global row)``, equal to ``hamming_topk``
        on the concatenated shards.
    """
    if k < 1:
        raise ValueError(f"k must be at least 1, got {k}")
    if len(parts) != len(offsets):
        raise ValueError(f"{len(parts)} shard answers but {len(offsets)} offsets")
    rows = [
        np.asarray(i, dtype=np.int64) + int(o) for (i, _), o in zip(parts, offsets, strict=True)
    ]
    dists = [np.asarray(d, dtype=np.uint32) for _, d in parts]
    for i, d in zip(rows, dists, strict=True):
        if i.shape != d.shape or i.ndim != 2 or i.shape[0] != q:
            raise ValueError(f"shard answers must have shape ({q}, k'), got {i.shape}, {d.shape}")
    width = sum(i.shape[1] for i in rows)
    if width == 0:
        return np.zeros((q, 0), dtype=np.int64), np.zeros((q, 0), dtype=np.uint32)
    all_rows = np.concatenate(rows, axis=1)
    all_dists = np.concatenate(dists, axis=1)
    keep = min(k, width)
    if q and int(all_rows.max()) < 1 << _ROW_BITS and int(all_dists.max()) < 1 << _DIST_BITS:
        # One uint64 per candidate that sorts as (distance, global row): a plain sort,
        # several times faster than lexsort, and the same order (the pairs are unique).
        key = (all_dists.astype(np.uint64) << np.uint64(_ROW_BITS)) | all_rows.astype(np.uint64)
        if keep < width:
            key = np.partition(key, keep - 1, axis=1)[:, :keep]
        key.sort(axis=1)
        return (
            (key & np.uint64((1 << _ROW_BITS) - 1)).astype(np.int64),
            (key >> np.uint64(_ROW_BITS)).astype(np.uint32),
        )
    # lexsort sorts by its last key first: distance, then global row (unique).
    order = np.lexsort((all_rows, all_dists), axis=-1)[:, :keep]
    return (
        np.ascontiguousarray(np.take_along_axis(all_rows, order, axis=1)),
        np.ascontiguousarray(np.take_along_axis(all_dists, order, axis=1)),
    )


def hamming_topk_shards(
    queries: npt.NDArray[np.uint64], shards: Sequence[npt.NDArray[np.uint64]], k: int
) -> TopK:
    """``hamming_topk(queries, np.concatenate(shards), k)`` without concatenating.

    Args:
        queries: ``uint64`` array of shape ``(Q, W)``, C-contiguous.
        shards: ``uint64`` arrays of shape ``(N_s, W)``, C-contiguous, any sizes
            (empty ones too); global row numbers run through them in order.
        k: number of neighbours wanted, at least 1.

    Returns:
        ``(indices, distances)``: ``int64`` global rows and ``uint32`` distances of
        shape ``(Q, min(k, sum N_s))``, sorted by ``(distance, global row)``: the
        single-array result, ties included. One kernel call over all shards
        (GIL released, rayon's threads; ``_core.hamming_topk_shards``).

    Raises:
        ValueError: as ``hamming_topk`` for the queries or any shard, or ``k < 1``.
    """
    return _core.hamming_topk_shards(queries, list(shards), k)


def hamming_topk_each(
    queries: npt.NDArray[np.uint64], shards: Sequence[npt.NDArray[np.uint64]], k: int
) -> TopK:
    """``hamming_topk_shards`` as separate kernel calls per shard and ``merge_topk``:
    what a coordinator does with answers from elsewhere, here in one process (tests,
    benchmarks)."""
    if k < 1:
        raise ValueError(f"k must be at least 1, got {k}")
    parts = [_core.hamming_topk(queries, shard, k) for shard in shards]
    return merge_topk(parts, list(shard_offsets(shards)), len(queries), k)
