"""Reading a file's structure by offset, as the HEIF and RAW readers check it
before a decoder sees the file."""

from __future__ import annotations

import os


def read_at(fd: int, length: int, offset: int) -> bytes:
    """Up to ``length`` bytes of open file ``fd`` from ``offset`` (fewer only at
    the end of the file), whatever short reads the system gives; the file
    position is left alone."""
    chunks: list[bytes] = []
    while length > 0:
        chunk = os.pread(fd, length, offset)
        if not chunk:
            break
        chunks.append(chunk)
        length -= len(chunk)
        offset += len(chunk)
    return b"".join(chunks)
