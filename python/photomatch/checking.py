"""The pixel check of a run: from hash candidates to ``Evidence``.

For each thumbnail (in one orientation) the nearest album files whose
overview the thumbnail fits are decoded again and the thumbnail located in
each (``verify.align``); when none fits, a second look goes further down the
hash ranking (screened the same way), and when that finds none either, a coarse look
takes the files whose overview the thumbnail fits best (``overview``: an
off-centre crop can be far in hash from every view of its original); when the
best fit is not a standard framing (a crop, or a shifted frame), the other
frames of the candidates' bursts are gathered and checked too, since a crop of
one frame fits its siblings about as well. Files that are one capture (an edited copy, a
duplicate) are grouped. Everything measured goes into an ``Evidence`` record
for ``decision.decide``. This module answers nothing itself; it asks
``decision.plausible`` and ``decision.on_frame`` only to know when to look
further.

``Checker`` owns the run's caches (decoded candidates, burst siblings, capture
tests), which are shared by the threads checking thumbnails.
"""

from __future__ import annotations

import math
import os
import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import replace

import numpy as np

from . import verify
from ._core import hamming_topk
from .decision import Policy, on_frame, plausible
from .errors import DecodeError
from .evidence import BY_BURST, BY_COARSE_LOOK, BY_SEARCH, BY_SECOND_LOOK, Evidence, Fit, Group
from .index import AlbumArrays
from .results import Candidate

#: Bytes of decoded candidates kept at most (about 190 KiB each at the check's
#: size, so some 1,400 of them). The same files come up for many thumbnails (a
#: burst's frames, a photo that many crops resemble): on a 2,000-photo test
#: album 2,185 checks decoded 1,330 files, and a cache of 256 files decoded 855
#: of them again.
DECODE_CACHE_BYTES = 256 << 20


