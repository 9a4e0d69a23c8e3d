"""What the review server computes on demand for the page, beyond serving files and
saving decisions: the compare view's images (``compare``), capture information
(``capture``), the album search (``album_search``) with previews of what it finds,
and the export.

Every request names a thumbnail by its place in ``matches.json``'s results
(``r``) and a candidate by its place in that thumbnail's list (``c``) or, for a
file found by the search, by its path relative to the album (``file``), which
must be a file of the album (``AlbumCatalog.rel_of``). Anything else is a
``ValueError`` (the server answers 400) or ``LookupError`` (404). Images are
made in memory and kept in a small LRU cache; nothing is written, least of all
in the album.
"""

from __future__ import annotations

import os
import threading
from collections import OrderedDict
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

from . import compare as compare_mod
from . import export as export_mod
from . import hashing
from .album_search import AlbumCatalog, Found, HashTable, Near, thumbnail_row
from .capture import read_capture
from .results import Decision, MatchRun, QueryResult, check_decisions
from .review import PREVIEW_QUALITY, PREVIEW_SIZE

_T = TypeVar("_T")
#: Comparisons (three images each, a few hundred KB) and previews kept in memory.
CACHE_ITEMS = 48
IMAGE_KINDS = {"thumb": "image/jpeg", "region": "image/jpeg", "diff": "image/png"}


