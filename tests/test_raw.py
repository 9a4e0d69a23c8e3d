"""Camera RAW: DNG files read through rawpy (LibRaw), from their embedded preview or
developed at half size.

Every DNG here is a real one, written by the test from the shipped sample
photographs, laid out as cameras and Adobe's converter write them: IFD0 a small
RGB thumbnail carrying the DNG tags, one SubIFD the colour filter array (16-bit
RGGB made from the photograph's linear light), another the full-size JPEG
preview; directories first, data after. LibRaw reads each (the first test checks
that it does, and what it finds). Cases: with a preview, without one (no
thumbnail at all, a bitmap thumbnail only, a preview too small or of another
aspect), stored sideways with every TIFF Orientation, cut short, damaged, and an
album where a DNG and the camera JPEG of the same shot sit side by side.
"""

from __future__ import annotations

import os
import random
import struct
import sys

import numpy as np
import pytest
import pyvips

rawpy = pytest.importorskip("rawpy")

from photomatch import (  # noqa: E402
    Policy,
    export_originals,
    hashing,
    index_album,
    match_album,
    preview,
    raw,
    review,
)
from photomatch.demo import sample_image  # noqa: E402
from photomatch.index import AlbumIndex  # noqa: E402

from albumcheck import fingerprint  # noqa: E402
from genalbum import run_photomatch  # noqa: E402

#: Largest distance, in bits of 128, of any view of a RAW decoded from its preview
#: from the same view of the camera JPEG of the shot (the photograph at quality 95;
#: the preview is it at quality 90). Measured 0 to 2 bits over ``CASES`` at all
#: eight orientations.
PREVIEW_BITS = 4
#: The same for LibRaw's half-size decode: another rendering (LibRaw's tone curve and
#: colour) of a 2 x 2-binned mosaic. Measured 1 to 4 bits over the same files; the
#: picture turned half a turn lands 70 bits or more away.
HALF_SIZE_BITS = 8

#: The XYZ to linear sRGB matrix, as the DNG ColorMatrix1 of a "camera" whose raw
#: colours are linear sRGB.
_XYZ_TO_SRGB = (3.2406, -1.5372, -0.4986, -0.9689, 1.8758, 0.0415, 0.0557, -0.2040, 1.0570)
#: The TIFF Orientation that shows a picture stored with it upright: what to store.
_STORED = {
    1: lambda a: a,
    2: lambda a: a[:, ::-1],
    3: lambda a: a[::-1, ::-1],
    4: lambda a: a[::-1, :],
    5: lambda a: a.swapaxes(0, 1),
    6: lambda a: np.rot90(a, 1),
    7: lambda a: a[::-1, ::-1].swapaxes(0, 1),
    8: lambda a: np.rot90(a, -1),
}


# -- making the files ------------------------------------------------------------------


class Ifd:
    """One TIFF directory: ``tags`` {tag: (kind, values)}, its image data, its SubIFDs.

    Kinds: ``B`` BYTE, ``A`` ASCII, ``H`` SHORT, ``I`` LONG, ``R`` RATIONAL and
    ``SR`` SRATIONAL (values in numerator, denominator pairs).
    """

    def __init__(self, tags, data: bytes | None = None, subifds=()):
        self.tags, self.data, self.subifds = dict(tags), data, list(subifds)


_KINDS = {"B": (1, "B"), "A": (2, ""), "H": (3, "H"), "I": (4, "I"), "R": (5, "I"), "SR": (10, "i")}


def _entry_value(kind: str, values) -> tuple[int, int, bytes]:
    code, fmt = _KINDS[kind]
    if kind == "A":
        data = values.encode("ascii") + b"\0"
        return code, len(data), data
    data = struct.pack(f"<{len(values)}{fmt}", *values)
    return code, len(values) // (2 if kind in ("R", "SR") else 1), data


