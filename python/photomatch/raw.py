"""Camera RAW files (DNG, CR2, CR3, NEF, ARW, ORF, RW2, RAF, PEF), read with rawpy (LibRaw).

What a RAW's "pixels" are: the JPEG preview the camera (or the DNG converter)
embedded in the file, the camera's own rendering of the shot, usually at full
size. ``decode`` reads it through LibRaw (``extract_thumb``) and shrinks it with
libvips' shrink-on-load, as it does every JPEG, for the index, the pixel check,
the grain check and the review page alike. Only when the file has no usable
preview (none, a bitmap thumbnail, one much smaller than the sensor, one of
another aspect than the sensor's) does LibRaw develop the sensor data itself, at
half size (``postprocess(half_size=True)``: each 2 x 2 block of the colour filter
array becomes one pixel, no demosaicing). Which of the two a file gets depends
on the file only, never on the size asked for, so every decode of one file shows
the same picture.

Orientation: a camera stores the preview, like the sensor data, as the sensor
saw it, and the turn to show it upright in the RAW's own orientation flag
(LibRaw's ``sizes.flip``, read from the RAW's TIFF Orientation tag or the
maker's equivalent). The preview is turned by that flag; an orientation tag
inside the preview JPEG, where there is one, is ignored (as libvips ignores a
HEIF's EXIF orientation, see ``heif``), so a picture is never turned twice.
LibRaw turns the half-size decode by the same flag itself.

Truncation: LibRaw reads past the end of a cut file without always saying so,
and says it on stderr when it does. The structure of a TIFF-based RAW (DNG,
CR2, NEF, ARW, ORF, RW2, PEF), of a CR3 (ISO base media boxes) and of a RAF
(its header's offsets) is checked first: a file whose data runs past its end is
skipped with that reason before LibRaw reads it (``truncation_reason``).
"""

from __future__ import annotations

import contextlib
import os
import struct
import sys
from collections.abc import Iterator

import pyvips

from .errors import DecodeError
from .reading import read_at

try:
    import rawpy

    #: False where rawpy is not installed (it has no wheel for the platform, see
    #: pyproject.toml): RAW files are then skipped with ``MISSING`` as the reason.
    AVAILABLE = True
except ImportError:  # pragma: no cover - platforms without a rawpy wheel
    AVAILABLE = False

#: Extensions of the RAW files photomatch reads (lower case).
RAW_EXTENSIONS = frozenset({".dng", ".cr2", ".cr3", ".nef", ".arw", ".orf", ".rw2", ".raf", ".pef"})
#: Why a RAW file is skipped where rawpy is not installed.
MISSING = (
    "raw: reading camera RAW files needs rawpy (LibRaw), which is not installed "
    "(it has no wheel for every platform): pip install rawpy"
)
#: A preview is used when its long side reaches this many pixels, or half the
#: sensor's long side (what the half-size decode would give), whichever is less:
#: 1024 px is the largest decode the pixel check and the review page ask for
#: (the grain test, ``verify.GRAIN_SIZE``, compares at the smaller file's size).
MIN_PREVIEW_SIDE = 1024
#: How far the preview's aspect may stray from the sensor's (as
#: ``preview.ASPECT_TOLERANCE``): a camera crops a few pixels of margin off the
#: sensor for its JPEG; a preview of another aspect (a 16:9 crop of a 4:3 sensor)
#: does not show the frame the RAW holds.
ASPECT_TOLERANCE = 0.03
#: Whether LibRaw can be given the open file by name (see ``_libraw_name``).
_PROC_FD = sys.platform.startswith("linux") and os.path.isdir("/proc/self/fd")
#: LibRaw's ``flip`` to the EXIF Orientation that turns the same way (dcraw's
#: mapping: bit 4 transposes, bit 2 turns the rows over, bit 1 the columns).
_ORIENTATION = {0: 1, 1: 2, 2: 4, 3: 3, 4: 5, 5: 8, 6: 6, 7: 7}

if AVAILABLE:
    #: What rawpy raises for a damaged, unsupported or unreadable file.
    RAW_ERRORS: tuple[type[BaseException], ...] = (
        rawpy.LibRawError,
        NotImplementedError,  # a thumbnail format rawpy does not know
        ValueError,
        RuntimeError,
        OSError,
        MemoryError,
    )
