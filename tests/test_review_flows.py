"""The review page settling the hard cases, in a real browser (Debian's chromium through
Playwright; see ``test_review_browser``): pick a burst frame in the compare view by
keyboard alone, rescue an ``unmatched`` thumbnail by a near miss and by the album search,
export from the page, hostile names kept as text, and no request leaving 127.0.0.1.

With ``PHOTOMATCH_DOC_SHOTS=DIR`` the README's screenshots are written to DIR
(``docs/review-*.png``: ``PHOTOMATCH_DOC_SHOTS=docs pytest tests/test_review_flows.py``).
"""

from __future__ import annotations

import csv
import os
import shutil
from pathlib import Path

import pytest
import pyvips
from PIL import Image
from test_review import HOSTILE_FILE, build_hostile
from test_review_browser import Watched, browser, expect  # noqa: F401 - fixtures

from photomatch import review
from photomatch.cli import main
from photomatch.index import AlbumIndex
from photomatch.results import read_decisions, read_json
from photomatch.review_server import ReviewServer

from albumcheck import fingerprint

SHOTS = os.environ.get("PHOTOMATCH_DOC_SHOTS")


def doc_shot(page, name: str) -> None:
    """The viewport as ``$PHOTOMATCH_DOC_SHOTS/name``, a small palette PNG (README images)."""
    if not SHOTS:
        return
    os.makedirs(SHOTS, exist_ok=True)
    raw = page.screenshot()
    image = pyvips.Image.new_from_buffer(raw, "").resize(0.7)
    target = os.path.join(SHOTS, name)
    image.pngsave(target, palette=True, Q=75, effort=10, compression=9)
    assert os.path.getsize(target) < 200_000  # kept small for the README


def with_exif(path: str, when: str) -> None:
    """Give an album file a capture time (DateTimeOriginal + SubSecTimeOriginal)."""
    day, frac = when.split(".")
    with Image.open(path) as im:
        exif = Image.Exif()
        exif[271], exif[272] = "Fujifilm", "X-T5"
        exif.get_ifd(0x8769)[36867] = day
        exif.get_ifd(0x8769)[37521] = frac
        im.load()
        im.save(path, exif=exif, quality=95)


def serve(out: str, run) -> tuple[ReviewServer, str]:
    server = ReviewServer(out, run)
    server.start()
    return server, f"http://127.0.0.1:{server.port}/{server.token}/"


def loaded(page, selector: str) -> None:
    page.wait_for_function(
        "s => { const i = document.querySelector(s); "
        "return i && i.complete && i.naturalWidth > 0 }",
        arg=selector,
    )


