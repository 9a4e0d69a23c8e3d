"""Export faults beyond tests/test_export.py: a real write failure then a rerun that finishes,
folders in DEST that lead into the album, names at the length limit, squatters that appear
at the last moment, and a manifest name that is a symlink."""

from __future__ import annotations

import csv
import os
import shutil
import subprocess
import sys

import pytest

import photomatch.export as export_mod
from photomatch.cli import main
from photomatch.results import MATCHED, Candidate, MatchRun, QueryResult, SetInfo, read_json

from albumcheck import fingerprint


@pytest.fixture(scope="module")
def matched_master(sample_master, tmp_path_factory):
    """One match of the shared sample album (only read here, as the tests check)."""
    root = tmp_path_factory.mktemp("faults-match")
    out = str(root / "out")
    args = ["match", sample_master.album, *sample_master.thumb_sets, "--out", out, "-q"]
    assert main([*args, "--index", str(root / "i.sqlite")]) in (0, 3)
    return sample_master, out


@pytest.fixture()
def matched(matched_master, tmp_path):
    sample, master_out = matched_master
    out = str(tmp_path / "out")
    shutil.copytree(master_out, out)
    return sample, out


def exported_by_set(out: str) -> dict[str, set[str]]:
    """``{set: {original}}`` that an export of ``out`` (no decisions) must produce."""
    want: dict[str, set[str]] = {}
    for r in read_json(os.path.join(out, "matches.json")).results:
        if r.status == MATCHED:
            want.setdefault(r.set, set()).add(r.match)
    return want


