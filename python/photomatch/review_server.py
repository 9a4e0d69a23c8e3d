"""The small local server behind ``photomatch review DIR``: serves the page, saves decisions.

It listens on 127.0.0.1 only. Every URL starts with a random token
(``/<token>/review.html``), so another user of the machine, or a web page in
the browser guessing ports, can neither read the results nor change the
decisions. It serves regular files inside DIR and nothing else: no ``..``, no
hidden names, no absolute or percent-encoded way out, no symlink leading
outside. ``POST /<token>/decisions`` takes the whole decisions document (JSON,
at most ``MAX_BODY`` bytes), checks every pick against ``matches.json`` and
writes ``decisions.json`` atomically; ``GET /<token>/decisions`` returns it.
"""

from __future__ import annotations

import hmac
import json
import os
import secrets
import shutil
import sys
import threading
from collections.abc import Mapping
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import unquote, urlsplit

from .results import (
    Decision,
    MatchRun,
    check_decisions,
    decisions_dict,
    decisions_path,
    parse_decisions,
    write_decisions,
)
from .review import REVIEW_NAME

HOST = "127.0.0.1"
#: Largest request body accepted, in bytes (a decisions document for thousands of thumbnails).
MAX_BODY = 4 * 1024 * 1024
_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".jpg": "image/jpeg",
    ".json": "application/json",
    ".csv": "text/csv; charset=utf-8",
}
_CSP = (
    "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; "
    "img-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'none'; "
    "frame-ancestors 'none'"
)


class ReviewServer(ThreadingHTTPServer):
    """Serves ``out_dir`` and saves decisions for ``run`` (see the module doc).

    ``port=0`` takes any free port. ``url`` is the page's address, token included.
    """

    daemon_threads = True
    allow_reuse_address = False

    def __init__(
        self,
        out_dir: str,
        run: MatchRun,
        decisions: Mapping[tuple[str, str], Decision] | None = None,
        port: int = 0,
        token: str | None = None,
        log: bool = False,
    ) -> None:
        self.root = os.path.realpath(out_dir)
        self.run = run
        self.decisions = dict(decisions or {})
        self.token = token or secrets.token_urlsafe(24)
        self.log = log
        self.lock = threading.Lock()
        super().__init__((HOST, port), _Handler)

    @property
    def port(self) -> int:
        return int(self.server_address[1])

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}/{self.token}/{REVIEW_NAME}"

    def start(self) -> threading.Thread:
        """Serve in a daemon thread (for tests and embedding); ``shutdown()`` stops it."""
        thread = threading.Thread(
            target=self.serve_forever,
            kwargs={"poll_interval": 0.05},
            name="photomatch-review",
            daemon=True,
        )
        thread.start()
        return thread

    def resolve(self, rel: str) -> str | None:
        """The regular file inside DIR that ``rel`` (decoded, ``/``-separated) names, else None."""
        if not rel or "\0" in rel or "\\" in rel:
            return None
        parts = rel.split("/")
        if any(p in ("", ".", "..") or p.startswith(".") for p in parts):
            return None
        real = os.path.realpath(os.path.join(self.root, *parts))
        if os.path.commonpath([real, self.root]) != self.root or not os.path.isfile(real):
            return None
        return real

    def save(self, data: object) -> dict:
        """Replace the decisions with ``data`` (their JSON form) and write them to disk."""
        decisions = parse_decisions(data)
        valid, problems = check_decisions(self.run, decisions.values())
        if problems:
            raise ValueError(problems[0])
        with self.lock:
            write_decisions(decisions_path(self.root), valid)
            self.decisions = valid
        if self.log:
            print(f"saved {len(valid)} decision(s) to decisions.json", file=sys.stderr, flush=True)
        return decisions_dict(valid)

    def current(self) -> dict:
        with self.lock:
            return decisions_dict(self.decisions)


