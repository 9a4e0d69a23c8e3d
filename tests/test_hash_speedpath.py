"""The summed-area-table dHash path against the straightforward one it replaced.

``_reference_rows`` is the former ``crop_views`` + per-view ``area_resize`` +
``dhash_words``, kept here verbatim as the oracle. On real photographs at many
sizes and aspects the fast path must give the same bits, except where the two
grid cells compared are within ``TIE`` grey levels of each other (rounding of
the float64 integrals, not the geometry, can flip those).
"""

from __future__ import annotations

import numpy as np
import pytest

from photomatch import hashing, verify
from photomatch.demo import SAMPLES, sample_image

TIE = 1e-3
#: (width, height) of the frames hashed: decode-sized frames of every common
#: aspect, both orientations, and small and odd sizes (thumbnails, trimmed frames).
SIZES = [
    (256, 171),
    (171, 256),
    (256, 192),
    (192, 256),
    (256, 256),
    (256, 144),
    (144, 256),
    (256, 100),
    (250, 37),
    (255, 170),
    (100, 99),
    (64, 48),
    (31, 17),
    (13, 8),
    (8, 13),
    (9, 9),
    (7, 5),
    (4, 4),
]


def _reference_area_resize(grey: np.ndarray, out_h: int, out_w: int) -> np.ndarray:
    a = np.asarray(grey, dtype=np.float64)
    a = _reference_area_axis(a, out_h, 0)
    return _reference_area_axis(a, out_w, 1)


def _reference_area_axis(a: np.ndarray, n_out: int, axis: int) -> np.ndarray:
    n_in = a.shape[axis]
    if n_in == n_out:
        return a
    cum = np.concatenate(
        [np.zeros_like(a.take([0], axis=axis)), np.cumsum(a, axis=axis)], axis=axis
    )
    edges = np.linspace(0.0, n_in, n_out + 1)
    lo = np.minimum(np.floor(edges).astype(np.intp), n_in)
    frac, width = edges - lo, np.maximum(np.diff(edges), 1e-9)
    shape = [1] * a.ndim
    shape[axis] = n_out + 1
    nxt = np.minimum(lo + 1, n_in)
    at_edges = cum.take(lo, axis=axis) + frac.reshape(shape) * (
        cum.take(nxt, axis=axis) - cum.take(lo, axis=axis)
    )
    shape[axis] = n_out
    return np.diff(at_edges, axis=axis) / width.reshape(shape)


