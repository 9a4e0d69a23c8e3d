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


def is_album_file(album: str, index_path: str, path: str) -> bool:
    """True when ``path`` is a file of the album ``album`` indexed in ``index_path``."""
    return AlbumCatalog(album, index_path).rel_of(path) is not None
