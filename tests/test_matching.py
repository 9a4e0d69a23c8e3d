"""Matching on the sample album: right originals, honest ambiguity, no false match."""

from __future__ import annotations

import csv
from dataclasses import replace

import numpy as np
import pytest

from photomatch import match_album
from photomatch.decision import DEFAULT_POLICY
from photomatch.index import AlbumArrays
from photomatch.matching import _candidates, name_sets
from photomatch.results import Reason, read_json

from albumcheck import fingerprint


@pytest.fixture()
def outcome(sample, tmp_path):
    run, _ = match_album(
        sample.album,
        sample.thumb_sets,
        str(tmp_path / "out"),
        index_path=str(tmp_path / "i.sqlite"),
        progress=False,
    )
    by_query = {r.query: r for r in run.results}
    return sample, run, {t.kind: (t, by_query[t.path]) for t in sample.thumbs}


def test_every_thumbnail_gets_a_result(outcome):
    sample, run, _ = outcome
    assert sorted(r.query for r in run.results) == sorted(t.path for t in sample.thumbs)
    assert [s.name for s in run.sets] == ["prints", "cover"]


def test_no_wrong_match(outcome):
    _, _, by_kind = outcome
    for kind, (thumb, result) in by_kind.items():
        if result.status == "matched":
            assert result.match in thumb.expected, kind


@pytest.mark.parametrize(
    "kind",
    [
        "downscaled q30",
        "EXIF-rotated original",
        "centre square",
        "downscaled q50",
        "PNG original, square thumbnail",
    ],
)
def test_clear_cases_are_matched(outcome, kind):
    _, _, by_kind = outcome
    thumb, result = by_kind[kind]
    assert result.status == "matched"
    assert result.match == thumb.expected[0]
    assert result.candidates[0].path == result.match


def test_absent_original_is_unmatched(outcome):
    _, _, by_kind = outcome
    _, result = by_kind["original not in the album"]
    assert result.status == "unmatched" and result.match is None


def test_burst_and_edited_copy_are_right_or_ambiguous_with_the_truth_listed(outcome):
    _, _, by_kind = outcome
    for kind in ("burst frame, off-centre square", "photo with an edited copy"):
        thumb, result = by_kind[kind]
        assert result.status in ("matched", "ambiguous"), kind
        if result.status == "ambiguous":
            listed = [c.path for c in result.candidates]
            assert set(thumb.expected) & set(listed), kind
            assert len(listed) >= 2


def test_every_field_keeps_its_range_and_is_saved(outcome, tmp_path):
    _, run, _ = outcome
    reasons = {r.value for r in Reason}
    for r in run.results:
        assert r.reason in reasons
        assert r.distance is None or 0 <= r.distance <= 128
        assert all(0 <= c.distance <= 128 for c in r.candidates)
        if r.candidates and r.candidates[0].score is not None:
            assert r.confidence is not None and 0.0 <= r.confidence <= 1.0
    # The order follows the evidence: a listed candidate is never both farther
    # in hash and worse on pixels than one listed after it.
    for r in run.results:
        c = [x for x in r.candidates if x.score is not None]
        for a, b in zip(c, c[1:], strict=False):
            assert not (a.distance > b.distance and a.score < b.score), r
    saved = read_json(str(tmp_path / "out" / "matches.json"))
    assert [(r.confidence, r.reason) for r in saved.results] == [
        (r.confidence, r.reason) for r in run.results
    ]
    with open(tmp_path / "out" / "matches.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert [row["reason"] for row in rows] == [r.reason for r in run.results]


def test_pixel_checks_are_counted_and_saved(outcome, tmp_path):
    sample, run, _ = outcome
    # Every scored candidate was decoded once (the checker caches decodes).
    scored = {c.path for r in run.results for c in r.candidates if c.score is not None}
    assert run.pixel_checks >= len(scored) > 0
    assert run.pixel_check_s > 0
    saved = read_json(str(tmp_path / "out" / "matches.json"))
    assert (saved.pixel_checks, saved.pixel_check_s) == (
        run.pixel_checks,
        round(run.pixel_check_s, 3),
    )


def test_matching_leaves_the_album_untouched(sample, tmp_path):
    before = fingerprint(sample.album)
    match_album(sample.album, sample.thumb_sets, str(tmp_path / "out"), progress=False)
    assert fingerprint(sample.album) == before


def test_rows_collapse_to_files_at_their_closest_view():
    # Two files, four views each; the query is 3 bits from view 2 of file 1.
    rows = np.arange(8 * 2, dtype=np.uint64).reshape(8, 2) * np.uint64(0x0101010101010101)
    album = AlbumArrays(
        root="/a",
        paths=["/a/x.jpg", "/a/y.jpg"],
        file_ids=np.array([1, 2]),
        hashes=np.ascontiguousarray(rows),
        row_file=np.repeat(np.arange(2, dtype=np.int32), 4),
        row_view=np.tile(np.arange(4, dtype=np.uint8), 2),
    )
    query = rows[6:7].copy()
    query[0, 0] ^= np.uint64(0b111)
    (found,) = _candidates(album, query, k=8)
    assert [c.path for c in found] == ["/a/y.jpg", "/a/x.jpg"]
    assert (found[0].distance, found[0].view) == (3, "start square")
    assert found[1].distance > found[0].distance


def test_set_names_follow_folders_and_stay_unique(tmp_path):
    names = [s.name for s in name_sets(["/x/prints", "/y/prints", "/z/cover/"])]
    assert names == ["prints", "prints-2", "cover"]


def test_a_sideways_thumbnail_is_found_through_its_rotation(sample, tmp_path):
    from photomatch.demo import sample_image

    folder = tmp_path / "sideways"
    folder.mkdir()
    # The web service lost the orientation: the thumbnail shows the photo turned.
    turned = sample_image("hubble_deep_field").thumbnail_image(200).rot90()
    turned.jpegsave(str(folder / "t.jpg"), Q=40)
    run, _ = match_album(
        sample.album, [str(folder)], index_path=str(tmp_path / "i"), progress=False
    )
    (result,) = run.results
    assert result.status == "matched"
    assert result.match.endswith("sky/IMG_1003.jpg")
    assert "rotated" in result.note


def test_a_turn_nearer_than_upright_is_checked_even_when_upright_is_close(sample, tmp_path):
    # A smooth picture stored turned can hash within ``rotate_above`` of a
    # stranger upright; its turn, nearer still, must be checked all the same.
    # With ``rotate_above`` at 64 bits every upright best is "close".
    from photomatch.demo import sample_image

    folder = tmp_path / "sideways"
    folder.mkdir()
    turned = sample_image("hubble_deep_field").thumbnail_image(200).rot270()
    turned.jpegsave(str(folder / "t.jpg"), Q=60)
    policy = replace(DEFAULT_POLICY, rotate_above=64)
    run, _ = match_album(sample.album, [str(folder)], index_path=str(tmp_path / "i"), policy=policy)
    (result,) = run.results
    assert result.status == "matched"
    assert result.match.endswith("sky/IMG_1003.jpg")
    assert result.orientation == "rotated 270°"
