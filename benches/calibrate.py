"""Fit photomatch's confidence model on training albums, and replay decisions.

The decision (``photomatch.decision.decide``) is a pure function of the evidence
the pixel check gathers, so the evidence of an album is gathered once and the
decision replayed under any ``Policy`` in seconds:

    python benches/calibrate.py collect ROOT [ROOT ...]
    python benches/calibrate.py fit ROOT [ROOT ...]          # training albums only
    python benches/calibrate.py crossval ROOT [ROOT ...]     # training albums only
    python benches/calibrate.py evaluate ROOT [ROOT ...] [--policy NAME=VALUE ...]

``ROOT`` is an album folder made by ``accuracy.py run`` (its ``truth.json`` and
``index.sqlite``). The evidence depends on the search and pixel-check fields
of ``Policy`` (what was gathered); a replay can change only the decision's
own: the thresholds, ``weights``, ``prefer``. ``collect`` hashes the
thumbnails, gathers every thumbnail's evidence (``matching.gather_evidence``)
and saves it with its labels in ``ROOT/evidence.pkl``.

``fit`` labels every candidate group the pixel check measured: right (the
thumbnail's original or an edited copy of it is in the group) or not (a burst
sibling, a stranger; every group of a distractor). It fits the conditional
logit of ``decision.confidences`` over ``decision.FEATURES`` (each thumbnail's
plausible groups compete with each other and with "none of them") by Fisher
scoring with a ridge penalty (``--ridge``, on the weights other than the
bias), then picks ``match_confidence`` for the benchmark's per-album targets,
on albums the weights have not seen: each album in turn is left out, the
weights fitted on the others, and the album left out replayed at 0.50, 0.51,
... 0.99, 0.995, 0.999; the threshold is the one at which the most of those
albums have no wrong match (a distractor matched counts as one) and recall of
at least 95% over their targets, the highest of those that tie. A threshold
picked on the albums the weights were fitted on would rest on answers the
fit has already seen, and on how much doubt the model keeps about them.
``review_confidence`` stays at its default (a reviewer's budget, not a fit).
It prints the weights and thresholds to paste into ``Policy`` and the
reliability table on the training albums. ``--without FEATURE`` holds a
feature's weight at 0, to measure what it adds.

``crossval`` leaves each album out in turn as ``fit`` does (``--without`` as
for ``fit``) and reports each album left out at the threshold ``fit`` would
pick, then the table of what the threshold trades: recall against wrong
matches, and on how many albums the per-album targets hold (``--sweep
0.9,0.95,...`` for other thresholds). It says how the weights hold on an album
they have not seen, without spending a test album, and it is how ``--ridge``
is chosen (and whether a feature earns its place: with and ``--without`` it).
The threshold itself has seen these replays; test albums are its check.

``evaluate`` replays the decisions (``matching.decide_all``) and reports per
album and overall: top-1 over thumbnails with an original, precision and recall
of ``matched`` (recall over all thumbnails with an original, and over the
targets: those less the crops of pan-only burst frames, as ``accuracy.py``
reports them), distractors matched, share ambiguous, the clear matches refused
(first candidate right at correlation >= 0.97 with no other within the margin,
answered ``unmatched``), the reliability of the confidence, and how many of
the withheld burst frames among the distractors are matched, by how their
burst moved and whether it left one frame in the album or several. Test albums are
evaluated only once the policy is frozen (benches/README.md lists them).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import pickle
import sys
from collections import defaultdict

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import accuracy  # noqa: E402

from photomatch import decision, matching  # noqa: E402
from photomatch.index import AlbumArrays, AlbumIndex  # noqa: E402

EVIDENCE = "evidence.pkl"
BINS = (0.0, 0.5, 0.9, 0.99, 1.0000001)


@dataclasses.dataclass
class Thumb:
    """One thumbnail's evidence and truth (paths absolute, real)."""

    path: str
    preset: str
    distractor: str
    expected: frozenset[str]
    evidence: list  # list[Evidence]: upright, then a turn when one was checked
    #: A crop of a pan-only burst's frame (``accuracy.PAN_CROPS``), which fits
    #: its siblings about as well as its own frame: the accuracy benchmark
    #: reports those apart from the targets, and so does ``metrics``. Set by
    #: ``load`` from the album's ``truth.json``.
    pan_crop: bool = False
    #: For a withheld burst frame: how its burst moved and whether one frame
    #: or several are left in the album (``withheld_kind``; set by ``load``).
    withheld: str = ""
    #: For a thumbnail with an original: the photo it shows, ``lone photo`` or
    #: how its burst moved (``pan frame`` ...), as ``accuracy.py summary``
    #: counts the targets it misses (set by ``load``).
    shown: str = ""


