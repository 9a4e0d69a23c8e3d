"""The pixel check: locating a thumbnail in a candidate, its offset from a standard
framing (judged by ``decision.on_frame``), variants."""

from __future__ import annotations

import math

import numpy as np
import pytest
import pyvips

from photomatch import hashing, verify
from photomatch.decision import DEFAULT_POLICY, on_frame
from photomatch.demo import sample_image


def grey_of(image: pyvips.Image) -> np.ndarray:
    return hashing.grey_from_image(image)


@pytest.fixture(scope="module")
def photo() -> pyvips.Image:
    return sample_image("coffee")  # 600x400, textured


def thumb(image: pyvips.Image, size: int, q: int = 30) -> np.ndarray:
    small = image.thumbnail_image(size)
    data = small.jpegsave_buffer(Q=q)
    return hashing.grey_from_image(pyvips.Image.new_from_buffer(data, ""))


def shifted(image: pyvips.Image, fraction: float) -> pyvips.Image:
    """The same scene a few percent to the side, as a burst frame would be."""
    w, h = image.width, image.height
    cw = int(w * 0.94)
    left = int((w - cw) / 2 + fraction * w)
    return image.crop(left, 0, cw, h).resize(w / cw, vscale=1.0)


def test_full_frame_thumbnail_fits_canonically(photo):
    q = thumb(photo, 200)
    fit = verify.align(q, grey_of(photo))
    assert fit.ncc > 0.95
    assert on_frame(fit, DEFAULT_POLICY)
    assert fit.scale > 0.98


def test_centre_square_is_canonical_and_off_centre_crop_is_found(photo):
    square = photo.crop(100, 0, 400, 400)
    fit = verify.align(thumb(square, 160), grey_of(photo))
    assert fit.ncc > 0.95 and on_frame(fit, DEFAULT_POLICY)
    crop = photo.crop(40, 30, 500, 333)  # 83% off-centre crop
    fit = verify.align(thumb(crop, 220), grey_of(photo))
    assert fit.ncc > 0.95
    assert not on_frame(fit, DEFAULT_POLICY)
    assert 0.78 < fit.scale < 0.88


def test_a_shifted_burst_frame_is_not_canonical(photo):
    frame_a = shifted(photo, 0.0)
    frame_b = shifted(photo, 0.02)
    q = thumb(frame_a, 200)
    own = verify.align(q, grey_of(frame_a))
    sibling = verify.align(q, grey_of(frame_b))
    assert on_frame(own, DEFAULT_POLICY) and not on_frame(sibling, DEFAULT_POLICY)
    assert own.ncc > sibling.ncc - 0.01


def test_unrelated_photo_scores_low(photo):
    q = thumb(photo, 200)
    other = verify.align(q, grey_of(sample_image("rocket")))
    assert other.ncc < 0.7


def saved(image: pyvips.Image, q: int = 90) -> np.ndarray:
    return grey_of(pyvips.Image.new_from_buffer(image.jpegsave_buffer(Q=q), ""))


def frame(image: pyvips.Image, dx: float, motion: bool = False, step: float = 1.0) -> pyvips.Image:
    """A burst frame of a camera-sized scene: the view moved by ``dx`` of its
    width (sub-pixel, by an affine move) and, with ``motion``, a subject that
    moved: a soft disc of the scene displaced by 4% of the frame (times ``step``)."""
    big = image.resize(2)
    w, h = round(big.width * 0.9), round(big.height * 0.9)
    out = big.affine([1, 0, 0, 1], odx=-dx * big.width - 20, ody=-20, oarea=[0, 0, w, h])
    if motion:
        moved = out.affine(
            [1, 0, 0, 1], odx=0.04 * w * step, ody=0.03 * h * step, oarea=[0, 0, w, h]
        )
        yy, xx = np.mgrid[0:h, 0:w]
        mask = np.clip(
            1.5 - 1.5 * np.hypot((xx - 0.45 * w) / (0.12 * w), (yy - 0.5 * h) / (0.12 * h)), 0, 1
        )
        mixed = out.numpy() * (1 - mask[..., None]) + moved.numpy() * mask[..., None]
        out = pyvips.Image.new_from_array(mixed.astype(np.uint8))
    return out


