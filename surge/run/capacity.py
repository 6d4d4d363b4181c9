"""`surge capacity`: the highest rate of a profile's busiest phase the target carries within its
objectives, found in one continuous run whose rate moves between levels (docs/capacity.md, "The
capacity search").

The search runs one phase of the profile (its channel and business mix, its objectives; no
faults: the search measures the steady system) as one Locust run against one target (an
embedded mock core unless `--host`), its customers onboarded once. The run's arrival rate moves
between levels, each a multiple of the phase's rate (`surge.day.levels`: the search writes its plan,
the harness's shape follows it); while the run goes, the search reads what lands in the run
folder, judges the level running on its own records (`Judge`, composed in by the command line:
the harness never imports the reports) until it is decided or reaches its longest, and asks for
the next level (`surge.run.search`). `capacity.json` is rewritten after every level, and the run
folder's `levels.json` says where each level ran and settled, so an interrupted search keeps
what it measured.
"""

from __future__ import annotations

import json
import math
import shutil
import tempfile
import time
import tomllib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Protocol

import pyarrow as pa
import tomli_w

from surge import exits, runfolder
from surge.day import levels
from surge.day.profile import CHANNELS, Phase, Profile, format_duration, load_profile, resolve
from surge.exits import BadInput
from surge.run import embedded, rehearse, search
from surge.run.search import Done, Next, Range
from surge.runfolder import (
    CAPACITY,
    LEVEL_PROFILE,
    SEARCH_FORMAT_VERSION,
    SEARCH_PLAN,
    SEARCH_RUN,
    LevelSpan,
    RunFolder,
    RunFolderError,
    Status,
)

MIN_LEVEL_S = 10.0
"""A level needs its settling floor and a few blocks (`reports.levels`) to be decided at all."""
DEFAULT_LEVEL_S = 45.0
UPDATE_S = 0.5
"""How often the search looks at the run folder: the harness writes its records every second."""


class Judged(Protocol):
    """What the search needs of a level's judgement (`reports.levels.Judged`)."""

    @property
    def multiple(self) -> float: ...
    @property
    def status(self) -> Status: ...
    @property
    def sure(self) -> bool: ...
    @property
    def light(self) -> bool: ...
    @property
    def why(self) -> str: ...
    @property
    def decided(self) -> bool: ...
    @property
    def settle_end(self) -> float | None: ...
    @property
    def realized(self) -> float | None: ...
    @property
    def requests_per_s(self) -> float | None: ...
    @property
    def mean_ms(self) -> float | None: ...
    @property
    def p95_ms(self) -> float | None: ...
    @property
    def broke(self) -> str | None: ...
    @property
    def lane(self) -> str | None: ...
    @property
    def generator_saturated(self) -> bool: ...
    @property
    def failed_on_time(self) -> bool: ...
    def to_dict(self) -> dict[str, Any]: ...


class Crossing(Protocol):
    """Where the levels put an objective's crossing (`reports.levels.Crossing`)."""

    @property
    def objective(self) -> str: ...
    @property
    def multiple(self) -> float: ...
    @property
    def low(self) -> float | None: ...
    @property
    def high(self) -> float | None: ...
    @property
    def levels(self) -> int: ...


class Judge(Protocol):
    """The run's records judged as they come (`reports.levels.Judge`)."""

    def add(self, table: pa.Table, day_start: float) -> None: ...
    def level(
        self, span: LevelSpan, before: Sequence[Any], run: RunFolder, now: float | None
    ) -> Judged: ...
    def final(
        self, span: LevelSpan, live: Any, before: Sequence[Any], run: RunFolder
    ) -> Judged: ...
    def crossing(self, levels: Sequence[Any]) -> Crossing | None: ...
    def guide(self, levels: Sequence[Any]) -> float | None: ...


Judges = Callable[[Profile, float], Judge]
"""Makes the judge of a search: the searched phase (rate scale 1) and the longest a level is
judged."""


