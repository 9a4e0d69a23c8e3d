"""Match results as frozen dataclasses, and their CSV / JSON forms.

``matches.csv`` columns, in order: ``CSV_COLUMNS``. Paths are absolute. Every
thumbnail given has a row: after the results of each set come its thumbnails
that could not be read, one row each, with ``status`` ``unreadable``, the set,
the path in ``query``, why in ``note`` and every other column empty.

``candidates`` (the ranked candidate paths) and ``variants`` are lists of paths
in one cell: in each path ``%`` is written ``%25`` and ``;`` is written ``%3B``
(in that order), and the paths are joined with ``;``. A path holding neither is
written as it is; ``split_paths`` reads a cell back into the paths. As in every
cell, a leading ``= + - @``, tab or CR gets a ``'`` in front so that spreadsheets
do not run it (``safeio.spreadsheet_safe``); ``split_paths`` removes that ``'``
again (absolute paths never start with it).

``matches.json`` holds the same results plus the distances of every candidate,
the sets, the files that were skipped and why (``skipped_queries``: the
unreadable thumbnails are there, not in ``results``), and the album.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, replace
from enum import Enum
from typing import Any

from .safeio import _FORMULA_START, csv_text, write_atomic

MATCHED = "matched"
AMBIGUOUS = "ambiguous"
UNMATCHED = "unmatched"
STATUSES = (MATCHED, AMBIGUOUS, UNMATCHED)
#: ``status`` of a ``matches.csv`` row for a thumbnail that could not be read
#: (never in ``MatchRun.results``: those thumbnails are ``skipped_queries``).
UNREADABLE = "unreadable"
RESULTS_VERSION = 1
CSV_COLUMNS = (
    "set",
    "query",
    "status",
    "match",
    "distance",
    "candidates",
    "score",
    "variants",
    "note",
    "confidence",
    "reason",
)
DECISIONS_NAME = "decisions.json"
DECISIONS_VERSION = 2


class Reason(str, Enum):
    """Why a thumbnail got its answer; ``QueryResult.note`` is rendered from it.

    Nothing decides by reading a note: code compares reasons.
    """

    FRAMED = "framed"  # fits its candidate at a standard framing
    CROP = "crop"  # fits as a crop at a free position
    FRAMES_ALIKE = "frames_alike"  # several candidates fit alike
    SHIFTED = "shifted"  # fits nearly full size, but off the framing: another frame?
    BURST_CROP = "burst_crop"  # a crop that fits several frames of a burst alike
    EXPOSURE_OFF = "exposure_off"  # fits as a crop, but exposed otherwise: another frame?
    UNSURE = "unsure"  # fits, but not surely enough to answer
    UNCONFIRMED = "unconfirmed"  # fits closely as a whole, but its fine detail does not confirm it
    NO_FIT = "no_fit"  # candidates found, none fits on pixels
    NO_CANDIDATE = "no_candidate"  # no album file is close in hash
    SAME_ORIGINAL = "same_original"  # another thumbnail of the set matched it more surely

    @property
    def text(self) -> str:
        return REASON_TEXT[self]


REASON_TEXT = {
    Reason.FRAMED: "",
    Reason.CROP: "found as a crop",
    Reason.FRAMES_ALIKE: "several photos fit alike (a burst, or copies)",
    Reason.SHIFTED: "fits only shifted: another frame of a burst?",
    Reason.BURST_CROP: "a crop that fits several frames of a burst alike",
    Reason.EXPOSURE_OFF: "fits as a crop, but exposed otherwise: another frame of a burst?",
    Reason.UNSURE: "fits, but not surely enough to answer",
    Reason.UNCONFIRMED: "fits closely as a whole, but too little of its detail agrees to be sure",
    Reason.NO_FIT: "no candidate fits on pixels",
    Reason.NO_CANDIDATE: "no album photo is close",
    Reason.SAME_ORIGINAL: "same original as another thumbnail of the set",
}


@dataclass(frozen=True)
class Candidate:
    """An album file proposed for a thumbnail.

    ``distance`` is the hash distance in bits over the file's closest view;
    ``score`` the fine comparison's normalised cross-correlation (None when the
    candidate was not compared on pixels); ``variants`` the other album files
    that are the same photo (an edited copy, a duplicate).
    """

    path: str
    distance: int
    view: str
    score: float | None = None
    variants: tuple[str, ...] = ()


@dataclass(frozen=True)
class QueryResult:
    """The decision for one thumbnail. ``match`` is set only when ``status == "matched"``.

    ``distance`` and ``score`` are the first candidate's; ``variants`` the other
    members of the match's variant group; ``confidence`` the calibrated
    probability that the first candidate (the match, when matched) is the
    thumbnail's original (None when nothing was compared); ``reason`` why the
    answer is what it is, and ``note`` the same in words (with the thumbnail's
    turn, when it was found rotated).
    """

    set: str
    query: str
    status: str
    match: str | None
    distance: int | None
    candidates: tuple[Candidate, ...]
    score: float | None = None
    variants: tuple[str, ...] = ()
    note: str = ""
    confidence: float | None = None
    reason: str = ""
    #: SHA-256 of the thumbnail file's bytes when it was matched: a decision
    #: made on the review page holds it too, so it never applies to another file
    #: that later takes the same name.
    query_sha256: str = ""
    #: How the thumbnail was turned to find the answer (``matching.ORIENTATIONS``:
    #: "upright", "rotated 90°", ..., "mirrored"); the review page turns it alike.
    orientation: str = "upright"


@dataclass(frozen=True)
class SetInfo:
    """A set of thumbnails: its name (used for export folders) and source folder."""

    name: str
    folder: str


@dataclass(frozen=True)
class Skipped:
    """A file that could not be used, with the reason."""

    path: str
    reason: str


@dataclass(frozen=True)
class MatchRun:
    """Everything one ``match`` produced."""

    album: str
    index_path: str
    sets: tuple[SetInfo, ...]
    results: tuple[QueryResult, ...]
    skipped_queries: tuple[Skipped, ...] = ()
    skipped_album: tuple[Skipped, ...] = ()
    album_images: int = 0
    #: Album files decoded for the pixel check, and the seconds those decodes
    #: took (summed over threads): the part of matching that scales with the
    #: candidates, reported apart from the search.
    pixel_checks: int = 0
    pixel_check_s: float = 0.0

    def count_by_set(self) -> dict[str, dict[str, int]]:
        """``{set: {status: n}}`` for every set and status (zeros included)."""
        table = {s.name: {st: 0 for st in STATUSES} for s in self.sets}
        for r in self.results:
            table[r.set][r.status] += 1
        return table

    def needs_review(self) -> bool:
        """True when any thumbnail is not ``matched`` or could not be read."""
        return bool(self.skipped_queries) or any(r.status != MATCHED for r in self.results)


def join_paths(paths: Iterable[str]) -> str:
    """One CSV cell for a list of paths: ``%`` -> ``%25``, ``;`` -> ``%3B``, joined with ``;``."""
    return ";".join(p.replace("%", "%25").replace(";", "%3B") for p in paths)


_ESCAPE = re.compile("%(25|3[Bb])")


def split_paths(cell: str) -> list[str]:
    """The paths of a ``candidates`` or ``variants`` cell read from ``matches.csv``.

    Undoes ``join_paths`` and the spreadsheet guard's leading ``'``; an empty
    cell is no paths.
    """
    if cell[:1] == "'" and cell[1:2] and cell[1] in _FORMULA_START:
        cell = cell[1:]
    if not cell:
        return []
    return [_ESCAPE.sub(lambda m: "%" if m.group(1) == "25" else ";", p) for p in cell.split(";")]


def set_of(path: str, sets: Iterable[SetInfo]) -> str:
    """The name of the set whose folder holds ``path`` (the innermost one), or ``""``."""
    best: SetInfo | None = None
    for info in sets:
        if path.startswith(info.folder.rstrip(os.sep) + os.sep) and (
            best is None or len(info.folder) > len(best.folder)
        ):
            best = info
    return best.name if best is not None else ""


def _result_row(r: QueryResult) -> list[object]:
    return [
        r.set,
        r.query,
        r.status,
        r.match or "",
        "" if r.distance is None else r.distance,
        join_paths(c.path for c in r.candidates),
        "" if r.score is None else f"{r.score:.4f}",
        join_paths(r.variants),
        r.note,
        "" if r.confidence is None else f"{r.confidence:.4f}",
        r.reason,
    ]


def _unreadable_row(set_name: str, s: Skipped) -> list[object]:
    row = {"set": set_name, "query": s.path, "status": UNREADABLE, "note": s.reason}
    return [row.get(column, "") for column in CSV_COLUMNS]


def csv_rows(run: MatchRun) -> list[list[object]]:
    """The rows of ``matches.csv``: the results in their order, each set's unreadable
    thumbnails right after its last result; those of a set without results (or
    of no set) last, in the order of the sets."""
    unreadable: dict[str, list[Skipped]] = {}
    for s in run.skipped_queries:
        unreadable.setdefault(set_of(s.path, run.sets), []).append(s)
    last = {r.set: i for i, r in enumerate(run.results)}
    rows: list[list[object]] = []
    for i, r in enumerate(run.results):
        rows.append(_result_row(r))
        if last[r.set] == i:
            rows.extend(_unreadable_row(r.set, s) for s in unreadable.pop(r.set, ()))
    for name in [*(info.name for info in run.sets), *unreadable]:
        rows.extend(_unreadable_row(name, s) for s in unreadable.pop(name, ()))
    return rows


def csv_document(run: MatchRun) -> str:
    """``matches.csv`` as text (cells a spreadsheet would run as formulas are neutralised)."""
    return csv_text(CSV_COLUMNS, csv_rows(run))


def write_csv(run: MatchRun, path: str) -> None:
    write_atomic(path, csv_document(run))


def to_json_dict(run: MatchRun) -> dict[str, Any]:
    return {
        "version": RESULTS_VERSION,
        "album": run.album,
        "index": run.index_path,
        "album_images": run.album_images,
        "pixel_checks": run.pixel_checks,
        "pixel_check_s": round(run.pixel_check_s, 3),
        "sets": [asdict(s) for s in run.sets],
        "summary": run.count_by_set(),
        "results": [asdict(r) for r in run.results],
        "skipped_queries": [asdict(s) for s in run.skipped_queries],
        "skipped_album": [asdict(s) for s in run.skipped_album],
    }


def json_document(run: MatchRun) -> str:
    # ensure_ascii: undecodable file names (surrogate escapes) round-trip to the same bytes.
    return json.dumps(to_json_dict(run), indent=1, ensure_ascii=True)


def write_json(run: MatchRun, path: str) -> None:
    write_atomic(path, json_document(run))


def read_json(path: str) -> MatchRun:
    """Read a ``matches.json`` written by ``write_json``."""
    with open(path, encoding="utf-8") as fh:
        data = json.load(fh)
    if data.get("version") != RESULTS_VERSION:
        raise ValueError(f"{path}: unsupported results version {data.get('version')!r}")
    results = tuple(
        QueryResult(
            set=r["set"],
            query=r["query"],
            status=r["status"],
            match=r["match"],
            distance=r["distance"],
            candidates=tuple(
                Candidate(**{**c, "variants": tuple(c.get("variants", ()))})
                for c in r["candidates"]
            ),
            score=r.get("score"),
            variants=tuple(r.get("variants", ())),
            note=r.get("note", ""),
            confidence=r.get("confidence"),
            reason=r.get("reason", ""),
            query_sha256=r.get("query_sha256", ""),
            orientation=r.get("orientation") or _orientation_in(r.get("note", "")),
        )
        for r in data["results"]
    )
    return MatchRun(
        album=data["album"],
        index_path=data["index"],
        sets=tuple(SetInfo(**s) for s in data["sets"]),
        results=results,
        skipped_queries=tuple(Skipped(**s) for s in data["skipped_queries"]),
        skipped_album=tuple(Skipped(**s) for s in data["skipped_album"]),
        album_images=data.get("album_images", 0),
        pixel_checks=data.get("pixel_checks", 0),
        pixel_check_s=data.get("pixel_check_s", 0.0),
    )


def _orientation_in(note: str) -> str:
    """The turn that a ``matches.json`` written before ``orientation`` was a field
    named at the start of its note ("thumbnail rotated 90°; ..."), else upright."""
    for turn in ("rotated 90°", "rotated 180°", "rotated 270°", "mirrored"):
        if note.startswith(f"thumbnail {turn}"):
            return turn
    return "upright"


def results_paths(out_dir: str) -> tuple[str, str]:
    return os.path.join(out_dir, "matches.csv"), os.path.join(out_dir, "matches.json")


# Decisions: a person's picks, made on the review page, that override photomatch's.
#
# ``decisions.json`` is ``{"version": 2, "decisions": [{"set", "query",
# "query_sha256", "pick"}, ...]}`` with absolute paths like ``matches.json``;
# ``pick`` is one of the thumbnail's candidates (that file becomes the set's
# original for it) or ``null`` for "none of these" (the thumbnail is not
# exported); ``query_sha256`` is the thumbnail's digest in the results the pick
# was made on, so a pick never carries over to another file that later takes the
# thumbnail's name. A thumbnail without an entry keeps photomatch's decision.
# ``matches.csv`` and ``matches.json`` are never rewritten by the review page.


@dataclass(frozen=True)
class Decision:
    """A person's choice for one thumbnail: ``pick`` is a candidate's path, or None for none.

    ``query_sha256`` is the digest of the thumbnail the choice was made on; None
    means "the thumbnail of the results at hand" (a pick just made on the page)
    and is filled in by ``check_decisions``.
    """

    set: str
    query: str
    pick: str | None
    query_sha256: str | None = None


def decisions_path(out_dir: str) -> str:
    return os.path.join(out_dir, DECISIONS_NAME)


def decisions_dict(decisions: Mapping[tuple[str, str], Decision]) -> dict[str, Any]:
    """The JSON form of ``decisions`` (sorted by set, then thumbnail)."""
    return {
        "version": DECISIONS_VERSION,
        # A decision not yet bound to a thumbnail is written as bound to none
        # (fits only results without digests); check_decisions binds them.
        "decisions": [
            {**asdict(d), "query_sha256": d.query_sha256 or ""}
            for _, d in sorted(decisions.items())
        ],
    }


def parse_decisions(data: object) -> dict[tuple[str, str], Decision]:
    """Decisions from their JSON form; ``ValueError`` names what is wrong.

    Version 1 files predate the thumbnail digest: their decisions carry an empty
    one, which fits only results that have none either (results of that time).
    """
    version = data.get("version") if isinstance(data, dict) else None
    if not isinstance(data, dict) or version not in (1, DECISIONS_VERSION):
        raise ValueError(f"not a version {DECISIONS_VERSION} decisions file")
    entries = data.get("decisions")
    if not isinstance(entries, list):
        raise ValueError("'decisions' is not a list")
    out: dict[tuple[str, str], Decision] = {}
    for entry in entries:
        digest = entry.get("query_sha256", "") if isinstance(entry, dict) else None
        if (
            not isinstance(entry, dict)
            or not isinstance(entry.get("set"), str)
            or not isinstance(entry.get("query"), str)
            or not (entry.get("pick") is None or isinstance(entry.get("pick"), str))
            or not isinstance(digest, str)
            or (version == DECISIONS_VERSION and "query_sha256" not in entry)
        ):
            raise ValueError(f"bad decision entry {entry!r:.200}")
        key = (entry["set"], entry["query"])
        out[key] = Decision(entry["set"], entry["query"], entry.get("pick"), digest)
    return out


def read_decisions(path: str) -> dict[tuple[str, str], Decision]:
    """Read ``decisions.json``; a missing file means no decisions. ``ValueError`` if damaged."""
    try:
        with open(path, encoding="utf-8") as fh:
            data = json.load(fh)
    except FileNotFoundError:
        return {}
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ValueError(f"{path}: {exc}") from None
    try:
        return parse_decisions(data)
    except ValueError as exc:
        raise ValueError(f"{path}: {exc}") from None


def check_decisions(
    run: MatchRun, decisions: Iterable[Decision]
) -> tuple[dict[tuple[str, str], Decision], list[str]]:
    """Split ``decisions`` into those that fit ``run`` and a description of each that does not.

    A decision fits when its thumbnail is in ``run`` (same set), was made on the
    same thumbnail file (same digest), and its pick is None, one of that
    thumbnail's candidates, or a file found by the review page's album search:
    a regular file inside the album, by an absolute normal path, listed as
    hashed in the run's album index (``album_search.is_album_file``). So a
    stale or hand-edited file can never send export outside the album. The
    decisions that fit come back with the run's digest filled in.
    """
    from .album_search import is_album_file  # the index module needs nothing from here

    by_key = {(r.set, r.query): r for r in run.results}
    valid: dict[tuple[str, str], Decision] = {}
    problems: list[str] = []
    for d in decisions:
        key = (d.set, d.query)
        result = by_key.get(key)
        if result is None:
            problems.append(f"no thumbnail {d.query} in set {d.set!r}")
        elif d.query_sha256 is not None and d.query_sha256 != result.query_sha256:
            problems.append(f"{d.query} is not the thumbnail the pick was made on")
        elif (
            d.pick is not None
            and d.pick not in {c.path for c in result.candidates}
            and not is_album_file(run.album, run.index_path, d.pick)
        ):
            problems.append(
                f"{d.pick} is neither a candidate for {d.query} nor a file of the album"
            )
        else:
            valid[key] = replace(d, query_sha256=result.query_sha256)
    return valid, problems


def decisions_document(decisions: Mapping[tuple[str, str], Decision]) -> str:
    return json.dumps(decisions_dict(decisions), indent=1, ensure_ascii=True) + "\n"


def write_decisions(path: str, decisions: Mapping[tuple[str, str], Decision]) -> None:
    """Write ``decisions.json`` atomically (``safeio.write_atomic``)."""
    write_atomic(path, decisions_document(decisions))
