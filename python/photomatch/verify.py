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
peak lies tells whether the thumbnail is a *canonical* framing of the
candidate (the full frame, or a centred or edge-aligned crop at full size, the
framings web services make), which a burst sibling, shifted by a few percent,
is not.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from .hashing import area_resize

#: Long side, in pixels, of the thumbnail at the fine comparison.
COMPARE_SIZE = 128
#: Smallest crop (as a fraction of the largest window) searched for.
MIN_SCALE = 0.6
_COARSE_STEP = 0.04
_FINE_STEP = 0.01
_FINE_RADIUS = 3
#: An alignment is canonical when the full-size window at a canonical position
#: scores within this of the best window found anywhere.
CANONICAL_SLACK = 0.003
#: Grey-level standard deviation below which a picture has too little detail to compare.
MIN_STD = 2.0


@dataclass(frozen=True)
class Alignment:
    """Where and how well a thumbnail fits a candidate.

    ``ncc`` in [-1, 1]; ``scale`` the window's size relative to the largest
    window of the thumbnail's aspect; ``x``, ``y`` the window's top-left corner
    in pixels of the candidate resized so that the largest window is
    ``COMPARE_SIZE`` on its long side; ``canonical`` as in the module doc;
    ``offset`` the distance (pixels) from the best window to the nearest
    canonical position.
    """

    ncc: float
    scale: float
    x: float
    y: float
    canonical: bool
    offset: float


def prepare_query(grey: np.ndarray) -> np.ndarray:
    """The (frame-trimmed) thumbnail as float32, at most ``COMPARE_SIZE`` on its long side."""
    h, w = grey.shape
    r = min(1.0, COMPARE_SIZE / max(h, w))
    return area_resize(grey, max(8, round(h * r)), max(8, round(w * r)))


def fit_candidate(candidate: np.ndarray, query: np.ndarray) -> np.ndarray:
    """Resize ``candidate`` so that its largest window of the query's aspect is the query's size."""
    qh, qw = query.shape
    h, w = candidate.shape
    r = qh / h if w / h >= qw / qh else qw / w
    return area_resize(candidate, max(qh, round(h * r)), max(qw, round(w * r)))


class _Surface:
    """A candidate image prepared for many NCC evaluations: integral images of
    its values and squares (window sums in O(1)) and, for full scans, its spectrum."""

    def __init__(self, image: np.ndarray, spectrum: bool) -> None:
        self.image = image
        f = image.astype(np.float64)
        self.ii = np.pad(f.cumsum(0).cumsum(1), ((1, 0), (1, 0)))
        self.ii2 = np.pad((f * f).cumsum(0).cumsum(1), ((1, 0), (1, 0)))
        self.spectrum = np.fft.rfft2(image) if spectrum else None

    def ncc(
        self, template: np.ndarray, ys: slice | None = None, xs: slice | None = None
    ) -> np.ndarray:
        """NCC of ``template`` at top-left positions ``ys`` x ``xs`` (default: all valid).

        The correlation uses FFTs over the whole image, or direct sums over a
        small region of positions. A window flatter than ``MIN_STD`` grey levels
        counts as uncorrelated.
        """
        th, tw = template.shape
        h, w = self.image.shape
        ys = ys or slice(0, h - th + 1)
        xs = xs or slice(0, w - tw + 1)
        n = th * tw
        t = template - template.mean()
        t_norm = max(float(np.sqrt((t * t).sum())), MIN_STD * np.sqrt(n))
        if self.spectrum is not None and ys == slice(0, h - th + 1) and xs == slice(0, w - tw + 1):
            # Circular correlation; positions that would wrap lie outside the valid area.
            full = np.fft.irfft2(self.spectrum * np.conj(np.fft.rfft2(t, s=(h, w))), s=(h, w))
            num = full[ys, xs]
        else:
            region = self.image[ys.start : ys.stop + th - 1, xs.start : xs.stop + tw - 1]
            num = np.einsum("ijkl,kl->ij", sliding_window_view(region, (th, tw)), t)
        s1 = _window_sums(self.ii, ys, xs, th, tw)
        s2 = _window_sums(self.ii2, ys, xs, th, tw)
        var = np.maximum(s2 - s1 * s1 / n, MIN_STD * MIN_STD * n)
        return np.clip(num / (np.sqrt(var) * t_norm), -1.0, 1.0)


def _window_sums(ii: np.ndarray, ys: slice, xs: slice, th: int, tw: int) -> np.ndarray:
    y0, y1, x0, x1 = ys.start, ys.stop, xs.start, xs.stop
    return (
        ii[y0 + th : y1 + th, x0 + tw : x1 + tw]
        - ii[y0:y1, x0 + tw : x1 + tw]
        - ii[y0 + th : y1 + th, x0:x1]
        + ii[y0:y1, x0:x1]
    )


def _scaled(query: np.ndarray, scale: float) -> np.ndarray:
    h, w = query.shape
    return area_resize(query, max(4, round(h * scale)), max(4, round(w * scale)))


