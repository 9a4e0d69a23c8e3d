"""The review server against what tests/test_review_server.py does not try: other network
addresses, more ways to spell a way out of DIR, oversized request lines and headers, and
lengths that lie."""

from __future__ import annotations

import json
import os
import socket

import pytest
from test_review import build_hostile
from test_review_server import SECRET, request

from photomatch import review
from photomatch.review_server import MAX_BODY, ReviewServer


@pytest.fixture()
def served(sample, tmp_path):
    """As in test_review_server: hostile results served, a secret file beside DIR."""
    hostile = build_hostile(sample, tmp_path)
    review.write_review(hostile.run, hostile.out, progress=False)
    (tmp_path / "secret.txt").write_bytes(SECRET)
    server = ReviewServer(hostile.out, hostile.run)
    server.start()
    yield hostile, server
    server.shutdown()
    server.server_close()


def raw(server, data: bytes) -> bytes:
    """Send ``data`` as is; the server's whole answer (it closes after a refusal)."""
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
        sock.sendall(data)
        chunks = []
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    return b"".join(chunks)


def status_of(answer: bytes) -> int:
    return int(answer.split(b" ", 2)[1])


def other_addresses() -> list[str]:
    """This machine's non-loopback IPv4 addresses (none in some sandboxes)."""
    found = set()
    try:
        for info in socket.getaddrinfo(socket.gethostname(), None, socket.AF_INET):
            found.add(info[4][0])
    except OSError:
        pass
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        try:
            s.connect(("192.0.2.1", 9))  # no packet is sent: only picks the outgoing address
            found.add(s.getsockname()[0])
        except OSError:
            pass
    return sorted(a for a in found if not a.startswith("127."))


def test_nothing_answers_on_other_addresses(served):
    _, server = served
    for family, address in [(socket.AF_INET6, "::1")] + [
        (socket.AF_INET, a) for a in other_addresses()
    ]:
        try:
            sock = socket.socket(family, socket.SOCK_STREAM)
        except OSError:
            continue  # no IPv6 here
        with sock:
            sock.settimeout(5)
            assert sock.connect_ex((address, server.port)) != 0, address


@pytest.mark.parametrize(
    "rest",
    [
        "%c0%ae%c0%ae/secret.txt",  # overlong UTF-8 for '.'
        "%e0%80%ae%e0%80%ae/secret.txt",
        "previews/..%2f..%2fsecret.txt",
        "previews%2f..%2f..%2fsecret.txt",
        ".%2e/secret.txt",
        "%2e./secret.txt",
        "....//secret.txt",
        "review.html/../../secret.txt",
        "%5c..%5csecret.txt",  # an encoded backslash
        "/etc/passwd",  # the path after the token starts with '/'
        "%2fetc%2fpasswd",
        "%25%32%65%25%32%65/secret.txt",  # double-encoded ".."
        "previews/%2e%2e%00/secret.txt",
        "~/secret.txt",
        ".decisions-x.tmp",
        "matches.json/",
    ],
)
def test_more_ways_out_of_dir_are_refused(served, rest):
    _, server = served
    status, _, body = request(server, "GET", f"/{server.token}/{rest}")
    assert status == 404, rest
    assert SECRET not in body


@pytest.mark.parametrize("shape", ["suffix", "case", "encoded-slash", "query", "netloc"])
def test_near_misses_of_the_token_are_refused(served, shape):
    _, server = served
    path = {
        "suffix": f"/{server.token}x/review.html",
        "case": f"/{server.token.swapcase()}/review.html",
        "encoded-slash": f"/{server.token}%2Freview.html",
        "query": f"/review.html?{server.token}",
        "netloc": f"http://{server.token}/review.html",
    }[shape]
    if shape == "case" and server.token.swapcase() == server.token:
        pytest.skip("token has no letters")
    status, _, body = request(server, "GET", path)
    assert status == 403 and b"<!doctype" not in body


def test_a_huge_request_line_is_refused(served):
    _, server = served
    answer = raw(
        server, b"GET /" + server.token.encode() + b"/" + b"a" * 70000 + b" HTTP/1.1\r\n\r\n"
    )
    assert status_of(answer) == 414


def test_too_many_or_too_long_headers_are_refused(served):
    _, server = served
    start = f"GET /{server.token}/review.html HTTP/1.1\r\nHost: 127.0.0.1:{server.port}\r\n"
    many = start + "".join(f"X-{i}: y\r\n" for i in range(200)) + "\r\n"
    assert status_of(raw(server, many.encode())) == 431
    long = start + "X-Long: " + "y" * 70000 + "\r\n\r\n"
    assert status_of(raw(server, long.encode())) == 431


@pytest.mark.parametrize("length", ["-1", "1e9", "0x10", str(MAX_BODY + 1)])
def test_lying_or_huge_content_lengths_are_refused(served, length):
    _, server = served
    status, _, _ = request(
        server,
        "POST",
        f"/{server.token}/decisions",
        b"{}",
        {"Content-Type": "application/json", "Content-Length": length},
    )
    assert status in (411, 413), length
    assert not os.path.exists(os.path.join(server.root, "decisions.json"))


def test_a_body_of_the_largest_size_is_read_and_refused_cleanly(served):
    _, server = served
    body = b"[" + b" " * (MAX_BODY - 2) + b"]"
    status, _, answer = request(
        server, "POST", f"/{server.token}/decisions", body, {"Content-Type": "application/json"}
    )
    assert status == 400 and b"decisions refused" in answer
    # The server still serves afterwards.
    status, _, page = request(server, "GET", f"/{server.token}/decisions")
    assert status == 200 and json.loads(page)["decisions"] == []


def test_hostile_names_come_back_as_json_text(served):
    hostile, server = served
    amb = hostile.ambiguous
    pick = amb.candidates[2].path  # "<img src=x onerror=alert(1)>.jpg"
    entry = {"set": amb.set, "query": amb.query, "pick": pick}
    status, headers, body = request(
        server,
        "POST",
        f"/{server.token}/decision",
        json.dumps(entry).encode(),
        {"Content-Type": "application/json"},
    )
    assert status == 200 and headers["content-type"] == "application/json"
    assert headers["x-content-type-options"] == "nosniff"
    # JSON text, which nosniff keeps from being read as HTML.
    assert [{k: d[k] for k in entry} for d in json.loads(body)["decisions"]] == [entry]
