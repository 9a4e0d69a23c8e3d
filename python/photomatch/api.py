"""The two jobs behind the CLI, as plain functions: index an album, match thumbnails.

A match run ends by completing the variant groups of its answers
(``complete_variants``): the pixel check groups only the files it compared
with the thumbnail, so the other copies of a photo (200 duplicates of one
picture, an edited copy ranked out) are looked up here, among the album files
that hash close to the group's primary, and confirmed as one capture the way
the check confirms them.
"""

from __future__ import annotations

import bisect
import filecmp
import functools
import os
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import replace

import numpy as np

from . import matching, outdir, verify
from ._core import hamming_topk
from .checking import Checker
from .decision import DEFAULT_POLICY, Policy, one_to_one, primary_order
from .errors import UsageError
from .index import AlbumArrays, AlbumIndex, IndexReport
from .progress import threaded_map
from .results import MATCHED, Candidate, MatchRun, QueryResult, SetInfo, Skipped


def index_album(
    album: str,
    index_path: str | None = None,
    rebuild: bool = False,
    progress: bool = False,
    jobs: int | None = None,
    previews: bool = True,
) -> IndexReport:
    """Build or refresh the index of ``album``; returns what was done.

    ``previews=False`` hashes every image from its own pixels, never from an
    embedded EXIF preview (see ``AlbumIndex.update``). ``progress=True`` draws
    progress bars on stderr; by default nothing is written there.
    """
    with AlbumIndex(album, index_path, rebuild=rebuild) as index:
        return index.update(progress=progress, jobs=jobs, previews=previews)


def match_album(
    album: str,
    thumbs: Sequence[str],
    out: str | None = None,
    index_path: str | None = None,
    policy: Policy = DEFAULT_POLICY,
    rebuild: bool = False,
    progress: bool = False,
    jobs: int | None = None,
    previews: bool = True,
) -> tuple[MatchRun, IndexReport]:
    """Index ``album`` (incrementally), match every thumbnail folder (one set each).

    When ``out`` is given, writes ``out/matches.csv``, ``out/matches.json`` and
    ``out/review.html`` as one set (see ``outdir``), keeping the decisions of
    ``out/decisions.json`` that still fit. ``previews`` is passed to the index
    update; answers are always confirmed on the album's real pixels, whatever
    was hashed. ``progress=True`` draws progress bars on stderr (off by default).
    """
    run, report, _ = match_and_publish(
        album, thumbs, out, index_path, policy, rebuild, progress, jobs, previews
    )
    return run, report


def match_and_publish(
    album: str,
    thumbs: Sequence[str],
    out: str | None = None,
    index_path: str | None = None,
    policy: Policy = DEFAULT_POLICY,
    rebuild: bool = False,
    progress: bool = False,
    jobs: int | None = None,
    previews: bool = True,
) -> tuple[MatchRun, IndexReport, outdir.Published | None]:
    """``match_album``, also returning what was published in ``out`` (None without ``out``)."""
    if not thumbs:
        raise UsageError("give at least one thumbnail folder")
    outdir.check_paths(album, thumbs, out)
    sets = matching.name_sets(thumbs)
    # Hash the thumbnails first: a bad THUMBS folder fails fast, before a long index.
    queries, skipped = matching.hash_queries(sets, progress=progress, jobs=jobs)
    lock = None
    if out is not None:
        outdir.create(out)
        lock = outdir.OutLock(out)
    try:
        run, report = _match(
            album, sets, queries, skipped, index_path, policy, rebuild, progress, jobs, previews
        )
        published = None if out is None else outdir.publish(run, out, jobs, progress)
    finally:
        if lock is not None:
            lock.release()
    return run, report, published


