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
    #: Files farther than this are never candidates. Unrelated photos sit at
    #: 64 +- 6 bits; a crop that was also colour-shifted, sharpened and saved at
    #: JPEG q25-35 reached 41 bits from its original on the calibration album
    #: (corpus A), and the pixel check, not this bound, keeps out strangers
    #: (44 added no false match there or on the corpus A+B album).
    hash_max: int = 44
    #: Search the rotations too when the upright best is farther than this.
    rotate_above: int = 20
    #: Files checked on pixels: within this many bits of the best, at most ``fine_candidates``.
    fine_window: int = 16
    fine_candidates: int = 8
    #: ... and the nearest few whatever their distance: a flat, low-contrast photo
    #: hashes loosely (a plain downscale of a burst frame sat 28 bits from its
    #: original, 4th nearest, behind two siblings; corpus A calibration album).
    fine_always: int = 4
    #: When none of the checked candidates fits, up to ``second_look`` more files
    #: within ``second_look_bits`` are checked, from the ``second_look_rows``
    #: nearest view rows (upright only): a nearly featureless or colour-shifted
    #: crop can rank far behind photos that share its one gradient, and a heavy
    #: crop can land just past ``hash_max``. Checking many more files
    #: gives strangers more chances to fit by luck (two reached 0.88 on the seed-13
    #: album, both as crops pressed against the smallest scale searched), so such
    #: a find counts only when it fits with at least ``second_look_ncc``,
    #: ``second_look_gap`` above any other candidate, at a scale inside the
    #: searched range (``verify.MIN_SCALE`` or more). On the four benchmark albums
    #: (4,465 files checked this way) strangers inside that range reached 0.835
    #: (frames of a found original's burst, 0.90); the five originals found fit
    #: at 0.91 to 0.99, one of them 43rd in the ranking, two at 45 bits.
    second_look: int = 48
    second_look_rows: int = 512
    second_look_bits: int = 46
    second_look_ncc: float = 0.90
    second_look_gap: float = 0.05
    #: Best correlation needed for any answer but ``unmatched``.
    ncc_min: float = 0.85
    #: ... and for a crop found anywhere (not a canonical framing), which has
    #: more freedom to fit by chance.
    crop_ncc_min: float = 0.88
    #: ... and whose fine detail correlates at least this well (``verify.Alignment.detail``):
    #: two strangers fitted as crops at 0.90 and 0.92 on benchmark albums (seeds
    #: 17 and 19: a brick wall over grass in a canyon, a sea under a sky in a
    #: bee) with detail at 0.03 and 0.05, while every crop matched rightly on
    #: the six benchmark albums had 0.6 or more.
    crop_detail_min: float = 0.3
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
    #: Frames of one burst gathered at most for a crop that fits them alike.
    max_burst_frames: int = 16
    #: Exposure, for a crop that fits every frame of a burst alike (``verify.Alignment``:
    #: grey levels of window mean minus thumbnail mean). A frame agrees with the
    #: thumbnail within max(levels, ratio x brightness); it clearly differs beyond
    #: the ``exposure_differ_*`` pair. Calibrated on two albums of corpus A only
    #: (1,000 photos each, seeds 1 and 3; README "Accuracy"), on 336 true frames of
    #: thumbnails whose tone was left alone: the thumbnail's own resize and JPEG
    #: move its mean by up to about a grey level (p99 0.87 of the agreement
    #: tolerance, one frame at 1.04), and never by half of the difference
    #: tolerance (at most 0.42 of it), so the true frame never "clearly differs".
    #: Frames of one burst lie 0-6% apart.
    exposure_agree_levels: float = 1.0
    exposure_agree_ratio: float = 0.006
    exposure_differ_levels: float = 2.5
    exposure_differ_ratio: float = 0.015
    #: Answer ``matched`` for the one frame of a burst that agrees in exposure
    #: while all others clearly differ. Off: a burst's frames lie within a few
    #: percent of each other and the measure is good to about a grey level, so a
    #: crop of a frame missing from the album often agrees with one remaining
    #: frame. On the benchmark albums (corpus A seed 3, A+B seed 7) turning it
    #: on settled 3 more true frames and matched 1 crop of a missing frame; a
    #: simulation of exposures 3% apart says such answers are right about four
    #: times in five.
    exposure_picks_frame: bool = False
    #: A difference is another exposure of the scene, not an edit, when it is
    #: within this share of the brightness and ``tone_shape`` is within
    #: ``exposure_shape_max`` grey levels (off-centre crops of true frames above:
    #: at most 3.1; colour-shifted thumbnails mostly far above).
    exposure_max: float = 0.08
    exposure_shape_max: float = 4.0
    #: Thumbnails of one run come out of one service's resizer, whose rounding
    #: moves every thumbnail's mean alike, and photomatch's own candidate decode
    #: adds its own (on the benchmark albums, made with libvips' 8-bit resize,
    #: candidates read 0.14 to 0.29 grey levels darker than their thumbnails).
    #: That offset is measured as the median exposure of the run's confident
    #: canonical matches whose tone is a pure gain, once at least this many are
    #: found, and taken off before burst frames are compared
    #: (``Checker.calibrate_exposure``).
    exposure_offset_samples: int = 10
    #: Candidates kept per thumbnail in the results.
    max_candidates: int = 5
    #: Glob on album paths picking a variant group's primary (e.g. ``*/edited/*``).
    prefer: str | None = None


