"""The review page's on-demand pieces, without a browser: the compare view's region and
difference images (``compare``), capture information (``capture``), the album search
and what a person may pick from it (``album_search``, ``results.check_decisions``),
and ``photomatch export`` honouring a pick found by the search. On the sample album's
real photographs; the album is never written."""

from __future__ import annotations

import json
import os
import shutil

import pytest
import pyvips
from PIL import Image

from photomatch import compare
from photomatch.album_search import AlbumCatalog, is_album_file
from photomatch.capture import read_capture
from photomatch.cli import main
from photomatch.errors import DecodeError
from photomatch.index import AlbumIndex
from photomatch.results import (
    Decision,
    check_decisions,
    read_decisions,
    read_json,
    write_decisions,
)

from albumcheck import fingerprint


def thumb(sample, kind: str):
    return next(t for t in sample.thumbs if t.kind.startswith(kind))


def decoded(data: bytes) -> pyvips.Image:
    return pyvips.Image.new_from_buffer(data, "")


@pytest.fixture
def burst_square(sample, tmp_path) -> str:
    """A centre square of the burst's middle frame, 180 px at q30, as a web
    service cuts one (the sample's own burst thumbnail is an off-centre crop)."""
    square = pyvips.Image.thumbnail(sample.burst[1], 180, height=180, crop="centre")
    path = str(tmp_path / "square.jpg")
    square.jpegsave(path, Q=30)
    return path


# -- the compare view ---------------------------------------------------------------------


def test_a_centre_square_is_found_where_it_was_cut(sample, burst_square):
    before = fingerprint(sample.album)
    c = compare.compare(burst_square, sample.burst[1])
    # A centre square of a 3:2 frame: two thirds of the width, the whole height, centred.
    assert c.w == pytest.approx(2 / 3, abs=0.02) and c.h == pytest.approx(1.0, abs=0.02)
    assert c.x + c.w / 2 == pytest.approx(0.5, abs=0.03)
    assert c.ncc > 0.95 and c.rejected == ""
    assert c.info()["where"] == "a crop of 67% of the photo, centre"
    region, diff, shown = decoded(c.region_jpeg), decoded(c.diff_png), decoded(c.thumb_jpeg)
    # Cut from the original at more detail than the thumbnail has, in its shape.
    assert max(region.width, region.height) > 2 * max(shown.width, shown.height)
    assert region.width / region.height == pytest.approx(shown.width / shown.height, rel=0.03)
    assert (diff.width, diff.height) == (shown.width, shown.height) and diff.bands == 1
    assert fingerprint(sample.album) == before


def test_the_frame_a_crop_was_cut_from_sits_on_its_framing(sample, burst_square):
    truth = sample.burst[1]
    for frame in sample.burst:
        c = compare.compare(burst_square, frame)
        assert c.ncc > 0.99  # a crop fits every frame of the burst alike...
        if frame == truth:  # ... but only its own frame where a web service cuts
            assert c.offset_px <= 1.0 and c.info()["framing"].startswith("on a standard")
        else:
            assert c.offset_px > 2.0 and "another frame?" in c.info()["framing"]


def test_a_whole_frame_and_an_edited_copy(sample):
    t = thumb(sample, "downscaled q30")
    c = compare.compare(t.path, t.expected[0])
    assert c.info()["where"] == "the whole photo" and c.rejected == ""
    edited = thumb(sample, "photo with an edited copy")
    copy = next(p for p in edited.expected if "edited" in p)
    plain = compare.compare(edited.path, next(p for p in edited.expected if p != copy))
    brighter = compare.compare(edited.path, copy)
    # The tone fit takes the brightening out: the copy differs little more than the original.
    assert brighter.gain < plain.gain
    assert brighter.diff_rms < plain.diff_rms + 3


def test_an_unrelated_photo_is_rejected_in_words(sample):
    t = thumb(sample, "downscaled q30")
    c = compare.compare(t.path, sample.burst[0])
    assert c.rejected and ("similarity" in c.rejected or "part" in c.rejected)
    assert c.diff_rms > compare.compare(t.path, t.expected[0]).diff_rms


