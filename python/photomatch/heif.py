"""HEIF/HEIC files whose pictures are HEVC-coded (what phones write), read with pillow-heif.

The libvips of ``pyvips-binary`` reads HEIF containers but has no HEVC decoder
("Support for this compression format has not been built in: HEVC"); pillow-heif's
wheel bundles libheif with libde265. ``hashing`` reads the header with libvips as
for every format (allowed loader, size limits), then hands every HEVC-coded HEIF
here, whether or not the libvips at hand could decode it: the same file then gives
the same pixels, and so the same hashes, on every install (a libvips built with
libde265 would, for a small box, take the HEIF's stored thumbnail instead of its
pixels). AV1-coded HEIF (AVIF, HEIC holding AV1) stays with libvips: pillow-heif's
wheel has no AV1 decoder.

Orientation: libheif applies the picture's ``irot``/``imir``/``clap`` transforms
itself, as it does inside libvips. An EXIF Orientation tag in a HEIF is
informative only (ISO/IEC 23008-12) and libvips drops it: phones write both an
``irot`` and an EXIF Orientation for one turn, so applying both would turn the
picture twice. It is ignored here too, so the picture comes out as libvips gives it.

Truncation: libheif decodes a grid image whose tiles are missing (a half-copied
file) into a picture with blank tiles and no error. Such a file must be skipped
like a truncated JPEG, so every item's data (the ``iloc`` box) is checked to lie
inside the file before anything is decoded (``truncation_reason``).

Stored thumbnails (``stored_thumbnail``): most phone HEICs carry a 320 x 240 HEVC
thumbnail of the picture. libheif applies a thumbnail's own transforms; a thumbnail
stored without any, beside a turned picture (as iPhones write them), is in the
sensor's orientation, and gets the picture's turns here. ``preview`` then applies
the rules of every embedded preview (aspect, bands, minimum size).
"""

from __future__ import annotations

import os
import struct
from collections.abc import Iterator
from typing import BinaryIO

import numpy as np
import pyvips
from PIL import Image

from .errors import DecodeError
from .reading import read_at

try:
    import pillow_heif

    #: False where pillow-heif is not installed: pillow-heif 1.9 needs Python 3.11,
    #: photomatch 3.10, so on 3.10 it installs without it and skips HEVC files
    #: with ``MISSING`` as the reason.
    AVAILABLE = True
except ImportError:  # pragma: no cover - Python 3.10
    AVAILABLE = False
#: Why an HEVC-coded HEIF is skipped where pillow-heif is not installed.
MISSING = "heif: HEVC-coded HEIF needs pillow-heif (Python 3.11 or newer) to be decoded"

#: What pillow-heif and libheif raise for a damaged or unsupported file.
HEIF_ERRORS = (ValueError, SyntaxError, RuntimeError, EOFError, OSError, IndexError, KeyError)
#: HEIF transforms that turn or mirror a picture: ``("irot", degrees anticlockwise)``,
#: ``("imir", axis)``, in the order libheif applies them.
Turns = tuple[tuple[str, int], ...]
#: Bytes read first from a HEIF: its ``ftyp`` and ``meta`` boxes are a few KB.
_HEAD = 1 << 17
#: Most of a ``meta`` box read: a 200-MP grid of 512-px tiles lists some 800 items
#: in a few tens of KB. A longer one is not read whole: its item table may then be
#: cut short, and only libheif's own checks apply to the file.
_META_MAX = 16 << 20
#: A ``clap`` that keeps the top-left corner and takes off less than this on the
#: right and bottom is an encoder's padding to whole coding blocks, not a crop.
_PADDING = 64


def read_head(fd: int) -> bytes:
    """The start of the file open at ``fd``, through the end of its ``meta`` box (which
    says where every item's data lies), or less when the file ends first."""
    head = read_at(fd, _HEAD, 0)
    try:
        meta_end = next(e for kind, _b, e in _boxes(head, 0, len(head)) if kind == b"meta")
    except (StopIteration, ValueError, struct.error):
        return head
    # Bounded: the box's size is the file's word, and the file may lie about it.
    end = min(meta_end, os.fstat(fd).st_size, _META_MAX)
    if end > len(head):
        head += read_at(fd, end - len(head), len(head))
    return head


def open_primary(path: str, fh: BinaryIO) -> pillow_heif.HeifImage:
    """The primary picture of the HEIF file open as ``fh``, header parsed, nothing decoded.

    libheif reads only the parts of the file it needs, through ``fh`` (keep it open
    until the picture is decoded). Raises DecodeError when the file is truncated or
    libheif cannot parse it.
    """
    truncated = truncation_reason(read_head(fh.fileno()), os.fstat(fh.fileno()).st_size)
    if truncated:
        raise DecodeError(path, truncated)
    if not AVAILABLE:
        raise DecodeError(path, MISSING)
    try:
        heif_file = _open(fh, path)
        return heif_file[heif_file.primary_index]
    except HEIF_ERRORS as exc:
        raise DecodeError(path, _reason(exc)) from None


