"""What photomatch lets a decoder do with a file: only the raster photo formats, and
only images whose decoded samples fit the limits, both read from the file's first
bytes and header before a pixel is decoded.

Every file is made here with a real image writer (libvips, Pillow); the huge ones
are small files whose headers declare what they do not hold, so nothing here
decodes gigabytes. Album files must be left unchanged.
"""

from __future__ import annotations

import json
import os
import struct
import sys
import time

import numpy as np
import pytest
import pyvips
from PIL import JpegImagePlugin

from photomatch import hashing, preview
from photomatch.cli import main
from photomatch.demo import sample_image

from albumcheck import fingerprint

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "benches"))
import _photos  # noqa: E402  (the benchmarks' camera-style EXIF writer)

NOT_READABLE = "not an image format photomatch can read"


def write(path, data: bytes | str) -> str:
    os.makedirs(os.path.dirname(str(path)), exist_ok=True)
    with open(path, "wb") as fh:
        fh.write(data.encode() if isinstance(data, str) else data)
    return str(path)


def tiff_declaring(image: pyvips.Image, width: int, height: int) -> bytes:
    """``image`` as a little-endian TIFF whose IFD0 declares ``width`` x ``height``.

    The samples stay those of the small image: the header alone is a bomb, which
    is all photomatch may read of it.
    """
    data = bytearray(image.tiffsave_buffer(compression="deflate"))
    assert data[:4] == b"II*\0"
    (ifd,) = struct.unpack_from("<I", data, 4)
    (count,) = struct.unpack_from("<H", data, ifd)
    patched = set()
    for i in range(count):
        entry = ifd + 2 + 12 * i
        tag, kind = struct.unpack_from("<HH", data, entry)
        if tag in (256, 257):  # ImageWidth, ImageLength
            value = width if tag == 256 else height
            if kind == 3:
                struct.pack_into("<H", data, entry + 8, value)
            else:
                struct.pack_into("<I", data, entry + 8, value)
            patched.add(tag)
    assert patched == {256, 257}
    return bytes(data)


def many_bands(width: int, height: int, bands: int) -> pyvips.Image:
    return (pyvips.Image.black(width, height, bands=bands) + 100).cast("uchar")


def svg(width: int, height: int, inner: str = "") -> str:
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" xmlns:xlink="http://www.w3.org/1999/xlink" '
        f'width="{width}" height="{height}">'
        f'<rect width="{width}" height="{height}" fill="#3a6"/>'
        f'<circle cx="{width // 3}" cy="{height // 2}" r="{height // 4}" fill="#fc2"/>'
        f"{inner}</svg>"
    )


def matrix_text(side: int) -> str:
    """A libvips matrix file: "width height" then rows of numbers."""
    rows = [" ".join(str((x * 7 + y * 13) % 255) for x in range(side)) for y in range(side)]
    return f"{side} {side}\n" + "\n".join(rows) + "\n"


@pytest.fixture
def no_render(monkeypatch):
    """Records every thumbnail_source call: the one that decodes pixels."""
    calls: list[int] = []
    real = pyvips.Image.thumbnail_source
    monkeypatch.setattr(
        pyvips.Image, "thumbnail_source", lambda *a, **k: calls.append(1) or real(*a, **k)
    )
    return calls


# -- the byte limit ---------------------------------------------------------------------


def test_a_many_band_tiff_is_refused_from_its_header(tmp_path, no_render):
    """The issue's file: 14000 x 14000 px x 64 bands (196 MP, under the pixel limit)."""
    path = write(tmp_path / "scan.jpg", tiff_declaring(many_bands(64, 64, 64), 14000, 14000))
    assert os.path.getsize(path) < 100_000
    start = time.perf_counter()
    with pytest.raises(hashing.DecodeError) as err:
        hashing.load_grey(path)
    assert time.perf_counter() - start < 0.5
    assert err.value.reason == (
        "image too large: 14000x14000 px x 64 bands x 1 byte (12.5 GB) "
        f"is over the {hashing.MAX_BYTES // 1_000_000} MB limit"
    )
    assert no_render == []
    # The review page's preview goes through the same check.
    with pytest.raises(hashing.DecodeError, match="64 bands"):
        hashing.open_image(path, 400)


