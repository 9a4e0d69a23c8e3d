"""Where each thumbnail's original ranks in photomatch's hash search, per preset and crop.

    python benches/search_rank.py ROOT [ROOT ...]

``ROOT`` is an album folder made by ``accuracy.py run`` (``truth.json``,
``index.sqlite``; the index is brought up to date first). For every thumbnail
whose original is in the album, the search photomatch runs (``matching``: the
thumbnail's one row against every album view row, rows collapsed to files) is
asked for its nearest ``--rows`` rows, and the script reports how often a right
answer (the original or an edited copy) is among the ``--files`` nearest files
(the pixel check's first candidates, ``Policy.fine_candidates``), and how often
it is within reach at all (among those rows, within ``Policy.second_look_bits``,
where the pixel check's second look can still find it). No pixel check runs:
this measures the search alone, e.g. before and after a change of album views.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections import defaultdict

import calibrate
import numpy as np

from photomatch._core import hamming_topk
from photomatch.decision import DEFAULT_POLICY


def ranks(root: str, rows: int) -> list[tuple[str, int | None, int | None]]:
    """Per thumbnail with an original: its row of the table (preset and crop),
    the rank of its nearest right answer among files, and that file's distance."""
    opened = calibrate.open_album(root)
    truth, album, thumbs = opened.truth, opened.album, opened.thumbs
    arrays, queries = opened.arrays, opened.queries
    entries = {os.path.realpath(os.path.join(thumbs, t["path"])): t for t in truth["thumbnails"]}
    file_of = {os.path.realpath(p): i for i, p in enumerate(arrays.paths)}
    q_rows = np.ascontiguousarray(np.concatenate([q.row for q in queries]))
    k = min(rows, arrays.hashes.shape[0])
    idx, dist = hamming_topk(q_rows, arrays.hashes, k)
    out = []
    for q, row_ids, dists in zip(queries, idx.tolist(), dist.tolist(), strict=True):
        t = entries[os.path.realpath(q.path)]
        if not t["expected"]:
            continue
        want = {file_of[os.path.realpath(os.path.join(album, e))] for e in t["expected"]}
        order: list[int] = []
        found: tuple[int | None, int | None] = (None, None)
        for r, d in zip(row_ids, dists, strict=True):
            f = int(arrays.row_file[r])
            if f not in order:
                order.append(f)
                if f in want:
                    found = (len(order) - 1, d)
                    break
        crop = f" {t['crop_kind']} {t['crop_aspect']}" if t.get("crop_kind") else ""
        out.append((f"{t['preset']}{crop}", *found))
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("roots", nargs="+")
    ap.add_argument("--rows", type=int, default=DEFAULT_POLICY.second_look_rows)
    ap.add_argument("--files", type=int, default=DEFAULT_POLICY.fine_candidates)
    args = ap.parse_args()
    reach = DEFAULT_POLICY.second_look_bits
    table: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0])
    for root in args.roots:
        for key, rank, d in ranks(root, args.rows):
            for name in ("all", key):
                table[name][0] += 1
                table[name][1] += rank is not None and rank < args.files
                table[name][2] += d is not None and d <= reach
    print(f"| row | thumbs | original among the {args.files} nearest files | within reach |")
    print("|---|---|---|---|")
    for name in ["all", *sorted(k for k in table if k != "all")]:
        n, near, within = table[name]
        print(f"| {name} | {n} | {near} ({near / n:.1%}) | {within} ({within / n:.1%}) |")


if __name__ == "__main__":
    sys.exit(main())
