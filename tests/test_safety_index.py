"""``--index`` names a file photomatch may change: only its own index, a new path or an empty
file. Another program's database, a document or random bytes is refused with one line and
left byte for byte as it was (no rows deleted, no tables added, no WAL, no lock file)."""

from __future__ import annotations

import io
import json
import os
import sqlite3
import zipfile

import pytest

from photomatch import cli
from photomatch.index import APPLICATION_ID, FORMAT_VERSION

from albumcheck import fingerprint


def _history(path: str) -> None:
    """A browser-history-like database: a ``meta(key, value)`` table and a table of visits."""
    with sqlite3.connect(path) as db:
        db.execute("CREATE TABLE meta (key LONGVARCHAR NOT NULL UNIQUE PRIMARY KEY, value TEXT)")
        db.executemany("INSERT INTO meta VALUES (?, ?)", [("version", "52"), ("mmap_status", "-1")])
        db.execute("CREATE TABLE urls (id INTEGER PRIMARY KEY, url TEXT, visit_count INTEGER)")
        db.executemany(
            "INSERT INTO urls (url, visit_count) VALUES (?, ?)",
            [(f"https://example.org/{i}", i) for i in range(50)],
        )
    db.close()


def _no_meta(path: str) -> None:
    """Another program's SQLite database without a ``meta`` table."""
    with sqlite3.connect(path) as db:
        db.execute("CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT)")
        db.executemany("INSERT INTO notes (body) VALUES (?)", [(f"note {i}",) for i in range(20)])
    db.close()


def _meta_keys_and_more(path: str) -> None:
    """A database whose ``meta`` holds photomatch's keys but that has tables of its own."""
    with sqlite3.connect(path) as db:
        db.execute("CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)")
        db.executemany(
            "INSERT INTO meta VALUES (?, ?)",
            [("format_version", "4"), ("hash_version", "1"), ("words", "2"), ("album", "/x")],
        )
        db.execute("CREATE TABLE files (id INTEGER PRIMARY KEY)")
        db.execute("CREATE TABLE invoices (id INTEGER PRIMARY KEY, total REAL)")
        db.execute("INSERT INTO invoices (total) VALUES (12.5)")
    db.close()


def _docx(path: str) -> None:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("[Content_Types].xml", "<Types/>")
        zf.writestr("word/document.xml", "<w:document>my thesis</w:document>")
    with open(path, "wb") as fh:
        fh.write(buf.getvalue())


def _text(path: str) -> None:
    with open(path, "w") as fh:
        fh.write("chapter 1\n" * 400)


def _sqlite_header_random_rest(path: str) -> None:
    with open(path, "wb") as fh:
        fh.write(b"SQLite format 3\0" + os.urandom(8000))


FOREIGN = {
    "history": _history,
    "no-meta": _no_meta,
    "meta-keys-and-other-tables": _meta_keys_and_more,
    "docx": _docx,
    "text": _text,
    "sqlite-header-random-rest": _sqlite_header_random_rest,
}


def _run(capsys, *args: str) -> tuple[int, str, str]:
    code = cli.main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def _mark(index: str) -> tuple[int, int]:
    with sqlite3.connect(f"file:{index}?mode=ro", uri=True) as db:
        app = db.execute("PRAGMA application_id").fetchone()[0]
        version = db.execute("PRAGMA user_version").fetchone()[0]
    db.close()
    return app, version


@pytest.mark.parametrize("kind", sorted(FOREIGN))
@pytest.mark.parametrize("command", ["index", "index --rebuild", "match", "match --rebuild"])
def test_a_file_that_is_not_a_photomatch_index_is_refused_and_left_untouched(
    sample, tmp_path, capsys, kind, command
):
    folder = tmp_path / "other"
    folder.mkdir()
    target = str(folder / ("History" if kind != "docx" else "thesis.docx"))
    FOREIGN[kind](target)
    before = fingerprint(str(folder))
    album_before = fingerprint(sample.album)
    name, *flags = command.split()
    args = [name, sample.album]
    if name == "match":
        args += [sample.thumb_sets[0], "--out", str(tmp_path / "results")]
    code, out, err = _run(capsys, *args, "--index", target, "-q", *flags)
    assert code != 0
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("photomatch: error: ")
    assert "not a photomatch index" in lines[0] and target in lines[0]
    assert "--rebuild" not in lines[0] and "damaged" not in lines[0]
    # Byte for byte as it was; no -wal, -shm, -journal or lock file beside it.
    assert fingerprint(str(folder)) == before
    assert fingerprint(sample.album) == album_before


