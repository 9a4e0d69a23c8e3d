"""The pixel check of a run (``checking.Checker``): what it gathers as evidence,
and the second look further down the hash ranking when none of the nearest fits."""

from __future__ import annotations

import numpy as np
import pytest
import pyvips

from photomatch import hashing, overview, verify
from photomatch.checking import Checker
from photomatch.decision import Policy, decide
from photomatch.demo import sample_image
from photomatch.evidence import BY_BURST, BY_SEARCH, BY_SECOND_LOOK, Fit
from photomatch.index import AlbumArrays
from photomatch.overview import Overviews
from photomatch.results import AMBIGUOUS, MATCHED, UNMATCHED, Candidate

STRANGERS = ("astronaut", "rocket", "camera", "brick")


@pytest.fixture(scope="module")
def album() -> dict[str, np.ndarray]:
    """Album files as the pixel check decodes them (grey, 500-px box), by name."""
    out = {}
    for name in ("coffee", "chelsea", *STRANGERS):
        image = sample_image(name).thumbnail_image(500)
        out[name] = hashing.grey_from_image(image)
    return out


def crop_of(name: str, box: tuple[int, int, int, int], q: int = 40) -> np.ndarray:
    """A thumbnail: an off-centre crop of ``name``, shrunk and saved as a JPEG."""
    crop = sample_image(name).crop(*box).thumbnail_image(260)
    return hashing.grey_from_image(pyvips.Image.new_from_buffer(crop.jpegsave_buffer(Q=q), ""))


def checker(album: dict[str, np.ndarray], ranking: list[str], policy: Policy) -> Checker:
    """A checker whose hash search ranks the album files in ``ranking`` order."""
    deeper = [Candidate(name, 30 + i, "full") for i, name in enumerate(ranking)]
    return Checker(album.__getitem__, policy, None, {}, lambda row, k: deeper)  # type: ignore[arg-type]


def gather(check: Checker, grey: np.ndarray, nearest: list[Candidate]):
    row = hashing.hash_grey(grey, album=False).rows[:1]
    return check.evidence("set", "/thumbs/t.jpg", grey, row, "upright", nearest)


def test_the_evidence_holds_what_was_measured(album):
    grey = crop_of("coffee", (40, 30, 500, 340))
    nearest = [Candidate("coffee", 12, "full"), Candidate("astronaut", 30, "full")]
    ev = gather(checker(album, [], Policy(second_look=0)), grey, nearest)
    assert ev.ranked == (("coffee", 12, "full"), ("astronaut", 30, "full"))
    by_path = {g.primary.path: g for g in ev.groups}
    coffee = by_path["coffee"]
    assert (coffee.distance, coffee.found_by, coffee.primary.rank) == (12, BY_SEARCH, 0)
    assert coffee.fit.ncc > 0.95 and 0.75 < coffee.fit.scale < 0.95
    assert by_path["astronaut"].fit.ncc < 0.7


def test_a_clear_fit_further_down_the_ranking_is_found(album):
    grey = crop_of("coffee", (40, 30, 500, 340))
    nearest = [Candidate(name, 20 + i, "full") for i, name in enumerate(STRANGERS)]
    ranking = [*STRANGERS, "chelsea", "coffee"]
    ev = gather(checker(album, ranking, Policy()), grey, nearest)
    found = decide(ev, Policy())
    assert found.status == MATCHED and found.match == "coffee"
    assert next(g for g in ev.groups if g.primary.path == "coffee").found_by == BY_SECOND_LOOK
    # Without the second look nothing near fits.
    alone = decide(gather(checker(album, ranking, Policy(second_look=0)), grey, nearest), Policy())
    assert alone.status == UNMATCHED


def test_a_near_file_left_unchecked_gets_its_second_look(album):
    # Four strangers within a few bits, the original far behind them: it is
    # among the nearest eight but outside the window of the best, so the first
    # pass leaves it, and the second look must not count it as seen.
    grey = crop_of("coffee", (40, 30, 500, 340))
    nearest = [Candidate(name, 2 + i, "full") for i, name in enumerate(STRANGERS)]
    nearest.append(Candidate("coffee", 30, "full"))
    ev = gather(checker(album, ["coffee"], Policy()), grey, nearest)
    assert decide(ev, Policy()).match == "coffee"