@dataclasses.dataclass
class Album:
    """A benchmark album as the scripts read it: its ``truth.json``, the album
    and thumbnail folders (real paths), its index loaded (brought up to date
    first) and its thumbnails hashed."""

    truth: dict
    album: str
    thumbs: str
    arrays: AlbumArrays
    queries: list[matching.QueryImage]


def open_album(root: str, progress: bool = False) -> Album:
    """The album made by ``accuracy.py run`` at ``root``, ready to search."""
    with open(os.path.join(root, "truth.json")) as fh:
        truth = json.load(fh)
    album = os.path.realpath(os.path.join(root, truth["album"]))
    thumbs = os.path.realpath(os.path.join(root, truth["thumbs"]))
    with AlbumIndex(album, os.path.join(root, "index.sqlite")) as index:
        index.update(progress=progress)
        arrays = index.load()
    sets = matching.name_sets([os.path.join(thumbs, s) for s in truth["sets"]])
    queries, _ = matching.hash_queries(sets, progress=progress)
    return Album(truth, album, thumbs, arrays, queries)


def collect(root: str) -> list[Thumb]:
    opened = open_album(root, progress=True)
    truth, album, thumbs = opened.truth, opened.album, opened.thumbs
    arrays, queries = opened.arrays, opened.queries
    gathered = matching.gather_evidence(arrays, queries, progress=True)
    by_path = {os.path.realpath(q.path): ev for q, ev in zip(queries, gathered, strict=True)}
    out = []
    for t in truth["thumbnails"]:
        path = os.path.join(thumbs, t["path"])
        if path not in by_path:
            continue  # unreadable thumbnail
        expected = frozenset(os.path.join(album, p) for p in t["expected"])
        out.append(Thumb(path, t["preset"], t["distractor"], expected, by_path[path]))
    with open(os.path.join(root, EVIDENCE), "wb") as fh:
        pickle.dump(out, fh)
    return out


class _Unpickler(pickle.Unpickler):
    """Finds ``Thumb`` whether the file was written by this script or by a module
    that imported it."""

    def find_class(self, module: str, name: str):
        if name == "Thumb":
            return Thumb
        return super().find_class(module, name)


def load(root: str) -> list[Thumb]:
    with open(os.path.join(root, EVIDENCE), "rb") as fh:
        thumbs: list[Thumb] = _Unpickler(fh).load()
    with open(os.path.join(root, "truth.json")) as fh:
        truth = json.load(fh)
    folder = os.path.realpath(os.path.join(root, truth["thumbs"]))
    by_path = {os.path.join(folder, t["path"]): t for t in truth["thumbnails"]}
    frames = defaultdict(int)  # album frames of each burst
    for f in truth["album_files"]:
        if f["kind"] == "burst":
            frames[f["group"]] += 1
    for t in thumbs:
        entry = by_path.get(t.path)
        t.pan_crop = entry is not None and accuracy.PAN_CROPS in accuracy._groups(
            truth, entry, None
        )
        if entry is not None and t.distractor == "withheld_burst_frame":
            t.withheld = withheld_kind(entry, frames[entry["burst_group"]])
        if entry is not None and not t.distractor:
            motion = accuracy._shown_motion(truth, entry)
            t.shown = "lone photo" if motion == "lone" else f"{motion} frame"
    return thumbs


def withheld_kind(entry: dict, left: int) -> str:
    """A withheld frame's burst as the decision meets it: a tripod burst that
    left one frame is the hard case (that frame fits its thumbnail as its own
    would, and no rival is near)."""
    return f"{entry.get('burst_motion') or '?'}, {'one frame' if left == 1 else 'frames'} left"