def test_a_photomatch_index_carries_its_mark_and_is_refreshed_incrementally(
    sample, tmp_path, capsys
):
    index = str(tmp_path / "idx" / "album.sqlite")
    code, out, err = _run(capsys, "index", sample.album, "--index", index, "-q", "--json")
    assert code == 0, err
    assert json.loads(out)["decoded"] == 11
    assert _mark(index) == (APPLICATION_ID, FORMAT_VERSION)
    code, out, err = _run(capsys, "index", sample.album, "--index", index, "-q", "--json")
    assert code == 0, err
    report = json.loads(out)
    assert report["decoded"] == 0 and report["unchanged"] == 11 and not report["rebuilt"]
    code, out, err = _run(
        capsys, "index", sample.album, "--index", index, "-q", "--json", "--rebuild"
    )
    assert code == 0, err
    report = json.loads(out)
    assert report["rebuilt"] and report["decoded"] == 11
    assert _mark(index) == (APPLICATION_ID, FORMAT_VERSION)


def test_an_empty_file_is_claimed_as_a_new_index(sample, tmp_path, capsys):
    index = tmp_path / "empty.sqlite"
    index.write_bytes(b"")
    code, out, err = _run(capsys, "index", sample.album, "--index", str(index), "-q", "--json")
    assert code == 0, err
    assert json.loads(out)["decoded"] == 11
    assert _mark(str(index)) == (APPLICATION_ID, FORMAT_VERSION)


def test_an_index_of_an_earlier_photomatch_without_the_mark_is_kept_and_marked(
    sample, tmp_path, capsys
):
    index = str(tmp_path / "old.sqlite")
    assert _run(capsys, "index", sample.album, "--index", index, "-q")[0] == 0
    with sqlite3.connect(index) as db:  # what earlier versions wrote: no mark, two tables
        db.execute("DROP TABLE overviews")
        db.execute("PRAGMA application_id = 0")
        db.execute("PRAGMA user_version = 0")
    db.close()
    assert _mark(index) == (0, 0)
    code, out, err = _run(capsys, "index", sample.album, "--index", index, "-q", "--json")
    assert code == 0, err
    report = json.loads(out)
    assert not report["rebuilt"]
    # Its rows are kept; each hashed file is hashed again for the overview it
    # lacks (10; the 11th is a truncated JPEG, an error row left as it was).
    assert report["decoded"] == 10 and report["unchanged"] == 1
    assert _mark(index) == (APPLICATION_ID, FORMAT_VERSION)
    with sqlite3.connect(index) as db:
        assert db.execute("SELECT count(*) FROM overviews").fetchone()[0] == 10
    db.close()


def test_a_damaged_photomatch_index_says_rebuild_and_rebuild_recovers(sample, tmp_path, capsys):
    index = str(tmp_path / "i.sqlite")
    assert _run(capsys, "index", sample.album, "--index", index, "-q")[0] == 0
    with sqlite3.connect(index) as db:
        page = db.execute("PRAGMA page_size").fetchone()[0]
    db.close()
    with open(index, "r+b") as fh:  # keep the header, scribble over everything after it
        fh.seek(100)
        fh.write(os.urandom(os.path.getsize(index) - 100 + page))
    code, out, err = _run(capsys, "index", sample.album, "--index", index, "-q")
    assert code == 1
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert "damaged" in lines[0] and "--rebuild" in lines[0]
    code, out, err = _run(
        capsys, "index", sample.album, "--index", index, "-q", "--json", "--rebuild"
    )
    assert code == 0, err
    report = json.loads(out)
    assert report["rebuilt"] and report["decoded"] == 11
    assert _mark(index) == (APPLICATION_ID, FORMAT_VERSION)


def test_an_album_holding_the_default_index_folder_says_to_give_index(
    sample, tmp_path, capsys, monkeypatch
):
    # The album is the home folder: the default index (~/.cache/photomatch) is inside it.
    home = sample.album
    monkeypatch.setenv("XDG_CACHE_HOME", os.path.join(home, ".cache"))
    before = fingerprint(home)
    code, out, err = _run(capsys, "index", home, "-q")
    assert code != 0
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert "inside the album" in lines[0] and "--index" in lines[0]
    assert fingerprint(home) == before