def manifest(dest) -> list[dict]:
    with open(os.path.join(dest, "manifest.csv"), newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def leftovers(dest) -> list[str]:
    return [
        os.path.join(folder, name)
        for folder, _, files in os.walk(dest)
        for name in files
        if name.endswith(".part") or name.startswith(".")
    ]


def test_a_write_failing_half_way_then_a_rerun_finishes_the_export(matched, tmp_path):
    """RLIMIT_FSIZE makes the kernel refuse writes (EFBIG) half way through the largest
    original; the export stops with one line and no partial file; a rerun completes it."""
    sample, out = matched
    dest = str(tmp_path / "dest")
    want = exported_by_set(out)
    sizes = sorted(os.path.getsize(p) for ps in want.values() for p in ps)
    limit = sizes[-1] // 2
    script = (
        "import resource, signal, sys\n"
        "signal.signal(signal.SIGXFSZ, signal.SIG_IGN)\n"  # so write() fails with EFBIG
        f"resource.setrlimit(resource.RLIMIT_FSIZE, ({limit}, {limit}))\n"
        "from photomatch.cli import main\n"
        f"sys.exit(main(['export', {out!r}, '--to', {dest!r}, '-q']))\n"
    )
    before = fingerprint(sample.album)
    proc = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 1, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "File too large" in lines[0] and "rerun export" in lines[0]
    assert not leftovers(dest)
    early = {
        os.path.join(folder, name)
        for folder, _, files in os.walk(dest)
        for name in files
        if name != "manifest.csv"
    }
    assert len(early) < sum(len(ps) for ps in want.values())  # it did stop half way

    assert main(["export", out, "--to", dest, "-q"]) == 0
    rows = manifest(dest)
    assert {(m["set"], m["source"]) for m in rows} == {(s, p) for s, ps in want.items() for p in ps}
    for m in rows:
        with open(m["destination"], "rb") as a, open(m["source"], "rb") as b:
            assert a.read() == b.read()
        assert m["status"] == ("exists" if m["destination"] in early else "copied")
    assert not leftovers(dest)
    assert fingerprint(sample.album) == before


@pytest.mark.parametrize("dry_run", [False, True])
def test_a_set_folder_that_is_a_symlink_into_the_album_is_refused(matched, tmp_path, dry_run):
    sample, out = matched
    dest = tmp_path / "dest"
    dest.mkdir()
    set_name = next(iter(exported_by_set(out)))
    os.symlink(os.path.join(sample.album, "2022"), dest / set_name)
    before = fingerprint(sample.album)
    code = main(["export", out, "--to", str(dest), "-q", *(["--dry-run"] if dry_run else [])])
    assert code == 1
    assert fingerprint(sample.album) == before  # nothing was written through the link


def test_a_symlinked_destination_into_the_album_is_refused(matched, tmp_path, capsys):
    sample, out = matched
    os.symlink(os.path.join(sample.album, "2022"), tmp_path / "dest")
    before = fingerprint(sample.album)
    assert main(["export", out, "--to", str(tmp_path / "dest"), "-q"]) == 2
    assert "inside the album" in capsys.readouterr().err
    assert fingerprint(sample.album) == before


def test_squatters_are_never_overwritten(matched, tmp_path):
    """Same name and size but other bytes; a symlink to an album file; a dangling symlink."""
    sample, out = matched
    dest = tmp_path / "dest"
    want = exported_by_set(out)
    set_name = next(iter(want))
    first, *rest = sorted(want[set_name])
    folder = dest / set_name
    folder.mkdir(parents=True)
    same_size = folder / os.path.basename(first)
    same_size.write_bytes(b"\0" * os.path.getsize(first))
    squatters = {same_size: same_size.read_bytes()}
    if rest:
        os.symlink(rest[0], folder / os.path.basename(rest[0]))
    before = fingerprint(sample.album)
    assert main(["export", out, "--to", str(dest), "-q"]) == 0
    assert {p: p.read_bytes() for p in squatters} == squatters
    by_source = {m["source"]: m["destination"] for m in manifest(dest) if m["set"] == set_name}
    stem, ext = os.path.splitext(os.path.basename(first))
    assert by_source[first] == str(folder / f"{stem}-1{ext}")
    if rest:
        link = folder / os.path.basename(rest[0])
        assert link.is_symlink() and os.readlink(link) == rest[0]  # left as it was
        assert by_source[rest[0]] != str(link)
    assert fingerprint(sample.album) == before


def test_a_name_taken_at_the_last_moment_is_not_overwritten(matched, tmp_path, monkeypatch):
    _, out = matched
    dest = tmp_path / "dest"
    real = export_mod._publish
    planted = []

    def race(source, target, mode, size, verify):
        if not planted:  # another program creates the name between the check and the publish
            with open(target, "wb") as fh:
                fh.write(b"theirs")
            planted.append(target)
        return real(source, target, mode, size, verify)

    monkeypatch.setattr(export_mod, "_publish", race)
    assert main(["export", out, "--to", str(dest), "-q"]) == 0
    with open(planted[0], "rb") as fh:
        assert fh.read() == b"theirs"
    assert planted[0] not in {m["destination"] for m in manifest(dest)}


def test_a_manifest_name_that_is_a_symlink_is_replaced_not_followed(matched, tmp_path):
    _, out = matched
    dest = tmp_path / "dest"
    dest.mkdir()
    victim = tmp_path / "victim.txt"
    victim.write_text("precious")
    os.symlink(victim, dest / "manifest.csv")
    os.symlink(victim, dest / "manifest.csv.part")  # the temporary name older versions used
    assert main(["export", out, "--to", str(dest), "-q"]) == 0
    assert victim.read_text() == "precious"
    assert not os.path.islink(dest / "manifest.csv") and manifest(dest)


def test_a_name_at_name_max_still_gets_a_suffix(tmp_path):
    album = tmp_path / "album"
    album.mkdir()
    name = "\u00e9" * 124 + "xy.jpeg"  # 248 + 2 + 5 bytes: NAME_MAX
    assert len(os.fsencode(name)) == 255
    source = album / name
    source.write_bytes(b"\xff\xd8 the original")
    query = str(tmp_path / "thumbs" / "t.jpg")
    result = QueryResult(
        "set", query, MATCHED, str(source), 1, (Candidate(str(source), 1, "full"),)
    )
    run = MatchRun(str(album), "", (SetInfo("set", str(tmp_path / "thumbs")),), (result,))
    dest = tmp_path / "dest"
    (dest / "set").mkdir(parents=True)
    (dest / "set" / name).write_bytes(b"someone else's")
    items = export_mod.export_originals(run, str(dest), progress=False)
    made = os.path.basename(items[0].destination)
    assert made.endswith("-1.jpeg") and len(os.fsencode(made)) <= 255
    assert made.startswith("\u00e9" * 100)  # shortened by whole characters
    assert (dest / "set" / made).read_bytes() == source.read_bytes()
    assert (dest / "set" / name).read_bytes() == b"someone else's"


def test_a_set_folder_that_is_a_file_is_one_clear_error(matched, tmp_path, capsys):
    _, out = matched
    dest = tmp_path / "dest"
    dest.mkdir()
    for set_name in exported_by_set(out):
        (dest / set_name).write_text("a file where the set's folder should be")
    assert main(["export", out, "--to", str(dest), "-q"]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("photomatch: error: cannot export"), err
    assert "Not a directory" in err[0] or "File exists" in err[0]