def test_pick_a_burst_frame_in_the_compare_view_by_keyboard(browser, expect, sample, tmp_path):  # noqa: F811
    # The burst's frames get capture times out of their name order.
    times = ["2024:06:01 10:00:00.50", "2024:06:01 10:00:00.10", "2024:06:01 10:00:00.30"]
    for frame, when in zip(sample.burst, times, strict=True):
        with_exif(frame, when)
    out = tmp_path / "out"
    index = str(tmp_path / "i.sqlite")
    main(["match", sample.album, *sample.thumb_sets, "--out", str(out), "--index", index, "-q"])
    run = read_json(str(out / "matches.json"))
    burst = next(r for r in run.results if r.status == "ambiguous")
    assert {c.path for c in burst.candidates} == set(sample.burst)
    before = fingerprint(sample.album)
    server, origin = serve(str(out), run)
    w = Watched(browser, (origin, "data:"))
    page = w.page
    try:
        w.open(server.url)
        expect(page.locator("#progress")).to_have_text("2 of 8 to review, 0 done")
        row = page.locator("section.row.current")
        expect(row.locator(".sure")).to_have_text("unlikely")  # three frames share it
        expect(row.locator(".why")).to_contain_text("fits several frames of a burst alike")
        expect(row.locator(".capture").first).to_contain_text("taken 2024-06-01 10:00:00.")
        page.keyboard.press("z")
        cmp = page.locator("#compare")
        expect(cmp).to_be_visible()
        # The frames in capture order, the best fitting one marked once every figure is in.
        names = cmp.locator(".strip-name")
        expect(names).to_have_count(3)
        expect(cmp.locator(".strip-meta.rejected")).to_have_count(0)
        expect(cmp.locator(".strip-item").nth(2)).to_contain_text("similarity")
        order = [n.split(": ", 1)[1] for n in names.all_text_contents()]
        assert order == [
            "2024/burst/IMG_402.jpg",
            "2024/burst/IMG_403.jpg",
            "2024/burst/IMG_401.jpg",
        ]
        assert "taken 2024-06-01 10:00:00.1" in cmp.locator(".strip-item").nth(0).text_content()
        expect(cmp.locator(".best-mark")).to_have_count(1)
        # An off-centre crop that every frame holds: none is on a standard
        # framing, so the mark is only the best fit; the person decides.
        loaded(page, "#cmp-b-frame img.region")
        loaded(page, "#cmp-a-frame img")
        at = cmp.locator(".strip-item").evaluate_all(
            "items => items.findIndex(i => i.classList.contains('shown'))"
        )
        target = at + 1 if at < 2 else at - 1
        page.keyboard.press("ArrowRight" if target > at else "ArrowLeft")
        expect(page.locator("#cmp-b-caption")).to_contain_text(order[target])
        expect(page.locator("#cmp-b-caption")).to_contain_text("a crop of")
        page.keyboard.press("d")
        expect(page.locator("#cmp-b-frame")).to_have_attribute("data-mode", "diff")
        loaded(page, "#cmp-b-frame img.diff")
        loaded(page, "#cmp-b-frame img.region")
        expect(page.locator("#cmp-b-frame img.diff")).to_be_visible()
        doc_shot(page, "review-compare.png")
        page.keyboard.press("f")
        expect(page.locator("#cmp-b-frame")).to_have_attribute("data-mode", "flicker")
        # Back to the frame marked best, and pick it: all by keyboard.
        marked = cmp.locator(".strip-item").evaluate_all(
            "items => items.findIndex(i => i.classList.contains('best'))"
        )
        for _ in range(abs(marked - target)):
            page.keyboard.press("ArrowRight" if marked > target else "ArrowLeft")
        expect(page.locator("#cmp-b-caption")).to_contain_text(order[marked])
        expect(page.locator("#cmp-b-caption")).to_contain_text("a crop of")
        page.keyboard.press("Enter")
        expect(cmp).to_be_hidden()
        expect(page.locator("#save-state")).to_contain_text("saved: 1 pick")
        picked = read_decisions(str(out / "decisions.json"))[(burst.set, burst.query)].pick
        assert picked == os.path.join(sample.album, order[marked]) and picked in sample.burst
        expect(page.locator("#progress")).to_have_text("2 of 8 to review, 1 done")
        # The thumbnail with no candidate: the album's nearest files, however far, to pick.
        lost = next(r for r in run.results if r.reason == "no_candidate")
        row = page.locator("section.row.status-unmatched")
        expect(row.locator(".near-head")).to_contain_text("Nearest in the album")
        near = row.locator(".cand.near")
        expect(near.first.locator(".verdict")).to_contain_text("bits from it in the search")
        first = near.first.locator(".path").text_content()
        near.first.get_by_role("button", name="pick").click()
        expect(page.locator("#save-state")).to_contain_text("saved: 2 pick")
        assert read_decisions(str(out / "decisions.json"))[(lost.set, lost.query)].pick == (
            os.path.join(sample.album, first)
        )
        expect(row.locator(".cand.near.chosen")).to_have_count(1)
        expect(row.locator(".decision")).to_have_text(
            f"your pick: found in the album \u2014 exports {first}"
        )
        w.check_clean()
    finally:
        w.close()
        server.shutdown()
        server.server_close()
    assert fingerprint(sample.album) == before


#: An album file whose name looks like a way out when percent-decoded, with quotes.
ESCAPING = "%2e%2e%2f%2e%2e%2f'x\"y.jpg"


@pytest.fixture()
def hostile_indexed(sample, tmp_path):
    hostile = build_hostile(sample, tmp_path)
    shutil.copy2(sample.burst[2], os.path.join(hostile.run.album, "2024", ESCAPING))
    with AlbumIndex(hostile.run.album, hostile.run.index_path) as idx:
        idx.update()
    review.write_review(hostile.run, hostile.out, progress=False)
    server, origin = serve(hostile.out, hostile.run)
    before = fingerprint(hostile.run.album)
    yield hostile, server, origin
    server.shutdown()
    server.server_close()
    assert fingerprint(hostile.run.album) == before


