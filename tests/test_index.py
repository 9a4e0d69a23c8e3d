"""The SQLite album index: incremental updates, errors, versions, placement."""

from __future__ import annotations

import os
import sqlite3

import numpy as np
import pytest

from photomatch import AlbumIndexError, UsageError, hashing, index_album
from photomatch.index import AlbumIndex, default_index_path

from albumcheck import fingerprint


def test_first_build_hashes_images_and_lists_bad_files(sample, tmp_path):
    report = index_album(sample.album, str(tmp_path / "i.sqlite"), progress=False)
    assert report.images == 11  # 10 photos + a truncated JPEG; sidecars and system files ignored
    assert report.ignored == 3
    assert report.decoded == 11
    assert [os.path.basename(p) for p, _ in report.errors] == ["IMG_1009.jpg"]
    assert report.ok == 10


def test_rerun_decodes_only_new_changed_and_drops_deleted(sample, tmp_path):
    idx = str(tmp_path / "i.sqlite")
    index_album(sample.album, idx, progress=False)
    again = index_album(sample.album, idx, progress=False)
    assert (again.decoded, again.unchanged, again.removed) == (0, 11, 0)

    # Change one file (new mtime), delete another.
    changed = sample.burst[0]
    st = os.stat(changed)
    os.utime(changed, ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))
    os.remove(sample.burst[2])
    third = index_album(sample.album, idx, progress=False)
    assert (third.decoded, third.unchanged, third.removed) == (1, 9, 1)
    with AlbumIndex(sample.album, idx) as index:
        arrays = index.load()
    assert sample.burst[2] not in arrays.paths and changed in arrays.paths


def test_load_gives_contiguous_rows_per_view(sample, tmp_path):
    with AlbumIndex(sample.album, str(tmp_path / "i.sqlite")) as index:
        index.update(progress=False)
        arrays = index.load()
    assert arrays.hashes.dtype == np.uint64 and arrays.hashes.flags.c_contiguous
    assert arrays.hashes.shape == (arrays.row_file.shape[0], hashing.WORDS)
    assert len(arrays.paths) == 10
    # Square photos have nine views (no squares, no 4:3), 4:3-ish ones fifteen,
    # longer ones sixteen.
    views = np.bincount(arrays.row_file)
    square = {os.path.basename(p) for p, v in zip(arrays.paths, views, strict=True) if v == 9}
    assert square == {"IMG_1001.jpg", "IMG_0501.jpg", "scan_0007.png"}
    assert set(views.tolist()) == {9, 15, 16}
    assert arrays.row_view.shape == arrays.row_file.shape
    assert set(arrays.row_view[arrays.row_file == 0].tolist()) <= set(range(16))
    # The rows are exactly the hashes of the files.
    first = hashing.hash_file(arrays.paths[0])
    assert np.array_equal(arrays.hashes[arrays.row_file == 0], first.rows)
    assert np.array_equal(arrays.row_view[arrays.row_file == 0], first.view_ids)


def test_other_hash_version_is_rebuilt_not_mixed(sample, tmp_path):
    idx = str(tmp_path / "i.sqlite")
    index_album(sample.album, idx, progress=False)
    with sqlite3.connect(idx) as db:
        db.execute("UPDATE meta SET value = '0' WHERE key = 'hash_version'")
    report = index_album(sample.album, idx, progress=False)
    assert report.rebuilt and report.decoded == 11


def test_damaged_index_gives_clear_error_and_rebuild_recovers(sample, tmp_path):
    idx = tmp_path / "i.sqlite"
    index_album(sample.album, str(idx), progress=False)
    data = idx.read_bytes()
    idx.write_bytes(data[:100] + b"this is not a database" * 100)  # photomatch's header kept
    with pytest.raises(AlbumIndexError, match="damaged.*--rebuild"):
        index_album(sample.album, str(idx), progress=False)
    report = index_album(sample.album, str(idx), rebuild=True, progress=False)
    assert report.decoded == 11


def test_a_file_that_is_not_an_index_is_refused_even_with_rebuild(sample, tmp_path):
    idx = tmp_path / "i.sqlite"
    idx.write_bytes(b"this is not a database" * 100)
    for rebuild in (False, True):
        with pytest.raises(AlbumIndexError, match="not a photomatch index") as caught:
            index_album(sample.album, str(idx), rebuild=rebuild, progress=False)
        assert "--rebuild" not in str(caught.value)
    assert idx.read_bytes() == b"this is not a database" * 100


def test_index_is_never_inside_the_album(sample):
    before = fingerprint(sample.album)
    with pytest.raises(UsageError, match="inside the album"):
        index_album(sample.album, os.path.join(sample.album, "idx.sqlite"), progress=False)
    assert fingerprint(sample.album) == before


def test_default_index_is_in_the_user_cache(sample, tmp_path):
    before = fingerprint(sample.album)
    report = index_album(sample.album, progress=False)
    assert report.index_path == default_index_path(sample.album)
    assert report.index_path.startswith(str(tmp_path / "cache"))
    assert os.path.isfile(report.index_path)
    assert fingerprint(sample.album) == before


def test_missing_album_is_a_usage_error(tmp_path):
    with pytest.raises(UsageError, match="album folder not found"):
        index_album(str(tmp_path / "nope"), progress=False)


def test_interrupted_build_keeps_finished_batches(sample, tmp_path, monkeypatch):
    idx = str(tmp_path / "i.sqlite")
    monkeypatch.setattr("photomatch.index.BATCH_SIZE", 4)

    def stop_after_first_batch(done: int) -> None:
        raise KeyboardInterrupt

    with AlbumIndex(sample.album, idx) as index, pytest.raises(KeyboardInterrupt):
        index.update(progress=False, on_batch=stop_after_first_batch)
    resumed = index_album(sample.album, idx, progress=False)
    assert (resumed.unchanged, resumed.decoded) == (4, 7)