@dataclass(frozen=True)
class Search:
    """A capacity search, checked."""

    profile: Profile
    """As loaded: unscaled."""
    phase: Phase
    low: float
    high: float
    precision: float
    level_s: float
    """The longest a level is judged before it is left unsure."""
    base: rehearse.Rehearsal
    """The rehearsal the run derives from (target, workers, seed, Locust options)."""

    @property
    def range(self) -> Range:
        return Range(self.low, self.high, self.precision)

    def per_second(self, multiple: float) -> dict[str, float]:
        """Visits a second the phase offers per channel at `multiple`, every branch."""
        rates = self.phase.arrivals_per_hour
        return {c: getattr(rates, c) * self.profile.branches * multiple / 3600.0 for c in CHANNELS}


def search_of(
    options: rehearse.RehearsalOptions,
    *,
    phase: str | None,
    low: float,
    high: float,
    precision: float,
    level_s: float,
) -> Search:
    """The search asked for, checked with its rehearsal; raises `BadInput` (one line)."""
    if not 0 < low <= high:
        raise BadInput(f"--from, --to: need 0 < from <= to, not {low:g} and {high:g}")
    if not 0 < precision < 1:
        raise BadInput(f"--precision: a share between 0 and 1, not {precision:g}")
    longest = levels.BOUND_S / 4
    if not (math.isfinite(level_s) and MIN_LEVEL_S <= level_s <= longest):
        raise BadInput(f"--level-duration: from {MIN_LEVEL_S:g} to {longest:g} s, not {level_s:g}")
    profile = options.profile
    loaded = load_profile(profile)
    chosen = _phase(loaded, phase)
    if not sum(getattr(chosen.arrivals_per_hour, c) for c in CHANNELS) > 0:
        raise BadInput(f"--phase: {chosen.name} of {loaded.name} has no arrivals to multiply")
    base = rehearse.rehearsal(replace(options, time_scale=1.0, rate_scale=1.0))
    try:  # a --to beyond what one run may schedule is refused now, not at its level
        resolve(profile, 1.0, high)
    except BadInput as error:
        raise BadInput(str(error).replace("--rate-scale:", "--to:", 1)) from None
    return Search(loaded, chosen, low, high, precision, level_s, replace(base, command="capacity"))


def _phase(profile: Profile, name: str | None) -> Phase:
    if name is None:  # the busiest: most arrivals an hour, every channel
        return max(
            profile.phases, key=lambda p: sum(getattr(p.arrivals_per_hour, c) for c in CHANNELS)
        )
    for phase in profile.phases:
        if phase.name == name:
            return phase
    known = ", ".join(p.name for p in profile.phases)
    raise BadInput(f"--phase: {profile.name} has no phase {name!r} (it has {known})")


def level_profile(chosen: Search) -> str:
    """The profile file the run replays: the chosen phase alone from midnight, lasting the run's
    bound, no faults (`surge.day.levels`: the harness makes its day of levels from it)."""
    data = _plain(chosen.profile.to_dict())
    data.pop("time_scale", None)
    data.pop("rate_scale", None)
    phase = next(p for p in data["phases"] if p["name"] == chosen.phase.name)
    phase["start"] = "00:00"
    phase["duration"] = levels.BOUND_S * levels.TIME_SCALE
    data["phases"] = [phase]
    data["day_start"] = "00:00"
    data["faults"] = []
    data["name"] = f"{chosen.profile.name}-{chosen.phase.name}"[:64]
    data["description"] = f"{chosen.profile.name}'s {chosen.phase.name}, the capacity search's"
    header = (
        f"# The capacity search's phase: {chosen.profile.name}'s {chosen.phase.name} alone, no "
        "faults.\n# Its run moves between levels of it (surge capacity, docs/capacity.md).\n"
    )
    text = header + tomli_w.dumps(data)
    tomllib.loads(text)
    return text


def _plain(value: Any) -> Any:
    """TOML has no null: fields left unset are left out."""
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


def run_rehearsal(chosen: Search, phase_file: Path, plan: Path) -> rehearse.Rehearsal:
    """The run as a rehearsal: the phase's day of levels at `--from` first, following `plan`."""
    profile = resolve(str(phase_file), levels.TIME_SCALE, chosen.low)
    return replace(
        chosen.base,
        profile_arg=str(phase_file),
        profile=profile,
        locust_args=("--levels", str(plan), *chosen.base.locust_args),
    )


