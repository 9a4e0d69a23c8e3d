"""A seeded generator of realistic albums and thumbnail sets, with ground truth.

The album is built from real photographs (``sources``): each album photo is a
window of a source picture (windows of one source overlap little, so they are
different pictures of the same place, as in a real album), resized to camera-like
sizes. It has what real albums have: nested folders and camera-style names,
JPEG mostly plus PNG/WebP/TIFF, originals stored sideways with an EXIF
orientation (6, 8 or 3), bursts of 2-6 near-identical frames (shifts of 0.5-3%,
tiny exposure changes, independent noise), edited copies under the same name in
another folder, and junk files.

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
preview. Preview choices come from their own seeded stream, so the album's
pixels are those of the generator before previews (version 1) for the same
seed; version 1 also let the source photographs' own Exif (and thumbnails)
ride along into album files, which version 2 never does.

Thumbnails go through one preset each (see ``PRESETS``). About 10% are
distractors whose original is absent: a withheld burst frame, another region of a
source that the album has a photo of, or an unrelated photograph.

``truth.json`` maps every thumbnail to its preset and to the album files that are
right answers: the original and its edited copies; never a burst sibling. Each
album file's ``preview`` is ``""`` (none), ``"current"`` (shows the file's own
pixels) or the kind of stale preview (``STALE_PREVIEWS``).
"""

from __future__ import annotations

import json
import os
import random
import struct
from dataclasses import asdict, dataclass, field

import _photos
import numpy as np
import pyvips

#: Bumped when the album a seed gives changes; written to truth.json.
#: 2: camera Exif blocks with embedded previews (some stale); no source Exif.
GENERATOR_VERSION = 2

PRESETS = (
    "downscale",
    "tiny_lowq",
    "centre_square",
    "centre_4x3",
    "offcentre_crop",
    "colour_shift",
    "sharpened",
    "watermark",
    "border",
    "nearest",
    "combo",
)
DISTRACTOR_KINDS = ("withheld_burst_frame", "other_region", "unrelated")
#: Smallest side, in source pixels, of an album photo's scene.
MIN_WINDOW = 160
#: Share of a burst's scene that its frames can pan across.
BURST_ROOM = 0.1
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


@dataclass
class ThumbTruth:
    path: str  # relative to the thumbs root
    set: str
    preset: str
    expected: list[str] = field(default_factory=list)  # album paths that are right answers
    distractor: str = ""  # one of DISTRACTOR_KINDS when the original is absent


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


def _burst_offsets(frames: int, rng: random.Random) -> list[tuple[float, float]]:
    """Where each frame of a burst sits inside its scene: a pan in one direction,
    0.5-3% of the frame per step (less when many frames must fit in BURST_ROOM)."""
    step_max = min(0.03, BURST_ROOM / max(1, frames - 1))
    sx, sy = rng.choice([-1, 1]), rng.choice([-1, 1])
    x, y = (0.0 if sx > 0 else BURST_ROOM), rng.uniform(0, BURST_ROOM)
    out = []
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
) -> tuple[str, pyvips.Image] | None:
    """What a stale preview of album photo ``frame`` shows, upright and small: the
    next frame of its burst, or a wider window of a single photo's scene."""
    size = 4 * PREVIEW_BOX[0]
    if len(offsets) > 1:
        ox, oy = offsets[frame + 1 if frame + 1 < len(offsets) else frame - 1]
        return "burst_neighbour", _render_frame(src, win, size, ox, oy)
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