def test_a_real_many_band_tiff_over_the_byte_limit_is_refused_before_decoding(
    tmp_path, monkeypatch, no_render
):
    path = write(tmp_path / "bands.tif", many_bands(200, 150, 64).tiffsave_buffer())
    monkeypatch.setattr(hashing, "MAX_BYTES", 200 * 150 * 64 - 1)
    with pytest.raises(hashing.DecodeError, match=r"200x150 px x 64 bands x 1 byte \(2 MB\)"):
        hashing.load_grey(path)
    assert no_render == []
    monkeypatch.setattr(hashing, "MAX_BYTES", 200 * 150 * 64)
    assert hashing.load_grey(path).shape == (150, 200)
    assert no_render == [1]


def test_the_byte_limit_counts_bytes_per_sample():
    # 16-bit RGB scans up to 133 MP, 8-bit RGBA and CMYK at the pixel limit: within.
    assert hashing.size_limit_reason(10_000, 10_000, 3, "ushort") is None
    assert hashing.size_limit_reason(13_000, 10_000, 3, "ushort") is None
    assert hashing.size_limit_reason(20_000, 10_000, 4, "uchar") is None
    # The same pixels as floats, or with many bands, are over it.
    assert "x 4 bytes (1.2 GB)" in hashing.size_limit_reason(10_000, 10_000, 3, "float")
    assert "x 8 bands x 2 bytes" in hashing.size_limit_reason(10_000, 10_000, 8, "ushort")
    # Over the pixel limit, the pixel reason (as before) comes first.
    assert "(3600 MP) is over the 200 MP limit" in hashing.size_limit_reason(
        60_000, 60_000, 1, "uchar"
    )


def test_a_16_bit_rgb_image_is_still_hashed(tmp_path):
    picture = sample_image("astronaut").thumbnail_image(600).colourspace("srgb")
    wide = (picture.cast("ushort") * 257).cast("ushort").copy(interpretation="rgb16")
    path = write(tmp_path / "scan.tif", wide.tiffsave_buffer(compression="deflate"))
    header = pyvips.Image.new_from_file(path)
    assert (header.format, header.bands) == ("ushort", 3)
    eight = write(tmp_path / "scan8.png", picture.pngsave_buffer())
    a, b = hashing.hash_file(path), hashing.hash_file(eight)
    assert a.width == b.width and a.height == b.height
    assert int(np.unpackbits((a.rows[0] ^ b.rows[0]).view(np.uint8)).sum()) <= 4


# -- the loaders ------------------------------------------------------------------------


@pytest.mark.parametrize("reference", ["none", "passwd", "local image"])
def test_an_svg_named_jpg_is_refused_and_never_rendered(tmp_path, no_render, reference):
    secret = write(tmp_path / "outside" / "secret.png", sample_image("coffee").pngsave_buffer())
    inner = {
        "none": "",
        "passwd": '<image href="file:///etc/passwd" width="100" height="100"/>',
        "local image": f'<image xlink:href="file://{secret}" href="file://{secret}" '
        'width="400" height="300"/>',
    }[reference]
    path = write(tmp_path / "drawing.jpg", svg(1600, 1200, inner))
    start = time.perf_counter()
    for load in (hashing.load_grey, lambda p: hashing.open_image(p, 400)):
        with pytest.raises(hashing.DecodeError) as err:
            load(path)
        assert err.value.reason == NOT_READABLE
    assert time.perf_counter() - start < 0.5
    assert no_render == []


@pytest.mark.parametrize("kind", ["matrix", "csv", "vips"])
def test_libvips_data_formats_named_jpg_are_refused(tmp_path, no_render, kind):
    if kind == "matrix":
        data = matrix_text(64).encode()
    elif kind == "csv":
        csv = tmp_path / "m.csv"
        many_bands(64, 64, 1).csvsave(str(csv))
        data = csv.read_bytes()
    else:
        vips = tmp_path / "m.v"
        sample_image("chelsea").thumbnail_image(200).vipssave(str(vips))
        data = vips.read_bytes()
    path = write(tmp_path / "album" / f"{kind}.jpg", data)
    with pytest.raises(hashing.DecodeError) as err:
        hashing.hash_file(path)
    assert err.value.reason == NOT_READABLE
    assert no_render == []


def test_a_png_named_jpg_is_still_hashed(tmp_path):
    picture = sample_image("chelsea").thumbnail_image(400)
    path = write(tmp_path / "really-a-png.jpg", picture.pngsave_buffer())
    same = write(tmp_path / "p.png", picture.pngsave_buffer())
    assert hashing.hash_file(path).rows.tolist() == hashing.hash_file(same).rows.tolist()


def test_every_allowed_loader_is_a_photo_format():
    assert hashing.ALLOWED_LOADERS == {
        "jpegload",
        "uhdrload",
        "pngload",
        "webpload",
        "tiffload",
        "heifload",
        "gifload",
    }


