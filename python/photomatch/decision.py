"""Deciding one thumbnail from its candidates: pixel check, variants, policy.

Steps 2 to 5 of ``matching``'s module doc: each close candidate is decoded
again and the thumbnail located in it (``verify.align``); candidates that are
the same photo form variant groups; ``Policy`` turns the fits into
``matched``, ``ambiguous`` or ``unmatched``; ``one_to_one`` then settles ties
within a set.
"""

from __future__ import annotations

import fnmatch
import os
import threading
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

import numpy as np

from . import verify
from ._core import hamming_topk
from .errors import DecodeError
from .index import AlbumArrays
from .results import AMBIGUOUS, MATCHED, UNMATCHED, Candidate, QueryResult

if TYPE_CHECKING:
    from .matching import QueryImage


@dataclass(frozen=True)
class Policy:
    """Search sizes and decision thresholds (hash distances in bits of 128)."""

    #: Album view rows fetched per thumbnail before collapsing to files.
    rows_per_query: int = 64
    #: Files farther than this are never candidates.
    hash_max: int = 40
    #: Search the rotations too when the upright best is farther than this.
    rotate_above: int = 20
    #: Files checked on pixels: within this many bits of the best, at most ``fine_candidates``.
    fine_window: int = 16
    fine_candidates: int = 8
    fine_always: int = 3
    #: Best correlation needed for any answer but ``unmatched``.
    ncc_min: float = 0.85
    #: ... and for a crop found anywhere (not a canonical framing), which has
    #: more freedom to fit by chance.
    crop_ncc_min: float = 0.88
    #: Groups scoring within this of the best are rivals.
    ncc_margin: float = 0.03
    #: An alignment this close to the full size, but not canonical, is a shifted frame.
    near_full_scale: float = 0.97
    #: ... unless no other candidate fits well and it is off by less than this
    #: share of the thumbnail's long side.
    lone_residual: float = 0.0055
    #: Other candidates this close in hash bits to the winner are likely burst siblings.
    sibling_bits: int = 24
    #: Album files whose frames are this close (bits) to each other form a burst.
    burst_bits: int = 20
    #: Candidates kept per thumbnail in the results.
    max_candidates: int = 5
    #: Glob on album paths picking a variant group's primary (e.g. ``*/edited/*``).
    prefer: str | None = None


DEFAULT_POLICY = Policy()
ORIENTATIONS: tuple[tuple[str, Callable[[np.ndarray], np.ndarray]], ...] = (
    ("upright", lambda g: g),
    ("rotated 90°", lambda g: np.rot90(g, 1)),
    ("rotated 180°", lambda g: np.rot90(g, 2)),
    ("rotated 270°", lambda g: np.rot90(g, 3)),
    ("mirrored", lambda g: g[:, ::-1]),
)


@dataclass(frozen=True)
class _Checked:
    candidate: Candidate
    alignment: verify.Alignment
    grey: np.ndarray