else:  # pragma: no cover - platforms without a rawpy wheel
    RAW_ERRORS = (ValueError, RuntimeError, OSError, MemoryError)


def is_raw_name(path: str) -> bool:
    """True when ``path`` has one of the ``RAW_EXTENSIONS`` (case-insensitive)."""
    return os.path.splitext(path)[1].lower() in RAW_EXTENSIONS


@contextlib.contextmanager
def open_raw(path: str, fd: int) -> Iterator[rawpy.RawPy]:
    """The RAW file ``path``, open at ``fd``, opened by LibRaw: header parsed, nothing decoded.

    LibRaw reads the file itself, by a name that is the open file on Linux
    (``/proc/self/fd/N``): any file name works, however it is encoded, and the
    file photomatch checked is the file LibRaw reads. Raises DecodeError when
    the file is truncated (``truncation_reason``), rawpy is missing, or LibRaw
    cannot parse it.
    """
    truncated = truncation_reason(fd, os.fstat(fd).st_size)
    if truncated:
        raise DecodeError(path, truncated)
    if not AVAILABLE:
        raise DecodeError(path, MISSING)
    picture = rawpy.RawPy()
    try:
        try:
            picture.open_file(_libraw_name(path, fd))
        except UnicodeError:
            raise DecodeError(path, "raw: the file name cannot be passed to LibRaw") from None
        except RAW_ERRORS as exc:
            raise DecodeError(path, _reason(exc)) from None
        yield picture
    finally:
        picture.close()


def _libraw_name(path: str, fd: int) -> str:
    # LibRaw opens files by name (UTF-8 on POSIX, wide characters on Windows).
    # On Linux /proc/self/fd/N opens the file photomatch already holds: a name
    # that is not UTF-8 works, and nothing swapped in under the name since it was
    # checked is read. Elsewhere the name itself (macOS names are UTF-8).
    return f"/proc/self/fd/{fd}" if _PROC_FD else path


def sample_layouts(picture: rawpy.RawPy) -> list[tuple[int, int, int, str]]:
    """``(width, height, bands, libvips band format)`` of what decoding ``picture``
    holds in memory, for the size limits, read from the header (nothing unpacked):
    the sensor data as LibRaw unpacks it (16-bit, one sample a pixel of a colour
    filter array) and the developed picture (8-bit RGB). A linear DNG, already
    demosaiced, holds more samples a pixel than the header says; LibRaw's own
    allocation limit (2 GB by default) bounds it.
    """
    sizes = picture.sizes
    return [
        (sizes.raw_width, sizes.raw_height, 1, "ushort"),
        (sizes.width, sizes.height, 3, "uchar"),
    ]


def decode(path: str, picture: rawpy.RawPy, size: int) -> pyvips.Image:
    """``picture`` upright, shrunk to fit ``size`` x ``size``: its embedded preview
    when it has a usable one, else LibRaw's half-size decode (see the module doc).

    Raises DecodeError with LibRaw's reason when the sensor data cannot be
    developed; a preview that libvips cannot decode raises pyvips.Error when its
    pixels are read (``hashing`` turns that into a DecodeError with the reason).
    """
    image = _preview(picture, size)
    if image is not None:
        return image
    try:
        rgb = picture.postprocess(half_size=True, use_camera_wb=True, output_bps=8)
    except RAW_ERRORS as exc:
        raise DecodeError(path, _reason(exc)) from None
    height, width = rgb.shape[:2]
    bands = rgb.shape[2] if rgb.ndim == 3 else 1
    image = pyvips.Image.new_from_memory(rgb.tobytes(), width, height, bands, "uchar")
    image = image.copy(interpretation="b-w" if bands == 1 else "srgb")
    return image.thumbnail_image(size, height=size, size="down")


