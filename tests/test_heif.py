"""Phone photos: HEIC/HEIF holding HEVC, read through pillow-heif.

Every HEIC here is a real HEVC file, written by pillow-heif's x265 encoder from the
shipped sample photographs: with and without a stored thumbnail, a grid of 512-px
tiles as phones write them, turned or mirrored by ``irot``/``imir`` with the
matching EXIF Orientation (as phones write both), a thumbnail stored in the
sensor's orientation beside a turned picture (as iPhones do), 10 bits a sample,
and damaged copies. Each is hashed, indexed and matched like the JPEG of the same
picture.
"""

from __future__ import annotations

import io
import os
import random
import struct
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import pyvips

try:
    import pillow_heif
except ImportError:  # Python 3.10: photomatch installs without it (it needs 3.11)
    if sys.version_info >= (3, 11):
        raise
    pytest.skip("pillow-heif needs Python 3.11 or newer", allow_module_level=True)

from photomatch import (
    export_originals,
    hashing,
    heif,
    index_album,
    match_album,
    preview,
    review,
)
from photomatch.demo import sample_image
from photomatch.index import AlbumIndex

from albumcheck import fingerprint

#: Largest distance, in bits of 128, of any view of a HEIC's hash from the same
#: view of the JPEG (quality 95) of the same picture. Both decoders give the same
#: upright picture; only the two codecs' losses differ. Measured 0 to 2 bits over the
#: ``CASES`` (the HEIC at x265 quality 90); 4 leaves room for another x265 or
#: libde265 and is the bound the bad-input tests allow for CMYK and 16-bit files.
#: A picture turned the wrong way lands some 60 bits away.
DECODE_BITS = 4
#: Largest distance of any view of a HEIC hashed from its stored 320-px thumbnail
#: from the same view hashed from its pixels. Measured 3 to 8 bits over the
#: ``CASES`` and the sideways-stored thumbnails; a JPEG's 160 x 120 EXIF preview
#: lands 5 bits away at the median, 14 at worst (README).
PREVIEW_BITS = 12
#: Encoder speed: the default x265 preset takes seconds a file on a shared CPU.
FAST = {"preset": "ultrafast"}

#: The turn that shows a picture stored with EXIF Orientation N upright, and back.
_UPRIGHT = {2: "fliphor", 3: "rot180", 4: "flipver", 6: "rot90", 8: "rot270"}


# -- making the files ------------------------------------------------------------------


def pixels(image: pyvips.Image) -> np.ndarray:
    """uint8 ``(H, W, 3)`` of a pyvips image (grey samples repeated)."""
    if image.bands == 1:
        image = image.bandjoin([image, image])
    data = image.write_to_memory()
    return np.ndarray(buffer=data, dtype=np.uint8, shape=(image.height, image.width, 3))


def stored(upright: np.ndarray, orientation: int) -> np.ndarray:
    """What a camera stores for ``upright`` shown through EXIF ``orientation``."""
    turns = {
        1: lambda a: a,
        2: lambda a: a[:, ::-1],
        3: lambda a: np.rot90(a, 2),
        4: lambda a: a[::-1],
        5: lambda a: np.transpose(a, (1, 0, 2)),
        6: lambda a: np.rot90(a, 1),
        7: lambda a: np.rot90(np.transpose(a, (1, 0, 2)), 2),
        8: lambda a: np.rot90(a, 3),
    }
    return np.ascontiguousarray(turns[orientation](upright))


def exif_orientation(orientation: int) -> bytes:
    """A little-endian TIFF block holding only EXIF Orientation."""
    return b"II*\0" + struct.pack("<IHHHIHHI", 8, 1, 0x0112, 3, 1, orientation, 0, 0)


def heic(
    upright: np.ndarray,
    orientation: int = 1,
    thumbnail: int | None = 320,
    tiles: bool = False,
    ten_bit: bool = False,
    quality: int = 90,
) -> bytes:
    """An HEVC HEIC of ``upright``: its pixels stored as a camera would for EXIF
    ``orientation``, which pillow-heif writes as ``irot``/``imir`` and keeps in EXIF."""
    sensor = stored(upright, orientation)
    mode, data = "RGB", sensor.tobytes()
    if ten_bit:
        mode, data = "RGB;16", (sensor.astype("<u2") * 257).tobytes()
    out = io.BytesIO()
    pillow_heif.encode(
        mode,
        (sensor.shape[1], sensor.shape[0]),
        data,
        out,
        quality=quality,
        exif=exif_orientation(orientation),
        thumbnails=[thumbnail] if thumbnail else [],
        tile_size=512 if tiles else 0,
        enc_params=FAST,
    )
    return out.getvalue()


