"""The decision as a pure function of evidence records: no album, no decoding."""

from __future__ import annotations

import os
from dataclasses import replace

import pytest

from photomatch import verify
from photomatch.decision import (
    DEFAULT_POLICY,
    FEATURES,
    Policy,
    choose_orientation,
    closest_rival,
    confidences,
    decide,
    features,
    low_quality,
    one_to_one,
    window_spread,
)
from photomatch.evidence import BY_BURST, BY_SEARCH, BY_SECOND_LOOK, Evidence, Fit, Group
from photomatch.results import AMBIGUOUS, MATCHED, UNMATCHED, Candidate, QueryResult, Reason

P = DEFAULT_POLICY


def fit(
    ncc: float = 0.99,
    scale: float = 1.0,
    offset: float = 0.2,
    sigma: float = 0.1,
    detail: float = 0.9,
    exposure: float = 0.0,
    shape: float = 1.0,
) -> verify.Alignment:
    return verify.Alignment(
        ncc=ncc,
        scale=scale,
        x=0.0,
        y=0.0,
        residual=offset / 200,
        exposure=exposure,
        brightness=120.0,
        tone_shape=shape,
        detail=detail,
        offset_px=offset,
        offset_sigma_px=sigma,
    )


def group(
    path: str,
    alignment: verify.Alignment,
    distance: int = 10,
    siblings: int = 0,
    found_by: str = BY_SEARCH,
    copies: tuple[str, ...] = (),
) -> Group:
    members = [Fit(path, distance, "full", 0, found_by, alignment, siblings)]
    members += [Fit(c, distance + 1, "full", 1, found_by, alignment, siblings) for c in copies]
    return Group(tuple(members))


def evidence(*groups: Group, orientation: str = "upright") -> Evidence:
    ranked = tuple((g.primary.path, g.distance, "full") for g in groups)
    return Evidence("set", "/thumbs/t.jpg", orientation, ranked, groups)


def test_a_clear_fit_at_a_standard_framing_is_matched():
    r = decide(evidence(group("/a/x.jpg", fit())), P)
    assert (r.status, r.match, r.reason) == (MATCHED, "/a/x.jpg", Reason.FRAMED.value)
    assert r.confidence is not None and r.confidence >= P.match_confidence


def test_the_true_frame_wins_over_its_shifted_siblings_and_is_listed_first():
    own = group("/a/f2.jpg", fit(ncc=0.985, offset=0.2), distance=12, siblings=2)
    left = group("/a/f1.jpg", fit(ncc=0.99, offset=4.0), distance=8, siblings=2)
    right = group("/a/f3.jpg", fit(ncc=0.975, offset=5.0), distance=9, siblings=2)
    r = decide(evidence(left, own, right), P)
    assert r.status == MATCHED and r.match == "/a/f2.jpg"
    assert r.candidates[0].path == "/a/f2.jpg"
    assert r.distance == 12  # the listed candidate's own distance


def test_frames_that_fit_at_the_framing_alike_are_ambiguous_with_both_listed():
    a = group("/a/f1.jpg", fit(ncc=0.99, offset=0.3), siblings=1)
    b = group("/a/f2.jpg", fit(ncc=0.988, offset=0.5), siblings=1)
    r = decide(evidence(a, b), P)
    assert r.status == AMBIGUOUS and r.match is None
    assert r.reason == Reason.FRAMES_ALIKE.value
    assert {c.path for c in r.candidates} == {"/a/f1.jpg", "/a/f2.jpg"}


def test_a_crop_that_fits_every_frame_of_a_burst_alike_is_not_matched():
    frames = [
        group(f"/a/f{i}.jpg", fit(ncc=0.97 - 0.002 * i, scale=0.85, offset=9.0), siblings=2)
        for i in range(3)
    ]
    r = decide(evidence(*frames), P)
    assert r.status != MATCHED
    if r.status == AMBIGUOUS:
        assert len(r.candidates) >= 2


