"""Export the chosen originals of each set into ``DEST/<set>/``.

The chosen original of a thumbnail is the file a person picked on the review
page (``decisions.json``), else photomatch's match when its status is
``matched``; a "none of these" decision, an ambiguous or an unmatched
thumbnail exports nothing. With ``variants``, the other members of the chosen
original's variant group (an edited copy, a duplicate) go to
``DEST/<set>/variants/``.

Safety rules: the album is only read; an existing file is never overwritten (a
clash gets a ``-1``, ``-2`` ... suffix, unless it already holds the same bytes,
which makes a rerun a no-op); a copy is written under a temporary name in the
destination folder, hashed as it is written, its size checked (and, with
``verify``, its bytes read back and hashed again), then published with a hard
link that fails if the name was taken meanwhile, so no half-written file ever
carries a final name. Any failure (disk full, permission, a vanished original)
removes the temporary file and stops the export with one message; what was
already exported stays and a rerun completes the rest.

An export holds a lock on DEST (``flock`` on ``DEST/.photomatch-export.lock``,
released by the kernel even when its holder is killed); a second export into
the same DEST waits for it. Holding it, export removes the temporary files a
killed export left (``safeio.remove_leftovers``: only photomatch's own
``.photomatch-*.part`` names) from DEST and each folder it writes to. The lock
file is removed when the export ends. ``manifest.csv`` is written with
``safeio``: whole or not at all, the mode the umask allows, and text cells a
spreadsheet would run as a formula (a set named ``=...``) prefixed with ``'``.
"""

from __future__ import annotations

import errno
import hashlib
import os
import shutil
import sys
import tempfile
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass

from tqdm import tqdm

from . import safeio
from .errors import ExportError, UsageError
from .index import is_inside
from .results import MATCHED, Decision, MatchRun

try:
    import fcntl
except ImportError:  # Windows: no flock; exports are not kept apart, nothing is swept
    fcntl = None  # type: ignore[assignment]

MODES = ("copy", "hardlink", "symlink")
MANIFEST_NAME = "manifest.csv"
MANIFEST_COLUMNS = ("set", "source", "destination", "bytes", "sha256", "status")
VARIANTS_DIR = "variants"
LOCK_NAME = ".photomatch-export.lock"
_CHUNK = 1 << 20


@dataclass(frozen=True)
class ExportItem:
    """One file of the export: ``status`` is ``copied``, ``linked``, ``exists`` or ``planned``.

    ``sha256`` is the hex digest of the bytes exported (empty for a dry run).
    """

    set: str
    source: str
    destination: str
    bytes: int
    status: str
    sha256: str = ""


def plan(
    run: MatchRun, decisions: Mapping[tuple[str, str], Decision] | None = None
) -> list[tuple[str, str]]:
    """``(set, source)`` pairs to export, once each, in result order.

    A decision for a thumbnail replaces photomatch's: its ``pick`` is exported,
    or nothing when it is None. Without one, a ``matched`` thumbnail exports
    its match. The caller checks decisions against ``run`` first
    (``results.check_decisions``).
    """
    return [(s, source) for s, source, _ in _chosen(run, decisions)]


def _chosen(
    run: MatchRun, decisions: Mapping[tuple[str, str], Decision] | None
) -> list[tuple[str, str, tuple[str, ...]]]:
    """``(set, original, its variants)`` for every thumbnail that exports a file."""
    decisions = decisions or {}
    seen: set[tuple[str, str]] = set()
    out = []
    for r in run.results:
        decision = decisions.get((r.set, r.query))
        if decision is not None:
            chosen = decision.pick
        else:
            chosen = r.match if r.status == MATCHED else None
        if not chosen or (r.set, chosen) in seen:
            continue
        seen.add((r.set, chosen))
        variants = next((c.variants for c in r.candidates if c.path == chosen), ())
        if not variants and chosen == r.match:
            variants = r.variants
        out.append((r.set, chosen, tuple(variants)))
    return out


