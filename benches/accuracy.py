"""Accuracy benchmark: generate an album with ground truth, run photomatch, score it.

    python benches/accuracy.py run --sources DIR [DIR ...] --out /tmp/acc \
        [--album-size 2000 --thumbs 300 --sets 3 --seed 1] [--no-previews] \
        [--policy second_look=0 ...]
    python benches/accuracy.py score /tmp/acc /tmp/acc/results

Scores, overall and per preset: top-1 accuracy over thumbnails whose original is
present (the first candidate is a right answer: the original or an edited copy,
never a burst sibling), precision of ``matched`` answers, recall, false-match rate
on distractors, share ``ambiguous``, and whether an ambiguous answer lists a right
answer among its candidates.

Most album JPEGs carry an embedded EXIF preview, a few of them stale (see
``accuracy_album``); photomatch indexes from those previews unless
``--no-previews`` is given, which switches its fast path off and keeps its own
index and results (``index-no-previews.sqlite``, ``results-no-previews/``) so
that the two runs of one album can be compared. Beside the table it prints how
many album files have a preview or a stale one, and the rows ``orig. preview:
...`` split the thumbnails whose original is present by the preview of their
right answers: ``stale`` if any has a stale one, else ``current`` or ``none``
by the original's. The rows ``burst frame, cropped`` and ``withheld burst
frame`` hold the thumbnails that only exposure can settle (``BURST_GROUPS``).
``--policy NAME=VALUE`` runs with one ``photomatch.Policy`` field changed (an
ablation), into ``results-NAME=VALUE/``.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import inspect
import json
import os
import sqlite3
import sys
import time
from collections import defaultdict

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import accuracy_album  # noqa: E402

#: Rows of the table for the thumbnails only exposure can settle: crops placed
#: anywhere (the presets below; combo crops off-centre half the time) of a burst
#: frame fit every frame of the burst alike; a crop of a withheld frame fits the
#: frames that remain.
BURST_GROUPS = ("burst frame, cropped", "withheld burst frame")
CROP_PRESETS = ("offcentre_crop", "combo")
#: Rows of the table that split thumbnails by the preview of their right answers.
PREVIEW_GROUPS = ("orig. preview: current", "orig. preview: stale", "orig. preview: none")


def _preview_group(expected: list[str], previews: dict[str, str]) -> str:
    """Which ``PREVIEW_GROUPS`` row a thumbnail with right answers ``expected`` is in."""
    kinds = [previews.get(p, "") for p in expected]
    if any(k in accuracy_album.STALE_PREVIEWS for k in kinds):
        return PREVIEW_GROUPS[1]
    return PREVIEW_GROUPS[0] if kinds and kinds[0] else PREVIEW_GROUPS[2]


def score(root: str, results_dir: str) -> dict:
    with open(os.path.join(root, "truth.json")) as fh:
        truth = json.load(fh)
    # Albums from generator 1 say nothing about previews: no preview rows then.
    previews = {f["path"]: f["preview"] for f in truth["album_files"] if "preview" in f} or None
    kinds = {f["path"]: f["kind"] for f in truth["album_files"]}
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
        if t["distractor"] == "withheld_burst_frame":
            groups.append(BURST_GROUPS[1])
        elif not t["distractor"] and t["preset"] in CROP_PRESETS:
            if any(kinds.get(p) == "burst" for p in t["expected"]):
                groups.append(BURST_GROUPS[0])
        if previews is not None and not t["distractor"]:
            groups.append(_preview_group(t["expected"], previews))
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

    order = ["all", *accuracy_album.PRESETS, "distractors", *BURST_GROUPS, *PREVIEW_GROUPS]
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


def format_previews(truth: dict) -> str:
    """One line: how many album files carry an embedded preview, and how many are stale."""
    if "preview" not in (truth["album_files"] or [{}])[0]:
        return (
            f"album: generator {truth.get('generator', 1)}, no preview records "
            "(its JPEGs may carry their source photograph's EXIF thumbnail)"
        )
    c = accuracy_album.preview_counts(truth["album_files"])
    kinds = ", ".join(f"{c[k]} {k}" for k in accuracy_album.STALE_PREVIEWS)
    return (
        f"album: {c['files']} files, {c['jpeg']} JPEG; {c['previews']} with an embedded "
        f"preview, {c['stale']} of them stale ({kinds})"
    )


def format_index_sources(index_path: str, truth: dict) -> str | None:
    """One line: how many album files the index hashed from their preview, by the
    kind of preview the generator wrote (so a stale preview taken can be seen)."""
    if "preview" not in (truth["album_files"] or [{}])[0]:
        return None
    try:
        with contextlib.closing(sqlite3.connect(f"file:{index_path}?mode=ro", uri=True)) as db:
            rows = db.execute("SELECT path, source FROM files WHERE status = 'ok'").fetchall()
    except sqlite3.Error:  # an index without per-file sources
        return None
    used = {
        os.fsdecode(p) if isinstance(p, bytes) else p for p, source in rows if source == "preview"
    }
    kinds = ("current", *accuracy_album.STALE_PREVIEWS, "")
    have = dict.fromkeys(kinds, 0)
    taken = dict.fromkeys(kinds, 0)
    for f in truth["album_files"]:
        have[f["preview"]] += 1
        taken[f["preview"]] += f["path"] in used
    parts = ", ".join(f"{k} {taken[k]}/{have[k]}" for k in kinds[:-1])
    return (
        f"index: {len(used)} of {len(rows)} files hashed from their preview "
        f"(by preview written: {parts}; no preview {taken['']}/{have['']})"
    )


def _policy_changes(photomatch, pairs: list[str]) -> dict:
    """``--policy NAME=VALUE`` pairs as Policy keyword arguments, each value of its
    field's type; one clear line for a name or value that does not fit."""
    fields = {f.name: f for f in dataclasses.fields(photomatch.Policy)}
    out = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or name not in fields:
            raise SystemExit(f"--policy {pair}: expected NAME=VALUE, NAME one of {sorted(fields)}")
        default = fields[name].default
        try:
            if isinstance(default, bool):
                out[name] = {"true": True, "false": False}[value.lower()]
            elif default is None or isinstance(default, str):
                out[name] = value
            else:
                out[name] = type(default)(value)
        except (KeyError, ValueError):
            raise SystemExit(
                f"--policy {pair}: {value!r} is not a {type(default).__name__}"
            ) from None
    return out


