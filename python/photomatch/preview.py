"""Embedded previews: the small picture a camera stores inside its JPEG, or a phone in its HEIC.

Most camera and phone JPEGs carry a thumbnail in EXIF IFD1, typically 160 x 120,
JPEG-compressed, in the sensor's orientation (before the Orientation tag is
applied) and letterboxed with black bands when the photo is not 4:3. Reading it
costs a header parse and a tiny decode, a fraction of a millisecond, where
decoding the photo itself costs tens of milliseconds: indexing from previews is
the fast path for big albums.

A preview is used only when it can be trusted to show the photo's own frame:
after removing uniform bands, its aspect must agree with the photo's stored
dimensions. It can still be stale (an editor changed the pixels and kept the
old preview); matching therefore confirms every answer on the real pixels
(``verify``), so a stale preview can cost a match but never make a wrong one.

Pillow reads the header and decodes the preview: it parses EXIF lazily and
decodes a 160-px JPEG in about 0.1 ms, where each libvips pipeline has a fixed
cost of about 0.5 ms, more than this whole path.

A HEIF (``.heic``, ``.heif``, ``.hif``) stores its thumbnail as an image item of
its own, typically 320 x 240 HEVC on a phone: pillow-heif decodes it in a few
milliseconds, where the 12-MP picture takes several hundred (``heif``). The same
rules apply: turned upright (``heif.stored_thumbnail``), bands removed, aspect
checked against the picture's, every answer confirmed on the real pixels.

Indexing reads JPEG previews in batches without Python (``hash_jpeg_previews``:
``photomatch._core.preview_hashes``, rust/preview.rs): header, EXIF, preview
decode (libjpeg-turbo, as Pillow), bands, orientation and the hash rows, on all
cores, with the GIL released. It accepts a preview only where it is sure
``read_preview`` would, with the same pixels, hence the same rows; a file it
declines goes through ``read_preview`` (and, declined there too, the decode)
as before. HEIF thumbnails stay on the Python path.

A camera RAW's embedded JPEG preview is not a fast path here: it is what
photomatch takes for the RAW's pixels everywhere (``raw``), so the decode itself
reads it, with or without previews, and the pixel check sees the same picture.
"""

from __future__ import annotations

import io
import os
import stat
import threading
import warnings
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np
from PIL import ExifTags, Image, JpegImagePlugin

from . import _core, heif

#: Extensions whose files may carry an EXIF preview photomatch reads (lower case).
JPEG_EXTENSIONS = frozenset({".jpg", ".jpeg", ".jpe", ".jfif"})
#: Extensions whose files may carry a HEIF stored thumbnail photomatch reads (lower case).
HEIF_EXTENSIONS = frozenset({".heic", ".heif", ".hif"})
#: How far the preview's aspect (bands removed) may stray from the photo's.
ASPECT_TOLERANCE = 0.03
#: Smallest usable preview, short and long side in pixels once bands are removed:
#: the hash's inner views need some 60 px; a 16:9 photo's 160 x 90 still qualifies.
MIN_SHORT_SIDE = 60
MIN_LONG_SIDE = 120
#: Largest embedded preview decoded, in pixels. An EXIF preview lives in one APP1
#: segment (at most 64 KB): real ones are 160 x 120 to 640 x 480. A bigger one is
#: a file declaring what it does not hold, and libjpeg would size its buffers
#: from that declaration (a progressive JPEG keeps every coefficient of the full
#: size, whatever the scale it is decoded at), so it is not decoded.
MAX_PREVIEW_PIXELS = 4_000_000
#: A band is uniform when its pixels stray from their median by at most this many
#: grey levels on average (JPEG ringing from the picture reaches into the band).
BAND_DEVIATION = 6.0
#: EXIF tags: Orientation (IFD0); JPEGInterchangeFormat and its length (IFD1).
_ORIENTATION, _THUMB_OFFSET, _THUMB_LENGTH = 0x0112, 0x0201, 0x0202
#: EXIF Orientation to the transposition that makes the picture upright.
_UPRIGHT = {
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}

#: Held while Pillow parses a JPEG header and its EXIF for photomatch: the
#: warnings filters are process-wide, so only one thread at a time may swap
#: them. The parsing is Python code (it holds the GIL anyway) and reads only the
#: header's few kilobytes; no decoding waits on this lock.
_QUIET_LOCK = threading.Lock()