def jpeg(upright: np.ndarray) -> bytes:
    image = pyvips.Image.new_from_array(upright, interpretation="srgb")
    return image.jpegsave_buffer(Q=95, keep="none")


def write(path: str, data: bytes) -> str:
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as fh:
        fh.write(data)
    return path


# -- HEIF boxes, to make what encoders at hand do not -----------------------------------


def _boxes(data: bytes, start: int, end: int):
    pos = start
    while pos + 8 <= end:
        size, kind = struct.unpack_from(">I4s", data, pos)
        yield kind, pos + 8, pos + size
        pos += size


def _child(data: bytes, start: int, end: int, kind: bytes) -> tuple[int, int]:
    return next((b, e) for k, b, e in _boxes(data, start, end) if k == kind)


def drop_transforms(data: bytes, which: str) -> bytes:
    """``data`` with the ``irot``/``imir`` properties unlinked from its primary picture
    (``which="primary"``) or from its thumbnails (``"thumbnails"``): each of their
    ``ipma`` entries is pointed at property 0, "none" (ISO/IEC 23008-12)."""
    out = bytearray(data)
    meta = _child(data, 0, len(data), b"meta")
    body = (meta[0] + 4, meta[1])  # meta is a full box
    pitm = _child(data, *body, b"pitm")
    primary = struct.unpack_from(">H", data, pitm[0] + 4)[0]
    thumbs = set()
    iref = _child(data, *body, b"iref")
    for kind, b, _e in _boxes(data, iref[0] + 4, iref[1]):
        if kind == b"thmb":  # from_item_ID of a version-0 iref
            thumbs.add(struct.unpack_from(">H", data, b)[0])
    targets = {primary} if which == "primary" else thumbs
    assert targets, "no such item"
    iprp = _child(data, *body, b"iprp")
    ipco = _child(data, *iprp, b"ipco")
    kinds = [k for k, _b, _e in _boxes(data, *ipco)]
    turns = {i + 1 for i, k in enumerate(kinds) if k in (b"irot", b"imir")}
    ipma = _child(data, *iprp, b"ipma")
    version, flags = data[ipma[0]], int.from_bytes(data[ipma[0] + 1 : ipma[0] + 4], "big")
    pos = ipma[0] + 4
    (count,) = struct.unpack_from(">I", data, pos)
    pos += 4
    dropped = 0
    for _ in range(count):
        item = struct.unpack_from(">I" if version else ">H", data, pos)[0]
        pos += 4 if version else 2
        n = data[pos]
        pos += 1
        for _ in range(n):
            wide = flags & 1
            value = struct.unpack_from(">H", data, pos)[0] if wide else data[pos]
            index = value & (0x7FFF if wide else 0x7F)
            if item in targets and index in turns:
                out[pos : pos + (2 if wide else 1)] = bytes(2 if wide else 1)
                dropped += 1
            pos += 2 if wide else 1
    assert dropped, "nothing to unlink"
    return bytes(out)


# -- hashing ---------------------------------------------------------------------------

PICTURES = {
    "chelsea": lambda: pixels(sample_image("chelsea")),
    "rocket": lambda: pixels(sample_image("rocket")),
    "coffee-large": lambda: pixels(sample_image("coffee").resize(2)),
    "astronaut": lambda: pixels(sample_image("astronaut")),
}


def max_bits(a: hashing.ImageHashes, b: hashing.ImageHashes) -> int:
    assert np.array_equal(a.view_ids, b.view_ids)
    return int(np.bitwise_count(a.rows ^ b.rows).sum(axis=1).max())


