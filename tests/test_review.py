"""The review page: every name escaped, nothing from the network, previews beside the page
(never in the album), doubtful rows first; and the decisions file."""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import html
import json
import os
import re
import shutil
from dataclasses import dataclass

import numpy as np
import pytest
import pyvips

from photomatch import hashing, review
from photomatch.cli import main
from photomatch.demo import sample_image
from photomatch.results import (
    AMBIGUOUS,
    MATCHED,
    UNMATCHED,
    Candidate,
    Decision,
    MatchRun,
    QueryResult,
    SetInfo,
    Skipped,
    check_decisions,
    parse_decisions,
    read_decisions,
    write_csv,
    write_decisions,
    write_json,
)

from albumcheck import fingerprint

HOSTILE_FILE = "<img src=x onerror=alert(1)>.jpg"
HOSTILE_SET = "<svg onload=alert(2)>"
HOSTILE_THUMB = '"><img src=x onerror=alert(3)>.jpg'
HOSTILE_REASON = "<i>not a JPEG</i><script>alert(4)</script>"


@dataclass(frozen=True)
class Hostile:
    """Results with hostile names everywhere, over the sample album's real photographs."""

    run: MatchRun
    out: str
    hostile_file: str
    ambiguous: QueryResult
    matched: QueryResult
    unmatched: QueryResult


def build_hostile(sample, tmp_path) -> Hostile:
    """Write matches.csv/json (by hand, so the statuses are fixed) for a hostile album."""
    album = sample.album
    a = lambda *parts: os.path.join(album, *parts)  # noqa: E731
    hostile_file = a("2024", HOSTILE_FILE)
    shutil.copy2(sample.burst[0], hostile_file)
    folder = tmp_path / "thumbs" / HOSTILE_SET
    folder.mkdir(parents=True)
    burst_thumb = next(t for t in sample.thumbs if t.kind.startswith("burst"))
    hostile_thumb = str(folder / HOSTILE_THUMB)
    shutil.copy2(burst_thumb.path, hostile_thumb)
    broken = folder / "broken.jpg"
    broken.write_bytes(b"\xff\xd8 not really a JPEG")
    prints = sample.thumb_sets[0]
    matched = QueryResult(
        "prints",
        os.path.join(prints, "a1.jpg"),
        MATCHED,
        a("2023", "holiday", "IMG_1001.jpg"),
        0,
        (
            Candidate(a("2023", "holiday", "IMG_1001.jpg"), 0, "full", 0.99),
            Candidate(a("2022", "IMG_0501.jpg"), 30, "full"),
        ),
        0.99,
    )
    unmatched = QueryResult(
        "prints",
        os.path.join(prints, "a5.jpg"),
        UNMATCHED,
        None,
        38,
        (Candidate(a("2023", "sky", "IMG_1003.jpg"), 38, "full"),),
    )
    ambiguous = QueryResult(
        HOSTILE_SET,
        hostile_thumb,
        AMBIGUOUS,
        None,
        3,
        (
            Candidate(sample.burst[1], 3, "centre", 0.995),
            Candidate(sample.burst[2], 9, "centre", 0.994),
            Candidate(hostile_file, 10, "centre", 0.993),
        ),
        0.995,
        note="fits only shifted <b>by 2%</b>",
    )
    run = MatchRun(
        album=album,
        index_path=str(tmp_path / "i.sqlite"),
        sets=(SetInfo("prints", prints), SetInfo(HOSTILE_SET, str(folder))),
        results=(matched, unmatched, ambiguous),
        skipped_queries=(Skipped(str(broken), HOSTILE_REASON),),
    )
    out = tmp_path / 'out<b>&"'
    out.mkdir()
    write_csv(run, str(out / "matches.csv"))
    write_json(run, str(out / "matches.json"))
    return Hostile(run, str(out), hostile_file, ambiguous, matched, unmatched)