def _jobs(
    run: MatchRun, decisions: Mapping[tuple[str, str], Decision] | None, variants: bool
) -> list[tuple[str, str, str]]:
    """``(set, source, folder below DEST)`` for every file to export, originals first."""
    chosen = _chosen(run, decisions)
    jobs = [(s, source, s) for s, source, _ in chosen]
    if variants:
        taken = {(s, source) for s, source, _ in chosen}
        for s, _, others in chosen:
            for other in others:
                if (s, other) not in taken:
                    taken.add((s, other))
                    jobs.append((s, other, os.path.join(s, VARIANTS_DIR)))
    return jobs


def export_originals(
    run: MatchRun,
    dest: str,
    mode: str = "copy",
    dry_run: bool = False,
    progress: bool = False,
    decisions: Mapping[tuple[str, str], Decision] | None = None,
    verify: bool = False,
    variants: bool = False,
) -> list[ExportItem]:
    """Export ``run``'s chosen originals to ``dest/<set>/`` and write ``dest/manifest.csv``.

    ``decisions`` (from ``decisions.json``) override photomatch's choices; see
    ``plan``. ``verify`` reads every copy back and compares its SHA-256 with
    the original's. ``variants`` also exports the other members of each chosen
    original's variant group to ``dest/<set>/variants/``. Raises
    ``ExportError`` on the first file that cannot be exported, with no partial
    file left behind.
    """
    if mode not in MODES:
        raise UsageError(f"unknown export mode {mode!r}; use one of {', '.join(MODES)}")
    if is_inside(dest, run.album):
        raise UsageError(f"export destination is inside the album: {dest}")
    jobs = _jobs(run, decisions, variants)
    for set_name in {s for s, _, _ in jobs}:
        if set_name in ("", ".", "..") or "/" in set_name or os.sep in set_name or "\0" in set_name:
            raise UsageError(f"set name {set_name!r} cannot be a folder name")
    if dry_run:
        return _export_all(run, dest, jobs, mode, True, progress, verify)
    try:
        os.makedirs(dest, exist_ok=True)
    except OSError as exc:
        raise ExportError(f"cannot create {dest}: {exc.strerror or exc}") from None
    lock = _DestLock(dest)
    try:
        if lock.held:
            # No other export runs here now: a temporary file is a killed run's leftover.
            for folder in dict.fromkeys([dest, *(os.path.join(dest, f) for _, _, f in jobs)]):
                _sweep(folder, run.album)
        items = _export_all(run, dest, jobs, mode, False, progress, verify)
        try:
            _write_manifest(os.path.join(dest, MANIFEST_NAME), items)
        except OSError as exc:
            raise ExportError(
                f"cannot write {os.path.join(dest, MANIFEST_NAME)}: {exc.strerror or exc} "
                f"(the {len(items)} files are exported; rerun export to write it)"
            ) from None
        return items
    finally:
        lock.release()


def _export_all(
    run: MatchRun,
    dest: str,
    jobs: list[tuple[str, str, str]],
    mode: str,
    dry_run: bool,
    progress: bool,
    verify: bool,
) -> list[ExportItem]:
    items: list[ExportItem] = []
    for set_name, source, folder in tqdm(
        jobs,
        unit="file",
        desc="exporting",
        file=sys.stderr,
        disable=not progress or dry_run,
        leave=False,
    ):
        try:
            item = _export_one(
                set_name, source, os.path.join(dest, folder), mode, dry_run, verify, run.album
            )
        except ExportError as exc:
            raise ExportError(
                f"{exc} ({len(items)} of {len(jobs)} files exported before it; no partial file "
                "is left; fix the cause and rerun export to finish)"
            ) from None
        items.append(item)
    return items


def _sweep(folder: str, album: str) -> None:
    """Remove photomatch's temporary files from ``folder``, never from inside the album."""
    if not os.path.isdir(folder):
        return
    _check_outside(folder, album)
    safeio.remove_leftovers(folder)


