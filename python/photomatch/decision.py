"""The decision: from what the pixel check measured to an answer.

``decide`` is a pure function of one thumbnail's ``Evidence`` (``evidence``),
a ``Policy`` and the run's exposure offset: no search, no decoding, no state.
It scores every plausible candidate group with one calibrated model and turns
the scores into probabilities that compete (``confidences``: a conditional
logit over the groups and "none of them", fitted on labelled benchmark albums
by ``benches/calibrate.py``), names the most probable, and answers

* ``matched`` when that group is confident (``Policy.match_confidence``): the
  others, and "none", then share what is left;
* ``ambiguous`` when the groups together are worth a look
  (``Policy.review_confidence``) but none is confident (frames of a burst
  that fit alike share the probability), or when one fit is clear
  (``Policy.review_ncc``, nothing else near), plausible or not;
* ``unmatched`` otherwise,

with a ``Reason`` read off the evidence's structure (a standard framing, a
crop, frames of a burst that fit alike, a fit that is only shifted).
``one_to_one`` then uses "one original per thumbnail within a set" to flag
two thumbnails matched to one photo.
"""

from __future__ import annotations

import fnmatch
import math
from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np

from . import verify
from .evidence import WIDER_LOOKS, Evidence, Group
from .results import AMBIGUOUS, MATCHED, UNMATCHED, Candidate, QueryResult, Reason

#: The evidence the confidence model weighs, in the order of ``Policy.weights``
#: (see ``features``).
FEATURES = (
    "bias",
    "ncc",
    "detail",
    "local_detail",
    "shift",
    "beyond",
    "burst_shift",
    "crop",
    "burst",
    "burst_crop",
    "exposure",
    "second_look",
    "contrast",
    "lean",
    "explained",
    "rivalled",
    "rival_spread",
    "exposure_shape",
    "low_quality",
    "low_quality_detail",
    "low_quality_local",
)


