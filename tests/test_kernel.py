"""Tests of the native kernels in photomatch._core against a numpy oracle."""

import threading
import time

import numpy as np
import pytest

from photomatch._core import hamming_distances, hamming_topk, rayon_threads


def random_hashes(rng, rows, words):
    return rng.integers(
        0, np.iinfo(np.uint64).max, size=(rows, words), dtype=np.uint64, endpoint=True
    )


def oracle_distances(queries, album):
    return np.bitwise_count(queries[:, None, :] ^ album[None, :, :]).sum(axis=2, dtype=np.uint32)


def oracle_topk(queries, album, k):
    dist = oracle_distances(queries, album)
    q, n = dist.shape
    rows = np.broadcast_to(np.arange(n), dist.shape)
    # lexsort sorts by the last key first: distance, then row index.
    order = np.lexsort((rows, dist), axis=-1)[:, : min(k, n)]
    return order.astype(np.int64), np.take_along_axis(dist, order, axis=1)


def assert_topk(queries, album, k):
    indices, distances = hamming_topk(queries, album, k)
    want_indices, want_distances = oracle_topk(queries, album, k)
    assert indices.dtype == np.int64
    assert distances.dtype == np.uint32
    assert indices.shape == distances.shape == (len(queries), min(k, len(album)))
    assert indices.flags.c_contiguous and distances.flags.c_contiguous
    np.testing.assert_array_equal(indices, want_indices)
    np.testing.assert_array_equal(distances, want_distances)


@pytest.mark.parametrize("words", [1, 2, 3, 4])
@pytest.mark.parametrize("q, n", [(1, 1), (1, 500), (17, 300), (5, 20_000)])
def test_random_matches_oracle(words, q, n):
    rng = np.random.default_rng(1000 * words + q)
    queries = random_hashes(rng, q, words)
    album = random_hashes(rng, n, words)
    for k in [1, 5, 64, 65, n, n + 7]:
        assert_topk(queries, album, k)


@pytest.mark.parametrize("words", [1, 2, 4])
def test_ties_come_out_in_album_order(words):
    rng = np.random.default_rng(7)
    pool = random_hashes(rng, 3, words)
    album = pool[rng.integers(0, 3, size=5000)]  # many duplicate rows
    queries = np.concatenate([pool[:1], random_hashes(rng, 4, words)])
    for k in [1, 10, 100, 5000, 6000]:
        assert_topk(queries, album, k)
    indices, distances = hamming_topk(queries[:1], album, 10)
    assert (distances == 0).all()
    np.testing.assert_array_equal(indices[0], np.flatnonzero((album == pool[0]).all(axis=1))[:10])


def test_a_smaller_k_is_a_prefix_of_a_larger_one():
    # matching takes the candidates' rows and the second look's wider ranking
    # from one search: the k nearest must be the first k of the 8k nearest,
    # ties at the cut included.
    rng = np.random.default_rng(7)
    album = (rng.integers(0, 4, size=(5000, 2)) * 0x1111).astype(np.uint64)  # many ties
    queries = album[rng.integers(0, 5000, size=40)].copy()
    small_idx, small_dist = hamming_topk(queries, album, 64)
    wide_idx, wide_dist = hamming_topk(queries, album, 512)
    assert np.array_equal(wide_idx[:, :64], small_idx)
    assert np.array_equal(wide_dist[:, :64], small_dist)


def test_sparse_bits_many_equal_distances():
    rng = np.random.default_rng(8)
    album = random_hashes(rng, 3000, 2) & random_hashes(rng, 3000, 2) & random_hashes(rng, 3000, 2)
    queries = random_hashes(rng, 9, 2) & random_hashes(rng, 9, 2)
    for k in [1, 10, 200, 3000]:
        assert_topk(queries, album, k)


def test_exact_match_ranks_first():
    rng = np.random.default_rng(9)
    album = random_hashes(rng, 100_000, 1)
    queries = album[[31_337, 99_999, 0]]
    indices, distances = hamming_topk(queries, album, 3)
    np.testing.assert_array_equal(indices[:, 0], [31_337, 99_999, 0])
    np.testing.assert_array_equal(distances[:, 0], [0, 0, 0])


def test_huge_k_means_all_rows():
    rng = np.random.default_rng(10)
    queries, album = random_hashes(rng, 2, 1), random_hashes(rng, 50, 1)
    indices, _ = hamming_topk(queries, album, 10**12)
    assert indices.shape == (2, 50)
    indices, _ = hamming_topk(queries, album, np.int64(4))
    assert indices.shape == (2, 4)


def test_empty_album_gives_empty_rows():
    queries = random_hashes(np.random.default_rng(11), 3, 2)
    indices, distances = hamming_topk(queries, np.empty((0, 2), np.uint64), 5)
    assert indices.shape == distances.shape == (3, 0)
    assert indices.dtype == np.int64 and distances.dtype == np.uint32
    assert hamming_distances(queries, np.empty((0, 2), np.uint64)).shape == (3, 0)