@contextmanager
def quiet_exif() -> Iterator[None]:
    """Silence Pillow's warnings about damaged EXIF inside this block only.

    A big album always has such a file: its preview is declined (or the file
    decoded), never trusted blindly, so the warning would only be noise. The
    host program's own filters are restored on the way out.
    """
    with _QUIET_LOCK, warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=UserWarning, module=r"PIL\.TiffImagePlugin")
        yield


def has_preview_extension(path: str) -> bool:
    ext = os.path.splitext(path)[1].lower()
    return ext in JPEG_EXTENSIONS or ext in HEIF_EXTENSIONS


@dataclass(frozen=True)
class PreviewRows:
    """The hash rows of one file's embedded preview, as the index stores them.

    ``rows`` is the ``(V, WORDS)`` uint64 rows as little-endian bytes,
    ``view_ids`` one byte per view (indices into ``hashing.VIEW_NAMES``),
    ``width``/``height`` the upright preview's size (bands removed), in pixels,
    ``overview`` its overview for the coarse look (``overview.make``).
    """

    rows: bytes
    view_ids: bytes
    width: int
    height: int
    overview: bytes


def hash_jpeg_previews(
    paths: Sequence[str], max_pixels: int, box: int, threads: int = 0
) -> list[PreviewRows | None]:
    """The album hash rows of each JPEG's embedded EXIF preview, or None per file.

    The same rows and overview as ``hashing.hash_grey(read_preview(path,
    max_pixels, box), album=True)``, computed in Rust for the whole batch with the GIL released
    (``threads``: 0 every core, as the search kernels; n that many). None where
    the native path declines a file: not a JPEG name, no preview, or anything it
    is not sure to read exactly as ``read_preview`` does; the caller then runs
    ``read_preview`` for that file, which decides as it always has.
    """
    todo = [i for i, p in enumerate(paths) if os.path.splitext(p)[1].lower() in JPEG_EXTENSIONS]
    out: list[PreviewRows | None] = [None] * len(paths)
    if not todo:
        return out
    found = _core.preview_hashes(
        [paths[i] for i in todo],
        max_pixels=max_pixels,
        max_preview_pixels=MAX_PREVIEW_PIXELS,
        box_size=box,
        aspect_tolerance=ASPECT_TOLERANCE,
        band_deviation=BAND_DEVIATION,
        min_short_side=MIN_SHORT_SIDE,
        min_long_side=MIN_LONG_SIDE,
        threads=threads,
    )
    for i, item in zip(todo, found, strict=True):
        if item is not None:
            out[i] = PreviewRows(*item)
    return out


def read_preview(path: str, max_pixels: int, box: int) -> np.ndarray | None:
    """The upright grey pixels (uint8 ``(H, W)``) of ``path``'s embedded preview, or None.

    The preview is a JPEG's EXIF preview, or a HEIF's stored thumbnail. None when
    the file is neither, has no preview, its preview is damaged, too small, or
    does not show the photo's frame, or the photo is larger than ``max_pixels``:
    the caller then decodes the photo itself, which reports any real problem with
    the file. A JPEG preview larger than ``box`` is decoded at a reduced scale
    (JPEG DCT scaling), as the full decode would be.
    """
    if not has_preview_extension(path):
        return None
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    except OSError:
        return None
    with os.fdopen(fd, "rb") as fh:
        st = os.fstat(fh.fileno())
        if not stat.S_ISREG(st.st_mode) or st.st_size == 0:
            return None
        try:
            if os.path.splitext(path)[1].lower() in HEIF_EXTENSIONS:
                return _read_heif_preview(fh, path, max_pixels, box)
            return _read_preview(fh, max_pixels, box)
        except (OSError, SyntaxError, ValueError, TypeError, KeyError, IndexError, EOFError):
            # Pillow reports damaged headers and previews with these; Image.DecompressionBombError
            # is a subclass of Exception only, handled below.
            return None
        except Image.DecompressionBombError:
            return None


def _read_heif_preview(
    fh: io.BufferedReader, path: str, max_pixels: int, box: int
) -> np.ndarray | None:
    # Only a file that starts as a HEIF reaches libheif (``heif.stored_thumbnail``
    # checks the ftyp box), as only a JPEG reaches Pillow's JPEG reader below.
    found = heif.stored_thumbnail(fh, path, max_pixels, MAX_PREVIEW_PIXELS, box)
    if found is None:
        return None
    grey, aspect = found
    # Already upright: the window is found against the picture's upright aspect.
    window = _picture_window(grey, aspect)
    if window is None:
        return None
    top, bottom, left, right = window
    return _big_enough(grey[top:bottom, left:right])


