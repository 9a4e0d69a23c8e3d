"""Hamming top-k: ``photomatch.hamming_topk`` beside a numpy ``np.bitwise_count``
top-k and a pure-Python ``int.bit_count`` one, Q = 300 queries, k = 64,
W = ``photomatch.hashing.WORDS`` (2) words per row, N album rows.

N counts hash rows, not photos: an album photo has one row per view
(``hashing.VIEW_NAMES``; 9 for a 4:3 photo in hash version 3), so N = 10^6
rows is roughly 10^5 photos. The ``index 1e6 files`` group in
``test_bench_match.py`` searches a real-sized row count for 10^6 photos.

Data (seeded): uniformly random album rows; two thirds of the queries are
album rows with 0-12 bits flipped (a thumbnail whose original is present),
the rest random (no original). Every baseline's answer is checked equal to the
kernel's, ties included.

``extra_info`` holds ``pairs_per_s`` (Q x N / median round time) and, for the
kernel, the fraction of this machine's popcount peak (see ``_machine.py``).
The pure-Python case runs at N = 10^3 only; its per-pair rate is what scales.
"""

from __future__ import annotations

import functools

import _baselines
import _machine
import numpy as np
import pytest
from _bench import median_s, rounds_for

import photomatch
from photomatch._core import rayon_threads

Q = 300
K = 64
W = photomatch.hashing.WORDS
BUDGET_S = 2.0

slow = pytest.mark.slow
CASES = [
    pytest.param("photomatch", 10**3, id="photomatch-N1e3"),
    pytest.param("numpy", 10**3, id="numpy-N1e3"),
    pytest.param("python", 10**3, id="python-N1e3"),
    pytest.param("photomatch", 10**4, id="photomatch-N1e4"),
    pytest.param("numpy", 10**4, id="numpy-N1e4"),
    pytest.param("photomatch", 10**5, id="photomatch-N1e5"),
    pytest.param("numpy", 10**5, id="numpy-N1e5"),
    pytest.param("photomatch", 10**6, id="photomatch-N1e6"),
    pytest.param("numpy", 10**6, id="numpy-N1e6", marks=slow),
    pytest.param("photomatch", 10**7, id="photomatch-N1e7", marks=slow),
]


@functools.lru_cache(maxsize=2)
def dataset(n: int) -> tuple[np.ndarray, np.ndarray]:
    """Seeded ``(queries (Q, W), album (N, W))`` uint64 arrays."""
    rng = np.random.default_rng(n)
    album = rng.integers(0, 2**64, size=(n, W), dtype=np.uint64, endpoint=False)
    queries = rng.integers(0, 2**64, size=(Q, W), dtype=np.uint64, endpoint=False)
    present = 2 * Q // 3
    queries[:present] = album[rng.integers(0, n, size=present)]
    for i in range(present):
        for bit in rng.choice(64 * W, size=int(rng.integers(0, 13)), replace=False):
            queries[i, bit // 64] ^= np.uint64(1) << np.uint64(bit % 64)
    return np.ascontiguousarray(queries), np.ascontiguousarray(album)


@pytest.fixture(scope="session")
def popcount_peak(bench_cache: str) -> dict[str, float]:
    """Pairs/s peaks of this machine: nominal and measured (see ``_machine``)."""
    peaks = {"nominal": _machine.nominal_peak_pairs_per_s(W)}
    peaks.update(_machine.measured_peak_pairs_per_s(f"{bench_cache}/peak"))
    return {k: v for k, v in peaks.items() if v}


@pytest.mark.parametrize(("impl", "n"), CASES)
def test_topk(benchmark, impl: str, n: int, popcount_peak: dict[str, float]) -> None:
    queries, album = dataset(n)
    if impl == "photomatch":

        def run():
            return photomatch.hamming_topk(queries, album, K)

    elif impl == "numpy":

        def run():
            return _baselines.numpy_topk(queries, album, K)

    else:
        q_rows = [tuple(int(x) for x in row) for row in queries]
        a_rows = [tuple(int(x) for x in row) for row in album]

        def run():
            return _baselines.python_topk(q_rows, a_rows, K)

    benchmark.group = f"topk Q={Q} N=1e{len(str(n)) - 1}"
    rounds = rounds_for(run, BUDGET_S, lo=3 if n < 10**6 else 2, hi=100)
    idx, dist = benchmark.pedantic(run, rounds=rounds, warmup_rounds=0, iterations=1)

    want_idx, want_dist = photomatch.hamming_topk(queries, album, K)
    assert np.array_equal(np.asarray(idx), want_idx)
    assert np.array_equal(np.asarray(dist), want_dist)

    rate = Q * n / median_s(benchmark)
    info = dict(impl=impl, N=n, Q=Q, W=W, k=K, pairs_per_s=rate, ns_per_pair=1e9 / rate)
    if impl == "photomatch":
        info["rayon_threads"] = rayon_threads()
        for name, peak in popcount_peak.items():
            info[f"peak_{name}_pairs_per_s"] = peak
            info[f"fraction_of_{name}_peak"] = rate / peak
    benchmark.extra_info.update(info)


SHARDINGS = {
    "one-array": [1.0],
    "shards-10": [0.1] * 10,
    "shards-uneven": [0.5, 0.0, 0.25, 0.125, 0.0625, 0.0, 0.0625],
}


@pytest.mark.parametrize("method", ["kernel", "each"])
@pytest.mark.parametrize("layout", list(SHARDINGS))
def test_topk_shards(benchmark, layout: str, method: str) -> None:
    """10^6 rows cut into shards: ``shards.hamming_topk_shards`` (``kernel``: one call
    over all shards) and ``shards.hamming_topk_each`` (``each``: a kernel call per
    shard, then ``merge_topk``), beside one ``hamming_topk`` on the whole array
    (``kernel-one-array``); answers checked equal."""
    from photomatch.shards import hamming_topk_each, hamming_topk_shards

    if layout == "one-array" and method == "each":
        pytest.skip("one shard: the same call as kernel-one-array")
    search = hamming_topk_shards if method == "kernel" else hamming_topk_each
    n = 10**6
    queries, album = dataset(n)
    bounds = np.rint(np.cumsum([0.0, *SHARDINGS[layout]]) * n).astype(int)
    shards = [
        np.ascontiguousarray(album[a:b]) for a, b in zip(bounds[:-1], bounds[1:], strict=True)
    ]
    want = photomatch.hamming_topk(queries, album, K)
    got = search(queries, shards, K)
    assert np.array_equal(got[0], want[0]) and np.array_equal(got[1], want[1])
    benchmark.group = "sharded topk N=1e6"

    def run():
        if layout == "one-array":
            return photomatch.hamming_topk(queries, album, K)
        return search(queries, shards, K)

    benchmark.pedantic(run, rounds=rounds_for(run, BUDGET_S), warmup_rounds=1)
    if benchmark.disabled:
        return
    benchmark.extra_info.update(
        impl=f"{method}-{layout}", n=n, shards=len(shards), pairs_per_s=Q * n / median_s(benchmark)
    )
