"""The pixel check: locating one thumbnail in its candidates (``verify.align``).

Data: the shipped sample photographs decoded as the check decodes album files
(``verify.load_candidate``, 500 px box); the thumbnail is an 85% off-centre
crop of one of them, resized to 300 px and saved at JPEG q50, and it is aligned
in 8 candidates (its original and 7 other photographs), as ``decision.Checker``
does for a thumbnail with 8 close candidates.

- ``align 1 thumbnail x 8``: ``photomatch`` passes one ``verify.Thumbnail``, so
  the resized copies of the thumbnail are made once, and resizes and
  correlates with the Rust kernels (GIL released); ``numpy`` is the same
  search with a fresh thumbnail array per candidate and the numpy resize and
  correlation maps, fine detail, tile statistics and tone quantiles
  photomatch ran before (``_numpy_resize``, ``_numpy_ncc``, ``_numpy_detail``,
  ``_numpy_tiles``).
  Both return the same alignments, up to the numpy maps' f32 rounding (checked).
- ``align 8 thumbnails x 8 on threads``: the same alignment for eight
  thumbnails, spread over 1 and 2 threads, for both paths: whether the
  check's threads run at once (the Rust kernels release the GIL).
- ``check decode``: decoding the 8 sample photographs, saved as 1,476-px JPEGs,
  for the check (``verify.load_candidate``) beside a luma-only Pillow
  ``draft`` decode and an area resize into the same box (not the same pixels:
  a measured lead, not an alternative in use).
- ``check decode and preview``: a candidate's check decode and its review
  preview from that one decode (``review.MadePreviews``), beside decoding the
  file again for the preview (as before).
- ``tile statistics`` and ``tone quantiles``: the check's per-tile
  correlations (``_core.tile_stats``) and tone curve (``_core.quantiles``)
  beside the numpy code they replaced (``_numpy_tiles``, ``np.percentile``).
- ``area resize``: ``verify.area_resize`` (Rust kernel) beside the numpy
  implementation, a 128 x 96 thumbnail shrunk to 0.9 of its size, the commonest
  call of the search. Same values to the last bit (checked).
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import _numpy_detail
import _numpy_ncc
import _numpy_resize
import _numpy_tiles
import numpy as np
import pytest
from PIL import Image

from photomatch import demo, hashing, overview, review, verify
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
        m.setattr(verify, "_ncc", _numpy_ncc.numpy_ncc)
        m.setattr(verify, "_fine_detail", _numpy_detail.numpy_fine_detail)
        m.setattr(verify, "_worst_tile", _numpy_tiles.numpy_worst_tile)
        m.setattr(verify, "_tone_quantiles", _numpy_tiles.numpy_tone_quantiles)
        return [verify.align(thumbnail.copy(), c) for c in candidates]


def _alike(a: verify.Alignment, b: verify.Alignment) -> bool:
    """The same alignment, up to the f32 rounding of the numpy maps."""
    return (
        a.scale == b.scale
        and abs(a.ncc - b.ncc) < 1e-5
        and abs(a.x - b.x) < 1e-3
        and abs(a.y - b.y) < 1e-3
        and abs(a.offset_px - b.offset_px) < 1e-3
    )


@pytest.mark.parametrize("impl", ["photomatch", "numpy"])
def test_align_one_thumbnail_in_8_candidates(benchmark, scene, impl, monkeypatch):
    thumbnail, candidates = scene
    benchmark.group = "align 1 thumbnail x 8"
    benchmark.extra_info["impl"] = impl
    benchmark.extra_info["candidates"] = len(candidates)
    expected = align_all(thumbnail, candidates)
    assert expected[0].ncc > 0.95 and max(a.ncc for a in expected[1:]) < 0.9
    if impl == "photomatch":
        got = benchmark(align_all, thumbnail, candidates)
        assert got == expected
    else:
        got = benchmark(align_all_numpy, thumbnail, candidates, monkeypatch)
        assert all(_alike(a, b) for a, b in zip(got, expected, strict=True))


def align_on_threads(
    thumbnail: np.ndarray, candidates: list[np.ndarray], threads: int, fresh
) -> list[list[verify.Alignment]]:
    """Eight thumbnails (``fresh`` copies of one, so no work is shared) each
    aligned in every candidate, the thumbnails spread over ``threads``
    threads, as the pixel check spreads a run's thumbnails."""
    with ThreadPoolExecutor(max_workers=threads) as pool:
        tasks = [pool.submit(align_each, fresh(thumbnail), candidates) for _ in range(8)]
        return [t.result() for t in tasks]


def align_each(thumbnail, candidates: list[np.ndarray]) -> list[verify.Alignment]:
    return [verify.align(thumbnail, c) for c in candidates]


