"""Shared fixtures: a sample album built from real photographs, and album fingerprints."""

from __future__ import annotations

import os
import shutil

import pytest

from photomatch import demo


@pytest.fixture(scope="session")
def sample_master(tmp_path_factory: pytest.TempPathFactory) -> demo.SampleLayout:
    return demo.build_sample(str(tmp_path_factory.mktemp("sample")))


@pytest.fixture()
def sample(sample_master: demo.SampleLayout, tmp_path) -> demo.SampleLayout:
    """A fresh copy of the sample album and thumbnails for one test to use."""
    root = os.path.dirname(sample_master.album)
    dst = str(tmp_path / "sample")
    shutil.copytree(root, dst, copy_function=shutil.copy2)

    def move(p: str) -> str:
        return os.path.join(dst, os.path.relpath(p, root))

    return demo.SampleLayout(
        album=move(sample_master.album),
        thumb_sets=tuple(move(s) for s in sample_master.thumb_sets),
        thumbs=tuple(
            demo.Thumb(move(t.path), tuple(move(e) for e in t.expected), t.kind)
            for t in sample_master.thumbs
        ),
        burst=tuple(move(b) for b in sample_master.burst),
    )


@pytest.fixture(autouse=True)
def _private_cache(tmp_path, monkeypatch):
    """Keep default index files out of the real user cache."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
