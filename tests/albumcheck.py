"""Album fingerprints: proof that a test left an album untouched."""

from __future__ import annotations

import hashlib
import os


def fingerprint(root: str) -> dict[str, tuple[int, int, int, str]]:
    """Every path under ``root`` with its size, mtime_ns, mode and content hash."""
    out = {}
    for folder, dirs, files in os.walk(root):
        for name in dirs + files:
            path = os.path.join(folder, name)
            st = os.lstat(path)
            digest = ""
            if os.path.isfile(path) and not os.path.islink(path):
                with open(path, "rb") as fh:
                    digest = hashlib.sha256(fh.read()).hexdigest()
            out[os.path.relpath(path, root)] = (st.st_size, st.st_mtime_ns, st.st_mode, digest)
    return out
