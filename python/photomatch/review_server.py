"""The small local server behind ``photomatch review DIR``: serves the page, saves decisions.

It listens on 127.0.0.1 only. Every URL starts with a random token
(``/<token>/review.html``), so another user of the machine, or a web page in
the browser guessing ports, can neither read the results nor change the
decisions. It serves regular files inside DIR and nothing else: no ``..``, no
hidden names, no absolute or percent-encoded way out, no symlink leading
outside.

Decisions: ``POST /<token>/decision`` takes one thumbnail's decision (JSON,
``{"set", "query", "pick"}``, or ``{"set", "query", "undo": true}`` to drop it),
checks it against ``matches.json``, merges it into the others and writes
``decisions.json`` atomically, so two tabs (or two servers on one DIR) each add
their own picks and never wipe each other's. ``GET /<token>/decisions`` returns
the whole document with its ``revision``; ``POST /<token>/decisions`` replaces the
whole document only when it carries the revision it was based on, and answers 409
when the decisions changed since. Request bodies are at most ``MAX_BODY`` bytes.

On demand, for the page (``review_tools``; GET, under the token, parameters
in the query string): ``compare`` (where thumbnail ``r`` fits candidate ``c``,
or album file ``file``), ``compare-image`` (``kind`` thumb, region or diff),
``capture`` (capture time, camera, sizes of ``r``'s candidates), ``nearest``
(the album files nearest ``r`` in hash, however far), ``search``
(``name``, ``folder``, ``from``, ``to`` over the album index) and
``album-preview`` (``file``). ``POST /<token>/export`` (``{"dest": FOLDER}``)
runs ``photomatch export`` with the decisions saved now. Bad input is a 4xx
with one line of text.

At most ``MAX_CONNECTIONS`` connections are served at once (a thread each, an
idle one dropped after ``_Handler.timeout`` seconds); more wait their turn.

``open_browser`` opens the page through a redirect file only its user can read,
so the token never appears on a browser's command line (which every user of the
machine can list).
"""

from __future__ import annotations

import hashlib
import hmac
import html
import json
import os
import secrets
import shutil
import socket
import sqlite3
import sys
import tempfile
import threading
import webbrowser
from collections.abc import Callable, Mapping
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, quote, unquote, urlsplit

from .errors import DecodeError, PhotomatchError
from .results import (
    Decision,
    MatchRun,
    check_decisions,
    decisions_dict,
    decisions_path,
    parse_decisions,
    read_decisions,
    write_decisions,
)
from .review import REVIEW_NAME
from .review_tools import ReviewTools

HOST = "127.0.0.1"
#: Largest request body accepted, in bytes (a decisions document for thousands of thumbnails).
MAX_BODY = 4 * 1024 * 1024
#: Connections served at once (a browser keeps about 6 per tab open); more wait.
MAX_CONNECTIONS = 32
_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".jpg": "image/jpeg",
    ".json": "application/json",
    ".csv": "text/csv; charset=utf-8",
}
#: Most query parameters a request may carry.
_MAX_FIELDS = 8
_CSP = (
    "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; "
    "img-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'none'; "
    "frame-ancestors 'none'"
)


#: The page's on-demand requests (``ReviewTools``), all GET.
_TOOLS = frozenset({"compare", "compare-image", "capture", "search", "album-preview", "nearest"})


class Conflict(ValueError):
    """A whole-document write based on decisions that have changed since."""


def _signature(path: str) -> tuple[int, int, int] | None:
    """What tells one version of ``path`` from another (it is replaced by a rename)."""
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return None
    return (st.st_ino, st.st_size, st.st_mtime_ns)