def tiff(ifd0: Ifd) -> bytes:
    """A little-endian TIFF: header, every directory (IFD0 first, then its SubIFDs,
    depth first) with its out-of-line values, then every directory's data."""
    order: list[Ifd] = []

    def walk(ifd: Ifd) -> None:
        order.append(ifd)
        for sub in ifd.subifds:
            walk(sub)

    walk(ifd0)

    def block(ifd: Ifd, at: int, data_at: int, sub_at: list[int]) -> bytes:
        tags = dict(ifd.tags)
        if ifd.data is not None:
            tags[273], tags[279] = ("I", [data_at]), ("I", [len(ifd.data)])
        if ifd.subifds:
            tags[330] = ("I", sub_at)
        values_at = at + 2 + 12 * len(tags) + 4
        entries, values = b"", b""
        for tag in sorted(tags):
            code, count, data = _entry_value(*tags[tag])
            if len(data) <= 4:
                field = data.ljust(4, b"\0")
            else:
                field = struct.pack("<I", values_at + len(values))
                values += data + b"\0" * (len(data) % 2)
            entries += struct.pack("<HHI", tag, code, count) + field
        return struct.pack("<H", len(tags)) + entries + struct.pack("<I", 0) + values

    # Offsets change no block's size: lay out with zeros, then write for real.
    sizes = [len(block(ifd, 0, 0, [0] * len(ifd.subifds))) for ifd in order]
    ifd_at = [8 + sum(sizes[:i]) for i in range(len(order))]
    data_at, pos = [], 8 + sum(sizes)
    for ifd in order:
        data_at.append(pos)
        pos += len(ifd.data or b"") + len(ifd.data or b"") % 2
    where = {id(ifd): i for i, ifd in enumerate(order)}
    out = b"II*\0" + struct.pack("<I", ifd_at[0])
    for i, ifd in enumerate(order):
        out += block(ifd, ifd_at[i], data_at[i], [ifd_at[where[id(s)]] for s in ifd.subifds])
    for ifd in order:
        out += (ifd.data or b"") + b"\0" * (len(ifd.data or b"") % 2)
    return out


def _rational(values, scale: int = 10000) -> list[int]:
    out = []
    for v in values:
        out += [round(v * scale), scale]
    return out


