"""Run the benchmark suite and print its results as markdown, as ratios to the baselines.

    python benches/report.py                        # whole suite (~5 min the first time)
    python benches/report.py -- -m "not slow"       # arguments after -- go to pytest
    python benches/report.py --from-json run.json   # tabulate an earlier run
    python benches/report.py --json run.json --out results.md

Times are medians of the rounds. This is what the README's benchmark table is
generated from; paste the output with the command line it prints.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import _machine  # noqa: E402

HASH_LABELS = {
    "photomatch": "photomatch `hash_file` (pyvips shrink-on-load, album views)",
    "photomatch-preview": "photomatch `hash_file(previews=True)` (embedded EXIF preview)",
    "seed-pil-ahash": "seed-style: PIL full decode + `imagehash.average_hash`",
    "pil-draft-ahash": "PIL `draft('L')` + `imagehash.average_hash`",
    "pil-draft-dhash": "PIL `draft('L')` + `imagehash.dhash`",
}
BREAKDOWN_LABELS = {
    "photomatch-decode": "`load_grey` (pyvips `thumbnail` to {size} px, grey, numpy)",
    "photomatch-numpy": "`hash_grey` (views and their dHash rows; numpy)",
    "photomatch-decode-250": "`load_grey(size=250)` (lets libvips shrink 1/8 on load)",
    "vips-jpegload-shrink8": "libvips `jpegload shrink=8` + grey, alone",
    "pil-draft-decode": "PIL `draft('L')` decode, alone",
    "photomatch-preview-read": "`preview.read_preview` (header, preview decode, bands, upright)",
    # Runs from before the fast path: a hand-made preview read, for --from-json.
    "exif-preview-hash": "read the EXIF thumbnail + `hash_grey`",
}
#: The summary's hashing rows: (photomatch method, baseline, label).
HASH_SUMMARY = (
    (
        "photomatch",
        "seed-pil-ahash",
        "hashing a 12-MP JPEG, photomatch vs seed-style PIL + average_hash",
    ),
    (
        "photomatch",
        "pil-draft-ahash",
        "hashing a 12-MP JPEG, photomatch vs PIL draft + average_hash",
    ),
    ("photomatch", "pil-draft-dhash", "hashing a 12-MP JPEG, photomatch vs PIL draft + dhash"),
    (
        "photomatch-preview",
        "seed-pil-ahash",
        "hashing a 12-MP JPEG from its embedded preview, photomatch vs seed-style PIL "
        "+ average_hash",
    ),
    (
        "photomatch-preview",
        "photomatch",
        "hashing a 12-MP JPEG, photomatch from its embedded preview vs from its pixels",
    ),
)


def main(argv: list[str]) -> int:
    if "--" in argv:
        cut = argv.index("--")
        argv, pytest_args = argv[:cut], argv[cut + 1 :]
    else:
        pytest_args = []
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--from-json", help="tabulate this pytest-benchmark JSON; run nothing")
    parser.add_argument("--json", help="where to keep the run's JSON (default: a temp file)")
    parser.add_argument("--out", help="also write the markdown here")
    args = parser.parse_args(argv)

    if args.from_json:
        path = args.from_json
        command = None
    else:
        path = args.json or os.path.join(tempfile.mkdtemp(prefix="photomatch-bench-"), "run.json")
        cmd = [
            sys.executable,
            "-m",
            "pytest",
            HERE,
            "-q",
            "--benchmark-only",
            f"--benchmark-json={path}",
            *pytest_args,
        ]
        shown = ["python", "benches/report.py"] + (["--", *pytest_args] if pytest_args else [])
        command = shlex.join(shown)
        print(f"running: {shlex.join(cmd)}", file=sys.stderr)
        done = subprocess.run(cmd)
        if done.returncode != 0:
            print(f"pytest failed with exit code {done.returncode}", file=sys.stderr)
            return done.returncode
    with open(path) as fh:
        data = json.load(fh)
    text = render(data, command)
    print(text)
    if args.out:
        with open(args.out, "w") as fh:
            fh.write(text)
    return 0


# ----------------------------------------------------------------------------


def _index(data: dict) -> dict[tuple[str, str], dict]:
    out = {}
    for bench in data["benchmarks"]:
        impl = bench.get("extra_info", {}).get("impl", bench["name"])
        out[(bench["group"], impl)] = bench
    return out


def _med(bench: dict | None) -> float | None:
    return None if bench is None else bench["stats"]["median"]


def _ms(seconds: float | None) -> str:
    if seconds is None:
        return "–"
    return f"{seconds * 1000:.1f}" if seconds < 10 else f"{seconds * 1000:.0f}"


def _x(num: float | None, den: float | None) -> str:
    if not num or not den:
        return "–"
    r = num / den
    return f"{r:.2f}×" if r < 10 else f"{r:.0f}×"


def _faster(baseline: float | None, ours: float | None) -> str:
    """'N× faster' or 'N× slower': photomatch's time ``ours`` against ``baseline``."""
    if not baseline or not ours:
        return "–"
    if baseline >= ours:
        return f"{_x(baseline, ours)} faster"
    return f"{_x(ours, baseline)} slower"