def _match(
    album: str,
    sets: tuple[SetInfo, ...],
    queries: list[matching.QueryImage],
    skipped: list[Skipped],
    index_path: str | None,
    policy: Policy,
    rebuild: bool,
    progress: bool,
    jobs: int | None,
    previews: bool,
) -> tuple[MatchRun, IndexReport]:
    with AlbumIndex(album, index_path, rebuild=rebuild) as index:
        report = index.update(progress=progress, jobs=jobs, previews=previews)
        arrays = index.load()
    loader = _TimedLoader()
    results = matching.match(arrays, queries, policy, progress=progress, jobs=jobs, loader=loader)
    results = complete_variants(arrays, results, policy, loader, progress=progress, jobs=jobs)
    order = {s.name: i for i, s in enumerate(sets)}
    results.sort(key=lambda r: (order[r.set], r.query))
    run = MatchRun(
        album=arrays.root,
        index_path=report.index_path,
        sets=sets,
        results=tuple(results),
        skipped_queries=tuple(sorted(skipped, key=lambda s: s.path)),
        skipped_album=tuple(Skipped(p, r) for p, r in report.errors),
        album_images=report.images,
        pixel_checks=loader.calls,
        pixel_check_s=loader.seconds,
    )
    return run, report


class _TimedLoader:
    """``verify.load_candidate``, counting its calls and their time (thread-safe)."""

    def __init__(self) -> None:
        self.calls = 0
        self.seconds = 0.0
        self._lock = threading.Lock()

    def __call__(self, path: str) -> np.ndarray:
        start = time.perf_counter()
        try:
            return verify.load_candidate(path)
        finally:
            with self._lock:
                self.calls += 1
                self.seconds += time.perf_counter() - start


def complete_variants(
    album: AlbumArrays,
    results: Sequence[QueryResult],
    policy: Policy = DEFAULT_POLICY,
    loader: Callable[[str], np.ndarray] = verify.load_candidate,
    progress: bool = False,
    jobs: int | None = None,
) -> list[QueryResult]:
    """``results`` with every candidate group that could be an answer made whole.

    The pixel check groups the files it compared (the nearest few of each
    thumbnail), so a photo with more copies than that had some left out of its
    ``variants``, or listed as separate candidates. Here each such group's
    primary is searched against every album file's full frame (within
    ``policy.burst_bits``, as the check looks for burst frames), and each file
    found is added when it is one capture with the primary (``verify.same_photo``
    and the grain test, as the check groups files). The primary is then chosen
    again over the whole group (``--prefer``, else the oldest file); it keeps the
    distance, view and score measured on the file it replaces (one capture: the
    thumbnail fits both alike). Candidates that joined a group leave the list.
    Only candidates whose score could make them an answer are completed: a
    stranger's copies are not worth decoding.
    """
    gate = min(policy.ncc_min, policy.crop_ncc_min)
    known: dict[str, set[str]] = {}  # primary -> the members the check found
    apart: dict[str, set[str]] = {}  # primary -> files the check put in other groups
    for r in results:
        checked = [c for c in r.candidates if c.score is not None]
        for c in checked:
            if c.score is not None and c.score >= gate:
                known.setdefault(c.path, {c.path}).update(c.variants)
                others = apart.setdefault(c.path, set())
                for o in checked:
                    if o is not c:
                        others.update((o.path, *o.variants))
    if not known:
        return list(results)
    near = _near_files(album, sorted(known), policy.burst_bits)
    pairs = [
        (primary, other)
        for primary in sorted(known)
        for other in near.get(primary, ())
        if other not in known[primary] and other not in apart[primary]
    ]
    # The primary's grain is compared with each of its copies: decoded once.
    checker = Checker(
        loader, policy, album, {}, grain_loader=functools.lru_cache(16)(verify.load_grain)
    )

    def one_capture(pair: tuple[str, str]) -> bool:
        # A file holding the very same bytes is a copy, whatever its pixels show.
        return _same_bytes(*pair) or checker._same_photo(*pair)

    found: dict[str, set[str]] = {}
    verdicts = threaded_map(one_capture, pairs, "variants", progress, jobs, unit="file")
    for (primary, other), same in zip(pairs, verdicts, strict=True):
        if same:
            found.setdefault(primary, set()).add(other)
    groups = {p: known[p] | extra for p, extra in found.items()}
    if not groups:
        return list(results)
    return one_to_one([_with_groups(r, groups, policy.prefer) for r in results])


