"""The area resize under the pixel check (``_core.area_resize`` via ``verify.area_resize``)
against a plain numpy implementation of the same arithmetic."""

from __future__ import annotations

import os
import sys

import numpy as np
import pytest

from photomatch import _core, hashing, verify
from photomatch.demo import sample_image

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "benches"))
from _numpy_resize import numpy_area_resize  # noqa: E402


@pytest.fixture(scope="module")
def photo() -> np.ndarray:
    return hashing.grey_from_image(sample_image("astronaut"))


@pytest.mark.parametrize(
    ("out_h", "out_w", "scale"),
    [
        (128, 128, None),  # a plain shrink
        (97, 61, None),  # uneven factors on both axes
        (512, 700, None),  # larger than the input: stretched
        (512, 40, None),  # one axis unchanged
        (90, 110, 0.2),  # the top-left corner at an exact factor
        (150, 150, 0.3),
        (512, 512, 1.0),  # unchanged
    ],
)
def test_the_kernel_gives_the_numpy_result_to_the_last_bit(photo, out_h, out_w, scale):
    grey = photo[:, :500] if out_w == 700 else photo
    got = verify.area_resize(grey, out_h, out_w, scale)
    assert got.dtype == np.float32 and got.shape == (out_h, out_w)
    np.testing.assert_array_equal(got, numpy_area_resize(grey, out_h, out_w, scale))


def test_float_input_and_scales_of_the_alignment_search(photo):
    query = verify.area_resize(photo, 128, 128)
    for scale in np.arange(0.75, 1.0001, 0.005):
        h, w = round(128 * scale), round(128 * scale)
        np.testing.assert_array_equal(
            verify.area_resize(query, h, w), numpy_area_resize(query, h, w)
        )


def test_decoded_pixels_are_read_as_they_are_with_the_same_result(photo):
    """The check resizes uint8 decodes (and float32 resizes) without a float64
    copy; the result is the float64 input's to the last bit."""
    assert photo.dtype == np.uint8
    want = _core.area_resize(photo.astype(np.float64), 97, 61, None)
    np.testing.assert_array_equal(_core.area_resize(photo, 97, 61, None), want)
    np.testing.assert_array_equal(_core.area_resize(photo.astype(np.float32), 97, 61), want)
    for dtype in (np.int16, np.float16):  # others through a float64 copy
        np.testing.assert_array_equal(verify.area_resize(photo.astype(dtype), 97, 61), want)


def test_the_mean_is_kept(photo):
    assert verify.area_resize(photo, 37, 53).mean() == pytest.approx(photo.mean(), abs=0.01)


@pytest.mark.parametrize(
    ("grey", "args", "message"),
    [
        ("not an array", (4, 4), "must be a numpy.ndarray of dtype uint8, float32 or float64"),
        (np.zeros((4, 4, 3)), (2, 2), "must be a 2-D array"),
        (np.zeros((4, 4), dtype=np.float16), (2, 2), "must have dtype uint8, float32 or float64"),
        (np.zeros((4, 8))[:, ::2], (2, 2), "must be C-contiguous"),
        (np.zeros((4, 4)), (0, 2), "every side must be at least 1"),
        (np.zeros((0, 4)), (2, 2), "every side must be at least 1"),
        (np.zeros((4, 4)), (2, 2, -1.0), "scale must be a positive finite number"),
        (np.zeros((4, 4)), (2, 2, float("nan")), "scale must be a positive finite number"),
        (np.zeros((4, 4)), (1 << 20, 1 << 20), "at most 268435456 values per image"),
    ],
)
def test_bad_input_is_a_value_error_that_says_why(grey, args, message):
    with pytest.raises(ValueError, match=message):
        _core.area_resize(grey, *args)
