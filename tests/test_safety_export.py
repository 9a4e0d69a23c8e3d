"""Export safety: a killed export's temporary file is removed by the next run (under a lock on
DEST, and only photomatch's own names), manifest.csv cannot run as a spreadsheet formula and
gets the mode the umask allows, and ``export --help`` says what the link modes share with
the album. Every test checks that the album is unchanged."""

from __future__ import annotations

import csv
import os
import select
import shutil
import signal
import subprocess
import sys

import pytest

from photomatch.api import match_album
from photomatch.cli import main
from photomatch.results import MATCHED, Candidate, MatchRun, QueryResult, SetInfo

from albumcheck import fingerprint

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]

#: Thumbnail folder names a spreadsheet would read as formulas (a set is named after its folder).
FORMULA_SETS = ('=HYPERLINK("evil.example","click")', "+1", "-2", "@SUM(1)", "\tTAB")
LOCK = ".photomatch-export.lock"


@pytest.fixture(scope="module")
def matched(sample_master, tmp_path_factory):
    """The shared sample matched with the thumbnails in folders named like formulas.

    Returns (sample, results folder, {set name: originals it exports}). Tests only read
    the album, and check that.
    """
    root = tmp_path_factory.mktemp("safety-export")
    folders = []
    for i, name in enumerate(FORMULA_SETS):
        folder = root / "thumbs" / name
        shutil.copytree(sample_master.thumb_sets[i % len(sample_master.thumb_sets)], folder)
        folders.append(str(folder))
    out = str(root / "out")
    run, _ = match_album(
        sample_master.album, folders, out=out, index_path=str(root / "i.sqlite"), progress=False
    )
    want: dict[str, set[str]] = {}
    for r in run.results:
        if r.status == MATCHED:
            want.setdefault(r.set, set()).add(r.match)
    assert set(want) == set(FORMULA_SETS)  # every set exports something
    return sample_master, out, want


def manifest_rows(dest) -> list[dict]:
    with open(os.path.join(dest, "manifest.csv"), newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def temp_files(dest) -> list[str]:
    """Regular files under ``dest`` named like photomatch's temporary files."""
    return sorted(
        os.path.join(folder, name)
        for folder, _, files in os.walk(dest)
        for name in files
        if name.startswith(".photomatch-")
        and name.endswith(".part")
        and os.path.isfile(os.path.join(folder, name))
        and not os.path.islink(os.path.join(folder, name))
    )


def _export_killed_mid_copy(out: str, dest: str) -> subprocess.CompletedProcess:
    """A real export process that SIGKILLs itself half way through its first copy."""
    script = (
        "import os, signal, sys\n"
        "import photomatch.export as export\n"
        "def copy_then_die(source, fd, size):\n"
        "    with open(source, 'rb') as fh:\n"
        "        os.write(fd, fh.read(size // 2))\n"
        "    os.fsync(fd)\n"
        "    os.kill(os.getpid(), signal.SIGKILL)\n"
        "export._copy_hashing = copy_then_die\n"
        "from photomatch.cli import main\n"
        f"sys.exit(main(['export', {out!r}, '--to', {dest!r}, '-q']))\n"
    )
    return subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120
    )


# -- a killed export, then a rerun ------------------------------------------------------


def test_a_rerun_removes_the_temporary_file_of_a_killed_export_and_nothing_else(matched, tmp_path):
    sample, out, want = matched
    dest = tmp_path / "dest"
    before = fingerprint(sample.album)
    proc = _export_killed_mid_copy(out, str(dest))
    assert proc.returncode == -signal.SIGKILL, proc.stderr
    left = temp_files(dest)
    assert len(left) == 1, left  # the half copy, under its temporary name
    set_folder = os.path.dirname(left[0])
    assert os.path.basename(set_folder) in want
    assert 0 < os.path.getsize(left[0])

    # The user's own files, named like photomatch's but not one of its temporary files.
    victim = tmp_path / "victim.txt"
    victim.write_text("precious")
    mine = {
        os.path.join(set_folder, ".photomatch-notes.txt"): b"notes",
        os.path.join(set_folder, "x.part"): b"a download",
        os.path.join(set_folder, "photomatch-x.part"): b"no dot",
        os.path.join(set_folder, ".photomatch-x.part.txt"): b"other suffix",
        str(dest / ".photomatch-notes.txt"): b"notes at the top",
        str(dest / "x.part"): b"a download at the top",
    }
    for path, data in mine.items():
        with open(path, "wb") as fh:
            fh.write(data)
    link = os.path.join(set_folder, ".photomatch-link.part")
    os.symlink(victim, link)  # a symlink is never a temporary file of photomatch's
    folder_named_so = os.path.join(set_folder, ".photomatch-dir.part")
    os.mkdir(folder_named_so)
    with open(os.path.join(folder_named_so, "inside.jpg"), "wb") as fh:
        fh.write(b"kept")

    assert main(["export", out, "--to", str(dest), "-q"]) == 0
    assert not temp_files(dest)
    assert not os.path.lexists(dest / LOCK)  # the killed run's lock file is gone too
    for path, data in mine.items():
        with open(path, "rb") as fh:
            assert fh.read() == data, path
    assert os.path.islink(link) and os.readlink(link) == str(victim)
    assert victim.read_text() == "precious"
    with open(os.path.join(folder_named_so, "inside.jpg"), "rb") as fh:
        assert fh.read() == b"kept"
    rows = manifest_rows(dest)
    assert {m["source"] for m in rows} == {p for ps in want.values() for p in ps}
    for m in rows:
        with open(m["destination"], "rb") as a, open(m["source"], "rb") as b:
            assert a.read() == b.read()
    assert fingerprint(sample.album) == before


