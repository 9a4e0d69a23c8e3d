"""Fixtures for the benchmarks: camera-like 12-MP album files, a sample album,
the machine description, and the cache folder that keeps generated data
between runs.

Generated data (the 12-MP JPEGs, the synthetic 10^6-file index, the popcount
peak probe) lives in ``$PHOTOMATCH_BENCH_CACHE`` (default
``<system temp>/photomatch-bench``), outside the repository, and is reused by
later runs.
"""

from __future__ import annotations

import os
import tempfile

import _machine
import _photos
import pytest

from photomatch import demo

#: 12-MP files generated for the album; the per-image benchmarks use the first
#: ``HASH_FILES`` (one per shipped photograph, two of them stored sideways).
ALBUM_FILES = 40
HASH_FILES = 9


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "slow: 10^6-row numpy top-k, 10^7-row kernel and the 10^6-file index"
    )


@pytest.fixture(scope="session")
def bench_cache() -> str:
    folder = os.environ.get("PHOTOMATCH_BENCH_CACHE") or os.path.join(
        tempfile.gettempdir(), "photomatch-bench"
    )
    os.makedirs(folder, exist_ok=True)
    return folder


@pytest.fixture(scope="session")
def photos(bench_cache: str) -> list[str]:
    """Paths of ``ALBUM_FILES`` camera-like 12-MP JPEGs (generated on first use, ~1 min)."""
    folder = os.path.join(bench_cache, f"photos-v{_photos.GENERATOR_VERSION}")
    return _photos.ensure_photos(folder, ALBUM_FILES)


@pytest.fixture(scope="session")
def hash_photos(photos: list[str]) -> list[str]:
    return photos[:HASH_FILES]


@pytest.fixture(scope="session")
def photo_album(photos: list[str], tmp_path_factory: pytest.TempPathFactory) -> str:
    """A folder holding the ``ALBUM_FILES`` 12-MP JPEGs (hard links to the cache)."""
    return _photos.copy_album(photos, str(tmp_path_factory.mktemp("album12mp")))


@pytest.fixture(scope="session")
def sample(tmp_path_factory: pytest.TempPathFactory) -> demo.SampleLayout:
    """photomatch's demo album and thumbnail sets (small: a dozen files)."""
    return demo.build_sample(str(tmp_path_factory.mktemp("sample")))


@pytest.fixture(scope="session")
def machine() -> dict:
    return _machine.describe()


@pytest.fixture(autouse=True)
def _private_cache(tmp_path: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Default index files go to a temporary folder, never the user's cache."""
    monkeypatch.setenv("XDG_CACHE_HOME", os.path.join(str(tmp_path), "cache"))