class _DestLock:
    """An exclusive ``flock`` on ``DEST/.photomatch-export.lock`` until ``release()``.

    Waits for another export's lock, saying so once on stderr. The kernel releases
    it when its holder dies, even by ``kill -9``. ``release`` removes the file while
    still holding it; so a waiter that then gets the lock on the removed file sees
    that the name no longer leads to it, and locks the name afresh.
    """

    def __init__(self, dest: str) -> None:
        self.dest = dest
        self.path = os.path.join(dest, LOCK_NAME)
        self._fd: int | None = None
        if fcntl is None:
            return
        said = False
        try:
            while True:
                fd = os.open(
                    self.path,
                    os.O_RDWR | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0) | os.O_CLOEXEC,
                    0o666,
                )
                self._fd = fd
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                except BlockingIOError:
                    if not said:
                        said = True
                        print(
                            f"photomatch: waiting for another photomatch export into {dest}...",
                            file=sys.stderr,
                            flush=True,
                        )
                    fcntl.flock(fd, fcntl.LOCK_EX)
                mine = os.fstat(fd)
                try:
                    now = os.stat(self.path, follow_symlinks=False)
                except FileNotFoundError:
                    now = None
                if now is not None and (now.st_dev, now.st_ino) == (mine.st_dev, mine.st_ino):
                    return
                self._fd = None
                os.close(fd)  # the holder removed that file on release: lock the name again
        except OSError as exc:
            self.release(remove=False)
            raise ExportError(f"cannot lock {self.path}: {exc.strerror or exc}") from None
        except BaseException:
            self.release(remove=False)
            raise

    @property
    def held(self) -> bool:
        return self._fd is not None

    def release(self, remove: bool = True) -> None:
        fd, self._fd = self._fd, None
        if fd is None:
            return
        try:
            if remove:
                try:
                    os.remove(self.path)
                except OSError:
                    pass
        finally:
            os.close(fd)  # closing releases the lock


def _export_one(
    set_name: str, source: str, folder: str, mode: str, dry_run: bool, verify: bool, album: str
) -> ExportItem:
    try:
        size = os.stat(source).st_size
    except OSError as exc:
        raise ExportError(f"cannot read original {source}: {exc.strerror}") from None
    name = os.path.basename(source)
    digest = _Digest(source)
    if dry_run:
        _check_outside(folder, album)
        target, same = _free_name(folder, name, source, mode, size, digest)
        return ExportItem(set_name, source, target, size, "exists" if same else "planned")
    try:
        os.makedirs(folder, exist_ok=True)
        # DEST itself is checked up front; a folder in it may be a symlink into the album.
        _check_outside(folder, album)
        while True:
            target, same = _free_name(folder, name, source, mode, size, digest)
            if same:
                return ExportItem(set_name, source, target, size, "exists", digest())
            published = _publish(source, target, mode, size, verify)
            if published is not None:
                status = "copied" if mode == "copy" else "linked"
                return ExportItem(set_name, source, target, size, status, published or digest())
            # The name was taken between the check and the publish: look again.
    except ExportError:
        raise
    except OSError as exc:
        hint = ""
        if exc.errno == errno.EXDEV and mode == "hardlink":
            hint = " (hard links cannot cross file systems: use --mode copy or symlink)"
        raise ExportError(
            f"cannot export {source} to {folder}: {exc.strerror or exc}{hint}"
        ) from None


def _check_outside(folder: str, album: str) -> None:
    if is_inside(folder, album):
        raise ExportError(
            f"export folder {folder} leads into the album ({os.path.realpath(folder)}); "
            "photomatch never writes there"
        )


