"""A seeded generator of realistic albums and thumbnail sets, with ground truth.

The album is built from real photographs (``sources``): each album photo is a
window of a source picture (windows of one source overlap little, so they are
different pictures of the same place, as in a real album), resized to camera-like
sizes. It has what real albums have: nested folders and camera-style names,
JPEG mostly plus PNG/WebP/TIFF, originals stored sideways with an EXIF
orientation (6, 8 or 3), bursts of 2-6 near-identical frames, edited copies
under the same name in another folder, and junk files.

Bursts move as handheld and tripod bursts do (``BURST_MOTIONS``, recorded as
``burst_motion`` on each frame): a ``pan`` (the whole frame shifts 0.5-3% a
step), a pan with something moving inside the frame (``pan+local``: a soft
elliptical region of 10-25% of the frame whose content shifts 2-6% of the
frame's long side, or turns 6-15 degrees, a step: a subject walking, a branch
waving), or a ``tripod`` (at most 0.3% a step, plus the local motion). Every
frame also gets a tiny exposure change and its own noise. Only pure pans make a
crop of one frame fit its siblings as well as its own frame.

Album JPEGs are written as cameras write them: one Exif block (make, model,
date, exposure, orientation) and, on most of them, an embedded preview in IFD1
(``PREVIEW_SHARE``): the stored (sensor-orientation) pixels shrunk into 160 x
120 (120 x 160 when the stored frame is portrait), black bands filling the
rest, JPEG quality 75. A few previews are stale, as editing software leaves
them: half the edited copies keep their original's preview (``pre_edit``; a
preview of the unedited pixels when the original had none), and
``STALE_FRAMING_SHARE`` of the other previews show a wider window of the scene
(``wider_frame``, the picture before a crop) or the next burst frame
(``burst_neighbour``). The rest of the JPEGs, and every PNG/WebP/TIFF, have no
preview. Preview choices come from their own seeded stream. Version 1 let the
source photographs' own Exif (and thumbnails) ride along into album files,
which later versions never do.

Thumbnails go through one preset each (``PRESETS``; sizes and qualities in
``PRESET_SIZES`` and ``PRESET_QUALITY``), and their resize through one
thumbnailer family each (``THUMBNAILERS``): libvips ``resize`` or
``thumbnail`` (shrink-on-load), PIL ``resize`` with each filter with and
without ``reducing_gap``, PIL ``draft`` (DCT scaling on load), an area
reduction, and a top-left-aligned block reduction. Each puts the picture a
fraction of a pixel to a pixel or more away from an exact resize, as real
thumbnailers do, and crop boxes are rounded to whole pixels as real tools round
them (``CROP_ROUNDINGS``). They are saved with 4:2:0 or 4:4:4 chroma, and some
keep a small camera-like Exif block. About 10% are distractors whose original
is absent: a withheld burst frame, another region of a source that the album
has a photo of, or an unrelated photograph. A withheld frame's file is kept
beside the album, in ``withheld/`` under the same relative path (never inside
``album/``), so that what sets it apart from the frames left can be measured.

``truth.json`` maps every thumbnail to its preset, thumbnailer, crop and
encoding, and to the album files that are right answers: the original and its
edited copies; never a burst sibling. A thumbnail of a burst frame (a withheld
one too) has the frame's ``burst_group`` and ``burst_motion``, a withheld one
its path as ``withheld_frame``. Each album file's ``preview`` is ``""``
(none), ``"current"`` (shows the file's own pixels) or the kind of stale
preview (``STALE_PREVIEWS``).
"""

from __future__ import annotations

import io
import json
import math
import os
import random
import struct
from dataclasses import asdict, dataclass, field

import _photos
import numpy as np
import pyvips
from PIL import Image, ImageOps

#: Bumped when the album a seed gives changes; written to truth.json.
#: 2: camera Exif blocks with embedded previews (some stale); no source Exif.
#: 3: thumbnailer families, rounded crop boxes, crops at four aspects, print
#: borders; bursts with local motion and tripod bursts.
GENERATOR_VERSION = 3