def right(group, expected: frozenset[str]) -> bool:
    return any(os.path.realpath(m.path) in expected for m in group.members)


def design(thumbs: list[Thumb], policy: decision.Policy) -> list[tuple[np.ndarray, np.ndarray]]:
    """One choice set per thumbnail and orientation checked: the features of
    its plausible candidate groups (only those can be answers) and which are
    right, with the album's exposure offset as a run would measure it."""
    offset = decision.run_offset([t.evidence for t in thumbs], policy)
    sets = []
    for t in thumbs:
        for ev in t.evidence:
            groups = [g for g in ev.groups if decision.plausible(g, policy)]
            x = np.array(decision.feature_rows(groups, policy, offset, ev.quality))
            y = np.array([right(g, t.expected) for g in groups], dtype=bool)
            sets.append((x.reshape(len(groups), len(decision.FEATURES)), y))
    return sets


def fit_conditional(sets: list[tuple[np.ndarray, np.ndarray]], ridge: float = 0.01) -> np.ndarray:
    """Weights of the conditional logit of ``decision.confidences`` (each set's
    groups and "none of them", score 0) maximising the penalised likelihood of
    the right answer: any right group of a set (an original and its edited
    copy can be checked as two groups), or "none" when no group is right.
    Fisher scoring (Newton's method with the expected Hessian)."""
    d = len(decision.FEATURES)
    w = np.zeros(d)
    penalty = np.full(d, ridge)
    penalty[0] = 0.0  # the bias (against "none") is free
    for _ in range(200):
        grad = penalty * w
        hess = np.diag(penalty) + 1e-9 * np.eye(d)
        for x, y in sets:
            if len(x) == 0:
                continue
            z = np.clip(x @ w, -50, 50)
            top = max(0.0, float(z.max()))
            e = np.exp(z - top)
            p = e / (np.exp(-top) + e.sum())
            target = np.where(y, p, 0.0)
            target = target / target.sum() if y.any() else target
            grad += x.T @ (p - target)
            mean = x.T @ p
            hess += (x * p[:, None]).T @ x - np.outer(mean, mean)
        step = np.linalg.solve(hess, grad)
        w -= step
        if np.abs(step).max() < 1e-8:
            break
    return w


def replay(thumbs: list[Thumb], policy: decision.Policy) -> list:
    return matching.decide_all([t.evidence for t in thumbs], policy)


def metrics(thumbs: list[Thumb], results: list) -> dict:
    n = len(thumbs)
    with_orig = [i for i, t in enumerate(thumbs) if not t.distractor]
    matched = [i for i, r in enumerate(results) if r.status == "matched"]

    def named_right(i: int) -> bool:
        r = results[i]
        named = (
            r.match if r.status == "matched" else (r.candidates[0].path if r.candidates else None)
        )
        return named is not None and os.path.realpath(named) in thumbs[i].expected

    wrong = [i for i in matched if not named_right(i)]
    refused = []
    for i in with_orig:
        r = results[i]
        c = r.candidates
        if r.status != "unmatched" or not c or c[0].score is None or c[0].score < 0.97:
            continue
        clear = all(o.score is None or o.score < c[0].score - 0.03 for o in c[1:])
        if clear and os.path.realpath(c[0].path) in thumbs[i].expected:
            refused.append(thumbs[i].path)
    bins = []
    for lo, hi in zip(BINS[:-1], BINS[1:], strict=True):
        inside = [
            i for i, r in enumerate(results) if r.confidence is not None and lo <= r.confidence < hi
        ]
        bins.append((lo, min(hi, 1.0), len(inside), sum(named_right(i) for i in inside)))
    top1 = sum(
        1
        for i in with_orig
        if results[i].candidates
        and os.path.realpath(results[i].candidates[0].path) in thumbs[i].expected
    )
    targets = [i for i in with_orig if not thumbs[i].pan_crop]
    named = set(matched)
    return {
        "thumbnails": n,
        "with_original": len(with_orig),
        "targets": len(targets),
        "targets_right": sum(1 for i in targets if i in named and named_right(i)),
        "top1": top1,
        "matched": len(matched),
        "matched_wrong": len(wrong),
        # How many the model itself expects wrong: the sum of 1 - confidence.
        "matched_doubt": sum(1.0 - (results[i].confidence or 0.0) for i in matched),
        "matched_right": len(matched) - len(wrong),
        "distractors_matched": sum(1 for i in matched if thumbs[i].distractor),
        "ambiguous": sum(1 for r in results if r.status == "ambiguous"),
        "refused": refused,
        "wrong": [(thumbs[i].path, thumbs[i].preset, results[i].reason) for i in wrong],
        "withheld": [
            (t.withheld, results[i].status == "matched") for i, t in enumerate(thumbs) if t.withheld
        ],
        "targets_shown": [
            (thumbs[i].shown, i in named and named_right(i)) for i in targets if thumbs[i].shown
        ],
        "bins": bins,
    }


