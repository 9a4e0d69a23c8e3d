"""How well exposure tells the frames of a burst apart, on an accuracy-benchmark album.

An off-centre crop of one frame of a burst fits every frame alike; only the
frames' exposures (a few percent apart) can single one out (``decision._by_exposure``).
For every frame of every burst of an album made by ``accuracy.py``, this makes
an off-centre crop thumbnail the way the benchmark's ``offcentre_crop`` preset
does (80-95% crop, libvips resize to 200-360 px, JPEG q30-70) and reports:

- how far the thumbnailer itself moves the thumbnail's mean grey level from
  the exact crop's (the precision any exposure comparison is bound by);
- with the shown frame in the album: how often it is listed first, and how
  often ``Policy.exposure_picks_frame`` would pick one frame (rightly or not);
- with the shown frame withheld (a distractor): how often that pick would
  match another frame, which is always wrong.

The offset taken off the measured exposures is the median over the shown
frames, as a run measures it on its plain matches (``Checker.calibrate_exposure``).

    python benches/burst_exposure.py /tmp/acc7 [--seed 1]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import tempfile
from collections import Counter

import numpy as np
import pyvips

from photomatch import verify
from photomatch.decision import Policy, _by_exposure, _Checked, _plausible
from photomatch.matching import query_image
from photomatch.results import AMBIGUOUS, MATCHED, Candidate


def offcentre_thumbnail(frame: pyvips.Image, rng: random.Random, path: str) -> float:
    """Write an off-centre crop thumbnail of ``frame`` to ``path`` (as the benchmark's
    preset makes them); return how far the resize moved its mean grey level."""
    f = rng.uniform(0.80, 0.95)
    w, h = round(frame.width * f), round(frame.height * f)
    crop = frame.crop(rng.randrange(frame.width - w + 1), rng.randrange(frame.height - h + 1), w, h)
    small = crop.resize(rng.randint(200, 360) / max(w, h))
    small.jpegsave(path, Q=rng.randint(30, 70), keep="none")
    return float(small.colourspace("b-w")[0].avg() - crop.colourspace("b-w")[0].avg())


def rivals_of(fits: dict[str, verify.Alignment], policy: Policy) -> list[list[_Checked]] | None:
    """The frames ``_decide`` would compare by exposure: plausible, within the
    correlation margin of the best; None when one fits nearly full size (then
    the framing rules decide, not exposure)."""
    ok = {p: a for p, a in fits.items() if _plausible(a, policy)}
    if not ok:
        return None
    best = max(a.ncc for a in ok.values())
    close = {p: a for p, a in ok.items() if a.ncc >= best - policy.ncc_margin}
    if any(a.scale >= policy.near_full_scale for a in close.values()):
        return None
    empty = np.zeros((1, 1), np.uint8)
    return [[_Checked(Candidate(p, 0, "full"), a, empty)] for p, a in close.items()]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("root", help="an album made by benches/accuracy.py (holds truth.json)")
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args()
    with open(os.path.join(args.root, "truth.json")) as fh:
        truth = json.load(fh)
    album = os.path.join(args.root, truth["album"])
    bursts: dict[int, list[str]] = {}
    for f in truth["album_files"]:
        if f["kind"] == "burst":
            bursts.setdefault(f["group"], []).append(f["path"])
    rng = random.Random(args.seed)
    policy = Policy(exposure_picks_frame=True)
    greys: dict[str, np.ndarray] = {}
    shifts, cases = [], []
    with tempfile.TemporaryDirectory() as tmp:
        thumb = os.path.join(tmp, "thumb.jpg")
        for frames in bursts.values():
            if len(frames) < 2:
                continue
            for shown in frames:
                image = pyvips.Image.new_from_file(os.path.join(album, shown)).autorot()
                shifts.append(offcentre_thumbnail(image.copy_memory(), rng, thumb))
                q = query_image("s", thumb).grey
                fits = {}
                for p in frames:
                    if p not in greys:
                        greys[p] = verify.load_candidate(os.path.join(album, p))
                    fits[p] = verify.align(q, greys[p])
                cases.append((shown, fits))
    offset = float(np.median([fits[shown].exposure for shown, fits in cases]))
    present: Counter[str] = Counter()
    withheld: Counter[str] = Counter()
    for shown, fits in cases:
        rivals = rivals_of(fits, policy)
        if rivals is not None:
            status, ranked, _ = _by_exposure(rivals, policy, offset)
            first = ranked[0][0].candidate.path == shown
            present["n"] += 1
            present["first"] += first
            present["several"] += len(rivals) > 1
            present["several, first"] += first and len(rivals) > 1
            present["picked right" if first else "picked wrong"] += status == MATCHED
        rivals = rivals_of({p: a for p, a in fits.items() if p != shown}, policy)
        if rivals is not None:
            status, _, _ = _by_exposure(rivals, policy, offset)
            withheld["n"] += 1
            withheld[status] += 1
    s = np.array(shifts)
    pct = lambda c, k: f"{100 * c[k] / max(c['n'], 1):.1f}%"  # noqa: E731
    print(f"bursts: {sum(len(f) > 1 for f in bursts.values())}, frames: {len(cases)}")
    print(
        f"thumbnailer's shift of the mean grey level: {s.mean():+.2f} +- {s.std():.2f} "
        f"(mean +- standard deviation); offset taken off the exposures: {offset:+.2f}"
    )
    print(
        f"shown frame in the album ({present['n']} crops compared by exposure): listed first "
        f"{pct(present, 'first')}; picked {pct(present, 'picked right')} rightly, "
        f"{pct(present, 'picked wrong')} wrongly"
    )
    several = present["several"]
    print(
        f"  of them fitting two frames or more alike: {several}, the shown frame first in "
        f"{present['several, first']} ({100 * present['several, first'] / max(several, 1):.1f}%)"
    )
    print(
        f"shown frame withheld ({withheld['n']} crops): another frame picked "
        f"{pct(withheld, MATCHED)}, ambiguous {pct(withheld, AMBIGUOUS)}, "
        f"unmatched {pct(withheld, 'unmatched')}"
    )


if __name__ == "__main__":
    main()
