"""The results folder (``match --out DIR``): checked before a run, locked while in use,
its files published as one set.

- **Checked first, created last.** ``check_paths`` refuses, before anything is
  written, an ``--out`` inside the album or inside a thumbnail folder, a thumbnail
  folder inside the album (its thumbnails would be indexed as album photos) or
  holding it, and the same folder given twice. ``--out`` is created only once
  the run has its inputs.
- **One run at a time.** ``OutLock`` (``flock`` on ``DIR/.photomatch.lock``) is
  held by ``match`` while it writes and by ``review`` while it serves, so two
  runs never leave ``review.html`` from one and ``matches.*`` from the other.
- **Published as one set.** ``publish`` writes ``matches.csv``, ``matches.json``,
  ``review.html`` and ``decisions.json`` under temporary names, then renames them
  all: a full disk or a crash leaves the previous results whole.
- **Decisions stay bound to their thumbnails.** A rerun keeps the picks that
  still fit the new results (same thumbnail file, pick still a candidate); when
  some do not, the old ``decisions.json`` is kept aside as
  ``decisions-replaced-N.json`` and the run says so.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass

from . import review
from .errors import PhotomatchError, UsageError
from .index import is_inside
from .locks import FileLock
from .results import (
    Decision,
    MatchRun,
    check_decisions,
    csv_document,
    decisions_document,
    decisions_path,
    json_document,
    read_decisions,
    results_paths,
)
from .safeio import Publication, remove_leftovers

LOCK_NAME = ".photomatch.lock"


def check_paths(album: str, thumbs: Sequence[str], out: str | None) -> None:
    """``UsageError`` for any way the album, thumbnail folders and ``out`` overlap
    that would mix thumbnails, results and originals. Creates nothing."""
    if not os.path.isdir(album):
        raise UsageError(f"album folder not found: {album}")
    for folder in thumbs:
        if not os.path.isdir(folder):
            raise UsageError(f"thumbnail folder not found: {folder}")
        if is_inside(folder, album):
            raise UsageError(
                f"thumbnail folder {folder} is inside the album {album}: its thumbnails would "
                "be taken for album photos; move the thumbnails out of the album"
            )
        if is_inside(album, folder):
            raise UsageError(f"the album {album} is inside the thumbnail folder {folder}")
    if out is None:
        return
    if is_inside(out, album):
        raise UsageError(f"--out must not be inside the album: {out}")
    for folder in thumbs:
        if is_inside(out, folder):
            raise UsageError(
                f"--out must not be inside the thumbnail folder {folder}: "
                "its files would be taken for thumbnails on the next run"
            )
    review.check_previews_folder(os.path.join(out, review.PREVIEWS_DIR), [album, *thumbs])
    parent = _existing_parent(out)
    if parent is None or not os.path.isdir(parent):
        raise UsageError(f"cannot create --out folder {out}: not a folder on the way")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise UsageError(f"--out folder is not writable: {out}")


def _existing_parent(path: str) -> str | None:
    """``path`` itself when it exists, else its nearest existing ancestor."""
    current = os.path.abspath(path)
    while not os.path.lexists(current):
        parent = os.path.dirname(current)
        if parent == current:
            return None
        current = parent
    return current


def create(out: str) -> None:
    """Create ``out`` (and its parents); ``UsageError`` with the reason when it can't be."""
    try:
        os.makedirs(out, exist_ok=True)
    except OSError as exc:
        raise UsageError(f"cannot create --out folder {out}: {exc.strerror or exc}") from None
    if not os.access(out, os.W_OK | os.X_OK):
        raise UsageError(f"--out folder is not writable: {out}")


class OutLock(FileLock):
    """The lock on a results folder (see the module doc); the folder must exist."""

    def __init__(self, out: str) -> None:
        super().__init__(os.path.join(out, LOCK_NAME), f"the results folder {out}")


@dataclass(frozen=True)
class Published:
    """What ``publish`` wrote: the page, the decisions kept, and where the old ones went."""

    review: str
    decisions: dict[tuple[str, str], Decision]
    dropped: tuple[str, ...] = ()
    set_aside: str | None = None


def publish(
    run: MatchRun,
    out: str,
    jobs: int | None = None,
    progress: bool = True,
    made: review.MadePreviews | None = None,
) -> Published:
    """Write the results of ``run`` into ``out`` as one set (see the module doc);
    ``made``: previews made during the run (``review.make_previews``).

    Call with ``OutLock(out)`` held. ``PhotomatchError`` when a file cannot be
    written (a full disk): then the previous results are left as they were.
    """
    remove_leftovers(out)
    remove_leftovers(os.path.join(out, review.PREVIEWS_DIR))
    path = decisions_path(out)
    old_text: bytes | None = None
    try:
        old = read_decisions(path)
    except ValueError as exc:
        old, dropped = {}, [f"cannot read {path}: {exc}"]
    else:
        dropped = []
    if os.path.isfile(path):
        with open(path, "rb") as fh:
            old_text = fh.read()
    kept, problems = check_decisions(run, old.values())
    dropped += problems
    csv_path, json_path = results_paths(out)
    page_path = os.path.join(out, review.REVIEW_NAME)
    set_aside = None
    try:
        html, previews = review.build_review(
            run, out, kept, jobs=jobs, progress=progress, made=made
        )
        with Publication() as pub:
            pub.add(csv_path, csv_document(run))
            pub.add(json_path, json_document(run))
            pub.add(page_path, html)
            if dropped and old_text is not None:
                set_aside = _free_name(out, "decisions-replaced", ".json")
                pub.add(set_aside, old_text)
                pub.add(path, decisions_document(kept))
        review.prune_previews(out, previews.values())
    except OSError as exc:
        raise PhotomatchError(
            f"cannot write the results in {out}: {exc.strerror or exc}; "
            "the previous results there are unchanged"
        ) from None
    return Published(page_path, kept, tuple(dropped), set_aside)


def _free_name(folder: str, stem: str, ext: str) -> str:
    n = 1
    while os.path.lexists(os.path.join(folder, f"{stem}-{n}{ext}")):
        n += 1
    return os.path.join(folder, f"{stem}-{n}{ext}")
