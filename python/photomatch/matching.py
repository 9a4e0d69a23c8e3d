"""Match thumbnails against an album index: hash search, pixel check, decision.

1. **Search.** Each thumbnail's hash row goes through the Rust kernel against
   every album view row; rows collapse to files (a file's distance is that of
   its closest view). When nothing is close, the thumbnail's 90/180/270-degree
   rotations and its mirror image are searched too (a thumbnail whose EXIF
   orientation was lost, a sideways original without a tag).
2. **Check.** The close candidates are decoded again and the thumbnail is
   located inside each (``verify.align``): a normalised cross-correlation score
   and whether the framing is canonical (full frame, centred or edge-aligned
   crop) or shifted, as a burst sibling is. When none fits, files further
   down the ranking are checked too, and count only when one fits clearly.
3. **Variants.** Candidates that are the same photo (an edited copy, a
   duplicate: same framing to a fraction of a pixel, high correlation) form one
   group, named by its primary (``--prefer`` glob, else the oldest file).
4. **Decision** (thresholds in ``Policy``, calibrated as the README says):
   ``unmatched`` when the best correlation is under ``ncc_min``. Otherwise the
   *close* groups are those within ``ncc_margin`` of the best; a group framed
   canonically outranks shifted ones. ``matched`` when one group is close, or
   when exactly one close group is framed canonically (a burst's true frame
   among its shifted siblings); ``ambiguous`` otherwise, or when the winner
   fits only shifted by a few percent (another frame of a burst), with the
   close groups listed, best first. A crop that fits every frame of a burst
   alike is settled by exposure, less the offset the run's thumbnailer adds,
   measured on its plain matches; answers that compared frames before it was
   known are decided again.
5. **One to one.** Within a set two thumbnails rarely share an original: a
   group confidently matched by one thumbnail is dropped from another's rivals,
   and two matches of one group in a set are flagged.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

import numpy as np

from . import hashing, verify
from ._core import hamming_topk
from .decision import DEFAULT_POLICY, ORIENTATIONS, Checker, Policy, one_to_one
from .errors import DecodeError, UsageError
from .index import AlbumArrays, scan_album
from .progress import threaded_map
from .results import UNMATCHED, Candidate, QueryResult, SetInfo, Skipped


@dataclass(frozen=True)
class QueryImage:
    """A hashed thumbnail: its set, path, uint64 ``(1, WORDS)`` hash row, its grey
    pixels (uint8, frame trimmed, at most ``hashing.DECODE_SIZE`` on the long side)
    and the SHA-256 of its file's bytes (what a person's decision is bound to)."""

    set: str
    path: str
    row: np.ndarray
    grey: np.ndarray
    sha256: str = ""


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
    return QueryImage(set_name, path, row, grey, _file_sha256(path))


def hash_queries(
    sets: Sequence[SetInfo], progress: bool = True, jobs: int | None = None
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
        (queries if isinstance(item, QueryImage) else skipped).append(item)
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
        results = [QueryResult(q.set, q.path, UNMATCHED, None, None, ()) for q in queries]
    else:
        results = _decide_all(album, queries, policy, progress, jobs, loader)
    digests = {(q.set, q.path): q.sha256 for q in queries}
    return [replace(r, query_sha256=digests[(r.set, r.query)]) for r in results]


def _decide_all(
    album: AlbumArrays,
    queries: Sequence[QueryImage],
    policy: Policy,
    progress: bool,
    jobs: int | None,
    loader: Callable[[str], np.ndarray],
) -> list[QueryResult]:
    files: dict[str, int] = {}
    searched = _search(album, queries, policy, files)
    rows = album.hashes.shape[0]
    checker = Checker(
        loader, policy, album, files, lambda row, k: _candidates(album, row, min(k, rows), files)[0]
    )
    work = list(zip(queries, searched, strict=True))
    results = list(threaded_map(lambda w: checker.decide(*w), work, "checking", progress, jobs))
    if checker.calibrate_exposure():
        # Burst frames compared by exposure before the run's offset was known: again.
        again = [i for i, (q, _) in enumerate(work) if checker.decided_by_exposure(q)]
        redo = [work[i] for i in again]
        redone = threaded_map(lambda w: checker.decide(*w), redo, "re-checking", progress, jobs)
        for i, r in zip(again, redone, strict=True):
            results[i] = r
    return one_to_one(results, policy)


def _search(
    album: AlbumArrays, queries: Sequence[QueryImage], policy: Policy, files: dict[str, int]
) -> list[list[tuple[str, list[Candidate]]]]:
    """Per query, the orientations to check, in order, each with its candidate
    files (nearest first): upright, then the turn or mirror that came closest
    when upright found nothing close."""
    k = min(policy.rows_per_query, album.hashes.shape[0])
    rows = np.ascontiguousarray(np.concatenate([q.row for q in queries]), dtype=np.uint64)
    found = _candidates(album, rows, k, files)
    out = [[(ORIENTATIONS[0][0], c)] for c in found]
    far = [i for i, c in enumerate(found) if not c or c[0].distance > policy.rotate_above]
    best: dict[int, tuple[str, list[Candidate]]] = {}
    for name, turn in ORIENTATIONS[1:]:
        if not far:
            break
        turned = np.concatenate(
            [hashing.hash_grey(turn(queries[i].grey), album=False).rows[:1] for i in far]
        )
        for i, cands in zip(far, _candidates(album, turned, k, files), strict=True):
            if cands and cands[0].distance <= policy.rotate_above:
                if i not in best or cands[0].distance < best[i][1][0].distance:
                    best[i] = (name, cands)
    for i, option in best.items():
        out[i].append(option)
    return out


def _candidates(
    album: AlbumArrays, rows: np.ndarray, k: int, files: dict[str, int] | None = None
) -> list[list[Candidate]]:
    """Each row's nearest album files, nearest first; ``files`` learns their indices."""
    indices, distances = hamming_topk(np.ascontiguousarray(rows), album.hashes, k)
    result = []
    for row_ids, dists in zip(indices.tolist(), distances.tolist(), strict=True):
        best: dict[int, Candidate] = {}
        for row, dist in zip(row_ids, dists, strict=True):
            file = int(album.row_file[row])
            if file not in best:
                view = hashing.VIEW_NAMES[int(album.row_view[row])]
                best[file] = Candidate(album.path(file), int(dist), view)
                if files is not None:
                    files[best[file].path] = file
        result.append(list(best.values()))
    return result