@dataclass(frozen=True)
class Policy:
    """Search sizes, decision thresholds and the confidence model (hash
    distances in bits of 128). The decision thresholds and ``weights`` are
    fitted on training albums only (``benches/calibrate.py``; README "Accuracy")."""

    #: Album view rows fetched per thumbnail before collapsing to files.
    rows_per_query: int = 64
    #: Files farther than this are never candidates. Unrelated photos sit at
    #: 64 +- 6 bits; a crop that was also colour-shifted, sharpened and saved at
    #: JPEG q25-35 reached 41 bits from its original.
    hash_max: int = 44
    #: A thumbnail whose upright best is farther than ``turn_search_above`` is
    #: searched turned and mirrored too, and the nearest turn is checked on
    #: pixels when its best is within ``rotate_above`` and nearer than the
    #: upright best: a picture stored turned can lie within ``rotate_above`` of
    #: a stranger upright (a turned AVIF thumbnail of a smooth photo lay 18
    #: bits from a stranger upright, 0 from its original turned). Nearer than
    #: ``turn_search_above`` upright, the turns are not searched (a cost bound:
    #: on the benchmark's training albums, 3,185 of 5,400 thumbnails).
    turn_search_above: int = 6
    rotate_above: int = 20
    #: Files checked on pixels: within this many bits of the best, at most ``fine_candidates``.
    fine_window: int = 16
    fine_candidates: int = 8
    #: ... and the nearest few whatever their distance: a flat, low-contrast photo
    #: hashes loosely (a plain downscale of a burst frame sat 28 bits from its
    #: original, 4th nearest, behind two siblings).
    fine_always: int = 4
    #: When none of the checked candidates fits, up to ``second_look`` more files
    #: within ``second_look_bits`` are checked, from the ``second_look_rows``
    #: nearest view rows (upright only): a nearly featureless or colour-shifted
    #: crop can rank far behind photos that share its one gradient. Checking
    #: many more files gives strangers more chances to fit by luck, so such a
    #: find is plausible only when it fits with at least ``second_look_ncc``
    #: (and the confidence model weighs how it was found).
    second_look: int = 48
    second_look_rows: int = 512
    second_look_bits: int = 46
    second_look_ncc: float = 0.90
    #: Of those files, only the ones whose overview (``overview``: 32 px) the
    #: thumbnail fits at this correlation or better are decoded and checked:
    #: most are strangers that share a gradient with it. On four training
    #: albums, 67% of the second look's files lay below 0.5, and every fit
    #: plausible anywhere had its overview at 0.68 or better (the lowest: a
    #: fine periodic texture, which the overview's 32 px alias;
    #: ``benches/overview_screen.py``).
    second_look_overview: float = 0.5
    #: The same screen on the nearest files the search proposes (the first
    #: look): on training albums 244-246, 39% of them lay below 0.5 (strangers
    #: that share a layout with the thumbnail) and every fit plausible
    #: anywhere at 0.73 or better (``benches/overview_screen.py``); screening
    #: them spared 22-24% of the check's decodes, with the same verdicts on six
    #: training albums (``benches/same_answers.py --verdicts``). -1 checks
    #: them all.
    search_overview: float = 0.5
    #: When neither look in the hash ranking found a file that fits, the
    #: ``coarse_look`` files whose overview the thumbnail fits best
    #: (``overview``; upright only) are checked: an off-centre crop can lie far
    #: in hash from every view of its original. Plausible, and weighed, as a
    #: second look's finds.
    coarse_look: int = 8
    #: Best correlation needed for a candidate to be plausible at all.
    ncc_min: float = 0.85
    #: ... and for a crop found anywhere (not nearly full size), which has
    #: more freedom to fit by chance.
    crop_ncc_min: float = 0.88
    #: ... and whose fine detail correlates at least this well
    #: (``verify.Alignment.detail``): a picture of a few large bright and dark
    #: areas can fit part of an unrelated photo at 0.9 with its detail at 0.05.
    crop_detail_min: float = 0.3
    #: Fits within this correlation of the best are close: the pixel check
    #: gathers the burst frames of each (``checking``), and a fit with no other
    #: this close is clear (``review_ncc``).
    ncc_margin: float = 0.03
    #: A fit this close to the full size is a framing of the whole picture
    #: (smaller ones are crops).
    near_full_scale: float = 0.97
    #: Where a thumbnailer puts the picture, relative to an exact framing, in
    #: pixels of the thumbnail as compared: integer crop boxes, top-left-aligned
    #: reductions and DCT scaling on load move it by up to about a pixel. A fit
    #: nearly full size is on its framing within this, plus ``offset_sigmas``
    #: times the uncertainty of the measured spot.
    offset_tolerance_px: float = 1.0
    offset_sigmas: float = 2.0
    #: Plausible groups fitting within this correlation of the best, at most
    #: ``contrast_groups`` of them, are compared with each other where they
    #: differ (``Group.contrast``).
    contrast_margin: float = 0.05
    contrast_groups: int = 8
    #: Album files whose frames are this close (bits) to each other may be a burst.
    burst_bits: int = 20
    #: Frames of one burst gathered at most for a crop that fits them alike.
    max_burst_frames: int = 16
    #: For a best fit that is not on a framing of the whole picture, the files
    #: within ``burst_reach_bits`` of a close fit's frame are checked too (those
    #: whose overview the thumbnail fits at ``search_overview`` or better), and
    #: so on from each of them that fits as closely: the frames of a pan lie
    #: farther apart in hash than ``burst_bits`` (on training albums 268-270,
    #: 90-97% of the pairs of adjacent frames of pans lay within 20 bits, all
    #: within 32; ``benches/burst_reach.py``), and a crop of one frame fits its
    #: neighbours about as well. These are frames to check, not siblings
    #: counted: the count the model weighs stays at ``burst_bits``.
    burst_reach_bits: int = 32
    #: Exposure (``verify.Alignment``: grey levels of window mean minus
    #: thumbnail mean) agrees within max(levels, ratio x brightness): the
    #: thumbnail's own resize and JPEG move its mean by up to about a grey
    #: level, while frames of a burst lie 0-6% apart.
    exposure_agree_levels: float = 1.0
    exposure_agree_ratio: float = 0.006
    #: A difference is another exposure of the scene, not an edit, when it is
    #: within this share of the brightness and ``tone_shape`` is within
    #: ``exposure_shape_max`` grey levels.
    exposure_max: float = 0.08
    exposure_shape_max: float = 4.0
    #: A doubtful crop of a file with burst siblings is said to be exposed
    #: otherwise (``exposure_off``) beyond this many agreement tolerances.
    exposure_off_score: float = 2.5
    #: The run's exposure offset (the thumbnailer's and the decoder's rounding
    #: move every thumbnail's mean alike) is the median exposure of its
    #: confident standard-framing matches whose tone is a pure gain, once at
    #: least this many are found.
    exposure_offset_samples: int = 10
    #: Two album files are one capture when their fine detail correlates at
    #: least this well in every tile (``verify.same_photo``).
    variant_detail_min: float = 0.97
    #: ... and their finest detail near their own size (``verify.grain_detail``,
    #: one capture's noise) at least this well, where it can be measured: in
    #: the gap between frames of tripod bursts (0.09 at most) and edited copies
    #: (0.149 and up) on the training albums (``benches/grain_pairs.py``).
    grain_detail_min: float = 0.12
    #: The confidence model: one weight per ``FEATURES`` entry, fitted on the
    #: twenty training albums of benches/README.md whose evidence is at hand
    #: (seeds 262, 263, 268-276 and 278-286) by ``python benches/calibrate.py
    #: fit ... --ridge 0.01`` (see there and README "Accuracy"). The shift is
    #: weighed in two pieces (``shift`` and ``beyond`` its tolerance); the
    #: hash distance is not weighed (its weight was positive, as no cause
    #: would have it, and leaving it out changed no held-out figure:
    #: ``calibrate.py crossval``). Each album left out in turn (``calibrate.py
    #: crossval``), ``rival_spread`` raised the held-out recall from 91.5% to
    #: 92.4% with one wrong match fewer (thirteen albums), ``exposure_shape``
    #: from 92.5% to 93.3% with one more (sixteen), and the three
    #: ``low_quality`` features took 9 albums of 19 to both per-album targets
    #: where 8 reached them without (at 0.94: 10 wrong matches, not 11, at
    #: the same recall).
    weights: tuple[float, ...] = (
        -2.011,  # bias
        0.252,  # ncc
        4.857,  # detail
        2.698,  # local_detail
        -4.625,  # shift
        3.353,  # beyond
        -1.091,  # burst_shift
        -2.548,  # crop
        -0.624,  # burst
        -0.775,  # burst_crop
        -1.453,  # exposure
        0.201,  # second_look
        0.613,  # contrast
        0.649,  # lean
        0.239,  # explained
        -1.894,  # rivalled
        0.183,  # rival_spread
        1.437,  # exposure_shape
        1.345,  # low_quality
        0.667,  # low_quality_detail
        0.925,  # low_quality_local
    )
    #: ``matched`` from this confidence up: the threshold at which the most
    #: training albums, each replayed with the weights fitted without it, had
    #: no wrong match and recall of at least 95% over their targets (10 of
    #: 20, at 0.94 alone; ``calibrate.py fit``, README "Accuracy").
    match_confidence: float = 0.94
    #: ``ambiguous`` (worth a person's look) when the plausible groups together
    #: reach this confidence (one of them is probably the original); below,
    #: ``unmatched``. A reviewer's budget, not fitted.
    review_confidence: float = 0.2
    #: ... and whatever its confidence, a fit at least this good with no rival
    #: within ``ncc_margin``: a clear fit is never refused outright (a crop of
    #: 94% of a photo's area fits nearly full size, off every framing, as the
    #: lone remaining frame of a burst would fit a withheld one). A clear fit
    #: that is not plausible (its fine detail does not confirm it) is
    #: ``ambiguous`` too, with confidence 0 (``Reason.UNCONFIRMED``).
    review_ncc: float = 0.97
    #: Another group is a rival of the most probable one (frames that fit
    #: alike, for the reason given) from this confidence up.
    rival_confidence: float = 0.05
    #: Candidates kept per thumbnail in the results; past that, only the
    #: plausible groups that fit about as well as the best (within
    #: ``ncc_margin``, or rivals: ``rival_confidence``), up to
    #: ``max_burst_frames``: a crop that fits every frame of a pan alike is
    #: ambiguous among all of them, and its answer names them all.
    max_candidates: int = 5
    #: Glob on album paths picking a variant group's primary (e.g. ``*/edited/*``).
    prefer: str | None = None

    def __post_init__(self) -> None:
        if len(self.weights) != len(FEATURES):
            raise ValueError(
                f"Policy.weights has {len(self.weights)} values, one per FEATURES "
                f"entry expected ({len(FEATURES)})"
            )


