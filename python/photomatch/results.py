"""Match results as frozen dataclasses, and their CSV / JSON forms.

``matches.csv`` columns, in order: ``set,query,status,match,distance,candidates``.
Paths are absolute. ``candidates`` are the ranked candidate paths joined with
``;``. ``matches.json`` holds the same results plus the distances of every
candidate, the sets, the files that were skipped and why, and the album.
"""

from __future__ import annotations

import csv
import json
import os
from dataclasses import asdict, dataclass

MATCHED = "matched"
AMBIGUOUS = "ambiguous"
UNMATCHED = "unmatched"
STATUSES = (MATCHED, AMBIGUOUS, UNMATCHED)
RESULTS_VERSION = 1
CSV_COLUMNS = ("set", "query", "status", "match", "distance", "candidates")


@dataclass(frozen=True)
class Candidate:
    """An album file proposed for a thumbnail; ``distance`` in bits over its best view."""

    path: str
    distance: int
    view: str


@dataclass(frozen=True)
class QueryResult:
    """The decision for one thumbnail. ``match`` is set only when ``status == "matched"``."""

    set: str
    query: str
    status: str
    match: str | None
    distance: int | None
    candidates: tuple[Candidate, ...]


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

    def count_by_set(self) -> dict[str, dict[str, int]]:
        """``{set: {status: n}}`` for every set and status (zeros included)."""
        table = {s.name: {st: 0 for st in STATUSES} for s in self.sets}
        for r in self.results:
            table[r.set][r.status] += 1
        return table

    def needs_review(self) -> bool:
        """True when any thumbnail is not ``matched`` or could not be read."""
        return bool(self.skipped_queries) or any(r.status != MATCHED for r in self.results)


def write_csv(run: MatchRun, path: str) -> None:
    with open(path, "w", newline="", encoding="utf-8", errors="surrogateescape") as fh:
        writer = csv.writer(fh)
        writer.writerow(CSV_COLUMNS)
        for r in run.results:
            writer.writerow(
                [
                    r.set,
                    r.query,
                    r.status,
                    r.match or "",
                    "" if r.distance is None else r.distance,
                    ";".join(c.path for c in r.candidates),
                ]
            )


def to_json_dict(run: MatchRun) -> dict:
    return {
        "version": RESULTS_VERSION,
        "album": run.album,
        "index": run.index_path,
        "album_images": run.album_images,
        "sets": [asdict(s) for s in run.sets],
        "summary": run.count_by_set(),
        "results": [asdict(r) for r in run.results],
        "skipped_queries": [asdict(s) for s in run.skipped_queries],
        "skipped_album": [asdict(s) for s in run.skipped_album],
    }


def write_json(run: MatchRun, path: str) -> None:
    # surrogateescape keeps undecodable file names round-tripping to the same bytes.
    text = json.dumps(to_json_dict(run), indent=1, ensure_ascii=True)
    with open(path, "w", encoding="utf-8") as fh:
        fh.write(text)


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
            candidates=tuple(Candidate(**c) for c in r["candidates"]),
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
    )


def results_paths(out_dir: str) -> tuple[str, str]:
    return os.path.join(out_dir, "matches.csv"), os.path.join(out_dir, "matches.json")
