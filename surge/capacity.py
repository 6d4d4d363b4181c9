"""`surge capacity`: the highest rate of a profile's busiest phase the target carries within its
objectives, found by a search of real Locust runs (docs/capacity.md, "The capacity search").

The search runs one phase of the profile (its channel and business mix, its objectives; no
faults: the search measures the steady system) as steps of a rate multiple `K`: each step is a
rehearsal of that phase at `K` times its arrivals, lasting a warm-up and `--step-duration`
seconds, into a run folder of its own under the search's folder, against one target for the
whole search (an embedded mock core unless `--host`). Each step is judged on its own records
(`Judge`, composed in by the command line: the harness never imports the reports), the next
multiple comes from `surge.search`, and `capacity.json` is rewritten after every step, so an
interrupted search keeps what it measured. A step whose error budget is spent (the strictest
error-rate objective could no longer hold) is ended early by the harness (`--stop-after-errors`).
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

import tomli_w

from surge import binding, exits, rehearse, runfolder, search
from surge.exits import BadInput
from surge.profile import CHANNELS, Phase, Profile, format_duration, load_profile, resolve
from surge.search import Done, Range, Status, Step

CAPACITY = "capacity.json"
STEP_PROFILE = "step-profile.toml"
"""The phase the steps replay, as a profile file: each step is this at a rate scale."""
STEPS = "steps"
FORMAT_VERSION = 1
MIN_STEP_S = 5.0
WARMUP_SHARE = 0.25
"""Each step runs this share of its measured length before it, not judged."""
MIN_WARMUP_S = 3.0
REQUESTS_PER_VISIT = 6
"""No ordinary journey sends more requests than this without retries (a counter enquiry; an online
cancel or check-in, its login included), so no day's mean does: a step that has seen more errors
than its error-rate objective allows for that many requests a visit cannot pass. The suspicious
patterns send more (a fan-in twelve: six payers' logins and payments) but are a small share."""
MIN_ERROR_BUDGET = 25
DEFAULT_ERROR_RATE = 0.05
"""The error budget's share when the profile sets no error-rate objective."""


class Judged(Protocol):
    """What the search needs of a step's judgement (`reports.steps.Judged`)."""

    @property
    def status(self) -> Status: ...
    @property
    def leaning(self) -> Status: ...
    @property
    def why(self) -> str: ...
    @property
    def offered_per_s(self) -> dict[str, float]: ...
    @property
    def requests_per_s(self) -> float: ...
    @property
    def p95_ms(self) -> float | None: ...
    @property
    def broke(self) -> str | None: ...
    @property
    def lane(self) -> str | None: ...
    @property
    def lane_peak_share(self) -> float | None: ...
    @property
    def generator_saturated(self) -> bool: ...
    def to_dict(self) -> dict[str, Any]: ...


Judge = Callable[[Sequence[Path], float], Judged]
"""Judges a step's run folders (a first run and its repeats), leaving out the warm-up seconds
of each."""


@dataclass(frozen=True)
class Search:
    """A capacity search, checked."""

    profile: Profile
    """As loaded: unscaled."""
    phase: Phase
    low: float
    high: float
    precision: float
    step_s: float
    base: rehearse.Rehearsal
    """The rehearsal every step derives from (target, workers, seed, Locust options)."""

    @property
    def warmup_s(self) -> float:
        return max(MIN_WARMUP_S, WARMUP_SHARE * self.step_s)

    @property
    def range(self) -> Range:
        return Range(self.low, self.high, self.precision)

    def per_second(self, multiple: float) -> dict[str, float]:
        """Visits a second the phase offers per channel at `multiple`, every branch."""
        rates = self.phase.arrivals_per_hour
        return {c: getattr(rates, c) * self.profile.branches * multiple / 3600.0 for c in CHANNELS}


def search_of(
    *,
    profile: str,
    phase: str | None,
    low: float,
    high: float,
    precision: float,
    step_s: float,
    host: str | None,
    admin_token: str | None,
    core_config: Path | None,
    out: Path,
    workers: int,
    seed: int | None,
    max_users: int | None,
    locust_args: list[str],
    binding_spec: str = binding.DEFAULT,
    allow_hosts: Sequence[str] = (),
) -> Search:
    """Check the arguments; raises `BadInput` (one line)."""
    if not 0 < low <= high:
        raise BadInput(f"--from, --to: need 0 < from <= to, not {low:g} and {high:g}")
    if not 0 < precision < 1:
        raise BadInput(f"--precision: a share between 0 and 1, not {precision:g}")
    if not (math.isfinite(step_s) and step_s >= MIN_STEP_S):
        raise BadInput(f"--step-duration: at least {MIN_STEP_S:g} s, not {step_s:g}")
    loaded = load_profile(profile)
    chosen = _phase(loaded, phase)
    if not sum(getattr(chosen.arrivals_per_hour, c) for c in CHANNELS) > 0:
        raise BadInput(f"--phase: {chosen.name} of {loaded.name} has no arrivals to multiply")
    base = rehearse.rehearsal(
        profile=profile,
        host=host,
        time_scale=1.0,
        rate_scale=1.0,
        workers=workers,
        out=out,
        seed=seed,
        max_users=max_users,
        admin_token=admin_token,
        locust_args=locust_args,
        core_config=core_config,
        binding_spec=binding_spec,
        allow_hosts=allow_hosts,
    )
    try:  # a --to beyond what one run may schedule is refused now, not at that step
        resolve(profile, 1.0, high)
    except BadInput as error:
        raise BadInput(str(error).replace("--rate-scale:", "--to:", 1)) from None
    return Search(loaded, chosen, low, high, precision, step_s, replace(base, command="capacity"))


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


@dataclass
class _Record:
    """The search as it goes: what capacity.json says."""

    chosen: Search
    folder: Path
    started: float = field(default_factory=time.time)
    steps: list[dict[str, Any]] = field(default_factory=list)
    done: Done | None = None
    interrupted: str | None = None
    load_s: float = 0.0
    """Seconds the steps' runs took (their days and warm-ups, Locust's start and end): what a
    team pays for the answer."""

    def write(self) -> None:
        chosen, done = self.chosen, self.done
        sustained = done.sustained if done else None
        answer = None
        if sustained is not None:
            step = self._best(sustained)
            answer = {
                "multiple": sustained,
                "visits_per_s": chosen.per_second(sustained),
                "requests_per_s": step["judged"]["requests_per_s"] if step else None,
            }
        failing = self._best(done.failed) if done and done.failed is not None else None
        data = {
            "format_version": FORMAT_VERSION,
            "profile": chosen.profile.name,
            "phase": chosen.phase.name,
            "phase_per_hour": chosen.phase.arrivals_per_hour.model_dump(),
            "branches": chosen.profile.branches,
            "host": chosen.base.host,
            "range": [chosen.low, chosen.high],
            "precision": chosen.precision,
            "step_s": chosen.step_s,
            "warmup_s": chosen.warmup_s,
            "started": self.started,
            "load_s": self.load_s,
            "steps": self.steps,
            "ending": done.ending if done else None,
            "sustained": answer,
            "failed_multiple": done.failed if done else None,
            "broke_first": (failing or {}).get("judged", {}).get("broke"),
            "lane": (failing or {}).get("judged", {}).get("lane"),
            "sure": all(not s["unsure"] for s in self.steps),
            "interrupted": self.interrupted,
        }
        runfolder.write_output(self.folder / CAPACITY, json.dumps(data, indent=2) + "\n")

    def _best(self, multiple: float) -> dict[str, Any] | None:
        """The last judgement of the step at `multiple` (its repeats pooled)."""
        return next((s for s in reversed(self.steps) if s["multiple"] == multiple), None)


def capacity(chosen: Search, judge: Judge, conclude: rehearse.Conclude | None = None) -> int:
    """Run the search, then `conclude` its folder (`reports.capacity_search.conclude`, as a
    rehearsal concludes its run folder); the exit code (`surge.exits`)."""
    try:
        chosen.base.out.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise BadInput(f"--out: cannot create {chosen.base.out}: {error.strerror}") from None
    folder = runfolder.create(chosen.base.out, time.time(), f"{chosen.profile.name}-capacity")
    record = _Record(chosen, folder)
    print(f"surge capacity: {describe(chosen)}", flush=True)
    try:
        _search(chosen, record, judge)
    except rehearse.embedded.CoreError as error:
        print(f"surge: {error}")
        shutil.rmtree(folder, ignore_errors=True)
        return exits.BAD_INPUT
    record.write()
    print(answer(record))
    if conclude is None or not record.steps:
        print(f"Capacity folder: {folder}")
        return _exit_code(record)
    concluded = conclude(folder)
    for failure in concluded.failures:
        print(f"  gate      {failure}")
    print(f"Capacity folder: {folder}")
    print(f"{rehearse.REPORT}{concluded.report}")
    return concluded.exit_code


def _search(chosen: Search, record: _Record, judge: Judge) -> None:
    phase_file = record.folder / STEP_PROFILE
    phase_file.write_text(step_profile(chosen), encoding="utf-8")
    steps: list[Step] = []
    runs: dict[float, list[Path]] = {}
    with (
        tempfile.TemporaryDirectory(prefix="surge-capacity-") as work,
        rehearse.stop_requests() as stop,
    ):
        scratch = Path(work)
        first = step_rehearsal(chosen, phase_file, chosen.low)
        with rehearse.systems(first, scratch) as core:
            while True:
                wanted = search.next_step(steps, chosen.range)
                if isinstance(wanted, Done):
                    record.done = wanted
                    return
                if stop.reason is not None:
                    record.interrupted = stop.reason
                    record.done = _so_far(steps, chosen)
                    return
                multiple = wanted.multiple
                folder = _step_folder(record.folder, len(record.steps) + 1, multiple)
                started = time.monotonic()
                repeat = len(runs.get(multiple, []))
                each = step_rehearsal(chosen, phase_file, multiple, repeat)
                ran = rehearse.run(each, core, folder, scratch, stop, False)
                record.load_s += time.monotonic() - started
                if ran.run is None:  # Locust wrote no run folder: nothing measured
                    record.interrupted = stop.reason or "Locust wrote no run folder"
                    record.done = _so_far(steps, chosen)
                    return
                runs.setdefault(multiple, []).append(folder)
                judged = judge(runs[multiple], chosen.warmup_s)
                step = _decided(judged, multiple, len(runs[multiple]))
                if stop.reason is not None:  # cut short: its records do not judge the rate
                    record.interrupted = stop.reason
                    record.done = _so_far(steps, chosen)
                    return
                steps = [s for s in steps if s.multiple != multiple] + [step]
                record.steps.append(_entry(step, judged, runs[multiple], chosen))
                record.write()
                print(_step_line(step, judged, chosen), flush=True)


def _decided(judged: Judged, multiple: float, runs: int) -> Step:
    """The step for `surge.search`: an unclear one past its repeats counts as it leans."""
    saturated = judged.generator_saturated
    if judged.status == "unclear" and runs > search.MAX_REPEATS:
        return Step(multiple, judged.leaning, runs, unsure=True, saturated=saturated)
    return Step(multiple, judged.status, runs, saturated=saturated)


def _so_far(steps: list[Step], chosen: Search) -> Done:
    """Where an interrupted search had got to."""
    ended = search.next_step(steps, chosen.range) if steps else None
    if isinstance(ended, Done):
        return ended
    passed = [s.multiple for s in steps if s.status == "pass"]
    failed = [s.multiple for s in steps if s.status == "fail" and not s.saturated]
    return Done("bracketed", max(passed, default=None), min(failed, default=None))


def step_rehearsal(
    chosen: Search, phase_file: Path, multiple: float, repeat: int = 0
) -> rehearse.Rehearsal:
    """Step `multiple` as a rehearsal: the phase's length run in warm-up + step seconds at
    `multiple` times its rate, with an error budget. A repeat draws its own arrivals (the seed
    plus `repeat`): pooled with the runs before, the same schedule again would be counted as
    independent evidence it is not."""
    run_s = chosen.warmup_s + chosen.step_s
    time_scale = chosen.phase.duration / run_s
    profile = resolve(str(phase_file), time_scale, multiple)
    visits = profile.expected_visits()
    budget = max(
        MIN_ERROR_BUDGET, math.ceil(_error_rate(chosen.profile) * visits * REQUESTS_PER_VISIT)
    )
    seed = (chosen.profile.seed if chosen.base.seed is None else chosen.base.seed) + repeat
    return replace(
        chosen.base,
        profile_arg=str(phase_file),
        profile=profile,
        seed=seed,
        locust_args=("--stop-after-errors", str(budget), *chosen.base.locust_args),
    )


def _error_rate(profile: Profile) -> float:
    """The most lenient error-rate objective: a step past its budget breaks every one."""
    rates = [getattr(profile.slo, c).error_rate for c in CHANNELS if getattr(profile.slo, c)]
    rates += [s.error_rate for s in profile.slo.operations.values()]
    given = [r for r in rates if r is not None]
    return max(given, default=DEFAULT_ERROR_RATE)


def step_profile(chosen: Search) -> str:
    """The profile file every step replays: the chosen phase alone, its day starting with it,
    no faults."""
    data = _plain(chosen.profile.to_dict())
    data.pop("time_scale", None)
    data.pop("rate_scale", None)
    phase = next(p for p in data["phases"] if p["name"] == chosen.phase.name)
    data["phases"] = [phase]
    data["day_start"] = phase["start"]
    data["faults"] = []
    data["name"] = f"{chosen.profile.name}-{chosen.phase.name}"[:64]
    data["description"] = f"{chosen.profile.name}'s {chosen.phase.name}, the capacity search's step"
    header = (
        f"# The capacity search's step: {chosen.profile.name}'s {chosen.phase.name} alone, no "
        "faults.\n# Each step replays it at a rate scale (surge capacity, docs/capacity.md).\n"
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


def _step_folder(root: Path, number: int, multiple: float) -> Path:
    folder = root / STEPS / f"{number:02d}-x{multiple:.4g}"
    folder.mkdir(parents=True)
    return folder


def _entry(step: Step, judged: Judged, folders: list[Path], chosen: Search) -> dict[str, Any]:
    return {
        "multiple": step.multiple,
        "status": step.status,
        "unsure": step.unsure,
        "runs": [str(f.relative_to(f.parent.parent)) for f in folders],
        "offered_per_s": chosen.per_second(step.multiple),
        "judged": judged.to_dict(),
    }


def describe(chosen: Search) -> str:
    rates = chosen.per_second(1.0)
    total = sum(rates.values())
    return (
        f"{chosen.profile.name}'s {chosen.phase.name} ({total:.3g} visits/s over "
        f"{chosen.profile.branches} branches) from x{chosen.low:g} to x{chosen.high:g}, steps "
        f"of {format_duration(chosen.step_s)} after {format_duration(chosen.warmup_s)} of "
        f"warm-up, until within {chosen.precision:.0%}"
    )


def _step_line(step: Step, judged: Judged, chosen: Search) -> str:
    p95 = "-" if judged.p95_ms is None else f"{judged.p95_ms:.0f} ms"
    unsure = ", unsure" if step.unsure else ""
    return (
        f"  x{step.multiple:<8.4g} {sum(chosen.per_second(step.multiple).values()):8.2f} visits/s "
        f"{judged.requests_per_s:8.1f} requests/s  p95 {p95:>8}  {step.status}{unsure}: "
        f"{judged.why}"
    )


def answer(record: _Record) -> str:
    """The search's answer in one line."""
    chosen, done = record.chosen, record.done
    name = f"{chosen.profile.name}'s {chosen.phase.name}"
    cut = f" (interrupted: {record.interrupted})" if record.interrupted else ""
    if done is None or not record.steps:
        return f"Capacity: not measured{cut}"
    if done.ending == "not_valid" and done.sustained is None:
        why = record.steps[-1]["judged"]["why"]
        return f"Capacity: not measured: the first step's run was {why}{cut}"
    if done.ending == "generator_limit" and done.sustained is None:
        return f"Capacity: not measured: {_generator_limit(record.steps[-1])}{cut}"
    if done.sustained is None:
        return (
            f"Capacity: the target does not carry x{chosen.low:g} {name} within its SLOs (the "
            f"lowest step tried){cut}"
        )
    best = record._best(done.sustained)
    per_s = best["judged"]["requests_per_s"] if best else float("nan")
    visits = sum(chosen.per_second(done.sustained).values())
    carried = (
        f"Capacity: carries {done.sustained:.3g}x {name} within its SLOs ({visits:.3g} visits/s, "
        f"{per_s:.4g} requests/s)"
    )
    if done.ending == "above_range":
        return f"{carried}, the top of the range searched (--to){cut}"
    if done.ending == "generator_limit":
        return f"{carried}; then {_generator_limit(record.steps[-1])}{cut}"
    if done.ending == "not_valid":
        return f"{carried}; then a step's run was not valid evidence{cut}"
    failing = record._best(done.failed) if done.failed is not None else None
    broke = (failing or {}).get("judged", {})
    lane = f" ({broke['lane']} busiest)" if broke.get("lane") else ""
    what = (
        f"; at {done.failed:.3g}x {broke.get('broke') or 'it'} broke first{lane}" if failing else ""
    )
    return f"{carried}{what}{cut}"


def _generator_limit(step: dict[str, Any]) -> str:
    """Why the step that ended the search at the generator's limit is not the target's."""
    if step["status"] == "fail":  # it failed while the generator was saturated
        return (
            f"at {step['multiple']:.3g}x the generator was saturated, so the step's failure is "
            "not the target's limit (add --workers)"
        )
    return f"at {step['multiple']:.3g}x the generator could not offer more (add --workers)"


def _exit_code(record: _Record) -> int:
    done = record.done
    if record.interrupted or done is None or done.ending in ("generator_limit", "not_valid"):
        return exits.NOT_VALID
    if done.ending == "below_range":
        return exits.GATE_FAILED
    return exits.OK