def _num(value: float | None) -> str:
    return "–" if value is None else f"{value:.2f}"


def _rate(value: float | None) -> str:
    if value is None:
        return "–"
    for scale, unit in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if value >= scale:
            return f"{value / scale:.2f} {unit}"
    return f"{value:.1f}"


def render(data: dict, command: str | None) -> str:
    b = _index(data)
    lines: list[str] = []
    add = lines.append
    m = _machine.describe()
    info = data.get("machine_info", {})
    cpu = info.get("cpu", {}).get("brand_raw") or m["cpu"]
    add("## Benchmarks")
    add("")
    clock = f", {m['mhz']:.0f} MHz" if m["mhz"] else ""
    add(
        f"Machine: {cpu}, {m['cores']} cores{clock}; popcount: "
        f"{', '.join(m['popcount_features']) or 'none'}; Python {info.get('python_version', '?')}; "
        f"run {data.get('datetime', '?')[:16]}, "
        f"load average {m['loadavg_1min']:.1f} when tabulated."
    )
    if command:
        add(f"Command: `{command}` (medians of the rounds; `--benchmark-json` has all statistics).")
    add("")

    summary = _summary(b)
    if summary:
        add("| comparison | ratio |")
        add("|---|---|")
        lines += summary
        add("")

    _hashing(b, add)
    _indexing(b, add)
    _kernel(b, add)
    _verify(b, add)
    _match(b, add)
    return "\n".join(lines).rstrip() + "\n"


def _summary(b: dict) -> list[str]:
    rows = []
    inter = b.get(("hash 12-MP interleaved", "interleaved"))
    g = "hash 12-MP"
    for mine, impl, label in HASH_SUMMARY:
        m = inter["extra_info"]["methods"] if inter else {}
        if mine in m and impl in m:
            ours, theirs = m[mine], m[impl]
            rows.append(
                f"| {label} (interleaved: median / min / CPU) | "
                f"{_faster(theirs['median_ms'], ours['median_ms'])} / "
                f"{_faster(theirs['min_ms'], ours['min_ms'])} / "
                f"{_faster(theirs['cpu_median_ms'], ours['cpu_median_ms'])} |"
            )
        elif (g, mine) in b and (g, impl) in b:
            rows.append(f"| {label} | {_faster(_med(b[(g, impl)]), _med(b[(g, mine)]))} |")
    g = "index 40 x 12-MP"
    one, two = _med(b.get((g, "index-jobs1"))), _med(b.get((g, "index-jobs2")))
    if one and two:
        rows.append(f"| indexing, 2 threads vs 1 | {_x(one, two)} |")
    fast = _med(b.get((g, "index-previews-native-jobs1")) or b.get((g, "index-previews-jobs1")))
    if one and fast:
        rows.append(
            f"| indexing 40 × 12-MP JPEGs, 1 thread, from embedded previews vs decoding "
            f"| {_faster(one, fast)} |"
        )
    rows += _preview_summary(b)
    for n in (10**3, 10**4, 10**5, 10**6):
        grp = f"topk Q=300 N=1e{len(str(n)) - 1}"
        pk = _med(b.get((grp, "photomatch")))
        if pk and (grp, "numpy") in b:
            ratio = _faster(_med(b[(grp, "numpy")]), pk)
            rows.append(f"| top-k N={n:,}, kernel vs numpy | {ratio} |")
        if pk and (grp, "python") in b:
            ratio = _faster(_med(b[(grp, "python")]), pk)
            rows.append(f"| top-k N={n:,}, kernel vs pure Python | {ratio} |")
    return rows


