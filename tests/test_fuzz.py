"""Bounded property-based fuzzing (hypothesis): the kernel against its numpy oracle, and every
parser or escaper photomatch owns against random and mutated input.

Each property has a fixed example budget and no deadline, so the whole file takes a few
seconds in CI and is deterministic (``derandomize``): a failure reproduces on every run.
"""

from __future__ import annotations

import json
import os
import sys

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from photomatch import DecodeError, hashing, preview
from photomatch._core import hamming_distances, hamming_topk
from photomatch.cli import _read_results
from photomatch.demo import sample_image
from photomatch.errors import PhotomatchError
from photomatch.results import parse_decisions, read_decisions
from photomatch.review import script_json
from photomatch.review_server import ReviewServer
from photomatch.summary import shown as _shown

FUZZ = settings(
    max_examples=150,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
SMALL = settings(FUZZ, max_examples=60)


# -- the kernel ---------------------------------------------------------------------------


def oracle(queries: np.ndarray, album: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    dist = np.bitwise_count(queries[:, None, :] ^ album[None, :, :]).sum(axis=2, dtype=np.uint32)
    rows = np.broadcast_to(np.arange(album.shape[0]), dist.shape)
    order = np.lexsort((rows, dist), axis=-1)[:, : min(k, album.shape[0])]
    return order.astype(np.int64), np.take_along_axis(dist, order, axis=1)


@st.composite
def hash_sets(draw) -> tuple[np.ndarray, np.ndarray, int]:
    """Queries and album rows with ties on purpose: drawn from a small pool of rows,
    with sparse or dense bits, duplicated, or all equal."""
    words = draw(st.integers(1, 5))
    q = draw(st.integers(1, 12))
    n = draw(st.integers(0, 300))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    pool = draw(st.sampled_from([1, 2, 5, 50, 10**6]))
    density = draw(st.sampled_from(["sparse", "dense", "uniform"]))

    def rows(count: int) -> np.ndarray:
        base = rng.integers(0, 2**64, size=(min(pool, max(count, 1)), words), dtype=np.uint64)
        if density == "sparse":
            base &= rng.integers(0, 2**64, size=base.shape, dtype=np.uint64)
            base &= rng.integers(0, 2**64, size=base.shape, dtype=np.uint64)
        elif density == "dense":
            base |= rng.integers(0, 2**64, size=base.shape, dtype=np.uint64)
        return np.ascontiguousarray(base[rng.integers(0, len(base), size=count)])

    album = rows(n)
    queries = rows(q)
    if n and draw(st.booleans()):
        queries[0] = album[rng.integers(0, n)]  # an exact match
    k = draw(st.integers(1, n + 5))
    return queries, album, k


@FUZZ
@given(hash_sets())
def test_topk_equals_the_numpy_oracle(data):
    queries, album, k = data
    indices, distances = hamming_topk(queries, album, k)
    want_i, want_d = oracle(queries, album, k)
    assert indices.dtype == np.int64 and distances.dtype == np.uint32
    np.testing.assert_array_equal(indices, want_i)
    np.testing.assert_array_equal(distances, want_d)


@FUZZ
@given(hash_sets())
def test_distances_equal_the_numpy_oracle(data):
    queries, album, _ = data
    got = hamming_distances(queries, album)
    want = np.bitwise_count(queries[:, None, :] ^ album[None, :, :]).sum(axis=2, dtype=np.uint32)
    np.testing.assert_array_equal(got, want.reshape(len(queries), len(album)))


@SMALL
@given(
    st.sampled_from([np.uint64, np.int64, np.uint32, np.float64, ">u8"]),
    st.sampled_from([(3, 2), (3,), (3, 0), (0, 2), (2, 2, 2)]),
    st.sampled_from(["C", "F", "strided"]),
    st.integers(-2, 5),
)
def test_bad_arrays_are_value_errors_never_crashes(dtype, shape, layout, k):
    album = np.ones((4, 2), dtype=np.uint64)
    queries = np.ones(shape, dtype=dtype)
    if layout == "F":
        queries = np.asfortranarray(queries)
    elif layout == "strided" and queries.ndim == 2:
        queries = np.ones((shape[0], shape[1] * 2), dtype=dtype)[:, ::2]
    try:
        indices, distances = hamming_topk(queries, album, k)
    except ValueError:
        return
    # Accepted: then it was a valid call, and the answer is the oracle's.
    assert k >= 1
    want_i, want_d = oracle(np.asarray(queries, dtype=np.uint64), album, k)
    np.testing.assert_array_equal(indices, want_i)
    np.testing.assert_array_equal(distances, want_d)


# -- decisions.json and matches.json ----------------------------------------------------

json_scalars = st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20)
json_values = st.recursive(
    json_scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner),
    max_leaves=20,
)


