"""Hashing 12-MP camera JPEGs: photomatch beside seed-style PIL + imagehash, per
image and single-threaded, then indexing throughput with 1 and 2 threads.

Groups:

* ``hash 12-MP``: the comparison. ``photomatch`` is ``hash_file(path)`` (album
  mode: decode, the views, their dHash rows); ``photomatch-preview`` is
  ``hash_file(path, previews=True)``, the indexing fast path: the same views
  hashed from the file's embedded 160 x 120 EXIF preview (every call checks
  that the preview was used, so the figure can never be a silent decode, and
  that ``photomatch`` decoded); ``seed-pil-ahash`` is
  PIL ``Image.open`` + ``imagehash.average_hash`` (a full 12-MP decode);
  ``pil-draft-ahash`` / ``pil-draft-dhash`` let libjpeg decode grey at 1/8
  size first (``Image.draft('L', (256, 256))``).
* ``hash 12-MP interleaved``: the same five methods taking turns on each file
  (rotating order), so that all see the same machine load; ``extra_info``
  holds each method's median, minimum and CPU time. ``report.py`` takes its
  headline ratios from here.
* ``hash 12-MP breakdown``: where photomatch's time goes. ``photomatch-decode``
  is ``hashing.load_grey`` (pyvips thumbnail to ``DECODE_SIZE``, grey, numpy);
  ``photomatch-numpy`` is ``hashing.hash_grey`` on an already decoded frame;
  ``vips-jpegload-shrink8`` is libvips' 1/8 shrink-on-load to grey alone;
  ``photomatch-decode-250`` is ``load_grey(path, size=250)``; ``pil-draft-decode``
  is PIL's 1/8 grey decode alone; ``photomatch-preview-read`` is
  ``preview.read_preview`` alone (header parse, preview decode, bands removed,
  turned upright): the fast path without its hashing.
* ``index 40 x 12-MP``: ``AlbumIndex.update(jobs=1)`` vs ``jobs=2`` into a fresh
  index each round, decoding every file (``previews=False``), and the same
  from the embedded previews, read in Rust in batches off the GIL
  (``index-previews-native-jobs1/2``, the default) and file by file in Python
  as before (``index-previews-jobs1/2``, ``index._NATIVE_PREVIEWS = False``),
  both checked to have taken every preview; ``decode threads`` is the same
  files through ``hash_file`` in a thread pool with nothing else, to tell
  decode scaling from index overhead; ``seed-pil-ahash-jobs1`` hashes the 40
  files the seed's way (PIL full decode + ``imagehash.average_hash``, one
  thread, no index). ``free_cores`` in ``extra_info`` is how many cores' worth
  of CPU the machine had free just before (``_machine.free_cores``): on a
  shared machine it bounds what 2 threads can show.
* ``index 400 x 12-MP``: the preview builds on the 40 files hard-linked into 10
  folders, where a build's fixed cost (creating the index file) no longer
  hides the per-file one; ``index previews interleaved`` takes turns between
  the four preview builds (Python / native, 1 / 2 threads) on that album,
  so that all see the same machine load, and keeps each one's median wall and
  CPU time: the steadiest ratios on a shared machine.

Every call in the per-image groups takes the next of the same nine files
(one per shipped photograph; two stored sideways with an EXIF orientation).
"""

from __future__ import annotations

import itertools
import os
import statistics
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import _baselines
import _machine
import _photos
import numpy as np
import pytest
import pyvips
from _bench import CpuClock, cycling, median_s

from photomatch import hashing, index, preview
from photomatch.index import AlbumIndex

PASSES = 3


def _vips_shrink8_grey(path: str) -> np.ndarray:
    image = pyvips.Image.new_from_file(path, shrink=8, access="sequential")
    return hashing.grey_from_image(image)


def _decode_hash(path: str) -> hashing.ImageHashes:
    """``hash_file`` as an index without previews runs it; checks that it decoded."""
    hashes = hashing.hash_file(path)
    if hashes.source != "decode":
        raise AssertionError(f"{path}: hash_file() hashed its {hashes.source}, not its pixels")
    return hashes


def _preview_hash(path: str) -> hashing.ImageHashes:
    """The fast path; fails when photomatch fell back to decoding the file (a preview
    it declined), so that this figure never measures the decode unnoticed."""
    hashes = hashing.hash_file(path, previews=True)
    if hashes.source != "preview":
        raise AssertionError(f"{path}: hashed from its {hashes.source}, not its EXIF preview")
    return hashes