DEFAULT_POLICY = Policy()


def plausible(group: Group, p: Policy) -> bool:
    """Close enough to be an answer at all. A crop that fits best below the
    smallest scale searched (the fine search reaches a little under it) is a
    stranger's fit: a real crop that small is outside what photomatch looks
    for, while a picture of a few large bright and dark areas can fit a part
    of an unrelated one that way."""
    fit = group.fit
    if group.found_by in WIDER_LOOKS and fit.ncc < p.second_look_ncc:
        return False
    if fit.scale >= p.near_full_scale:
        return fit.ncc >= p.ncc_min
    return (
        fit.ncc >= p.crop_ncc_min
        and fit.scale >= verify.MIN_SCALE - 1e-9
        and not fit.detail < p.crop_detail_min  # NaN (not measured) passes
    )


def on_frame(fit: verify.Alignment, p: Policy) -> bool:
    """Nearly full size and on a standard framing, within the thumbnailer's
    placement noise and the measurement's own uncertainty."""
    return fit.scale >= p.near_full_scale and fit.offset_px <= _tolerance(fit, p)


def _tolerance(fit: verify.Alignment, p: Policy) -> float:
    sigma = fit.offset_sigma_px if math.isfinite(fit.offset_sigma_px) else 0.0
    return p.offset_tolerance_px + p.offset_sigmas * sigma


