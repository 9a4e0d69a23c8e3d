"""Concurrent runs on one index: the second waits, saying so, then finds the work done;
both finish correct and the index is never corrupted (``--rebuild`` included)."""

from __future__ import annotations

import json
import os
import subprocess
import threading

import pytest

from photomatch import AlbumIndexError, index_album
from photomatch.demo import sample_image
from photomatch.index import AlbumIndex

from albumcheck import fingerprint
from genalbum import (
    integrity,
    photomatch_cmd,
    run_photomatch,
    start_after_first_batch,
    table,
    write_album,
)

FILES = 120
BATCH = 8
WAITING = "waiting for another photomatch run on this index"


@pytest.fixture(scope="module")
def album(tmp_path_factory) -> tuple[str, list[tuple], str]:
    """A generated album, the rows of a plain build, and a thumbnail set of its photos."""
    root = tmp_path_factory.mktemp("concurrency")
    album = str(root / "album")
    paths = write_album(album, FILES, per_folder=40)
    ref = str(root / "ref.sqlite")
    assert run_photomatch("index", album, "--index", ref, "-q").returncode == 0
    thumbs = root / "thumbs" / "set"
    thumbs.mkdir(parents=True)
    for n in (3, 50, 97):
        os.link(paths[n], thumbs / f"t{n}.jpg")
    sample_image("brick").thumbnail_image(120).jpegsave(str(thumbs / "absent.jpg"), Q=40)
    return album, table(ref), str(thumbs)


def start_slow(tmp_path, *args: str) -> subprocess.Popen:
    """``photomatch ARGS`` decoding slowly, started and holding the index once it has
    committed its first batch."""
    index = args[args.index("--index") + 1]
    proc = start_after_first_batch(index, BATCH, 0.03, str(tmp_path / "slow.log"), *args)
    assert proc.poll() is None, proc.communicate()
    return proc


def test_a_second_index_waits_then_finds_the_work_done(album, tmp_path):
    album, want, _ = album
    index = str(tmp_path / "i.sqlite")
    before = fingerprint(album)
    first = start_slow(tmp_path, "index", album, "--index", index, "-q", "--json")
    second = run_photomatch("index", album, "--index", index, "-q", "--json")
    out, err = first.communicate(timeout=300)
    assert first.returncode == 0, err
    assert second.returncode == 0, second.stderr
    assert WAITING in second.stderr and WAITING not in err
    assert json.loads(out)["decoded"] == FILES
    report = json.loads(second.stdout)
    assert (report["decoded"], report["unchanged"]) == (0, FILES)
    assert integrity(index) == "ok" and table(index) == want
    assert fingerprint(album) == before


def test_two_matches_at_once_give_the_same_results(album, tmp_path):
    album, want, thumbs = album
    index = str(tmp_path / "i.sqlite")
    outs = [str(tmp_path / "out1"), str(tmp_path / "out2")]
    first = start_slow(tmp_path, "match", album, thumbs, "--out", outs[0], "--index", index, "-q")
    second = subprocess.run(
        photomatch_cmd("match", album, thumbs, "--out", outs[1], "--index", index, "-q"),
        capture_output=True,
        text=True,
        timeout=300,
    )
    _, err = first.communicate(timeout=300)
    assert first.returncode == 3, err  # "absent.jpg" is unmatched
    assert second.returncode == 3, second.stderr
    assert WAITING in second.stderr
    results = []
    for out in outs:
        with open(os.path.join(out, "matches.json"), encoding="utf-8") as fh:
            results.append(json.load(fh)["results"])
    assert results[0] == results[1]
    assert len(results[0]) == 4
    assert integrity(index) == "ok" and table(index) == want


def test_a_rebuild_waits_for_the_run_using_the_index(album, tmp_path):
    album, want, _ = album
    index = str(tmp_path / "i.sqlite")
    first = start_slow(tmp_path, "index", album, "--index", index, "-q")
    second = run_photomatch("index", album, "--index", index, "-q", "--json", "--rebuild")
    _, err = first.communicate(timeout=300)
    assert first.returncode == 0, err
    assert second.returncode == 0, second.stderr
    assert WAITING in second.stderr
    report = json.loads(second.stdout)
    assert report["rebuilt"] is True and report["decoded"] == FILES
    assert integrity(index) == "ok" and table(index) == want


def test_threads_of_one_process_take_turns(album, tmp_path):
    album, want, _ = album
    index = str(tmp_path / "i.sqlite")
    reports, errors = [], []

    def run() -> None:
        try:
            reports.append(index_album(album, index, progress=False, jobs=1))
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=run) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=300)
    assert not errors
    assert sorted(r.decoded for r in reports) == [0, 0, FILES]
    assert table(index) == want


def test_one_thread_opening_an_index_twice_gets_an_error_not_a_deadlock(album, tmp_path):
    album, _, _ = album
    index = str(tmp_path / "i.sqlite")
    with AlbumIndex(album, index):
        with pytest.raises(AlbumIndexError, match="already open"):
            AlbumIndex(album, index)
    with AlbumIndex(album, index):  # closed: free again
        pass
    idx = AlbumIndex(album, index)
    del idx  # dropped without close(): the lock goes with it
    AlbumIndex(album, index).close()
