"""The review page: ``DIR/review.html`` and its small previews in ``DIR/previews/``.

One row per thumbnail, the thumbnail beside its candidates, the doubtful ones
(ambiguous, unmatched, unreadable) first. The page is a single HTML file with
its script and style inline; the only other files it loads are the previews,
JPEGs of at most ``PREVIEW_SIZE`` px that photomatch makes with pyvips (the
originals are never inlined or linked). It makes no network request: it works
from ``file://``, and served by ``photomatch review`` (see ``review_server``)
it talks only to that server: to save decisions, and for what the server makes
on demand (the compare view's region and difference images, capture
information, the album search, the export; see ``review_tools``).

Safety: the results travel to the script as JSON inside
``<script type="application/json">`` with ``<``, ``>`` and ``&`` escaped, and
the script renders every name with ``textContent``. A Content-Security-Policy
allows only that one inline script (by hash) and same-origin images, so even a
mistake in escaping could not run a file name as code.
"""

from __future__ import annotations

import base64
import hashlib
import html
import json
import os
import re
import threading
from collections.abc import Callable, Iterable, Mapping
from importlib import resources
from typing import Any

import pyvips

from . import hashing
from .decision import Policy
from .errors import UsageError
from .index import is_inside
from .progress import threaded_map
from .results import (
    AMBIGUOUS,
    MATCHED,
    UNMATCHED,
    UNREADABLE,
    Decision,
    MatchRun,
    decisions_dict,
    set_of,
)
from .safeio import TEMP_PREFIX, write_atomic

REVIEW_NAME = "review.html"
PREVIEWS_DIR = "previews"
#: Long edge of a preview, in pixels: the page shows them at about half that,
#: so they stay sharp on high-density screens and in the zoom.
PREVIEW_SIZE = 320
PREVIEW_QUALITY = 80
#: Part of every preview's name: bump it when previews are made differently.
PREVIEW_VERSION = 1
#: Rows needing a person come first.
_STATUS_ORDER = {AMBIGUOUS: 0, UNMATCHED: 1, UNREADABLE: 2, MATCHED: 3}
#: The record, inside the previews folder, of every preview photomatch wrote there.
PREVIEWS_RECORD = ".photomatch-previews.json"
_PREVIEW_RE = re.compile(r"^[0-9a-f]{32}\.jpg$")
_DATA_ID = "photomatch-data"