def _hashing(b: dict, add) -> None:
    g = "hash 12-MP"
    pm = _med(b.get((g, "photomatch")))
    if not pm:
        return
    add("### Hashing one 12-MP camera JPEG (one thread)")
    add("")
    pv = _med(b.get((g, "photomatch-preview")))
    add(
        "| method | ms / image | CPU ms / image | images / s | photomatch (pixels) is "
        "| photomatch (preview) is |"
    )
    add("|---|---:|---:|---:|---:|---:|")
    for impl, label in HASH_LABELS.items():
        bench = b.get((g, impl))
        if bench is None:
            continue
        t = _med(bench)
        cpu = bench["extra_info"].get("cpu_ms_per_image")
        ratio = "—" if impl == "photomatch" else _faster(t, pm)
        ratio_pv = "—" if impl == "photomatch-preview" else _faster(t, pv)
        add(f"| {label} | {_ms(t)} | {cpu:.1f} | {1 / t:.1f} | {ratio} | {ratio_pv} |")
    add("")
    inter = b.get(("hash 12-MP interleaved", "interleaved"))
    if inter:
        add("The same methods, taking turns on each file (all under the same load):")
        add("")
        add("| method | median ms | min ms | CPU ms (median) |")
        add("|---|---:|---:|---:|")
        for impl, m in inter["extra_info"]["methods"].items():
            add(
                f"| {HASH_LABELS.get(impl, impl)} | {m['median_ms']:.1f} | {m['min_ms']:.1f} | "
                f"{m['cpu_median_ms']:.1f} |"
            )
        add("")
    g = "hash 12-MP breakdown"
    if any(k[0] == g for k in b):
        add("Where the time goes (same files; share of `hash_file`'s median):")
        add("")
        add("| step | ms / image | CPU ms / image | share |")
        add("|---|---:|---:|---:|")
        for impl, label in BREAKDOWN_LABELS.items():
            bench = b.get((g, impl))
            if bench is None:
                continue
            t = _med(bench)
            cpu = bench["extra_info"].get("cpu_ms_per_image")
            label = label.format(size=bench["extra_info"].get("decode_size", "?"))
            add(f"| {label} | {_ms(t)} | {cpu:.1f} | {100 * t / pm:.0f}% |")
        add("")


def _preview_summary(b: dict) -> list[str]:
    """Preview indexing, native (Rust, off the GIL) against the Python path it
    replaced: per core from the interleaved run's CPU time, 1 to 2 threads."""
    rows = []
    inter = b.get(("index previews interleaved", "interleaved"))
    if inter:
        m = inter["extra_info"]["methods"]
        py1, py2 = m["index-previews-jobs1"], m["index-previews-jobs2"]
        nat1, nat2 = m["index-previews-native-jobs1"], m["index-previews-native-jobs2"]
        n = inter["extra_info"]["images"]
        rows.append(
            f"| indexing {n} × 12-MP JPEGs from previews, native vs Python path, 1 thread "
            f"(interleaved: median / CPU per image) | "
            f"{_faster(py1['median_s'], nat1['median_s'])} / "
            f"{_faster(py1['cpu_ms_per_image'], nat1['cpu_ms_per_image'])} |"
        )
        rows.append(
            f"| indexing {n} from previews, 2 threads vs 1 (interleaved medians): native / "
            f"Python path | {_x(nat1['median_s'], nat2['median_s'])} / "
            f"{_x(py1['median_s'], py2['median_s'])} |"
        )
    g = "index 40 x 12-MP"
    seed, nat = b.get((g, "seed-pil-ahash-jobs1")), b.get((g, "index-previews-native-jobs1"))
    if seed and nat:
        ratio = _faster(
            seed["extra_info"]["cpu_ms_per_image"], nat["extra_info"]["cpu_ms_per_image"]
        )
        rows.append(
            f"| indexing 40 × 12-MP JPEGs from previews, native (1 thread) vs seed-style "
            f"PIL + average_hash (CPU per image) | {ratio} |"
        )
    return rows


