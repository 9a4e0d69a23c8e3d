"""Hashing: bit order, views, orientation, and robustness on real photographs."""

from __future__ import annotations

import numpy as np
import pytest
import pyvips

from photomatch import DecodeError, hashing
from photomatch.demo import sample_image


def distance(a: np.ndarray, b: np.ndarray) -> int:
    return int(np.bitwise_count(a ^ b).sum())


def test_bit_order_on_a_ramp():
    # Brightness grows left to right: every horizontal gradient bit is 1, no vertical one.
    ramp = np.tile(np.arange(0, 256, 2, dtype=np.uint8), (96, 1))
    words = hashing.dhash_words(ramp)
    assert words.dtype == np.uint64 and words.shape == (hashing.WORDS,)
    assert int(words[0]) == 2**64 - 1
    assert int(words[1]) == 0


def test_msb_is_first_row_first_column():
    grid = np.zeros((90, 90), dtype=np.uint8)
    grid[:10, 10:20] = 255  # only cell (row 0, col 1) is brighter than its left neighbour
    words = hashing.dhash_words(grid)
    assert int(words[0]) == 1 << 63


def test_album_views_and_query_view():
    def shapes(h, w, album=True):
        return [(i, v.shape) for i, v in hashing.crop_views(np.zeros((h, w), np.uint8), album)]

    inner = [(5, (85, 128)), (6, (85, 128)), (7, (85, 128)), (8, (85, 128)), (9, (85, 128))]
    bands = [(10, (84, 150)), (11, (84, 150)), (12, (84, 150))]
    squares = [(13, (87, 87)), (14, (87, 87)), (15, (87, 87))]
    assert (
        shapes(100, 150)
        == [(0, (100, 150)), (1, (100, 100)), (2, (100, 100)), (3, (100, 100)), (4, (100, 133))]
        + inner
        + bands
        + squares
    )
    portrait = shapes(120, 90)  # already 3:4: no 4:3 view; bands and squares turned
    assert [i for i, _ in portrait] == [0, 1, 2, 3, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15]
    assert dict(portrait)[10] == (120, 68) and dict(portrait)[13] == (78, 78)
    # A square frame has no squares to add, a 16:9 one no bands.
    assert [i for i, _ in shapes(64, 64)] == [0, 5, 6, 7, 8, 9, 10, 11, 12]
    assert 10 not in dict(shapes(90, 160))
    assert len(hashing.VIEW_NAMES) == 16
    assert shapes(100, 150, album=False) == [(0, (100, 150))]


def test_a_uniform_frame_is_trimmed_but_a_plain_sky_is_not():
    photo = np.tile(np.linspace(0, 200, 120, dtype=np.float32), (80, 1)).astype(np.uint8)
    framed = np.pad(photo, 10, constant_values=255)
    trimmed = hashing.trim_border(framed)
    # The frame goes, and 2 more lines on every side (JPEG ringing), keeping the centre.
    assert trimmed.shape == (photo.shape[0] - 4, photo.shape[1] - 4)
    assert np.array_equal(trimmed, photo[2:-2, 2:-2])
    sky = photo.copy()
    sky[:20] = 100  # a flat band on one side only
    assert hashing.trim_border(sky).shape == sky.shape


def test_a_print_mount_thicker_at_the_bottom_is_trimmed_whole():
    # A print's mount: even sides and top, a bottom four times as thick, here a
    # third of the thumbnail's height. None of it may stay: a white band left
    # under the picture moves where it fits in its original.
    picture = hashing.grey_from_image(sample_image("coffee").thumbnail_image(200, height=113))
    h, w = picture.shape
    mount = np.pad(picture, ((12, 48), (12, 12)), constant_values=250)
    assert 48 > mount.shape[0] // 4
    trimmed = hashing.trim_border(mount)
    assert trimmed.shape[1] == w - 4  # the sides, and 2 lines of ringing each
    assert h - 6 <= trimmed.shape[0] <= h - 4
    assert int(trimmed.min()) < 200 and float(trimmed[-1].std()) > 2.0


@pytest.fixture()
def photo_files(tmp_path):
    def save(image: pyvips.Image, name: str, **kw) -> str:
        path = str(tmp_path / name)
        image.write_to_file(path, **kw)
        return path

    return save


