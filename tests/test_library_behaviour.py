"""photomatch inside someone else's program: importing it leaves Pillow's limit and
the warnings filters alone, using it leaves them as they were, and the Python API
draws no progress bar unless asked. The CLI draws bars only on a terminal."""

from __future__ import annotations

import os
import struct
import subprocess
import sys
import textwrap
import warnings

import pytest
from PIL import Image

from photomatch import export_originals, hashing, index_album, match_album, preview
from photomatch.cli import main
from photomatch.demo import sample_image

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "benches"))
import _photos  # noqa: E402  (the benchmarks' camera-style EXIF writer)


def test_importing_photomatch_changes_no_pillow_or_warnings_setting():
    # In a fresh interpreter: no other test's import can hide a change.
    code = textwrap.dedent(
        """
        import importlib, pkgutil, warnings
        # photomatch's dependencies first: numpy adds filters of its own on import.
        import click, numpy, pyvips, tqdm, PIL.Image, PIL.JpegImagePlugin
        before = (PIL.Image.MAX_IMAGE_PIXELS, list(warnings.filters))
        import photomatch
        for mod in pkgutil.walk_packages(photomatch.__path__, "photomatch."):
            importlib.import_module(mod.name)
        after = (PIL.Image.MAX_IMAGE_PIXELS, list(warnings.filters))
        assert after == before, (before, after)
        assert not any("PIL" in repr(f) or "Decompression" in repr(f) for f in after)
        assert PIL.Image.MAX_IMAGE_PIXELS == int(1024 * 1024 * 1024 // 4 // 3)
        print("ok")
        """
    )
    env = {k: v for k, v in os.environ.items() if k != "PYTHONWARNINGS"}
    done = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "ok"


def _camera_jpeg(path, exif_patch=None, declare=None) -> str:
    """A 640 x 480 JPEG with a 160 x 120 EXIF preview; ``exif_patch`` damages its
    EXIF, ``declare`` makes its frame header claim another size."""
    small = sample_image("astronaut").thumbnail_image(160, height=120, crop="centre")
    picture = sample_image("astronaut").thumbnail_image(640, height=480, crop="centre")
    exif = bytearray(
        _photos.exif_block(
            orientation=1,
            width=picture.width,
            height=picture.height,
            thumbnail=small.jpegsave_buffer(Q=75, keep="none"),
            when="2024:06:01 10:00:00",
            exposure=(1, 125),
            fnumber=(28, 10),
            iso=100,
        )
    )
    if exif_patch:
        exif_patch(exif)
    data = bytearray(_photos.splice_exif(picture.jpegsave_buffer(Q=90, keep="none"), bytes(exif)))
    if declare:
        pos = 2
        while data[pos + 1] not in (0xC0, 0xC2):
            pos += 2 + struct.unpack_from(">H", data, pos + 2)[0]
        struct.pack_into(">HH", data, pos + 5, declare[1], declare[0])
    path.write_bytes(bytes(data))
    return str(path)


def _oversized_first_tag(exif: bytearray) -> None:
    # IFD0's first entry (offset 8: count, then 12-byte entries) claims 100 000 values.
    assert exif[:4] == b"II*\x00"
    struct.pack_into("<I", exif, 8 + 2 + 4, 100_000)


def test_reading_previews_leaves_the_hosts_warnings_and_limit_as_they_were(tmp_path):
    ok = _camera_jpeg(tmp_path / "ok.jpg")
    damaged = _camera_jpeg(tmp_path / "damaged.jpg", exif_patch=_oversized_first_tag)
    # 108 MP: past Pillow's own warning threshold, under photomatch's limit.
    big = _camera_jpeg(tmp_path / "big.jpg", declare=(12000, 9000))
    # 300 MP: past photomatch's limit (hashing.MAX_PIXELS).
    huge = _camera_jpeg(tmp_path / "huge.jpg", declare=(20000, 15000))
    limit = Image.MAX_IMAGE_PIXELS
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        filters = list(warnings.filters)
        for path in (ok, damaged, big):
            grey = preview.read_preview(path, hashing.MAX_PIXELS, hashing.DECODE_SIZE)
            assert grey is not None and grey.shape == (120, 160), path
        assert preview.read_preview(huge, hashing.MAX_PIXELS, hashing.DECODE_SIZE) is None
        assert warnings.filters == filters
    assert caught == []  # photomatch's own noise stays inside photomatch
    assert Image.MAX_IMAGE_PIXELS == limit
    # Outside photomatch's calls, Pillow still warns the host as it always did.
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with Image.open(damaged) as im:
            im.getexif()
        with Image.open(big):
            pass
    kinds = {w.category for w in caught}
    assert UserWarning in kinds and Image.DecompressionBombWarning in kinds


def test_the_api_draws_no_progress_bar_unless_asked(sample, tmp_path, capsys):
    index = str(tmp_path / "i.sqlite")
    index_album(sample.album, index)
    run, _ = match_album(sample.album, sample.thumb_sets, str(tmp_path / "out"), index)
    export_originals(run, str(tmp_path / "export"))
    out, err = capsys.readouterr()
    assert err == ""
    assert out == ""
    # Asked for, a bar is drawn (and cleared when done).
    index_album(sample.album, index, rebuild=True, progress=True)
    err = capsys.readouterr().err
    assert "%|" in err and "indexing" in err


def _cli_match(sample, tmp_path, capsys, *flags: str) -> str:
    out = str(tmp_path / "out")
    code = main(
        ["match", sample.album, *sample.thumb_sets, "--out", out, "--index", str(tmp_path / "i")]
        + list(flags)
    )
    assert code in (0, 3)
    return capsys.readouterr().err


def test_the_cli_draws_no_bar_when_stderr_is_not_a_terminal(sample, tmp_path, capsys):
    assert not sys.stderr.isatty()
    err = _cli_match(sample, tmp_path, capsys)
    assert "\r" not in err and "%|" not in err


@pytest.mark.parametrize(
    ("flags", "drawn"),
    [(("--progress",), True), (("--no-progress",), False), (("-q",), False)],
)
def test_the_cli_progress_flags_force_bars_either_way(sample, tmp_path, capsys, flags, drawn):
    err = _cli_match(sample, tmp_path, capsys, *flags)
    assert ("%|" in err) == drawn


def test_the_cli_draws_bars_on_a_terminal_unless_quiet(monkeypatch):
    from photomatch import cli

    monkeypatch.setattr(sys.stderr, "isatty", lambda: True)
    assert cli._show_progress(None, quiet=False) is True
    assert cli._show_progress(None, quiet=True) is False
    assert cli._show_progress(False, quiet=False) is False
    monkeypatch.setattr(sys.stderr, "isatty", lambda: False)
    assert cli._show_progress(None, quiet=False) is False
    assert cli._show_progress(True, quiet=True) is True
