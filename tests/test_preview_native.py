"""The native preview path (rust/preview.rs) against Python's: the same rows to the bit.

``preview.hash_jpeg_previews`` reads, decodes and hashes embedded EXIF previews in
Rust for the index; ``preview.read_preview`` + ``hashing.hash_grey`` is the
reference. On camera-style files made from every sample photograph (several
aspects with letterbox or pillarbox bands, every orientation, grey, 4:4:4,
progressive and DCT-scaled previews) both must take the same decision and, when
they take the preview, give exactly the same rows. On damaged or hostile files
the native path declines without crashing; on random damage it never accepts a
preview that Python would not take, or takes it with other rows (it may decline
more: the index then runs the Python path for that file).
"""

from __future__ import annotations

import os
import random
import sqlite3
import sys

import numpy as np
import pytest
import pyvips

from photomatch import demo, hashing, index, overview, preview
from photomatch.index import AlbumIndex

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "benches"))
import _photos  # noqa: E402  (the benchmarks' camera-style EXIF writer)

#: Stored photo sizes: 4:3 (the preview fills 160 x 120), 3:2 and 16:9
#: (letterboxed), 1:1 (pillarboxed), 2:3 portrait (a 120 x 160 preview).
ASPECTS = [(1200, 900), (1200, 800), (1280, 720), (900, 900), (800, 1200)]


