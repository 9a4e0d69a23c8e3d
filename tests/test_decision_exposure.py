"""Exposure as evidence for crops that fit every frame of a burst alike."""

from __future__ import annotations

import os
from dataclasses import replace

import numpy as np
import pytest
import pyvips

from photomatch import hashing, match_album, verify
from photomatch.decision import (
    BURST_CROP,
    Policy,
    _another_frame,
    _by_exposure,
    _Checked,
    _plausible,
    one_to_one,
)
from photomatch.demo import sample_image
from photomatch.results import AMBIGUOUS, MATCHED, UNMATCHED, Candidate, QueryResult


@pytest.fixture(scope="module")
def photo() -> pyvips.Image:
    return sample_image("coffee")  # 600x400, textured


def grey_of(image: pyvips.Image) -> np.ndarray:
    return hashing.grey_from_image(image)


def crop_thumb(image: pyvips.Image, q: int = 60) -> np.ndarray:
    """An off-centre crop of 85%, shrunk and saved as a JPEG."""
    crop = image.crop(30, 40, 510, 340).thumbnail_image(300)
    return grey_of(pyvips.Image.new_from_buffer(crop.jpegsave_buffer(Q=q), ""))


def test_exposure_of_the_own_frame_agrees_and_a_brighter_frame_differs(photo):
    q = crop_thumb(photo)
    own = verify.align(q, grey_of(photo))
    assert not own.canonical and own.scale < 0.9
    assert abs(own.exposure) < 1.0
    assert own.tone_shape < 3.0
    brighter = verify.align(q, grey_of((photo * 1.04).cast("uchar")))
    # 4% brighter: the window's mean is about 4% of the brightness above the thumbnail's.
    assert brighter.exposure == pytest.approx(0.04 * brighter.brightness, rel=0.3)
    assert brighter.tone_shape < 3.0  # a pure gain


def test_a_gamma_edit_is_not_a_pure_gain(photo):
    q = crop_thumb(photo)
    edited = photo.gamma(exponent=1.3).cast("uchar")
    fit = verify.align(q, grey_of(edited))
    assert fit.tone_shape > 4.0


def rival(path: str, exposure: float, shape: float = 1.0, ncc: float = 0.99) -> list[_Checked]:
    """A variant group of one crop fit, with the given exposure (grey levels, brightness 120)."""
    fit = verify.Alignment(
        ncc=ncc,
        scale=0.85,
        x=3.0,
        y=4.0,
        canonical=False,
        residual=0.05,
        tone=abs(exposure),
        exposure=exposure,
        brightness=120.0,
        tone_shape=shape,
    )
    return [_Checked(Candidate(path, 10, "full"), fit, np.zeros((4, 4), np.uint8))]


def names(groups: list[list[_Checked]]) -> list[str]:
    return [g[0].candidate.path for g in groups]


P = Policy()


def test_a_lone_crop_that_agrees_is_matched():
    status, ranked, _ = _by_exposure([rival("a", 0.4)], P)
    assert status == MATCHED and names(ranked) == ["a"]


def test_a_lone_crop_exposed_clearly_otherwise_is_another_frame():
    # 4% darker, a pure gain: the last frame of a burst whose shown frame is gone.
    status, _, note = _by_exposure([rival("a", -4.8)], P)
    assert status == UNMATCHED
    assert "another frame" in note


def test_a_lone_crop_a_little_off_needs_review():
    status, _, _ = _by_exposure([rival("a", 1.6)], P)
    assert status == AMBIGUOUS


def test_a_tone_edited_crop_of_a_lone_photo_stays_matched():
    assert _by_exposure([rival("a", -4.8, shape=9.0)], P)[0] == MATCHED
    assert _by_exposure([rival("a", 30.0, shape=2.0)], P)[0] == MATCHED