def _preview(picture: rawpy.RawPy, size: int) -> pyvips.Image | None:
    """The embedded JPEG preview, upright and shrunk to fit ``size``, or None when
    there is none fit to stand for the picture (see ``MIN_PREVIEW_SIDE``,
    ``ASPECT_TOLERANCE``)."""
    try:
        thumb = picture.extract_thumb()
    except RAW_ERRORS:
        return None  # none, or one LibRaw cannot read: the sensor data decides
    if thumb.format != rawpy.ThumbFormat.JPEG or not isinstance(thumb.data, bytes):
        return None
    data = thumb.data
    if not data.startswith(b"\xff\xd8"):
        return None
    try:
        # The header only, by the JPEG loader itself: no other parser sees the bytes.
        header = pyvips.Image.jpegload_buffer(data, access="sequential")
    except pyvips.Error:
        return None
    sizes = picture.sizes
    if not _fits(header.width, header.height, sizes.width, sizes.height):
        return None
    # fail_on: a cut preview fails rather than hash as a grey smear. no_rotate: the
    # RAW's flag, not the preview's own EXIF, says which way is up.
    image = pyvips.Image.thumbnail_buffer(
        data, size, height=size, size="down", no_rotate=True, option_string="fail_on=truncated"
    )
    orientation = _ORIENTATION.get(sizes.flip, 1)
    if orientation != 1:
        image = image.copy()
        image.set_type(pyvips.GValue.gint_type, "orientation", orientation)
        image = image.autorot()
    return image