def _open(fh: BinaryIO, path: str) -> pillow_heif.HeifFile:
    # lazy_read: libheif asks for the ranges it needs (the meta box, then the
    # data of the items it decodes), read from fh's descriptor, rather than the
    # whole file up front. What that saves depends on the layout: libheif writes
    # a thumbnail's data last, so reaching it reads nearly the whole file.
    return pillow_heif.open_heif(fh, convert_hdr_to_8bit=True, lazy_read=True, filename=path)


def sample_layout(picture: pillow_heif.HeifImage) -> tuple[int, str]:
    """Bands and libvips band format of ``picture`` as stored (for the size limits):
    a 10- or 12-bit picture counts 2 bytes a sample, as libvips' header says."""
    bands = len(picture.mode.split(";")[0])
    depth = picture.info.get("bit_depth")
    if not isinstance(depth, int):
        depth = 8
    return bands, "uchar" if depth <= 8 else "ushort"


def decode(path: str, picture: pillow_heif.HeifImage, size: int) -> pyvips.Image:
    """``picture`` decoded (upright, 8-bit) and shrunk by libvips to fit ``size`` x ``size``.

    The shrink is libvips' ``thumbnail_image``, the resampling every other format
    gets. Raises DecodeError with libheif's reason when the picture cannot be decoded.
    """
    try:
        picture.load()
        pixels = _packed(picture.data, picture.size, picture.mode, picture.stride)
    except HEIF_ERRORS as exc:
        raise DecodeError(path, _reason(exc)) from None
    height, width = pixels.shape[:2]
    bands = 1 if pixels.ndim == 2 else pixels.shape[2]
    image = pyvips.Image.new_from_memory(pixels, width, height, bands, "uchar")
    image = image.copy(interpretation="b-w" if bands <= 2 else "srgb")
    return image.thumbnail_image(size, height=size, size="down")


def _packed(data: bytes, size: tuple[int, int], mode: str, stride: int) -> np.ndarray:
    """The decoded samples as a C-contiguous uint8 ``(H, W)`` or ``(H, W, bands)`` array."""
    width, height = size
    bands = len(mode.split(";")[0])
    if ";" in mode or mode.startswith(("BGR", "I")):
        # convert_hdr_to_8bit and bgr_mode=False give 8-bit L, LA, RGB or RGBA only.
        raise ValueError(f"unexpected decoded mode {mode}")
    rows = np.frombuffer(data, dtype=np.uint8, count=stride * height).reshape(height, stride)
    pixels = np.ascontiguousarray(rows[:, : width * bands])
    return pixels.reshape(height, width) if bands == 1 else pixels.reshape(height, width, bands)


def _reason(exc: BaseException) -> str:
    text = " ".join(str(exc).split())[:300] or type(exc).__name__
    return f"heif: {text}"


# -- truncation ------------------------------------------------------------------------


def truncation_reason(head: bytes, file_size: int) -> str | None:
    """Why a HEIF file of ``file_size`` bytes that starts with ``head`` (``read_head``)
    is truncated (an item's data runs past its end), or None.

    None also when the boxes cannot be walked: libheif then reports the damage itself.
    """
    try:
        meta = next((b, e) for kind, b, e in _boxes(head, 0, len(head)) if kind == b"meta")
        # meta is a full box: version and flags come before its children.
        iloc = next(
            (b, e)
            for kind, b, e in _boxes(head, meta[0] + 4, min(meta[1], len(head)))
            if kind == b"iloc"
        )
        ends = list(_iloc_ends(head, iloc[0], min(iloc[1], len(head))))
    except (StopIteration, ValueError, struct.error):
        return None
    for item, end in ends:
        if end > file_size:
            return (
                f"heif: truncated file: the data of item {item} ends at byte {end}, "
                f"past the end of the file ({file_size} bytes)"
            )
    return None


def _boxes(data: bytes, start: int, end: int) -> Iterator[tuple[bytes, int, int]]:
    """``(type, body start, box end)`` of the ISOBMFF boxes in ``data[start:end]``
    (a box end may lie past ``end`` when the file is cut)."""
    pos = start
    while pos + 8 <= end:
        size, kind = struct.unpack_from(">I4s", data, pos)
        head = 8
        if size == 1:  # a 64-bit size follows the type
            (size,) = struct.unpack_from(">Q", data, pos + 8)
            head = 16
        elif size == 0:  # the box runs to the end of its parent
            size = end - pos
        if size < head:
            raise ValueError(f"bad box size {size}")
        yield kind, pos + head, pos + size
        pos += size


