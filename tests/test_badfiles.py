"""Bad input: every odd file an old album holds is either hashed correctly or skipped with
its reason, every file is accounted for, and ``index`` and ``match`` always finish.

Each case is made here, by the test, in a temporary folder. One album holds them
all (each case in its own folder); ``photomatch index`` and ``photomatch match``
run over it once, in subprocesses with a timeout (a FIFO must never hang the run).
The README's "Reliability" table lists these cases and what photomatch does.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import stat
import struct
import subprocess
from collections.abc import Callable
from dataclasses import dataclass, replace

import numpy as np
import pytest
import pyvips

from photomatch import hashing, index_album
from photomatch.demo import sample_image
from photomatch.index import AlbumIndex, scan_album

from albumcheck import fingerprint
from genalbum import run_photomatch

OK, SKIPPED, IGNORED = "hashed", "skipped", "ignored"


@dataclass(frozen=True)
class Expect:
    """What photomatch must do with one file of a case.

    ``rel``: path relative to the album (str, surrogate-escaped where the name is
    not UTF-8). ``outcome``: ``hashed`` (its full-frame hash row within
    ``bits`` of ``like``'s, and at least ``far_bits`` from ``unlike``'s),
    ``skipped`` (listed as unreadable, reason matching ``reason``) or ``ignored``
    (counted, not listed).
    """

    rel: str
    outcome: str
    like: str | None = None
    bits: int = 0
    unlike: str | None = None
    far_bits: int = 30
    reason: str = ""


# -- image makers -------------------------------------------------------------------------


def photo(name: str = "chelsea") -> pyvips.Image:
    return sample_image(name)


def jpeg_bytes(image: pyvips.Image, **kw) -> bytes:
    return image.jpegsave_buffer(Q=kw.pop("Q", 90), keep="none", **kw)


def with_app1(jpeg: bytes, tiff: bytes) -> bytes:
    """``jpeg`` with an EXIF (APP1) segment holding ``tiff`` right after SOI."""
    body = b"Exif\0\0" + tiff
    return jpeg[:2] + b"\xff\xe1" + struct.pack(">H", len(body) + 2) + body + jpeg[2:]


def tiff_ifd(entries: list[tuple[int, int, int, int]], next_ifd: int = 0) -> bytes:
    """A little-endian TIFF header and IFD0 at offset 8: entries (tag, type, count, value)."""
    out = b"II*\0" + struct.pack("<I", 8) + struct.pack("<H", len(entries))
    for tag, typ, count, value in entries:
        if typ == 3 and count == 1:
            out += struct.pack("<HHIHH", tag, typ, count, value, 0)
        else:
            out += struct.pack("<HHII", tag, typ, count, value)
    return out + struct.pack("<I", next_ifd)


def orientation_exif(value: int) -> bytes:
    return tiff_ifd([(0x0112, 3, 1, value)])


def broken_offsets_exif() -> bytes:
    # Make (ASCII), the Exif sub-IFD and the next IFD all point far past the block's end.
    return tiff_ifd(
        [(0x010F, 2, 4000, 0x7FFFFF00), (0x0112, 3, 1, 1), (0x8769, 4, 1, 0x00FFFFF0)],
        next_ifd=0x0FFFFFFF,
    )


def corrupt_preview_exif() -> bytes:
    """IFD0, then IFD1 describing an embedded JPEG preview whose bytes are garbage."""
    ifd0 = tiff_ifd([(0x0112, 3, 1, 1)], next_ifd=8 + 2 + 12 + 4)
    ifd1_at = len(ifd0)
    preview_at = ifd1_at + 2 + 2 * 12 + 4
    garbage = b"\xff\xd8\xff\xdb" + bytes(range(256)) * 4  # starts like a JPEG, is not one
    ifd1 = struct.pack("<H", 2)
    ifd1 += struct.pack("<HHII", 0x0201, 4, 1, preview_at)
    ifd1 += struct.pack("<HHII", 0x0202, 4, 1, len(garbage) + 5000)  # and too long
    ifd1 += struct.pack("<I", 0)
    return ifd0 + ifd1 + garbage


def png_bomb(width: int, height: int) -> bytes:
    """A 1 KB PNG declaring ``width`` x ``height`` grey pixels (only a few rows follow)."""
    import zlib

    def chunk(kind: bytes, data: bytes) -> bytes:
        crc = zlib.crc32(kind + data) & 0xFFFFFFFF
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    rows = zlib.compress(b"\0" * (width + 1) * 4, 9)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", rows) + chunk(b"IEND", b"")


def jpeg_declaring(jpeg: bytes, width: int, height: int) -> bytes:
    """``jpeg`` with its frame header (SOF0) saying ``width`` x ``height``."""
    at = jpeg.index(b"\xff\xc0")
    return jpeg[: at + 5] + struct.pack(">HH", height, width) + jpeg[at + 9 :]


def animated(frames: list[pyvips.Image]) -> pyvips.Image:
    sheet = pyvips.Image.arrayjoin(frames, across=1).copy()
    sheet.set_type(pyvips.GValue.gint_type, "page-height", frames[0].height)
    return sheet


def write(path: str, data: bytes) -> None:
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as fh:
        fh.write(data)


# -- the cases ----------------------------------------------------------------------------

#: Each case writes its files under ``album/<case>/`` (``d``) and its reference
#: images under ``refs/`` (``r``), and says what photomatch must do with them.
Case = Callable[[str, str, str], list[Expect]]
CASES: dict[str, Case] = {}


def case(name: str) -> Callable[[Case], Case]:
    def register(fn: Case) -> Case:
        CASES[name] = fn
        return fn

    return register


def ref(refs: str, name: str, image: pyvips.Image) -> str:
    path = os.path.join(refs, name)
    image.pngsave(path)
    return path


@case("empty file")
def _(album, d, refs):
    write(os.path.join(d, "empty.jpg"), b"")
    return [Expect("empty.jpg", SKIPPED, reason="empty file")]


@case("truncated JPEG")
def _(album, d, refs):
    data = jpeg_bytes(photo())
    write(os.path.join(d, "cut.jpg"), data[: len(data) // 2])
    return [Expect("cut.jpg", SKIPPED, reason="premature end|truncat")]


@case("PNG named .jpg")
def _(album, d, refs):
    write(os.path.join(d, "really-a-png.jpg"), photo().pngsave_buffer())
    return [Expect("really-a-png.jpg", OK, like=ref(refs, "png.png", photo()))]


@case("text named .jpg")
def _(album, d, refs):
    write(os.path.join(d, "notes.jpg"), b"shopping list: milk, eggs\n" * 20)
    return [Expect("notes.jpg", SKIPPED, reason="not an image format")]


@case("folder named x.jpg")
def _(album, d, refs):
    # A folder is a folder whatever its name: descended into, never decoded.
    write(os.path.join(d, "x.jpg", "inside.jpg"), jpeg_bytes(photo("coffee"), Q=95))
    like = ref(refs, "coffee.png", photo("coffee"))
    return [Expect(os.path.join("x.jpg", "inside.jpg"), OK, like=like, bits=2)]


@case("FIFO named x.jpg")
def _(album, d, refs):
    os.makedirs(d, exist_ok=True)
    os.mkfifo(os.path.join(d, "x.jpg"))  # opening it for reading would block forever
    return [Expect("x.jpg", IGNORED)]


@case("decompression bomb")
def _(album, d, refs):
    write(os.path.join(d, "bomb.png"), png_bomb(60000, 60000))
    write(os.path.join(d, "bomb.jpg"), jpeg_declaring(jpeg_bytes(photo()), 60000, 60000))
    return [
        Expect("bomb.png", SKIPPED, reason=r"too large: 60000x60000 px \(3600 MP\)"),
        Expect("bomb.jpg", SKIPPED, reason=r"too large: 60000x60000 px"),
    ]


@case("CMYK JPEG")
def _(album, d, refs):
    write(os.path.join(d, "cmyk.jpg"), jpeg_bytes(photo().colourspace("cmyk"), Q=95))
    return [Expect("cmyk.jpg", OK, like=ref(refs, "rgb.png", photo()), bits=4)]


@case("16-bit PNG")
def _(album, d, refs):
    deep = (photo().cast("ushort") * 257).copy(interpretation="rgb16")
    write(os.path.join(d, "deep.png"), deep.pngsave_buffer())
    return [Expect("deep.png", OK, like=ref(refs, "rgb.png", photo()), bits=2)]


@case("greyscale and alpha")
def _(album, d, refs):
    grey = photo().colourspace("b-w")
    write(os.path.join(d, "grey.jpg"), jpeg_bytes(grey, Q=95))
    write(os.path.join(d, "grey-alpha.png"), grey.bandjoin(255).pngsave_buffer())
    write(os.path.join(d, "rgba.png"), photo().bandjoin(255).pngsave_buffer())
    like = ref(refs, "rgb.png", photo())
    return [
        Expect("grey.jpg", OK, like=like, bits=4),
        Expect("grey-alpha.png", OK, like=like, bits=2),
        Expect("rgba.png", OK, like=like, bits=2),
    ]


@case("animated GIF and WebP")
def _(album, d, refs):
    # Two very different frames: the first one is the picture.
    first = photo("chelsea")
    second = photo("rocket").thumbnail_image(first.width, height=first.height, crop="centre")
    sheet = animated([first, second])
    write(os.path.join(d, "anim.gif"), sheet.gifsave_buffer())
    write(os.path.join(d, "anim.webp"), sheet.webpsave_buffer(Q=90))
    like = ref(refs, "rgb.png", first)
    unlike = ref(refs, "second-frame.png", second)
    return [
        Expect("anim.gif", OK, like=like, bits=8, unlike=unlike),
        Expect("anim.webp", OK, like=like, bits=4, unlike=unlike),
    ]


@case("progressive JPEG")
def _(album, d, refs):
    write(os.path.join(d, "progressive.jpg"), jpeg_bytes(photo(), Q=95, interlace=True))
    return [Expect("progressive.jpg", OK, like=ref(refs, "rgb.png", photo()), bits=2)]


@case("HEIC / AVIF")
def _(album, d, refs):
    # pyvips-binary's libheif decodes AV1 HEIF (.avif, and .heic holding AV1); pillow-heif
    # decodes HEVC, as phones write it (a real one made with libheif's heif-enc where it is
    # installed; tests/test_heif.py makes many more with pillow-heif's encoder). A HEIC that
    # cannot be decoded (an AVIF relabelled HEVC here) is skipped with libheif's reason.
    av1 = photo().heifsave_buffer(compression="av1", Q=90)
    write(os.path.join(d, "av1.heic"), av1)
    write(os.path.join(d, "photo.avif"), av1)
    fake = av1.replace(b"av01", b"hvc1").replace(b"av1C", b"hvcC").replace(b"avif", b"heic")
    write(os.path.join(d, "relabelled.heic"), fake)
    like = ref(refs, "rgb.png", photo())
    found = [
        Expect("av1.heic", OK, like=like, bits=4),
        Expect("photo.avif", OK, like=like, bits=4),
        Expect("relabelled.heic", SKIPPED, reason="heif"),
    ]
    if shutil.which("heif-enc"):
        real = os.path.join(d, "hevc.heic")
        subprocess.run(["heif-enc", "-q", "90", like, "-o", real], check=True, capture_output=True)
        found.append(Expect("hevc.heic", OK, like=like, bits=4))
    return found


@case("HEIF with a corrupt embedded preview")
def _(album, d, refs):
    # libvips' thumbnail takes a HEIF's embedded preview when it is big enough; when the
    # preview is damaged it must fall back to the main image. Needs heif-enc (libheif's
    # tool) to embed a preview; without it there is nothing to make.
    if not shutil.which("heif-enc"):
        return []
    big = ref(refs, "big.png", photo().resize(3))
    plain, with_preview = os.path.join(refs, "plain.avif"), os.path.join(refs, "preview.avif")
    for target, extra in ((plain, []), (with_preview, ["-t", "320"])):
        args = ["heif-enc", "-A", "-q", "60", *extra, big, "-o", target]
        subprocess.run(args, check=True, capture_output=True)
    data = bytearray(open(with_preview, "rb").read())
    preview_bytes = len(data) - os.path.getsize(plain)
    at = len(data) - preview_bytes // 2  # libheif writes the preview's data last
    data[at : at + 1000] = bytes(1000)
    path = os.path.join(d, "bad-preview.avif")
    write(path, bytes(data))
    with pytest.raises(pyvips.Error):  # the damage did hit the preview ...
        pyvips.Image.new_from_file(path, thumbnail=True).avg()
    pyvips.Image.new_from_file(path).avg()  # ... and not the main image
    return [Expect("bad-preview.avif", OK, like=big, bits=2)]


@case("EXIF orientation 0 and 9")
def _(album, d, refs):
    plain = jpeg_bytes(photo())
    write(os.path.join(refs, "plain.jpg"), plain)
    for value in (0, 9):
        write(
            os.path.join(d, f"orientation-{value}.jpg"), with_app1(plain, orientation_exif(value))
        )
    like = os.path.join(refs, "plain.jpg")
    # Invalid values mean "upright": the pixels hash exactly like the untagged file.
    return [Expect(f"orientation-{v}.jpg", OK, like=like, bits=0) for v in (0, 9)]


@case("EXIF offsets past the end")
def _(album, d, refs):
    plain = jpeg_bytes(photo())
    write(os.path.join(refs, "plain.jpg"), plain)
    write(os.path.join(d, "bad-exif.jpg"), with_app1(plain, broken_offsets_exif()))
    return [Expect("bad-exif.jpg", OK, like=os.path.join(refs, "plain.jpg"), bits=0)]


@case("garbage EXIF preview in a JPEG")
def _(album, d, refs):
    # A damaged embedded preview is not used: the frame itself is decoded.
    plain = jpeg_bytes(photo())
    write(os.path.join(refs, "plain.jpg"), plain)
    write(os.path.join(d, "bad-preview.jpg"), with_app1(plain, corrupt_preview_exif()))
    return [Expect("bad-preview.jpg", OK, like=os.path.join(refs, "plain.jpg"), bits=0)]


@case("symlink loops")
def _(album, d, refs):
    os.makedirs(d, exist_ok=True)
    os.symlink(".", os.path.join(d, "here"))  # a folder loop: symlinked folders are not followed
    os.symlink("..", os.path.join(d, "up.jpg"))
    os.symlink("b.jpg", os.path.join(d, "a.jpg"))  # a file loop: cannot be opened
    os.symlink("a.jpg", os.path.join(d, "b.jpg"))
    os.symlink("self.jpg", os.path.join(d, "self.jpg"))
    os.symlink("missing.jpg", os.path.join(d, "dangling.jpg"))
    return [Expect(n, IGNORED) for n in ("here", "up.jpg", "a.jpg", "b.jpg", "self.jpg")] + [
        Expect("dangling.jpg", IGNORED)
    ]


@case("symlinks out of the album")
def _(album, d, refs):
    # Policy: a symlinked file is indexed as the file it points to, wherever that is;
    # a symlinked folder is never followed (no loops, no escape into the whole disk).
    outside = os.path.join(os.path.dirname(album), "outside")
    write(os.path.join(outside, "elsewhere.jpg"), jpeg_bytes(photo("astronaut"), Q=95))
    os.makedirs(d, exist_ok=True)
    os.symlink(os.path.join(outside, "elsewhere.jpg"), os.path.join(d, "linked.jpg"))
    os.symlink(outside, os.path.join(d, "linked-folder"))
    like = ref(refs, "astronaut.png", photo("astronaut"))
    return [Expect("linked.jpg", OK, like=like, bits=2), Expect("linked-folder", IGNORED)]


#: Names no one should choose: a newline, an emoji, bytes that are not UTF-8, HTML.
HOSTILE_NAMES = [
    "new\nline.jpg",
    "tab\there\r.jpg",
    "\U0001f305 sunrise \u00e9t\u00e9.jpg",
    os.fsdecode(b"caf\xe9 latin-1 \xff.jpg"),
    "<img src=x onerror=alert(1)>.jpg",
    "$(touch pwned) `id`; rm -rf ~.jpg",
    "-rf.jpg",
]
BROKEN_HOSTILE_NAMES = ["broken\n<b>fake line</b>.jpg", os.fsdecode(b"broken \xff.jpg")]
NON_UTF8 = HOSTILE_NAMES[3]
#: Thumbnail names for the match run (see test_match_with_a_non_utf8_thumbnail_name).
THUMB_NAMES = [n for n in HOSTILE_NAMES if n != NON_UTF8]


@case("hostile names")
def _(album, d, refs):
    data = jpeg_bytes(photo("coins"), Q=95)
    for name in HOSTILE_NAMES:
        write(os.path.join(d, name), data)
    for name in BROKEN_HOSTILE_NAMES:  # unreadable, so listed in the summary
        write(os.path.join(d, name), b"junk")
    like = ref(refs, "coins.png", photo("coins"))
    return [Expect(name, OK, like=like, bits=2) for name in HOSTILE_NAMES] + [
        Expect(name, SKIPPED, reason="not an image format") for name in BROKEN_HOSTILE_NAMES
    ]


@case("path near the OS limits")
def _(album, d, refs):
    # A 255-byte file name (NAME_MAX) at the end of a path of about 4000 bytes (PATH_MAX 4096).
    name = "L" * 251 + ".jpg"
    depth = (4000 - len(os.fsencode(d)) - 256) // 201
    folder = os.path.join(d, *(["d" * 200] * depth))
    path = os.path.join(folder, name)
    assert 3800 < len(os.fsencode(path)) < 4096
    write(path, jpeg_bytes(photo("camera"), Q=95))
    like = ref(refs, "camera.png", photo("camera"))
    return [Expect(os.path.relpath(path, d), OK, like=like, bits=2)]


# -- the run ------------------------------------------------------------------------------


@dataclass
class BadRun:
    album: str
    expects: dict[str, list[Expect]]
    index: dict
    index_text: str
    match: dict
    match_code: int
    match_stdout: str
    thumbs: str
    out: str
    before: dict
    after: dict
    arrays_paths: list[str]
    rows: dict[str, np.ndarray]


def build_thumbs(folder: str) -> list[str]:
    """A thumbnail set with good and bad thumbnails (hostile names included)."""
    names = []
    good = photo("astronaut").thumbnail_image(200).jpegsave_buffer(Q=35)
    for name in ["good.jpg", *THUMB_NAMES]:
        write(os.path.join(folder, name), good)
        names.append(name)
    write(os.path.join(folder, "empty.jpg"), b"")
    write(os.path.join(folder, "text.jpg"), b"not a thumbnail")
    write(os.path.join(folder, "bomb.png"), png_bomb(60000, 60000))
    os.mkfifo(os.path.join(folder, "fifo.jpg"))
    return names + ["empty.jpg", "text.jpg", "bomb.png"]


@pytest.fixture(scope="module")
def bad_run(tmp_path_factory) -> BadRun:
    root = str(tmp_path_factory.mktemp("bad"))
    album, refs = os.path.join(root, "album"), os.path.join(root, "refs")
    os.makedirs(refs)
    expects = {}
    for name, make in CASES.items():
        d = os.path.join(album, name.replace(" ", "_").replace("/", "-"))
        prefix = os.path.relpath(d, album)
        expects[name] = [replace(e, rel=os.path.join(prefix, e.rel)) for e in make(album, d, refs)]
    # Ordinary photos beside them, for match to find.
    for name in ("astronaut", "rocket"):
        write(os.path.join(album, "good", f"{name}.jpg"), jpeg_bytes(photo(name).resize(2)))
    thumbs = os.path.join(root, "thumbs", "set")
    build_thumbs(thumbs)
    index = os.path.join(root, "index.sqlite")
    env = {"XDG_CACHE_HOME": os.path.join(root, "cache")}
    before = fingerprint(album)
    proc = run_photomatch("index", album, "--index", index, "--json", "-q", timeout=180, env=env)
    assert proc.returncode == 0, proc.stderr
    text = run_photomatch("index", album, "--index", index, "-q", timeout=180, env=env)
    assert text.returncode == 0, text.stderr
    out = os.path.join(root, "out")
    m = run_photomatch(
        "match", album, thumbs, "--out", out, "--index", index, "-q", timeout=300, env=env
    )
    assert m.returncode in (0, 3), m.stderr
    with AlbumIndex(album, index) as idx:
        arrays = idx.load()
    rows = {
        os.path.relpath(p, album): arrays.hashes[(arrays.row_file == i) & (arrays.row_view == 0)][0]
        for i, p in enumerate(arrays.paths)
    }
    with open(os.path.join(out, "matches.json"), encoding="utf-8") as fh:
        match = json.load(fh)
    return BadRun(
        album=album,
        expects=expects,
        index=json.loads(proc.stdout),
        index_text=text.stdout,
        match=match,
        match_code=m.returncode,
        match_stdout=m.stdout,
        thumbs=thumbs,
        out=out,
        before=before,
        after=fingerprint(album),
        arrays_paths=arrays.paths,
        rows=rows,
    )


def distance(a: np.ndarray, b: np.ndarray) -> int:
    return int(np.bitwise_count(a ^ b).sum())


@pytest.mark.parametrize("name", list(CASES))
def test_each_bad_file_is_hashed_or_skipped_with_its_reason(bad_run, name):
    if not bad_run.expects[name]:
        pytest.skip("needs heif-enc (Debian: libheif-examples) to make the file")
    unreadable = {
        os.path.relpath(u["path"], bad_run.album): u["reason"] for u in bad_run.index["unreadable"]
    }
    for e in bad_run.expects[name]:
        if e.outcome == OK:
            assert e.rel in bad_run.rows, (e.rel, unreadable.get(e.rel))
            want = hashing.hash_file(e.like).rows[0]
            assert distance(bad_run.rows[e.rel], want) <= e.bits, e.rel
            if e.unlike:
                far = hashing.hash_file(e.unlike).rows[0]
                assert distance(bad_run.rows[e.rel], far) >= e.far_bits, e.rel
        elif e.outcome == SKIPPED:
            assert e.rel in unreadable, e.rel
            assert re.search(e.reason, unreadable[e.rel], re.IGNORECASE), unreadable[e.rel]
        else:
            assert e.rel not in bad_run.rows and e.rel not in unreadable, e.rel


def test_every_file_is_accounted_for(bad_run):
    data = bad_run.index
    expects = [e for es in bad_run.expects.values() for e in es]
    hashed = sum(e.outcome == OK for e in expects) + 2  # and the two good photos
    skipped = sum(e.outcome == SKIPPED for e in expects)
    assert data["images"] == hashed + skipped == len(bad_run.rows) + len(data["unreadable"])
    assert len(data["unreadable"]) == skipped
    assert data["ignored"] == sum(e.outcome == IGNORED for e in expects)
    assert data["unreadable_folders"] == []
    # The second run decoded nothing again and found the same.
    assert "0 decoded" in bad_run.index_text


def test_the_album_is_untouched(bad_run):
    assert bad_run.after == bad_run.before


def test_match_finishes_and_lists_every_thumbnail(bad_run):
    m = bad_run.match
    assert bad_run.match_code == 3  # the unreadable thumbnails need review
    queries = {os.path.basename(r["query"]) for r in m["results"]}
    skipped = {os.path.basename(s["path"]): s["reason"] for s in m["skipped_queries"]}
    assert queries == {"good.jpg", *THUMB_NAMES}
    assert set(skipped) == {"empty.jpg", "text.jpg", "bomb.png"}
    assert "too large" in skipped["bomb.png"] and "empty" in skipped["empty.jpg"]

    # The same thumbnail under hostile names finds the same original as under a plain name
    # (all are "ambiguous": within one set, several thumbnails of one original are flagged).
    def found(r: dict) -> set[str]:
        return {p for c in r["candidates"][:1] for p in [c["path"], *c["variants"]]}

    by_name = {os.path.basename(r["query"]): r for r in m["results"]}
    assert os.path.join(bad_run.album, "good", "astronaut.jpg") in found(by_name["good.jpg"])
    for name in THUMB_NAMES:
        assert found(by_name[name]) == found(by_name["good.jpg"]), name
    assert os.path.isfile(os.path.join(bad_run.out, "review.html"))


def test_text_summary_shows_each_name_on_one_line(bad_run):
    # A name with a newline must not split its line, nor pass as another line of output;
    # a name that is not UTF-8 is shown with its bytes escaped, not a crash.
    lines = bad_run.index_text.splitlines()
    assert lines[0].startswith("album ") and "images" in lines[0]
    listed = [ln for ln in lines if ln.startswith("  ") and not ln.startswith("  ... and")]
    assert len(listed) == min(len(bad_run.index["unreadable"]), 8)  # the CLI shows 8
    assert all(": " in ln and bad_run.album in ln for ln in listed)
    assert any(
        ln.endswith("broken\\n<b>fake line</b>.jpg: not an image format photomatch can read")
        for ln in listed
    )
    assert any("broken \\xff.jpg: " in ln for ln in listed)


def test_a_file_that_vanishes_between_scan_and_decode_is_skipped(tmp_path, monkeypatch):
    album = tmp_path / "album"
    for name in ("a.jpg", "b.jpg", "c.jpg"):
        write(str(album / name), jpeg_bytes(photo("coffee")))

    def scan_then_delete(root, *args, **kwargs):
        found = scan_album(root, *args, **kwargs)
        os.remove(os.path.join(root, "b.jpg"))
        return found

    monkeypatch.setattr("photomatch.index.scan_album", scan_then_delete)
    index = str(tmp_path / "i.sqlite")
    report = index_album(str(album), index, progress=False)
    assert report.images == 3 and report.ok == 2
    assert [(os.path.basename(p), r) for p, r in report.errors] == [
        ("b.jpg", "No such file or directory")
    ]
    monkeypatch.undo()
    again = index_album(str(album), index, progress=False)
    assert (again.images, again.removed, again.decoded, again.errors) == (2, 1, 0, [])


def _fd_fingerprint(root: str) -> dict[str, tuple]:
    """Like albumcheck.fingerprint, but reaches paths longer than PATH_MAX (fd-relative)."""
    out = {}
    for folder, dirs, files, dfd in os.fwalk(root):
        for name in dirs + files:
            st = os.stat(name, dir_fd=dfd, follow_symlinks=False)
            digest = b""
            if stat.S_ISREG(st.st_mode):
                fd = os.open(name, os.O_RDONLY, dir_fd=dfd)
                with open(fd, "rb") as fh:
                    digest = fh.read()
            out[os.path.join(folder, name)] = (st.st_size, st.st_mtime_ns, digest)
    return out


def test_a_folder_past_path_max_is_reported_not_lost(tmp_path):
    """Files nothing can open by path (deeper than PATH_MAX) are listed as an unreadable folder."""
    album = tmp_path / "album"
    write(str(album / "fine.jpg"), jpeg_bytes(photo("coffee")))
    fd = os.open(album, os.O_RDONLY)
    try:
        for _ in range(22):  # 22 x 201 bytes: past PATH_MAX (4096)
            os.mkdir("d" * 200, dir_fd=fd)
            deeper = os.open("d" * 200, os.O_RDONLY, dir_fd=fd)
            os.close(fd)
            fd = deeper
        with open(os.open("deep.jpg", os.O_WRONLY | os.O_CREAT, 0o644, dir_fd=fd), "wb") as fh:
            fh.write(jpeg_bytes(photo("coffee")))
    finally:
        os.close(fd)
    before = _fd_fingerprint(str(album))
    report = index_album(str(album), str(tmp_path / "i.sqlite"), progress=False)
    assert report.ok == 1
    assert len(report.unreadable_folders) == 1
    folder, reason = report.unreadable_folders[0]
    assert len(os.fsencode(folder)) > 4096 and "too long" in reason
    assert _fd_fingerprint(str(album)) == before
    shutil.rmtree(album)  # rmtree works by file descriptor; pytest's cleanup would too


def test_header_limit_refuses_before_decoding(tmp_path, monkeypatch):
    """The pixel limit is read from the header: nothing is decoded, at any size of file."""
    path = tmp_path / "big.png"
    photo().pngsave(str(path))
    monkeypatch.setattr(hashing, "MAX_PIXELS", photo().width * photo().height - 1)
    calls = []
    real = pyvips.Image.thumbnail_source
    monkeypatch.setattr(
        pyvips.Image, "thumbnail_source", lambda *a, **k: calls.append(1) or real(*a, **k)
    )
    with pytest.raises(hashing.DecodeError, match="too large"):
        hashing.load_grey(str(path))
    assert calls == []
    monkeypatch.setattr(hashing, "MAX_PIXELS", photo().width * photo().height)
    assert max(hashing.load_grey(str(path)).shape) == hashing.DECODE_SIZE
    assert calls == [1]


@pytest.mark.parametrize("kind", ["fifo", "folder", "missing"])
def test_load_grey_never_blocks_on_what_is_not_a_file(tmp_path, kind):
    path = tmp_path / "x.jpg"
    if kind == "fifo":
        os.mkfifo(path)
    elif kind == "folder":
        path.mkdir()
    with pytest.raises(hashing.DecodeError) as err:
        hashing.load_grey(str(path))
    assert (
        err.value.reason
        == {
            "fifo": "not a regular file (a pipe, device or socket)",
            "folder": "not a regular file (a folder)",
            "missing": "No such file or directory",
        }[kind]
    )


def test_match_with_a_non_utf8_thumbnail_name(tmp_path):
    album, thumbs = tmp_path / "album", tmp_path / "thumbs"
    write(str(album / "coins.jpg"), jpeg_bytes(photo("coins")))
    write(os.path.join(thumbs, NON_UTF8), photo("coins").thumbnail_image(200).jpegsave_buffer())
    proc = run_photomatch(
        "match",
        str(album),
        str(thumbs),
        "--out",
        str(tmp_path / "out"),
        "-q",
        "--index",
        str(tmp_path / "i.sqlite"),
        env={"XDG_CACHE_HOME": str(tmp_path / "c")},
    )
    assert proc.returncode == 0, proc.stderr


def test_each_failure_keeps_its_own_reason_when_threads_fail_at_once(tmp_path):
    """libvips has one error buffer per process; decoding threads must not swap reasons."""
    from concurrent.futures import ThreadPoolExecutor

    good = jpeg_bytes(photo().thumbnail_image(128))
    kinds = {
        "cut": (good[: len(good) // 2], "premature end"),
        "text": (b"not a picture at all" * 10, "not an image format"),
        "png": (photo().thumbnail_image(64).pngsave_buffer()[:300], "png|read|end"),
        "good": (good, None),
    }
    paths = []
    for n in range(160):
        kind = list(kinds)[n % len(kinds)]
        path = str(tmp_path / f"{kind}-{n}.jpg")
        write(path, kinds[kind][0])
        paths.append((path, kind))

    def outcome(item: tuple[str, str]) -> tuple[str, str | None]:
        try:
            hashing.load_grey(item[0])
        except hashing.DecodeError as exc:
            return item[1], exc.reason
        return item[1], None

    with ThreadPoolExecutor(max_workers=8) as pool:
        for kind, reason in pool.map(outcome, paths * 3):
            want = kinds[kind][1]
            if want is None:
                assert reason is None
            else:
                assert reason is not None and re.search(want, reason, re.IGNORECASE), (kind, reason)