@pytest.mark.parametrize("name", ["coffee", "astronaut"])
def test_an_edited_copy_or_a_resized_copy_is_one_capture_and_a_burst_frame_is_not(name):
    image = sample_image(name)
    base = frame(image, 0.0)
    original = saved(base)
    edited = saved((base * 1.1 + 8).cast("uchar").gamma(exponent=1.15).cast("uchar"), 85)
    assert verify.same_photo(original, edited)
    assert verify.same_photo(original, saved(base.resize(0.5), 80))
    # Frames of a burst: shifted by 0.2% of the width (a fraction of a pixel
    # at the size compared), or with a subject that moved, or both far apart.
    assert not verify.same_photo(original, saved(frame(image, 0.002)))
    assert not verify.same_photo(original, saved(frame(image, 0.0, motion=True)))
    assert not verify.same_photo(original, saved(frame(image, 0.01)))
    assert not verify.same_photo(original, grey_of(sample_image("chelsea")))


def test_the_offset_from_the_framing_is_in_thumbnail_pixels_with_its_uncertainty(photo):
    frame_a = shifted(photo, 0.0)
    q = thumb(frame_a, 200)
    own = verify.align(q, grey_of(frame_a))
    assert own.offset_px < 0.5 and own.offset_sigma_px < 1.0
    # A frame 2% of the width to the side: about 4 px at 200 px.
    sibling = verify.align(q, grey_of(shifted(photo, 0.02)))
    assert 2.5 < sibling.offset_px < 6.0


def test_a_peak_on_the_edge_of_the_search_is_a_sure_lower_bound_not_an_unknown():
    # Still rising at the edge: the thumbnail sits at least that far from the
    # framing, surely (a frame of a burst, not its original); its distance must
    # not be excused by a large uncertainty.
    rising = np.array([0.90, 0.93, 0.95, 0.97, 0.98])
    assert verify._peak_sigma(rising, 4, 10_000) == 0.0
    assert verify._peak_sigma(rising[::-1], 0, 10_000) == 0.0
    # Flat within the correlation's noise: where it sits can't be told.
    flat = np.array([0.5, 0.5, 0.5, 0.5, 0.5001])
    assert verify._peak_sigma(flat, 4, 100) == verify._MAX_SIGMA
    assert verify._peak_sigma(np.array([0.9]), 0, 10_000) == verify._MAX_SIGMA
    # A vertex inside: a fraction of a pixel.
    peaked = np.array([0.90, 0.96, 0.99, 0.96, 0.90])
    assert 0.0 < verify._peak_sigma(peaked, 2, 10_000) < 0.1


@pytest.mark.parametrize("side", [96, 90, 72])
def test_a_small_picture_fits_itself_at_full_size(photo, side):
    # In a picture under COMPARE_SIZE, neighbouring scales round to one template
    # size; a copy of the same file must still read as the full frame, canonical.
    grey = grey_of(photo.thumbnail_image(side))
    fit = verify.align(grey, grey)
    assert fit.scale == 1.0 and fit.offset_px < 0.5
    assert verify.same_photo(grey, grey.copy())


def test_the_gate_before_same_photo_keeps_edits_and_drops_strangers(photo):
    original = grey_of(photo)
    darker = grey_of((photo * 0.8).cast("uchar"))
    stranger = grey_of(sample_image("chelsea").thumbnail_image(600, height=400, crop="centre"))
    assert verify._frame_correlation(original, darker) > 0.99
    assert verify._frame_correlation(original, stranger) < verify.SAME_PHOTO_GATE