def dng(
    stored: np.ndarray,
    preview_jpeg: bytes | None = None,
    thumb: bool = True,
    orientation: int = 1,
) -> bytes:
    """A DNG of ``stored`` (uint8 ``(H, W, 3)`` sRGB, as the sensor saw it) shown
    through TIFF ``orientation``, with ``preview_jpeg`` as its preview (a SubIFD,
    NewSubFileType 1) and, with ``thumb``, a 1/4-size RGB thumbnail in IFD0."""
    h, w = stored.shape[0] // 2 * 2, stored.shape[1] // 2 * 2
    black, white = 64, 4095
    light = (stored[:h, :w].astype(np.float64) / 255.0) ** 2.2
    level = np.rint(black + light * (white - black)).astype(np.uint16)
    cfa = np.empty((h, w), dtype=np.uint16)
    cfa[0::2, 0::2] = level[0::2, 0::2, 0]  # R G
    cfa[0::2, 1::2] = level[0::2, 1::2, 1]  # G B
    cfa[1::2, 0::2] = level[1::2, 0::2, 1]
    cfa[1::2, 1::2] = level[1::2, 1::2, 2]
    dng_tags = {
        271: ("A", "photomatch"),
        272: ("A", "test camera"),
        274: ("H", [orientation]),
        50706: ("B", [1, 4, 0, 0]),  # DNGVersion
        50707: ("B", [1, 1, 0, 0]),  # DNGBackwardVersion
        50708: ("A", "photomatch test camera"),  # UniqueCameraModel
        50721: ("SR", _rational(_XYZ_TO_SRGB)),  # ColorMatrix1
        50728: ("R", [1, 1, 1, 1, 1, 1]),  # AsShotNeutral
        50778: ("H", [21]),  # CalibrationIlluminant1: D65
    }
    sensor = Ifd(
        {
            254: ("I", [0]),
            256: ("I", [w]),
            257: ("I", [h]),
            258: ("H", [16]),
            259: ("H", [1]),
            262: ("H", [32803]),  # CFA
            277: ("H", [1]),
            278: ("I", [h]),
            284: ("H", [1]),
            33421: ("H", [2, 2]),  # CFARepeatPatternDim
            33422: ("B", [0, 1, 1, 2]),  # CFAPattern: RGGB
            50714: ("I", [black]),
            50717: ("I", [white]),
        },
        cfa.astype("<u2").tobytes(),
    )
    subifds = [sensor]
    if preview_jpeg is not None:
        header = pyvips.Image.new_from_buffer(preview_jpeg, "")
        subifds.append(
            Ifd(
                {
                    254: ("I", [1]),
                    256: ("I", [header.width]),
                    257: ("I", [header.height]),
                    258: ("H", [8, 8, 8]),
                    259: ("H", [7]),  # JPEG
                    262: ("H", [6]),  # YCbCr
                    277: ("H", [3]),
                    278: ("I", [header.height]),
                    284: ("H", [1]),
                },
                preview_jpeg,
            )
        )
    if thumb:
        small = np.ascontiguousarray(stored[::4, ::4, :3])
        ifd0 = Ifd(
            {
                254: ("I", [1]),
                256: ("I", [small.shape[1]]),
                257: ("I", [small.shape[0]]),
                258: ("H", [8, 8, 8]),
                259: ("H", [1]),
                262: ("H", [2]),
                277: ("H", [3]),
                278: ("I", [small.shape[0]]),
                284: ("H", [1]),
                **dng_tags,
            },
            small.tobytes(),
            subifds,
        )
    else:  # the sensor data in IFD0, as a minimal DNG has it
        sensor.tags.update(dng_tags)
        sensor.subifds = subifds[1:]
        ifd0 = sensor
    return tiff(ifd0)


def pixels(image: pyvips.Image) -> np.ndarray:
    """uint8 ``(H, W, 3)`` of a pyvips image (grey samples repeated)."""
    if image.bands == 1:
        image = image.bandjoin([image, image])
    data = image.write_to_memory()
    return np.ndarray(buffer=data, dtype=np.uint8, shape=(image.height, image.width, 3))


def jpeg(rgb: np.ndarray, quality: int = 90) -> bytes:
    image = pyvips.Image.new_from_array(np.ascontiguousarray(rgb), interpretation="srgb")
    return image.jpegsave_buffer(Q=quality)


def write(path: str, data: bytes) -> str:
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as fh:
        fh.write(data)
    return path


def camera_dng(name: str, orientation: int = 1, scale: float = 2.0, **kw) -> tuple[bytes, bytes]:
    """``(DNG, camera JPEG)`` of one shot: the sample photograph enlarged to
    ``scale``, stored sideways for ``orientation``, its preview the stored
    picture at quality 90 (unless ``kw`` says otherwise); the camera's JPEG is the
    upright picture at quality 95 (no orientation tag)."""
    upright = pixels(sample_image(name).resize(scale))
    stored = np.ascontiguousarray(_STORED[orientation](upright))
    kw.setdefault("preview_jpeg", jpeg(stored))
    return dng(stored, orientation=orientation, **kw), jpeg(upright, 95)


def bits(a: hashing.ImageHashes, b: hashing.ImageHashes) -> int:
    """Largest distance between the same views of two album hashes."""
    assert list(a.view_ids) == list(b.view_ids)
    return int(np.bitwise_count(a.rows ^ b.rows).sum(axis=1).max())


def half_size_reference(path: str, size: int) -> np.ndarray:
    """What LibRaw's half-size decode of ``path`` gives, shrunk as photomatch shrinks."""
    with rawpy.imread(path) as picture:
        rgb = picture.postprocess(half_size=True, use_camera_wb=True, output_bps=8)
    image = pyvips.Image.new_from_array(np.ascontiguousarray(rgb), interpretation="srgb")
    return hashing.grey_from_image(image.thumbnail_image(size, height=size, size="down"))


