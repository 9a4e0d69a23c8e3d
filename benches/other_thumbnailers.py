"""Match thumbnails made by thumbnailers outside the accuracy benchmark's families.

    python benches/other_thumbnailers.py ROOT --out DIR [--count 270] [--seed 7]

``ROOT`` is an album made by ``accuracy.py run`` (its ``truth.json``, album and
``index.sqlite``). The accuracy benchmark's thumbnailers (``accuracy_album.py``)
are the ones the decision was fitted on; a web service may shrink, crop,
sharpen and encode otherwise. This script picks ``--count`` album files
(photos, and frames of bursts), makes one thumbnail of each in turn with
every family below, matches them against the album with the default policy
and prints, per family, how many were matched right, matched wrong,
``ambiguous`` (the original first, listed, or absent) and ``unmatched``.

Families (none is among ``accuracy_album.THUMBNAILERS``; the benchmark's
thumbnails are all upright):

- ``square75``: a centred 75 x 75 square, PIL LANCZOS, JPEG q75 (a photo
  site's smallest grid square);
- ``square150_webp``: a centred 150 x 150 square, PIL BICUBIC, WebP q50;
- ``linear_webp``: libvips ``thumbnail`` in linear light, 240 px, WebP q55;
- ``gamma_usm``: resized in linear light (each channel as float, gamma 2.2) to
  320 px, then an unsharp mask (radius 1, 80%), JPEG q70 (a service that
  sharpens after it shrinks);
- ``vivid``: 200 px, saturation x1.2 and a tone curve (gamma 0.85), JPEG q60;
- ``tiny96``: within 96 px, PIL BILINEAR, JPEG q60;
- ``avif``: libvips ``thumbnail`` 320 px, AVIF quality 45;
- ``no_autorot``: libvips ``thumbnail`` 256 px that ignores the EXIF
  orientation (sideways where the file is stored sideways), JPEG q75;
- ``turned``: libvips ``thumbnail`` 240 px turned by 90, 180 or 270 degrees
  in turn (a picture stored turned), JPEG q75.

A right answer is the file itself, or for a photo any file of its scene
(an edited copy); a burst sibling never is. The thumbnails are written to
``DIR/thumbs/setA`` (with ``DIR/made.json``: each one's family and right
answers) and the results to ``DIR/results``; the table is also written to
``DIR/score.json``. No rule of the decision was fitted on these families.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import random
import sys
from collections import Counter, defaultdict

import numpy as np
import pyvips
from PIL import Image, ImageEnhance, ImageFilter

import photomatch

FAMILIES = (
    "square75",
    "square150_webp",
    "linear_webp",
    "gamma_usm",
    "vivid",
    "tiny96",
    "avif",
    "no_autorot",
    "turned",
)
TURNS = ("d90", "d180", "d270")
OUTCOMES = (
    "matched right",
    "matched wrong",
    "ambiguous, original first",
    "ambiguous, original listed",
    "ambiguous, original absent",
    "unmatched, original first",
    "unmatched",
)


def _upright_rgb(path: str) -> Image.Image:
    image = pyvips.Image.new_from_file(path).autorot()
    if image.hasalpha():
        image = image.flatten(background=255)
    image = image.colourspace("srgb")
    if image.bands > 3:
        image = image[:3]
    if image.format != "uchar":
        image = image.cast("uchar")
    return Image.fromarray(image.numpy())


def _centre_square(image: Image.Image, side: int, resample: int) -> Image.Image:
    w, h = image.size
    s = min(w, h)
    left, top = (w - s) // 2, (h - s) // 2
    return image.crop((left, top, left + s, top + s)).resize((side, side), resample)


def _linear_resize(image: Image.Image, long_side: int) -> Image.Image:
    w, h = image.size
    scale = long_side / max(w, h)
    size = (round(w * scale), round(h * scale))
    linear = (np.asarray(image, dtype=np.float32) / 255) ** 2.2
    channels = [
        np.asarray(Image.fromarray(linear[..., c]).resize(size, Image.Resampling.BICUBIC))
        for c in range(3)
    ]
    out = np.clip(np.stack(channels, -1), 0, 1) ** (1 / 2.2)
    return Image.fromarray((out * 255 + 0.5).astype(np.uint8))


def _encode(image: Image.Image, fmt: str, quality: int) -> bytes:
    buf = io.BytesIO()
    image.save(buf, fmt, quality=quality)
    return buf.getvalue()


def make_thumbnail(path: str, family: str, turn: str = "d90") -> tuple[bytes, str]:
    """One thumbnail of the album file at ``path`` by ``family`` (``turned``
    by ``turn``, one of ``TURNS``): its bytes and extension."""
    if family == "linear_webp":
        return pyvips.Image.thumbnail(path, 240, linear=True).webpsave_buffer(Q=55), ".webp"
    if family == "avif":
        thumb = pyvips.Image.thumbnail(path, 320)
        return thumb.heifsave_buffer(compression="av1", Q=45), ".avif"
    if family == "no_autorot":
        return pyvips.Image.thumbnail(path, 256, no_rotate=True).jpegsave_buffer(Q=75), ".jpg"
    if family == "turned":
        return pyvips.Image.thumbnail(path, 240).rot(turn).jpegsave_buffer(Q=75), ".jpg"
    image = _upright_rgb(path)
    if family == "square75":
        return _encode(_centre_square(image, 75, Image.Resampling.LANCZOS), "JPEG", 75), ".jpg"
    if family == "square150_webp":
        square = _centre_square(image, 150, Image.Resampling.BICUBIC)
        return _encode(square, "WEBP", 50), ".webp"
    if family == "gamma_usm":
        sharp = _linear_resize(image, 320).filter(ImageFilter.UnsharpMask(1, 80, 2))
        return _encode(sharp, "JPEG", 70), ".jpg"
    if family == "vivid":
        image.thumbnail((200, 200), Image.Resampling.LANCZOS)
        image = ImageEnhance.Color(image).enhance(1.2)
        image = image.point([round(255 * (v / 255) ** 0.85) for v in range(256)] * 3)
        return _encode(image, "JPEG", 60), ".jpg"
    if family == "tiny96":
        image.thumbnail((96, 96), Image.Resampling.BILINEAR)
        return _encode(image, "JPEG", 60), ".jpg"
    raise ValueError(family)


def make(root: str, out: str, count: int, seed: int) -> list[dict]:
    """Make the thumbnails into ``out/thumbs/setA`` and list them in ``out/made.json``."""
    with open(os.path.join(root, "truth.json")) as fh:
        truth = json.load(fh)
    album = os.path.realpath(os.path.join(root, truth["album"]))
    scenes: dict[int, list[str]] = defaultdict(list)
    for f in truth["album_files"]:
        if f["kind"] in ("photo", "edited"):
            scenes[f["scene"]].append(f["path"])
    pool = [f for f in truth["album_files"] if f["kind"] in ("photo", "burst")]
    picked = random.Random(seed).sample(pool, min(count, len(pool)))
    folder = os.path.join(out, "thumbs", "setA")
    os.makedirs(folder, exist_ok=True)
    made = []
    for i, f in enumerate(picked):
        family = FAMILIES[i % len(FAMILIES)]
        turn = TURNS[i // len(FAMILIES) % len(TURNS)]
        data, ext = make_thumbnail(os.path.join(album, f["path"]), family, turn)
        name = f"t{i:04d}_{family}{ext}"
        with open(os.path.join(folder, name), "wb") as fh:
            fh.write(data)
        right = scenes[f["scene"]] if f["kind"] == "photo" else [f["path"]]
        made.append({"name": name, "family": family, "source": f["path"], "right": right})
    with open(os.path.join(out, "made.json"), "w") as fh:
        json.dump(made, fh, indent=1)
    return made


def outcome(result: photomatch.QueryResult, right: set[str]) -> str:
    paths = [c.path for c in result.candidates]
    first = paths[0] if paths else None
    if result.status == "matched":
        return "matched right" if result.match in right else "matched wrong"
    if result.status == "ambiguous":
        if first in right:
            return "ambiguous, original first"
        return "ambiguous, original listed" if right & set(paths) else "ambiguous, original absent"
    return "unmatched, original first" if first in right else "unmatched"


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("root", help="an album made by accuracy.py run")
    ap.add_argument("--out", required=True, help="folder for the thumbnails and results")
    ap.add_argument("--count", type=int, default=270)
    ap.add_argument("--seed", type=int, default=7)
    args = ap.parse_args()
    if os.path.exists(os.path.join(args.out, "thumbs")):
        sys.exit(f"{args.out}: holds thumbnails already; use a new folder")
    with open(os.path.join(args.root, "truth.json")) as fh:
        truth = json.load(fh)
    album = os.path.realpath(os.path.join(args.root, truth["album"]))
    made = make(args.root, args.out, args.count, args.seed)
    run, _ = photomatch.match_album(
        album,
        [os.path.join(args.out, "thumbs", "setA")],
        out=os.path.join(args.out, "results"),
        index_path=os.path.join(args.root, "index.sqlite"),
    )
    by_name = {m["name"]: m for m in made}
    table: dict[str, Counter[str]] = defaultdict(Counter)
    for result in run.results:
        m = by_name[os.path.basename(result.query)]
        right = {os.path.join(album, p) for p in m["right"]}
        got = outcome(result, right)
        table[m["family"]][got] += 1
        table["all"][got] += 1
    print(f"album {args.root}, {len(made)} thumbnails (seed {args.seed})\n")
    print("| family | thumbs | recall | precision (matched) | " + " | ".join(OUTCOMES) + " |")
    print("|---|---|---|---|" + "---|" * len(OUTCOMES))
    for family in (*FAMILIES, "all"):
        c = table[family]
        n = sum(c.values())
        matched = c["matched right"] + c["matched wrong"]
        recall = f"{c['matched right'] / n:.1%}" if n else "-"
        precision = f"{c['matched right'] / matched:.1%}" if matched else "-"
        cells = " | ".join(str(c[o]) for o in OUTCOMES)
        print(f"| {family} | {n} | {recall} | {precision} | {cells} |")
    with open(os.path.join(args.out, "score.json"), "w") as fh:
        json.dump({"seed": args.seed, "root": args.root, "table": table}, fh, indent=1)


if __name__ == "__main__":
    main()
