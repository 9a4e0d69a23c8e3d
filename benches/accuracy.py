"""Accuracy benchmark: generate an album with ground truth, run photomatch, score it.

    python benches/accuracy.py run --sources DIR [DIR ...] --out /tmp/acc \
        [--album-size 2000 --thumbs 300 --sets 3 --seed 1] [--no-previews] \
        [--policy second_look=0 ...]
    python benches/accuracy.py score /tmp/acc /tmp/acc/results [--json scores.json]

Scores, overall and per preset: top-1 accuracy over thumbnails whose original is
present (the first candidate is a right answer: the original or an edited copy,
never a burst sibling), precision of ``matched`` answers, recall, false-match rate
on distractors, share ``ambiguous``, and whether an ambiguous answer lists a right
answer among its candidates. Further tables give the same per thumbnailer family
and per crop (kind and aspect, rounding) of generator 3's albums.

``all (targets)`` holds every thumbnail whose original is present except the row
``crop of pan-only burst frame`` (any crop of a frame of a pure-pan burst, which
fits its siblings about as well as its frame); ``burst: MOTION`` rows split the
thumbnails of burst frames by how their burst moves. When the results carry a
``confidence`` (the chance that the named original, the match or else the first
candidate, is right), a reliability table bins it and counts the right ones.
Two checks list answers: "no clear match refused" (``unmatched`` though the
first candidate is right, scores at least ``CLEAR_SCORE`` and no wrong candidate
comes within ``CLEAR_MARGIN``) and "burst frame as variant" (a candidate or the
match lists another frame of its own burst as a variant). ``relation`` says
what an album file is to a thumbnail, for calibration scripts. All of it is
also written as JSON (``--json``; by default ``score-RESULTS.json`` beside
truth.json), with the run's timings, so that albums can be aggregated.

Most album JPEGs carry an embedded EXIF preview, a few of them stale (see
``accuracy_album``); photomatch indexes from those previews unless
``--no-previews`` is given, which switches its fast path off and keeps its own
index and results (``index-no-previews.sqlite``, ``results-no-previews/``) so
that the two runs of one album can be compared. Beside the table it prints how
many album files have a preview or a stale one, and the rows ``orig. preview:
...`` split the thumbnails whose original is present by the preview of their
right answers: ``stale`` if any has a stale one, else ``current`` or ``none``
by the original's. The rows ``burst frame, cropped`` (off-centre crops of
burst frames) and ``withheld burst frame`` hold the thumbnails where framing
alone may not settle which frame it is (``BURST_GROUPS``).
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

#: Rows of the table for the thumbnails framing alone may not settle: off-centre
#: crops (placed anywhere) of a burst frame fit every frame of a pan alike (only
#: local motion or exposure tells them apart); a crop of a withheld frame fits
#: the frames that remain.
BURST_GROUPS = ("burst frame, cropped", "withheld burst frame")
#: Presets of albums before generator 3 that crop, and those that crop off-centre.
LEGACY_PRESETS = ("centre_square", "centre_4x3", "offcentre_crop")
LEGACY_CROPS = ("centre_square", "centre_4x3", "offcentre_crop", "combo")
LEGACY_OFFCENTRE = ("offcentre_crop", "combo")
#: Rows of the table that split thumbnails by the preview of their right answers.
PREVIEW_GROUPS = ("orig. preview: current", "orig. preview: stale", "orig. preview: none")
#: Crops (any kind, combos too) of a frame of a pure-pan burst: the crop fits
#: the frame's siblings about as well as the frame, so no framing rule can
#: settle them; reported apart, and left out of ``TARGETS``.
PAN_CROPS = "crop of pan-only burst frame"
#: Every thumbnail whose original is in the album, but ``PAN_CROPS``.
TARGETS = "all (targets)"
#: What an album file is to a thumbnail (``relation``); the first two are right answers.
RELATIONS = ("original", "edited_copy", "burst_sibling", "stranger")
RIGHT = ("original", "edited_copy")
#: "No clear match refused": the first candidate is right with at least this
#: score, and no wrong candidate is within ``CLEAR_MARGIN`` of it.
CLEAR_SCORE = 0.97
CLEAR_MARGIN = 0.03
#: Reliability bins of ``confidence``: [low, high), the last one closed.
CONFIDENCE_BINS = ((0.0, 0.5), (0.5, 0.9), (0.9, 0.99), (0.99, 1.0))

_LOOKUPS: dict[int, tuple[dict, dict]] = {}


def _preview_group(expected: list[str], previews: dict[str, str]) -> str:
    """Which ``PREVIEW_GROUPS`` row a thumbnail with right answers ``expected`` is in."""
    kinds = [previews.get(p, "") for p in expected]
    if any(k in accuracy_album.STALE_PREVIEWS for k in kinds):
        return PREVIEW_GROUPS[1]
    return PREVIEW_GROUPS[0] if kinds and kinds[0] else PREVIEW_GROUPS[2]


def _album_files(truth: dict) -> dict[str, dict]:
    """truth.json's album files by path (built once per truth object)."""
    cached = _LOOKUPS.get(id(truth))
    if cached is None or cached[0] is not truth:
        cached = (truth, {f["path"]: f for f in truth["album_files"]})
        _LOOKUPS[id(truth)] = cached
    return cached[1]


