"""The ``photomatch`` command line.

Exit codes: 0 done, every thumbnail matched; 1 error; 2 usage error (bad
arguments, missing or empty folders); 3 done, but some thumbnails need review
(ambiguous, unmatched or unreadable).

Every error is one line on stderr, ``photomatch: error: <what>``, whether click
found it in the arguments or photomatch found it later (``main``).
"""

from __future__ import annotations

import dataclasses
import os
import sys
import webbrowser

import click

from . import api, demo, outdir, review
from . import export as export_mod
from .decision import Policy
from .errors import PhotomatchError, UsageError
from .index import IndexReport, is_inside
from .results import (
    Decision,
    MatchRun,
    check_decisions,
    decisions_path,
    read_decisions,
    read_json,
    results_paths,
)
from .summary import echo_skips, index_dict, index_line, print_json, print_match_summary, shown

EXIT_OK, EXIT_ERROR, EXIT_USAGE, EXIT_REVIEW = 0, 1, 2, 3

index_option = click.option(
    "--index",
    "index_path",
    type=click.Path(dir_okay=False),
    help="Index file (default: one per album in the user cache folder).",
)
rebuild_option = click.option(
    "--rebuild", is_flag=True, help="Discard the index and decode everything again."
)
jobs_option = click.option(
    "--jobs",
    "-j",
    type=click.IntRange(min=1),
    help="Threads (default: one per core; two per core for the pixel check).",
)
previews_option = click.option(
    "--no-previews",
    "no_previews",
    is_flag=True,
    help="Hash every album photo from its own pixels, never from the JPEG's embedded "
    "EXIF preview (slower; files hashed from previews before are decoded again).",
)
scheduler_option = click.option(
    "--scheduler",
    metavar="ADDRESS",
    help="Hash the album on a Dask distributed cluster (e.g. tcp://HOST:8786) whose workers "
    "see it at the same path; this process writes the index. Needs photomatch[cluster].",
)
json_option = click.option(
    "--json", "as_json", is_flag=True, help="Print a JSON summary on stdout instead of text."
)
quiet_option = click.option("--quiet", "-q", is_flag=True, help="No progress bars.")
progress_option = click.option(
    "--progress/--no-progress",
    "progress",
    default=None,
    help="Draw progress bars on stderr, or not (default: only when stderr is a terminal "
    "and -q is not given).",
)


def _index_on_cluster(
    album: str,
    scheduler: str,
    index_path: str | None,
    rebuild: bool,
    progress: bool,
    no_previews: bool,
) -> IndexReport:
    """``index`` or ``match`` with ``--scheduler``: the album hashed on Dask workers."""
    from . import cluster  # Dask only when asked for

    return cluster.index_album(
        album, scheduler, index_path, rebuild=rebuild, progress=progress, previews=not no_previews
    )


def _show_progress(progress: bool | None, quiet: bool) -> bool:
    """Progress bars: as ``--progress/--no-progress`` says, else when stderr is a
    terminal and ``-q`` is not given (a log file or a pipe gets no bar fragments)."""
    if progress is not None:
        return progress
    if quiet:
        return False
    try:
        return sys.stderr is not None and sys.stderr.isatty()
    except (AttributeError, ValueError):  # no stderr, or a closed one
        return False


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--debug", is_flag=True, help="Show tracebacks on errors.")
@click.version_option(package_name="photomatch")
def cli(debug: bool) -> None:
    """Find the original photos behind low-quality thumbnails in a large local album.

    The album is only ever read: photomatch never writes, moves or deletes a file in it.
    """


@cli.command("index", short_help="Build or refresh the album's index (new or changed files only).")
@click.argument("album", type=click.Path(file_okay=False))
@index_option
@rebuild_option
@jobs_option
@previews_option
@scheduler_option
@json_option
@quiet_option
@progress_option
def index_cmd(
    album: str,
    index_path: str | None,
    rebuild: bool,
    jobs: int | None,
    no_previews: bool,
    scheduler: str | None,
    as_json: bool,
    quiet: bool,
    progress: bool | None,
) -> None:
    """Build or refresh the index of ALBUM (only new or changed files are decoded)."""
    if scheduler is not None:
        report = _index_on_cluster(
            album, scheduler, index_path, rebuild, _show_progress(progress, quiet), no_previews
        )
    else:
        report = api.index_album(
            album,
            index_path,
            rebuild=rebuild,
            progress=_show_progress(progress, quiet),
            jobs=jobs,
            previews=not no_previews,
        )
    if as_json:
        print_json(index_dict(report))
    else:
        click.echo(index_line(report))
        echo_skips("unreadable album files", report.errors)
        echo_skips("unreadable album folders", report.unreadable_folders)


