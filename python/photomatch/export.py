"""Export the chosen originals of each set into ``DEST/<set>/``.

Safety rules: the album is only read; an existing file is never overwritten (a
clash gets a ``-1``, ``-2`` ... suffix, unless it already holds the same bytes,
which makes a rerun a no-op); a copy is written under a temporary name, its
size checked, then published with a hard link that fails if the name was taken
meanwhile, so no half-written file ever carries a final name.
"""

from __future__ import annotations

import csv
import filecmp
import os
import shutil
import sys
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass

from tqdm import tqdm

from .errors import ExportError, UsageError
from .index import is_inside
from .results import MATCHED, MatchRun

MODES = ("copy", "hardlink", "symlink")
MANIFEST_NAME = "manifest.csv"


@dataclass(frozen=True)
class ExportItem:
    """One file of the export: ``status`` is ``copied``, ``linked``, ``exists`` or ``planned``."""

    set: str
    source: str
    destination: str
    bytes: int
    status: str


def plan(run: MatchRun) -> list[tuple[str, str]]:
    """``(set, source)`` pairs to export: each set's matched originals, once each, in order."""
    seen: set[tuple[str, str]] = set()
    pairs = []
    for r in run.results:
        if r.status == MATCHED and r.match and (r.set, r.match) not in seen:
            seen.add((r.set, r.match))
            pairs.append((r.set, r.match))
    return pairs


def export_originals(
    run: MatchRun,
    dest: str,
    mode: str = "copy",
    dry_run: bool = False,
    progress: bool = True,
) -> list[ExportItem]:
    """Export ``run``'s matched originals to ``dest`` and write ``dest/manifest.csv``."""
    if mode not in MODES:
        raise UsageError(f"unknown export mode {mode!r}; use one of {', '.join(MODES)}")
    if is_inside(dest, run.album):
        raise UsageError(f"export destination is inside the album: {dest}")
    pairs = plan(run)
    items: list[ExportItem] = []
    for set_name, source in tqdm(
        pairs,
        unit="file",
        desc="exporting",
        file=sys.stderr,
        disable=not progress or dry_run,
    ):
        items.append(_export_one(set_name, source, os.path.join(dest, set_name), mode, dry_run))
    if not dry_run:
        _write_manifest(os.path.join(dest, MANIFEST_NAME), items)
    return items


def _export_one(set_name: str, source: str, folder: str, mode: str, dry_run: bool) -> ExportItem:
    try:
        size = os.stat(source).st_size
    except OSError as exc:
        raise ExportError(f"cannot read original {source}: {exc.strerror}") from None
    name = os.path.basename(source)
    if dry_run:
        target = _free_name(folder, name, source, mode)
        status = "exists" if target[1] else "planned"
        return ExportItem(set_name, source, target[0], size, status)
    try:
        os.makedirs(folder, exist_ok=True)
        while True:
            target, same = _free_name(folder, name, source, mode)
            if same:
                return ExportItem(set_name, source, target, size, "exists")
            if _publish(source, target, mode, size):
                status = "copied" if mode == "copy" else "linked"
                return ExportItem(set_name, source, target, size, status)
            # The name was taken between the check and the publish: look again.
    except OSError as exc:
        raise ExportError(f"cannot export {source} to {folder}: {exc.strerror or exc}") from None


def _free_name(folder: str, name: str, source: str, mode: str) -> tuple[str, bool]:
    """First name in ``folder`` that is free or already holds ``source`` (then ``True``)."""
    stem, ext = os.path.splitext(name)
    n = 0
    while True:
        target = os.path.join(folder, name if n == 0 else f"{stem}-{n}{ext}")
        if not os.path.lexists(target):
            return target, False
        if _same(source, target, mode):
            return target, True
        n += 1


def _same(source: str, target: str, mode: str) -> bool:
    if mode == "symlink":
        return os.path.islink(target) and os.readlink(target) == os.path.abspath(source)
    if os.path.islink(target):
        return False
    try:
        return filecmp.cmp(source, target, shallow=False)
    except OSError:
        return False


def _publish(source: str, target: str, mode: str, size: int) -> bool:
    """Create ``target``; False if the name was taken meanwhile. Never overwrites."""
    try:
        if mode == "symlink":
            os.symlink(os.path.abspath(source), target)
            return True
        if mode == "hardlink":
            os.link(source, target)
            return True
    except FileExistsError:
        return False
    fd, tmp = tempfile.mkstemp(prefix=".photomatch-", suffix=".part", dir=os.path.dirname(target))
    os.close(fd)
    try:
        shutil.copy2(source, tmp)
        if os.path.getsize(tmp) != size:
            raise ExportError(
                f"copy of {source} is incomplete ({os.path.getsize(tmp)} of {size} bytes)"
            )
        try:
            os.link(tmp, target)  # atomic, and fails rather than replace an existing file
        except FileExistsError:
            return False
        except OSError:
            # File systems without hard links (FAT, some shares): rename after a last check.
            if os.path.lexists(target):
                return False
            os.rename(tmp, target)
        return True
    finally:
        if os.path.lexists(tmp):
            os.remove(tmp)


def _write_manifest(path: str, items: Iterable[ExportItem]) -> None:
    os.makedirs(os.path.dirname(path), exist_ok=True)
    tmp = path + ".part"
    with open(tmp, "w", newline="", encoding="utf-8", errors="surrogateescape") as fh:
        writer = csv.writer(fh)
        writer.writerow(["set", "source", "destination", "bytes", "status"])
        for it in items:
            writer.writerow([it.set, it.source, it.destination, it.bytes, it.status])
    os.replace(tmp, path)