def _original(truth: dict, thumb: dict) -> dict | None:
    """The album file a thumbnail shows (not an edited copy), or None for a distractor."""
    files = _album_files(truth)
    for p in thumb["expected"]:
        f = files.get(p)
        if f is not None and f["kind"] != "edited":
            return f
    return None


def _burst_of(truth: dict, thumb: dict) -> int:
    """The burst of the frame a thumbnail shows (a withheld frame's too), or -1.
    Albums before generator 3 do not record a withheld frame's burst."""
    if thumb.get("burst_group", -1) >= 0:
        return thumb["burst_group"]
    f = _original(truth, thumb)
    return f["group"] if f is not None and f["kind"] == "burst" else -1


def _burst_motion(f: dict) -> str:
    """A burst frame's motion; every burst before generator 3 was a pure pan."""
    return f.get("burst_motion") or "pan"


def relation(truth: dict, thumb_entry: dict, album_rel_path: str) -> str:
    """What album file ``album_rel_path`` (relative to the album root, as in
    truth.json) is to thumbnail ``thumb_entry`` (an entry of truth.json's
    ``thumbnails``): one of ``RELATIONS``. ``original`` and ``edited_copy`` are
    right answers; ``burst_sibling`` is another frame of the burst of the frame
    the thumbnail shows (a withheld frame included); anything else a ``stranger``."""
    f = _album_files(truth).get(album_rel_path)
    if album_rel_path in thumb_entry["expected"]:
        return "edited_copy" if f is not None and f["kind"] == "edited" else "original"
    group = _burst_of(truth, thumb_entry)
    if f is not None and f["kind"] == "burst" and group >= 0 and f["group"] == group:
        return "burst_sibling"
    return "stranger"


def album_relative(root: str, truth: dict, path: str | None) -> str | None:
    """A path from matches.json as ``relation`` takes it: relative to the album root."""
    if path is None:
        return None
    album = os.path.realpath(os.path.join(root, truth["album"]))
    return os.path.relpath(os.path.realpath(path), album)


def _is_crop(thumb: dict) -> bool:
    return bool(thumb.get("crop_kind")) or (
        "crop_kind" not in thumb and thumb["preset"] in LEGACY_CROPS
    )


def _is_offcentre_crop(thumb: dict) -> bool:
    if "crop_kind" in thumb:
        return thumb["crop_kind"] == "smart"
    return thumb["preset"] in LEGACY_OFFCENTRE


def _groups(truth: dict, t: dict, previews: dict | None) -> list[str]:
    """The table rows thumbnail ``t`` counts in."""
    groups = ["all", t["preset"]]
    if t.get("thumbnailer"):
        groups.append(f"thumbnailer: {t['thumbnailer']}")
    if t.get("crop_kind"):
        groups.append(f"crop: {t['crop_kind']} {t['crop_aspect']}")
        groups.append(f"crop rounding: {t['crop_rounding']}")
    if t["distractor"]:
        groups.append("distractors")
        if t["distractor"] == "withheld_burst_frame":
            groups.append(BURST_GROUPS[1])
        return groups
    motion = _shown_motion(truth, t)
    if motion != "lone":
        groups.append(f"burst: {motion}")
        if _is_offcentre_crop(t):
            groups.append(BURST_GROUPS[0])
    groups.append(PAN_CROPS if _pan_crop(t, motion) else TARGETS)
    if previews is not None:
        groups.append(_preview_group(t["expected"], previews))
    return groups