@pytest.fixture()
def hostile(sample, tmp_path) -> Hostile:
    return build_hostile(sample, tmp_path)


def page_parts(text: str) -> tuple[dict, str]:
    """The page's data (parsed) and its inline script."""
    data = re.search(
        r'<script type="application/json" id="photomatch-data">(.*?)</script>', text, re.S
    )
    script = re.search(r"<script>(.*?)</script>", text, re.S)
    assert data and script
    return json.loads(data.group(1)), script.group(1)


def test_every_name_is_escaped(hostile):
    page = review.write_review(hostile.run, hostile.out, progress=False)
    text = open(page, encoding="utf-8").read()
    # No markup from any name: the template itself has no <img>, <svg> or <i>.
    for needle in ("<img", "<svg", "<i>", "<b>", "alert(4)</script>"):
        assert needle not in text
    assert text.count("</script>") == 2  # the data element and the code, nothing else
    assert "<title>photomatch review: " in text and "out&lt;b&gt;&amp;&quot;" in text
    data, _ = page_parts(text)
    rows = {r["query"]: r for r in data["rows"]}
    assert rows[hostile.ambiguous.query]["set"] == HOSTILE_SET
    assert rows[hostile.ambiguous.query]["name"] == HOSTILE_THUMB
    assert hostile.hostile_file in [c["path"] for c in rows[hostile.ambiguous.query]["candidates"]]
    assert [r["skip_reason"] for r in data["rows"] if r["status"] == "unreadable"] == [
        HOSTILE_REASON
    ]
    # The script renders with textContent only.
    script = review._asset("review.js")
    assert "innerHTML" not in script and "outerHTML" not in script
    assert "insertAdjacentHTML" not in script and "document.write" not in script


def test_page_loads_nothing_from_the_network(hostile):
    page = review.write_review(hostile.run, hostile.out, progress=False)
    text = open(page, encoding="utf-8").read()
    assert "://" not in text  # no http(s)://, no protocol-relative URL anywhere
    assert "url(" not in text and "@import" not in text
    assert re.search(r"""\b(src|href)\s*=\s*["']?//""", text) is None
    data, script = page_parts(text)
    previews = [r["preview"] for r in data["rows"]] + [
        c["preview"] for r in data["rows"] for c in r["candidates"]
    ]
    assert all(p is None or re.fullmatch(r"previews/[0-9a-f]{32}\.jpg", p) for p in previews)
    # A Content-Security-Policy allows that one script only, and nothing off the page's origin.
    csp = re.search(r'http-equiv="Content-Security-Policy" content="([^"]*)"', text).group(1)
    csp = html.unescape(csp)
    digest = base64.b64encode(hashlib.sha256(script.encode()).digest()).decode()
    assert f"script-src 'sha256-{digest}'" in csp
    assert "default-src 'none'" in csp and "connect-src 'self'" in csp
    assert "unsafe-inline" not in csp and "unsafe-eval" not in csp