DEFAULT_POLICY = Policy()
#: How the note of an answer that compared crops of a burst's frames begins.
BURST_CROP = "a crop of one frame of a burst"
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
        search: Callable[[np.ndarray, int], list[Candidate]] | None = None,
    ) -> None:
        self.loader = loader
        self.policy = policy
        self.album = album
        self.files = files  # album file index of every candidate's path
        #: ``search(row, k)``: the album files nearest a hash row, nearest first,
        #: from its ``k`` nearest view rows (for the second look).
        self.search = search
        self._cache: dict[str, np.ndarray | None] = {}
        self._lock = threading.Lock()
        #: Grey levels taken off every measured exposure (see ``calibrate_exposure``).
        self.exposure_offset = 0.0
        self._plain_exposures: list[float] = []
        self._by_exposure: set[str] = set()
        #: Verdicts of ``verify.same_photo`` by pair of paths: the same few
        #: candidates (a burst's frames, a photo and its copies) come up for
        #: many thumbnails, and each verdict costs an alignment.
        self._same: dict[tuple[str, str], bool] = {}

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

    def _frames(
        self,
        q: verify.Thumbnail,
        close: list[list[_Checked]],
        groups: list[list[_Checked]],
        cands: list[Candidate],
    ) -> list[list[_Checked]]:
        """The other frames of the close groups' bursts that fit the crop
        plausibly, one group each: those checked already, the rest aligned now
        (a burst has a few frames; the hash search may have ranked some out)."""
        p = self.policy
        done = _all(close)
        # Siblings of siblings too: a dark or flat frame hashes loosely, and
        # the frame between two that are found can sit farther from either
        # than they sit from each other (seed-17 benchmark album).
        frames: set[str] = set()
        frontier = [g[0].candidate.path for g in close]
        while frontier and len(frames) < p.max_burst_frames:
            new = self._burst_siblings(frontier.pop(), done) - frames
            frames |= new
            frontier += sorted(new)
        found = {c.path: c for c in cands}
        out = []
        for path in sorted(frames):
            group = next((g for g in groups if path in _paths(g)), None)
            if group is None:
                grey = self._grey(path)
                if grey is None:
                    continue
                cand = found.get(path, Candidate(path, -1, "full"))
                group = [_Checked(cand, verify.align(q, grey), grey)]
            if not any(g is group for g in out) and _paths(group).isdisjoint(done):
                if _plausible(_fit(group), p):
                    out.append(group)
        return out

    def calibrate_exposure(self) -> bool:
        """Set ``exposure_offset`` from the confident matches seen so far: the
        median exposure of canonical matches whose tone is a pure gain. True when
        it was set (enough matches), so that answers that compared burst frames
        by exposure (``decided_by_exposure``) are worth deciding again."""
        with self._lock:
            samples = list(self._plain_exposures)
        if len(samples) < self.policy.exposure_offset_samples:
            return False
        self.exposure_offset = float(np.median(samples))
        return True

    def decided_by_exposure(self, query: QueryImage) -> bool:
        """The thumbnail's answer compared burst frames by exposure."""
        with self._lock:
            return query.path in self._by_exposure

    def _second_look(
        self, q: verify.Thumbnail, row: np.ndarray, seen: set[str], checked: list[_Checked]
    ) -> list[_Checked]:
        """Files further down the hash ranking, checked on pixels when none of the
        nearest fits: the one that fits clearly, with its variants (``Policy.second_look``),
        or nothing."""
        p = self.policy
        assert self.search is not None
        more = [
            c
            for c in self.search(row, p.second_look_rows)
            if c.distance <= p.second_look_bits and c.path not in seen
        ][: p.second_look]
        further = sorted(self._check(q, more), key=lambda m: -m.alignment.ncc)
        if not further:
            return []
        best, fit = further[0], further[0].alignment
        if not _plausible(fit, p) or fit.ncc < p.second_look_ncc:
            return []
        # Only candidates about as close can be its variants (an edited copy).
        near = [m for m in further[1:] if m.alignment.ncc >= fit.ncc - p.second_look_gap]
        variants = [m for m in near if self._same_photo(best, m)]
        others = [m.alignment.ncc for m in checked + further[1:] if m not in variants]
        if fit.ncc - max(others, default=-1.0) < p.second_look_gap:
            return []
        return [best, *variants]

    def _same_photo(self, a: _Checked, b: _Checked) -> bool:
        """``verify.same_photo`` of two candidates, asked once per pair of paths in
        a run and in one order (the relation is symmetric; the alignment nearly so)."""
        if b.candidate.path < a.candidate.path:
            a, b = b, a
        key = (a.candidate.path, b.candidate.path)
        with self._lock:
            known = self._same.get(key)
        if known is None:
            known = verify.same_photo(a.grey, b.grey)
            with self._lock:
                if len(self._same) >= 1 << 16:
                    self._same.clear()
                self._same[key] = known
        return known

    def _ranked_groups(self, checked: list[_Checked]) -> list[list[_Checked]]:
        """Variant groups of the checked candidates, plausible ones first, each part
        by correlation."""
        p = self.policy
        groups = _group_variants(checked, p.prefer, self._same_photo)
        groups.sort(key=lambda g: -_fit(g).ncc)
        return [g for g in groups if _plausible(_fit(g), p)] + [
            g for g in groups if not _plausible(_fit(g), p)
        ]

    def _check(self, q: verify.Thumbnail, cands: list[Candidate]) -> list[_Checked]:
        """Align the thumbnail ``q`` in each candidate that decodes."""
        checked = []
        for c in cands:
            grey = self._grey(c.path)
            if grey is not None:
                checked.append(_Checked(c, verify.align(q, grey), grey))
        return checked

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
        q = verify.Thumbnail(turn(query.grey))
        # The nearest few always (a heavy crop can rank behind a lucky stranger),
        # then any others close to the best.
        near = [
            c
            for i, c in enumerate(cands[: p.fine_candidates])
            if i < p.fine_always or c.distance <= cands[0].distance + p.fine_window
        ]
        checked = self._check(q, near)
        groups = self._ranked_groups(checked)
        upright = orientation == ORIENTATIONS[0][0]
        if (not groups or not _plausible(_fit(groups[0]), p)) and upright and self.search:
            further = self._second_look(q, query.row, {c.path for c in near}, checked)
            if further:
                checked += further
                groups = self._ranked_groups(checked)
                cands = cands + [m.candidate for m in further]
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

        def answer(status: str, shown: tuple[Candidate, ...], why: str = "") -> QueryResult:
            matched = status == MATCHED
            first = shown[0]
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

        if _another_frame(close, limit, p):
            return answer(
                UNMATCHED,
                (listed + rest)[: p.max_candidates],
                "closest fits only shifted: another frame of a burst?",
            )
        if not top.canonical and top.scale < p.near_full_scale:
            # A crop found at a free position fits every frame of a burst alike
            # (all close groups are such crops: a canonical or nearly full-size
            # fit would rank first). Exposure may still single one frame out.
            rivals = close + self._frames(q, close, groups, cands)
            with self._lock:
                self._by_exposure.add(query.path)
            status, ranked, why = _by_exposure(rivals, p, self.exposure_offset)
            shown = tuple(_as_candidate(g) for g in ranked)
            shown += tuple(_as_candidate(g) for g in groups if not any(g is r for r in rivals))
            shown += tuple(c for c in rest if c.path not in _all(rivals))
            if status == AMBIGUOUS:
                shown = shown[: len(ranked)]
            return answer(status, shown[: p.max_candidates], why)
        if not single:
            return answer(AMBIGUOUS, listed[: len(close)])
        plain = _group_exposure(close[0], p)
        if top.canonical and _exposure_only(plain, p):
            with self._lock:
                self._plain_exposures.append(plain.exposure)
        return answer(MATCHED, (listed + rest)[: p.max_candidates])


