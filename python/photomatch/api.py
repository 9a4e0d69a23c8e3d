"""The two jobs behind the CLI, as plain functions: index an album, match thumbnails.

A match run ends by completing the variant groups of its answers
(``variants.complete``): the pixel check groups only the files it compared
with the thumbnail, so the other copies of a photo (200 duplicates of one
picture, an edited copy ranked out) are looked up there.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence

import numpy as np
import pyvips

from . import matching, outdir, review, variants, verify
from .decision import DEFAULT_POLICY, Policy
from .errors import UsageError
from .index import AlbumIndex, IndexReport
from .results import MatchRun, SetInfo, Skipped


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
    # With a page to publish, the check's decodes make the candidates' previews too.
    made = None if out is None else review.MadePreviews()
    try:
        run, report = _match(
            album,
            sets,
            queries,
            skipped,
            index_path,
            policy,
            rebuild,
            progress,
            jobs,
            previews,
            made,
        )
        published = None if out is None else outdir.publish(run, out, jobs, progress, made)
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
    made: review.MadePreviews | None = None,
) -> tuple[MatchRun, IndexReport]:
    with AlbumIndex(album, index_path, rebuild=rebuild) as index:
        report = index.update(progress=progress, jobs=jobs, previews=previews)
        arrays = index.load()
    loader = _TimedLoader(made)
    results = matching.match(arrays, queries, policy, progress=progress, jobs=jobs, loader=loader)
    results = variants.complete(arrays, results, policy, loader, progress=progress, jobs=jobs)
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
    """``verify.load_candidate``, counting its calls and their time (thread-safe),
    keeping each file's preview in ``made`` when given. The time is the
    decodes' own (``MatchRun.pixel_check_s``): making a preview is left out."""

    def __init__(self, made: review.MadePreviews | None = None) -> None:
        self.calls = 0
        self.seconds = 0.0
        self.made = made
        self._lock = threading.Lock()

    def __call__(self, path: str) -> np.ndarray:
        keep = self.made.keeper(path) if self.made else None
        aside = 0.0  # seconds spent making the preview

        def timed_keep(image: pyvips.Image) -> None:
            nonlocal aside
            began = time.perf_counter()
            try:
                assert keep is not None
                keep(image)
            finally:
                aside += time.perf_counter() - began

        start = time.perf_counter()
        try:
            return verify.load_candidate(path, None if keep is None else timed_keep)
        finally:
            with self._lock:
                self.calls += 1
                self.seconds += time.perf_counter() - start - aside
