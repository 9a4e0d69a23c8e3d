"""A synthetic album index of 10^6 files, written with photomatch's own schema,
and thumbnails to search it with.

``AlbumIndex`` creates the file (its schema, format and hash versions); the
file rows are then inserted with plain SQL into the columns of the ``files``
table as it stands (read back with ``PRAGMA table_info``, so a schema change
in ``index.py`` is followed, or fails loudly on a column this does not know):
camera-style relative paths, sizes, mtimes, status ``ok``, as many views per
file as ``hashing`` gives a 4:3 photo (``VIEW_IDS``, asked of ``hash_grey``
itself, so the count follows the hash version) and random hash rows; a
``signatures`` column, where the schema has one, gets
random 16 x 16 bytes per view as a real index would hold. Built once into the
benchmark cache and reused while it still holds every row and the format and
hash versions of the photomatch that runs (they are also in the file name).
"""

from __future__ import annotations

import dataclasses
import inspect
import os
import sqlite3

import numpy as np

from photomatch import hashing, matching, overview
from photomatch.errors import DecodeError
from photomatch.index import FORMAT_VERSION, AlbumIndex


def _photo_view_ids() -> bytes:
    """The view ids ``hashing`` gives a 4:3 photo (a 4000 x 3000 file decodes to 256 x 192)."""
    hashed = hashing.hash_grey(np.zeros((192, 256), dtype=np.uint8), album=True)
    ids = getattr(hashed, "view_ids", None)
    return bytes(ids.tolist()) if ids is not None else bytes(range(hashed.rows.shape[0]))


VIEW_IDS = _photo_view_ids()
VIEWS = len(VIEW_IDS)
SIGNATURE_BYTES = 16 * 16
CHUNK = 20_000


def index_name(files: int) -> str:
    return (
        f"index-{files}-v{VIEWS}-f{FORMAT_VERSION}-h{hashing.HASH_VERSION}-w{hashing.WORDS}.sqlite"
    )


def ensure_index(folder: str, files: int) -> tuple[str, str]:
    """``(album folder, index path)`` of a synthetic index, building it if missing."""
    album = os.path.join(folder, "synthetic-album")  # stays empty: load() reads no files
    os.makedirs(album, exist_ok=True)
    path = os.path.join(folder, index_name(files))
    if not _complete(path, files):
        tmp = f"{path}.{os.getpid()}.tmp"
        for suffix in ("", "-wal", "-shm"):
            if os.path.exists(tmp + suffix):
                os.remove(tmp + suffix)
        _build(album, tmp, files)
        for suffix in ("-wal", "-shm"):  # an old file's, which must not pair with the new one
            if os.path.exists(path + suffix):
                os.remove(path + suffix)
        os.replace(tmp, path)
    return album, path


def _complete(path: str, files: int) -> bool:
    """True when ``path`` holds ``files`` rows and this photomatch's versions.

    Read with plain sqlite3: opening an index of other versions with
    ``AlbumIndex`` empties it (it is rebuilt, never mixed), which is what
    happens to a cached file if photomatch changes under a running suite.
    """
    if not os.path.exists(path):
        return False
    try:
        db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        try:
            meta = dict(db.execute("SELECT key, value FROM meta"))
            (count,) = db.execute("SELECT count(*) FROM files").fetchone()
        finally:
            db.close()
    except sqlite3.Error:
        return False
    wanted = {
        "format_version": str(FORMAT_VERSION),
        "hash_version": str(hashing.HASH_VERSION),
        "words": str(hashing.WORDS),
    }
    return count == files and all(meta.get(k) == v for k, v in wanted.items())


def _columns(db: sqlite3.Connection) -> list[tuple[str, bool]]:
    """``(name, required)`` of the files table's columns, ``id`` left out."""
    info = db.execute("PRAGMA table_info(files)").fetchall()
    return [(row[1], bool(row[3]) and row[4] is None) for row in info if row[1] != "id"]