class Checker:
    """The pixel check and the decision for one thumbnail at a time (thread-safe)."""

    def __init__(
        self,
        loader: Callable[[str], np.ndarray],
        policy: Policy,
        album: AlbumArrays,
        files: dict[str, int],
    ) -> None:
        self.loader = loader
        self.policy = policy
        self.album = album
        self.files = files  # album file index of every candidate's path
        self._cache: dict[str, np.ndarray | None] = {}
        self._lock = threading.Lock()

    def _burst_siblings(self, path: str, group: set[str]) -> set[str]:
        """Other album files whose full frame is within ``burst_bits`` of ``path``'s."""
        album = self.album
        file = self.files.get(path)
        if file is None:
            return set()
        start = int(np.searchsorted(album.row_file, file))  # view 0 comes first
        k = min(self.policy.rows_per_query, album.hashes.shape[0])
        rows, dists = hamming_topk(album.hashes[start : start + 1], album.hashes, k)
        out = set()
        for row, dist in zip(rows[0].tolist(), dists[0].tolist(), strict=True):
            if dist > self.policy.burst_bits:
                break
            other = album.path(int(album.row_file[row]))
            if other not in group:
                out.add(other)
        return out

    def _grey(self, path: str) -> np.ndarray | None:
        with self._lock:
            if path in self._cache:
                return self._cache[path]
        try:
            grey = self.loader(path)
        except (DecodeError, OSError):
            grey = None
        with self._lock:
            if len(self._cache) > 256:
                self._cache.clear()
            self._cache[path] = grey
        return grey

    def decide(self, query: QueryImage, options: list[tuple[str, list[Candidate]]]) -> QueryResult:
        """Check the upright thumbnail; only if that finds nothing, a turned one."""
        first = self._decide(query, *options[0])
        if first.status != UNMATCHED or len(options) == 1:
            return first
        turned = self._decide(query, *options[1])
        return first if turned.status == UNMATCHED else turned

    def _decide(self, query: QueryImage, orientation: str, cands: list[Candidate]) -> QueryResult:
        p = self.policy
        note = "" if orientation == ORIENTATIONS[0][0] else f"thumbnail {orientation}"
        cands = [c for c in cands if c.distance <= p.hash_max]
        shown = tuple(cands[: p.max_candidates])
        if not cands:
            return QueryResult(query.set, query.path, UNMATCHED, None, None, shown, note=note)
        turn = dict(ORIENTATIONS)[orientation]
        q = turn(query.grey)
        # The nearest few always (a heavy crop can rank behind a lucky stranger),
        # then any others close to the best.
        near = [
            c
            for i, c in enumerate(cands[: p.fine_candidates])
            if i < p.fine_always or c.distance <= cands[0].distance + p.fine_window
        ]
        checked = []
        for c in near:
            grey = self._grey(c.path)
            if grey is not None:
                checked.append(_Checked(c, verify.align(q, grey), grey))
        groups = _group_variants(checked, p.prefer)
        groups.sort(key=lambda g: -_fit(g).ncc)
        groups = [g for g in groups if _plausible(_fit(g), p)] + [
            g for g in groups if not _plausible(_fit(g), p)
        ]
        if not groups or not _plausible(_fit(groups[0]), p):
            listed = tuple(_as_candidate(g) for g in groups)
            rest = tuple(c for c in shown if all(c.path not in _paths(g) for g in groups))
            best = groups[0][0].candidate.distance if groups else cands[0].distance
            return QueryResult(
                query.set,
                query.path,
                UNMATCHED,
                None,
                best,
                (listed + rest)[: p.max_candidates],
                score=listed[0].score if listed else None,
                note=note,
            )
        # The close groups: all plausible. A canonical framing outranks a shifted
        # one (burst siblings fit only shifted); then the correlation decides.
        close = [g for g in groups if _fit(g).ncc >= _fit(groups[0]).ncc - p.ncc_margin]
        close.sort(key=lambda g: _rank(_fit(g), p))
        others = [g for g in groups if not any(g is c for c in close)]
        listed = tuple(_as_candidate(g) for g in close + others)
        rest = tuple(c for c in shown if all(c.path not in _paths(g) for g in groups))
        top = _fit(close[0])
        canonical = [g for g in close if _fit(g).canonical]
        single = len(close) == 1 or (len(canonical) == 1 and top.canonical)
        # Fits nearly full size, yet off the canonical spot: another frame of a
        # burst. Without siblings in sight the spot is judged more leniently:
        # a frame removed from a thumbnail leaves a pixel of doubt.
        near = min(m.candidate.distance for m in close[0]) + p.sibling_bits
        siblings = any(_fit(g).ncc >= p.ncc_min for g in groups if g is not close[0]) or any(
            c.distance <= near for c in cands if c.path not in _paths(close[0])
        )
        limit = verify.CANONICAL_RESIDUAL if siblings else p.lone_residual
        first = listed[0]

        def answer(status: str, shown: tuple[Candidate, ...], why: str = "") -> QueryResult:
            matched = status == MATCHED
            return QueryResult(
                query.set,
                query.path,
                status,
                first.path if matched else None,
                first.distance,
                shown,
                score=first.score,
                variants=first.variants if matched else (),
                note=_join(note, why),
            )

        if all(_shifted(_fit(g), limit, p) for g in close):
            # Every close candidate fits only shifted: the frame shown is not in
            # the album, its neighbours in a burst are.
            return answer(
                UNMATCHED,
                (listed + rest)[: p.max_candidates],
                "closest fits only shifted: another frame of a burst?",
            )
        if single and not top.canonical and top.scale < p.near_full_scale:
            # A crop found at a free position fits every frame of a burst alike:
            # only a canonical framing could single one out.
            frames = self._burst_siblings(close[0][0].candidate.path, _paths(close[0]))
            if frames:
                known = {c.path for c in listed + rest}
                listed = (
                    listed[:1]
                    + tuple(c for c in (listed[1:] + rest) if c.path in frames)
                    + tuple(Candidate(f, -1, "full") for f in sorted(frames - known))
                )
                return answer(
                    AMBIGUOUS,
                    listed[: p.max_candidates],
                    "a crop of one frame of a burst: any frame fits",
                )
        if not single:
            return answer(AMBIGUOUS, listed[: len(close)])
        return answer(MATCHED, (listed + rest)[: p.max_candidates])