PRESETS = (
    "downscale",
    "tiny_lowq",
    "centre_crop",
    "smart_crop",
    "colour_shift",
    "sharpened",
    "watermark",
    "border",
    "print_border",
    "nearest",
    "combo",
)
#: Each preset's long side, in pixels, of the picture (a border comes on top):
#: 120-400 overall.
PRESET_SIZES = {
    "downscale": (240, 400),
    "tiny_lowq": (120, 180),
    "centre_crop": (150, 320),
    "smart_crop": (160, 360),
    "colour_shift": (200, 360),
    "sharpened": (200, 360),
    "watermark": (240, 400),
    "border": (200, 340),
    "print_border": (180, 320),
    "nearest": (160, 300),
    "combo": (140, 300),
}
#: Each preset's JPEG quality range.
PRESET_QUALITY = {
    "downscale": (50, 80),
    "tiny_lowq": (25, 40),
    "centre_crop": (30, 70),
    "smart_crop": (30, 70),
    "colour_shift": (30, 70),
    "sharpened": (50, 80),
    "watermark": (50, 80),
    "border": (50, 80),
    "print_border": (50, 80),
    "nearest": (50, 80),
    "combo": (25, 35),
}
#: Presets that crop: ``centre_crop`` (the largest centred box of an aspect),
#: ``smart_crop`` (80-95% of it, each side, anywhere: an off-centre crop), and
#: ``combo`` (either, then colour and sharpening).
CROP_PRESETS = ("centre_crop", "smart_crop", "combo")
#: Crop aspects as long side : short side, turned to follow the photo (a "4:5"
#: crop is portrait on a portrait photo, 5:4 on a landscape one). Smart crops
#: may also keep the photo's own aspect ("photo").
CROP_ASPECTS = {"1:1": 1.0, "4:3": 4 / 3, "4:5": 5 / 4, "16:9": 16 / 9}
#: How a crop box of floats becomes whole source pixels: ``int`` truncates its
#: corners (PIL-style boxes), ``round`` rounds left, top, width and height
#: (libvips-style), ``reduced`` rounds a box drawn on a 1/2-1/8 preview and
#: scales it up, ``float`` keeps it (PIL ``resize(box=...)``). ``shrunk``: the
#: thumbnailer shrank the whole picture first and cut the box from that.
CROP_ROUNDINGS = ("int", "round", "reduced", "float", "shrunk")
PIL_FILTERS = {
    "lanczos": Image.Resampling.LANCZOS,
    "bilinear": Image.Resampling.BILINEAR,
    "bicubic": Image.Resampling.BICUBIC,
    "hamming": Image.Resampling.HAMMING,
    "box": Image.Resampling.BOX,
}
#: The programs that shrink a thumbnail, one drawn per thumbnail. ``pil_X_gap``
#: is PIL with ``reducing_gap`` (an integer reduce first); ``pil_draft`` opens
#: the album JPEG with ``draft`` (DCT scaling: a picture 1/2-1/8 the size, its
#: last pixels from partial blocks); ``area`` is an integer ``reduce`` then a
#: box resize (OpenCV INTER_AREA's kind); ``topleft`` block-averages by an
#: integer factor after dropping the right and bottom remainder, then resizes.
THUMBNAILERS = (
    "vips",
    "vips_thumbnail",
    *(f"pil_{f}" for f in PIL_FILTERS),
    *(f"pil_{f}_gap" for f in PIL_FILTERS),
    "pil_draft",
    "area",
    "topleft",
)
#: The ``nearest`` preset's own: nearest-neighbour sampling.
NEAREST_THUMBNAILERS = ("vips_nearest", "pil_nearest")
#: Share of thumbnails saved with 4:4:4 chroma (the rest 4:2:0), and with a
#: small camera-like Exif block (Orientation 1: the pixels are upright).
FULL_CHROMA_SHARE = 0.25
THUMB_EXIF_SHARE = 0.4
DISTRACTOR_KINDS = ("withheld_burst_frame", "other_region", "unrelated")
#: Smallest side, in source pixels, of an album photo's scene.
MIN_WINDOW = 160
#: Share of a burst's scene that its frames can pan across.
BURST_ROOM = 0.1
#: How bursts move, with their weights (see the module docstring).
BURST_MOTIONS = {"pan": 40, "pan+local": 40, "tripod": 20}
#: A tripod burst's largest step, as a share of the scene (0.3% of the frame,
#: which is 1 - BURST_ROOM of the scene).
TRIPOD_STEP = 0.003 * (1 - BURST_ROOM)
#: The moving region's area (share of the frame), its step (share of the
#: frame's long side) or turn (degrees), and the largest shift or turn of any
#: frame: above about 7% or 28 degrees the warp would fold over. A turn moves
#: the region's content by at most 0.29 x its semi-axis x the angle (the weight
#: falls from the centre), so turns are larger than a shift's share.
LOCAL_AREA = (0.10, 0.25)
LOCAL_SHIFT = (0.02, 0.06)
LOCAL_TURN = (6.0, 15.0)
LOCAL_SHIFT_MAX = 0.06
LOCAL_TURN_MAX = 25.0
#: Share of album JPEGs (edited copies aside) that carry an IFD1 preview.
PREVIEW_SHARE = 0.8
#: Share of edited copies whose preview is still the pre-edit original's.
STALE_EDIT_SHARE = 0.5
#: Share of the other previews that show another framing than the pixels.
STALE_FRAMING_SHARE = 0.03
#: Size of a landscape preview; portrait stored frames get it turned.
PREVIEW_BOX = (160, 120)
PREVIEW_QUALITY = 75
#: How much wider (each side) a ``wider_frame`` preview's window is.
WIDER_FRAME = (1.10, 1.15)
STALE_PREVIEWS = ("pre_edit", "wider_frame", "burst_neighbour")


@dataclass(frozen=True)
class Window:
    """A window of a source picture: an album photo's scene."""

    source: int
    left: int
    top: int
    width: int
    height: int


@dataclass
class AlbumPhoto:
    """One album file and how it was made."""

    path: str  # relative to the album root
    scene: int  # index into the scene list; bursts share none, edits share their original's
    kind: str  # "photo", "burst", "edited"
    group: int  # burst number, or -1
    orientation: int = 1
    preview: str = ""  # "", "current" or one of STALE_PREVIEWS
    burst_motion: str = ""  # one of BURST_MOTIONS for a burst frame, else ""


@dataclass
class ThumbTruth:
    path: str  # relative to the thumbs root
    set: str
    preset: str
    expected: list[str] = field(default_factory=list)  # album paths that are right answers
    distractor: str = ""  # one of DISTRACTOR_KINDS when the original is absent
    thumbnailer: str = ""  # one of THUMBNAILERS or NEAREST_THUMBNAILERS
    crop_kind: str = ""  # "centre", "smart", or "" (no crop)
    crop_aspect: str = ""  # one of CROP_ASPECTS, "photo", or ""
    crop_rounding: str = ""  # one of CROP_ROUNDINGS, or ""
    #: The part of the upright picture shown: [left, top, width, height] in its pixels.
    crop_box: list[float] = field(default_factory=list)
    size: list[int] = field(default_factory=list)  # the thumbnail's [width, height]
    quality: int = 0
    subsampling: str = ""  # "4:2:0" or "4:4:4"
    exif: bool = False  # saved with a camera-like Exif block
    #: The burst of the pictured frame (a withheld one's too), else -1; its motion.
    burst_group: int = -1
    burst_motion: str = ""
    #: A withheld burst frame's album path (the file is kept in ``withheld/``).
    withheld_frame: str = ""


@dataclass(frozen=True)
class Source:
    """A picture a thumbnail is made of: its upright pixels, and the album JPEG
    they come from when there is one (shrink-on-load and ``draft`` read the file)."""

    image: pyvips.Image
    jpeg: str | None = None


@dataclass(frozen=True)
class LocalMotion:
    """Something moving inside one burst frame: a soft ellipse (centre and
    semi-axes as shares of the frame's width and height) whose content is
    shifted by (dx, dy) (shares of the frame's long side) or turned by ``turn``
    degrees about its centre."""

    cx: float
    cy: float
    ax: float
    ay: float
    dx: float = 0.0
    dy: float = 0.0
    turn: float = 0.0


def _load_sources(paths: list[str], min_side: int) -> list[pyvips.Image]:
    images = []
    for p in paths:
        try:
            img = pyvips.Image.new_from_file(p, access="random").autorot()
        except pyvips.Error:
            continue
        if img.hasalpha():
            img = img.flatten(background=255)
        if img.bands == 1:
            img = img.colourspace("srgb")
        if img.format != "uchar":
            img = img.colourspace("srgb").cast("uchar")
        if min(img.width, img.height) >= min_side:
            images.append(img.copy_memory())
    return images


def _overlap(a: Window, b: Window) -> float:
    x = max(0, min(a.left + a.width, b.left + b.width) - max(a.left, b.left))
    y = max(0, min(a.top + a.height, b.top + b.height) - max(a.top, b.top))
    inter = x * y
    return inter / min(a.width * a.height, b.width * b.height)


