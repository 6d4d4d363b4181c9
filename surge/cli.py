"""`surge`: the harness's command line. Each subcommand returns an exit code of `surge.exits`.

Bad input never shows a traceback: one line on stderr, prefixed `surge:`, and exit code 2.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from reports.i18n import LANGUAGES
from surge import exits, history
from surge.bindings import loader
from surge.day.profile import (
    CHANNELS,
    DEFAULT_PROFILE,
    Profile,
    format_duration,
    list_profiles,
    load_profile,
    resolve,
)
from surge.exits import BadInput
from surge.run import capacity, rehearse

if TYPE_CHECKING:
    from reports import capacity_search, report

# The analysis (pandas, scipy, plotly) is imported by the subcommands that need it, inside them:
# `surge profiles list` and every refusal of bad input answer in a fraction of a second, not in
# the second and a half those imports take.


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(exits.BAD_INPUT, f"surge: {message}\n")


def _factor(text: str) -> float:
    """A scale factor (`--time-scale`, `--rate-scale`): a finite number above 0."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not (math.isfinite(value) and value > 0):
        raise argparse.ArgumentTypeError(f"{text} must be a number above 0")
    return value


def _count(text: str) -> int:
    """A whole number (`--workers`, `--seed`, `--max-users`); ranges are checked with the rest."""
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None


def _day(profile: Profile) -> str:
    """The day's wall-clock span, its length in run time and the scales applied."""
    span = f"{profile.day_start}-{profile.wall_clock(profile.duration_s)}"
    scales = [
        f"{what} scale {factor:g}"
        for what, factor in (("time", profile.time_scale), ("rate", profile.rate_scale))
        if factor != 1
    ]
    scale = f" at {', '.join(scales)}" if scales else ""
    return f"{span} ({format_duration(profile.duration_s)}{scale})"


def _profiles_list(args: argparse.Namespace) -> int:
    names = list_profiles()
    width = max((len(name) for name in names), default=0)
    code = exits.OK
    for name in names:
        try:
            profile = load_profile(name)
        except BadInput as exc:
            print(f"surge: {exc}", file=sys.stderr)
            code = exits.BAD_INPUT
            continue
        print(f"{name:<{width}}  {_day(profile)}  {profile.description}")
    return code


