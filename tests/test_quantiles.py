"""Quantiles (``_core.quantiles``, the exposure comparison's tone curve)
against numpy's ``percentile``, to the bit."""

from __future__ import annotations

import numpy as np
import pytest

from photomatch import _core, hashing, verify
from photomatch.demo import sample_image


@pytest.mark.parametrize("name", ["astronaut", "coffee", "camera", "hubble_deep_field"])
def test_a_photos_tone_curve_is_numpys_to_the_bit(name):
    grey = hashing.grey_from_image(sample_image(name))
    for size in ((96, 128), (7, 9), (1, 1)):
        # As the check takes them: float32 pixels of a resize, kept ones only.
        pixels = verify.area_resize(grey, *size)
        values = pixels[pixels < verify.CLIP_LEVEL].astype(np.float64)
        if values.size == 0:
            continue
        np.testing.assert_array_equal(
            _core.quantiles(values, verify._TONE_LEVELS),
            np.percentile(values, verify._TONE_PERCENTILES),
        )


def test_ties_ends_and_every_level():
    rng = np.random.default_rng(7)
    levels = np.linspace(0, 1, 101)
    for n in (2, 3, 10, 257, 4000):
        values = np.round(rng.random(n) * 20)  # many ties
        np.testing.assert_array_equal(
            _core.quantiles(values, levels.tolist()), np.quantile(values, levels)
        )


def test_bad_input_is_refused():
    with pytest.raises(ValueError, match="no values"):
        _core.quantiles(np.zeros(0), [0.5])
    with pytest.raises(ValueError, match="NaN"):
        _core.quantiles(np.array([1.0, np.nan]), [0.5])
    with pytest.raises(ValueError, match="levels"):
        _core.quantiles(np.array([1.0]), [1.5])
