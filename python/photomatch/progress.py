"""Progress bars on stderr, and the thread-pool map that the long steps share."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

from tqdm import tqdm

T = TypeVar("T")
R = TypeVar("R")


def bar(total: int, desc: str, progress: bool = False, unit: str = "img") -> tqdm:
    """A progress bar on stderr, cleared when done; none when ``progress`` is off
    (the default: a library call writes nothing to stderr unless asked) or there
    is nothing to do."""
    return tqdm(
        total=total,
        unit=unit,
        desc=desc,
        file=sys.stderr,
        disable=not progress or not total,
        dynamic_ncols=True,
        leave=False,
    )


def threaded_map(
    fn: Callable[[T], R],
    items: Sequence[T],
    desc: str,
    progress: bool = False,
    jobs: int | None = None,
    unit: str = "img",
) -> Iterator[R]:
    """``fn`` over ``items`` on ``jobs`` threads (default: all cores), results in
    order, counted on a progress bar. Meant for work that releases the GIL:
    libvips decoding, numpy on whole images, the Rust kernels."""
    with (
        ThreadPoolExecutor(max_workers=jobs or os.cpu_count() or 1) as pool,
        bar(len(items), desc, progress, unit) as counter,
    ):
        for result in pool.map(fn, items):
            yield result
            counter.update(1)