def _rank(fit: verify.Alignment, p: Policy) -> tuple:
    """Order of close candidates: canonical framings, then nearly full-size fits
    by how far off the canonical spot they sit, then crops by exposure agreement
    and correlation."""
    if fit.canonical:
        return (0, -fit.ncc)
    if fit.scale >= p.near_full_scale:
        return (1, fit.residual)
    # Crops of a burst's frames fit alike; ``_by_exposure`` settles them.
    return (2, -fit.ncc)


def _exposure_score(fit: verify.Alignment, p: Policy) -> float:
    """How far the window's exposure is from the thumbnail's, in units of the
    agreement tolerance (within 1: agrees); inf when it can't be told."""
    if not np.isfinite(fit.exposure):
        return float("inf")
    tol = max(p.exposure_agree_levels, p.exposure_agree_ratio * fit.brightness)
    return abs(fit.exposure) / tol


def _exposure_differs(fit: verify.Alignment, p: Policy) -> bool:
    """The window is clearly another exposure than the thumbnail."""
    tol = max(p.exposure_differ_levels, p.exposure_differ_ratio * fit.brightness)
    return np.isfinite(fit.exposure) and abs(fit.exposure) >= tol


def _exposure_only(fit: verify.Alignment, p: Policy) -> bool:
    """The tone relation is a small pure gain, as between frames of a burst,
    not an edit (a colour, gamma or contrast change)."""
    return (
        np.isfinite(fit.exposure)
        and abs(fit.exposure) <= p.exposure_max * fit.brightness
        and fit.tone_shape <= p.exposure_shape_max
    )