CASES = ("rocket", "chelsea", "coffee", "astronaut")


# -- LibRaw reads what the tests make ---------------------------------------------------


def test_libraw_reads_the_dngs_made_here(tmp_path):
    upright = pixels(sample_image("rocket"))
    preview_jpeg = jpeg(upright)
    with_preview = write(str(tmp_path / "a.dng"), dng(upright, preview_jpeg))
    with rawpy.imread(with_preview) as picture:
        assert (picture.sizes.width, picture.sizes.height) == (640, 426)
        assert picture.sizes.flip == 0 and picture.raw_type == rawpy.RawType.Flat
        thumb = picture.extract_thumb()
        assert thumb.format == rawpy.ThumbFormat.JPEG and thumb.data == preview_jpeg
        # The sensor data develops into the photograph (LibRaw's own rendering).
        developed = picture.postprocess(half_size=True, use_camera_wb=True)
    assert developed.shape == (213, 320, 3)
    grey = upright[:426:2, ::2].mean(axis=2)
    assert np.corrcoef(grey.ravel(), developed.mean(axis=2).ravel())[0, 1] > 0.95
    bitmap_only = write(str(tmp_path / "b.dng"), dng(upright))
    with rawpy.imread(bitmap_only) as picture:
        assert picture.extract_thumb().format == rawpy.ThumbFormat.BITMAP
    bare = write(str(tmp_path / "c.dng"), dng(upright, thumb=False))
    with rawpy.imread(bare) as picture, pytest.raises(rawpy.LibRawNoThumbnailError):
        picture.extract_thumb()
    sideways = write(str(tmp_path / "d.dng"), dng(upright, preview_jpeg, orientation=6))
    with rawpy.imread(sideways) as picture:
        assert picture.sizes.flip == 6


# -- decoding ---------------------------------------------------------------------------


@pytest.mark.parametrize("name", CASES)
def test_raw_with_a_preview_is_its_preview(tmp_path, name):
    upright = pixels(sample_image(name).resize(2))
    preview_jpeg = jpeg(upright)
    path = write(str(tmp_path / "IMG_0001.DNG"), dng(upright, preview_jpeg))
    same = write(str(tmp_path / "preview.jpg"), preview_jpeg)
    # Every size a check asks for: the preview's own pixels, shrunk alike.
    for size in (hashing.DECODE_SIZE, 500, 1024):
        assert np.array_equal(hashing.load_grey(path, size), hashing.load_grey(same, size))
    photo = write(str(tmp_path / "photo.jpg"), jpeg(upright, 95))
    hashes = hashing.hash_file(path, previews=True)
    assert hashes.source == "decode"  # the preview is the RAW's pixels, not a shortcut
    assert bits(hashes, hashing.hash_file(photo)) <= PREVIEW_BITS


@pytest.mark.parametrize("kind", ["none", "bitmap thumbnail", "small preview", "other aspect"])
def test_raw_without_a_usable_preview_is_developed_at_half_size(tmp_path, kind):
    upright = pixels(sample_image("coffee").resize(2))  # 1200 x 800
    preview_jpeg = {
        "none": None,
        "bitmap thumbnail": None,
        "small preview": jpeg(pixels(sample_image("coffee").resize(0.4))),  # 240 px
        "other aspect": jpeg(upright[:, 200:1000]),  # a square crop
    }[kind]
    data = dng(upright, preview_jpeg, thumb=kind != "none")
    path = write(str(tmp_path / "IMG_0002.dng"), data)
    for size in (hashing.DECODE_SIZE, 1024):
        assert np.array_equal(hashing.load_grey(path, size), half_size_reference(path, size))
    assert hashing.load_grey(path, 1024).shape == (400, 600)  # half of 1200 x 800
    photo = write(str(tmp_path / "photo.jpg"), jpeg(upright, 95))
    assert bits(hashing.hash_file(path), hashing.hash_file(photo)) <= HALF_SIZE_BITS


