"""How well thumbnails fit the overviews of the files the pixel check decodes.

    python benches/overview_screen.py ROOT [ROOT ...]

``ROOT`` is an album folder made by ``accuracy.py run`` (``album/``,
``thumbs/set*``, ``index.sqlite`` built). Each album is matched with both
overview screens off (``Policy.search_overview`` and
``Policy.second_look_overview`` at -1), and every file the check decodes is
scored as the screen scores it (``Overviews.scores_of``: the thumbnail's best
correlation with the file's 32-px overview) beside what the check found
(``decision.plausible``).

It prints, per look, how many files were checked and found plausible, the
lowest overview scores of the plausible ones, and for a few bars how many of
the first and the second look's files the screen would leave unchecked, how
many album files the check would still decode (once per run each; the looks
that follow a screened one are not replayed) and how many plausible fits (of
any look) lie under the bar: both bars belong well under every plausible
fit's score (README "How it works").
"""

from __future__ import annotations

import argparse
import dataclasses
import glob
import os
from collections import Counter

import numpy as np

from photomatch import api, checking, decision
from photomatch.evidence import Group

BARS = (0.3, 0.4, 0.5, 0.6, 0.7)
#: The looks whose files the screen can leave unchecked.
SCREENED = ("search", "second look")


def scored_checks(root: str) -> list[tuple[str, float, bool, str]]:
    """``(look, overview score, plausible, path)`` of every file checked when
    matching the album at ``root`` with the screen off."""
    found: list[tuple[str, float, bool, str]] = []
    check = checking.Checker._check

    def recording(self, q, todo):  # type: ignore[no-untyped-def]
        fits = check(self, q, todo)
        if todo and self.album.overviews is not None:
            files = np.array([self.files[f.path] for f in fits], dtype=np.int64)
            scores = self.album.overviews.get().scores_of(q.grey, files)
            for f, score in zip(fits, scores.tolist(), strict=True):
                plausible = decision.plausible(Group((f,)), self.policy)
                found.append((f.found_by, score, plausible, f.path))
        return fits

    checking.Checker._check = recording  # type: ignore[method-assign]
    try:
        thumbs = sorted(glob.glob(os.path.join(root, "thumbs", "set*")))
        policy = dataclasses.replace(
            decision.DEFAULT_POLICY, second_look_overview=-1.0, search_overview=-1.0
        )
        api.match_album(
            os.path.join(root, "album"),
            thumbs,
            index_path=os.path.join(root, "index.sqlite"),
            policy=policy,
        )
    finally:
        checking.Checker._check = check  # type: ignore[method-assign]
    return found


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("roots", nargs="+")
    args = ap.parse_args()
    rows = [r for root in args.roots for r in scored_checks(root)]
    looks = Counter(look for look, _, _, _ in rows)
    for look, n in sorted(looks.items()):
        kept = sorted(s for lk, s, p, _ in rows if lk == look and p and not np.isnan(s))
        low = ", ".join(f"{s:.3f}" for s in kept[:3]) or "-"
        print(f"{look}: {n} files checked, {len(kept)} plausible; lowest scores {low}")
    plausible = [s for _, s, p, _ in rows if p]
    decoded = {path for _, _, _, path in rows}
    for bar in BARS:
        # A file is decoded once per run (the check's cache) when any thumbnail checks it.
        still = {path for look, s, _, path in rows if look not in SCREENED or not s < bar}
        left = ", ".join(
            f"{sum(1 for lk, s, _, _ in rows if lk == look and s < bar)} of {n} {look}"
            for look, n in sorted(looks.items())
            if look in SCREENED
        )
        lost = sum(1 for s in plausible if s < bar)
        print(
            f"bar {bar}: the screen leaves unchecked {left}; files decoded "
            f"{len(still)} of {len(decoded)}; plausible fits under it: {lost}"
        )


if __name__ == "__main__":
    main()
