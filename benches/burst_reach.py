"""How far apart in hash the adjacent frames of the benchmark's bursts lie.

The pixel check gathers, for a crop, the other frames of its candidates'
bursts by hash distance (``Policy.burst_bits``, ``Policy.burst_reach_bits``):
this says which share of the pairs of adjacent frames each radius reaches, by
kind of burst, beside the share of album files that have a stranger (a file of
no burst of theirs) within it. Distances as ``checking.Checker`` measures
them: a frame's full view against every view row of the other file, the nearer
of the two ways.

    python benches/burst_reach.py /tmp/test268 /tmp/test269 /tmp/test270

Each ROOT is an album made by ``accuracy.py run`` (``truth.json``, ``album/``,
``index.sqlite``).
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
from collections import defaultdict

import numpy as np

from photomatch import hamming_topk
from photomatch.index import AlbumIndex

RADII = (20, 24, 28, 32, 36)
#: View rows fetched per frame: enough for every file within the largest radius.
ROWS = 512


def nearest_files(hashes: np.ndarray, row_file: np.ndarray, files: int) -> list[dict[int, int]]:
    """For each file, the distance from its full view (its first row) to the
    nearest view of each other file among its ``ROWS`` nearest rows."""
    starts = np.searchsorted(row_file, np.arange(files))
    rows, dists = hamming_topk(np.ascontiguousarray(hashes[starts]), hashes, min(ROWS, len(hashes)))
    out = []
    for i in range(files):
        near: dict[int, int] = {}
        for r, d in zip(rows[i].tolist(), dists[i].tolist(), strict=True):
            f = int(row_file[r])
            if f != i and f not in near:
                near[f] = d
        out.append(near)
    return out


def album_reach(root: str) -> tuple[dict[str, list[int]], list[int]]:
    """Distances between adjacent frames by kind of burst, and each file's
    distance to its nearest stranger."""
    with open(os.path.join(root, "truth.json")) as f:
        truth = json.load(f)
    with AlbumIndex(os.path.join(root, "album"), os.path.join(root, "index.sqlite")) as index:
        arrays = index.load()
    files = len(arrays.file_ids)
    by_path = {arrays.path(i): i for i in range(files)}
    bursts: dict[int, list[tuple[str, int]]] = defaultdict(list)
    kind: dict[int, str] = {}
    for entry in truth["album_files"]:
        file = by_path.get(os.path.join(root, "album", entry["path"]))
        if entry["kind"] == "burst" and file is not None:
            # The generator numbers a burst's frames in order, whatever the prefix.
            number = int("".join(c for c in os.path.basename(entry["path"]) if c.isdigit()))
            bursts[entry["group"]].append((number, file))
            kind[entry["group"]] = entry["burst_motion"]
    near = nearest_files(arrays.hashes, arrays.row_file, files)
    adjacent: dict[str, list[int]] = defaultdict(list)
    burst_of: dict[int, int] = {}
    for group, frames in bursts.items():
        ordered = [file for _, file in sorted(frames)]
        for file in ordered:
            burst_of[file] = group
        for a, b in itertools.pairwise(ordered):
            adjacent[kind[group]].append(min(near[a].get(b, 999), near[b].get(a, 999)))
    strangers = []
    for i in range(files):
        own = burst_of.get(i)
        others = [d for f, d in near[i].items() if own is None or burst_of.get(f) != own]
        strangers.append(min(others, default=999))
    return adjacent, strangers


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("roots", nargs="+", help="albums made by accuracy.py run")
    args = parser.parse_args()
    print("| album | pairs of adjacent frames | " + " | ".join(f"≤ {r} bits" for r in RADII) + " |")
    print("|---|---|" + "---|" * len(RADII))
    for root in args.roots:
        adjacent, strangers = album_reach(root)
        name = os.path.basename(os.path.normpath(root))
        for motion in sorted(adjacent):
            d = np.array(adjacent[motion])
            shares = " | ".join(f"{np.mean(d <= r) * 100:.1f}%" for r in RADII)
            print(f"| {name} | {motion}: {len(d)} | {shares} |")
        s = np.array(strangers)
        shares = " | ".join(f"{np.mean(s <= r) * 100:.1f}%" for r in RADII)
        print(f"| {name} | files with a stranger within: {len(s)} | {shares} |")


if __name__ == "__main__":
    main()