def _windows(
    sources: list[pyvips.Image], wanted: int, rng: random.Random, max_overlap: float
) -> list[Window]:
    """Windows of the sources, at most ``max_overlap`` shared between two of one source."""
    chosen: dict[int, list[Window]] = {i: [] for i in range(len(sources))}
    out: list[Window] = []
    attempts = 0
    while len(out) < wanted and attempts < wanted * 200:
        attempts += 1
        i = rng.randrange(len(sources))
        src = sources[i]
        aspect = rng.choice([1.5, 4 / 3, 1.5, 1.0, 16 / 9])
        if rng.random() < 0.25:
            aspect = 1 / aspect
        # Big photographs give several scenes; no scene smaller than MIN_WINDOW.
        most = min(src.width, src.height * aspect)
        frac = rng.uniform(min(1.0, max(0.1, MIN_WINDOW / most)), 1.0)
        w = int(most * frac)
        h = int(w / aspect)
        if min(w, h) < MIN_WINDOW * 0.66:
            continue
        win = Window(i, rng.randrange(src.width - w + 1), rng.randrange(src.height - h + 1), w, h)
        if all(_overlap(win, other) <= max_overlap for other in chosen[i]) and _textured(src, win):
            chosen[i].append(win)
            out.append(win)
    return out


def _textured(src: pyvips.Image, win: Window) -> bool:
    """Not a blank scene (sky, a wall, a white backdrop): photographs have detail."""
    small = src.crop(win.left, win.top, win.width, win.height).thumbnail_image(64)
    grey = small.colourspace("b-w")[0].numpy().astype(float)
    gradient = np.abs(np.diff(grey, axis=1)).mean()
    return grey.std() >= 12 and gradient >= 3


def _render(src: pyvips.Image, win: Window, long_edge: int) -> pyvips.Image:
    """The window at ``long_edge`` pixels."""
    crop = src.crop(win.left, win.top, win.width, win.height)
    return crop.resize(long_edge / max(win.width, win.height))


def _burst_offsets(
    frames: int, rng: random.Random, motion: str = "pan"
) -> list[tuple[float, float]]:
    """Where each frame of a burst sits inside its scene. A pan goes one way,
    0.5-3% of the frame per step (less when many frames must fit in BURST_ROOM);
    a tripod's frames jitter by at most TRIPOD_STEP in any direction."""
    out = []
    if motion == "tripod":
        x, y = rng.uniform(0.3, 0.7) * BURST_ROOM, rng.uniform(0.3, 0.7) * BURST_ROOM
        for _ in range(frames):
            out.append((x, y))
            step, heading = rng.uniform(0, TRIPOD_STEP), rng.uniform(0, 2 * math.pi)
            x += step * math.cos(heading)
            y += step * math.sin(heading)
        return out
    step_max = min(0.03, BURST_ROOM / max(1, frames - 1))
    sx, sy = rng.choice([-1, 1]), rng.choice([-1, 1])
    x, y = (0.0 if sx > 0 else BURST_ROOM), rng.uniform(0, BURST_ROOM)
    for _ in range(frames):
        out.append((x, min(BURST_ROOM, max(0.0, y))))
        x += sx * rng.uniform(0.005, step_max)
        y += sy * rng.uniform(0.0, 0.004)
    return out


def _render_frame(
    src: pyvips.Image, win: Window, long_edge: int, ox: float, oy: float
) -> pyvips.Image:
    """A burst frame: the part of the scene at fractional offset (ox, oy), same size for all."""
    w, h = win.width * (1 - BURST_ROOM), win.height * (1 - BURST_ROOM)
    frame = src.crop(win.left, win.top, win.width, win.height)
    # Sub-pixel shifts matter at small scenes: move with an affine transform, not a crop.
    scale = long_edge / max(w, h)
    return frame.affine(
        [scale, 0, 0, scale],
        odx=-ox * win.width * scale,
        ody=-oy * win.height * scale,
        oarea=[0, 0, round(w * scale), round(h * scale)],
        interpolate=pyvips.Interpolate.new("bicubic"),
    )


def _local_motions(frames: int, aspect: float, rng: random.Random) -> list[LocalMotion]:
    """The moving region of a burst whose frames are ``aspect`` (width / height)
    and where it is in each frame: a subject stepping one way or a branch waving
    back and forth (2-6% of the long side a step), or something turning 6-15
    degrees a step. Every frame differs from the next."""
    area = rng.uniform(*LOCAL_AREA)
    # Semi-axes as shares of width and height: pi * ax * ay = area, and the
    # ellipse's own width:height (in pixels) between 0.7 and 1.4.
    k = rng.uniform(0.7, 1.4)
    ax = min(0.42, math.sqrt(area / math.pi * k / aspect))
    ay = min(0.42, area / math.pi / ax)
    cx, cy = rng.uniform(ax, 1 - ax), rng.uniform(ay, 1 - ay)
    mid = (frames - 1) / 2
    if rng.random() < 0.3:
        turn = min(rng.uniform(*LOCAL_TURN), LOCAL_TURN_MAX / max(0.5, mid))
        turn *= rng.choice([-1, 1])
        return [LocalMotion(cx, cy, ax, ay, turn=(f - mid) * turn) for f in range(frames)]
    heading = rng.uniform(0, 2 * math.pi)
    # No frame's shift above LOCAL_SHIFT_MAX: the warp must not fold.
    step = min(rng.uniform(*LOCAL_SHIFT), 2 * LOCAL_SHIFT_MAX / max(1, frames - 1))
    waving = rng.random() < 0.5
    out = []
    for f in range(frames):
        along = (0.5 if f % 2 else -0.5) if waving else f - mid
        d = along * step
        out.append(LocalMotion(cx, cy, ax, ay, d * math.cos(heading), d * math.sin(heading)))
    return out


def _warp(img: pyvips.Image, m: LocalMotion) -> pyvips.Image:
    """``img`` with ``m``'s region moved. Each pixel near the ellipse samples
    from where its content was, by a weight (1 - r^2)^2 that falls smoothly to
    0 at the rim: no seam, and no fold while the shift stays under about 0.65
    of the smaller semi-axis (``LOCAL_SHIFT_MAX``)."""
    width, height = img.width, img.height
    long_side = max(width, height)
    cx, cy, ax, ay = m.cx * width, m.cy * height, m.ax * width, m.ay * height
    x0, y0 = max(0, int(cx - ax)), max(0, int(cy - ay))
    x1, y1 = min(width, math.ceil(cx + ax) + 1), min(height, math.ceil(cy + ay) + 1)
    y, x = np.mgrid[y0:y1, x0:x1].astype(np.float32)
    px, py = x - cx, y - cy
    weight = np.clip(1 - (px / ax) ** 2 - (py / ay) ** 2, 0, None) ** 2
    sx = x - weight * m.dx * long_side
    sy = y - weight * m.dy * long_side
    if m.turn:
        c, s = math.cos(math.radians(m.turn)), math.sin(math.radians(m.turn))
        sx += weight * (c * px + s * py - px)
        sy += weight * (-s * px + c * py - py)
    index = pyvips.Image.new_from_array(np.dstack([sx, sy]).astype(np.float32))
    patch = img.mapim(index, interpolate=pyvips.Interpolate.new("bicubic"), extend="copy")
    return img.insert(patch, x0, y0)