def picture(name: str, width: int, height: int) -> pyvips.Image:
    """A sample photograph cut to ``width`` x ``height``, in colour."""
    img = demo.sample_image(name)
    if img.bands == 1:
        img = img.colourspace("srgb")
    img = img.resize(max(width / img.width, height / img.height) * 1.01)
    return img.crop((img.width - width) // 2, (img.height - height) // 2, width, height)


def boxed(stored: pyvips.Image, box: tuple[int, int] | None = None) -> pyvips.Image:
    """``stored`` shrunk into a camera's preview box, centred on black bands."""
    if box is None:
        box = (160, 120) if stored.width >= stored.height else (120, 160)
    small = stored.thumbnail_image(box[0], height=box[1])
    return small.gravity("centre", box[0], box[1], extend="black")


def write_camera_file(
    path: str, stored: pyvips.Image, orientation: int, thumb: bytes | None
) -> str:
    """``stored`` saved as a camera would, with ``thumb`` as its EXIF preview."""
    with open(path, "wb") as fh:
        fh.write(_photos.still_camera_jpeg(stored, orientation, thumb, quality=85))
    return path


def python_rows(path: str) -> hashing.ImageHashes | None:
    grey = preview.read_preview(path, hashing.MAX_PIXELS, hashing.DECODE_SIZE)
    return None if grey is None else hashing.hash_grey(grey, album=True)


def native_rows(paths: list[str], threads: int = 0) -> list[preview.PreviewRows | None]:
    return preview.hash_jpeg_previews(paths, hashing.MAX_PIXELS, hashing.DECODE_SIZE, threads)


def taken_alike(paths: list[str]) -> int:
    """How many of ``paths`` the native path takes a preview of, each checked to
    be taken by Python too, with the same rows."""
    taken = 0
    for path, item in zip(paths, native_rows(paths), strict=True):
        if item is not None:
            taken += 1
            assert assert_same(path, item)
    return taken


def assert_same(path: str, native: preview.PreviewRows | None) -> bool:
    """Both paths take the same decision on ``path``, and the same rows when they
    take its preview; returns whether they took it."""
    expected = python_rows(path)
    assert (native is None) == (expected is None), (path, expected is None)
    if native is None or expected is None:
        return False
    rows = np.frombuffer(native.rows, dtype="<u8").reshape(-1, hashing.WORDS)
    assert np.array_equal(rows, expected.rows), path
    assert native.view_ids == expected.view_ids.tobytes(), path
    assert (native.width, native.height) == (expected.width, expected.height), path
    assert native.overview == expected.overview, path
    assert len(native.overview) == np.prod(overview.overview_shape(native.height, native.width))
    return True


@pytest.fixture(scope="module")
def camera_files(tmp_path_factory: pytest.TempPathFactory) -> list[tuple[str, bool]]:
    """``(path, whether the preview must be taken)`` of camera-style files made
    from every sample photograph, in every aspect, orientation and preview kind."""
    folder = tmp_path_factory.mktemp("native")
    files: list[tuple[str, bool]] = []
    for i, name in enumerate(demo.SAMPLES):
        for j, (w, h) in enumerate(ASPECTS):
            stored = picture(name, w, h)
            # Every orientation for the first photograph; one each for the others.
            orientations = range(1, 9) if i == 0 else [(i * 5 + j) % 8 + 1]
            thumb = boxed(stored).jpegsave_buffer(Q=75, keep="none")
            for o in orientations:
                path = str(folder / f"{name}-{w}x{h}-o{o}.jpg")
                files.append((write_camera_file(path, stored, o, thumb), True))
        stored = picture(name, 1200, 800)
        kinds = {
            # A single-component (grey) preview.
            "grey": boxed(stored.colourspace("b-w")).jpegsave_buffer(Q=75, keep="none"),
            # 4:4:4 chroma, progressive: libjpeg-turbo's other decoding paths.
            "444": boxed(stored).jpegsave_buffer(Q=90, keep="none", subsample_mode="off"),
            "progressive": boxed(stored).jpegsave_buffer(Q=75, keep="none", interlace=True),
            # Larger than the decode box on both sides: decoded at 1/2 (DCT scaling).
            "scaled": boxed(stored, (540, 510)).jpegsave_buffer(Q=40, keep="none"),
            # An odd size, no bands: 301 x 201 is 3:2 within the tolerance.
            "odd": stored.thumbnail_image(301, height=201).jpegsave_buffer(Q=80, keep="none"),
        }
        for kind, thumb in kinds.items():
            path = str(folder / f"{name}-{kind}.jpg")
            files.append((write_camera_file(path, stored, 1 + i % 8, thumb), True))
        # Previews both paths must decline: cropped to 4:3 from a 3:2 photo (no
        # bands), bands that are not uniform, too small, none at all.
        cropped = stored.thumbnail_image(160, height=120, crop="centre")
        noisy = boxed(stored).draw_rect([255], 0, 0, 160, 6, fill=True)
        noisy = noisy.draw_rect([0], 0, 0, 80, 6, fill=True)
        tiny = stored.thumbnail_image(90, height=60)
        for kind, thumb in [
            ("cropped", cropped.jpegsave_buffer(Q=75, keep="none")),
            ("noisy-band", noisy.jpegsave_buffer(Q=75, keep="none")),
            ("tiny", tiny.jpegsave_buffer(Q=75, keep="none")),
            ("none", None),
        ]:
            path = str(folder / f"{name}-{kind}.jpg")
            files.append((write_camera_file(path, stored, 1, thumb), False))
    return files


def test_the_native_path_gives_pythons_rows_on_every_sample_photo(camera_files):
    paths = [p for p, _ in camera_files]
    native = native_rows(paths)
    for (path, usable), found in zip(camera_files, native, strict=True):
        assert assert_same(path, found) == usable, path


def test_the_native_path_gives_the_same_rows_on_any_number_of_threads(camera_files):
    paths = [p for p, _ in camera_files]
    assert native_rows(paths, 1) == native_rows(paths, 2) == native_rows(paths, 0)


def test_the_bench_camera_files_take_the_native_path(tmp_path):
    # The benchmarks' 12-MP generator writes its previews the same way; two of
    # its files (one sideways), at a smaller size to stay quick.
    for index_ in (0, 4):
        path = str(tmp_path / f"b{index_}.jpg")
        stored = picture(demo.SAMPLES[index_ % len(demo.SAMPLES)], 1600, 1200)
        thumb = stored.thumbnail_image(160, height=120).jpegsave_buffer(Q=75, keep="none")
        write_camera_file(path, stored, _photos.orientation_of(index_), thumb)
        assert assert_same(path, native_rows([path])[0])


@pytest.fixture(scope="module")
def one_camera_file(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    stored = picture("astronaut", 1200, 800)
    path = str(tmp_path_factory.mktemp("one") / "p.jpg")
    write_camera_file(path, stored, 6, boxed(stored).jpegsave_buffer(Q=75, keep="none"))
    with open(path, "rb") as fh:
        return fh.read()


def _app1(data: bytes) -> tuple[int, int]:
    """Start and end of the Exif APP1 payload in a file from ``write_camera_file``."""
    assert data[2:4] == b"\xff\xe1"
    length = int.from_bytes(data[4:6], "big")
    return 6, 4 + length


def _tiff_at(data: bytes) -> int:
    return _app1(data)[0] + 6  # after "Exif\0\0"


def _ifd0_next_at(data: bytes) -> int:
    """Offset in the file of IFD0's pointer to IFD1."""
    tiff = _tiff_at(data)
    ifd0 = tiff + int.from_bytes(data[tiff + 4 : tiff + 8], "little")
    return ifd0 + 2 + 12 * int.from_bytes(data[ifd0 : ifd0 + 2], "little")


def _ifd1_entry(data: bytes, tag: int) -> int:
    """Offset in the file of the value field of IFD1's ``tag``."""
    tiff = _tiff_at(data)
    at = _ifd0_next_at(data)
    ifd1 = tiff + int.from_bytes(data[at : at + 4], "little")
    for k in range(int.from_bytes(data[ifd1 : ifd1 + 2], "little")):
        entry = ifd1 + 2 + 12 * k
        if int.from_bytes(data[entry : entry + 2], "little") == tag:
            return entry + 8
    raise AssertionError(f"no tag {tag:#x} in IFD1")


def _patched(data: bytes, at: int, value: int) -> bytes:
    return data[:at] + value.to_bytes(4, "little") + data[at + 4 :]


def _hostile(data: bytes) -> dict[str, bytes]:
    start, end = _app1(data)
    offset_at, length_at = _ifd1_entry(data, 0x0201), _ifd1_entry(data, 0x0202)
    offset = int.from_bytes(data[offset_at : offset_at + 4], "little")
    length = int.from_bytes(data[length_at : length_at + 4], "little")
    thumb = _tiff_at(data) + offset
    huge = (  # a preview header declaring 65535 x 65535 pixels
        b"\xff\xd8\xff\xc0\x00\x0b\x08\xff\xff\xff\xff\x01\x01\x11\x00"
        b"\xff\xda\x00\x08\x01\x01\x00\x00\x3f\x00"
    )
    return {
        "truncated in the EXIF": data[: (start + end) // 2],
        "truncated before the SOF": data[:end],
        "truncated in the preview": data[: thumb + length // 2],
        "IFD0 offset past the end": _patched(data, _tiff_at(data) + 4, 0xFFFF0000),
        "IFD1 offset past the end": _patched(data, _ifd0_next_at(data), 0x7FFFFFF0),
        "preview offset past the end": _patched(data, offset_at, 0x7FFFFFF0),
        "preview length past the end": _patched(data, length_at, length + 100_000),
        "preview length 0": _patched(data, length_at, 0),
        "preview offset into the IFDs": _patched(data, offset_at, 8),
        "preview not a JPEG": data[:thumb] + b"GIF89a" + data[thumb + 6 :],
        "preview entropy data garbled": data[: thumb + length // 2]
        + bytes(random.Random(1).randrange(256) for _ in range(length - length // 2))
        + data[thumb + length :],
        "preview declaring a huge size": data[:thumb]
        + huge
        + b"\x00" * (length - len(huge))
        + data[thumb + length :],
        "not a JPEG at all": b"\x89PNG\r\n\x1a\n" + data[8:],
        "empty": b"",
        "SOI only": b"\xff\xd8\xff",
    }


def test_hostile_files_get_no_preview_and_no_crash(tmp_path, one_camera_file):
    cases = _hostile(one_camera_file)
    paths = []
    for i, (name, data) in enumerate(cases.items()):
        path = str(tmp_path / f"h{i}.jpg")
        with open(path, "wb") as fh:
            fh.write(data)
        paths.append((name, path))
    os.mkdir(tmp_path / "folder.jpg")
    os.mkfifo(tmp_path / "pipe.jpg")
    paths += [
        ("a folder", str(tmp_path / "folder.jpg")),
        ("a FIFO (never blocks)", str(tmp_path / "pipe.jpg")),
        ("missing", str(tmp_path / "missing.jpg")),
    ]
    found = native_rows([p for _, p in paths], 2)
    for (name, _), item in zip(paths, found, strict=True):
        assert item is None, name
    # The untouched file takes its preview, with Python's rows.
    good = str(tmp_path / "good.jpg")
    with open(good, "wb") as fh:
        fh.write(one_camera_file)
    assert assert_same(good, native_rows([good])[0])


def _preview_parts(data: bytes) -> tuple[list[int], list[int]]:
    """Byte offsets of the preview's coded data (its quantization and Huffman
    tables and its entropy-coded scan) and of everything else in the header
    (EXIF, TIFF directories, the preview's other segments, the photo's tables
    and SOF), for damage tests."""
    length_at = _ifd1_entry(data, 0x0202)
    thumb = _tiff_at(data) + int.from_bytes(data[_ifd1_entry(data, 0x0201) :][:4], "little")
    end = thumb + int.from_bytes(data[length_at : length_at + 4], "little")
    coded: list[int] = []
    at = thumb + 2
    while data[at + 1] != 0xDA:  # segments up to the preview's SOS
        size = int.from_bytes(data[at + 2 : at + 4], "big")
        if data[at + 1] in (0xDB, 0xC4):  # DQT, DHT
            coded += range(at + 4, at + 2 + size)
        at += 2 + size
    coded += range(at + 2 + int.from_bytes(data[at + 2 : at + 4], "big"), end - 2)
    photo_sof = data.index(b"\xff\xc0", end)
    structure = [i for i in range(2, photo_sof + 20) if i not in set(coded)]
    return coded, structure


def _damaged(data: bytes, where: list[int], count: int, seed: int) -> list[bytes]:
    rng = random.Random(seed)
    out = []
    for _ in range(count):
        damaged = bytearray(data)
        for _ in range(rng.choice([1, 1, 2, 4])):
            damaged[rng.choice(where)] = rng.randrange(256)
        out.append(bytes(damaged))
    return out


def _write_all(folder, datas: list[bytes]) -> list[str]:
    paths = []
    for i, data in enumerate(datas):
        path = str(folder / f"f{i}.jpg")
        with open(path, "wb") as fh:
            fh.write(data)
        paths.append(path)
    return paths


def test_random_header_damage_never_makes_the_native_path_take_what_python_would_not(
    tmp_path, one_camera_file
):
    """Seeded byte flips in the file's header and the preview's structure (EXIF,
    TIFF directories, segments, SOF, SOS): the native path may decline more than
    Python (the index then asks Python), never accept differently."""
    _, where = _preview_parts(one_camera_file)
    paths = _write_all(tmp_path, _damaged(one_camera_file, where, 300, 16))
    assert taken_alike(paths) > 50  # most flips land in parts that change nothing


def test_random_coded_data_damage_never_makes_the_native_path_take_what_python_would_not(
    tmp_path, one_camera_file
):
    """Seeded byte flips in the preview's coded data (tables, entropy-coded
    scan). libjpeg warns of most (the native path then leaves the file to
    Python). Of the rest, damaged coefficients can run outside the range where
    libjpeg-turbo's C IDCT (built here) and its SIMD IDCTs (Pillow's wheels)
    agree: the native path declines those too (rust/preview.rs, ``guarded_idct``),
    so what it takes, it takes with Python's rows."""
    coded, _ = _preview_parts(one_camera_file)
    paths = _write_all(tmp_path, _damaged(one_camera_file, coded, 200, 17))
    assert taken_alike(paths) > 20


def test_a_file_name_that_is_not_utf8_is_read(tmp_path, one_camera_file):
    # Album names are bytes; Python hands them over with surrogate escapes.
    name = os.path.join(os.fsencode(str(tmp_path)), b"caf\xe9 \xff.jpg")
    with open(name, "wb") as fh:
        fh.write(one_camera_file)
    path = os.fsdecode(name)
    assert assert_same(path, native_rows([path])[0])


def test_invalid_limits_are_refused():
    from photomatch import _core

    with pytest.raises(ValueError, match="box_size"):
        _core.preview_hashes(
            [],
            max_pixels=1,
            max_preview_pixels=1,
            box_size=0,
            aspect_tolerance=0.03,
            band_deviation=6.0,
            min_short_side=60,
            min_long_side=120,
        )


def _index_rows(path: str) -> list[tuple[object, ...]]:
    with sqlite3.connect(path) as db:
        files = sorted(db.execute("SELECT * FROM files"))
        return files + sorted(db.execute("SELECT * FROM overviews"))


def test_the_index_is_the_same_with_native_or_python_previews(
    tmp_path, camera_files, one_camera_file, monkeypatch
):
    """A mixed album (previews taken, declined, damaged, a PNG) indexes to the
    same rows through the native batches as file by file in Python."""
    album = tmp_path / "album"
    album.mkdir()
    for path, _ in camera_files[::3]:
        os.link(path, album / os.path.basename(path))
    for i, data in enumerate(list(_hostile(one_camera_file).values())[:6]):
        (album / f"damaged{i}.jpg").write_bytes(data)
    picture("rocket", 300, 200).pngsave(str(album / "scan.png"))
    reports = {}
    for native in (True, False):
        monkeypatch.setattr(index, "_NATIVE_PREVIEWS", native)
        with AlbumIndex(str(album), str(tmp_path / f"{native}.sqlite")) as idx:
            reports[native] = idx.update(jobs=2)
    assert reports[True].from_previews == reports[False].from_previews > 0
    assert reports[True].errors == reports[False].errors
    assert _index_rows(str(tmp_path / "True.sqlite")) == _index_rows(str(tmp_path / "False.sqlite"))
    # The worker-process and cluster task (file_rows) makes the same rows too.
    monkeypatch.setattr(index, "_NATIVE_PREVIEWS", True)
    entries, _ = index.scan_album(str(album), [])
    native = index.file_rows(str(album), entries)
    monkeypatch.setattr(index, "_NATIVE_PREVIEWS", False)
    assert native == index.file_rows(str(album), entries)
