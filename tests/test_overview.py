"""The coarse look: overviews in the index, the sliding kernel, and a crop that
only the coarse look finds, on the sample photographs."""

from __future__ import annotations

import os
import sqlite3
from dataclasses import replace

import numpy as np
import pytest
import pyvips

from photomatch import _core, demo, hashing, overview, verify
from photomatch.decision import DEFAULT_POLICY
from photomatch.errors import AlbumIndexError
from photomatch.index import AlbumIndex
from photomatch.matching import hash_queries, match, name_sets


def _grey(name: str, size: int = 250, force: tuple[int, int] | None = None) -> np.ndarray:
    image = demo.sample_image(name).colourspace("b-w")
    if force:
        image = image.thumbnail_image(force[1], height=force[0], size="force")
    else:
        image = image.thumbnail_image(size, height=size)
    return np.ndarray(
        buffer=image.write_to_memory(), dtype=np.uint8, shape=(image.height, image.width)
    )


def _reference_best_ncc(image: np.ndarray, template: np.ndarray) -> float:
    """Brute force: the normalised correlation at every placement, in numpy."""
    th, tw = template.shape
    t = template - template.mean()
    best = 0.0
    for y in range(image.shape[0] - th + 1):
        for x in range(image.shape[1] - tw + 1):
            w = image[y : y + th, x : x + tw].astype(np.float64)
            w = w - w.mean()
            denom = np.sqrt((w * w).sum() * (t * t).sum())
            if denom > 1e-9:
                best = max(best, float((w * t).sum() / denom))
    return best


def test_the_kernel_equals_brute_force_on_photographs():
    stack, h, w = [], 0, 0
    for name in ("astronaut", "coffee", "camera"):
        grey = _grey(name, force=(30, 40))
        h, w = grey.shape
        stack.append(grey.reshape(-1))
    images = np.ascontiguousarray(np.stack(stack))
    template = _grey("coffee", force=(180, 240))[30:160, 40:220].astype(np.float64)
    template = np.asarray(_core.area_resize(np.ascontiguousarray(template), 20, 22), np.float64)
    got = _core.best_ncc(images, h, w, [template])
    want = [_reference_best_ncc(img.reshape(h, w), template) for img in images]
    assert got.dtype == np.float32 and got.shape == (3,)
    np.testing.assert_allclose(got, want, atol=1e-5)
    assert int(np.argmax(got)) == 1  # the coffee photo holds the window
    # Several templates: each image's best over all of them.
    other = np.ascontiguousarray(np.rot90(template)[:16, :18])
    both = _core.best_ncc(images, h, w, [other, template])
    want_other = [_reference_best_ncc(img.reshape(h, w), other) for img in images]
    np.testing.assert_allclose(both, np.maximum(want, want_other), atol=1e-5)


def test_bad_kernel_inputs_are_refused_with_a_clear_error():
    images = np.zeros((2, 12), dtype=np.uint8)
    with pytest.raises(ValueError, match="height \\* width"):
        _core.best_ncc(images, 3, 5, [np.ones((2, 2))])
    with pytest.raises(ValueError, match="does not fit"):
        _core.best_ncc(images, 3, 4, [np.ones((2, 2)), np.ones((4, 2))])
    with pytest.raises(ValueError, match="dtype float64"):
        _core.best_ncc(images, 3, 4, [np.ones((2, 2), dtype=np.float32)])


def test_an_overview_is_the_frame_area_averaged():
    grey = _grey("chelsea")
    h, w = overview.overview_shape(*grey.shape)
    assert max(h, w) == overview.OVERVIEW_SIZE
    assert abs(h / w - grey.shape[0] / grey.shape[1]) < 0.05
    small = np.frombuffer(overview.make(grey), dtype=np.uint8).reshape(h, w)
    want = verify.area_resize(grey.astype(np.float64), h, w)
    assert np.max(np.abs(small - want)) <= 0.5 + 1e-3
    # Hashing an album frame gives its overview; a query gets none.
    assert hashing.hash_grey(grey, album=True).overview == overview.make(grey)
    assert hashing.hash_grey(grey, album=False).overview == b""


def _off_centre_crop(path: str, out: str) -> None:
    """A thumbnail of the bottom-right 88% x 90% of a photo, 200 px, JPEG q30."""
    image = pyvips.Image.new_from_file(path).autorot()
    w, h = image.width, image.height
    cw, ch = round(w * 0.88), round(h * 0.90)
    crop = image.crop(w - cw, h - ch, cw, ch).thumbnail_image(200, height=200)
    os.makedirs(os.path.dirname(out), exist_ok=True)
    crop.jpegsave(out, Q=30, keep="none")