def test_rescue_an_unmatched_thumbnail(browser, expect, hostile_indexed):  # noqa: F811
    hostile, server, origin = hostile_indexed
    unm = hostile.unmatched
    decisions = os.path.join(hostile.out, "decisions.json")
    w = Watched(browser, (origin, "data:"))
    page = w.page
    try:
        w.open(server.url)
        page.select_option("#filter-status", "unmatched")
        row = page.locator("section.row", has=page.locator(".qname", has_text="a5.jpg"))
        expect(row.locator(".sure")).to_have_text("no match")
        # The near miss photomatch checked, with why it was not taken.
        expect(row.locator(".cand .verdict").first).to_have_text(
            "not compared on pixels: further off in the search"
        )
        row.locator(".qname").click()
        page.locator("body").press("Escape")  # keyboard focus off the select
        page.keyboard.press("z")
        expect(page.locator("#cmp-b-caption")).to_contain_text("2023/sky/IMG_1003.jpg")
        expect(page.locator("#cmp-why")).to_contain_text("photomatch would not take it")
        page.keyboard.press("1")
        expect(page.locator("#save-state")).to_contain_text("saved: 1 pick")
        assert read_decisions(decisions)[(unm.set, unm.query)].pick == unm.candidates[0].path

        # Then found by the album search instead: a file that was never its candidate.
        row.locator(".qname").click()
        page.keyboard.press("/")
        search = page.locator("#search")
        expect(search).to_be_visible()
        page.keyboard.type("onerror")
        page.keyboard.press("Enter")
        found = search.locator(".found")
        expect(found).to_have_count(1)
        expect(found.locator(".path")).to_have_text(f"2024/{HOSTILE_FILE}")  # as text
        loaded(page, "#search-results img")
        page.fill("#search-name", "%2e%2e")
        page.keyboard.press("Enter")
        expect(found.locator(".path")).to_have_text(f"2024/{ESCAPING}")
        loaded(page, "#search-results img")
        page.fill("#search-name", "IMG_0501")
        page.fill("#search-folder", "2022")
        page.keyboard.press("Enter")
        expect(found.locator(".path")).to_have_text("2022/IMG_0501.jpg")
        expect(found.locator(".meta")).to_contain_text("file date")
        loaded(page, "#search-results img")
        doc_shot(page, "review-rescue.png")
        found.get_by_role("button", name="pick this one").click()
        expect(search).to_be_hidden()
        expect(page.locator("#save-state")).to_contain_text("saved: 1 pick")
        picked = os.path.join(hostile.run.album, "2022", "IMG_0501.jpg")
        assert read_decisions(decisions)[(unm.set, unm.query)].pick == picked
        expect(row.locator(".decision")).to_have_text(
            "your pick: found in the album \u2014 exports 2022/IMG_0501.jpg"
        )
        expect(row.locator(".cand.other.chosen .path")).to_have_text("2022/IMG_0501.jpg")
        loaded(page, "section.row .cand.other img")
        assert page.locator("img[src='x'], svg, .row i, .row b").count() == 0
        w.check_clean()
    finally:
        w.close()


def test_export_from_the_page(browser, expect, hostile_indexed, tmp_path):  # noqa: F811
    hostile, server, origin = hostile_indexed
    amb = hostile.ambiguous
    w = Watched(browser, (origin, "data:"))
    page = w.page
    dest = tmp_path / "exported"
    try:
        w.open(server.url)
        page.locator(".qname", has_text=amb.query.rsplit("/", 1)[1]).click()
        page.keyboard.press("3")  # the hostile-named frame
        expect(page.locator("#save-state")).to_contain_text("saved: 1 pick")
        page.keyboard.press("s")
        expect(page.locator("#summary .chart tr")).to_have_count(3)  # a head and two sets
        expect(page.locator("#summary")).to_contain_text("1 ambiguous")
        doc_shot(page, "review-summary.png")
        page.fill("#export-dest", "relative/place")
        page.click("#export-run")
        expect(page.locator("#export-state")).to_contain_text("full path")
        page.fill("#export-dest", hostile.run.album)
        page.click("#export-run")
        expect(page.locator("#export-state")).to_contain_text("inside the album")
        page.fill("#export-dest", str(dest))
        page.click("#export-run")
        expect(page.locator("#export-state")).to_contain_text("exported to " + str(dest))
        expect(page.locator("#export-state")).to_contain_text("2 copied")
        expect(page.locator("#export-files li")).to_have_count(2)
        expect(page.locator("#export-files")).to_contain_text(HOSTILE_FILE)
        w.check_clean()
    finally:
        w.close()
    with open(dest / "manifest.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert {r["source"] for r in rows} == {hostile.hostile_file, hostile.matched.match}
    for r in rows:
        assert Path(r["destination"]).read_bytes() == Path(r["source"]).read_bytes()
        assert Path(r["destination"]).parent.parent == dest


def many(sample, tmp_path, n: int):
    """Results for ``n`` generated thumbnails over the sample album (every 5th
    ``ambiguous``, every 5th ``unmatched``), with their page and previews."""
    from photomatch.results import (
        AMBIGUOUS,
        MATCHED,
        UNMATCHED,
        Candidate,
        MatchRun,
        QueryResult,
        SetInfo,
        write_json,
    )

    out = tmp_path / "many"
    out.mkdir()
    photos = [t.expected[0] for t in sample.thumbs if t.expected]
    thumbs = [t.path for t in sample.thumbs]
    previews = review.make_previews(photos + thumbs, str(out), progress=False)
    sets = (SetInfo("one", str(tmp_path / "one")), SetInfo("two", str(tmp_path / "two")))
    results = []
    for i in range(n):
        s = sets[i % 2]
        query = os.path.join(s.folder, f"t{i:04d}.jpg")
        photo = photos[i % len(photos)]
        status, conf, reason = [
            (MATCHED, 0.999, "framed"),
            (AMBIGUOUS, 0.6, "frames_alike"),
            (UNMATCHED, 0.0, "no_fit"),
            (MATCHED, 0.95, "crop"),
            (MATCHED, 0.999, "framed"),
        ][i % 5]
        cands = (Candidate(photo, 2, "full", 0.99),)
        match = photo if status == MATCHED else None
        results.append(
            QueryResult(
                s.name, query, status, match, 2, cands, 0.99, confidence=conf, reason=reason
            )
        )
    run = MatchRun(sample.album, str(tmp_path / "none.sqlite"), sets, tuple(results))
    page_previews = {r.query: previews[thumbs[i % len(thumbs)]] for i, r in enumerate(results)}
    page_previews.update({p: previews[p] for p in photos})
    (out / review.REVIEW_NAME).write_text(
        review.render_page(review.page_data(run, page_previews, title=str(out)))
    )
    write_json(run, str(out / "matches.json"))
    return run, str(out)


def test_many_rows_are_built_as_they_come_into_view(browser, expect, sample, tmp_path):  # noqa: F811
    run, out = many(sample, tmp_path, 400)
    server, origin = serve(out, run)
    w = Watched(browser, (origin, "data:"))
    page = w.page
    built = "document.querySelectorAll('section.row:not(.pending)').length"
    try:
        w.open(server.url)
        expect(page.locator("#progress")).to_have_text("160 of 400 to review, 0 done")
        assert page.evaluate(built) < 100  # only what is on screen, and a little more
        page.evaluate("window.scrollTo(0, document.body.scrollHeight)")
        expect(page.locator("section.row[data-index='399'] .qname")).to_be_visible()
        assert page.evaluate(built) < 200
        # Filtered, the rows now shown come into view and are built too.
        page.select_option("#filter-sure", "no match")
        expect(page.locator("#counts")).to_contain_text("80 shown")
        page.evaluate("window.scrollTo(0, document.body.scrollHeight)")
        expect(page.locator("section.row:visible .qname").last).to_have_text("t0397.jpg")
        page.select_option("#filter-sure", "")
        page.select_option("#filter-status", "review")
        page.locator("body").press("Escape")
        # Doubtful first, by set: the ambiguous ones of set "one" (t0006, t0016, ...).
        page.locator("section.row:visible .qname").first.click()
        current = page.locator("section.row.current .qname")
        expect(current).to_have_text("t0006.jpg")
        # g: the next one still to settle; a pick moves on and counts as done.
        page.keyboard.press("g")
        expect(current).to_have_text("t0016.jpg")
        page.keyboard.press("n")
        expect(page.locator("#progress")).to_have_text("160 of 400 to review, 1 done")
        expect(current).to_have_text("t0026.jpg")
        page.keyboard.press("k")
        page.keyboard.press("k")
        page.keyboard.press("g")  # t0016 is settled now: passed over
        expect(current).to_have_text("t0026.jpg")
        w.check_clean()
    finally:
        w.close()
        server.shutdown()
        server.server_close()