@st.composite
def decision_docs(draw) -> object:
    """Mostly near-valid decisions documents, with random damage; sometimes anything."""
    if draw(st.integers(0, 4)) == 0:
        return draw(json_values)
    entry = st.fixed_dictionaries(
        {},
        optional={
            "set": st.text(max_size=10) | json_values,
            "query": st.text(max_size=10) | json_values,
            "pick": st.none() | st.text(max_size=10) | json_values,
        },
    )
    doc = {
        "version": draw(st.sampled_from([1, 1, 1, 2, "1", None, 1.0, True])),
        "decisions": draw(st.lists(entry | json_values, max_size=5) | json_values),
    }
    if draw(st.booleans()):
        doc[draw(st.text(max_size=5))] = draw(json_values)
    return doc


@FUZZ
@given(decision_docs())
def test_parse_decisions_accepts_or_raises_value_error(doc):
    try:
        decisions = parse_decisions(doc)
    except ValueError:
        return
    for (set_name, query), d in decisions.items():
        assert (d.set, d.query) == (set_name, query)
        assert isinstance(d.set, str) and isinstance(d.query, str)
        assert d.pick is None or isinstance(d.pick, str)


@SMALL
@given(st.binary(max_size=300) | decision_docs().map(lambda d: json.dumps(d).encode()))
def test_read_decisions_of_any_bytes(tmp_path, data):
    path = tmp_path / "decisions.json"
    path.write_bytes(data)
    try:
        decisions = read_decisions(str(path))
    except ValueError:
        return
    assert isinstance(decisions, dict)


matches_docs = json_values | st.fixed_dictionaries(
    {"version": st.just(1)},
    optional={k: json_values for k in ("album", "index", "sets", "results", "skipped_album")},
)


@SMALL
@given(matches_docs)
def test_a_damaged_matches_json_is_one_clear_error(tmp_path, doc):
    (tmp_path / "matches.json").write_text(json.dumps(doc))
    try:
        _read_results(str(tmp_path))
    except PhotomatchError as exc:
        assert str(exc).startswith("cannot read")  # one clear line, never a traceback


# -- names: the review server's paths, the page's JSON, the terminal ----------------------

path_parts = st.sampled_from(
    ["..", ".", "", "previews", "review.html", "matches.json", "link", ".hidden", "x\0y", "a\\b"]
) | st.text(max_size=6)


@pytest.fixture(scope="module")
def served_dir(tmp_path_factory):
    root = tmp_path_factory.mktemp("resolve")
    out = root / "out"
    (out / "previews").mkdir(parents=True)
    (out / "review.html").write_text("page")
    (out / "matches.json").write_text("{}")
    (out / "previews" / "p.jpg").write_bytes(b"jpg")
    (out / ".hidden").write_text("hidden")
    (root / "secret").write_text("secret")
    os.symlink(root / "secret", out / "link")
    os.symlink(root, out / "previews" / "up")
    server = ReviewServer.__new__(ReviewServer)  # only resolve() is exercised: no socket
    server.root = os.path.realpath(out)
    return server


@FUZZ
@given(st.lists(path_parts, min_size=1, max_size=5).map("/".join) | st.text(max_size=30))
def test_resolve_never_leaves_dir(served_dir, rel):
    real = served_dir.resolve(rel)
    if real is not None:
        assert os.path.commonpath([real, served_dir.root]) == served_dir.root
        assert os.path.isfile(real) and not os.path.basename(real).startswith(".")


names = st.text(
    alphabet=st.characters(codec="utf-8") | st.sampled_from(["\udcff", "\udce9", "\n", "\u2028"]),
    max_size=40,
)


@FUZZ
@given(st.recursive(names | st.integers(), lambda x: st.lists(x, max_size=3), max_leaves=8))
def test_script_json_is_inert_and_round_trips(value):
    text = script_json({"v": value})
    assert text.isascii() and not any(c in text for c in "<>&")
    assert json.loads(text) == {"v": value}


