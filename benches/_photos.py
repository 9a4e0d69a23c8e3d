"""Camera-like 12-MP JPEGs built from the photographs photomatch ships.

Benchmarks of decoding mean little on synthetic noise or on tiny files, so the
album files here are real photographs (``photomatch/samples``) enlarged to a
camera's 4000 x 3000 sensor, each cropped at its own offset (no two files are
the same picture), with a little seeded luminance noise so that the JPEG holds
about as much entropy-coded data as a camera's does (a plain enlargement of a
512-px picture compresses to a fraction of a real 12-MP file, and the entropy
decoding is what shrink-on-load cannot skip). They are saved as a camera
does: JPEG quality 90, 4:2:0 chroma, no JFIF header, an Exif APP1 with make,
model, date, exposure, the sensor's pixel size and a 160 x 120 thumbnail in
IFD1, and on some files an Orientation of 6 or 8 (the pixels stored sideways,
the picture upright once the tag is applied), as a camera held upright writes.

Files are written once into a cache folder and reused; the folder name holds
``GENERATOR_VERSION`` so a change here regenerates them.
"""

from __future__ import annotations

import os
import random
import struct
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor

import pyvips

from photomatch import demo

GENERATOR_VERSION = 2
#: Stored (sensor) size of every generated file: 12 MP.
SENSOR = (4000, 3000)
QUALITY = 90
NOISE_SIGMA = 6.0

# TIFF field types.
_ASCII, _SHORT, _LONG, _RATIONAL, _UNDEFINED = 2, 3, 4, 5, 7


def orientation_of(index: int) -> int:
    """The EXIF orientation of file ``index``: every 5th is 6, every 7th is 8, else 1."""
    if index % 5 == 4:
        return 6
    if index % 7 == 6:
        return 8
    return 1


def photo_name(index: int) -> str:
    return f"IMG_{1000 + index:04d}.jpg"


def ensure_photos(folder: str, count: int, jobs: int = 2) -> list[str]:
    """Paths of ``count`` camera-like 12-MP JPEGs in ``folder``, generating missing ones."""
    os.makedirs(folder, exist_ok=True)
    paths = [os.path.join(folder, photo_name(i)) for i in range(count)]
    missing = [i for i, p in enumerate(paths) if not os.path.exists(p)]
    if missing:
        with ThreadPoolExecutor(max_workers=jobs) as pool:
            list(pool.map(lambda i: _write_atomic(paths[i], camera_jpeg(i)), missing))
    return paths


def copy_album(paths: Sequence[str], album: str) -> str:
    """Hardlink (or copy) ``paths`` into a fresh ``album`` folder; returns it."""
    os.makedirs(album, exist_ok=True)
    for path in paths:
        dst = os.path.join(album, os.path.basename(path))
        try:
            os.link(path, dst)
        except OSError:
            with open(path, "rb") as src, open(dst, "wb") as out:
                out.write(src.read())
    return album


def _write_atomic(path: str, data: bytes) -> None:
    tmp = f"{path}.{os.getpid()}.tmp"
    with open(tmp, "wb") as fh:
        fh.write(data)
    os.replace(tmp, path)


def camera_jpeg(index: int) -> bytes:
    """The bytes of generated file ``index`` (deterministic)."""
    rng = random.Random(index)
    name = demo.SAMPLES[index % len(demo.SAMPLES)]
    orientation = orientation_of(index)
    sw, sh = SENSOR
    # Upright frame: landscape, or portrait when the camera was held sideways.
    width, height = (sw, sh) if orientation == 1 else (sh, sw)
    source = demo.sample_image(name)
    if source.bands == 1:
        source = source.colourspace("srgb")
    scale = max(width * 1.12 / source.width, height * 1.12 / source.height)
    big = source.resize(scale)
    left = rng.randrange(0, big.width - width + 1)
    top = rng.randrange(0, big.height - height + 1)
    upright = big.crop(left, top, width, height)
    # Stored pixels: Orientation 6 means "rotate 90 degrees clockwise to show",
    # so the sensor holds the upright frame turned 90 degrees anticlockwise.
    stored = {1: upright, 6: upright.rot270(), 8: upright.rot90()}[orientation]
    noise = pyvips.Image.gaussnoise(
        stored.width, stored.height, sigma=NOISE_SIGMA, mean=0, seed=index
    )
    stored = (stored + noise).cast("uchar")
    body = stored.jpegsave_buffer(Q=QUALITY, subsample_mode="on", keep="none")
    thumb = stored.thumbnail_image(160, height=120).jpegsave_buffer(Q=75, keep="none")
    exif = exif_block(
        orientation=orientation,
        width=stored.width,
        height=stored.height,
        thumbnail=thumb,
        when=f"2024:06:{1 + index % 28:02d} 10:{index % 60:02d}:{rng.randrange(60):02d}",
        exposure=(1, rng.choice([60, 125, 250, 500])),
        fnumber=(rng.choice([18, 28, 40, 56]), 10),
        iso=rng.choice([100, 200, 400]),
    )
    return splice_exif(body, exif)


def still_camera_jpeg(
    stored: pyvips.Image, orientation: int, thumbnail: bytes | None, quality: int = 90
) -> bytes:
    """``stored`` (the sensor's pixels) saved as a camera saves one shot: JPEG
    ``quality``, an Exif block with ``orientation``, the stored size, the
    preview ``thumbnail`` (or none) and fixed shooting data (the tests' files,
    where only the picture and its preview vary)."""
    exif = exif_block(
        orientation=orientation,
        width=stored.width,
        height=stored.height,
        thumbnail=thumbnail,
        when="2024:06:01 10:00:00",
        exposure=(1, 125),
        fnumber=(28, 10),
        iso=100,
    )
    return splice_exif(stored.jpegsave_buffer(Q=quality, keep="none"), exif)