def _group_exposure(group: list[_Checked], p: Policy) -> verify.Alignment:
    """The member of a variant group whose exposure is closest to the thumbnail's
    (an edited copy sits beside its original)."""
    return min((m.alignment for m in group), key=lambda a: _exposure_score(a, p))


def _by_exposure(
    rivals: list[list[_Checked]], p: Policy, offset: float = 0.0
) -> tuple[str, list[list[_Checked]], str]:
    """Settle crops that fit alike (frames of a burst, or one lone frame) by exposure,
    measured less ``offset`` grey levels (``Checker.calibrate_exposure``).

    A lone rival (a photo with no burst, or the last frame of one) is matched
    when it agrees with the thumbnail's exposure, or when the thumbnail's tone
    was edited (not a small pure gain); several rivals stay ambiguous, ranked
    (with ``Policy.exposure_picks_frame``: matched when exactly one agrees and
    every other clearly differs). Unmatched when none agrees and every one
    differs by a small pure gain: the crop is of a frame that is not in the
    album. Returns the status, the rivals best first (by exposure where the
    tone relation is a pure gain, else by correlation) and the note.
    """
    fits = [
        replace(f, exposure=f.exposure - offset) for f in (_group_exposure(g, p) for g in rivals)
    ]
    agree = [i for i, f in enumerate(fits) if _exposure_score(f, p) <= 1.0]
    differ = [i for i, f in enumerate(fits) if _exposure_differs(f, p)]
    gain = [i for i, f in enumerate(fits) if _exposure_only(f, p)]
    order = sorted(
        range(len(rivals)),
        key=lambda i: (
            i not in gain,
            _exposure_score(fits[i], p) if i in gain else 0.0,
            -_fit(rivals[i]).ncc,
        ),
    )
    ranked = [rivals[i] for i in order]
    lone = len(rivals) == 1
    if len(agree) == 1 and len(differ) == len(rivals) - 1 and (lone or p.exposure_picks_frame):
        return MATCHED, ranked, "" if lone else "the one frame of the burst exposed alike"
    if not agree and len(differ) == len(rivals) and len(gain) == len(rivals):
        off = fits[order[0]].exposure / max(fits[order[0]].brightness, 1.0)
        why = (
            f"fits as a crop, but exposed {off:+.1%} off: another frame of a burst?"
            if lone
            else "a crop of a burst frame exposed like none: another frame?"
        )
        return UNMATCHED, ranked, why
    if lone and not gain:
        return MATCHED, ranked, ""  # a tone-edited crop of a photo with no burst
    if lone:
        return AMBIGUOUS, ranked, "fits as a crop, exposed a little off: another frame of a burst?"
    if len(agree) == 1 and len(differ) == len(rivals) - 1:
        return AMBIGUOUS, ranked, f"{BURST_CROP}: one exposed alike"
    return AMBIGUOUS, ranked, f"{BURST_CROP}: any frame fits"