def _rank(fit: verify.Alignment, p: Policy) -> tuple:
    """Order of close candidates: canonical framings, then nearly full-size fits
    by how far off the canonical spot they sit, then crops by exposure agreement
    and correlation."""
    if fit.canonical:
        return (0, -fit.ncc)
    if fit.scale >= p.near_full_scale:
        return (1, fit.residual)
    # Crops of a burst's frames fit alike; the frame whose exposure matches the
    # thumbnail's is the likelier (a tone-shifted thumbnail leaves this a tie).
    return (2, round(fit.tone), -fit.ncc)


def _shifted(fit: verify.Alignment, limit: float, p: Policy) -> bool:
    """Fits nearly full size, yet off the canonical spot by more than ``limit``."""
    return fit.scale >= p.near_full_scale and fit.residual > limit


def _plausible(fit: verify.Alignment, p: Policy) -> bool:
    """Close enough to be an answer at all."""
    if fit.canonical or fit.scale >= p.near_full_scale:
        return fit.ncc >= p.ncc_min
    return fit.ncc >= p.crop_ncc_min


def _fit(group: list[_Checked]) -> verify.Alignment:
    """A variant group's best alignment."""
    return max((m.alignment for m in group), key=lambda a: a.ncc)


def _paths(group: list[_Checked]) -> set[str]:
    return {m.candidate.path for m in group}


def _as_candidate(group: list[_Checked]) -> Candidate:
    """A variant group as one candidate: its primary, best score, closest distance."""
    primary = group[0]
    return replace(
        primary.candidate,
        distance=min(m.candidate.distance for m in group),
        score=round(_fit(group).ncc, 4),
        variants=tuple(m.candidate.path for m in group[1:]),
    )


def _group_variants(checked: list[_Checked], prefer: str | None) -> list[list[_Checked]]:
    """Group candidates that are the same photo; each group's primary first."""
    groups: list[list[_Checked]] = []
    for c in sorted(checked, key=lambda c: -c.alignment.ncc):
        for g in groups:
            if verify.same_photo(g[0].grey, c.grey):
                g.append(c)
                break
        else:
            groups.append([c])
    return [sorted(g, key=lambda m: _primary_key(m, prefer)) for g in groups]


def _primary_key(member: _Checked, prefer: str | None) -> tuple:
    path = member.candidate.path
    preferred = prefer is not None and fnmatch.fnmatch(path, prefer)
    try:
        mtime = os.stat(path).st_mtime_ns
    except OSError:
        mtime = 1 << 62
    # Without --prefer: the oldest file, as an edit is made after the original.
    return (not preferred, mtime, len(path), path)


def one_to_one(results: list[QueryResult], policy: Policy) -> list[QueryResult]:
    """Use "one original per thumbnail within a set" to settle ties and flag clashes."""
    taken: dict[tuple[str, str], QueryResult] = {}
    for r in results:
        if r.status == MATCHED and r.match is not None:
            key = (r.set, r.match)
            other = taken.get(key)
            if other is None or (r.score or 0) > (other.score or 0):
                taken[key] = r
    out = []
    for r in results:
        if r.status == MATCHED and r.match is not None and taken[(r.set, r.match)] is not r:
            winner = taken[(r.set, r.match)]
            out.append(
                replace(
                    r,
                    status=AMBIGUOUS,
                    match=None,
                    variants=(),
                    note=_join(r.note, f"same original as {winner.query}"),
                )
            )
        elif r.status == AMBIGUOUS and len(r.candidates) > 1:
            free = [c for c in r.candidates if (r.set, c.path) not in taken]
            top = r.candidates[0]
            if (
                len(free) == 1
                and free[0] is top
                and not r.note.startswith("fits")
                and "fits only shifted" not in r.note
            ):
                out.append(
                    replace(
                        r,
                        status=MATCHED,
                        match=top.path,
                        variants=top.variants,
                        note=_join(r.note, "rivals matched by other thumbnails of the set"),
                    )
                )
            else:
                out.append(r)
        else:
            out.append(r)
    return out


def _join(*parts: str) -> str:
    return "; ".join(p for p in parts if p)