def test_the_overviews_rank_an_off_centre_crops_original_first(sample, tmp_path):
    with AlbumIndex(sample.album, str(tmp_path / "i.sqlite")) as index:
        index.update()
        album = index.load()
    assert album.overviews is not None
    overviews = album.overviews.get()
    assert len(overviews) == len(album.paths)
    original = os.path.join(sample.album, "2023", "holiday", "IMG_1001.jpg")
    thumb = str(tmp_path / "t" / "crop.jpg")
    _off_centre_crop(original, thumb)
    grey = hashing.trim_border(hashing.load_grey(thumb))
    ranked = overviews.nearest(grey, 3)
    assert album.path(ranked[0][0]) == original
    assert ranked[0][1] > 0.8 and ranked[0][1] > ranked[1][1] + 0.2
    # Files already looked at are left out.
    assert all(f != ranked[0][0] for f, _ in overviews.nearest(grey, 3, {ranked[0][0]}))


def test_the_coarse_look_finds_what_the_hash_search_missed(sample, tmp_path, monkeypatch):
    """With the hash search made blind (no candidate within reach, no second
    look), only the coarse look can name the original of an off-centre crop."""
    original = os.path.join(sample.album, "2023", "holiday", "IMG_1002.jpg")
    thumbs = str(tmp_path / "crops")
    _off_centre_crop(original, os.path.join(thumbs, "c1.jpg"))
    with AlbumIndex(sample.album, str(tmp_path / "i.sqlite")) as index:
        index.update()
        album = index.load()
    queries, _ = hash_queries(name_sets([thumbs]))
    blind = replace(DEFAULT_POLICY, hash_max=-1, second_look=0)
    [found] = match(album, queries, blind)
    assert found.candidates and found.candidates[0].path in (
        original,
        os.path.join(sample.album, "edited", "IMG_1002.jpg"),  # its edited copy
    )
    assert found.status != "unmatched"
    [missed] = match(album, queries, replace(blind, coarse_look=0))
    assert missed.status == "unmatched" and not missed.candidates
    # An album too large to hold its overviews in memory gets no coarse look.
    monkeypatch.setattr(overview, "MAX_FILES", len(album.paths) - 1)
    [large] = match(album, queries, blind)
    assert large.status == "unmatched" and not large.candidates


def test_an_index_of_the_previous_format_is_rebuilt_with_overviews(sample, tmp_path):
    path = str(tmp_path / "i.sqlite")
    with AlbumIndex(sample.album, path) as index:
        index.update()
    with sqlite3.connect(path) as db:
        db.execute("DROP TABLE overviews")
        db.execute("PRAGMA user_version = 4")
    db.close()
    with AlbumIndex(sample.album, path) as index:
        assert index.rebuilt
        report = index.update()
        assert report.decoded == report.images
        [(missing,)] = index.db.execute(
            "SELECT count(*) FROM files WHERE status = 'ok'"
            " AND path NOT IN (SELECT path FROM overviews)"
        ).fetchall()
        assert missing == 0 and report.ok > 0


def test_overviews_follow_their_files(sample, tmp_path):
    """A removed file's overview goes with it; a changed file's is made again."""
    path = str(tmp_path / "i.sqlite")
    gone = os.path.join(sample.album, "2022", "IMG_0501.jpg")
    changed = os.path.join(sample.album, "2023", "holiday", "IMG_1001.jpg")
    with AlbumIndex(sample.album, path) as index:
        index.update()
    os.remove(gone)
    pyvips.Image.new_from_file(changed).flip("horizontal").jpegsave(changed)
    with AlbumIndex(sample.album, path) as index:
        index.update()
        stored = dict(index.db.execute("SELECT path, pixels FROM overviews"))
        ok = {p for (p,) in index.db.execute("SELECT path FROM files WHERE status = 'ok'")}
    assert set(stored) == ok
    assert os.fsencode(os.path.relpath(gone, sample.album)) not in stored
    want = hashing.hash_file(changed, previews=True).overview
    assert stored[os.fsencode(os.path.relpath(changed, sample.album))] == want


def test_damaged_overviews_are_one_clear_index_error(sample, tmp_path):
    path = str(tmp_path / "i.sqlite")
    with AlbumIndex(sample.album, path) as index:
        index.update()
        album = index.load()
    with sqlite3.connect(path) as db:
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        page = db.execute("PRAGMA page_size").fetchone()[0]
        pages = [n for (n,) in db.execute("SELECT pageno FROM dbstat WHERE name = 'overviews'")]
    db.close()
    with open(path, "r+b") as fh:
        for n in pages:
            fh.seek((n - 1) * page)
            fh.write(b"\xff" * page)
    assert album.overviews is not None
    with pytest.raises(AlbumIndexError, match="damaged .*--rebuild"):
        album.overviews.get()


