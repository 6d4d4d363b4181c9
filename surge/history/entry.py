"""What the history keeps of one run, read from its folder: a rehearsal's run folder (through
`surge.runfolder.load`, its figures from summary.json) or a capacity search's folder (its
capacity.json).

Nothing here opens a run folder's files by hand, and nothing analyses requests: the history
records the figures the report and the gate already made (docs/report.md, summary.json), so a
run is recorded the same from any machine its folder was copied to. A folder whose summary.json
has no objectives was never reported: `surge report` makes them first.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from surge import runfolder
from surge.bindings.loader import DEFAULT as DEFAULT_BINDING
from surge.day.profile import ProfileError, load_profile
from surge.exits import BadInput
from surge.runfolder import CAPACITY, LEVEL_PROFILE, SEARCH_RUN, RunFolder

REHEARSAL = "rehearsal"
CAPACITY_SEARCH = "capacity"
KINDS = (REHEARSAL, CAPACITY_SEARCH)
EMBEDDED = "embedded"
"""The target of a run against the embedded mock core (`surge rehearse` without `--host`): its
loopback port changes with every run, the systems do not."""
TONES = ("good", "warn", "bad")
"""A finding's tones, from best to worst."""
IDENTIFYING = ("name", "names", "word", "text")
"""The kinds of a finding's figures that say which finding it is (an objective, a lane, a
fault); the rest (numbers, shares, times) say how much."""


@dataclass(frozen=True, slots=True)
class Objective:
    """An objective of the run's profile as the run's report judged it (summary.json's
    `slo.objectives`): its counts over the whole run, its value and its verdict."""

    name: str
    metric: str
    """`p95_ms`, `p99_ms`, `customer_wait_p95_s` or `error_rate`."""
    limit: float | None
    budget: float | None
    requests: int
    bad: int
    share: float | None
    value: float | None
    """The whole run's percentile (ms or s), or its error share."""
    passed: bool | None
    """None: skipped (the run sent none of its requests)."""
    held: bool | None
    outside_requests: int | None = None
    """A drill's counts outside its incidents (what the gate judged), else None."""
    outside_bad: int | None = None


@dataclass(frozen=True, slots=True)
class Finding:
    """A finding of the run's report: its message (the catalogue's English) and its figures,
    each `{"kind": …, "value": …}` (`reports.findings.Figure`; a clock already the day's wall
    clock, as text)."""

    tone: str
    message: str
    figures: dict[str, dict[str, Any]]
    anchor: str = ""

    @property
    def identity(self) -> tuple[str, str]:
        """Which finding it is, whatever its numbers: the message and its identifying figures."""
        named = {
            name: figure["value"]
            for name, figure in self.figures.items()
            if figure.get("kind") in IDENTIFYING
        }
        return self.message, json.dumps(named, sort_keys=True, ensure_ascii=False)


@dataclass(frozen=True, slots=True)
class Capacity:
    """A capacity search's answer: the multiple of the phase carried within the SLOs, and the
    interval it lies in (as capacity.json states it; a search from before one run of levels:
    the highest passing step and the lowest failing one)."""

    multiple: float | None
    low: float | None
    high: float | None
    requests_per_s: float | None


@dataclass(frozen=True)
class Entry:
    """One run as the history records it."""

    uid: str
    """The run's identity: a digest of its folder's name and what its record says it was."""
    kind: str
    profile: str
    profile_hash: str
    """A digest of the resolved profile (of the search: its step profile and range): runs
    compare only with runs of the same."""
    target: str
    """`embedded`, or the host URL (scheme, host and port)."""
    binding: str
    started: dt.datetime
    valid: bool
    exit_code: int | None
    """The gate's exit code as last recorded (`surge.exits`), None when never gated."""
    folder: str
    report: str | None
    locale: str = "zh_CN"
    requests: int | None = None
    errors: int | None = None
    time_scale: float | None = None
    rate_scale: float | None = None
    workers: int | None = None
    version: str | None = None
    phase: str | None = None
    capacity: Capacity | None = None
    objectives: tuple[Objective, ...] = ()
    findings: tuple[Finding, ...] = ()
    label: str | None = None
    machine: str | None = None
    link: str | None = None
    recorded: dt.datetime | None = None
    id: int | None = field(default=None, compare=False)
    """The row's number in the history, once recorded."""

    @property
    def group(self) -> tuple[str, str, str]:
        """What makes runs comparable: the same kind, resolved profile and target."""
        return self.kind, self.profile_hash, self.target

    @property
    def passed(self) -> bool | None:
        return None if self.exit_code is None else self.exit_code == 0


