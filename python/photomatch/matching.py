"""Match thumbnails against an album index: search, pixel check, decision.

1. **Search.** Each thumbnail's hash row goes through the Rust kernel against
   every album view row; rows collapse to files (a file's distance is that of
   its closest view). When nothing is close, the thumbnail's 90/180/270-degree
   rotations and its mirror image are searched too (a thumbnail whose EXIF
   orientation was lost, a sideways original without a tag).
2. **Check** (``checking``). The close candidates are decoded again and the
   thumbnail is located inside each (``verify.align``): how well it fits, at
   what scale, and how far (in pixels, with the measurement's uncertainty)
   from a standard framing. Files further down the ranking, and the other
   frames of a candidate's burst, are checked when the nearest do not settle
   it, and when no file in the hash ranking fits, those whose small overview
   the thumbnail fits best at any placement (``overview``); files that are
   one capture (an edited copy, a duplicate) are grouped.
3. **Decision** (``decision.decide``, a pure function of that evidence): a
   calibrated confidence per candidate group, and ``matched``, ``ambiguous``
   or ``unmatched`` with a reason. The run's exposure offset (the
   thumbnailer's rounding moves every thumbnail's mean alike) is measured on
   its confident matches and every answer is decided again with it.
4. **One to one.** Within a set two thumbnails rarely share an original: of two
   matched to one photo, the less confident is flagged.
"""

from __future__ import annotations

import hashlib
import math
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

import numpy as np

from . import hashing, overview, verify
from ._core import hamming_topk
from .checking import Checker
from .decision import (
    DEFAULT_POLICY,
    Policy,
    choose_orientation,
    decide,
    one_to_one,
    run_offset,
)
from .errors import DecodeError, UsageError
from .evidence import Evidence
from .index import AlbumArrays, scan_album
from .jpeg_quality import jpeg_quality
from .progress import threaded_map
from .results import MATCHED, Candidate, QueryResult, SetInfo, Skipped

#: Threads of the pixel check per core when ``jobs`` is not given. A check
#: thread spends part of its time in Python, holding the GIL, between decodes
#: and kernels that release it; a spare thread per core keeps the cores busy
#: meanwhile (album 229 on 2 cores: 32.2 s on 4 threads, 34.8 s on 2, the same
#: answers).
CHECK_THREADS_PER_CORE = 2

ORIENTATIONS: tuple[tuple[str, Callable[[np.ndarray], np.ndarray]], ...] = (
    ("upright", lambda g: g),
    ("rotated 90°", lambda g: np.rot90(g, 1)),
    ("rotated 180°", lambda g: np.rot90(g, 2)),
    ("rotated 270°", lambda g: np.rot90(g, 3)),
    ("mirrored", lambda g: g[:, ::-1]),
)


@dataclass(frozen=True)
class QueryImage:
    """A hashed thumbnail: its set, path, uint64 ``(1, WORDS)`` hash row, its grey
    pixels (uint8, frame trimmed, at most ``hashing.DECODE_SIZE`` on the long side)
    the SHA-256 of its file's bytes (what a person's decision is bound to) and
    the JPEG quality it was saved at (None for another format)."""

    set: str
    path: str
    row: np.ndarray
    grey: np.ndarray
    sha256: str = ""
    quality: int | None = None


def name_sets(folders: Sequence[str]) -> tuple[SetInfo, ...]:
    """One set per folder, named after it; a name already taken gets ``-2``, ``-3`` ...

    Names are unique whatever the folders are called (``a/prints``, ``b/prints``
    and ``c/prints-2`` give ``prints``, ``prints-2``, ``prints-2-2``), also when
    compared without case, since each set becomes a folder on export and a
    file system may ignore case. The same folder given twice is a usage error.
    """
    taken: set[str] = set()
    folders_seen: set[str] = set()
    sets = []
    for folder in folders:
        absolute = os.path.abspath(folder)
        real = os.path.realpath(absolute)
        if real in folders_seen:
            raise UsageError(f"thumbnail folder given twice: {folder}")
        folders_seen.add(real)
        base = os.path.basename(os.path.normpath(absolute)) or "set"
        name, n = base, 1
        while name.casefold() in taken:
            n += 1
            name = f"{base}-{n}"
        taken.add(name.casefold())
        sets.append(SetInfo(name=name, folder=absolute))
    return tuple(sets)