def report(name: str, m: dict) -> str:
    wo = max(m["with_original"], 1)
    prec = m["matched_right"] / m["matched"] if m["matched"] else float("nan")
    lines = [
        f"{name}: {m['thumbnails']} thumbnails; top-1 {m['top1'] / wo:.1%}, "
        f"precision {prec:.2%} ({m['matched_wrong']} wrong of {m['matched']}; the model "
        f"expected {m.get('matched_doubt', 0.0) / max(m['matched'], 1):.2%} wrong), "
        f"recall {m['matched_right'] / wo:.1%} "
        f"(targets {m['targets_right'] / max(m['targets'], 1):.1%}), "
        f"ambiguous {m['ambiguous'] / m['thumbnails']:.1%}, "
        f"distractors matched {m['distractors_matched']}, clear matches refused {len(m['refused'])}"
    ]
    for lo, hi, k, good in m["bins"]:
        share = f"{good / k:.1%}" if k else "-"
        lines.append(f"    confidence [{lo:.2f}, {hi:.2f}): {k:4d} answers, right {share}")
    for title, pairs in (
        ("withheld burst frames matched", m.get("withheld", [])),
        ("targets matched right, by the photo shown", m.get("targets_shown", [])),
    ):
        if pairs:
            lines.append(f"    {title}: {_tally(pairs)}")
    for w in m["wrong"]:
        lines.append(f"    wrong: {w}")
    for r in m["refused"]:
        lines.append(f"    refused: {r}")
    return "\n".join(lines)


def _tally(pairs: list[tuple[str, bool]]) -> str:
    """``KIND yes of all; ...`` over (kind, yes) pairs, kinds sorted."""
    counts: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for kind, yes in pairs:
        counts[kind][0] += 1
        counts[kind][1] += yes
    return "; ".join(f"{k} {c[1]} of {c[0]}" for k, c in sorted(counts.items()))


def merged(ms: list[dict]) -> dict:
    out: dict = defaultdict(int)
    for m in ms:
        for k, v in m.items():
            if k == "bins":
                continue
            out[k] = out[k] + v if not isinstance(v, list) else (out[k] or []) + v
    out["bins"] = [
        (b[0][0], b[0][1], sum(x[2] for x in b), sum(x[3] for x in b))
        for b in zip(*(m["bins"] for m in ms), strict=True)
    ]
    return dict(out)


def fit_policy(
    albums: dict[str, list[Thumb]], ridge: float, left_out: list[int] | None = None
) -> tuple[decision.Policy, np.ndarray, list]:
    """The default ``Policy`` with weights fitted on ``albums`` (features at
    ``left_out`` held at 0). The run's exposure offset is measured from its
    confident matches, which depend on the weights: fit, measure the offset
    again, refit. The first fit starts from all-zero weights (no confident
    match, so no offset), not from the weights in ``Policy``, so that the
    result depends on the albums alone."""
    base = decision.DEFAULT_POLICY
    fitted = dataclasses.replace(base, weights=(0.0,) * len(decision.FEATURES))
    for _ in range(3):
        sets = [s for ts in albums.values() for s in design(ts, fitted)]
        for x, _ in sets:
            x[:, left_out or []] = 0.0  # a feature that is always 0 keeps its weight at 0
        w = fit_conditional(sets, ridge)
        fitted = dataclasses.replace(base, weights=tuple(float(v) for v in w))
    policy = dataclasses.replace(base, weights=tuple(round(float(v), 3) for v in w))
    return policy, w, sets


