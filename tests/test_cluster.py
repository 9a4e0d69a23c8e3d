"""Indexing on a real Dask cluster: a ``dask scheduler`` and two ``dask worker``
processes on 127.0.0.1 hash the album; the index equals a local build, even when a
worker is killed mid-run.

Dask is the optional ``cluster`` extra: these tests skip without it, except where
``PHOTOMATCH_REQUIRE_CLUSTER`` (``.ci/run`` sets it) or ``CI`` is set, where they must run.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from photomatch import api, cluster
from photomatch.cli import main

from genalbum import write_album

try:
    import distributed
except ImportError:
    distributed = None

#: In CI (``.ci/run`` sets PHOTOMATCH_REQUIRE_CLUSTER; CI services set CI) these tests
#: must run: without Dask they fail there instead of skipping.
REQUIRED = bool(os.environ.get("PHOTOMATCH_REQUIRE_CLUSTER") or os.environ.get("CI"))
needs_dask = pytest.mark.skipif(
    distributed is None and not REQUIRED,
    reason="Dask distributed is not installed (pip install 'photomatch[cluster]')",
)

#: Runs in each worker before it joins (``dask worker --preload``): each file takes
#: a little longer to hash, so that a worker killed after the first batch still had work.
SLOW_PRELOAD = """
import time
from photomatch import hashing
# dask imports a preload module more than once: wrap the real function only, once.
_real = getattr(hashing, "_real_hash_file", hashing.hash_file)
hashing._real_hash_file = _real
def _slow(path, album=True, previews=False):
    time.sleep({delay})
    return _real(path, album, previews)
hashing.hash_file = _slow
"""


def _dask() -> str:
    """The ``dask`` command of this interpreter's environment."""
    here = os.path.join(os.path.dirname(sys.executable), "dask")
    found = here if os.path.exists(here) else shutil.which("dask")
    assert found, "the dask command is not installed"
    return found


@dataclass
class Cluster:
    address: str
    workers: list[subprocess.Popen]


def _start(args: list[str], log: str) -> subprocess.Popen:
    with open(log, "wb") as out:
        return subprocess.Popen(
            [_dask(), *args], stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )


def _stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


#: A worker whose photomatch hashes with another hash version.
OTHER_VERSION_PRELOAD = """
from photomatch import hashing
hashing.HASH_VERSION += 100
"""


def _cluster(tmp_path, delay: float, preload_code: str | None = None) -> Iterator[Cluster]:
    assert distributed is not None, "PHOTOMATCH_REQUIRE_CLUSTER is set: install the cluster extra"
    folder = tmp_path / "dask"
    folder.mkdir()
    scheduler_file = str(folder / "scheduler.json")
    preload = folder / "slow_hashing.py"
    preload.write_text(preload_code or SLOW_PRELOAD.format(delay=delay))
    procs = [
        _start(
            [
                "scheduler",
                "--host",
                "127.0.0.1",
                "--port",
                "0",
                "--no-dashboard",
                "--scheduler-file",
                scheduler_file,
            ],
            str(folder / "scheduler.log"),
        )
    ]
    try:
        deadline = time.monotonic() + 40
        while not os.path.exists(scheduler_file) and time.monotonic() < deadline:
            assert procs[0].poll() is None, (folder / "scheduler.log").read_text()
            time.sleep(0.1)
        time.sleep(0.2)  # the file is written whole, but give the writer a moment
        with open(scheduler_file, encoding="utf-8") as fh:
            address = json.load(fh)["address"]
        for i in range(2):
            procs.append(
                _start(
                    [
                        "worker",
                        address,
                        "--host",
                        "127.0.0.1",
                        "--nthreads",
                        "1",
                        "--no-nanny",  # a killed worker stays dead
                        "--no-dashboard",
                        "--memory-limit",
                        "0",
                        "--name",
                        f"w{i}",
                        "--local-directory",
                        str(folder / f"w{i}"),
                        *(["--preload", str(preload)] if delay or preload_code else []),
                    ],
                    str(folder / f"w{i}.log"),
                )
            )
        with distributed.Client(address, timeout=30, set_as_default=False) as client:
            client.wait_for_workers(2, timeout=40)
        yield Cluster(address, procs[1:])
    finally:
        for proc in reversed(procs):
            _stop(proc)