def read(
    path: Path | str, exit_code: int | None = None, figures: Mapping[str, Any] | None = None
) -> Entry:
    """The entry of the run folder or capacity search's folder at `path`; `exit_code`, the
    gate's verdict when the caller has just judged it; `figures`, a run's summary.json as it is
    about to be written (else the folder's). `BadInput` (one line) for a folder that is
    neither, or a run folder never reported."""
    folder = Path(path)
    if (folder / CAPACITY).is_file():
        return _search(folder, exit_code)
    return _rehearsal(runfolder.load(folder), exit_code, figures)


def digest(data: Any) -> str:
    """A short, stable digest of JSON-ready data."""
    text = json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def target_of(host: str | None, embedded: bool) -> str:
    """The target as the history compares it: the embedded core is one target whatever its
    port; a host is its scheme, host and port (its path and query are not the systems)."""
    if embedded or not host:
        return EMBEDDED
    parts = urlsplit(host)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    return f"{parts.scheme}://{parts.hostname}:{port}"


def _rehearsal(run: RunFolder, exit_code: int | None, figures: Mapping[str, Any] | None) -> Entry:
    summary = figures if figures is not None else run.summary
    where = run.path / runfolder.SUMMARY
    if summary is None or not isinstance(summary.get("slo"), dict):
        raise BadInput(
            f"{where}: no objectives: the run was never reported (`surge report {run.path}` "
            "makes them)"
        )
    info = run.info
    gated = summary.get("gate")
    if exit_code is None and isinstance(gated, dict):
        exit_code = gated.get("exit_code")
    verdict = summary.get("verdict") or {}
    requests = summary.get("requests") or {}
    report = run.path / runfolder.REPORT
    return Entry(
        uid=digest([run.path.name, info.profile, info.start, info.seed, info.host]),
        kind=REHEARSAL,
        profile=info.profile,
        profile_hash=digest(_comparable(run.profile.to_dict())),
        target=target_of(info.host, bool(info.options.get("embedded_core"))),
        binding=info.binding,
        started=_time(info.start),
        valid=bool(verdict.get("valid", False)),
        exit_code=exit_code,
        folder=str(run.path.resolve()),
        report=str(report.resolve()) if report.exists() else None,
        locale=run.profile.customers.locale,
        requests=requests.get("total"),
        errors=requests.get("errors"),
        time_scale=info.time_scale,
        rate_scale=info.rate_scale,
        workers=info.workers,
        version=info.versions.get("branch-surge"),
        objectives=tuple(_objective(o, where) for o in summary["slo"].get("objectives", [])),
        findings=tuple(_finding(f, run) for f in summary.get("findings", [])),
    )


def _comparable(profile: Mapping[str, Any]) -> dict[str, Any]:
    """The resolved profile without its seed: runs of other seeds draw other arrivals of the
    same day against the same systems, which is what a history compares."""
    return {key: value for key, value in profile.items() if key != "seed"}


def _objective(data: Mapping[str, Any], where: Path) -> Objective:
    try:
        whole, outside = data["whole"], data.get("outside")
        return Objective(
            name=str(data["name"]),
            metric=str(data["metric"]),
            limit=_number(data.get("limit")),
            budget=_number(data.get("budget")),
            requests=int(whole["requests"]),
            bad=int(whole["bad"]),
            share=_number(whole.get("share")),
            value=_number(data.get("value")),
            passed=data.get("passed"),
            held=data.get("held"),
            outside_requests=None if outside is None else int(outside["requests"]),
            outside_bad=None if outside is None else int(outside["bad"]),
        )
    except (KeyError, TypeError, ValueError) as error:
        raise BadInput(f"{where}: slo.objectives: not an objective ({error})") from None


