"""Writing photomatch's own files so that no user file is ever touched and none is left half.

Every file photomatch writes (``matches.*``, ``review.html``, ``decisions.json``,
``manifest.csv``, previews) is first written in full under a fresh temporary name
in the target's folder (``O_EXCL``: never a file or link that was already there),
flushed to disk, given the mode the umask allows, and then published with
``os.replace``. A rename replaces the directory entry: a symlink standing at the
target name is replaced, never followed, so a link planted at ``matches.csv``
cannot make photomatch overwrite the file it points to. A full disk fails while
the temporary files are written, before anything is replaced, so the previous
files stay whole.

``Publication`` does this for several files as one set: all are written, then
all are renamed, so a failed run leaves the previous results, not a mix.
"""

from __future__ import annotations

import csv
import io
import os
import tempfile
from collections.abc import Iterable, Sequence

#: Prefix of every temporary file photomatch makes; ``remove_leftovers`` sweeps them.
TEMP_PREFIX = ".photomatch-"
TEMP_SUFFIX = ".part"
#: Cells a spreadsheet would read as a formula start with one of these.
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def umask() -> int:
    """The process's umask, read without changing it where the OS allows."""
    try:
        with open("/proc/self/status", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    mask = os.umask(0o022)  # no way to read it without setting it elsewhere
    os.umask(mask)
    return mask


def file_mode() -> int:
    """The mode a new file gets under the umask (``0o666 & ~umask``), as ``open`` would give."""
    return 0o666 & ~umask()


def write_temp(folder: str, data: bytes) -> str:
    """``data`` in a new temporary file in ``folder``, flushed to disk; returns its path.

    On any error (a full disk) the temporary file is removed and the error raised.
    """
    fd, tmp = tempfile.mkstemp(prefix=TEMP_PREFIX, suffix=TEMP_SUFFIX, dir=folder)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, file_mode())
    except BaseException:
        _remove_quietly(tmp)
        raise
    return tmp


class Publication:
    """Files written whole under temporary names, then published together.

    Use as a context manager: ``add`` writes each file's temporary copy; leaving
    the block normally renames them all into place, an exception removes them
    and leaves every target as it was.
    """

    def __init__(self) -> None:
        self._staged: list[tuple[str, str]] = []

    def add(self, target: str, data: bytes | str) -> None:
        """Stage ``data`` (text is written as UTF-8) for ``target``."""
        raw = data.encode("utf-8", "surrogateescape") if isinstance(data, str) else data
        folder = os.path.dirname(os.path.abspath(target))
        self._staged.append((write_temp(folder, raw), target))

    def commit(self) -> None:
        staged, self._staged = self._staged, []
        try:
            while staged:
                tmp, target = staged[0]
                os.replace(tmp, target)
                staged.pop(0)
        finally:
            for tmp, _ in staged:
                _remove_quietly(tmp)

    def discard(self) -> None:
        staged, self._staged = self._staged, []
        for tmp, _ in staged:
            _remove_quietly(tmp)

    def __enter__(self) -> Publication:
        return self

    def __exit__(self, exc_type: object, *rest: object) -> None:
        if exc_type is None:
            self.commit()
        else:
            self.discard()


def write_atomic(target: str, data: bytes | str) -> None:
    """Replace ``target`` with ``data`` in one step (see the module doc)."""
    with Publication() as pub:
        pub.add(target, data)


def remove_leftovers(folder: str) -> int:
    """Remove photomatch's temporary files left in ``folder`` by a killed run; returns how many.

    Only regular files named like ``write_temp``'s are removed. Call it only while
    holding the lock that keeps other photomatch runs out of ``folder``.
    """
    removed = 0
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return 0
    for entry in entries:
        name = entry.name
        if (
            name.startswith(TEMP_PREFIX)
            and name.endswith(TEMP_SUFFIX)
            and entry.is_file(follow_symlinks=False)
        ):
            try:
                os.remove(entry.path)
                removed += 1
            except OSError:
                pass
    return removed


def spreadsheet_safe(cell: str) -> str:
    """``cell`` as text a spreadsheet will not run: a leading ``= + - @``, tab or CR
    gets a ``'`` in front (the usual advice against CSV formula injection)."""
    return "'" + cell if cell.startswith(_FORMULA_START) else cell


def csv_text(header: Sequence[str], rows: Iterable[Sequence[object]]) -> str:
    """A CSV document; every text cell passed through ``spreadsheet_safe``."""
    buf = io.StringIO(newline="")
    writer = csv.writer(buf)
    writer.writerow(header)
    for row in rows:
        writer.writerow([spreadsheet_safe(c) if isinstance(c, str) else c for c in row])
    return buf.getvalue()


def _remove_quietly(path: str) -> None:
    try:
        os.remove(path)
    except OSError:
        pass