@pytest.fixture(autouse=True)
def _bounded_runs(monkeypatch):
    """A stuck cluster fails the test instead of hanging the suite."""
    monkeypatch.setattr(cluster, "RUN_TIMEOUT_S", 120)


@pytest.fixture(scope="module")
def dask_cluster(tmp_path_factory) -> Iterator[Cluster]:
    """One cluster for the tests that leave it whole (starting one takes seconds)."""
    yield from _cluster(tmp_path_factory.mktemp("cluster"), delay=0.0)


@pytest.fixture()
def slow_cluster(tmp_path) -> Iterator[Cluster]:
    yield from _cluster(tmp_path, delay=0.1)


@pytest.fixture()
def other_version_cluster(tmp_path) -> Iterator[Cluster]:
    yield from _cluster(tmp_path, delay=0.0, preload_code=OTHER_VERSION_PRELOAD)


def rows(index: str) -> list[tuple]:
    """Every file row of an index but its row id, in path order."""
    with sqlite3.connect(index) as db:
        return db.execute(
            "SELECT path, size, mtime_ns, status, error, width, height, view_ids, hashes, source"
            " FROM files ORDER BY path"
        ).fetchall()


@needs_dask
def test_cluster_index_equals_local_index(dask_cluster, sample, tmp_path, capsys):
    album = sample.album
    local = str(tmp_path / "local.sqlite")
    remote = str(tmp_path / "remote.sqlite")
    api.index_album(album, local)
    code = main(["index", album, "--index", remote, "--scheduler", dask_cluster.address, "--json"])
    assert code == 0
    report = json.loads(capsys.readouterr().out)
    want = rows(local)
    assert len(want) == report["images"] > 5
    assert rows(remote) == want
    # A rerun finds nothing to hash and does not need the cluster's answer to say so.
    code = main(["index", album, "--index", remote, "--scheduler", dask_cluster.address, "--json"])
    assert code == 0
    again = json.loads(capsys.readouterr().out)
    assert again["decoded"] == 0
    assert rows(remote) == want
    # match --scheduler: the cluster indexes, the answers are those of a local run.
    answers = []
    for name, extra in (("local", []), ("cluster", ["--scheduler", dask_cluster.address])):
        out = tmp_path / f"out-{name}"
        args = [*sample.thumb_sets, "--out", str(out), "--index", str(tmp_path / f"{name}.m")]
        code = main(["match", album, *args, "--json", *extra])
        assert code in (0, 3)
        summary = json.loads(capsys.readouterr().out)
        assert summary["index"]["decoded"] == len(want)
        assert summary["index"]["unchanged"] == 0
        answers.append((out / "matches.csv").read_text(encoding="utf-8"))
        assert rows(str(tmp_path / f"{name}.m")) == want
    assert answers[0] == answers[1]


@needs_dask
def test_killing_a_worker_mid_run_still_gives_the_local_index(slow_cluster, tmp_path, monkeypatch):
    album = str(tmp_path / "album")
    write_album(album, 40, per_folder=10)
    local = str(tmp_path / "local.sqlite")
    remote = str(tmp_path / "remote.sqlite")
    api.index_album(album, local, previews=False)
    monkeypatch.setattr(cluster, "BATCH_FILES", 2)
    victim = slow_cluster.workers[0]
    committed: list[int] = []

    def kill_after_first_batch(done: int) -> None:
        committed.append(done)
        if len(committed) == 1:
            os.killpg(victim.pid, signal.SIGKILL)
            victim.wait(timeout=10)

    from photomatch.index import AlbumIndex

    with AlbumIndex(album, remote) as index:
        report = index.update(
            previews=False, scheduler=slow_cluster.address, on_batch=kill_after_first_batch
        )
    assert victim.poll() is not None  # the worker really died, with batches left to do
    assert committed[0] < 40 and len(committed) > 2
    assert report.decoded == 40 and not report.errors
    assert rows(remote) == rows(local)