def test_previews_are_small_beside_the_page_and_never_in_the_album(hostile):
    before = fingerprint(hostile.run.album)
    page = review.write_review(hostile.run, hostile.out, progress=False)
    assert fingerprint(hostile.run.album) == before
    data, _ = page_parts(open(page, encoding="utf-8").read())
    listed = os.listdir(os.path.join(hostile.out, "previews"))
    made = sorted(n for n in listed if n != review.PREVIEWS_RECORD)
    assert review.PREVIEWS_RECORD in listed
    assert made and all(re.fullmatch(r"[0-9a-f]{32}\.jpg", n) for n in made)
    for name in made:
        image = pyvips.Image.new_from_file(os.path.join(hostile.out, "previews", name))
        assert max(image.width, image.height) <= review.PREVIEW_SIZE
    rows = {r["query"]: r for r in data["rows"]}
    assert rows[hostile.ambiguous.query]["preview"] is not None
    assert all(c["preview"] for c in rows[hostile.ambiguous.query]["candidates"])
    unreadable = [r for r in data["rows"] if r["status"] == "unreadable"]
    assert unreadable and unreadable[0]["preview"] is None
    # A rerun reuses the previews; a file photomatch did not make is never removed,
    # even when it is named like a preview.
    stamps = {n: os.stat(os.path.join(hostile.out, "previews", n)).st_mtime_ns for n in made}
    foreign = os.path.join(hostile.out, "previews", "0" * 32 + ".jpg")
    open(foreign, "wb").close()
    review.write_review(hostile.run, hostile.out, progress=False)
    assert os.path.exists(foreign)
    assert {
        n: os.stat(os.path.join(hostile.out, "previews", n)).st_mtime_ns for n in made
    } == stamps
    assert not [n for n in os.listdir(hostile.out) if n.startswith(".")]
    # A preview photomatch made that the page no longer uses is removed.
    fewer = dataclasses.replace(hostile.run, results=hostile.run.results[:1], skipped_queries=())
    review.write_review(fewer, hostile.out, progress=False)
    left = set(os.listdir(os.path.join(hostile.out, "previews")))
    assert foreign.rsplit(os.sep, 1)[1] in left
    assert len(left - {review.PREVIEWS_RECORD, "0" * 32 + ".jpg"}) < len(made)


def test_rows_put_the_doubtful_first(hostile):
    data = review.page_data(hostile.run, {})
    assert [r["status"] for r in data["rows"]] == [AMBIGUOUS, UNMATCHED, "unreadable", MATCHED]
    assert data["sets"] == ["prints", HOSTILE_SET]


def test_script_json_cannot_close_the_element():
    value = {"a": "</script><!-- <script> & \u2028 \udcff é"}
    text = review.script_json(value)
    assert "<" not in text and ">" not in text and "&" not in text
    assert text.isascii()
    assert json.loads(text) == value


def test_match_writes_the_review_page(sample, tmp_path, capsys):
    out = tmp_path / "out"
    before = fingerprint(sample.album)
    code = main(
        [
            "match",
            sample.album,
            sample.thumb_sets[1],
            "--out",
            str(out),
            "--index",
            str(tmp_path / "i.sqlite"),
            "-q",
        ]
    )
    stdout = capsys.readouterr().out
    assert code in (0, 3)
    assert (out / "review.html").is_file() and "review.html" in stdout
    data, _ = page_parts((out / "review.html").read_text(encoding="utf-8"))
    assert len(data["rows"]) == len([t for t in sample.thumbs if "cover" in t.path])
    assert all(r["preview"] for r in data["rows"])
    # Each answer carries its calibrated confidence, a probability.
    assert all(0.0 <= r["confidence"] <= 1.0 for r in data["rows"] if r["candidates"])
    assert fingerprint(sample.album) == before


# -- decisions.json ---------------------------------------------------------------------


def test_decisions_round_trip_and_write_atomically(hostile):
    path = os.path.join(hostile.out, "decisions.json")
    amb = hostile.ambiguous
    decisions = {
        (amb.set, amb.query): Decision(amb.set, amb.query, hostile.hostile_file),
        ("prints", hostile.unmatched.query): Decision("prints", hostile.unmatched.query, None),
    }
    valid, problems = check_decisions(hostile.run, decisions.values())
    assert problems == [] and valid.keys() == decisions.keys()
    # Bound to the thumbnails they were made on.
    digests = {(r.set, r.query): r.query_sha256 for r in hostile.run.results}
    assert all(d.query_sha256 == digests[key] for key, d in valid.items())
    write_decisions(path, valid)
    assert read_decisions(path) == valid
    assert json.load(open(path))["version"] == 2
    assert sorted(os.listdir(hostile.out)) == ["decisions.json", "matches.csv", "matches.json"]
    assert check_decisions(hostile.run, read_decisions(path).values()) == (valid, [])
    assert read_decisions(os.path.join(hostile.out, "missing.json")) == {}


