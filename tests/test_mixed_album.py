"""One album as people have them: phone HEICs, camera RAWs beside camera JPEGs, and
plain JPEGs, matched from one set of thumbnails (the formats' own tests are in
test_heif.py and test_raw.py; this one checks that they live together)."""

from __future__ import annotations

import os

import pytest
import pyvips

pytest.importorskip("pillow_heif", reason="HEVC HEIC needs pillow-heif (Python 3.11 or newer)")
pytest.importorskip("rawpy", reason="camera RAW needs rawpy")

from test_heif import heic  # noqa: E402
from test_raw import camera_dng, jpeg, pixels, write  # noqa: E402

from photomatch import export_originals, index_album, match_album  # noqa: E402
from photomatch.demo import sample_image  # noqa: E402

from albumcheck import fingerprint  # noqa: E402


@pytest.fixture(scope="module")
def mixed_album(tmp_path_factory):
    """``(album, thumbs folder, {thumbnail: the originals that are right})``."""
    root = tmp_path_factory.mktemp("mixed")
    album, thumbs = str(root / "album"), str(root / "thumbs")
    upright = {
        name: pixels(sample_image(name).resize(2))
        for name in ("coffee", "rocket", "astronaut", "chelsea", "retina")
    }
    originals = {
        # A phone's HEICs: one turned by irot with its stored thumbnail, one without.
        "coffee": [
            write(os.path.join(album, "Phone", "IMG_0001.HEIC"), heic(upright["coffee"], 6))
        ],
        "rocket": [
            write(
                os.path.join(album, "Phone", "IMG_0002.HEIC"),
                heic(upright["rocket"], 1, thumbnail=None),
            )
        ],
    }
    # A camera writing RAW + JPEG (the pair is one photo: either is right), and a
    # RAW stored sideways with no preview (developed at half size).
    dng, camera_jpeg = camera_dng("astronaut")
    originals["astronaut"] = [
        write(os.path.join(album, "Camera", "DSC_0001.NEF.dng"), dng),
        write(os.path.join(album, "Camera", "DSC_0001.JPG"), camera_jpeg),
    ]
    dng, _ = camera_dng("chelsea", 6, preview_jpeg=None)
    originals["chelsea"] = [write(os.path.join(album, "Camera", "DSC_0002.DNG"), dng)]
    originals["retina"] = [
        write(os.path.join(album, "Scans", "retina.jpg"), jpeg(upright["retina"]))
    ]
    for name in ("coins", "brick"):  # photos nobody picked
        write(os.path.join(album, "Scans", f"{name}.jpg"), jpeg(pixels(sample_image(name))))
    expected = {}
    for name, picture in upright.items():
        image = pyvips.Image.new_from_array(picture, interpretation="srgb")
        small = pyvips.Image.thumbnail_buffer(
            image.pngsave_buffer(), 200, height=200, crop="centre" if name == "rocket" else "none"
        )
        path = write(os.path.join(thumbs, f"{name}.jpg"), small.jpegsave_buffer(Q=35))
        expected[path] = originals[name]
    return album, thumbs, expected


def test_heic_raw_and_jpeg_are_indexed_side_by_side(mixed_album, tmp_path):
    album, _, _ = mixed_album
    report = index_album(album, index_path=str(tmp_path / "i.sqlite"))
    assert (report.images, report.ok, list(report.errors)) == (8, 8, [])


def test_every_thumbnail_finds_its_original_whatever_its_format(mixed_album, tmp_path):
    album, thumbs, expected = mixed_album
    before = fingerprint(album)
    run, _ = match_album(album, [thumbs], str(tmp_path / "out"), index_path=str(tmp_path / "i"))
    got = {r.query: r for r in run.results}
    assert set(got) == set(expected)
    for query, right in expected.items():
        r = got[query]
        assert r.status == "matched" and r.match in right, (query, r.status, r.match)
        # The RAW + JPEG pair of one shot is one answer: the other is its variant.
        assert set(right) <= {r.match, *r.variants}
    items = export_originals(run, str(tmp_path / "export"))
    assert len(items) == len(expected)
    for item in items:
        with open(item.source, "rb") as a, open(item.destination, "rb") as b:
            assert a.read() == b.read()
    assert fingerprint(album) == before
