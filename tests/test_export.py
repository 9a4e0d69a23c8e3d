"""Export: per set, complete (manifest with SHA-256), safe (no overwrite, no half file), and
following the decisions made on the review page."""

from __future__ import annotations

import builtins
import csv
import errno
import hashlib
import json
import os
import shutil
import subprocess
import sys
import types

import pytest

import photomatch.export as export_mod
from photomatch.cli import main
from photomatch.errors import ExportError, UsageError
from photomatch.results import (
    MATCHED,
    Candidate,
    Decision,
    MatchRun,
    QueryResult,
    SetInfo,
    write_decisions,
)

from albumcheck import fingerprint


def run_cli(capsys, *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def sha256(path) -> str:
    with open(path, "rb") as fh:
        return hashlib.sha256(fh.read()).hexdigest()


def parts(dest) -> list:
    return [p for p in dest.rglob("*") if p.name.endswith(".part") or ".photomatch-" in p.name]


@pytest.fixture(scope="module")
def matched_master(sample_master, tmp_path_factory):
    """One match of the shared sample album; tests only read the album (and check that)."""
    root = tmp_path_factory.mktemp("export-match")
    out = str(root / "out")
    code = main(
        [
            "match",
            sample_master.album,
            *sample_master.thumb_sets,
            "--out",
            out,
            "--index",
            str(root / "i.sqlite"),
            "-q",
        ]
    )
    assert code in (0, 3)
    return sample_master, out


@pytest.fixture()
def matched(matched_master, tmp_path):
    """The results folder, copied for one test (decisions.json may be written in it)."""
    sample, master_out = matched_master
    out = str(tmp_path / "out")
    shutil.copytree(master_out, out)
    return sample, out, None, None


def results_of(out: str) -> list[dict]:
    with open(os.path.join(out, "matches.json")) as fh:
        return json.load(fh)["results"]


def manifest(dest) -> list[dict]:
    with open(dest / "manifest.csv", newline="") as fh:
        return list(csv.DictReader(fh))


def test_export_copies_matched_originals_per_set(matched, tmp_path, capsys):
    sample, out, _, _ = matched
    dest = tmp_path / "dest"
    before = fingerprint(sample.album)
    code, stdout, _ = run_cli(capsys, "export", out, "--to", str(dest), "-q", "--verify")
    assert code == 0
    expected = {(r["set"], r["match"]) for r in results_of(out) if r["status"] == "matched"}
    rows = manifest(dest)
    with open(dest / "manifest.csv", newline="") as fh:
        assert next(csv.reader(fh)) == ["set", "source", "destination", "bytes", "sha256", "status"]
    assert {(m["set"], m["source"]) for m in rows} == expected
    for m in rows:
        assert os.path.dirname(m["destination"]) == str(dest / m["set"])
        assert os.path.basename(m["destination"]) == os.path.basename(m["source"])
        assert open(m["destination"], "rb").read() == open(m["source"], "rb").read()
        assert os.stat(m["destination"]).st_mtime_ns == os.stat(m["source"]).st_mtime_ns
        assert int(m["bytes"]) == os.path.getsize(m["source"]) and m["status"] == "copied"
        assert m["sha256"] == sha256(m["source"])
    assert not parts(dest)
    # A rerun changes nothing.
    snapshot = fingerprint(str(dest))
    code, _, _ = run_cli(capsys, "export", out, "--to", str(dest), "-q")
    assert code == 0
    rerun = fingerprint(str(dest))
    assert {k: v for k, v in rerun.items() if k != "manifest.csv"} == {
        k: v for k, v in snapshot.items() if k != "manifest.csv"
    }
    again = manifest(dest)
    assert {m["status"] for m in again} == {"exists"}
    assert [m["sha256"] for m in again] == [m["sha256"] for m in rows]
    assert fingerprint(sample.album) == before


def test_export_never_overwrites(matched, tmp_path, capsys):
    sample, out, _, _ = matched
    dest = tmp_path / "dest"
    (dest / "prints").mkdir(parents=True)
    squatter = dest / "prints" / "IMG_1001.jpg"
    squatter.write_bytes(b"someone else's file")
    code, _, _ = run_cli(capsys, "export", out, "--to", str(dest), "-q")
    assert code == 0
    assert squatter.read_bytes() == b"someone else's file"
    copy = dest / "prints" / "IMG_1001-1.jpg"
    assert (
        copy.read_bytes()
        == open(os.path.join(sample.album, "2023", "holiday", "IMG_1001.jpg"), "rb").read()
    )


def test_export_dry_run_writes_nothing(matched, tmp_path, capsys):
    _, out, _, _ = matched
    dest = tmp_path / "dest"
    code, stdout, _ = run_cli(capsys, "export", out, "--to", str(dest), "--dry-run")
    assert code == 0 and "planned" in stdout
    assert not dest.exists()


@pytest.mark.parametrize("mode", ["hardlink", "symlink"])
def test_export_link_modes(matched, tmp_path, capsys, mode):
    sample, out, _, _ = matched
    dest = tmp_path / "dest"
    before = fingerprint(sample.album)
    code, _, _ = run_cli(capsys, "export", out, "--to", str(dest), "--mode", mode, "-q")
    assert code == 0
    made = [p for p in (dest / "prints").iterdir()]
    assert made
    for p in made:
        if mode == "symlink":
            assert p.is_symlink() and os.path.isabs(os.readlink(p))
        else:
            assert os.stat(p).st_nlink >= 2
    assert {m["status"] for m in manifest(dest)} == {"linked"}
    assert all(m["sha256"] == sha256(m["source"]) for m in manifest(dest))
    # A rerun finds the links and changes nothing.
    code, _, _ = run_cli(capsys, "export", out, "--to", str(dest), "--mode", mode, "-q")
    assert code == 0 and {m["status"] for m in manifest(dest)} == {"exists"}
    assert sorted(p.name for p in (dest / "prints").iterdir()) == sorted(p.name for p in made)
    assert fingerprint(sample.album) == before


def test_export_into_the_album_is_refused(matched, capsys):
    sample, out, _, _ = matched
    code, _, err = run_cli(capsys, "export", out, "--to", os.path.join(sample.album, "x"))
    assert code == 2 and "inside the album" in err
    assert not os.path.exists(os.path.join(sample.album, "x"))


def test_export_without_results_is_a_usage_error(tmp_path, capsys):
    code, _, err = run_cli(capsys, "export", str(tmp_path), "--to", str(tmp_path / "d"))
    assert code == 2 and "run 'photomatch match' first" in err


# -- decisions ------------------------------------------------------------------------


def test_export_follows_decisions(matched, tmp_path, capsys):
    sample, out, _, _ = matched
    results = results_of(out)
    # A thumbnail with runners-up gets another candidate picked; a matched one gets "none".
    changed = next(r for r in results if len(r["candidates"]) >= 2)
    other = changed["candidates"][1]["path"]
    dropped = next(
        r
        for r in results
        if r["status"] == "matched"
        and r is not changed
        and r["match"] != other
        and sum(x["match"] == r["match"] and x["set"] == r["set"] for x in results) == 1
    )
    decisions = {
        (changed["set"], changed["query"]): Decision(
            changed["set"], changed["query"], other, changed["query_sha256"]
        ),
        (dropped["set"], dropped["query"]): Decision(
            dropped["set"], dropped["query"], None, dropped["query_sha256"]
        ),
    }
    write_decisions(os.path.join(out, "decisions.json"), decisions)
    frozen = {name: sha256(os.path.join(out, name)) for name in ("matches.csv", "matches.json")}
    before = fingerprint(sample.album)
    dest = tmp_path / "dest"
    code, stdout, err = run_cli(capsys, "export", out, "--to", str(dest), "-q")
    assert code == 0, err
    assert "following 2 decision(s)" in stdout
    expected = set()
    for r in results:
        d = decisions.get((r["set"], r["query"]))
        chosen = d.pick if d else (r["match"] if r["status"] == "matched" else None)
        if chosen:
            expected.add((r["set"], chosen))
    assert {(m["set"], m["source"]) for m in manifest(dest)} == expected
    assert (changed["set"], other) in expected and (
        dropped["set"],
        dropped["match"],
    ) not in expected
    picked = dest / changed["set"] / os.path.basename(other)
    assert picked.read_bytes() == open(other, "rb").read()
    assert frozen == {n: sha256(os.path.join(out, n)) for n in frozen}  # never rewritten
    snapshot = fingerprint(str(dest))
    code, _, _ = run_cli(capsys, "export", out, "--to", str(dest), "-q")
    assert code == 0
    assert {k: v for k, v in fingerprint(str(dest)).items() if k != "manifest.csv"} == {
        k: v for k, v in snapshot.items() if k != "manifest.csv"
    }
    assert fingerprint(sample.album) == before


@pytest.mark.parametrize("damage", ["not-a-candidate", "unknown-thumbnail", "garbage"])
def test_export_refuses_decisions_that_do_not_fit(matched, tmp_path, capsys, damage):
    sample, out, _, _ = matched
    r = results_of(out)[0]
    path = os.path.join(out, "decisions.json")
    if damage == "garbage":
        with open(path, "w") as fh:
            fh.write("{not json")
    else:
        query = r["query"] if damage == "not-a-candidate" else "/nowhere/x.jpg"
        pick = "/etc/passwd" if damage == "not-a-candidate" else None
        decision = Decision(r["set"], query, pick, r["query_sha256"])
        write_decisions(path, {(r["set"], query): decision})
    dest = tmp_path / "dest"
    code, _, err = run_cli(capsys, "export", out, "--to", str(dest), "-q")
    assert code == 1
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("photomatch: error:") and "decisions" in err
    assert not dest.exists()


# -- failures leave no half file -------------------------------------------------------


def _fail_writes_after(limit: int, error: OSError):
    """An ``open`` for export.py whose writable files fail after ``limit`` bytes."""
    real_open = builtins.open

    class Failing:
        def __init__(self, fh):
            self.fh = fh
            self.written = 0

        def write(self, data):
            room = limit - self.written
            if room < len(data):
                self.fh.write(data[: max(room, 0)])
                self.fh.flush()
                raise error
            self.written += len(data)
            return self.fh.write(data)

        def __getattr__(self, name):
            return getattr(self.fh, name)

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            self.fh.close()

    def fake_open(file, mode="r", *args, **kwargs):
        fh = real_open(file, mode, *args, **kwargs)
        return Failing(fh) if "w" in mode else fh

    return fake_open


def test_full_disk_stops_with_one_message_and_no_partial_file(
    matched, tmp_path, capsys, monkeypatch
):
    sample, out, _, _ = matched
    dest = tmp_path / "dest"
    sources = [r["match"] for r in results_of(out) if r["status"] == "matched"]
    half = min(os.path.getsize(s) for s in sources) // 2
    monkeypatch.setattr(
        export_mod,
        "open",
        _fail_writes_after(half, OSError(errno.ENOSPC, "No space left on device")),
        raising=False,
    )
    before = fingerprint(sample.album)
    code, _, err = run_cli(capsys, "export", out, "--to", str(dest), "-q")
    assert code == 1
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("photomatch: error:") and "No space left on device" in lines[0]
    assert "no partial file" in lines[0]
    assert not parts(dest)
    assert not [p for p in dest.rglob("*") if p.is_file()]
    assert fingerprint(sample.album) == before
    # With room again, a rerun completes the export.
    monkeypatch.undo()
    code, _, _ = run_cli(capsys, "export", out, "--to", str(dest), "-q")
    assert code == 0 and {m["status"] for m in manifest(dest)} == {"copied"}


def test_permission_error_stops_with_one_message(matched, tmp_path, capsys, monkeypatch):
    _, out, _, _ = matched
    dest = tmp_path / "dest"

    def refuse(*args, **kwargs):
        raise PermissionError(errno.EACCES, "Permission denied")

    locked = dest / "prints"
    if os.geteuid() == 0:  # root ignores file modes: refuse the temporary file instead
        monkeypatch.setattr(export_mod, "tempfile", types.SimpleNamespace(mkstemp=refuse))
    else:
        locked.mkdir(parents=True)
        locked.chmod(0o500)
    try:
        code, _, err = run_cli(capsys, "export", out, "--to", str(dest), "-q")
    finally:
        if locked.exists():
            locked.chmod(0o700)
    assert code == 1
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "Permission denied" in lines[0], err
    assert not parts(dest)


def test_file_size_limit_in_a_real_process_leaves_no_partial_file(matched, tmp_path):
    """The kernel refuses a write past RLIMIT_FSIZE (EFBIG) half way through a real copy."""
    sample, out, _, _ = matched
    dest = tmp_path / "dest"
    sizes = sorted(os.path.getsize(r["match"]) for r in results_of(out) if r["status"] == MATCHED)
    limit = sizes[-1] - 1000  # the largest original cannot be copied whole
    script = (
        "import resource, signal, sys\n"
        "signal.signal(signal.SIGXFSZ, signal.SIG_IGN)\n"
        f"resource.setrlimit(resource.RLIMIT_FSIZE, ({limit}, {limit}))\n"
        "from photomatch.cli import main\n"
        f"sys.exit(main(['export', {out!r}, '--to', {str(dest)!r}, '-q']))\n"
    )
    before = fingerprint(sample.album)
    proc = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 1, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "File too large" in lines[0], proc.stderr
    assert not parts(dest)
    by_name = {os.path.basename(r["match"]): r["match"] for r in results_of(out) if r["match"]}
    for f in (p for p in dest.rglob("*") if p.is_file()):
        assert f.read_bytes() == open(by_name[f.name], "rb").read()  # published files are whole
    assert fingerprint(sample.album) == before


def test_verify_catches_a_copy_that_reads_back_different(matched, tmp_path, capsys, monkeypatch):
    _, out, _, _ = matched
    dest = tmp_path / "dest"
    real = export_mod._sha256_file
    monkeypatch.setattr(
        export_mod,
        "_sha256_file",
        lambda p: "0" * 64 if p.endswith(".part") else real(p),
    )
    code, _, err = run_cli(capsys, "export", out, "--to", str(dest), "-q", "--verify")
    assert code == 1 and "does not read back the same" in err
    assert not parts(dest)
    assert not [p for p in dest.rglob("*") if p.is_file()]


# -- variants and odd results --------------------------------------------------------------


def _run(sample, tmp_path, set_name: str = "prints") -> MatchRun:
    album = sample.album
    original = os.path.join(album, "2023", "holiday", "IMG_1002.jpg")
    edited = os.path.join(album, "edited", "IMG_1002.jpg")
    query = os.path.join(sample.thumb_sets[0], "a3.jpg")
    cand = Candidate(original, 1, "full", 0.99, (edited,))
    result = QueryResult(set_name, query, MATCHED, original, 1, (cand,), 0.99, (edited,))
    return MatchRun(
        album=album,
        index_path=str(tmp_path / "i.sqlite"),
        sets=(SetInfo(set_name, sample.thumb_sets[0]),),
        results=(result,),
    )


def test_variants_go_to_their_own_folder(sample, tmp_path):
    run = _run(sample, tmp_path)
    dest = tmp_path / "dest"
    items = export_mod.export_originals(run, str(dest), progress=False, variants=True)
    assert [os.path.relpath(it.destination, dest) for it in items] == [
        os.path.join("prints", "IMG_1002.jpg"),
        os.path.join("prints", "variants", "IMG_1002.jpg"),
    ]
    assert (dest / "prints" / "variants" / "IMG_1002.jpg").read_bytes() == open(
        os.path.join(sample.album, "edited", "IMG_1002.jpg"), "rb"
    ).read()
    without = export_mod.export_originals(run, str(tmp_path / "d2"), progress=False)
    assert len(without) == 1


def test_a_set_name_that_is_not_a_folder_name_is_refused(sample, tmp_path):
    run = _run(sample, tmp_path, set_name="..")
    with pytest.raises(UsageError):
        export_mod.export_originals(run, str(tmp_path / "dest"), progress=False)
    assert not (tmp_path / "dest").exists()


def test_a_vanished_original_is_an_export_error(sample, tmp_path):
    run = _run(sample, tmp_path)
    os.remove(os.path.join(sample.album, "2023", "holiday", "IMG_1002.jpg"))
    with pytest.raises(ExportError, match="cannot read original"):
        export_mod.export_originals(run, str(tmp_path / "dest"), progress=False)


# A photo kept in many copies (backups of backups): its variant group is every
# copy, however many there are, not just those the pixel check compared with the
# thumbnail (the nearest few).

COPIES = 200


def _photo_with_copies(root, copies: int, resave: bool = False) -> tuple[str, str, list[str]]:
    """An album holding ``copies`` copies of one sample photo, all named
    ``IMG_0001.jpg`` in folders ``copies/000`` ... (copy ``i`` made ``i``
    minutes after the first), and two other photos; and a thumbnail folder with
    a small, recompressed thumbnail of that photo. ``resave``: each copy is
    re-encoded at its own JPEG quality (same capture, other bytes) instead of
    copied byte for byte."""
    from PIL import Image

    samples = os.path.join(os.path.dirname(export_mod.__file__), "samples")
    album, thumbs = root / "album", root / "thumbs"
    photo = os.path.join(samples, "chelsea.jpg")
    paths = []
    for i in range(copies):
        path = album / "copies" / f"{i:03d}" / "IMG_0001.jpg"
        path.parent.mkdir(parents=True)
        if resave:
            Image.open(photo).save(path, quality=85 + i % 12)
        else:
            shutil.copyfile(photo, path)
        os.utime(path, ns=(1_600_000_000_000_000_000 + i * 60_000_000_000,) * 2)
        paths.append(str(path))
    for name in ("coffee", "rocket"):
        shutil.copyfile(os.path.join(samples, f"{name}.jpg"), album / f"{name}.jpg")
    thumbs.mkdir()
    with Image.open(photo) as im:
        im.thumbnail((160, 160))
        im.save(thumbs / "t1.jpg", quality=40)
    return str(album), str(thumbs), paths


@pytest.fixture(scope="module")
def many_copies(tmp_path_factory):
    root = tmp_path_factory.mktemp("copies")
    album, thumbs, paths = _photo_with_copies(root, COPIES)
    return root, album, thumbs, paths


def _match_cli(root, album, thumbs, out, *more: str) -> None:
    code = main(
        ["match", album, thumbs, "--out", out, "--index", str(root / "i.sqlite"), "-q", *more]
    )
    assert code == 0


def test_every_copy_is_a_variant_in_both_results_files(many_copies, tmp_path, capsys):
    from photomatch.results import split_paths

    root, album, thumbs, paths = many_copies
    fingerprint_before = fingerprint(album)
    out = str(tmp_path / "out")
    _match_cli(root, album, thumbs, out)
    capsys.readouterr()
    with open(os.path.join(out, "matches.csv"), newline="") as fh:
        (row,) = list(csv.DictReader(fh))
    # The oldest copy is the match, and every other copy is its variant.
    assert row["status"] == "matched" and row["match"] == paths[0]
    assert sorted(split_paths(row["variants"])) == sorted(paths[1:])
    # No copy is left among the candidates as if it were another photo.
    assert [p for p in split_paths(row["candidates"]) if p in paths] == [paths[0]]
    (result,) = results_of(out)
    assert result["match"] == paths[0] and len(result["variants"]) == COPIES - 1
    assert result["candidates"][0]["variants"] == result["variants"]
    assert fingerprint(album) == fingerprint_before


def test_export_variants_exports_every_copy(many_copies, tmp_path, capsys):
    root, album, thumbs, paths = many_copies
    out = str(tmp_path / "out")
    _match_cli(root, album, thumbs, out)
    dest = tmp_path / "dest"
    code, _, err = run_cli(capsys, "export", out, "--to", str(dest), "--variants", "-q")
    assert code == 0, err
    rows = manifest(dest)
    assert sorted(r["source"] for r in rows) == sorted(paths)
    for r in rows:
        assert sha256(r["destination"]) == r["sha256"] == sha256(r["source"])
    # One name, the same bytes: the variants folder holds them once, and the
    # manifest lists each copy as already there.
    assert sorted(os.listdir(dest / "thumbs")) == ["IMG_0001.jpg", "variants"]
    assert os.listdir(dest / "thumbs" / "variants") == ["IMG_0001.jpg"]
    assert sorted(r["status"] for r in rows) == ["copied"] * 2 + ["exists"] * (COPIES - 2)


def test_prefer_picks_the_primary_among_all_copies(many_copies, tmp_path, capsys):
    root, album, thumbs, paths = many_copies
    out = str(tmp_path / "out")
    # Far beyond the few copies the pixel check compares with the thumbnail.
    _match_cli(root, album, thumbs, out, "--prefer", "*/copies/150/*")
    (result,) = results_of(out)
    assert result["match"] == paths[150]
    assert sorted(result["variants"]) == sorted(p for p in paths if p != paths[150])


def test_copies_with_other_bytes_join_the_group_on_pixels(tmp_path, capsys):
    # Re-encoded copies: one capture, told by the same test the check groups with.
    album, thumbs, paths = _photo_with_copies(tmp_path, 12, resave=True)
    out = str(tmp_path / "out")
    _match_cli(tmp_path, album, thumbs, out)
    (result,) = results_of(out)
    assert result["status"] == "matched" and result["match"] == paths[0]
    assert sorted(result["variants"]) == sorted(paths[1:])
    dest = tmp_path / "dest"
    code, _, err = run_cli(capsys, "export", out, "--to", str(dest), "--variants", "-q")
    assert code == 0, err
    assert sorted(os.listdir(dest / "thumbs" / "variants")) == sorted(
        ["IMG_0001.jpg"] + [f"IMG_0001-{n}.jpg" for n in range(1, 11)]
    )