def test_a_hashed_file_without_its_overview_is_hashed_again(sample, tmp_path):
    path = str(tmp_path / "i.sqlite")
    with AlbumIndex(sample.album, path) as index:
        index.update()
        before = dict(index.db.execute("SELECT path, pixels FROM overviews"))
        lost = sorted(before)[0]
        with index.db:
            index.db.execute("DELETE FROM overviews WHERE path = ?", (lost,))
        report = index.update()
        after = dict(index.db.execute("SELECT path, pixels FROM overviews"))
    assert report.decoded == 1
    assert after == before


def _windows(count: int, seed: int) -> tuple[list[int], list[bytes]]:
    """Overviews of ``count`` 3:2 windows (60-100% of each side) cut at random
    places from the sample photographs: many near-alike real pictures."""
    rng = np.random.default_rng(seed)
    photos = [_grey(name, 300) for name in demo.SAMPLES]
    blobs = []
    for i in range(count):
        grey = photos[i % len(photos)]
        ch = int(min(grey.shape[0], grey.shape[1] / 1.5) * rng.uniform(0.6, 1.0))
        cw = int(ch * 1.5)
        y = int(rng.integers(0, grey.shape[0] - ch + 1))
        x = int(rng.integers(0, grey.shape[1] - cw + 1))
        frame = verify.area_resize(grey[y : y + ch, x : x + cw].astype(np.float64), 167, 250)
        blobs.append(overview.make(np.rint(frame).astype(np.uint8)))
    return list(range(count)), blobs


def test_a_large_album_is_ranked_in_two_steps_to_the_same_first_file(monkeypatch):
    files, blobs = _windows(600, 3)
    overviews = overview.Overviews.from_rows(files, [167] * 600, [250] * 600, blobs)
    photo = _grey("coffee", 300)
    crop = np.ascontiguousarray(photo[20:200, 30:290])
    whole = overviews.nearest(crop, 5)
    monkeypatch.setattr(overview, "PREFILTER_KEEP", 40)
    calls = []
    real_subset = overview.Overviews.subset
    monkeypatch.setattr(
        overview.Overviews, "subset", lambda self, f: calls.append(len(f)) or real_subset(self, f)
    )
    two_step = overviews.nearest(crop, 5)
    assert calls == [40]  # the full-size pass saw 40 of the 600
    assert two_step[0] == whole[0]
    assert two_step[0][1] > 0.9


def test_halving_is_the_mean_of_2x2_blocks():
    pixels = np.random.default_rng(1).integers(0, 256, size=(3, 7 * 9), dtype=np.uint8)
    got = overview._halve(pixels, 7, 9, chunk=2)
    cut = pixels.reshape(3, 7, 9)[:, :6, :8].astype(np.float64)
    want = np.floor(cut.reshape(3, 3, 2, 4, 2).mean(axis=(2, 4)) + 0.5).reshape(3, 12)
    np.testing.assert_array_equal(got, want.astype(np.uint8))


def test_scores_of_a_few_files_are_their_scores_among_all():
    # Frames of three shapes (landscape, portrait, square), as an album has.
    names = ["coffee", "astronaut", "chelsea", "rocket", "camera", "brick"]
    greys = []
    for i, name in enumerate(names):
        grey = hashing.grey_from_image(demo.sample_image(name))
        greys.append(grey if i % 3 == 0 else grey.T.copy() if i % 3 == 1 else grey[:300, :300])
    files = [7, 3, 11, 0, 5, 9]  # album file indices, not in order
    overviews = overview.Overviews.from_rows(
        files,
        [g.shape[0] for g in greys],
        [g.shape[1] for g in greys],
        [overview.make(g) for g in greys],
    )
    thumb = hashing.grey_from_image(demo.sample_image("coffee").crop(40, 30, 400, 300))
    every_file, every_score = overviews.scores(thumb)
    expected = dict(zip(every_file.tolist(), every_score.tolist(), strict=True))
    wanted = np.array([11, 0, 4, 9, 7, 12, -1])  # 4 has no overview; 12 and -1 are past the album
    got = overviews.scores_of(thumb, wanted)
    for file, score in zip(wanted.tolist(), got.tolist(), strict=True):
        assert (score == expected[file]) if file in expected else np.isnan(score)
    assert got[4] == max(expected.values())  # coffee's own overview fits best