def _shown_motion(truth: dict, t: dict) -> str:
    """How the burst of the photo a thumbnail (with an original) shows moved,
    or ``lone`` when that photo is no burst frame."""
    original = _original(truth, t)
    if original is None or original["kind"] != "burst":
        return "lone"
    return _burst_motion(original)


def _pan_crop(t: dict, motion: str) -> bool:
    """A crop of a pan-only burst's frame (``PAN_CROPS``), reported apart."""
    return motion == "pan" and _is_crop(t)


def _named(r: dict | None) -> str | None:
    """The original an answer names: its match, else its first candidate."""
    if r is None:
        return None
    if r["status"] == "matched":
        return r["match"]
    return r["candidates"][0]["path"] if r["candidates"] else None


def _clear_refusal(truth: dict, t: dict, r: dict, rel) -> dict | None:
    """The entry of "no clear match refused" for thumbnail ``t``, or None: answered
    ``unmatched`` though its first candidate is right, scored at least
    ``CLEAR_SCORE``, and no wrong candidate comes within ``CLEAR_MARGIN`` of it
    (a close rival that is also right, an edited copy, leaves it clear)."""
    if r["status"] != "unmatched" or not r["candidates"] or t["distractor"]:
        return None
    first = r["candidates"][0]
    best = first.get("score")
    if best is None or best < CLEAR_SCORE or rel(first["path"]) not in t["expected"]:
        return None
    for c in r["candidates"][1:]:
        close = c.get("score") is not None and c["score"] >= best - CLEAR_MARGIN
        if close and relation(truth, t, rel(c["path"])) not in RIGHT:
            return None
    return {
        "thumb": t["path"],
        "preset": t["preset"],
        "thumbnailer": t.get("thumbnailer", ""),
        "score": best,
        "second": max((c.get("score") or 0.0 for c in r["candidates"][1:]), default=None),
        "reason": r.get("reason"),
        "note": r.get("note", ""),
    }


def _burst_variants(truth: dict, t: dict, r: dict, rel) -> list[dict]:
    """Every (file, variant) pair of an answer where the variant is another frame
    of the file's burst: a burst frame is never the same photo as its sibling."""
    files = _album_files(truth)
    pairs = [(c["path"], c.get("variants") or ()) for c in r["candidates"]]
    if r.get("match"):
        pairs.append((r["match"], r.get("variants") or ()))
    found = set()  # the match is usually the first candidate too: each pair once
    for path, variants in pairs:
        f = files.get(rel(path))
        if f is None or f["kind"] != "burst":
            continue
        for v in variants:
            g = files.get(rel(v))
            if g and g["kind"] == "burst" and g["group"] == f["group"] and g is not f:
                found.add((f["path"], g["path"]))
    return [{"thumb": t["path"], "file": a, "variant": b} for a, b in sorted(found)]


def _reliability(answers: list[tuple[float, bool]]) -> list[dict] | None:
    """Per ``CONFIDENCE_BINS`` bin: the answers in it, how many named a right
    answer, and their mean confidence; None when no answer has a confidence."""
    if not answers:
        return None
    out = []
    for k, (low, high) in enumerate(CONFIDENCE_BINS):
        last = k == len(CONFIDENCE_BINS) - 1
        inside = [(c, ok) for c, ok in answers if low <= c and (c < high or (last and c <= high))]
        n = len(inside)
        out.append(
            {
                "bin": f"[{low:g}, {high:g}{']' if last else ')'}",
                "answers": n,
                "right": sum(ok for _, ok in inside),
                "right_share": sum(ok for _, ok in inside) / n if n else None,
                "mean_confidence": sum(c for c, _ in inside) / n if n else None,
            }
        )
    return out