def exposure_score(fit: verify.Alignment, p: Policy, offset: float = 0.0) -> float:
    """How far the window's exposure (less the run's ``offset``) is from the
    thumbnail's, in units of the agreement tolerance; 0 when the tone relation
    is not a small pure gain (an edit, not another exposure) or can't be told."""
    if not pure_gain(fit, p):
        return 0.0
    tol = max(p.exposure_agree_levels, p.exposure_agree_ratio * fit.brightness)
    return abs(fit.exposure - offset) / tol


def pure_gain(fit: verify.Alignment, p: Policy) -> bool:
    """The tone relation is a small pure gain, as between frames of a burst,
    not an edit (a colour, gamma or contrast change)."""
    return (
        math.isfinite(fit.exposure)
        and abs(fit.exposure) <= p.exposure_max * fit.brightness
        and fit.tone_shape <= p.exposure_shape_max
    )


def features(
    group: Group,
    p: Policy,
    exposure_offset: float | None = None,
    rival: Group | None = None,
    quality: int | None = None,
) -> np.ndarray:
    """The ``FEATURES`` of one candidate group: how well it fits (``ncc``, as
    -log(1 - ncc); fine ``detail``, overall and in its worst tile,
    ``local_detail``), where (``shift``: a nearly full-size fit's distance from
    its framing in units of its tolerance, up to 4; ``beyond``: how far past
    that tolerance, ``shift`` - 1 from 0 up; ``shift`` again as
    ``burst_shift`` when the file has burst siblings; ``crop``; ``burst``
    siblings; a ``burst_crop``), the ``exposure`` score of a fit off its
    framing or of a file with burst siblings (another frame, or a crop of one,
    is exposed otherwise) and that score again scaled by the tone relation's
    ``tone_shape`` (``exposure_shape``: another frame differs by a pure gain,
    an edit of the photo itself bends the tone curve as well), how it was
    found (``second_look``: by a look past the nearest files, the second or
    the coarse one), and how it fares
    against the closest other group where the two differ (``contrast`` and
    ``lean``, see ``_contrast``) and whether it is that
    frame at all (``explained``: -log ``Group.unexplained``, within
    [-1, 4], and ``rivalled``, 1, when measured; both 0 when not), and, when
    it is rivalled, how far the window of ``rival`` (the closest other
    plausible group, ``closest_rival``) lies from its own (``rival_spread``,
    ``window_spread``, up to 4): frames of a still burst (a tripod) lie at one
    spot, where a frame missing from the album would fit them as well as its
    own frame would; a moving burst puts each frame at its own spot, and a
    missing frame then shows as a shift. Last, how hard the thumbnail was
    compressed (``low_quality``, see ``low_quality``) and the detail it left
    unmatched, overall and in the worst tile, scaled by it
    (``low_quality_detail`` and ``low_quality_local``): at JPEG quality 30 the
    true original fits with less fine detail than a clean thumbnail's would,
    while another frame of a burst misses detail whatever the quality. How
    the groups compare as a whole is the model's own business
    (``confidences``)."""
    fit = group.fit
    ncc = min(max(fit.ncc, 0.0), 0.9999)
    framed = on_frame(fit, p)
    full = fit.scale >= p.near_full_scale
    shift = min(fit.offset_px / _tolerance(fit, p), 4.0) if full else 0.0
    shift = shift if math.isfinite(shift) else 4.0
    crop = not full
    burst = group.siblings > 0
    # Another frame of a burst is exposed a little otherwise; so is a crop of one.
    # Exposure is told against the run's offset; without it, not at all: the
    # thumbnailer's own shift of the mean can make the wrong frame agree.
    weigh = exposure_offset is not None and (burst or not framed)
    exposure = min(exposure_score(fit, p, exposure_offset or 0.0), 4.0) if weigh else 0.0
    # The same exposure difference, scaled by how far the tone relation is from
    # a pure gain: another frame of a burst differs by a gain alone (its shape
    # stays near JPEG noise), a colour edit of the true photo bends the tone
    # curve too while still passing as a small gain.
    exposure_shape = exposure * min(fit.tone_shape, p.exposure_shape_max) / p.exposure_shape_max
    detail = 0.0 if math.isnan(fit.detail) else fit.detail
    local = detail if math.isnan(fit.local_detail) else fit.local_detail
    contrast, lean = _contrast(group)
    rivalled = math.isfinite(group.unexplained)
    explained = min(max(-math.log(max(group.unexplained, 1e-4)), -1.0), 4.0) if rivalled else 0.0
    spread = min(window_spread(fit, rival.fit), 4.0) if rivalled and rival is not None else 0.0
    low = low_quality(quality)
    return np.array(
        [
            1.0,
            -math.log(1.0 - ncc),
            detail,
            local,
            shift,
            # What a shift says is not linear in it: within the tolerance the
            # odds fall steeply with it (the true frame sits near 0, a burst
            # sibling a few tenths out), past it slowly (it is off its framing
            # either way). One slope for both fitted neither.
            max(shift - 1.0, 0.0),
            shift if burst else 0.0,
            float(crop),
            float(burst),
            float(crop and burst),
            exposure,
            float(group.found_by in WIDER_LOOKS),
            contrast,
            lean,
            explained,
            float(rivalled),
            spread,
            exposure_shape,
            low,
            low * (1.0 - detail),
            low * (1.0 - local),
        ]
    )