def _rate_table(profile: Profile) -> str:
    """Arrivals per hour per branch in each phase, and the visits per second of all branches."""
    header = ["phase", "start", "length", *(f"{c}/h" for c in CHANNELS), "all branches/s"]
    rows = [header]
    for phase in profile.phases:
        per_hour = [getattr(phase.arrivals_per_hour, c) for c in CHANNELS]
        total = sum(per_hour) * profile.branches / 3600
        rows.append(
            [
                phase.name,
                phase.start,
                format_duration(phase.duration),
                *(f"{rate:g}" for rate in per_hour),
                f"{total:.3f}",
            ]
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    return "\n".join(
        "  ".join(
            cell.ljust(w) if i < 3 else cell.rjust(w)
            for i, (cell, w) in enumerate(zip(row, widths, strict=True))
        ).rstrip()
        for row in rows
    )


def _profiles_show(args: argparse.Namespace) -> int:
    profile = resolve(args.name, args.time_scale, args.rate_scale)
    if not args.json:
        print(f"{profile.name}: {profile.description}")
        print(f"{profile.branches} branches, {_day(profile)}, seed {profile.seed}")
        print("arrivals per hour per branch:")
        print(_rate_table(profile))
        print()
    print(json.dumps(profile.to_dict(), indent=2, ensure_ascii=False))
    return exits.OK


def _profiles_check(args: argparse.Namespace) -> int:
    load_profile(args.path)
    print("ok")
    return exits.OK


def _profiles_fit(args: argparse.Namespace) -> int:
    from surge.day import fit

    fit.check_output(args.output)
    history = fit.read_history(args.history)
    fitted = fit.fit(history, name=args.output.stem, scale=args.scale, branches=args.branches)
    fit.write(fitted, args.output)
    profile = fitted.profile
    print(
        f"{args.output}: {len(profile.phases)} phases, {_day(profile)}, {profile.branches} "
        f"branches; from {len(history.arrivals):,} arrivals at {history.branches} branches "
        f"over {history.days} day(s), rates times {args.scale:g}"
    )
    print("arrivals per hour per branch:")
    print(_rate_table(profile))
    return exits.OK


def _rehearsal_options(
    args: argparse.Namespace, *, time_scale: float = 1.0, rate_scale: float | None = 1.0
) -> rehearse.RehearsalOptions:
    """The rehearsal `surge rehearse` or `surge capacity` asks for, from the options they share
    (a capacity search runs its levels at time scale 1, rate scale 1 as multiples of them)."""
    return rehearse.RehearsalOptions(
        profile=args.profile,
        host=args.host,
        time_scale=time_scale,
        rate_scale=rate_scale,
        workers=args.workers,
        out=args.out,
        seed=args.seed,
        max_users=args.max_users,
        admin_token=args.admin_token,
        locust_args=args.locust_args,
        core_config=args.core_config,
        binding=args.binding,
        allow_hosts=args.allow_host,
    )


def _rehearse(args: argparse.Namespace) -> int:
    chosen = rehearse.rehearsal(
        _rehearsal_options(args, time_scale=args.time_scale, rate_scale=args.rate_scale)
    )
    _check_history(args, args.out)
    from reports import report

    def concluded(folder: Path) -> report.Conclusion:
        done = report.conclude(folder, language=args.lang, max_regression=0.1)
        _record(args, folder, args.out, done.exit_code)
        return done

    return rehearse.rehearse(chosen, concluded)


def _add_rehearse(commands: Any) -> None:
    run = commands.add_parser(
        "rehearse",
        help="replay a profile against the systems or an embedded mock core",
        description=(
            "Replay a surge profile with Locust (headless) and write the run folder. Without "
            "--host an embedded mock core is started on loopback, set up like the profile's "
            "branches, and stopped at the end. The defaults (payday, time scale 480, rate scale "
            "the time scale) replay every one of payday's 8,145 visits in one minute, a few "
            "hundred requests a second against the embedded core; with start-up about a minute "
            "and a half. "
            "Exit codes: 0 valid evidence and the gate passed, 1 an SLO or check failed, 2 bad "
            "input (an unreachable --host among it), 3 not valid evidence (the generator fell "
            "behind, the target stopped answering, the run was interrupted)."
        ),
    )
    run.add_argument(
        "--profile",
        default=DEFAULT_PROFILE,
        metavar="NAME_OR_PATH",
        help=f"a shipped profile or a .toml path (default {DEFAULT_PROFILE})",
    )
    run.add_argument(
        "--time-scale",
        type=_factor,
        default=rehearse.DEFAULT_TIME_SCALE,
        metavar="X",
        help=f"shorten the day X times (default {rehearse.DEFAULT_TIME_SCALE:g}: 8 h in 60 s)",
    )
    run.add_argument(
        "--rate-scale",
        type=_factor,
        metavar="K",
        help="K times every arrival rate (default: the time scale, so the day keeps every visit)",
    )
    _add_target(run)
    run.set_defaults(run=_rehearse)


def _add_target(parser: Any) -> None:
    """What `rehearse` and `capacity` share: the systems, the generator and the report."""
    parser.add_argument(
        "--host", metavar="URL", help="the systems to load (default: an embedded mock core)"
    )
    parser.add_argument(
        "--workers", type=_count, default=1, metavar="N", help="Locust processes (default 1)"
    )
    parser.add_argument(
        "--out", type=Path, default=Path("results"), metavar="DIR", help="where run folders go"
    )
    parser.add_argument("--seed", type=_count, metavar="N", help="seed (default: the profile's)")
    parser.add_argument("--max-users", type=_count, metavar="N", help="most Locust users (500)")
    parser.add_argument(
        "--allow-host",
        action="append",
        default=[],
        metavar="HOST",
        help="with --host: a host besides the mock core the journeys may write to (its name or "
        "name:port); repeatable. Credentials: SURGE_CREDENTIALS or SURGE_* (docs/credentials.md)",
    )
    parser.add_argument(
        "--admin-token",
        metavar="TOKEN",
        help="with --host: for faults and /admin/reconcile (or LOCUST_ADMIN_TOKEN)",
    )
    parser.add_argument(
        "--core-config",
        type=Path,
        metavar="FILE",
        help="the embedded mock core's settings (lanes, tokens, AML rules), in its own TOML format",
    )
    parser.add_argument(
        "--binding",
        default=loader.DEFAULT,
        metavar="PACKAGE.MODULE:NAME",
        help=f"the binding to the systems' API (default {loader.DEFAULT}, docs/architecture.md)",
    )
    parser.add_argument(
        "--lang", choices=LANGUAGES, help="the report's language (default: the profile's locale)"
    )
    parser.add_argument(
        "--history",
        metavar="URL",
        help=f"the run history to record the run in: a SQLite file or a SQLAlchemy URL "
        f"(default ${history.ENV}, else DIR/history.sqlite beside the run folders)",
    )
    _add_recording(parser)
    parser.add_argument(
        "locust_args",
        nargs="*",
        metavar="-- LOCUST_OPTION",
        help="after --: more Locust options, such as -- --customers 50",
    )


def _add_recording(parser: Any) -> None:
    """What every command that records its run shares (docs/history.md)."""
    parser.add_argument(
        "--no-history", action="store_true", help="record nothing in the run history"
    )
    parser.add_argument(
        "--label",
        metavar="TEXT",
        help="the run's label in the history (default $GITHUB_SHA, else the git commit)",
    )


def _check_history(args: argparse.Namespace, beside: Path) -> None:
    """Refuse a history that cannot be used before a run starts, unless `--no-history`."""
    if not args.no_history:
        history.check(history.locate(args.history, beside))


def _record(args: argparse.Namespace, folder: Path, beside: Path, code: int) -> None:
    """Record a concluded run, unless `--no-history`; a failure is one line, never the
    verdict's concern."""
    if not args.no_history:
        history.record_quietly(folder, history.locate(args.history, beside), args.label, code)


def _capacity(args: argparse.Namespace) -> int:
    chosen = capacity.search_of(
        _rehearsal_options(args),
        phase=args.phase,
        low=args.low,
        high=args.high,
        precision=args.precision,
        level_s=args.level_duration,
    )
    _check_history(args, args.out)
    from reports import capacity_search, levels

    def concluded(folder: Path) -> capacity_search.Concluded:
        done = capacity_search.conclude(folder, language=args.lang)
        _record(args, folder, args.out, done.exit_code)
        return done

    return capacity.capacity(chosen, levels.Judge, concluded)


def _add_capacity(commands: Any) -> None:
    find = commands.add_parser(
        "capacity",
        help="find the highest surge the systems carry within the profile's SLOs",
        description=(
            "Search for the highest multiple of a profile phase's arrival rate (its busiest by "
            "default) that the systems carry within the profile's SLOs, in one Locust run of "
            "the phase alone whose rate moves between levels: climbing from --from, then "
            "closing in on where the objectives break. Each level is judged on its own records "
            "once its queue settled, until each objective is decided at 95%% confidence by a "
            "confidence sequence, or for --level-duration at most (then unsure); a level where "
            "the generator fell behind ends the search and is never counted as the systems' "
            "limit. Prints the answer with its interval. Writes a folder with the run folder, "
            "capacity.json, report.html and junit.xml. Exit codes: 0 answered, 1 the lowest "
            "level already failed or a ledger check failed, 2 bad input, 3 not valid evidence "
            "(the generator's limit, an interruption)."
        ),
    )
    find.add_argument(
        "--profile",
        default=DEFAULT_PROFILE,
        metavar="NAME_OR_PATH",
        help=f"a shipped profile or a .toml path (default {DEFAULT_PROFILE})",
    )
    find.add_argument("--phase", metavar="NAME", help="the phase to multiply (default: busiest)")
    find.add_argument(
        "--from", dest="low", type=_factor, default=1.0, metavar="K", help="first multiple (1)"
    )
    find.add_argument(
        "--to", dest="high", type=_factor, default=1024.0, metavar="K", help="last multiple (1024)"
    )
    find.add_argument(
        "--precision",
        type=_factor,
        default=0.05,
        metavar="P",
        help="stop when the answer's interval is within this share (default 0.05)",
    )
    find.add_argument(
        "--level-duration",
        type=_factor,
        default=capacity.DEFAULT_LEVEL_S,
        metavar="S",
        help="the longest a level is judged after it settles, before it is left unsure "
        f"(default {capacity.DEFAULT_LEVEL_S:g})",
    )
    _add_target(find)
    find.set_defaults(run=_capacity)


def _report(args: argparse.Namespace) -> int:
    from reports import capacity_search, report

    concluded: report.Conclusion | capacity_search.Concluded
    if capacity_search.is_search(args.run_dir):
        concluded = capacity_search.conclude(args.run_dir, output=args.output, language=args.lang)
    else:
        concluded = report.conclude(
            args.run_dir, output=args.output, language=args.lang, baseline=args.baseline
        )
    _say_kept(args.run_dir, concluded.kept)
    print(f"{rehearse.REPORT}{concluded.report}")
    return exits.OK


def _say_kept(folder: Path, kept: tuple[str, ...]) -> None:
    """One line when a read-only folder kept its own files (`reports.outputs`)."""
    if kept:
        names = f"{', '.join(kept[:-1])} and {kept[-1]}" if len(kept) > 1 else kept[0]
        print(f"surge: {folder} is read-only: {names} not written there", file=sys.stderr)


def _gate(args: argparse.Namespace) -> int:
    from reports import capacity_search, report
    from reports.history import against

    if args.window < 1:
        raise BadInput(f"--window: {args.window} is below 1")
    beside = args.run_dir.resolve().parent
    further = (
        None if args.history is None else against(history.locate(args.history, beside), args.window)
    )
    concluded: report.Conclusion | capacity_search.Concluded
    if capacity_search.is_search(args.run_dir):
        if args.baseline is not None:
            raise BadInput("--baseline: a capacity search is gated on its own answer")
        concluded = capacity_search.conclude(
            args.run_dir, html=False, language=args.lang, junit=args.junit, further=further
        )
    else:
        concluded = report.conclude(
            args.run_dir,
            html=False,
            language=args.lang,
            baseline=args.baseline,
            max_regression=args.max_regression,
            junit=args.junit,
            further=further,
        )
    _say_kept(args.run_dir, concluded.kept)
    _record(args, args.run_dir, beside, concluded.exit_code)
    for failure in concluded.failures:
        print(f"surge gate: {failure}")
    passed = len(concluded.gate.cases) - len(concluded.gate.failures)
    print(f"surge gate: {passed} of {len(concluded.gate.cases)} checks passed")
    return concluded.exit_code


def _share(text: str) -> float:
    """A share (`--max-regression`): a finite number from 0."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not (math.isfinite(value) and value >= 0):
        raise argparse.ArgumentTypeError(f"{text} must be a number from 0")
    return value


def _add_report(commands: Any) -> None:
    build = commands.add_parser(
        "report",
        help="(re)build a run folder's HTML report and summaries",
        description=(
            "Analyse a run folder (only the folder: it may come from another machine) and write "
            "its summary.json, summary.md, junit.xml and report.html. Exit codes: 0 written, 2 "
            "bad input (not a run folder, a newer format, a file missing)."
        ),
    )
    build.add_argument("run_dir", type=Path, metavar="RUN_DIR", help="a run folder")
    build.add_argument("--baseline", type=Path, metavar="RUN_DIR", help="compare with this run")
    build.add_argument(
        "-o",
        "--output",
        type=Path,
        metavar="FILE",
        help="where the HTML goes (default: the folder)",
    )
    build.add_argument(
        "--lang", choices=LANGUAGES, help="zh_CN or en (default: the profile's locale)"
    )
    build.set_defaults(run=_report)
    judge = commands.add_parser(
        "gate",
        help="judge a run for CI: SLOs, correctness, regressions against a baseline",
        description=(
            "Evaluate a run folder's SLOs (whole run and sliding windows), its correctness "
            "checks (the ledger, AML alerts) and, with --baseline, regressions of p95, p99 and "
            "error rates per channel and operation. Writes junit.xml (one test case per check) "
            "and summary.md, appended to $GITHUB_STEP_SUMMARY when set. Exit codes: 0 all "
            "passed, 1 a check failed, 2 bad input, 3 the run is not valid evidence (or read "
            "slower only on a host busier than its baseline's)."
        ),
    )
    judge.add_argument("run_dir", type=Path, metavar="RUN_DIR", help="a run folder")
    judge.add_argument("--baseline", type=Path, metavar="RUN_DIR", help="the run to compare with")
    judge.add_argument(
        "--max-regression",
        type=_share,
        default=0.1,
        metavar="R",
        help="the worsening allowed against the baseline (default 0.1: 10%%)",
    )
    judge.add_argument(
        "--junit", type=Path, metavar="FILE", help="where junit.xml goes (default: the folder)"
    )
    judge.add_argument(
        "--lang", choices=LANGUAGES, help="summary.md's language (default: the profile's locale)"
    )
    judge.add_argument(
        "--history",
        nargs="?",
        const="",
        metavar="URL",
        help="also judge the run against the comparable runs of the run history (a SQLite file "
        f"or SQLAlchemy URL; default ${history.ENV}, else history.sqlite beside the run folder)",
    )
    judge.add_argument(
        "--window",
        type=_count,
        default=history.WINDOW,
        metavar="N",
        help=f"with --history: the last N comparable runs (default {history.WINDOW})",
    )
    _add_recording(judge)
    judge.set_defaults(run=_gate)


RESULTS = Path("results")
"""Where `surge history` looks for the history without `--history` or `$SURGE_HISTORY`."""


def _opened(args: argparse.Namespace, create: bool = False) -> Any:
    from surge.history.store import Store

    return Store.open(history.locate(args.history, RESULTS), create=create)


def _history_list(args: argparse.Namespace) -> int:
    with _opened(args) as store:
        found = store.entries(
            profile=args.profile,
            target=args.target,
            label=args.label,
            kind=args.kind,
            last=args.last,
            details=False,
        )
    for run in found:
        measure = (
            f"x{run.capacity.multiple:.3g}"
            if run.capacity and run.capacity.multiple
            else f"{run.requests or 0} requests"
        )
        verdict = {None: "not gated", 0: "passed", 1: "failed", 3: "not valid"}.get(
            run.exit_code, f"exit {run.exit_code}"
        )
        print(
            f"{run.id:>5}  {run.started:%Y-%m-%d %H:%M}  {run.kind:<9}  {run.profile}  "
            f"{run.target}  {run.label or '-'}  {verdict}  {measure}  {run.folder}"
        )
    if not found:
        print("surge history: no recorded run matches", file=sys.stderr)
    return exits.OK


def _history_import(args: argparse.Namespace) -> int:
    from surge.history import entry

    found = [history.context(entry.read(folder), args.label) for folder in args.run_dirs]
    with _opened(args, create=True) as store:
        for run in found:
            recorded = store.record(run)
            print(f"History: run {recorded.id} recorded: {run.folder}")
        where = store.name
    print(f"surge history: {len(found)} runs recorded in {where}")
    return exits.OK


def _history_show(args: argparse.Namespace) -> int:
    with _opened(args) as store:
        run = store.find(args.which)
    print(f"run {run.id}: {run.kind} of {run.profile} against {run.target} ({run.binding})")
    print(f"  uid       {run.uid} (profile {run.profile_hash})")
    print(f"  started   {run.started:%Y-%m-%d %H:%M:%S} UTC on {run.machine or '-'}")
    print(f"  label     {run.label or '-'}")
    print(
        f"  verdict   {'valid' if run.valid else 'NOT valid'} evidence; exit code {run.exit_code}"
    )
    if run.capacity is not None:
        c = run.capacity
        print(f"  capacity  x{c.multiple} (interval {c.low} to {c.high}), {c.requests_per_s} req/s")
    for o in run.objectives:
        value = "-" if o.value is None else f"{o.value:.6g}"
        held = {True: "held", False: "BROKE", None: "skipped"}[
            o.held if o.passed is not None else None
        ]
        print(
            f"  objective {o.name}: {value} (limit {o.limit:g}), {o.bad}/{o.requests} bad, {held}"
        )
    for f in run.findings:
        print(f"  finding   [{f.tone}] {f.message}")
    print(f"  folder    {run.folder}")
    print(f"  report    {run.report or '-'}")
    if run.link:
        print(f"  CI run    {run.link}")
    return exits.OK


def _history_report(args: argparse.Namespace) -> int:
    from reports.history import build

    with _opened(args) as store:
        output = args.output
        if output is None:
            sqlite = store.url.get_backend_name() == "sqlite"
            output = (Path(str(store.url.database)).parent if sqlite else Path()) / "history.html"
        from reports.outputs import check

        check(output, "-o")
        language = args.lang
        if language is None:
            latest = store.entries(profile=args.profile, last=1, details=False)
            zh = not latest or latest[0].locale.startswith("zh")
            language = "zh_CN" if zh else "en"
        written = build(store, output, language, args.profile)
    print(f"{rehearse.REPORT}{written}")
    return exits.OK


def _add_history(commands: Any) -> None:
    kept = commands.add_parser(
        "history",
        help="the run history: list, import, show runs; the trend report",
        description=(
            "The run history (docs/history.md): every rehearsal, capacity search and gate "
            "records its run in it (a SQLite file by default, any SQLAlchemy URL with --history "
            "or $SURGE_HISTORY). Exit codes: 0 done, 2 bad input (a database that cannot be "
            "reached or is not a history, one from a newer branch-surge, a folder that is not "
            "a run)."
        ),
    )
    actions = kept.add_subparsers(dest="action", required=True, metavar="ACTION")
    listing = actions.add_parser("list", help="recorded runs, oldest first")
    listing.add_argument("--profile", metavar="NAME", help="only runs of this profile")
    listing.add_argument("--target", metavar="TARGET", help="only runs against it (embedded, URL)")
    listing.add_argument("--label", metavar="TEXT", help="only runs with this label")
    listing.add_argument("--kind", choices=("rehearsal", "capacity"), help="only these runs")
    listing.add_argument("--last", type=_count, metavar="N", help="only the newest N")
    listing.set_defaults(run=_history_list)
    importing = actions.add_parser("import", help="record run folders made before")
    importing.add_argument("run_dirs", type=Path, nargs="+", metavar="RUN_DIR")
    importing.add_argument("--label", metavar="TEXT", help="their label (default: none)")
    importing.set_defaults(run=_history_import)
    showing = actions.add_parser("show", help="one recorded run, in full")
    showing.add_argument("which", metavar="RUN", help="its number, uid (or its start) or folder")
    showing.set_defaults(run=_history_show)
    trend = actions.add_parser("report", help="the trend report: HTML, self-contained")
    trend.add_argument("--profile", metavar="NAME", help="only runs of this profile")
    trend.add_argument(
        "-o", "--output", type=Path, metavar="FILE", help="default: history.html by the history"
    )
    trend.add_argument("--lang", choices=LANGUAGES, help="zh_CN or en (default: the runs')")
    trend.set_defaults(run=_history_report)
    for action in (listing, importing, showing, trend):
        action.add_argument(
            "--history",
            metavar="URL",
            help=f"a SQLite file or SQLAlchemy URL (default ${history.ENV}, else "
            "results/history.sqlite)",
        )


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="surge", description="Rehearse customer surges against branch systems.")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    profiles = commands.add_parser("profiles", help="list, print and validate surge profiles")
    profiles.set_defaults(run=_profiles_list)
    actions = profiles.add_subparsers(dest="action", metavar="ACTION")
    actions.add_parser("list", help="shipped profiles, their day and description").set_defaults(
        run=_profiles_list
    )
    show = actions.add_parser("show", help="a profile resolved, with its rate per phase")
    show.add_argument("name", metavar="NAME", help="a shipped profile's name or a .toml path")
    show.add_argument(
        "--time-scale", type=_factor, default=1.0, metavar="X", help="shorten the day X times"
    )
    show.add_argument(
        "--rate-scale", type=_factor, default=1.0, metavar="K", help="K times every arrival rate"
    )
    show.add_argument("--json", action="store_true", help="only the resolved profile as JSON")
    show.set_defaults(run=_profiles_show)
    check = actions.add_parser("check", help="validate a profile: ok, or what is wrong")
    check.add_argument("path", metavar="PATH", help="a .toml file or a shipped profile's name")
    check.set_defaults(run=_profiles_check)
    fitting = actions.add_parser(
        "fit",
        help="build a profile from a CSV of past arrivals",
        description=(
            "Fit a profile to a history CSV (timestamp, branch, channel, operation; see "
            "docs/profiles.md): phases of 15 minutes merged where their rates do not differ "
            "significantly, arrivals per hour per branch per channel, the business mix. Exit "
            "codes: 0 written, 2 bad input (one line: file:line: column: reason)."
        ),
    )
    fitting.add_argument("history", type=Path, metavar="HISTORY.csv", help="past arrivals")
    fitting.add_argument(
        "--scale",
        type=_factor,
        default=1.0,
        metavar="X",
        help="X times every fitted rate: the forecast surge (default 1)",
    )
    fitting.add_argument(
        "--branches",
        type=_count,
        metavar="N",
        help="the profile's branch count, rates staying per branch (default: the history's)",
    )
    fitting.add_argument(
        "-o", "--output", type=Path, required=True, metavar="FILE.toml", help="the profile"
    )
    fitting.set_defaults(run=_profiles_fit)
    _add_rehearse(commands)
    _add_capacity(commands)
    _add_report(commands)
    _add_history(commands)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    run: Callable[[argparse.Namespace], int] = args.run
    try:
        return run(args)
    except BadInput as exc:
        print(f"surge: {exc}", file=sys.stderr)
        return exits.BAD_INPUT
    except BrokenPipeError:
        # The reader (`| head`) left; point stdout at nothing so the exit flush cannot fail too.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return exits.OK
