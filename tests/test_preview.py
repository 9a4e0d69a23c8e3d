"""The embedded-preview fast path: when a JPEG's EXIF preview is used, and that it is safe."""

from __future__ import annotations

import json
import os
import sys

import numpy as np
import pytest
import pyvips

from photomatch import demo, hashing, index_album, match_album
from photomatch.cli import main
from photomatch.index import AlbumIndex
from photomatch.results import MATCHED

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "benches"))
import _photos  # noqa: E402  (the benchmarks' camera-style EXIF writer)

#: Preview hashes come from a 160-px camera thumbnail, the decode's from a
#: 250-px shrink of the photo: nearly the same bits, never far apart.
SAME_PHOTO_BITS = 16


def upright(name: str, width: int = 1200, height: int = 800) -> pyvips.Image:
    """A sample photograph cut to ``width`` x ``height`` (3:2, like most cameras)."""
    img = demo.sample_image(name)
    if img.bands == 1:
        img = img.colourspace("srgb")
    img = img.resize(max(width / img.width, height / img.height) * 1.01)
    return img.crop((img.width - width) // 2, (img.height - height) // 2, width, height)


def camera_file(
    path: str,
    picture: pyvips.Image,
    orientation: int = 1,
    preview: pyvips.Image | str | None = "letterbox",
) -> str:
    """Write ``picture`` (upright) as a camera would: stored turned for ``orientation``,
    with an EXIF preview of the stored pixels, letterboxed to 160 x 120 (or
    ``"cropped"`` to fill 160 x 120, or an explicit stored-orientation image, or none).
    """
    stored = {1: picture, 3: picture.rot180(), 6: picture.rot270(), 8: picture.rot90()}[orientation]
    box = (160, 120) if stored.width >= stored.height else (120, 160)
    if isinstance(preview, str) and preview == "letterbox":
        small = stored.thumbnail_image(box[0], height=box[1])
        small = small.gravity("centre", box[0], box[1], extend="black")
    elif isinstance(preview, str) and preview == "cropped":
        small = stored.thumbnail_image(box[0], height=box[1], crop="centre")
    else:
        small = preview
    thumb = None if small is None else small.jpegsave_buffer(Q=75, keep="none")
    with open(path, "wb") as fh:
        fh.write(_photos.still_camera_jpeg(stored, orientation, thumb))
    return path


def bits(a: np.ndarray, b: np.ndarray) -> list[int]:
    return [int(np.unpackbits((x ^ y).view(np.uint8)).sum()) for x, y in zip(a, b, strict=True)]


@pytest.mark.parametrize("orientation", [1, 3, 6, 8])
def test_a_letterboxed_sideways_preview_hashes_like_the_upright_photo(tmp_path, orientation):
    path = camera_file(str(tmp_path / "p.jpg"), upright("astronaut"), orientation)
    decoded = hashing.hash_file(path)
    fast = hashing.hash_file(path, previews=True)
    assert (decoded.source, fast.source) == ("decode", "preview")
    # Same views (the bands are gone, the frame is upright: same aspect) ...
    assert fast.view_ids.tolist() == decoded.view_ids.tolist()
    assert fast.width > fast.height  # upright 3:2, whatever the stored orientation
    assert abs(fast.width / fast.height - 1.5) < 0.05
    # ... and nearly the same bits in every view.
    assert max(bits(fast.rows, decoded.rows)) <= SAME_PHOTO_BITS
    # A preview left sideways would be far from the upright decode.
    if orientation in (6, 8):
        turned = hashing.hash_grey(np.rot90(hashing.load_grey(path)), album=True)
        assert bits(fast.rows[:1], turned.rows[:1])[0] > 2 * SAME_PHOTO_BITS


@pytest.mark.parametrize("preview", ["cropped", None])
def test_a_preview_that_does_not_show_the_frame_is_not_used(tmp_path, preview):
    # A preview cut to 4:3 from a 3:2 photo shows less than the photo: decode instead.
    path = camera_file(str(tmp_path / "p.jpg"), upright("coffee"), 1, preview)
    assert hashing.hash_file(path, previews=True).source == "decode"


def test_other_formats_are_always_decoded(tmp_path):
    path = str(tmp_path / "p.png")
    upright("rocket").pngsave(path)
    assert hashing.hash_file(path, previews=True).source == "decode"


def test_index_uses_previews_and_no_previews_decodes_them_again(tmp_path):
    album = tmp_path / "album"
    album.mkdir()
    for i, name in enumerate(["astronaut", "chelsea", "coffee"]):
        camera_file(str(album / f"IMG_{i}.jpg"), upright(name), orientation=1 + 5 * (i == 1))
    upright("rocket").pngsave(str(album / "scan.png"))
    idx = str(tmp_path / "i.sqlite")
    first = index_album(str(album), idx, progress=False)
    assert (first.decoded, first.from_previews) == (4, 3)
    # Switching previews off re-hashes exactly the files hashed from previews ...
    again = index_album(str(album), idx, progress=False, previews=False)
    assert (again.decoded, again.from_previews, again.unchanged) == (3, 0, 1)
    # ... and turning them back on keeps those better hashes.
    third = index_album(str(album), idx, progress=False)
    assert (third.decoded, third.unchanged) == (0, 4)
    with AlbumIndex(str(album), idx) as index:
        sources = {s for (s,) in index.db.execute("SELECT source FROM files")}
    assert sources == {"decode"}


def test_a_stale_preview_never_makes_a_wrong_match(tmp_path):
    """An edit replaced a photo's pixels and kept the old preview: the preview
    shows another picture. A thumbnail of that other picture (which is not in the
    album) finds the file through its preview, and the pixel check turns it down."""
    album, thumbs = tmp_path / "album", tmp_path / "thumbs" / "set"
    album.mkdir()
    thumbs.mkdir(parents=True)
    old, new = upright("chelsea"), upright("brick")
    stored_old = old.thumbnail_image(160, height=120).gravity("centre", 160, 120, extend="black")
    camera_file(str(album / "IMG_1.jpg"), new, preview=stored_old)
    camera_file(str(album / "IMG_2.jpg"), upright("coffee"))
    old.thumbnail_image(300).jpegsave(str(thumbs / "old.jpg"), Q=40)
    upright("coffee").thumbnail_image(300).jpegsave(str(thumbs / "coffee.jpg"), Q=40)
    run, report = match_album(str(album), [str(thumbs)], index_path=str(tmp_path / "i.sqlite"))
    assert report.from_previews == 2
    by_name = {os.path.basename(r.query): r for r in run.results}
    # The stale preview made IMG_1 a candidate for the old picture ...
    assert [os.path.basename(c.path) for c in by_name["old.jpg"].candidates][:1] == ["IMG_1.jpg"]
    # ... but its real pixels are another photo: no match.
    assert by_name["old.jpg"].status != MATCHED
    assert by_name["coffee.jpg"].status == MATCHED
    assert os.path.basename(by_name["coffee.jpg"].match) == "IMG_2.jpg"


def test_cli_no_previews(tmp_path, capsys):
    album = tmp_path / "album"
    album.mkdir()
    camera_file(str(album / "IMG_1.jpg"), upright("astronaut"))
    idx = str(tmp_path / "i.sqlite")
    assert main(["index", str(album), "--index", idx, "--json", "-q", "--no-previews"]) == 0
    assert json.loads(capsys.readouterr().out)["from_previews"] == 0
    assert main(["index", str(album), "--index", idx + "2", "-q"]) == 0
    assert "(1 from EXIF previews)" in capsys.readouterr().out