def closest_rival(group: Group, groups: Sequence[Group]) -> Group | None:
    """Of ``groups`` other than ``group``, the one the thumbnail fits best."""
    others = [g for g in groups if g is not group]
    return max(others, key=lambda g: g.fit.ncc) if others else None


def window_spread(a: verify.Alignment, b: verify.Alignment) -> float:
    """How far apart two fits' windows lie, in pixels at ``verify.COMPARE_SIZE``
    (the frame ``Alignment.x`` and ``y`` are measured in): the larger move of
    the top-left corner, plus how far the edges move with the difference in
    scale. Comparable between frames of one burst, which share a size."""
    moved = max(abs(a.x - b.x), abs(a.y - b.y))
    return moved + abs(a.scale - b.scale) * verify.COMPARE_SIZE / 2


def feature_rows(
    groups: Sequence[Group],
    p: Policy,
    exposure_offset: float | None = None,
    quality: int | None = None,
) -> list[np.ndarray]:
    """The ``features`` of each of one thumbnail's plausible ``groups`` (the
    thumbnail saved at JPEG ``quality``), each against its closest rival among
    them."""
    return [features(g, p, exposure_offset, closest_rival(g, groups), quality) for g in groups]


#: JPEG quality from which a thumbnail keeps its fine detail at the size the
#: check compares (``low_quality`` 0), and the span below it over which
#: ``low_quality`` rises to 1 (quality 20, about the coarsest a web service
#: serves).
_CLEAN_QUALITY = 80
_QUALITY_SPAN = 60


