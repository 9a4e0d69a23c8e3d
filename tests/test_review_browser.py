"""The review page in a real browser: headless Chromium (Debian's ``chromium``) driven by
Playwright. Skipped when chromium or playwright is missing, unless
``PHOTOMATCH_REQUIRE_BROWSER=1`` (as in ``.ci/run``), which makes that a failure.

A screenshot of the page is kept: in the test's tmp_path, and in ``$PHOTOMATCH_ARTIFACTS``
when that is set.
"""

from __future__ import annotations

import csv
import json
import os
import shutil
from pathlib import Path

import pytest
from test_review import HOSTILE_FILE, HOSTILE_SET, HOSTILE_THUMB, build_hostile

from photomatch import review
from photomatch.cli import main
from photomatch.results import read_decisions, read_json
from photomatch.review_server import ReviewServer

from albumcheck import fingerprint

REQUIRED = os.environ.get("PHOTOMATCH_REQUIRE_BROWSER") == "1"


def _chromium() -> str | None:
    found = shutil.which("chromium")
    if found:
        return found
    return "/usr/bin/chromium" if os.access("/usr/bin/chromium", os.X_OK) else None


def _missing(reason: str) -> None:
    if REQUIRED:
        pytest.fail(f"{reason} (PHOTOMATCH_REQUIRE_BROWSER=1 asks for the browser tests)")
    pytest.skip(reason)


@pytest.fixture(scope="module")
def browser():
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _missing("playwright is not installed (pip install playwright)")
    executable = _chromium()
    if executable is None:
        _missing("chromium is not installed (apt-get install chromium)")
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=executable, headless=True)
        yield b
        b.close()


@pytest.fixture()
def expect():
    from playwright.sync_api import expect

    expect.set_options(timeout=15_000)
    return expect


class Watched:
    """A page with every request, dialog and script error recorded."""

    def __init__(self, browser, allowed: tuple[str, ...]) -> None:
        self.context = browser.new_context(
            viewport={"width": 1280, "height": 900}, accept_downloads=True
        )
        self.requests: list[str] = []
        self.refused: list[str] = []
        self.dialogs: list[str] = []
        self.errors: list[str] = []
        self.allowed = allowed

        def route(r):
            if r.request.url.startswith(self.allowed):
                r.continue_()
            else:  # never let it out, and fail the test below
                self.refused.append(r.request.url)
                r.abort()

        self.context.route("**/*", route)
        self.page = self.context.new_page()
        self.page.on("request", lambda req: self.requests.append(req.url))
        self.page.on("dialog", lambda d: (self.dialogs.append(d.message), d.dismiss()))
        self.page.on("pageerror", lambda exc: self.errors.append(str(exc)))

    def open(self, url: str) -> None:
        self.page.goto(url)
        self.page.wait_for_selector("body[data-ready=true]")
        self.page.wait_for_load_state("networkidle")

    def check_clean(self) -> None:
        assert self.requests, "the page made no request at all?"
        outside = [u for u in self.requests if not u.startswith(self.allowed)]
        assert outside == [] and self.refused == []
        assert self.dialogs == [] and self.errors == []
        broken = self.page.evaluate(
            "Array.from(document.images).filter(i => !i.complete || !i.naturalWidth).length"
        )
        assert broken == 0

    def screenshot(self, tmp_path: Path, name: str) -> Path:
        shot = tmp_path / name
        self.page.screenshot(path=str(shot), full_page=True)
        assert shot.stat().st_size > 0
        artifacts = os.environ.get("PHOTOMATCH_ARTIFACTS")
        if artifacts:
            os.makedirs(artifacts, exist_ok=True)
            shutil.copy(shot, os.path.join(artifacts, name))
        return shot

    def close(self) -> None:
        self.context.close()


@pytest.fixture()
def hostile_served(sample, tmp_path):
    hostile = build_hostile(sample, tmp_path)
    review.write_review(hostile.run, hostile.out, progress=False)
    server = ReviewServer(hostile.out, hostile.run)
    server.start()
    yield hostile, server
    server.shutdown()
    server.server_close()


def shown(page) -> list[str]:
    return page.locator("section.row:visible .qname").all_text_contents()