def _with_groups(r: QueryResult, groups: dict[str, set[str]], prefer: str | None) -> QueryResult:
    """``r`` with its candidates' groups replaced by the completed ``groups``."""
    checked = [c for c in r.candidates if c.score is not None]
    listed: list[Candidate] = []
    joined: set[str] = set()
    for c in r.candidates:
        if c.path in joined:
            continue  # a copy the check did not compare: now a variant of an earlier group
        group = groups.get(c.path) if c.score is not None else None
        if group is None:
            listed.append(c)
            continue
        # Files the check put in this thumbnail's other groups stay there, and a
        # file is in one group only.
        apart = {p for o in checked if o is not c for p in (o.path, *o.variants)}
        members = sorted(group - apart - joined, key=lambda p: _primary_key(p, prefer))
        joined.update(members)
        listed.append(replace(c, path=members[0], variants=tuple(members[1:])))
    if r.status != MATCHED or not listed:
        return replace(r, candidates=tuple(listed))
    first = listed[0]
    return replace(r, candidates=tuple(listed), match=first.path, variants=first.variants)


def _primary_key(path: str, prefer: str | None) -> tuple[bool, int, int, str]:
    """``decision.primary_order`` of an album file, its mtime read here."""
    try:
        mtime = os.stat(path).st_mtime_ns
    except OSError:
        mtime = 0
    return primary_order(path, mtime, prefer)


def _near_files(album: AlbumArrays, paths: list[str], bits: int) -> dict[str, list[str]]:
    """For each of ``paths`` (album files), the other album files whose full frame
    is within ``bits`` of its full frame, all of them (the search widens until
    the farthest found is beyond ``bits``)."""
    full = np.flatnonzero(album.row_view == 0)
    rows = np.ascontiguousarray(album.hashes[full])
    files = album.row_file[full]
    wanted: dict[str, int] = {}
    every: dict[str, int] | None = None
    for path in paths:
        file = _file_of(album, path)
        if file is None:  # arrays made otherwise than by ``AlbumIndex.load``: unsorted
            every = every if every is not None else {p: i for i, p in enumerate(album.paths)}
            file = every.get(path)
        at = int(np.searchsorted(files, file)) if file is not None else len(files)
        if at < len(files) and int(files[at]) == file:
            wanted[path] = at
    out: dict[str, list[str]] = {}
    todo = list(wanted)
    k = min(64, len(rows))
    while todo and k:
        queries = np.ascontiguousarray(rows[[wanted[p] for p in todo]])
        idx, dist = hamming_topk(queries, rows, k)
        wider = []
        for path, ids, ds in zip(todo, idx.tolist(), dist.tolist(), strict=True):
            if k < len(rows) and ds[-1] <= bits:
                wider.append(path)  # the k nearest are all close: there may be more
                continue
            own = int(files[wanted[path]])
            out[path] = [
                album.path(int(files[i]))
                for i, d in zip(ids, ds, strict=True)
                if d <= bits and int(files[i]) != own
            ]
        todo, k = wider, min(4 * k, len(rows))
    return out


def _file_of(album: AlbumArrays, path: str) -> int | None:
    """The index of album file ``path`` (None when it is not there): an index
    lists its files sorted by their bytes, so a binary search finds it."""
    target = os.fsencode(path)
    at = bisect.bisect_left(album.paths, target, key=os.fsencode)
    if at < len(album.paths) and album.path(at) == path:
        return at
    return None


def _same_bytes(a: str, b: str) -> bool:
    try:
        return filecmp.cmp(a, b, shallow=False)
    except OSError:
        return False