@cli.command(
    "match", short_help="Find the originals of THUMBS in ALBUM; write the results to --out."
)
@click.argument("album", type=click.Path(file_okay=False))
@click.argument("thumbs", nargs=-1, required=True, type=click.Path(file_okay=False))
@click.option(
    "--out",
    "-o",
    default="photomatch-results",
    show_default=True,
    metavar="DIR",
    type=click.Path(file_okay=False),
    help="Folder for matches.csv, matches.json and review.html.",
)
@click.option(
    "--prefer",
    metavar="PATTERN",
    help="Glob on album paths (case aside) naming a variant group's primary, e.g. '*/edited/*' "
    "(default: the oldest file of the group).",
)
@index_option
@rebuild_option
@jobs_option
@previews_option
@scheduler_option
@json_option
@quiet_option
@progress_option
@click.option(
    "--verbose",
    "-v",
    is_flag=True,
    help="Also print how many album files the pixel check decoded, and how fast.",
)
def match_cmd(
    album: str,
    thumbs: tuple[str, ...],
    out: str,
    prefer: str | None,
    index_path: str | None,
    rebuild: bool,
    jobs: int | None,
    no_previews: bool,
    scheduler: str | None,
    as_json: bool,
    quiet: bool,
    progress: bool | None,
    verbose: bool,
) -> None:
    """Match the thumbnails in each THUMBS folder (one set per folder) against ALBUM."""
    clustered = None
    if scheduler is not None:
        # The cluster brings the index up to date first; the match below then finds
        # nothing new to hash (its pixel check runs here, on this machine's cores).
        outdir.check_paths(album, thumbs, out)
        clustered = _index_on_cluster(
            album, scheduler, index_path, rebuild, _show_progress(progress, quiet), no_previews
        )
        rebuild = False
    run, report, published = api.match_and_publish(
        album,
        thumbs,
        out,
        index_path,
        Policy(prefer=prefer),
        rebuild=rebuild,
        progress=_show_progress(progress, quiet),
        jobs=jobs,
        previews=not no_previews,
    )
    assert published is not None  # out is always given here
    if clustered is not None:
        report = _merged(clustered, report)
    page = published.review
    _say_dropped(published)
    if as_json:
        print_json(
            {
                "index": index_dict(report),
                "out": os.path.abspath(out),
                "review": os.path.abspath(page),
                "summary": run.count_by_set(),
                "skipped_queries": len(run.skipped_queries),
                "pixel_checks": run.pixel_checks,
                "pixel_check_s": round(run.pixel_check_s, 3),
                "needs_review": run.needs_review(),
            }
        )
    else:
        print_match_summary(run, report, out, verbose=verbose)
    sys.exit(EXIT_REVIEW if run.needs_review() else EXIT_OK)


@cli.command("review", short_help="Check the answers in a browser; save picks to decisions.json.")
@click.argument("results_dir", metavar="DIR", type=click.Path(file_okay=False))
@click.option(
    "--port",
    type=click.IntRange(0, 65535),
    default=0,
    show_default=True,
    help="Port on 127.0.0.1 (0: any free port).",
)
@click.option("--no-browser", is_flag=True, help="Print the page's address; do not open it.")
@jobs_option
@quiet_option
@progress_option
def review_cmd(
    results_dir: str,
    port: int,
    no_browser: bool,
    jobs: int | None,
    quiet: bool,
    progress: bool | None,
) -> None:
    """Open the review page of DIR (written by match) and save your picks to DIR/decisions.json.

    Serves the page on 127.0.0.1 with a secret address until Ctrl-C; every pick
    is saved at once. Opened as a plain file, the page offers a download instead.
    """
    from .review_server import ReviewServer

    # Under the results folder's lock: a match publishing there meanwhile cannot
    # leave this page beside another run's matches.json.
    if is_inside(results_dir, _read_results(results_dir).album):
        raise UsageError(f"results folder is inside the album: {results_dir}")
    with outdir.OutLock(results_dir):
        run = _read_results(results_dir)
        decisions = _load_decisions(results_dir, run, strict=False)
        page = _write_review(
            run, results_dir, decisions, jobs=jobs, progress=_show_progress(progress, quiet)
        )
    try:
        server = ReviewServer(results_dir, run, decisions, port=port, log=not quiet)
    except OSError as exc:
        raise UsageError(f"cannot listen on 127.0.0.1:{port}: {exc.strerror or exc}") from None
    with server:
        click.echo(f"review page: {server.url}")
        click.echo(f"(also as a file: {os.path.abspath(page)}; stop with Ctrl-C)", err=True)
        if not no_browser:
            # Through a private redirect file: a URL on the browser's command line
            # (token included) is visible to every user of the machine.
            server.open_browser(webbrowser.open)
        try:
            server.serve_forever()
        except KeyboardInterrupt:
            click.echo("review server stopped", err=True)


