"""Fine detail (``_core.fine_detail`` via ``verify._fine_detail``) against the
plain numpy version it replaced, to the last bit."""

from __future__ import annotations

import os
import sys

import numpy as np
import pytest

from photomatch import _core, hashing, verify
from photomatch.demo import sample_image

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "benches"))
from _numpy_detail import numpy_fine_detail  # noqa: E402


@pytest.mark.parametrize("name", ["astronaut", "coffee", "camera"])
@pytest.mark.parametrize("radius", [1, 2])
def test_the_kernel_gives_the_numpy_values_to_the_bit(name, radius):
    grey = hashing.grey_from_image(sample_image(name))
    for image in (grey, grey.astype(np.float32) * 0.73, verify.area_resize(grey, 97, 131)):
        np.testing.assert_array_equal(
            verify._fine_detail(image, radius), numpy_fine_detail(image, radius)
        )


@pytest.mark.parametrize("shape", [(1, 1), (1, 9), (9, 1), (2, 3), (5, 5)])
def test_tiny_images_keep_their_edges(shape):
    # Smaller than the square: every neighbour is an edge pixel held.
    image = np.arange(np.prod(shape), dtype=np.float64).reshape(shape) * 3.0
    np.testing.assert_array_equal(_core.fine_detail(image, 2), numpy_fine_detail(image, 2))


def test_a_flat_picture_has_no_detail_and_bad_input_is_refused():
    assert not _core.fine_detail(np.full((6, 8), 77, dtype=np.uint8), 2).any()
    with pytest.raises(ValueError, match="2-D"):
        _core.fine_detail(np.zeros(5), 1)
    with pytest.raises(ValueError, match="radius"):
        _core.fine_detail(np.zeros((4, 4)), 65)
    with pytest.raises(ValueError, match="contiguous|C-contiguous|not contiguous"):
        _core.fine_detail(np.zeros((8, 8))[:, ::2], 1)
