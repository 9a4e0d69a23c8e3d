"""Size an album of 10^8 photos from a real index file and the README's measured costs.

    python benches/sizing.py [--files 1000000] [--photos 100000000] [--workers 1 10 100]

Builds (or reuses) the benchmark's synthetic index of ``--files`` files
(``_synthetic.ensure_index``: photomatch's own schema, a 4:3 photo's views per file,
camera-style paths), measures its bytes per file and the time to insert its rows
through one SQLite connection (the coordinator's single writer), and scales both to
``--photos``. Index and match times on N workers come from per-image costs the
README measured (given as options, defaults = the README's figures), not from
this machine.
"""

from __future__ import annotations

import argparse
import os
import sqlite3
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import _synthetic  # noqa: E402
from _bench import peak_rss_subprocess  # noqa: E402

from photomatch import hashing  # noqa: E402
from photomatch.index import AlbumIndex  # noqa: E402


def measure(folder: str, files: int) -> dict[str, float]:
    """Bytes of the synthetic index and its load, and the single writer's insert rate."""
    start = time.perf_counter()
    album_dir, path = _synthetic.ensure_index(folder, files)
    build_s = time.perf_counter() - start
    # Search memory: what load() holds, over what importing photomatch takes.
    loaded = peak_rss_subprocess(
        "from photomatch.index import AlbumIndex\n"
        f"with AlbumIndex({album_dir!r}, {path!r}) as index:\n"
        "    arrays = index.load()\n"
    )["peak_rss_mib"]
    imported = peak_rss_subprocess("import photomatch.index\n")["peak_rss_mib"]
    size = os.path.getsize(path)
    db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        (count,) = db.execute("SELECT count(*) FROM files").fetchone()
        (blob,) = db.execute("SELECT sum(length(hashes) + length(view_ids)) FROM files").fetchone()
        (names,) = db.execute("SELECT sum(length(path)) FROM files").fetchone()
        (overviews,) = db.execute(
            "SELECT sum(length(path) + length(pixels)) FROM overviews"
        ).fetchone()
    finally:
        db.close()
    # The writer alone: copy a slice of the rows into a fresh index, in the batches
    # AlbumIndex.update commits (this is what the coordinator of a cluster run does).
    sample = min(files, 100_000)
    with tempfile.TemporaryDirectory() as tmp:
        album = os.path.join(tmp, "album")
        os.makedirs(album)
        src = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        rows = src.execute(
            "SELECT path, size, mtime_ns, status, error, width, height, view_ids, hashes, source"
            " FROM files LIMIT ?",
            (sample,),
        ).fetchall()
        small = src.execute("SELECT path, pixels FROM overviews LIMIT ?", (sample,)).fetchall()
        src.close()
        with AlbumIndex(album, os.path.join(tmp, "i.sqlite")) as index:
            t0 = time.perf_counter()
            for at in range(0, len(rows), 128):
                with index.db:
                    index.db.executemany(
                        "INSERT OR REPLACE INTO files (path, size, mtime_ns, status, error,"
                        " width, height, view_ids, hashes, source) VALUES (?,?,?,?,?,?,?,?,?,?)",
                        rows[at : at + 128],
                    )
                    index.db.executemany(
                        "INSERT OR REPLACE INTO overviews (path, pixels) VALUES (?, ?)",
                        small[at : at + 128],
                    )
            write_s = time.perf_counter() - t0
    return {
        "files": count,
        "build_s": build_s,
        "bytes": size,
        "row_blob_bytes": blob,
        "path_bytes": names,
        "overview_bytes": overviews or 0,
        "write_rows": len(rows),
        "write_s": write_s,
        "load_bytes_per_file": (loaded - imported) * 2**20 / count,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=1_000_000)
    parser.add_argument("--photos", type=float, default=1e8)
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 10, 100])
    parser.add_argument("--cores-per-worker", type=int, default=16)
    parser.add_argument("--shard-files", type=float, default=1e7)
    parser.add_argument("--decode-ms", type=float, default=35.0, help="README: hash_file, 12 MP")
    parser.add_argument(
        "--preview-ms",
        type=float,
        default=0.156,
        help="README: indexing from previews in Rust, CPU per image (400 files)",
    )
    parser.add_argument(
        "--pairs-per-core", type=float, default=17.19e9 / 2, help="README: kernel, N=10^7, 2 cores"
    )
    parser.add_argument("--queries", type=int, default=300)
    parser.add_argument(
        "--check-core-s-per-query",
        type=float,
        default=59 / 300 * 2,
        help="README: matching 300 thumbnails, index built, 59 s on 2 cores (seed-205 album)",
    )
    args = parser.parse_args()
    folder = os.environ.get("PHOTOMATCH_BENCH_CACHE") or os.path.join(
        tempfile.gettempdir(), "photomatch-bench"
    )
    os.makedirs(folder, exist_ok=True)
    m = measure(folder, args.files)
    views = _synthetic.VIEWS
    row_bytes = 8 * hashing.WORDS
    per_file = m["bytes"] / m["files"]
    photos = args.photos
    rows = photos * views
    print(f"measured: synthetic index of {m['files']:,} files, {views} views each (4:3 photo)")
    print(f"  file {m['bytes'] / 2**20:.1f} MiB = {per_file:.0f} bytes/file")
    blobs = (m["row_blob_bytes"] + m["overview_bytes"]) / m["files"]
    print(
        f"  of which hash rows + view ids {m['row_blob_bytes'] / m['files']:.0f} bytes/file"
        f" ({views} x {row_bytes} + {views}), paths {m['path_bytes'] / m['files']:.0f} bytes/file,"
        f" overviews (with their key) {m['overview_bytes'] / m['files']:.0f} bytes/file;"
        f" SQLite rows, other columns and b-trees {per_file - blobs:.0f} bytes/file"
    )
    write_rate = m["write_rows"] / m["write_s"]
    print(f"  load(): peak RSS {m['load_bytes_per_file']:.0f} bytes/file over importing photomatch")
    print(
        f"  one writer: {m['write_rows']:,} files inserted in batches of 128 in"
        f" {m['write_s']:.2f} s = {write_rate:,.0f} files/s"
    )
    print(f"\nalbum of {photos:.0e} photos:")
    print(f"  view rows {rows:.2e}; hash rows alone {rows * row_bytes / 1e9:.1f} GB")
    print(f"  index file {photos * per_file / 1e9:.1f} GB (x {per_file:.0f} bytes/file)")
    print(f"  coordinator writes: {photos / write_rate / 3600:.1f} h at {write_rate:,.0f} files/s")
    shard = args.shard_files
    arrays = views * (row_bytes + 4 + 1) + 8  # hashes, row_file int32, row_view uint8, file id
    print(
        f"  search memory per shard of {shard:.0e} files: arrays {shard * arrays / 1e9:.2f} GB"
        f" ({arrays} bytes/file), as load() holds it {shard * m['load_bytes_per_file'] / 1e9:.1f}"
        f" GB ({m['load_bytes_per_file']:.0f} bytes/file measured); {photos / shard:.0f} shards"
    )
    decode_h = photos * args.decode_ms / 1000 / 3600
    preview_h = photos * args.preview_ms / 1000 / 3600
    print(
        f"  indexing: {decode_h:,.0f} core-hours decoding ({args.decode_ms} ms/photo),"
        f" {preview_h:,.1f} from previews ({args.preview_ms} ms/photo)"
    )
    pairs = args.queries * rows
    search_core_s = pairs / args.pairs_per_core
    check_core_s = args.queries * args.check_core_s_per_query
    print(
        f"  pixel check: {args.queries} thumbnails x {args.check_core_s_per_query:.3f} core-s"
        f" = {check_core_s:,.0f} core-s"
    )
    for n in args.workers:
        cores = n * args.cores_per_worker
        print(
            f"  {n} workers x {args.cores_per_worker} cores: index {decode_h / cores:.2f} h"
            f" decoding, {preview_h * 60 / cores:.1f} min from previews (writer bound"
            f" {photos / write_rate / 3600:.1f} h); match {args.queries} thumbnails:"
            f" search {search_core_s / cores:.2f} s, pixel check {check_core_s / cores:.2f} s"
        )
    print(
        f"  search: {args.queries} queries x {rows:.1e} rows = {pairs:.1e} pairs,"
        f" {search_core_s:,.0f} core-s at {args.pairs_per_core / 1e9:.2f} G pairs/s per core"
    )


if __name__ == "__main__":
    main()
