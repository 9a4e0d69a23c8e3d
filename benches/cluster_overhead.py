"""What indexing through a Dask cluster costs the coordinator, per file.

    python benches/cluster_overhead.py [--copies 10] [--workers 2] [--no-previews] [--batch 128]

Starts a ``dask scheduler`` and ``--workers`` single-thread ``dask worker`` processes
on 127.0.0.1, indexes the benchmark's 40 camera JPEGs hard-linked ``--copies`` times
(from their previews unless ``--no-previews``) through them, then the same album
locally with as many threads, each into a new index. Prints wall time, files/s and
the coordinator's own CPU per file: the single process that writes the index caps a
cluster run at about 1 / (that CPU) files per second, whatever the workers.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import _photos  # noqa: E402

from photomatch import cluster  # noqa: E402
from photomatch.index import AlbumIndex  # noqa: E402


def _dask() -> str:
    return os.path.join(os.path.dirname(sys.executable), "dask")


def _timed(album: str, index: str, **kwargs: object) -> tuple[float, float, int]:
    wall, cpu = time.perf_counter(), time.process_time()
    with AlbumIndex(album, index) as ix:
        report = ix.update(**kwargs)  # type: ignore[arg-type]
    return time.perf_counter() - wall, time.process_time() - cpu, report.decoded


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--copies", type=int, default=10)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--no-previews", action="store_true")
    parser.add_argument("--batch", type=int, default=cluster.BATCH_FILES, help="files per task")
    args = parser.parse_args()
    cache = os.environ.get("PHOTOMATCH_BENCH_CACHE") or os.path.join(
        tempfile.gettempdir(), "photomatch-bench"
    )
    photos = _photos.ensure_photos(os.path.join(cache, f"photos-v{_photos.GENERATOR_VERSION}"), 40)
    previews = not args.no_previews
    cluster.BATCH_FILES = args.batch
    with tempfile.TemporaryDirectory() as tmp:
        album = os.path.join(tmp, "album")
        for i in range(args.copies):
            _photos.copy_album(photos, os.path.join(album, f"copy{i}"))
        scheduler_file = os.path.join(tmp, "scheduler.json")
        log = open(os.path.join(tmp, "dask.log"), "wb")
        procs = [
            subprocess.Popen(
                [_dask(), "scheduler", "--host", "127.0.0.1", "--port", "0", "--no-dashboard"]
                + ["--scheduler-file", scheduler_file],
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        ]
        try:
            while not os.path.exists(scheduler_file):
                time.sleep(0.1)
            time.sleep(0.2)
            with open(scheduler_file, encoding="utf-8") as fh:
                address = json.load(fh)["address"]
            for _ in range(args.workers):
                procs.append(
                    subprocess.Popen(
                        [_dask(), "worker", address, "--host", "127.0.0.1", "--nthreads", "1"]
                        + ["--no-nanny", "--no-dashboard", "--memory-limit", "0"],
                        stdout=log,
                        stderr=subprocess.STDOUT,
                    )
                )
            import distributed

            with distributed.Client(address, set_as_default=False) as client:
                client.wait_for_workers(args.workers, timeout=60)
            runs = [
                (
                    "cluster",
                    _timed(
                        album, os.path.join(tmp, "c.sqlite"), previews=previews, scheduler=address
                    ),
                ),
                (
                    "local threads",
                    _timed(
                        album, os.path.join(tmp, "l.sqlite"), previews=previews, jobs=args.workers
                    ),
                ),
            ]
        finally:
            for proc in reversed(procs):
                proc.terminate()
                proc.wait(timeout=30)
            log.close()
    what = "previews" if previews else "decoding every file"
    print(
        f"{args.copies * 40} files ({what}), {args.workers} workers / threads, "
        f"{args.batch} files per task, "
        f"load average {os.getloadavg()[0]:.1f}:"
    )
    for name, (wall, cpu, files) in runs:
        print(
            f"  {name}: {wall:.2f} s, {files / wall:.0f} files/s, "
            f"coordinator CPU {1000 * cpu / files:.2f} ms per file"
        )


if __name__ == "__main__":
    main()