def test_a_whole_frame_thumbnail_with_rounded_sides_is_canonical_and_a_shifted_frame_is_not(
    photo,
):
    # 216 x 144 from 600 x 398: the height was rounded up by most of a pixel, so
    # the thumbnail's aspect is off the photo's; stretched onto the whole frame
    # it still sits at the origin, while a frame 2% to the side does not.
    frame = photo.crop(0, 0, 600, 398)
    s = 216 / 600
    small = frame.affine([s, 0, 0, s], oarea=[0, 0, 216, 144], extend="copy")
    q = hashing.grey_from_image(pyvips.Image.new_from_buffer(small.jpegsave_buffer(Q=60), ""))
    assert verify._whole_frame_aspect(q.shape, (398, 600))
    assert not verify._whole_frame_aspect(q.shape, (380, 600))
    own = verify.align(q, grey_of(frame))
    assert on_frame(own, DEFAULT_POLICY) and own.offset_px < 0.5
    sibling = verify.align(q, grey_of(photo.crop(12, 0, 588, 398).resize(600 / 588, vscale=1.0)))
    assert not on_frame(sibling, DEFAULT_POLICY)


def test_fine_detail_correlates_for_a_crop_and_not_for_a_picture_of_two_areas(photo):
    crop = verify.align(thumb(photo.crop(40, 30, 500, 333), 220), grey_of(photo))
    assert crop.detail > 0.6
    # Bright above, dark below, with texture of its own: whatever window of
    # the photo it fits best, only the two areas agree, not the detail.
    rng = np.random.default_rng(7)
    two = np.where(np.arange(160)[:, None] < 70, 200.0, 60.0) + rng.normal(0, 12, (160, 240))
    two = np.clip(two, 0, 255).astype(np.uint8)
    stranger = verify.align(two, grey_of(photo))
    assert abs(stranger.detail) < 0.2


def test_a_subject_that_moved_shows_in_the_worst_tile(photo):
    still = frame(photo, 0.0)
    moved = frame(photo, 0.0, motion=True)
    q = saved(still.thumbnail_image(240), 60)
    own = verify.align(q, saved(still))
    other = verify.align(q, saved(moved))
    assert own.local_detail > 0.5
    assert other.local_detail < own.local_detail - 0.05


@pytest.mark.parametrize("name", ["coffee", "astronaut"])
def test_contrast_tells_which_frame_a_thumbnail_shows_where_the_frames_differ(name):
    # Two frames of a burst, alike but for a subject that moved; a small,
    # heavily compressed thumbnail of each. Where the frames differ, each
    # thumbnail leans to its own frame (side near +1/2), and clearly so
    # (separation well above the thumbnail's own residual).
    image = sample_image(name)
    still, moved = saved(frame(image, 0.0)), saved(frame(image, 0.0, motion=True))
    for own, other in ((still, moved), (moved, still)):
        shown = frame(image, 0.0, motion=own is moved)
        q = verify.Thumbnail(saved(shown.thumbnail_image(200), 40))
        query, mine = verify.fitted_window(q, own, verify.align(q, own))
        _, theirs = verify.fitted_window(q, other, verify.align(q, other))
        side, separation = verify.contrast(query, mine, theirs)
        assert side > 0.3 and separation > 0.5
        assert verify.contrast(query, theirs, mine) == pytest.approx((-side, separation))


def test_contrast_is_mute_between_windows_that_do_not_differ(photo):
    # A copy of the frame (re-saved) fits like the frame itself: nothing to tell.
    base = frame(photo, 0.0)
    q = verify.Thumbnail(saved(base.thumbnail_image(200), 40))
    a, b = saved(base), saved(base, 70)
    query, wa = verify.fitted_window(q, a, verify.align(q, a))
    _, wb = verify.fitted_window(q, b, verify.align(q, b))
    _, separation = verify.contrast(query, wa, wb)
    assert separation < 0.2