def _preview_read(path: str) -> np.ndarray:
    grey = preview.read_preview(path, hashing.MAX_PIXELS, hashing.DECODE_SIZE)
    if grey is None:
        raise AssertionError(f"{path}: photomatch declined its EXIF preview")
    return grey


HASHERS = {
    "photomatch": _decode_hash,
    "photomatch-preview": _preview_hash,
    "seed-pil-ahash": _baselines.seed_average_hash,
    "pil-draft-ahash": _baselines.draft_average_hash,
    "pil-draft-dhash": _baselines.draft_dhash,
}

BREAKDOWN = {
    "photomatch-decode": lambda p: hashing.load_grey(p),
    "photomatch-decode-250": lambda p: hashing.load_grey(p, size=250),
    "vips-jpegload-shrink8": _vips_shrink8_grey,
    "pil-draft-decode": _baselines.draft_decode,
    "photomatch-preview-read": _preview_read,
}


def _check_sources(paths: list[str]) -> None:
    """Every file hashes from its preview on the fast path and from its pixels without it
    (before any timing, so a smoke run with ``--benchmark-disable`` checks them all)."""
    for path in paths:
        _decode_hash(path)
        _preview_hash(path)


def _per_image(benchmark, impl: str, fn, paths: list[str], group: str) -> None:
    benchmark.group = group
    clock = CpuClock(fn)
    benchmark.pedantic(
        cycling(clock, paths), rounds=PASSES * len(paths), warmup_rounds=1, iterations=1
    )
    if benchmark.disabled:  # --benchmark-disable: one untimed call, no statistics
        return
    benchmark.extra_info.update(
        impl=impl,
        files=len(paths),
        megapixels=12,
        decode_size=hashing.DECODE_SIZE,
        images_per_s=1 / median_s(benchmark),
        cpu_ms_per_image=1000 * clock.median(),
    )


@pytest.mark.parametrize("impl", list(HASHERS))
def test_hash_12mp(benchmark, impl: str, hash_photos: list[str]) -> None:
    if impl.startswith("photomatch"):
        _check_sources(hash_photos)
    _per_image(benchmark, impl, HASHERS[impl], hash_photos, "hash 12-MP")


def test_hash_12mp_interleaved(benchmark, hash_photos: list[str]) -> None:
    """All the hashers on the same file, one after another in a rotating order.

    On a machine whose load drifts, separate cases run minutes apart under
    different load; interleaving puts every method under the same conditions,
    so the per-method times in ``extra_info`` give the steadiest ratios. The
    benchmarked time is a whole round (every method on one file).
    """
    _check_sources(hash_photos)
    names = list(HASHERS)
    wall: dict[str, list[float]] = {n: [] for n in names}
    cpu: dict[str, list[float]] = {n: [] for n in names}
    files = itertools.cycle(hash_photos)
    turn = itertools.count()

    def one_round() -> None:
        path, start = next(files), next(turn)
        for name in names[start % len(names) :] + names[: start % len(names)]:
            t0, c0 = time.perf_counter(), time.process_time()
            HASHERS[name](path)
            wall[name].append(time.perf_counter() - t0)
            cpu[name].append(time.process_time() - c0)

    benchmark.group = "hash 12-MP interleaved"
    benchmark.pedantic(one_round, rounds=PASSES * len(hash_photos), warmup_rounds=1)
    benchmark.extra_info.update(
        impl="interleaved",
        files=len(hash_photos),
        methods={
            n: {
                "median_ms": 1000 * statistics.median(wall[n]),
                "min_ms": 1000 * min(wall[n]),
                "cpu_median_ms": 1000 * statistics.median(cpu[n]),
            }
            for n in names
        },
    )


@pytest.mark.parametrize("impl", list(BREAKDOWN))
def test_hash_12mp_breakdown(benchmark, impl: str, hash_photos: list[str]) -> None:
    _per_image(benchmark, impl, BREAKDOWN[impl], hash_photos, "hash 12-MP breakdown")


def test_hash_12mp_numpy_part(benchmark, hash_photos: list[str]) -> None:
    """``hash_grey`` alone, on frames decoded beforehand: photomatch's numpy work."""
    frames = [hashing.load_grey(p) for p in hash_photos]
    it = itertools.cycle(frames)
    clock = CpuClock(lambda: hashing.hash_grey(next(it), album=True))
    benchmark.group = "hash 12-MP breakdown"
    benchmark.pedantic(clock, rounds=20 * len(frames), warmup_rounds=1, iterations=1)
    if benchmark.disabled:
        return
    benchmark.extra_info.update(
        impl="photomatch-numpy",
        files=len(frames),
        images_per_s=1 / median_s(benchmark),
        cpu_ms_per_image=1000 * clock.median(),
    )