@dataclass
class _Level:
    span: LevelSpan
    """Its start is not known (NaN) until the harness started it."""
    judged: Judged | None = None
    """The last judgement; decided once it is."""

    @property
    def started(self) -> bool:
        return not math.isnan(self.span.start)


@dataclass
class _Record:
    """The search as it goes: what capacity.json says."""

    chosen: Search
    folder: Path
    judge: Judge
    started: float = field(default_factory=time.time)
    levels: list[_Level] = field(default_factory=list)
    done: Done | None = None
    interrupted: str | None = None
    load_s: float = 0.0
    """Seconds Locust ran (start-up, onboarding, the levels, the drain): what a team pays."""
    crossing: Crossing | None = None

    @property
    def decided(self) -> list[Judged]:
        return [level.judged for level in self.levels if level.judged and level.judged.decided]

    def searched(self) -> list[search.Level]:
        """The decided levels as `surge.run.search` reads them."""
        return [
            search.Level(
                multiple=judged.multiple,
                status=judged.status,
                realized=judged.realized,
                sure=judged.sure,
                light=judged.light,
                saturated=judged.generator_saturated and judged.failed_on_time,
                in_flight=(judged.requests_per_s or 0.0) * (judged.mean_ms or 0.0) / 1000.0,
            )
            for judged in self.decided
        ]

    def write(self) -> None:
        chosen = self.chosen
        data = {
            "format_version": SEARCH_FORMAT_VERSION,
            "profile": chosen.profile.name,
            "phase": chosen.phase.name,
            "phase_per_hour": chosen.phase.arrivals_per_hour.model_dump(),
            "branches": chosen.profile.branches,
            "host": chosen.base.host,
            "range": [chosen.low, chosen.high],
            "precision": chosen.precision,
            "level_s": chosen.level_s,
            "run": SEARCH_RUN,
            "started": self.started,
            "load_s": self.load_s,
            "levels": [
                {**level.span.model_dump(mode="json"), **(level.judged.to_dict())}
                for level in self.levels
                if level.judged is not None and level.judged.decided
            ],
            "ending": self.done.ending if self.done else None,
            **self.answer(),
            "interrupted": self.interrupted,
        }
        runfolder.write_output(self.folder / CAPACITY, json.dumps(data, indent=2) + "\n")

    def answer(self) -> dict[str, Any]:
        """The answer and its interval, the objective that broke first and the busiest lane."""
        levels_ = self.searched()
        low, high = search.bracket(levels_)
        sure_low, sure_high = search.bracket(levels_, sure=True)
        failing = self._judged(high)
        crossing = self.crossing
        if low is None:
            return {
                "answer": None,
                "broke_first": failing and failing.broke,
                "lane": None,
                "sure": False,
            }
        at, method = search.answer_at(levels_, crossing.multiple if crossing else None)
        per_multiple = self._requests_per_multiple()
        interval_low = sure_low if sure_low is not None else low
        interval_high = sure_high if sure_high is not None else high
        estimate = None
        if crossing is not None:
            estimate = {
                "objective": crossing.objective,
                "multiple": crossing.multiple,
                "low": crossing.low,
                "high": crossing.high,
                "levels": crossing.levels,
            }
        sure = interval_low is sure_low and (high is None or interval_high is sure_high)
        return {
            "answer": {
                "multiple": at,
                "visits_per_s": self.chosen.per_second(at),
                "requests_per_s": at * per_multiple if per_multiple else None,
                "method": method,
                "estimate": estimate,
                "interval": {
                    "low": _end(interval_low, per_multiple),
                    "high": _end(interval_high, per_multiple),
                },
                "sure": sure,
            },
            "broke_first": crossing.objective
            if crossing and method == "crossing"
            else (failing.broke if failing else None),
            "lane": failing.lane if failing else None,
            "sure": sure,
        }

    def _judged(self, level: search.Level | None) -> Judged | None:
        if level is None:
            return None
        return next(
            (
                j
                for j in self.decided
                if j.multiple == level.multiple and j.realized == level.realized
            ),
            None,
        )

    def _requests_per_multiple(self) -> float | None:
        """Requests a second per multiple offered, over the levels that passed (a failing level's
        retries would count twice)."""
        passed = [j for j in self.decided if j.status == "pass" and j.realized and j.requests_per_s]
        offered = sum(j.realized or 0.0 for j in passed)
        return sum(j.requests_per_s or 0.0 for j in passed) / offered if offered else None