def _build(album: str, path: str, files: int) -> None:
    rng = np.random.default_rng(files)
    with AlbumIndex(album, path) as index:
        db = index._db  # the index's own connection: its schema and meta rows
        db.execute("PRAGMA synchronous=OFF")
        columns = _columns(db)
        known = {
            "path",
            "size",
            "mtime_ns",
            "status",
            "error",
            "width",
            "height",
            "views",
            "view_ids",
            "hashes",
            "signatures",
        }
        unknown = [name for name, required in columns if required and name not in known]
        if unknown:
            raise RuntimeError(f"benches/_synthetic.py does not know the columns {unknown}")
        names = [name for name, _ in columns if name in known]
        sql = f"INSERT INTO files ({', '.join(names)}) VALUES ({', '.join('?' * len(names))})"
        for start in range(0, files, CHUNK):
            stop = min(files, start + CHUNK)
            hashes = rng.integers(
                0, 2**64, size=(stop - start, VIEWS * hashing.WORDS), dtype=np.uint64
            ).astype("<u8")
            sigs = (
                rng.bytes(VIEWS * SIGNATURE_BYTES * (stop - start))
                if "signatures" in names
                else b""
            )
            rows = []
            for j, i in enumerate(range(start, stop)):
                value = {
                    "path": os.fsencode(
                        f"{2000 + i // 50_000}/{1 + (i // 4_000) % 12:02d}/IMG_{i:07d}.JPG"
                    ),
                    "size": 2_000_000 + i % 4_000_000,
                    "mtime_ns": 1_700_000_000_000_000_000 + i * 1_000_000_000,
                    "status": "ok",
                    "error": None,
                    "width": 256,
                    "height": 192,
                    "views": VIEWS,
                    "view_ids": VIEW_IDS,
                    "hashes": hashes[j].tobytes(),
                    "signatures": sigs[
                        j * VIEWS * SIGNATURE_BYTES : (j + 1) * VIEWS * SIGNATURE_BYTES
                    ],
                }
                rows.append(tuple(value[name] for name in names))
            # Each file's overview (``overview``: 32 x 24 for its 256 x 192 frame).
            side = overview.overview_shape(192, 256)
            pixels = rng.bytes(side[0] * side[1] * (stop - start))
            size = side[0] * side[1]
            small = [
                (row[names.index("path")], pixels[j * size : (j + 1) * size])
                for j, row in enumerate(rows)
            ]
            with db:
                db.executemany(sql, rows)
                db.executemany("INSERT INTO overviews (path, pixels) VALUES (?, ?)", small)
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)")


def queries(hashes: np.ndarray, count: int, seed: int = 7) -> list[matching.QueryImage]:
    """Thumbnails of random album files: their full-frame row with 0-8 bits flipped.

    Fields of ``QueryImage`` other than ``set``, ``path`` and ``row`` (e.g. the
    thumbnail's grey pixels) get a small flat grey image.
    """
    rng = np.random.default_rng(seed)
    picks = rng.integers(0, hashes.shape[0] // VIEWS, size=count)
    out = []
    for i, file in enumerate(picks):
        row = hashes[file * VIEWS].copy()
        for bit in rng.choice(64 * hashing.WORDS, size=int(rng.integers(0, 9)), replace=False):
            row[bit // 64] ^= np.uint64(1) << np.uint64(bit % 64)
        fields = {"set": "bench", "path": f"thumb-{i:03d}.jpg", "row": row[None, :]}
        for f in dataclasses.fields(matching.QueryImage):
            fields.setdefault(f.name, np.full((120, 160), 128, dtype=np.uint8))
        out.append(matching.QueryImage(**fields))
    return out


def no_decode(path: str) -> np.ndarray:
    """A ``loader`` for ``matching.match`` that decodes nothing (the album files don't exist)."""
    raise DecodeError(path, "synthetic album: not decoded")


def match_without_decodes(arrays, query_list) -> list:
    """``matching.match`` with the candidates' verification decodes left out, where it
    has them, and the coarse look too (every thumbnail would take it when no decode
    succeeds; it is measured apart, ``coarse look 1e5`` in test_bench_verify.py), and
    the second look's overview screen (it reads the overviews, as the coarse look
    does, measured apart: ``test_index_overviews``)."""
    policy = matching.DEFAULT_POLICY
    if hasattr(policy, "coarse_look"):
        policy = dataclasses.replace(policy, coarse_look=0)
    if hasattr(policy, "second_look_overview"):
        policy = dataclasses.replace(policy, second_look_overview=-1.0)
    if "loader" in inspect.signature(matching.match).parameters:
        return matching.match(arrays, query_list, policy, loader=no_decode)
    return matching.match(arrays, query_list, policy)