def current(page) -> str:
    return page.locator("section.row.current .qname").text_content()


def test_review_in_the_browser(browser, expect, hostile_served, tmp_path):
    hostile, server = hostile_served
    before = fingerprint(hostile.run.album)
    origin = f"http://127.0.0.1:{server.port}/{server.token}/"
    w = Watched(browser, (origin, "data:"))
    page = w.page
    try:
        w.open(server.url)
        # Every thumbnail, doubtful first; the hostile names are text, nothing ran.
        assert shown(page) == [HOSTILE_THUMB, "a5.jpg", "broken.jpg", "a1.jpg"]
        expect(page.get_by_text(HOSTILE_FILE).first).to_be_visible()
        expect(page.locator(".qname", has_text=HOSTILE_THUMB)).to_be_visible()
        expect(page.locator(".row .set", has_text=HOSTILE_SET).first).to_be_visible()
        expect(page.get_by_text("alert(4)</script>")).to_be_visible()  # the skip reason
        assert page.locator("img[src='x'], svg, .row i, .row b").count() == 0
        assert HOSTILE_SET in page.locator("#filter-set option").all_text_contents()
        w.screenshot(tmp_path, "review-served.png")

        # Filter by status, then by set.
        page.select_option("#filter-status", "ambiguous")
        assert shown(page) == [HOSTILE_THUMB]
        page.select_option("#filter-status", "review")
        assert shown(page) == [HOSTILE_THUMB, "a5.jpg", "broken.jpg"]
        page.select_option("#filter-set", "prints")
        page.select_option("#filter-status", "")
        assert shown(page) == ["a5.jpg", "a1.jpg"]
        page.select_option("#filter-set", "")
        page.select_option("#filter-status", "ambiguous")

        # Pick the third candidate (the hostile file) with the keyboard: saved at once.
        page.locator("body").press("Escape")  # keyboard focus off the select
        page.locator("#rows").click(position={"x": 2, "y": 2})
        assert current(page) == HOSTILE_THUMB
        page.keyboard.press("3")
        expect(page.locator("#save-state")).to_contain_text("saved: 1 pick")
        amb = hostile.ambiguous
        path = os.path.join(hostile.out, "decisions.json")
        assert read_decisions(path)[(amb.set, amb.query)].pick == hostile.hostile_file
        row = page.locator("section.row", has=page.locator(".qname", has_text=HOSTILE_THUMB))
        expect(row.locator(".decision")).to_have_text(
            f"your pick: 3 \u2014 exports 2024/{HOSTILE_FILE}"
        )
        expect(row.locator(".cand.chosen .path")).to_have_text(f"2024/{HOSTILE_FILE}")

        # Next/previous, "none of these", undo.
        page.select_option("#filter-status", "")
        page.locator("#rows").click(position={"x": 2, "y": 2})
        page.keyboard.press("j")
        assert current(page) == "a5.jpg"
        page.keyboard.press("ArrowDown")
        assert current(page) == "broken.jpg"
        page.keyboard.press("k")
        page.keyboard.press("n")
        expect(page.locator("#save-state")).to_contain_text("saved: 2 pick")
        assert read_decisions(path)[("prints", hostile.unmatched.query)].pick is None
        assert current(page) == "broken.jpg"  # a pick moves on
        page.keyboard.press("ArrowUp")
        page.keyboard.press("u")
        expect(page.locator("#save-state")).to_contain_text("saved: 1 pick")
        assert ("prints", hostile.unmatched.query) not in read_decisions(path)

        # Compare on click: the thumbnail beside the candidate's region, closed with Esc.
        a1 = page.locator("section.row", has=page.locator(".qname", has_text="a1.jpg"))
        a1.locator(".cand img").nth(1).click()
        expect(page.locator("#compare")).to_be_visible()
        expect(page.locator("#cmp-a-frame img")).to_have_count(1)
        expect(page.locator("#cmp-b-frame img.region")).to_have_count(1)
        expect(page.locator("#cmp-b-caption")).to_contain_text("2: 2022/IMG_0501.jpg")
        # Not the photo: photomatch says why it would not take it.
        expect(page.locator("#cmp-why")).to_contain_text("photomatch would not take it")
        page.keyboard.press("Escape")
        expect(page.locator("#compare")).to_be_hidden()

        # Reloaded, the page shows what is on disk.
        w.open(server.url)
        expect(row.locator(".decision")).to_contain_text("your pick: 3")
        w.check_clean()
    finally:
        w.close()
    assert fingerprint(hostile.run.album) == before


