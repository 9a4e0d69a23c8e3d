"""The review server: 127.0.0.1 only, a token on every request, files inside DIR only,
bounded requests, decisions checked and saved atomically; and ``photomatch review``."""

from __future__ import annotations

import http.client
import json
import os
import signal
import socket
import socketserver
import subprocess
import sys
import time

import pytest
from test_review import build_hostile

from photomatch import review
from photomatch.results import read_decisions
from photomatch.review_server import MAX_BODY, MAX_CONNECTIONS, ReviewServer

from albumcheck import fingerprint
from genalbum import interruptible

SECRET = b"the contents of a file outside DIR"


@pytest.fixture()
def served(sample, tmp_path):
    hostile = build_hostile(sample, tmp_path)
    review.write_review(hostile.run, hostile.out, progress=False)
    (tmp_path / "secret.txt").write_bytes(SECRET)
    os.symlink(tmp_path / "secret.txt", os.path.join(hostile.out, "link.txt"))
    server = ReviewServer(hostile.out, hostile.run)
    server.start()
    yield hostile, server
    server.shutdown()
    server.server_close()


def request(
    server: ReviewServer,
    method: str,
    path: str,
    body: bytes | None = None,
    headers: dict[str, str] | None = None,
) -> tuple[int, dict[str, str], bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    try:
        conn.putrequest(
            method, path, skip_host="Host" in (headers or {}), skip_accept_encoding=True
        )
        for name, value in (headers or {}).items():
            conn.putheader(name, value)
        if body is not None and "Content-Length" not in (headers or {}):
            conn.putheader("Content-Length", str(len(body)))
        conn.endheaders(body)
        resp = conn.getresponse()
        return resp.status, {k.lower(): v for k, v in resp.getheaders()}, resp.read()
    finally:
        conn.close()


def post(server, doc, headers=None):
    return request(
        server,
        "POST",
        f"/{server.token}/decisions",
        json.dumps(doc).encode(),
        {"Content-Type": "application/json", **(headers or {})},
    )


def current(server) -> dict:
    """``GET /<token>/decisions``: the decisions document, with its ``revision``."""
    status, _, body = request(server, "GET", f"/{server.token}/decisions")
    assert status == 200
    return json.loads(body)


def based(server, doc: dict) -> dict:
    """``doc`` as a whole-document write based on the decisions as they are now."""
    return {**doc, "revision": current(server)["revision"]}


def picks(doc: dict) -> dict:
    return {(d["set"], d["query"]): d["pick"] for d in doc["decisions"]}


def test_serves_the_page_with_the_token_on_127_0_0_1_only(served):
    _, server = served
    assert server.server_address[0] == "127.0.0.1"
    assert len(server.token) >= 32
    assert server.url == f"http://127.0.0.1:{server.port}/{server.token}/review.html"
    status, headers, body = request(server, "GET", f"/{server.token}/review.html")
    assert status == 200 and headers["content-type"].startswith("text/html")
    assert body.startswith(b"<!doctype html>")
    assert headers["cache-control"] == "no-store" and headers["x-content-type-options"] == "nosniff"
    assert "default-src 'none'" in headers["content-security-policy"]
    status, headers, _ = request(server, "GET", f"/{server.token}/")
    assert status == 302 and headers["location"] == "review.html"
    other = ReviewServer(server.root, server.run)
    try:
        assert other.token != server.token
    finally:
        other.server_close()


@pytest.mark.parametrize(
    "path",
    [
        "/review.html",
        "/decisions",
        "/{wrong}/review.html",
        "/{short}/review.html",
        "/%2f{token}/review.html",
    ],
)
def test_refuses_requests_without_the_token(served, path):
    _, server = served
    path = path.format(wrong="x" * len(server.token), short=server.token[:-1], token=server.token)
    status, _, body = request(server, "GET", path)
    assert status == 403 and b"<!doctype" not in body
    status, _, _ = request(
        server,
        "POST",
        path.replace("review.html", "decisions"),
        b'{"version": 1, "decisions": []}',
        {"Content-Type": "application/json"},
    )
    assert status == 403
    assert not os.path.exists(os.path.join(server.root, "decisions.json"))


@pytest.mark.parametrize(
    "rest",
    [
        "../secret.txt",
        "%2e%2e/secret.txt",
        "%2E%2E%2Fsecret.txt",
        "..%2fsecret.txt",
        "previews/../../secret.txt",
        "previews/%2e%2e/%2e%2e/secret.txt",
        "%252e%252e/secret.txt",
        "/" + "{tmp}/secret.txt",
        "%2f{tmp}/secret.txt",
        "..\\secret.txt",
        "link.txt",
        "previews",
        ".",
        "%00",
        "%ff%fe",
        "matches.json%00.jpg",
    ],
)
def test_refuses_paths_outside_dir(served, rest):
    hostile, server = served
    rest = rest.format(tmp=os.path.dirname(server.root).lstrip("/"))
    status, _, body = request(server, "GET", f"/{server.token}/{rest}")
    assert status == 404, rest
    assert SECRET not in body


def test_serves_files_inside_dir_only(served):
    hostile, server = served
    status, headers, body = request(server, "GET", f"/{server.token}/matches.json")
    assert status == 200 and json.loads(body)["album"] == hostile.run.album
    preview = next(
        n for n in sorted(os.listdir(os.path.join(server.root, "previews"))) if n.endswith(".jpg")
    )
    status, headers, body = request(server, "GET", f"/{server.token}/previews/{preview}")
    assert status == 200 and headers["content-type"] == "image/jpeg" and body[:2] == b"\xff\xd8"
    status, _, body = request(server, "HEAD", f"/{server.token}/previews/{preview}")
    assert status == 200 and body == b""
    status, _, _ = request(server, "DELETE", f"/{server.token}/matches.json")
    assert status == 501
    status, _, _ = request(server, "PUT", f"/{server.token}/matches.json", b"x")
    assert status == 501


def test_refuses_another_host_name(served):
    _, server = served  # DNS rebinding: a page on evil.example resolving to 127.0.0.1
    status, _, _ = request(
        server, "GET", f"/{server.token}/review.html", headers={"Host": "evil.example"}
    )
    assert status == 403


def test_saves_decisions_checked_and_atomically(served):
    hostile, server = served
    amb = hostile.ambiguous
    pick = amb.candidates[2].path  # the file with the hostile name
    doc = {"version": 1, "decisions": [{"set": amb.set, "query": amb.query, "pick": pick}]}
    before = fingerprint(hostile.run.album)
    status, headers, body = post(server, based(server, doc))
    assert status == 200, body
    assert picks(json.loads(body)) == {(amb.set, amb.query): pick}
    path = os.path.join(server.root, "decisions.json")
    assert read_decisions(path)[(amb.set, amb.query)].pick == pick
    assert current(server)["revision"] == json.loads(body)["revision"]
    assert picks(current(server)) == {(amb.set, amb.query): pick}
    assert not [n for n in os.listdir(server.root) if n.startswith(".")]  # no temp file left
    # "None of these", then back to no decision at all.
    doc["decisions"][0]["pick"] = None
    assert post(server, based(server, doc))[0] == 200
    assert read_decisions(path)[(amb.set, amb.query)].pick is None
    assert post(server, based(server, {"version": 1, "decisions": []}))[0] == 200
    assert read_decisions(path) == {}
    assert fingerprint(hostile.run.album) == before


@pytest.mark.parametrize(
    "case",
    ["not-a-candidate", "unknown-thumbnail", "not-json", "deep", "wrong-type", "bad-shape"],
)
def test_refuses_bad_decisions_and_keeps_the_file(served, case):
    hostile, server = served
    amb = hostile.ambiguous
    good = {"version": 1, "decisions": [{"set": amb.set, "query": amb.query, "pick": None}]}
    assert post(server, based(server, good))[0] == 200
    path = os.path.join(server.root, "decisions.json")
    saved = open(path, "rb").read()
    entry = {"set": amb.set, "query": amb.query, "pick": "/etc/passwd"}
    headers = {"Content-Type": "application/json"}
    if case == "unknown-thumbnail":
        entry = {"set": amb.set, "query": "/elsewhere.jpg", "pick": None}
    body = json.dumps(based(server, {"version": 1, "decisions": [entry]})).encode()
    if case == "not-json":
        body = b"{nope"
    elif case == "deep":
        body = b"[" * 100000
    elif case == "wrong-type":
        headers = {"Content-Type": "text/plain"}
    elif case == "bad-shape":
        body = b'{"version": 1, "decisions": [1, 2]}'
    status, _, _ = request(server, "POST", f"/{server.token}/decisions", body, headers)
    assert status == (415 if case == "wrong-type" else 400)
    assert open(path, "rb").read() == saved


def test_bounds_the_request_size(served):
    _, server = served
    status, _, _ = request(
        server,
        "POST",
        f"/{server.token}/decisions",
        b"",
        {"Content-Type": "application/json", "Content-Length": str(MAX_BODY + 1)},
    )
    assert status == 413
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    conn.putrequest("POST", f"/{server.token}/decisions")
    conn.putheader("Content-Type", "application/json")
    conn.putheader("Transfer-Encoding", "chunked")
    conn.endheaders()
    assert conn.getresponse().status == 411
    conn.close()


def test_refuses_a_post_from_another_origin(served):
    hostile, server = served
    empty = based(server, {"version": 1, "decisions": []})
    status, _, _ = post(server, empty, {"Origin": "https://evil.example"})
    assert status == 403
    amb = hostile.ambiguous
    one = json.dumps({"set": amb.set, "query": amb.query, "pick": None}).encode()
    for origin, expected in (("https://evil.example", 403), ("null", 403)):
        status, _, _ = request(
            server,
            "POST",
            f"/{server.token}/decision",
            one,
            {"Content-Type": "application/json", "Origin": origin},
        )
        assert status == expected
    assert not os.path.exists(os.path.join(server.root, "decisions.json"))
    status, _, _ = post(server, empty, {"Origin": f"http://127.0.0.1:{server.port}"})
    assert status == 200


# -- the command ---------------------------------------------------------------------------


def test_review_command_serves_until_interrupted(sample, tmp_path):
    hostile = build_hostile(sample, tmp_path)
    before = fingerprint(sample.album)
    proc = subprocess.Popen(
        [sys.executable, "-m", "photomatch.cli", "review", hostile.out, "--no-browser", "-q"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
        preexec_fn=interruptible,
    )
    try:
        line = proc.stdout.readline()
        assert line.startswith("review page: http://127.0.0.1:"), proc.stderr.read()
        url = line.split(": ", 1)[1].strip()
        host_port, path = url[len("http://") :].split("/", 1)
        conn = http.client.HTTPConnection(host_port, timeout=10)
        conn.request("GET", "/" + path)
        resp = conn.getresponse()
        assert resp.status == 200 and b"photomatch-data" in resp.read()
        conn.close()
        assert os.path.isfile(os.path.join(hostile.out, "review.html"))
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, proc.stderr.read()
    assert fingerprint(sample.album) == before


def test_review_command_refuses_a_results_folder_inside_the_album(sample, tmp_path, capsys):
    from photomatch.cli import main

    hostile = build_hostile(sample, tmp_path)
    inside = os.path.join(sample.album, "results")
    os.mkdir(inside)
    for name in ("matches.json", "matches.csv"):
        os.link(os.path.join(hostile.out, name), os.path.join(inside, name))
    before = fingerprint(sample.album)
    start = time.monotonic()
    code = main(["review", inside, "--no-browser", "-q"])
    err = capsys.readouterr().err
    assert code == 2 and "inside the album" in err
    assert time.monotonic() - start < 60
    assert fingerprint(sample.album) == before


def free_slots(server: ReviewServer) -> int:
    taken = 0
    while server._slots.acquire(blocking=False):
        taken += 1
    for _ in range(taken):
        server._slots.release()
    return taken


def test_a_ctrl_c_while_a_connection_starts_leaves_its_slot_to_its_thread(served, monkeypatch):
    # Ctrl-C can land in the server loop just after the connection's thread
    # started: the slot is then the thread's to release, once (a second release
    # used to raise over the KeyboardInterrupt, and the server went on serving).
    _, server = served
    real = socketserver.ThreadingMixIn.process_request

    def started_then_interrupted(self, request, client_address):
        real(self, request, client_address)
        raise KeyboardInterrupt

    monkeypatch.setattr(socketserver.ThreadingMixIn, "process_request", started_then_interrupted)
    ours, theirs = socket.socketpair()
    with pytest.raises(KeyboardInterrupt):
        server.process_request(ours, ("127.0.0.1", 0))
    assert free_slots(server) == MAX_CONNECTIONS - 1  # the thread still serves it
    theirs.close()  # the client goes: the thread finishes and gives the slot back
    deadline = time.monotonic() + 10
    while free_slots(server) < MAX_CONNECTIONS and time.monotonic() < deadline:
        time.sleep(0.01)
    assert free_slots(server) == MAX_CONNECTIONS
