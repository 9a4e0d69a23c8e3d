"""The coarse look: a tiny overview of every album photo, searched by sliding.

The hash search finds an original through one of its views (the whole frame,
centred and end squares, inner windows ...). An off-centre crop of 80-95% of
a photo can fall between them all, far in hash from every view, and neither
the search nor its second look proposes the photo. So the index keeps, beside
each file's hash rows, an overview of the same frame: area averages with the
long side ``OVERVIEW_SIZE`` (``_core.overview``, one function for the decode
and the embedded-preview paths). When nothing the hash search proposed fits,
``Overviews.nearest`` shrinks the thumbnail to the largest window of its shape
inside each overview, and to a few smaller ones (``FRACTIONS``), slides each
over every overview (``_core.best_ncc``: normalised cross-correlation at every
whole-pixel placement, the GIL released) and ranks the files by their best
score. The pixel check then decides on the few best, as for any candidate.

An overview is at most ``OVERVIEW_SIZE``² bytes (672 for a 3:2 photo). They
are read from the index only when a thumbnail needs the coarse look
(``IndexOverviews``).
"""

from __future__ import annotations

import os
import pathlib
import sqlite3
import threading
from collections.abc import Container
from contextlib import closing

import numpy as np

from . import _core
from .errors import AlbumIndexError

#: Long side of an overview, in pixels (part of the index format).
OVERVIEW_SIZE: int = _core.OVERVIEW_SIDE
#: Sizes of the thumbnail's window tried, as fractions of the largest window of
#: its shape inside an overview (per side). Crops keep 80-95% of the largest
#: box's area (0.89-0.97 per side); the pixel check looks down to
#: ``verify.MIN_SCALE`` (0.75).
FRACTIONS = (1.0, 0.94, 0.88, 0.82, 0.76)
#: Smallest window slid, in pixels per side: below, too few pixels to rank by.
MIN_WINDOW = 4
#: An album of more overviews than this is ranked in two steps: every overview
#: at half size (2 x 2 block means: a sixteenth of the work per file), then the
#: best ``PREFILTER_KEEP`` of that ranking at full size; at 10^6 photos that
#: takes the coarse look from some 10 s per thumbnail to under one on two
#: cores. A smaller album (the accuracy benchmark's 2,000 photos) is ranked at
#: full size at once.
PREFILTER_KEEP = 4096
#: Albums of more files than this get no coarse look: their overviews would
#: take over 4 GB of memory (768 bytes for a 4:3 photo), and one look over
#: them over 10 s on two cores. Spreading it over workers is future work.
MAX_FILES = 5_000_000


def make(grey: np.ndarray) -> bytes:
    """The overview of an upright grey frame (uint8 ``(H, W)``), row-major bytes of
    ``overview_shape(H, W)``."""
    if grey.dtype != np.uint8:
        grey = np.clip(np.rint(grey), 0, 255).astype(np.uint8)
    return bytes(_core.overview(np.ascontiguousarray(grey)))


def overview_shape(height: int, width: int) -> tuple[int, int]:
    """``(height, width)`` of the overview of a frame of that size."""
    h, w = _core.overview_shape(height, width)
    return int(h), int(w)