def _indexing(b: dict, add) -> None:
    _indexing_group(b, add, "index 40 x 12-MP", "Indexing 40 camera JPEGs (12 MP) into a new index")
    links = [v["extra_info"]["images"] for k, v in b.items() if k[0] == "index 400 x 12-MP"]
    files = links[0] if links else 400  # PHOTOMATCH_BENCH_COPIES sets how many
    _indexing_group(
        b,
        add,
        "index 400 x 12-MP",
        f"Indexing {files} camera JPEGs (the 40, hard-linked ×{files // 40}) from previews",
    )
    inter = b.get(("index previews interleaved", "interleaved"))
    if inter:
        e = inter["extra_info"]
        add(f"Preview builds of the {e['images']} files taking turns (all under the same load):")
        add("")
        add("| what | threads | median s per build | images / s | CPU ms / image | vs 1 thread |")
        add("|---|---:|---:|---:|---:|---:|")
        for prefix, label in INDEX_ROWS[1:3]:
            one = e["methods"].get(f"{prefix}1")
            for jobs in (1, 2):
                m = e["methods"].get(f"{prefix}{jobs}")
                if m is None or one is None:
                    continue
                add(
                    f"| {label} | {jobs} | {m['median_s']:.3f} | {m['images_per_s']:.0f} | "
                    f"{m['cpu_ms_per_image']:.3f} | {_x(one['median_s'], m['median_s'])} |"
                )
        add("")


#: The rows of the indexing tables: (impl prefix, label).
INDEX_ROWS = (
    ("index-jobs", "`AlbumIndex.update(previews=False)`"),
    ("index-previews-native-jobs", "`AlbumIndex.update` from previews, native (Rust, batches)"),
    ("index-previews-jobs", "`AlbumIndex.update` from previews, Python path (before)"),
    ("decode-threads", "`hash_file` only"),
    ("seed-pil-ahash-jobs", "seed-style: PIL full decode + `average_hash`, no index"),
    ("native-previews-only-threads", "`preview.hash_jpeg_previews` only (native, no index)"),
    ("python-previews-only-threads", "`hash_file(previews=True)` only (Python path, no index)"),
)


def _indexing_group(b: dict, add, g: str, title: str) -> None:
    rows = [(k[1], v) for k, v in b.items() if k[0] == g]
    if not rows:
        return
    add(f"### {title}")
    add("")
    add(
        "| what | threads | s per build | images / s | CPU ms / image | vs 1 thread "
        "| CPU / wall | free cores before |"
    )
    add("|---|---:|---:|---:|---:|---:|---:|---:|")
    for prefix, label in INDEX_ROWS:
        one = _med(b.get((g, f"{prefix}1")))
        for jobs in (1, 2):
            bench = b.get((g, f"{prefix}{jobs}"))
            if bench is None:
                continue
            t = _med(bench)
            e = bench["extra_info"]
            busy = e["cpu_ms_per_image"] * e["images"] / 1000 / t
            cpu = e["cpu_ms_per_image"]
            add(
                f"| {label} | {jobs} | {t:.3f} | {e['images_per_s']:.1f} | "
                f"{cpu:.{1 if cpu >= 10 else 3}f} | {_x(one, t)} | {busy:.2f} | "
                f"{_num(e.get('free_cores'))} |"
            )
    add("")
    add(
        "CPU / wall is the cores the build kept busy on average; free cores is how many "
        "cores' worth of CPU a probe loop got just before (`_machine.free_cores`): on a "
        "shared machine it roughly bounds what 2 threads can show."
    )
    add("")