def test_a_crop_of_a_photo_without_burst_is_matched():
    r = decide(evidence(group("/a/x.jpg", fit(ncc=0.97, scale=0.85, offset=9.0))), P)
    assert (r.status, r.match, r.reason) == (MATCHED, "/a/x.jpg", Reason.CROP.value)


def test_a_nearly_full_size_crop_of_a_lone_photo_is_not_refused():
    # An off-centre crop of 94% of the area is 97% of each side: it fits nearly
    # full size but away from any framing, like a shifted burst frame would,
    # yet this photo has no burst.
    lone = group("/a/x.jpg", fit(ncc=0.985, scale=0.97, offset=4.0))
    r = decide(evidence(lone), P)
    assert r.status != UNMATCHED
    assert r.candidates[0].path == "/a/x.jpg"


def test_a_stranger_fitting_a_flat_area_is_not_an_answer():
    stranger = group("/a/sea.jpg", fit(ncc=0.90, scale=0.8, offset=9.0, detail=0.05))
    r = decide(evidence(stranger), P)
    assert r.status == UNMATCHED and r.reason == Reason.NO_FIT.value
    assert r.candidates[0].path == "/a/sea.jpg"  # still listed, for a person to see


def test_nothing_close_is_unmatched_with_no_confidence():
    r = decide(Evidence("set", "/thumbs/t.jpg", "upright", (), ()), P)
    assert (r.status, r.reason, r.confidence, r.candidates) == (
        UNMATCHED,
        Reason.NO_CANDIDATE.value,
        None,
        (),
    )


def test_files_not_checked_are_listed_after_the_checked_ones():
    ev = evidence(group("/a/x.jpg", fit()))
    ev = replace(ev, ranked=(("/a/near.jpg", 3, "full"), *ev.ranked))
    r = decide(ev, P)
    assert [c.path for c in r.candidates] == ["/a/x.jpg", "/a/near.jpg"]
    assert r.candidates[1].score is None


def test_a_second_look_find_must_fit_better_than_a_near_one():
    weak = group("/a/far.jpg", fit(ncc=0.88), found_by=BY_SECOND_LOOK)
    assert decide(evidence(weak), P).status == UNMATCHED
    strong = group("/a/far.jpg", fit(ncc=0.99), found_by=BY_SECOND_LOOK)
    assert decide(evidence(strong), P).status != UNMATCHED


def test_an_edited_copy_rides_with_its_original():
    r = decide(evidence(group("/a/x.jpg", fit(), copies=("/a/Edited/x.jpg",))), P)
    assert r.status == MATCHED and r.variants == ("/a/Edited/x.jpg",)


def test_every_distance_and_confidence_is_in_range():
    burst = group("/a/f.jpg", fit(ncc=0.96, scale=0.85, offset=8.0), distance=30, found_by=BY_BURST)
    r = decide(evidence(group("/a/x.jpg", fit(ncc=0.97, scale=0.85, offset=8.0)), burst), P)
    assert all(0 <= c.distance <= 128 for c in r.candidates)
    assert r.confidence is not None and 0.0 <= r.confidence <= 1.0


def test_a_turned_thumbnail_says_so():
    r = decide(evidence(group("/a/x.jpg", fit()), orientation="rotated 90°"), P)
    assert r.status == MATCHED and "rotated 90°" in r.note


def test_decide_is_pure(monkeypatch):
    # No file is read or stat'ed, and the same evidence gives the same answer.
    def refuse(*args, **kwargs):
        raise AssertionError("decide touched the file system")

    monkeypatch.setattr(os, "stat", refuse)
    monkeypatch.setattr("builtins.open", refuse)
    ev = evidence(group("/a/x.jpg", fit()), group("/a/y.jpg", fit(ncc=0.9, offset=5.0)))
    assert decide(ev, P) == decide(ev, P)