#: The thresholds ``fit`` and ``crossval`` try for ``match_confidence``.
THRESHOLDS = (*(round(0.5 + 0.01 * k, 2) for k in range(50)), 0.995, 0.999)


def leave_one_out(
    albums: dict[str, list[Thumb]],
    ridge: float,
    left_out: list[int],
    thresholds: tuple[float, ...] | list[float],
) -> dict[float, list[dict]]:
    """Each album in turn is left out, the weights are fitted on the others
    (``fit_policy``), and the album left out is replayed at each threshold:
    ``{threshold: [metrics of each album, in the order of albums]}``."""
    swept: dict[float, list[dict]] = defaultdict(list)
    for root in albums:
        rest = {r: ts for r, ts in albums.items() if r != root}
        policy, _, _ = fit_policy(rest, ridge, left_out)
        for t in thresholds:
            trial = dataclasses.replace(policy, match_confidence=t)
            swept[t].append(metrics(albums[root], replay(albums[root], trial)))
    return dict(swept)


def album_targets(m: dict) -> tuple[bool, bool]:
    """The benchmark's two per-album targets on one album's metrics: no wrong
    match (a distractor matched is a wrong match: it has no original), and
    targets recall >= 95%."""
    return m["matched_wrong"] == 0, m["targets_right"] >= 0.95 * m["targets"]


def held_out_threshold(swept: dict[float, list[dict]]) -> float:
    """The threshold at which the most albums, each replayed with weights
    fitted without it, meet both per-album targets (``album_targets``); of
    thresholds that tie, the highest (the fewest wrong matches)."""
    return max(swept, key=lambda t: (sum(all(album_targets(m)) for m in swept[t]), t))


def crossval(albums: dict[str, list[Thumb]], args: argparse.Namespace) -> None:
    """Leave one album out: fit the weights on the others exactly as ``fit``
    does, and replay the album left out, which the weights have not seen, at
    each threshold (an estimate of how the procedure holds on a new album,
    and a way to choose ``--ridge`` or whether a feature earns its place on
    training albums alone). Each album is reported at the threshold ``fit``
    would choose from these same replays (so that one number has seen them;
    the test albums are its check), then the table of what the threshold
    trades (``sweep_table``)."""
    left_out = [decision.FEATURES.index(name) for name in args.without]
    swept = leave_one_out(albums, args.ridge, left_out, args.sweep or THRESHOLDS)
    chosen = held_out_threshold(swept)
    for root, m in zip(albums, swept[chosen], strict=True):
        print(f"[match_confidence {chosen}, weights fitted without it] " + report(root, m))
    print(report(f"left-out albums (ridge {args.ridge})", merged(swept[chosen])))
    print(sweep_table(swept))


