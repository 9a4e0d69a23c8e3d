"""Indexing in worker processes gives exactly the index of threads."""

from __future__ import annotations

import sqlite3

import pytest

from photomatch import index as index_mod
from photomatch.index import AlbumIndex

from genalbum import write_album


def rows(path: str) -> list[tuple]:
    with sqlite3.connect(path) as db:
        return db.execute(
            "SELECT path, size, mtime_ns, status, error, width, height, view_ids, hashes, source"
            " FROM files ORDER BY path"
        ).fetchall()


def build(album: str, path: str, **kwargs) -> index_mod.IndexReport:
    with AlbumIndex(album, path) as index:
        return index.update(**kwargs)


@pytest.mark.parametrize("previews", [False, True])
def test_processes_equal_threads(sample, tmp_path, previews):
    album = sample.album
    threads = str(tmp_path / "threads.sqlite")
    procs = str(tmp_path / "processes.sqlite")
    a = build(album, threads, jobs=2, previews=previews, processes=False)
    b = build(album, procs, jobs=2, previews=previews, processes=True)
    assert rows(procs) == rows(threads)
    assert (b.decoded, b.from_previews, b.errors) == (a.decoded, a.from_previews, a.errors)


def test_processes_only_when_asked_and_more_than_one_job(tmp_path, monkeypatch):
    album = str(tmp_path / "album")
    write_album(album, 20, per_folder=10)
    (tmp_path / "album" / "broken.jpg").write_bytes(b"\xff\xd8 not a jpeg")
    used: list[int] = []
    real = index_mod.hash_in_processes

    def spy(root, entries, workers, previews=True):
        used.append(len(entries))
        return real(root, entries, workers, previews)

    monkeypatch.setattr(index_mod, "hash_in_processes", spy)
    monkeypatch.setattr(index_mod, "BATCH_SIZE", 4)  # several commits
    local = str(tmp_path / "threads.sqlite")
    build(album, local, jobs=2, previews=False)
    build(album, str(tmp_path / "one.sqlite"), jobs=1, previews=False, processes=True)
    assert used == []
    procs = str(tmp_path / "processes.sqlite")
    report = build(album, procs, jobs=2, previews=False, processes=True)
    assert used == [21]
    assert report.decoded == 21 and len(report.errors) == 1
    assert rows(procs) == rows(local)