class Overviews:
    """Album files' overviews, stacked by shape for the kernel.

    ``groups`` maps an overview shape ``(h, w)`` to the album file indices
    (int64 ``(n,)``) and their pixels (uint8 ``(n, h * w)``, C-contiguous).
    """

    def __init__(self, groups: dict[tuple[int, int], tuple[np.ndarray, np.ndarray]]) -> None:
        self.groups = groups
        self._lock = threading.Lock()
        self._halved: tuple[Overviews, np.ndarray] | None = None
        self._where: tuple[list[tuple[int, int]], np.ndarray, np.ndarray] | None = None

    @classmethod
    def from_rows(
        cls, files: list[int], heights: list[int], widths: list[int], blobs: list[bytes]
    ) -> Overviews:
        """From one overview per album file: ``files[i]``'s frame was
        ``heights[i]`` x ``widths[i]``, ``blobs[i]`` its overview. A blob of the
        wrong length (a damaged row) is left out."""
        by_shape: dict[tuple[int, int], tuple[list[int], list[bytes]]] = {}
        shapes: dict[tuple[int, int], tuple[int, int]] = {}  # an album has few frame sizes
        for file, h, w, blob in zip(files, heights, widths, blobs, strict=True):
            shape = shapes.get((h, w))
            if shape is None:
                shape = shapes[(h, w)] = overview_shape(h, w)
            if not isinstance(blob, bytes) or len(blob) != shape[0] * shape[1]:
                continue
            ids, pixels = by_shape.setdefault(shape, ([], []))
            ids.append(file)
            pixels.append(blob)
        groups = {
            shape: (
                np.array(ids, dtype=np.int64),
                np.frombuffer(b"".join(pixels), dtype=np.uint8).reshape(len(ids), -1),
            )
            for shape, (ids, pixels) in by_shape.items()
        }
        return cls(groups)

    def __len__(self) -> int:
        return sum(len(ids) for ids, _ in self.groups.values())

    def scores(self, grey: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Every file's best correlation with the thumbnail ``grey`` (upright,
        frame trimmed) over ``FRACTIONS`` and placements: ``(files, scores)``."""
        thumb = np.ascontiguousarray(grey, dtype=np.float64)
        aspect = thumb.shape[1] / thumb.shape[0]
        files: list[np.ndarray] = []
        scores: list[np.ndarray] = []
        for (h, w), (ids, pixels) in self.groups.items():
            templates = []
            for fraction in FRACTIONS:
                # The largest window of the thumbnail's shape inside the overview.
                if aspect > w / h:
                    win_w, win_h = w * fraction, w * fraction / aspect
                else:
                    win_h, win_w = h * fraction, h * fraction * aspect
                th, tw = min(h, round(win_h)), min(w, round(win_w))
                if th >= MIN_WINDOW and tw >= MIN_WINDOW:
                    templates.append(np.asarray(_core.area_resize(thumb, th, tw), np.float64))
            files.append(ids)
            scores.append(_core.best_ncc(pixels, h, w, templates))
        if not files:
            return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float32)
        return np.concatenate(files), np.concatenate(scores)

    def halved(self) -> tuple[Overviews, np.ndarray]:
        """These overviews at half size (2 x 2 block means; an odd last row or
        column left out), made once; and the files too narrow to halve
        (a side under ``2 * MIN_WINDOW``), which the first step cannot rank."""
        with self._lock:
            if self._halved is None:
                groups: dict[tuple[int, int], tuple[np.ndarray, np.ndarray]] = {}
                narrow: list[np.ndarray] = [np.zeros(0, dtype=np.int64)]
                for (h, w), (ids, pixels) in self.groups.items():
                    half = (h // 2, w // 2)
                    if min(half) < MIN_WINDOW:
                        narrow.append(ids)
                        continue
                    small = _halve(pixels, h, w)
                    if half in groups:  # another shape halves to this one too
                        small = np.concatenate([groups[half][1], small])
                        ids = np.concatenate([groups[half][0], ids])
                    groups[half] = (ids, small)
                self._halved = (Overviews(groups), np.concatenate(narrow))
            return self._halved

    def subset(self, files: np.ndarray) -> Overviews:
        """The overviews of ``files`` alone."""
        groups = {}
        for shape, (ids, pixels) in self.groups.items():
            mask = np.isin(ids, files)
            if mask.any():
                groups[shape] = (ids[mask], np.ascontiguousarray(pixels[mask]))
        return Overviews(groups)

    def scores_of(self, grey: np.ndarray, files: np.ndarray) -> np.ndarray:
        """``scores`` for ``files`` alone (int64 album file indices), in their
        order; NaN for a file without an overview. Costs what those files
        cost, whatever the album's size."""
        shapes, group, row = self._locate()
        files = np.asarray(files, dtype=np.int64)
        known = (files >= 0) & (files < len(group))
        at = np.where(known, files, 0)
        in_group = np.where(known, group[at], -1)
        out = np.full(len(files), np.nan, dtype=np.float64)
        for g, shape in enumerate(shapes):
            mine = np.flatnonzero(in_group == g)
            if len(mine) == 0:
                continue
            ids, pixels = self.groups[shape]
            rows = row[files[mine]]
            sub = Overviews({shape: (ids[rows], np.ascontiguousarray(pixels[rows]))})
            out[mine] = sub.scores(grey)[1]
        return out

    def _locate(self) -> tuple[list[tuple[int, int]], np.ndarray, np.ndarray]:
        """Each album file's group (index into the shapes listed) and row in it,
        -1 where it has no overview; made once."""
        with self._lock:
            if self._where is None:
                shapes = list(self.groups)
                top = max(
                    (int(ids.max()) for ids, _ in self.groups.values() if len(ids)), default=-1
                )
                group = np.full(top + 1, -1, dtype=np.int32)
                row = np.zeros(top + 1, dtype=np.int64)
                for g, shape in enumerate(shapes):
                    ids = self.groups[shape][0]
                    group[ids] = g
                    row[ids] = np.arange(len(ids))
                self._where = (shapes, group, row)
            return self._where

    def nearest(
        self, grey: np.ndarray, k: int, skip: Container[int] = ()
    ) -> list[tuple[int, float]]:
        """The ``k`` album files (not in ``skip``) that ``grey`` fits best
        somewhere in their overview, best first (ties by file index):
        ``(file, score)``. Past ``PREFILTER_KEEP`` files, only those that the
        half-size overviews rank first are scored at full size."""
        ranked = self
        if len(self) > PREFILTER_KEEP:
            halved, narrow = self.halved()
            files, scores = halved.scores(grey)
            if len(files) > PREFILTER_KEEP:
                files = files[np.argpartition(-scores, PREFILTER_KEEP - 1)[:PREFILTER_KEEP]]
            ranked = self.subset(np.concatenate([files, narrow]))
        files, scores = ranked.scores(grey)
        order = np.lexsort((files, -scores))
        out: list[tuple[int, float]] = []
        for i in order.tolist():
            if int(files[i]) in skip:
                continue
            out.append((int(files[i]), float(scores[i])))
            if len(out) == k:
                break
        return out