def test_confidence_grows_with_the_fit():
    groups = [group("/a/x.jpg", fit(ncc=n)) for n in (0.88, 0.95, 0.995)]
    confidences = [decide(evidence(g), P).confidence for g in groups]
    assert confidences == sorted(confidences)


def test_the_thresholds_and_the_model_live_in_policy():
    ev = evidence(group("/a/x.jpg", fit(ncc=0.95)))
    assert decide(ev, Policy(match_confidence=0.999999, review_confidence=0.0)).status == AMBIGUOUS
    assert decide(ev, Policy(ncc_min=0.96)).status == UNMATCHED
    assert len(features(ev.groups[0], P)) == len(P.weights)


def answer(query: str, status: str, match: str | None, confidence: float) -> QueryResult:
    shown = (Candidate("/a/x.jpg", 10, "full", 0.99),)
    return QueryResult(
        "set", query, status, match, 10, shown, 0.99, confidence=confidence, reason="framed"
    )


def test_two_thumbnails_matched_to_one_photo_leave_the_surer_one_matched():
    out = one_to_one(
        [
            answer("t1", MATCHED, "/a/x.jpg", 0.97),
            answer("t2", MATCHED, "/a/x.jpg", 0.999),
        ]
    )
    assert [r.status for r in out] == [AMBIGUOUS, MATCHED]
    assert out[0].reason == Reason.SAME_ORIGINAL.value and "t2" in out[0].note


@pytest.mark.parametrize("status", [AMBIGUOUS, UNMATCHED])
def test_one_to_one_leaves_other_answers_alone(status):
    taken = answer("t1", MATCHED, "/a/x.jpg", 0.99)
    other = answer("t2", status, None, 0.5)
    assert one_to_one([taken, other])[1] == other


def test_an_implausible_fit_is_never_the_answer_however_well_it_correlates():
    # A second-look find at 70% of the frame (below the smallest scale searched)
    # that correlates nearly perfectly, beside the framed original.
    stray = group("/a/stray.jpg", fit(ncc=0.9999, scale=0.70, offset=9.0), found_by=BY_SECOND_LOOK)
    own = group("/a/x.jpg", fit(ncc=0.97))
    r = decide(evidence(stray, own), P)
    assert r.status == MATCHED and r.match == "/a/x.jpg"
    assert [c.path for c in r.candidates] == ["/a/x.jpg", "/a/stray.jpg"]
    # Alone it is no answer either, though a clear fit is shown for a look.
    alone = decide(evidence(stray), P)
    assert alone.match is None and alone.confidence == 0.0
    assert (alone.status, alone.reason) == (AMBIGUOUS, Reason.UNCONFIRMED.value)


def test_the_primary_is_chosen_by_the_decision_not_the_gathering():
    members = (
        Fit("/a/Edited/x.jpg", 10, "full", 0, BY_SEARCH, fit(), 0, mtime_ns=2_000),
        Fit("/a/x.jpg", 11, "full", 1, BY_SEARCH, fit(), 0, mtime_ns=1_000),
    )
    ev = evidence(Group(members))
    assert decide(ev, P).match == "/a/x.jpg"  # the oldest
    assert decide(ev, Policy(prefer="*/Edited/*")).match == "/a/Edited/x.jpg"
    # Case aside: cameras name files in capitals, people type globs in lower case.
    assert decide(ev, Policy(prefer="*/edited/*.JPG")).match == "/a/Edited/x.jpg"


def test_the_weights_must_fit_the_features():
    with pytest.raises(ValueError, match="one per FEATURES"):
        Policy(weights=(1.0, 2.0))


