"""Threads or worker processes for indexing: the benchmark's 40 camera JPEGs (12 MP).

Group ``index pool 40 x 12-MP``: a full index build into a new index file each
round, ``AlbumIndex.update(jobs=J, processes=P)``, decoding every file
(``previews=False``, impls ``threads-jJ`` / ``processes-jJ``) and from the embedded
previews (``previews-threads-jJ`` / ``previews-processes-jJ``). A process run
includes starting its ``spawn`` pool (each child imports photomatch and libvips),
which ``pool-start-j2`` measures alone. From previews a build of 40 files is
too short to tell the pool's start from its speed: ``previews-400`` indexes the
40 files hard-linked into 10 folders (400 files). ``cpu_ms_per_image`` counts this process
and its children (``RUSAGE_CHILDREN``: the pool's children are reaped when it shuts
down); ``free_cores`` is how many cores the machine had free just before.

    python -m pytest benches/test_bench_pool.py --benchmark-only --benchmark-json run.json
    python benches/test_bench_pool.py run.json     # the README table
"""

from __future__ import annotations

import itertools
import multiprocessing
import os
import resource
import statistics
import time
from concurrent.futures import ProcessPoolExecutor
from typing import Any

import _machine
import _photos
import pytest
from _bench import median_s

from photomatch.index import AlbumIndex


class CpuAndChildren:
    """Records the CPU time of every call: this process's threads and reaped children."""

    def __init__(self, fn: Any) -> None:
        self.fn = fn
        self.samples: list[float] = []

    @staticmethod
    def _now() -> float:
        child = resource.getrusage(resource.RUSAGE_CHILDREN)
        return time.process_time() + child.ru_utime + child.ru_stime

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        start = self._now()
        try:
            return self.fn(*args, **kwargs)
        finally:
            self.samples.append(self._now() - start)

    def median(self) -> float:
        return statistics.median(self.samples) if self.samples else float("nan")


CASES = [
    (False, 1, False),
    (False, 2, False),
    (False, 2, True),
    (True, 1, False),
    (True, 2, False),
    (True, 2, True),
]
COPIES = 10


@pytest.fixture(scope="session")
def album_400(photos: list[str], tmp_path_factory: pytest.TempPathFactory) -> str:
    """The 40 JPEGs hard-linked into ``COPIES`` folders: 400 files."""
    root = str(tmp_path_factory.mktemp("album400"))
    for i in range(COPIES):
        _photos.copy_album(photos, os.path.join(root, f"copy{i}"))
    return root


@pytest.mark.parametrize(
    "previews, jobs, processes",
    CASES,
    ids=[
        f"{'previews-' if p else ''}{'processes' if pr else 'threads'}-j{j}" for p, j, pr in CASES
    ],
)
def test_index_pool(
    benchmark,
    previews: bool,
    jobs: int,
    processes: bool,
    photo_album: str,
    tmp_path,
    bench_cache: str,
) -> None:
    _run(benchmark, photo_album, previews, jobs, processes, tmp_path, bench_cache, "")


@pytest.mark.parametrize(
    "jobs, processes",
    [(1, False), (2, False), (2, True)],
    ids=["threads-j1", "threads-j2", "processes-j2"],
)
def test_index_pool_previews_400(
    benchmark, jobs: int, processes: bool, album_400: str, tmp_path, bench_cache: str
) -> None:
    _run(benchmark, album_400, True, jobs, processes, tmp_path, bench_cache, "-400")


def _run(
    benchmark,
    photo_album: str,
    previews: bool,
    jobs: int,
    processes: bool,
    tmp_path,
    bench_cache: str,
    suffix: str,
) -> None:
    fresh = itertools.count()
    images = sum(len(files) for _, _, files in os.walk(photo_album))

    def setup():
        return (str(tmp_path / f"index-{next(fresh)}.sqlite"),), {}

    def build(index_path: str):
        with AlbumIndex(photo_album, index_path) as index:
            report = index.update(jobs=jobs, previews=previews, processes=processes)
        assert report.decoded == images and not report.errors
        assert report.from_previews == (images if previews else 0), report
        return report

    clock = CpuAndChildren(build)
    free = _machine.free_cores(f"{bench_cache}/peak")
    benchmark.group = "index pool 40 x 12-MP"
    benchmark.pedantic(clock, setup=setup, rounds=3, warmup_rounds=0)
    if benchmark.disabled:
        return
    kind = "processes" if processes else "threads"
    benchmark.extra_info.update(
        impl=f"{'previews' + suffix + '-' if previews else ''}{kind}-j{jobs}",
        jobs=jobs,
        previews=previews,
        processes=processes,
        images=images,
        images_per_s=images / median_s(benchmark),
        cpu_ms_per_image=1000 * clock.median() / images,
        free_cores=free,
    )


def _ready() -> int:
    import photomatch.index  # noqa: F401 - what a pool child imports before its first file

    return os.getpid()


def test_pool_start(benchmark, bench_cache: str) -> None:
    """Starting a 2-process ``spawn`` pool until both children have imported photomatch."""

    def start() -> None:
        context = multiprocessing.get_context("spawn")
        with ProcessPoolExecutor(max_workers=2, mp_context=context) as pool:
            futures = [pool.submit(_ready) for _ in range(2)]
            for f in futures:
                f.result()

    clock = CpuAndChildren(start)
    free = _machine.free_cores(f"{bench_cache}/peak")
    benchmark.group = "index pool 40 x 12-MP"
    benchmark.pedantic(clock, rounds=3, warmup_rounds=0)
    if benchmark.disabled:
        return
    benchmark.extra_info.update(
        impl="pool-start-j2", jobs=2, cpu_ms=1000 * clock.median(), free_cores=free
    )


def table(json_path: str) -> str:
    """The README's table from a ``--benchmark-json`` file of this module."""
    import json

    with open(json_path, encoding="utf-8") as fh:
        run = json.load(fh)
    lines = [
        "| case | median s | images / s | CPU ms / image (with children) | free cores before |",
        "|---|---:|---:|---:|---:|",
    ]
    for bench in run["benchmarks"]:
        if bench["group"] != "index pool 40 x 12-MP":
            continue
        info = bench["extra_info"]
        rate = info.get("images_per_s")
        cpu = info.get("cpu_ms_per_image", info.get("cpu_ms"))
        lines.append(
            f"| `{info['impl']}` | {bench['stats']['median']:.2f} | "
            f"{'–' if rate is None else f'{rate:.1f}'} | {cpu:.1f}"
            f"{' (per start)' if rate is None else ''} | {info['free_cores']:.2f} |"
        )
    return "\n".join(lines)


if __name__ == "__main__":
    import sys

    print(table(sys.argv[1]))