def low_quality(quality: int | None) -> float:
    """How hard a thumbnail was compressed, from 0 (JPEG quality
    ``_CLEAN_QUALITY`` or more, or not a JPEG: nothing to tell) to 1
    (``_CLEAN_QUALITY - _QUALITY_SPAN`` or less)."""
    if quality is None:
        return 0.0
    return min(max((_CLEAN_QUALITY - quality) / _QUALITY_SPAN, 0.0), 1.0)


#: Separations (``Group.separation``) counted at most in ``contrast``, and the
#: least at which ``lean`` counts: below it two windows differ by less than a
#: fifth of the thumbnail's own residual, and which way it leans is chance.
_SEPARATION_MAX = 4.0
_SEPARATION_MIN = 0.2


def _contrast(group: Group) -> tuple[float, float]:
    """``contrast``: which way the thumbnail leans between this group and its
    closest rival where the two differ (``Group.contrast``: +-1/2 for a clear
    lean) times how much they differ against the thumbnail's own residual
    (``Group.separation``, up to ``_SEPARATION_MAX``), within +-2; ``lean``:
    the lean alone (x2, within +-1), once the windows differ enough to tell.
    Both at their bound when no other group came close, 0 when not measured."""
    side, sep = group.contrast, group.separation
    if side == math.inf:
        return 2.0, 1.0
    if math.isnan(side) or math.isnan(sep):
        return 0.0, 0.0
    contrast = max(-2.0, min(2.0, side * min(sep, _SEPARATION_MAX)))
    lean = max(-1.0, min(1.0, 2.0 * side)) if sep >= _SEPARATION_MIN else 0.0
    return contrast, lean


def confidences(xs: Sequence[np.ndarray], p: Policy) -> list[float]:
    """The calibrated probability that each plausible group (features ``xs``,
    all of one thumbnail's) is the original: each group's score against the
    others' and "none of them" (score 0), so that frames of a burst that fit
    alike share the probability while a group that clearly beats the rest
    keeps it (a conditional logit)."""
    if not xs:
        return []
    z = np.clip(np.asarray(xs) @ np.asarray(p.weights), -50.0, 50.0)
    top = max(0.0, float(z.max()))
    e = np.exp(z - top)
    shares: list[float] = (e / (math.exp(-top) + float(e.sum()))).tolist()
    return shares


