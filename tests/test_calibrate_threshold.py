"""How ``benches/calibrate.py`` chooses ``match_confidence`` from the albums
left out: the rule that sets the shipped ``Policy.match_confidence``."""

from __future__ import annotations

import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "benches"))
import calibrate  # noqa: E402


def _album(wrong: int, right: int, targets: int = 100) -> dict:
    """The metrics ``album_targets`` reads, for one album left out."""
    return {"matched_wrong": wrong, "targets_right": right, "targets": targets}


def test_an_album_meets_both_targets_only_with_no_wrong_match_and_95_percent_recall() -> None:
    assert calibrate.album_targets(_album(0, 95)) == (True, True)
    assert calibrate.album_targets(_album(0, 94)) == (True, False)
    # A distractor matched is a wrong match (it has no original to be right about).
    assert calibrate.album_targets(_album(1, 99)) == (False, True)


def test_the_threshold_is_where_most_albums_meet_both_and_ties_go_to_the_higher() -> None:
    swept = {
        # Low: recall everywhere, but wrong matches on two albums.
        0.80: [_album(1, 99), _album(1, 98), _album(0, 97)],
        # Two albums meet both here and at 0.90; 0.90 has fewer wrong matches.
        0.85: [_album(0, 97), _album(1, 97), _album(0, 96)],
        0.90: [_album(0, 96), _album(1, 96), _album(0, 95)],
        # High: no wrong match, but recall under 95% everywhere.
        0.99: [_album(0, 90), _album(0, 91), _album(0, 92)],
    }
    assert calibrate.held_out_threshold(swept) == 0.90
    swept[0.85] = [_album(0, 97), _album(0, 97), _album(0, 96)]
    assert calibrate.held_out_threshold(swept) == 0.85