def score(root: str, results_dir: str) -> dict:
    """Score ``results_dir/matches.json`` against ``root/truth.json``: the table
    rows (``table``), the wrong or missing answers (``failures``), the checks
    (``checks``), the reliability of ``confidence`` (``reliability``, None
    without it), per ``reason`` code the answers by status and how many named a
    right answer (``reasons``), the targets not matched right counted by their
    answer's status and whether it lists the original, and by how the burst of
    the photo shown moved (``target_misses``), and what album and results they
    came from (``meta``)."""
    with open(os.path.join(root, "truth.json")) as fh:
        truth = json.load(fh)
    # Albums from generator 1 say nothing about previews: no preview rows then.
    previews = {f["path"]: f["preview"] for f in truth["album_files"] if "preview" in f} or None
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
    refused = []
    burst_variants = []
    confidences = []
    reasons = defaultdict(lambda: defaultdict(int))
    misses: dict[str, dict[str, int]] = {
        "by_answer": defaultdict(int),
        "by_photo": defaultdict(int),
    }
    for t in truth["thumbnails"]:
        r = by_query.get(t["path"])
        status = r["status"] if r else "missing"
        candidates = [rel(c["path"]) for c in r["candidates"]] if r else []
        match = rel(r["match"]) if r else None
        expected = set(t["expected"])
        named = rel(_named(r))
        right = not t["distractor"] and named in expected
        for g in _groups(truth, t, previews):
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
        if r is not None:
            entry = _clear_refusal(truth, t, r, rel)
            if entry:
                refused.append(entry)
            burst_variants += _burst_variants(truth, t, r, rel)
            if r.get("confidence") is not None:
                confidences.append((float(r["confidence"]), right))
            if r.get("reason"):
                reasons[r["reason"]][status] += 1
                reasons[r["reason"]]["named_right"] += right
        if not t["distractor"] and not (status == "matched" and match in expected):
            motion = _shown_motion(truth, t)
            if not _pan_crop(t, motion):
                listed = "original listed" if expected & set(candidates) else "original not listed"
                misses["by_answer"][f"{status}, {listed}"] += 1
                misses["by_photo"]["lone photo" if motion == "lone" else f"{motion} frame"] += 1
        wrong = (status == "matched" and (t["distractor"] or match not in expected)) or (
            not t["distractor"] and (not candidates or candidates[0] not in expected)
        )
        if wrong:
            failures.append(
                {
                    "thumb": t["path"],
                    "preset": t["preset"],
                    "thumbnailer": t.get("thumbnailer", ""),
                    "crop": f"{t.get('crop_kind', '')} {t.get('crop_aspect', '')}".strip(),
                    "burst_motion": t.get("burst_motion", ""),
                    "distractor": t["distractor"],
                    "status": status,
                    "expected": sorted(expected),
                    "got": candidates[:3],
                    "got_relations": [relation(truth, t, c) for c in candidates[:3]],
                    "confidence": r.get("confidence") if r else None,
                    "reason": r.get("reason") if r else None,
                }
            )
    return {
        "meta": {
            "root": os.path.abspath(root),
            "results": os.path.abspath(results_dir),
            "generator": truth.get("generator", 1),
            "seed": truth.get("seed"),
            "album_files": len(truth["album_files"]),
            "thumbnails": len(truth["thumbnails"]),
            "has_confidence": bool(confidences),
        },
        "table": {g: _row(row) for g, row in rows.items()},
        "failures": failures,
        "checks": {
            "no_clear_match_refused": {"count": len(refused), "thumbs": refused},
            "burst_frame_as_variant": {
                "count": len({b["thumb"] for b in burst_variants}),
                "pairs": burst_variants,
            },
        },
        "reliability": _reliability(confidences),
        "reasons": {k: dict(v) for k, v in sorted(reasons.items())},
        "target_misses": {k: dict(sorted(v.items())) for k, v in misses.items()},
    }


def _row(row: dict) -> dict:
    """One table row's shares from its counts."""
    matched = row["matched"]
    wo = row["with_original"]
    return {
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
        "counts": dict(row),
    }