def test_burst_frames_are_ranked_by_exposure_and_stay_ambiguous():
    rivals = [rival("b", -3.6, ncc=0.995), rival("a", 0.3, ncc=0.99), rival("c", 4.0)]
    status, ranked, note = _by_exposure(rivals, P)
    assert status == AMBIGUOUS
    assert names(ranked) == ["a", "b", "c"]
    assert "one exposed alike" in note


def test_burst_frame_picked_by_exposure_only_when_asked():
    rivals = [rival("b", -3.6, ncc=0.995), rival("a", 0.3, ncc=0.99), rival("c", 4.0)]
    status, ranked, _ = _by_exposure(rivals, Policy(exposure_picks_frame=True))
    assert status == MATCHED and names(ranked)[0] == "a"
    # Two frames agree about equally: still a tie.
    rivals.append(rival("d", -0.5))
    assert _by_exposure(rivals, Policy(exposure_picks_frame=True))[0] == AMBIGUOUS


def test_a_burst_exposed_like_none_of_its_frames_is_unmatched():
    rivals = [rival("a", -3.6), rival("b", 4.0), rival("c", 6.2)]
    status, ranked, _ = _by_exposure(rivals, P)
    assert status == UNMATCHED
    assert names(ranked) == ["a", "b", "c"]


def test_a_tone_edited_crop_of_a_burst_stays_ambiguous_by_correlation():
    rivals = [rival("a", 25.0, shape=8.0, ncc=0.97), rival("b", 22.0, shape=8.0, ncc=0.98)]
    status, ranked, _ = _by_exposure(rivals, P)
    assert status == AMBIGUOUS
    assert names(ranked) == ["b", "a"]


def fit_at(path: str, scale: float, residual: float, ncc: float, canonical: bool = False):
    """A variant group of one fit at ``scale`` and ``residual`` off the canonical spot."""
    fit = verify.Alignment(
        ncc=ncc, scale=scale, x=2.0, y=1.0, canonical=canonical, residual=residual
    )
    return [_Checked(Candidate(path, 10, "full"), fit, np.zeros((4, 4), np.uint8))]


def test_a_withheld_frame_is_told_by_its_neighbour_though_a_farther_frame_fits_as_a_crop():
    # The neighbours fit nearly full size, 1.5% off; a frame farther along the pan
    # fits as a 95% crop about as well. The shown frame is none of them.
    close = [
        fit_at("next", 0.985, 0.016, 0.994),
        fit_at("previous", 0.975, 0.015, 0.992),
        fit_at("farther", 0.95, 0.023, 0.976),
    ]
    assert _another_frame(close, verify.CANONICAL_RESIDUAL, P)
    # A frame on its canonical framing is there: not another frame.
    on_spot = fit_at("own", 1.0, 0.001, 0.990, canonical=True)
    assert not _another_frame([*close, on_spot], verify.CANONICAL_RESIDUAL, P)
    # A farther frame fitting as a crop a little better changes nothing: frames of
    # a burst are one size, so a crop of one fits the others at its own scale or
    # smaller, never nearly full size.
    crop_best = [fit_at("a", 0.955, 0.02, 0.986), fit_at("b", 0.975, 0.013, 0.984)]
    assert _another_frame(crop_best, verify.CANONICAL_RESIDUAL, P)
    # Every close fit a crop: a crop of one of them, not this rule's case.
    crops = [fit_at("a", 0.9, 0.02, 0.995), fit_at("b", 0.9, 0.016, 0.99)]
    assert not _another_frame(crops, verify.CANONICAL_RESIDUAL, P)


def test_an_offset_common_to_the_run_is_taken_off_before_frames_are_compared():
    # Measured 2 levels dark against every frame: the thumbnailer's own offset.
    rivals = [rival("brighter", -0.3), rival("shown", -2.0), rival("darker", -4.1)]
    assert names(_by_exposure(rivals, P)[1])[0] == "brighter"
    assert names(_by_exposure(rivals, P, offset=-2.0)[1]) == ["shown", "brighter", "darker"]


