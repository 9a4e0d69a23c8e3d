"""The correlation maps of the pixel check (``_core.ncc_map`` via ``verify._ncc``)
against the definition of the normalised cross-correlation, on a real photograph."""

from __future__ import annotations

import numpy as np
import pytest

from photomatch import _core, hashing, verify
from photomatch.demo import sample_image


@pytest.fixture(scope="module")
def photo() -> np.ndarray:
    grey = hashing.grey_from_image(sample_image("coffee"))
    return verify.area_resize(grey, 150, 200)  # float32, as the check has it


def _by_definition(image: np.ndarray, template: np.ndarray, y: int, x: int) -> float:
    window = image[y : y + template.shape[0], x : x + template.shape[1]].astype(np.float64)
    t = template.astype(np.float64)
    w, t = window - window.mean(), t - t.mean()
    n = t.size
    t_norm = max(float(np.sqrt((t * t).sum())), verify.MIN_STD * np.sqrt(n))
    w_norm = float(np.sqrt(max((w * w).sum(), verify.MIN_STD**2 * n)))
    return float(np.clip((w * t).sum() / (w_norm * t_norm), -1.0, 1.0))


@pytest.mark.parametrize(
    ("ys", "xs"), [(None, None), (slice(10, 18), slice(30, 38)), (slice(0, 1), slice(5, 6))]
)
def test_each_placement_gets_the_correlation_by_its_definition(photo, ys, xs):
    # A thumbnail-like template: a window of the photo, shrunk and re-exposed.
    template = verify.area_resize(photo[14:134, 33:193], 110, 146) * 0.9 + 12.0
    template = np.ascontiguousarray(template, dtype=np.float32)
    got = verify._ncc(photo, template, ys, xs)
    y0, x0 = (ys.start, xs.start) if ys else (0, 0)
    want = np.array(
        [
            [_by_definition(photo, template, y0 + i, x0 + j) for j in range(got.shape[1])]
            for i in range(got.shape[0])
        ]
    )
    assert got.dtype == np.float64
    assert got.shape == (want.shape if ys else (150 - 110 + 1, 200 - 146 + 1))
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-9)


def test_a_window_of_the_photo_is_found_where_it_was_cut(photo):
    template = np.ascontiguousarray(photo[40:100, 70:150])
    scores = verify._ncc(photo, template)
    assert verify._argmax(scores) == (40, 70)
    assert scores[40, 70] == pytest.approx(1.0, abs=1e-12)


def test_a_flat_template_scores_zero_everywhere(photo):
    scores = verify._ncc(photo, np.full((20, 30), 77.0, dtype=np.float32))
    assert not scores.any()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ((np.zeros((8, 8)), np.zeros((2, 2), np.float32)), "must have dtype float32"),
        ((np.zeros((8, 8), np.float32), "x"), "must be a numpy.ndarray"),
        ((np.zeros((8, 8), np.float32), np.zeros((3, 3), np.float32), 0, 7), "outside"),
        ((np.zeros((8, 8), np.float32), np.zeros((3, 3), np.float32), 2, 2), "at least one"),
    ],
)
def test_bad_input_is_a_value_error_that_says_why(args, message):
    image, template, *rows = args
    y0, y1 = rows or (0, 1)
    with pytest.raises(ValueError, match=message):
        _core.ncc_map(image, template, y0, y1, 0, 1, verify.MIN_STD)