#: How an index build hashes: decoding every file, from the previews in Rust
#: (the default), or from the previews file by file in Python (as before).
BUILDS = {
    "decode": (False, True, "index-jobs"),
    "previews-native": (True, True, "index-previews-native-jobs"),
    "previews-python": (True, False, "index-previews-jobs"),
}
#: Folders of hard links to the 40 files in the 400-file album
#: (``PHOTOMATCH_BENCH_COPIES`` sets another number: 100 makes it 4,000 files,
#: where a build's fixed costs weigh less; the groups keep their names).
COPIES = int(os.environ.get("PHOTOMATCH_BENCH_COPIES", "10"))


@pytest.fixture(scope="session")
def album_400_links(photos: list[str], tmp_path_factory: pytest.TempPathFactory) -> str:
    """The 40 JPEGs hard-linked into ``COPIES`` folders: 400 files by default."""
    root = str(tmp_path_factory.mktemp("album400links"))
    for i in range(COPIES):
        _photos.copy_album(photos, os.path.join(root, f"copy{i}"))
    return root


def _builder(album: str, tmp_path, jobs: int, build: str):
    """A function building a new index of ``album`` the ``build`` way; checks its report."""
    previews, native, _ = BUILDS[build]
    images = sum(len(files) for _, _, files in os.walk(album))
    fresh = itertools.count()

    def run():
        path = str(tmp_path / f"index-{build}-{jobs}-{next(fresh)}.sqlite")
        saved = index._NATIVE_PREVIEWS
        index._NATIVE_PREVIEWS = native
        try:
            with AlbumIndex(album, path) as idx:
                report = idx.update(progress=False, jobs=jobs, previews=previews)
        finally:
            index._NATIVE_PREVIEWS = saved
        assert report.decoded == images and not report.errors
        assert report.from_previews == (images if previews else 0), report
        return report

    return run, images


def _time_build(
    benchmark,
    run: Callable[[], object],
    group: str,
    *,
    images: int,
    bench_cache: str,
    rounds: int,
    warmup: int,
    **info: object,
) -> None:
    """Time ``run`` (wall and process CPU, ``CpuClock``) in ``group`` and record
    ``info`` with the rates per image and the cores free just before."""
    clock = CpuClock(run)
    free = _machine.free_cores(f"{bench_cache}/peak")
    benchmark.group = group
    benchmark.pedantic(clock, rounds=rounds, warmup_rounds=warmup)
    if benchmark.disabled:
        return
    benchmark.extra_info.update(
        **info,
        images=images,
        images_per_s=images / median_s(benchmark),
        cpu_ms_per_image=1000 * clock.median() / images,
        free_cores=free,
    )


def _index_case(benchmark, album, tmp_path, bench_cache, jobs, build, group, rounds=3) -> None:
    run, images = _builder(album, tmp_path, jobs, build)
    _time_build(
        benchmark,
        run,
        group,
        images=images,
        bench_cache=bench_cache,
        rounds=rounds,
        warmup=1,
        impl=f"{BUILDS[build][2]}{jobs}",
        jobs=jobs,
        previews=BUILDS[build][0],
        native=BUILDS[build][1],
    )


@pytest.mark.parametrize("build", list(BUILDS))
@pytest.mark.parametrize("jobs", [1, 2])
def test_index_threads(
    benchmark, jobs: int, build: str, photo_album: str, tmp_path, bench_cache: str
) -> None:
    """A full index build of the 40-file album, each round into a new index file.

    ``update`` takes embedded previews by default, read in Rust
    (``previews-native``); ``previews-python`` is the file-by-file Python path it
    replaced; ``decode`` (``previews=False``) decodes every file, whose thread
    scaling this group was made to show.
    """
    _index_case(benchmark, photo_album, tmp_path, bench_cache, jobs, build, "index 40 x 12-MP")


