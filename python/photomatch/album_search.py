"""Find album files from the album index, for the review page's search, and tell
whether a path is a file of the album that a person may pick.

The index (``index.py``) is opened read-only (SQLite ``mode=ro``): the review
server never writes to it, never takes its lock, never makes a missing one. A
file is *of the album* when its path, relative to the album, is in the index as
hashed (status ``ok``), the path is absolute and normal (no ``..``), it lies
inside the album once symlinks are resolved, and it is a regular file now.
"""

from __future__ import annotations

import os
import pathlib
import sqlite3
from contextlib import closing
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

import numpy as np

from . import hashing
from ._core import hamming_topk
from .index import is_inside

#: Results of one search, at most.
SEARCH_LIMIT = 200


@dataclass(frozen=True)
class Found:
    """An album file found by a search: ``rel`` relative to the album, ``path``
    absolute, ``bytes``, ``mtime`` (``YYYY-MM-DD HH:MM:SS``, local), the size
    in pixels the index recorded."""

    rel: str
    path: str
    bytes: int
    mtime: str
    width: int | None
    height: int | None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _day(text: str, end: bool) -> int | None:
    """``YYYY-MM-DD`` as nanoseconds since the epoch (local midnight; the end of that
    day with ``end``); None for ""; ``ValueError`` for anything else."""
    text = text.strip()
    if not text:
        return None
    try:
        day = datetime.strptime(text, "%Y-%m-%d")
    except ValueError:
        raise ValueError(f"a date is YYYY-MM-DD, not {text[:40]!r}") from None
    ns = int(day.timestamp()) * 1_000_000_000
    return ns + 86_400 * 1_000_000_000 - 1 if end else ns


class AlbumCatalog:
    """The album's index, read-only. Safe to share between threads (one connection each call)."""

    def __init__(self, album: str, index_path: str) -> None:
        self.album = os.path.abspath(album)
        self.index_path = index_path

    def _connect(self) -> sqlite3.Connection:
        if not os.path.isfile(self.index_path):
            raise FileNotFoundError(f"no album index at {self.index_path}")
        uri = pathlib.Path(os.path.abspath(self.index_path)).as_uri() + "?mode=ro"
        return sqlite3.connect(uri, uri=True, timeout=10)

    def rel_of(self, path: str) -> str | None:
        """``path``'s name relative to the album when it is a file of the album
        (see the module doc), else None."""
        if (
            not isinstance(path, str)
            or "\0" in path
            or not os.path.isabs(path)
            or os.path.normpath(path) != path
        ):
            return None
        rel = os.path.relpath(path, self.album)
        if rel.startswith(os.pardir) or rel == os.curdir or os.path.join(self.album, rel) != path:
            return None
        try:
            if not is_inside(path, self.album) or not os.path.isfile(path):
                return None
            with closing(self._connect()) as db:
                row = db.execute(
                    "SELECT 1 FROM files WHERE path = ? AND status = 'ok'", (os.fsencode(rel),)
                ).fetchone()
        except (OSError, sqlite3.Error, ValueError):
            return None
        return rel if row else None

    def search(
        self,
        name: str = "",
        folder: str = "",
        start: str = "",
        end: str = "",
        limit: int = SEARCH_LIMIT,
    ) -> tuple[list[Found], bool]:
        """Album files whose file name holds ``name`` and whose folder holds ``folder``
        (case-insensitive substrings), modified from day ``start`` to day ``end``
        (``YYYY-MM-DD``, either may be ""), by path; and whether there were more than
        ``limit``. ``ValueError`` for a bad date; ``OSError``/``sqlite3.Error`` when
        the index cannot be read."""
        lo, hi = _day(start, False), _day(end, True)
        name_cf, folder_cf = name.casefold(), folder.casefold()
        sql = "SELECT path, size, mtime_ns, width, height FROM files WHERE status = 'ok'"
        args: list[object] = []
        if lo is not None:
            sql += " AND mtime_ns >= ?"
            args.append(lo)
        if hi is not None:
            sql += " AND mtime_ns <= ?"
            args.append(hi)
        sql += " ORDER BY path"
        found: list[Found] = []
        with closing(self._connect()) as db:
            for raw, size, mtime_ns, width, height in db.execute(sql, args):
                rel = os.fsdecode(raw)
                head, base = os.path.split(rel)
                if name_cf not in base.casefold() or folder_cf not in head.casefold():
                    continue
                if len(found) == limit:
                    return found, True
                when = datetime.fromtimestamp(mtime_ns / 1e9).strftime("%Y-%m-%d %H:%M:%S")
                found.append(Found(rel, os.path.join(self.album, rel), size, when, width, height))
        return found, False