CASES = {
    # name: (picture, heic() arguments)
    "upright, no thumbnail": ("chelsea", dict(thumbnail=None)),
    "upright, thumbnail": ("rocket", dict()),
    "irot 270 (EXIF 6)": ("rocket", dict(orientation=6)),
    "irot 90 (EXIF 8)": ("chelsea", dict(orientation=8)),
    "irot 180 (EXIF 3)": ("rocket", dict(orientation=3)),
    "imir (EXIF 2)": ("chelsea", dict(orientation=2)),
    "irot + imir (EXIF 5)": ("rocket", dict(orientation=5)),
    "irot + imir (EXIF 7)": ("chelsea", dict(orientation=7)),
    "grid of tiles, turned": ("coffee-large", dict(orientation=6, tiles=True)),
    "10-bit, turned": ("rocket", dict(orientation=8, ten_bit=True)),
}


@pytest.fixture(scope="module")
def case_files(tmp_path_factory):
    root = tmp_path_factory.mktemp("heic-cases")
    pictures = {name: make() for name, make in PICTURES.items()}
    files = {}
    for name, (picture, kwargs) in CASES.items():
        upright = pictures[picture]
        slug = name.replace(" ", "_").replace("(", "").replace(")", "").replace(",", "")
        files[name] = (
            write(str(root / f"{slug}.heic"), heic(upright, **kwargs)),
            write(str(root / f"{slug}.jpg"), jpeg(upright)),
        )
    return files


@pytest.mark.parametrize("name", list(CASES))
def test_heic_hashes_like_the_jpeg_of_the_same_picture(case_files, name):
    path, like = case_files[name]
    got, want = hashing.hash_file(path), hashing.hash_file(like)
    assert (got.width, got.height) == (want.width, want.height)  # upright
    assert got.source == "decode"
    assert max_bits(got, want) <= DECODE_BITS


@pytest.mark.parametrize("name", list(CASES))
def test_stored_thumbnail_hashes_like_the_pixels(case_files, name):
    path, _ = case_files[name]
    full = hashing.hash_file(path)
    fast = hashing.hash_file(path, previews=True)
    if CASES[name][1].get("thumbnail", 320) is None:
        assert fast.source == "decode"
        assert np.array_equal(fast.rows, full.rows)
        return
    assert fast.source == "preview"
    assert max_bits(fast, full) <= PREVIEW_BITS
    # Upright, with the picture's aspect.
    grey = preview.read_preview(path, hashing.MAX_PIXELS, hashing.DECODE_SIZE)
    assert grey is not None
    assert abs((grey.shape[1] / grey.shape[0]) / (full.width / full.height) - 1) < 0.03


def test_decoded_pixels_are_libvips_pixels_of_the_same_picture(case_files):
    # The grey frame itself, not only its hash: within JPEG-vs-HEVC noise of libvips'
    # decode of the JPEG, at the size libvips gives.
    path, like = case_files["irot + imir (EXIF 5)"]
    got, want = hashing.load_grey(path), hashing.load_grey(like)
    assert got.shape == want.shape
    assert np.abs(got.astype(int) - want.astype(int)).mean() < 2.0
    big, big_like = hashing.load_grey(path, 500), hashing.load_grey(like, 500)
    assert big.shape == big_like.shape and max(big.shape) == 500


def test_ten_bit_file_is_ten_bit(case_files):
    path, _ = case_files["10-bit, turned"]
    with open(path, "rb") as fh:
        picture = pillow_heif.open_heif(fh, convert_hdr_to_8bit=False)
        assert picture.info["bit_depth"] == 10


