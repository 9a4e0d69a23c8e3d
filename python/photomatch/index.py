"""The album index: one SQLite file per album, updated incrementally.

A row per image file: its path relative to the album root (stored as the raw
file-system bytes, so any name survives), size and mtime_ns (to notice
changes), status (``ok`` or ``error`` with the reason), and for ``ok`` rows the
packed hash rows of its views and their source (``decode``, or ``preview`` for a
JPEG hashed from its embedded EXIF preview); and in a table of its own, the
frame's overview for the coarse look (``overview``: a few hundred bytes of grey
pixels). A rerun stats every
file and decodes only new or changed ones; deleted files leave the index.
Rows are committed in batches, so an interrupted build keeps what it finished.

The index lives in the user's cache folder by default, never inside the album:
photomatch does not write to the album, ever.

An index carries photomatch's mark (SQLite ``application_id`` = ``APPLICATION_ID``,
``user_version`` = ``FORMAT_VERSION``). photomatch opens, rebuilds or deletes only a
file with that mark, an index of an earlier photomatch (no mark yet; recognised by its
tables and ``meta`` keys, read without writing), a new path or an empty file. Anything
else (another program's database, a document, random bytes) is refused before anything
is written beside it or to it.
"""

from __future__ import annotations

import hashlib
import multiprocessing
import os
import pathlib
import sqlite3
import stat
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ProcessPoolExecutor, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TypeAlias, TypeVar, overload

import numpy as np
import platformdirs

from . import hashing, preview
from ._core import hamming_topk
from .errors import AlbumIndexError, DecodeError, UsageError
from .locks import FileLock, LockError
from .overview import IndexOverviews
from .progress import bar

#: 5: the ``overviews`` table.
FORMAT_VERSION = 5
#: SQLite ``PRAGMA application_id`` of every photomatch index: the bytes "PhMa".
APPLICATION_ID = int.from_bytes(b"PhMa", "big")
_SQLITE_MAGIC = b"SQLite format 3\0"
#: The ``meta`` keys an index of an earlier photomatch (before the mark) always holds.
_LEGACY_META_KEYS = frozenset({"format_version", "hash_version", "words", "album"})
BATCH_SIZE = 128
#: Files per task handed to a worker process (amortises pickling entries and rows).
PROCESS_CHUNK = 8
#: Read embedded JPEG previews in batches in Rust, every core, without the GIL
#: (``preview.hash_jpeg_previews``). False reads each file's in Python
#: (``hashing.hash_file``) as photomatch did before: the same rows, kept for the
#: benchmarks' comparison (benches/test_bench_hashing.py).
_NATIVE_PREVIEWS = True
#: Folders never descended into: hidden folders and NAS thumbnail caches hold
#: thumbnails of the album's own photos, which would shadow the originals.
SKIPPED_DIRS = frozenset({"@eaDir", "#recycle", "$RECYCLE.BIN", "System Volume Information"})

_FILES_TABLE = """
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
    hashes BLOB,
    source TEXT
)"""
#: Overviews for the coarse look, by the same path: a table of their own, so
#: that ``load()``'s pass over every file's hash rows does not read them too
#: (they are about three times the size of the rows, and rarely needed).
_OVERVIEWS_TABLE = """
CREATE TABLE IF NOT EXISTS overviews (path BLOB PRIMARY KEY, pixels BLOB NOT NULL)"""
_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);"
    + _FILES_TABLE
    + ";"
    + _OVERVIEWS_TABLE
    + ";"
)

#: One file's row as made: path, size, mtime_ns, status, error, width,
#: height, view_ids, hashes, source (the ``files`` columns) and its overview
#: (the ``overviews`` table); an error row has None from width on.
FileRow: TypeAlias = tuple[
    bytes,
    int,
    int,
    str,
    str | None,
    int | None,
    int | None,
    bytes | None,
    bytes | None,
    str | None,
    bytes | None,
]
_T = TypeVar("_T")