def test_decisions_that_do_not_fit_are_reported(hostile):
    amb = hostile.ambiguous
    bad = [
        Decision(amb.set, amb.query, hostile.matched.match),  # another thumbnail's candidate
        Decision("prints", "/elsewhere/x.jpg", None),
        Decision("other", hostile.matched.query, None),  # right thumbnail, wrong set
    ]
    valid, problems = check_decisions(hostile.run, bad)
    assert valid == {} and len(problems) == 3


@pytest.mark.parametrize(
    "doc",
    [
        [],
        {"version": 3, "decisions": []},
        {"version": 2, "decisions": [{"set": "s", "query": "q", "pick": None}]},
        {"version": 2, "decisions": [{"set": "s", "query": "q", "pick": None, "query_sha256": 1}]},
        {"version": 1, "decisions": {}},
        {"version": 1, "decisions": [{"set": "s", "query": 1, "pick": None}]},
        {"version": 1, "decisions": [{"set": "s", "query": "q", "pick": 3}]},
        {"version": 1, "decisions": ["x"]},
    ],
)
def test_malformed_decisions_are_refused(doc):
    with pytest.raises(ValueError):
        parse_decisions(doc)


# -- previews: decoded at the JPEG scale that covers them --------------------------


@pytest.mark.parametrize(
    ("width", "height", "size", "shrink"),
    [
        (1600, 1067, 320, 4),  # libvips' thumbnail would decode it at half its size
        (4000, 3000, 320, 8),  # a 12-MP camera JPEG: an eighth is 500 px
        (4000, 3000, 501, 4),
        (3000, 4000, 250, 8),
        (999, 600, 500, 1),
        (500, 500, 500, 1),
        (120, 80, 320, 1),
    ],
)
def test_a_jpeg_is_decoded_at_the_smallest_scale_that_covers_the_box(width, height, size, shrink):
    assert hashing.jpeg_shrink(width, height, size) == shrink


def test_a_preview_is_upright_fits_its_box_and_shows_the_photo(tmp_path):
    # A JPEG turned by its EXIF orientation, decoded at a quarter (640 px)
    # rather than libvips' thumbnail's half: the same picture, upright.
    upright = sample_image("rocket").resize(4.0)  # 2,560 x 1,708
    sideways = upright.rot270().copy()  # stored portrait, shown landscape
    sideways.set_type(pyvips.GValue.gint_type, "orientation", 6)
    stored = str(tmp_path / "sideways.jpg")
    sideways.jpegsave(stored, Q=92)
    target = str(tmp_path / "shown.jpg")
    review.make_preview(stored, target)
    shown = pyvips.Image.new_from_file(target)
    assert max(shown.width, shown.height) == review.PREVIEW_SIZE
    assert shown.width > shown.height  # turned upright
    grey = hashing.grey_from_image(shown)
    thumb = hashing.load_grey(stored, review.PREVIEW_SIZE)
    h, w = min(grey.shape[0], thumb.shape[0]), min(grey.shape[1], thumb.shape[1])
    assert abs(grey.shape[0] - thumb.shape[0]) <= 1 and abs(grey.shape[1] - thumb.shape[1]) <= 1
    corr = np.corrcoef(grey[:h, :w].ravel().astype(float), thumb[:h, :w].ravel().astype(float))
    assert corr[0, 1] > 0.99