def test_preview_of_half_the_sensor_or_of_1024_px_is_enough(tmp_path):
    upright = pixels(sample_image("rocket").resize(2))  # 1280 x 854
    half = jpeg(pixels(sample_image("rocket")))  # 640 x 427: what half size would give
    path = write(str(tmp_path / "a.dng"), dng(upright, half))
    same = write(str(tmp_path / "p.jpg"), half)
    assert np.array_equal(hashing.load_grey(path, 1024), hashing.load_grey(same, 1024))
    # A 5000-px sensor with a 1024-px preview: the preview (as the grain check's
    # largest decode is 1024 px); one pixel less, and it is developed.
    assert raw._fits(1024, 683, 5000, 3334)
    assert not raw._fits(1023, 682, 5000, 3334)
    assert not raw._fits(1000, 1000, 5000, 3334)  # another aspect
    assert not raw._fits(6000, 4000, 5000, 3334)  # more pixels than the sensor


@pytest.mark.parametrize("orientation", range(1, 9))
@pytest.mark.parametrize("with_preview", [True, False], ids=["preview", "half size"])
def test_orientation_flag_turns_the_picture_upright(tmp_path, orientation, with_preview):
    kw = {} if with_preview else {"preview_jpeg": None}
    data, camera_jpeg = camera_dng("rocket", orientation, 1.5, **kw)
    path = write(str(tmp_path / "IMG_0003.DNG"), data)
    photo = write(str(tmp_path / "photo.jpg"), camera_jpeg)
    grey = hashing.load_grey(path)
    assert grey.shape[1] > grey.shape[0]  # landscape, as the photograph
    near = PREVIEW_BITS if with_preview else HALF_SIZE_BITS
    assert bits(hashing.hash_file(path), hashing.hash_file(photo)) <= near
    # Not upright by chance: the same picture turned a quarter is far.
    turned = hashing.hash_grey(np.ascontiguousarray(np.rot90(grey, 2)), album=True)
    assert bits(turned, hashing.hash_file(photo)) >= 40


# -- damaged and odd files --------------------------------------------------------------


@pytest.mark.parametrize("where", ["preview data", "sensor data", "directories"])
def test_truncated_raw_is_refused_with_the_reason(tmp_path, capfd, where):
    data, _ = camera_dng("chelsea")
    cut = {"preview data": len(data) - 1000, "sensor data": len(data) // 3, "directories": 300}[
        where
    ]
    path = write(str(tmp_path / "cut.dng"), data[:cut])
    with pytest.raises(hashing.DecodeError) as caught:
        hashing.load_grey(path)
    if where == "directories":  # nothing to measure against: LibRaw's own reason
        assert caught.value.reason.startswith("raw: ")
    else:
        assert "truncated file" in caught.value.reason
        assert f"past the end of the file ({cut} bytes)" in caught.value.reason
        # Found before LibRaw read anything: it printed nothing.
        assert capfd.readouterr().err == ""