@dataclass(frozen=True)
class Near:
    """An album file near a thumbnail in hash: ``distance`` in bits over its
    closest view, ``view`` that view's name."""

    rel: str
    path: str
    distance: int
    view: str

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


class HashTable:
    """Every hashed file's view rows, read once from the index (read-only) for
    ``nearest``, and read again when the index file changes."""

    def __init__(self, catalog: AlbumCatalog) -> None:
        self.catalog = catalog
        self._loaded: tuple[object, list[bytes], np.ndarray, np.ndarray, np.ndarray] | None = None

    def _load(self) -> tuple[list[bytes], np.ndarray, np.ndarray, np.ndarray]:
        st = os.stat(self.catalog.index_path)
        wal = self.catalog.index_path + "-wal"
        sign = (st.st_mtime_ns, st.st_size, os.path.getsize(wal) if os.path.exists(wal) else 0)
        if self._loaded is not None and self._loaded[0] == sign:
            return self._loaded[1:]
        names: list[bytes] = []
        views: list[bytes] = []
        blobs: list[bytes] = []
        with closing(self.catalog._connect()) as db:
            meta = dict(db.execute("SELECT key, value FROM meta"))
            if meta.get("hash_version") != str(hashing.HASH_VERSION) or meta.get("words") != str(
                hashing.WORDS
            ):
                raise ValueError(
                    "the album index holds hashes of another photomatch version: "
                    "run 'photomatch match' again"
                )
            for name, view_ids, blob in db.execute(
                "SELECT path, view_ids, hashes FROM files WHERE status = 'ok' ORDER BY path"
            ):
                if not isinstance(view_ids, bytes) or not isinstance(blob, bytes):
                    continue
                if not view_ids or len(blob) != len(view_ids) * 8 * hashing.WORDS:
                    continue
                names.append(name)
                views.append(view_ids)
                blobs.append(blob)
        row_view = np.frombuffer(b"".join(views), dtype=np.uint8)
        rows = np.frombuffer(b"".join(blobs), dtype="<u8").astype(np.uint64)
        rows = np.ascontiguousarray(rows.reshape(-1, hashing.WORDS))
        counts = np.fromiter(map(len, views), dtype=np.int64, count=len(views))
        row_file = np.repeat(np.arange(len(names), dtype=np.int64), counts)
        self._loaded = (sign, names, rows, row_file, row_view)
        return names, rows, row_file, row_view

    def nearest(self, row: np.ndarray, k: int = 8) -> list[Near]:
        """The ``k`` album files nearest the hash row ``row`` (uint64 ``(1, WORDS)``)."""
        names, rows, row_file, row_view = self._load()
        if not len(rows):
            return []
        idx, dist = hamming_topk(np.ascontiguousarray(row, dtype=np.uint64), rows, 16 * k)
        out: list[Near] = []
        seen: set[int] = set()
        for i, d in zip(idx[0].tolist(), dist[0].tolist(), strict=True):
            f = int(row_file[i])
            if f in seen:
                continue
            seen.add(f)
            rel = os.fsdecode(names[f])
            v = int(row_view[i])
            view = hashing.VIEW_NAMES[v] if v < len(hashing.VIEW_NAMES) else str(v)
            out.append(Near(rel, os.path.join(self.catalog.album, rel), int(d), view))
            if len(out) == k:
                break
        return out


def thumbnail_row(path: str) -> np.ndarray:
    """The hash row of a thumbnail as ``photomatch match`` makes it (frame trimmed,
    upright). ``DecodeError`` when it cannot be read."""
    grey = hashing.trim_border(hashing.load_grey(path))
    row: np.ndarray = hashing.hash_grey(grey, album=False).rows[:1]
    return row


def is_album_file(album: str, index_path: str, path: str) -> bool:
    """True when ``path`` is a file of the album ``album`` indexed in ``index_path``."""
    return AlbumCatalog(album, index_path).rel_of(path) is not None