def test_frames_that_fit_alike_are_told_apart_by_where_they_differ():
    # Two frames of a tripod burst, both at the framing and fitting alike as a
    # whole; where they differ (a subject that moved) the thumbnail follows
    # the first clearly (the checker's ``Group.contrast``, +-1/2 each way)
    # and follows it there (``Group.unexplained``).
    def frames(side: float, separation: float, left: tuple[float, float]) -> Evidence:
        a = replace(
            group("/a/f1.jpg", fit(ncc=0.992), siblings=1),
            contrast=side,
            separation=separation,
            unexplained=left[0],
        )
        b = replace(
            group("/a/f2.jpg", fit(ncc=0.991), siblings=1),
            contrast=-side,
            separation=separation,
            unexplained=left[1],
        )
        return evidence(a, b)

    told = decide(frames(0.5, 4.0, (0.01, 1.0)), P)
    assert told.candidates[0].path == "/a/f1.jpg"
    assert told.confidence is not None and told.confidence >= 0.9
    # The same lean where the frames barely differ is chance: not an answer
    # (the thumbnail's own noise outweighs their difference: neither explains it).
    alike = decide(frames(0.5, 0.05, (3.0, 3.0)), P)
    assert alike.status == AMBIGUOUS and alike.reason == Reason.FRAMES_ALIKE.value
    assert {c.path for c in alike.candidates} == {"/a/f1.jpg", "/a/f2.jpg"}
    assert alike.confidence is not None and alike.confidence < told.confidence - 0.3


def test_a_frame_of_a_still_burst_is_less_sure_than_one_of_a_moving_burst():
    # The thumbnail fits the first of two frames best and follows it where
    # they differ. When the other frame's window lies at the same spot (a
    # tripod), a frame missing from the album would fit both as well, so the
    # answer is less sure than when the other frame lies a few pixels away (a
    # moving burst, where a missing frame shows as a shift).
    def burst(spread: float) -> Evidence:
        a = replace(
            group("/a/f1.jpg", fit(ncc=0.995), siblings=1),
            contrast=0.5,
            separation=2.0,
            unexplained=0.05,
        )
        other = replace(fit(ncc=0.99, offset=0.3), x=spread)
        b = replace(
            group("/a/f2.jpg", other, siblings=1),
            contrast=-0.5,
            separation=2.0,
            unexplained=0.8,
        )
        return evidence(a, b)

    still, moving = decide(burst(0.0), P), decide(burst(3.0), P)
    assert still.candidates[0].path == moving.candidates[0].path == "/a/f1.jpg"
    assert still.confidence is not None and moving.confidence is not None
    assert still.confidence < moving.confidence


def test_an_exposure_difference_with_a_bent_tone_curve_counts_less_than_a_pure_gain():
    # A crop exposed 3 grey levels off its window: by a pure gain (another
    # frame of a burst, or a crop of one) it is doubted; with a tone curve
    # bent as well (a colour or gamma edit of the photo itself) less so.
    def crop(shape: float) -> Evidence:
        return evidence(group("/a/x.jpg", fit(ncc=0.97, scale=0.85, exposure=3.0, shape=shape)))

    gain, edit = decide(crop(0.5), P, 0.0), decide(crop(3.5), P, 0.0)
    assert gain.confidence is not None and edit.confidence is not None
    assert gain.confidence < edit.confidence
    flat = decide(crop(0.5), P, None)  # no run offset: exposure is not weighed
    assert flat.confidence is not None and flat.confidence > gain.confidence
    row = features(crop(3.5).groups[0], P, 0.0)
    assert row[FEATURES.index("exposure_shape")] == pytest.approx(
        row[FEATURES.index("exposure")] * 3.5 / P.exposure_shape_max
    )


def test_the_spread_of_two_windows_counts_their_move_and_their_scale():
    a = replace(fit(), x=10.0, y=5.0, scale=0.9)
    assert window_spread(a, a) == 0.0
    assert window_spread(a, replace(a, x=12.0, y=4.0)) == pytest.approx(2.0)
    moved = replace(a, scale=0.95)
    assert window_spread(a, moved) == pytest.approx(0.05 * verify.COMPARE_SIZE / 2)
    first = group("/a/f1.jpg", fit(ncc=0.99))
    others = [first, group("/a/f2.jpg", fit(ncc=0.95)), group("/a/f3.jpg", fit(ncc=0.97))]
    rival = closest_rival(first, others)
    assert rival is not None and rival.primary.path == "/a/f3.jpg"
    assert closest_rival(first, [first]) is None


