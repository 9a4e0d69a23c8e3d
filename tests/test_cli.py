"""The command line: outputs, exit codes, clear errors, export safety."""

from __future__ import annotations

import csv
import json
import os

import pytest

from photomatch.cli import main

from albumcheck import fingerprint


def run_cli(capsys, *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture()
def matched(sample, tmp_path, capsys):
    out = str(tmp_path / "out")
    code, stdout, _ = run_cli(
        capsys,
        "match",
        sample.album,
        *sample.thumb_sets,
        "--out",
        out,
        "--index",
        str(tmp_path / "i.sqlite"),
        "-q",
    )
    return sample, out, code, stdout


def test_match_writes_csv_json_and_summary(matched):
    sample, out, code, stdout = matched
    assert code == 3  # the burst and the absent original need review
    with open(os.path.join(out, "matches.csv"), newline="") as fh:
        rows = list(csv.reader(fh))
    assert rows[0][:6] == ["set", "query", "status", "match", "distance", "candidates"]
    assert len(rows) == 1 + len(sample.thumbs)
    by_query = {r[1]: r for r in rows[1:]}
    for t in sample.thumbs:
        row = by_query[t.path]
        assert os.path.isabs(row[1])
        if row[2] == "matched":
            assert row[3] in t.expected and row[5].split(";")[0] == row[3]
        else:
            assert row[3] == ""
    data = json.load(open(os.path.join(out, "matches.json")))
    assert data["album"] == sample.album
    assert [s["name"] for s in data["sets"]] == ["prints", "cover"]
    assert [os.path.basename(s["path"]) for s in data["skipped_album"]] == ["IMG_1009.jpg"]
    assert "prints" in stdout and "cover" in stdout and "matched" in stdout
    assert "IMG_1009.jpg" in stdout  # the unreadable album file is listed


def test_match_json_summary(sample, tmp_path, capsys):
    code, out, _ = run_cli(
        capsys,
        "match",
        sample.album,
        sample.thumb_sets[0],
        "--out",
        str(tmp_path / "o"),
        "--index",
        str(tmp_path / "i.sqlite"),
        "--json",
        "-q",
    )
    data = json.loads(out)
    assert code == 3 and data["needs_review"] is True
    assert sum(data["summary"]["prints"].values()) == 5
    assert data["index"]["images"] == 11


def test_exit_0_when_all_matched(sample, tmp_path, capsys):
    clear = tmp_path / "clear"
    clear.mkdir()
    for t in sample.thumbs:
        if t.kind in ("downscaled q30", "EXIF-rotated original", "centre square"):
            os.link(t.path, clear / os.path.basename(t.path))
    code, _, _ = run_cli(
        capsys,
        "match",
        sample.album,
        str(clear),
        "--out",
        str(tmp_path / "o"),
        "--index",
        str(tmp_path / "i.sqlite"),
        "-q",
    )
    assert code == 0


@pytest.mark.parametrize(
    "case", ["no-album", "empty-thumbs", "no-image-thumbs", "bad-out", "out-in-album"]
)
def test_bad_input_gets_one_clear_line(sample, tmp_path, capsys, case):
    album, thumbs, out = sample.album, sample.thumb_sets[0], str(tmp_path / "o")
    if case == "no-album":
        album = str(tmp_path / "missing")
    elif case == "empty-thumbs":
        thumbs = str(tmp_path / "empty")
        os.mkdir(thumbs)
    elif case == "no-image-thumbs":
        thumbs = str(tmp_path / "notes")
        os.mkdir(thumbs)
        (tmp_path / "notes" / "readme.txt").write_text("hi")
    elif case == "bad-out":
        (tmp_path / "file").write_text("x")
        out = str(tmp_path / "file" / "sub")
    elif case == "out-in-album":
        out = os.path.join(album, "results")
    before = fingerprint(sample.album)
    code, stdout, err = run_cli(
        capsys, "match", album, thumbs, "--out", out, "-q", "--index", str(tmp_path / "i.sqlite")
    )
    assert code == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("photomatch: error:")
    assert "Traceback" not in err
    assert fingerprint(sample.album) == before


def test_usage_errors_exit_2(capsys):
    code, _, err = run_cli(capsys, "match")
    assert code == 2 and "Missing argument" in err
    code, _, _ = run_cli(capsys, "export", "somewhere")
    assert code == 2


def test_index_command(sample, tmp_path, capsys):
    code, out, _ = run_cli(
        capsys, "index", sample.album, "--index", str(tmp_path / "i.sqlite"), "--json", "-q"
    )
    data = json.loads(out)
    assert code == 0 and data["images"] == 11 and len(data["unreadable"]) == 1


def test_demo_runs_the_whole_flow(tmp_path, capsys):
    folder = tmp_path / "demo"
    code, out, err = run_cli(capsys, "demo", str(folder), "-q")
    assert code == 0, err
    assert (folder / "results" / "matches.csv").is_file()
    assert list((folder / "export" / "prints").glob("*.jpg"))
    assert "photomatch match ALBUM THUMBS" in out
    code, _, err = run_cli(capsys, "demo", str(folder), "-q")
    assert code == 2 and "not empty" in err
