"""Sharded search equals the single-array search, ties included."""

import numpy as np
import pytest

from photomatch._core import hamming_topk
from photomatch._core import hamming_topk_shards as kernel_shards
from photomatch.shards import hamming_topk_each, hamming_topk_shards, merge_topk, shard_offsets

BOTH = pytest.mark.parametrize("search", [hamming_topk_shards, hamming_topk_each])


def tied_hashes(rng, rows, words, patterns):
    """Rows drawn from a few distinct bit patterns: most distances tie."""
    pool = rng.integers(0, np.iinfo(np.uint64).max, size=(patterns, words), dtype=np.uint64)
    return np.ascontiguousarray(pool[rng.integers(0, patterns, size=rows)])


def cut(album, sizes):
    assert sum(sizes) == len(album)
    bounds = np.cumsum([0, *sizes])
    return [np.ascontiguousarray(album[a:b]) for a, b in zip(bounds[:-1], bounds[1:], strict=True)]


SHARDINGS = [
    [0, 7, 0, 300, 1, 64, 628],  # empty shards, shards smaller than k, one of k rows
    [1000],
    [999, 1],
    [0, 0, 1000, 0],
    [3] * 333 + [1],
]


@BOTH
@pytest.mark.parametrize("words", [1, 2, 4])
@pytest.mark.parametrize("patterns", [1, 3, 20])
@pytest.mark.parametrize("sizes", SHARDINGS)
def test_shards_equal_one_array_with_many_ties(search, words, patterns, sizes):
    rng = np.random.default_rng(100 * words + patterns + len(sizes))
    album = tied_hashes(rng, 1000, words, patterns)
    queries = np.concatenate([album[:5], tied_hashes(rng, 6, words, patterns)])
    shards = cut(album, sizes)
    for k in [1, 2, 5, 63, 64, 65, 999, 1000, 1500]:
        want = hamming_topk(queries, album, k)
        got = search(queries, shards, k)
        np.testing.assert_array_equal(got[0], want[0])
        np.testing.assert_array_equal(got[1], want[1])
        assert got[0].dtype == np.int64 and got[1].dtype == np.uint32
        assert got[0].flags.c_contiguous and got[1].flags.c_contiguous


@BOTH
def test_random_rows_equal_one_array(search):
    rng = np.random.default_rng(5)
    album = rng.integers(0, np.iinfo(np.uint64).max, size=(20_000, 2), dtype=np.uint64)
    queries = rng.integers(0, np.iinfo(np.uint64).max, size=(30, 2), dtype=np.uint64)
    shards = cut(album, [5000, 0, 12_345, 2655])
    for k in [1, 64]:
        want = hamming_topk(queries, album, k)
        got = search(queries, shards, k)
        np.testing.assert_array_equal(got[0], want[0])
        np.testing.assert_array_equal(got[1], want[1])


@BOTH
def test_no_shards_and_no_queries(search):
    queries = np.zeros((3, 2), dtype=np.uint64)
    indices, distances = search(queries, [], 5)
    assert indices.shape == distances.shape == (3, 0)
    empty = np.zeros((0, 2), dtype=np.uint64)
    indices, distances = search(empty, [queries, queries], 5)
    assert indices.shape == distances.shape == (0, 5)


def test_merge_of_answers_computed_elsewhere():
    """The merge alone, as a coordinator uses it on answers workers sent back."""
    rng = np.random.default_rng(9)
    album = tied_hashes(rng, 500, 2, 4)
    queries = album[:4].copy()
    shards = cut(album, [100, 250, 0, 150])
    parts = [hamming_topk(queries, s, 10) for s in shards]
    got = merge_topk(parts, list(shard_offsets(shards)), len(queries), 10)
    want = hamming_topk(queries, album, 10)
    np.testing.assert_array_equal(got[0], want[0])
    np.testing.assert_array_equal(got[1], want[1])


@BOTH
def test_bad_arguments(search):
    queries = np.zeros((2, 2), dtype=np.uint64)
    with pytest.raises(ValueError, match="k must be at least 1"):
        search(queries, [queries], 0)
    with pytest.raises(ValueError, match="words per row"):
        search(queries, [queries, np.zeros((3, 1), dtype=np.uint64)], 1)
    with pytest.raises(ValueError, match="dtype uint64"):
        search(queries, [queries, np.zeros((3, 2), dtype=np.int64)], 1)


def test_kernel_names_the_bad_shard_and_takes_any_sequence():
    queries = np.zeros((2, 2), dtype=np.uint64)
    with pytest.raises(ValueError, match=r"shards\[1\] must be C-contiguous"):
        hamming_topk_shards(queries, (queries, np.zeros((2, 4), dtype=np.uint64)[:, ::2]), 1)
    with pytest.raises(ValueError, match="shards must be a sequence"):
        kernel_shards(queries, 5, 1)
    got = hamming_topk_shards(queries, (q for q in [queries, queries]), 3)
    assert got[0].tolist() == [[0, 1, 2], [0, 1, 2]]
    with pytest.raises(ValueError, match="offsets"):
        merge_topk([hamming_topk(queries, queries, 1)], [], 2, 1)


@pytest.mark.parametrize("row_bits", [40, 3])
def test_packed_and_unpacked_merges_agree(monkeypatch, row_bits):
    """The merge packs (distance, row) into one integer when rows fit ``_ROW_BITS``
    bits, else sorts the pairs: both give the single-array answer."""
    from photomatch import shards as shards_mod

    monkeypatch.setattr(shards_mod, "_ROW_BITS", row_bits)
    rng = np.random.default_rng(11)
    album = tied_hashes(rng, 300, 2, 5)
    queries = album[:7].copy()
    parts = cut(album, [0, 40, 3, 200, 57])
    for k in [1, 4, 64, 300, 400]:
        want = hamming_topk(queries, album, k)
        got = hamming_topk_each(queries, parts, k)
        np.testing.assert_array_equal(got[0], want[0])
        np.testing.assert_array_equal(got[1], want[1])
