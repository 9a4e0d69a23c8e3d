"""The two jobs behind the CLI, as plain functions: index an album, match thumbnails."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Sequence

import numpy as np

from . import matching, verify
from .errors import UsageError
from .index import AlbumIndex, IndexReport, is_inside
from .results import MatchRun, Skipped, results_paths, write_csv, write_json


def index_album(
    album: str,
    index_path: str | None = None,
    rebuild: bool = False,
    progress: bool = True,
    jobs: int | None = None,
    previews: bool = True,
) -> IndexReport:
    """Build or refresh the index of ``album``; returns what was done.

    ``previews=False`` hashes every image from its own pixels, never from an
    embedded EXIF preview (see ``AlbumIndex.update``).
    """
    with AlbumIndex(album, index_path, rebuild=rebuild) as index:
        return index.update(progress=progress, jobs=jobs, previews=previews)


def match_album(
    album: str,
    thumbs: Sequence[str],
    out: str | None = None,
    index_path: str | None = None,
    policy: matching.Policy = matching.DEFAULT_POLICY,
    rebuild: bool = False,
    progress: bool = True,
    jobs: int | None = None,
    previews: bool = True,
) -> tuple[MatchRun, IndexReport]:
    """Index ``album`` (incrementally), match every thumbnail folder (one set each).

    When ``out`` is given, writes ``out/matches.csv`` and ``out/matches.json``.
    ``previews`` is passed to the index update; answers are always confirmed on
    the album's real pixels, whatever was hashed.
    """
    if not os.path.isdir(album):
        raise UsageError(f"album folder not found: {album}")
    if not thumbs:
        raise UsageError("give at least one thumbnail folder")
    if out is not None:
        _check_out(out, album)
    sets = matching.name_sets(thumbs)
    # Hash the thumbnails first: a bad THUMBS folder fails fast, before a long index.
    queries, skipped = matching.hash_queries(sets, progress=progress, jobs=jobs)
    with AlbumIndex(album, index_path, rebuild=rebuild) as index:
        report = index.update(progress=progress, jobs=jobs, previews=previews)
        arrays = index.load()
    loader = _TimedLoader()
    results = matching.match(arrays, queries, policy, progress=progress, jobs=jobs, loader=loader)
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
    if out is not None:
        csv_path, json_path = results_paths(out)
        write_csv(run, csv_path)
        write_json(run, json_path)
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


def _check_out(out: str, album: str) -> None:
    if os.path.isdir(album) and is_inside(out, album):
        raise UsageError(f"--out must not be inside the album: {out}")
    try:
        os.makedirs(out, exist_ok=True)
    except OSError as exc:
        raise UsageError(f"cannot create --out folder {out}: {exc.strerror}") from None
    if not os.access(out, os.W_OK | os.X_OK):
        raise UsageError(f"--out folder is not writable: {out}")
