"""Exposure as evidence for crops that fit every frame of a burst alike."""

from __future__ import annotations

import os
from dataclasses import replace

import numpy as np
import pytest
import pyvips

from photomatch import hashing, match_album, verify
from photomatch.decision import DEFAULT_POLICY, Policy, exposure_score, plausible
from photomatch.demo import sample_image
from photomatch.evidence import BY_SEARCH, Fit, Group
from photomatch.results import MATCHED


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
    assert own.scale < 0.9
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


def crop_fit(ncc: float = 0.95, exposure: float = 0.0, **changes) -> verify.Alignment:
    return verify.Alignment(
        ncc=ncc,
        scale=0.85,
        x=3.0,
        y=4.0,
        exposure=exposure,
        brightness=120.0,
        tone_shape=1.0,
        detail=0.8,
        offset_px=9.0,
        offset_sigma_px=0.2,
        **changes,
    )


def test_exposure_is_scored_against_the_runs_offset_and_only_for_a_pure_gain():
    P = DEFAULT_POLICY
    assert exposure_score(crop_fit(exposure=-2.0), P) == pytest.approx(2.0)
    assert exposure_score(crop_fit(exposure=-2.0), P, offset=-2.0) == pytest.approx(0.0)
    # A gamma or colour edit is not another exposure: no score.
    assert exposure_score(replace(crop_fit(exposure=-6.0), tone_shape=9.0), P) == 0.0


def lone(alignment: verify.Alignment) -> Group:
    return Group((Fit("a", 10, "full", 0, BY_SEARCH, alignment),))


def test_a_crop_fitting_below_the_smallest_scale_searched_is_no_answer():
    # A picture of a few large bright and dark areas can fit a part of an
    # unrelated photo that way (a brick wall over grass in a canyon at 0.90).
    assert plausible(lone(crop_fit()), DEFAULT_POLICY)
    assert not plausible(lone(replace(crop_fit(), scale=verify.MIN_SCALE - 0.03)), DEFAULT_POLICY)


def test_a_crop_whose_detail_does_not_correlate_is_no_answer():
    fit = crop_fit()
    assert plausible(lone(replace(fit, detail=0.7)), DEFAULT_POLICY)
    assert not plausible(lone(replace(fit, detail=0.05)), DEFAULT_POLICY)
    assert plausible(lone(replace(fit, detail=float("nan"))), DEFAULT_POLICY)  # not measured


def test_the_runs_offset_is_measured_on_its_plain_matches(tmp_path):
    """A service whose thumbnails all come out 3 grey levels bright. A crop of one
    burst frame, beside a frame 2.5% brighter: measured raw, the brighter frame
    would seem to agree; with the offset measured on the run's plain matches,
    the shown frame comes first."""
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
        return crop.status, os.path.basename(crop.candidates[0].path)

    # Too few plain matches to measure the offset: exposure is not weighed (raw,
    # the brighter frame would seem to agree), and the two frames fit alike.
    status, _ = first_candidate(Policy(exposure_offset_samples=1000))
    assert status != MATCHED
    # Measured on the run's plain matches, the offset puts the shown frame first.
    _, first = first_candidate(Policy(exposure_offset_samples=3))
    assert first == "IMG_0001.jpg"
