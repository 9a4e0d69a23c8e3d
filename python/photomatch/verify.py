"""Fine comparison of a thumbnail with a few candidate originals, on real pixels.

The hash search finds candidates quickly but cannot tell burst frames apart or
be sure of a match. Here each candidate is decoded again (the same small,
upright, grey decode the index uses) and the thumbnail is located inside it:
for each scale of the largest window with the thumbnail's aspect ratio (100%
down to ``MIN_SCALE``) and every position, the zero-mean normalised
cross-correlation (NCC) between the thumbnail and the window is computed, first
coarsely, then refined around the best hypothesis with sub-pixel interpolation.

NCC is insensitive to brightness and contrast changes; small gamma and colour
changes move it little. Its peak tells how alike the pictures are; where the
peak lies, how far (in the thumbnail's pixels, and how surely) the thumbnail
sits from a *canonical* framing of the candidate (the full frame, or a centred
or edge-aligned crop at full size, the framings web services make), which a
burst sibling, shifted by a few percent, does not fit. This module measures;
``decision`` judges.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import pyvips

from . import _core
from .hashing import load_grey

#: Long side, in pixels, of the thumbnail at the fine comparison.
COMPARE_SIZE = 128
#: Smallest crop (as a fraction of the largest window) searched for.
MIN_SCALE = 0.75
_COARSE_STEP = 0.04
#: Half a percent: the scaled thumbnail's sides are rounded to whole pixels, so
#: at 1% steps a crop that touches the candidate's edge could be left half a
#: pixel off, which costs a textured crop several points of correlation (its
#: own frame then fits worse than a burst sibling).
_FINE_STEP = 0.005
_FINE_RADIUS = 3
#: Long side, in pixels, at most, of the canonical check.
CHECK_SIZE = 256
#: Candidates are decoded to fit this box, so that a crop of them still
#: offers CHECK_SIZE pixels (500, not 512, for the 8x shrink-on-load, see
#: hashing.DECODE_SIZE).
VERIFY_DECODE_SIZE = 500
#: The fit is also measured against the whole frame stretched onto the
#: thumbnail (``_whole_frame_aspect``) when its best window is at least this
#: share of the full size.
_WHOLE_FRAME_SCALE = 0.97
#: Grey-level standard deviation below which a picture has too little detail to compare.
MIN_STD = 2.0
#: Grey levels at or above this are taken as clipped and left out of the exposure
#: comparison: a brighter frame clips where a darker one does not.
CLIP_LEVEL = 250
#: Percentiles compared for the shape of the tone relation (see ``Alignment``).
_TONE_PERCENTILES = np.arange(5, 96, 5)
_TONE_LEVELS = (_TONE_PERCENTILES / 100).tolist()


@dataclass(frozen=True)
class Alignment:
    """Where and how well a thumbnail fits a candidate.

    ``ncc`` in [-1, 1]; ``scale`` the window's size relative to the largest
    window of the thumbnail's aspect; ``x``, ``y`` the window's top-left corner
    in pixels of the candidate resized so that the largest window is
    ``COMPARE_SIZE`` on its long side; ``residual`` how far the thumbnail sits from the
    canonical framing that fits it best, as a fraction of its long side;
    ``tone`` the mean absolute grey-level difference between the thumbnail and
    that window.

    Exposure, which differs between the frames of a burst while a crop of one
    frame fits every frame alike: over the pixels clipped in neither,
    ``brightness`` is the thumbnail's mean grey level and ``exposure`` the
    window's mean minus it (grey levels; a frame 2% brighter at mean 120 gives
    about +2.4). Means, not a fitted slope: a slope regressed on the blurred,
    JPEG-noisy thumbnail is diluted towards 0. ``tone_shape`` is how far the
    tone relation is from a pure gain: the RMS grey-level residual of the
    window's percentiles against the thumbnail's, scaled by one common factor.
    Another exposure of the same scene leaves it small (noise, JPEG); a
    colour, gamma or contrast edit leaves it large.

    ``detail`` is the correlation of the fine detail alone (each picture less
    its 5 x 5 local mean) between the thumbnail and that window. A picture of a
    few large bright and dark areas (a sky over a sea) can fit part of an
    unrelated photo with a high ``ncc``, carried by those areas, while its
    detail does not correlate at all.
    """

    ncc: float
    scale: float
    x: float
    y: float
    residual: float = float("inf")
    tone: float = float("inf")
    exposure: float = float("nan")
    brightness: float = float("nan")
    tone_shape: float = float("inf")
    detail: float = float("nan")
    #: ``residual`` in pixels of the thumbnail as compared (its decode, at most
    #: ``hashing.DECODE_SIZE`` on the long side), and the standard error of that
    #: spot from the correlation peak (its curvature against the correlation's
    #: own noise): a few hundredths of a pixel for a textured photo, up to
    #: ``_MAX_SIGMA`` for a flat one.
    offset_px: float = float("inf")
    offset_sigma_px: float = float("inf")
    #: ``detail`` in the worst of 3 x 3 tiles (tiles without detail left out;
    #: NaN when none has any): a subject that moved between two frames of a
    #: burst leaves one tile that does not correlate, while the true original
    #: correlates everywhere but where a watermark or a border covers it.
    local_detail: float = float("nan")


def area_resize(grey: np.ndarray, out_h: int, out_w: int, scale: float | None = None) -> np.ndarray:
    """Area-average ``grey`` (H, W) to float32 ``(out_h, out_w)``.

    Exact box averaging with fractional pixel edges, one axis at a time, from
    cumulative sums (the integral of a pixel grid is linear inside each pixel).
    Without ``scale`` the whole image maps onto the output (each axis stretched
    as its rounding requires); with it, both axes shrink by exactly ``scale``
    from the top-left corner, and ``out_h`` x ``out_w`` must fit inside.

    The Rust kernel ``_core.area_resize`` does the work, with the GIL released:
    the pixel check calls this some forty times per candidate on images of a
    few hundred pixels, where numpy's per-call overhead outweighed the arithmetic.
    It reads uint8, float32 and float64 pixels as they are: a float64 copy of
    a decoded frame cost more than its resize.
    """
    if grey.dtype not in _PIXEL_DTYPES:
        grey = grey.astype(np.float64)
    return _core.area_resize(np.ascontiguousarray(grey), out_h, out_w, scale)


#: Pixel types ``_core.area_resize`` and ``_core.fine_detail`` read without a copy.
_PIXEL_DTYPES = (np.dtype(np.uint8), np.dtype(np.float32), np.dtype(np.float64))


def load_candidate(path: str, also: Callable[[pyvips.Image], None] | None = None) -> np.ndarray:
    """Decode an album file for the check: upright grey, ``VERIFY_DECODE_SIZE``
    box (``also``: see ``hashing.load_grey``)."""
    return load_grey(path, VERIFY_DECODE_SIZE, also)


def prepare_query(grey: np.ndarray, size: int = COMPARE_SIZE) -> np.ndarray:
    """The (frame-trimmed) thumbnail as float32, at most ``size`` on its long side.

    Shrunk by one exact factor on both axes, so that the thumbnail's geometry
    is kept to a fraction of a pixel.
    """
    h, w = grey.shape
    r = min(1.0, size / max(h, w))
    if r == 1.0:
        return grey.astype(np.float32)
    return area_resize(grey, max(8, int(h * r + 1e-6)), max(8, int(w * r + 1e-6)), scale=r)


class Thumbnail:
    """A thumbnail to be aligned in several candidates: the resized copies an
    alignment searches with (some twenty-five of them) are made once and reused.

    A resized copy depends only on its size, so it is kept by size. One
    thumbnail is meant for one thread at a time.
    """

    def __init__(self, grey: np.ndarray) -> None:
        self.grey = grey
        self.shape = grey.shape
        self._made: dict[tuple[str | int, ...], np.ndarray] = {}

    def _keep(self, key: tuple[str | int, ...], array: np.ndarray) -> np.ndarray:
        array.flags.writeable = False  # shared by every alignment of this thumbnail
        self._made[key] = array
        return array

    def at(self, size: int) -> np.ndarray:
        """``prepare_query(grey, size)``."""
        key = ("at", size)
        made = self._made.get(key)
        return made if made is not None else self._keep(key, prepare_query(self.grey, size))

    def half(self, size: int) -> np.ndarray:
        """``at(size)`` at half size: the coarse search's query."""
        key = ("half", size)
        made = self._made.get(key)
        if made is None:
            q = self.at(size)
            made = self._keep(key, area_resize(q, max(4, q.shape[0] // 2), max(4, q.shape[1] // 2)))
        return made

    def scaled(self, size: int, scale: float, half: bool = False) -> np.ndarray:
        """``at(size)`` (or ``half(size)``) shrunk by ``scale``."""
        base = self.half(size) if half else self.at(size)
        h, w = base.shape
        out = (max(4, round(h * scale)), max(4, round(w * scale)))
        key = ("scaled", size, half, *out)
        made = self._made.get(key)
        return made if made is not None else self._keep(key, area_resize(base, *out))


def fit_candidate(candidate: np.ndarray, shape: tuple[float, float]) -> np.ndarray:
    """Shrink ``candidate`` by one exact factor so that its largest window of the
    aspect of ``shape`` (height, width; may be fractional) is that size."""
    qh, qw = shape
    h, w = candidate.shape
    r = qh / h if w / h >= qw / qh else qw / w
    out_h, out_w = (
        max(int(np.ceil(qh - 1e-6)), int(h * r + 1e-6)),
        max(int(np.ceil(qw - 1e-6)), int(w * r + 1e-6)),
    )
    if r > 1.0:
        # Only when the candidate decode is tiny: stretch it up to the thumbnail.
        return area_resize(candidate, out_h, out_w)
    return area_resize(candidate, out_h, out_w, r)


def _ncc(
    image: np.ndarray, template: np.ndarray, ys: slice | None = None, xs: slice | None = None
) -> np.ndarray:
    """NCC of ``template`` at top-left positions ``ys`` x ``xs`` of ``image``
    (default: every position where it fits), float64 of that shape.

    A window flatter than ``MIN_STD`` grey levels counts as uncorrelated. The
    Rust kernel ``_core.ncc_map`` does the sums in f64 with the GIL released:
    an alignment asks for some forty such maps per candidate, which in numpy
    (a sliding-window ``einsum``, FFTs for whole scans) held the GIL for most
    of the pixel check.
    """
    th, tw = template.shape
    h, w = image.shape
    ys = ys or slice(0, h - th + 1)
    xs = xs or slice(0, w - tw + 1)
    scores: np.ndarray = _core.ncc_map(
        np.ascontiguousarray(image, dtype=np.float32),
        np.ascontiguousarray(template, dtype=np.float32),
        ys.start,
        ys.stop,
        xs.start,
        xs.stop,
        MIN_STD,
    )
    return scores


def _window_long_side(candidate: np.ndarray, aspect: float) -> float:
    """Long side of the largest window of ``aspect`` (width / height) in ``candidate``."""
    h, w = candidate.shape
    side: float = max(h * aspect, h) if w / h >= aspect else max(w, w / aspect)
    return side


def align(thumbnail: np.ndarray | Thumbnail, candidate: np.ndarray) -> Alignment:
    """Locate a (frame-trimmed) thumbnail inside a candidate; both grey, any size
    (pass a ``Thumbnail`` to align one thumbnail in several candidates).

    The search runs at ``COMPARE_SIZE``; the canonical check at up to
    ``CHECK_SIZE``, as finely as the thumbnail and the candidate allow.
    """
    thumb = thumbnail if isinstance(thumbnail, Thumbnail) else Thumbnail(thumbnail)
    aspect = thumb.shape[1] / thumb.shape[0]
    window = _window_long_side(candidate, aspect)
    size = min(COMPARE_SIZE, int(window))
    query = thumb.at(size)
    if float(query.std()) < MIN_STD:
        # A blank thumbnail matches everything equally: nothing to locate.
        return Alignment(ncc=0.0, scale=1.0, x=0.0, y=0.0)
    cand = fit_candidate(candidate, query.shape)
    # Coarse: everything at half size.
    q2 = thumb.half(size)
    c2 = area_resize(
        cand, max(q2.shape[0], cand.shape[0] // 2), max(q2.shape[1], cand.shape[1] // 2)
    )
    best = (-2.0, 1.0, 0, 0)
    scale = 1.0
    while scale >= MIN_SCALE - 1e-9:
        t = thumb.scaled(size, scale, half=True)
        if t.shape[0] <= c2.shape[0] and t.shape[1] <= c2.shape[1]:
            m = _ncc(c2, t)
            cy, cx = _argmax(m)
            if m[cy, cx] > best[0]:
                best = (float(m[cy, cx]), scale, cy, cx)
        scale -= _COARSE_STEP
    # Fine: full size, around the coarse hypothesis.
    _, s0, y0, x0 = best
    fine = (-2.0, 1.0, 0.0, 0.0)
    for scale in np.arange(s0 - _COARSE_STEP, s0 + _COARSE_STEP + 1e-9, _FINE_STEP):
        if scale > 1.0 + 1e-9 or scale < MIN_SCALE - 0.05:
            continue
        t = thumb.scaled(size, float(scale))
        th, tw = t.shape
        if th > cand.shape[0] or tw > cand.shape[1]:
            continue
        ys = slice(
            max(0, 2 * y0 - _FINE_RADIUS), min(cand.shape[0] - th, 2 * y0 + _FINE_RADIUS) + 1
        )
        xs = slice(
            max(0, 2 * x0 - _FINE_RADIUS), min(cand.shape[1] - tw, 2 * x0 + _FINE_RADIUS) + 1
        )
        if ys.stop <= ys.start or xs.stop <= xs.start:
            continue
        m = _ncc(cand, t, ys, xs)
        cy, cx = _argmax(m)
        # ">=": in a small picture neighbouring scales round to one template
        # size; the larger scale is kept, so that a full-size fit reads 1.0.
        if m[cy, cx] >= fine[0]:
            fy = ys.start + cy + _subpixel(m[:, cx], cy)
            fx = xs.start + cx + _subpixel(m[cy, :], cx)
            fine = (float(m[cy, cx]), float(scale), float(fy), float(fx))
    ncc, scale, y, x = fine if fine[0] > -2 else (best[0], best[1], 2.0 * best[2], 2.0 * best[3])
    t = thumb.scaled(size, scale)
    iy = min(max(0, round(y)), cand.shape[0] - t.shape[0])
    ix = min(max(0, round(x)), cand.shape[1] - t.shape[1])
    window_px = cand[iy : iy + t.shape[0], ix : ix + t.shape[1]]
    tone = float(np.abs(window_px - t).mean())
    exposure, brightness, tone_shape = _exposure(window_px, t)
    window_detail, thumb_detail = _fine_detail(window_px), _fine_detail(t)
    detail = _correlation(window_detail, thumb_detail)
    local = _worst_tile(window_detail, thumb_detail)
    # The canonical check, as finely as both pictures allow.
    fine_query = thumb.at(min(CHECK_SIZE, int(window)))
    # At the scale found: a thumbnail trimmed alike on all sides (a frame and
    # its ringing removed) is a centred crop a little under full size.
    frame = (fine_query.shape[0] / scale, fine_query.shape[1] / scale)
    _, offset, sigma = _canonical_fit(fit_candidate(candidate, frame), fine_query, frame)
    if scale >= _WHOLE_FRAME_SCALE and _whole_frame_aspect(thumb.shape, candidate.shape):
        # A thumbnail of the whole frame has its sides rounded to whole pixels
        # one by one, so its aspect can be off the photo's by a pixel's worth
        # (216 x 144 from 1500 x 996), which leaves a largest window of its own
        # aspect short of the frame by that much. Stretched onto the whole
        # frame instead, it sits at the origin.
        whole = area_resize(candidate, *fine_query.shape)
        _, stretched, stretched_sigma = _canonical_fit(
            whole, fine_query, (float(whole.shape[0]), float(whole.shape[1]))
        )
        if stretched < offset:
            offset, sigma = stretched, stretched_sigma
    residual = offset / max(fine_query.shape)
    # In pixels of the thumbnail as compared (``fine_query`` may be smaller).
    px = max(thumb.shape) / max(fine_query.shape)
    return Alignment(
        ncc=ncc,
        scale=scale,
        x=x,
        y=y,
        residual=residual,
        tone=tone,
        exposure=exposure,
        brightness=brightness,
        tone_shape=tone_shape,
        detail=detail,
        local_detail=local,
        offset_px=offset * px,
        offset_sigma_px=sigma * px,
    )


def _fine_detail(image: np.ndarray, radius: int = 2) -> np.ndarray:
    """``image`` less its local mean over a (2 radius + 1)-pixel square (edges
    replicated), float64.

    The Rust kernel ``_core.fine_detail`` adds the square's rows, then its
    columns, in float64 (exact for the integer and float32 pixels photomatch
    compares: no running sums, whose large values lose the low bits), with the
    GIL released and no padded copy: the grain test takes it on 2048-px
    frames. Its values are those of the numpy version it replaced
    (``benches/_numpy_detail.py``), to the bit.
    """
    if image.dtype not in _PIXEL_DTYPES:
        image = image.astype(np.float64)
    detail: np.ndarray = _core.fine_detail(np.ascontiguousarray(image), radius)
    return detail


def _worst_tile(a: np.ndarray, b: np.ndarray, tiles: int = 3) -> float:
    """The lowest correlation of ``a`` and ``b`` (one shape) over a grid of tiles
    that both have detail (standard deviation of half a grey level or more)."""
    pixels, _, std_a, std_b, corr = _tile_stats(a, b, tiles).T
    scores = corr[(pixels >= 16) & (std_a >= 0.5) & (std_b >= 0.5)]
    return float(scores.min()) if scores.size else float("nan")


def _tile_stats(
    a: np.ndarray, b: np.ndarray, tiles: int, keep: np.ndarray | None = None
) -> np.ndarray:
    """Per tile of a ``tiles`` x ``tiles`` grid over ``a`` and ``b`` (one
    shape), counting the pixels where ``keep`` is true (all without it):
    ``(pixels, kept, std of a, std of b, correlation)``, one row per tile.

    The Rust kernel ``_core.tile_stats`` does one pass per tile with the GIL
    released; numpy's dozen small-array calls per tile, under the GIL, cost
    more than the sums.
    """
    stats: np.ndarray = _core.tile_stats(
        np.ascontiguousarray(a, dtype=np.float64),
        np.ascontiguousarray(b, dtype=np.float64),
        tiles,
        None if keep is None else np.ascontiguousarray(keep, dtype=np.uint8),
    )
    return stats


def _correlation(a: np.ndarray, b: np.ndarray) -> float:
    """Zero-mean normalised correlation of two arrays of one shape (0 when flat)."""
    x, y = a - a.mean(), b - b.mean()
    norm = float(np.sqrt((x * x).sum() * (y * y).sum()))
    return float((x * y).sum() / norm) if norm > 1e-9 else 0.0


def _whole_frame_aspect(thumb: tuple[int, ...], candidate: tuple[int, ...]) -> bool:
    """A thumbnail of this shape could be the whole candidate shrunk, each side
    rounded to whole pixels (within a pixel and a half, which leaves room for
    the candidate decode's own rounding)."""
    (th, tw), (ch, cw) = thumb[:2], candidate[:2]
    return abs(tw - th * cw / ch) <= 1.5 or abs(th - tw * ch / cw) <= 1.5


def _exposure(window: np.ndarray, thumb: np.ndarray) -> tuple[float, float, float]:
    """``exposure``, ``brightness`` and ``tone_shape`` of ``Alignment``, for a
    candidate window and the thumbnail scaled to it (same shape)."""
    keep = (window < CLIP_LEVEL) & (thumb < CLIP_LEVEL)
    if int(keep.sum()) < 64:
        return float("nan"), float("nan"), float("inf")
    c = window[keep].astype(np.float64)
    t = thumb[keep].astype(np.float64)
    brightness = float(t.mean())
    # Sorted values, not pixel pairs: a slight misfit or a different blur
    # does not spread percentiles the way it spreads pairs.
    cq, tq = _tone_quantiles(c), _tone_quantiles(t)
    gain = float((cq * tq).sum() / max(float((tq * tq).sum()), 1e-9))
    shape = float(np.sqrt(np.mean((cq - gain * tq) ** 2)))
    return float(c.mean()) - brightness, brightness, shape


def _tone_quantiles(values: np.ndarray) -> np.ndarray:
    """The ``_TONE_PERCENTILES`` of float64 ``values``: ``_core.quantiles``,
    numpy's ``percentile`` to the bit in a third of its time."""
    quantiles: np.ndarray = _core.quantiles(values, _TONE_LEVELS)
    return quantiles


def _canonical_fit(
    image: np.ndarray, query: np.ndarray, frame: tuple[float, float]
) -> tuple[float, float, float]:
    """How well, how exactly and how surely the thumbnail sits at a canonical framing.

    The inner part of the thumbnail (a margin cut off all round) is searched at
    full size within a few pixels of where each canonical framing puts it; the
    peak, refined to a fraction of a pixel, gives the correlation and the
    distance (pixels of ``query``) from the canonical spot, and its standard
    error (``_peak_sigma``). The true original
    leaves a distance near 0; a burst frame shifted by 0.5% of its width,
    about 0.6 px at 128 px.
    """
    qh, qw = frame  # the canonical window's size, in pixels of ``image``
    h, w = image.shape
    m = max(2, round(0.05 * min(query.shape)))
    inner = query[m : query.shape[0] - m, m : query.shape[1] - m]
    ih, iw = inner.shape
    best = (-1.0, float("inf"), float("inf"))
    # A window whose size is a fraction of a pixel off the picture's gives
    # framings a fraction of a pixel apart, which search the same placements:
    # each region's map is made once.
    maps: dict[tuple[int, int, int, int], np.ndarray] = {}
    for cy in sorted({0, (h - qh) / 2, h - qh}):
        for cx in sorted({0, (w - qw) / 2, w - qw}):
            # Where the inner part belongs: centred in the canonical window, so
            # that a thumbnail trimmed alike on all sides still lands on it.
            ey, ex = cy + (qh - ih) / 2, cx + (qw - iw) / 2
            ys = slice(max(0, int(ey) - _FINE_RADIUS), min(h - ih, int(ey) + _FINE_RADIUS + 1) + 1)
            xs = slice(max(0, int(ex) - _FINE_RADIUS), min(w - iw, int(ex) + _FINE_RADIUS + 1) + 1)
            if ys.stop <= ys.start or xs.stop <= xs.start:
                continue
            region = (ys.start, ys.stop, xs.start, xs.stop)
            mp = maps.get(region)
            if mp is None:
                mp = maps[region] = _ncc(image, inner, ys, xs)
            py, px = _argmax(mp)
            fy = ys.start + py + _subpixel(mp[:, px], py)
            fx = xs.start + px + _subpixel(mp[py, :], px)
            score = float(mp[py, px])
            distance = float(np.hypot(fy - ey, fx - ex))
            # Framings a few pixels apart (a picture a little under full size)
            # search overlapping regions and find one peak: it belongs to the
            # nearest of them, not to the first searched.
            if score > best[0] + 1e-9 or (score >= best[0] - 1e-9 and distance < best[1]):
                sigma = float(
                    np.hypot(
                        _peak_sigma(mp[:, px], py, inner.size),
                        _peak_sigma(mp[py, :], px, inner.size),
                    )
                )
                best = (max(score, best[0]), distance, sigma)
    return best


#: The largest uncertainty given, in pixels (no peak to speak of: a flat
#: profile).
_MAX_SIGMA = 4.0
#: Pixels of a picture per independent sample of its correlation: neighbouring
#: pixels of a photo, let alone of a resized and compressed one, are not
#: independent.
_PIXELS_PER_SAMPLE = 4.0


def _argmax(surface: np.ndarray) -> tuple[int, int]:
    """``(row, column)`` of the highest value of a 2-D score surface (the first, on ties)."""
    y, x = np.unravel_index(int(np.argmax(surface)), surface.shape)
    return int(y), int(x)


def _peak_sigma(profile: np.ndarray, i: int, pixels: int) -> float:
    """Standard error, in pixels, of the peak position at index ``i`` of a 1-D
    correlation profile measured over ``pixels`` pixels: the correlation's own
    noise, about (1 - r^2) / sqrt(samples), moves the vertex of the parabola
    through the peak by that noise over its curvature.

    A peak on the edge of the profile is no vertex: the correlation still
    rises towards the edge, so the best spot lies there or beyond (the
    thumbnail is farther from the canonical framing than was searched, or
    than the picture allows). The distance measured to it is then a lower
    bound, and it is given as sure (0) when the rise beats the correlation's
    noise; a profile too flat to tell gets ``_MAX_SIGMA``."""
    if len(profile) < 2:
        return _MAX_SIGMA
    b = float(profile[i])
    noise = (1.0 - b * b) / np.sqrt(max(1.0, pixels / _PIXELS_PER_SAMPLE))
    if i <= 0 or i >= len(profile) - 1:
        inner = float(profile[1] if i <= 0 else profile[-2])
        return 0.0 if b - inner > noise else _MAX_SIGMA
    a, c = float(profile[i - 1]), float(profile[i + 1])
    curvature = 2 * b - a - c
    if curvature <= 1e-9:
        return _MAX_SIGMA
    return min(_MAX_SIGMA, float(noise / curvature))


def _subpixel(profile: np.ndarray, i: int) -> float:
    """Parabolic peak offset in (-0.5, 0.5) around index ``i`` of a 1-D score profile."""
    if i <= 0 or i >= len(profile) - 1:
        return 0.0
    a, b, c = float(profile[i - 1]), float(profile[i]), float(profile[i + 1])
    denom = a - 2 * b + c
    if denom >= 0:
        return 0.0
    return max(-0.5, min(0.5, 0.5 * (a - c) / denom))


#: ``same_photo`` asks its full test only when the two full frames, shrunk to
#: ``_GATE_SIZE`` pixels, correlate at least this well: a necessary condition
#: that costs a fraction of a millisecond. On the seed-7 benchmark album every
#: pair found to be the same photo (26, edited copies included) correlated at
#: 0.995 or more, while 71% of the other pairs checked fell under 0.9.
SAME_PHOTO_GATE = 0.85
_GATE_SIZE = 32
#: The comparison of two frames' fine detail runs at this long side, on a grid
#: of ``_TILES`` x ``_TILES`` tiles.
_CAPTURE_SIZE = 256
_TILES = 4
#: Grey levels outside this range are clipped in one picture or the other (an
#: edit that brightens clips highlights), and left out of the comparison.
_UNCLIPPED = (10, 245)
#: Standard deviation of fine detail (grey levels) a tile needs to be compared.
_TILE_DETAIL = 2.0


def same_photo(a: np.ndarray, b: np.ndarray, detail_min: float = 0.97) -> bool:
    """True when grey frames ``a`` and ``b`` are one capture: one is the other
    up to a global tone or colour edit, a resize or a recompression (an edited
    copy, a re-save, a duplicate), never two frames of a burst however alike.

    Frames of a burst are separate exposures: the camera or the subject moved
    between them, if only by a fraction of a pixel. So the two frames are
    brought to one size and their fine detail (``_fine_detail``) is compared
    tile by tile (``capture_detail``): every tile of one capture correlates,
    whatever the tone edit, while a shift of 0.1% of the frame, or a subject
    that moved in one tile, leaves at least one tile well below ``detail_min``
    (README "Accuracy" has the measurements). Frames with too little detail
    at this size to tell are not one capture here (``capture_verdict`` says
    when only a finer test can tell).
    """
    return capture_verdict(a, b, detail_min) is True


def capture_verdict(a: np.ndarray, b: np.ndarray, detail_min: float = 0.97) -> bool | None:
    """``same_photo``'s verdict, or None when ``a`` and ``b`` look alike (one
    aspect, frames that correlate) but have too little fine detail at the
    comparison's size to tell one capture from two (a misty landscape, a
    plain backdrop: fewer than three tiles with detail). Then only the grain
    near the files' own size can tell (``grain_detail``)."""
    ra, rb = a.shape[1] / a.shape[0], b.shape[1] / b.shape[0]
    if abs(ra - rb) > 0.01 * max(ra, rb):
        return False
    if _frame_correlation(a, b) < SAME_PHOTO_GATE:
        return False
    detail = capture_detail(a, b)
    if math.isnan(detail):
        return None
    return detail >= detail_min


def capture_detail(a: np.ndarray, b: np.ndarray) -> float:
    """The lowest correlation of fine detail, tile by tile, between two full
    frames of one aspect (``b`` is stretched onto ``a``'s frame), over the tiles
    with detail and a quarter or more of their pixels unclipped; NaN when fewer
    than three tiles can be compared (a flat or clipped picture can't be told
    apart at this size). On a benchmark album (seed 101), 95% of edited copies
    scored 0.978 or more against their originals, while frames of tripod bursts
    (shifted by at most 0.3% of the frame, a subject moving) scored at most
    0.951, and panned frames far less."""
    h, w = a.shape
    r = min(1.0, _CAPTURE_SIZE / max(h, w))
    shape = (max(_TILES * 4, round(h * r)), max(_TILES * 4, round(w * r)))
    fa = area_resize(a, *shape).astype(np.float64)
    fb = area_resize(b, *shape).astype(np.float64)
    # A tile with too little detail (a flat one, or a dark one whose detail an
    # edit has quantised away) is not compared.
    return _lowest_tile(fa, fb, _fine_detail(fa), _fine_detail(fb), _TILE_DETAIL)


def _lowest_tile(
    fa: np.ndarray,
    fb: np.ndarray,
    da: np.ndarray,
    db: np.ndarray,
    min_std: float,
    tiles: int = _TILES,
) -> float:
    """The lowest correlation of details ``da`` and ``db`` over ``tiles`` x
    ``tiles`` tiles of frames ``fa`` and ``fb`` (one shape), counting only the
    pixels clipped in neither, in tiles where a quarter or more are and both
    details vary by ``min_std`` or more; NaN when fewer than three tiles count."""
    lo, hi = _UNCLIPPED
    keep = (fa > lo) & (fa < hi) & (fb > lo) & (fb < hi)
    pixels, kept, std_a, std_b, corr = _tile_stats(da, db, tiles, keep).T
    scores = corr[(4 * kept >= pixels) & (std_a >= min_std) & (std_b >= min_std)]
    return float(scores.min()) if scores.size >= 3 else float("nan")


def _frame_correlation(a: np.ndarray, b: np.ndarray) -> float:
    """Correlation of two frames of (nearly) one aspect, both shrunk to ``a``'s
    shape at ``_GATE_SIZE`` pixels on the long side."""
    h, w = a.shape
    r = min(1.0, _GATE_SIZE / max(h, w))
    out_h, out_w = max(4, round(h * r)), max(4, round(w * r))
    return _correlation(
        area_resize(a, out_h, out_w).astype(np.float64),
        area_resize(b, out_h, out_w).astype(np.float64),
    )


def fitted_window(
    thumbnail: Thumbnail, candidate: np.ndarray, fit: Alignment
) -> tuple[np.ndarray, np.ndarray]:
    """The thumbnail as ``align`` compared it (``Thumbnail.at``) and the part of
    ``candidate`` where ``fit`` puts it, sampled onto the thumbnail's grid:
    pixel for pixel comparable with it, and with the window of any other
    candidate fitted the same way. Bilinear, from the candidate shrunk as
    ``align`` shrank it, at the fit's sub-pixel position."""
    aspect = thumbnail.shape[1] / thumbnail.shape[0]
    size = min(COMPARE_SIZE, int(_window_long_side(candidate, aspect)))
    query = thumbnail.at(size)
    cand = fit_candidate(candidate, query.shape).astype(np.float64)
    qh, qw = query.shape
    th, tw = thumbnail.scaled(size, fit.scale).shape
    ys = np.clip(fit.y + (np.arange(qh) + 0.5) * th / qh - 0.5, 0, cand.shape[0] - 1)
    xs = np.clip(fit.x + (np.arange(qw) + 0.5) * tw / qw - 0.5, 0, cand.shape[1] - 1)
    y0 = np.minimum(ys.astype(np.int64), cand.shape[0] - 2).clip(0)
    x0 = np.minimum(xs.astype(np.int64), cand.shape[1] - 2).clip(0)
    fy, fx = (ys - y0)[:, None], (xs - x0)[None, :]
    y1, x1 = np.minimum(y0 + 1, cand.shape[0] - 1), np.minimum(x0 + 1, cand.shape[1] - 1)
    top = cand[np.ix_(y0, x0)] * (1 - fx) + cand[np.ix_(y0, x1)] * fx
    bottom = cand[np.ix_(y1, x0)] * (1 - fx) + cand[np.ix_(y1, x1)] * fx
    window: np.ndarray = top * (1 - fy) + bottom * fy
    return query, window


def _tone_fitted(window: np.ndarray, q: np.ndarray) -> np.ndarray:
    """``window`` (flattened) with the gain and offset that fit it best to the
    flattened thumbnail ``q`` (least squares)."""
    x = window.astype(np.float64).ravel()
    xc = x - x.mean()
    gain = float((xc * (q - q.mean())).sum() / max(float((xc * xc).sum()), 1e-9))
    fitted: np.ndarray = q.mean() + gain * xc
    return fitted


def contrast(query: np.ndarray, a: np.ndarray, b: np.ndarray) -> tuple[float, float]:
    """Which of windows ``a`` and ``b`` (see ``fitted_window``) the thumbnail
    ``query`` follows where the two differ, and how much they differ.

    Frames of a burst differ in a small part (a subject moved, the camera
    shifted a pixel) that the whole picture's correlation barely weighs: its
    residual is mostly the thumbnail's own blur and compression, alike for
    both. Each window is tone-fitted to the thumbnail (gain and offset); with
    ``d = a - b`` the thumbnail less the windows' midpoint is projected on
    ``d``: ``side = <q - (a + b) / 2, d> / |d|^2`` is +1/2 for a thumbnail of
    ``a``, -1/2 for one of ``b``. ``separation = |d|^2 / |q - nearer|^2`` says
    whether that is worth anything: windows that differ by less than the
    thumbnail's own residual (a crop that two frames hold alike, up to their
    noise and resampling) leave ``side`` to chance."""
    q = query.astype(np.float64).ravel()
    ra, rb = _tone_fitted(a, q), _tone_fitted(b, q)
    d = ra - rb
    dd = float((d * d).sum())
    if dd < 1e-9:
        return 0.0, 0.0
    side = float(((q - (ra + rb) / 2) * d).sum()) / dd
    nearer = min(float(((q - ra) ** 2).sum()), float(((q - rb) ** 2).sum()))
    return side, dd / max(nearer, 1e-9)


def unexplained(query: np.ndarray, window: np.ndarray, rivals: Sequence[np.ndarray]) -> float:
    """How much of what sets ``window`` apart from the ``rivals`` (windows of
    other candidates fitted the same way, ``fitted_window``) the thumbnail
    ``query`` does not follow: 0 for a thumbnail of ``window`` itself, about 1
    for one of a rival, NaN without rivals.

    ``contrast`` says which of two frames a thumbnail leans to; this says
    whether it is the frame at all. A thumbnail of a frame that is not in the
    album (taken between two that are) leans to the nearer one, yet where the
    frames differ (a subject that moved) it shows its own picture, which none
    of them explains. With the windows tone-fitted to the thumbnail, ``d`` the
    largest difference at each pixel between ``window`` and a rival, and ``r``
    the thumbnail's residual from ``window``: ``sum(d^2 r^2) / sum(d^4)``, the
    residual where the frames differ, against how much they differ there."""
    q = query.astype(np.float64).ravel()
    own = _tone_fitted(window, q)
    if not rivals:
        return math.nan
    d2 = np.max(np.stack([(own - _tone_fitted(b, q)) ** 2 for b in rivals]), axis=0)
    total = float((d2 * d2).sum())
    if total < 1e-12:
        return math.nan
    return float((d2 * (q - own) ** 2).sum()) / total


#: Long side, at most, at which ``grain_detail`` compares two album files: near
#: a camera file's own pixels, where each capture carries its own noise (a
#: 12-MP file at half its size; shrinking further averages the noise away
#: while the scene's own fine texture stays).
GRAIN_SIZE = 2048
#: Standard deviation (grey levels) of the finest detail a tile needs to be
#: compared by ``grain_detail``.
_GRAIN_DETAIL = 0.5
#: Tiles per side in ``grain_detail``: small tiles, so that the flattest of them
#: (a patch of sky, a wall), where the noise outweighs the scene's texture, is
#: compared on its own rather than averaged with texture, which two frames of
#: a still scene share.
GRAIN_TILES = 16


def load_grain(path: str) -> np.ndarray:
    """Decode an album file for ``grain_detail``: upright grey, ``GRAIN_SIZE`` box
    (never enlarged)."""
    return load_grey(path, GRAIN_SIZE)


def grain_detail(a: np.ndarray, b: np.ndarray) -> float:
    """The lowest correlation, tile by tile (``GRAIN_TILES`` a side), of the
    finest detail (each pixel less its 3 x 3 mean) of two grey frames of one
    aspect, compared at the smaller one's size; NaN when fewer than three tiles
    have detail to compare (a correlation can itself be negative).

    One capture carries one noise: an edited, re-saved or resized copy keeps
    its original's grain, while two frames of a burst, however still the
    camera and the scene, were two exposures with two noises. At a few hundred
    pixels the grain is averaged away and tripod frames can look like one
    capture (``capture_detail``); near the files' own size they do not. On the
    training albums (``benches/grain_pairs.py``) edited copies scored 0.149 and
    up against their originals, pairs of tripod-burst frames 0.09 at most."""
    if a.shape[0] * a.shape[1] > b.shape[0] * b.shape[1]:
        a, b = b, a
    fa = a.astype(np.float64)
    fb = (b if b.shape == a.shape else area_resize(b, *a.shape)).astype(np.float64)
    return _lowest_tile(
        fa, fb, _fine_detail(fa, 1), _fine_detail(fb, 1), _GRAIN_DETAIL, GRAIN_TILES
    )
