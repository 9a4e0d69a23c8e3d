"""Hash an album on a Dask ``distributed`` cluster; this process alone writes the index.

``photomatch index ALBUM --scheduler tcp://HOST:8786`` (and ``match ... --scheduler``)
sends the files to hash, in batches of ``BATCH_FILES``, to the workers of a running
Dask scheduler. The workers must see the album at the same path (shared storage)
and run the same photomatch; each batch comes back as the index rows that
``index.file_rows`` makes (``hashing.hash_file``, exactly as a local run), and the
coordinator commits it as it arrives, so an interrupted run keeps what came back and
a rerun hashes only the rest. A worker lost mid-run costs nothing but time: the
scheduler gives its batches to another worker.

``WorkerShards`` holds an album's hash rows on the workers, one shard each where
there are enough workers, and searches them there: each worker runs the kernel on its
shard and the coordinator merges the answers exactly (``shards.merge_topk``).

Dask is an optional extra (``pip install 'photomatch[cluster]'``), imported only
here and only when a scheduler is given: without one, nothing in photomatch
imports it. On the workers, full decodes scale better over processes than threads
(README *Speed*): start them as ``dask worker ADDRESS --nworkers N --nthreads 1``.
"""

from __future__ import annotations

import importlib
import os
import pickle
import socket
import time
from collections.abc import Iterator, Sequence
from types import TracebackType
from typing import Any

import numpy as np
import numpy.typing as npt

from . import _core, hashing
from .errors import PhotomatchError
from .index import BATCH_SIZE, AlbumIndex, FileRow, IndexReport, ScanEntry, file_rows
from .shards import TopK, merge_topk, shard_offsets

#: Files per task sent to a worker (and rows per commit on the coordinator).
BATCH_FILES = BATCH_SIZE
#: Batches kept in flight per worker thread: enough that no worker waits for the next
#: task, few enough that the coordinator's memory stays flat on any album size.
IN_FLIGHT_PER_THREAD = 2
#: Seconds to wait for a scheduler to answer, and for a first worker to join it.
CONNECT_TIMEOUT_S = 30
WORKER_WAIT_S = 60
#: Seconds between two looks at how many worker threads the cluster has.
LIMIT_REFRESH_S = 5.0
#: Seconds the whole cluster run may take, or None for no limit (the tests set one).
RUN_TIMEOUT_S: float | None = None


class ClusterError(PhotomatchError, ConnectionError):
    """The Dask cluster cannot be used: Dask missing, scheduler unreachable, no workers,
    a worker that cannot see the album or runs another photomatch."""


def index_album(
    album: str,
    scheduler: str,
    index_path: str | None = None,
    rebuild: bool = False,
    progress: bool = False,
    previews: bool = True,
) -> IndexReport:
    """``api.index_album`` with the hashing done by the cluster at ``scheduler``."""
    with AlbumIndex(album, index_path, rebuild=rebuild) as index:
        return index.update(progress=progress, previews=previews, scheduler=scheduler)


def hash_batch(root: str, entries: Sequence[ScanEntry], previews: bool) -> tuple[int, int, bytes]:
    """Runs on a worker: ``(HASH_VERSION, WORDS, rows)`` for ``entries`` of ``root``, the
    rows pickled into one bytes object: Dask serialises a list item by item, which
    cost the coordinator 0.11 ms per row, against under 0.001 ms for one pickle
    (``benches/cluster_overhead.py``)."""
    if not os.path.isdir(root):
        raise FileNotFoundError(
            f"album {root} not found on Dask worker host {socket.gethostname()}: "
            "the workers must see the album at the same path"
        )
    rows = file_rows(root, entries, previews)
    return hashing.HASH_VERSION, hashing.WORDS, pickle.dumps(rows, protocol=pickle.HIGHEST_PROTOCOL)