class ReviewServer(ThreadingHTTPServer):
    """Serves ``out_dir`` and saves decisions for ``run`` (see the module doc).

    ``port=0`` takes any free port. ``url`` is the page's address, token included.
    """

    daemon_threads = True
    allow_reuse_address = False
    #: Connections the kernel holds while all ``MAX_CONNECTIONS`` are busy.
    request_queue_size = 64

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
        self._seen = _signature(decisions_path(self.root))
        self._slots = threading.BoundedSemaphore(MAX_CONNECTIONS)
        #: Connections holding a slot that no thread has taken over yet: the
        #: slot is released exactly once, by the thread or, when starting it
        #: failed or was interrupted (Ctrl-C), by ``process_request``.
        self._unclaimed: set[int] = set()
        self._claims = threading.Lock()
        self._stopping = False
        self._redirect_dir: str | None = None
        #: The compare view, capture information, album search and export.
        self.tools = ReviewTools(run)
        self._exporting = threading.Lock()
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

    # -- decisions -------------------------------------------------------------

    def _sync(self) -> None:
        """Adopt ``decisions.json`` if something else changed it since this server read or
        wrote it (another ``photomatch review`` of DIR, an editor). Called under the lock."""
        path = decisions_path(self.root)
        seen = _signature(path)
        if seen == self._seen:
            return
        try:
            found = read_decisions(path)
        except ValueError:
            return  # damaged: keep what this server has; its next write replaces the file
        self.decisions, _ = check_decisions(self.run, found.values())
        self._seen = seen

    def _write(self, decisions: dict[tuple[str, str], Decision]) -> None:
        """Write ``decisions`` atomically and make them current. Called under the lock."""
        path = decisions_path(self.root)
        write_decisions(path, decisions)
        self.decisions = decisions
        self._seen = _signature(path)
        if self.log:
            print(
                f"saved {len(decisions)} decision(s) to decisions.json",
                file=sys.stderr,
                flush=True,
            )

    def _document(self) -> dict[str, Any]:
        """The decisions' JSON form with their ``revision``. Called under the lock."""
        doc = decisions_dict(self.decisions)
        text = json.dumps(doc, sort_keys=True, ensure_ascii=True)
        doc["revision"] = hashlib.sha256(text.encode()).hexdigest()[:20]
        return doc

    def save(self, data: object) -> dict[str, Any]:
        """Replace the decisions with ``data`` (their JSON form) and write them to disk.

        ``data["revision"]`` must be the revision the document was based on (from
        ``current()``): a document made before another tab's pick would wipe it, so it
        is refused with ``Conflict``.
        """
        decisions = parse_decisions(data)
        valid, problems = check_decisions(self.run, decisions.values())
        if problems:
            raise ValueError(problems[0])
        based_on = data.get("revision") if isinstance(data, dict) else None
        with self.lock:
            self._sync()
            if not isinstance(based_on, str) or not hmac.compare_digest(
                based_on.encode("utf-8", "surrogateescape"),
                self._document()["revision"].encode(),
            ):
                raise Conflict(
                    "the decisions changed since this document was read "
                    "(another tab or program saved picks): reload and try again"
                )
            self._write(valid)
            return self._document()

    def decide(self, data: object) -> dict[str, Any]:
        """Merge one decision into the others and write them all to disk.

        ``data`` is ``{"set", "query", "pick"}`` (``pick`` a candidate's path, a file of
        the album found by the page's search, or None for none of these), or
        ``{"set", "query", "undo": true}`` to drop the thumbnail's decision (back to
        photomatch's). ``ValueError`` if it does not fit.
        """
        if (
            not isinstance(data, dict)
            or not isinstance(data.get("set"), str)
            or not isinstance(data.get("query"), str)
        ):
            raise ValueError("a decision needs 'set' and 'query'")
        key = (data["set"], data["query"])
        undo = data.get("undo", False)
        if undo is True:
            if "pick" in data:
                raise ValueError("a decision has either 'pick' or 'undo'")
            if not any((r.set, r.query) == key for r in self.run.results):
                raise ValueError(f"no thumbnail {data['query']} in set {data['set']!r}")
            decision = None
        elif undo is not False or "pick" not in data:
            raise ValueError("a decision needs 'pick' (or 'undo': true)")
        else:
            pick = data["pick"]
            if pick is not None and not isinstance(pick, str):
                raise ValueError("'pick' is a candidate's path or null")
            # Made on this run's page: check_decisions binds it to this run's thumbnail.
            valid, problems = check_decisions(self.run, [Decision(*key, pick)])
            if problems:
                raise ValueError(problems[0])
            decision = valid[key]
        with self.lock:
            self._sync()
            merged = dict(self.decisions)
            if decision is None:
                merged.pop(key, None)
            else:
                merged[key] = decision
            if merged != self.decisions or not os.path.exists(decisions_path(self.root)):
                self._write(merged)
            return self._document()

    def current(self) -> dict[str, Any]:
        with self.lock:
            self._sync()
            return self._document()

    def export(self, data: object) -> dict[str, Any]:
        """``photomatch export`` of DIR with the decisions saved now (see ``ReviewTools``);
        one at a time."""
        with self.lock:
            self._sync()
            decisions = dict(self.decisions)
        with self._exporting:
            return self.tools.export(data, decisions)

    # -- the browser -------------------------------------------------------------

    def open_browser(self, opener: Callable[[str], object] | None = None) -> str:
        """Open the page in a browser without the token on any command line.

        Writes a small page that redirects to ``url`` into a new private folder
        (mode 0700, the file 0600) and hands ``opener`` (default ``webbrowser.open``)
        its ``file://`` address; ``server_close()`` removes both. Returns that address.
        """
        folder = tempfile.mkdtemp(prefix="photomatch-review-")  # mode 0700
        self._redirect_dir = folder
        path = os.path.join(folder, "open-review.html")
        target = html.escape(self.url, quote=True)
        text = (
            '<!doctype html>\n<html><head><meta charset="utf-8">'
            '<meta name="referrer" content="no-referrer">'
            f'<meta http-equiv="refresh" content="0;url={target}">'
            "<title>photomatch review</title></head>\n"
            f'<body><p><a href="{target}">Open the photomatch review page</a></p></body></html>\n'
        )
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            os.fchmod(fh.fileno(), 0o600)
            fh.write(text)
        address = "file://" + quote(path)
        (opener or webbrowser.open)(address)
        return address

    # -- connections -------------------------------------------------------------

    def process_request(
        self, request: socket.socket | tuple[bytes, socket.socket], client_address: Any
    ) -> None:
        """Serve the connection in a thread once fewer than ``MAX_CONNECTIONS`` are."""
        while not self._slots.acquire(timeout=0.05):
            if self._stopping:
                self.shutdown_request(request)
                return
        with self._claims:
            self._unclaimed.add(id(request))
        try:
            super().process_request(request, client_address)
        except BaseException:
            # A Ctrl-C can land after the thread started: then the slot is its.
            if self._claim(request):
                self._slots.release()
            raise

    def process_request_thread(
        self, request: socket.socket | tuple[bytes, socket.socket], client_address: Any
    ) -> None:
        owns = self._claim(request)
        try:
            super().process_request_thread(request, client_address)
        finally:
            if owns:
                self._slots.release()

    def _claim(self, request: object) -> bool:
        """Take over ``request``'s slot, unless someone already has."""
        with self._claims:
            if id(request) in self._unclaimed:
                self._unclaimed.discard(id(request))
                return True
            return False

    def shutdown(self) -> None:
        self._stopping = True
        super().shutdown()

    def server_close(self) -> None:
        self._stopping = True
        super().server_close()
        if self._redirect_dir is not None:
            shutil.rmtree(self._redirect_dir, ignore_errors=True)
            self._redirect_dir = None


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
        if rest in _TOOLS:
            self._tool(rest, send_body)
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

    def _tool(self, name: str, send_body: bool) -> None:
        """Answer one of the page's on-demand requests (``_TOOLS``); bad input is a 4xx."""
        tools = self.server.tools
        try:
            params = parse_qs(
                urlsplit(self.path).query,
                keep_blank_values=True,
                max_num_fields=_MAX_FIELDS,
                errors="strict",
            )
            if name == "compare-image":
                data, ctype = tools.compare_image(params)
                self._reply_bytes(data, ctype, send_body)
            elif name == "album-preview":
                self._reply_bytes(tools.album_preview(params), "image/jpeg", send_body)
            else:
                answer = {
                    "compare": tools.compare_info,
                    "capture": tools.captures,
                    "search": tools.search,
                    "nearest": tools.nearest,
                }[name](params)
                self._reply(HTTPStatus.OK, answer, send_body=send_body)
        except LookupError as exc:
            self._reply(HTTPStatus.NOT_FOUND, f"not found: {exc}\n", send_body=send_body)
        except DecodeError as exc:
            self._reply(
                HTTPStatus.UNPROCESSABLE_ENTITY,
                f"cannot decode {exc.path}: {exc.reason}\n",
                send_body=send_body,
            )
        except (ValueError, UnicodeDecodeError, RecursionError) as exc:
            self._reply(HTTPStatus.BAD_REQUEST, f"refused: {exc}\n", send_body=send_body)
        except (OSError, sqlite3.Error) as exc:
            self._reply(
                HTTPStatus.SERVICE_UNAVAILABLE,
                f"cannot read: {getattr(exc, 'strerror', None) or exc}\n",
                send_body=send_body,
            )
        except Exception as exc:  # noqa: BLE001 - a bug: one line, and the server goes on
            self._reply(
                HTTPStatus.INTERNAL_SERVER_ERROR,
                f"photomatch review failed: {type(exc).__name__}: {exc}"[:500].replace("\n", " ")
                + "\n",
                send_body=send_body,
            )

    def do_POST(self) -> None:  # noqa: N802 - stdlib name
        try:
            rest = self._route()
        except UnicodeDecodeError:
            rest = ""
        if rest is None:
            return
        if rest not in ("decisions", "decision", "export"):
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
        if rest == "export":
            self._export(body)
            return
        try:
            data = json.loads(body)
            doc = self.server.save(data) if rest == "decisions" else self.server.decide(data)
        except Conflict as exc:
            self._reply(HTTPStatus.CONFLICT, f"decisions refused: {exc}\n")
            return
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

    def _export(self, body: bytes) -> None:
        try:
            answer = self.server.export(json.loads(body))
        except (PhotomatchError, ValueError, RecursionError) as exc:
            # ExportError (a failed copy) too: what was exported stays, a rerun completes it.
            self._reply(HTTPStatus.BAD_REQUEST, f"export refused: {exc}\n")
            return
        except OSError as exc:
            self._reply(HTTPStatus.INTERNAL_SERVER_ERROR, f"export failed: {exc.strerror or exc}\n")
            return
        self._reply(HTTPStatus.OK, answer)

    # -- replies ---------------------------------------------------------------

    def _reply_bytes(self, data: bytes, ctype: str, send_body: bool) -> None:
        self.send_response(HTTPStatus.OK)
        self._common_headers(ctype, len(data))
        self.end_headers()
        if send_body:
            self.wfile.write(data)

    def _common_headers(self, ctype: str, length: int) -> None:
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(length))
        self.send_header("Cache-Control", "no-store")
        self.send_header("X-Content-Type-Options", "nosniff")
        self.send_header("Referrer-Policy", "no-referrer")
        self.send_header("Cross-Origin-Resource-Policy", "same-origin")
        self.send_header("Content-Security-Policy", _CSP)

    def _reply(
        self, status: HTTPStatus, body: str | dict[str, Any], send_body: bool = True
    ) -> None:
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