def decide(ev: Evidence, p: Policy, exposure_offset: float | None = None) -> QueryResult:
    """The answer for one thumbnail from its evidence (see the module doc).

    Only a plausible group can be an answer: plausible groups are listed first,
    by confidence, then the implausible ones (by correlation) and the files the
    search found but the check did not measure. An answer with nothing
    plausible has confidence 0 (None when nothing was measured)."""
    note = "" if ev.orientation == "upright" else f"thumbnail {ev.orientation}"
    groups = [_ordered(g, p.prefer) for g in ev.groups]
    plausible_groups = [g for g in groups if plausible(g, p)]
    shares = confidences(feature_rows(plausible_groups, p, exposure_offset, ev.quality), p)
    live = sorted(
        zip(shares, plausible_groups, strict=True),
        key=lambda s: (-s[0], -s[1].fit.ncc, s[1].distance),
    )
    dead = sorted((g for g in groups if not plausible(g, p)), key=lambda g: -g.fit.ncc)
    checked = {m.path for g in groups for m in g.members}
    rest = tuple(Candidate(path, d, view) for path, d, view in ev.ranked if path not in checked)
    listed = tuple(_as_candidate(g) for _, g in live) + tuple(_as_candidate(g) for g in dead)
    best = max((g.fit.ncc for _, g in live), default=math.inf)
    alike = [
        i
        for i, (c, g) in enumerate(live)
        if c >= p.rival_confidence or g.fit.ncc >= best - p.ncc_margin
    ]
    keep = set(range(p.max_candidates)) | set(alike[: p.max_burst_frames])
    shown = tuple(c for i, c in enumerate(listed + rest) if i in keep)

    def answer(status: str, reason: Reason, conf: float | None) -> QueryResult:
        first = shown[0] if shown else None
        matched = status == MATCHED
        return QueryResult(
            ev.set,
            ev.query,
            status,
            first.path if matched and first else None,
            first.distance if first else None,
            shown,
            score=first.score if first else None,
            variants=first.variants if matched and first else (),
            note=_join(note, reason.text),
            confidence=None if conf is None else round(conf, 4),
            reason=reason.value,
            orientation=ev.orientation,
        )

    if not live:
        # A clear fit is always worth a person's look, even one that is not
        # plausible: a smooth picture saved at JPEG q30 keeps too little fine
        # detail to confirm a crop, yet fits it at 0.999 with nothing else near.
        if dead and _clear(dead[0], groups, p):
            return answer(AMBIGUOUS, Reason.UNCONFIRMED, 0.0)
        reason = Reason.NO_FIT if groups or ev.ranked else Reason.NO_CANDIDATE
        return answer(UNMATCHED, reason, 0.0 if groups else None)
    top_conf, top = live[0]
    if top_conf >= p.match_confidence:
        return answer(MATCHED, Reason.FRAMED if on_frame(top.fit, p) else Reason.CROP, top_conf)
    # A clear fit is always worth a person's look, however the model rates it.
    worth = sum(shares) >= p.review_confidence or _clear(top, [g for _, g in live], p)
    rivals = [g for c, g in live[1:] if c >= p.rival_confidence]
    return answer(
        AMBIGUOUS if worth else UNMATCHED, _doubt(top, rivals, p, exposure_offset), top_conf
    )


def _clear(top: Group, groups: Sequence[Group], p: Policy) -> bool:
    """``top`` fits at ``review_ncc`` or better, and no other of ``groups``
    within ``ncc_margin`` of it."""
    return top.fit.ncc >= p.review_ncc and not any(
        g is not top and g.fit.ncc >= top.fit.ncc - p.ncc_margin for g in groups
    )


def choose_orientation(answers: Sequence[QueryResult]) -> QueryResult:
    """Of one thumbnail's answers (upright first, then a turn), the one that
    finds something with the highest confidence; the first on a tie. A turn is
    checked only when it came close in hash, so a turned picture whose upright
    self half fits a stranger is answered by its turn; and when nothing is
    found either way, the answer that came nearest still lists what it
    found."""
    best = max(
        range(len(answers)),
        key=lambda i: (answers[i].status != UNMATCHED, answers[i].confidence or 0.0, -i),
    )
    return answers[best]


