"""End to end: ``match_album`` on the demo album, and a 10^6-file index loaded and
searched by 300 thumbnails, with peak memory.

Groups:

* ``match sample album``: ``photomatch.match_album`` on ``demo.build_sample``
  (a dozen album files of about 1 MP, eight thumbnails in two sets); ``cold``
  builds a new index every round, ``warm`` reuses one (rescan, hash the
  thumbnails, search, decide). ``extra_info`` has the peak RSS of a fresh
  interpreter doing one cold match, and of one that only imports photomatch.
* ``index 1e6 files`` (``slow``): a synthetic index of 10^6 files, each with
  the views ``hashing`` gives a 4:3 photo (``_synthetic.py``; built once into
  the cache, under a minute): ``AlbumIndex.load()``; ``hamming_topk`` of 300
  queries against all its rows (k = 64); ``matching.match`` of the 300 queries with its verification
  decodes left out (the synthetic files do not exist; the cost of a decode is
  the ``hash 12-MP breakdown`` group's ``photomatch-decode``), i.e. search,
  rows to files, candidates ranked. The load case's ``extra_info`` has the
  peak RSS of a fresh interpreter that loads and matches, and RSS per file.
"""

from __future__ import annotations

import itertools
import os

import _synthetic
import numpy as np
import pytest
from _bench import median_s, peak_rss_subprocess

import photomatch
from photomatch import hashing, matching
from photomatch.index import AlbumArrays, AlbumIndex
from photomatch.overview import IndexOverviews

HERE = os.path.dirname(os.path.abspath(__file__))
FILES = 10**6
QUERIES = 300
K = matching.DEFAULT_POLICY.rows_per_query


@pytest.mark.parametrize("state", ["cold", "warm"])
def test_match_sample(benchmark, state: str, sample, tmp_path) -> None:
    fresh = itertools.count()
    warm_index = str(tmp_path / "warm.sqlite")
    if state == "warm":
        photomatch.index_album(sample.album, index_path=warm_index, progress=False)

    def setup():
        path = warm_index if state == "warm" else str(tmp_path / f"cold-{next(fresh)}.sqlite")
        return (path,), {}

    def run(index_path: str):
        run_, _ = photomatch.match_album(
            sample.album, list(sample.thumb_sets), index_path=index_path, progress=False
        )
        return run_

    benchmark.group = "match sample album"
    result = benchmark.pedantic(run, setup=setup, rounds=5, warmup_rounds=1)
    assert len(result.results) == len(sample.thumbs)
    info = dict(
        impl=f"match-{state}",
        queries=len(sample.thumbs),
        album_images=result.album_images,
    )
    if state == "cold":
        probe = peak_rss_subprocess(
            "from photomatch import match_album\n"
            f"match_album({sample.album!r}, {list(sample.thumb_sets)!r},\n"
            f"            index_path={str(tmp_path / 'probe.sqlite')!r}, progress=False)\n"
        )
        baseline = peak_rss_subprocess("import photomatch\n")
        info.update(peak_rss_mib=probe["peak_rss_mib"], import_rss_mib=baseline["peak_rss_mib"])
    benchmark.extra_info.update(info)
    assert median_s(benchmark) > 0


@pytest.fixture(scope="module")
def big_index(bench_cache: str) -> tuple[str, str]:
    return _synthetic.ensure_index(bench_cache, FILES)


@pytest.fixture(scope="module")
def big_arrays(big_index: tuple[str, str]) -> AlbumArrays:
    with AlbumIndex(*big_index) as index:
        return index.load()


@pytest.mark.slow
def test_index_load(benchmark, big_index: tuple[str, str]) -> None:
    album, path = big_index

    def load():
        with AlbumIndex(album, path) as index:
            return index.load()

    benchmark.group = "index 1e6 files"
    arrays = benchmark.pedantic(load, rounds=3, warmup_rounds=1)
    rows = FILES * _synthetic.VIEWS
    assert len(arrays.paths) == FILES and arrays.hashes.shape == (rows, hashing.WORDS)
    probe = peak_rss_subprocess(
        f"sys.path.insert(0, {HERE!r})\n"
        "import _synthetic\n"
        "from photomatch import AlbumIndex\n"
        f"with AlbumIndex({album!r}, {path!r}) as index:\n"
        "    arrays = index.load()\n"
        "_result['after_load_rss_mib'] = _peak_mib()\n"
        f"_synthetic.match_without_decodes(arrays, _synthetic.queries(arrays.hashes, {QUERIES}))\n"
    )
    baseline = peak_rss_subprocess(f"import sys\nsys.path.insert(0, {HERE!r})\nimport _synthetic\n")
    benchmark.extra_info.update(
        impl="load",
        files=FILES,
        rows=rows,
        index_mib=os.path.getsize(path) / 2**20,
        files_per_s=FILES / median_s(benchmark),
        peak_rss_mib=probe["peak_rss_mib"],
        after_load_rss_mib=probe["after_load_rss_mib"],
        import_rss_mib=baseline["peak_rss_mib"],
        rss_bytes_per_file=(probe["after_load_rss_mib"] - baseline["peak_rss_mib"]) * 2**20 / FILES,
    )


@pytest.mark.slow
def test_index_search(benchmark, big_arrays: AlbumArrays) -> None:
    query_list = _synthetic.queries(big_arrays.hashes, QUERIES)
    rows = np.ascontiguousarray(np.concatenate([q.row for q in query_list]))
    benchmark.group = "index 1e6 files"
    idx, _ = benchmark.pedantic(
        photomatch.hamming_topk, args=(rows, big_arrays.hashes, K), rounds=5, warmup_rounds=1
    )
    assert idx.shape == (QUERIES, K)
    benchmark.extra_info.update(
        impl="topk-300",
        rows=int(big_arrays.hashes.shape[0]),
        pairs_per_s=QUERIES * big_arrays.hashes.shape[0] / median_s(benchmark),
    )


@pytest.mark.slow
def test_index_match(benchmark, big_arrays: AlbumArrays) -> None:
    """``matching.match`` minus the verification decodes (the album files do not exist)."""
    query_list = _synthetic.queries(big_arrays.hashes, QUERIES)
    benchmark.group = "index 1e6 files"
    results = benchmark.pedantic(
        _synthetic.match_without_decodes, args=(big_arrays, query_list), rounds=5, warmup_rounds=1
    )
    assert len(results) == QUERIES
    benchmark.extra_info.update(impl="match-300", queries=QUERIES)


@pytest.mark.slow
def test_index_overviews(benchmark, big_arrays: AlbumArrays) -> None:
    """What the first coarse look of a run reads: every file's overview from the
    index (``IndexOverviews``, read-only), and their half-size copies."""
    overviews = big_arrays.overviews
    assert overviews is not None

    def read():
        fresh = IndexOverviews(overviews.index_path, overviews.file_ids)
        return fresh.get().halved()[0]

    benchmark.group = "index 1e6 files"
    halved = benchmark.pedantic(read, rounds=3, warmup_rounds=1)
    assert len(halved) == FILES
    benchmark.extra_info.update(impl="overviews", files=FILES)