def _another_frame(close: list[list[_Checked]], limit: float, p: Policy) -> bool:
    """The thumbnail shows a burst frame that is not in the album: no close
    candidate sits on a canonical framing, and one fits nearly full size but
    off the canonical spot, as the shown frame's neighbours fit it. Frames
    farther along the pan fit only as smaller crops, sometimes a little better:
    that does not make the thumbnail a crop of theirs, since frames of a burst
    are one size and a crop of one fits the others at its own scale or
    smaller, never nearly full size."""
    if any(_fit(g).canonical for g in close):
        return False
    return any(_shifted(_fit(g), limit, p) for g in close)


def _shifted(fit: verify.Alignment, limit: float, p: Policy) -> bool:
    """Fits nearly full size, yet off the canonical spot by more than ``limit``."""
    return fit.scale >= p.near_full_scale and fit.residual > limit


def _plausible(fit: verify.Alignment, p: Policy) -> bool:
    """Close enough to be an answer at all. A crop that fits best below the
    smallest scale searched (the fine search reaches a little under it) is a
    stranger's fit: a real crop that small is outside what photomatch looks
    for, while a picture of a few large bright and dark areas can fit a part of
    an unrelated one that way (0.90 on a fresh benchmark album, seed 17)."""
    if fit.canonical or fit.scale >= p.near_full_scale:
        return fit.ncc >= p.ncc_min
    return (
        fit.ncc >= p.crop_ncc_min
        and fit.scale >= verify.MIN_SCALE - 1e-9
        and not fit.detail < p.crop_detail_min  # NaN (not measured) passes
    )


def _fit(group: list[_Checked]) -> verify.Alignment:
    """A variant group's best alignment."""
    return max((m.alignment for m in group), key=lambda a: a.ncc)


def _paths(group: list[_Checked]) -> set[str]:
    return {m.candidate.path for m in group}


def _all(groups: list[list[_Checked]]) -> set[str]:
    return {m.candidate.path for g in groups for m in g}


def _as_candidate(group: list[_Checked]) -> Candidate:
    """A variant group as one candidate: its primary, best score, closest distance."""
    primary = group[0]
    return replace(
        primary.candidate,
        distance=min(m.candidate.distance for m in group),
        score=round(_fit(group).ncc, 4),
        variants=tuple(m.candidate.path for m in group[1:]),
    )


def _group_variants(
    checked: list[_Checked], prefer: str | None, same: Callable[[_Checked, _Checked], bool]
) -> list[list[_Checked]]:
    """Group candidates that are the same photo (``same``); each group's primary first."""
    groups: list[list[_Checked]] = []
    for c in sorted(checked, key=lambda c: -c.alignment.ncc):
        for g in groups:
            if same(g[0], c):
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
            # Not for a crop that fits several frames of a burst alike: its own
            # frame may be missing from the album, or from the candidates.
            if (
                len(free) == 1
                and free[0] is top
                and not r.note.startswith(("fits", BURST_CROP))
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