@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("impl", ["photomatch", "numpy"])
def test_align_on_threads(benchmark, scene, impl, threads, monkeypatch):
    """Whether the check's threads run at once: the Rust maps and resize
    release the GIL; the numpy path holds it for much of its work."""
    thumbnail, candidates = scene
    benchmark.group = "align 8 thumbnails x 8 on threads"
    benchmark.extra_info["impl"] = f"{impl}-{threads}"
    benchmark.extra_info["threads"] = threads
    expected = align_all(thumbnail, candidates)
    if impl == "numpy":
        monkeypatch.setattr(verify, "area_resize", _numpy_resize.numpy_area_resize)
        monkeypatch.setattr(verify, "_ncc", _numpy_ncc.numpy_ncc)
        monkeypatch.setattr(verify, "_fine_detail", _numpy_detail.numpy_fine_detail)
        monkeypatch.setattr(verify, "_worst_tile", _numpy_tiles.numpy_worst_tile)
        monkeypatch.setattr(verify, "_tone_quantiles", _numpy_tiles.numpy_tone_quantiles)
        got = benchmark(align_on_threads, thumbnail, candidates, threads, np.copy)
        assert all(_alike(a, b) for one in got for a, b in zip(one, expected, strict=True))
    else:
        got = benchmark(align_on_threads, thumbnail, candidates, threads, verify.Thumbnail)
        assert all(one == expected for one in got)


@pytest.fixture(scope="module")
def album_jpegs(tmp_path_factory: pytest.TempPathFactory) -> list[str]:
    """The sample photographs as album-sized JPEGs (1,476 px on the long side,
    q90, as the accuracy benchmark's albums are)."""
    folder = tmp_path_factory.mktemp("album")
    paths = []
    for name in NAMES:
        path = str(folder / f"{name}.jpg")
        image = demo.sample_image(name)
        image.resize(1476 / max(image.width, image.height)).jpegsave(path, Q=90)
        paths.append(path)
    return paths


def pil_draft_grey(path: str) -> np.ndarray:
    """A candidate for the check as Pillow would decode it: luma only, scaled in
    the DCT (``draft``) to the smallest size that still covers the box, then
    area-resized into it."""
    with Image.open(path) as image:
        box = verify.VERIFY_DECODE_SIZE / max(image.size)
        image.draft("L", (round(image.width * box), round(image.height * box)))
        grey = np.asarray(image.convert("L"))
    h, w = grey.shape
    r = min(1.0, verify.VERIFY_DECODE_SIZE / max(h, w))
    out = verify.area_resize(grey, max(1, round(h * r)), max(1, round(w * r)))
    return np.clip(np.rint(out), 0, 255).astype(np.uint8)


@pytest.mark.parametrize("impl", ["photomatch", "pil-draft"])
def test_check_decode(benchmark, album_jpegs, impl):
    """Decoding the check's candidates, the larger part of a run's work:
    ``verify.load_candidate`` (libvips thumbnail, grey) beside a luma-only
    Pillow decode. Not the same pixels (another resampling), so the second is
    a measured lead, not a drop-in."""
    benchmark.group = "check decode"
    benchmark.extra_info["impl"] = impl
    benchmark.extra_info["files"] = len(album_jpegs)
    decode = verify.load_candidate if impl == "photomatch" else pil_draft_grey
    got = benchmark(lambda: [decode(p) for p in album_jpegs])
    for grey, path in zip(got, album_jpegs, strict=True):
        ours = verify.load_candidate(path)
        assert grey.shape == ours.shape
        assert np.corrcoef(grey.ravel(), ours.ravel())[0, 1] > 0.99


@pytest.mark.parametrize("impl", ["one decode", "two decodes"])
def test_check_decode_and_preview(benchmark, album_jpegs, impl, tmp_path):
    """A candidate's check decode and its review-page preview: made from the
    one decode (``review.MadePreviews``, as ``match --out`` does) beside
    decoding the file again for the preview (``review.make_preview``)."""
    benchmark.group = "check decode and preview"
    benchmark.extra_info["impl"] = impl
    benchmark.extra_info["files"] = len(album_jpegs)

    def one_decode() -> review.MadePreviews:
        made = review.MadePreviews()
        for p in album_jpegs:
            verify.load_candidate(p, made.keeper(p))
        return made

    def two_decodes() -> None:
        for i, p in enumerate(album_jpegs):
            verify.load_candidate(p)
            review.make_preview(p, str(tmp_path / f"{i}.jpg"))

    made = benchmark(one_decode if impl == "one decode" else two_decodes)
    if made is not None:
        assert all(made.get(review.preview_key(p) or "") for p in album_jpegs)