def _thumbnail(img: pyvips.Image, preset: str, rng: random.Random) -> tuple[pyvips.Image, int]:
    """Apply ``preset`` to an upright picture; returns the thumbnail and its JPEG quality."""

    def fit(im: pyvips.Image, size: int) -> pyvips.Image:
        return im.resize(size / max(im.width, im.height))

    def centre(im: pyvips.Image, aspect: float) -> pyvips.Image:
        w = min(im.width, round(im.height * aspect))
        h = min(im.height, round(w / aspect))
        return im.crop((im.width - w) // 2, (im.height - h) // 2, w, h)

    def offcentre(im: pyvips.Image) -> pyvips.Image:
        f = rng.uniform(0.80, 0.95)
        w, h = round(im.width * f), round(im.height * f)
        return im.crop(rng.randrange(im.width - w + 1), rng.randrange(im.height - h + 1), w, h)

    q = rng.randint(50, 80)
    if preset == "downscale":
        return fit(img, rng.randint(240, 400)), q
    if preset == "tiny_lowq":
        return fit(img, rng.randint(150, 200)), rng.randint(25, 40)
    if preset == "centre_square":
        return fit(centre(img, 1.0), rng.randint(150, 300)), rng.randint(30, 70)
    if preset == "centre_4x3":
        aspect = 4 / 3 if img.width >= img.height else 3 / 4
        return fit(centre(img, aspect), rng.randint(200, 360)), rng.randint(30, 70)
    if preset == "offcentre_crop":
        return fit(offcentre(img), rng.randint(200, 360)), rng.randint(30, 70)
    if preset == "colour_shift":
        return _colour_shift(fit(img, rng.randint(200, 360)), rng), rng.randint(30, 70)
    if preset == "sharpened":
        return fit(img, rng.randint(200, 360)).sharpen(sigma=1.0, m2=rng.uniform(2, 5)), q
    if preset == "watermark":
        small = fit(img, rng.randint(240, 400))
        text = pyvips.Image.text("© photo-gallery.example  proof", dpi=rng.randint(60, 110))
        text = text.embed(
            rng.randrange(max(1, small.width - text.width)),
            rng.randrange(max(1, small.height - text.height)),
            small.width,
            small.height,
        )
        alpha = (text * 0.6).cast("uchar")
        overlay = small.new_from_image([255, 255, 255]).bandjoin(alpha)
        return small.composite2(overlay, "over").flatten(), q
    if preset == "border":
        small = fit(img, rng.randint(200, 340))
        pad = rng.randint(4, 24)
        colour = rng.choice([[255, 255, 255], [0, 0, 0], [235, 235, 230]])
        return small.embed(
            pad,
            pad,
            small.width + 2 * pad,
            small.height + 2 * pad,
            extend="background",
            background=colour,
        ), q
    if preset == "nearest":
        return img.resize(rng.randint(160, 300) / max(img.width, img.height), kernel="nearest"), q
    if preset == "combo":
        cropped = offcentre(img) if rng.random() < 0.5 else centre(img, 1.0)
        small = _colour_shift(fit(cropped, rng.randint(160, 300)), rng)
        return small.sharpen(sigma=1.0, m2=rng.uniform(2, 4)), rng.randint(25, 35)
    raise ValueError(preset)


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
    # Previews and Exif fields draw from their own stream: ``rng`` makes the same
    # album pixels, thumbnails and truth as before previews existed.
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
        offsets = _burst_offsets(frames, rng)
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
                ox, oy = offsets[f]
                img = _render_frame(src, win, edge, ox, oy) * rng.uniform(0.97, 1.03)
                img = _noise(img, 2.5, rng.randrange(1 << 30))
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
                    stale = _stale_view(src, win, offsets, f, preview_rng)
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
                )
            )
            scene_files[scene] = [rel]
            scene += 1
        if frames > 1:
            burst_no += 1
    if len(photos) < album_size - n_edits:
        raise SystemExit(f"sources too few for {album_size} photos: made {len(photos)}")
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

    def upright(rel: str) -> pyvips.Image:
        return pyvips.Image.new_from_file(os.path.join(album, rel)).autorot()

    for p in chosen:
        preset = rng.choice(PRESETS)
        img, q = _thumbnail(upright(p.path), preset, rng)
        rel = thumb_path(rng.choice(set_names))
        _save_thumb(img, os.path.join(thumbs_root, rel), q)
        truth.append(ThumbTruth(rel, rel.split("/")[0], preset, list(scene_files[p.scene])))
    # Distractors.
    burst_frames = [p for p in originals if p.kind == "burst" and p not in chosen]
    withheld: list[str] = []
    for k in range(n_distractors):
        kind = DISTRACTOR_KINDS[k % 3]
        preset = rng.choice(PRESETS)
        if kind == "withheld_burst_frame" and burst_frames:
            p = burst_frames.pop(rng.randrange(len(burst_frames)))
            img = upright(p.path)
            withheld.append(p.path)
        elif kind == "other_region":
            img = _other_region(pics, windows[:i], rng)
            if img is None:
                kind, img = "unrelated", _unrelated(held_out, rng)
        else:
            kind, img = "unrelated", _unrelated(held_out, rng)
        thumb, q = _thumbnail(img, preset, rng)
        rel = thumb_path(rng.choice(set_names))
        _save_thumb(thumb, os.path.join(thumbs_root, rel), q)
        truth.append(ThumbTruth(rel, rel.split("/")[0], preset, [], kind))
    for rel in withheld:
        os.remove(os.path.join(album, rel))
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


def _save_thumb(img: pyvips.Image, path: str, q: int) -> None:
    os.makedirs(os.path.dirname(path), exist_ok=True)
    img.jpegsave(path, Q=q, keep="none")


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