def _reference_views(grey: np.ndarray, album: bool) -> list[tuple[int, np.ndarray]]:
    views = [(0, grey)]
    if not album:
        return views
    h, w = grey.shape
    side = min(h, w)
    if max(h, w) - side >= 2:
        if w > h:
            x = (w - side) // 2
            views += [(1, grey[:, x : x + side]), (2, grey[:, :side]), (3, grey[:, w - side :])]
            wide = round(h * 4 / 3)
            if w > wide * 1.03:
                views.append((4, grey[:, (w - wide) // 2 : (w - wide) // 2 + wide]))
        else:
            y = (h - side) // 2
            views += [(1, grey[y : y + side, :]), (2, grey[:side, :]), (3, grey[h - side :, :])]
            tall = round(w * 4 / 3)
            if h > tall * 1.03:
                views.append((4, grey[(h - tall) // 2 : (h - tall) // 2 + tall, :]))
    ih, iw = round(h * hashing.INNER), round(w * hashing.INNER)
    for view, (top, left) in enumerate(
        [((h - ih) // 2, (w - iw) // 2), (0, 0), (0, w - iw), (h - ih, 0), (h - ih, w - iw)], 5
    ):
        views.append((view, grey[top : top + ih, left : left + iw]))
    long_side, short_side = max(h, w), min(h, w)
    band = round(long_side * 9 / 16)  # 16:9 bands across the long side
    if short_side - band >= 2 and short_side > band * 1.03:
        for view, start in enumerate((0, (short_side - band) // 2, short_side - band), 10):
            cut = grey[start : start + band, :] if w >= h else grey[:, start : start + band]
            views.append((view, cut))
    sq = round(short_side * hashing.INNER_SQUARE)  # squares inside the short side
    if long_side - sq >= 2 and long_side > short_side * 1.03:
        inset = (short_side - sq) // 2
        for view, start in enumerate((0, (long_side - sq) // 2, long_side - sq), 13):
            if w >= h:
                views.append((view, grey[inset : inset + sq, start : start + sq]))
            else:
                views.append((view, grey[start : start + sq, inset : inset + sq]))
    return views


def _reference_bits(grid64: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The 128 bits of one 9x9 grid (row-major, word 0 then word 1) and, per bit,
    the grey-level gap between the two cells it compares."""
    grid = grid64.astype(np.float32)  # as area_resize returned it
    horizontal = grid[:8, 1:] > grid[:8, :-1]
    vertical = grid[1:, :8] > grid[:-1, :8]
    gaps = np.concatenate(
        [
            np.abs(grid64[:8, 1:] - grid64[:8, :-1]).ravel(),
            np.abs(grid64[1:, :8] - grid64[:-1, :8]).ravel(),
        ]
    )
    return np.concatenate([horizontal.ravel(), vertical.ravel()]), gaps


def _unpack(rows: np.ndarray) -> np.ndarray:
    """uint64 ``(V, WORDS)`` rows as bits ``(V, 64 * WORDS)``, MSB of word 0 first."""
    return np.unpackbits(rows.astype(">u8").view(np.uint8).reshape(len(rows), -1), axis=1)


def _check_against_reference(grey: np.ndarray, album: bool) -> int:
    """Assert the fast rows match the reference's; return how many bits differed at a tie."""
    framed = hashing.trim_border(grey) if not album else grey
    if min(framed.shape) < 4:
        return 0  # nothing left to hash (matching refuses such thumbnails)
    fast = hashing.hash_grey(grey, album)
    views = _reference_views(framed, album)
    assert fast.view_ids.tolist() == [i for i, _ in views]
    assert (fast.height, fast.width) == framed.shape
    got = _unpack(fast.rows)
    ties = 0
    for row, (view, pixels) in zip(got, views, strict=True):
        bits, gaps = _reference_bits(_reference_area_resize(pixels, 9, 9))
        differ = row.astype(bool) != bits
        assert np.all(gaps[differ] < TIE), (grey.shape, album, view, gaps[differ])
        # Cells of equal content (a black sky) compare equal, whatever the rounding.
        assert not np.any(differ & (gaps == 0)), (grey.shape, album, view)
        ties += int(differ.sum())
    return ties


@pytest.fixture(scope="module")
def photos() -> dict[str, np.ndarray]:
    return {name: hashing.grey_from_image(sample_image(name)) for name in SAMPLES}


def _resized(grey: np.ndarray, width: int, height: int) -> np.ndarray:
    """``grey`` centre-cropped to the aspect of ``width`` x ``height``, then area-averaged to it."""
    h, w = grey.shape
    if w * height > h * width:
        cw = max(1, round(h * width / height))
        grey = grey[:, (w - cw) // 2 : (w - cw) // 2 + cw]
    else:
        ch = max(1, round(w * height / width))
        grey = grey[(h - ch) // 2 : (h - ch) // 2 + ch, :]
    return np.clip(np.rint(verify.area_resize(grey, height, width)), 0, 255).astype(np.uint8)


@pytest.mark.parametrize("album", [True, False], ids=["album", "query"])
def test_rows_equal_the_reference_on_real_photos(photos, album):
    ties = compared = 0
    for grey in photos.values():
        for width, height in SIZES:
            frame = _resized(grey, width, height)
            ties += _check_against_reference(frame, album)
            compared += 1
    # Near-ties decide a bit on rounding; real photos have few (none, when written).
    assert compared == len(SAMPLES) * len(SIZES)
    assert ties <= compared // 10


def test_rotated_and_mirrored_frames_equal_the_reference(photos):
    # matching hashes rotated thumbnails: strided views, not contiguous arrays.
    frame = _resized(photos["coffee"], 256, 171)
    for turned in (np.rot90(frame, 1), np.rot90(frame, 2), np.rot90(frame, 3), frame[:, ::-1]):
        _check_against_reference(turned, album=True)
        _check_against_reference(turned, album=False)


def test_flat_and_exactly_tied_frames_have_no_bits():
    # Equal cells must compare equal (no bit), however the integrals round.
    for shape in [(171, 256), (256, 171), (100, 99), (9, 9), (13, 8)]:
        for level in (0, 1, 128, 255):
            rows = hashing.hash_grey(np.full(shape, level, dtype=np.uint8), album=True).rows
            assert not rows.any(), (shape, level)


def test_black_beside_bright_stays_tied(photos):
    # Below and right of the photo the table's sums are large, their differences
    # zero: rounding must not turn black cells into gradients (float32 grids
    # of the table's differences did, tens of bits per frame).
    for width, height in [(256, 100), (256, 171), (100, 256), (64, 48)]:
        frame = _resized(photos["astronaut"], width, height).copy()
        frame[height // 3 :, width // 3 :] = 0
        assert _check_against_reference(frame, album=True) == 0


def test_noise_and_dhash_words_equal_the_reference():
    rng = np.random.default_rng(4)
    for h, w in [(192, 256), (256, 255), (37, 250), (12, 10)]:
        noise = rng.integers(0, 256, size=(h, w), dtype=np.uint8)
        _check_against_reference(noise, album=True)
        bits, gaps = _reference_bits(_reference_area_resize(noise, 9, 9))
        got = _unpack(hashing.dhash_words(noise)[None, :])[0].astype(bool)
        assert np.all(gaps[got != bits] < TIE)