def _match_options(photomatch, no_previews: bool) -> dict:
    """``match_album`` keyword arguments for the preview mode, checked against the
    installed photomatch (one without the fast path has no ``previews``)."""
    if "previews" in inspect.signature(photomatch.match_album).parameters:
        return {"previews": not no_previews}
    if no_previews:
        raise SystemExit(
            "--no-previews: the installed photomatch's match_album() takes no previews= "
            "argument (it has no embedded-preview fast path to switch off); reinstall "
            "photomatch from a tree that has it, or run without --no-previews"
        )
    print(
        "note: the installed photomatch has no embedded-preview fast path: "
        "every album file is decoded",
        file=sys.stderr,
    )
    return {}


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
    gen.add_argument(
        "--no-previews",
        action="store_true",
        help="hash every album file from its pixels, not its embedded EXIF preview "
        "(match_album(previews=False)); uses its own index and results folder",
    )
    gen.add_argument(
        "--policy",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="a photomatch.Policy field to change, e.g. second_look=0 (repeatable); the "
        "results go to their own folder, results-NAME=VALUE",
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
        made_by = truth.get("generator", 1)
        if made_by != accuracy_album.GENERATOR_VERSION:
            print(
                f"warning: {args.out} was generated by album generator {made_by}, this is "
                f"{accuracy_album.GENERATOR_VERSION}; use a new --out to regenerate",
                file=sys.stderr,
            )
        import photomatch

        options = _match_options(photomatch, args.no_previews)
        # The two modes never share an index: one built from previews would
        # otherwise be reused, up to date, by the run meant to decode everything.
        suffix = "-no-previews" if args.no_previews else ""
        changes = _policy_changes(photomatch, args.policy)
        if changes:
            options["policy"] = photomatch.Policy(**changes)
        tag = "".join(f"-{k}={v}" for k, v in changes.items())
        results = os.path.join(args.out, f"results{suffix}{tag}")
        t0 = time.perf_counter()
        index_path = os.path.join(args.out, f"index{suffix}.sqlite")
        run, report = photomatch.match_album(
            os.path.join(args.out, truth["album"]),
            [os.path.join(args.out, truth["thumbs"], s) for s in truth["sets"]],
            out=results,
            index_path=index_path,
            **options,
        )
        mode = {True: "on", False: "off"}.get(options.get("previews"), "not in this photomatch")
        print(
            f"matched in {time.perf_counter() - t0:.0f} s (previews {mode}; hashed "
            f"{report.decoded} album files this run, {getattr(report, 'from_previews', 0)} "
            "from their preview)",
            file=sys.stderr,
        )
        checks = getattr(run, "pixel_checks", 0)
        if checks:
            print(
                f"pixel check: {checks} album decodes, {checks / len(run.results):.1f} per "
                f"thumbnail, {1000 * run.pixel_check_s / checks:.0f} ms each "
                f"({run.pixel_check_s / len(run.results):.2f} s of decoding per thumbnail, "
                "summed over threads)",
                file=sys.stderr,
            )
        out = score(args.out, results)
    root = args.root if args.cmd == "score" else args.out
    with open(os.path.join(root, "truth.json")) as fh:
        truth = json.load(fh)
    print(format_previews(truth))
    if args.cmd == "run":
        line = format_index_sources(index_path, truth)
        if line:
            print(line)
    print()
    print(format_table(out["table"]))
    print(f"\n{len(out['failures'])} wrong or missing answers")
    for f in out["failures"][:40]:
        print(f"  {f}")


if __name__ == "__main__":
    main()