def test_a_frame_the_thumbnail_leans_to_but_does_not_show_is_less_sure():
    # Two frames of a burst, the thumbnail leaning clearly to the first where
    # they differ. If it also follows the first there (a thumbnail of that
    # frame), the first is the match; if what it shows there is explained by
    # neither (a frame taken between the two, not in the album: the checker's
    # ``Group.unexplained``), the first stays first but is less sure, and with
    # a weaker lean it is no answer (how much less is the fitted model's).
    def frames(left: float, separation: float = 4.0) -> Evidence:
        a = replace(
            group("/a/f1.jpg", fit(ncc=0.992), siblings=1),
            contrast=0.5,
            separation=separation,
            unexplained=left,
        )
        b = replace(
            group("/a/f2.jpg", fit(ncc=0.985), siblings=1),
            contrast=-0.5,
            separation=separation,
            unexplained=1.0,
        )
        return evidence(a, b)

    shown = decide(frames(0.01), P)
    assert (shown.status, shown.match) == (MATCHED, "/a/f1.jpg")
    between = decide(frames(0.6), P)
    assert between.candidates[0].path == "/a/f1.jpg"
    assert between.confidence is not None and shown.confidence is not None
    assert between.confidence < shown.confidence
    weak = decide(frames(1.0, separation=1.0), P)
    assert weak.status != MATCHED and weak.candidates[0].path == "/a/f1.jpg"
    assert decide(frames(0.01, separation=1.0), P).confidence > weak.confidence


def test_a_clear_fit_whose_detail_does_not_confirm_it_is_shown_not_refused():
    # A smooth picture cropped and saved at q30: it fits its original at 0.9995
    # as a whole, while too little of its fine detail survived to confirm a
    # crop (not plausible). Nothing else comes near: worth a look, not a match.
    smooth = group("/a/x.jpg", fit(ncc=0.9995, scale=0.91, offset=4.0, detail=0.24))
    stranger = group("/a/y.jpg", fit(ncc=0.77, scale=0.72, detail=0.02))
    r = decide(evidence(stranger, smooth), P)
    assert (r.status, r.reason, r.confidence) == (AMBIGUOUS, Reason.UNCONFIRMED.value, 0.0)
    assert r.match is None and r.candidates[0].path == "/a/x.jpg"
    # With another fit within the margin it is no longer clear: nothing fits.
    rival = group("/a/z.jpg", fit(ncc=0.98, scale=0.9, offset=4.0, detail=0.1))
    assert decide(evidence(smooth, rival), P).reason == Reason.NO_FIT.value
    # Nor is a close fit under 0.97.
    loose = group("/a/x.jpg", fit(ncc=0.95, scale=0.91, offset=4.0, detail=0.24))
    assert decide(evidence(loose, stranger), P).status == UNMATCHED


def test_groups_share_the_probability():
    # Frames that fit alike split it; neither is confident, together they are.
    same = [group(f"/a/f{i}.jpg", fit(ncc=0.99), siblings=2) for i in range(3)]
    shares = confidences([features(g, P) for g in same], P)
    assert sum(shares) <= 1.0 and max(shares) - min(shares) < 1e-9
    assert max(shares) < P.match_confidence
    assert decide(evidence(*same), P).status == AMBIGUOUS


