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
    # The summary says "decoded" as the JSON does; the pixel check's figures
    # are for --verbose.
    assert " decoded" in stdout and "hashed" not in stdout
    assert "pixel check" not in stdout


def test_verbose_adds_the_pixel_check_line(sample, tmp_path, capsys):
    code, out, _ = run_cli(
        capsys,
        "match",
        sample.album,
        sample.thumb_sets[0],
        "--out",
        str(tmp_path / "o"),
        "--index",
        str(tmp_path / "i.sqlite"),
        "-q",
        "--verbose",
    )
    assert code == 3
    line = next(x for x in out.splitlines() if x.startswith("pixel check: "))
    assert "album files decoded again" in line and "per thumbnail" in line


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


@pytest.mark.parametrize(
    "args, says",
    [
        (["match"], "Missing argument 'ALBUM'"),
        (["frob"], "No such command 'frob'"),
        (["export", "x", "--mod", "copy"], "No such option '--mod'"),
        (["export", "x", "--to", "y", "--mode", "move"], "'move' is not one of"),
        (["index", "x", "--jobs", "0"], "--jobs"),
        (["review", "x", "--port", "70000"], "--port"),
    ],
)
def test_click_usage_errors_are_one_line_in_photomatchs_style(capsys, args, says):
    code, out, err = run_cli(capsys, *args)
    assert code == 2 and out == ""
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("photomatch: error: ") and says in lines[0]
    assert "Usage:" not in err and "Error:" not in err
    # Where to read the usage instead: the command's own help.
    command = "photomatch" if args[0] == "frob" else f"photomatch {args[0]}"
    assert lines[0].endswith(f"(see '{command} --help')")


def test_photomatch_errors_and_unexpected_ones_share_the_style(
    sample, tmp_path, capsys, monkeypatch
):
    code, _, err = run_cli(capsys, "export", str(tmp_path / "nothing"), "--to", str(tmp_path))
    assert code == 2 and err.startswith("photomatch: error: no matches.json in")

    def broken(*args, **kwargs):
        raise RuntimeError("line one\nline two")

    monkeypatch.setattr("photomatch.api.index_album", broken)
    code, _, err = run_cli(capsys, "index", sample.album, "-q")
    assert code == 1
    assert err.splitlines() == [
        "photomatch: error: unexpected RuntimeError: line one\\nline two "
        "(rerun with --debug for details)"
    ]


def test_bare_photomatch_shows_the_help(capsys):
    code, out, err = run_cli(capsys)
    assert code in (0, 2)  # click < 8.2 exits 0 here
    assert "Commands:" in out + err and "photomatch: error" not in out + err


def test_help_lists_every_command_with_its_whole_summary(capsys):
    from photomatch.cli import cli

    code, out, _ = run_cli(capsys, "--help")
    assert code == 0
    listed = out.split("Commands:", 1)[1]
    for name, command in cli.commands.items():
        summary = command.get_short_help_str()
        # Fits beside the command name in 80 columns, so click never cuts it.
        assert summary and not summary.endswith("...") and len(summary) <= 66, name
        assert f"  {name}" in listed and summary in " ".join(listed.split()), name
    assert "..." not in listed


def test_every_option_has_help_text(capsys):
    from photomatch.cli import cli

    for name, command in [("photomatch", cli), *cli.commands.items()]:
        for param in command.params:
            if param.param_type_name == "option":
                assert param.help, f"{name} {param.opts} has no help text"
    code, out, _ = run_cli(capsys, "export", "--help")
    assert code == 0 and "--mode [copy|hardlink|symlink]  copy: independent copies." in out


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