@needs_dask
def test_an_interrupted_cluster_run_resumes(dask_cluster, tmp_path, monkeypatch):
    album = str(tmp_path / "album")
    write_album(album, 12, per_folder=6)
    local = str(tmp_path / "local.sqlite")
    remote = str(tmp_path / "remote.sqlite")
    api.index_album(album, local)
    monkeypatch.setattr(cluster, "BATCH_FILES", 3)

    def stop(done: int) -> None:
        raise KeyboardInterrupt

    from photomatch.index import AlbumIndex

    with AlbumIndex(album, remote) as index, pytest.raises(KeyboardInterrupt):
        index.update(scheduler=dask_cluster.address, on_batch=stop)
    assert len(rows(remote)) == 3  # the first batch was committed
    report = cluster.index_album(album, dask_cluster.address, remote)
    assert report.decoded == 9 and report.unchanged == 3
    assert rows(remote) == rows(local)


def test_without_scheduler_dask_is_never_imported(tmp_path):
    album = tmp_path / "album"
    write_album(str(album), 3)
    code = (
        "import sys\n"
        "from photomatch import api\n"
        f"api.index_album({str(album)!r}, {str(tmp_path / 'i.sqlite')!r})\n"
        "assert not {'dask', 'distributed'} & set(sys.modules), 'dask imported'\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)


def test_missing_dask_is_one_clear_error(tmp_path, monkeypatch, capsys):
    album = tmp_path / "album"
    write_album(str(album), 2)
    real_import = cluster.importlib.import_module

    def no_dask(name: str, *args: object) -> object:
        if name.split(".")[0] in ("dask", "distributed"):
            raise ModuleNotFoundError(f"No module named {name!r}")
        return real_import(name, *args)

    monkeypatch.setattr(cluster.importlib, "import_module", no_dask)
    code = main(
        ["index", str(album), "--index", str(tmp_path / "i.sqlite"), "--scheduler", "tcp://x:1"]
    )
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 1
    assert err == [
        "photomatch: error: --scheduler needs Dask distributed, which is not installed: "
        "pip install 'photomatch[cluster]'"
    ]


@needs_dask
def test_workers_of_another_hash_version_stop_the_run(other_version_cluster, tmp_path, capsys):
    album = tmp_path / "album"
    write_album(str(album), 4)
    index = str(tmp_path / "i.sqlite")
    code = main(
        ["index", str(album), "--index", index, "--scheduler", other_version_cluster.address]
    )
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 1
    assert len(err) == 1 and "hash version" in err[0] and "same photomatch" in err[0], err
    assert rows(index) == []  # nothing of theirs was written


def test_a_worker_that_cannot_see_the_album_says_so(tmp_path):
    with pytest.raises(FileNotFoundError, match="workers must see the album at the same path"):
        cluster.hash_batch(str(tmp_path / "not-here"), [], True)


@needs_dask
def test_shards_held_by_workers_search_like_one_array(dask_cluster):
    import numpy as np

    from photomatch._core import hamming_topk

    rng = np.random.default_rng(3)
    pool = rng.integers(0, np.iinfo(np.uint64).max, size=(4, 2), dtype=np.uint64)
    album = np.ascontiguousarray(pool[rng.integers(0, 4, size=3000)])  # ties everywhere
    queries = np.concatenate([album[:3], pool[:1] ^ np.uint64(5)])
    sizes = [0, 1000, 7, 0, 1993]
    bounds = np.cumsum([0, *sizes])
    shards = [album[a:b] for a, b in zip(bounds[:-1], bounds[1:], strict=True)]
    with cluster.WorkerShards(dask_cluster.address, shards) as held:
        for k in [1, 5, 64, 3000, 4000]:
            got = held.search(queries, k)
            want = hamming_topk(queries, album, k)
            np.testing.assert_array_equal(got[0], want[0])
            np.testing.assert_array_equal(got[1], want[1])
        with pytest.raises(ValueError, match="k must be at least 1"):
            held.search(queries, 0)