class Checker:
    """Gathers the evidence for one thumbnail at a time (thread-safe)."""

    def __init__(
        self,
        loader: Callable[[str], np.ndarray],
        policy: Policy,
        album: AlbumArrays,
        files: dict[str, int],
        search: Callable[[np.ndarray, int], list[Candidate]] | None = None,
        grain_loader: Callable[[str], np.ndarray] = verify.load_grain,
        coarse: Callable[[np.ndarray, np.ndarray, int, set[str]], list[Candidate]] | None = None,
        screen: Callable[[np.ndarray, list[str]], list[float]] | None = None,
    ) -> None:
        self.loader = loader
        #: Decodes an album file near its own size, for the grain test of two
        #: files that look like one capture (rare: edited copies, still bursts).
        self.grain_loader = grain_loader
        self.policy = policy
        self.album = album
        self.files = files  # album file index of every candidate's path
        #: ``search(row, k)``: the album files nearest a hash row, nearest first,
        #: from its ``k`` nearest view rows (for the second look).
        self.search = search
        #: ``coarse(grey, row, k, seen)``: the ``k`` album files not in ``seen``
        #: whose overview the thumbnail ``grey`` fits best, best first, each at
        #: its hash distance from ``row`` (for the coarse look).
        self.coarse = coarse
        #: ``screen(grey, paths)``: how well the thumbnail ``grey`` fits each
        #: file's overview (+inf for a file without one), to spare the check
        #: the decodes of files that cannot fit.
        self.screen = screen
        self._lock = threading.Lock()
        self._decoded: OrderedDict[str, np.ndarray | None] = OrderedDict()
        self._decoded_bytes = 0
        #: ``_within`` answers by (path, bits, rows): a burst's frames come up
        #: for many thumbnails.
        self._near: dict[tuple[str, int, int], tuple[str, ...]] = {}
        #: ``verify.same_photo`` verdicts by pair of paths: the same few
        #: candidates (a burst's frames, a photo and its copies) come up for
        #: many thumbnails.
        self._same: dict[tuple[str, str], bool] = {}

    def evidence(
        self,
        set_name: str,
        query: str,
        grey: np.ndarray,
        row: np.ndarray,
        orientation: str,
        cands: list[Candidate],
    ) -> Evidence:
        """Check ``cands`` (nearest first) for the thumbnail ``grey`` (already
        turned to ``orientation``; ``row`` its hash row)."""
        p = self.policy
        cands = [c for c in cands if c.distance <= p.hash_max]
        ranked = tuple((c.path, c.distance, c.view) for c in cands)
        q = verify.Thumbnail(grey)
        # The nearest few always (a heavy crop can rank behind a lucky stranger),
        # then any others close to the best.
        near = [
            (i, c)
            for i, c in enumerate(cands[: p.fine_candidates])
            if i < p.fine_always or c.distance <= cands[0].distance + p.fine_window
        ]
        worth = self._worth_a_look(grey, near, p.search_overview)
        fits = self._check(q, [(c, i, BY_SEARCH) for i, c in worth])
        groups = self._group(fits)
        if not any(plausible(g, p) for g in groups) and orientation == "upright" and self.search:
            seen = {c.path for _, c in near}
            further = [
                (i, c)
                for i, c in enumerate(self.search(row, p.second_look_rows))
                if c.distance <= p.second_look_bits and c.path not in seen
            ][: p.second_look]
            worth = self._worth_a_look(grey, further, p.second_look_overview)
            found = self._check(q, [(c, i, BY_SECOND_LOOK) for i, c in worth])
            kept = [f for f in found if plausible(Group((f,)), p)]
            if kept:
                groups = self._group(fits + kept)
                fits = fits + kept
            elif self.coarse and p.coarse_look > 0:
                seen |= {c.path for _, c in further}
                coarse = self.coarse(grey, row, p.coarse_look, seen)
                found = self._check(q, [(c, -1, BY_COARSE_LOOK) for c in coarse])
                kept = [f for f in found if plausible(Group((f,)), p)]
                if kept:
                    groups = self._group(fits + kept)
                    fits = fits + kept
        live = sorted((g for g in groups if plausible(g, p)), key=lambda g: -g.fit.ncc)
        if live and not on_frame(live[0].fit, p):
            close = [g for g in live if g.fit.ncc >= live[0].fit.ncc - p.ncc_margin]
            frames = self._burst_frames([g.primary.path for g in close], fits)
            if frames:
                extra = [
                    (Candidate(path, self._distance(row, path), "full"), -1, BY_BURST)
                    for path in frames
                ]
                fits = fits + self._check(q, extra)
            reached = self._reach_frames(q, grey, row, fits)
            if frames or reached:
                fits = fits + reached
                groups = self._group(fits)
        return Evidence(set_name, query, orientation, ranked, self._contrasted(q, groups))

    def _worth_a_look(
        self, grey: np.ndarray, files: list[tuple[int, Candidate]], bar: float
    ) -> list[tuple[int, Candidate]]:
        """The ``files`` whose overview ``grey`` fits at ``bar`` or better (all
        of them without a ``screen``): the others are not decoded. A file that
        is a right answer fits its overview far above the bars (``Policy``),
        and the strangers that the hash search proposes mostly far below."""
        if self.screen is None or not files or bar <= -1.0:
            return files  # no screen, or a bar every correlation passes
        scores = self.screen(grey, [c.path for _, c in files])
        return [f for f, s in zip(files, scores, strict=True) if s >= bar]

    def _contrasted(self, q: verify.Thumbnail, groups: list[Group]) -> tuple[Group, ...]:
        """``groups`` with ``Group.contrast`` measured among the best few plausible
        ones: each against every other, keeping its lowest (+inf alone), and
        ``Group.unexplained`` against all the others at once."""
        p = self.policy
        live = sorted((g for g in groups if plausible(g, p)), key=lambda g: -g.fit.ncc)
        best = live[0].fit.ncc if live else 0.0
        close = [g for g in live if g.fit.ncc >= best - p.contrast_margin][: p.contrast_groups]
        windows: list[tuple[np.ndarray, np.ndarray] | None] = []
        for g in close:
            grey = self._grey(g.best.path)
            windows.append(None if grey is None else verify.fitted_window(q, grey, g.fit))
        lowest: list[tuple[float, float]] = [(math.inf, math.inf)] * len(close)
        for i, a in enumerate(windows):
            for j in range(i + 1, len(close)):
                b = windows[j]
                if a is None or b is None or a[0].shape != b[0].shape:
                    continue  # a decode failed, or the pair was compared at other sizes
                side, sep = verify.contrast(a[0], a[1], b[1])
                lowest[i] = min(lowest[i], (side, sep))
                lowest[j] = min(lowest[j], (-side, sep))
        rest: list[float] = []
        for i, a in enumerate(windows):
            if a is None:
                rest.append(math.nan)
                continue
            rivals = [
                b[1]
                for j, b in enumerate(windows)
                if j != i and b is not None and b[0].shape == a[0].shape
            ]
            rest.append(verify.unexplained(a[0], a[1], rivals))
        measured = {
            id(g): (side, sep, left)
            for g, (side, sep), left in zip(close, lowest, rest, strict=True)
        }
        return tuple(
            replace(
                g,
                contrast=measured[id(g)][0],
                separation=measured[id(g)][1],
                unexplained=measured[id(g)][2],
            )
            if id(g) in measured
            else g
            for g in groups
        )

    def _check(self, q: verify.Thumbnail, todo: list[tuple[Candidate, int, str]]) -> list[Fit]:
        """Align the thumbnail in each candidate that decodes."""
        fits = []
        for cand, rank, how in todo:
            grey = self._grey(cand.path)
            if grey is None:
                continue
            fit = verify.align(q, grey)
            # Burst siblings matter only for a fit that could be an answer.
            close = fit.ncc >= min(self.policy.ncc_min, self.policy.crop_ncc_min)
            siblings = len(self._burst_siblings(cand.path)) if close else 0
            fits.append(
                Fit(
                    cand.path, cand.distance, cand.view, rank, how, fit, siblings, _mtime(cand.path)
                )
            )
        return fits

    def _group(self, fits: list[Fit]) -> list[Group]:
        """Fits of one capture together (``decision`` picks each group's primary).
        A file joins a group only when it is one capture with every file already
        in it: "one capture" is not transitive at its margins (frame 2 of a still
        burst can pass for frame 1, and frame 3 for frame 2, while 1 and 3 do
        not), and a frame let in through a neighbour would become a variant."""
        groups: list[list[Fit]] = []
        for f in sorted(fits, key=lambda f: -f.alignment.ncc):
            for g in groups:
                if all(self.same_capture(m.path, f.path) for m in g):
                    g.append(f)
                    break
            else:
                groups.append([f])
        return [Group(tuple(g)) for g in groups]

    def same_capture(self, a: str, b: str) -> bool:
        """Whether album files ``a`` and ``b`` are one capture
        (``verify.capture_verdict`` at the check's size, then the grain test
        near their own size), asked once per pair in a run."""
        key = (a, b) if a < b else (b, a)
        with self._lock:
            known = self._same.get(key)
        if known is None:
            ga, gb = self._grey(key[0]), self._grey(key[1])
            verdict = (
                False
                if ga is None or gb is None
                else verify.capture_verdict(ga, gb, self.policy.variant_detail_min)
            )
            # Alike at the check's size (True), or too plain there to tell (None):
            # the grain decides; in the second case it must say "one capture".
            known = verdict is not False and self._same_grain(*key, told=verdict is True)
            with self._lock:
                if len(self._same) >= 1 << 16:
                    self._same.clear()
                self._same[key] = known
        return known

    def _same_grain(self, a: str, b: str, told: bool = True) -> bool:
        """Two files that look like one capture carry one noise
        (``verify.grain_detail``); two frames of a still burst do not. Where the
        grain can't be told either (no tile with detail, a file that no longer
        decodes), the check's own verdict stands: one capture when ``told``,
        else two (frames kept apart are a question for the reviewer, frames
        grouped are a wrong answer)."""
        try:
            grain = verify.grain_detail(self.grain_loader(a), self.grain_loader(b))
        except (DecodeError, OSError):
            return told
        if math.isnan(grain):
            return told
        return grain >= self.policy.grain_detail_min

    def _burst_siblings(self, path: str) -> tuple[str, ...]:
        """Other album files whose full frame is within ``burst_bits`` of ``path``'s."""
        return self._within(path, self.policy.burst_bits, self.policy.rows_per_query)

    def _burst_frames(self, paths: list[str], fits: list[Fit]) -> list[str]:
        """Frames of the bursts of ``paths`` not checked yet. Siblings of
        siblings too: a dark or flat frame hashes loosely, and the frame between
        two found ones can sit farther from either than they sit from each other."""
        done = {f.path for f in fits}
        frames: set[str] = set()
        frontier = list(paths)
        while frontier and len(frames) < self.policy.max_burst_frames:
            new = set(self._burst_siblings(frontier.pop())) - frames - done
            frames |= new
            frontier += sorted(new)
        return sorted(frames)[: self.policy.max_burst_frames]

    def _reach_frames(
        self, q: verify.Thumbnail, grey: np.ndarray, row: np.ndarray, fits: list[Fit]
    ) -> list[Fit]:
        """Fits in the files within ``burst_reach_bits`` of the frame of each
        fit close to the best (screened on their overviews), then of each of
        those that fits as closely, up to ``max_burst_frames`` files: the frames
        of a pan that ``burst_bits`` does not reach."""
        p = self.policy
        if p.burst_reach_bits <= p.burst_bits:
            return []

        def close(found: list[Fit]) -> list[str]:
            live = [f for f in found if plausible(Group((f,)), p)]
            return [f.path for f in live if f.alignment.ncc >= best - p.ncc_margin]

        best = max((f.alignment.ncc for f in fits if plausible(Group((f,)), p)), default=math.nan)
        done = {f.path for f in fits}
        frontier = close(fits)
        reached: list[Fit] = []
        tried = 0
        while frontier and tried < p.max_burst_frames:
            within = self._within(frontier.pop(0), p.burst_reach_bits, 4 * p.rows_per_query)
            near = [x for x in within if x not in done][: p.max_burst_frames - tried]
            done |= set(near)
            tried += len(near)
            cands = [(-1, Candidate(x, self._distance(row, x), "full")) for x in near]
            worth = self._worth_a_look(grey, cands, p.search_overview)
            found = self._check(q, [(c, -1, BY_BURST) for _, c in worth])
            reached += found
            frontier += close(found)
        return reached

    def _within(self, path: str, bits: int, rows: int) -> tuple[str, ...]:
        """Other album files with a view within ``bits`` of ``path``'s full
        frame, nearest first, among its ``rows`` nearest view rows."""
        key = (path, bits, rows)
        with self._lock:
            known = self._near.get(key)
            file = self.files.get(path)
        if known is not None:
            return known
        if file is None:
            return ()
        album = self.album
        start = int(np.searchsorted(album.row_file, file))  # view 0 comes first
        k = min(rows, album.hashes.shape[0])
        nearest, dists = hamming_topk(album.hashes[start : start + 1], album.hashes, k)
        out: list[str] = []
        for r, d in zip(nearest[0].tolist(), dists[0].tolist(), strict=True):
            if d > bits:
                break
            other = int(album.row_file[r])
            name = album.path(other)
            if other != file and name not in out:
                out.append(name)
                with self._lock:
                    self.files.setdefault(name, other)
        found = tuple(out)
        with self._lock:
            self._near[key] = found
        return found

    def _distance(self, row: np.ndarray, path: str) -> int:
        """The thumbnail's hash distance to ``path``'s closest view."""
        with self._lock:
            file = self.files[path]
        return self.album.closest_view(row, file)[0]

    def _grey(self, path: str) -> np.ndarray | None:
        with self._lock:
            if path in self._decoded:
                self._decoded.move_to_end(path)
                return self._decoded[path]
        try:
            grey = self.loader(path)
        except (DecodeError, OSError):
            grey = None
        with self._lock:
            if path not in self._decoded:
                self._decoded[path] = grey
                self._decoded_bytes += 0 if grey is None else grey.nbytes
            while self._decoded_bytes > DECODE_CACHE_BYTES and len(self._decoded) > 1:
                _, old = self._decoded.popitem(last=False)  # the least recently used
                self._decoded_bytes -= 0 if old is None else old.nbytes
        return grey


def _mtime(path: str) -> int:
    try:
        return os.stat(path).st_mtime_ns
    except OSError:
        return 0
