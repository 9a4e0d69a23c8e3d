"""A small sample album and thumbnail sets built from the photographs shipped in
``photomatch/samples`` (public-domain and CC0 pictures, see LICENSE.txt there).

Used by ``photomatch demo`` and by the tests. The album has what real albums
have: nested folders and camera-style names, a burst (three frames a few
pixels apart), an edited copy under the same name in another folder, an
original stored sideways with an EXIF orientation tag, a PNG, junk files and a
truncated JPEG. The thumbnails are small and heavily compressed, some square
cropped, one of a photo that is not in the album.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from importlib import resources

import pyvips

SAMPLES = (
    "astronaut",
    "chelsea",
    "coffee",
    "rocket",
    "hubble_deep_field",
    "camera",
    "coins",
    "retina",
    "brick",
)


@dataclass(frozen=True)
class Thumb:
    """A generated thumbnail and the album files that are right answers for it."""

    path: str
    expected: tuple[str, ...]
    kind: str


@dataclass(frozen=True)
class SampleLayout:
    """Where the sample album and thumbnail sets are, and the ground truth."""

    album: str
    thumb_sets: tuple[str, ...]
    thumbs: tuple[Thumb, ...]
    burst: tuple[str, ...]


def sample_image(name: str) -> pyvips.Image:
    """A shipped sample photograph, decoded (sRGB or grey)."""
    ref = resources.files("photomatch") / "samples" / f"{name}.jpg"
    with resources.as_file(ref) as path:
        return pyvips.Image.new_from_file(str(path), access="random").copy_memory()


def _save(image: pyvips.Image, path: str, quality: int = 90) -> str:
    os.makedirs(os.path.dirname(path), exist_ok=True)
    if path.lower().endswith(".png"):
        image.pngsave(path)
    else:
        image.jpegsave(path, Q=quality)
    return path


def _camera(image: pyvips.Image) -> pyvips.Image:
    # Camera originals are bigger than the samples; enlarge so the album is realistic.
    return image.resize(2.0)


def _burst_frame(image: pyvips.Image, dx: float, dy: float, gain: float, seed: int) -> pyvips.Image:
    """A frame of a burst: the scene shifted by a fraction, slight exposure change, sensor noise."""
    w, h = image.width, image.height
    cw, ch = int(w * 0.96), int(h * 0.96)
    left, top = int((w - cw) / 2 + dx * w), int((h - ch) / 2 + dy * h)
    frame = image.crop(left, top, cw, ch).resize(w / cw) * gain
    noise = pyvips.Image.gaussnoise(frame.width, frame.height, sigma=3, mean=0, seed=seed)
    return (frame + noise).cast("uchar")


def _thumb(image: pyvips.Image, size: int, square: bool = False) -> pyvips.Image:
    data = image.write_to_buffer(".png")
    if square:
        return pyvips.Image.thumbnail_buffer(data, size, height=size, crop="centre")
    return pyvips.Image.thumbnail_buffer(data, size)


def _off_centre_square(image: pyvips.Image) -> pyvips.Image:
    """A square of 80% of the short side, off the centre: a crop that every
    frame of a pan holds, none at a standard framing (a burst's crop that only
    a person can place)."""
    side = int(min(image.width, image.height) * 0.8)
    return image.crop(int(image.width * 0.08), int(image.height * 0.05), side, side)


def build_sample(root: str) -> SampleLayout:
    """Write the sample album to ``root/album`` and two thumbnail sets to ``root/thumbs``."""
    album = os.path.join(root, "album")
    img = {name: sample_image(name) for name in SAMPLES}

    def a(*parts: str) -> str:
        return os.path.join(album, *parts)

    plain = {
        "astronaut": _save(_camera(img["astronaut"]), a("2023", "holiday", "IMG_1001.jpg")),
        "chelsea": _save(_camera(img["chelsea"]), a("2023", "holiday", "IMG_1002.jpg")),
        "hubble_deep_field": _save(
            _camera(img["hubble_deep_field"]), a("2023", "sky", "IMG_1003.jpg")
        ),
        "camera": _save(_camera(img["camera"]), a("2022", "IMG_0501.jpg")),
        "retina": _save(_camera(img["retina"]), a("2022", "scan_0007.png")),
    }
    # An edited copy: same photo brightened, same name, another folder.
    edited = _save((_camera(img["chelsea"]) * 1.15 + 12).cast("uchar"), a("edited", "IMG_1002.jpg"))
    # Stored sideways, displayed upright through EXIF orientation 6 (rotate 90° clockwise).
    sideways = _camera(img["rocket"]).rot270().copy()
    sideways.set_type(pyvips.GValue.gint_type, "orientation", 6)
    rotated = _save(sideways, a("2024", "IMG_3001.jpg"))
    # A burst of three frames, a fraction of a second apart.
    coffee = _camera(img["coffee"])
    burst = tuple(
        _save(_burst_frame(coffee, dx, 0.0, gain, seed), a("2024", "burst", f"IMG_40{n}.jpg"))
        for n, (dx, gain, seed) in enumerate(
            [(-0.015, 1.0, 1), (0.0, 1.01, 2), (0.015, 0.99, 3)], 1
        )
    )
    # What an album also holds: sidecars, system files, a half-copied photo.
    os.makedirs(a("2023", "holiday"), exist_ok=True)
    for junk in (a(".DS_Store"), a("2023", "holiday", "IMG_1001.xmp"), a("notes.txt")):
        with open(junk, "wb") as fh:
            fh.write(b"not a photo\n")
    with open(plain["astronaut"], "rb") as src:
        head = src.read(6000)
    with open(a("2023", "holiday", "IMG_1009.jpg"), "wb") as fh:
        fh.write(head)  # truncated JPEG

    set_a, set_b = os.path.join(root, "thumbs", "prints"), os.path.join(root, "thumbs", "cover")
    thumbs = [
        Thumb(
            _save(_thumb(img["astronaut"], 200), os.path.join(set_a, "a1.jpg"), 30),
            (plain["astronaut"],),
            "downscaled q30",
        ),
        Thumb(
            _save(_thumb(img["rocket"], 180), os.path.join(set_a, "a2.jpg"), 35),
            (rotated,),
            "EXIF-rotated original",
        ),
        Thumb(
            _save(_thumb(img["chelsea"], 200), os.path.join(set_a, "a3.jpg"), 40),
            (plain["chelsea"], edited),
            "photo with an edited copy",
        ),
        Thumb(
            _save(_thumb(img["camera"], 160, square=True), os.path.join(set_a, "a4.jpg"), 30),
            (plain["camera"],),
            "centre square",
        ),
        Thumb(
            _save(_thumb(img["brick"], 200), os.path.join(set_a, "a5.jpg"), 40),
            (),
            "original not in the album",
        ),
        Thumb(
            _save(
                _thumb(_off_centre_square(_burst_frame(coffee, 0.0, 0.0, 1.01, 2)), 180),
                os.path.join(set_b, "b1.jpg"),
                30,
            ),
            (burst[1],),
            "burst frame, off-centre square",
        ),
        Thumb(
            _save(_thumb(img["hubble_deep_field"], 240), os.path.join(set_b, "b2.jpg"), 50),
            (plain["hubble_deep_field"],),
            "downscaled q50",
        ),
        Thumb(
            _save(_thumb(img["retina"], 200, square=True), os.path.join(set_b, "b3.jpg"), 35),
            (plain["retina"],),
            "PNG original, square thumbnail",
        ),
    ]
    return SampleLayout(album, (set_a, set_b), tuple(thumbs), burst)