class _Lru:
    """A small thread-safe LRU cache. A value is computed outside the cache's lock,
    once: the page asks for a comparison's figures and its three images at once,
    and the requests that come while it is made wait for it."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._items: OrderedDict[object, object] = OrderedDict()
        self._lock = threading.Lock()
        self._making: dict[object, threading.Lock] = {}

    def get(self, key: object, make: Callable[[], _T]) -> _T:
        with self._lock:
            if key in self._items:
                self._items.move_to_end(key)
                return self._items[key]  # type: ignore[return-value]
            making = self._making.setdefault(key, threading.Lock())
        with making:
            with self._lock:
                if key in self._items:
                    return self._items[key]  # type: ignore[return-value]
            try:
                value = make()
                with self._lock:
                    self._items[key] = value
                    while len(self._items) > self.size:
                        self._items.popitem(last=False)
            finally:
                with self._lock:
                    self._making.pop(key, None)
        return value


def _one(params: Mapping[str, list[str]], name: str, default: str | None = None) -> str:
    values = params.get(name)
    if not values:
        if default is None:
            raise ValueError(f"missing parameter {name!r}")
        return default
    if len(values) > 1:
        raise ValueError(f"parameter {name!r} given twice")
    return values[0]


def _index(text: str, n: int, what: str) -> int:
    if not text.isdigit() or len(text) > 9 or int(text) >= n:
        raise LookupError(f"no {what} {text[:20]!r}")
    return int(text)


class ReviewTools:
    """The on-demand work behind the page for ``run`` (see the module doc)."""

    def __init__(self, run: MatchRun) -> None:
        self.run = run
        self.catalog = AlbumCatalog(run.album, run.index_path)
        self._comparisons = _Lru(CACHE_ITEMS)
        self._previews = _Lru(CACHE_ITEMS * 4)
        self._captures = _Lru(4096)
        self._hashes = HashTable(self.catalog)
        self._hash_lock = threading.Lock()

    # -- what a request names ----------------------------------------------------

    def result(self, params: Mapping[str, list[str]]) -> tuple[int, QueryResult]:
        i = _index(_one(params, "r"), len(self.run.results), "thumbnail")
        return i, self.run.results[i]

    def album_file(self, rel: str) -> str:
        """The absolute path of the album file ``rel`` (relative to the album), if it is one."""
        if not rel or "\0" in rel:
            raise LookupError("no such album file")
        path = os.path.join(self.catalog.album, rel)
        if self.catalog.rel_of(path) is None:
            raise LookupError("not a file of the album index")
        return path

    def target(self, params: Mapping[str, list[str]]) -> tuple[int, QueryResult, str]:
        """The thumbnail and the album file a compare request names."""
        i, result = self.result(params)
        if "file" in params:
            if "c" in params:
                raise ValueError("give either 'c' or 'file'")
            return i, result, self.album_file(_one(params, "file"))
        c = _index(_one(params, "c"), len(result.candidates), "candidate")
        return i, result, result.candidates[c].path

    # -- the compare view ------------------------------------------------------------

    def comparison(self, params: Mapping[str, list[str]]) -> compare_mod.Comparison:
        i, result, path = self.target(params)
        return self._comparisons.get(
            (i, path), lambda: compare_mod.compare(result.query, path, result.orientation)
        )

    def compare_info(self, params: Mapping[str, list[str]]) -> dict[str, Any]:
        return self.comparison(params).info()

    def compare_image(self, params: Mapping[str, list[str]]) -> tuple[bytes, str]:
        kind = _one(params, "kind")
        if kind not in IMAGE_KINDS:
            raise ValueError(f"kind is one of {', '.join(IMAGE_KINDS)}")
        c = self.comparison(params)
        data = {"thumb": c.thumb_jpeg, "region": c.region_jpeg, "diff": c.diff_png}[kind]
        return data, IMAGE_KINDS[kind]

    # -- capture information -----------------------------------------------------------

    def captures(self, params: Mapping[str, list[str]]) -> dict[str, Any]:
        """The capture information of every candidate of thumbnail ``r``, in their order."""
        _, result = self.result(params)
        return {"candidates": [self._capture(c.path) for c in result.candidates]}

    def _capture(self, path: str) -> dict[str, Any]:
        try:
            st = os.stat(path)
            key: object = (path, st.st_size, st.st_mtime_ns)
        except OSError:
            key = (path,)
        return self._captures.get(key, lambda: read_capture(path, self.run.album).as_dict())

    # -- the album search --------------------------------------------------------------

    def nearest(self, params: Mapping[str, list[str]]) -> dict[str, Any]:
        """The album files nearest thumbnail ``r`` in hash, however far (for a thumbnail
        none of whose candidates was close enough to check), with their capture."""
        _, result = self.result(params)
        row = thumbnail_row(result.query)
        with self._hash_lock:  # one load of the index at a time
            near = self._hashes.nearest(row)
        return {"files": [self._listed(n) for n in near]}

    def search(self, params: Mapping[str, list[str]]) -> dict[str, Any]:
        args = {k: _one(params, k, "")[:200] for k in ("name", "folder", "from", "to")}
        if not any(args.values()):
            raise ValueError("give a file name, a folder or a date")
        found, more = self.catalog.search(args["name"], args["folder"], args["from"], args["to"])
        return {"files": [self._listed(f) for f in found], "more": more}

    def _listed(self, found: Found | Near) -> dict[str, Any]:
        """An album file the page lists (a search result or a nearest file): what
        it is, its capture, and its path relative to the album."""
        item: dict[str, Any] = found.as_dict()
        item.update(self._capture(found.path))
        item["rel"] = found.rel
        return item

    def album_preview(self, params: Mapping[str, list[str]]) -> bytes:
        path = self.album_file(_one(params, "file"))

        def make() -> bytes:
            image = hashing.open_image(path, PREVIEW_SIZE)
            if image.hasalpha():
                image = image.flatten(background=255)
            return bytes(image.colourspace("srgb").jpegsave_buffer(Q=PREVIEW_QUALITY, keep="none"))

        return self._previews.get(path, make)

    # -- export ------------------------------------------------------------------------

    def export(self, data: object, decisions: Mapping[tuple[str, str], Decision]) -> dict[str, Any]:
        """Run ``photomatch export`` (``export.export_originals``) to ``data["dest"]``.

        The destination must be an absolute path (the page has no working folder);
        the decisions are checked as strictly as the command checks them.
        ``UsageError``/``ExportError``/``ValueError`` say what is wrong.
        """
        if not isinstance(data, dict) or not isinstance(data.get("dest"), str):
            raise ValueError("an export needs 'dest', a folder")
        dest = os.path.expanduser(data["dest"].strip())
        mode = data.get("mode", "copy")
        if not dest or "\0" in dest or not os.path.isabs(dest):
            raise ValueError("give the destination as a full path (starting with / or ~)")
        if mode not in export_mod.MODES:
            raise ValueError(f"mode is one of {', '.join(export_mod.MODES)}")
        valid, problems = check_decisions(self.run, decisions.values())
        if problems:
            raise ValueError(f"decisions.json does not fit matches.json: {problems[0]}")
        items = export_mod.export_originals(
            self.run, dest, mode=mode, decisions=valid, variants=bool(data.get("variants"))
        )
        counts: dict[str, int] = {}
        for it in items:
            counts[it.status] = counts.get(it.status, 0) + 1
        return {
            "dest": os.path.abspath(dest),
            "counts": counts,
            "files": [
                {
                    "set": it.set,
                    "source": it.source,
                    "destination": it.destination,
                    "status": it.status,
                }
                for it in items
            ],
            "manifest": os.path.join(os.path.abspath(dest), export_mod.MANIFEST_NAME)
            if items
            else None,
        }