def _doubt(top: Group, rivals: list[Group], p: Policy, exposure_offset: float | None) -> Reason:
    """Why the most probable group is not a clear answer, from the evidence
    around it (``rivals``: the other groups that might be the original)."""
    fit = top.fit
    if on_frame(fit, p):
        return Reason.FRAMES_ALIKE if rivals else Reason.UNSURE
    if fit.scale >= p.near_full_scale and (top.siblings or rivals):
        return Reason.SHIFTED
    if rivals:
        return Reason.BURST_CROP if top.siblings else Reason.FRAMES_ALIKE
    off = exposure_offset is not None and exposure_score(fit, p, exposure_offset)
    if top.siblings and off > p.exposure_off_score:
        return Reason.EXPOSURE_OFF
    return Reason.UNSURE


def exposure_sample(result: QueryResult, ev: Evidence, p: Policy) -> float | None:
    """The exposure of a confident standard-framing match whose tone is a pure
    gain (one sample of the run's exposure offset), else None."""
    if result.status != MATCHED or result.reason != Reason.FRAMED.value:
        return None
    group = next((g for g in ev.groups if result.match in {m.path for m in g.members}), None)
    if group is None or not pure_gain(group.fit, p):
        return None
    return group.fit.exposure


def run_offset(evidence: Sequence[Sequence[Evidence]], p: Policy) -> float | None:
    """The run's exposure offset: the median exposure of its confident
    standard-framing matches whose tone is a pure gain, decided without an
    offset (None, not known, until there are ``exposure_offset_samples`` of them:
    then exposure is not weighed at all)."""
    samples = []
    for options in evidence:
        sample = exposure_sample(decide(options[0], p), options[0], p)
        if sample is not None:
            samples.append(sample)
    if len(samples) < p.exposure_offset_samples:
        return None
    return float(np.median(samples))


def primary_order(path: str, mtime_ns: int, prefer: str | None) -> tuple[bool, int, int, str]:
    """Sort key of a variant group's members, primary first: the file matching
    the glob ``prefer`` (case aside: cameras write ``IMG_0001.DNG``, people type
    ``*.dng``), else the oldest (an edit is made after the original; 0 = unknown
    comes last), then the shorter path."""
    preferred = prefer is not None and fnmatch.fnmatchcase(path.casefold(), prefer.casefold())
    return (not preferred, mtime_ns or 1 << 62, len(path), path)


def _ordered(group: Group, prefer: str | None) -> Group:
    """The group with its primary first (``primary_order``)."""
    members = sorted(group.members, key=lambda m: primary_order(m.path, m.mtime_ns, prefer))
    return replace(group, members=tuple(members))


def _as_candidate(group: Group) -> Candidate:
    """A group as one candidate: its primary, with the primary's own distance
    and correlation, and the other members as variants."""
    primary = group.primary
    return Candidate(
        primary.path,
        primary.distance,
        primary.view,
        score=round(primary.alignment.ncc, 4),
        variants=tuple(m.path for m in group.members[1:]),
    )


def one_to_one(results: list[QueryResult]) -> list[QueryResult]:
    """Within a set two thumbnails rarely share an original: of two matched to
    one photo, the less confident becomes ``ambiguous``."""
    taken: dict[tuple[str, str], QueryResult] = {}
    for r in results:
        if r.status == MATCHED and r.match is not None:
            key = (r.set, r.match)
            other = taken.get(key)
            if other is None or (r.confidence or 0) > (other.confidence or 0):
                taken[key] = r
    out = []
    for r in results:
        winner = taken.get((r.set, r.match)) if r.match is not None else None
        if r.status == MATCHED and winner is not None and winner is not r:
            out.append(
                replace(
                    r,
                    status=AMBIGUOUS,
                    match=None,
                    variants=(),
                    reason=Reason.SAME_ORIGINAL.value,
                    note=_join(r.note, f"{Reason.SAME_ORIGINAL.text} ({winner.query})"),
                )
            )
        else:
            out.append(r)
    return out


def _join(*parts: str) -> str:
    return "; ".join(p for p in parts if p)