@dataclass(frozen=True)
class ScanEntry:
    """An image file found in the album: path relative to the root, size, mtime_ns."""

    rel: str
    size: int
    mtime_ns: int


@dataclass
class IndexReport:
    """What an index update did.

    ``images`` (files with an image extension) is ``ok`` plus ``len(errors)``;
    ``errors`` lists ``(path, reason)`` of the files that could not be hashed;
    ``ignored`` counts the other files; ``unreadable_folders`` lists
    ``(path, reason)`` of folders that could not be listed (their files are unknown).
    ``decoded`` counts the files hashed in this run, ``from_previews`` those of
    them hashed from their embedded EXIF preview.
    """

    album: str
    index_path: str
    images: int = 0
    decoded: int = 0
    from_previews: int = 0
    unchanged: int = 0
    removed: int = 0
    ignored: int = 0
    rebuilt: bool = False
    errors: list[tuple[str, str]] = field(default_factory=list)
    unreadable_folders: list[tuple[str, str]] = field(default_factory=list)

    @property
    def ok(self) -> int:
        return self.images - len(self.errors)


@dataclass(frozen=True)
class AlbumArrays:
    """An index loaded for search.

    ``path(i)`` (or ``paths[i]``) is the absolute path of file ``i`` (only files
    that hashed; ``load()`` gives an ``AlbumPaths``, which builds each path on
    demand); ``file_ids`` int64 ``(F,)`` their index row ids; ``hashes`` uint64
    ``(R, WORDS)`` all view rows, C-contiguous; ``row_file`` int32 ``(R,)`` the
    file of each row; ``row_view`` uint8 ``(R,)`` its view (``hashing.VIEW_NAMES``);
    ``overviews`` the files' overviews for the coarse look, read from the
    index when first needed (None: no coarse look).
    """

    root: str
    paths: Sequence[str]
    file_ids: np.ndarray
    hashes: np.ndarray
    row_file: np.ndarray
    row_view: np.ndarray
    overviews: IndexOverviews | None = None

    def path(self, i: int) -> str:
        """The absolute path of file ``i``."""
        return self.paths[i]

    def closest_view(self, row: np.ndarray, file: int) -> tuple[int, str]:
        """The hash distance from ``row`` (uint64 ``(1, WORDS)``) to file
        ``file``'s nearest view row, and that view's name."""
        lo = int(np.searchsorted(self.row_file, file))  # a file's rows are contiguous
        hi = int(np.searchsorted(self.row_file, file, side="right"))
        ids, dists = hamming_topk(np.ascontiguousarray(row[:1]), self.hashes[lo:hi], 1)
        return int(dists[0, 0]), hashing.VIEW_NAMES[int(self.row_view[lo + int(ids[0, 0])])]


class AlbumPaths(Sequence[str]):
    """The absolute paths of an index's files, each made when asked for.

    Holds the paths relative to the album as the raw file-system bytes the
    index stores: making 10^6 path strings would be most of ``load()``'s
    time, and a search needs only its candidates'.
    """

    __slots__ = ("_names", "_root")

    def __init__(self, root: str, names: list[bytes]) -> None:
        self._root = root
        self._names = names

    def __len__(self) -> int:
        return len(self._names)

    @overload
    def __getitem__(self, i: int) -> str: ...

    @overload
    def __getitem__(self, i: slice) -> list[str]: ...

    def __getitem__(self, i: int | slice) -> str | list[str]:
        if isinstance(i, slice):
            return [self._absolute(name) for name in self._names[i]]
        return self._absolute(self._names[i])

    def __iter__(self) -> Iterator[str]:
        return map(self._absolute, self._names)

    def _absolute(self, name: bytes) -> str:
        return os.path.join(self._root, os.fsdecode(name))


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