@cli.command("export", short_help="Copy each set's chosen originals from DIR to DEST/<set>/.")
@click.argument("results_dir", metavar="DIR", type=click.Path(file_okay=False))
@click.option(
    "--to",
    "dest",
    required=True,
    metavar="DEST",
    type=click.Path(file_okay=False),
    help="Destination folder; each set goes to DEST/<set>/.",
)
@click.option(
    "--mode",
    type=click.Choice(export_mod.MODES),
    default="copy",
    show_default=True,
    help="copy: independent copies. hardlink: each exported file is the album original "
    "itself (same file, no extra space), so editing it edits the original in the album. "
    "symlink: links that point into the album; editing through one edits the original "
    "too, and they break if the album moves.",
)
@click.option("--dry-run", is_flag=True, help="Show what would be exported; write nothing.")
@click.option(
    "--variants",
    is_flag=True,
    help="Also export the other files of each original's variant group to DEST/<set>/variants/.",
)
@click.option(
    "--verify", is_flag=True, help="Read every copy back and compare its SHA-256 with the original."
)
@json_option
@quiet_option
@progress_option
def export_cmd(
    results_dir: str,
    dest: str,
    mode: str,
    dry_run: bool,
    variants: bool,
    verify: bool,
    as_json: bool,
    quiet: bool,
    progress: bool | None,
) -> None:
    """Copy the chosen originals of each set in DIR (written by match) into DEST/<set>/.

    The chosen original is the one picked in DIR/decisions.json (photomatch review),
    else photomatch's match; "none of these", ambiguous and unmatched export nothing.
    A rerun keeps what is already there and removes the temporary files of an
    export that was killed; a second export into the same DEST waits for the first.
    """
    run = _read_results(results_dir)
    decisions = _load_decisions(results_dir, run, strict=True)
    items = export_mod.export_originals(
        run,
        dest,
        mode=mode,
        dry_run=dry_run,
        progress=_show_progress(progress, quiet),
        decisions=decisions,
        verify=verify,
        variants=variants,
    )
    counts: dict[str, int] = {}
    for it in items:
        counts[it.status] = counts.get(it.status, 0) + 1
    if as_json:
        print_json(
            {
                "dest": os.path.abspath(dest),
                "dry_run": dry_run,
                "decisions": len(decisions),
                "counts": counts,
                "files": [it.__dict__ for it in items],
            }
        )
        return
    if decisions:
        click.echo(f"following {len(decisions)} decision(s) from {decisions_path(results_dir)}")
    if dry_run:
        for it in items:
            click.echo(f"{it.status:8} {shown(it.source)} -> {shown(it.destination)}")
    done = ", ".join(f"{n} {status}" for status, n in sorted(counts.items())) or "nothing to export"
    click.echo(f"{'would export' if dry_run else 'exported'} to {os.path.abspath(dest)}: {done}")
    if not dry_run and items:
        click.echo(f"manifest: {os.path.join(os.path.abspath(dest), export_mod.MANIFEST_NAME)}")


@cli.command("demo", short_help="Try photomatch on a sample album that it builds in DIR.")
@click.argument(
    "folder", metavar="[DIR]", default="photomatch-demo", type=click.Path(file_okay=False)
)
@quiet_option
@progress_option
def demo_cmd(folder: str, quiet: bool, progress: bool | None) -> None:
    """Build a small sample album and thumbnails in DIR, then match and export them."""
    if os.path.exists(folder) and os.listdir(folder):
        raise UsageError(f"demo folder is not empty: {folder} (give a new or empty DIR)")
    layout = demo.build_sample(folder)
    out = os.path.join(folder, "results")
    run, report = api.match_album(
        layout.album,
        layout.thumb_sets,
        out,
        index_path=os.path.join(folder, "index.sqlite"),
        progress=_show_progress(progress, quiet),
    )
    print_match_summary(run, report, out)
    items = export_mod.export_originals(
        run, os.path.join(folder, "export"), progress=_show_progress(progress, quiet)
    )
    click.echo(
        f"exported {len(items)} originals to {os.path.abspath(os.path.join(folder, 'export'))}"
    )
    click.echo(
        "\nLook at:\n"
        f"  the album       {os.path.abspath(layout.album)}\n"
        f"  the thumbnails  {', '.join(os.path.abspath(s) for s in layout.thumb_sets)}\n"
        f"  the answers     {os.path.abspath(results_paths(out)[0])}\n"
        f"  the review page {os.path.abspath(os.path.join(out, review.REVIEW_NAME))}\n"
        "Then try your own: photomatch match ALBUM THUMBS... --out DIR"
    )


