"""``AlbumIndex.load()``: arrays, paths made on demand, malformed rows refused.

The index rows are written with plain SQL (no decoding): what is tested is the
reading, not the hashing.
"""

from __future__ import annotations

import os
import sqlite3

import numpy as np
import pytest

from photomatch import AlbumIndexError, hashing
from photomatch.index import AlbumIndex, AlbumPaths

#: Relative paths as the index stores them (raw bytes), in insertion order:
#: not sorted, one not valid UTF-8, one with a space.
NAMES = [b"2024/b.jpg", b"a.jpg", b"2023/caf\xe9.jpg", b"2024/a b.JPG"]
VIEWS = [bytes([0, 1, 2]), bytes([0]), bytes([0, 5, 6, 7]), bytes([0, 1])]


def _write(album: str, index: str, names=NAMES, views=VIEWS, error: bytes | None = None) -> None:
    with AlbumIndex(album, index):
        pass  # creates the schema and version rows
    rng = np.random.default_rng(3)
    with sqlite3.connect(index) as db:
        for i, (name, view_ids) in enumerate(zip(names, views, strict=True)):
            rows = rng.integers(0, 2**64, size=(len(view_ids), hashing.WORDS), dtype=np.uint64)
            db.execute(
                "INSERT INTO files (path, size, mtime_ns, status, error, width, height,"
                " view_ids, hashes) VALUES (?, ?, ?, 'ok', NULL, 256, 192, ?, ?)",
                (name, 1000 + i, i, view_ids, rows.astype("<u8").tobytes()),
            )
        if error is not None:
            db.execute(
                "INSERT INTO files (path, size, mtime_ns, status, error) "
                "VALUES (?, 1, 1, 'error', 'not an image')",
                (error,),
            )


@pytest.fixture()
def paths(tmp_path) -> tuple[str, str]:
    album = str(tmp_path / "album")
    os.mkdir(album)
    return album, str(tmp_path / "i.sqlite")


def test_load_orders_files_by_path_and_keeps_their_rows(paths):
    album, index = paths
    _write(album, index, error=b"broken.jpg")
    with sqlite3.connect(index) as db:
        stored = {
            p: (i, v, h)
            for i, p, v, h in db.execute(
                "SELECT id, path, view_ids, hashes FROM files WHERE status = 'ok'"
            )
        }
    with AlbumIndex(album, index) as idx:
        arrays = idx.load()
    order = sorted(NAMES)
    assert len(arrays.paths) == len(NAMES) and arrays.file_ids.tolist() == [
        stored[n][0] for n in order
    ]
    assert arrays.row_file.tolist() == [f for f, n in enumerate(order) for _ in stored[n][1]]
    assert arrays.row_view.tobytes() == b"".join(stored[n][1] for n in order)
    assert arrays.hashes.astype("<u8").tobytes() == b"".join(stored[n][2] for n in order)
    assert arrays.hashes.dtype == np.uint64 and arrays.hashes.flags.c_contiguous
    assert arrays.row_file.dtype == np.int32 and arrays.row_view.dtype == np.uint8


def test_paths_are_absolute_and_made_on_demand(paths):
    album, index = paths
    _write(album, index)
    with AlbumIndex(album, index) as idx:
        arrays = idx.load()
    want = [os.path.join(os.path.abspath(album), os.fsdecode(n)) for n in sorted(NAMES)]
    assert isinstance(arrays.paths, AlbumPaths)
    assert [arrays.path(i) for i in range(len(want))] == want
    assert list(arrays.paths) == want and arrays.paths[1:3] == want[1:3]
    assert arrays.paths[-1] == want[-1] and arrays.path(np.int32(2)) == want[2]
    assert want[2] in arrays.paths and os.path.join(album, "nope.jpg") not in arrays.paths
    with pytest.raises(IndexError):
        arrays.path(len(want))


def test_an_empty_index_loads_empty_arrays(paths):
    album, index = paths
    _write(album, index, names=[], views=[])
    with AlbumIndex(album, index) as idx:
        arrays = idx.load()
    assert len(arrays.paths) == 0 and list(arrays.paths) == []
    assert arrays.hashes.shape == (0, hashing.WORDS) and arrays.row_file.shape == (0,)


@pytest.mark.parametrize(
    "damage",
    [
        "UPDATE files SET hashes = substr(hashes, 1, 8) WHERE path = ?",
        "UPDATE files SET view_ids = x'' WHERE path = ?",
        "UPDATE files SET view_ids = NULL WHERE path = ?",
        "UPDATE files SET hashes = 'text' WHERE path = ?",
    ],
    ids=["short-hashes", "no-views", "null-views", "text-hashes"],
)
def test_malformed_rows_are_a_damaged_index_naming_the_file(paths, damage):
    album, index = paths
    _write(album, index)
    with sqlite3.connect(index) as db:
        db.execute(damage, (b"2024/b.jpg",))
    with (
        AlbumIndex(album, index) as idx,
        pytest.raises(
            AlbumIndexError, match=r"damaged \(bad hash rows for '2024/b\.jpg'\).*--rebuild"
        ),
    ):
        idx.load()
