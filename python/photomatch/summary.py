"""What the command line prints: one-screen summaries, skip lists, JSON.

Data goes to stdout; names are shown escaped (a newline or an undecodable byte
in a file name never breaks a line of the summary).
"""

from __future__ import annotations

import json
import os
from typing import Any

import click

from . import review
from .index import IndexReport
from .results import AMBIGUOUS, MATCHED, UNMATCHED, MatchRun, results_paths

#: Unreadable files listed in the text summary; the JSON output has them all.
SHOWN_SKIPS = 8


def index_dict(report: IndexReport) -> dict[str, Any]:
    return {
        "album": report.album,
        "index": report.index_path,
        "images": report.images,
        "decoded": report.decoded,
        "from_previews": report.from_previews,
        "unchanged": report.unchanged,
        "removed": report.removed,
        "ignored": report.ignored,
        "rebuilt": report.rebuilt,
        "unreadable": [{"path": p, "reason": r} for p, r in report.errors],
        "unreadable_folders": [{"path": p, "reason": r} for p, r in report.unreadable_folders],
    }


def index_line(report: IndexReport) -> str:
    return (
        f"album {shown(report.album)}: {report.images} images, {len(report.errors)} unreadable, "
        f"{report.ignored} other files ignored\n"
        f"index {shown(report.index_path)}: {report.decoded} decoded"
        + (f" ({report.from_previews} from EXIF previews)" if report.from_previews else "")
        + ", "
        f"{report.unchanged} unchanged, {report.removed} removed"
        + (" (rebuilt)" if report.rebuilt else "")
    )


def print_match_summary(
    run: MatchRun, report: IndexReport, out: str, verbose: bool = False
) -> None:
    """The text summary of a match; ``verbose`` adds the pixel check's decodes."""
    click.echo(index_line(report))
    table = run.count_by_set()
    unreadable: dict[str, int] = {}
    for s in run.skipped_queries:
        for info in run.sets:
            if s.path.startswith(info.folder + os.sep):
                unreadable[info.name] = unreadable.get(info.name, 0) + 1
                break
    width = max([len(shown(n)) for n in table] + [5])
    click.echo(
        f"\n{'set':<{width}}  {MATCHED:>8} {AMBIGUOUS:>10} {UNMATCHED:>10} {'unreadable':>11}"
    )
    totals = [0, 0, 0, 0]
    for name, row in table.items():
        cells = [row[MATCHED], row[AMBIGUOUS], row[UNMATCHED], unreadable.get(name, 0)]
        totals = [t + c for t, c in zip(totals, cells, strict=True)]
        click.echo(
            f"{shown(name):<{width}}  {cells[0]:>8} {cells[1]:>10} {cells[2]:>10} {cells[3]:>11}"
        )
    if len(table) > 1:
        click.echo(
            f"{'total':<{width}}  {totals[0]:>8} {totals[1]:>10} {totals[2]:>10} {totals[3]:>11}"
        )
    if verbose and run.pixel_checks:
        n = len(run.results)
        click.echo(
            f"pixel check: {run.pixel_checks} album files decoded again "
            f"({run.pixel_checks / max(n, 1):.1f} per thumbnail, "
            f"{1000 * run.pixel_check_s / run.pixel_checks:.0f} ms each)"
        )
    echo_skips("unreadable thumbnails", [(s.path, s.reason) for s in run.skipped_queries])
    echo_skips("unreadable album files", [(s.path, s.reason) for s in run.skipped_album])
    echo_skips("unreadable album folders", report.unreadable_folders)
    csv_path, json_path = results_paths(out)
    page = os.path.join(out, review.REVIEW_NAME)
    click.echo(f"\nwrote {csv_path}, {json_path} and {page}")
    doubtful = totals[1] + totals[2] + totals[3]
    if doubtful:
        click.echo(
            f"{doubtful} thumbnail(s) need review (ambiguous, unmatched or unreadable): "
            f"photomatch review {out}"
        )


def echo_skips(title: str, skips: list[tuple[str, str]]) -> None:
    if not skips:
        return
    click.echo(f"\n{title} ({len(skips)}):")
    for path, reason in skips[:SHOWN_SKIPS]:
        click.echo(f"  {shown(path)}: {shown(reason)}")
    if len(skips) > SHOWN_SKIPS:
        click.echo(f"  ... and {len(skips) - SHOWN_SKIPS} more (see the JSON output)")


def shown(text: str) -> str:
    """``text`` for a terminal line: control characters (a newline in a file name) and
    bytes that are not UTF-8 are shown escaped, so each name stays on its line, as text."""
    if text.isprintable():
        return text
    text = os.fsencode(text).decode("utf-8", "backslashreplace")
    return "".join(ch if ch.isprintable() else ascii(ch)[1:-1] for ch in text)


def print_json(data: dict[str, Any]) -> None:
    click.echo(json.dumps(data, indent=1, ensure_ascii=True))