def test_strangers_further_down_stay_strangers(album):
    grey = crop_of("coffee", (40, 30, 500, 340))
    nearest = [Candidate(name, 20 + i, "full") for i, name in enumerate(STRANGERS[:2])]
    ev = gather(checker(album, [*STRANGERS, "chelsea"], Policy()), grey, nearest)
    assert decide(ev, Policy()).status == UNMATCHED
    # Second-look files that do not fit are not kept as evidence.
    assert {g.primary.path for g in ev.groups} == set(STRANGERS[:2])


def test_a_find_must_fit_clearly(album):
    grey = crop_of("coffee", (40, 30, 500, 340))
    nearest = [Candidate(name, 20 + i, "full") for i, name in enumerate(STRANGERS)]
    strict = Policy(second_look_ncc=0.999)
    ev = gather(checker(album, [*STRANGERS, "coffee"], strict), grey, nearest)
    assert decide(ev, strict).status == UNMATCHED


def overview_screen(album: dict[str, np.ndarray]):
    """``Checker.screen`` over the album files' overviews, as a run gives it."""
    names = list(album)
    overviews = Overviews.from_rows(
        list(range(len(names))),
        [album[n].shape[0] for n in names],
        [album[n].shape[1] for n in names],
        [overview.make(album[n]) for n in names],
    )

    def screen(grey: np.ndarray, paths: list[str]) -> list[float]:
        wanted = np.array([names.index(p) for p in paths])
        files, scores = overviews.subset(wanted).scores(grey)
        by_file = dict(zip(files.tolist(), scores.tolist(), strict=True))
        return [by_file[names.index(p)] for p in paths]

    return screen


def test_only_files_whose_overview_the_thumbnail_fits_are_decoded(album):
    grey = crop_of("coffee", (40, 30, 500, 340))
    nearest = [Candidate(name, 20 + i, "full") for i, name in enumerate(STRANGERS)]
    deeper = [Candidate(n, 30 + i, "full") for i, n in enumerate([*STRANGERS, "chelsea", "coffee"])]
    decoded: list[str] = []

    def loader(name: str) -> np.ndarray:
        decoded.append(name)
        return album[name]

    screen = overview_screen(album)
    scores = dict(zip(album, screen(grey, list(album)), strict=True))
    assert scores["coffee"] >= Policy().second_look_overview > scores["chelsea"]
    assert all(scores[name] < Policy().search_overview for name in STRANGERS)

    def decoded_for(policy: Policy) -> list[str]:
        decoded.clear()
        check = Checker(loader, policy, None, {}, lambda row, k: deeper, screen=screen)  # type: ignore[arg-type]
        found = decide(gather(check, grey, nearest), policy)
        assert found.status == MATCHED and found.match == "coffee"
        return sorted(decoded)

    # Neither the first look's strangers nor the second look's chelsea is
    # decoded: the crop does not fit their overviews.
    assert decoded_for(Policy()) == ["coffee"]
    # Without the first look's screen, its strangers are decoded (and fail).
    first_all = Policy(search_overview=-1.0)
    assert decoded_for(first_all) == sorted([*STRANGERS, "coffee"])
    # With no bar on either look, every file is checked, to the same answer.
    assert "chelsea" in decoded_for(Policy(search_overview=-1.0, second_look_overview=-1.0))


def test_a_pair_of_album_files_is_compared_once_per_run(album, monkeypatch):
    # Same-capture verdicts are kept by pair of paths: the candidates of
    # thumbnails of one burst, or of one photo's copies, come up again and again.
    calls: list[tuple[int, int]] = []
    real = verify.capture_verdict

    def counted(a: np.ndarray, b: np.ndarray, detail_min: float = 0.97) -> bool | None:
        calls.append((id(a), id(b)))
        return real(a, b, detail_min)

    monkeypatch.setattr(verify, "capture_verdict", counted)
    edited = dict(album, coffee_edited=np.clip(album["coffee"] * 1.1 + 5, 0, 255).astype(np.uint8))
    check = checker(edited, [], Policy(second_look=0))
    nearest = [Candidate("coffee", 10, "full"), Candidate("coffee_edited", 12, "full")]
    for box in ((40, 30, 500, 340), (20, 10, 520, 350)):
        result = decide(gather(check, crop_of("coffee", box), nearest), Policy())
        assert result.status == MATCHED and result.variants, result
    assert len(calls) == 1