def test_exif_orientation_without_irot_is_ignored_as_libvips_does(tmp_path):
    # EXIF Orientation in a HEIF is informative (ISO/IEC 23008-12): libvips drops it
    # and shows the picture as its irot/imir say. Phones write both for one turn.
    upright = PICTURES["chelsea"]()
    data = drop_transforms(drop_transforms(heic(upright, 6), "primary"), "thumbnails")
    path = write(str(tmp_path / "exif-only.heic"), data)
    sideways = write(str(tmp_path / "sideways.jpg"), jpeg(stored(upright, 6)))
    got, want = hashing.hash_file(path), hashing.hash_file(sideways)
    assert (got.width, got.height) == (want.width, want.height) == (166, 250)
    assert max_bits(got, want) <= DECODE_BITS
    assert max_bits(hashing.hash_file(path, previews=True), got) <= PREVIEW_BITS
    # libvips does the same with an AV1 HEIF it decodes itself: EXIF 6, no irot
    # (its heifsave writes an irot for the EXIF Orientation; unlinked here).
    image = pyvips.Image.new_from_array(stored(upright, 6), interpretation="srgb").copy()
    image.set_type(pyvips.GValue.blob_type, "exif-data", b"Exif\0\0" + exif_orientation(6))
    av1 = drop_transforms(image.heifsave_buffer(compression="av1"), "primary")
    av1_path = write(str(tmp_path / "exif-only.avif"), av1)
    shown = pyvips.Image.thumbnail(av1_path, 250, height=250)
    assert (shown.width, shown.height) == (166, 250)
    assert hashing.hash_file(av1_path).rows.shape == got.rows.shape


@pytest.mark.parametrize("orientation", [2, 3, 4, 5, 6, 7, 8])
def test_thumbnail_stored_sideways_is_turned_like_the_picture(tmp_path, orientation):
    # iPhones link irot to the picture only: libheif then decodes the thumbnail in
    # the sensor's orientation, and photomatch gives it the picture's turns. The
    # result is the very thumbnail that carries the turns itself, to the pixel.
    data = heic(PICTURES["astronaut"](), orientation)  # square: no aspect to catch a wrong turn
    carried = write(str(tmp_path / "carried.heic"), data)
    bare = write(str(tmp_path / "bare.heic"), drop_transforms(data, "thumbnails"))
    with open(bare, "rb") as fh:
        heif_file = pillow_heif.open_heif(fh)
        assert heif_file[0].get_thumbnail(0)._c_image.transformations == ()
    want = preview.read_preview(carried, hashing.MAX_PIXELS, hashing.DECODE_SIZE)
    got = preview.read_preview(bare, hashing.MAX_PIXELS, hashing.DECODE_SIZE)
    assert want is not None and got is not None
    assert np.array_equal(got, want)
    full = hashing.hash_file(carried)
    assert max_bits(hashing.hash_file(bare, previews=True), full) <= PREVIEW_BITS


def test_thumbnail_turned_otherwise_than_the_picture_is_not_used(tmp_path):
    data = drop_transforms(heic(PICTURES["rocket"](), 6), "primary")
    path = write(str(tmp_path / "odd.heic"), data)
    assert preview.read_preview(path, hashing.MAX_PIXELS, hashing.DECODE_SIZE) is None
    assert hashing.hash_file(path, previews=True).source == "decode"


def test_size_limits_apply_before_decoding(tmp_path, monkeypatch):
    path = write(str(tmp_path / "a.heic"), heic(PICTURES["rocket"]()))
    # The photo's limit holds in the fast path too.
    assert preview.read_preview(path, 640 * 427 - 1, hashing.DECODE_SIZE) is None
    monkeypatch.setattr(hashing, "MAX_PIXELS", 640 * 427 - 1)
    with pytest.raises(hashing.DecodeError, match="image too large: 640x427 px"):
        hashing.load_grey(path)
    monkeypatch.setattr(hashing, "MAX_PIXELS", 200_000_000)
    monkeypatch.setattr(hashing, "MAX_BYTES", 640 * 427 * 3 - 1)
    with pytest.raises(hashing.DecodeError, match="image too large: 640x427 px x 3 bands"):
        hashing.load_grey(path)
    # And the limit of a preview (a HEIF's thumbnail is a whole image item).
    with open(path, "rb") as fh:
        width, height = pillow_heif.open_heif(fh)[0].get_thumbnail(0).size
    assert preview.read_preview(path, hashing.MAX_PIXELS, hashing.DECODE_SIZE) is not None
    monkeypatch.setattr(preview, "MAX_PREVIEW_PIXELS", width * height - 1)
    assert preview.read_preview(path, hashing.MAX_PIXELS, hashing.DECODE_SIZE) is None


