"""Small helpers shared by the benchmark modules."""

from __future__ import annotations

import itertools
import json
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from typing import Any


class CpuClock:
    """Wraps a callable and records the process CPU time of every call.

    The CPU time counts every thread of this process (libvips workers, rayon)
    and not the other programs sharing the machine, so next to the wall time
    it tells a slow run from a busy machine.
    """

    def __init__(self, fn: Callable[..., Any]) -> None:
        self.fn = fn
        self.samples: list[float] = []

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        start = time.process_time()
        try:
            return self.fn(*args, **kwargs)
        finally:
            self.samples.append(time.process_time() - start)

    def median(self) -> float:
        return statistics.median(self.samples) if self.samples else float("nan")


def cycling(fn: Callable[[str], Any], paths: Sequence[str]) -> Callable[[], Any]:
    """A no-argument callable that applies ``fn`` to the next path, round robin."""
    it = itertools.cycle(paths)
    return lambda: fn(next(it))


def rounds_for(fn: Callable[[], Any], budget_s: float, lo: int = 3, hi: int = 200) -> int:
    """Rounds that fit ``budget_s``, from one untimed trial call (which also warms up)."""
    start = time.perf_counter()
    fn()
    once = time.perf_counter() - start
    return max(lo, min(hi, int(budget_s / max(once, 1e-9))))


def median_s(benchmark: Any) -> float:
    """The median round time of a benchmark that has run."""
    return benchmark.stats.stats.median


def peak_rss_subprocess(code: str, timeout: float = 600) -> dict:
    """Run ``code`` in a fresh interpreter; returns its ``_result`` dict plus ``peak_rss_mib``.

    ``code`` may store numbers in the dict ``_result``. The peak is the
    child's own high-water mark: ``VmHWM`` from ``/proc/self/status`` on
    Linux, else ``ru_maxrss``. (On Linux ``ru_maxrss`` of a child started
    from a big process such as pytest carries the parent's peak over the
    fork/exec, so it would report pytest's memory, not the child's.) The code
    may call ``_peak_mib()`` itself for a reading part way through.
    """
    wrapper = (
        "import json, resource, sys\n"
        "def _peak_mib():\n"
        "    try:\n"
        "        with open('/proc/self/status') as fh:\n"
        "            for line in fh:\n"
        "                if line.startswith('VmHWM:'):\n"
        "                    return int(line.split()[1]) / 1024\n"
        "    except OSError:\n"
        "        pass\n"
        "    scale = 1 if sys.platform == 'darwin' else 1024\n"
        "    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / scale / 1024\n"
        "_result = {}\n"
        f"{code}\n"
        "_result['peak_rss_mib'] = _peak_mib()\n"
        "print(json.dumps(_result))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", wrapper], capture_output=True, text=True, timeout=timeout
    )
    if done.returncode != 0:
        raise RuntimeError(f"memory probe failed:\n{done.stderr[-2000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])