def _ordered(table: dict, prefix: str, names: tuple[str, ...]) -> list[str]:
    """The rows of ``table`` named ``prefix + name``: ``names`` order first, then the rest."""
    known = [prefix + n for n in names if prefix + n in table]
    return known + sorted(g for g in table if g.startswith(prefix) and g not in known)


def table_sections(table: dict) -> list[tuple[str, list[str]]]:
    """The printed tables: (first column's title, rows), rows absent from ``table`` left out."""
    main = [
        "all",
        TARGETS,
        *accuracy_album.PRESETS,
        *LEGACY_PRESETS,
        "distractors",
        PAN_CROPS,
        *BURST_GROUPS,
        *_ordered(table, "burst: ", tuple(accuracy_album.BURST_MOTIONS)),
        *PREVIEW_GROUPS,
    ]
    families = accuracy_album.THUMBNAILERS + accuracy_album.NEAREST_THUMBNAILERS
    aspects = tuple(
        f"{kind} {a}"
        for kind in ("centre", "smart")
        for a in (*accuracy_album.CROP_ASPECTS, "photo")
    )
    sections = [
        ("preset", [g for g in main if g in table]),
        ("thumbnailer", _ordered(table, "thumbnailer: ", families)),
        (
            "crop",
            _ordered(table, "crop: ", aspects)
            + _ordered(table, "crop rounding: ", accuracy_album.CROP_ROUNDINGS),
        ),
    ]
    return [(title, rows) for title, rows in sections if rows]