def align(query: np.ndarray, candidate: np.ndarray) -> Alignment:
    """Locate ``query`` (from ``prepare_query``) inside ``candidate`` (grey, any size)."""
    if float(query.std()) < MIN_STD:
        # A blank thumbnail matches everything equally: nothing to locate.
        return Alignment(ncc=0.0, scale=1.0, x=0.0, y=0.0, canonical=False, offset=0.0)
    cand = fit_candidate(candidate.astype(np.float32), query)
    # Coarse: everything at half size.
    q2 = area_resize(query, max(4, query.shape[0] // 2), max(4, query.shape[1] // 2))
    c2 = area_resize(
        cand, max(q2.shape[0], cand.shape[0] // 2), max(q2.shape[1], cand.shape[1] // 2)
    )
    coarse = _Surface(c2, spectrum=True)
    best = (-2.0, 1.0, 0, 0)
    scale = 1.0
    while scale >= MIN_SCALE - 1e-9:
        t = _scaled(q2, scale)
        if t.shape[0] <= c2.shape[0] and t.shape[1] <= c2.shape[1]:
            m = coarse.ncc(t)
            y, x = np.unravel_index(int(np.argmax(m)), m.shape)
            if m[y, x] > best[0]:
                best = (float(m[y, x]), scale, int(y), int(x))
        scale -= _COARSE_STEP
    # Fine: full size, around the coarse hypothesis.
    _, s0, y0, x0 = best
    surface = _Surface(cand, spectrum=False)
    fine = (-2.0, 1.0, 0.0, 0.0)
    for scale in np.arange(s0 - _COARSE_STEP, s0 + _COARSE_STEP + 1e-9, _FINE_STEP):
        if scale > 1.0 + 1e-9 or scale < MIN_SCALE - 0.05:
            continue
        t = _scaled(query, float(scale))
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
        m = surface.ncc(t, ys, xs)
        y, x = np.unravel_index(int(np.argmax(m)), m.shape)
        if m[y, x] > fine[0]:
            fy = ys.start + y + _subpixel(m[:, x], y)
            fx = xs.start + x + _subpixel(m[y, :], x)
            fine = (float(m[y, x]), float(scale), float(fy), float(fx))
    ncc, scale, y, x = fine if fine[0] > -2 else (best[0], best[1], 2.0 * best[2], 2.0 * best[3])
    th, tw = query.shape[0] * scale, query.shape[1] * scale
    offset = max(_canonical_offset(y, cand.shape[0] - th), _canonical_offset(x, cand.shape[1] - tw))
    # Canonical when a full-size window at a canonical position fits (almost) as
    # well as the best window anywhere: a shifted burst frame fits best elsewhere.
    canonical_ncc = _canonical_ncc(cand, query)
    canonical = canonical_ncc >= ncc - CANONICAL_SLACK
    return Alignment(ncc=ncc, scale=scale, x=x, y=y, canonical=canonical, offset=offset)


def _canonical_ncc(cand: np.ndarray, query: np.ndarray) -> float:
    """Best NCC of the full-size window at the start, centre or end of the free axis."""
    qh, qw = query.shape
    span_y, span_x = cand.shape[0] - qh, cand.shape[1] - qw
    if span_y < 0 or span_x < 0:
        return -1.0
    ys = {0, span_y // 2, (span_y + 1) // 2, span_y}
    xs = {0, span_x // 2, (span_x + 1) // 2, span_x}
    t = query - query.mean()
    floor = MIN_STD * np.sqrt(t.size)
    t_norm = max(float(np.sqrt((t * t).sum())), floor)
    best = -1.0
    for y in ys:
        for x in xs:
            w = cand[y : y + qh, x : x + qw]
            w = w - w.mean()
            w_norm = max(float(np.sqrt((w * w).sum())), floor)
            best = max(best, float((w * t).sum()) / (w_norm * t_norm))
    return best


def _subpixel(profile: np.ndarray, i: int) -> float:
    """Parabolic peak offset in (-0.5, 0.5) around index ``i`` of a 1-D score profile."""
    if i <= 0 or i >= len(profile) - 1:
        return 0.0
    a, b, c = float(profile[i - 1]), float(profile[i]), float(profile[i + 1])
    denom = a - 2 * b + c
    if denom >= 0:
        return 0.0
    return max(-0.5, min(0.5, 0.5 * (a - c) / denom))


def _canonical_offset(pos: float, span: float) -> float:
    """Distance from ``pos`` to the nearest of the start, centre and end positions."""
    return min(abs(pos), abs(pos - span / 2), abs(pos - span))


#: Two album files are the same photo when one fits the other canonically with
#: at least this correlation.
SAME_PHOTO_NCC = 0.95


def same_photo(a: np.ndarray, b: np.ndarray) -> bool:
    """True when grey frames ``a`` and ``b`` show the same photo, framed alike
    (an edited copy, a re-save, a duplicate), rather than e.g. two burst frames."""
    ra, rb = a.shape[1] / a.shape[0], b.shape[1] / b.shape[0]
    if abs(ra - rb) > 0.01 * max(ra, rb):
        return False
    fit = align(prepare_query(a.astype(np.float32)), b)
    return fit.canonical and fit.ncc >= SAME_PHOTO_NCC