def test_a_framed_thumbnail_is_shown_and_compared_without_its_frame(sample, tmp_path):
    t = thumb(sample, "downscaled q30")
    image = pyvips.Image.new_from_file(t.path)
    framed = tmp_path / "framed.jpg"
    image.embed(12, 12, image.width + 24, image.height + 24, extend="white").jpegsave(
        str(framed), Q=85
    )
    c = compare.compare(str(framed), t.expected[0])
    shown = decoded(c.thumb_jpeg)
    assert shown.width <= image.width and shown.height <= image.height
    assert c.ncc > 0.95 and c.info()["where"] == "the whole photo"
    # What is shown is the picture, not the frame: its edges are not white.
    edge = shown.crop(0, 0, shown.width, 2).avg()
    assert edge < 200


def test_a_thumbnail_that_cannot_be_read_is_a_decode_error(sample, tmp_path):
    bad = tmp_path / "bad.jpg"
    bad.write_bytes(b"\xff\xd8 not a JPEG")
    with pytest.raises(DecodeError):
        compare.compare(str(bad), sample.burst[0])


def test_a_turned_thumbnail_is_turned_back(sample, tmp_path):
    t = thumb(sample, "downscaled q30")
    turned = tmp_path / "turned.jpg"
    # Turned a quarter clockwise: the match turns it back by np.rot90 once ("rotated 90°").
    pyvips.Image.new_from_file(t.path).rot90().jpegsave(str(turned), Q=90)
    assert compare.turn_of("rotated 270°") == "rotated 270°" and compare.turn_of("upright") == ""
    c = compare.compare(str(turned), t.expected[0], orientation="rotated 90°")
    assert c.ncc > 0.95 and c.info()["where"] == "the whole photo"


def test_an_answer_carries_its_orientation_and_older_results_read_it_from_the_note(tmp_path):
    # The review page turns a thumbnail as the match did, from a field, not
    # from the words of the note; a matches.json written before the field
    # existed gets it from the note's first words.
    from photomatch.decision import DEFAULT_POLICY, decide
    from photomatch.evidence import Evidence
    from photomatch.results import MatchRun, SetInfo, read_json, write_json

    turned = decide(Evidence("s", "/t/a.jpg", "rotated 90°", (), ()), DEFAULT_POLICY)
    upright = decide(Evidence("s", "/t/b.jpg", "upright", (), ()), DEFAULT_POLICY)
    assert (turned.orientation, upright.orientation) == ("rotated 90°", "upright")
    run = MatchRun("/album", "/i.sqlite", (SetInfo("s", "/t"),), (turned, upright))
    path = tmp_path / "matches.json"
    write_json(run, str(path))
    assert [r.orientation for r in read_json(str(path)).results] == ["rotated 90°", "upright"]
    old = json.loads(path.read_text())
    for r in old["results"]:
        del r["orientation"]
    path.write_text(json.dumps(old))
    assert [r.orientation for r in read_json(str(path)).results] == ["rotated 90°", "upright"]


def test_where_words():
    assert compare.where_words(0, 0, 1, 1) == "the whole photo"
    assert compare.where_words(0.0, 0.0, 0.5, 0.5) == "a crop of 25% of the photo, top left"
    assert compare.where_words(0.5, 0.25, 0.5, 0.5) == "a crop of 25% of the photo, right"


# -- capture information -------------------------------------------------------------------


def with_exif(source: str, target: str, when: str, subsec: str, orientation: int = 1) -> str:
    exif = Image.Exif()
    exif[271] = "Canon"
    exif[272] = "Canon EOS R6"
    exif[274] = orientation
    exif.get_ifd(0x8769)[36867] = when
    exif.get_ifd(0x8769)[37521] = subsec
    with Image.open(source) as im:
        im.save(target, exif=exif, quality=90)
    return target


def test_capture_time_camera_and_size(sample, tmp_path):
    album = str(tmp_path / "album")
    os.makedirs(os.path.join(album, "burst"))
    path = with_exif(
        sample.burst[0], os.path.join(album, "burst", "f.jpg"), "2024:05:01 10:00:00", "25", 6
    )
    c = read_capture(path, album)
    assert c.taken == "2024-05-01 10:00:00.25" and c.taken_key == "2024-05-01 10:00:00.250000"
    assert c.camera == "Canon EOS R6"
    w, h = Image.open(sample.burst[0]).size
    assert (c.width, c.height) == (h, w)  # orientation 6: upright is the other way round
    assert c.bytes == os.path.getsize(path) and c.folder == "burst"


