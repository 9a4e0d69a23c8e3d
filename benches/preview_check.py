"""How real cameras' embedded previews hash, against the photos' own pixels.

    python benches/preview_check.py /tmp/corpus/A /tmp/corpus/B

For every JPEG under the folders (the accuracy corpus holds photos straight from
cameras, EXIF included): whether it has an IFD1 preview, whether photomatch uses
it (``preview.read_preview``: bands removed, aspect agrees, turned upright), and
for those used, the largest Hamming distance over the album views between the
hash of the preview and the hash of the decoded photo. A preview that showed
another framing or orientation would land tens of bits away; the generated
albums of the accuracy benchmark cannot show how real cameras letterbox and
orient their previews, these files can.
"""

from __future__ import annotations

import argparse
import os
from collections import Counter

import numpy as np
from PIL import ExifTags, Image

from photomatch import hashing, preview


def has_ifd1_preview(path: str) -> bool | None:
    """True or False, or None when Pillow cannot read the header."""
    try:
        with Image.open(path) as im:
            return 0x0201 in im.getexif().get_ifd(ExifTags.IFD.IFD1)
    except (OSError, SyntaxError, ValueError):
        return None


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("folders", nargs="+")
    args = ap.parse_args()
    paths = sorted(
        os.path.join(d, f)
        for folder in args.folders
        for d, _, files in os.walk(folder)
        for f in files
        if preview.has_preview_extension(f)
    )
    counts: Counter[str] = Counter()
    worst: list[tuple[int, str]] = []
    for path in paths:
        has = has_ifd1_preview(path)
        if not has:
            counts["unreadable header" if has is None else "no preview"] += 1
            continue
        grey = preview.read_preview(path, hashing.MAX_PIXELS, hashing.DECODE_SIZE)
        if grey is None:
            counts["preview declined"] += 1
            continue
        fast, decoded = hashing.hash_grey(grey, album=True), hashing.hash_file(path)
        if fast.view_ids.tolist() != decoded.view_ids.tolist():
            counts["preview used, other views"] += 1
            continue
        counts["preview used"] += 1
        bits = np.unpackbits((fast.rows ^ decoded.rows).view(np.uint8), axis=1).sum(axis=1)
        worst.append((int(bits.max()), path))
    print(f"{len(paths)} JPEGs: " + ", ".join(f"{n} {k}" for k, n in sorted(counts.items())))
    if worst:
        d = np.array([w for w, _ in worst])
        print(
            "largest per-view distance, preview vs decode (bits of 128): "
            f"median {np.median(d):.0f}, 90th percentile {np.percentile(d, 90):.0f}, "
            f"max {d.max()} ({max(worst)[1]})"
        )


if __name__ == "__main__":
    main()
