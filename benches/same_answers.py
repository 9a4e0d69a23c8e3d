"""Check that two runs gave the same answers, thumbnail by thumbnail.

    python benches/same_answers.py OLD/matches.json NEW/matches.json

For a change meant to make matching faster, not different: every thumbnail of
both runs is compared on its status, match, candidates (paths, in order),
confidence and variants. Prints each difference and a count; exits 1 when
there is any, or when the runs do not hold the same thumbnails.

``--verdicts`` compares what a change that checks fewer files on pixels must
keep: status, match, reason, variants, the confidence of every answer but
``unmatched`` (0, or empty when no file was measured), and the candidates
that fit at ``Policy.ncc_min`` or better, in order (the others are strangers
listed by how they fit, or by hash distance where they were not measured).
"""

from __future__ import annotations

import argparse
import sys

from photomatch import Policy
from photomatch.results import QueryResult, read_json


def answer(r: QueryResult) -> tuple[object, ...]:
    """What a person gets from one thumbnail's result."""
    return (r.status, r.match, tuple(c.path for c in r.candidates), r.confidence, r.variants)


#: The lowest correlation at which a candidate can be an answer at all.
NCC_MIN = Policy().ncc_min


def verdict(r: QueryResult) -> tuple[object, ...]:
    """``answer`` with only the candidates that could be answers, and no
    confidence for an unmatched thumbnail."""
    fitting = tuple(c.path for c in r.candidates if c.score is not None and c.score >= NCC_MIN)
    confidence = None if r.status == "unmatched" else r.confidence
    return (r.status, r.match, fitting, confidence, r.variants, r.reason)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("old")
    ap.add_argument("new")
    ap.add_argument(
        "--verdicts",
        action="store_true",
        help="compare only the candidates that fit at Policy.ncc_min or better, "
        "and no confidence of an unmatched answer",
    )
    args = ap.parse_args()
    compared = verdict if args.verdicts else answer
    old = {(r.set, r.query): r for r in read_json(args.old).results}
    new = {(r.set, r.query): r for r in read_json(args.new).results}
    if old.keys() != new.keys():
        print(f"not the same thumbnails: {len(old.keys() ^ new.keys())} in one run only")
        return 1
    differ = 0
    for key in sorted(old):
        a, b = compared(old[key]), compared(new[key])
        if a != b:
            differ += 1
            print(f"{key[0]}/{key[1]}:\n  old {a}\n  new {b}")
    print(f"{len(old)} thumbnails compared, {differ} with another answer")
    return 1 if differ else 0


if __name__ == "__main__":
    sys.exit(main())
