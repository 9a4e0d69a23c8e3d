"""The second look: when none of the nearest files fits, files further down the
hash ranking are checked, and a find counts only when it fits clearly."""

from __future__ import annotations

import numpy as np
import pytest
import pyvips

from photomatch import hashing, verify
from photomatch.decision import Checker, Policy
from photomatch.demo import sample_image
from photomatch.matching import QueryImage
from photomatch.results import MATCHED, UNMATCHED, Candidate

STRANGERS = ("astronaut", "rocket", "camera", "brick")


@pytest.fixture(scope="module")
def album() -> dict[str, np.ndarray]:
    """Album files as the pixel check decodes them (grey, 500-px box), by name."""
    out = {}
    for name in ("coffee", "chelsea", *STRANGERS):
        image = sample_image(name).thumbnail_image(500)
        out[name] = hashing.grey_from_image(image)
    return out


def crop_of(name: str, box: tuple[int, int, int, int], q: int = 40) -> QueryImage:
    """A thumbnail: an off-centre crop of ``name``, shrunk and saved as a JPEG."""
    crop = sample_image(name).crop(*box).thumbnail_image(260)
    grey = hashing.grey_from_image(pyvips.Image.new_from_buffer(crop.jpegsave_buffer(Q=q), ""))
    row = hashing.hash_grey(grey, album=False).rows[:1]
    return QueryImage("set", f"/thumbs/{name}.jpg", row, grey)


def checker(album: dict[str, np.ndarray], ranking: list[str], policy: Policy) -> Checker:
    """A checker whose hash search ranks the album files in ``ranking`` order."""
    deeper = [Candidate(name, 30 + i, "full") for i, name in enumerate(ranking)]
    return Checker(album.__getitem__, policy, None, {}, lambda row, k: deeper)  # type: ignore[arg-type]


def test_a_clear_fit_further_down_the_ranking_is_found(album):
    query = crop_of("coffee", (40, 30, 500, 340))
    nearest = [Candidate(name, 20 + i, "full") for i, name in enumerate(STRANGERS)]
    ranking = [*STRANGERS, "chelsea", "coffee"]
    found = checker(album, ranking, Policy()).decide(query, [("upright", nearest)])
    assert found.status == MATCHED and found.match == "coffee"
    # Without the second look nothing near fits.
    alone = checker(album, ranking, Policy(second_look=0)).decide(query, [("upright", nearest)])
    assert alone.status == UNMATCHED


def test_strangers_further_down_stay_strangers(album):
    query = crop_of("coffee", (40, 30, 500, 340))
    nearest = [Candidate(name, 20 + i, "full") for i, name in enumerate(STRANGERS[:2])]
    result = checker(album, [*STRANGERS, "chelsea"], Policy()).decide(query, [("upright", nearest)])
    assert result.status == UNMATCHED


def test_a_find_must_fit_clearly(album):
    query = crop_of("coffee", (40, 30, 500, 340))
    nearest = [Candidate(name, 20 + i, "full") for i, name in enumerate(STRANGERS)]
    strict = Policy(second_look_ncc=0.999)
    result = checker(album, [*STRANGERS, "coffee"], strict).decide(query, [("upright", nearest)])
    assert result.status == UNMATCHED


def test_a_pair_of_album_files_is_compared_once_per_run(album, monkeypatch):
    # Same-photo verdicts are kept by pair of paths: the candidates of thumbnails
    # of one burst, or of one photo's copies, come up again and again.
    calls: list[tuple[int, int]] = []
    real = verify.same_photo

    def counted(a: np.ndarray, b: np.ndarray) -> bool:
        calls.append((id(a), id(b)))
        return real(a, b)

    monkeypatch.setattr(verify, "same_photo", counted)
    edited = dict(album, coffee_edited=np.clip(album["coffee"] * 1.1 + 5, 0, 255).astype(np.uint8))
    check = checker(edited, [], Policy(second_look=0))
    nearest = [Candidate("coffee", 10, "full"), Candidate("coffee_edited", 12, "full")]
    for box in ((40, 30, 500, 340), (20, 10, 520, 350)):
        result = check.decide(crop_of("coffee", box), [("upright", nearest)])
        assert result.status == MATCHED and result.variants, result
    assert len(calls) == 1