def hash_batches(
    scheduler: str, root: str, entries: Sequence[ScanEntry], previews: bool
) -> Iterator[list[FileRow]]:
    """The index rows of ``entries``, hashed by the cluster's workers, one list per
    batch of ``BATCH_FILES`` files, in the order the batches finish.

    Raises ClusterError when Dask is not installed, the scheduler does not answer,
    no worker joins within ``WORKER_WAIT_S``, or a batch fails on the workers (for
    instance a worker that cannot see ``root``). Nothing is contacted when
    ``entries`` is empty.
    """
    if not entries:
        return
    distributed = _distributed()
    client = _connect(distributed, scheduler)
    try:
        try:
            client.wait_for_workers(1, timeout=WORKER_WAIT_S)
        except (TimeoutError, OSError):
            raise ClusterError(
                f"no Dask worker joined the scheduler at {scheduler} within {WORKER_WAIT_S} s"
            ) from None
        batches = (
            list(entries[at : at + BATCH_FILES]) for at in range(0, len(entries), BATCH_FILES)
        )

        def submit() -> Any:
            batch = next(batches, None)
            if batch is None:
                return None
            return client.submit(hash_batch, root, batch, previews, pure=False)

        # The workers' thread count, asked again now and then (workers come and go):
        # asking on every batch would cost a scheduler round trip per batch.
        limit, asked = _in_flight_limit(client), time.monotonic()
        first = [submit() for _ in range(limit)]
        first = [future for future in first if future is not None]
        running = distributed.as_completed(first, loop=client.loop, timeout=RUN_TIMEOUT_S)
        in_flight = len(first)
        for future in _until_timeout(running, scheduler):
            in_flight -= 1
            try:
                version, words, blob = future.result()
            except Exception as exc:  # the worker's exception, or the scheduler's verdict
                raise ClusterError(
                    f"the Dask cluster at {scheduler} failed to hash a batch of {root}: "
                    f"{type(exc).__name__}: {exc}"
                ) from None
            future.release()
            if (version, words) != (hashing.HASH_VERSION, hashing.WORDS):
                raise ClusterError(
                    f"a Dask worker hashes with hash version {version}, {words} words per row; "
                    f"this photomatch with {hashing.HASH_VERSION}, {hashing.WORDS}: "
                    "install the same photomatch on the workers"
                )
            if time.monotonic() - asked > LIMIT_REFRESH_S:
                limit, asked = _in_flight_limit(client), time.monotonic()
            while in_flight < limit:
                more = submit()
                if more is None:
                    break
                running.add(more)
                in_flight += 1
            rows: list[FileRow] = pickle.loads(blob)  # from our own workers, as all Dask data
            yield rows
    finally:
        client.close()


class WorkerShards:
    """Album hash rows held as shards on the workers of the Dask cluster at
    ``scheduler``, searched there. Use as a context manager or call ``close()``.

    ``shards``: ``uint64`` arrays of shape ``(N_s, W)`` (their rows are numbered on
    through the shards in order, as ``shards.hamming_topk_shards`` numbers them);
    they are sent to the workers once, spread over them, and stay there until
    ``close()``.
    """

    def __init__(self, scheduler: str, shards: Sequence[npt.NDArray[np.uint64]]) -> None:
        distributed = _distributed()
        self._scheduler = scheduler
        self._client = _connect(distributed, scheduler)
        try:
            try:
                self._client.wait_for_workers(1, timeout=WORKER_WAIT_S)
            except (TimeoutError, OSError):
                raise ClusterError(
                    f"no Dask worker joined the scheduler at {scheduler} within {WORKER_WAIT_S} s"
                ) from None
            arrays = [np.ascontiguousarray(s, dtype=np.uint64) for s in shards]
            self._offsets = [int(o) for o in shard_offsets(arrays)]
            self._held = self._client.scatter(arrays, broadcast=False)
        except BaseException:
            self._client.close()
            raise

    def search(self, queries: npt.NDArray[np.uint64], k: int) -> TopK:
        """``hamming_topk`` of ``queries`` over all shards: ``(indices, distances)`` of
        shape ``(Q, min(k, total rows))``, global rows, ties included."""
        if k < 1:
            raise ValueError(f"k must be at least 1, got {k}")
        queries = np.ascontiguousarray(queries, dtype=np.uint64)
        futures = [
            self._client.submit(_shard_topk, queries, held, k, pure=False) for held in self._held
        ]
        try:
            parts = self._client.gather(futures)
        except Exception as exc:
            raise ClusterError(
                f"the Dask cluster at {self._scheduler} failed to search a shard: "
                f"{type(exc).__name__}: {exc}"
            ) from None
        return merge_topk(parts, self._offsets, len(queries), k)

    def close(self) -> None:
        """Release the shards on the workers and disconnect (idempotent)."""
        self._held = []
        self._client.close()

    def __enter__(self) -> WorkerShards:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


def _shard_topk(queries: npt.NDArray[np.uint64], shard: npt.NDArray[np.uint64], k: int) -> TopK:
    """Runs on a worker: the kernel on its shard (arrays that arrived unaligned in a
    message buffer are copied first; the kernel takes aligned rows only)."""
    queries = np.require(queries, dtype=np.uint64, requirements=["C", "A"])
    shard = np.require(shard, dtype=np.uint64, requirements=["C", "A"])
    return _core.hamming_topk(queries, shard, k)


def _until_timeout(running: Any, scheduler: str) -> Iterator[Any]:
    try:
        yield from running
    except TimeoutError:
        raise ClusterError(
            f"the Dask cluster at {scheduler} did not hash the album within {RUN_TIMEOUT_S} s"
        ) from None


def _in_flight_limit(client: Any) -> int:
    threads = sum(client.nthreads().values())
    return max(2, IN_FLIGHT_PER_THREAD * int(threads))


def _distributed() -> Any:
    """The ``distributed`` module, or ClusterError saying how to install it."""
    try:
        return importlib.import_module("distributed")
    except ImportError:
        raise ClusterError(
            "--scheduler needs Dask distributed, which is not installed: "
            "pip install 'photomatch[cluster]'"
        ) from None


def _connect(distributed: Any, scheduler: str) -> Any:
    try:
        return distributed.Client(scheduler, timeout=CONNECT_TIMEOUT_S, set_as_default=False)
    except (OSError, TimeoutError, ValueError) as exc:
        raise ClusterError(f"cannot reach the Dask scheduler at {scheduler}: {exc}") from None
