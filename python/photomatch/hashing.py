"""Decode images with pyvips and turn them into packed dHash rows.

Hash geometry (``HASH_VERSION``; an index built with other parameters is
rebuilt, never mixed):

* The image is decoded with ``pyvips.Image.thumbnail`` to fit a
  ``DECODE_SIZE`` box (JPEG shrink-on-load, EXIF orientation applied), alpha
  flattened on white, converted to grey (``b-w``); an HEVC-coded HEIF (a phone's
  HEIC) is decoded by pillow-heif and shrunk by libvips (``heif``); a camera RAW
  is its embedded JPEG preview, or LibRaw's half-size decode when it has no
  usable one, read through rawpy (``raw``). With
  ``previews``, a camera JPEG's embedded EXIF preview, or a HEIF's stored
  thumbnail, stands in for the decode (``preview``).
* **Views** are taken from that one frame. Queries (thumbnails) have one view,
  the full frame (a uniform border trimmed first). Album photos have up to
  sixteen (``VIEW_NAMES``): the full frame, the centre square, the two
  off-centre squares along the long edge, the centre 4:3 (3:4) window when the
  frame is longer than that, five ``INNER`` windows (centre and corners), three
  16:9 bands across the long side (start, centre, end of the short one) when
  the frame is less wide than that, and three ``INNER_SQUARE`` squares along
  the long side, so that a thumbnail a web service cropped square, 4:3, 16:9
  or off-centre still lands near one (a 4:3 photo has 15; which views earn
  their rows was measured on training albums: ``benches/README.md``).
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

import contextlib
import functools
import os
import stat
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace

import numpy as np
import pyvips

from . import heif, overview, preview, raw
from .errors import DecodeError

HASH_VERSION = 5
#: uint64 words per hash row.
WORDS = 2
#: The decode fits this box; big enough for the off-centre squares to keep detail.
#: 250 rather than 256: libvips leaves at least a 2x final reduction, so for a
#: 4000-px camera JPEG 250 lets it shrink 8x while decoding (256 only 4x),
#: which takes about a fifth off the decode.
DECODE_SIZE = 250
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
    "start 16:9",
    "centre 16:9",
    "end 16:9",
    "start inner square",
    "centre inner square",
    "end inner square",
)
#: Side of the "inner" views, as a fraction of the frame's.
INNER = 0.85
#: Side of the "inner square" views, as a fraction of the frame's short side.
INNER_SQUARE = 0.87
_GRID = 9
#: Largest image decoded, in pixels (width x height, read from the file's header
#: before any pixel is decoded): a small file can declare a huge image
#: (a decompression bomb) that would take minutes or gigabytes to decode.
#: 200 MP is above any camera's frame; a bigger file is skipped, with the reason.
MAX_PIXELS = 200_000_000
#: Largest image decoded, in bytes of decoded samples (width x height x bands x
#: bytes per sample, read from the header alongside the pixel count): a small file
#: can also declare a few pixels of many bands, or of wide samples (a 12.8 MB TIFF
#: of 14000 x 14000 px x 64 bands holds 12.5 GB of samples and took minutes and
#: gigabytes to decode). 4 bytes per pixel at the pixel limit: every photo under
#: ``MAX_PIXELS`` in 8-bit RGB, RGBA or CMYK fits, and so does a 16-bit RGB scan
#: up to 133 MP (16-bit RGBA up to 100 MP).
MAX_BYTES = 4 * MAX_PIXELS
#: Bytes per sample of each libvips band format.
_SAMPLE_BYTES = {
    "uchar": 1,
    "char": 1,
    "ushort": 2,
    "short": 2,
    "uint": 4,
    "int": 4,
    "float": 4,
    "complex": 8,
    "double": 8,
    "dpcomplex": 16,
}
#: The libvips loaders photomatch lets decode a file (nicknames, without the
#: ``_source`` suffix): the raster photo formats of ``IMAGE_EXTENSIONS``. libvips
#: picks its loader from the content, not the name, and would otherwise read an
#: SVG (rendered, with the local files it references), a CSV or matrix text file,
#: a vips-format file (or PDF, FITS, OpenSlide, ImageMagick... where a libvips has
#: them) named ``.jpg``. ``uhdrload`` is libvips' loader for JPEGs carrying an
#: UltraHDR gain map, as phones write them. JPEG XL and JPEG 2000 are left out
#: with their extensions: the libvips of ``pyvips-binary`` has neither loader.
ALLOWED_LOADERS = frozenset(
    {"jpegload", "uhdrload", "pngload", "webpload", "tiffload", "heifload", "gifload"}
)
#: The reason given for a file that is not in one of those formats.
NOT_AN_IMAGE = "not an image format photomatch can read"

#: Extensions photomatch tries to decode (lower case): the formats libvips reads,
#: and the camera RAW formats (``raw.RAW_EXTENSIONS``, read by LibRaw: chosen by
#: the name, since most of them are TIFF files to libvips). Anything else in an
#: album (sidecars, ``.DS_Store``, ``Thumbs.db``, videos) is ignored.
IMAGE_EXTENSIONS = raw.RAW_EXTENSIONS | frozenset(
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
        ".hif",
        ".avif",
        ".gif",
    }
)


@dataclass(frozen=True)
class ImageHashes:
    """The hashes of one image.

    ``rows`` is uint64 ``(V, WORDS)``, one row per view; ``view_ids`` uint8
    ``(V,)`` says which (indices into ``VIEW_NAMES``);
    ``width``/``height`` are the decoded (upright, shrunk) size in pixels;
    ``overview`` the frame's overview for the coarse look (``overview.make``;
    album photos only, b"" for a query);
    ``source`` says what was hashed: ``"decode"`` (the image itself) or
    ``"preview"`` (its embedded EXIF preview, see ``preview``).
    """

    rows: np.ndarray
    view_ids: np.ndarray
    width: int
    height: int
    overview: bytes = b""
    source: str = "decode"


def is_image_name(name: str) -> bool:
    """True when ``name`` has an extension photomatch decodes (case-insensitive)."""
    dot = name.rfind(".")
    return dot > 0 and name[dot:].lower() in IMAGE_EXTENSIONS


def load_grey(
    path: str, size: int = DECODE_SIZE, also: Callable[[pyvips.Image], None] | None = None
) -> np.ndarray:
    """Decode ``path`` upright, shrunk to fit ``size`` x ``size``, as grey uint8 ``(H, W)``.

    Raises DecodeError with the reason when the file cannot be read or decoded,
    is not a regular file, is not in a format photomatch reads, or is larger than
    ``MAX_PIXELS`` or ``MAX_BYTES`` (see ``open_image``).
    Safe to call from many threads; each failure carries its own file's reason.

    ``also`` is handed the decoded image (in memory, in its own colours) before
    the grey is taken from it, for another use of the same decode (the review
    page's preview); it must not raise. The grey is the same either way.
    """
    try:
        with _ERRORS.shared(), _readable_errors():
            return _decoded_grey(_open_image(path, size), also)
    except pyvips.Error:
        pass
    # libvips keeps one error buffer for the whole process: a reason read while
    # other threads decode may be theirs, or gone. A file that failed is decoded
    # again with no other decode running, so its reason is its own. Failures are
    # rare, so this costs nothing on a healthy album.
    with _ERRORS.exclusive():
        pyvips.vips_lib.vips_error_clear()
        try:
            with _readable_errors():
                return _decoded_grey(_open_image(path, size), also)
        except pyvips.Error as exc:
            raise DecodeError(path, _reason(exc)) from None


def _decoded_grey(image: pyvips.Image, also: Callable[[pyvips.Image], None] | None) -> np.ndarray:
    """``image``'s grey array; with ``also``, ``image`` is decoded once into
    memory, handed to ``also``, and the grey taken from that copy (the same
    pixels as from the lazy image: one pipeline, stopped half-way)."""
    if also is None:
        return _to_grey_array(image)
    decoded = image.copy_memory()
    also(decoded)
    return _to_grey_array(decoded)


def open_image(path: str, size: int, fast_jpeg: bool = False) -> pyvips.Image:
    """``path`` as a lazy pyvips image, upright, shrunk on load to fit ``size`` x ``size``.

    With ``fast_jpeg``, a JPEG is decoded at the smallest scale that still
    covers the box (``jpeg_shrink``) and resized from there as libvips'
    thumbnail resizes (lanczos3): for pictures shown, not measured (other
    pixels than the index's and the check's, by a little).

    The file is opened once, by photomatch, without blocking (a FIFO or a
    device never hangs the run) and handed to libvips as a source: any file
    name works, however it is encoded, and libvips never parses options out of
    it. Only the loaders in ``ALLOWED_LOADERS`` may read it (libvips picks one
    from the content; any other format is refused before its header is parsed).
    The header is read first and an image of more than ``MAX_PIXELS`` pixels or
    ``MAX_BYTES`` bytes of samples is refused before a pixel is decoded
    (decompression bombs). Raises
    DecodeError with the reason (libvips' reason may be another thread's when
    several fail at once; ``load_grey`` guards against that).
    """
    try:
        with _readable_errors():
            return _open_image(path, size, fast_jpeg)
    except pyvips.Error as exc:
        raise DecodeError(path, _reason(exc)) from None


@contextlib.contextmanager
def _readable_errors() -> Iterator[None]:
    """Turn pyvips' failure to read libvips' error text into a ``pyvips.Error``.

    libvips' heifload quotes a damaged HEIF's box names, raw bytes, in its error
    text; pyvips decodes that text as UTF-8 and raises UnicodeDecodeError instead
    of its Error (leaving the text in libvips' buffer). The text is read here
    with undecodable bytes replaced, and the buffer cleared, as pyvips would.
    """
    try:
        yield
    except UnicodeDecodeError:
        raw = pyvips.ffi.string(pyvips.vips_lib.vips_error_buffer())
        pyvips.vips_lib.vips_error_clear()
        text = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else str(raw)
        raise pyvips.Error("unable to load from source", text or "unreadable error") from None


def _open_image(path: str, size: int, fast_jpeg: bool = False) -> pyvips.Image:
    """``open_image``, raising DecodeError for what photomatch checks, pyvips.Error for libvips."""
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
        if raw.is_raw_name(path):
            # Before libvips sees it: its tiffload would read a DNG's, CR2's or
            # NEF's first directory, a small thumbnail or undeveloped sensor data.
            return _open_raw(path, fd, size)
        # The source holds its own duplicate of the descriptor until the image is freed.
        source = pyvips.Source.new_from_descriptor(fd)
        # The loader is picked from the file's first bytes, before libvips parses
        # anything else; only an allowed one reads even the header.
        loader = _find_loader(source)
        if loader not in ALLOWED_LOADERS:
            raise DecodeError(path, NOT_AN_IMAGE)
        if loader == "heifload":
            # A cut HEIF decodes with blank tiles, or fails in libvips' header read
            # with a bare "bad seek": the reason is found before either can happen.
            truncated = heif.truncation_reason(heif.read_head(fd), st.st_size)
            if truncated:
                raise DecodeError(path, truncated)
        header = pyvips.Operation.call(loader + "_source", source, access="sequential")
        too_large = size_limit_reason(header.width, header.height, header.bands, header.format)
        if too_large:
            raise DecodeError(path, too_large)
        if loader == "heifload" and _is_hevc(header):
            return _open_hevc(path, fd, size)
        if fast_jpeg and loader == "jpegload":
            shrink = jpeg_shrink(header.width, header.height, size)
            # Random access (the default): turning it upright reads it out of order.
            image = pyvips.Image.jpegload_source(source, shrink=shrink, fail_on="truncated")
            image = image.autorot()
            scale = size / max(image.width, image.height)
            return image.resize(scale) if scale < 1.0 else image
        # fail_on goes to the loader in the option string: thumbnail_source
        # ignores its own fail_on argument (libvips 8.18), and a truncated file
        # must fail rather than hash as a grey smear.
        image = pyvips.Image.thumbnail_source(
            source, size, height=size, size="down", option_string="fail_on=truncated"
        )
        # thumbnail_source picks its loader again: a file rewritten in between
        # is refused here, still before any pixel is decoded.
        if _loader_name(image) not in ALLOWED_LOADERS:
            raise DecodeError(path, NOT_AN_IMAGE)
        return image
    finally:
        os.close(fd)


def jpeg_shrink(width: int, height: int, size: int) -> int:
    """The largest JPEG decode scale (1/1, 1/2, 1/4 or 1/8) that leaves the
    picture at least ``size`` on its long side.

    libvips' thumbnail keeps at least a factor of two for its own resize after
    the JPEG's, for sharpness: for a 320-px preview it decodes a 1,600-px photo
    at half its size and a 4,000-px one at a quarter, where a quarter and an
    eighth would do. A review page's preview needs no such margin."""
    long_side = max(width, height)
    for shrink in (8, 4, 2):
        if long_side / shrink >= size:
            return shrink
    return 1


def _is_hevc(header: pyvips.Image) -> bool:
    """True when libvips' header says the HEIF's picture is HEVC-coded (see ``heif``)."""
    return bool(header.get_typeof("heif-compression")) and header.get("heif-compression") == "hevc"


def _open_hevc(path: str, fd: int, size: int) -> pyvips.Image:
    """An HEVC-coded HEIF, decoded by pillow-heif (``heif``), upright, shrunk to fit ``size``.

    Under the same limits as every format: libvips has already read the header
    and checked its size; libheif's own header is checked again, before decoding,
    in case the two read the file differently.
    """
    # Its own descriptor: the file object closes it, and fd stays the caller's.
    with os.fdopen(os.dup(fd), "rb") as fh:
        picture = heif.open_primary(path, fh)
        bands, band_format = heif.sample_layout(picture)
        too_large = size_limit_reason(picture.size[0], picture.size[1], bands, band_format)
        if too_large:
            raise DecodeError(path, too_large)
        return heif.decode(path, picture, size)  # decoded before fh closes


def _open_raw(path: str, fd: int, size: int) -> pyvips.Image:
    """A camera RAW, decoded through rawpy (``raw``), upright, shrunk to fit ``size``.

    Under the same limits as every format, from LibRaw's header, before LibRaw
    unpacks anything: the sensor data as it would be held in memory, and the
    developed picture.
    """
    with raw.open_raw(path, fd) as picture:
        for width, height, bands, band_format in raw.sample_layouts(picture):
            too_large = size_limit_reason(width, height, bands, band_format)
            if too_large:
                raise DecodeError(path, too_large)
        return raw.decode(path, picture, size)


def size_limit_reason(width: int, height: int, bands: int, band_format: str) -> str | None:
    """Why an image of this header is too large to decode (``MAX_PIXELS``,
    ``MAX_BYTES``), or None when it is within both limits."""
    pixels = width * height
    if pixels > MAX_PIXELS:
        return (
            f"image too large: {width}x{height} px ({pixels / 1e6:.0f} MP) "
            f"is over the {MAX_PIXELS / 1e6:.0f} MP limit"
        )
    sample = _SAMPLE_BYTES.get(band_format, 16)  # a format unknown here: the widest
    total = pixels * bands * sample
    if total > MAX_BYTES:
        size = f"{total / 1e9:.1f} GB" if total >= 1e9 else f"{total / 1e6:.0f} MB"
        return (
            f"image too large: {width}x{height} px x {bands} band{'s' * (bands != 1)} "
            f"x {sample} byte{'s' * (sample != 1)} ({size}) "
            f"is over the {MAX_BYTES / 1e6:.0f} MB limit"
        )
    return None


def _find_loader(source: pyvips.Source) -> str:
    """The loader libvips would use for ``source`` (nickname without ``_source``),
    from its first bytes; raises pyvips.Error with libvips' reason when none would."""
    found = pyvips.vips_lib.vips_foreign_find_load_source(source.pointer)
    if found == pyvips.ffi.NULL:
        raise pyvips.Error("unable to load from source")
    nickname: str = pyvips.nickname_find(pyvips.type_from_name(pyvips.ffi.string(found).decode()))
    return nickname.removesuffix("_source")


def _loader_name(image: pyvips.Image) -> str | None:
    """The loader that made ``image`` (its ``vips-loader``), without ``_source``."""
    if not image.get_typeof("vips-loader"):
        return None
    return str(image.get("vips-loader")).removesuffix("_source")


class _ErrorGate:
    """Many threads decode at once (``shared``); one retries a failure alone (``exclusive``)."""

    def __init__(self) -> None:
        self._changed = threading.Condition()
        self._active = 0
        self._exclusive = False

    @contextlib.contextmanager
    def shared(self) -> Iterator[None]:
        with self._changed:
            while self._exclusive:
                self._changed.wait()
            self._active += 1
        try:
            yield
        finally:
            with self._changed:
                self._active -= 1
                self._changed.notify_all()

    @contextlib.contextmanager
    def exclusive(self) -> Iterator[None]:
        with self._changed:
            while self._exclusive:
                self._changed.wait()
            self._exclusive = True
            while self._active:
                self._changed.wait()
        try:
            yield
        finally:
            with self._changed:
                self._exclusive = False
                self._changed.notify_all()


_ERRORS = _ErrorGate()


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
                return NOT_AN_IMAGE
            return line[:300]
    return type(exc).__name__


def dhash_words(view: np.ndarray) -> np.ndarray:
    """The ``WORDS`` uint64 words of one grey view (see module doc for bit order)."""
    view = np.asarray(view)
    row: np.ndarray = _dhash_rows(view, [(0, 0, view.shape[0], view.shape[1])])[0]
    return row


def _dhash_rows(grey: np.ndarray, boxes: list[tuple[int, int, int, int]]) -> np.ndarray:
    """uint64 ``(V, WORDS)`` dHash rows of the ``(top, left, height, width)`` boxes of ``grey``.

    Every box's 9x9 grid comes from one summed-area table of the frame: the
    integral of a pixel grid is bilinear inside each pixel, so interpolating
    the table at the grid's fractional corners gives exact box sums, the same
    area averages as ``verify.area_resize`` (to rounding), in a few numpy calls for
    all views together rather than dozens per view (which held the GIL).
    """
    h, w = grey.shape
    # Exact integer sums for integer pixels. Both passes run along rows, with a
    # transpose between them: numpy's cumsum down columns is several times slower.
    acc = np.int64 if grey.dtype.kind in "biu" else np.float64
    sat = np.zeros((h + 1, w + 1), dtype=acc)
    np.cumsum(grey, axis=1, dtype=acc, out=sat[1:, 1:])
    sat = np.ascontiguousarray(sat.T)
    np.cumsum(sat, axis=1, out=sat)
    sat = sat.T  # sat[y, x] is the sum of grey[:y, :x]
    y0, y1, fy, dy, x0, x1, fx, dx = _grid_geometry(h, w, tuple(boxes))
    top = sat[y0, x0] + fx * (sat[y0, x1] - sat[y0, x0])
    bottom = sat[y1, x0] + fx * (sat[y1, x1] - sat[y1, x0])
    corners = top + fy * (bottom - top)  # (V, 10, 10) integrals from the frame's corner
    sums = np.diff(np.diff(corners, axis=1), axis=2)
    # In steps of 1/65536 grey level (float32's at 128-255, which verify.area_resize
    # returns): interpolating the table's large sums leaves ~1e-9 of noise, which
    # must not split cells of equal content (a black sky) into a gradient.
    grid = np.rint(sums / (dy[:, :, None] * dx[:, None, :]) * 65536.0)
    horizontal = grid[:, :8, 1:] > grid[:, :8, :-1]
    vertical = grid[:, 1:, :8] > grid[:, :-1, :8]
    bits = np.stack([horizontal, vertical], axis=1).reshape(len(boxes), WORDS, 64)
    packed = np.packbits(bits, axis=-1)  # MSB-first bytes, (V, WORDS, 8)
    return np.ascontiguousarray(packed).view(">u8").reshape(len(boxes), WORDS).astype(np.uint64)


@functools.lru_cache(maxsize=256)
def _grid_geometry(
    h: int, w: int, boxes: tuple[tuple[int, int, int, int], ...]
) -> tuple[np.ndarray, ...]:
    """The grid corners of ``boxes`` in an h x w frame, broadcast for ``_dhash_rows``.

    Cached: an album's frames come in a few shapes (every 160 x 120 camera preview,
    every 4000 x 3000 photo shrunk to 250 px), and for a small frame working out
    the geometry costs as much as the sums themselves.
    """
    b = np.array(boxes, dtype=np.intp).reshape(-1, 4)
    y0, y1, fy, dy = _grid_corners(b[:, 0], b[:, 2], h)
    x0, x1, fx, dx = _grid_corners(b[:, 1], b[:, 3], w)
    out = (
        y0[:, :, None],
        y1[:, :, None],
        fy[:, :, None],
        dy,
        x0[:, None, :],
        x1[:, None, :],
        fx[:, None, :],
        dx,
    )
    for a in out:
        a.flags.writeable = False  # shared between calls and threads
    return out


def _grid_corners(
    start: np.ndarray, length: np.ndarray, n: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Per box along one axis: the table indices below and above each of the
    ``_GRID + 1`` cell edges, the edge's fraction between them, and the cell widths."""
    edges = np.linspace(0.0, length, _GRID + 1, axis=-1)  # (V, 10), as verify.area_resize's
    lo = np.floor(edges)
    below = start[:, None] + lo.astype(np.intp)
    above = np.minimum(below + 1, n)
    return below, above, edges - lo, np.maximum(np.diff(edges, axis=-1), 1e-9)


def crop_views(grey: np.ndarray, album: bool) -> list[tuple[int, np.ndarray]]:
    """The views of a decoded frame as ``(index into VIEW_NAMES, pixels)`` (see module doc)."""
    h, w = grey.shape
    return [
        (view, grey[top : top + height, left : left + width])
        for view, (top, left, height, width) in _view_boxes(h, w, album)
    ]


def _view_boxes(h: int, w: int, album: bool) -> list[tuple[int, tuple[int, int, int, int]]]:
    """``(index into VIEW_NAMES, (top, left, height, width))`` of the views of an h x w frame."""
    views = [(0, (0, 0, h, w))]
    if not album:
        return views
    side = min(h, w)
    if max(h, w) - side >= 2:
        if w > h:
            x = (w - side) // 2
            views += [(1, (0, x, h, side)), (2, (0, 0, h, side)), (3, (0, w - side, h, side))]
            wide = round(h * 4 / 3)
            if w > wide * 1.03:
                views.append((4, (0, (w - wide) // 2, h, wide)))
        else:
            y = (h - side) // 2
            views += [(1, (y, 0, side, w)), (2, (0, 0, side, w)), (3, (h - side, 0, side, w))]
            tall = round(w * 4 / 3)
            if h > tall * 1.03:
                views.append((4, ((h - tall) // 2, 0, tall, w)))
    # Inner windows: a thumbnail cropped off-centre by 5-20% lands near one of them.
    ih, iw = round(h * INNER), round(w * INNER)
    for view, (top, left) in enumerate(
        [((h - ih) // 2, (w - iw) // 2), (0, 0), (0, w - iw), (h - ih, 0), (h - ih, w - iw)], 5
    ):
        views.append((view, (top, left, ih, iw)))
    # Wide crops (16:9, turned to follow the frame) across the long side, at the
    # start, centre and end of the short one: a banner or video-style thumbnail.
    long_side, short_side = max(h, w), min(h, w)
    band = round(long_side * 9 / 16)
    if short_side - band >= 2 and short_side > band * 1.03:
        for view, start in enumerate((0, (short_side - band) // 2, short_side - band), 10):
            views.append((view, (start, 0, band, w) if w >= h else (0, start, h, band)))
    # Squares a little inside the short side along the long one: a square crop
    # that a service also tightened (smart crops keep 80-95% of the largest box).
    side = round(short_side * INNER_SQUARE)
    if long_side - side >= 2 and long_side > short_side * 1.03:
        inset = (short_side - side) // 2
        for view, start in enumerate((0, (long_side - side) // 2, long_side - side), 13):
            top, left = (inset, start) if w >= h else (start, inset)
            views.append((view, (top, left, side, side)))
    return views


def trim_border(grey: np.ndarray, tolerance: float = 12.0) -> np.ndarray:
    """Strip a uniform frame that a web service added around a thumbnail.

    Only a frame on all four sides, of one colour, is taken for one (a photo
    with plain sky at the top keeps its sky); at most half of each dimension
    goes, shared between its two sides as the frame needs (a print's mount is
    thicker at the bottom: up to four times its sides, a third of a landscape
    thumbnail's height). A line belongs to the frame when nearly all its pixels
    are within ``tolerance`` of the frame colour (JPEG ringing spoils a few).
    """
    g = grey.astype(np.float32)
    edges = [g[0], g[-1], g[:, 0], g[:, -1]]
    ref = float(np.median(np.concatenate(edges)))

    def flat(line: np.ndarray) -> bool:
        return float(np.mean(np.abs(line - ref) <= tolerance)) >= 0.95

    if not all(flat(e) for e in edges):
        return grey
    top, bottom, left, right = 0, grey.shape[0], 0, grey.shape[1]
    limit_y, limit_x = grey.shape[0] // 2, grey.shape[1] // 2
    # A line from each side in turn, so that a flat picture (a white backdrop)
    # loses as much at each end rather than all of it at one.
    more = True
    while more and top + grey.shape[0] - bottom < limit_y:
        more = False
        if flat(g[top, left:right]):
            top, more = top + 1, True
        if top + grey.shape[0] - bottom < limit_y and flat(g[bottom - 1, left:right]):
            bottom, more = bottom - 1, True
    more = True
    while more and left + grey.shape[1] - right < limit_x:
        more = False
        if flat(g[top:bottom, left]):
            left, more = left + 1, True
        if left + grey.shape[1] - right < limit_x and flat(g[top:bottom, right - 1]):
            right, more = right - 1, True
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
    grey = np.asarray(grey)
    views = _view_boxes(grey.shape[0], grey.shape[1], album)
    rows = _dhash_rows(grey, [box for _, box in views])
    view_ids = np.array([i for i, _ in views], dtype=np.uint8)
    small = overview.make(grey) if album else b""
    return ImageHashes(rows, view_ids, grey.shape[1], grey.shape[0], small)


def hash_file(path: str, album: bool = True, previews: bool = False) -> ImageHashes:
    """Decode and hash one image file. Raises DecodeError when it can't be read.

    With ``previews``, a JPEG's embedded EXIF preview or a HEIF's stored thumbnail
    is hashed instead of the image when it is there and shows the image's frame
    (``preview.read_preview``);
    the result's ``source`` says which was used.
    """
    if previews:
        grey = preview.read_preview(path, MAX_PIXELS, DECODE_SIZE)
        if grey is not None:
            hashes = hash_grey(grey, album)
            return replace(hashes, source="preview")
    grey = load_grey(path)
    if grey.shape[0] < 4 or grey.shape[1] < 4:
        raise DecodeError(path, f"image too small to hash ({grey.shape[1]}x{grey.shape[0]} px)")
    return hash_grey(grey, album)