def test_truncation_is_read_from_cr3_raf_and_big_endian_tiff_structure(tmp_path):
    def check(data: bytes, size: int | None = None) -> str | None:
        path = write(str(tmp_path / "f"), data)
        fd = os.open(path, os.O_RDONLY)
        try:
            return raw.truncation_reason(fd, size if size is not None else len(data))
        finally:
            os.close(fd)

    # CR3: ISO base media boxes; the last one (mdat) cut.
    boxes = struct.pack(">I4s4s", 16, b"ftyp", b"crx ") + b"\0" * 4
    boxes += struct.pack(">I4s", 24, b"moov") + b"\0" * 16
    boxes += struct.pack(">I4s", 1000, b"mdat") + b"\0" * 100
    assert "the 'mdat' box at byte 40 ends at byte 1040" in check(boxes)
    assert check(boxes[:40] + struct.pack(">I4s", 108, b"mdat") + b"\0" * 100) is None
    # RAF: offsets and lengths (big-endian) of the JPEG, the RAW header, the sensor data.
    head = bytearray(b"FUJIFILMCCD-RAW 0201FF383501" + b"\0" * 80)
    struct.pack_into(">6I", head, 84, 108, 50, 158, 20, 178, 500)
    assert "the sensor data at byte 178 ends at byte 678" in check(bytes(head) + b"\0" * 400)
    assert check(bytes(head) + b"\0" * 570) is None
    # A big-endian TIFF (a PEF or an older NEF): a strip past the end.
    tags = [(256, 4, 1, 10), (257, 4, 1, 10), (273, 4, 1, 64), (279, 4, 1, 5000)]
    ifd = struct.pack(">H", len(tags))
    for tag, kind, count, value in tags:
        ifd += struct.pack(">HHII", tag, kind, count, value)
    big = b"MM\0*" + struct.pack(">I", 8) + ifd + struct.pack(">I", 0)
    big = big.ljust(64, b"\0") + b"\0" * 1000
    assert "the image data at byte 64 ends at byte 5064" in check(big)
    assert check(big.ljust(5064, b"\0")) is None
    # A directory pointing outside the file is a slip, not a cut: LibRaw judges.
    stray = b"II*\0" + struct.pack("<I", 1 << 30) + b"\0" * 100
    assert check(stray) is None


def test_damaged_raw_decodes_or_is_refused_never_anything_else(tmp_path, capfd):
    data, _ = camera_dng("chelsea", scale=1.0)
    rng = random.Random(14)
    refused = 0
    for n in range(40):
        damaged = bytearray(data)
        # Bytes changed in the directories (the first 2 KB) and anywhere.
        for _ in range(rng.randint(1, 6)):
            at = rng.randrange(2048) if rng.random() < 0.7 else rng.randrange(len(damaged))
            damaged[at] = rng.randrange(256)
        path = write(str(tmp_path / f"d{n}.dng"), bytes(damaged))
        try:
            grey = hashing.load_grey(path)
            assert grey.dtype == np.uint8 and grey.ndim == 2 and min(grey.shape) > 0
        except hashing.DecodeError as exc:
            refused += 1
            assert exc.reason.strip()
    assert refused  # some of them did hit something LibRaw checks
    capfd.readouterr()


def test_file_that_is_not_a_raw_is_refused_with_the_reason(tmp_path):
    photo = jpeg(pixels(sample_image("chelsea")))
    path = write(str(tmp_path / "DSC_0001.NEF"), photo)
    with pytest.raises(hashing.DecodeError) as caught:
        hashing.load_grey(path)
    assert caught.value.reason.startswith("raw: ")
    # A RAW is read by its name: named .jpg, a JPEG stays a JPEG to libvips.
    assert hashing.load_grey(write(str(tmp_path / "a.jpg"), photo)).shape == (166, 250)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="non-UTF-8 names: Linux")
def test_raw_whose_name_is_not_utf8_is_read(tmp_path):
    # LibRaw takes a name; photomatch gives it the file it holds open, whatever the name.
    data, _ = camera_dng("chelsea", scale=1.0)
    path = os.fsdecode(os.path.join(os.fsencode(str(tmp_path)), b"caf\xe9.dng"))
    write(path, data)
    assert hashing.load_grey(path).shape == (166, 250)


def test_size_limits_apply_before_decoding(tmp_path, monkeypatch):
    data, _ = camera_dng("rocket", scale=1.0)  # 640 x 426 sensor
    path = write(str(tmp_path / "a.dng"), data)
    monkeypatch.setattr(hashing, "MAX_PIXELS", 640 * 426 - 1)
    with pytest.raises(hashing.DecodeError, match="image too large: 640x426 px"):
        hashing.load_grey(path)
    monkeypatch.setattr(hashing, "MAX_PIXELS", 200_000_000)
    # The sensor data as LibRaw holds it: 16 bits a sample.
    monkeypatch.setattr(hashing, "MAX_BYTES", 640 * 426 * 2 - 1)
    with pytest.raises(hashing.DecodeError, match="image too large: 640x426 px x 1 band x 2"):
        hashing.load_grey(path)


