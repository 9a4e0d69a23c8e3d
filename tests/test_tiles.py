"""Tile statistics (``_core.tile_stats`` under ``verify._worst_tile`` and
``verify._lowest_tile``) against the numpy versions they replaced."""

from __future__ import annotations

import math
import os
import sys
import warnings

import numpy as np
import pytest

from photomatch import _core, hashing, verify
from photomatch.demo import sample_image

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "benches"))
from _numpy_tiles import numpy_lowest_tile, numpy_worst_tile  # noqa: E402


def _pair(name: str, shape: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """A photo and an edited, shifted copy of it, one shape, as float64."""
    grey = hashing.grey_from_image(sample_image(name)).astype(np.float64)
    a = verify.area_resize(grey, *shape).astype(np.float64)
    b = verify.area_resize(np.clip(grey[2:, 1:] * 1.2 - 15, 0, 255), *shape).astype(np.float64)
    return a, b


def _same(x: float, y: float) -> bool:
    return (math.isnan(x) and math.isnan(y)) or abs(x - y) <= 1e-12


@pytest.mark.parametrize("name", ["astronaut", "coffee", "camera", "brick", "coins"])
@pytest.mark.parametrize("shape", [(96, 128), (171, 256), (7, 9)])
def test_the_worst_tile_is_numpys(name, shape):
    a, b = _pair(name, shape)
    for x, y in [(a, b), (verify._fine_detail(a), verify._fine_detail(b)), (a, a)]:
        assert _same(verify._worst_tile(x, y), numpy_worst_tile(x, y))


@pytest.mark.parametrize("name", ["astronaut", "coffee", "camera", "brick", "hubble_deep_field"])
@pytest.mark.parametrize("tiles", [4, 16])
def test_the_lowest_tile_is_numpys(name, tiles):
    fa, fb = _pair(name, (171, 256))
    da, db = verify._fine_detail(fa), verify._fine_detail(fb)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # numpy's empty tiles
        for min_std in (0.5, 2.0, 8.0):
            want = numpy_lowest_tile(fa, fb, da, db, min_std, tiles)
            assert _same(verify._lowest_tile(fa, fb, da, db, min_std, tiles), want)


def test_clipped_tiles_are_left_out():
    fa, fb = _pair("coffee", (64, 64))
    fa[:32, :] = 255.0  # the top half clipped in one picture
    da, db = verify._fine_detail(fa), verify._fine_detail(fb)
    stats = _core.tile_stats(da, db, 2, ((fa > 10) & (fa < 245)).astype(np.uint8))
    assert stats[:2, 1].tolist() == [0.0, 0.0]
    assert np.isnan(stats[:2, 4]).all() and not np.isnan(stats[2:, 4]).any()
    assert stats[:, 0].tolist() == [1024.0] * 4


def test_bad_input_is_refused():
    a = np.zeros((4, 4))
    with pytest.raises(ValueError, match="one shape"):
        _core.tile_stats(a, np.zeros((4, 5)), 2)
    with pytest.raises(ValueError, match="float64"):
        _core.tile_stats(a.astype(np.float32), a, 2)
    with pytest.raises(ValueError, match="keep"):
        _core.tile_stats(a, a, 2, np.zeros((3, 4), dtype=np.uint8))
    with pytest.raises(ValueError, match="tiles"):
        _core.tile_stats(a, a, 0)
