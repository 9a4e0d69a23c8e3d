"""The review page at 10,000 thumbnails, in headless chromium (Debian's, through
Playwright), beside the same page at 1,000 in the same run.

Data: a results folder whose ``matches.json`` holds N thumbnails in 4 sets (70%
``matched``, 15% ``ambiguous`` with 3 candidates, 15% ``unmatched`` with one near
miss), every candidate a real photograph of the sample album (``demo.build_sample``),
the thumbnails and candidates sharing a few previews (the page requests each row's
previews as the row is built, whatever their names). The page is made by
``review.page_data`` + ``review.render_page``, as ``photomatch review`` makes it, and
served by ``ReviewServer``.

- ``time to interactive``: from ``page.goto`` to the page marked ready (decisions
  loaded from the server, rows on screen built, keys live), wall time; ``extra_info``
  has the browser's own ``performance.now()`` at that moment and the time from a key
  press (``j``) to the next row being current.
- ``scroll``: ``extra_info`` has the frame times (ms) of a scripted scroll, 240
  animation frames of 40 px, then 60 frames after a jump to the middle of the page:
  median, 95th percentile, worst, and frames over 50 ms.

Run: ``python -m pytest benches/test_bench_review.py`` (needs chromium and playwright).
"""

from __future__ import annotations

import os
import shutil
import time

import pytest

from photomatch import demo, review
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
from photomatch.review_server import ReviewServer

SETS = ("prints", "album cover", "web", "family")

SCROLL = """
async ([frames, step]) => {
  const times = [];
  let last = performance.now();
  const tick = () => new Promise((r) => requestAnimationFrame(r));
  const run = async (n) => {
    for (let i = 0; i < n; i++) {
      window.scrollBy(0, step);
      await tick();
      const now = performance.now();
      times.push(now - last);
      last = now;
    }
  };
  const stats = (t) => {
    t = t.slice().sort((a, b) => a - b);
    const q = (p) => t[Math.min(t.length - 1, Math.floor(p * t.length))];
    return {frames: t.length, median: q(0.5), p95: q(0.95), worst: t[t.length - 1],
            over_50ms: t.filter((x) => x > 50).length};
  };
  await run(frames);
  const steady = times.splice(0);
  window.scrollTo(0, document.body.scrollHeight / 2);
  await tick();
  const jump = performance.now() - last;
  last = performance.now();
  await run(60);
  return {scroll: stats(steady), jump_ms: jump, after_jump: stats(times)};
}
"""


def _chromium() -> str | None:
    found = shutil.which("chromium")
    if found:
        return found
    return "/usr/bin/chromium" if os.access("/usr/bin/chromium", os.X_OK) else None


@pytest.fixture(scope="module")
def browser():
    playwright = pytest.importorskip("playwright.sync_api")
    executable = _chromium()
    if executable is None:
        pytest.skip("chromium is not installed")
    with playwright.sync_playwright() as p:
        b = p.chromium.launch(executable_path=executable, headless=True)
        yield b
        b.close()


@pytest.fixture(scope="module")
def layout(tmp_path_factory: pytest.TempPathFactory) -> demo.SampleLayout:
    return demo.build_sample(str(tmp_path_factory.mktemp("review-bench")))


def results_dir(layout: demo.SampleLayout, n: int, out: str) -> MatchRun:
    """A results folder of ``n`` generated thumbnails over the sample album."""
    os.makedirs(out)
    photos = [t.expected[0] for t in layout.thumbs if t.expected] + list(layout.burst)
    thumbs = [t.path for t in layout.thumbs]
    previews = review.make_previews(photos + thumbs, out, progress=False)
    sets = tuple(SetInfo(name, os.path.join(out, "thumbs", name)) for name in SETS)
    results = []
    for i in range(n):
        s = sets[i % len(sets)]
        query = os.path.join(s.folder, f"IMG_{i:05d} <{i}>.jpg")
        kind = i % 20
        if kind < 14:
            photo = photos[i % len(photos)]
            cands = (Candidate(photo, i % 9, "full", 0.99),)
            results.append(
                QueryResult(
                    s.name,
                    query,
                    MATCHED,
                    photo,
                    i % 9,
                    cands,
                    0.99,
                    confidence=0.995,
                    reason="framed",
                )
            )
        elif kind < 17:
            cands = tuple(Candidate(b, 3 + k, "centre", 0.996) for k, b in enumerate(layout.burst))
            results.append(
                QueryResult(
                    s.name,
                    query,
                    AMBIGUOUS,
                    None,
                    3,
                    cands,
                    0.996,
                    confidence=0.34,
                    reason="frames_alike",
                )
            )
        else:
            cands = (Candidate(photos[(i + 3) % len(photos)], 38, "full", 0.41),)
            results.append(
                QueryResult(
                    s.name,
                    query,
                    UNMATCHED,
                    None,
                    38,
                    cands,
                    0.41,
                    confidence=0.0,
                    reason="no_fit",
                )
            )
    run = MatchRun(
        album=layout.album,
        index_path=os.path.join(out, "none.sqlite"),
        sets=sets,
        results=tuple(results),
    )
    shared = [previews[p] for p in thumbs]
    page_previews = {r.query: shared[i % len(shared)] for i, r in enumerate(results)}
    page_previews.update({p: previews[p] for p in photos})
    data = review.page_data(run, page_previews, title=out)
    with open(os.path.join(out, review.REVIEW_NAME), "w", encoding="utf-8") as fh:
        fh.write(review.render_page(data))
    write_json(run, os.path.join(out, "matches.json"))
    return run


@pytest.mark.parametrize("n", [1_000, 10_000])
def test_review_page(benchmark, browser, layout, tmp_path, n):
    run = results_dir(layout, n, str(tmp_path / "out"))
    server = ReviewServer(str(tmp_path / "out"), run)
    server.start()
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    ready_ms: list[float] = []

    def load() -> None:
        page.goto(server.url)
        page.wait_for_selector("body[data-ready=true]")
        ready_ms.append(page.evaluate("performance.now()"))

    try:
        benchmark.group = "review page: time to interactive"
        benchmark.pedantic(load, rounds=3, warmup_rounds=1)
        page.wait_for_load_state("networkidle")
        start = time.perf_counter()
        page.keyboard.press("j")
        page.wait_for_selector("section.row.current[data-index='1']")
        key_ms = 1000 * (time.perf_counter() - start)
        scroll = page.evaluate(SCROLL, [240, 40])
        built = page.evaluate("document.querySelectorAll('section.row:not(.pending)').length")
        benchmark.extra_info.update(
            thumbnails=n,
            page_bytes=os.path.getsize(tmp_path / "out" / review.REVIEW_NAME),
            ready_ms_in_browser=sorted(ready_ms)[len(ready_ms) // 2],
            key_to_next_row_ms=round(key_ms, 1),
            rows_built_after_scroll=built,
            scroll_frame_ms={k: round(v, 1) for k, v in scroll["scroll"].items()},
            jump_to_middle_ms=round(scroll["jump_ms"], 1),
            after_jump_frame_ms={k: round(v, 1) for k, v in scroll["after_jump"].items()},
        )
    finally:
        context.close()
        server.shutdown()
        server.server_close()
