"""Fine detail in plain numpy, as photomatch took it before the Rust kernel
``_core.fine_detail``: the oracle ``tests/test_detail.py`` checks the kernel
against, to the last bit, and the baseline of ``test_bench_verify.py``."""

from __future__ import annotations

import numpy as np


def numpy_fine_detail(image: np.ndarray, radius: int = 2) -> np.ndarray:
    """``image`` less its mean over the (2 radius + 1)-pixel square around each
    pixel (edges replicated): 2 radius + 1 shifted rows added, then as many
    shifted columns, in float64."""
    k = 2 * radius + 1
    img = np.asarray(image, dtype=np.float64)
    h, w = img.shape
    padded = np.empty((h + 2 * radius, w + 2 * radius))
    padded[radius : radius + h, radius : radius + w] = img
    padded[:radius, radius : radius + w] = img[0]
    padded[radius + h :, radius : radius + w] = img[-1]
    padded[:, :radius] = padded[:, radius : radius + 1]
    padded[:, radius + w :] = padded[:, radius + w - 1 : radius + w]
    rows = padded[0:h].copy()
    for i in range(1, k):
        rows += padded[i : i + h]
    box = rows[:, 0:w].copy()
    for j in range(1, k):
        box += rows[:, j : j + w]
    detail: np.ndarray = img - box / (k * k)
    return detail