def _end(level: search.Level | None, per_multiple: float | None) -> dict[str, Any] | None:
    if level is None:
        return None
    return {
        "multiple": level.rate,
        "asked": level.multiple,
        "requests_per_s": level.rate * per_multiple if per_multiple else None,
        "status": level.status,
        "sure": level.sure,
    }


class _Controller:
    """The search while its run goes: `rehearse.Watch` of the run, called every poll."""

    def __init__(self, record: _Record, run_folder: Path, plan: Path) -> None:
        self.record = record
        self.run_folder = run_folder
        self.plan = plan
        self.tail = runfolder.RequestTail(run_folder)
        self.asked: list[float] = [record.chosen.low]
        self._looked = 0.0
        record.levels.append(_Level(LevelSpan(number=1, multiple=record.chosen.low, start=0.0)))
        levels.Plan(tuple(self.asked)).write(plan)

    def update(self) -> None:
        if time.monotonic() - self._looked < UPDATE_S or self.record.done is not None:
            return
        self._looked = time.monotonic()
        try:
            run = runfolder.load(self.run_folder)
        except RunFolderError:
            return  # not written yet, or being replaced
        record = self.record
        if run.info.day_start is None:
            if run.info.error:
                self._decide(run, None)
            return
        record.judge.add(self.tail.take(), run.info.day_start)
        _learn_spans(record.levels, run)
        current = record.levels[-1]
        if not current.started:
            return
        self._decide(run, time.time() - run.info.day_start)

    def decide(self, run: RunFolder) -> None:
        """Judge the level running on the run as it ended."""
        self._decide(run, None)

    def _decide(self, run: RunFolder, now: float | None) -> None:
        record, current = self.record, self.record.levels[-1]
        before = [level.judged for level in record.levels[:-1] if level.judged]
        judged = record.judge.level(current.span, before, run, now)
        if judged.settle_end is not None and current.span.settle_end is None:
            current.span = current.span.model_copy(update={"settle_end": judged.settle_end})
        current.judged = judged
        if not judged.decided:
            return
        record.crossing = record.judge.crossing(record.decided)
        record.write()
        _write_spans(self.run_folder, record.levels)
        print(_line(len(record.levels), judged, record.chosen), flush=True)
        estimate = record.crossing.multiple if record.crossing else None
        wanted = search.next_level(
            record.searched(), record.chosen.range, estimate, record.judge.guide(record.decided)
        )
        if (
            isinstance(wanted, Next)
            and now is not None
            and now + record.chosen.level_s * 1.5 < (levels.BOUND_S - levels.LEAD_S)
        ):
            self.asked.append(wanted.multiple)
            number = len(record.levels) + 1
            span = LevelSpan(number=number, multiple=wanted.multiple, start=math.nan)
            record.levels.append(_Level(span))
            levels.Plan(tuple(self.asked)).write(self.plan)
            return
        record.done = wanted if isinstance(wanted, Done) else None
        if record.done is None:
            record.interrupted = f"the run reached its bound of {format_duration(levels.BOUND_S)}"
        levels.Plan(tuple(self.asked), end=True).write(self.plan)

    def close(self) -> None:
        """Nothing to let go of: the run folder is read again at the end (`finish`)."""


def _learn_spans(found: list[_Level], run: RunFolder) -> None:
    """Each level's start and end as the harness ran them (its phase in run.json)."""
    starts, t = [], 0.0
    for phase in run.profile.phases:
        starts.append(t)
        t += phase.duration
    ends = [*starts[1:], t if run.info.end is not None or _day_ended(run) else None]
    for index, level in enumerate(found):
        if index < len(starts):
            level.span = level.span.model_copy(update={"start": starts[index], "end": ends[index]})


def _day_ended(run: RunFolder) -> bool:
    """The search ended the day: its last level no longer runs to the run's bound."""
    return run.profile.duration_s < levels.BOUND_S - 1e-6


def _write_spans(run_folder: Path, found: Sequence[_Level]) -> None:
    spans = [level.span for level in found if level.started]
    runfolder.write_levels(run_folder, spans)