def sweep_table(swept: dict[float, list[dict]]) -> str:
    """What ``match_confidence`` trades on albums left out: per threshold,
    recall over the targets, the wrong matches and distractors matched, and on
    how many albums the benchmark's per-album targets hold (no wrong match,
    targets recall >= 95%)."""
    lines = [
        "| match_confidence | targets recall | precision | wrong | distractors matched "
        "| albums with no wrong match | albums with targets recall >= 95% | albums with both |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for t, ms in sorted(swept.items()):
        m = merged(ms)
        clean, high = zip(*(album_targets(x) for x in ms), strict=True)
        both = sum(c and h for c, h in zip(clean, high, strict=True))
        lines.append(
            f"| {t} | {m['targets_right'] / max(m['targets'], 1):.1%} "
            f"| {m['matched_right'] / max(m['matched'], 1):.2%} | {m['matched_wrong']} "
            f"| {m['distractors_matched']} | {sum(clean)} of {len(ms)} "
            f"| {sum(high)} of {len(ms)} | {both} of {len(ms)} |"
        )
    return "\n".join(lines)


def policy_from(pairs: list[str], weights: str | None) -> decision.Policy:
    changes: dict = {}
    if weights:
        with open(weights) as fh:
            changes.update(json.load(fh))
        if changes.pop("features", None) != list(decision.FEATURES):
            raise SystemExit(f"{weights}: fitted on other features than decision.FEATURES")
        changes["weights"] = tuple(changes["weights"])
    for pair in pairs:
        name, _, value = pair.partition("=")
        default = getattr(decision.DEFAULT_POLICY, name)
        changes[name] = type(default)(value)
    return dataclasses.replace(decision.DEFAULT_POLICY, **changes)


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    sub = ap.add_subparsers(dest="cmd", required=True)
    c = sub.add_parser("collect")
    c.add_argument("roots", nargs="+")
    f = sub.add_parser("fit")
    f.add_argument("roots", nargs="+")
    f.add_argument("--out", help="write the fitted weights and thresholds here (JSON)")
    cv = sub.add_parser("crossval")
    cv.add_argument("roots", nargs="+")
    cv.add_argument(
        "--sweep",
        type=lambda text: [float(v) for v in text.split(",")],
        default=[],
        metavar="T1,T2,...",
        help="replay each album left out at these match_confidence values only "
        "(default: 0.50, 0.51, ... 0.99, 0.995, 0.999)",
    )
    for p in (f, cv):
        p.add_argument(
            "--without",
            action="append",
            default=[],
            choices=decision.FEATURES[1:],
            metavar="FEATURE",
            help="hold this feature's weight at 0 (to measure what it adds); repeatable",
        )
        p.add_argument("--ridge", type=float, default=0.01)
    e = sub.add_parser("evaluate")
    e.add_argument("roots", nargs="+")
    e.add_argument("--weights", help="JSON written by fit --out (default: photomatch's Policy)")
    e.add_argument("--policy", action="append", default=[], metavar="NAME=VALUE")
    args = ap.parse_args()
    if args.cmd == "collect":
        for root in args.roots:
            thumbs = collect(root)
            print(f"{root}: evidence of {len(thumbs)} thumbnails")
        return
    if args.cmd in ("fit", "crossval") and len(set(args.roots)) < 2:
        raise SystemExit(f"{args.cmd} leaves each album out in turn: give two albums or more")
    albums = {root: load(root) for root in args.roots}
    if args.cmd == "crossval":
        crossval(albums, args)
        return
    if args.cmd == "fit":
        left_out = [decision.FEATURES.index(name) for name in args.without]
        policy, w, sets = fit_policy(albums, args.ridge, left_out)
        groups = sum(len(y) for _, y in sets)
        answered = sum(bool(y.any()) for _, y in sets)
        print(f"{len(sets)} choice sets, {groups} candidate groups, {answered} with a right one")
        for name, weight in zip(decision.FEATURES, w, strict=True):
            print(f"  {name:12s} {weight:+.3f}")
        swept = leave_one_out(albums, args.ridge, left_out, THRESHOLDS)
        print("albums left out, each replayed with the weights fitted without it:")
        print(sweep_table(swept))
        chosen = dataclasses.replace(policy, match_confidence=held_out_threshold(swept))
        print(f"match_confidence = {chosen.match_confidence}")
        print(f"weights = {chosen.weights}")
        ms = [metrics(ts, replay(ts, chosen)) for ts in albums.values()]
        for root, m in zip(albums, ms, strict=True):
            print(report(root, m))
        print(report("training albums", merged(ms)))
        if args.out:
            with open(args.out, "w") as fh:
                fitted = {"features": list(decision.FEATURES), "weights": list(chosen.weights)}
                json.dump({**fitted, "match_confidence": chosen.match_confidence}, fh)
        return
    policy = policy_from(args.policy, args.weights)
    ms = [metrics(ts, replay(ts, policy)) for ts in albums.values()]
    for root, m in zip(albums, ms, strict=True):
        print(report(root, m))
    if len(ms) > 1:
        print(report("all", merged(ms)))


if __name__ == "__main__":
    main()