def _read_preview(fh: io.BufferedReader, max_pixels: int, box: int) -> np.ndarray | None:
    # Pillow's JPEG reader itself, for the photo and for its preview alike: no
    # other format's parser ever sees an album file. Not ``Image.open``: its bomb
    # check reads the host program's ``Image.MAX_IMAGE_PIXELS`` and warns; this
    # reads a header only (no pixel is decoded) and applies photomatch's limits.
    # Opening parses the EXIF too (Pillow reads the DPI from it).
    with quiet_exif(), JpegImagePlugin.JpegImageFile(fh) as photo:
        width, height = photo.size
        if width * height > max_pixels or width < 1 or height < 1:
            return None
        raw = photo.info.get("exif")
        exif = photo.getexif()
        thumb = exif.get_ifd(ExifTags.IFD.IFD1)
    offset, length = thumb.get(_THUMB_OFFSET), thumb.get(_THUMB_LENGTH)
    if not isinstance(raw, bytes) or not isinstance(offset, int) or not isinstance(length, int):
        return None
    # IFD offsets count from the TIFF header, after APP1's "Exif\0\0".
    start = (6 if raw.startswith(b"Exif\x00\x00") else 0) + offset
    data = raw[start : start + length]
    if length <= 0 or len(data) != length or not data.startswith(b"\xff\xd8"):
        return None
    with quiet_exif():
        opened = JpegImagePlugin.JpegImageFile(io.BytesIO(data))
    with opened as preview:
        if preview.width * preview.height > MAX_PREVIEW_PIXELS:
            return None
        preview.draft("L", (box, box))
        grey = np.asarray(preview.convert("L"))
    window = _picture_window(grey, width / height)
    if window is None:
        return None
    top, bottom, left, right = window
    out = grey[top:bottom, left:right]
    orientation = exif.get(_ORIENTATION, 1)
    if orientation in _UPRIGHT:
        out = np.asarray(Image.fromarray(out).transpose(_UPRIGHT[orientation]))
    return _big_enough(out)


def _big_enough(out: np.ndarray) -> np.ndarray | None:
    """``out`` when it is large enough to hash (``MIN_SHORT_SIDE``, ``MIN_LONG_SIDE``)."""
    if min(out.shape) < MIN_SHORT_SIDE or max(out.shape) < MIN_LONG_SIDE:
        return None
    return out


def _picture_window(grey: np.ndarray, aspect: float) -> tuple[int, int, int, int] | None:
    """``(top, bottom, left, right)`` of the photo inside a preview, bands removed.

    ``aspect`` is the photo's stored width / height. A preview of another
    aspect is trusted only when the difference is taken up by uniform bands on
    both sides (letterbox or pillarbox); anything else (a cropped or stretched
    preview) is not the photo's frame, and the caller decodes the photo.
    """
    h, w = grey.shape
    if abs((w / h) / aspect - 1) <= ASPECT_TOLERANCE:
        return 0, h, 0, w
    if w / h < aspect:  # letterbox: bands at the top and bottom
        band = (h - w / aspect) / 2
        cut = int(np.ceil(band))
        if cut < 1 or not (_uniform(grey[: int(band)]) and _uniform(grey[h - int(band) :])):
            return None
        top, bottom, left, right = cut, h - cut, 0, w
    else:  # pillarbox: bands left and right
        band = (w - h * aspect) / 2
        cut = int(np.ceil(band))
        if cut < 1 or not (_uniform(grey[:, : int(band)]) and _uniform(grey[:, w - int(band) :])):
            return None
        top, bottom, left, right = 0, h, cut, w - cut
    if bottom - top < 1 or right - left < 1:
        return None
    if abs(((right - left) / (bottom - top)) / aspect - 1) > ASPECT_TOLERANCE:
        return None
    return top, bottom, left, right


def _uniform(band: np.ndarray) -> bool:
    """True when ``band`` is one flat colour, give or take JPEG ringing."""
    if band.size == 0:
        return True  # a band under a pixel wide: nothing to check
    values = band.astype(np.float32)
    return float(np.abs(values - np.median(values)).mean()) <= BAND_DEVIATION
