"""The pixel check: locating one thumbnail in its candidates (``verify.align``).

Data: the shipped sample photographs decoded as the check decodes album files
(``verify.load_candidate``, 500 px box); the thumbnail is an 85% off-centre
crop of one of them, resized to 300 px and saved at JPEG q50, and it is aligned
in 8 candidates (its original and 7 other photographs), as ``decision.Checker``
does for a thumbnail with 8 close candidates.

- ``align 1 thumbnail x 8``: ``photomatch`` passes one ``verify.Thumbnail``, so
  the resized copies of the thumbnail are made once, and resizes with the Rust
  kernel; ``numpy-resize`` is the same search with a fresh thumbnail array per
  candidate and the numpy resize photomatch ran before (``_numpy_resize``).
  Both return the same alignments (checked).
- ``area resize``: ``verify.area_resize`` (Rust kernel) beside the numpy
  implementation, a 128 x 96 thumbnail shrunk to 0.9 of its size, the commonest
  call of the search. Same values to the last bit (checked).
"""

from __future__ import annotations

import _numpy_resize
import numpy as np
import pytest

from photomatch import demo, hashing, verify
from photomatch.matching import query_image

NAMES = ["coffee", "astronaut", "chelsea", "rocket", "coins", "brick", "camera", "retina"]


@pytest.fixture(scope="module")
def scene(tmp_path_factory: pytest.TempPathFactory) -> tuple[np.ndarray, list[np.ndarray]]:
    folder = tmp_path_factory.mktemp("verify")
    candidates = []
    for name in NAMES:
        path = str(folder / f"{name}.jpg")
        demo.sample_image(name).jpegsave(path, Q=90)
        candidates.append(verify.load_candidate(path))
    photo = demo.sample_image(NAMES[0])
    w, h = round(photo.width * 0.85), round(photo.height * 0.85)
    crop = photo.crop(photo.width - w - 7, 5, w, h)
    thumb = str(folder / "thumb.jpg")
    crop.resize(300 / max(w, h)).jpegsave(thumb, Q=50)
    return query_image("set", thumb).grey, candidates


def align_all(thumbnail: np.ndarray, candidates: list[np.ndarray]) -> list[verify.Alignment]:
    q = verify.Thumbnail(thumbnail)
    return [verify.align(q, c) for c in candidates]


def align_all_numpy(
    thumbnail: np.ndarray, candidates: list[np.ndarray], monkeypatch: pytest.MonkeyPatch
) -> list[verify.Alignment]:
    with monkeypatch.context() as m:
        m.setattr(verify, "area_resize", _numpy_resize.numpy_area_resize)
        return [verify.align(thumbnail.copy(), c) for c in candidates]


@pytest.mark.parametrize("impl", ["photomatch", "numpy-resize"])
def test_align_one_thumbnail_in_8_candidates(benchmark, scene, impl, monkeypatch):
    thumbnail, candidates = scene
    benchmark.group = "align 1 thumbnail x 8"
    benchmark.extra_info["impl"] = impl
    benchmark.extra_info["candidates"] = len(candidates)
    expected = align_all(thumbnail, candidates)
    assert expected[0].ncc > 0.95 and max(a.ncc for a in expected[1:]) < 0.9
    if impl == "photomatch":
        got = benchmark(align_all, thumbnail, candidates)
    else:
        got = benchmark(align_all_numpy, thumbnail, candidates, monkeypatch)
    assert got == expected


@pytest.mark.parametrize("impl", ["photomatch", "numpy"])
def test_area_resize(benchmark, impl):
    grey = verify.area_resize(hashing.grey_from_image(demo.sample_image("coffee")), 96, 128)
    benchmark.group = "area resize"
    benchmark.extra_info["impl"] = impl
    fn = verify.area_resize if impl == "photomatch" else _numpy_resize.numpy_area_resize
    out = benchmark(fn, grey, 86, 115)
    np.testing.assert_array_equal(out, _numpy_resize.numpy_area_resize(grey, 86, 115))