def test_of_two_orientations_the_more_confident_answer_is_given():
    # A picture stored turned: upright it half fits a stranger's crop, turned
    # it fits its original at a standard framing.
    stranger = group("/a/s.jpg", fit(ncc=0.91, scale=0.8, detail=0.45), found_by=BY_SECOND_LOOK)
    upright = decide(evidence(stranger), P)
    turned = decide(evidence(group("/a/x.jpg", fit()), orientation="rotated 180°"), P)
    assert upright.status != UNMATCHED and turned.status == MATCHED
    chosen = choose_orientation([upright, turned])
    assert (chosen.match, chosen.orientation) == ("/a/x.jpg", "rotated 180°")
    # Nothing found either way: the answer that found a fit still lists it.
    nothing = decide(evidence(), P)
    off_frame = fit(ncc=0.95, offset=3.0, detail=0.7)
    shifted = decide(
        evidence(group("/a/y.jpg", off_frame, siblings=2), orientation="rotated 90°"), P
    )
    assert nothing.status == shifted.status == UNMATCHED
    assert choose_orientation([nothing, shifted]).candidates[0].path == "/a/y.jpg"
    # A tie goes to the upright answer.
    assert choose_orientation([upright, upright]) is upright


def test_an_answer_ambiguous_among_many_frames_names_every_one_of_them():
    # A crop that fits all seven frames of a pan alike: each is listed, past
    # ``max_candidates``, so that its own frame is among them whatever its rank.
    frames = [
        group(f"/a/f{i}.jpg", fit(ncc=0.985 - 0.002 * i, scale=0.85, offset=6.0), siblings=6)
        for i in range(7)
    ]
    strangers = [group(f"/a/s{i}.jpg", fit(ncc=0.5, scale=0.85), distance=30) for i in range(5)]
    r = decide(evidence(*frames, *strangers), P)
    assert r.status != MATCHED
    listed = [c.path for c in r.candidates]
    assert len(listed) == 7 > P.max_candidates
    assert set(listed) == {f"/a/f{i}.jpg" for i in range(7)}
    # Two frames alike and strangers: the list stays at ``max_candidates``.
    r = decide(evidence(*frames[:2], *strangers), P)
    assert len(r.candidates) == P.max_candidates


def test_low_quality_runs_from_a_clean_thumbnail_to_a_coarse_one():
    assert low_quality(None) == 0.0
    assert low_quality(95) == 0.0
    assert low_quality(80) == 0.0
    assert low_quality(50) == pytest.approx(0.5)
    assert low_quality(20) == 1.0
    assert low_quality(5) == 1.0


def test_the_model_weighs_the_detail_a_coarse_thumbnail_leaves_unmatched():
    g = group("/album/a.jpg", fit(detail=0.8))
    i = {name: FEATURES.index(name) for name in FEATURES}
    clean = features(g, P, quality=90)
    coarse = features(g, P, quality=35)
    assert clean[i["low_quality"]] == 0.0 and clean[i["low_quality_detail"]] == 0.0
    assert coarse[i["low_quality"]] == pytest.approx(0.75)
    assert coarse[i["low_quality_detail"]] == pytest.approx(0.75 * 0.2)
    # Nothing else about the fit depends on the thumbnail's quality.
    others = [k for name, k in i.items() if not name.startswith("low_quality")]
    assert (clean[others] == coarse[others]).all()


def test_the_decision_reads_the_thumbnails_quality_from_its_evidence():
    """The same fits, saved coarsely: with a weight on the detail a coarse
    thumbnail leaves unmatched, the answer's confidence follows the quality
    recorded in the evidence."""
    ev = evidence(group("/album/a.jpg", fit(detail=0.8)))
    k = FEATURES.index("low_quality_detail")
    weighed = replace(P, weights=tuple(4.0 if j == k else w for j, w in enumerate(P.weights)))
    clean = decide(replace(ev, quality=90), weighed)
    coarse = decide(replace(ev, quality=30), weighed)
    unknown = decide(ev, weighed)
    assert coarse.confidence > clean.confidence
    assert unknown.confidence == clean.confidence
