"""The JPEG quality read from a thumbnail's header (``photomatch.jpeg_quality``)."""

from __future__ import annotations

import pytest
from PIL import Image

from photomatch import demo
from photomatch.jpeg_quality import jpeg_quality

PHOTO = "coffee"


@pytest.fixture(scope="module")
def photo():
    return demo.sample_image(PHOTO).thumbnail_image(240)


@pytest.mark.parametrize("quality", [12, 25, 33, 50, 68, 75, 90, 97])
def test_the_quality_libvips_saved_a_thumbnail_at_is_read_back(photo, tmp_path, quality):
    path = str(tmp_path / "t.jpg")
    photo.jpegsave(path, Q=quality)
    assert jpeg_quality(path) == quality


@pytest.mark.parametrize("quality", [20, 35, 58, 80])
def test_the_quality_pillow_saved_a_thumbnail_at_is_read_back(photo, tmp_path, quality):
    path = str(tmp_path / "t.jpg")
    photo.write_to_file(str(tmp_path / "t.png"))
    Image.open(tmp_path / "t.png").convert("RGB").save(path, quality=quality)
    assert jpeg_quality(path) == quality


def test_a_file_that_is_not_a_jpeg_has_no_quality(photo, tmp_path):
    png = str(tmp_path / "t.png")
    photo.write_to_file(png)
    text = tmp_path / "notes.txt"
    text.write_text("not a picture\n")
    assert jpeg_quality(png) is None
    assert jpeg_quality(str(text)) is None
    assert jpeg_quality(str(tmp_path / "missing.jpg")) is None


def test_a_multi_picture_jpeg_has_the_quality_of_its_first_picture(photo, tmp_path):
    png = tmp_path / "t.png"
    photo.write_to_file(str(png))
    first = Image.open(png).convert("RGB")
    path = str(tmp_path / "t.jpg")
    first.save(path, format="MPO", save_all=True, append_images=[first], quality=40)
    assert Image.open(path).format == "MPO"
    assert jpeg_quality(path) == 40
