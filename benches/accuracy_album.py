"""A seeded generator of realistic albums and thumbnail sets, with ground truth.

The album is built from real photographs (``sources``): each album photo is a
window of a source picture (windows of one source overlap little, so they are
different pictures of the same place, as in a real album), resized to camera-like
sizes. It has what real albums have: nested folders and camera-style names,
JPEG mostly plus PNG/WebP/TIFF, originals stored sideways with an EXIF
orientation (6, 8 or 3), bursts of 2-6 near-identical frames (shifts of 0.5-3%,
tiny exposure changes, independent noise), edited copies under the same name in
another folder, and junk files.

Thumbnails go through one preset each (see ``PRESETS``). About 10% are
distractors whose original is absent: a withheld burst frame, another region of a
source that the album has a photo of, or an unrelated photograph.

``truth.json`` maps every thumbnail to its preset and to the album files that are
right answers: the original and its edited copies; never a burst sibling.
"""

from __future__ import annotations

import json
import os
import random
from dataclasses import asdict, dataclass, field

import numpy as np
import pyvips

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


def _save_album_file(img: pyvips.Image, path: str, fmt: str, orientation: int, q: int) -> None:
    os.makedirs(os.path.dirname(path), exist_ok=True)
    if orientation != 1:
        # Store sensor pixels: the inverse of what the orientation tag will undo.
        img = {6: img.rot270(), 8: img.rot90(), 3: img.rot180()}[orientation].copy()
        img.set_type(pyvips.GValue.gint_type, "orientation", orientation)
    if fmt == "jpg":
        img.jpegsave(path, Q=q)
    elif fmt == "png":
        img.pngsave(path, compression=1)
    elif fmt == "webp":
        img.webpsave(path, Q=q)
    else:
        img.tiffsave(path, compression="jpeg", Q=q)


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
            _save_album_file(img, os.path.join(album, rel), fmt, orientation, rng.randint(85, 95))
            photos.append(
                AlbumPhoto(
                    rel,
                    scene,
                    "burst" if frames > 1 else "photo",
                    burst_no if frames > 1 else -1,
                    orientation,
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
    for p in rng.sample(singles, n_edits):
        img = pyvips.Image.new_from_file(os.path.join(album, p.path)).autorot()
        img = (img * rng.uniform(0.9, 1.25) + rng.uniform(-15, 15)).cast("uchar")
        img = img.gamma(exponent=rng.uniform(0.8, 1.25)).cast("uchar")
        rel = f"Edited/{os.path.splitext(os.path.basename(p.path))[0]}.jpg"
        if os.path.exists(os.path.join(album, rel)):
            continue
        _save_album_file(img, os.path.join(album, rel), "jpg", 1, 92)
        photos.append(AlbumPhoto(rel, p.scene, "edited", -1))
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
        "seed": seed,
        "album": "album",
        "thumbs": "thumbs",
        "sets": set_names,
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
