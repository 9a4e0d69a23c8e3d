"""The review server among other users and other tabs: the token never on a command line,
picks saved one thumbnail at a time (two tabs, or two servers on one DIR, keep each
other's picks), a stale whole-document write refused, and idle connections bounded."""

from __future__ import annotations

import html
import json
import os
import socket
import stat
import threading
import time
import webbrowser
from urllib.parse import unquote, urlsplit

import pytest
from test_review import HOSTILE_THUMB, build_hostile
from test_review_browser import Watched, browser, expect  # noqa: F401 - fixtures
from test_review_browser import current as row_name
from test_review_server import current, picks, post, request

from photomatch import review, review_server
from photomatch.cli import main
from photomatch.results import read_decisions
from photomatch.review_server import ReviewServer

from albumcheck import fingerprint


@pytest.fixture()
def served(sample, tmp_path):
    hostile = build_hostile(sample, tmp_path)
    review.write_review(hostile.run, hostile.out, progress=False)
    server = ReviewServer(hostile.out, hostile.run)
    server.start()
    yield hostile, server
    server.shutdown()
    server.server_close()


def decide(server, entry: dict, headers: dict[str, str] | None = None):
    """One tab's pick: ``POST /<token>/decision``."""
    return request(
        server,
        "POST",
        f"/{server.token}/decision",
        json.dumps(entry).encode(),
        {"Content-Type": "application/json", **(headers or {})},
    )


def on_disk(server) -> dict:
    return {
        k: d.pick for k, d in read_decisions(os.path.join(server.root, "decisions.json")).items()
    }


# -- the token stays off the browser's command line (task: ps shows it to every user) -------


def test_the_browser_gets_a_private_redirect_file_not_the_token(
    sample, tmp_path, monkeypatch, capsys
):
    hostile = build_hostile(sample, tmp_path)
    opened: list[tuple[str, str, int, int]] = []

    def fake_open(url, *args, **kwargs):
        path = unquote(urlsplit(url).path) if url.startswith("file://") else ""
        text = open(path, encoding="utf-8").read() if path else ""
        mode = stat.S_IMODE(os.stat(path).st_mode) if path else -1
        folder = stat.S_IMODE(os.stat(os.path.dirname(path)).st_mode) if path else -1
        opened.append((url, text, mode, folder))
        return True

    def interrupted(self, *args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(webbrowser, "open", fake_open)
    monkeypatch.setattr(ReviewServer, "serve_forever", interrupted)
    assert main(["review", hostile.out, "-q"]) == 0
    out = capsys.readouterr().out
    url = next(line for line in out.splitlines() if line.startswith("review page: "))
    url = url.split(": ", 1)[1]  # still printed on the user's own terminal
    token = urlsplit(url).path.split("/")[1]
    assert len(token) >= 32
    assert len(opened) == 1
    address, text, mode, folder = opened[0]
    assert address.startswith("file://") and token not in address
    assert mode == 0o600 and folder == 0o700
    assert html.escape(url, quote=True) in text and 'http-equiv="refresh"' in text
    # Removed when the server stops.
    assert not os.path.exists(unquote(urlsplit(address).path))


def test_open_browser_file_is_removed_by_server_close(served):
    _, server = served
    got: list[str] = []
    address = server.open_browser(got.append)
    assert got == [address] and server.token not in address
    path = unquote(urlsplit(address).path)
    assert server.url in open(path, encoding="utf-8").read()
    server.server_close()
    assert not os.path.exists(path) and not os.path.exists(os.path.dirname(path))


# -- picks saved per thumbnail ---------------------------------------------------------------


def test_two_tabs_each_keep_their_own_pick(served):
    hostile, server = served
    amb, unm = hostile.ambiguous, hostile.unmatched
    before = fingerprint(hostile.run.album)
    # Tab A and tab B loaded the page when nothing was picked.
    status, _, body = decide(
        server, {"set": amb.set, "query": amb.query, "pick": amb.candidates[2].path}
    )
    assert status == 200, body
    status, _, body = decide(server, {"set": unm.set, "query": unm.query, "pick": None})
    assert status == 200, body
    both = {(amb.set, amb.query): amb.candidates[2].path, (unm.set, unm.query): None}
    assert picks(json.loads(body)) == both  # the answer holds the other tab's pick too
    assert on_disk(server) == both
    assert picks(current(server)) == both
    # Tab A undoes its pick: tab B's stays.
    status, _, body = decide(server, {"set": amb.set, "query": amb.query, "undo": True})
    assert status == 200, body
    assert on_disk(server) == {(unm.set, unm.query): None}
    assert not [n for n in os.listdir(server.root) if n.startswith(".")]  # no temp file left
    assert fingerprint(hostile.run.album) == before


def test_picks_posted_at_once_from_two_clients_all_survive(served):
    hostile, server = served
    amb, unm, mat = hostile.ambiguous, hostile.unmatched, hostile.matched
    tab_a = [(amb, c.path) for c in amb.candidates] * 3
    tab_b = [(unm, None), (mat, mat.candidates[1].path), (unm, unm.candidates[0].path)] * 3
    failures: list[object] = []

    def tab(steps):
        for result, pick in steps:
            status, _, body = decide(
                server, {"set": result.set, "query": result.query, "pick": pick}
            )
            if status != 200:
                failures.append(body)

    threads = [threading.Thread(target=tab, args=(steps,)) for steps in (tab_a, tab_b)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert failures == []
    assert on_disk(server) == {
        (amb.set, amb.query): amb.candidates[-1].path,
        (unm.set, unm.query): unm.candidates[0].path,
        (mat.set, mat.query): mat.candidates[1].path,
    }


def test_a_stale_whole_document_is_refused_and_wipes_nothing(served):
    hostile, server = served
    amb, unm = hostile.ambiguous, hostile.unmatched
    seen_by_a = current(server)  # tab A reads the decisions (none yet)
    assert decide(server, {"set": unm.set, "query": unm.query, "pick": None})[0] == 200  # tab B
    doc = {
        "version": 1,
        "revision": seen_by_a["revision"],
        "decisions": [{"set": amb.set, "query": amb.query, "pick": None}],
    }
    status, _, body = post(server, doc)
    assert status == 409 and b"reload" in body
    assert on_disk(server) == {(unm.set, unm.query): None}
    status, _, _ = post(server, {k: v for k, v in doc.items() if k != "revision"})
    assert status == 409
    assert on_disk(server) == {(unm.set, unm.query): None}
    # Based on what is there now, the whole document is taken.
    doc["revision"] = current(server)["revision"]
    assert post(server, doc)[0] == 200
    assert on_disk(server) == {(amb.set, amb.query): None}


def test_two_servers_on_one_dir_keep_each_others_picks(served):
    hostile, first = served
    amb, unm = hostile.ambiguous, hostile.unmatched
    second = ReviewServer(hostile.out, hostile.run)  # a second `photomatch review DIR`
    second.start()
    try:
        assert decide(first, {"set": amb.set, "query": amb.query, "pick": None})[0] == 200
        assert decide(second, {"set": unm.set, "query": unm.query, "pick": None})[0] == 200
        both = {(amb.set, amb.query): None, (unm.set, unm.query): None}
        assert on_disk(first) == both
        assert picks(current(first)) == both  # a reload in the first server's tab shows it
    finally:
        second.shutdown()
        second.server_close()


BAD = {
    "not-a-candidate": {"pick": "/etc/passwd"},
    "unknown-thumbnail": {"query": "/elsewhere.jpg", "pick": None},
    "unknown-thumbnail-undo": {"query": "/elsewhere.jpg", "undo": True},
    "pick-and-undo": {"pick": None, "undo": True},
    "undo-false": {"undo": False},
    "undo-not-true": {"undo": "yes"},
    "pick-not-a-path": {"pick": 3},
    "no-pick": {},
    "no-set": {"set": None, "pick": None},
}


@pytest.mark.parametrize("case", [*BAD, "not-an-object"])
def test_bad_single_decisions_are_refused_and_keep_the_file(served, case):
    hostile, server = served
    amb = hostile.ambiguous
    assert decide(server, {"set": amb.set, "query": amb.query, "pick": None})[0] == 200
    path = os.path.join(server.root, "decisions.json")
    saved = open(path, "rb").read()
    if case == "not-an-object":
        body: object = [{"set": amb.set, "query": amb.query, "pick": None}]
    else:
        body = {"set": amb.set, "query": amb.query, **BAD[case]}
    status, _, _ = decide(server, body)
    assert status == 400
    assert open(path, "rb").read() == saved


# -- idle connections --------------------------------------------------------------------


def test_idle_connections_hold_at_most_max_connections_threads(served):
    _, server = served
    cap = review_server.MAX_CONNECTIONS
    # Threads started from now on (a thread of an earlier test that ends meanwhile
    # must not count against this server's; by object, as idents are reused).
    base = set(threading.enumerate())

    def started() -> int:
        return sum(t not in base for t in threading.enumerate())

    idle: list[socket.socket] = []
    try:
        for _ in range(cap + 8):
            idle.append(socket.create_connection(("127.0.0.1", server.port), timeout=10))
        # Wait until the server has taken up every connection it will take.
        deadline = time.monotonic() + 20
        while started() < cap and time.monotonic() < deadline:
            time.sleep(0.05)
        most = 0
        for _ in range(20):  # and a little longer, for any it should not have taken
            most = max(most, started())
            time.sleep(0.05)
        assert cap <= most <= cap, (most, cap)
        # A request made now waits for a free slot, and is served once there is one.
        answer: list[int] = []
        waiting = threading.Thread(
            target=lambda: answer.append(request(server, "GET", f"/{server.token}/decisions")[0])
        )
        waiting.start()
        for sock in idle[: cap // 2]:
            sock.close()
        waiting.join(20)
        assert answer == [200]
    finally:
        for sock in idle:
            sock.close()
    assert request(server, "GET", f"/{server.token}/review.html")[0] == 200


# -- two tabs in a real browser ------------------------------------------------------------


def test_two_browser_tabs_keep_each_others_picks(browser, expect, served):  # noqa: F811
    hostile, server = served
    amb, unm = hostile.ambiguous, hostile.unmatched
    origin = f"http://127.0.0.1:{server.port}/{server.token}/"
    tab_a = Watched(browser, (origin, "data:"))
    tab_b = Watched(browser, (origin, "data:"))
    try:
        tab_a.open(server.url)
        tab_b.open(server.url)  # both loaded before any pick
        a, b = tab_a.page, tab_b.page
        # Tab A: the hostile thumbnail (the first row), its third candidate.
        a.locator("#rows").click(position={"x": 2, "y": 2})
        assert row_name(a) == HOSTILE_THUMB
        a.keyboard.press("3")
        expect(a.locator("#save-state")).to_contain_text("saved: 1 pick")
        # Tab B, which never saw that pick: "none of these" on a5.jpg.
        b.locator(".qname", has_text="a5.jpg").click()
        assert row_name(b) == "a5.jpg"
        b.keyboard.press("n")
        expect(b.locator("#save-state")).to_contain_text("saved: 2 pick")
        path = os.path.join(server.root, "decisions.json")
        assert {k: d.pick for k, d in read_decisions(path).items()} == {
            (amb.set, amb.query): hostile.hostile_file,
            (unm.set, unm.query): None,
        }
        # Tab B shows tab A's pick once saved; tab A shows tab B's when reloaded.
        row = b.locator("section.row", has=b.locator(".qname", has_text=HOSTILE_THUMB))
        expect(row.locator(".decision")).to_contain_text("your pick: 3")
        tab_a.open(server.url)
        row = a.locator("section.row", has=a.locator(".qname", has_text="a5.jpg"))
        expect(row.locator(".decision")).to_contain_text("your pick: none of these")
        tab_a.check_clean()
        tab_b.check_clean()
    finally:
        tab_a.close()
        tab_b.close()
