"""Baselines the benchmarks put beside photomatch: seed-style PIL + imagehash
hashing, and numpy / pure-Python Hamming top-k.

Each baseline does the same job as the photomatch function it is compared with
and, for the top-k, returns exactly the same answer (rows ordered by distance,
then row index), which the benchmarks check.
"""

from __future__ import annotations

import heapq

import imagehash
import numpy as np
from PIL import Image

#: Elements of one (queries x album) distance block in the numpy top-k; bounds
#: its temporaries to about 9 bytes per element (here ~38 MB).
NUMPY_BLOCK = 1 << 22


def seed_average_hash(path: str) -> imagehash.ImageHash:
    """The seed's way: PIL opens and fully decodes the 12-MP file, imagehash shrinks it."""
    with Image.open(path) as im:
        return imagehash.average_hash(im)


def draft_average_hash(path: str) -> imagehash.ImageHash:
    """PIL with libjpeg's DCT scaling (``draft``): decodes grey at 1/2..1/8 size."""
    with Image.open(path) as im:
        im.draft("L", (256, 256))
        return imagehash.average_hash(im)


def draft_dhash(path: str) -> imagehash.ImageHash:
    """As :func:`draft_average_hash`, with imagehash's difference hash."""
    with Image.open(path) as im:
        im.draft("L", (256, 256))
        return imagehash.dhash(im)


def draft_decode(path: str) -> Image.Image:
    """PIL ``draft('L')`` decode only (no hash): the cost of PIL's scaled decode."""
    with Image.open(path) as im:
        im.draft("L", (256, 256))
        im.load()
        return im


def numpy_topk(queries: np.ndarray, album: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Hamming top-k with ``np.bitwise_count``, same contract as ``photomatch.hamming_topk``.

    Blocks of queries are compared against the whole album (XOR, popcount,
    sum over the W words); each query's k-th smallest distance is found (a
    histogram of the 0..64W distances, about twice as fast here as
    ``np.partition``, so the baseline is not handicapped), and every row at or
    under it is sorted by (distance, row) so that ties come out in row order,
    as the kernel returns them.
    """
    q_count, words = queries.shape
    n = album.shape[0]
    k = min(k, n)
    out_idx = np.empty((q_count, k), dtype=np.int64)
    out_dist = np.empty((q_count, k), dtype=np.uint32)
    if k == 0:
        return out_idx, out_dist
    dist_dtype = np.uint8 if 64 * words < 256 else np.uint16
    block = max(1, NUMPY_BLOCK // max(n, 1))
    columns = [np.ascontiguousarray(album[:, w]) for w in range(words)]
    for start in range(0, q_count, block):
        qb = queries[start : start + block]
        dist = np.zeros((qb.shape[0], n), dtype=dist_dtype)
        for w in range(words):
            dist += np.bitwise_count(qb[:, w, None] ^ columns[w][None, :])
        kth = _kth_smallest(dist, k, 64 * words)
        rows, cols = np.nonzero(dist <= kth[:, None])
        d = dist[rows, cols]
        order = np.lexsort((cols, d, rows))
        rows, cols, d = rows[order], cols[order], d[order]
        # Keep the first k of each query's run.
        first = np.searchsorted(rows, np.arange(qb.shape[0]))
        rank = np.arange(rows.size) - first[rows]
        keep = rank < k
        out_idx[start + rows[keep], rank[keep]] = cols[keep]
        out_dist[start + rows[keep], rank[keep]] = d[keep]
    return out_idx, out_dist


def _kth_smallest(dist: np.ndarray, k: int, max_dist: int) -> np.ndarray:
    """Per row of ``dist`` (values 0..max_dist), the k-th smallest value."""
    bins = max_dist + 1
    offsets = (np.arange(dist.shape[0], dtype=np.int64) * bins)[:, None]
    counts = np.bincount((dist + offsets).ravel(), minlength=dist.shape[0] * bins)
    below = counts.reshape(dist.shape[0], bins).cumsum(axis=1) < k
    return below.sum(axis=1).astype(dist.dtype)


def python_topk(
    queries: list[tuple[int, ...]], album: list[tuple[int, ...]], k: int
) -> tuple[list[list[int]], list[list[int]]]:
    """Pure-Python Hamming top-k with ``int.bit_count`` (rows as tuples of ints, W = 2)."""
    idx_out, dist_out = [], []
    for q0, q1 in queries:
        dists = [(a0 ^ q0).bit_count() + (a1 ^ q1).bit_count() for a0, a1 in album]
        best = heapq.nsmallest(k, zip(dists, range(len(dists)), strict=True))
        idx_out.append([i for _, i in best])
        dist_out.append([d for d, _ in best])
    return idx_out, dist_out