def _noise(img: pyvips.Image, sigma: float, seed: int) -> pyvips.Image:
    noise = pyvips.Image.gaussnoise(img.width, img.height, sigma=sigma, mean=0, seed=seed)
    return (img + noise).cast("uchar")


def _stored(img: pyvips.Image, orientation: int) -> pyvips.Image:
    """The sensor pixels of an upright picture: the inverse of what the tag will undo.

    Kept in memory: the file and its preview are both made from it.
    """
    if orientation != 1:
        img = {6: img.rot270(), 8: img.rot90(), 3: img.rot180()}[orientation]
    return img.copy_memory()


def _preview(stored: pyvips.Image) -> bytes:
    """A camera's IFD1 preview of ``stored``: shrunk to fit the box, black bands, q75."""
    bw, bh = PREVIEW_BOX if stored.width >= stored.height else PREVIEW_BOX[::-1]
    scale = min(bw / stored.width, bh / stored.height)
    small = stored.resize(scale)
    small = small.crop(0, 0, min(bw, small.width), min(bh, small.height))
    framed = small.gravity("centre", bw, bh, extend="black")
    return framed.jpegsave_buffer(Q=PREVIEW_QUALITY, keep="none")


def _camera_exif(rng: random.Random, number: int) -> dict:
    """The Exif fields other than size, orientation and preview (for ``_photos.exif_block``)."""
    return {
        "when": f"20{19 + number % 6}:{1 + number % 12:02d}:{1 + number % 28:02d} "
        f"{rng.randrange(24):02d}:{rng.randrange(60):02d}:{rng.randrange(60):02d}",
        "exposure": (1, rng.choice([30, 60, 125, 250, 500])),
        "fnumber": (rng.choice([18, 28, 40, 56, 80]), 10),
        "iso": rng.choice([100, 200, 400, 800]),
    }


def _save_album_file(
    stored: pyvips.Image,
    path: str,
    fmt: str,
    orientation: int,
    q: int,
    exif: dict,
    preview: bytes | None = None,
) -> None:
    """Write sensor pixels ``stored``; a JPEG gets a camera Exif block (``exif`` fields)
    with ``orientation`` and, when given, ``preview`` in IFD1. Other formats get no Exif."""
    os.makedirs(os.path.dirname(path), exist_ok=True)
    # Only the ICC profile is kept from the source photograph: its Exif (and any
    # thumbnail in it) would describe another picture than this file.
    if fmt == "jpg":
        body = stored.jpegsave_buffer(Q=q, keep="icc")
        block = _photos.exif_block(
            orientation=orientation,
            width=stored.width,
            height=stored.height,
            thumbnail=preview,
            **exif,
        )
        with open(path, "wb") as fh:
            fh.write(_with_exif(body, block))
    elif fmt == "png":
        stored.pngsave(path, compression=1, keep="icc")
    elif fmt == "webp":
        stored.webpsave(path, Q=q, keep="icc")
    else:
        stored.tiffsave(path, compression="jpeg", Q=q, keep="icc")


def _with_exif(jpeg: bytes, exif_tiff: bytes) -> bytes:
    """``jpeg`` with one Exif APP1 first and its ICC profile (APP2 segments) kept after it."""
    icc = []
    pos = 2
    while jpeg[pos] == 0xFF and (0xE0 <= jpeg[pos + 1] <= 0xEF or jpeg[pos + 1] == 0xFE):
        (length,) = struct.unpack(">H", jpeg[pos + 2 : pos + 4])
        if jpeg[pos + 1] == 0xE2:
            icc.append(jpeg[pos : pos + 2 + length])
        pos += 2 + length
    out = _photos.splice_exif(jpeg, exif_tiff)
    (app1,) = struct.unpack(">H", out[4:6])
    cut = 4 + app1
    return out[:cut] + b"".join(icc) + out[cut:]


def read_preview(path: str) -> bytes | None:
    """The IFD1 JPEG preview of the album JPEG ``path``, or None (checks and tests)."""
    from PIL import ExifTags, Image

    with Image.open(path) as im:
        raw = im.info.get("exif")
        ifd1 = im.getexif().get_ifd(ExifTags.IFD.IFD1)
    if not raw or 513 not in ifd1 or 514 not in ifd1:
        return None
    tiff = raw[6:] if raw.startswith(b"Exif\x00\x00") else raw
    return tiff[ifd1[513] : ifd1[513] + ifd1[514]]


def _stale_view(
    src: pyvips.Image,
    win: Window,
    offsets: list[tuple[float, float]],
    frame: int,
    rng: random.Random,
    motions: list[LocalMotion] | None = None,
) -> tuple[str, pyvips.Image] | None:
    """What a stale preview of album photo ``frame`` shows, upright and small: the
    next frame of its burst (its local motion too), or a wider window of a single
    photo's scene."""
    size = 4 * PREVIEW_BOX[0]
    if len(offsets) > 1:
        other = frame + 1 if frame + 1 < len(offsets) else frame - 1
        view = _render_frame(src, win, size, *offsets[other])
        if motions:
            view = _warp(view.copy_memory(), motions[other])
        return "burst_neighbour", view
    wider = _wider_window(src, win, rng)
    return None if wider is None else ("wider_frame", _render(src, wider, size))


def preview_counts(album_files: list[dict]) -> dict[str, int]:
    """How many album files (truth.json ``album_files``) have which kind of preview."""
    counts = {"files": len(album_files), "jpeg": 0, "previews": 0, "stale": 0}
    counts.update(dict.fromkeys(STALE_PREVIEWS, 0))
    for f in album_files:
        counts["jpeg"] += os.path.splitext(f["path"])[1].lower() in (".jpg", ".jpeg")
        kind = f.get("preview", "")
        counts["previews"] += bool(kind)
        if kind in STALE_PREVIEWS:
            counts["stale"] += 1
            counts[kind] += 1
    return counts


def _wider_window(src: pyvips.Image, win: Window, rng: random.Random) -> Window | None:
    """A window 10-15% wider and taller around ``win`` (the scene before a crop edit),
    moved to stay in the source; None when the source has no room around it."""
    f = rng.uniform(*WIDER_FRAME)
    w, h = min(src.width, round(win.width * f)), min(src.height, round(win.height * f))
    if w * h < win.width * win.height * 1.1:
        return None
    left = round(win.left + win.width / 2 - w / 2)
    top = round(win.top + win.height / 2 - h / 2)
    left, top = min(max(0, left), src.width - w), min(max(0, top), src.height - h)
    return Window(win.source, left, top, w, h)