def _kernel(b: dict, add) -> None:
    groups = sorted({k[0] for k in b if k[0].startswith("topk ")}, key=lambda s: int(s[-1]))
    if not groups:
        return
    add("### Hamming top-k: Q = 300 queries, k = 64, W = 2 words (128 bits) per row")
    add("")
    add(
        "| N rows | photomatch ms | photomatch pairs/s | numpy ms | pure Python ms | "
        "vs numpy | vs pure Python | % of peak (scalar / AVX-512 / nominal) |"
    )
    add("|---:|---:|---:|---:|---:|---:|---:|---:|")
    peaks_note = None
    for g in groups:
        pm, npb, py = b.get((g, "photomatch")), b.get((g, "numpy")), b.get((g, "python"))
        ref = pm or npb or py
        n = ref["extra_info"]["N"]
        peak = "–"
        if pm:
            e = pm["extra_info"]
            fr = [e.get(f"fraction_of_{name}_peak") for name in ("scalar", "avx512", "nominal")]
            peak = " / ".join("–" if f is None else f"{100 * f:.0f}%" for f in fr)
            peaks_note = {
                name: e.get(f"peak_{name}_pairs_per_s") for name in ("scalar", "avx512", "nominal")
            }
        add(
            f"| {n:,} | {_ms(_med(pm))} | {_rate(pm and pm['extra_info']['pairs_per_s'])} | "
            f"{_ms(_med(npb))} | {_ms(_med(py))} | {_x(_med(npb), _med(pm))} | "
            f"{_x(_med(py), _med(pm))} | {peak} |"
        )
    add("")
    py = next((v for k, v in b.items() if k[1] == "python" and k[0].startswith("topk")), None)
    if py:
        add(
            f"Pure Python runs at N = 1,000 only: {_rate(py['extra_info']['pairs_per_s'])} pairs/s "
            f"({py['extra_info']['ns_per_pair']:.0f} ns per pair), a rate that does not improve "
            "with N."
        )
    if peaks_note:
        parts = [f"{name} {_rate(v)} pairs/s" for name, v in peaks_note.items() if v]
        add(
            "Popcount peak (see `benches/_machine.py`): " + ", ".join(parts) + " — measured "
            "XOR+POPCNT loops on L1-resident rows (scalar; AVX-512 VPOPCNTQ) times the cores, "
            "and nominal = cores × clock × 1 POPCNT per cycle / 2 words."
        )
    add("")