def _iloc_ends(data: bytes, start: int, end: int) -> Iterator[tuple[int, int]]:
    """``(item id, end offset)`` of each extent of item data stored in the file itself
    (construction method 0) listed in the ``iloc`` box body ``data[start:end]``."""
    body = memoryview(data)[start:end]
    pos = 0

    def uint(nbytes: int) -> int:
        nonlocal pos
        if nbytes not in (0, 2, 4, 8) or pos + nbytes > len(body):
            raise ValueError("iloc box cut short or malformed")
        value = int.from_bytes(body[pos : pos + nbytes], "big")
        pos += nbytes
        return value

    version = uint(4) >> 24  # version (8 bits) and flags (24)
    fields = uint(2)
    offset_size, length_size = fields >> 12, (fields >> 8) & 15
    base_size = (fields >> 4) & 15
    index_size = fields & 15 if version in (1, 2) else 0
    id_size = 4 if version == 2 else 2
    for _ in range(uint(id_size)):
        item = uint(id_size)
        method = uint(2) & 15 if version in (1, 2) else 0
        uint(2)  # data_reference_index: 0 is this file
        base = uint(base_size)
        for _ in range(uint(2)):
            uint(index_size)
            offset, length = uint(offset_size), uint(length_size)
            # Method 1 is the meta box's own idat, 2 another item's data; a length
            # of 0 means "to the end of the file", which cannot be cut short.
            if method == 0 and length:
                yield item, base + offset + length


# -- stored thumbnails -----------------------------------------------------------------


def stored_thumbnail(
    fh: BinaryIO, path: str, max_pixels: int, max_preview_pixels: int, box: int
) -> tuple[np.ndarray, float] | None:
    """The stored thumbnail of the HEIF file ``path``, open as ``fh``, upright and grey.

    Returns ``(uint8 (H, W), photo width / height as displayed)``, or None when
    there is no usable thumbnail: none stored, none of at most
    ``max_preview_pixels``, one turned otherwise than the picture, a picture
    cropped (``clap``) or larger than ``max_pixels``, a truncated file, or
    anything libheif cannot read. Of several thumbnails, the smallest whose
    long side reaches ``box`` is taken, else the largest.
    """
    if not AVAILABLE:
        return None
    head = read_head(fh.fileno())
    if head[4:8] != b"ftyp" or not pillow_heif.get_file_mimetype(head):
        return None
    if truncation_reason(head, os.fstat(fh.fileno()).st_size):
        return None
    try:
        return _stored_thumbnail(_open(fh, path), max_pixels, max_preview_pixels, box)
    except HEIF_ERRORS:
        return None


def _stored_thumbnail(
    heif_file: pillow_heif.HeifFile, max_pixels: int, max_preview_pixels: int, box: int
) -> tuple[np.ndarray, float] | None:
    picture = heif_file[heif_file.primary_index]
    width, height = picture.size
    if width < 1 or height < 1 or width * height > max_pixels:
        return None
    turns, cropped = _transforms(picture)
    if cropped:
        return None
    stored = picture.info.get("thumbnails")
    count = len(stored) if isinstance(stored, list) else 0
    thumbs = [picture.get_thumbnail(i) for i in range(count)]
    thumbs = [t for t in thumbs if 0 < t.size[0] * t.size[1] <= max_preview_pixels]
    if not thumbs:
        return None
    thumbs.sort(key=lambda t: max(t.size))
    thumb = next((t for t in thumbs if max(t.size) >= box), thumbs[-1])
    own_turns, own_crop = _transforms(thumb)
    if own_crop or (own_turns and own_turns != turns):
        return None
    image = thumb.to_pillow()
    if image.mode not in ("L", "LA", "RGB", "RGBA"):
        return None
    if image.mode in ("LA", "RGBA"):
        white = Image.new("RGBA", image.size, (255, 255, 255, 255))
        image = Image.alpha_composite(white, image.convert("RGBA"))
    grey = np.asarray(image.convert("L"))
    if not own_turns:
        # Stored without transforms of its own: in the sensor's orientation.
        grey = _apply_turns(grey, turns)
    return np.ascontiguousarray(grey), width / height


def _transforms(image: pillow_heif.HeifImage | pillow_heif.HeifThumbnail) -> tuple[Turns, bool]:
    """The ``irot``/``imir`` transforms of ``image`` in order, and whether a ``clap``
    crops it (beyond an encoder's padding). Raises ValueError when pillow-heif does
    not say (a version without them): a thumbnail is then not trusted."""
    found = getattr(getattr(image, "_c_image", None), "transformations", None)
    if not isinstance(found, tuple):
        raise ValueError("pillow-heif does not report the transforms")
    turns = tuple((str(t[0]), int(t[1])) for t in found if t[0] in ("irot", "imir"))
    if any(t[0] not in ("irot", "imir", "clap") for t in found):
        raise ValueError(f"unknown transform in {found}")
    cropped = False
    for t in found:
        if t[0] == "clap":  # (left, top, right, bottom, width, height) taken off / kept
            left, top, right, bottom = t[1:5]
            cropped = cropped or bool(left or top or right >= _PADDING or bottom >= _PADDING)
    return turns, cropped


def _apply_turns(grey: np.ndarray, turns: Turns) -> np.ndarray:
    """``grey`` with the HEIF transforms ``turns`` applied in order, as libheif does:
    ``("irot", angle)`` turns anticlockwise by the angle in degrees; ``("imir", 1)``
    mirrors left-right, ``("imir", 0)`` top-bottom (pillow-heif's axis numbers)."""
    for kind, value in turns:
        if kind == "irot":
            grey = np.rot90(grey, k=(value // 90) % 4)
        elif value == 1:
            grey = grey[:, ::-1]
        else:
            grey = grey[::-1, :]
    return grey