#: Resizes the check makes: a thumbnail-sized one (some forty per candidate),
#: and a decoded frame shrunk onto the thumbnail's grid (once per candidate).
RESIZES = {"thumbnail": ((96, 128), (86, 115)), "frame": ((400, 600), (300, 450))}


@pytest.mark.parametrize("case", list(RESIZES))
@pytest.mark.parametrize("impl", ["photomatch", "numpy"])
def test_area_resize(benchmark, impl, case):
    (h, w), (out_h, out_w) = RESIZES[case]
    grey = hashing.grey_from_image(demo.sample_image("coffee"))  # 400 x 600, uint8
    if grey.shape != (h, w):
        grey = verify.area_resize(grey, h, w)
    benchmark.group = f"area resize ({case})"
    benchmark.extra_info["impl"] = impl
    fn = verify.area_resize if impl == "photomatch" else _numpy_resize.numpy_area_resize
    out = benchmark(fn, grey, out_h, out_w)
    np.testing.assert_array_equal(out, _numpy_resize.numpy_area_resize(grey, out_h, out_w))


#: Fine detail as the check takes it: a thumbnail-sized window (twice per
#: candidate, radius 2) and a frame of the grain test (1,800 x 1,200, radius 1).
DETAILS = {"window": ((96, 128), 2), "grain": ((1200, 1800), 1)}


@pytest.mark.parametrize("case", list(DETAILS))
@pytest.mark.parametrize("impl", ["photomatch", "numpy"])
def test_fine_detail(benchmark, impl, case):
    (h, w), radius = DETAILS[case]
    grey = verify.area_resize(hashing.grey_from_image(demo.sample_image("coffee")), h, w)
    benchmark.group = f"fine detail ({case})"
    benchmark.extra_info["impl"] = impl
    fn = verify._fine_detail if impl == "photomatch" else _numpy_detail.numpy_fine_detail
    out = benchmark(fn, grey, radius)
    np.testing.assert_array_equal(out, _numpy_detail.numpy_fine_detail(grey, radius))


@pytest.mark.parametrize("impl", ["photomatch", "numpy"])
def test_tile_stats(benchmark, impl):
    """The worst tile of a thumbnail-sized window's fine detail against an
    edited copy's (3 x 3 tiles, once per candidate) and the lowest of a
    variant test's 4 x 4 clipping-aware tiles (each pair that looks alike)."""
    grey = hashing.grey_from_image(demo.sample_image("coffee")).astype(np.float64)
    a = verify.area_resize(grey, 171, 256).astype(np.float64)
    b = verify.area_resize(np.clip(grey * 1.2 - 15, 0, 255), 171, 256).astype(np.float64)
    da, db = verify._fine_detail(a), verify._fine_detail(b)
    wa, wb = da[:96, :128].copy(), db[:96, :128].copy()
    benchmark.group = "tile statistics"
    benchmark.extra_info["impl"] = impl
    if impl == "photomatch":
        worst, lowest = verify._worst_tile, verify._lowest_tile
    else:
        worst, lowest = _numpy_tiles.numpy_worst_tile, _numpy_tiles.numpy_lowest_tile
    got = benchmark(lambda: (worst(wa, wb), lowest(a, b, da, db, 2.0)))
    want = (
        _numpy_tiles.numpy_worst_tile(wa, wb),
        _numpy_tiles.numpy_lowest_tile(a, b, da, db, 2.0),
    )
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-12)


@pytest.mark.parametrize("impl", ["photomatch", "numpy"])
def test_tone_quantiles(benchmark, impl):
    """The 19 tone quantiles of a 128 x 96 window, as the exposure comparison
    takes them twice per candidate: ``_core.quantiles`` beside numpy's
    ``percentile`` (the same values to the bit)."""
    grey = hashing.grey_from_image(demo.sample_image("astronaut"))
    values = verify.area_resize(grey, 96, 128).ravel().astype(np.float64)
    benchmark.group = "tone quantiles"
    benchmark.extra_info["impl"] = impl
    if impl == "photomatch":
        got = benchmark(verify._tone_quantiles, values)
    else:
        got = benchmark(_numpy_tiles.numpy_tone_quantiles, values)
    np.testing.assert_array_equal(got, np.percentile(values, verify._TONE_PERCENTILES))


def numpy_best_ncc(images: np.ndarray, h: int, w: int, templates: list[np.ndarray]) -> np.ndarray:
    """``_core.best_ncc`` in numpy: per template, every placement's window as a
    strided view, its dot product with the zero-mean template and its variance,
    in one go; the best over the templates."""
    best = np.zeros(len(images), dtype=np.float32)
    for template in templates:
        np.maximum(best, _numpy_best_ncc_one(images, h, w, template), out=best)
    return best