def _verify(b: dict, add) -> None:
    align = b.get(("align 1 thumbnail x 8", "photomatch"))
    align_np = b.get(("align 1 thumbnail x 8", "numpy"))
    resize = b.get(("area resize (thumbnail)", "photomatch"))
    resize_np = b.get(("area resize (thumbnail)", "numpy"))
    frame = b.get(("area resize (frame)", "photomatch"))
    frame_np = b.get(("area resize (frame)", "numpy"))
    detail = b.get(("fine detail (window)", "photomatch"))
    detail_np = b.get(("fine detail (window)", "numpy"))
    grain = b.get(("fine detail (grain)", "photomatch"))
    grain_np = b.get(("fine detail (grain)", "numpy"))
    tiles = b.get(("tile statistics", "photomatch"))
    tiles_np = b.get(("tile statistics", "numpy"))
    tone = b.get(("tone quantiles", "photomatch"))
    tone_np = b.get(("tone quantiles", "numpy"))
    coarse = b.get(("coarse look", "photomatch"))
    coarse_np = b.get(("coarse look", "numpy"))
    large = b.get(("coarse look 1e5", "photomatch"))
    large_one = b.get(("coarse look 1e5", "one-step"))
    if not (align or resize or frame or detail or grain or tiles or tone or coarse or large):
        return
    add("### Pixel check")
    add("")
    add("| case | photomatch | numpy path | ratio |")
    add("|---|---:|---:|---:|")

    def row(label: str, ours: dict | None, beside: dict | None, unit: str = "ms") -> None:
        if not (ours or beside):
            return
        if unit == "ms":
            fmt = lambda v: f"{_ms(v)} ms"  # noqa: E731
        else:
            fmt = lambda v: "–" if v is None else f"{v * 1e6:.0f} µs"  # noqa: E731
        t, t_beside = _med(ours), _med(beside)
        add(f"| {label} | {fmt(t)} | {fmt(t_beside)} | {_faster(t_beside, t)} |")

    def files(*benches: dict | None) -> int:
        return next(x for x in benches if x)["extra_info"].get("files", 0) if any(benches) else 0

    row("`verify.align`, one off-centre crop thumbnail in 8 candidates", align, align_np)
    row("`verify.area_resize`, 128 × 96 to 115 × 86", resize, resize_np, unit="µs")
    row("`verify.area_resize`, 600 × 400 to 450 × 300 (uint8)", frame, frame_np, unit="µs")
    row("fine detail (`verify._fine_detail`), 128 × 96 window, radius 2", detail, detail_np, "µs")
    row("fine detail, 1,800 × 1,200 grain-test frame, radius 1", grain, grain_np)
    row(
        "tile statistics (`_core.tile_stats`): a window's worst of 3 × 3 tiles and a "
        "variant test's lowest of 4 × 4",
        tiles,
        tiles_np,
        "µs",
    )
    row("19 tone quantiles of a 128 × 96 window (`_core.quantiles`)", tone, tone_np, "µs")
    row(
        f"coarse look: one thumbnail slid over {files(coarse, coarse_np):,} album overviews "
        "(`Overviews.scores`, `_core.best_ncc`)",
        coarse,
        coarse_np,
    )
    row(
        f"coarse look: the 8 best of {files(large, large_one):,} overviews "
        "(`Overviews.nearest`), in two steps; beside: every overview at full size (Rust)",
        large,
        large_one,
    )
    add("")
    add(
        "The numpy path aligns with a fresh thumbnail array per candidate, the numpy "
        "resize, correlation maps (FFTs, a sliding-window `einsum`), fine detail, tile "
        "statistics and tone quantiles photomatch used before its Rust kernels; both "
        "find the same alignments (scores "
        "within 1e-5: the numpy maps multiply in f32, the kernel in f64), and the two "
        "resizes the same pixels, to the last bit. The coarse look's numpy path slides the "
        "same templates with strided windows (`benches/test_bench_verify.py`); same "
        "scores within 1e-5."
    )
    add("")
    _align_threads(b, add)
    _check_decode(b, add)
    _decode_and_preview(b, add)


def _decode_and_preview(b: dict, add) -> None:
    """A candidate's check decode and review preview, from one decode or two."""
    one = b.get(("check decode and preview", "one decode"))
    two = b.get(("check decode and preview", "two decodes"))
    if not (one and two):
        return
    files = one["extra_info"]["files"]
    add(
        f"A candidate's check decode and its review-page preview ({files} sample "
        f"photographs): {_ms(_med(one) / files)} ms a file with the preview made from the "
        f"check's decode (`review.MadePreviews`), {_ms(_med(two) / files)} ms decoding the "
        f"file again for it ({_med(two) / _med(one):.2f}×)."
    )
    add("")


def _check_decode(b: dict, add) -> None:
    """The check's candidate decode beside a luma-only Pillow decode."""
    ours, draft = b.get(("check decode", "photomatch")), b.get(("check decode", "pil-draft"))
    if not (ours and draft):
        return
    files = ours["extra_info"]["files"]
    mine, theirs = _med(ours) / files, _med(draft) / files
    add(
        f"Decoding a candidate for the check ({files} sample photographs as 1,476-px "
        f"JPEGs, to a 500-px grey box): `verify.load_candidate` (libvips) {_ms(mine)} ms a "
        f"file; Pillow's luma-only `draft` decode and an area resize {_ms(theirs)} ms "
        f"({mine / theirs:.2f}×). Not the same pixels (another resampling), so not in use."
    )
    add("")