def test_index_skips_them_with_their_reasons_and_leaves_the_album_alone(tmp_path, capsys):
    album = tmp_path / "album"
    picture = sample_image("chelsea").thumbnail_image(400)
    write(album / "photo.jpg", picture.jpegsave_buffer(Q=90))
    write(album / "png.jpg", picture.pngsave_buffer())
    write(album / "bands.jpg", tiff_declaring(many_bands(64, 64, 64), 14000, 14000))
    write(album / "drawing.jpg", svg(1600, 1200, '<image href="file:///etc/passwd"/>'))
    write(album / "matrix.jpg", matrix_text(64))
    vips = tmp_path / "m.v"
    picture.vipssave(str(vips))
    write(album / "raw.jpg", vips.read_bytes())
    before = fingerprint(str(album))
    start = time.perf_counter()
    code = main(["index", str(album), "--index", str(tmp_path / "i.sqlite"), "--json"])
    elapsed = time.perf_counter() - start
    out = json.loads(capsys.readouterr().out)
    assert code == 0
    assert out["images"] == 6
    reasons = {os.path.basename(e["path"]): e["reason"] for e in out["unreadable"]}
    assert reasons == {
        "bands.jpg": "image too large: 14000x14000 px x 64 bands x 1 byte (12.5 GB) "
        f"is over the {hashing.MAX_BYTES // 1_000_000} MB limit",
        "drawing.jpg": NOT_READABLE,
        "matrix.jpg": NOT_READABLE,
        "raw.jpg": NOT_READABLE,
    }
    assert elapsed < 10  # the bomb alone took 152 s to decode
    assert fingerprint(str(album)) == before


# -- the EXIF preview (Pillow) ----------------------------------------------------------


def _camera_jpeg(path: str, thumb: bytes) -> str:
    picture = sample_image("astronaut").thumbnail_image(640, height=480, crop="centre")
    return write(path, _photos.still_camera_jpeg(picture, 1, thumb))


def _jpeg_declaring(jpeg: bytes, width: int, height: int) -> bytes:
    """``jpeg`` with its frame header (SOF0/SOF2) declaring ``width`` x ``height``."""
    data = bytearray(jpeg)
    pos = 2
    while True:
        marker, length = data[pos + 1], struct.unpack_from(">H", data, pos + 2)[0]
        if marker in (0xC0, 0xC2):
            struct.pack_into(">HH", data, pos + 5, height, width)
            return bytes(data)
        pos += 2 + length


def test_an_exif_preview_declaring_a_huge_image_is_never_decoded(tmp_path, monkeypatch):
    drafts: list[tuple] = []
    real = JpegImagePlugin.JpegImageFile.draft
    monkeypatch.setattr(
        JpegImagePlugin.JpegImageFile,
        "draft",
        lambda self, *a, **k: drafts.append(self.size) or real(self, *a, **k),
    )
    small = sample_image("astronaut").thumbnail_image(160, height=120, crop="centre")
    good = small.jpegsave_buffer(Q=75, keep="none")
    ok = _camera_jpeg(str(tmp_path / "ok.jpg"), good)
    assert preview.read_preview(ok, hashing.MAX_PIXELS, hashing.DECODE_SIZE) is not None
    assert drafts == [(160, 120)]
    # The same preview, progressive, declaring 8000 x 6000 (48 MP: under Pillow's own
    # bomb limits; libjpeg would hold every DCT coefficient of it, some 150 MB).
    progressive = small.jpegsave_buffer(Q=75, keep="none", interlace=True)
    bomb = _camera_jpeg(str(tmp_path / "bomb.jpg"), _jpeg_declaring(progressive, 8000, 6000))
    assert preview.read_preview(bomb, hashing.MAX_PIXELS, hashing.DECODE_SIZE) is None
    assert drafts == [(160, 120)]
    # The photo itself is then decoded, as any file without a usable preview.
    assert hashing.hash_file(bomb, previews=True).source == "decode"


@pytest.mark.parametrize("kind", ["png", "tiff", "gif", "webp"])
def test_the_preview_reader_opens_nothing_but_jpegs(tmp_path, kind):
    """Pillow is held to its JPEG reader, whatever the file holds under a .jpg name."""
    picture = sample_image("chelsea").thumbnail_image(320)
    path = write(tmp_path / "x.jpg", picture.write_to_buffer("." + kind))
    assert preview.read_preview(path, hashing.MAX_PIXELS, hashing.DECODE_SIZE) is None
    assert hashing.hash_file(path, previews=True).source == "decode"