def _numpy_best_ncc_one(images: np.ndarray, h: int, w: int, template: np.ndarray) -> np.ndarray:
    th, tw = template.shape
    t = template - template.mean()
    t /= np.sqrt((t * t).sum())
    stack = images.reshape(-1, h, w).astype(np.float64)
    windows = np.lib.stride_tricks.sliding_window_view(stack, (th, tw), axis=(1, 2))
    dot = np.einsum("npqij,ij->npq", windows, t)
    sums = windows.sum(axis=(3, 4))
    var = (windows * windows).sum(axis=(3, 4)) - sums * sums / (th * tw)
    ncc = np.where(var > 1e-6 * th * tw, dot / np.sqrt(np.maximum(var, 1e-12)), 0.0)
    return np.maximum(ncc.reshape(len(stack), -1).max(axis=1), 0.0).astype(np.float32)


#: Album overviews slid over in the coarse-look cases.
COARSE_FILES = 10_000
COARSE_FILES_LARGE = 100_000


def _overviews(count: int) -> tuple[overview.Overviews, np.ndarray]:
    """``count`` overviews of 3:2 frames cut from the sample photographs
    (random windows of 60-100% of each side, at random places; some mirrored),
    and an off-centre crop thumbnail of one of them."""
    rng = np.random.default_rng(7)
    photos = [hashing.grey_from_image(demo.sample_image(n)) for n in NAMES]
    blobs, files = [], []
    for i in range(count):
        grey = photos[i % len(photos)]
        scale = rng.uniform(0.6, 1.0)
        ch = int(min(grey.shape[0], grey.shape[1] / 1.5) * scale)
        cw = int(ch * 1.5)
        y = int(rng.integers(0, grey.shape[0] - ch + 1))
        x = int(rng.integers(0, grey.shape[1] - cw + 1))
        frame = verify.area_resize(grey[y : y + ch, x : x + cw].astype(np.float64), 167, 250)
        frame = np.rint(frame).astype(np.uint8)
        blobs.append(overview.make(frame[:, ::-1] if i % 3 == 0 else frame))
        files.append(i)
    found = overview.Overviews.from_rows(files, [167] * len(files), [250] * len(files), blobs)
    crop = np.ascontiguousarray(photos[0][40:260, 30:360])
    return found, crop


@pytest.fixture(scope="module")
def overviews() -> tuple[overview.Overviews, np.ndarray]:
    return _overviews(COARSE_FILES)


@pytest.mark.parametrize("impl", ["photomatch", "numpy"])
def test_coarse_look(benchmark, overviews, impl, monkeypatch):
    """``Overviews.scores`` of one thumbnail over ``COARSE_FILES`` overviews:
    ``_core.best_ncc`` (Rust, rayon, the GIL released) beside the numpy
    sliding-window version of the same sums (same scores, checked)."""
    found, crop = overviews
    benchmark.group = "coarse look"
    benchmark.extra_info["impl"] = impl
    benchmark.extra_info["files"] = len(found)
    expected = found.scores(crop)
    if impl == "numpy":
        monkeypatch.setattr(overview._core, "best_ncc", numpy_best_ncc, raising=True)
    files, scores = benchmark(found.scores, crop)
    np.testing.assert_array_equal(files, expected[0])
    np.testing.assert_allclose(scores, expected[1], atol=1e-5)


@pytest.mark.slow
@pytest.mark.parametrize("impl", ["photomatch", "one-step"])
def test_coarse_look_large(benchmark, impl, monkeypatch):
    """``Overviews.nearest`` over ``COARSE_FILES_LARGE`` overviews: in two steps
    (every overview at half size, then the best ``PREFILTER_KEEP`` at full
    size), beside ranking every overview at full size (``PREFILTER_KEEP``
    raised past the album); the same first files (checked)."""
    found, crop = _overviews(COARSE_FILES_LARGE)
    found.halved()  # made once per run, not per thumbnail
    benchmark.group = "coarse look 1e5"
    benchmark.extra_info["impl"] = impl
    benchmark.extra_info["files"] = len(found)
    with monkeypatch.context() as m:
        m.setattr(overview, "PREFILTER_KEEP", COARSE_FILES_LARGE)
        expected = found.nearest(crop, 8)
    if impl == "one-step":
        monkeypatch.setattr(overview, "PREFILTER_KEEP", COARSE_FILES_LARGE)
    got = benchmark.pedantic(found.nearest, (crop, 8), rounds=3)
    assert [f for f, _ in got[:3]] == [f for f, _ in expected[:3]]
