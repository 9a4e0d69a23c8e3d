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
  from the embedded previews (``index-previews-jobs1/2``, checked to have
  taken every preview); ``decode threads`` is the same files through
  ``hash_file`` in a thread pool with nothing else, to tell decode scaling from
  index overhead. ``free_cores`` in ``extra_info`` is how many cores' worth
  of CPU the machine had free just before (``_machine.free_cores``): on a
  shared machine it bounds what 2 threads can show.

Every call in the per-image groups takes the next of the same nine files
(one per shipped photograph; two stored sideways with an EXIF orientation).
"""

from __future__ import annotations

import itertools
import os
import statistics
import time
from concurrent.futures import ThreadPoolExecutor

import _baselines
import _machine
import numpy as np
import pytest
import pyvips
from _bench import CpuClock, cycling, median_s

from photomatch import hashing, preview
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


@pytest.mark.parametrize("previews", [False, True], ids=["decode", "previews"])
@pytest.mark.parametrize("jobs", [1, 2])
def test_index_threads(
    benchmark, jobs: int, previews: bool, photo_album: str, tmp_path, bench_cache: str
) -> None:
    """A full index build of the 40-file album, each round into a new index file.

    ``update`` takes embedded previews by default; ``previews=False`` is the
    decode of every file, whose thread scaling this group was made to show.
    """
    fresh = itertools.count()
    images = len(os.listdir(photo_album))

    def setup():
        return (str(tmp_path / f"index-{next(fresh)}.sqlite"),), {}

    def build(index_path: str):
        with AlbumIndex(photo_album, index_path) as index:
            report = index.update(progress=False, jobs=jobs, previews=previews)
        assert report.decoded == images and not report.errors
        assert report.from_previews == (images if previews else 0), report
        return report

    clock = CpuClock(build)
    free = _machine.free_cores(f"{bench_cache}/peak")
    benchmark.group = "index 40 x 12-MP"
    benchmark.pedantic(clock, setup=setup, rounds=3, warmup_rounds=0)
    if benchmark.disabled:
        return
    benchmark.extra_info.update(
        impl=f"index-previews-jobs{jobs}" if previews else f"index-jobs{jobs}",
        jobs=jobs,
        previews=previews,
        images=images,
        images_per_s=images / median_s(benchmark),
        cpu_ms_per_image=1000 * clock.median() / images,
        free_cores=free,
    )


@pytest.mark.parametrize("jobs", [1, 2])
def test_decode_threads(benchmark, jobs: int, photos: list[str], bench_cache: str) -> None:
    """``hash_file`` over the 40 files in a thread pool, no index: pure decode scaling."""

    def run():
        with ThreadPoolExecutor(max_workers=jobs) as pool:
            return list(pool.map(hashing.hash_file, photos))

    clock = CpuClock(run)
    free = _machine.free_cores(f"{bench_cache}/peak")
    benchmark.group = "index 40 x 12-MP"
    benchmark.pedantic(clock, rounds=3, warmup_rounds=0)
    if benchmark.disabled:
        return
    benchmark.extra_info.update(
        impl=f"decode-threads{jobs}",
        jobs=jobs,
        images=len(photos),
        images_per_s=len(photos) / median_s(benchmark),
        cpu_ms_per_image=1000 * clock.median() / len(photos),
        free_cores=free,
    )