def capacity(chosen: Search, judges: Judges, conclude: rehearse.Conclude | None = None) -> int:
    """Run the search, then `conclude` its folder (`reports.capacity_search.conclude`, as a
    rehearsal concludes its run folder); the exit code (`surge.exits`)."""
    try:
        chosen.base.out.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise BadInput(f"--out: cannot create {chosen.base.out}: {error.strerror}") from None
    folder = runfolder.create(chosen.base.out, time.time(), f"{chosen.profile.name}-capacity")
    phase_file = folder / LEVEL_PROFILE
    phase_file.write_text(level_profile(chosen), encoding="utf-8")
    phase = resolve(str(phase_file), levels.TIME_SCALE, 1.0)
    record = _Record(chosen, folder, judges(phase, chosen.level_s))
    print(f"surge capacity: {describe(chosen)}", flush=True)
    try:
        _search(chosen, record, phase_file)
    except embedded.CoreError as error:
        print(f"surge: {error}")
        shutil.rmtree(folder, ignore_errors=True)
        return exits.BAD_INPUT
    record.write()
    print(answer(record))
    if conclude is None or not record.decided:
        print(f"Capacity folder: {folder}")
        return _exit_code(record)
    concluded = conclude(folder)
    for failure in concluded.failures:
        print(f"  gate      {failure}")
    print(f"Capacity folder: {folder}")
    print(f"{rehearse.REPORT}{concluded.report}")
    return concluded.exit_code


def _search(chosen: Search, record: _Record, phase_file: Path) -> None:
    run_folder = record.folder / SEARCH_RUN
    run_folder.mkdir()
    with (
        tempfile.TemporaryDirectory(prefix="surge-capacity-") as work,
        rehearse.stop_requests() as stop,
    ):
        scratch = Path(work)
        plan = scratch / SEARCH_PLAN
        run = run_rehearsal(chosen, phase_file, plan)
        with rehearse.systems(run, scratch) as core:
            if stop.reason is not None:
                record.interrupted = stop.reason
                return
            controller = _Controller(record, run_folder, plan)
            began = time.monotonic()
            ran = rehearse.run(run, core, run_folder, scratch, stop, False, controller)
            record.load_s = time.monotonic() - began
        if stop.reason is not None:
            record.interrupted = stop.reason
        if ran.run is None:  # Locust wrote no run folder: nothing measured
            record.interrupted = record.interrupted or "Locust wrote no run folder"
            record.levels = []
            return
        _finish(record, controller, ran.run)


def _finish(record: _Record, controller: _Controller, run: RunFolder) -> None:
    """The levels judged again on everything the run recorded, their spans written, and the
    answer from them."""
    if run.info.day_start is not None:
        record.judge.add(controller.tail.take(), run.info.day_start)
    _learn_spans(record.levels, run)
    current = record.levels[-1] if record.levels else None
    if run.info.error and current is not None and not (current.judged and current.judged.decided):
        # The run could not start and ended before the search looked: it is judged now.
        controller.decide(run)
    if record.done is None and record.interrupted is None:
        last = record.levels[-1].judged if record.levels else None
        if last is not None and last.status == "invalid":
            record.done = Done("not_valid")
        else:
            record.interrupted = "the run ended before the search did"
    kept: list[_Level] = []
    for level in record.levels:
        live = level.judged
        if live is None or not live.decided or not level.started:
            continue  # asked for, or running when the search was cut short: not decided
        before = [k.judged for k in kept if k.judged is not None]
        level.judged = record.judge.final(level.span, live, before, run)
        kept.append(level)
    record.levels = kept
    record.crossing = record.judge.crossing(record.decided)
    _write_spans(run.path, kept)


def describe(chosen: Search) -> str:
    rates = chosen.per_second(1.0)
    total = sum(rates.values())
    return (
        f"{chosen.profile.name}'s {chosen.phase.name} ({total:.3g} visits/s over "
        f"{chosen.profile.branches} branches) from x{chosen.low:g} to x{chosen.high:g}, in one "
        f"run of levels each judged at most {format_duration(chosen.level_s)} after it settles, "
        f"until within {chosen.precision:.0%}"
    )


