"""What ``match`` writes never lands on a user's file, and a rerun never loses or misapplies work.

Each test builds its own folders from the sample album of real photographs and
checks, by fingerprint (paths, sizes, mtimes, modes, contents), that the album,
the thumbnail folders and every file photomatch did not create are unchanged.
"""

from __future__ import annotations

import errno
import json
import os
import shutil
import stat
import subprocess
import sys
import time

import pytest

from photomatch import outdir, safeio
from photomatch.cli import main
from photomatch.matching import name_sets
from photomatch.results import (
    Decision,
    check_decisions,
    read_decisions,
    read_json,
    write_decisions,
)

from albumcheck import fingerprint


def run_cli(capsys, *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def match(capsys, tmp_path, album: str, *thumbs: str, out: str) -> tuple[int, str, str]:
    return run_cli(
        capsys, "match", album, *thumbs, "--out", out, "--index", str(tmp_path / "i.sqlite"), "-q"
    )


def one_error_line(err: str) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("photomatch: error:"), err
    return lines[0]


def thumb_of(sample, name: str) -> str:
    return next(t.path for t in sample.thumbs if os.path.basename(t.path) == name)


# -- 1. the previews folder is photomatch's own -------------------------------------------


def test_thumbnail_folder_named_previews_under_out_is_refused(sample, tmp_path, capsys):
    downloads = tmp_path / "Downloads"
    thumbs = downloads / "previews"
    shutil.copytree(sample.thumb_sets[0], thumbs)
    # Web services hand out md5-like names: exactly what previews are called.
    for i, name in enumerate(sorted(os.listdir(thumbs))):
        os.rename(thumbs / name, thumbs / f"{i:032x}.jpg")
    before, album_before = fingerprint(str(downloads)), fingerprint(sample.album)
    code, _, err = match(capsys, tmp_path, sample.album, str(thumbs), out=str(downloads))
    assert code == 2
    assert "previews" in one_error_line(err)
    assert fingerprint(str(downloads)) == before
    assert fingerprint(sample.album) == album_before


def test_album_that_is_out_previews_is_refused(sample, tmp_path, capsys):
    out = tmp_path / "out"
    album = out / "previews"
    shutil.copytree(sample.album, album)
    before = fingerprint(str(album))
    code, _, err = match(capsys, tmp_path, str(album), *sample.thumb_sets, out=str(out))
    assert code == 2
    one_error_line(err)
    assert fingerprint(str(album)) == before


def test_previews_symlink_into_the_album_is_refused(sample, tmp_path, capsys):
    out = tmp_path / "out"
    out.mkdir()
    os.symlink(os.path.join(sample.album, "2023", "holiday"), out / "previews")
    before = fingerprint(sample.album)
    code, _, err = match(capsys, tmp_path, sample.album, *sample.thumb_sets, out=str(out))
    assert code == 2
    assert "symlink" in one_error_line(err)
    assert fingerprint(sample.album) == before
    assert os.listdir(out) == ["previews"]


def test_previews_folder_holding_other_files_is_refused(sample, tmp_path, capsys):
    out = tmp_path / "out"
    mine = out / "previews"
    mine.mkdir(parents=True)
    (mine / ("a" * 32 + ".jpg")).write_bytes(b"a photo of mine")
    before = fingerprint(str(out))
    code, _, err = match(capsys, tmp_path, sample.album, *sample.thumb_sets, out=str(out))
    assert code == 2
    assert "did not make" in one_error_line(err)
    assert fingerprint(str(out)) == before


def test_a_rerun_removes_only_previews_photomatch_recorded(sample, tmp_path, capsys):
    out = tmp_path / "out"
    code, _, _ = match(capsys, tmp_path, sample.album, *sample.thumb_sets, out=str(out))
    assert code in (0, 3)
    previews = out / "previews"
    made = {n for n in os.listdir(previews) if n.endswith(".jpg")}
    assert made
    planted = previews / ("b" * 32 + ".jpg")
    planted.write_bytes(b"not photomatch's")
    # Fewer thumbnails: previews of the dropped ones are no longer used.
    code, _, _ = match(capsys, tmp_path, sample.album, sample.thumb_sets[1], out=str(out))
    assert code in (0, 3)
    left = {n for n in os.listdir(previews) if n.endswith(".jpg")}
    assert planted.read_bytes() == b"not photomatch's"
    assert left - {planted.name} < made


# -- 2. never through a symlink -----------------------------------------------------------


@pytest.mark.parametrize("name", ["matches.csv", "matches.json", "review.html", "decisions.json"])
def test_a_symlink_at_an_output_name_is_replaced_not_followed(sample, tmp_path, capsys, name):
    out = tmp_path / "out"
    out.mkdir()
    victim = os.path.join(sample.album, "2023", "holiday", "IMG_1001.jpg")
    os.symlink(victim, out / name)
    before = fingerprint(sample.album)
    code, _, _ = match(capsys, tmp_path, sample.album, *sample.thumb_sets, out=str(out))
    assert code in (0, 3)
    assert fingerprint(sample.album) == before
    if name != "decisions.json":
        assert not os.path.islink(out / name) and os.path.isfile(out / name)


# -- 3. a full disk leaves the previous results whole -------------------------------------


def test_full_disk_on_rerun_keeps_the_previous_results(sample, tmp_path, capsys, monkeypatch):
    out = tmp_path / "out"
    code, _, _ = match(capsys, tmp_path, sample.album, *sample.thumb_sets, out=str(out))
    assert code in (0, 3)
    names = ("matches.csv", "matches.json", "review.html")
    previous = {n: (out / n).read_bytes() for n in names}
    real = safeio.write_temp
    calls = {"n": 0}

    def fill_up(folder: str, data: bytes) -> str:
        calls["n"] += 1
        if calls["n"] >= 2:  # the first result file fits, the second does not
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return real(folder, data)

    monkeypatch.setattr(safeio, "write_temp", fill_up)
    code, _, err = match(capsys, tmp_path, sample.album, sample.thumb_sets[1], out=str(out))
    line = one_error_line(err)
    assert code == 1
    assert "No space left on device" in line and "unchanged" in line
    assert {n: (out / n).read_bytes() for n in names} == previous
    assert not [n for n in os.listdir(out) if n.endswith(safeio.TEMP_SUFFIX)]
    monkeypatch.undo()
    code, _, _ = run_cli(capsys, "export", str(out), "--to", str(tmp_path / "dest"), "-q")
    assert code == 0


# -- 5. a decision applies only to the thumbnail it was made on ---------------------------


def _decide(out: str, query_name: str, pick_of) -> str:
    """Save a person's decision on thumbnail ``query_name``; returns the pick (or None)."""
    run = read_json(os.path.join(out, "matches.json"))
    result = next(r for r in run.results if os.path.basename(r.query) == query_name)
    pick = pick_of(result)
    valid, problems = check_decisions(run, [Decision(result.set, result.query, pick)])
    assert not problems
    write_decisions(os.path.join(out, "decisions.json"), valid)
    return pick


def test_none_of_these_does_not_carry_over_to_a_new_thumbnail(sample, tmp_path, capsys):
    thumbs = tmp_path / "set"
    thumbs.mkdir()
    shutil.copy2(thumb_of(sample, "a1.jpg"), thumbs / "1.jpg")  # the astronaut
    out = str(tmp_path / "out")
    match(capsys, tmp_path, sample.album, str(thumbs), out=out)
    _decide(out, "1.jpg", lambda r: None)  # "none of these"
    shutil.copy2(thumb_of(sample, "b2.jpg"), thumbs / "1.jpg")  # another photo, same name
    code, _, err = match(capsys, tmp_path, sample.album, str(thumbs), out=out)
    assert code == 0
    assert "no longer fit" in err and "decisions-replaced-1.json" in err
    assert read_decisions(os.path.join(out, "decisions.json")) == {}
    aside = json.load(open(os.path.join(out, "decisions-replaced-1.json")))
    assert aside["decisions"][0]["pick"] is None
    dest = tmp_path / "dest"
    code, _, err = run_cli(capsys, "export", out, "--to", str(dest), "-q")
    assert code == 0, err
    assert os.listdir(dest / "set") == ["IMG_1003.jpg"]


def test_a_burst_pick_does_not_carry_over_to_a_new_thumbnail(sample, tmp_path, capsys):
    import pyvips

    thumbs = tmp_path / "set"
    thumbs.mkdir()
    shutil.copy2(thumb_of(sample, "b1.jpg"), thumbs / "1.jpg")  # burst frame IMG_402
    out = str(tmp_path / "out")
    match(capsys, tmp_path, sample.album, str(thumbs), out=out)
    picked = _decide(
        out,
        "1.jpg",
        lambda r: next(c.path for c in r.candidates if c.path.endswith("IMG_401.jpg")),
    )
    # The same frame, thumbnailed anew: another file under the same name.
    pyvips.Image.new_from_file(sample.burst[1]).thumbnail_image(200).jpegsave(
        str(thumbs / "1.jpg"), Q=60
    )
    code, _, err = match(capsys, tmp_path, sample.album, str(thumbs), out=out)
    assert "no longer fit" in err
    assert read_decisions(os.path.join(out, "decisions.json")) == {}
    dest = tmp_path / "dest"
    code, _, err = run_cli(capsys, "export", out, "--to", str(dest), "-q")
    assert code == 0, err
    exported = os.listdir(dest / "set") if (dest / "set").exists() else []
    assert os.path.basename(picked) not in exported


def test_export_refuses_a_decision_made_on_another_file(sample, tmp_path, capsys):
    out = str(tmp_path / "out")
    match(capsys, tmp_path, sample.album, *sample.thumb_sets, out=out)
    _decide(out, "a1.jpg", lambda r: None)
    path = os.path.join(out, "decisions.json")
    doc = json.load(open(path))
    doc["decisions"][0]["query_sha256"] = "0" * 64
    with open(path, "w") as fh:
        json.dump(doc, fh)
    code, _, err = run_cli(capsys, "export", out, "--to", str(tmp_path / "dest"), "-q")
    assert code == 1
    assert "not the thumbnail the pick was made on" in one_error_line(err)
    assert not (tmp_path / "dest").exists()


# -- 6. thumbnails, results and album never overlap ---------------------------------------


def test_thumbnail_folder_inside_the_album_is_refused(sample, tmp_path, capsys):
    inside = os.path.join(sample.album, "downloads", "prints")
    shutil.copytree(sample.thumb_sets[0], inside)
    before = fingerprint(sample.album)
    out = tmp_path / "out"
    code, _, err = match(capsys, tmp_path, sample.album, inside, out=str(out))
    assert code == 2
    assert "inside the album" in one_error_line(err)
    assert fingerprint(sample.album) == before
    assert not out.exists()


@pytest.mark.parametrize("where", ["equal", "inside"])
def test_out_in_a_thumbnail_folder_is_refused(sample, tmp_path, capsys, where):
    thumbs = tmp_path / "prints"
    shutil.copytree(sample.thumb_sets[0], thumbs)
    before = fingerprint(str(thumbs))
    out = thumbs if where == "equal" else thumbs / "results"
    code, _, err = match(capsys, tmp_path, sample.album, str(thumbs), out=str(out))
    assert code == 2
    assert "thumbnail folder" in one_error_line(err)
    assert fingerprint(str(thumbs)) == before


# -- 7. one run at a time per results folder ----------------------------------------------


def test_a_second_run_into_one_out_waits_for_the_first(sample, tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    args = [
        sys.executable, "-m", "photomatch.cli", "match", sample.album, *sample.thumb_sets,
        "--out", str(out), "--index", str(tmp_path / "i.sqlite"), "-q",
    ]  # fmt: skip
    env = {**os.environ, "XDG_CACHE_HOME": str(tmp_path / "cache")}
    with outdir.OutLock(str(out)):
        proc = subprocess.Popen(args, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, env=env)
        assert proc.stderr is not None
        line = proc.stderr.readline().decode()
        assert "waiting for another photomatch run on the results folder" in line
        time.sleep(0.5)  # give a run that ignored the lock the chance to write
        assert proc.poll() is None
        assert os.listdir(out) == [outdir.LOCK_NAME]
    assert proc.wait(timeout=300) in (0, 3)
    assert (out / "matches.json").is_file() and (out / "review.html").is_file()


# -- 8. set names are unique ---------------------------------------------------------------


def test_set_names_are_unique_whatever_the_folders_are_called(tmp_path):
    folders = [tmp_path / "a" / "prints", tmp_path / "b" / "prints", tmp_path / "c" / "prints-2"]
    names = [s.name for s in name_sets([str(f) for f in folders])]
    assert len(set(names)) == 3 and names[0] == "prints"
    names = [s.name for s in name_sets([str(tmp_path / "x" / "Cover"), str(tmp_path / "cover")])]
    assert len({n.casefold() for n in names}) == 2


def test_sets_with_colliding_names_export_apart(sample, tmp_path, capsys):
    folders = [tmp_path / "a" / "prints", tmp_path / "b" / "prints", tmp_path / "c" / "prints-2"]
    for folder, src in zip(
        folders,
        [sample.thumb_sets[0], sample.thumb_sets[1], sample.thumb_sets[0]],
        strict=True,
    ):
        shutil.copytree(src, folder)
    out = str(tmp_path / "out")
    code, _, _ = match(capsys, tmp_path, sample.album, *map(str, folders), out=out)
    assert code in (0, 3)
    run = read_json(os.path.join(out, "matches.json"))
    assert len({s.name for s in run.sets}) == 3
    dest = tmp_path / "dest"
    run_cli(capsys, "export", out, "--to", str(dest), "-q")
    assert len([d for d in os.listdir(dest) if (dest / d).is_dir()]) == 3


def test_the_same_folder_twice_is_a_usage_error(sample, tmp_path, capsys):
    out = tmp_path / "out"
    s = sample.thumb_sets[0]
    code, _, err = match(capsys, tmp_path, sample.album, s, s + "/", out=str(out))
    assert code == 2 and "twice" in one_error_line(err)
    assert not out.exists()


# -- small ones ----------------------------------------------------------------------------


def test_set_names_cannot_run_as_spreadsheet_formulas(sample, tmp_path, capsys):
    evil = tmp_path / '=HYPERLINK("evil.example","x")'
    shutil.copytree(sample.thumb_sets[1], evil)
    out = tmp_path / "out"
    code, _, _ = match(capsys, tmp_path, sample.album, str(evil), out=str(out))
    assert code in (0, 3)
    rows = (out / "matches.csv").read_text().splitlines()[1:]
    assert rows and all(r.startswith("\"'=HYPERLINK") for r in rows)


@pytest.mark.parametrize("bad", ["missing", "empty"])
def test_out_is_not_created_when_the_inputs_are_bad(sample, tmp_path, capsys, bad):
    thumbs = tmp_path / "thumbs"
    if bad == "empty":
        thumbs.mkdir()
    out = tmp_path / "new" / "out"
    code, _, err = match(capsys, tmp_path, sample.album, str(thumbs), out=str(out))
    assert code == 2
    one_error_line(err)
    assert not (tmp_path / "new").exists()


@pytest.mark.parametrize("mask", [0o077, 0o002])
def test_output_files_follow_the_umask(sample, tmp_path, capsys, mask):
    out = tmp_path / "out"
    old = os.umask(mask)
    try:
        code, _, _ = match(capsys, tmp_path, sample.album, *sample.thumb_sets, out=str(out))
        _decide(str(out), "a1.jpg", lambda r: None)
    finally:
        os.umask(old)
    assert code in (0, 3)
    files = ["matches.csv", "matches.json", "review.html", "decisions.json"]
    files += [os.path.join("previews", n) for n in os.listdir(out / "previews")]
    for name in files:
        assert stat.S_IMODE(os.stat(out / name).st_mode) == 0o666 & ~mask, name