def _colour_shift(img: pyvips.Image, rng: random.Random) -> pyvips.Image:
    gain = rng.uniform(0.8, 1.2)
    offset = rng.uniform(-20, 20)
    gamma = rng.uniform(0.75, 1.35)
    lch = img.colourspace("lch")
    lch = lch * [1, rng.uniform(0.6, 1.5), 1] + [0, 0, rng.uniform(-12, 12)]
    out = lch.colourspace("srgb")
    out = (out * gain + offset).cast("uchar")
    return out.gamma(exponent=gamma).cast("uchar")


def _thumbnail(src: Source, preset: str, rng: random.Random) -> tuple[bytes, dict]:
    """Apply ``preset`` to an upright picture through a thumbnailer drawn from
    ``rng``; returns the JPEG and its ``ThumbTruth`` fields."""
    width, height = src.image.width, src.image.height
    long_side = rng.randint(*PRESET_SIZES[preset])
    quality = rng.randint(*PRESET_QUALITY[preset])
    kind = aspect = ""
    box = None
    if preset in CROP_PRESETS:
        kind = {"centre_crop": "centre", "smart_crop": "smart"}.get(preset) or rng.choice(
            ["centre", "smart"]
        )
        aspect = rng.choice([*CROP_ASPECTS, *(["photo"] if kind == "smart" else [])])
        box = _crop_box(width, height, kind, aspect, rng)
    if preset == "nearest":
        name = rng.choice(NEAREST_THUMBNAILERS)
        small, rounding, used = _nearest(src.image, long_side, name), "", None
    else:
        small, name, rounding, used = _shrink(
            src, box, long_side, rng.choice(THUMBNAILERS), kind == "centre", rng
        )
    small = _finish(_rgb(small), preset, rng)
    data, subsampling, exif = _encode(small, name, quality, rng)
    return data, {
        "thumbnailer": name,
        "crop_kind": kind,
        "crop_aspect": aspect,
        "crop_rounding": rounding,
        "crop_box": [round(v, 2) for v in used] if used else [],
        "size": [small.width, small.height],
        "quality": quality,
        "subsampling": subsampling,
        "exif": exif,
    }


def _crop_box(
    width: int, height: int, kind: str, aspect: str, rng: random.Random
) -> tuple[float, float, float, float]:
    """A crop of a ``width`` x ``height`` picture, (left, top, width, height) in
    floats: the largest box of ``aspect`` (turned to follow the picture),
    centred; a smart crop keeps 80-95% of each of its sides, anywhere."""
    if aspect == "photo":
        ratio = width / height
    else:
        ratio = CROP_ASPECTS[aspect] if width >= height else 1 / CROP_ASPECTS[aspect]
    w = min(float(width), height * ratio)
    h = w / ratio
    if kind == "centre":
        return (width - w) / 2, (height - h) / 2, w, h
    f = rng.uniform(0.80, 0.95)
    w, h = w * f, h * f
    return rng.uniform(0, width - w), rng.uniform(0, height - h), w, h


def _out_size(width: float, height: float, long_side: int) -> tuple[int, int]:
    scale = long_side / max(width, height)
    return max(1, round(width * scale)), max(1, round(height * scale))


def _round_box(
    box: tuple[float, float, float, float], rounding: str, width: int, height: int, rng
) -> tuple[float, float, float, float]:
    """``box`` in whole pixels of a ``width`` x ``height`` picture, rounded as
    ``rounding`` says (``CROP_ROUNDINGS``), kept inside the picture."""
    left, top, w, h = box
    if rounding == "float":  # kept to the sub-pixel, inside the picture (a box
        # computed a hair outside, at -1e-13, is one Pillow refuses)
        w, h = min(w, width), min(h, height)
        return min(max(0.0, left), width - w), min(max(0.0, top), height - h), w, h
    if rounding == "int":  # int() of the corners, as a PIL crop box is often made
        right, bottom = int(left + w), int(top + h)
        left, top = int(left), int(top)
        w, h = right - left, bottom - top
    elif rounding == "reduced":  # drawn on a 1/f preview, scaled up
        f = rng.choice([2, 4, 8])
        left, top, w, h = (round(v / f) * f for v in box)
    else:
        left, top, w, h = round(left), round(top), round(w), round(h)
    w, h = max(1, min(w, width)), max(1, min(h, height))
    return min(max(0, left), width - w), min(max(0, top), height - h), w, h


def _shrink(
    src: Source,
    box: tuple[float, float, float, float] | None,
    long_side: int,
    name: str,
    centred: bool,
    rng: random.Random,
) -> tuple[pyvips.Image, str, str, tuple]:
    """The part ``box`` of the picture (all of it when None) shrunk by
    thumbnailer ``name`` to ``long_side``; returns it, the thumbnailer really
    used (``pil_draft`` needs a JPEG file), the crop rounding, and the box shown
    in the picture's pixels."""
    width, height = src.image.width, src.image.height
    whole = box is None
    box = box or (0.0, 0.0, float(width), float(height))
    size = _out_size(box[2], box[3], long_side)
    if name == "pil_draft" and src.jpeg is None:
        name = f"pil_{rng.choice(list(PIL_FILTERS))}"
    if name == "vips_thumbnail":
        small, used = _vips_thumbnail(src, box, size, whole, centred)
        return small, name, "" if whole else "shrunk", used
    if name == "pil_draft":
        small, used = _pil_draft(src.jpeg, box, size, width, height, rng)
        return small, name, "" if whole else "shrunk", used
    rounding = ""
    used = box
    if not whole:
        roundings = ["int", "round", "reduced"] + (["float"] if name.startswith("pil_") else [])
        rounding = rng.choice(roundings)
        used = _round_box(box, rounding, width, height, rng)
    if name == "vips":
        left, top, w, h = (int(v) for v in used)
        small = src.image.crop(left, top, w, h).resize(size[0] / w, vscale=size[1] / h)
    elif name.startswith("pil_"):
        _, filt, *gap = name.split("_")
        left, top, w, h = used
        small = _to_vips(
            _to_pil(src.image).resize(
                size,
                PIL_FILTERS[filt],
                box=(left, top, left + w, top + h),
                reducing_gap=rng.choice([2.0, 3.0]) if gap else None,
            )
        )
    elif name == "area":
        small = _to_vips(_area(_to_pil(_crop(src.image, used)), size))
    else:
        small = _to_vips(_topleft(_crop(src.image, used).numpy(), size))
    return small, name, rounding, used