def test_a_cut_jpeg_gets_no_preview(tmp_path):
    path = tmp_path / "album" / "cut.jpg"
    path.parent.mkdir()
    data = sample_image("coffee").resize(3.0).jpegsave_buffer(Q=92)
    path.write_bytes(data[: len(data) // 2])
    (tmp_path / "out").mkdir()
    made = review.make_previews([str(path)], str(tmp_path / "out"), progress=False)
    assert made == {str(path): None}
    assert not [n for n in os.listdir(tmp_path / "out" / "previews") if n.endswith(".jpg")]


def _album_files(folder) -> list[str]:
    """Album files of several kinds: a JPEG stored sideways, a grey JPEG, a
    PNG with transparency, a 16-bit grey PNG."""
    folder.mkdir()
    sideways = sample_image("rocket").resize(2.0).rot270().copy()
    sideways.set_type(pyvips.GValue.gint_type, "orientation", 6)
    paths = [str(folder / n) for n in ("sideways.jpg", "grey.jpg", "alpha.png", "deep.png")]
    sideways.jpegsave(paths[0], Q=90)
    sample_image("camera").resize(2.0).jpegsave(paths[1], Q=90)
    coffee = sample_image("coffee").resize(1.5)
    coffee.bandjoin(coffee.extract_band(1)).copy(interpretation="srgb").pngsave(paths[2])
    (sample_image("coins").resize(1.5).cast("ushort") * 256).copy(interpretation="grey16").cast(
        "ushort"
    ).pngsave(paths[3])
    return paths


def test_the_check_decode_gives_the_same_grey_and_keeps_a_preview(tmp_path):
    made = review.MadePreviews()
    for path in _album_files(tmp_path / "album"):
        plain = hashing.load_grey(path, 500)
        kept = hashing.load_grey(path, 500, also=made.keeper(path))
        assert np.array_equal(plain, kept), path  # the check measures the same pixels
        key = review.preview_key(path)
        assert key is not None
        data = made.get(key)
        assert data is not None, path
        shown = pyvips.Image.new_from_buffer(data, "")
        assert max(shown.width, shown.height) == review.PREVIEW_SIZE
        assert shown.bands == 3 and not shown.hasalpha()
        # The photo, upright: its grey at the preview's size is the preview's.
        grey = hashing.grey_from_image(shown)
        thumb = hashing.load_grey(path, review.PREVIEW_SIZE)
        assert abs(grey.shape[0] - thumb.shape[0]) <= 1 and abs(grey.shape[1] - thumb.shape[1]) <= 1
        h, w = min(grey.shape[0], thumb.shape[0]), min(grey.shape[1], thumb.shape[1])
        corr = np.corrcoef(grey[:h, :w].ravel().astype(float), thumb[:h, :w].ravel().astype(float))
        assert corr[0, 1] > 0.98, path
        assert made.keeper(path) is None  # kept once


def test_previews_made_by_the_check_are_written_and_a_changed_file_is_decoded_again(tmp_path):
    paths = _album_files(tmp_path / "album")
    made = review.MadePreviews()
    for path in paths:
        hashing.load_grey(path, 500, also=made.keeper(path))
    # A file rewritten after the check: its preview must show what it holds now.
    sample_image("brick").resize(2.0).jpegsave(paths[1], Q=90)
    os.utime(paths[1], ns=(1, 1))
    (tmp_path / "out").mkdir()
    shown = review.make_previews(paths, str(tmp_path / "out"), progress=False, made=made)
    for path in paths:
        rel = shown[path]
        assert rel is not None
        data = (tmp_path / "out" / rel).read_bytes()
        key = os.path.basename(rel)
        if path == paths[1]:
            assert made.get(key) is None
            grey = hashing.grey_from_image(pyvips.Image.new_from_buffer(data, ""))
            brick = hashing.load_grey(path, review.PREVIEW_SIZE)
            h, w = min(grey.shape[0], brick.shape[0]), min(grey.shape[1], brick.shape[1])
            corr = np.corrcoef(grey[:h, :w].ravel().astype(float), brick[:h, :w].ravel())
            assert corr[0, 1] > 0.98
        else:
            assert data == made.get(key)


def test_previews_kept_in_memory_stop_at_their_limit(tmp_path):
    paths = _album_files(tmp_path / "album")
    made = review.MadePreviews(limit=1)
    for path in paths:
        hashing.load_grey(path, 500, also=made.keeper(path))
    assert all(made.get(review.preview_key(p) or "") is None for p in paths)
