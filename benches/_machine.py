"""The machine a benchmark ran on, and its popcount peak.

The peak is what the kernel's inner loop could do at best on this machine:
XOR a query row with an album row and count the bits, ``W`` words per pair,
with nothing else (no top-k, no memory traffic: the album rows sit in L1).
It is estimated two ways, both stored with the results:

* **nominal**: ``cores x MHz x 1 popcount per cycle per core / W``, with the
  clock from ``/proc/cpuinfo`` (the highest ``cpu MHz`` reported, or cpufreq's
  ``cpuinfo_max_freq`` when present). One scalar ``POPCNT`` per cycle is the
  conservative textbook figure; many cores issue more.
* **measured**: a tight C loop compiled here with the system C compiler and run
  on one core for about 0.2 s (best of several runs), times the cores this
  process may use. Two variants: ``scalar`` (``-mpopcnt``, four independent
  accumulators, so it reaches the core's scalar ``POPCNT`` throughput) and,
  when the CPU reports ``avx512_vpopcntdq``, ``avx512`` (``vpopcntq`` on
  512-bit vectors). With no C compiler only the nominal figure is given.

Multiplying one core's rate by the core count assumes the cores are idle; on
a shared machine the measured multi-threaded kernel can fall short of it for
reasons that are not the kernel's.
"""

from __future__ import annotations

import functools
import os
import platform
import shutil
import subprocess
import tempfile

PEAK_SOURCE = r"""
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#ifdef __AVX512VPOPCNTDQ__
#include <immintrin.h>
#endif

#define ROWS 1024 /* 16 KiB of W=2 rows: stays in L1 */
#define VSTEP(s, off) \
    s = _mm512_add_epi64(s, _mm512_popcnt_epi64( \
            _mm512_xor_si512(_mm512_load_si512(a + j + (off)), q)))

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

int main(int argc, char **argv) {
    long reps = argc > 1 ? atol(argv[1]) : 100000;
    static uint64_t a[ROWS * 2] __attribute__((aligned(64)));
    uint64_t x = 0x9E3779B97F4A7C15ull;
    for (int i = 0; i < ROWS * 2; i++) {
        x ^= x << 13; x ^= x >> 7; x ^= x << 17;
        a[i] = x;
    }
    uint64_t total = 0;
    double t0 = now();
    for (long r = 0; r < reps; r++) {
        /* The query changes every pass so nothing can be hoisted out. */
        uint64_t q0 = 0x0123456789ABCDEFull + (uint64_t)r, q1 = 0xFEDCBA9876543210ull ^ (uint64_t)r;
#ifdef __AVX512VPOPCNTDQ__
        __m512i q = _mm512_set_epi64(q1, q0, q1, q0, q1, q0, q1, q0);
        __m512i s0 = _mm512_setzero_si512(), s1 = s0, s2 = s0, s3 = s0;
        for (int j = 0; j < ROWS * 2; j += 32) {
            VSTEP(s0, 0); VSTEP(s1, 8); VSTEP(s2, 16); VSTEP(s3, 24);
        }
        __m512i sum = _mm512_add_epi64(_mm512_add_epi64(s0, s1), _mm512_add_epi64(s2, s3));
        total += _mm512_reduce_add_epi64(sum);
#else
        uint64_t s0 = 0, s1 = 0, s2 = 0, s3 = 0;
        for (int j = 0; j < ROWS * 2; j += 4) {
            s0 += __builtin_popcountll(a[j] ^ q0);
            s1 += __builtin_popcountll(a[j + 1] ^ q1);
            s2 += __builtin_popcountll(a[j + 2] ^ q0);
            s3 += __builtin_popcountll(a[j + 3] ^ q1);
        }
        total += s0 + s1 + s2 + s3;
#endif
    }
    double dt = now() - t0;
    printf("%.6e %llu\n", (double)reps * ROWS / dt, (unsigned long long)total);
    return 0;
}
"""

#: Compiler flags per variant; a variant is measured only when the CPU has its flag.
PEAK_VARIANTS = {
    "scalar": ("popcnt", ["-O2", "-mpopcnt", "-fno-tree-vectorize"]),
    "avx512": ("avx512_vpopcntdq", ["-O2", "-mavx512f", "-mavx512vpopcntdq"]),
}


