"""Complete each answer's variant group: every copy of the photo, not only those compared.

The pixel check (``checking``) groups the files it compared with a thumbnail
(its nearest few), so a photo with more copies than that (200 duplicates of one
picture, an edited copy ranked out) had some left out of its ``variants``, or
listed as separate candidates. ``complete`` looks the others up among the album
files whose full frame hashes close to the group's primary, and lets one in by
the check's own rule (``Checker.same_capture``: one capture with every member).
"""

from __future__ import annotations

import bisect
import filecmp
import functools
import os
from collections.abc import Callable, Sequence
from dataclasses import replace

import numpy as np

from . import verify
from ._core import hamming_topk
from .checking import Checker
from .decision import DEFAULT_POLICY, Policy, one_to_one, primary_order
from .index import AlbumArrays
from .progress import threaded_map
from .results import MATCHED, Candidate, QueryResult


def complete(
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
    found is added when it is one capture with every member of the group
    (``Checker.same_capture``: ``verify.same_photo`` and the grain test, the
    check's own rule; a file held by the same bytes as the primary is a copy
    whatever its pixels show). The primary is then chosen
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
        return _same_bytes(*pair) or checker.same_capture(*pair)

    found: dict[str, list[str]] = {}
    verdicts = threaded_map(one_capture, pairs, "variants", progress, jobs, unit="file")
    for (primary, other), same in zip(pairs, verdicts, strict=True):
        if same:
            found.setdefault(primary, []).append(other)
    groups: dict[str, set[str]] = {}
    for primary, candidates in found.items():
        # One capture with the primary is not enough: "one capture" is not
        # transitive at its margins (a still burst's frame 2 can pass for
        # frame 1 and frame 3 for frame 2), so each joins only as one capture
        # with every member, as the check groups files (``Checker._group``).
        members = set(known[primary])
        for other in candidates:
            if all(
                m == primary or _same_bytes(primary, other) or checker.same_capture(m, other)
                for m in members
            ):
                members.add(other)
        if members != known[primary]:
            groups[primary] = members
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
