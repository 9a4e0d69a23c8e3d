"""How a withheld burst frame's thumbnail fits its own frame beside the frames left.

    python benches/withheld_frames.py ROOT [ROOT ...]

``ROOT`` is an album made by ``accuracy.py run`` whose withheld frames were
kept in ``ROOT/withheld/`` (``accuracy_album``) and whose evidence was
gathered (``calibrate.py collect``). A distractor of the kind
``withheld_burst_frame`` is a thumbnail of a burst frame left out of the
album; the decision must not match it to a frame that is left. This script
puts each withheld frame back (``ROOT/with-withheld/``: the album and the
withheld files hard-linked, the index copied and brought up to date), checks
those thumbnails again, and prints for each how the thumbnail fits its own
frame and the closest frame left (correlation, distance from the framing in
pixels, fine detail overall and in its worst tile) and the policy's answer
without its frame and with it. Then it counts, per kind of withheld frame
(its burst's motion; one frame or several left): the thumbnails, how many the
policy matched to a frame left, how many name their own frame first once it
is back, and how many fit a frame left within 0.002 of their own frame's
correlation (and, at full size, on its framing). For those, the correlation
and the framing cannot tell the frame left from the thumbnail's own: the
policy's answer rests on how often such thumbnails are distractors, not on
the pixels.
"""

from __future__ import annotations

import argparse
import json
import os
import sqlite3
import sys
from collections import Counter

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import calibrate  # noqa: E402

from photomatch import decision, matching  # noqa: E402
from photomatch.evidence import Group  # noqa: E402
from photomatch.index import AlbumIndex  # noqa: E402


def with_withheld(root: str, truth: dict) -> str:
    """``ROOT/with-withheld/album``: the album and the withheld frames, hard-linked."""
    album = os.path.join(root, truth["album"])
    kept = os.path.join(root, "withheld")
    if not os.path.isdir(kept):
        sys.exit(f"{root}: no withheld/ folder (made by an older accuracy_album.py)")
    target = os.path.join(root, "with-withheld", "album")
    for src_root in (album, kept):
        for folder, _, files in os.walk(src_root):
            rel = os.path.relpath(folder, src_root)
            os.makedirs(os.path.join(target, rel), exist_ok=True)
            for name in files:
                dst = os.path.join(target, rel, name)
                if not os.path.exists(dst):
                    os.link(os.path.join(folder, name), dst)
    index = os.path.join(root, "with-withheld", "index.sqlite")
    if not os.path.exists(index):
        # Paths in the index are relative to the album: a copy indexes the
        # same files, and only the withheld frames are hashed anew.
        with sqlite3.connect(os.path.join(root, "index.sqlite")) as src:
            with sqlite3.connect(index) as dst:
                src.backup(dst)
    return target


def fit_row(group: Group | None, share: float | None) -> str:
    if group is None:
        return "not checked"
    f = group.fit
    conf = "-" if share is None else f"{share:.3f}"
    return (
        f"ncc {f.ncc:.4f}, {f.offset_px:.2f} px, detail {f.detail:.2f}/{f.local_detail:.2f}, "
        f"share {conf}"
    )


def shares(
    groups: list[Group], p: decision.Policy, offset: float | None, quality: int | None
) -> dict[int, float]:
    live = [g for g in groups if decision.plausible(g, p)]
    values = decision.confidences(decision.feature_rows(live, p, offset, quality), p)
    return {id(g): v for g, v in zip(live, values, strict=True)}


def study(root: str, p: decision.Policy) -> Counter[str]:
    with open(os.path.join(root, "truth.json")) as fh:
        truth = json.load(fh)
    thumbs = calibrate.load(root)
    offset = decision.run_offset([t.evidence for t in thumbs], p)
    before = dict(zip((t.path for t in thumbs), calibrate.replay(thumbs, p), strict=True))
    withheld = {t.path: t for t in thumbs if t.withheld}
    folder = os.path.realpath(os.path.join(root, truth["thumbs"]))
    entries = {os.path.join(folder, e["path"]): e for e in truth["thumbnails"]}
    if any("withheld_frame" not in entries[path] for path in withheld):
        sys.exit(f"{root}: truth.json names no withheld frames (an older accuracy_album.py)")
    album = with_withheld(root, truth)
    with AlbumIndex(album, os.path.join(root, "with-withheld", "index.sqlite")) as index:
        index.update()
        arrays = index.load()
    sets = matching.name_sets([os.path.join(folder, s) for s in truth["sets"]])
    queries = [q for q in matching.hash_queries(sets)[0] if os.path.realpath(q.path) in withheld]
    gathered = matching.gather_evidence(arrays, queries, p)
    tally: Counter[str] = Counter()
    real = os.path.realpath(album)
    for q, options in zip(queries, gathered, strict=True):
        path = os.path.realpath(q.path)
        t, entry = withheld[path], entries[path]
        frame = os.path.join(real, entry["withheld_frame"])
        ev = options[0]
        got = shares(list(ev.groups), p, offset, ev.quality)
        mine = next(
            (g for g in ev.groups if any(os.path.realpath(m.path) == frame for m in g.members)),
            None,
        )
        others = [g for g in ev.groups if g is not mine and decision.plausible(g, p)]
        rival = max(others, key=lambda g: got.get(id(g), 0.0), default=None)
        after = matching.choose_orientation([decision.decide(e, p, offset) for e in options])
        own_first = bool(after.candidates and os.path.realpath(after.candidates[0].path) == frame)
        was = before[path]
        kind = t.withheld
        tally[f"{kind}: thumbnails"] += 1
        tally[f"{kind}: matched to a frame left"] += was.status == "matched"
        tally[f"{kind}: own frame first when back"] += own_first
        alike = (
            mine is not None
            and rival is not None
            and rival.fit.ncc >= mine.fit.ncc - 0.002
            and (rival.fit.scale < p.near_full_scale or decision.on_frame(rival.fit, p))
        )
        tally[f"{kind}: a frame left fits as well"] += alike
        print(
            f"{os.path.basename(root)} {os.path.basename(path)} ({kind}; {t.preset}, "
            f"{entry.get('thumbnailer', '')}): without its frame {was.status} "
            f"({was.confidence}); with it {after.status}"
            f"{', own frame first' if own_first else ''}"
        )
        print(f"    own frame:  {fit_row(mine, got.get(id(mine)) if mine else None)}")
        print(f"    frame left: {fit_row(rival, got.get(id(rival)) if rival else None)}")
    return tally


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("roots", nargs="+")
    args = ap.parse_args()
    tally: Counter[str] = Counter()
    for root in args.roots:
        tally.update(study(root, decision.DEFAULT_POLICY))
    print()
    for key in sorted(tally):
        print(f"{key}: {tally[key]}")


if __name__ == "__main__":
    main()