def test_no_queries():
    album = random_hashes(np.random.default_rng(12), 10, 1)
    indices, distances = hamming_topk(np.empty((0, 1), np.uint64), album, 4)
    assert indices.shape == distances.shape == (0, 4)
    assert hamming_distances(np.empty((0, 1), np.uint64), album).shape == (0, 10)


@pytest.mark.parametrize("words", [1, 2, 4, 5])
def test_distances_match_oracle(words):
    rng = np.random.default_rng(13 + words)
    queries, album = random_hashes(rng, 6, words), random_hashes(rng, 40_000, words)
    got = hamming_distances(queries, album)
    assert got.dtype == np.uint32 and got.shape == (6, 40_000)
    np.testing.assert_array_equal(got, oracle_distances(queries, album))


def test_read_only_and_aliased_inputs():
    album = random_hashes(np.random.default_rng(14), 100, 2)
    album.flags.writeable = False
    assert_topk(album, album, 3)
    indices, distances = hamming_topk(album, album, 1)
    np.testing.assert_array_equal(indices[:, 0], np.arange(100))


def test_rayon_threads():
    assert rayon_threads() >= 1


GOOD = np.zeros((4, 2), np.uint64)


@pytest.mark.parametrize(
    "bad, message",
    [
        (GOOD.astype(np.int64), "dtype uint64"),
        (GOOD.astype(np.float64), "dtype uint64"),
        (GOOD.astype(">u8"), "dtype uint64"),
        (GOOD.ravel(), "2-D"),
        (GOOD.reshape(2, 2, 2), "2-D"),
        (np.array(5, np.uint64), "2-D"),
        (GOOD.tolist(), "numpy.ndarray"),
        (np.uint64(5), "numpy.ndarray"),
        (np.zeros((8, 2), np.uint64)[::2], "C-contiguous"),
        (np.zeros((4, 4), np.uint64)[:, :2], "C-contiguous"),
        (np.asfortranarray(np.zeros((4, 2), np.uint64)), "C-contiguous"),
        (np.frombuffer(bytes(65), np.uint64, count=8, offset=1).reshape(4, 2), "aligned"),
        (np.zeros((4, 0), np.uint64), "at least one uint64 word"),
    ],
)
@pytest.mark.parametrize("position", ["queries", "album"])
def test_bad_input_raises_value_error(bad, message, position):
    args = {"queries": GOOD, "album": GOOD}
    args[position] = bad
    with pytest.raises(ValueError, match=message) as info:
        hamming_topk(args["queries"], args["album"], 2)
    assert position in str(info.value)
    with pytest.raises(ValueError, match=message):
        hamming_distances(args["queries"], args["album"])


def test_word_count_mismatch():
    with pytest.raises(ValueError, match="words per row"):
        hamming_topk(np.zeros((3, 2), np.uint64), np.zeros((3, 1), np.uint64), 1)
    with pytest.raises(ValueError, match="words per row"):
        hamming_distances(np.zeros((3, 2), np.uint64), np.zeros((3, 1), np.uint64))


@pytest.mark.parametrize("k", [0, -1])
def test_bad_k(k):
    with pytest.raises(ValueError, match="k must be at least 1"):
        hamming_topk(GOOD, GOOD, k)


def test_releases_gil():
    """A Python thread keeps running while the kernel does.

    A background thread records timestamps in a tight Python loop. If the
    kernel held the GIL, that thread could not run during the call, except for
    at most one switch interval right after it returns (the interpreter hands
    the GIL over as soon as the caller resumes). So we look for timestamps
    well inside the call, away from its end.
    """
    rng = np.random.default_rng(15)
    album = random_hashes(rng, 1_000_000, 1)
    queries = random_hashes(rng, 16, 1)
    # Grow the query count until one call is long enough to judge.
    while True:
        start = time.perf_counter()
        hamming_topk(queries, album, 5)
        if time.perf_counter() - start > 0.2 or len(queries) >= 16_384:
            break
        queries = np.concatenate([queries] * 4)

    stamps = []
    running = threading.Event()
    stop = threading.Event()

    def spin():
        clock, append = time.perf_counter, stamps.append
        running.set()
        while not stop.is_set():
            append(clock())

    spinner = threading.Thread(target=spin, daemon=True)
    spinner.start()
    running.wait()
    try:
        t0 = time.perf_counter()
        hamming_topk(queries, album, 5)
        t1 = time.perf_counter()
    finally:
        stop.set()
        spinner.join()
    margin = 2 * 0.005 + 0.02  # two switch intervals plus slack, seconds
    assert t1 - t0 > 2 * margin, f"kernel too fast to judge: {t1 - t0:.3f} s"
    inside = sum(1 for s in stamps if t0 < s < t1 - margin)
    assert inside >= 100, f"only {inside} loop iterations ran during a {t1 - t0:.3f} s call"