def _file_sha256(path: str) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def query_image(set_name: str, path: str) -> QueryImage:
    """Decode and hash one thumbnail. Raises DecodeError when it can't be read."""
    grey = hashing.trim_border(hashing.load_grey(path))
    if min(grey.shape) < 8:
        raise DecodeError(path, f"image too small to match ({grey.shape[1]}x{grey.shape[0]} px)")
    row = hashing.hash_grey(grey, album=False).rows[:1]
    return QueryImage(set_name, path, row, grey, _file_sha256(path), jpeg_quality(path))


def hash_queries(
    sets: Sequence[SetInfo], progress: bool = False, jobs: int | None = None
) -> tuple[list[QueryImage], list[Skipped]]:
    """Hash every thumbnail of every set; unreadable ones are skipped with their reason."""
    todo: list[tuple[str, str]] = []
    for s in sets:
        if not os.path.isdir(s.folder):
            raise UsageError(f"thumbnail folder not found: {s.folder}")
        entries, _ = scan_album(s.folder)
        if not entries:
            raise UsageError(f"thumbnail folder holds no image: {s.folder}")
        todo += [(s.name, os.path.join(s.folder, e.rel)) for e in entries]

    def one(item: tuple[str, str]) -> QueryImage | Skipped:
        try:
            return query_image(*item)
        except DecodeError as exc:
            return Skipped(item[1], exc.reason)
        except OSError as exc:
            return Skipped(item[1], exc.strerror or str(exc))

    queries: list[QueryImage] = []
    skipped: list[Skipped] = []
    for item in threaded_map(one, todo, "thumbnails", progress, jobs):
        if isinstance(item, QueryImage):
            queries.append(item)
        else:
            skipped.append(item)
    return queries, skipped


def match(
    album: AlbumArrays,
    queries: Sequence[QueryImage],
    policy: Policy = DEFAULT_POLICY,
    progress: bool = False,
    jobs: int | None = None,
    loader: Callable[[str], np.ndarray] = verify.load_candidate,
) -> list[QueryResult]:
    """Decide, for each thumbnail, which album file it came from (see module doc).

    ``loader`` decodes an album file to the grey frame used for the pixel check.
    """
    if not queries:
        return []
    if len(album.paths) == 0:
        results = [
            decide(Evidence(q.set, q.path, ORIENTATIONS[0][0], (), ()), policy) for q in queries
        ]
    else:
        evidence = gather_evidence(album, queries, policy, progress, jobs, loader)
        results = decide_all(evidence, policy)
    digests = {(q.set, q.path): q.sha256 for q in queries}
    return [replace(r, query_sha256=digests[(r.set, r.query)]) for r in results]


def gather_evidence(
    album: AlbumArrays,
    queries: Sequence[QueryImage],
    policy: Policy = DEFAULT_POLICY,
    progress: bool = False,
    jobs: int | None = None,
    loader: Callable[[str], np.ndarray] = verify.load_candidate,
) -> list[list[Evidence]]:
    """Search and check every thumbnail: per thumbnail, its evidence upright
    and, when upright finds no match (decided without the run's exposure
    offset, which is not known yet) and a turn came closer in hash, turned
    (``decision.choose_orientation`` then takes the more confident answer)."""
    files: dict[str, int] = {}
    searched, wide = _search(album, queries, policy, files)
    rows = album.hashes.shape[0]

    def search(row: np.ndarray, k: int) -> list[Candidate]:
        # The second look's wider ranking of an upright thumbnail came with the
        # first search, in one batch: a search of its own for each thumbnail
        # that needs one costs a pass over every album row.
        found = wide.get(row.tobytes()) if k == policy.second_look_rows else None
        if found is not None:
            return _as_files(album, *found, files)
        return _candidates(album, row, min(k, rows), files)[0]

    def coarse(grey: np.ndarray, row: np.ndarray, k: int, seen: set[str]) -> list[Candidate]:
        assert album.overviews is not None
        skip = {files[path] for path in seen if path in files}
        found = []
        for file, _ in album.overviews.get().nearest(grey, k, skip):
            path = album.path(file)
            files.setdefault(path, file)
            found.append(Candidate(path, *album.closest_view(row, file)))
        return found

    def screen(grey: np.ndarray, paths: list[str]) -> list[float]:
        assert album.overviews is not None
        wanted = np.array([files[path] for path in paths], dtype=np.int64)
        scores = album.overviews.get().scores_of(grey, wanted)
        return [math.inf if math.isnan(x) else x for x in scores.tolist()]

    # Past overview.MAX_FILES, no coarse look and no screen: the overviews
    # would not fit in memory.
    looks = album.overviews is not None and len(album.paths) <= overview.MAX_FILES
    checker = Checker(
        loader,
        policy,
        album,
        files,
        search,
        coarse=coarse if looks else None,
        screen=screen if looks else None,
    )
    turns = dict(ORIENTATIONS)

    def one(work: tuple[QueryImage, list[tuple[str, list[Candidate]]]]) -> list[Evidence]:
        q, options = work
        out = []
        for orientation, cands in options:
            grey = turns[orientation](q.grey)
            row = q.row if orientation == ORIENTATIONS[0][0] else _row(grey)
            ev = checker.evidence(q.set, q.path, grey, row, orientation, cands)
            out.append(replace(ev, quality=q.quality))
            if decide(out[-1], policy).status == MATCHED:
                break
        return out

    work = list(zip(queries, searched, strict=True))
    threads = jobs or CHECK_THREADS_PER_CORE * (os.cpu_count() or 1)
    return list(threaded_map(one, work, "checking", progress, threads))