def test_capture_of_files_without_exif_or_not_images(sample, tmp_path):
    plain = read_capture(sample.burst[0], sample.album)
    assert plain.taken is None and plain.camera is None and plain.width and plain.height
    junk = tmp_path / "junk.jpg"
    junk.write_bytes(b"not an image at all")
    j = read_capture(str(junk), str(tmp_path))
    assert (j.taken, j.width, j.bytes, j.folder) == (None, None, 19, "")
    fifo = tmp_path / "pipe.jpg"
    os.mkfifo(fifo)
    assert read_capture(str(fifo), str(tmp_path)).bytes is None  # never blocks
    assert read_capture(str(tmp_path / "gone.jpg"), str(tmp_path)).bytes is None


# -- the album search, and picks found by it ------------------------------------------------


@pytest.fixture()
def indexed(sample, tmp_path):
    index = str(tmp_path / "index.sqlite")
    with AlbumIndex(sample.album, index) as idx:
        idx.update()
    return sample, index


def test_search_by_name_folder_and_date(indexed):
    sample, index = indexed
    cat = AlbumCatalog(sample.album, index)
    found, more = cat.search(name="img_40")
    assert [f.rel for f in found] == [
        "2024/burst/IMG_401.jpg",
        "2024/burst/IMG_402.jpg",
        "2024/burst/IMG_403.jpg",
    ] and not more
    assert found[0].path == sample.burst[0] and found[0].width and found[0].bytes
    assert {f.rel for f in cat.search(folder="holiday")[0]} == {
        "2023/holiday/IMG_1001.jpg",
        "2023/holiday/IMG_1002.jpg",
    }  # the truncated IMG_1009.jpg did not hash: not pickable
    assert len(cat.search(name="img", limit=2)[0]) == 2 and cat.search(name="img", limit=2)[1]
    os.utime(sample.burst[0], (0, 86400 * 365 * 20 + 3600 * 12))  # 1989-12-27
    with AlbumIndex(sample.album, index) as idx:
        idx.update()
    assert [f.rel for f in cat.search(start="1989-12-26", end="1989-12-28")[0]] == [
        "2024/burst/IMG_401.jpg"
    ]
    assert cat.search(start="2100-01-01")[0] == []
    with pytest.raises(ValueError):
        cat.search(start="yesterday")


def test_only_indexed_files_inside_the_album_can_be_picked(indexed, tmp_path):
    sample, index = indexed
    album = sample.album
    ok = os.path.join(album, "2024", "burst", "IMG_402.jpg")
    assert is_album_file(album, index, ok)
    outside = tmp_path / "outside.jpg"
    shutil.copy(ok, outside)
    os.symlink(outside, os.path.join(album, "2024", "link.jpg"))  # indexed, but leads out
    with AlbumIndex(album, index) as idx:
        idx.update()
    for bad in (
        "/etc/passwd",
        str(outside),
        os.path.join(album, "2024", "link.jpg"),
        os.path.join(album, "2024", "..", "2024", "burst", "IMG_402.jpg"),
        os.path.join(album, "2023", "holiday", "IMG_1009.jpg"),  # in the index, as an error
        os.path.join(album, "notes.txt"),
        "2024/burst/IMG_402.jpg",
        ok + "\0",
    ):
        assert not is_album_file(album, index, bad), bad
    assert not is_album_file(album, str(tmp_path / "no-index.sqlite"), ok)


def test_export_copies_a_pick_found_in_the_album(sample, tmp_path, capsys):
    out = tmp_path / "out"
    index = str(tmp_path / "i.sqlite")
    main(["match", sample.album, *sample.thumb_sets, "--out", str(out), "--index", index, "-q"])
    run = read_json(str(out / "matches.json"))
    lost = next(r for r in run.results if r.status == "unmatched" and not r.candidates)
    picked = os.path.join(sample.album, "2022", "IMG_0501.jpg")  # not among its candidates
    valid, problems = check_decisions(run, [Decision(lost.set, lost.query, picked)])
    assert problems == []
    write_decisions(str(out / "decisions.json"), valid)
    assert read_decisions(str(out / "decisions.json"))[(lost.set, lost.query)].pick == picked
    # Anything else is refused, and export refuses the whole file rather than drop it.
    for bad in ("/etc/passwd", os.path.join(sample.album, "notes.txt")):
        assert check_decisions(run, [Decision(lost.set, lost.query, bad)])[1]
    before = fingerprint(sample.album)
    capsys.readouterr()
    dest = tmp_path / "dest"
    assert main(["export", str(out), "--to", str(dest), "-q"]) == 0
    copy = dest / lost.set / "IMG_0501.jpg"
    assert copy.read_bytes() == open(picked, "rb").read()
    assert fingerprint(sample.album) == before