def test_the_runs_offset_is_measured_on_its_plain_matches(tmp_path):
    """A service whose thumbnails all come out 3 grey levels bright. A crop of one
    burst frame, beside a frame 2.5% brighter: measured raw, the brighter frame
    seems to agree; with the offset measured on the run's plain matches, the
    shown frame comes first."""
    coffee = sample_image("coffee").resize(2.0)  # 1200 x 800
    album, thumbs = tmp_path / "album", tmp_path / "thumbs"
    album.mkdir()
    thumbs.mkdir()

    def service(image: pyvips.Image, name: str) -> None:
        small = image.thumbnail_image(320)
        ((small + 3).cast("uchar")).jpegsave(str(thumbs / name), Q=85)

    w, h = 1100, 733
    shown = coffee.crop(30, 30, w, h)
    brighter = (coffee.crop(54, 32, w, h) * 1.025).cast("uchar")
    shown.jpegsave(str(album / "IMG_0001.jpg"), Q=92)
    brighter.jpegsave(str(album / "IMG_0002.jpg"), Q=92)
    for i, name in enumerate(("astronaut", "chelsea", "rocket", "camera")):
        photo = sample_image(name).resize(2.0)
        photo.jpegsave(str(album / f"DSC_{i:04d}.jpg"), Q=92)
        service(photo, f"plain_{name}.jpg")
    service(shown.crop(120, 60, 935, 623), "crop.jpg")

    def first_candidate(policy: Policy) -> str:
        run, _ = match_album(
            str(album),
            [str(thumbs)],
            str(tmp_path / f"out{policy.exposure_offset_samples}"),
            index_path=str(tmp_path / "index.sqlite"),
            policy=policy,
            progress=False,
        )
        crop = next(r for r in run.results if r.query.endswith("crop.jpg"))
        plain = [r for r in run.results if "plain_" in r.query]
        assert all(r.status == MATCHED for r in plain)
        assert crop.status == AMBIGUOUS
        return os.path.basename(crop.candidates[0].path)

    assert first_candidate(Policy(exposure_offset_samples=1000)) == "IMG_0002.jpg"
    assert first_candidate(Policy(exposure_offset_samples=3)) == "IMG_0001.jpg"


def test_a_crop_fitting_below_the_smallest_scale_searched_is_no_answer():
    # A picture of a few large bright and dark areas can fit a part of an
    # unrelated photo that way (a brick wall over grass in a canyon at 0.90).
    small = rival("a", 0.0, ncc=0.95)[0].alignment
    assert _plausible(small, P)
    assert not _plausible(replace(small, scale=verify.MIN_SCALE - 0.03), P)


def test_the_set_does_not_settle_a_crop_of_a_burst_frame():
    # Other thumbnails of the set took two of the three frames that fit alike;
    # the third is still no answer: the shown frame may be missing from the
    # album or from the candidates.
    frames = tuple(Candidate(p, 20, "full", score=0.99) for p in ("f2", "f1", "f3"))

    def answer(query: str, status: str, match: str | None, note: str = "") -> QueryResult:
        shown = frames if match is None else (Candidate(match, 20, "full", score=0.99),)
        return QueryResult("set", query, status, match, 20, shown, 0.99, note=note)

    taken = [answer("t1", MATCHED, "f1"), answer("t3", MATCHED, "f3")]
    crop = answer("t2", AMBIGUOUS, None, f"{BURST_CROP}: any frame fits")
    out = one_to_one([*taken, crop], P)
    assert out[2].status == AMBIGUOUS
    # A near-tie of another kind is settled that way.
    tie = answer("t2", AMBIGUOUS, None)
    assert one_to_one([*taken, tie], P)[2].status == MATCHED


def test_a_crop_whose_detail_does_not_correlate_is_no_answer():
    fit = rival("a", 0.0, ncc=0.95)[0].alignment
    assert _plausible(replace(fit, detail=0.7), P)
    assert not _plausible(replace(fit, detail=0.05), P)
    assert _plausible(replace(fit, detail=float("nan")), P)  # not measured