def _line(number: int, judged: Judged, chosen: Search) -> str:
    p95 = "-" if judged.p95_ms is None else f"{judged.p95_ms:.0f} ms"
    per_s = "-" if judged.requests_per_s is None else f"{judged.requests_per_s:.1f}"
    offered = "" if judged.realized is None else f" (x{judged.realized:.4g} offered)"
    kind = "" if judged.sure else " (light)" if judged.light else " (unsure)"
    return (
        f"  #{number:<2} x{judged.multiple:<8.4g}{offered} {per_s:>8} requests/s  p95 {p95:>8}  "
        f"{judged.status}{kind}: {judged.why}"
    )


def answer(record: _Record) -> str:
    """The search's answer in one line, with its interval."""
    chosen, done = record.chosen, record.done
    name = f"{chosen.profile.name}'s {chosen.phase.name}"
    cut = f" (interrupted: {record.interrupted})" if record.interrupted else ""
    decided = record.decided
    if not decided:
        return f"Capacity: not measured{cut}"
    found = record.answer()
    last = decided[-1]
    if found["answer"] is None:
        if done is not None and done.ending == "not_valid":
            return f"Capacity: not measured: the run was {last.why}{cut}"
        if done is not None and done.ending == "generator_limit":
            return f"Capacity: not measured: {_generator_limit(last)}{cut}"
        return (
            f"Capacity: the target does not carry x{chosen.low:g} {name} within its SLOs (the "
            f"lowest level tried){cut}"
        )
    result = found["answer"]
    per_s = result["requests_per_s"]
    visits = sum(result["visits_per_s"].values())
    about = "" if result["sure"] else "about "
    carried = (
        f"Capacity: carries {about}{_rate(per_s)} requests/s of {name} within its SLOs "
        f"(x{result['multiple']:.4g}, {visits:.4g} visits/s); {_interval(result['interval'])}"
    )
    if done is not None and done.ending == "above_range":
        return f"{carried}, the top of the range searched (--to){cut}"
    if done is not None and done.ending == "generator_limit":
        return f"{carried}; then {_generator_limit(last)}{cut}"
    if done is not None and done.ending == "not_valid":
        return f"{carried}; then the run was not valid evidence{cut}"
    broke = found["broke_first"]
    lane = f" ({found['lane']} busiest)" if found.get("lane") else ""
    what = f"; {broke} broke first{lane}" if broke else ""
    return f"{carried}{what}{cut}"


def _rate(per_s: float | None) -> str:
    return "-" if per_s is None else f"{per_s:.4g}"


def _interval(interval: dict[str, Any]) -> str:
    """The interval of the answer in words: sure where both its ends were decided."""
    low, high = interval["low"], interval["high"]
    if high is None:
        said = "surely" if low["sure"] else "unsure:"
        return f"{said} above {_rate(low['requests_per_s'])} (x{low['multiple']:.4g} passed)"
    if low["sure"] and high["sure"]:
        return (
            f"surely {_rate(low['requests_per_s'])}-{_rate(high['requests_per_s'])} "
            f"(x{low['multiple']:.4g} surely passed, x{high['multiple']:.4g} surely failed)"
        )
    ends = [
        f"x{end['multiple']:.4g} {word}{'' if end['sure'] else ', not surely'}"
        for end, word in ((low, "passed"), (high, "failed"))
    ]
    return (
        f"unsure between {_rate(low['requests_per_s'])} and {_rate(high['requests_per_s'])} "
        f"({'; '.join(ends)})"
    )


def _generator_limit(level: Judged) -> str:
    """Why the level that ended the search at the generator's limit is not the target's."""
    if level.status == "fail":  # it failed while the generator was saturated
        return (
            f"at x{level.multiple:.4g} the generator was saturated, so the level's failure is "
            "not the target's limit (add --workers)"
        )
    return f"at x{level.multiple:.4g} the generator could not offer more (add --workers)"


def _exit_code(record: _Record) -> int:
    done = record.done
    if record.interrupted or done is None or done.ending in ("generator_limit", "not_valid"):
        return exits.NOT_VALID
    if done.ending == "below_range":
        return exits.GATE_FAILED
    return exits.OK
