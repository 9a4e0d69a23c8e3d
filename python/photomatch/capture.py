"""What tells the frames of a burst apart on the review page: when and with what
each file was taken, its pixel size, file size and folder.

Read from the file's header only (Pillow's EXIF reader, pillow-heif for HEIF;
no pixel is decoded): ``DateTimeOriginal`` with ``SubSecTimeOriginal`` (else the
file's ``DateTime``), ``Make`` and ``Model``, the stored size turned upright by
``Orientation``. A file whose header cannot be read gets None for what is
missing; nothing here raises for a bad file.
"""

from __future__ import annotations

import os
import stat
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

from PIL import Image

_EXIF_IFD = 0x8769
_DATETIME_ORIGINAL = 36867
_SUBSEC_ORIGINAL = 37521
_DATETIME = 306
_MAKE = 271
_MODEL = 272
_ORIENTATION = 274


@dataclass(frozen=True)
class Capture:
    """One album file as the page describes it.

    ``taken``: the capture time, ``YYYY-MM-DD HH:MM:SS[.fff]`` (camera's local
    time, as EXIF stores it), or None; ``taken_key`` the same with six-digit
    fractions, so that sorting the strings sorts by time. ``width`` x ``height``
    upright, in pixels (None when unknown); ``bytes`` the file size; ``folder``
    the folder, relative to the album; ``mtime`` the file's modification time
    (``YYYY-MM-DD HH:MM:SS``, local).
    """

    path: str
    taken: str | None
    taken_key: str | None
    camera: str | None
    width: int | None
    height: int | None
    bytes: int | None
    folder: str
    mtime: str | None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _text(value: object) -> str | None:
    if isinstance(value, bytes):
        value = value.decode("utf-8", "replace")
    if not isinstance(value, str):
        return None
    value = value.replace("\0", "").strip()
    return value or None


def _taken(stamp: object, subsec: object) -> tuple[str | None, str | None]:
    text = _text(stamp)
    if text is None:
        return None, None
    try:
        when = datetime.strptime(text[:19], "%Y:%m:%d %H:%M:%S")
    except ValueError:
        return None, None
    base = when.strftime("%Y-%m-%d %H:%M:%S")
    digits = "".join(ch for ch in (_text(subsec) or "") if ch.isdigit())[:6]
    if not digits:
        return base, base + ".000000"
    return f"{base}.{digits}", f"{base}.{digits.ljust(6, '0')}"


def _camera(make: object, model: object) -> str | None:
    make_s, model_s = _text(make), _text(model)
    if make_s and model_s and model_s.lower().startswith(make_s.split()[0].lower()):
        return model_s
    return " ".join(s for s in (make_s, model_s) if s) or None


def _exif_of(fh: Any) -> tuple[Image.Exif | None, tuple[int, int] | None]:
    """The EXIF and stored size of an open file, or Nones."""
    try:
        with Image.open(fh) as im:
            return im.getexif(), im.size
    except Exception:  # noqa: BLE001 - any unreadable header is "unknown"
        pass
    try:
        import pillow_heif

        fh.seek(0)
        heif = pillow_heif.open_heif(fh, convert_hdr_to_8bit=True, lazy_read=True)
        exif = Image.Exif()
        raw = heif.info.get("exif")
        if raw:
            exif.load(raw)
        # HEIF pixels are stored upright already (the transforms are in the container).
        exif.pop(_ORIENTATION, None)
        return exif, heif.size
    except Exception:  # noqa: BLE001 - not HEIF either, or pillow-heif missing
        return None, None


def read_capture(path: str, album: str) -> Capture:
    """What the page shows about the album file ``path`` (see ``Capture``)."""
    rel_dir = os.path.dirname(os.path.relpath(path, album)) if album else os.path.dirname(path)
    folder = "" if rel_dir in ("", ".") else rel_dir
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    except OSError:
        return Capture(path, None, None, None, None, None, None, folder, None)
    with os.fdopen(fd, "rb") as fh:
        st = os.fstat(fd)
        mtime = datetime.fromtimestamp(st.st_mtime_ns / 1e9).strftime("%Y-%m-%d %H:%M:%S")
        if not stat.S_ISREG(st.st_mode):
            return Capture(path, None, None, None, None, None, None, folder, mtime)
        exif, size = _exif_of(fh)
    taken = key = camera = None
    width = height = None
    if size is not None:
        width, height = size
    if exif is not None:
        sub = exif.get_ifd(_EXIF_IFD)
        taken, key = _taken(sub.get(_DATETIME_ORIGINAL), sub.get(_SUBSEC_ORIGINAL))
        if taken is None:
            taken, key = _taken(exif.get(_DATETIME), None)
        camera = _camera(exif.get(_MAKE), exif.get(_MODEL))
        if exif.get(_ORIENTATION) in (5, 6, 7, 8) and size is not None:
            width, height = height, width
    return Capture(path, taken, key, camera, width, height, st.st_size, folder, mtime)