def _merged(clustered: IndexReport, local: IndexReport) -> IndexReport:
    """The index report of a match whose index the cluster updated just before: what
    the cluster hashed, plus anything the local pass still found to do."""
    return dataclasses.replace(
        local,
        decoded=clustered.decoded + local.decoded,
        from_previews=clustered.from_previews + local.from_previews,
        unchanged=max(0, local.unchanged - clustered.decoded),
        removed=clustered.removed + local.removed,
        rebuilt=clustered.rebuilt or local.rebuilt,
    )


def _read_results(results_dir: str) -> MatchRun:
    path = results_paths(results_dir)[1]
    if not os.path.isfile(path):
        raise UsageError(f"no matches.json in {results_dir}; run 'photomatch match' first")
    try:
        return read_json(path)
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        # AttributeError: a document of the wrong shape (a list or null where an object goes).
        raise PhotomatchError(f"cannot read {path}: {type(exc).__name__}: {exc}") from None


def _load_decisions(
    results_dir: str, run: MatchRun, strict: bool
) -> dict[tuple[str, str], Decision]:
    """``DIR/decisions.json`` checked against ``run``.

    Strict (export): any decision that does not fit the results is an error,
    never silently dropped. Otherwise (review): those are dropped with a warning.
    """
    path = decisions_path(results_dir)
    try:
        valid, problems = check_decisions(run, read_decisions(path).values())
    except ValueError as exc:
        raise PhotomatchError(f"cannot read decisions: {exc}") from None
    if problems and strict:
        more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
        raise PhotomatchError(
            f"{path} does not fit matches.json: {problems[0]}{more}; "
            "run 'photomatch review' again or remove decisions.json"
        )
    for problem in problems:
        click.echo(f"photomatch: warning: ignoring a decision: {problem}", err=True)
    return valid


def _say_dropped(published: outdir.Published) -> None:
    """Tell which earlier decisions no longer fit a rerun's results, and where they went."""
    if not published.dropped:
        return
    n = len(published.dropped)
    more = f" (and {n - 1} more)" if n > 1 else ""
    where = f"; the old file is kept as {published.set_aside}" if published.set_aside else ""
    click.echo(
        f"photomatch: {n} earlier decision(s) no longer fit these results and are not "
        f"applied: {published.dropped[0]}{more}{where}",
        err=True,
    )


def _write_review(
    run: MatchRun,
    out: str,
    decisions: dict[tuple[str, str], Decision],
    jobs: int | None = None,
    progress: bool = False,
) -> str:
    try:
        return review.write_review(run, out, decisions, jobs=jobs, progress=progress)
    except OSError as exc:
        raise PhotomatchError(
            f"cannot write the review page in {out}: {exc.strerror or exc}"
        ) from None


def main(argv: list[str] | None = None) -> int:
    """Entry point: run the CLI, turn errors into one clear line and an exit code."""
    args = sys.argv[1:] if argv is None else argv
    debug = "--debug" in args
    try:
        cli.main(args=args, prog_name="photomatch", standalone_mode=False)
    except SystemExit as exc:
        return int(exc.code or 0)
    except click.exceptions.Abort:
        click.echo("photomatch: interrupted", err=True)
        return 130
    except click.ClickException as exc:
        if _NoArgsIsHelp is not None and isinstance(exc, _NoArgsIsHelp):
            exc.show()  # bare ``photomatch``: the help, as click prints it
        else:
            click.echo(_click_error_line(exc), err=True)
        return exc.exit_code
    except UsageError as exc:
        if debug:
            raise
        click.echo(shown(f"photomatch: error: {exc}"), err=True)
        return EXIT_USAGE
    except PhotomatchError as exc:
        if debug:
            raise
        click.echo(shown(f"photomatch: error: {exc}"), err=True)
        return EXIT_ERROR
    except KeyboardInterrupt:
        click.echo("photomatch: interrupted", err=True)
        return 130
    except Exception as exc:  # noqa: BLE001 - one clear line instead of a traceback
        if debug:
            raise
        click.echo(
            shown(
                f"photomatch: error: unexpected {type(exc).__name__}: {exc} "
                "(rerun with --debug for details)"
            ),
            err=True,
        )
        return EXIT_ERROR
    return EXIT_OK


#: click >= 8.2 raises this for a bare group command (it shows the help).
_NoArgsIsHelp: type[click.ClickException] | None = getattr(
    click.exceptions, "NoArgsIsHelpError", None
)


def _click_error_line(exc: click.ClickException) -> str:
    """A click error (bad arguments or options) as photomatch's one line, with
    where to read the usage instead of click's ``Usage:`` block."""
    line = f"photomatch: error: {exc.format_message()}"
    ctx = exc.ctx if isinstance(exc, click.UsageError) else None
    if ctx is not None:
        line += f" (see '{ctx.command_path} --help')"
    return shown(line)


if __name__ == "__main__":
    sys.exit(main())