def splice_exif(jpeg: bytes, exif_tiff: bytes) -> bytes:
    """``jpeg`` with its APPn/COM headers replaced by one Exif APP1 (as cameras write)."""
    if jpeg[:2] != b"\xff\xd8":
        raise ValueError("not a JPEG")
    pos = 2
    while jpeg[pos] == 0xFF and (0xE0 <= jpeg[pos + 1] <= 0xEF or jpeg[pos + 1] == 0xFE):
        (length,) = struct.unpack(">H", jpeg[pos + 2 : pos + 4])
        pos += 2 + length
    payload = b"Exif\x00\x00" + exif_tiff
    if len(payload) + 2 > 0xFFFF:
        raise ValueError("Exif block too large for one APP1 segment")
    app1 = b"\xff\xe1" + struct.pack(">H", len(payload) + 2) + payload
    return b"\xff\xd8" + app1 + jpeg[pos:]


def exif_block(
    *,
    orientation: int,
    width: int,
    height: int,
    thumbnail: bytes | None,
    when: str,
    exposure: tuple[int, int],
    fnumber: tuple[int, int],
    iso: int,
) -> bytes:
    """A little-endian TIFF structure: IFD0, its Exif IFD, and IFD1 holding ``thumbnail``.

    With ``thumbnail=None`` there is no IFD1 (a file without an embedded preview).
    """
    resolution = [
        (0x011A, _RATIONAL, [(72, 1)]),
        (0x011B, _RATIONAL, [(72, 1)]),
        (0x0128, _SHORT, [2]),
    ]
    ifd0 = [
        (0x010F, _ASCII, "PHOTOMATCH"),
        (0x0110, _ASCII, "BENCH-12"),
        (0x0112, _SHORT, [orientation]),
        *resolution,
        (0x0131, _ASCII, "bench 1.0"),
        (0x0132, _ASCII, when),
        (0x8769, _LONG, [0]),  # Exif IFD offset, patched below
    ]
    exif_ifd = [
        (0x829A, _RATIONAL, [exposure]),
        (0x829D, _RATIONAL, [fnumber]),
        (0x8827, _SHORT, [iso]),
        (0x9000, _UNDEFINED, b"0232"),
        (0x9003, _ASCII, when),
        (0x920A, _RATIONAL, [(50, 1)]),
        (0xA001, _SHORT, [1]),
        (0xA002, _LONG, [width]),
        (0xA003, _LONG, [height]),
    ]
    if thumbnail is None:
        start_exif = 8 + len(_ifd(ifd0, 8, 0))
        ifd0[-1] = (0x8769, _LONG, [start_exif])
        return b"II*\x00" + struct.pack("<I", 8) + _ifd(ifd0, 8, 0) + _ifd(exif_ifd, start_exif, 0)
    ifd1 = [
        (0x0103, _SHORT, [6]),  # JPEG-compressed thumbnail
        *resolution,
        (0x0201, _LONG, [0]),  # thumbnail offset, patched below
        (0x0202, _LONG, [len(thumbnail)]),
    ]
    # Sizes do not depend on offsets, so lay out once to learn them, then for real.
    start0 = 8
    start_exif = start0 + len(_ifd(ifd0, start0, 0))
    start1 = start_exif + len(_ifd(exif_ifd, start_exif, 0))
    start_thumb = start1 + len(_ifd(ifd1, start1, 0))
    ifd0[-1] = (0x8769, _LONG, [start_exif])
    ifd1[-2] = (0x0201, _LONG, [start_thumb])
    return (
        b"II*\x00"
        + struct.pack("<I", start0)
        + _ifd(ifd0, start0, start1)
        + _ifd(exif_ifd, start_exif, 0)
        + _ifd(ifd1, start1, 0)
        + thumbnail
    )


def _ifd(entries: list, start: int, next_ifd: int) -> bytes:
    """One IFD at file offset ``start``, its out-of-line values right after it."""
    entries = sorted(entries, key=lambda e: e[0])
    data_start = start + 2 + 12 * len(entries) + 4
    head = struct.pack("<H", len(entries))
    data = b""
    for tag, kind, value in entries:
        raw, count = _encode(kind, value)
        if len(raw) <= 4:
            field = raw.ljust(4, b"\x00")
        else:
            field = struct.pack("<I", data_start + len(data))
            data += raw + (b"\x00" if len(raw) % 2 else b"")  # word-aligned
        head += struct.pack("<HHI", tag, kind, count) + field
    return head + struct.pack("<I", next_ifd) + data


def _encode(kind: int, value) -> tuple[bytes, int]:
    if kind == _ASCII:
        raw = value.encode("ascii") + b"\x00"
        return raw, len(raw)
    if kind == _UNDEFINED:
        return bytes(value), len(value)
    if kind == _SHORT:
        return struct.pack(f"<{len(value)}H", *value), len(value)
    if kind == _LONG:
        return struct.pack(f"<{len(value)}I", *value), len(value)
    if kind == _RATIONAL:
        flat = [x for pair in value for x in pair]
        return struct.pack(f"<{len(flat)}I", *flat), len(value)
    raise ValueError(f"unsupported TIFF type {kind}")