def _fits(width: int, height: int, sensor_width: int, sensor_height: int) -> bool:
    """True when a ``width`` x ``height`` preview can stand for a sensor of this size
    (both in the sensor's orientation)."""
    if min(width, height, sensor_width, sensor_height) < 1:
        return False
    if width * height > sensor_width * sensor_height * 1.05:
        return False  # more pixels than the sensor: not this picture's preview
    if abs((width / height) / (sensor_width / sensor_height) - 1) > ASPECT_TOLERANCE:
        return False
    needed = min(MIN_PREVIEW_SIDE, (max(sensor_width, sensor_height) + 1) // 2)
    return max(width, height) >= needed


#: What a LibRaw error says, where its own words ("Input/output error") do not.
_MEANING = {
    "LibRawIOError": "damaged or truncated file",
    "LibRawDataError": "damaged sensor data",
    "LibRawTooBigError": "too large for LibRaw",
}


def _reason(exc: BaseException) -> str:
    raw = exc.args[0] if exc.args else ""
    text = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else str(raw)
    text = " ".join(text.split())[:300] or type(exc).__name__
    meaning = _MEANING.get(type(exc).__name__)
    return f"raw: {meaning} (LibRaw: {text})" if meaning else f"raw: {text}"


# -- truncation ------------------------------------------------------------------------

#: TIFF tags giving where image data lies, and the tag giving each piece's length:
#: strips, tiles, and an embedded JPEG (JPEGInterchangeFormat).
_DATA_TAGS = {273: 279, 324: 325, 513: 514}
#: TIFF SubIFDs: where DNG, NEF and ARW keep the sensor data and the preview.
_SUBIFDS = 330
_WANTED = frozenset(_DATA_TAGS) | frozenset(_DATA_TAGS.values()) | {_SUBIFDS}
#: Panasonic's RW2 keeps its preview JPEG as the value of this tag of IFD0.
_PANASONIC_JPEG = 0x2E
#: The second header word of a TIFF (42) and of its RAW variants: Olympus ORF
#: ("RO", "RS") and Panasonic RW2 (0x55).
_TIFF_MAGIC = frozenset({42, 0x4F52, 0x5352, 0x55})
#: Bounds on the walk: the file's numbers are the file's word, and it may lie.
_MAX_IFDS = 64
_MAX_ENTRIES = 1024
_MAX_PIECES = 1 << 16


def truncation_reason(fd: int, file_size: int) -> str | None:
    """Why the RAW file open at ``fd``, of ``file_size`` bytes, is truncated (a part of
    its data runs past its end), or None.

    None also when the structure cannot be walked or is of no kind known here:
    LibRaw then reports the damage itself.
    """
    head = read_at(fd, 108, 0)
    try:
        if head[:2] in (b"II", b"MM"):
            return _tiff_truncation(fd, file_size, head)
        if head[4:8] == b"ftyp":
            return _boxes_truncation(fd, file_size)
        if head.startswith(b"FUJIFILMCCD-RAW"):
            return _raf_truncation(head, file_size)
    except (ValueError, struct.error):
        return None
    return None


def _cut(what: str, end: int, file_size: int) -> str:
    return (
        f"raw: truncated file: {what} ends at byte {end}, "
        f"past the end of the file ({file_size} bytes)"
    )


def _tiff_truncation(fd: int, file_size: int, head: bytes) -> str | None:
    """A TIFF-based RAW: every strip, tile and embedded JPEG that its directories
    (IFD0 and the chain after it, and their SubIFDs) list must end inside the file.

    Only the data is judged: a directory that lies outside the file, or an entry
    pointing outside it, is more often a maker's slip than a cut (the directories
    come first in these files, the data after), and is only not walked.
    """
    order = "<" if head[:2] == b"II" else ">"
    magic, first = struct.unpack_from(order + "HI", head, 2)
    if magic not in _TIFF_MAGIC:
        return None
    todo: list[int] = [first]
    seen: set[int] = set()
    while todo and len(seen) < _MAX_IFDS:
        offset = todo.pop()
        if offset == 0 or offset in seen:
            continue
        seen.add(offset)
        count_bytes = read_at(fd, 2, offset)
        if len(count_bytes) < 2:
            continue
        (count,) = struct.unpack(order + "H", count_bytes)
        table = read_at(fd, 12 * count + 4, offset + 2)
        if count > _MAX_ENTRIES or len(table) < 12 * count + 4:
            continue
        values: dict[int, list[int]] = {}
        for i in range(count):
            tag, kind, n = struct.unpack_from(order + "HHI", table, 12 * i)
            if tag in _WANTED and kind in (3, 4, 13) and 0 < n <= _MAX_PIECES:
                with contextlib.suppress(ValueError):
                    values[tag] = _numbers(fd, order, table, 12 * i, kind, n)
            elif tag == _PANASONIC_JPEG and kind == 7 and n > 4:
                (at,) = struct.unpack_from(order + "I", table, 12 * i + 8)
                if at + n > file_size:
                    return _cut(f"the embedded JPEG at byte {at}", at + n, file_size)
        for where, lengths in _DATA_TAGS.items():
            # A count list shorter than the offsets (a maker's slip): only pairs are judged.
            pieces = zip(values.get(where, []), values.get(lengths, []), strict=False)
            for start, length in pieces:
                if length and start + length > file_size:
                    return _cut(f"the image data at byte {start}", start + length, file_size)
        todo += values.get(_SUBIFDS, [])
        (following,) = struct.unpack_from(order + "I", table, 12 * count)
        todo.append(following)
    return None


def _numbers(fd: int, order: str, table: bytes, at: int, kind: int, n: int) -> list[int]:
    """The ``n`` SHORT (3) or LONG/IFD (4, 13) values of the directory entry at
    ``table[at:]``: in the entry when they fit in 4 bytes, else where it points."""
    code = "H" if kind == 3 else "I"
    width = struct.calcsize(code)
    if n * width <= 4:
        return list(struct.unpack_from(f"{order}{n}{code}", table, at + 8))
    (offset,) = struct.unpack_from(order + "I", table, at + 8)
    data = read_at(fd, n * width, offset)
    if len(data) < n * width:
        raise ValueError("values cut short")
    return list(struct.unpack(f"{order}{n}{code}", data))


def _boxes_truncation(fd: int, file_size: int) -> str | None:
    """A CR3 (ISO base media file): every top-level box must end inside the file."""
    pos = 0
    for _ in range(10_000):
        if pos + 8 > file_size:
            return None
        header = read_at(fd, 16, pos)
        size, kind = struct.unpack_from(">I4s", header)
        if size == 1:  # a 64-bit size follows the type
            (size,) = struct.unpack_from(">Q", header, 8)
        elif size == 0:  # the box runs to the end of the file
            return None
        if size < 8:
            return None
        if pos + size > file_size:
            name = kind.decode("latin-1")
            return _cut(f"the {name!r} box at byte {pos}", pos + size, file_size)
        pos += size
    return None


def _raf_truncation(head: bytes, file_size: int) -> str | None:
    """A Fujifilm RAF: its header gives the offset and length (big-endian) of the
    embedded JPEG (at byte 84), of the RAW header (92) and of the sensor data (100)."""
    for name, at in (("the embedded JPEG", 84), ("the RAW header", 92), ("the sensor data", 100)):
        start, length = struct.unpack_from(">II", head, at)
        if length and start + length > file_size:
            return _cut(f"{name} at byte {start}", start + length, file_size)
    return None