def test_without_rawpy_raw_files_are_skipped_with_the_reason(tmp_path, monkeypatch):
    data, _ = camera_dng("chelsea", scale=1.0)
    path = write(str(tmp_path / "a.dng"), data)
    monkeypatch.setattr(raw, "AVAILABLE", False)
    with pytest.raises(hashing.DecodeError, match="needs rawpy"):
        hashing.hash_file(path, previews=True)


def test_review_page_preview_of_a_raw_is_upright(tmp_path):
    data, camera_jpeg = camera_dng("rocket", 8)
    path = write(str(tmp_path / "IMG_0004.DNG"), data)
    target = str(tmp_path / "shown.jpg")
    review.make_preview(path, target)
    shown = pyvips.Image.new_from_file(target)
    assert (shown.width, shown.height) == (320, 214)
    assert preview.read_preview(path, hashing.MAX_PIXELS, hashing.DECODE_SIZE) is None


# -- an album of RAW files and camera JPEGs --------------------------------------------


@pytest.fixture(scope="module")
def raw_album(tmp_path_factory):
    """An album of DNGs and JPEGs, one set of thumbnails:
    ``(album, thumbs folder, {thumbnail: its originals}, (the DNG, its camera JPEG))``."""
    root = tmp_path_factory.mktemp("raw")
    album, thumbs = str(root / "album"), str(root / "thumbs")
    shots = {
        # RAW + JPEG, as a camera set to write both does.
        "astronaut": camera_dng("astronaut"),
        # Stored sideways, its preview too.
        "rocket": camera_dng("rocket", 6),
        # No preview at all: developed at half size.
        "coffee": camera_dng("coffee", preview_jpeg=None),
        # A preview too small to use (a 160-px one, as old converters wrote).
        "chelsea": camera_dng(
            "chelsea", preview_jpeg=jpeg(pixels(sample_image("chelsea").resize(160 / 451)))
        ),
    }
    # Adobe's converter names its DNGs in lower case beside the camera's JPEG.
    originals = {
        name: write(
            os.path.join(album, "100CANON", f"IMG_{n:04d}.{'dng' if n == 1 else 'DNG'}"),
            shots[name][0],
        )
        for n, name in enumerate(shots, 1)
    }
    pair = (originals["astronaut"], os.path.join(album, "100CANON", "IMG_0001.JPG"))
    write(pair[1], shots["astronaut"][1])
    # The JPEG was written first: the oldest of the pair, photomatch's default primary.
    os.utime(pair[1], ns=(1_700_000_000 * 10**9, 1_700_000_000 * 10**9))
    os.utime(pair[0], ns=(1_700_000_010 * 10**9, 1_700_000_010 * 10**9))
    for name in ("retina", "coins", "brick"):
        write(os.path.join(album, "jpeg", f"{name}.jpg"), jpeg(pixels(sample_image(name))))
    whole = shots["coffee"][0]
    write(os.path.join(album, "100CANON", "IMG_0009.DNG"), whole[: len(whole) // 2])
    expected = {}
    for name in shots:
        upright = pixels(sample_image(name).resize(2))
        image = pyvips.Image.new_from_array(upright, interpretation="srgb")
        square = name in ("coffee", "rocket")
        small = pyvips.Image.thumbnail_buffer(
            image.pngsave_buffer(), 220, height=220, crop="centre" if square else "none"
        )
        path = write(os.path.join(thumbs, f"{name}.jpg"), small.jpegsave_buffer(Q=40))
        expected[path] = originals[name]
    return album, thumbs, expected, pair


def test_raw_album_is_indexed_with_the_truncated_file_listed(raw_album, tmp_path):
    album, _, _, _ = raw_album
    before = fingerprint(album)
    report = index_album(album, index_path=str(tmp_path / "i.sqlite"))
    assert report.images == 9 and report.ok == 8 and report.from_previews == 0
    [(path, reason)] = report.errors
    assert path.endswith("IMG_0009.DNG") and "raw: truncated file" in reason
    with AlbumIndex(album, str(tmp_path / "i.sqlite")) as index:
        assert [(p, r) for p, r in index.errors()] == [(path, reason)]
    assert fingerprint(album) == before


def test_every_thumbnail_finds_its_raw_original(raw_album, tmp_path):
    album, thumbs, expected, (dng_path, jpeg_path) = raw_album
    before = fingerprint(album)
    out = str(tmp_path / "out")
    run, _ = match_album(album, [thumbs], out, index_path=str(tmp_path / "i.sqlite"))
    assert not run.skipped_queries
    got = {r.query: (r.status, r.match) for r in run.results}
    want = {q: ("matched", original) for q, original in expected.items()}
    # The RAW + JPEG pair is one photo: its primary is the oldest file, the JPEG,
    # and the DNG its variant.
    [paired] = [q for q, original in expected.items() if original == dng_path]
    want[paired] = ("matched", jpeg_path)
    assert got == want
    [result] = [r for r in run.results if r.query == paired]
    assert [c.variants for c in result.candidates if c.path == jpeg_path] == [(dng_path,)]
    # The review page shows every RAW it names (a JPEG preview of it).
    shown_raws = [r.match for r in run.results if r.match != jpeg_path]
    assert len(shown_raws) == 3
    for path in shown_raws:
        shown = os.path.join(out, review.PREVIEWS_DIR, review.preview_key(path))
        assert pyvips.Image.new_from_file(shown).width > 0
    # Export copies the JPEG; with --variants the DNG too, byte for byte.
    export_originals(run, str(tmp_path / "export"), variants=True)
    exported = os.path.join(str(tmp_path / "export"), "thumbs")
    assert os.path.isfile(os.path.join(exported, "IMG_0001.JPG"))
    assert _same_bytes(os.path.join(exported, "variants", "IMG_0001.dng"), dng_path)
    assert fingerprint(album) == before


def test_prefer_dng_exports_the_raw_of_the_pair(raw_album, tmp_path):
    album, thumbs, expected, (dng_path, jpeg_path) = raw_album
    before = fingerprint(album)
    run, _ = match_album(
        album, [thumbs], index_path=str(tmp_path / "i.sqlite"), policy=Policy(prefer="*.dng")
    )
    [paired] = [q for q, original in expected.items() if original == dng_path]
    [result] = [r for r in run.results if r.query == paired]
    assert (result.status, result.match) == ("matched", dng_path)
    items = export_originals(run, str(tmp_path / "export"))
    copies = {os.path.basename(i.destination) for i in items}
    assert "IMG_0001.dng" in copies and "IMG_0001.JPG" not in copies
    assert _same_bytes(os.path.join(str(tmp_path / "export"), "thumbs", "IMG_0001.dng"), dng_path)
    assert fingerprint(album) == before


def test_prefer_on_the_command_line_exports_the_raw(raw_album, tmp_path):
    album, thumbs, _, (dng_path, _) = raw_album
    out, dest = str(tmp_path / "out"), str(tmp_path / "dest")
    index = ["--index", str(tmp_path / "i.sqlite")]
    done = run_photomatch("match", "-q", album, thumbs, "--out", out, "--prefer", "*.dng", *index)
    assert done.returncode == 0, done.stderr
    done = run_photomatch("export", "-q", out, "--to", dest)
    assert done.returncode == 0, done.stderr
    assert _same_bytes(os.path.join(dest, "thumbs", "IMG_0001.dng"), dng_path)
    assert not os.path.exists(os.path.join(dest, "thumbs", "IMG_0001.JPG"))


def _same_bytes(a: str, b: str) -> bool:
    with open(a, "rb") as fa, open(b, "rb") as fb:
        return fa.read() == fb.read()