@pytest.mark.skipif(fcntl is None, reason="no flock on this platform")
def test_a_second_export_waits_for_the_first_and_leaves_its_temporary_file_alone(matched, tmp_path):
    """While another export holds DEST's lock, a new one says it waits and removes nothing."""
    sample, out, want = matched
    dest = tmp_path / "dest"
    set_folder = dest / next(iter(want))
    set_folder.mkdir(parents=True)
    live = set_folder / ".photomatch-live.part"  # the running export's copy in progress
    live.write_bytes(b"being written")
    before = fingerprint(sample.album)
    holder = os.open(dest / LOCK, os.O_RDWR | os.O_CREAT, 0o644)
    fcntl.flock(holder, fcntl.LOCK_EX)
    proc = subprocess.Popen(
        [sys.executable, "-m", "photomatch.cli", "export", out, "--to", str(dest), "-q"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        ready, _, _ = select.select([proc.stderr], [], [], 60)
        assert ready, "the second export neither waited nor finished"
        line = proc.stderr.readline()
        assert "waiting for another photomatch export" in line, line + proc.stderr.read()
        assert proc.poll() is None  # still waiting
        assert live.read_bytes() == b"being written"
        assert not (dest / "manifest.csv").exists()
        assert [p.name for p in set_folder.iterdir()] == [live.name]
    finally:
        os.close(holder)  # the first export ends
        stdout, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 0, stderr
    assert {m["source"] for m in manifest_rows(dest)} == {p for ps in want.values() for p in ps}
    assert not os.path.lexists(dest / LOCK)
    assert fingerprint(sample.album) == before


def test_a_set_folder_leading_into_the_album_is_not_swept(sample, tmp_path):
    """The sweep never removes anything through a set folder that is a symlink into the album."""
    album = sample.album
    original = os.path.join(album, "2023", "holiday", "IMG_1002.jpg")
    in_album = os.path.join(album, "2023", "holiday", ".photomatch-abcd.part")
    with open(in_album, "wb") as fh:
        fh.write(b"the album's own file")
    query = os.path.join(sample.thumb_sets[0], "a3.jpg")
    result = QueryResult("prints", query, MATCHED, original, 1, (Candidate(original, 1, "full"),))
    run = MatchRun(album, "", (SetInfo("prints", sample.thumb_sets[0]),), (result,))
    dest = tmp_path / "dest"
    dest.mkdir()
    os.symlink(os.path.join(album, "2023", "holiday"), dest / "prints")
    before = fingerprint(album)
    from photomatch.errors import ExportError
    from photomatch.export import export_originals

    with pytest.raises(ExportError, match="leads into the album"):
        export_originals(run, str(dest), progress=False)
    assert fingerprint(album) == before
    assert not os.path.lexists(dest / LOCK)


# -- manifest.csv ------------------------------------------------------------------------


def test_manifest_cells_cannot_run_as_spreadsheet_formulas(matched, tmp_path):
    sample, out, want = matched
    dest = tmp_path / "dest"
    before = fingerprint(sample.album)
    assert main(["export", out, "--to", str(dest), "-q"]) == 0
    rows = manifest_rows(dest)
    assert {m["set"] for m in rows} == {"'" + s for s in FORMULA_SETS}
    for m in rows:
        real_set = m["set"][1:]
        # The files are in the set's real folder; only the cell is defused.
        assert os.path.dirname(m["destination"]) == str(dest / real_set)
        assert m["source"] in want[real_set]
    with open(dest / "manifest.csv", newline="", encoding="utf-8") as fh:
        for row in csv.reader(fh):
            for cell in row:
                assert not cell.startswith(("=", "+", "-", "@", "\t", "\r")), row
    assert fingerprint(sample.album) == before


@pytest.mark.parametrize(
    ("mask", "expected"), [(0o077, 0o600), (0o002, 0o664)], ids=["umask077", "umask002"]
)
def test_manifest_mode_follows_the_umask_and_copies_keep_the_originals(
    matched, tmp_path, mask, expected
):
    sample, out, _ = matched
    dest = tmp_path / "dest"
    before = fingerprint(sample.album)
    old = os.umask(mask)
    try:
        assert main(["export", out, "--to", str(dest), "-q"]) == 0
    finally:
        os.umask(old)
    assert os.stat(dest / "manifest.csv").st_mode & 0o777 == expected
    rows = manifest_rows(dest)
    assert rows
    for m in rows:  # copies keep the original's mode and times, whatever the umask
        copy, source = os.stat(m["destination"]), os.stat(m["source"])
        assert copy.st_mode == source.st_mode
        assert copy.st_mtime_ns == source.st_mtime_ns
    assert fingerprint(sample.album) == before


# -- help ----------------------------------------------------------------------------------


def test_export_help_says_a_hard_link_is_the_album_original(sample_master, capsys):
    before = fingerprint(sample_master.album)
    assert main(["export", "--help"]) == 0
    text = " ".join(capsys.readouterr().out.split())
    mode_help = text[text.index("--mode") : text.index("--dry-run")]
    assert "hardlink" in mode_help and "editing it edits the original in the album" in mode_help
    assert "symlink" in mode_help and "point into the album" in mode_help
    assert fingerprint(sample_master.album) == before