def cpu_flags() -> set[str]:
    return set(_cpuinfo_field("flags").split())


def cpu_model() -> str:
    return _cpuinfo_field("model name") or platform.processor() or platform.machine()


def cores() -> int:
    """CPUs this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def mhz() -> float | None:
    """The highest clock the OS reports, in MHz (cpufreq max if present, else /proc/cpuinfo)."""
    try:
        with open("/sys/devices/system/cpu/cpu0/cpufreq/cpuinfo_max_freq") as fh:
            return int(fh.read().strip()) / 1000
    except (OSError, ValueError):
        pass
    values = []
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.startswith("cpu MHz"):
                    values.append(float(line.split(":", 1)[1]))
    except (OSError, ValueError):
        return None
    return max(values) if values else None


def describe() -> dict:
    """The machine, for reports: CPU model, usable cores, clock, popcount features, load."""
    flags = cpu_flags()
    return {
        "cpu": cpu_model(),
        "cores": cores(),
        "mhz": mhz(),
        "popcount_features": sorted(flags & {"popcnt", "avx2", "avx512_vpopcntdq"}),
        "loadavg_1min": os.getloadavg()[0] if hasattr(os, "getloadavg") else None,
        "python": platform.python_version(),
    }


def nominal_peak_pairs_per_s(words: int) -> float | None:
    """cores x Hz x 1 popcount/cycle / words: pairs per second (None if the clock is unknown)."""
    clock = mhz()
    return None if clock is None else cores() * clock * 1e6 / words


@functools.cache
def measured_peak_pairs_per_s(cache_dir: str | None = None) -> dict[str, float]:
    """Measured W=2 pairs/s per variant, one core's best rate times ``cores()``.

    Empty when there is no C compiler or a build fails.
    """
    out: dict[str, float] = {}
    for name in PEAK_VARIANTS:
        exe = _peak_exe(name, cache_dir)
        if exe is not None:
            out[name] = max(_run_peak(exe) for _ in range(5)) * cores()
    return out


def free_cores(cache_dir: str | None = None) -> float | None:
    """How many cores' worth of CPU this process can get right now (None: no C compiler).

    Runs the scalar popcount loop alone, then ``cores()`` copies at once, and
    returns their summed rate over the lone rate: about ``cores()`` on an idle
    machine, less when other programs share it. Thread-scaling figures are
    bounded by it.
    """
    exe = _peak_exe("scalar", cache_dir)
    if exe is None:
        return None
    alone = max(_run_peak(exe) for _ in range(3))
    reps = int(alone * 0.3 / 1024)
    procs = [
        subprocess.Popen([exe, str(reps)], stdout=subprocess.PIPE, text=True)
        for _ in range(cores())
    ]
    together = sum(float(p.communicate()[0].split()[0]) for p in procs)
    return together / alone


@functools.cache
def _peak_exe(variant: str, cache_dir: str | None) -> str | None:
    """Build the popcount loop for ``variant``; None when the CPU or compiler can't."""
    needs, cflags = PEAK_VARIANTS[variant]
    compiler = shutil.which("cc") or shutil.which("gcc") or shutil.which("clang")
    if compiler is None or needs not in cpu_flags():
        return None
    folder = cache_dir or tempfile.mkdtemp(prefix="photomatch-peak-")
    os.makedirs(folder, exist_ok=True)
    source = os.path.join(folder, "popcount_peak.c")
    with open(source, "w") as fh:
        fh.write(PEAK_SOURCE)
    exe = os.path.join(folder, f"popcount_peak_{variant}")
    build = subprocess.run([compiler, *cflags, "-o", exe, source], capture_output=True)
    return exe if build.returncode == 0 else None


def _run_peak(exe: str) -> float:
    # Calibrate the repetitions to about 0.2 s, then measure.
    reps = 2000
    while True:
        rate = float(
            subprocess.run(
                [exe, str(reps)], capture_output=True, text=True, check=True
            ).stdout.split()[0]
        )
        if reps * 1024 / rate >= 0.2:
            return rate
        reps *= 4


def _cpuinfo_field(name: str) -> str:
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.split(":", 1)[0].strip() == name:
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return ""
