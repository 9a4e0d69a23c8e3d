"""The area resize in plain numpy, as photomatch ran it before the Rust kernel
``_core.area_resize``: the baseline of ``test_bench_verify.py`` and the oracle
``tests/test_resize.py`` checks the kernel against, to the last bit."""

from __future__ import annotations

import numpy as np


def numpy_area_resize(
    grey: np.ndarray, out_h: int, out_w: int, scale: float | None = None
) -> np.ndarray:
    """Box averaging with fractional edges, one axis at a time, from cumulative sums."""
    a = np.asarray(grey, dtype=np.float64)
    for axis, n_out in ((0, out_h), (1, out_w)):
        n_in = a.shape[axis]
        if n_in == n_out and scale in (None, 1.0):
            continue
        cum = np.concatenate(
            [np.zeros_like(a.take([0], axis=axis)), np.cumsum(a, axis=axis)], axis=axis
        )
        if scale is None:
            edges = np.linspace(0.0, n_in, n_out + 1)
        else:
            edges = np.minimum(np.arange(n_out + 1) / scale, n_in)
        lo = np.minimum(np.floor(edges).astype(np.intp), n_in)
        frac, width = edges - lo, np.maximum(np.diff(edges), 1e-9)
        nxt = np.minimum(lo + 1, n_in)
        shape = [1, 1]
        shape[axis] = n_out + 1
        at = cum.take(lo, axis=axis) + frac.reshape(shape) * (
            cum.take(nxt, axis=axis) - cum.take(lo, axis=axis)
        )
        shape[axis] = n_out
        a = np.diff(at, axis=axis) / width.reshape(shape)
    return a.astype(np.float32)
