"""matches.csv: a row for every thumbnail (unreadable ones too), list cells that read back."""

from __future__ import annotations

import csv
import io
import json
import os

from photomatch.results import (
    AMBIGUOUS,
    CSV_COLUMNS,
    MATCHED,
    STATUSES,
    UNREADABLE,
    Candidate,
    MatchRun,
    QueryResult,
    SetInfo,
    Skipped,
    csv_document,
    join_paths,
    read_json,
    split_paths,
    write_json,
)

ROOT = os.path.abspath(os.sep)
ALBUM = os.path.join(ROOT, "album")
HOSTILE = os.path.join(ALBUM, "2024", "a;b 100% =x;.jpg")
PLAIN = os.path.join(ALBUM, "2023", "IMG_1001.jpg")
EDIT = os.path.join(ALBUM, "2023", "IMG_1001 %3B edit;.jpg")


def folder(name: str) -> str:
    return os.path.join(ROOT, "thumbs", name)


def result(set_name: str, name: str, status: str = MATCHED) -> QueryResult:
    return QueryResult(
        set=set_name,
        query=os.path.join(folder(set_name), name),
        status=status,
        match=PLAIN if status == MATCHED else None,
        distance=2,
        candidates=(
            Candidate(PLAIN, 2, "full", 0.99, (EDIT,)),
            Candidate(HOSTILE, 9, "full", 0.5),
        ),
        score=0.99,
        variants=(EDIT, HOSTILE),
        confidence=0.9,
        reason="framed",
    )


def make_run() -> MatchRun:
    sets = (
        SetInfo("prints", folder("prints")),
        SetInfo("=cmd", folder("=cmd")),
        SetInfo("empty", folder("empty")),
        # nested inside prints: its thumbnails belong to it, not to prints
        SetInfo("inner", os.path.join(folder("prints"), "inner")),
    )
    return MatchRun(
        album=ALBUM,
        index_path=os.path.join(ROOT, "i.sqlite"),
        sets=sets,
        results=(
            result("prints", "a1.jpg"),
            result("prints", "a2.jpg", AMBIGUOUS),
            result("=cmd", "c1.jpg"),
        ),
        skipped_queries=(
            Skipped(os.path.join(folder("=cmd"), "bad;1%.jpg"), "=not an image"),
            Skipped(os.path.join(folder("prints"), "broken.jpg"), "empty file"),
            Skipped(os.path.join(folder("empty"), "x.png"), "too large"),
            Skipped(os.path.join(folder("prints"), "inner", "y.jpg"), "truncated"),
            Skipped(os.path.join(ROOT, "elsewhere", "z.jpg"), "gone"),
        ),
    )


def rows(run: MatchRun) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(csv_document(run), newline="")))


def test_every_thumbnail_has_a_row_unreadable_ones_after_their_set():
    run = make_run()
    got = rows(run)
    assert [(r["set"], os.path.basename(r["query"]), r["status"]) for r in got] == [
        ("prints", "a1.jpg", MATCHED),
        ("prints", "a2.jpg", AMBIGUOUS),
        ("prints", "broken.jpg", UNREADABLE),
        ("'=cmd", "c1.jpg", MATCHED),
        ("'=cmd", "bad;1%.jpg", UNREADABLE),
        ("empty", "x.png", UNREADABLE),
        ("inner", "y.jpg", UNREADABLE),
        ("", "z.jpg", UNREADABLE),
    ]
    queries = {r["query"] for r in got}
    assert queries == {r.query for r in run.results} | {s.path for s in run.skipped_queries}


def test_an_unreadable_row_has_only_set_query_status_and_the_reason():
    got = {os.path.basename(r["query"]): r for r in rows(make_run())}
    row = got["bad;1%.jpg"]
    assert row["query"] == os.path.join(folder("=cmd"), "bad;1%.jpg")  # not encoded
    assert row["note"] == "'=not an image"  # neutralised like every cell
    assert got["broken.jpg"]["note"] == "empty file"
    for r in (row, got["broken.jpg"]):
        filled = {c for c in CSV_COLUMNS if r[c]}
        assert filled == {"set", "query", "status", "note"}


def test_list_cells_read_back_to_the_paths():
    got = rows(make_run())[0]
    assert split_paths(got["candidates"]) == [PLAIN, HOSTILE]
    assert split_paths(got["variants"]) == [EDIT, HOSTILE]
    # a name without ';' or '%' is written as it is
    assert got["candidates"].split(";")[0] == PLAIN
    assert "%3B" in got["variants"] and "%25" in got["variants"]
    assert split_paths("") == []


def test_join_and_split_are_inverse_on_hostile_names():
    names = ["a;b", "%", "%3B", "%%3b;", ";", "plain.jpg", "x%25y", "=1+2", "'quoted"]
    for paths in ([], [PLAIN], names, [os.path.join(ALBUM, n) for n in names]):
        assert split_paths(join_paths(paths)) == paths
    assert join_paths(["a;b%c"]) == "a%3Bb%25c"
    assert join_paths([PLAIN, PLAIN]) == f"{PLAIN};{PLAIN}"


def test_split_paths_undoes_the_spreadsheet_guard():
    run = make_run()
    run = MatchRun(
        album=run.album,
        index_path=run.index_path,
        sets=run.sets,
        results=(
            QueryResult(
                "prints",
                os.path.join(folder("prints"), "r.jpg"),
                MATCHED,
                "=evil;1",
                0,
                (Candidate("=evil;1", 0, "full"), Candidate("-2%", 1, "full")),
                variants=("@x",),
            ),
        ),
    )
    got = rows(run)[0]
    assert got["candidates"].startswith("'=")
    assert split_paths(got["candidates"]) == ["=evil;1", "-2%"]
    assert split_paths(got["variants"]) == ["@x"]


def test_json_keeps_unreadable_out_of_results_and_round_trips(tmp_path):
    run = make_run()
    path = str(tmp_path / "matches.json")
    write_json(run, path)
    assert read_json(path) == run
    data = json.loads((tmp_path / "matches.json").read_text())
    assert {r["status"] for r in data["results"]} <= set(STATUSES)
    assert len(data["skipped_queries"]) == len(run.skipped_queries)
