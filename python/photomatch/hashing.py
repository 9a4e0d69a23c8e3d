"""Decode images with pyvips and turn them into packed dHash rows.

Hash geometry (``HASH_VERSION`` 1; an index built with other parameters is
rebuilt, never mixed):

* The image is decoded with ``pyvips.Image.thumbnail`` to fit a
  ``DECODE_SIZE`` box (JPEG shrink-on-load, EXIF orientation applied), alpha
  flattened on white, converted to grey (``b-w``).
* **Views** are taken from that one decode. Queries (thumbnails) have one view,
  the full frame. Album photos have up to five: the full frame, the centre
  square, the two off-centre squares along the long edge (left/right for a
  landscape frame, top/bottom for a portrait one), and the centre 4:3 (3:4)
  window when the frame is longer than that, so that a thumbnail that a web
  service cropped square or 4:3 still finds its original. A square photo has
  only the full frame.
* Each view is area-averaged to a 9x9 grey grid ``g``. Word 0 holds the
  horizontal gradient signs ``g[r, c+1] > g[r, c]`` for rows 0..7, columns
  0..7; word 1 the vertical ones ``g[r+1, c] > g[r, c]`` for rows 0..7,
  columns 0..7. Bits are MSB-first in row-major order: bit 63 of a word is
  ``(r=0, c=0)``, bit 0 is ``(r=7, c=7)`` (imagehash's dHash order).
* Finer comparisons decode the few candidates again (``verify``): a stored
  signature small enough to keep for a million photos cannot tell burst frames
  a percent apart.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np
import pyvips

from .errors import DecodeError

HASH_VERSION = 2
#: uint64 words per hash row.
WORDS = 2
#: The decode fits this box; big enough for the off-centre squares to keep detail.
DECODE_SIZE = 256
#: View names, in the order album rows store them.
VIEW_NAMES = ("full", "centre", "start", "end", "centre 4:3")
_GRID = 9

#: Extensions photomatch tries to decode (lower case). Anything else in an album
#: (sidecars, ``.DS_Store``, ``Thumbs.db``, videos) is ignored.
IMAGE_EXTENSIONS = frozenset(
    {
        ".jpg",
        ".jpeg",
        ".jpe",
        ".jfif",
        ".png",
        ".tif",
        ".tiff",
        ".webp",
        ".heic",
        ".heif",
        ".avif",
        ".gif",
    }
)


@dataclass(frozen=True)
class ImageHashes:
    """The hashes of one image.

    ``rows`` is uint64 ``(V, WORDS)``, one row per view in ``VIEW_NAMES``
    order;
    ``width``/``height`` are the decoded (upright, shrunk) size in pixels.
    """

    rows: np.ndarray
    width: int
    height: int


def is_image_name(name: str) -> bool:
    """True when ``name`` has an extension photomatch decodes (case-insensitive)."""
    dot = name.rfind(".")
    return dot > 0 and name[dot:].lower() in IMAGE_EXTENSIONS


def load_grey(path: str, size: int = DECODE_SIZE) -> np.ndarray:
    """Decode ``path`` upright, shrunk to fit ``size`` x ``size``, as grey uint8 ``(H, W)``.

    Raises DecodeError with the reason when libvips cannot read the file.
    """
    try:
        image = pyvips.Image.thumbnail(path, size, height=size, size="down", fail_on="truncated")
        return _to_grey_array(image)
    except pyvips.Error as exc:
        raise DecodeError(path, _reason(exc)) from None


def grey_from_image(image: pyvips.Image) -> np.ndarray:
    """Grey uint8 array of an already-decoded pyvips image (no resizing)."""
    return _to_grey_array(image)


def _to_grey_array(image: pyvips.Image) -> np.ndarray:
    if image.hasalpha():
        image = image.flatten(background=255)
    image = image.colourspace("b-w")
    if image.bands > 1:
        image = image[0]
    if image.format != "uchar":
        # 16-bit greys come out of b-w as ushort; float images as 0..1.
        scale = 1 / 256 if image.interpretation == "grey16" else 1.0
        image = (image * scale).cast("uchar")
    data = image.write_to_memory()
    return np.frombuffer(data, dtype=np.uint8).reshape(image.height, image.width)


def _reason(exc: pyvips.Error) -> str:
    # ``message`` is the failing operation ("unable to write to memory"); ``detail``
    # holds libvips' own error lines, the first of which names the cause.
    for line in f"{exc.detail or ''}\n{exc.message or ''}".splitlines():
        if line.strip():
            return line.strip()[:300]
    return type(exc).__name__


def area_resize(grey: np.ndarray, out_h: int, out_w: int) -> np.ndarray:
    """Area-average ``grey`` (H, W) to float32 ``(out_h, out_w)``.

    Exact box averaging with fractional pixel weights, as two small matrix
    products; stable under the tiny shifts a recompression causes.
    """
    rows = _area_weights(grey.shape[0], out_h)
    cols = _area_weights(grey.shape[1], out_w)
    return (rows @ grey.astype(np.float32) @ cols.T).astype(np.float32)


@functools.lru_cache(maxsize=1024)
def _area_weights(n_in: int, n_out: int) -> np.ndarray:
    # Cached: the same few sizes recur for every image (returned read-only).
    edges = np.linspace(0.0, n_in, n_out + 1)
    starts = np.arange(n_in, dtype=np.float64)
    lo = np.maximum(edges[:-1, None], starts[None, :])
    hi = np.minimum(edges[1:, None], starts[None, :] + 1)
    weights = np.clip(hi - lo, 0.0, None)
    out = (weights / weights.sum(axis=1, keepdims=True)).astype(np.float32)
    out.flags.writeable = False
    return out


def dhash_words(view: np.ndarray) -> np.ndarray:
    """The ``WORDS`` uint64 words of one grey view (see module doc for bit order)."""
    grid = area_resize(view, _GRID, _GRID)
    horizontal = grid[:8, 1:] > grid[:8, :-1]
    vertical = grid[1:, :8] > grid[:-1, :8]
    return np.array([_pack(horizontal), _pack(vertical)], dtype=np.uint64)


def _pack(bits: np.ndarray) -> np.uint64:
    packed = np.packbits(bits.reshape(-1).astype(np.uint8))  # MSB-first bytes
    return np.frombuffer(packed.tobytes(), dtype=">u8")[0].astype(np.uint64)


def crop_views(grey: np.ndarray, album: bool) -> list[np.ndarray]:
    """The views of a decoded frame, in ``VIEW_NAMES`` order (see module doc)."""
    views = [grey]
    if not album:
        return views
    h, w = grey.shape
    side = min(h, w)
    if max(h, w) - side < 2:
        return views
    if w > h:
        views += [
            grey[:, (w - side) // 2 : (w - side) // 2 + side],
            grey[:, :side],
            grey[:, w - side :],
        ]
        wide = round(h * 4 / 3)
        if w > wide * 1.03:
            views.append(grey[:, (w - wide) // 2 : (w - wide) // 2 + wide])
    else:
        views += [
            grey[(h - side) // 2 : (h - side) // 2 + side, :],
            grey[:side, :],
            grey[h - side :, :],
        ]
        tall = round(w * 4 / 3)
        if h > tall * 1.03:
            views.append(grey[(h - tall) // 2 : (h - tall) // 2 + tall, :])
    return views


def trim_border(grey: np.ndarray, tolerance: float = 6.0) -> np.ndarray:
    """Strip a uniform frame that a web service added around a thumbnail.

    Only a frame on all four sides, of one colour, is taken for one (a photo
    with plain sky at the top keeps its sky); at most a quarter of each side goes.
    """
    g = grey.astype(np.float32)
    edges = [g[0], g[-1], g[:, 0], g[:, -1]]
    ref = float(np.median(np.concatenate(edges)))
    if any(float(np.abs(e - ref).max()) > tolerance for e in edges):
        return grey

    def flat(line: np.ndarray) -> bool:
        return float(np.abs(line - ref).max()) <= tolerance

    top, bottom, left, right = 0, grey.shape[0], 0, grey.shape[1]
    limit_y, limit_x = grey.shape[0] // 4, grey.shape[1] // 4
    while top < limit_y and flat(g[top, left:right]):
        top += 1
    while grey.shape[0] - bottom < limit_y and flat(g[bottom - 1, left:right]):
        bottom -= 1
    while left < limit_x and flat(g[top:bottom, left]):
        left += 1
    while grey.shape[1] - right < limit_x and flat(g[top:bottom, right - 1]):
        right -= 1
    return grey[top:bottom, left:right]


def hash_grey(grey: np.ndarray, album: bool) -> ImageHashes:
    """Hash an upright grey frame: album photos get all views, queries the full frame.

    A query's uniform frame (a border a web service added) is trimmed first.
    """
    if not album:
        grey = trim_border(grey)
    views = crop_views(grey, album)
    rows = np.stack([dhash_words(v) for v in views])
    return ImageHashes(rows=rows, width=grey.shape[1], height=grey.shape[0])


def hash_file(path: str, album: bool = True) -> ImageHashes:
    """Decode and hash one image file. Raises DecodeError when it can't be read."""
    grey = load_grey(path)
    if grey.shape[0] < 4 or grey.shape[1] < 4:
        raise DecodeError(path, f"image too small to hash ({grey.shape[1]}x{grey.shape[0]} px)")
    return hash_grey(grey, album)
