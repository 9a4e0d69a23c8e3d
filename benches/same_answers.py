"""Check that two runs gave the same answers, thumbnail by thumbnail.

    python benches/same_answers.py OLD/matches.json NEW/matches.json

For a change meant to make matching faster, not different: every thumbnail of
both runs is compared on its status, match, candidates (paths, in order),
confidence and variants. Prints each difference and a count; exits 1 when
there is any, or when the runs do not hold the same thumbnails.
"""

from __future__ import annotations

import argparse
import sys

from photomatch.results import QueryResult, read_json


def answer(r: QueryResult) -> tuple[object, ...]:
    """What a person gets from one thumbnail's result."""
    return (r.status, r.match, tuple(c.path for c in r.candidates), r.confidence, r.variants)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("old")
    ap.add_argument("new")
    args = ap.parse_args()
    old = {(r.set, r.query): r for r in read_json(args.old).results}
    new = {(r.set, r.query): r for r in read_json(args.new).results}
    if old.keys() != new.keys():
        print(f"not the same thumbnails: {len(old.keys() ^ new.keys())} in one run only")
        return 1
    differ = 0
    for key in sorted(old):
        a, b = answer(old[key]), answer(new[key])
        if a != b:
            differ += 1
            print(f"{key[0]}/{key[1]}:\n  old {a}\n  new {b}")
    print(f"{len(old)} thumbnails compared, {differ} with another answer")
    return 1 if differ else 0


if __name__ == "__main__":
    sys.exit(main())
