"""The pixel check's correlation maps in numpy, as photomatch ran them before
the Rust kernel ``_core.ncc_map``: FFTs for a whole scan, a sliding-window
``einsum`` over a region, window sums from summed-area tables. The baseline of
``test_bench_verify.py``; its scores agree with the kernel's to about 1e-6
(f32 products here, f64 there)."""

from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from photomatch import verify


def numpy_ncc(
    image: np.ndarray, template: np.ndarray, ys: slice | None = None, xs: slice | None = None
) -> np.ndarray:
    """``verify._ncc`` in numpy."""
    th, tw = template.shape
    h, w = image.shape
    full = ys is None and xs is None
    ys = ys or slice(0, h - th + 1)
    xs = xs or slice(0, w - tw + 1)
    n = th * tw
    t = template - template.mean()
    t_norm = max(float(np.sqrt((t * t).sum())), verify.MIN_STD * np.sqrt(n))
    f = image.astype(np.float64)
    ii = np.pad(f.cumsum(0).cumsum(1), ((1, 0), (1, 0)))
    ii2 = np.pad((f * f).cumsum(0).cumsum(1), ((1, 0), (1, 0)))
    if full:
        # Circular correlation; positions that would wrap lie outside the valid area.
        spectrum = np.fft.rfft2(image)
        num = np.fft.irfft2(spectrum * np.conj(np.fft.rfft2(t, s=(h, w))), s=(h, w))[ys, xs]
    else:
        region = image[ys.start : ys.stop + th - 1, xs.start : xs.stop + tw - 1]
        num = np.einsum("ijkl,kl->ij", sliding_window_view(region, (th, tw)), t)
    s1 = _window_sums(ii, ys, xs, th, tw)
    s2 = _window_sums(ii2, ys, xs, th, tw)
    var = np.maximum(s2 - s1 * s1 / n, verify.MIN_STD**2 * n)
    scores: np.ndarray = np.clip(num / (np.sqrt(var) * t_norm), -1.0, 1.0)
    return scores


def _window_sums(ii: np.ndarray, ys: slice, xs: slice, th: int, tw: int) -> np.ndarray:
    y0, y1, x0, x1 = ys.start, ys.stop, xs.start, xs.stop
    sums: np.ndarray = (
        ii[y0 + th : y1 + th, x0 + tw : x1 + tw]
        - ii[y0:y1, x0 + tw : x1 + tw]
        - ii[y0 + th : y1 + th, x0:x1]
        + ii[y0:y1, x0:x1]
    )
    return sums