def test_a_file_joins_a_group_only_as_one_capture_with_every_member(album, monkeypatch):
    # Frames 1-2 and 2-3 of a still burst pass for one capture, 1-3 do not:
    # frame 3 must not ride into frame 1's group through frame 2.
    alike = {("f1", "f2"), ("f2", "f3")}
    check = checker(album, [], Policy())
    monkeypatch.setattr(check, "same_capture", lambda a, b: tuple(sorted((a, b))) in alike)

    def fit(path: str, ncc: float) -> Fit:
        return Fit(path, 10, "full", 0, BY_SEARCH, verify.Alignment(ncc=ncc, scale=1.0, x=0, y=0))

    groups = check._group([fit("f2", 0.99), fit("f1", 0.98), fit("f3", 0.97)])
    assert [[m.path for m in g.members] for g in groups] == [["f2", "f1"], ["f3"]]


def test_decoded_candidates_are_kept_within_a_byte_budget(album, monkeypatch):
    # A file that comes up again is not decoded again while it fits the budget;
    # past it the least recently used go first, and the budget holds.
    from photomatch import checking

    calls: list[str] = []

    def loader(name: str) -> np.ndarray:
        calls.append(name)
        return album[name]

    check = Checker(loader, Policy(), None, {})  # type: ignore[arg-type]
    for name in ("coffee", "chelsea", "coffee", "chelsea"):
        assert check._grey(name) is album[name]
    assert calls == ["coffee", "chelsea"]
    budget = sum(album[n].nbytes for n in ("coffee", "chelsea", "astronaut")) - 1
    monkeypatch.setattr(checking, "DECODE_CACHE_BYTES", budget)
    check._grey("astronaut")  # over the budget: the least recently used (coffee) goes
    assert check._decoded_bytes <= budget
    check._grey("chelsea")
    check._grey("coffee")
    assert calls == ["coffee", "chelsea", "astronaut", "coffee"]


def captures(scene: pyvips.Image, sigma: float) -> tuple[dict, dict]:
    """Two exposures of a still ``scene`` (a noise each) and a tone edit of the
    first, as a camera and an editor save them: ``(grain, checked)``, the
    files near their own size and at the pixel check's (450 px)."""

    def saved(image: pyvips.Image) -> np.ndarray:
        jpeg = image.jpegsave_buffer(Q=92)
        return hashing.grey_from_image(pyvips.Image.new_from_buffer(jpeg, ""))

    def exposure(seed: int) -> pyvips.Image:
        noise = pyvips.Image.gaussnoise(scene.width, scene.height, sigma=sigma, seed=seed)
        return (scene + noise).cast("uchar")

    first = exposure(1)
    grain = {"first": saved(first), "second": saved(exposure(2))}
    grain["edit"] = saved((first * 1.06 + 4).cast("uchar"))
    checked = {name: verify.area_resize(g, 300, 450).astype(np.uint8) for name, g in grain.items()}
    return grain, checked


def test_two_still_frames_are_two_captures_whatever_the_sign_of_their_grain():
    # Two exposures of one still scene (a tripod, nothing moved), 1350 px:
    # alike at the check's size, where the noise averages away; near their own
    # size their grain correlates at about zero, on either side of it. A
    # negative score is two captures, not "can't tell"; an edit of one frame
    # keeps its grain.
    grain, checked = captures(sample_image("chelsea").colourspace("b-w")[0].resize(3.0), 4.0)
    assert verify.same_photo(checked["first"], checked["second"])  # what the grain test is for
    assert verify.grain_detail(grain["first"], grain["second"]) < 0
    check = Checker(checked.__getitem__, Policy(), None, {}, grain_loader=grain.__getitem__)  # type: ignore[arg-type]
    assert not check.same_capture("first", "second")
    assert check.same_capture("first", "edit")