def preview_key(path: str) -> str | None:
    """The preview file name for ``path``, from its path, size and mtime; None if unreadable."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    ident = b"\0".join(
        [
            str(PREVIEW_VERSION).encode(),
            os.fsencode(os.path.abspath(path)),
            str(st.st_size).encode(),
            str(st.st_mtime_ns).encode(),
        ]
    )
    return hashlib.sha256(ident).hexdigest()[:32] + ".jpg"


def make_preview(source: str, target: str) -> None:
    """Write a JPEG preview of ``source`` (upright, at most ``PREVIEW_SIZE`` px) to ``target``.

    Published whole (``safeio.write_atomic``), so an interrupted run never
    leaves a truncated preview that a later run would take as done.
    """
    # Opened like the index opens files: any file name, no blocking on odd
    # files; a JPEG decoded at the smallest scale that covers the preview (a
    # picture to look at, not to measure).
    write_atomic(target, preview_jpeg(hashing.open_image(source, PREVIEW_SIZE, fast_jpeg=True)))


def preview_jpeg(image: pyvips.Image) -> bytes:
    """The preview JPEG of an upright decoded image: sRGB, at most ``PREVIEW_SIZE`` px."""
    scale = PREVIEW_SIZE / max(image.width, image.height)
    if scale < 1.0:
        image = image.resize(scale)
    if image.hasalpha():
        image = image.flatten(background=255)
    image = image.colourspace("srgb")
    data: bytes = image.jpegsave_buffer(Q=PREVIEW_QUALITY, keep="none")
    return data


#: Bytes of previews kept in memory from a run's pixel check (some 12 KiB
#: each: about 5,000 of them). Past that, a preview is decoded when published.
MADE_PREVIEWS_BYTES = 64 << 20


class MadePreviews:
    """Previews made from decodes done for the pixel check, by preview name
    (thread-safe).

    The check decodes each album candidate at a few hundred pixels; its
    preview is then a resize and an encode away, where decoding the file again
    for the page cost as much as the check's decode. Candidates the page never
    shows are made too, and dropped with the run.
    """

    def __init__(self, limit: int = MADE_PREVIEWS_BYTES) -> None:
        self.limit = limit
        self._made: dict[str, bytes] = {}
        self._bytes = 0
        self._lock = threading.Lock()

    def keeper(self, path: str) -> Callable[[pyvips.Image], None] | None:
        """A callback for ``hashing.load_grey(path, ..., also=)`` that keeps
        ``path``'s preview; None when it is kept already or ``path`` cannot be
        read. The name is taken before the decode: a file changed after it
        gets another name, and its preview is made anew."""
        key = preview_key(path)
        if key is None:
            return None
        with self._lock:
            if key in self._made or self._bytes >= self.limit:
                return None

        def keep(image: pyvips.Image) -> None:
            try:
                data = preview_jpeg(image)
            except pyvips.Error:
                return  # made from the file when published, where a failure is reported
            with self._lock:
                if key not in self._made and self._bytes + len(data) <= self.limit:
                    self._made[key] = data
                    self._bytes += len(data)

        return keep

    def get(self, key: str) -> bytes | None:
        with self._lock:
            return self._made.get(key)


def check_previews_folder(folder: str, protected: Iterable[str] = ()) -> None:
    """``UsageError`` unless ``folder`` can be photomatch's previews folder (creates nothing).

    It must be a real folder (not a symlink), neither inside nor holding any of
    ``protected`` (the album, the thumbnail folders), and either new, empty, or
    marked by photomatch (``PREVIEWS_RECORD``): files in it are deleted later,
    and only photomatch's own may ever be.
    """
    for path in protected:
        if is_inside(folder, path) or is_inside(path, folder):
            raise UsageError(
                f"the previews folder {folder} would be inside, or hold, {path}; "
                "choose another --out"
            )
    if os.path.islink(folder):
        raise UsageError(
            f"{folder} is a symlink; photomatch keeps its previews in a folder of its own: "
            "remove the link or choose another --out"
        )
    if not os.path.lexists(folder):
        return
    if not os.path.isdir(folder):
        raise UsageError(f"{folder} is not a folder; choose another --out")
    record = os.path.join(folder, PREVIEWS_RECORD)
    if not os.path.isfile(record) and any(
        not name.startswith(TEMP_PREFIX) for name in os.listdir(folder)
    ):
        raise UsageError(
            f"{folder} holds files photomatch did not make; move them away or choose another --out"
        )


def previews_folder(out_dir: str, protected: Iterable[str] = ()) -> str:
    """``out_dir/previews``, checked by ``check_previews_folder``, created when missing."""
    folder = os.path.join(out_dir, PREVIEWS_DIR)
    check_previews_folder(folder, protected)
    if not os.path.lexists(folder):
        os.mkdir(folder)
    if not os.path.isfile(os.path.join(folder, PREVIEWS_RECORD)):
        _record_previews(folder, set())
    return folder


def _recorded_previews(folder: str) -> set[str]:
    """The preview names photomatch recorded in ``folder`` (a damaged record: none)."""
    try:
        with open(os.path.join(folder, PREVIEWS_RECORD), encoding="utf-8") as fh:
            names = json.load(fh)
    except (OSError, ValueError):
        return set()
    if not isinstance(names, list):
        return set()
    return {n for n in names if isinstance(n, str) and _PREVIEW_RE.match(n)}


def _record_previews(folder: str, names: set[str]) -> None:
    write_atomic(os.path.join(folder, PREVIEWS_RECORD), json.dumps(sorted(names)) + "\n")


def make_previews(
    paths: Iterable[str],
    out_dir: str,
    jobs: int | None = None,
    progress: bool = True,
    protected: Iterable[str] = (),
    made: MadePreviews | None = None,
) -> dict[str, str | None]:
    """Previews of ``paths`` in ``out_dir/previews``: ``{path: "previews/NAME.jpg" or None}``.

    Existing previews are reused (the name changes when the file does); a file
    that cannot be read or decoded gets None and the page says so. Every preview
    is recorded before it is written; ``prune_previews`` later removes recorded
    ones no page uses. ``protected``: see ``previews_folder``. ``made``:
    previews already made (``MadePreviews``), written instead of decoding.
    """
    folder = previews_folder(out_dir, protected)
    unique = list(dict.fromkeys(paths))
    keys = {p: preview_key(p) for p in unique}
    todo = [
        p for p, k in keys.items() if k is not None and not os.path.isfile(os.path.join(folder, k))
    ]
    recorded = _recorded_previews(folder)
    new = {keys[p] or "" for p in todo} - recorded
    if new:
        _record_previews(folder, recorded | new)

    def one(path: str) -> tuple[str, bool]:
        target = os.path.join(folder, keys[path] or "")
        ready = made.get(keys[path] or "") if made is not None else None
        try:
            if ready is not None:
                write_atomic(target, ready)
            else:
                make_preview(path, target)
        except (pyvips.Error, OSError):
            return path, False
        return path, True

    failed = {path for path, ok in threaded_map(one, todo, "previews", progress, jobs) if not ok}
    return {
        p: (f"{PREVIEWS_DIR}/{k}" if k is not None and p not in failed else None)
        for p, k in keys.items()
    }


def prune_previews(out_dir: str, used: Iterable[str | None]) -> None:
    """Remove the recorded previews of ``out_dir`` that are not in ``used``
    (``make_previews``' values); files photomatch did not record are never touched."""
    folder = os.path.join(out_dir, PREVIEWS_DIR)
    if os.path.islink(folder) or not os.path.isdir(folder):
        return
    keep = {os.path.basename(u) for u in used if u}
    recorded = _recorded_previews(folder)
    for name in recorded - keep:
        path = os.path.join(folder, name)
        try:
            if os.path.isfile(path) and not os.path.islink(path):
                os.remove(path)
        except OSError:
            pass
    _record_previews(folder, recorded & keep)


def _rel(path: str, folder: str) -> str:
    if folder and path.startswith(folder.rstrip(os.sep) + os.sep):
        return path[len(folder.rstrip(os.sep)) + 1 :]
    return path


def page_data(
    run: MatchRun,
    previews: Mapping[str, str | None],
    decisions: Mapping[tuple[str, str], Decision] | None = None,
    title: str = "",
) -> dict[str, Any]:
    """What the page's script renders: the rows (sorted, doubtful first) and the decisions."""
    folders = {s.name: s.folder for s in run.sets}
    rows: list[dict[str, Any]] = []
    for ri, r in enumerate(run.results):
        rows.append(
            {
                "ri": ri,
                "set": r.set,
                "query": r.query,
                "name": _rel(r.query, folders.get(r.set, "")),
                "status": r.status,
                "match": r.match,
                "distance": r.distance,
                "score": r.score,
                "confidence": r.confidence,
                "note": r.note,
                "reason": r.reason,
                "skip_reason": None,
                "preview": previews.get(r.query),
                "candidates": [
                    {
                        "path": c.path,
                        "rel": _rel(c.path, run.album),
                        "distance": c.distance,
                        "view": c.view,
                        "score": c.score,
                        "variants": [_rel(v, run.album) for v in c.variants],
                        "preview": previews.get(c.path),
                    }
                    for c in r.candidates
                ],
            }
        )
    for s in run.skipped_queries:
        set_name = set_of(s.path, run.sets)
        rows.append(
            {
                "set": set_name,
                "query": s.path,
                "name": _rel(s.path, folders.get(set_name, "")),
                "status": UNREADABLE,
                "match": None,
                "distance": None,
                "score": None,
                "confidence": None,
                "note": "",
                "reason": "",
                "ri": None,
                "skip_reason": s.reason,
                "preview": None,
                "candidates": [],
            }
        )
    set_order = {s.name: i for i, s in enumerate(run.sets)}
    rows.sort(
        key=lambda row: (
            _STATUS_ORDER.get(row["status"], 9),
            set_order.get(row["set"], len(set_order)),
            row["query"],
        )
    )
    return {
        "version": 1,
        "title": title,
        "album": run.album,
        "sets": [s.name for s in run.sets],
        "statuses": [AMBIGUOUS, UNMATCHED, UNREADABLE, MATCHED],
        # The correlation a candidate needs at all (decision.Policy): the page says
        # "does not fit" below it.
        "ncc_min": Policy().ncc_min,
        "rows": rows,
        "decisions": decisions_dict(decisions or {})["decisions"],
    }


def script_json(data: object) -> str:
    """``data`` as JSON that is safe between ``<script type="application/json">`` tags.

    ``<`` ``>`` ``&`` become ``\\u003c`` ``\\u003e`` ``\\u0026`` (the same string
    to ``JSON.parse``), so no name can close the element or open a comment.
    Non-ASCII and undecodable (surrogate-escaped) characters are escaped too.
    """
    text = json.dumps(data, ensure_ascii=True, separators=(",", ":"))
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def _asset(name: str) -> str:
    return (resources.files("photomatch") / "review_assets" / name).read_text(encoding="utf-8")


def _csp_hash(text: str) -> str:
    return "'sha256-" + base64.b64encode(hashlib.sha256(text.encode()).digest()).decode() + "'"


def content_security_policy(script: str, style: str) -> str:
    """The page's policy: nothing from anywhere but its own inline code, previews and server."""
    return (
        "default-src 'none'; "
        f"script-src {_csp_hash(script)}; "
        f"style-src {_csp_hash(style)}; "
        "img-src 'self' data:; "
        "connect-src 'self'; "
        "base-uri 'none'; form-action 'none'; object-src 'none'"
    )


def render_page(data: Mapping[str, Any]) -> str:
    """The review page's HTML for ``page_data(...)``."""
    script = _asset("review.js")
    style = _asset("review.css")
    body = _asset("review.html")
    title = html.escape(str(data.get("title") or "results"), quote=True)
    csp = html.escape(content_security_policy(script, style), quote=True)
    head = (
        "<!doctype html>\n"
        '<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        f'<meta http-equiv="Content-Security-Policy" content="{csp}">\n'
        '<meta name="referrer" content="no-referrer">\n'
        '<link rel="icon" href="data:,">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>photomatch review: {title}</title>\n"
        f"<style>{style}</style>\n</head>\n"
    )
    return (
        head
        + "<body>\n"
        + body
        + f'<script type="application/json" id="{_DATA_ID}">{script_json(data)}</script>\n'
        + f"<script>{script}</script>\n</body>\n</html>\n"
    )


def protected_folders(run: MatchRun) -> list[str]:
    """The folders photomatch must never write in for ``run``: the album and the thumbnail sets."""
    return [run.album, *(s.folder for s in run.sets)]


def build_review(
    run: MatchRun,
    out_dir: str,
    decisions: Mapping[tuple[str, str], Decision] | None = None,
    jobs: int | None = None,
    progress: bool = True,
    made: MadePreviews | None = None,
) -> tuple[str, dict[str, str | None]]:
    """Make the previews (``made``: see ``make_previews``); returns the page's
    HTML and the previews it uses.

    ``UsageError`` when ``out_dir`` is inside the album: nothing is ever written
    next to the originals.
    """
    if is_inside(out_dir, run.album):
        raise UsageError(f"results folder is inside the album: {out_dir}")
    paths = [r.query for r in run.results]
    paths += [c.path for r in run.results for c in r.candidates]
    previews = make_previews(
        paths, out_dir, jobs=jobs, progress=progress, protected=protected_folders(run), made=made
    )
    data = page_data(run, previews, decisions, title=os.path.abspath(out_dir))
    return render_page(data), previews


def write_review(
    run: MatchRun,
    out_dir: str,
    decisions: Mapping[tuple[str, str], Decision] | None = None,
    jobs: int | None = None,
    progress: bool = True,
) -> str:
    """Make the previews and write ``out_dir/review.html``; returns the page's path."""
    text, previews = build_review(run, out_dir, decisions, jobs=jobs, progress=progress)
    page = os.path.join(out_dir, REVIEW_NAME)
    write_atomic(page, text)
    prune_previews(out_dir, previews.values())
    return page


__all__ = [
    "PREVIEW_SIZE",
    "REVIEW_NAME",
    "UNREADABLE",
    "MadePreviews",
    "build_review",
    "make_previews",
    "prune_previews",
    "page_data",
    "render_page",
    "script_json",
    "write_review",
]
