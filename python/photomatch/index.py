"""The album index: one SQLite file per album, updated incrementally.

A row per image file: its path relative to the album root (stored as the raw
file-system bytes, so any name survives), size and mtime_ns (to notice
changes), status (``ok`` or ``error`` with the reason), and for ``ok`` rows the
packed hash rows of its views. A rerun stats every
file and decodes only new or changed ones; deleted files leave the index.
Rows are committed in batches, so an interrupted build keeps what it finished.

The index lives in the user's cache folder by default, never inside the album:
photomatch does not write to the album, ever.
"""

from __future__ import annotations

import hashlib
import os
import sqlite3
import sys
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import numpy as np
import platformdirs
from tqdm import tqdm

from . import hashing
from .errors import AlbumIndexError, DecodeError, UsageError

FORMAT_VERSION = 3
BATCH_SIZE = 128
#: Folders never descended into: hidden folders and NAS thumbnail caches hold
#: thumbnails of the album's own photos, which would shadow the originals.
SKIPPED_DIRS = frozenset({"@eaDir", "#recycle", "$RECYCLE.BIN", "System Volume Information"})

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS files (
    id INTEGER PRIMARY KEY,
    path BLOB NOT NULL UNIQUE,
    size INTEGER NOT NULL,
    mtime_ns INTEGER NOT NULL,
    status TEXT NOT NULL,
    error TEXT,
    width INTEGER,
    height INTEGER,
    view_ids BLOB,
    hashes BLOB
);
"""


@dataclass(frozen=True)
class ScanEntry:
    """An image file found in the album: path relative to the root, size, mtime_ns."""

    rel: str
    size: int
    mtime_ns: int


@dataclass
class IndexReport:
    """What an index update did. ``errors`` lists ``(path, reason)`` of unreadable files."""

    album: str
    index_path: str
    images: int = 0
    decoded: int = 0
    unchanged: int = 0
    removed: int = 0
    ignored: int = 0
    rebuilt: bool = False
    errors: list[tuple[str, str]] = field(default_factory=list)

    @property
    def ok(self) -> int:
        return self.images - len(self.errors)


@dataclass(frozen=True)
class AlbumArrays:
    """An index loaded for search.

    ``paths[i]`` is the absolute path of file ``i`` (only files that hashed);
    ``file_ids`` int64 ``(F,)`` their index row ids; ``hashes`` uint64
    ``(R, WORDS)`` all view rows, C-contiguous; ``row_file`` int32 ``(R,)`` the
    file of each row; ``row_view`` uint8 ``(R,)`` its view (``hashing.VIEW_NAMES``).
    """

    root: str
    paths: list[str]
    file_ids: np.ndarray
    hashes: np.ndarray
    row_file: np.ndarray
    row_view: np.ndarray


def default_index_path(album: str) -> str:
    """The index file for ``album`` in the user cache folder (``$XDG_CACHE_HOME/photomatch``)."""
    key = hashlib.sha256(os.fsencode(os.path.realpath(album))).hexdigest()[:16]
    name = os.path.basename(os.path.realpath(album)) or "album"
    safe = "".join(ch if ch.isalnum() or ch in "-_" else "_" for ch in name)[:40]
    return os.path.join(platformdirs.user_cache_dir("photomatch"), f"{safe}-{key}.sqlite")


def is_inside(path: str, folder: str) -> bool:
    """True when ``path`` is ``folder`` or lies below it (symlinks resolved)."""
    real_path = os.path.realpath(path)
    real_folder = os.path.realpath(folder)
    return os.path.commonpath([real_path, real_folder]) == real_folder


def scan_album(root: str) -> tuple[list[ScanEntry], int]:
    """Image files under ``root`` (sorted by path) and the count of ignored files.

    Symlinked folders are not followed (no loops, nothing outside the album);
    a symlinked file is indexed like the file it points to.
    """
    found: list[ScanEntry] = []
    ignored = 0
    stack = [""]
    while stack:
        rel_dir = stack.pop()
        try:
            with os.scandir(os.path.join(root, rel_dir)) as entries:
                listing = list(entries)
        except OSError:
            continue
        for entry in listing:
            rel = os.path.join(rel_dir, entry.name) if rel_dir else entry.name
            try:
                if entry.is_dir(follow_symlinks=False):
                    if not entry.name.startswith(".") and entry.name not in SKIPPED_DIRS:
                        stack.append(rel)
                    continue
                if not hashing.is_image_name(entry.name) or not entry.is_file():
                    ignored += 1
                    continue
                st = entry.stat()
            except OSError:
                ignored += 1
                continue
            found.append(ScanEntry(rel, st.st_size, st.st_mtime_ns))
    found.sort(key=lambda e: e.rel)
    return found, ignored


class AlbumIndex:
    """The SQLite index of one album. Use as a context manager or call ``close()``."""

    def __init__(self, album: str, index_path: str | None = None, rebuild: bool = False) -> None:
        if not os.path.isdir(album):
            raise UsageError(f"album folder not found: {album}")
        self.root = os.path.abspath(album)
        self.path = os.path.abspath(index_path or default_index_path(self.root))
        if is_inside(self.path, self.root):
            raise UsageError(f"the index must not be inside the album: {self.path}")
        self.rebuilt = False
        os.makedirs(os.path.dirname(self.path), exist_ok=True)
        if rebuild and os.path.exists(self.path):
            for suffix in ("", "-wal", "-shm"):
                if os.path.exists(self.path + suffix):
                    os.remove(self.path + suffix)
            self.rebuilt = True
        try:
            self._db = sqlite3.connect(self.path, timeout=60)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.executescript(_SCHEMA)
            self._check_versions()
        except sqlite3.DatabaseError as exc:
            raise AlbumIndexError(
                f"index file {self.path} is damaged ({exc}); rerun with --rebuild"
            ) from None

    def __enter__(self) -> AlbumIndex:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._db.close()

    def _check_versions(self) -> None:
        wanted = {
            "format_version": str(FORMAT_VERSION),
            "hash_version": str(hashing.HASH_VERSION),
            "words": str(hashing.WORDS),
        }
        have = dict(self._db.execute("SELECT key, value FROM meta"))
        if any(have.get(k) != v for k, v in wanted.items()):
            # Hashes of another version are not comparable: start over, never mix.
            with self._db:
                if have:
                    self.rebuilt = True
                self._db.execute("DELETE FROM files")
                self._db.execute("DELETE FROM meta")
                self._db.executemany("INSERT INTO meta VALUES (?, ?)", sorted(wanted.items()))
                self._db.execute("INSERT INTO meta VALUES ('album', ?)", (self.root,))

    def update(
        self,
        progress: bool = True,
        jobs: int | None = None,
        on_batch: Callable[[int], None] | None = None,
    ) -> IndexReport:
        """Bring the index up to date with the album; decode only new or changed files."""
        entries, ignored = scan_album(self.root)
        report = IndexReport(
            album=self.root,
            index_path=self.path,
            images=len(entries),
            ignored=ignored,
            rebuilt=self.rebuilt,
        )
        known = {
            os.fsdecode(path): (size, mtime)
            for path, size, mtime in self._db.execute("SELECT path, size, mtime_ns FROM files")
        }
        present = {e.rel for e in entries}
        gone = [rel for rel in known if rel not in present]
        if gone:
            with self._db:
                self._db.executemany(
                    "DELETE FROM files WHERE path = ?", [(os.fsencode(r),) for r in gone]
                )
        report.removed = len(gone)
        todo = [e for e in entries if known.get(e.rel) != (e.size, e.mtime_ns)]
        report.unchanged = len(entries) - len(todo)
        with tqdm(
            total=len(todo),
            unit="img",
            desc="indexing",
            file=sys.stderr,
            disable=not progress or not todo,
            dynamic_ncols=True,
        ) as bar:
            for batch in _batches(self._decode_all(todo, jobs), BATCH_SIZE):
                with self._db:
                    self._db.executemany(
                        "INSERT OR REPLACE INTO files (path, size, mtime_ns, status, error, width,"
                        " height, view_ids, hashes) VALUES (?,?,?,?,?,?,?,?,?)",
                        batch,
                    )
                report.decoded += len(batch)
                bar.update(len(batch))
                if on_batch is not None:
                    on_batch(report.decoded)
        report.errors = self.errors()
        return report

    def _decode_all(self, todo: list[ScanEntry], jobs: int | None) -> Iterator[tuple]:
        workers = jobs or os.cpu_count() or 1
        with ThreadPoolExecutor(max_workers=workers) as pool:
            # map() keeps file order and at most a few batches in flight.
            for start in range(0, len(todo), BATCH_SIZE * 4):
                chunk = todo[start : start + BATCH_SIZE * 4]
                yield from pool.map(self._decode_one, chunk)

    def _decode_one(self, entry: ScanEntry) -> tuple:
        """The row to store for one file: its hashes, or its error."""
        key = os.fsencode(entry.rel)
        try:
            hashes = hashing.hash_file(os.path.join(self.root, entry.rel), album=True)
        except DecodeError as exc:
            return _error_row(key, entry, exc.reason)
        except OSError as exc:  # vanished or unreadable between scan and decode
            return _error_row(key, entry, exc.strerror or str(exc))
        rows = hashes.rows.astype("<u8").tobytes()
        return (
            key,
            entry.size,
            entry.mtime_ns,
            "ok",
            None,
            hashes.width,
            hashes.height,
            hashes.view_ids.tobytes(),
            rows,
        )

    def errors(self) -> list[tuple[str, str]]:
        """``(absolute path, reason)`` of every file that could not be hashed."""
        rows = self._db.execute(
            "SELECT path, error FROM files WHERE status = 'error' ORDER BY path"
        )
        return [(os.path.join(self.root, os.fsdecode(p)), e) for p, e in rows]

    def load(self) -> AlbumArrays:
        """Load every hashed file's view rows into contiguous arrays for the kernel."""
        ids: list[int] = []
        paths: list[str] = []
        views: list[bytes] = []
        blobs: list[bytes] = []
        for file_id, path, view_ids, blob in self._db.execute(
            "SELECT id, path, view_ids, hashes FROM files WHERE status = 'ok' ORDER BY path"
        ):
            ids.append(file_id)
            paths.append(os.path.join(self.root, os.fsdecode(path)))
            views.append(view_ids)
            blobs.append(blob)
        row_view = np.frombuffer(b"".join(views), dtype=np.uint8)
        counts = np.fromiter((len(v) for v in views), dtype=np.int64, count=len(views))
        hashes = np.frombuffer(b"".join(blobs), dtype="<u8").astype(np.uint64, copy=False)
        hashes = np.ascontiguousarray(hashes.reshape(-1, hashing.WORDS))
        row_file = np.repeat(np.arange(len(paths), dtype=np.int32), counts)
        return AlbumArrays(
            root=self.root,
            paths=paths,
            file_ids=np.asarray(ids, dtype=np.int64),
            hashes=hashes,
            row_file=row_file,
            row_view=row_view,
        )


def _error_row(key: bytes, entry: ScanEntry, reason: str) -> tuple:
    return (key, entry.size, entry.mtime_ns, "error", reason, None, None, None, None)


def _batches(items: Iterator[tuple], size: int) -> Iterator[list[tuple]]:
    batch: list[tuple] = []
    for item in items:
        batch.append(item)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch
