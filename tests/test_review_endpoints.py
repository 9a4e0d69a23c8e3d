"""The review server's on-demand requests: compare images and figures, capture
information, the album search and its previews, picks of searched files, and the
export. Every one is under the token, validated (only a thumbnail's own candidates,
or a file of the album index), and bad input is a 4xx with one line, never a traceback."""

from __future__ import annotations

import json
import os
import shutil
from urllib.parse import quote, urlencode

import pytest
import pyvips
from test_review import HOSTILE_FILE, build_hostile
from test_review_server import request
from test_safety_review import decide

from photomatch import review
from photomatch.index import AlbumIndex
from photomatch.results import read_decisions
from photomatch.review_server import ReviewServer

from albumcheck import fingerprint

#: An album file whose name looks like a way out when percent-decoded, with quotes.
ESCAPING = "%2e%2e%2f%2e%2e%2f'x\"y.jpg"


@pytest.fixture()
def tooled(sample, tmp_path):
    hostile = build_hostile(sample, tmp_path)
    shutil.copy2(hostile.hostile_file, os.path.join(hostile.run.album, "2024", ESCAPING))
    with AlbumIndex(hostile.run.album, hostile.run.index_path) as idx:
        idx.update()
    review.write_review(hostile.run, hostile.out, progress=False)
    server = ReviewServer(hostile.out, hostile.run)
    server.start()
    before = fingerprint(hostile.run.album)
    yield hostile, server
    server.shutdown()
    server.server_close()
    assert fingerprint(hostile.run.album) == before  # the album is only read


def get(server, rest: str, **params) -> tuple[int, dict[str, str], bytes]:
    query = urlencode(params) if params else ""
    return request(server, "GET", f"/{server.token}/{rest}" + (f"?{query}" if query else ""))


def row_of(hostile, result) -> int:
    return hostile.run.results.index(result)


def test_compare_figures_and_images_of_a_candidate(tooled):
    hostile, server = tooled
    r = row_of(hostile, hostile.ambiguous)
    status, headers, body = get(server, "compare", r=r, c=0)
    assert status == 200 and headers["content-type"] == "application/json"
    info = json.loads(body)
    assert info["ncc"] > 0.9 and info["rejected"] == "" and 0 < info["w"] <= 1
    sizes = {}
    for kind, ctype in (("thumb", "image/jpeg"), ("region", "image/jpeg"), ("diff", "image/png")):
        status, headers, body = get(server, "compare-image", r=r, c=0, kind=kind)
        assert status == 200 and headers["content-type"] == ctype
        assert (
            headers["cache-control"] == "no-store"
            and "default-src 'none'" in (headers["content-security-policy"])
        )
        image = pyvips.Image.new_from_buffer(body, "")
        sizes[kind] = (image.width, image.height)
    assert sizes["diff"] == sizes["thumb"] and sizes["region"][0] > sizes["thumb"][0]
    # The hostile-named candidate compares like any other.
    status, _, body = get(server, "compare", r=r, c=2)
    assert status == 200 and json.loads(body)["ncc"] > 0.9


def test_capture_of_a_thumbnails_candidates(tooled):
    hostile, server = tooled
    status, _, body = get(server, "capture", r=row_of(hostile, hostile.ambiguous))
    rows = json.loads(body)["candidates"]
    assert status == 200 and [c["path"] for c in rows] == [
        c.path for c in hostile.ambiguous.candidates
    ]
    assert rows[2]["folder"] == "2024" and rows[2]["bytes"] == os.path.getsize(hostile.hostile_file)


@pytest.mark.parametrize(
    ("rest", "params", "status"),
    [
        ("compare", {}, 400),
        ("compare", {"r": "0"}, 400),
        ("compare", {"r": "99", "c": "0"}, 404),
        ("compare", {"r": "-1", "c": "0"}, 404),
        ("compare", {"r": "0", "c": "5"}, 404),
        ("compare", {"r": "0", "c": "0x1"}, 404),
        ("compare", {"r": "0", "c": "1" * 40}, 404),
        ("compare", {"r": "0", "c": "0", "file": "2022/IMG_0501.jpg"}, 400),
        ("compare", {"r": "0", "file": "../../etc/passwd"}, 404),
        ("compare", {"r": "0", "file": "/etc/passwd"}, 404),
        ("compare", {"r": "0", "file": "notes.txt"}, 404),
        ("compare", {"r": "0", "file": "2023/holiday/IMG_1009.jpg"}, 404),
        ("compare-image", {"r": "0", "c": "0", "kind": "exif"}, 400),
        ("compare-image", {"r": "0", "c": "0"}, 400),
        ("capture", {"r": "x"}, 404),
        ("search", {}, 400),
        ("search", {"from": "last week"}, 400),
        ("album-preview", {"file": "%2e%2e/%2e%2e/etc/passwd"}, 404),
        ("album-preview", {"file": "2022/../../x.jpg"}, 404),
        ("album-preview", {}, 400),
    ],
)
def test_bad_requests_are_refused_in_one_line(tooled, rest, params, status):
    _, server = tooled
    got, headers, body = get(server, rest, **params)
    assert got == status, body
    assert headers["content-type"].startswith("text/plain") and body.count(b"\n") == 1
    assert b"Traceback" not in body


def test_a_repeated_or_undecodable_parameter_is_refused(tooled):
    _, server = tooled
    for query in ("r=0&r=1&c=0", "r=%ff&c=0", "&".join(f"x{n}=1" for n in range(40))):
        status, _, body = request(server, "GET", f"/{server.token}/compare?{query}")
        assert status == 400 and b"Traceback" not in body


def test_every_tool_needs_the_token(tooled):
    _, server = tooled
    for rest in ("compare?r=0&c=0", "search?name=img", "album-preview?file=2022/IMG_0501.jpg"):
        assert request(server, "GET", f"/{rest}")[0] == 403
        assert request(server, "GET", f"/not-the-token/{rest}")[0] == 403


@pytest.mark.parametrize("damage", ["garbage", "cut"])
def test_a_thumbnail_that_cannot_be_decoded_any_more(tooled, damage):
    hostile, server = tooled
    data = open(hostile.matched.query, "rb").read()
    with open(hostile.matched.query, "wb") as fh:
        fh.write(b"gone bad" if damage == "garbage" else data[: len(data) // 2])
    status, _, body = get(server, "compare", r=row_of(hostile, hostile.matched), c=0)
    assert status == 422 and body.startswith(b"cannot decode") and body.count(b"\n") == 1


def test_search_finds_hostile_names_as_data(tooled):
    hostile, server = tooled
    status, _, body = get(server, "search", name="onerror")
    files = json.loads(body)["files"]
    assert status == 200 and [f["rel"] for f in files] == [f"2024/{HOSTILE_FILE}"]
    assert files[0]["path"] == hostile.hostile_file and files[0]["bytes"] > 0
    status, headers, body = get(server, "album-preview", file=files[0]["rel"])
    assert status == 200 and headers["content-type"] == "image/jpeg"
    assert max(pyvips.Image.new_from_buffer(body, "").width, 1) <= review.PREVIEW_SIZE
    status, _, body = get(server, "search", folder="burst", **{"from": "2000-01-01"})
    assert status == 200 and len(json.loads(body)["files"]) == 3
    # A searched file compares with the thumbnail like a candidate.
    r = row_of(hostile, hostile.unmatched)
    status, _, body = get(server, "compare", r=r, file="2023/sky/IMG_1003.jpg")
    assert status == 200 and "ncc" in json.loads(body)


def test_a_searched_file_can_be_picked_and_nothing_else(tooled):
    hostile, server = tooled
    unm = hostile.unmatched
    picked = os.path.join(hostile.run.album, "2022", "IMG_0501.jpg")  # not a candidate of it
    status, _, _ = decide(server, {"set": unm.set, "query": unm.query, "pick": picked})
    assert status == 200
    assert (
        read_decisions(os.path.join(server.root, "decisions.json"))[(unm.set, unm.query)].pick
        == picked
    )
    for bad in ("/etc/passwd", os.path.join(hostile.run.album, "notes.txt"), "2022/IMG_0501.jpg"):
        status, _, body = decide(server, {"set": unm.set, "query": unm.query, "pick": bad})
        assert status == 400 and b"nor a file of the album" in body


def export(server, body: object) -> tuple[int, bytes]:
    data = json.dumps(body).encode()
    status, _, answer = request(
        server,
        "POST",
        f"/{server.token}/export",
        data,
        {"Content-Type": "application/json", "Host": f"127.0.0.1:{server.port}"},
    )
    return status, answer


def test_export_from_the_page(tooled, tmp_path):
    hostile, server = tooled
    amb = hostile.ambiguous
    pick = {"set": amb.set, "query": amb.query, "pick": hostile.hostile_file}
    assert decide(server, pick)[0] == 200
    dest = tmp_path / "exported"
    status, body = export(server, {"dest": str(dest)})
    doc = json.loads(body)
    assert status == 200 and doc["dest"] == str(dest) and doc["counts"] == {"copied": 2}
    copied = dest / amb.set / HOSTILE_FILE
    assert copied.read_bytes() == open(hostile.hostile_file, "rb").read()
    assert (dest / "manifest.csv").is_file() and doc["manifest"] == str(dest / "manifest.csv")
    # Again: nothing copied twice.
    assert json.loads(export(server, {"dest": str(dest)})[1])["counts"] == {"exists": 2}


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"dest": 3},
        {"dest": "relative/folder"},
        {"dest": ""},
        {"dest": "/tmp/x\u0000y"},
        {"dest": "/tmp/x", "mode": "move"},
        [],
    ],
)
def test_export_refuses_bad_requests(tooled, body):
    _, server = tooled
    status, answer = export(server, body)
    assert status == 400 and answer.startswith(b"export refused") and b"Traceback" not in answer


def test_export_refuses_the_album(tooled):
    hostile, server = tooled
    for dest in (hostile.run.album, os.path.join(hostile.run.album, "2024", "out")):
        status, answer = export(server, {"dest": dest})
        assert status == 400 and b"inside the album" in answer
    assert not os.path.exists(os.path.join(hostile.run.album, "2024", "out"))


def test_export_needs_the_token_and_our_origin(tooled, tmp_path):
    _, server = tooled
    body = json.dumps({"dest": str(tmp_path / "d")}).encode()
    headers = {"Content-Type": "application/json"}
    assert request(server, "POST", "/export", body, headers)[0] == 403
    evil = {**headers, "Origin": "http://evil.example"}
    assert request(server, "POST", f"/{server.token}/export", body, evil)[0] == 403
    assert not (tmp_path / "d").exists()


def test_quoted_names_travel_in_urls(tooled):
    hostile, server = tooled
    rel = f"2024/{HOSTILE_FILE}"
    path = f"/{server.token}/album-preview?file={quote(rel, safe='')}"
    assert request(server, "GET", path)[0] == 200


def test_a_name_that_decodes_to_a_way_out_is_only_a_name(tooled):
    hostile, server = tooled
    name = ESCAPING
    path = os.path.join(hostile.run.album, "2024", name)
    status, _, body = get(server, "search", name="%2e%2e")
    assert status == 200 and [f["rel"] for f in json.loads(body)["files"]] == [f"2024/{name}"]
    assert get(server, "album-preview", file=f"2024/{name}")[0] == 200
    # Decoded once, by the server: "%2e%2e%2f" is never "../".
    assert get(server, "album-preview", file="2024/../2024/x.jpg")[0] == 404
    unm = hostile.unmatched
    assert decide(server, {"set": unm.set, "query": unm.query, "pick": path})[0] == 200
    saved = read_decisions(os.path.join(server.root, "decisions.json"))
    assert saved[(unm.set, unm.query)].pick == path


def test_nearest_album_files_however_far(tooled):
    hostile, server = tooled
    status, _, body = get(server, "nearest", r=row_of(hostile, hostile.matched))
    files = json.loads(body)["files"]
    assert status == 200 and 1 <= len(files) <= 8
    assert files[0]["path"] == hostile.matched.match and files[0]["distance"] <= 4
    assert [f["distance"] for f in files] == sorted(f["distance"] for f in files)
    assert len({f["path"] for f in files}) == len(files) and files[0]["view"]
    assert all(f["rel"] != "2023/holiday/IMG_1009.jpg" for f in files)  # unreadable
    assert get(server, "nearest", r="77")[0] == 404
    os.remove(hostile.run.index_path)
    status, _, body = get(server, "nearest", r=0)
    assert status == 503 and body.startswith(b"cannot read")


def test_a_failure_of_the_server_itself_is_one_line_and_it_goes_on(tooled, monkeypatch):
    _, server = tooled

    def broken(params):
        raise RuntimeError("a bug\nover two lines")

    monkeypatch.setattr(server.tools, "captures", broken)
    status, _, body = get(server, "capture", r=0)
    assert (
        status == 500 and body == b"photomatch review failed: RuntimeError: a bug over two lines\n"
    )
    assert get(server, "compare", r=0, c=0)[0] == 200