@pytest.mark.parametrize("where", ["picture data", "last bytes", "header"])
def test_truncated_heic_is_refused_with_the_reason(tmp_path, where):
    data = heic(PICTURES["coffee-large"](), 6, tiles=True)
    cut = {"picture data": len(data) // 2, "last bytes": len(data) - 50, "header": 600}[where]
    path = write(str(tmp_path / "cut.heic"), data[:cut])
    with pytest.raises(hashing.DecodeError) as caught:
        hashing.load_grey(path)
    if where == "header":  # libvips cannot read the header: its own reason
        assert caught.value.reason
    else:
        assert "truncated file" in caught.value.reason
        assert f"past the end of the file ({cut} bytes)" in caught.value.reason
    # Its stored thumbnail is not used either: the file is reported, not hashed.
    assert preview.read_preview(path, hashing.MAX_PIXELS, hashing.DECODE_SIZE) is None


def test_damaged_heic_decodes_or_is_refused_never_anything_else(tmp_path):
    # Random bytes changed anywhere (boxes, properties, HEVC data): a grey frame or a
    # DecodeError with a reason that reads as text, from both paths; nothing else.
    data = heic(PICTURES["chelsea"](), 6)
    rng = random.Random(14)
    refused = 0
    for n in range(60):
        damaged = bytearray(data)
        for _ in range(rng.randint(1, 8)):
            damaged[rng.randrange(len(damaged))] = rng.randrange(256)
        path = write(str(tmp_path / f"d{n}.heic"), bytes(damaged))
        try:
            grey = hashing.load_grey(path)
            assert grey.dtype == np.uint8 and grey.ndim == 2 and min(grey.shape) > 0
        except hashing.DecodeError as exc:
            refused += 1
            assert exc.reason.strip()
        fast = preview.read_preview(path, hashing.MAX_PIXELS, hashing.DECODE_SIZE)
        assert fast is None or min(fast.shape) >= preview.MIN_SHORT_SIDE
    assert refused  # some of them did hit something libheif checks


def test_box_name_that_is_not_text_gives_a_reason(tmp_path):
    # libvips quotes a damaged property's four-letter name, raw bytes, in its error;
    # pyvips cannot decode that text as UTF-8. It must still be a reason.
    data = bytearray(heic(PICTURES["chelsea"](), 6))
    at = bytes(data).index(b"irot")
    data[at + 3] = 0xE9
    path = write(str(tmp_path / "odd-box.heic"), bytes(data))
    with pytest.raises(hashing.DecodeError) as caught:
        hashing.load_grey(path)
    assert caught.value.reason.strip()


# -- an album of phone photos ----------------------------------------------------------


@pytest.fixture(scope="module")
def phone_album(tmp_path_factory):
    """An album of HEICs and JPEGs, and one set of thumbnails of the HEICs (one of
    them a HEIC itself): ``(album, thumbs folder, {thumbnail: its original})``."""
    root = tmp_path_factory.mktemp("phone")
    album, thumbs = str(root / "album"), str(root / "thumbs")
    big = {name: pixels(sample_image(name).resize(2)) for name in ("coffee", "rocket", "chelsea")}
    big["astronaut"] = pixels(sample_image("astronaut").resize(1.5))
    big["hubble"] = pixels(sample_image("hubble_deep_field"))
    originals = {
        # iPhone-like: a grid of tiles, a 320-px thumbnail, turned by irot (and EXIF).
        "coffee": write(
            os.path.join(album, "DCIM", "IMG_0001.HEIC"), heic(big["coffee"], 6, tiles=True)
        ),
        "rocket": write(os.path.join(album, "DCIM", "IMG_0002.HEIC"), heic(big["rocket"], 1)),
        # A thumbnail stored in the sensor's orientation beside a turned picture.
        "astronaut": write(
            os.path.join(album, "DCIM", "IMG_0003.HEIC"),
            drop_transforms(heic(big["astronaut"], 8), "thumbnails"),
        ),
        "hubble": write(
            os.path.join(album, "DCIM", "IMG_0004.heic"), heic(big["hubble"], 3, thumbnail=None)
        ),
        "chelsea": write(
            os.path.join(album, "camera", "DSC00001.HIF"), heic(big["chelsea"], 5, ten_bit=True)
        ),
    }
    # Photos without a thumbnail among them, and a half-copied HEIC.
    for name in ("retina", "coins", "brick"):
        image = pixels(sample_image(name).resize(1.5))
        write(os.path.join(album, "jpeg", f"{name}.jpg"), jpeg(image))
    with open(originals["coffee"], "rb") as fh:
        whole = fh.read()
    write(os.path.join(album, "DCIM", "IMG_0005.HEIC"), whole[: len(whole) // 2])
    # The thumbnails a web service made: upright, small, recompressed, some cropped.
    expected = {}
    for name, upright in big.items():
        image = pyvips.Image.new_from_array(upright, interpretation="srgb")
        square = name in ("coffee", "hubble")
        small = pyvips.Image.thumbnail_buffer(
            image.pngsave_buffer(), 240, height=240, crop="centre" if square else "none"
        )
        if name == "rocket":  # the service gave this one back as a HEIC
            path = os.path.join(thumbs, f"{name}.heic")
            write(path, heic(pixels(small), thumbnail=None, quality=50))
        else:
            path = write(os.path.join(thumbs, f"{name}.jpg"), small.jpegsave_buffer(Q=40))
        expected[path] = originals[name]
    return album, thumbs, expected


def test_phone_album_is_indexed_with_one_truncated_file_listed(phone_album, tmp_path):
    album, _, _ = phone_album
    before = fingerprint(album)
    report = index_album(album, index_path=str(tmp_path / "i.sqlite"))
    assert report.images == 9 and report.ok == 8
    # The four HEICs with a stored thumbnail, hashed from it; the others from pixels.
    assert report.from_previews == 4
    [(path, reason)] = report.errors
    assert path.endswith("IMG_0005.HEIC")
    assert "truncated file" in reason
    with AlbumIndex(album, str(tmp_path / "i.sqlite")) as index:
        assert [(p, r) for p, r in index.errors()] == [(path, reason)]
    assert fingerprint(album) == before


@pytest.mark.parametrize("previews", [True, False], ids=["stored thumbnails", "pixels"])
def test_every_thumbnail_finds_its_heic_original(phone_album, tmp_path, previews):
    album, thumbs, expected = phone_album
    before = fingerprint(album)
    run, report = match_album(
        album,
        [thumbs],
        str(tmp_path / "out"),
        index_path=str(tmp_path / "i.sqlite"),
        previews=previews,
    )
    assert report.from_previews == (4 if previews else 0)
    assert not run.skipped_queries
    got = {r.query: (r.status, r.match) for r in run.results}
    assert got == {q: ("matched", original) for q, original in expected.items()}
    # The review page shows each HEIC and HEIC thumbnail (a JPEG preview of it).
    for path in [*expected, *expected.values()]:
        shown = os.path.join(str(tmp_path / "out"), review.PREVIEWS_DIR, review.preview_key(path))
        assert pyvips.Image.new_from_file(shown).width > 0
    # Export copies the HEIC originals byte for byte; nothing decodes them again.
    items = export_originals(run, str(tmp_path / "export"))
    assert len(items) == len(expected)
    for original in expected.values():
        copy = os.path.join(str(tmp_path / "export"), "thumbs", os.path.basename(original))
        with open(copy, "rb") as a, open(original, "rb") as b:
            assert a.read() == b.read()
    assert fingerprint(album) == before


def test_importing_photomatch_registers_no_heif_opener_with_pillow():
    # pillow-heif is used on its own; the host program's Pillow still cannot open
    # a HEIC unless it registers pillow-heif itself.
    code = textwrap.dedent(
        """
        import PIL.Image
        PIL.Image.init()
        before = set(PIL.Image.OPEN)
        import photomatch, photomatch.heif
        assert set(PIL.Image.OPEN) == before and "HEIF" not in PIL.Image.OPEN
        print("ok")
        """
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "ok"


def test_without_pillow_heif_hevc_files_are_skipped_with_the_reason(tmp_path, monkeypatch):
    # Python 3.10 installs photomatch without pillow-heif (which needs 3.11).
    path = write(str(tmp_path / "a.heic"), heic(PICTURES["chelsea"]()))
    monkeypatch.setattr(heif, "AVAILABLE", False)
    assert preview.read_preview(path, hashing.MAX_PIXELS, hashing.DECODE_SIZE) is None
    with pytest.raises(hashing.DecodeError, match="needs pillow-heif"):
        hashing.hash_file(path, previews=True)