def decide_all(evidence: Sequence[Sequence[Evidence]], policy: Policy) -> list[QueryResult]:
    """Decide every thumbnail from its evidence (``gather_evidence``) with the
    run's exposure offset (``decision.run_offset``)."""
    offset = run_offset(evidence, policy)
    results = [
        choose_orientation([decide(ev, policy, offset) for ev in options]) for options in evidence
    ]
    return one_to_one(results)


def _row(grey: np.ndarray) -> np.ndarray:
    return hashing.hash_grey(grey, album=False).rows[:1]


def _search(
    album: AlbumArrays, queries: Sequence[QueryImage], policy: Policy, files: dict[str, int]
) -> tuple[list[list[tuple[str, list[Candidate]]]], dict[bytes, tuple[np.ndarray, np.ndarray]]]:
    """Per query, the orientations to check, in order, each with its candidate
    files (nearest first): upright, then the turn or mirror that came closest
    when it came closer than upright (``Policy.turn_search_above``,
    ``Policy.rotate_above``); and, by upright hash row, its
    ``second_look_rows`` nearest view rows and their distances (for the second
    look). The kernel orders rows by distance, then row, so the candidates'
    ``rows_per_query`` rows are the first of those: one search gives both."""
    k = min(policy.rows_per_query, album.hashes.shape[0])
    k_wide = min(max(k, policy.second_look_rows), album.hashes.shape[0])
    rows = np.ascontiguousarray(np.concatenate([q.row for q in queries]), dtype=np.uint64)
    indices, distances = hamming_topk(rows, album.hashes, k_wide)
    found = [
        _as_files(album, ids[:k], dists[:k], files)
        for ids, dists in zip(indices, distances, strict=True)
    ]
    wide = {
        q.row.tobytes(): (ids, dists)
        for q, ids, dists in zip(queries, indices, distances, strict=True)
    }
    out = [[(ORIENTATIONS[0][0], c)] for c in found]
    upright = [c[0].distance if c else math.inf for c in found]
    far = [i for i, d in enumerate(upright) if d > policy.turn_search_above]
    best: dict[int, tuple[str, list[Candidate]]] = {}
    for name, turn in ORIENTATIONS[1:]:
        if not far:
            break
        turned = np.concatenate([_row(turn(queries[i].grey)) for i in far])
        for i, cands in zip(far, _candidates(album, turned, k, files), strict=True):
            nearest = cands[0].distance if cands else math.inf
            if nearest <= policy.rotate_above and nearest < upright[i]:
                if i not in best or nearest < best[i][1][0].distance:
                    best[i] = (name, cands)
    for i, option in best.items():
        out[i].append(option)
    return out, wide


def _candidates(
    album: AlbumArrays, rows: np.ndarray, k: int, files: dict[str, int] | None = None
) -> list[list[Candidate]]:
    """Each row's nearest album files, nearest first; ``files`` learns their indices."""
    indices, distances = hamming_topk(np.ascontiguousarray(rows), album.hashes, k)
    return [
        _as_files(album, ids, dists, files) for ids, dists in zip(indices, distances, strict=True)
    ]


def _as_files(
    album: AlbumArrays, indices: np.ndarray, distances: np.ndarray, files: dict[str, int] | None
) -> list[Candidate]:
    """Album view rows (nearest first) collapsed to their files, each at its
    nearest view; ``files`` learns their indices."""
    best: dict[int, Candidate] = {}
    for row, dist in zip(indices.tolist(), distances.tolist(), strict=True):
        file = int(album.row_file[row])
        if file not in best:
            view = hashing.VIEW_NAMES[int(album.row_view[row])]
            best[file] = Candidate(album.path(file), int(dist), view)
            if files is not None:
                files[best[file].path] = file
    return list(best.values())
