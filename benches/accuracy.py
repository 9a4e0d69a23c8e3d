"""Accuracy benchmark: generate an album with ground truth, run photomatch, score it.

    python benches/accuracy.py run --sources DIR [DIR ...] --out /tmp/acc \
        [--album-size 2000 --thumbs 300 --sets 3 --seed 1]
    python benches/accuracy.py score /tmp/acc /tmp/acc/results

Scores, overall and per preset: top-1 accuracy over thumbnails whose original is
present (the first candidate is a right answer: the original or an edited copy,
never a burst sibling), precision of ``matched`` answers, recall, false-match rate
on distractors, share ``ambiguous``, and whether an ambiguous answer lists a right
answer among its candidates.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections import defaultdict

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import accuracy_album  # noqa: E402


def score(root: str, results_dir: str) -> dict:
    with open(os.path.join(root, "truth.json")) as fh:
        truth = json.load(fh)
    with open(os.path.join(results_dir, "matches.json")) as fh:
        results = json.load(fh)
    album = os.path.realpath(os.path.join(root, truth["album"]))
    thumbs = os.path.realpath(os.path.join(root, truth["thumbs"]))
    by_query = {
        os.path.relpath(os.path.realpath(r["query"]), thumbs): r for r in results["results"]
    }

    def rel(path: str | None) -> str | None:
        return None if path is None else os.path.relpath(os.path.realpath(path), album)

    rows = defaultdict(lambda: defaultdict(int))
    failures = []
    for t in truth["thumbnails"]:
        r = by_query.get(t["path"])
        groups = ["all", t["preset"]] + (["distractors"] if t["distractor"] else [])
        status = r["status"] if r else "missing"
        candidates = [rel(c["path"]) for c in r["candidates"]] if r else []
        match = rel(r["match"]) if r else None
        expected = set(t["expected"])
        for g in groups:
            row = rows[g]
            row["n"] += 1
            row[status] += 1
            if t["distractor"]:
                row["distractors"] += 1
                row["false_match"] += status == "matched"
                continue
            row["with_original"] += 1
            row["top1"] += bool(candidates) and candidates[0] in expected
            row["matched_right"] += status == "matched" and match in expected
            row["matched_wrong"] += status == "matched" and match not in expected
            if status == "ambiguous":
                row["ambiguous_with_original"] += 1
                row["ambiguous_truth_listed"] += bool(expected & set(candidates))
        wrong = (status == "matched" and (t["distractor"] or match not in expected)) or (
            not t["distractor"] and (not candidates or candidates[0] not in expected)
        )
        if wrong:
            failures.append(
                {
                    "thumb": t["path"],
                    "preset": t["preset"],
                    "distractor": t["distractor"],
                    "status": status,
                    "expected": sorted(expected),
                    "got": candidates[:3],
                }
            )
    table = {}
    for g, row in rows.items():
        matched = row["matched"]
        wo = row["with_original"]
        table[g] = {
            "thumbnails": row["n"],
            "top1": row["top1"] / wo if wo else None,
            "precision": (matched - row["false_match"] - row["matched_wrong"]) / matched
            if matched
            else None,
            "recall": row["matched_right"] / wo if wo else None,
            "false_match_distractors": row["false_match"],
            "distractors": row["distractors"],
            "ambiguous": row["ambiguous"] / row["n"],
            "ambiguous_truth_listed": (
                row["ambiguous_truth_listed"] / row["ambiguous_with_original"]
                if row["ambiguous_with_original"]
                else None
            ),
            "unmatched": row["unmatched"] / row["n"],
        }
    return {"table": table, "failures": failures}


def format_table(table: dict) -> str:
    def pct(v: float | None) -> str:
        return "—" if v is None else f"{100 * v:.1f}%"

    order = ["all"] + list(accuracy_album.PRESETS) + ["distractors"]
    lines = [
        "| preset | thumbs | top-1 | precision (matched) | recall | ambiguous "
        "| truth in ambiguous | distractors matched |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for g in order:
        if g not in table:
            continue
        r = table[g]
        dm = f"{r['false_match_distractors']}/{r['distractors']}" if r["distractors"] else "—"
        lines.append(
            f"| {g} | {r['thumbnails']} | {pct(r['top1'])} | {pct(r['precision'])} | "
            f"{pct(r['recall'])} | {pct(r['ambiguous'])} | "
            f"{pct(r['ambiguous_truth_listed'])} | {dm} |"
        )
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    sub = ap.add_subparsers(dest="cmd", required=True)
    gen = sub.add_parser("run", help="generate (if needed), match, score")
    gen.add_argument("--sources", nargs="+", required=True, help="folders of source photographs")
    gen.add_argument("--out", required=True)
    gen.add_argument("--album-size", type=int, default=2000)
    gen.add_argument("--thumbs", type=int, default=300)
    gen.add_argument("--sets", type=int, default=3)
    gen.add_argument("--seed", type=int, default=1)
    gen.add_argument("--long-edge", type=int, default=1600)
    gen.add_argument(
        "--max-overlap",
        type=float,
        default=0.3,
        help="largest share of one album photo's scene another may show",
    )
    sc = sub.add_parser("score", help="score a results folder against truth.json")
    sc.add_argument("root")
    sc.add_argument("results")
    args = ap.parse_args()
    if args.cmd == "score":
        out = score(args.root, args.results)
    else:
        truth_path = os.path.join(args.out, "truth.json")
        if not os.path.exists(truth_path):
            t0 = time.perf_counter()
            accuracy_album.generate(
                accuracy_album.source_photos(args.sources),
                args.out,
                args.album_size,
                args.thumbs,
                args.sets,
                args.seed,
                args.long_edge,
                args.max_overlap,
            )
            print(f"generated in {time.perf_counter() - t0:.0f} s", file=sys.stderr)
        with open(truth_path) as fh:
            truth = json.load(fh)
        import photomatch

        results = os.path.join(args.out, "results")
        t0 = time.perf_counter()
        photomatch.match_album(
            os.path.join(args.out, truth["album"]),
            [os.path.join(args.out, truth["thumbs"], s) for s in truth["sets"]],
            out=results,
            index_path=os.path.join(args.out, "index.sqlite"),
        )
        print(f"matched in {time.perf_counter() - t0:.0f} s", file=sys.stderr)
        out = score(args.out, results)
    print(format_table(out["table"]))
    print(f"\n{len(out['failures'])} wrong or missing answers")
    for f in out["failures"][:40]:
        print(f"  {f}")


if __name__ == "__main__":
    main()