@pytest.mark.parametrize("name", ["coffee", "astronaut"])
def test_a_frame_between_two_in_the_album_is_explained_by_neither(name):
    # Three frames of a burst, a subject moving a step each; the album keeps
    # the first and the last. A thumbnail of the first follows it where the
    # two differ; one of the middle frame (not in the album) leans to one of
    # them as a whole, yet shows there a picture that neither explains.
    image = sample_image(name)
    kept = [saved(frame(image, 0.0)), saved(frame(image, 0.0, motion=True, step=2.0))]

    def left(shown: pyvips.Image) -> list[float]:
        q = verify.Thumbnail(saved(shown.thumbnail_image(200), 40))
        windows = [verify.fitted_window(q, k, verify.align(q, k)) for k in kept]
        (query, first), (_, last) = windows
        assert math.isnan(verify.unexplained(query, first, []))  # nothing to tell it from
        return [verify.unexplained(query, first, [last]), verify.unexplained(query, last, [first])]

    own = left(frame(image, 0.0))
    between = left(frame(image, 0.0, motion=True))
    assert own[0] < 0.05 and own[1] > 0.9
    assert min(between) > max(0.1, 10 * own[0])


def test_the_fitted_window_is_the_thumbnail_where_it_fits(photo):
    base = frame(photo, 0.0)
    crop = base.crop(60, 40, base.width - 120, base.height - 100)
    q = verify.Thumbnail(saved(crop.thumbnail_image(220), 85))
    cand = saved(base)
    query, window = verify.fitted_window(q, cand, verify.align(q, cand))
    assert query.shape == window.shape
    assert np.corrcoef(query.ravel(), window.ravel())[0, 1] > 0.97


@pytest.mark.parametrize("name", ["coffee", "astronaut"])
def test_grain_tells_two_still_frames_from_one_capture_and_its_edit(name):
    # A tripod burst of a still scene: one view, two exposures, two noises
    # (sensor noise of a few grey levels, as at a moderate ISO). At the pixel
    # check's size the frames look like one capture; near their own size the
    # grain differs, while an edit or a resized copy of one frame keeps its grain.
    scene = frame(sample_image(name), 0.0)

    def exposure(seed: int) -> pyvips.Image:
        noise = pyvips.Image.gaussnoise(scene.width, scene.height, sigma=4.0, seed=seed)
        return (scene + noise).cast("uchar")

    first, second = exposure(1), exposure(2)
    edit = (first * 1.08 + 5).cast("uchar").gamma(exponent=1.1).cast("uchar")
    a, b, e = saved(first, 92), saved(second, 92), saved(edit, 88)
    assert verify.grain_detail(a, e) >= DEFAULT_POLICY.grain_detail_min
    assert verify.grain_detail(a, saved(first.resize(0.6), 90)) >= DEFAULT_POLICY.grain_detail_min
    assert verify.same_photo(a, b)  # what the grain test is for
    assert verify.grain_detail(a, b) < DEFAULT_POLICY.grain_detail_min


@pytest.mark.parametrize(("name", "side", "pad"), [("coffee", 160, 6), ("astronaut", 200, 12)])
def test_a_bordered_thumbnail_trimmed_a_little_under_full_size_sits_on_its_framing(name, side, pad):
    # A web service's frame, trimmed with its ringing, leaves a centred crop a
    # few pixels under full size: the framings searched lie within a few
    # pixels of each other and all find its one peak, which must count from
    # the centred one it is on, not from the first searched.
    image = sample_image(name)
    picture = image.thumbnail_image(side)
    small = picture.embed(
        pad,
        pad,
        picture.width + 2 * pad,
        picture.height + 2 * pad,
        extend="background",
        background=[235, 235, 235],
    )
    grey = hashing.grey_from_image(pyvips.Image.new_from_buffer(small.jpegsave_buffer(Q=60), ""))
    trimmed = hashing.trim_border(grey)
    assert trimmed.shape[0] < grey.shape[0] - 2 * pad
    fit = verify.align(trimmed, grey_of(image))
    assert fit.offset_px < 0.8, fit
    assert on_frame(fit, DEFAULT_POLICY)
