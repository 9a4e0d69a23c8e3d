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
import os
import stat
from dataclasses import dataclass

import numpy as np
import pyvips

from .errors import DecodeError

HASH_VERSION = 3
#: uint64 words per hash row.
WORDS = 2
#: The decode fits this box; big enough for the off-centre squares to keep detail.
DECODE_SIZE = 256
#: View names, in the order album rows store them.
VIEW_NAMES = (
    "full",
    "centre square",
    "start square",
    "end square",
    "centre 4:3",
    "inner",
    "inner top-left",
    "inner top-right",
    "inner bottom-left",
    "inner bottom-right",
)
#: Side of the "inner" views, as a fraction of the frame's.
INNER = 0.85
_GRID = 9
#: Largest image decoded, in pixels (width x height, read from the file's header
#: before any pixel is decoded): a small file can declare a huge image
#: (a decompression bomb) that would take minutes or gigabytes to decode.
#: 200 MP is above any camera's frame; a bigger file is skipped, with the reason.
MAX_PIXELS = 200_000_000

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

    ``rows`` is uint64 ``(V, WORDS)``, one row per view; ``view_ids`` uint8
    ``(V,)`` says which (indices into ``VIEW_NAMES``);
    ``width``/``height`` are the decoded (upright, shrunk) size in pixels.
    """

    rows: np.ndarray
    view_ids: np.ndarray
    width: int
    height: int


def is_image_name(name: str) -> bool:
    """True when ``name`` has an extension photomatch decodes (case-insensitive)."""
    dot = name.rfind(".")
    return dot > 0 and name[dot:].lower() in IMAGE_EXTENSIONS


def load_grey(path: str, size: int = DECODE_SIZE) -> np.ndarray:
    """Decode ``path`` upright, shrunk to fit ``size`` x ``size``, as grey uint8 ``(H, W)``.

    Raises DecodeError with the reason when the file cannot be read or decoded,
    is not a regular file, or is larger than ``MAX_PIXELS`` (see ``open_image``).
    """
    image = open_image(path, size)
    try:
        return _to_grey_array(image)
    except pyvips.Error as exc:
        raise DecodeError(path, _reason(exc)) from None


def open_image(path: str, size: int) -> pyvips.Image:
    """``path`` as a lazy pyvips image, upright, shrunk on load to fit ``size`` x ``size``.

    The file is opened once, by photomatch, without blocking (a FIFO or a
    device never hangs the run) and handed to libvips as a source: any file
    name works, however it is encoded, and libvips never parses options out of
    it. The header is read first and an image of more than ``MAX_PIXELS``
    pixels is refused before a pixel is decoded (decompression bombs). Raises
    DecodeError with the reason.
    """
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    except OSError as exc:
        raise DecodeError(path, exc.strerror or str(exc)) from None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            kind = "a folder" if stat.S_ISDIR(st.st_mode) else "a pipe, device or socket"
            raise DecodeError(path, f"not a regular file ({kind})")
        if st.st_size == 0:
            raise DecodeError(path, "empty file (0 bytes)")
        # The source holds its own duplicate of the descriptor until the image is freed.
        source = pyvips.Source.new_from_descriptor(fd)
        header = pyvips.Image.new_from_source(source, "", access="sequential")
        pixels = header.width * header.height
        if pixels > MAX_PIXELS:
            raise DecodeError(
                path,
                f"image too large: {header.width}x{header.height} px ({pixels / 1e6:.0f} MP) "
                f"is over the {MAX_PIXELS / 1e6:.0f} MP limit",
            )
        # fail_on goes to the loader in the option string: thumbnail_source
        # ignores its own fail_on argument (libvips 8.18), and a truncated file
        # must fail rather than hash as a grey smear.
        return pyvips.Image.thumbnail_source(
            source, size, height=size, size="down", option_string="fail_on=truncated"
        )
    except pyvips.Error as exc:
        raise DecodeError(path, _reason(exc)) from None
    finally:
        os.close(fd)


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
    # ``message`` is the failing operation ("unable to load from source"); ``detail``
    # holds libvips' own error lines, the first of which names the cause.
    for line in f"{exc.detail or ''}\n{exc.message or ''}".splitlines():
        line = line.strip()
        if line:
            if line.endswith("is not in a known format"):
                return "not an image format photomatch can read"
            return line[:300]
    return type(exc).__name__


def area_resize(grey: np.ndarray, out_h: int, out_w: int, scale: float | None = None) -> np.ndarray:
    """Area-average ``grey`` (H, W) to float32 ``(out_h, out_w)``.

    Exact box averaging with fractional pixel edges, one axis at a time, from
    cumulative sums (the integral of a pixel grid is linear inside each pixel).
    Without ``scale`` the whole image maps onto the output (each axis stretched
    as its rounding requires); with it, both axes shrink by exactly ``scale``
    from the top-left corner, and ``out_h`` x ``out_w`` must fit inside. Free
    of BLAS calls, whose thread pools stall on small matrices when cores are busy.
    """
    a = np.asarray(grey, dtype=np.float64)
    a = _area_axis(a, out_h, 0, scale)
    return _area_axis(a, out_w, 1, scale).astype(np.float32)


def _area_axis(a: np.ndarray, n_out: int, axis: int, scale: float | None) -> np.ndarray:
    n_in = a.shape[axis]
    if n_in == n_out and scale in (None, 1.0):
        return a
    cum = np.concatenate(
        [np.zeros_like(a.take([0], axis=axis)), np.cumsum(a, axis=axis)], axis=axis
    )
    lo, frac, width = _area_edges(n_in, n_out, scale)
    shape = [1] * a.ndim
    shape[axis] = n_out + 1
    # Integral up to each edge: whole pixels, plus the covered part of the next one.
    nxt = np.minimum(lo + 1, n_in)
    at_edges = cum.take(lo, axis=axis) + frac.reshape(shape) * (
        cum.take(nxt, axis=axis) - cum.take(lo, axis=axis)
    )
    shape[axis] = n_out
    return np.diff(at_edges, axis=axis) / width.reshape(shape)


@functools.lru_cache(maxsize=1024)
def _area_edges(
    n_in: int, n_out: int, scale: float | None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    # Cached: the same few sizes recur for every image.
    if scale is None:
        edges = np.linspace(0.0, n_in, n_out + 1)
    else:
        edges = np.minimum(np.arange(n_out + 1) / scale, n_in)
    lo = np.minimum(np.floor(edges).astype(np.intp), n_in)
    return lo, edges - lo, np.maximum(np.diff(edges), 1e-9)


def dhash_words(view: np.ndarray) -> np.ndarray:
    """The ``WORDS`` uint64 words of one grey view (see module doc for bit order)."""
    grid = area_resize(view, _GRID, _GRID)
    horizontal = grid[:8, 1:] > grid[:8, :-1]
    vertical = grid[1:, :8] > grid[:-1, :8]
    return np.array([_pack(horizontal), _pack(vertical)], dtype=np.uint64)


def _pack(bits: np.ndarray) -> np.uint64:
    packed = np.packbits(bits.reshape(-1).astype(np.uint8))  # MSB-first bytes
    return np.frombuffer(packed.tobytes(), dtype=">u8")[0].astype(np.uint64)


def crop_views(grey: np.ndarray, album: bool) -> list[tuple[int, np.ndarray]]:
    """The views of a decoded frame as ``(index into VIEW_NAMES, pixels)`` (see module doc)."""
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
    # Inner windows: a thumbnail cropped off-centre by 5-20% lands near one of them.
    ih, iw = round(h * INNER), round(w * INNER)
    for view, (top, left) in enumerate(
        [((h - ih) // 2, (w - iw) // 2), (0, 0), (0, w - iw), (h - ih, 0), (h - ih, w - iw)], 5
    ):
        views.append((view, grey[top : top + ih, left : left + iw]))
    return views


def trim_border(grey: np.ndarray, tolerance: float = 12.0) -> np.ndarray:
    """Strip a uniform frame that a web service added around a thumbnail.

    Only a frame on all four sides, of one colour, is taken for one (a photo
    with plain sky at the top keeps its sky); at most a quarter of each side
    goes. A line belongs to the frame when nearly all its pixels are within
    ``tolerance`` of the frame colour (JPEG ringing spoils a few).
    """
    g = grey.astype(np.float32)
    edges = [g[0], g[-1], g[:, 0], g[:, -1]]
    ref = float(np.median(np.concatenate(edges)))

    def flat(line: np.ndarray) -> bool:
        return float(np.mean(np.abs(line - ref) <= tolerance)) >= 0.95

    if not all(flat(e) for e in edges):
        return grey
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
    framed = min(top, left, grey.shape[0] - bottom, grey.shape[1] - right) > 0
    if not framed:
        return grey[top:bottom, left:right]
    # Frames are even: JPEG ringing, not the frame, makes opposite sides differ
    # by a line or two. Cut alike on both, and 2 more lines for the ringing,
    # which keeps the picture centred to the pixel.
    ring = 2
    tb = max(top, grey.shape[0] - bottom)
    lr = max(left, grey.shape[1] - right)
    if abs(top - (grey.shape[0] - bottom)) <= 3:
        top, bottom = tb, grey.shape[0] - tb
    if abs(left - (grey.shape[1] - right)) <= 3:
        left, right = lr, grey.shape[1] - lr
    return grey[top + ring : bottom - ring, left + ring : right - ring]


def hash_grey(grey: np.ndarray, album: bool) -> ImageHashes:
    """Hash an upright grey frame: album photos get all views, queries the full frame.

    A query's uniform frame (a border a web service added) is trimmed first.
    """
    if not album:
        grey = trim_border(grey)
    views = crop_views(grey, album)
    rows = np.stack([dhash_words(v) for _, v in views])
    view_ids = np.array([i for i, _ in views], dtype=np.uint8)
    return ImageHashes(rows=rows, view_ids=view_ids, width=grey.shape[1], height=grey.shape[0])


def hash_file(path: str, album: bool = True) -> ImageHashes:
    """Decode and hash one image file. Raises DecodeError when it can't be read."""
    grey = load_grey(path)
    if grey.shape[0] < 4 or grey.shape[1] < 4:
        raise DecodeError(path, f"image too small to hash ({grey.shape[1]}x{grey.shape[0]} px)")
    return hash_grey(grey, album)
