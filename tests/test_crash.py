"""Crash safety: ``kill -9`` during ``index`` loses nothing that was committed and decodes
nothing twice; a damaged index gives one clear error and ``--rebuild`` recovers."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import time

import pytest

from albumcheck import fingerprint
from genalbum import (
    committed,
    harness,
    integrity,
    run_photomatch,
    start_after_first_batch,
    table,
    write_album,
)

FILES = 200
BATCH = 16


@pytest.fixture(scope="module")
def album(tmp_path_factory) -> tuple[str, list[tuple]]:
    """A generated album of ``FILES`` small photos and the rows of an uninterrupted build."""
    root = tmp_path_factory.mktemp("crash")
    album = str(root / "album")
    write_album(album, FILES - 1, per_folder=50)
    with open(os.path.join(album, "00000", "broken.jpg"), "wb") as fh:
        fh.write(b"\xff\xd8 half a file")  # an error row must survive a crash too
    ref = str(root / "ref.sqlite")
    proc = run_photomatch("index", album, "--index", ref, "-q", "--json")
    assert proc.returncode == 0, proc.stderr
    rows = table(ref)
    assert len(rows) == FILES and sum(r[3] == "error" for r in rows) == 1
    return album, rows


def test_kill_9_mid_index_then_rerun_equals_an_uninterrupted_build(album, tmp_path):
    album, want = album
    index, log = str(tmp_path / "i.sqlite"), str(tmp_path / "decoded.log")
    before = fingerprint(album)
    proc = subprocess.Popen(
        harness(BATCH, 0.02, str(tmp_path / "first.log"), "index", album, "--index", index, "-q"),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 120
        while committed(index) < BATCH and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.01)
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.wait(timeout=30)
        proc.stderr.close()
    assert proc.returncode == -signal.SIGKILL
    assert integrity(index) == "ok"
    kept = {r[0] for r in table(index)}
    assert BATCH <= len(kept) < FILES and len(kept) % BATCH == 0  # whole batches only

    rerun = subprocess.run(
        harness(BATCH, 0, log, "index", album, "--index", index, "-q", "--json"),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert rerun.returncode == 0, rerun.stderr
    assert "waiting" not in rerun.stderr  # the killed run's lock died with it
    report = json.loads(rerun.stdout)
    assert (report["images"], report["unchanged"], report["decoded"]) == (
        FILES,
        len(kept),
        FILES - len(kept),
    )
    with open(log, encoding="utf-8", errors="surrogateescape") as fh:
        decoded = [os.fsencode(os.path.relpath(p.rstrip("\n"), album)) for p in fh]
    assert len(decoded) == len(set(decoded)) == FILES - len(kept)  # nothing decoded twice
    assert set(decoded).isdisjoint(kept)
    assert integrity(index) == "ok"
    assert table(index) == want
    assert fingerprint(album) == before


def test_damage_found_during_an_update_is_one_clear_error_and_rebuild_recovers(album, tmp_path):
    album, want = album
    index = str(tmp_path / "i.sqlite")
    assert run_photomatch("index", album, "--index", index, "-q").returncode == 0
    with sqlite3.connect(index) as db:
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        page = db.execute("PRAGMA page_size").fetchone()[0]
        # The last pages of the files table (SQLite's dbstat table says which).
        pages = [
            n
            for (n,) in db.execute(
                "SELECT pageno FROM dbstat WHERE name = 'files' ORDER BY pageno DESC LIMIT 3"
            )
        ]
    db.close()
    assert len(pages) == 3
    with open(index, "r+b") as fh:  # scribble over them: the files table's rows
        for n in pages:
            fh.seek((n - 1) * page)
            fh.write(os.urandom(page))
    proc = run_photomatch("index", album, "--index", index, "-q")
    assert proc.returncode == 1
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("photomatch: error: index file") and "--rebuild" in lines[0]
    proc = run_photomatch("index", album, "--index", index, "-q", "--rebuild", "--json")
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["rebuilt"] is True
    assert integrity(index) == "ok" and table(index) == want


@pytest.mark.parametrize("damage", ["garbage", "truncated"])
def test_a_damaged_index_file_is_refused_then_rebuilt(album, tmp_path, damage):
    album, want = album
    index = str(tmp_path / "i.sqlite")
    assert run_photomatch("index", album, "--index", index, "-q").returncode == 0
    with sqlite3.connect(index) as db:
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    if damage == "garbage":  # photomatch's header, random bytes after it
        with open(index, "r+b") as fh:
            fh.seek(100)
            fh.write(os.urandom(8000))
            fh.truncate()
    else:
        os.truncate(index, os.path.getsize(index) // 2)
    proc = run_photomatch("index", album, "--index", index, "-q")
    assert proc.returncode == 1
    assert len(proc.stderr.strip().splitlines()) == 1 and "--rebuild" in proc.stderr
    assert "Traceback" not in proc.stderr
    proc = run_photomatch("index", album, "--index", index, "-q", "--rebuild")
    assert proc.returncode == 0, proc.stderr
    assert table(index) == want


@pytest.mark.parametrize("other", ["sqlite-garbage", "other-app"])
def test_a_file_of_another_program_is_refused_and_never_rebuilt(album, tmp_path, other):
    album, _ = album
    folder = tmp_path / "other"
    folder.mkdir()
    index = str(folder / "i.sqlite")
    if other == "sqlite-garbage":
        with open(index, "wb") as fh:
            fh.write(b"SQLite format 3\0" + os.urandom(8000))
    else:  # some other program's database at that path
        with sqlite3.connect(index) as db:
            db.execute("CREATE TABLE meta (k INTEGER, note TEXT)")
            db.execute("INSERT INTO meta VALUES (1, 'not photomatch')")
        db.close()
    before = fingerprint(str(folder))
    for flags in ((), ("--rebuild",)):
        proc = run_photomatch("index", album, "--index", index, "-q", *flags)
        assert proc.returncode == 1
        lines = proc.stderr.strip().splitlines()
        assert len(lines) == 1 and "not a photomatch index" in lines[0], proc.stderr
        assert "--rebuild" not in proc.stderr
        assert fingerprint(str(folder)) == before


def test_ctrl_c_mid_index_keeps_committed_batches(album, tmp_path):
    album, want = album
    index = str(tmp_path / "i.sqlite")
    proc = start_after_first_batch(
        index, BATCH, 0.02, str(tmp_path / "log"), "index", album, "--index", index
    )
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert err.strip().splitlines()[-1] == "photomatch: interrupted"
    kept = committed(index)
    assert BATCH <= kept < FILES
    again = run_photomatch("index", album, "--index", index, "-q", "--json")
    assert json.loads(again.stdout)["decoded"] == FILES - kept
    assert table(index) == want