def _finding(data: Mapping[str, Any], run: RunFolder) -> Finding:
    kinds = data.get("kinds") or {}
    figures = {}
    for name, value in (data.get("figures") or {}).items():
        kind = kinds.get(name) or ("number" if isinstance(value, int | float) else "text")
        if kind == "clock" and isinstance(value, int | float):
            kind, value = "text", run.profile.wall_clock(float(value))
        figures[name] = {"kind": kind, "value": value}
    return Finding(
        tone=str(data.get("tone", "warn")),
        message=str(data.get("message", "")),
        figures=figures,
        anchor=str(data.get("anchor", "")),
    )


STEP_PROFILE = "step-profile.toml"
"""The profile of a search from before one run of levels (capacity.json's format 1, a run
folder per step), which `surge history import` still reads."""


def _search(folder: Path, exit_code: int | None) -> Entry:
    path = folder / CAPACITY
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise BadInput(f"{path}: cannot read: {error}") from None
    if not isinstance(data, dict):
        raise BadInput(f"{path}: not a capacity search's record")
    if isinstance(data.get("levels"), list):
        measured, profile_file, capacity = data["levels"], LEVEL_PROFILE, _answer(data)
        runs = [folder / str(data.get("run") or SEARCH_RUN)] if measured else []
        keys: tuple[str, ...] = ("phase", "range", "precision", "level_s")
    elif isinstance(data.get("steps"), list):
        measured, profile_file, capacity = data["steps"], STEP_PROFILE, _sustained(data)
        runs = [folder / step["runs"][0] for step in measured[:1]]
        keys = ("phase", "range", "precision", "step_s", "warmup_s")
    else:
        raise BadInput(f"{path}: not a capacity search's record")
    try:
        step_profile = load_profile(str(folder / profile_file)).to_dict()
    except (ProfileError, BadInput) as error:
        raise BadInput(str(error)) from None
    first = runfolder.load(runs[0]) if runs else None
    ending, interrupted = data.get("ending"), data.get("interrupted")
    valid = bool(measured) and not interrupted and ending not in ("generator_limit", "not_valid")
    if exit_code is None:
        exit_code = 3 if not valid else 1 if ending == "below_range" else 0
    report = folder / runfolder.REPORT
    search = {key: data.get(key) for key in keys}
    return Entry(
        uid=digest([folder.name, data.get("profile"), data.get("phase"), data.get("started")]),
        kind=CAPACITY_SEARCH,
        profile=str(data.get("profile")),
        profile_hash=digest({"profile": _comparable(step_profile), **search}),
        target=target_of(data.get("host"), data.get("host") is None),
        binding=first.info.binding if first else DEFAULT_BINDING,
        started=_time(float(data.get("started") or 0.0)),
        valid=valid,
        exit_code=exit_code,
        folder=str(folder.resolve()),
        report=str(report.resolve()) if report.exists() else None,
        locale=step_profile.get("customers", {}).get("locale", "zh_CN"),
        workers=first.info.workers if first else None,
        version=first.info.versions.get("branch-surge") if first else None,
        phase=data.get("phase"),
        capacity=capacity,
    )


def _answer(data: Mapping[str, Any]) -> Capacity:
    """A search of one run of levels: its answer and the interval's ends as it states them."""
    answer = data.get("answer") or {}
    interval = answer.get("interval") or {}
    low, high = (interval.get(end) or {} for end in ("low", "high"))
    return Capacity(
        _number(answer.get("multiple")),
        _number(low.get("multiple")),
        _number(high.get("multiple")),
        _number(answer.get("requests_per_s")),
    )


def _sustained(data: Mapping[str, Any]) -> Capacity:
    """A search of a run per step: its sustained multiple, in `interval` where capacity.json
    states one (`low`, `high`, or a pair), else between it and the lowest failing step."""
    sustained = data.get("sustained") or {}
    multiple = _number(sustained.get("multiple"))
    stated = data.get("interval")
    if isinstance(stated, Mapping):
        low, high = _number(stated.get("low")), _number(stated.get("high"))
    elif isinstance(stated, Sequence) and not isinstance(stated, str) and len(stated) == 2:
        low, high = _number(stated[0]), _number(stated[1])
    else:
        low, high = multiple, _number(data.get("failed_multiple"))
    return Capacity(multiple, low, high, _number(sustained.get("requests_per_s")))


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value) if math.isfinite(value) else None


def _time(epoch: float) -> dt.datetime:
    return dt.datetime.fromtimestamp(epoch, dt.UTC)
