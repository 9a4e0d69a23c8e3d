"""How hard a thumbnail was compressed: the JPEG quality its luminance
quantisation table was scaled to.

A thumbnail saved at quality 30 has lost much of the fine detail that the pixel
check correlates (``verify.Alignment.detail``), so its true original fits it
with less detail than a clean thumbnail's would; the confidence model weighs
detail against this (``decision.features``). The table is read from the file's
header by Pillow (nothing is decoded) and matched against the IJG reference
table scaled as libjpeg, Pillow and libvips scale it for a quality setting.
"""

from __future__ import annotations

import numpy as np
from PIL import JpegImagePlugin

from .preview import quiet_exif

#: The IJG reference luminance table (ITU-T T.81, Annex K) in natural (row)
#: order, the order Pillow reports tables in.
_REFERENCE = np.array(
    [16, 11, 10, 16, 24, 40, 51, 61, 12, 12, 14, 19, 26, 58, 60, 55,
     14, 13, 16, 24, 40, 57, 69, 56, 14, 17, 22, 29, 51, 87, 80, 62,
     18, 22, 37, 56, 68, 109, 103, 77, 24, 35, 55, 64, 81, 104, 113, 92,
     49, 64, 78, 87, 103, 121, 120, 101, 72, 92, 95, 98, 112, 100, 103, 99],
    dtype=np.float64,
)  # fmt: skip


def _scaled(quality: int) -> np.ndarray:
    """The reference table as libjpeg scales it for ``quality`` (1-100)."""
    factor = 5000 / quality if quality < 50 else 200 - 2 * quality
    return np.clip(np.floor((_REFERENCE * factor + 50) / 100), 1, 255)


_TABLES = np.stack([_scaled(q) for q in range(1, 101)])


def table_quality(table: np.ndarray) -> int:
    """The quality (1-100) whose scaled reference table is nearest ``table``
    (64 luminance steps), by the sum of squared log ratios: an encoder with
    its own tables (a camera, a phone) gets the setting that quantises as
    coarsely overall."""
    t = np.log(np.clip(np.asarray(table, dtype=np.float64), 1, None))
    err = ((np.log(_TABLES) - t) ** 2).sum(axis=1)
    return int(np.argmin(err)) + 1


def jpeg_quality(path: str) -> int | None:
    """The quality a JPEG file's luminance table was scaled to; None for any
    other format or a header Pillow can't read.

    Pillow's JPEG reader alone, as for embedded previews (``preview``): no
    other format's parser sees the file, no pixel is decoded, and neither
    ``Image.open``'s size check (the host program's ``MAX_IMAGE_PIXELS``) nor
    a damaged EXIF block warns. A multi-picture JPEG (a camera's MPO) reads
    as its first picture."""
    try:
        with open(path, "rb") as fh, quiet_exif(), JpegImagePlugin.JpegImageFile(fh) as im:
            tables = im.quantization
            if not tables or 0 not in tables:
                return None
            table = np.asarray(tables[0], dtype=np.float64)
    except (OSError, ValueError, SyntaxError):
        return None
    return table_quality(table) if table.size == 64 else None
