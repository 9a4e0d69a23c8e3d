"""What the pixel check measured about one thumbnail: the input of the decision.

The search and the pixel check (``checking``) gather, for each thumbnail, the
album files worth looking at and how the thumbnail fits each of them; the
decision (``decision.decide``) is a pure function of these records. They are
plain data so that a run's evidence can be saved, replayed under another
``Policy`` and used to calibrate the confidence (``benches/calibrate.py``)
without decoding anything again (only the decision's own fields of
``Policy`` can change in a replay: what was gathered depended on the search
and pixel-check fields). Fields left unmeasured are NaN, so compare records
by their decisions, not with ``==``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from .verify import Alignment

#: How a candidate came to be checked on pixels.
BY_SEARCH = "search"  # among the nearest files in the hash search
BY_SECOND_LOOK = "second look"  # further down the ranking, when none of the nearest fit
BY_BURST = "burst"  # another frame of a checked candidate's burst
#: ... among the files whose overview the thumbnail fits best, when neither
#: look in the hash ranking found one that fits (``overview``).
BY_COARSE_LOOK = "coarse look"
#: The ways of looking past the nearest files, where more files give
#: strangers more chances to fit by luck.
WIDER_LOOKS = (BY_SECOND_LOOK, BY_COARSE_LOOK)


@dataclass(frozen=True)
class Fit:
    """One album file and how the thumbnail fits it.

    ``distance`` is the hash distance in bits (0-128) from the thumbnail to the
    file's closest view, ``view`` that view; ``rank`` the file's place in the
    hash ranking (0 = nearest; -1 when it was not ranked: a burst frame found
    through a sibling, a file found by the coarse look); ``siblings`` how many
    other album files are so close to it in hash that they may be frames of
    one burst (counted only for a fit close enough to matter, 0 otherwise);
    ``mtime_ns`` the file's modification time (the oldest file of a group is
    its primary, unless ``--prefer`` says otherwise), 0 when unknown.
    """

    path: str
    distance: int
    view: str
    rank: int
    found_by: str
    alignment: Alignment
    siblings: int = 0
    mtime_ns: int = 0


@dataclass(frozen=True)
class Group:
    """Album files that are one capture (``verify.same_photo``): a photo and its
    edited copies or duplicates; ``decision`` puts the primary first
    (``--prefer``, else the oldest file). ``fit``, ``distance`` and
    ``siblings`` are the group's best.

    ``contrast`` is how much better this group explains the thumbnail than
    the closest other candidate group does, where the two differ
    (``verify.contrast``, in standard errors; the lowest over the groups
    that fit nearly as well), +inf when no other group fits nearly as well,
    NaN when not measured; ``separation`` how much the two differ.
    ``unexplained`` is how much of what sets this group's window apart from
    those close groups the thumbnail does not follow (``verify.unexplained``:
    0 for a thumbnail of it, about 1 for one of another), NaN when not
    measured or alone."""

    members: tuple[Fit, ...]
    contrast: float = field(default=math.nan, compare=False)
    separation: float = field(default=math.nan, compare=False)
    unexplained: float = field(default=math.nan, compare=False)

    @property
    def best(self) -> Fit:
        """The member the thumbnail fits best."""
        return max(self.members, key=lambda m: m.alignment.ncc)

    @property
    def primary(self) -> Fit:
        return self.members[0]

    @property
    def fit(self) -> Alignment:
        """The group's best alignment."""
        return self.best.alignment

    @property
    def distance(self) -> int:
        return min(m.distance for m in self.members)

    @property
    def siblings(self) -> int:
        return max(m.siblings for m in self.members)

    @property
    def found_by(self) -> str:
        return self.primary.found_by


@dataclass(frozen=True)
class Evidence:
    """Everything the decision sees about one thumbnail in one orientation.

    ``ranked`` is the hash ranking (path, distance, view) of the files within
    ``Policy.hash_max``, nearest first, checked on pixels or not; ``groups``
    the checked files, grouped by capture; ``quality`` the JPEG quality the
    thumbnail was saved at (``jpeg_quality``; None for another format).
    """

    set: str
    query: str
    orientation: str
    ranked: tuple[tuple[str, int, str], ...]
    groups: tuple[Group, ...]
    quality: int | None = None