class _Digest:
    """The SHA-256 of a file, computed once, on first use."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.value: str | None = None

    def __call__(self) -> str:
        if self.value is None:
            self.value = _sha256_file(self.path)
        return self.value


def _sha256_file(path: str) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(_CHUNK):
            h.update(chunk)
    return h.hexdigest()


def _free_name(
    folder: str, name: str, source: str, mode: str, size: int, digest: Callable[[], str]
) -> tuple[str, bool]:
    """First name in ``folder`` that is free or already holds ``source`` (then ``True``)."""
    stem, ext = os.path.splitext(name)
    n = 0
    while True:
        target = os.path.join(folder, name if n == 0 else _suffixed(stem, ext, n, folder))
        if not os.path.lexists(target):
            return target, False
        if _same(source, target, mode, size, digest):
            return target, True
        n += 1


def _suffixed(stem: str, ext: str, n: int, folder: str) -> str:
    """``stem-n.ext``, the stem shortened if needed so the name fits the file system's limit
    (a 255-byte original name must still get its ``-1``)."""
    try:
        limit = os.pathconf(folder, "PC_NAME_MAX")
    except (OSError, ValueError):
        limit = 255
    tail = f"-{n}{ext}"
    while stem and len(os.fsencode(stem + tail)) > limit:
        stem = stem[:-1]  # whole characters (an undecodable byte is one)
    return stem + tail


def _same(source: str, target: str, mode: str, size: int, digest: Callable[[], str]) -> bool:
    if mode == "symlink":
        return os.path.islink(target) and os.readlink(target) == os.path.abspath(source)
    if os.path.islink(target):
        return False
    try:
        if not os.path.isfile(target) or os.path.getsize(target) != size:
            return False
        if mode == "hardlink" and os.path.samefile(source, target):
            return True
        return _sha256_file(target) == digest()
    except OSError:
        return False


def _copy_hashing(source: str, fd: int, size: int) -> str:
    """Copy ``source`` into the open file ``fd``, flush it to disk; the SHA-256 of what was read."""
    h = hashlib.sha256()
    written = 0
    with open(source, "rb") as src, open(fd, "wb", closefd=False) as dst:
        while chunk := src.read(_CHUNK):
            h.update(chunk)
            dst.write(chunk)
            written += len(chunk)
        dst.flush()
        os.fsync(dst.fileno())
    if written != size or os.fstat(fd).st_size != size:
        raise ExportError(
            f"copy of {source} is incomplete ({os.fstat(fd).st_size} of {size} bytes; "
            "did the original change while it was copied?)"
        )
    return h.hexdigest()


def _publish(source: str, target: str, mode: str, size: int, verify: bool) -> str | None:
    """Create ``target``: the SHA-256 of a copy, "" for a link, None if the name was taken.

    Never overwrites; a failed copy leaves no file behind.
    """
    try:
        if mode == "symlink":
            os.symlink(os.path.abspath(source), target)
            return ""
        if mode == "hardlink":
            os.link(source, target)
            return ""
    except FileExistsError:
        return None
    fd, tmp = tempfile.mkstemp(
        prefix=safeio.TEMP_PREFIX, suffix=safeio.TEMP_SUFFIX, dir=os.path.dirname(target)
    )
    try:
        try:
            digest = _copy_hashing(source, fd, size)
        finally:
            os.close(fd)
        shutil.copystat(source, tmp)
        if verify and _sha256_file(tmp) != digest:
            raise ExportError(f"copy of {source} does not read back the same (SHA-256 differs)")
        try:
            os.link(tmp, target)  # atomic, and fails rather than replace an existing file
        except FileExistsError:
            return None
        except OSError:
            # File systems without hard links (FAT, some shares): rename after a last check.
            if os.path.lexists(target):
                return None
            os.rename(tmp, target)
        return digest
    finally:
        try:
            if os.path.lexists(tmp):
                os.remove(tmp)
        except OSError:
            pass


def _write_manifest(path: str, items: Iterable[ExportItem]) -> None:
    """Replace ``path`` in one step (never through a symlink), mode as the umask allows,
    every text cell safe to open in a spreadsheet (see ``safeio``)."""
    rows = [(it.set, it.source, it.destination, it.bytes, it.sha256, it.status) for it in items]
    safeio.write_atomic(path, safeio.csv_text(MANIFEST_COLUMNS, rows))