def test_index_seed_style(benchmark, photos: list[str], bench_cache: str) -> None:
    """The seed's way over the same 40 files: PIL full decode + ``average_hash``,
    one thread, no index (a lower bound on what the seed's indexing cost)."""

    def run():
        return [_baselines.seed_average_hash(p) for p in photos]

    _time_build(
        benchmark,
        run,
        "index 40 x 12-MP",
        images=len(photos),
        bench_cache=bench_cache,
        rounds=2,
        warmup=0,
        impl="seed-pil-ahash-jobs1",
        jobs=1,
    )


@pytest.mark.parametrize("build", ["previews-native", "previews-python"])
@pytest.mark.parametrize("jobs", [1, 2])
def test_index_400(
    benchmark, jobs: int, build: str, album_400_links: str, tmp_path, bench_cache: str
) -> None:
    """The preview builds on 400 files (the 40, hard-linked into 10 folders)."""
    _index_case(benchmark, album_400_links, tmp_path, bench_cache, jobs, build, "index 400 x 12-MP")


@pytest.mark.parametrize("native", [True, False], ids=["native", "python"])
@pytest.mark.parametrize("jobs", [1, 2])
def test_previews_only_400(
    benchmark, jobs: int, native: bool, album_400_links: str, bench_cache: str
) -> None:
    """The 400 files' preview hashes with no index: ``preview.hash_jpeg_previews``
    in one call on ``jobs`` threads (native), or ``hash_file(previews=True)`` in a
    thread pool (the Python path): the scaling of the per-file work alone."""
    paths = sorted(
        os.path.join(folder, name)
        for folder, _, names in os.walk(album_400_links)
        for name in names
    )

    def run():
        if native:
            found = preview.hash_jpeg_previews(
                paths, hashing.MAX_PIXELS, hashing.DECODE_SIZE, threads=jobs
            )
            assert all(f is not None for f in found)
            return found
        with ThreadPoolExecutor(max_workers=jobs) as pool:
            return list(pool.map(_preview_hash, paths))

    _time_build(
        benchmark,
        run,
        "index 400 x 12-MP",
        images=len(paths),
        bench_cache=bench_cache,
        rounds=3,
        warmup=1,
        impl=f"{'native' if native else 'python'}-previews-only-threads{jobs}",
        jobs=jobs,
    )


def test_index_previews_interleaved(
    benchmark, album_400_links: str, tmp_path, bench_cache: str
) -> None:
    """The four preview builds of the 400-file album taking turns (rotating order),
    so that all see the same load; ``extra_info`` holds each one's median wall
    and CPU time per build. The benchmarked time is a whole round."""
    methods = {
        f"{BUILDS[b][2]}{j}": _builder(album_400_links, tmp_path, j, b)
        for b in ("previews-python", "previews-native")
        for j in (1, 2)
    }
    names = list(methods)
    wall: dict[str, list[float]] = {n: [] for n in names}
    cpu: dict[str, list[float]] = {n: [] for n in names}
    turn = itertools.count()

    def one_round() -> None:
        start = next(turn)
        for name in names[start % len(names) :] + names[: start % len(names)]:
            t0, c0 = time.perf_counter(), time.process_time()
            methods[name][0]()
            wall[name].append(time.perf_counter() - t0)
            cpu[name].append(time.process_time() - c0)

    free = _machine.free_cores(f"{bench_cache}/peak")
    benchmark.group = "index previews interleaved"
    benchmark.pedantic(one_round, rounds=8, warmup_rounds=1)
    if benchmark.disabled:
        return
    images = methods[names[0]][1]
    benchmark.extra_info.update(
        impl="interleaved",
        images=images,
        free_cores=free,
        methods={
            n: {
                "median_s": statistics.median(wall[n]),
                "min_s": min(wall[n]),
                "cpu_median_s": statistics.median(cpu[n]),
                "images_per_s": images / statistics.median(wall[n]),
                "cpu_ms_per_image": 1000 * statistics.median(cpu[n]) / images,
            }
            for n in names
        },
    )


@pytest.mark.parametrize("jobs", [1, 2])
def test_decode_threads(benchmark, jobs: int, photos: list[str], bench_cache: str) -> None:
    """``hash_file`` over the 40 files in a thread pool, no index: pure decode scaling."""

    def run():
        with ThreadPoolExecutor(max_workers=jobs) as pool:
            return list(pool.map(hashing.hash_file, photos))

    _time_build(
        benchmark,
        run,
        "index 40 x 12-MP",
        images=len(photos),
        bench_cache=bench_cache,
        rounds=3,
        warmup=0,
        impl=f"decode-threads{jobs}",
        jobs=jobs,
    )