class _Handler(BaseHTTPRequestHandler):
    server: ReviewServer
    server_version = "photomatch-review"
    sys_version = ""
    protocol_version = "HTTP/1.1"
    #: Seconds a connection may stay silent before it is dropped.
    timeout = 30

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - stdlib signature
        """Silent: the default logs every URL, token included, on stderr."""

    # -- routing ---------------------------------------------------------------

    def _route(self) -> str | None:
        """The request's path after the token, percent-decoded; None (after a reply) if refused."""
        host = self.headers.get("Host", "")
        if host not in (f"{HOST}:{self.server.port}", f"localhost:{self.server.port}"):
            self._reply(HTTPStatus.FORBIDDEN, "wrong host\n")
            return None
        path = urlsplit(self.path).path
        token, _, rest = path[1:].partition("/")
        if not path.startswith("/") or not hmac.compare_digest(
            token.encode("utf-8", "surrogateescape"), self.server.token.encode()
        ):
            self._reply(HTTPStatus.FORBIDDEN, "forbidden\n")
            return None
        return unquote(rest, errors="strict") if "%" in rest else rest

    def do_GET(self) -> None:  # noqa: N802 - stdlib name
        self._get(send_body=True)

    def do_HEAD(self) -> None:  # noqa: N802 - stdlib name
        self._get(send_body=False)

    def _get(self, send_body: bool) -> None:
        try:
            rest = self._route()
        except UnicodeDecodeError:
            self._reply(HTTPStatus.NOT_FOUND, "not found\n")
            return
        if rest is None:
            return
        if rest == "":
            self.send_response(HTTPStatus.FOUND)
            self.send_header("Location", REVIEW_NAME)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        if rest == "decisions":
            self._reply(HTTPStatus.OK, self.server.current(), send_body=send_body)
            return
        real = self.server.resolve(rest)
        if real is None:
            self._reply(HTTPStatus.NOT_FOUND, "not found\n", send_body=send_body)
            return
        try:
            fh = open(real, "rb")  # noqa: SIM115 - closed below
        except OSError:
            self._reply(HTTPStatus.NOT_FOUND, "not found\n", send_body=send_body)
            return
        with fh:
            size = os.fstat(fh.fileno()).st_size
            self.send_response(HTTPStatus.OK)
            ctype = _TYPES.get(os.path.splitext(real)[1].lower(), "application/octet-stream")
            self._common_headers(ctype, size)
            self.end_headers()
            if send_body:
                shutil.copyfileobj(fh, self.wfile)

    def do_POST(self) -> None:  # noqa: N802 - stdlib name
        try:
            rest = self._route()
        except UnicodeDecodeError:
            rest = ""
        if rest is None:
            return
        if rest != "decisions":
            self._reply(HTTPStatus.NOT_FOUND, "not found\n")
            return
        origin = self.headers.get("Origin")
        if origin is not None and origin not in (
            f"http://{HOST}:{self.server.port}",
            f"http://localhost:{self.server.port}",
        ):
            self._reply(HTTPStatus.FORBIDDEN, "wrong origin\n")
            return
        if self.headers.get_content_type() != "application/json":
            self._reply(HTTPStatus.UNSUPPORTED_MEDIA_TYPE, "send application/json\n")
            return
        try:
            length = int(self.headers.get("Content-Length", ""))
        except ValueError:
            self._reply(HTTPStatus.LENGTH_REQUIRED, "Content-Length required\n")
            return
        if length < 0 or length > MAX_BODY:
            self._reply(HTTPStatus.REQUEST_ENTITY_TOO_LARGE, f"at most {MAX_BODY} bytes\n")
            return
        body = self.rfile.read(length)
        try:
            doc = self.server.save(json.loads(body))
        except (ValueError, RecursionError) as exc:
            self._reply(HTTPStatus.BAD_REQUEST, f"decisions refused: {exc}\n")
            return
        except OSError as exc:
            self._reply(
                HTTPStatus.INTERNAL_SERVER_ERROR,
                f"cannot write decisions.json: {exc.strerror or exc}\n",
            )
            return
        self._reply(HTTPStatus.OK, doc)

    # -- replies ---------------------------------------------------------------

    def _common_headers(self, ctype: str, length: int) -> None:
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(length))
        self.send_header("Cache-Control", "no-store")
        self.send_header("X-Content-Type-Options", "nosniff")
        self.send_header("Referrer-Policy", "no-referrer")
        self.send_header("Cross-Origin-Resource-Policy", "same-origin")
        self.send_header("Content-Security-Policy", _CSP)

    def _reply(self, status: HTTPStatus, body: str | dict, send_body: bool = True) -> None:
        if isinstance(body, dict):
            data = json.dumps(body, ensure_ascii=True).encode()
            ctype = "application/json"
        else:
            data = body.encode()
            ctype = "text/plain; charset=utf-8"
        if status >= 400:
            # A refused request's body may be unread: never parse it as the next request.
            self.close_connection = True
        self.send_response(status)
        self._common_headers(ctype, len(data))
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        if send_body:
            self.wfile.write(data)
