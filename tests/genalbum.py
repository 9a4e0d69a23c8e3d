"""Generated albums for the crash, concurrency and load tests: many small real-photo JPEGs."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys

from photomatch.demo import SAMPLES, sample_image


def photo_crops(count: int, side: int = 96) -> list[bytes]:
    """``count`` different small JPEGs: crops of the shipped photographs at varied places.

    Each crop is ``side`` px square (JPEG quality 85), taken from a sample
    photograph enlarged 2x, on a grid of positions, so neighbouring files are
    different pictures but all are real photo content.
    """
    out: list[bytes] = []
    images = [sample_image(name).resize(2) for name in SAMPLES]
    i = 0
    while len(out) < count:
        image = images[i % len(images)]
        step = i // len(images)
        cols = max(1, (image.width - side) // 23)
        rows = max(1, (image.height - side) // 19)
        x = (step * 23) % (cols * 23)
        y = ((step // cols) * 19) % (rows * 19)
        crop = image.crop(min(x, image.width - side), min(y, image.height - side), side, side)
        out.append(crop.jpegsave_buffer(Q=85, keep="none"))
        i += 1
    return out


def write_album(root: str, count: int, per_folder: int = 100, side: int = 96) -> list[str]:
    """Write ``count`` small JPEGs under ``root`` in folders of ``per_folder``; their paths.

    The contents repeat every 2000 files (enough variety for indexing; the
    index keys on paths, not contents).
    """
    crops = photo_crops(min(count, 2000), side)
    paths = []
    for n in range(count):
        folder = os.path.join(root, f"{n // per_folder:05d}")
        if n % per_folder == 0:
            os.makedirs(folder, exist_ok=True)
        path = os.path.join(folder, f"IMG_{n:06d}.jpg")
        with open(path, "wb") as fh:
            fh.write(crops[n % len(crops)])
        paths.append(path)
    return paths


def photomatch_cmd(*args: str) -> list[str]:
    """The command line that runs ``photomatch ARGS`` with this interpreter."""
    return [sys.executable, "-m", "photomatch.cli", *args]


def run_photomatch(*args: str, timeout: float = 300, env: dict | None = None):
    """Run ``photomatch ARGS`` in a subprocess; the CompletedProcess (text, captured)."""
    return subprocess.run(
        photomatch_cmd(*args),
        capture_output=True,
        text=True,
        errors="surrogateescape",
        timeout=timeout,
        env={**os.environ, **(env or {})},
    )


#: ``photomatch ARGS`` with a small batch size, a pause before each decode (so that a
#: kill lands mid-run on any machine) and every decoded path appended to a log.
HARNESS = """
import sys, time
import photomatch.index as index
from photomatch import hashing
batch, pause, log = int(sys.argv[1]), float(sys.argv[2]), sys.argv[3]
index.BATCH_SIZE = batch
real = hashing.hash_file
def logged(path, album=True, previews=False):
    time.sleep(pause)
    with open(log, "a", encoding="utf-8", errors="surrogateescape") as fh:
        fh.write(path + "\\n")
    return real(path, album, previews)
hashing.hash_file = logged
from photomatch.cli import main
sys.exit(main(sys.argv[4:]))
"""


def harness(batch: int, pause: float, log: str, *args: str) -> list[str]:
    return [sys.executable, "-c", HARNESS, str(batch), str(pause), log, *args]


def table(index: str) -> list[tuple]:
    """Every file row of an index (without its row id), in path order."""
    with sqlite3.connect(index) as db:
        return db.execute(
            "SELECT path, size, mtime_ns, status, error, width, height, view_ids, hashes"
            " FROM files ORDER BY path"
        ).fetchall()


def integrity(index: str) -> str:
    with sqlite3.connect(index) as db:
        return db.execute("PRAGMA integrity_check").fetchone()[0]


def committed(index: str) -> int:
    try:
        with sqlite3.connect(f"file:{index}?mode=ro", uri=True, timeout=5) as db:
            return db.execute("SELECT count(*) FROM files").fetchone()[0]
    except sqlite3.OperationalError:  # not created yet
        return 0


def interruptible() -> None:
    """``Popen(preexec_fn=...)`` for a child the tests stop with SIGINT (Ctrl-C):
    a shell starts background jobs with SIGINT ignored, children inherit that,
    and Python then never raises KeyboardInterrupt, so tests run in the
    background would wait on a child that cannot be interrupted."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def start_after_first_batch(
    index: str, batch: int, pause: float, log: str, *args: str
) -> subprocess.Popen:
    """``photomatch ARGS`` in the harness, returned once ``index`` holds its first batch."""
    import time

    proc = subprocess.Popen(
        harness(batch, pause, log, *args),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=interruptible,
    )
    deadline = time.monotonic() + 120
    while committed(index) < batch and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.01)
    return proc