class IndexOverviews:
    """The overviews of an index's files, read once, when first asked for
    (thread-safe). ``file_ids`` are the index row ids of the album files in
    their order (``AlbumArrays.file_ids``); rows not among them (changed since
    the arrays were loaded) are left out. The index is opened read-only."""

    def __init__(self, index_path: str, file_ids: np.ndarray) -> None:
        self.index_path = index_path
        self.file_ids = file_ids
        self._lock = threading.Lock()
        self._loaded: Overviews | None = None

    def get(self) -> Overviews:
        with self._lock:
            if self._loaded is None:
                self._loaded = self._read()
            return self._loaded

    def _read(self) -> Overviews:
        ids: list[int] = []
        heights: list[int] = []
        widths: list[int] = []
        blobs: list[bytes] = []
        uri = pathlib.Path(os.path.abspath(self.index_path)).as_uri() + "?mode=ro"
        try:
            with closing(sqlite3.connect(uri, uri=True, timeout=60)) as db:
                for row_id, width, height, blob in db.execute(
                    "SELECT f.id, f.width, f.height, o.pixels FROM files AS f"
                    " JOIN overviews AS o ON o.path = f.path"
                    " WHERE f.status = 'ok' AND f.width > 0 AND f.height > 0"
                ):
                    ids.append(row_id)
                    heights.append(height)
                    widths.append(width)
                    blobs.append(blob)
        except sqlite3.DatabaseError as exc:
            raise AlbumIndexError(
                f"index file {self.index_path} is damaged or gone ({exc}); rerun with --rebuild"
            ) from None
        # Index row ids to album file indices.
        order = np.argsort(self.file_ids, kind="stable")
        known = self.file_ids[order]
        wanted = np.array(ids, dtype=np.int64)
        at = np.minimum(np.searchsorted(known, wanted), max(len(known) - 1, 0))
        found = (known[at] == wanted) if len(known) else np.zeros(len(ids), dtype=bool)
        keep = np.flatnonzero(found).tolist()
        files = order[at].tolist()
        return Overviews.from_rows(
            [files[i] for i in keep],
            [heights[i] for i in keep],
            [widths[i] for i in keep],
            [blobs[i] for i in keep],
        )


def _halve(pixels: np.ndarray, h: int, w: int, chunk: int = 1 << 16) -> np.ndarray:
    """uint8 ``(n, h * w)`` overviews to ``(n, (h // 2) * (w // 2))``: means of
    2 x 2 blocks, rounded half up, a chunk at a time (memory stays small)."""
    h2, w2 = h // 2, w // 2
    out = np.empty((len(pixels), h2 * w2), dtype=np.uint8)
    for at in range(0, len(pixels), chunk):
        block = pixels[at : at + chunk].reshape(-1, h, w)
        # The four pixels of each block added as strided views, in place: a
        # reduction over reshaped axes was 14 times slower at 10^6 overviews.
        sums = block[:, 0 : 2 * h2 : 2, 0 : 2 * w2 : 2].astype(np.uint16)
        sums += block[:, 1 : 2 * h2 : 2, 0 : 2 * w2 : 2]
        sums += block[:, 0 : 2 * h2 : 2, 1 : 2 * w2 : 2]
        sums += block[:, 1 : 2 * h2 : 2, 1 : 2 * w2 : 2]
        sums += 2
        sums >>= 2
        out[at : at + chunk] = sums.reshape(-1, h2 * w2)
    return out
