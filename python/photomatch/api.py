"""The two jobs behind the CLI, as plain functions: index an album, match thumbnails."""

from __future__ import annotations

import os
from collections.abc import Sequence

from . import matching
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
    results = matching.match(arrays, queries, policy, progress=progress, jobs=jobs)
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
    )
    if out is not None:
        csv_path, json_path = results_paths(out)
        write_csv(run, csv_path)
        write_json(run, json_path)
    return run, report


def _check_out(out: str, album: str) -> None:
    if os.path.isdir(album) and is_inside(out, album):
        raise UsageError(f"--out must not be inside the album: {out}")
    try:
        os.makedirs(out, exist_ok=True)
    except OSError as exc:
        raise UsageError(f"cannot create --out folder {out}: {exc.strerror}") from None
    if not os.access(out, os.W_OK | os.X_OK):
        raise UsageError(f"--out folder is not writable: {out}")