def test_review_page_opened_as_a_file(browser, expect, sample, tmp_path):
    hostile = build_hostile(sample, tmp_path)
    page_path = Path(review.write_review(hostile.run, hostile.out, progress=False))
    w = Watched(browser, (Path(hostile.out).as_uri() + "/", "data:", "blob:"))
    page = w.page
    try:
        w.open(page_path.as_uri())
        expect(page.get_by_text(HOSTILE_FILE).first).to_be_visible()
        expect(page.locator("#save-state")).to_contain_text("opened as a file")
        page.locator("#rows").click(position={"x": 2, "y": 2})
        # Without the server, the compare view shows the previews side by side.
        page.keyboard.press("z")
        expect(page.locator("#cmp-b-frame img.region")).to_be_visible()
        expect(page.locator("#cmp-b-caption")).to_contain_text("1: 2024/burst/IMG_402.jpg")
        expect(page.get_by_role("button", name="search the album (/)")).to_have_count(0)
        page.keyboard.press("Escape")
        page.keyboard.press("2")
        expect(page.locator("#save-state")).to_contain_text("not saved")
        with page.expect_download() as info:
            page.click("#download")
        saved = tmp_path / "downloaded.json"
        info.value.save_as(saved)
        assert info.value.suggested_filename == "decisions.json"
        doc = json.loads(saved.read_text())
        amb = hostile.ambiguous
        assert doc["decisions"] == [
            {"set": amb.set, "query": amb.query, "pick": amb.candidates[1].path}
        ]
        assert not os.path.exists(os.path.join(hostile.out, "decisions.json"))
        w.screenshot(tmp_path, "review-file.png")
        w.check_clean()
    finally:
        w.close()


def test_a_pick_in_the_page_changes_what_export_copies(browser, expect, sample, tmp_path, capsys):
    """End to end: match, review, pick another candidate, export, export again."""
    out = tmp_path / "out"
    code = main(
        [
            "match",
            sample.album,
            *sample.thumb_sets,
            "--out",
            str(out),
            "--index",
            str(tmp_path / "i.sqlite"),
            "-q",
        ]
    )
    assert code in (0, 3)
    run = read_json(str(out / "matches.json"))
    target = next(r for r in run.results if len(r.candidates) >= 2)
    picked = target.candidates[1].path
    before = fingerprint(sample.album)
    server = ReviewServer(str(out), run)
    server.start()
    w = Watched(browser, (f"http://127.0.0.1:{server.port}/{server.token}/", "data:"))
    page = w.page
    try:
        w.open(server.url)
        name = os.path.relpath(
            target.query, next(s.folder for s in run.sets if s.name == target.set)
        )
        page.locator(".qname", has_text=name).click()
        assert current(page) == name
        page.keyboard.press("2")
        expect(page.locator("#save-state")).to_contain_text("saved: 1 pick")
        w.check_clean()
    finally:
        w.close()
        server.shutdown()
        server.server_close()
    capsys.readouterr()
    dest = tmp_path / "dest"
    assert main(["export", str(out), "--to", str(dest), "-q"]) == 0
    copy = dest / target.set / os.path.basename(picked)
    assert copy.read_bytes() == open(picked, "rb").read()
    with open(dest / "manifest.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert {"set": target.set, "source": picked, "status": "copied"}.items() <= next(
        r for r in rows if r["source"] == picked
    ).items()
    others = [r for r in run.results if r is not target and r.set == target.set]
    if target.match and all(r.match != target.match for r in others):
        assert target.match not in {r["source"] for r in rows}  # the pick replaced it
    snapshot = fingerprint(str(dest))
    assert main(["export", str(out), "--to", str(dest), "-q"]) == 0
    after = fingerprint(str(dest))
    assert {k: v for k, v in after.items() if k != "manifest.csv"} == {
        k: v for k, v in snapshot.items() if k != "manifest.csv"
    }
    assert fingerprint(sample.album) == before
