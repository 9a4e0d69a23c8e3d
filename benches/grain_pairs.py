"""The grain test on every pair it has to tell apart in benchmark albums.

    python benches/grain_pairs.py ROOT [ROOT ...]

``ROOT`` is an album folder made by ``accuracy.py run`` (its ``truth.json``).
Two kinds of pairs are scored with ``verify.grain_detail`` on their
``verify.load_grain`` decodes:

* one capture: every edited copy (``Edited/``, ``.webp``, ...) against each
  album file of its scene that is not itself an edited copy;
* two captures: every pair of frames of one tripod burst (shifted by at most
  0.3% of the frame a step, a subject moving), the frames that can look like
  one capture at the pixel check's size (``verify.same_photo``).

It prints, per kind, how many pairs were scored, how many could not be told
(NaN: too few tiles with detail), the lowest scores of one capture and the
highest of two, so that ``Policy.grain_detail_min`` can be put in the gap
between them (README "How it works", *Variants*); then how many pairs of each
kind are too plain at the pixel check's size for ``verify.capture_verdict`` to
tell (None), where the grain alone decides, and how it decides them. Pan
bursts are left out: their frames are shifted by 0.5% or more and never pass
``same_photo``.
"""

from __future__ import annotations

import argparse
import itertools
import json
import math
import os
import sys
from collections import defaultdict

from photomatch import decision, verify

Pair = tuple[str, str]


def pairs(root: str) -> tuple[list[Pair], list[Pair]]:
    """(one-capture pairs, tripod-burst pairs) of the album at ``root``."""
    with open(os.path.join(root, "truth.json")) as fh:
        truth = json.load(fh)
    album = os.path.join(root, truth["album"])
    by_scene: dict[int, list[dict]] = defaultdict(list)
    by_burst: dict[int, list[dict]] = defaultdict(list)
    for f in truth["album_files"]:
        by_scene[f["scene"]].append(f)
        if f["kind"] == "burst" and f["burst_motion"] == "tripod":
            by_burst[f["group"]].append(f)
    same = [
        (os.path.join(album, orig["path"]), os.path.join(album, edit["path"]))
        for files in by_scene.values()
        for edit in files
        if edit["kind"] == "edited"
        for orig in files
        if orig["kind"] != "edited"
    ]
    frames = [
        (os.path.join(album, a["path"]), os.path.join(album, b["path"]))
        for files in by_burst.values()
        for a, b in itertools.combinations(files, 2)
    ]
    return same, frames


def score(pair: Pair) -> tuple[float, bool | None]:
    """The pair's grain score, and its verdict at the pixel check's size."""
    grain = verify.grain_detail(verify.load_grain(pair[0]), verify.load_grain(pair[1]))
    a, b = (verify.load_candidate(path) for path in pair)
    return grain, verify.capture_verdict(a, b)


Scored = list[tuple[Pair, tuple[float, bool | None]]]


def summary(name: str, scored: Scored, lowest: bool) -> str:
    told = sorted((s for _, (s, _) in scored if not math.isnan(s)), reverse=not lowest)
    nan = len(scored) - len(told)
    edge = ", ".join(f"{s:.3f}" for s in told[:5])
    which = "lowest" if lowest else "highest"
    return f"{name}: {len(scored)} pairs, {nan} not told; {which}: {edge}"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("roots", nargs="+")
    args = ap.parse_args()
    same: Scored = []
    frames: Scored = []
    for root in args.roots:
        one, two = pairs(root)
        same += [(p, score(p)) for p in one]
        frames += [(p, score(p)) for p in two]
        print(
            f"{root}: {len(one)} one-capture pairs, {len(two)} tripod frame pairs", file=sys.stderr
        )
    print(summary("one capture (edited copy and its original)", same, lowest=True))
    print(summary("two captures (frames of a tripod burst)", frames, lowest=False))
    worst_same = min((s for _, (s, _) in same if not math.isnan(s)), default=math.nan)
    worst_frames = max((s for _, (s, _) in frames if not math.isnan(s)), default=math.nan)
    print(f"gap: frames up to {worst_frames:.3f}, one capture from {worst_same:.3f}")
    least = decision.DEFAULT_POLICY.grain_detail_min
    for name, scored in (("one capture", same), ("two captures", frames)):
        plain = [s for _, (s, verdict) in scored if verdict is None]
        joined = sum(1 for s in plain if s >= least)
        print(
            f"{name}: {len(plain)} pairs too plain to tell at the check's size; "
            f"the grain (>= {least}) takes {joined} of them for one capture"
        )


if __name__ == "__main__":
    main()