def _align_threads(b: dict, add) -> None:
    """The alignment of eight thumbnails spread over 1 and 2 threads, both paths."""
    group = "align 8 thumbnails x 8 on threads"
    t = {
        (impl, n): _med(b.get((group, f"{impl}-{n}")))
        for impl in ("photomatch", "numpy")
        for n in (1, 2)
    }
    if None in t.values():
        return
    ours, theirs = (t[("photomatch", 1)], t[("photomatch", 2)]), (t[("numpy", 1)], t[("numpy", 2)])
    add(
        "Eight thumbnails aligned in the same 8 candidates, spread over threads as the "
        f"check spreads a run's thumbnails: photomatch {_ms(ours[0])} ms on 1 thread, "
        f"{_ms(ours[1])} ms on 2 ({ours[0] / ours[1]:.2f}×); the numpy path "
        f"{_ms(theirs[0])} and {_ms(theirs[1])} ms ({theirs[0] / theirs[1]:.2f}×), "
        "since it holds the GIL for much of its work."
    )
    add("")


def _match(b: dict, add) -> None:
    g = "match sample album"
    cold, warm = b.get((g, "match-cold")), b.get((g, "match-warm"))
    big = {k[1]: v for k, v in b.items() if k[0] == "index 1e6 files"}
    if not (cold or warm or big):
        return
    add("### Matching")
    add("")
    add("| case | median | notes |")
    add("|---|---:|---|")
    if cold:
        e = cold["extra_info"]
        add(
            f"| `match_album`, demo album ({e['album_images']} files, {e['queries']} thumbnails), "
            f"new index | {_ms(_med(cold))} ms | peak RSS {e['peak_rss_mib']:.0f} MiB "
            f"(`import photomatch` alone: {e['import_rss_mib']:.0f} MiB) |"
        )
    if warm:
        add(f"| `match_album`, demo album, index up to date | {_ms(_med(warm))} ms | |")
    if "load" in big:
        e = big["load"]["extra_info"]
        add(
            f"| `AlbumIndex.load()`, {e['files']:,} files, {e['rows']:,} view rows "
            f"({e['index_mib']:.0f} MiB index) | "
            f"{_med(big['load']):.2f} s | peak RSS by the end of the load "
            f"{e['after_load_rss_mib']:.0f} MiB, {e['rss_bytes_per_file']:.0f} bytes per file "
            f"over `import photomatch`; peak with the match "
            f"{e['peak_rss_mib']:.0f} MiB |"
        )
    if "topk-300" in big:
        e = big["topk-300"]["extra_info"]
        add(
            f"| `hamming_topk`, 300 queries × {e['rows']:,} rows, k = 64 | "
            f"{_ms(_med(big['topk-300']))} ms | {_rate(e['pairs_per_s'])} pairs/s |"
        )
    if "match-300" in big:
        add(
            "| `matching.match`, 300 queries, every verification decode stubbed to fail, "
            "the coarse look left out (search, rows to files, candidates ranked, decided) | "
            f"{_ms(_med(big['match-300']))} ms | |"
        )
    if "overviews" in big:
        add(
            "| the overviews of 10^6 files read from the index and halved (once per run, "
            "at the first coarse look) | "
            f"{_med(big['overviews']):.2f} s | |"
        )
    if "load" in big and "match-300" in big:
        total = _med(big["load"]) + _med(big["match-300"])
        add(f"| load + match, 10^6 files, 300 thumbnails | {total:.2f} s | |")
    add("")
    decode = _med(b.get(("hash 12-MP breakdown", "photomatch-decode")))
    if big and decode:
        add(
            "Verification decodes are apart from the above: each candidate checked against a "
            f"thumbnail's pixels costs one album decode, {_ms(decode)} ms for a 12-MP JPEG "
            "(`load_grey` in the breakdown above)."
        )
        add("")


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
