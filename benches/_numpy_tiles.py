"""The numpy tile statistics and tone quantiles photomatch used before
``_core.tile_stats`` and ``_core.quantiles``: ``verify._worst_tile``,
``verify._lowest_tile`` and ``verify._tone_quantiles`` as they were, for the
tests (same results, up to the last bits of the sums) and the benchmarks."""

from __future__ import annotations

import numpy as np

from photomatch import verify


def numpy_worst_tile(a: np.ndarray, b: np.ndarray, tiles: int = 3) -> float:
    h, w = a.shape
    scores = []
    for i in range(tiles):
        ys = slice(i * h // tiles, (i + 1) * h // tiles)
        for j in range(tiles):
            xs = slice(j * w // tiles, (j + 1) * w // tiles)
            ta, tb = a[ys, xs], b[ys, xs]
            if ta.size >= 16 and ta.std() >= 0.5 and tb.std() >= 0.5:
                scores.append(verify._correlation(ta, tb))
    return min(scores) if scores else float("nan")


def numpy_lowest_tile(
    fa: np.ndarray,
    fb: np.ndarray,
    da: np.ndarray,
    db: np.ndarray,
    min_std: float,
    tiles: int = verify._TILES,
) -> float:
    lo, hi = verify._UNCLIPPED
    keep = (fa > lo) & (fa < hi) & (fb > lo) & (fb < hi)
    h, w = fa.shape
    scores = []
    for i in range(tiles):
        ys = slice(i * h // tiles, (i + 1) * h // tiles)
        for j in range(tiles):
            xs = slice(j * w // tiles, (j + 1) * w // tiles)
            k = keep[ys, xs]
            if k.mean() < 0.25:
                continue
            ta, tb = da[ys, xs][k], db[ys, xs][k]
            if ta.std() >= min_std and tb.std() >= min_std:
                scores.append(verify._correlation(ta, tb))
    return min(scores) if len(scores) >= 3 else float("nan")


def numpy_tone_quantiles(values: np.ndarray) -> np.ndarray:
    return np.percentile(values, verify._TONE_PERCENTILES)