def test_grain_that_cannot_be_told_is_nan_and_leaves_the_check_verdict():
    flat = np.full((300, 400), 128, dtype=np.uint8)
    assert np.isnan(verify.grain_detail(flat, flat.copy()))
    frames = {"a": flat, "b": flat.copy()}
    check = Checker(frames.__getitem__, Policy(), None, {}, grain_loader=frames.__getitem__)  # type: ignore[arg-type]
    assert check._same_grain("a", "b", told=True)
    assert not check._same_grain("a", "b", told=False)


def test_a_plain_picture_too_flat_to_tell_at_the_checks_size_is_told_by_its_grain():
    # A misty scene (a photograph blurred to a few soft shapes): at the check's
    # size no tile has the detail to compare two captures, so the grain near
    # the files' own size decides: an edit of the file is one capture with it,
    # a second exposure of the scene is not.
    scene = sample_image("chelsea").colourspace("b-w")[0].resize(3.0).gaussblur(40)
    grain, checked = captures(scene, 3.0)
    assert verify.capture_verdict(checked["first"], checked["edit"]) is None
    assert verify.capture_verdict(checked["first"], checked["second"]) is None
    check = Checker(checked.__getitem__, Policy(), None, {}, grain_loader=grain.__getitem__)  # type: ignore[arg-type]
    assert check.same_capture("first", "edit")
    assert not check.same_capture("first", "second")


def test_the_frames_of_a_pan_beyond_the_burst_bits_are_checked_for_a_crop():
    # Two frames of a pan, 12% of the width apart, 24 bits apart in hash:
    # beyond ``burst_bits`` (20), within ``burst_reach_bits`` (32). A crop of
    # the part both frames show fits each about as well, so both must be
    # checked before anything is said.
    photo = sample_image("coffee")
    width, height = int(photo.width * 0.8), int(photo.height * 0.9)
    step = int(photo.width * 0.12)
    frames = {
        name: hashing.grey_from_image(photo.crop(x, 0, width, height).thumbnail_image(500))
        for name, x in (("frame1", 0), ("frame2", step))
    }
    frames["astronaut"] = hashing.grey_from_image(sample_image("astronaut").thumbnail_image(500))
    crop = photo.crop(step + 10, 20, width - step - 20, height - 40).thumbnail_image(200)
    grey = hashing.grey_from_image(pyvips.Image.new_from_buffer(crop.jpegsave_buffer(Q=50), ""))
    hashes = np.zeros((3, 2), dtype=np.uint64)
    hashes[1, 0] = (1 << 24) - 1  # frame2: 24 bits from frame1
    hashes[2, :] = (1 << 30) - 1  # the stranger: 60 bits away
    album = AlbumArrays(
        "/album",
        list(frames),
        np.arange(3, dtype=np.int64),
        hashes,
        np.arange(3, dtype=np.int32),
        np.zeros(3, dtype=np.uint8),
    )

    def evidence(policy: Policy):
        check = Checker(frames.__getitem__, policy, album, {"frame1": 0}, lambda row, k: [])
        ev = gather(check, grey, [Candidate("frame1", 10, "full")])
        return ev, decide(ev, policy)

    ev, found = evidence(Policy())
    reached = next(g for g in ev.groups if g.primary.path == "frame2")
    assert reached.found_by == BY_BURST and reached.fit.ncc > 0.95
    assert "astronaut" not in {g.primary.path for g in ev.groups}  # beyond reach
    assert found.status == AMBIGUOUS
    assert {"frame1", "frame2"} <= {c.path for c in found.candidates}
    # Within ``burst_bits`` alone, frame2 is never checked, and frame1 is taken
    # for the crop's original with nothing to contest it.
    ev, found = evidence(Policy(burst_reach_bits=20))
    assert {g.primary.path for g in ev.groups} == {"frame1"}
