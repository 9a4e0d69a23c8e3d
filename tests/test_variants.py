"""Completing variant groups after matching (``variants.complete``): the check's own rule."""

from __future__ import annotations

import os

import pytest

from photomatch import variants
from photomatch.checking import Checker
from photomatch.decision import DEFAULT_POLICY
from photomatch.results import MATCHED, Candidate, QueryResult


@pytest.fixture()
def album(tmp_path):
    # Real files with distinct bytes and ages (the oldest of a group is its primary).
    paths = {}
    for age, name in enumerate(["P.jpg", "A.jpg", "B.jpg", "C.jpg"]):
        path = tmp_path / name
        path.write_bytes(name.encode() * 10)
        os.utime(path, ns=(10**18 + age, 10**18 + age))
        paths[name[0]] = str(path)
    return paths


def test_a_file_joins_a_group_only_as_one_capture_with_every_member(album, monkeypatch):
    # P and A were grouped by the check. B passes for P but not for A (a frame of
    # a still burst next to P); C is one capture with both (another copy).
    p, a, b, c = (album[k] for k in "PABC")
    alike = {frozenset(x) for x in [(p, a), (p, b), (p, c), (a, c)]}
    monkeypatch.setattr(variants, "_near_files", lambda arrays, paths, bits: {p: [b, c]})
    monkeypatch.setattr(Checker, "same_capture", lambda self, x, y: frozenset((x, y)) in alike)
    result = QueryResult(
        set="s",
        query="/thumbs/t.jpg",
        status=MATCHED,
        match=p,
        distance=4,
        candidates=(Candidate(p, 4, "full", 0.99, (a,)),),
        score=0.99,
        variants=(a,),
        confidence=0.999,
        reason="framed",
    )
    (done,) = variants.complete(object(), [result], DEFAULT_POLICY, loader=lambda path: None)
    assert done.match == p
    assert sorted(done.variants) == sorted([a, c])
    assert b not in done.variants and all(x.path != b for x in done.candidates)


def test_a_stranger_is_not_completed(album, monkeypatch):
    # A candidate whose score could not make it an answer is not worth decoding copies for.
    p = album["P"]
    asked = []
    monkeypatch.setattr(variants, "_near_files", lambda arrays, paths, bits: asked.append(paths))
    result = QueryResult(
        set="s",
        query="/thumbs/t.jpg",
        status="unmatched",
        match=None,
        distance=30,
        candidates=(Candidate(p, 30, "full", 0.4),),
        score=0.4,
    )
    assert variants.complete(object(), [result], DEFAULT_POLICY) == [result]
    assert asked == []