def format_table(table: dict, rows: list[str] | None = None, title: str = "preset") -> str:
    def pct(v: float | None) -> str:
        return "—" if v is None else f"{100 * v:.1f}%"

    if rows is None:
        rows = table_sections(table)[0][1]
    lines = [
        f"| {title} | thumbs | top-1 | precision (matched) | recall | ambiguous "
        "| truth in ambiguous | distractors matched |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for g in rows:
        r = table[g]
        dm = f"{r['false_match_distractors']}/{r['distractors']}" if r["distractors"] else "—"
        label = g.split(": ", 1)[1] if title != "preset" and ": " in g else g
        if g.startswith("crop rounding: "):
            label = f"rounded {label}"
        lines.append(
            f"| {label} | {r['thumbnails']} | {pct(r['top1'])} | {pct(r['precision'])} | "
            f"{pct(r['recall'])} | {pct(r['ambiguous'])} | "
            f"{pct(r['ambiguous_truth_listed'])} | {dm} |"
        )
    return "\n".join(lines)


def format_reliability(bins: list[dict] | None) -> str:
    if bins is None:
        return "reliability: the results carry no confidence"
    lines = [
        "| confidence | answers | named original right | mean confidence |",
        "|---|---|---|---|",
    ]
    for b in bins:
        share = "—" if b["right_share"] is None else f"{100 * b['right_share']:.1f}%"
        mean = "—" if b["mean_confidence"] is None else f"{b['mean_confidence']:.3f}"
        lines.append(f"| {b['bin']} | {b['answers']} | {b['right']} ({share}) | {mean} |")
    return "\n".join(lines)


def format_checks(checks: dict, limit: int = 20) -> str:
    refused = checks["no_clear_match_refused"]
    variants = checks["burst_frame_as_variant"]
    lines = [
        f"no clear match refused: {refused['count']} (first candidate right, score >= "
        f"{CLEAR_SCORE}, no wrong candidate within {CLEAR_MARGIN}, answered unmatched)"
    ]
    lines += [f"  {e}" for e in refused["thumbs"][:limit]]
    lines.append(
        f"burst frame as variant: {variants['count']} answers list a burst frame as a "
        "variant of its sibling"
    )
    lines += [f"  {e}" for e in variants["pairs"][:limit]]
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


#: Rows of ``summary``, one line per album and one for all together.
SUMMARY_ROWS = ("all", "all (targets)", "crop of pan-only burst frame", "distractors")


def _load_json(path: str) -> dict:
    with open(path) as fh:
        return json.load(fh)


def format_summary(scores: list[dict]) -> str:
    """Per album and over all: the target rows from their counts, the two
    checks and the reliability of the confidence."""

    def pct(num: int, den: int) -> str:
        return f"{num / den:.1%}" if den else "—"

    lines = [
        "| album | row | thumbs | top-1 | precision (matched) | recall | ambiguous "
        "| truth in ambiguous | distractors matched |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    names = [f"seed {s['meta'].get('seed')}" for s in scores] + ["all"]
    for name, group in zip(names, [[s] for s in scores] + [scores], strict=True):
        for row in SUMMARY_ROWS:
            c: dict = defaultdict(int)
            for s in group:
                for k, v in s["table"].get(row, {}).get("counts", {}).items():
                    c[k] += v
            if not c:
                continue
            wrong = c["false_match"] + c["matched_wrong"]
            false = f"{c['false_match']}/{c['distractors']}" if c["distractors"] else "—"
            lines.append(
                f"| {name} | {row} | {c['n']} | {pct(c['top1'], c['with_original'])} | "
                f"{pct(c['matched'] - wrong, c['matched'])} | "
                f"{pct(c['matched_right'], c['with_original'])} | {pct(c['ambiguous'], c['n'])} | "
                f"{pct(c['ambiguous_truth_listed'], c['ambiguous_with_original'])} | {false} |"
            )
    refused = sum(s["checks"]["no_clear_match_refused"]["count"] for s in scores)
    variants = sum(s["checks"]["burst_frame_as_variant"]["count"] for s in scores)
    lines += ["", f"no clear match refused: {refused}; burst frame as variant: {variants}"]
    for part, title in (("by_answer", "answer"), ("by_photo", "photo shown")):
        counts: dict = defaultdict(int)
        for s in scores:
            for k, v in s.get("target_misses", {}).get(part, {}).items():
                counts[k] += v
        if counts:
            kinds = "; ".join(f"{k} {v}" for k, v in sorted(counts.items()))
            lines.append(f"targets not matched right, by {title}: {kinds}")
    lines.append("")
    lines += ["| confidence | answers | right | mean confidence |", "|---|---|---|---|"]
    bins: dict = {}
    for s in scores:
        for b in s.get("reliability") or []:
            n, right, mean = bins.get(b["bin"], (0, 0, 0.0))
            bins[b["bin"]] = (
                n + b["answers"],
                right + b["right"],
                mean + b["mean_confidence"] * b["answers"],
            )
    for name, (n, right, total) in bins.items():
        lines.append(
            f"| {name} | {n} | {pct(right, n)} | {total / n:.3f} |"
            if n
            else f"| {name} | 0 | — | — |"
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
    for p in (gen, sc):
        p.add_argument(
            "--json",
            help="where to write the scores as JSON (default: score-RESULTS.json beside "
            "truth.json, RESULTS the results folder's name)",
        )
    sm = sub.add_parser("summary", help="one table over the score JSON of several albums")
    sm.add_argument("scores", nargs="+", help="score-*.json files written by run or score")
    args = ap.parse_args()
    if args.cmd == "summary":
        print(format_summary([_load_json(path) for path in args.scores]))
        return
    timings = {}
    if args.cmd == "score":
        results = args.results
        out = score(args.root, results)
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
            timings["generate_s"] = round(time.perf_counter() - t0, 1)
            print(f"generated in {timings['generate_s']:.0f} s", file=sys.stderr)
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
        timings["match_s"] = round(time.perf_counter() - t0, 1)
        mode = {True: "on", False: "off"}.get(options.get("previews"), "not in this photomatch")
        print(
            f"matched in {timings['match_s']:.0f} s (previews {mode}; hashed "
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
    for title, rows in table_sections(out["table"]):
        print()
        print(format_table(out["table"], rows, title))
    print()
    print(format_reliability(out["reliability"]))
    print()
    print(format_checks(out["checks"]))
    print(f"\n{len(out['failures'])} wrong or missing answers")
    for f in out["failures"][:40]:
        print(f"  {f}")
    out["meta"]["timings"] = timings
    out["meta"]["command"] = sys.argv[1:]
    path = args.json or os.path.join(
        root, f"score-{os.path.basename(os.path.normpath(results))}.json"
    )
    with open(path, "w") as fh:
        json.dump(out, fh, indent=1)
    print(f"scores written to {path}", file=sys.stderr)


if __name__ == "__main__":
    main()
