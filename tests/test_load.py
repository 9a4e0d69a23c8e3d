"""Load: indexing 10^4 and 10^5 small generated photos keeps memory flat; ``match`` with
10^4 thumbnails completes. Minutes of work, so only run when asked:

    python -m pytest -m load -s tests/test_load.py

Each test prints one line of figures (the README's "Reliability" section quotes them) and,
with ``PHOTOMATCH_LOAD_REPORT=FILE``, appends them to FILE as JSON lines. Resident memory
(RSS) of the ``photomatch`` process is sampled from ``/proc`` every 0.2 s (Linux only).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import threading
import time

import pytest

from genalbum import committed, photo_crops, photomatch_cmd, write_album

pytestmark = [
    pytest.mark.load,
    pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc"),
]
MB = 1024 * 1024


def rss_of(pid: int) -> int | None:
    try:
        with open(f"/proc/{pid}/status") as fh:
            for line in fh:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        return None
    return None


def run_sampled(args: list[str], index: str | None = None, timeout: float = 3600) -> dict:
    """Run ``photomatch ARGS``; its exit code, output, wall time and RSS samples
    ``(seconds, rss bytes, rows committed to ``index``)``."""
    start = time.monotonic()
    proc = subprocess.Popen(
        photomatch_cmd(*args), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    samples: list[tuple[float, int, int]] = []

    def sample() -> None:
        while proc.poll() is None:
            rss = rss_of(proc.pid)
            if rss is not None:
                rows = committed(index) if index else 0
                samples.append((time.monotonic() - start, rss, rows))
            time.sleep(0.2)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    out, err = proc.communicate(timeout=timeout)
    sampler.join()
    return {
        "code": proc.returncode,
        "stdout": out,
        "stderr": err,
        "seconds": time.monotonic() - start,
        "samples": samples,
    }


def report(figures: dict) -> None:
    print("\nLOAD " + json.dumps(figures, sort_keys=True))
    target = os.environ.get("PHOTOMATCH_LOAD_REPORT")
    if target:
        with open(target, "a", encoding="utf-8") as fh:
            fh.write(json.dumps(figures, sort_keys=True) + "\n")


def rss_at(samples: list[tuple[float, int, int]], share: float, total: int) -> int:
    """RSS at the first sample with at least ``share`` of ``total`` rows committed."""
    return next(rss for _, rss, rows in samples if rows >= share * total)


@pytest.mark.parametrize("files", [10_000, 100_000])
def test_indexing_keeps_memory_flat(tmp_path, files):
    album, index = str(tmp_path / "album"), str(tmp_path / "i.sqlite")
    start = time.monotonic()
    write_album(album, files, per_folder=500, side=64)
    made = time.monotonic() - start
    run = run_sampled(["index", album, "--index", index, "-q", "--json"], index=index)
    assert run["code"] == 0, run["stderr"]
    result = json.loads(run["stdout"])
    assert (result["images"], result["decoded"], len(result["unreadable"])) == (files, files, 0)
    samples = run["samples"]
    peak = max(rss for _, rss, _ in samples)
    early, late = rss_at(samples, 0.2, files), rss_at(samples, 0.9, files)
    # A rerun over the unchanged album: stat every file, hash nothing.
    rescan = run_sampled(["index", album, "--index", index, "-q", "--json"], index=index)
    assert rescan["code"] == 0, rescan["stderr"]
    again = json.loads(rescan["stdout"])
    assert (again["decoded"], again["unchanged"]) == (0, files)
    figures = {
        "test": "index",
        "files": files,
        "generate_s": round(made, 1),
        "index_s": round(run["seconds"], 1),
        "files_per_s": round(files / run["seconds"]),
        "rss_20pct_mb": round(early / MB, 1),
        "rss_90pct_mb": round(late / MB, 1),
        "rss_peak_mb": round(peak / MB, 1),
        "growth_per_1000_files_kb": round((late - early) / (0.7 * files) * 1000 / 1024, 1),
        "rescan_unchanged_s": round(rescan["seconds"], 1),
        "cpus": os.cpu_count(),
    }
    report(figures)
    # Flat: decoding leaks nothing per file. What does grow is the scan's list of paths
    # (a few hundred bytes per file), so allow 2 KB per file between 20% and 90%.
    assert late - early < 2048 * 0.7 * files
    shutil.rmtree(album)


def test_match_with_10_000_thumbnails_completes(tmp_path):
    count = 10_000
    album, index = str(tmp_path / "album"), str(tmp_path / "i.sqlite")
    write_album(album, count, per_folder=500, side=96)
    thumbs = tmp_path / "thumbs" / "set"
    thumbs.mkdir(parents=True)
    # Thumbnails: the first 2000 album pictures downscaled and recompressed, five times
    # over under other names (the album repeats its 2000 pictures too: many ties).
    import pyvips

    small = [
        pyvips.Image.new_from_buffer(data, "").thumbnail_image(64).jpegsave_buffer(Q=40)
        for data in photo_crops(2000, side=96)
    ]
    for n in range(count):
        (thumbs / f"t{n:05d}.jpg").write_bytes(small[n % len(small)])
    out = str(tmp_path / "out")
    assert subprocess.run(photomatch_cmd("index", album, "--index", index, "-q")).returncode == 0
    run = run_sampled(["match", album, str(thumbs), "--out", out, "--index", index, "-q", "--json"])
    assert run["code"] in (0, 3), run["stderr"]
    summary = json.loads(run["stdout"])["summary"]["set"]
    assert sum(summary.values()) == count
    with open(os.path.join(out, "matches.json"), encoding="utf-8") as fh:
        assert len(json.load(fh)["results"]) == count
    figures = {
        "test": "match",
        "thumbnails": count,
        "album_files": count,
        "match_s": round(run["seconds"], 1),
        "rss_peak_mb": round(max(rss for _, rss, _ in run["samples"]) / MB, 1),
        "summary": summary,
        "cpus": os.cpu_count(),
    }
    report(figures)


@pytest.mark.parametrize("megapixels", [0.1, 12])
def test_header_check_costs_little(tmp_path, megapixels):
    """What opening the file ourselves and checking the header first costs, per image,
    against libvips' thumbnail straight from the file name (no assertion on time)."""
    import pyvips

    from photomatch import hashing
    from photomatch.demo import sample_image

    image = sample_image("chelsea")
    image = image.resize((megapixels * 1e6 / (image.width * image.height)) ** 0.5)
    path = str(tmp_path / "photo.jpg")
    image.jpegsave(path, Q=90)

    def direct() -> None:
        size = hashing.DECODE_SIZE
        thumb = pyvips.Image.thumbnail(path, size, height=size, size="down", fail_on="truncated")
        hashing._to_grey_array(thumb)

    def checked() -> None:
        hashing.load_grey(path)

    best = {}
    for name, fn in (("direct", direct), ("checked", checked)) * 2:
        fn()
        runs = 200 if megapixels < 1 else 20
        start = time.perf_counter()
        for _ in range(runs):
            fn()
        ms = (time.perf_counter() - start) / runs * 1000
        best[name] = min(best.get(name, ms), ms)
    report(
        {
            "test": "header check",
            "megapixels": megapixels,
            "direct_ms": round(best["direct"], 2),
            "checked_ms": round(best["checked"], 2),
            "overhead_ms": round(best["checked"] - best["direct"], 2),
        }
    )