def scan_album(
    root: str, unreadable_folders: list[tuple[str, str]] | None = None
) -> tuple[list[ScanEntry], int]:
    """Image files under ``root`` (sorted by path) and the count of ignored files.

    Only regular files with an image extension are taken; anything else
    (other extensions, FIFOs, devices, sockets, broken or looping symlinks) is
    ignored and counted. Symlinked folders are not followed (no loops, nothing
    outside the album); a symlinked file is indexed like the file it points to.
    A folder that cannot be listed (permissions, a path past the OS limit) is
    appended to ``unreadable_folders`` as ``(absolute path, reason)``.
    """
    found: list[ScanEntry] = []
    ignored = 0
    stack = [""]
    while stack:
        rel_dir = stack.pop()
        folder = os.path.join(root, rel_dir)
        try:
            with os.scandir(folder) as entries:
                listing = list(entries)
        except OSError as exc:
            if unreadable_folders is not None:
                unreadable_folders.append((folder, exc.strerror or str(exc)))
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
    """The SQLite index of one album. Use as a context manager or call ``close()``.

    An open index holds an advisory lock (``flock`` on ``INDEX.lock``, beside
    the index): a second photomatch run on the same index waits, saying so on
    stderr, until the first one closes it, then finds the index up to date.
    The same goes for two threads; one thread opening an index it already has
    open gets AlbumIndexError rather than wait for itself.
    """

    def __init__(self, album: str, index_path: str | None = None, rebuild: bool = False) -> None:
        if not os.path.isdir(album):
            raise UsageError(f"album folder not found: {album}")
        self.root = os.path.abspath(album)
        self.path = os.path.abspath(index_path or default_index_path(self.root))
        if is_inside(self.path, self.root):
            raise UsageError(
                f"the index must not be inside the album: {self.path}; "
                "give --index PATH outside the album"
            )
        self.rebuilt = False
        self._db: sqlite3.Connection | None = None
        # Refuse a file that is not photomatch's before even the lock file is made beside it.
        _identify(self.path)
        try:
            os.makedirs(os.path.dirname(self.path), exist_ok=True)
        except OSError as exc:
            raise AlbumIndexError(
                f"cannot create the index folder {os.path.dirname(self.path)}: "
                f"{exc.strerror or exc}"
            ) from None
        self._lock = _index_lock(self.path)
        try:
            self._open(rebuild)
        except BaseException:
            self.close()
            raise

    def _open(self, rebuild: bool) -> None:
        # Again under the lock: another photomatch run may have made the file meanwhile.
        kind = _identify(self.path)
        if rebuild and os.path.exists(self.path):
            for suffix in ("", "-wal", "-shm"):
                if os.path.exists(self.path + suffix):
                    os.remove(self.path + suffix)
            self.rebuilt = True
            kind = "new"
        try:
            self._db = sqlite3.connect(self.path, timeout=60)
            if kind != "own":
                # Marked first, before WAL: a new file holds the mark from its first write.
                self._db.execute(f"PRAGMA application_id = {APPLICATION_ID}")
                self._db.execute(f"PRAGMA user_version = {FORMAT_VERSION}")
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
            if kind == "legacy":  # put the mark in the file itself, not only in the WAL
                self._db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            self._db.executescript(_SCHEMA)
            self._check_versions()
        except sqlite3.DatabaseError as exc:
            raise _index_error(self.path, exc) from None

    def __enter__(self) -> AlbumIndex:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Close the database and release the lock (idempotent)."""
        if self._db is not None:
            self.db.close()
            self._db = None
        self._lock.release()

    @property
    def db(self) -> sqlite3.Connection:
        if self._db is None:
            raise AlbumIndexError(f"index {self.path} is closed")
        return self._db

    def _check_versions(self) -> None:
        wanted = {
            "format_version": str(FORMAT_VERSION),
            "hash_version": str(hashing.HASH_VERSION),
            "words": str(hashing.WORDS),
        }
        have = dict(self.db.execute("SELECT key, value FROM meta"))
        user_version = self.db.execute("PRAGMA user_version").fetchone()[0]
        if user_version != FORMAT_VERSION or any(have.get(k) != v for k, v in wanted.items()):
            # Hashes of another version are not comparable: start over, never mix.
            with self.db:
                if have:
                    self.rebuilt = True
                # Made again rather than emptied: another format has other columns.
                self.db.execute("DROP TABLE IF EXISTS files")
                self.db.execute("DROP TABLE IF EXISTS overviews")
                self.db.execute(_FILES_TABLE)
                self.db.execute(_OVERVIEWS_TABLE)
                self.db.execute("DELETE FROM meta")
                self.db.execute(f"PRAGMA user_version = {FORMAT_VERSION}")
                self.db.executemany("INSERT INTO meta VALUES (?, ?)", sorted(wanted.items()))
                self.db.execute("INSERT INTO meta VALUES ('album', ?)", (self.root,))

    def update(
        self,
        progress: bool = False,
        jobs: int | None = None,
        on_batch: Callable[[int], None] | None = None,
        previews: bool = True,
        scheduler: str | None = None,
        processes: bool = False,
    ) -> IndexReport:
        """Bring the index up to date with the album; decode only new or changed files.

        Rows are committed every ``BATCH_SIZE`` files: a run killed half way keeps
        what it committed, and the next run decodes only the rest.

        With ``previews`` (the default), a JPEG with a trustworthy embedded EXIF
        preview is hashed from it (``preview``), tens of times faster than a
        decode. Without, files hashed from previews earlier are decoded again.

        With ``scheduler`` (a Dask ``distributed`` scheduler address such as
        ``tcp://host:8786``), the files are hashed by that cluster's workers, which
        must see the album at the same path; this process alone writes the index,
        committing each batch as it comes back (see ``photomatch.cluster``).
        ``jobs`` is then unused: the workers' threads and processes are the cluster's.

        ``jobs`` files are hashed at a time (default: one per core), in threads, or
        with ``processes`` and ``jobs`` above 1 in worker processes started with
        ``spawn`` (never ``fork``), as a machine with many cores may want for full
        decodes (README *Speed*, *Threads or processes*). ``spawn`` imports the main
        module again in each child: a script that calls this needs the
        ``if __name__ == "__main__":`` guard. This process alone writes the index.
        """
        try:
            return self._update(progress, jobs, on_batch, previews, scheduler, processes)
        except sqlite3.DatabaseError as exc:
            raise _index_error(self.path, exc) from None

    def _update(
        self,
        progress: bool,
        jobs: int | None,
        on_batch: Callable[[int], None] | None,
        previews: bool,
        scheduler: str | None = None,
        processes: bool = False,
    ) -> IndexReport:
        unreadable_folders: list[tuple[str, str]] = []
        entries, ignored = scan_album(self.root, unreadable_folders)
        report = IndexReport(
            album=self.root,
            index_path=self.path,
            images=len(entries),
            ignored=ignored,
            rebuilt=self.rebuilt,
            unreadable_folders=sorted(unreadable_folders),
        )
        known = {
            os.fsdecode(path): (size, mtime, source, bool(lacking))
            for path, size, mtime, source, lacking in self.db.execute(
                "SELECT f.path, f.size, f.mtime_ns, f.source,"
                " f.status = 'ok' AND o.path IS NULL"
                " FROM files AS f LEFT JOIN overviews AS o ON o.path = f.path"
            )
        }
        present = {e.rel for e in entries}
        gone = [rel for rel in known if rel not in present]
        if gone:
            keys = [(os.fsencode(r),) for r in gone]
            with self.db:
                self.db.executemany("DELETE FROM files WHERE path = ?", keys)
                self.db.executemany("DELETE FROM overviews WHERE path = ?", keys)
        report.removed = len(gone)
        # Without previews, a file hashed from its preview counts as changed; so
        # does a hashed file without its overview (lost to damage, or an index
        # marked from an earlier photomatch), which the coarse look would miss.
        stale = {"preview"} if not previews else set()
        todo = []
        for e in entries:
            size, mtime, source, lacking = known.get(e.rel, (None, None, None, False))
            if (size, mtime) != (e.size, e.mtime_ns) or source in stale or lacking:
                todo.append(e)
        report.unchanged = len(entries) - len(todo)
        if scheduler is None:
            rows = self._decode_all(todo, jobs, previews, processes)
            batches = _batches(rows, BATCH_SIZE)
        else:
            from . import cluster  # only here: without a scheduler, Dask is never imported

            batches = cluster.hash_batches(scheduler, self.root, todo, previews)
        with bar(len(todo), "indexing", progress) as counter:
            for batch in batches:
                with self.db:
                    self.db.executemany(
                        "INSERT OR REPLACE INTO files (path, size, mtime_ns, status, error, width,"
                        " height, view_ids, hashes, source) VALUES (?,?,?,?,?,?,?,?,?,?)",
                        [row[:10] for row in batch],
                    )
                    self.db.executemany(
                        "DELETE FROM overviews WHERE path = ?",
                        [row[:1] for row in batch if not row[10]],
                    )
                    self.db.executemany(
                        "INSERT OR REPLACE INTO overviews (path, pixels) VALUES (?, ?)",
                        [(row[0], row[10]) for row in batch if row[10]],
                    )
                report.decoded += len(batch)
                report.from_previews += sum(row[9] == "preview" for row in batch)
                counter.update(len(batch))
                if on_batch is not None:
                    on_batch(report.decoded)
        report.errors = self._errors()
        return report

    def _decode_all(
        self,
        todo: list[ScanEntry],
        jobs: int | None,
        previews: bool,
        processes: bool = False,
    ) -> Iterator[FileRow]:
        workers = jobs or os.cpu_count() or 1
        if processes and workers > 1:
            yield from hash_in_processes(self.root, todo, workers, previews)
            return

        def one(entry: ScanEntry) -> FileRow:
            return self._decode_one(entry, previews)

        with ThreadPoolExecutor(max_workers=workers) as pool:
            if previews and _NATIVE_PREVIEWS:
                yield from _rows_from_previews(self.root, todo, workers, pool)
                return
            # map() keeps file order and at most a few batches in flight.
            for start in range(0, len(todo), BATCH_SIZE * 4):
                chunk = todo[start : start + BATCH_SIZE * 4]
                yield from pool.map(one, chunk)

    def _decode_one(self, entry: ScanEntry, previews: bool = True) -> FileRow:
        """The row to store for one file: its hashes, or its error."""
        return file_row(self.root, entry, previews)

    def errors(self) -> list[tuple[str, str]]:
        """``(absolute path, reason)`` of every file that could not be hashed."""
        try:
            return self._errors()
        except sqlite3.DatabaseError as exc:
            raise _index_error(self.path, exc) from None

    def _errors(self) -> list[tuple[str, str]]:
        rows = self.db.execute("SELECT path, error FROM files WHERE status = 'error' ORDER BY path")
        return [(os.path.join(self.root, os.fsdecode(p)), e) for p, e in rows]

    def load(self) -> AlbumArrays:
        """Load every hashed file's view rows into contiguous arrays for the kernel."""
        try:
            return self._load()
        except sqlite3.DatabaseError as exc:
            raise _index_error(self.path, exc) from None

    def _load(self) -> AlbumArrays:
        # Per-file Python work is most of the time at 10^6 files: the loop only
        # appends; checks run on whole arrays and paths are made on demand.
        ids: list[int] = []
        names: list[bytes] = []
        views: list[bytes] = []
        blobs: list[bytes] = []
        add_id, add_name, add_views, add_blob = ids.append, names.append, views.append, blobs.append
        for file_id, name, view_ids, blob in self.db.execute(
            "SELECT id, path, view_ids, hashes FROM files WHERE status = 'ok' ORDER BY path"
        ):
            add_id(file_id)
            add_name(name)
            add_views(view_ids)
            add_blob(blob)
        try:
            row_view = np.frombuffer(b"".join(views), dtype=np.uint8)
            hashes = np.frombuffer(b"".join(blobs), dtype="<u8")
            counts = np.fromiter(map(len, views), dtype=np.int64, count=len(views))
            sizes = np.fromiter(map(len, blobs), dtype=np.int64, count=len(blobs))
        except TypeError:  # NULL or text where bytes belong
            raise _bad_rows(names, views, blobs) from None
        if np.any((counts == 0) | (sizes != counts * 8 * hashing.WORDS)):
            raise _bad_rows(names, views, blobs)
        hashes = hashes.astype(np.uint64, copy=False).reshape(-1, hashing.WORDS)
        row_file = np.repeat(np.arange(len(names), dtype=np.int32), counts)
        file_ids = np.array(ids, dtype=np.int64)
        return AlbumArrays(
            root=self.root,
            paths=AlbumPaths(self.root, names),
            file_ids=file_ids,
            hashes=hashes,
            row_file=row_file,
            row_view=row_view,
            overviews=IndexOverviews(self.path, file_ids),
        )


def file_row(root: str, entry: ScanEntry, previews: bool = True) -> FileRow:
    """The ``files`` row to store for ``entry`` of the album at ``root``: its hashes
    (``hashing.hash_file``), or its error. Local and cluster runs both make rows here."""
    key = os.fsencode(entry.rel)
    try:
        path = os.path.join(root, entry.rel)
        hashes = hashing.hash_file(path, album=True, previews=previews)
    except DecodeError as exc:
        return _error_row(key, entry, exc.reason)
    except OSError as exc:  # vanished or unreadable between scan and decode
        return _error_row(key, entry, exc.strerror or str(exc))
    rows = hashes.rows.astype("<u8").tobytes()
    return _ok_row(
        entry,
        hashes.width,
        hashes.height,
        hashes.view_ids.tobytes(),
        rows,
        hashes.source,
        hashes.overview,
    )


def file_rows(root: str, entries: Sequence[ScanEntry], previews: bool = True) -> list[FileRow]:
    """``file_row`` of each of ``entries``: the task of a worker process or Dask worker.

    With ``previews``, the JPEGs' embedded previews are read in one native call
    on this thread (``preview.hash_jpeg_previews``): the same rows ``file_row``
    makes, without the GIL, so a worker's threads all run.
    """
    if previews and _NATIVE_PREVIEWS:
        return list(_rows_from_previews(root, entries, 1, None, ahead=False))
    return [file_row(root, entry, previews) for entry in entries]


def _rows_from_previews(
    root: str,
    entries: Sequence[ScanEntry],
    threads: int,
    pool: ThreadPoolExecutor | None,
    ahead: bool = True,
) -> Iterator[FileRow]:
    """``file_row(root, entry, previews=True)`` of each of ``entries``, in order.

    The JPEGs' embedded previews are hashed in Rust, ``BATCH_SIZE`` files a call
    on ``threads`` threads with the GIL released; with ``ahead``, the next batch
    while this thread's caller writes the last. Each file that path declines
    (not a JPEG, no preview, or one it leaves to Python:
    ``preview.hash_jpeg_previews``) gets ``file_row`` as before, on ``pool``'s
    threads (or this one): Pillow's preview path first, then the decode. Either
    way the row is the one ``file_row`` would make.
    """

    def native(batch: Sequence[ScanEntry]) -> list[preview.PreviewRows | None]:
        paths = [os.path.join(root, e.rel) for e in batch]
        return preview.hash_jpeg_previews(
            paths, hashing.MAX_PIXELS, hashing.DECODE_SIZE, threads=threads
        )

    def python(entry: ScanEntry) -> FileRow:
        return file_row(root, entry, True)

    def rows(
        batch: Sequence[ScanEntry], found: list[preview.PreviewRows | None]
    ) -> Iterator[FileRow]:
        rest = [e for e, f in zip(batch, found, strict=True) if f is None]
        decoded = iter(pool.map(python, rest) if pool is not None else map(python, rest))
        for entry, hashes in zip(batch, found, strict=True):
            if hashes is None:
                yield next(decoded)
            else:
                yield _ok_row(
                    entry,
                    hashes.width,
                    hashes.height,
                    hashes.view_ids,
                    hashes.rows,
                    "preview",
                    hashes.overview,
                )

    batches = [entries[at : at + BATCH_SIZE] for at in range(0, len(entries), BATCH_SIZE)]
    if not ahead:
        for batch in batches:
            yield from rows(batch, native(batch))
        return
    with ThreadPoolExecutor(max_workers=1) as worker:
        coming = worker.submit(native, batches[0]) if batches else None
        for i, batch in enumerate(batches):
            assert coming is not None
            found = coming.result()
            coming = worker.submit(native, batches[i + 1]) if i + 1 < len(batches) else None
            yield from rows(batch, found)


def hash_in_processes(
    root: str, entries: Sequence[ScanEntry], workers: int, previews: bool = True
) -> Iterator[FileRow]:
    """``file_row`` of each of ``entries``, in order, hashed by ``workers`` processes.

    Chunks of ``PROCESS_CHUNK`` files, at most four per process in flight, so memory
    stays flat whatever the album's size. ``spawn``: a forked child of a process
    whose rayon or libvips threads hold a lock would wait on it for ever.
    """
    chunks = (
        list(entries[at : at + PROCESS_CHUNK]) for at in range(0, len(entries), PROCESS_CHUNK)
    )
    context = multiprocessing.get_context("spawn")
    pool = ProcessPoolExecutor(max_workers=workers, mp_context=context)
    try:
        running: deque[Future[list[FileRow]]] = deque()
        for chunk in chunks:
            running.append(pool.submit(file_rows, root, chunk, previews))
            if len(running) >= 4 * workers:
                yield from running.popleft().result()
        while running:
            yield from running.popleft().result()
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


def _bad_rows(names: list[bytes], views: list[bytes], blobs: list[bytes]) -> sqlite3.DatabaseError:
    """The error naming the first file whose stored hash rows are malformed."""
    row_bytes = 8 * hashing.WORDS
    for name, view_ids, blob in zip(names, views, blobs, strict=True):
        if (
            not isinstance(view_ids, bytes)
            or not isinstance(blob, bytes)
            or not view_ids
            or len(blob) != len(view_ids) * row_bytes
        ):
            return sqlite3.DatabaseError(f"bad hash rows for {os.fsdecode(name)!r}")
    return sqlite3.DatabaseError("bad hash rows")


def _identify(path: str) -> str:
    """What is at ``path``, found without writing anything: ``new`` (nothing there, or an
    empty file), ``own`` (a file with photomatch's mark) or ``legacy`` (an index of an
    earlier photomatch, without the mark). Anything else raises AlbumIndexError.
    """
    try:
        st = os.stat(path)
    except (FileNotFoundError, NotADirectoryError):
        return "new"
    except OSError as exc:
        raise AlbumIndexError(f"cannot read the index file {path}: {exc.strerror or exc}") from None
    if stat.S_ISDIR(st.st_mode):
        raise _not_an_index(path, "a folder")
    if not stat.S_ISREG(st.st_mode):
        raise _not_an_index(path, "not a regular file")
    if st.st_size == 0:
        return "new"
    flags = os.O_RDONLY | getattr(os, "O_BINARY", 0) | getattr(os, "O_NONBLOCK", 0)
    try:
        fd = os.open(path, flags)
        try:
            if not stat.S_ISREG(os.fstat(fd).st_mode):  # swapped since the stat
                raise _not_an_index(path, "not a regular file")
            header = b""
            while len(header) < 100:
                chunk = os.read(fd, 100 - len(header))
                if not chunk:
                    break
                header += chunk
        finally:
            os.close(fd)
    except OSError as exc:
        if isinstance(exc, AlbumIndexError):
            raise
        raise AlbumIndexError(f"cannot read the index file {path}: {exc.strerror or exc}") from None
    if not header.startswith(_SQLITE_MAGIC):
        raise _not_an_index(path, "not a SQLite database")
    if len(header) < 100:
        raise _not_an_index(path, "a SQLite header cut short")
    app_id = int.from_bytes(header[68:72], "big")
    if app_id == APPLICATION_ID:
        return "own"
    if app_id == 0 and _is_legacy_index(path):
        return "legacy"
    raise _not_an_index(path, "a SQLite database of another program")


def _is_legacy_index(path: str) -> bool:
    """True for an index written by photomatch before the mark: exactly the tables
    ``meta`` and ``files``, and photomatch's keys in ``meta``. Read as an immutable,
    read-only file: no lock, no ``-wal`` or ``-shm`` beside it, nothing written.
    """
    uri = pathlib.Path(os.path.abspath(path)).as_uri() + "?mode=ro&immutable=1"
    try:
        db = sqlite3.connect(uri, uri=True)
    except sqlite3.Error:
        return False
    try:
        tables = {
            name
            for (name,) in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
            if not name.startswith("sqlite_")
        }
        if tables != {"meta", "files"}:
            return False
        db.execute("SELECT path, size, mtime_ns, status, view_ids, hashes FROM files LIMIT 0")
        keys = {key for (key,) in db.execute("SELECT key FROM meta")}
        return _LEGACY_META_KEYS <= keys
    except sqlite3.Error:
        return False
    finally:
        db.close()


def _not_an_index(path: str, what: str) -> AlbumIndexError:
    return AlbumIndexError(
        f"{path} is not a photomatch index ({what}); photomatch leaves it as it is: "
        "give --index a new file name"
    )


def _index_error(path: str, exc: sqlite3.DatabaseError) -> AlbumIndexError:
    """One clear error for a failing index: damaged (rebuild it), or another cause."""
    text = str(exc)
    if isinstance(exc, sqlite3.OperationalError) and not any(
        word in text for word in ("malformed", "not a database", "no such", "no column")
    ):
        # Disk full, read-only or locked past the timeout: the file is not at fault.
        return AlbumIndexError(f"cannot use the index file {path}: {text}")
    return AlbumIndexError(f"index file {path} is damaged ({text}); rerun with --rebuild")


def _index_lock(index_path: str) -> FileLock:
    """The lock kept beside the index (``INDEX.lock``) while it is open."""
    try:
        return FileLock(index_path + ".lock", f"this index ({index_path})")
    except LockError as exc:
        raise AlbumIndexError(str(exc)) from None


def _ok_row(
    entry: ScanEntry,
    width: int,
    height: int,
    view_ids: bytes,
    rows: bytes,
    source: str,
    overview: bytes,
) -> FileRow:
    """The ``files`` row of a file hashed: its views' ids and little-endian rows,
    and its overview."""
    key = os.fsencode(entry.rel)
    return (
        key,
        entry.size,
        entry.mtime_ns,
        "ok",
        None,
        width,
        height,
        view_ids,
        rows,
        source,
        overview,
    )


def _error_row(key: bytes, entry: ScanEntry, reason: str) -> FileRow:
    return (key, entry.size, entry.mtime_ns, "error", reason, None, None, None, None, None, None)


def _batches(items: Iterator[_T], size: int) -> Iterator[list[_T]]:
    batch: list[_T] = []
    for item in items:
        batch.append(item)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch
