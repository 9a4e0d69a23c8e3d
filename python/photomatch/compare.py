"""The review page's compare view: where a thumbnail sits inside a candidate, cut
from the original at a size that shows detail, and how the two differ.

Everything is made in memory on demand (by ``review_server``) from photomatch's
own decode and alignment: the thumbnail is decoded as the match decoded it
(``hashing.load_grey``'s size, its frame trimmed by ``hashing.trim_border``,
turned as the answer's ``orientation`` says), located in the candidate with
``verify.align``, and that window mapped back onto the original, which is
decoded again (shrink-on-load, upright) just large enough for the window to be
``REGION_SIZE`` pixels on its long side. Nothing is written anywhere; the album
is only read.

The difference image is the thumbnail less the region after a tone fit (gain
and offset by least squares, on grey levels), so a brightness or contrast edit
leaves it dark and what really differs (a subject that moved between two
frames of a burst, a shifted frame's edges) shows bright.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pyvips

from . import hashing, verify
from .decision import Policy
from .errors import DecodeError

#: Long side, in pixels, of the region cut from the original (about twice the
#: size the page shows it at, for high-density screens).
REGION_SIZE = 800
#: Largest box an original is decoded into to cut a region (a small crop of a
#: large photo is decoded at most this big).
MAX_DECODE = 6000
#: Grey levels of difference shown white: the difference image is
#: ``|difference| * 255 / DIFF_FULL``.
DIFF_FULL = 64.0
JPEG_QUALITY = 85
#: The turns of the thumbnail (``matching.ORIENTATIONS``),
#: and how to turn it that way: a pyvips method on the image.
_TURNS = {
    "rotated 90°": ("rot270", 1),
    "rotated 180°": ("rot180", 2),
    "rotated 270°": ("rot90", 3),
    "mirrored": ("fliphor", 0),
}


@dataclass(frozen=True)
class Comparison:
    """A thumbnail compared with one candidate.

    ``x``, ``y``, ``w``, ``h``: the region of the candidate's upright frame where the
    thumbnail fits, as fractions of its width and height; ``ncc`` the alignment's
    correlation, ``scale`` its size against the largest window of the thumbnail's
    shape, ``detail`` the correlation of fine detail; ``offset_px`` how far (in the
    thumbnail's pixels) the region sits from the nearest standard framing (the
    whole frame, a centred or edge-aligned crop: where web services cut), which
    tells the frame a thumbnail was cut from from its burst siblings, shifted by a
    few pixels; ``gain``/``offset`` the tone
    fit (thumbnail = gain x region + offset); ``diff_rms`` the grey-level RMS of
    what remains. ``thumb_jpeg``, ``region_jpeg`` and ``diff_png`` are the images.
    ``rejected`` says in plain words why photomatch's thresholds would not take
    this candidate ("" when they would).
    """

    x: float
    y: float
    w: float
    h: float
    ncc: float
    scale: float
    detail: float
    offset_px: float
    gain: float
    offset: float
    diff_rms: float
    turn: str
    rejected: str
    thumb_jpeg: bytes
    region_jpeg: bytes
    diff_png: bytes

    def info(self) -> dict[str, object]:
        """The figures, for the page (JSON-safe: NaN becomes None)."""

        def num(v: float, digits: int = 4) -> float | None:
            return round(v, digits) if math.isfinite(v) else None

        return {
            "x": num(self.x),
            "y": num(self.y),
            "w": num(self.w),
            "h": num(self.h),
            "ncc": num(self.ncc),
            "scale": num(self.scale),
            "detail": num(self.detail),
            "offset_px": num(self.offset_px, 2),
            "framing": framing_words(self.offset_px),
            "gain": num(self.gain),
            "offset": num(self.offset, 2),
            "diff_rms": num(self.diff_rms, 2),
            "turn": self.turn,
            "rejected": self.rejected,
            "where": where_words(self.x, self.y, self.w, self.h),
        }


def hashing_reason(exc: pyvips.Error) -> str:
    """libvips' reason for a failed decode, in one line."""
    lines = f"{exc.detail or ''}\n{exc.message or ''}".strip().splitlines()
    return lines[0].strip()[:300] if lines else "cannot be decoded"


def turn_of(orientation: str) -> str:
    """The thumbnail's turn for an answer's ``orientation`` ("" when upright)."""
    return orientation if orientation in _TURNS else ""


def _srgb(image: pyvips.Image) -> pyvips.Image:
    if image.hasalpha():
        image = image.flatten(background=255)
    image = image.colourspace("srgb")
    if image.format != "uchar":
        image = image.cast("uchar")
    return image


def _turned_grey(grey: np.ndarray, turn: str) -> np.ndarray:
    if turn == "mirrored":
        return np.ascontiguousarray(grey[:, ::-1])
    if turn:
        return np.ascontiguousarray(np.rot90(grey, _TURNS[turn][1]))
    return grey


def thumbnail_image(path: str, turn: str = "") -> tuple[pyvips.Image, np.ndarray]:
    """The thumbnail as the match compared it: colour (sRGB, in memory) and grey
    uint8, its frame trimmed, turned by ``turn``. ``DecodeError`` if unreadable."""
    image = _srgb(hashing.open_image(path, hashing.DECODE_SIZE)).copy_memory()
    grey = hashing.grey_from_image(image)
    trimmed = hashing.trim_border(grey)
    if trimmed.shape != grey.shape:
        if np.shares_memory(trimmed, grey):
            # trim_border returns a slice of ``grey``: its offset gives the box.
            start = trimmed.__array_interface__["data"][0] - grey.__array_interface__["data"][0]
            top, left = divmod(start, grey.strides[0])
        else:  # a copy: frames are cut alike on opposite sides
            top = (grey.shape[0] - trimmed.shape[0]) // 2
            left = (grey.shape[1] - trimmed.shape[1]) // 2
        image = image.crop(left, top, trimmed.shape[1], trimmed.shape[0])
    if turn:
        image = getattr(image, _TURNS[turn][0])()
    return image.copy_memory(), _turned_grey(np.ascontiguousarray(trimmed), turn)


def locate(thumb: np.ndarray, candidate: np.ndarray) -> tuple[verify.Alignment, tuple[float, ...]]:
    """``verify.align`` of ``thumb`` in ``candidate`` (both grey), and the window it
    finds as ``(x, y, w, h)`` fractions of the candidate's frame."""
    q = verify.Thumbnail(thumb)
    fit = verify.align(q, candidate)
    th, tw = q.shape
    aspect = tw / th
    h, w = candidate.shape
    # As align sizes its search (verify._window_long_side, verify.fit_candidate).
    window = max(h * aspect, h) if w / h >= aspect else max(w, w / aspect)
    size = min(verify.COMPARE_SIZE, int(window))
    qh, qw = q.at(size).shape
    r = qh / h if w / h >= qw / qh else qw / w
    sh, sw = q.scaled(size, fit.scale).shape
    box = (fit.x / r / w, fit.y / r / h, sw / r / w, sh / r / h)
    x, y, bw, bh = (min(1.0, max(0.0, v)) for v in box)
    return fit, (x, y, min(bw, 1.0 - x), min(bh, 1.0 - y))


def cut_region(
    path: str, box: tuple[float, ...], aspect: float, size: int = REGION_SIZE
) -> pyvips.Image:
    """The part ``box`` (fractions) of the original ``path``, upright sRGB, at most
    ``size`` px on its long side, decoded no larger than needed (``MAX_DECODE``)."""
    x, y, w, h = box
    long_frac = max(w, h / aspect) if aspect >= 1 else max(w * aspect, h)
    # The decode's long side that makes the region ``size`` px long.
    want = math.ceil(size / max(long_frac, 1e-3))
    image = _srgb(hashing.open_image(path, min(MAX_DECODE, max(size, want))))
    W, H = image.width, image.height  # noqa: N806 - image sides
    left, top = min(W - 1, round(x * W)), min(H - 1, round(y * H))
    cw = max(1, min(W - left, round(w * W)))
    ch = max(1, min(H - top, round(h * H)))
    region = image.crop(left, top, cw, ch)
    if max(cw, ch) > size:
        region = region.resize(size / max(cw, ch))
    return region.copy_memory()


def difference(thumb: np.ndarray, region: pyvips.Image) -> tuple[np.ndarray, float, float, float]:
    """``|thumbnail - (gain x region + offset)|`` on the thumbnail's grid (uint8,
    ``DIFF_FULL`` grey levels white), with gain, offset and the RMS difference."""
    grey = hashing.grey_from_image(region).astype(np.float64)
    r = verify.area_resize(grey, thumb.shape[0], thumb.shape[1]).astype(np.float64)
    t = thumb.astype(np.float64)
    a = np.stack([r.ravel(), np.ones(r.size)], axis=1)
    (gain, offset), *_ = np.linalg.lstsq(a, t.ravel(), rcond=None)
    diff = t - (gain * r + offset)
    rms = float(np.sqrt(np.mean(diff * diff)))
    image = np.clip(np.abs(diff) * (255.0 / DIFF_FULL), 0, 255).astype(np.uint8)
    return image, float(gain), float(offset), rms


def rejected_words(fit: verify.Alignment, policy: Policy | None = None) -> str:
    """Why photomatch's thresholds would not take this fit, in plain words ("" if they would)."""
    p = policy or Policy()
    if fit.scale >= p.near_full_scale:
        if fit.ncc < p.ncc_min:
            return f"the pictures differ (similarity {fit.ncc:.2f}, {p.ncc_min:.2f} needed)"
        return ""
    if fit.scale < verify.MIN_SCALE - 1e-9:
        return "only a small part of this photo looks like the thumbnail"
    if fit.ncc < p.crop_ncc_min:
        return (
            f"no part of this photo matches well (similarity {fit.ncc:.2f}, "
            f"{p.crop_ncc_min:.2f} needed)"
        )
    if fit.detail < p.crop_detail_min:
        return "the broad shapes fit, but the fine detail does not"
    return ""


def framing_words(offset_px: float) -> str:
    """How far the region is from a standard framing, in words."""
    if not math.isfinite(offset_px):
        return ""
    if offset_px <= 1.0:
        return "on a standard framing (whole, centred or along an edge)"
    return f"{offset_px:.1f} px off any standard framing: another frame?"


def where_words(x: float, y: float, w: float, h: float) -> str:
    """Where the region lies, in words: the whole frame, or a crop and its place."""
    if w >= 0.97 and h >= 0.97:
        return "the whole photo"
    share = round(100 * w * h)

    def side(start: float, length: float, low: str, high: str) -> str:
        mid = start + length / 2
        return low if mid < 0.4 else high if mid > 0.6 else ""

    place = (
        " ".join(s for s in (side(y, h, "top", "bottom"), side(x, w, "left", "right")) if s)
        or "centre"
    )
    return f"a crop of {share}% of the photo, {place}"


def compare(
    query: str, candidate: str, orientation: str = "upright", size: int = REGION_SIZE
) -> Comparison:
    """Compare thumbnail ``query`` with album file ``candidate`` (see the module doc).

    ``orientation`` is the answer's (``QueryResult.orientation``: how the match
    turned the thumbnail). Raises ``DecodeError`` when either file cannot be decoded.
    """
    turn = turn_of(orientation)
    try:
        thumb_image, thumb = thumbnail_image(query, turn)
    except pyvips.Error as exc:  # pixels are decoded lazily: a cut file fails here
        raise DecodeError(query, hashing_reason(exc)) from None
    cand = verify.load_candidate(candidate)
    fit, box = locate(thumb, cand)
    aspect = cand.shape[1] / cand.shape[0]
    try:
        region = cut_region(candidate, box, aspect, size)
    except pyvips.Error as exc:
        raise DecodeError(candidate, hashing_reason(exc)) from None
    diff, gain, offset, rms = difference(thumb, region)
    diff_image = pyvips.Image.new_from_memory(
        diff.tobytes(), diff.shape[1], diff.shape[0], 1, "uchar"
    )
    return Comparison(
        x=box[0],
        y=box[1],
        w=box[2],
        h=box[3],
        ncc=fit.ncc,
        scale=fit.scale,
        detail=fit.detail,
        offset_px=fit.offset_px,
        gain=gain,
        offset=offset,
        diff_rms=rms,
        turn=turn,
        rejected=rejected_words(fit),
        thumb_jpeg=bytes(thumb_image.jpegsave_buffer(Q=JPEG_QUALITY, keep="none")),
        region_jpeg=bytes(region.jpegsave_buffer(Q=JPEG_QUALITY, keep="none")),
        diff_png=bytes(diff_image.pngsave_buffer(compression=6)),
    )