def test_recompressed_thumbnail_is_close_and_other_photos_far(photo_files):
    original = photo_files(sample_image("coffee").resize(2), "orig.jpg", Q=92)
    thumb = photo_files(sample_image("coffee").thumbnail_image(180), "thumb.jpg", Q=30)
    other = photo_files(sample_image("chelsea"), "other.jpg", Q=92)
    h_orig, h_thumb, h_other = (hashing.hash_file(p) for p in (original, thumb, other))
    assert distance(h_orig.rows[0], h_thumb.rows[0]) <= 10
    assert distance(h_other.rows[0], h_thumb.rows[0]) >= 30


def test_exif_orientation_is_applied(photo_files):
    upright = sample_image("rocket")
    sideways = upright.rot270().copy()
    sideways.set_type(pyvips.GValue.gint_type, "orientation", 6)
    stored = photo_files(sideways, "sideways.jpg", Q=92)
    plain = photo_files(upright, "upright.jpg", Q=92)
    h_stored, h_plain = hashing.hash_file(stored), hashing.hash_file(plain)
    assert (h_stored.width, h_stored.height) == (h_plain.width, h_plain.height)
    assert distance(h_stored.rows[0], h_plain.rows[0]) <= 4


def test_square_crop_finds_the_centre_view(photo_files):
    original = photo_files(sample_image("rocket"), "rocket.jpg", Q=92)
    square = photo_files(
        sample_image("rocket").thumbnail_image(160, height=160, crop="centre"), "square.jpg", Q=30
    )
    album = hashing.hash_file(original, album=True)
    query = hashing.hash_file(square, album=False)
    by_view = {
        hashing.VIEW_NAMES[int(i)]: distance(row, query.rows[0])
        for i, row in zip(album.view_ids, album.rows, strict=True)
    }
    assert by_view["centre square"] == min(by_view.values())
    assert by_view["centre square"] <= 12
    assert by_view["full"] > by_view["centre square"]


def test_grey_16bit_and_alpha_images_hash_like_the_plain_photo(photo_files):
    photo = sample_image("chelsea")
    plain = hashing.hash_file(photo_files(photo, "plain.png"))
    sixteen = hashing.hash_file(
        photo_files((photo.cast("ushort") * 257).copy(interpretation="rgb16"), "deep.png")
    )
    alpha = hashing.hash_file(photo_files(photo.bandjoin(255), "alpha.png"))
    assert distance(plain.rows, sixteen.rows) <= 4
    assert distance(plain.rows, alpha.rows) <= 4


def test_truncated_and_non_image_files_raise_decode_error(photo_files, tmp_path):
    good = photo_files(sample_image("coins"), "good.jpg", Q=90)
    data = open(good, "rb").read()
    (tmp_path / "cut.jpg").write_bytes(data[: len(data) // 3])
    (tmp_path / "text.jpg").write_bytes(b"hello, not a photo")
    with pytest.raises(DecodeError) as cut:
        hashing.hash_file(str(tmp_path / "cut.jpg"))
    assert "premature end" in cut.value.reason.lower() or "truncat" in cut.value.reason.lower()
    with pytest.raises(DecodeError) as text:
        hashing.hash_file(str(tmp_path / "text.jpg"))
    assert text.value.path.endswith("text.jpg") and text.value.reason


def test_image_names_are_case_insensitive():
    assert hashing.is_image_name("IMG_0001.JPG")
    assert hashing.is_image_name("a.HeIc")
    assert not hashing.is_image_name(".DS_Store")
    assert not hashing.is_image_name("Thumbs.db")
    assert not hashing.is_image_name("IMG_0001.xmp")
    assert not hashing.is_image_name(".jpg")


@pytest.mark.parametrize("name", ["coffee", "chelsea"])
def test_tight_wide_and_square_crops_land_near_an_album_view(name):
    # A thumbnail cut as a 16:9 band off the top of a photo, or as a square
    # inside its short side near one end (smart crops of 80-95% of the largest
    # box), lands near the album views made for them; the full frame alone is
    # far from both.
    grey = hashing.grey_from_image(sample_image(name))
    h, w = grey.shape
    assert w > h
    album = hashing.hash_grey(grey, album=True)
    band = grey[: round(w * 9 / 16), :]
    side = round(h * 0.87)
    square = grey[(h - side) // 2 : (h - side) // 2 + side, w - side :]
    for crop, view in ((band, "start 16:9"), (square, "end inner square")):
        query = hashing.hash_grey(crop, album=False).rows[0]
        bits = [distance(row, query) for row in album.rows]
        names = [hashing.VIEW_NAMES[i] for i in album.view_ids]
        assert bits[names.index(view)] <= 6
        assert bits[names.index("full")] >= 20