@FUZZ
@given(names)
def test_shown_names_are_one_printable_line(name):
    shown = _shown(name)
    assert shown.isprintable() and "\n" not in shown
    if name.isprintable():
        assert shown == name


# -- decoding random and mutated image bytes ---------------------------------------------


@pytest.fixture(scope="module")
def seeds() -> dict[str, bytes]:
    """Small valid files of each format photomatch reads, to mutate."""
    image = sample_image("coins").thumbnail_image(64)
    return {
        ".jpg": image.jpegsave_buffer(Q=80),
        ".png": image.pngsave_buffer(),
        ".gif": image.gifsave_buffer(),
        ".webp": image.webpsave_buffer(),
        ".tif": image.tiffsave_buffer(),
    }


@st.composite
def mutations(draw, seeds: dict[str, bytes]) -> tuple[str, bytes]:
    ext = draw(st.sampled_from(sorted(seeds)))
    data = bytearray(seeds[ext])
    for _ in range(draw(st.integers(1, 8))):
        op = draw(st.sampled_from(["flip", "cut", "insert", "zero-run"]))
        at = draw(st.integers(0, len(data) - 1))
        if op == "flip":
            data[at] ^= 1 << draw(st.integers(0, 7))
        elif op == "cut":
            del data[at : at + draw(st.integers(1, 200))]
        elif op == "insert":
            data[at:at] = draw(st.binary(min_size=1, max_size=16))
        else:
            data[at : at + 8] = b"\xff" * 8
        assume(len(data) > 0)
    return ext, bytes(data)


@pytest.mark.parametrize("kind", ["mutated", "random"])
def test_decoding_damaged_bytes_never_crashes(seeds, tmp_path, kind):
    """Damaged files decode to a small grey frame or raise DecodeError; nothing else."""
    outcomes = {"decoded": 0, "refused": 0}

    @settings(FUZZ, max_examples=80)
    @given(mutations(seeds) if kind == "mutated" else st.tuples(st.just(".jpg"), st.binary()))
    def check(case):
        ext, data = case
        path = tmp_path / f"fuzz{ext}"
        path.write_bytes(data)
        try:
            grey = hashing.load_grey(str(path))
        except DecodeError as exc:
            assert exc.reason
            outcomes["refused"] += 1
            return
        assert grey.dtype == np.uint8 and grey.ndim == 2
        assert 1 <= min(grey.shape) and max(grey.shape) <= hashing.DECODE_SIZE
        outcomes["decoded"] += 1

    check()
    assert outcomes["refused"] > 0


@pytest.fixture(scope="module")
def camera_jpeg() -> bytes:
    """A small camera-style JPEG: Orientation 6 and a letterboxed 160 x 120 EXIF preview."""
    sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "benches"))
    import _photos

    stored = sample_image("chelsea").crop(0, 0, 450, 300).rot270()
    thumb = stored.thumbnail_image(120, height=160).gravity("centre", 120, 160, extend="black")
    return _photos.still_camera_jpeg(stored, 6, thumb.jpegsave_buffer(Q=75), quality=80)


def test_reading_previews_of_damaged_bytes_never_crashes(camera_jpeg, tmp_path):
    """A damaged header or preview gives None (the caller decodes) or an upright grey frame."""
    path = tmp_path / "IMG_0001.jpg"
    path.write_bytes(camera_jpeg)
    intact = preview.read_preview(str(path), hashing.MAX_PIXELS, hashing.DECODE_SIZE)
    assert intact is not None and intact.shape[0] < intact.shape[1]  # upright: landscape
    outcomes = {"used": 0, "declined": 0}

    @settings(FUZZ, max_examples=150)
    @given(mutations({".jpg": camera_jpeg}))
    def check(case):
        path.write_bytes(case[1])
        grey = preview.read_preview(str(path), hashing.MAX_PIXELS, hashing.DECODE_SIZE)
        if grey is None:
            outcomes["declined"] += 1
            return
        assert grey.dtype == np.uint8 and grey.ndim == 2
        assert min(grey.shape) >= preview.MIN_SHORT_SIDE
        assert max(grey.shape) <= hashing.DECODE_SIZE
        outcomes["used"] += 1

    check()
    assert outcomes["declined"] > 0 and outcomes["used"] > 0