def _crop(img: pyvips.Image, box: tuple) -> pyvips.Image:
    left, top, w, h = (int(v) for v in box)
    return img.crop(left, top, w, h)


def _area(pic: Image.Image, size: tuple[int, int]) -> Image.Image:
    """An area reduction: ``reduce`` by the whole factor that fits (its last block
    partial), then a box resize."""
    f = int(min(pic.width / size[0], pic.height / size[1]))
    if f >= 2:
        pic = pic.reduce(f)
    return pic.resize(size, Image.Resampling.BOX)


def _topleft(arr: np.ndarray, size: tuple[int, int]) -> Image.Image:
    """A top-left-aligned reduction: average f x f blocks from the top-left corner,
    dropping the right and bottom remainder, then a bilinear resize."""
    h, w = arr.shape[:2]
    f = int(min(w / size[0], h / size[1]))
    if f >= 2:
        h2, w2 = h // f * f, w // f * f
        blocks = arr[:h2, :w2].reshape(h2 // f, f, w2 // f, f, -1).astype(np.float32)
        arr = np.rint(blocks.mean(axis=(1, 3))).astype(np.uint8)
    return Image.fromarray(np.ascontiguousarray(arr)).resize(size, Image.Resampling.BILINEAR)


def _vips_thumbnail(
    src: Source, box: tuple, size: tuple[int, int], whole: bool, centred: bool
) -> tuple[pyvips.Image, tuple]:
    """libvips ``thumbnail``, shrink-on-load from the album file when it is a
    JPEG: a centre crop with its own ``crop="centre"`` (cut from the shrunk
    picture), another crop cut from the shrunk whole picture at truncated
    coordinates."""
    width, height = src.image.width, src.image.height

    def thumb(w: int, h: int, **kw) -> pyvips.Image:
        if src.jpeg:
            return pyvips.Image.thumbnail(src.jpeg, w, height=h, **kw)
        return src.image.thumbnail_image(w, height=h, **kw)

    if whole:
        return thumb(*size), (0.0, 0.0, float(width), float(height))
    scale = max(size[0] / box[2], size[1] / box[3])
    if centred:
        small = thumb(*size, crop="centre")
        sw, sh = round(width * scale), round(height * scale)
        left, top = (sw - small.width) // 2, (sh - small.height) // 2
        return small, (left / scale, top / scale, small.width / scale, small.height / scale)
    shrunk = thumb(round(width * scale), round(height * scale))
    sx, sy = shrunk.width / width, shrunk.height / height
    w, h = min(size[0], shrunk.width), min(size[1], shrunk.height)
    left = min(int(box[0] * sx), shrunk.width - w)
    top = min(int(box[1] * sy), shrunk.height - h)
    return shrunk.crop(left, top, w, h), (left / sx, top / sy, w / sx, h / sy)


def _pil_draft(
    path: str, box: tuple, size: tuple[int, int], width: int, height: int, rng: random.Random
) -> tuple[pyvips.Image, tuple]:
    """PIL ``draft`` on load (DCT scaling to the smallest 1/2-1/8 picture at least
    the size needed), turned upright, the box cut from that at truncated
    corners, then a resize with one of PIL's filters."""
    scale = max(size[0] / box[2], size[1] / box[3])
    need = (math.ceil(width * scale), math.ceil(height * scale))
    with Image.open(path) as im:
        sideways = im.getexif().get(0x0112, 1) in (5, 6, 7, 8)
        im.draft("RGB", need[::-1] if sideways else need)
        pic = ImageOps.exif_transpose(im).convert("RGB")
    sx, sy = pic.width / width, pic.height / height
    left, top = int(box[0] * sx), int(box[1] * sy)
    right = min(pic.width, int((box[0] + box[2]) * sx))
    bottom = min(pic.height, int((box[1] + box[3]) * sy))
    filt = PIL_FILTERS[rng.choice(list(PIL_FILTERS))]
    small = pic.resize(size, filt, box=(left, top, right, bottom))
    return _to_vips(small), (left / sx, top / sy, (right - left) / sx, (bottom - top) / sy)


def _nearest(img: pyvips.Image, long_side: int, name: str) -> pyvips.Image:
    size = _out_size(img.width, img.height, long_side)
    if name == "vips_nearest":
        return img.resize(size[0] / img.width, vscale=size[1] / img.height, kernel="nearest")
    return _to_vips(_to_pil(img).resize(size, Image.Resampling.NEAREST))


def _finish(small: pyvips.Image, preset: str, rng: random.Random) -> pyvips.Image:
    """What ``preset`` does after the resize: colour, sharpening, a watermark, a border."""
    if preset == "colour_shift":
        return _colour_shift(small, rng)
    if preset == "sharpened":
        return small.sharpen(sigma=1.0, m2=rng.uniform(2, 5))
    if preset == "combo":
        return _colour_shift(small, rng).sharpen(sigma=1.0, m2=rng.uniform(2, 4))
    if preset == "watermark":
        text = pyvips.Image.text("© photo-gallery.example  proof", dpi=rng.randint(60, 110))
        text = text.embed(
            rng.randrange(max(1, small.width - text.width)),
            rng.randrange(max(1, small.height - text.height)),
            small.width,
            small.height,
        )
        alpha = (text * 0.6).cast("uchar")
        overlay = small.new_from_image([255, 255, 255]).bandjoin(alpha)
        return small.composite2(overlay, "over").flatten()
    if preset == "border":
        pad = rng.randint(4, 24)
        colour = rng.choice([[255, 255, 255], [0, 0, 0], [235, 235, 230]])
        return _frame(small, pad, pad, pad, colour)
    if preset == "print_border":
        # A print's mount: even sides and top, a thicker bottom edge.
        pad = rng.randint(6, 16)
        colour = rng.choice([[255, 255, 255], [245, 242, 232], [250, 250, 250]])
        return _frame(small, pad, pad, round(pad * rng.uniform(2.5, 4.0)), colour)
    return small


def _frame(img: pyvips.Image, side: int, top: int, bottom: int, colour: list) -> pyvips.Image:
    return img.embed(
        side,
        top,
        img.width + 2 * side,
        img.height + top + bottom,
        extend="background",
        background=colour,
    )


def _rgb(img: pyvips.Image) -> pyvips.Image:
    """Three uchar sRGB bands, whatever the thumbnailer gave."""
    if img.hasalpha():
        img = img.flatten(background=255)
    if img.interpretation not in ("srgb", "rgb") or img.bands != 3:
        img = img.colourspace("srgb")
    return img.cast("uchar") if img.format != "uchar" else img


def _to_pil(img: pyvips.Image) -> Image.Image:
    return Image.fromarray(np.ascontiguousarray(_rgb(img).numpy()), "RGB")


def _to_vips(pic: Image.Image) -> pyvips.Image:
    arr = np.ascontiguousarray(np.asarray(pic.convert("RGB")))
    return pyvips.Image.new_from_array(arr).copy(interpretation="srgb")


def _encode(
    small: pyvips.Image, name: str, quality: int, rng: random.Random
) -> tuple[bytes, str, bool]:
    """The thumbnail's JPEG as the family's library writes it, with 4:2:0 or
    4:4:4 chroma, and sometimes a camera-like Exif block (Orientation 1);
    returns it, the subsampling and whether it has Exif."""
    full = rng.random() < FULL_CHROMA_SHARE
    small = _rgb(small)
    if name.startswith("vips"):
        data = small.jpegsave_buffer(Q=quality, subsample_mode="off" if full else "on", keep="none")
    else:
        buf = io.BytesIO()
        _to_pil(small).save(buf, "JPEG", quality=quality, subsampling=0 if full else 2)
        data = buf.getvalue()
    exif = rng.random() < THUMB_EXIF_SHARE
    if exif:
        fields = _camera_exif(rng, rng.randrange(1000))
        block = _photos.exif_block(
            orientation=1, width=small.width, height=small.height, thumbnail=None, **fields
        )
        data = _photos.splice_exif(data, block)
    return data, "4:4:4" if full else "4:2:0", exif


def generate(
    sources: list[str],
    out: str,
    album_size: int = 2000,
    thumbs: int = 300,
    sets: int = 3,
    seed: int = 1,
    long_edge: int = 1600,
    max_overlap: float = 0.3,
) -> dict:
    """Write ``out/album``, ``out/thumbs/<set>`` and ``out/truth.json``; returns the truth."""
    rng = random.Random(seed)
    # Previews and Exif fields draw from their own stream: changing them leaves
    # the album pixels, thumbnails and truth that ``rng`` makes as they were.
    preview_rng = random.Random(f"photomatch-bench-previews/{seed}")
    previews: dict[str, bytes] = {}
    pics = _load_sources(sorted(sources), min_side=320)
    if len(pics) < 4:
        raise SystemExit(f"need at least 4 usable source photographs, found {len(pics)}")
    rng.shuffle(pics)
    # Some whole sources stay out of the album: the unrelated distractors come from them.
    held_out = pics[: max(1, len(pics) // 10)]
    pics = pics[len(held_out) :]

    # Plan the scenes: single photos, bursts, and their edited copies.
    n_burst_frames = int(album_size * 0.15)
    n_edits = int(album_size * 0.03)
    windows = _windows(pics, album_size, rng, max_overlap)
    album = os.path.join(out, "album")
    photos: list[AlbumPhoto] = []
    scene_files: dict[int, list[str]] = {}
    folders = [
        "2019/Summer",
        "2020/Family",
        "2021",
        "2022/Trip Italy",
        "2023/DCIM/100CANON",
        "2023/DCIM/101CANON",
        "2024/Phone",
        "2024/Phone/Camera",
        "Scans",
        "Misc/old",
    ]
    counter = 1000
    scene = 0
    burst_no = 0
    burst_left = n_burst_frames
    i = 0
    while len(photos) < album_size - n_edits and i < len(windows):
        win = windows[i]
        i += 1
        src = pics[win.source]
        folder = rng.choice(folders)
        edge = rng.randint(long_edge * 3 // 4, long_edge)
        frames = 1
        if burst_left > 0 and rng.random() < 0.08:
            frames = min(rng.randint(2, 6), burst_left)
            burst_left -= frames
        motion = rng.choices(list(BURST_MOTIONS), list(BURST_MOTIONS.values()))[0]
        motion = motion if frames > 1 else ""
        offsets = _burst_offsets(frames, rng, motion)
        motions = None
        if motion in ("pan+local", "tripod"):
            motions = _local_motions(frames, win.width / win.height, rng)
        for f in range(frames):
            counter += 1
            fmt = rng.choices(["jpg", "png", "webp", "tif"], [85, 6, 5, 4])[0]
            prefix = rng.choice(["IMG_", "DSC_", "DSCF", "P"])
            ext = {
                "jpg": rng.choice([".jpg", ".JPG", ".jpeg"]),
                "png": ".png",
                "webp": ".webp",
                "tif": ".tif",
            }[fmt]
            rel = f"{folder}/{prefix}{counter:04d}{ext}"
            if frames > 1:
                img = _render_frame(src, win, edge, *offsets[f])
                if motions:
                    img = _warp(img.copy_memory(), motions[f])
                img = _noise(img * rng.uniform(0.97, 1.03), 2.5, rng.randrange(1 << 30))
            else:
                img = _noise(_render(src, win, edge), 1.5, rng.randrange(1 << 30))
            orientation = rng.choices([1, 6, 8, 3], [82, 8, 6, 4])[0] if fmt == "jpg" else 1
            stored = _stored(img, orientation)
            exif = _camera_exif(preview_rng, counter)
            kind = ""
            if fmt == "jpg" and preview_rng.random() < PREVIEW_SHARE:
                kind, shown = "current", stored
                stale = None
                if preview_rng.random() < STALE_FRAMING_SHARE:
                    stale = _stale_view(src, win, offsets, f, preview_rng, motions)
                if stale is not None:
                    kind, shown = stale[0], _stored(stale[1], orientation)
                previews[rel] = _preview(shown)
            _save_album_file(
                stored,
                os.path.join(album, rel),
                fmt,
                orientation,
                rng.randint(85, 95),
                exif,
                previews.get(rel),
            )
            photos.append(
                AlbumPhoto(
                    rel,
                    scene,
                    "burst" if frames > 1 else "photo",
                    burst_no if frames > 1 else -1,
                    orientation,
                    kind,
                    motion,
                )
            )
            scene_files[scene] = [rel]
            scene += 1
        if frames > 1:
            burst_no += 1
    if len(photos) < album_size - n_edits:
        raise SystemExit(
            f"sources too few for {album_size} photos: made {len(photos)} "
            "(give more source photographs, or a larger --max-overlap)"
        )
    # Edited copies: the same photo brightness/contrast/gamma-corrected, same name,
    # in an "edited" folder.
    singles = [p for p in photos if p.kind == "photo"]
    # Half keep the original's preview, byte for byte, as editors that copy the
    # Exif block do (so it is sideways when the original's pixels were stored
    # sideways); an original without one lends a preview of its unedited pixels.
    for p in rng.sample(singles, n_edits):
        before = pyvips.Image.new_from_file(os.path.join(album, p.path)).autorot()
        img = (before * rng.uniform(0.9, 1.25) + rng.uniform(-15, 15)).cast("uchar")
        img = img.gamma(exponent=rng.uniform(0.8, 1.25)).cast("uchar")
        rel = f"Edited/{os.path.splitext(os.path.basename(p.path))[0]}.jpg"
        if os.path.exists(os.path.join(album, rel)):
            continue
        stored = _stored(img, 1)
        exif = _camera_exif(preview_rng, p.scene)
        kind = ""
        if preview_rng.random() < STALE_EDIT_SHARE:
            kind = "pre_edit"
            previews[rel] = previews.get(p.path) or _preview(_stored(before, 1))
        elif preview_rng.random() < PREVIEW_SHARE:
            kind = "current"
            previews[rel] = _preview(stored)
        _save_album_file(stored, os.path.join(album, rel), "jpg", 1, 92, exif, previews.get(rel))
        photos.append(AlbumPhoto(rel, p.scene, "edited", -1, 1, kind))
        scene_files[p.scene].append(rel)
    # Junk that real albums hold.
    for rel, data in [
        (".DS_Store", b"\0\0\0\1Bud1"),
        ("2021/Thumbs.db", b"\xd0\xcf\x11\xe0"),
        ("2023/DCIM/100CANON/IMG_1001.xmp", b"<x:xmpmeta/>"),
        ("Misc/notes.txt", b"to print"),
        ("2020/Family/video.mov", b"\0" * 64),
    ]:
        os.makedirs(os.path.dirname(os.path.join(album, rel)) or album, exist_ok=True)
        with open(os.path.join(album, rel), "wb") as fh:
            fh.write(data)

    # Thumbnails. Withheld burst frames are removed from the album after rendering.
    thumbs_root = os.path.join(out, "thumbs")
    set_names = [f"set{chr(ord('A') + k)}" for k in range(sets)]
    truth: list[ThumbTruth] = []
    originals = [p for p in photos if p.kind in ("photo", "burst")]
    n_distractors = max(3, thumbs // 10)
    chosen = rng.sample(originals, thumbs - n_distractors)
    # Prefer burst frames a little: they are the hard case.
    bursts = [p for p in originals if p.kind == "burst" and p not in chosen]
    for k in range(min(len(bursts), thumbs // 20)):
        chosen[k] = bursts[k]
    number = 0

    def thumb_path(set_name: str) -> str:
        nonlocal number
        number += 1
        return f"{set_name}/{rng.randrange(16**8):08x}_{number}.jpg"

    def source(rel: str) -> Source:
        path = os.path.join(album, rel)
        jpeg = path if rel.lower().endswith((".jpg", ".jpeg")) else None
        return Source(pyvips.Image.new_from_file(path).autorot(), jpeg)

    def add(src: Source, preset: str, expected: list[str], distractor: str, frame=None) -> None:
        data, made = _thumbnail(src, preset, rng)
        rel = thumb_path(rng.choice(set_names))
        _save_thumb(data, os.path.join(thumbs_root, rel))
        group, motion = (frame.group, frame.burst_motion) if frame else (-1, "")
        truth.append(
            ThumbTruth(
                rel,
                rel.split("/")[0],
                preset,
                expected,
                distractor,
                **made,
                burst_group=group,
                burst_motion=motion,
                withheld_frame=frame.path if frame and distractor else "",
            )
        )

    for p in chosen:
        preset = rng.choice(PRESETS)
        add(source(p.path), preset, list(scene_files[p.scene]), "", p)
    # Distractors.
    burst_frames = [p for p in originals if p.kind == "burst" and p not in chosen]
    withheld: list[str] = []
    for k in range(n_distractors):
        kind = DISTRACTOR_KINDS[k % 3]
        preset = rng.choice(PRESETS)
        frame = None
        if kind == "withheld_burst_frame" and burst_frames:
            frame = burst_frames.pop(rng.randrange(len(burst_frames)))
            src = source(frame.path)
            withheld.append(frame.path)
        elif kind == "other_region":
            img = _other_region(pics, windows[:i], rng)
            if img is None:
                kind, img = "unrelated", _unrelated(held_out, rng)
            src = Source(img)
        else:
            kind, src = "unrelated", Source(_unrelated(held_out, rng))
        add(src, preset, [], kind, frame)
    for rel in withheld:
        kept = os.path.join(out, "withheld", rel)
        os.makedirs(os.path.dirname(kept), exist_ok=True)
        os.replace(os.path.join(album, rel), kept)
    photos = [p for p in photos if p.path not in withheld]
    data = {
        "generator": GENERATOR_VERSION,
        "seed": seed,
        "album": "album",
        "thumbs": "thumbs",
        "sets": set_names,
        "previews": preview_counts([asdict(p) for p in photos]),
        "album_files": [asdict(p) for p in photos],
        "thumbnails": [asdict(t) for t in truth],
    }
    with open(os.path.join(out, "truth.json"), "w") as fh:
        json.dump(data, fh, indent=1)
    return data


def _save_thumb(data: bytes, path: str) -> None:
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as fh:
        fh.write(data)


def _unrelated(held_out: list[pyvips.Image], rng: random.Random) -> pyvips.Image:
    src = rng.choice(held_out)
    f = rng.uniform(0.5, 1.0)
    w, h = int(src.width * f), int(src.height * f)
    img = src.crop(rng.randrange(src.width - w + 1), rng.randrange(src.height - h + 1), w, h)
    return img.resize(1200 / max(w, h))


def _other_region(
    pics: list[pyvips.Image], used: list[Window], rng: random.Random
) -> pyvips.Image | None:
    """A region of a source the album uses, overlapping no album photo by more than 10%."""
    for _ in range(400):
        win = used[rng.randrange(len(used))]
        src = pics[win.source]
        w = int(min(src.width, src.height * 1.5) * rng.uniform(0.35, 0.6))
        h = int(w / 1.5)
        cand = Window(
            win.source, rng.randrange(src.width - w + 1), rng.randrange(src.height - h + 1), w, h
        )
        if all(_overlap(cand, o) <= 0.1 for o in used if o.source == win.source) and _textured(
            src, cand
        ):
            return src.crop(cand.left, cand.top, w, h).resize(1200 / w)
    return None


def source_photos(folders: list[str]) -> list[str]:
    """Every decodable-looking picture file under ``folders``."""
    exts = (".jpg", ".jpeg", ".png", ".tif", ".tiff", ".webp")
    found = []
    for folder in folders:
        for root, _, files in os.walk(folder):
            found += [os.path.join(root, f) for f in files if f.lower().endswith(exts)]
    return sorted(found)
