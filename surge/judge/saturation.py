"""When the load generator itself was saturated: the one rule, on a run folder's `generator.csv`.

A response measured while the generator was starved of CPU (too much load on one process,
other work on its cores) is slow because of the harness, not the target, so a stretch of the
day judged then says so, and a capacity step that failed then is never read as the target's
limit. A sample (about a second of one Locust process, `surge.harness.host`) is saturated when
any of these held:

- the process used `MAX_CPU` of a core or more: a gevent loop has no slack left and every
  ready greenlet queues behind the others (Locust's own warning threshold; the shape stops
  growing the pool there too);
- its event loop woke `MAX_LOOP_LAG_MEAN_MS` late or more on average: every request timed then
  carries that much of the generator's own delay;
- its event loop stalled `MAX_LOOP_LAG_MS` or more at once: a fifth of `--late-after`; every
  answer that arrived in the stall is timed that much late.

A saturated sample counts when its process's sample before or after it is saturated too
(`SUSTAINED`), or when it stalled: a lone second just past the average is a blip of a busy
host, not a starved generator. The thresholds come from runs on two shared cores
(docs/report.md, "The generator's host"): default rehearsals, idle or with both cores kept busy
by other processes, had the loop at most 3.8 ms late on average in 90% of their seconds and
never stalled 100 ms; generators starved of their core (bench/harness_overhead.py's runs with
other work on Locust's core) were 5 ms late or more in 94-100% of their seconds, in runs of
consecutive seconds.

The host's idle share is recorded and shown, not judged: on two cores shared with other work,
default rehearsals ran whole days at 0% idle while the generator kept its schedule, since a
process that mostly waits on sockets is served first when it wakes; a starved generator shows
in its own loop. The host's CPU wait is not judged here either: it says whether two runs of the
embedded core, which shares the host, can be compared (`reports.gate`).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import groupby

from surge.runfolder import GeneratorSample, RunFolder

MAX_CPU = 0.9
MAX_LOOP_LAG_MEAN_MS = 5.0
MAX_LOOP_LAG_MS = 100.0
SUSTAINED = 2
"""Consecutive saturated samples of one process that count (a stall counts alone)."""
MERGE_GAP_S = 0.1
"""Saturated samples this close together are one stretch (one process's samples follow each
other within milliseconds; two processes' interleave)."""


def excess(sample: GeneratorSample) -> float:
    """How far the sample went towards saturation: its largest figure as a share of its
    threshold; 1 or more is saturated."""
    return max(
        sample.cpu / MAX_CPU,
        sample.loop_lag_mean_ms / MAX_LOOP_LAG_MEAN_MS,
        sample.loop_lag_max_ms / MAX_LOOP_LAG_MS,
    )


def why(sample: GeneratorSample) -> str:
    """The figure that went furthest past its threshold, in a few words."""
    ratios = {
        f"CPU {sample.cpu:.0%}": sample.cpu / MAX_CPU,
        f"event loop {sample.loop_lag_mean_ms:.0f} ms late on average": (
            sample.loop_lag_mean_ms / MAX_LOOP_LAG_MEAN_MS
        ),
        f"event loop stalled {sample.loop_lag_max_ms:.0f} ms": (
            sample.loop_lag_max_ms / MAX_LOOP_LAG_MS
        ),
    }
    return max(ratios, key=lambda words: ratios[words])


def process_name(process: int, workers: int = 1) -> str:
    """The process as the console names it: a local run's one process, the master, or the
    worker of a share."""
    if process == 0:
        return "the master" if workers > 1 else "Locust"
    return f"the worker of share {process - 1}"


@dataclass(frozen=True, slots=True)
class Stretch:
    """A stretch of time (epoch seconds) when some process of the generator was saturated."""

    start: float
    end: float
    process: int
    """The process whose sample went furthest past a threshold in it."""
    why: str
    """That sample's figure (`why`)."""
    excess: float

    @property
    def seconds(self) -> float:
        return self.end - self.start


def _within(sample: GeneratorSample, since: float) -> tuple[float, float] | None:
    start, end = max(sample.time - sample.interval_s, since), sample.time
    return (start, end) if end > start else None


def _counted(samples: Sequence[GeneratorSample]) -> list[GeneratorSample]:
    """The saturated samples that count: in a run of `SUSTAINED` or more of their process's,
    or stalled."""
    by_process: dict[int, list[GeneratorSample]] = {}
    for sample in sorted(samples, key=lambda s: s.time):
        by_process.setdefault(sample.process, []).append(sample)
    counted = []
    for mine in by_process.values():
        for saturated, group in groupby(mine, key=lambda s: excess(s) >= 1):
            run = list(group)
            if saturated:
                sustained = len(run) >= SUSTAINED
                counted += [s for s in run if sustained or s.loop_lag_max_ms >= MAX_LOOP_LAG_MS]
    return counted


def stretches(samples: Sequence[GeneratorSample], since: float) -> list[Stretch]:
    """The stretches from `since` (epoch seconds: the day's start) when any process was
    saturated (the samples that count), in order, each as long as its samples (cut at
    `since`). The watch samples until Locust starts stopping its users, so the stretch after the
    day, its queued visits drained, is judged too."""
    found: list[Stretch] = []
    for sample in sorted(_counted(samples), key=lambda s: s.time - s.interval_s):
        over = excess(sample)
        span = _within(sample, since)
        if span is None:
            continue
        start, end = span
        last = found[-1] if found else None
        if last is not None and start <= last.end + MERGE_GAP_S:
            worst = sample if over > last.excess else None
            found[-1] = Stretch(
                last.start,
                max(last.end, end),
                worst.process if worst else last.process,
                why(worst) if worst else last.why,
                max(over, last.excess),
            )
        else:
            found.append(Stretch(start, end, sample.process, why(sample), over))
    return found


@dataclass(frozen=True, slots=True)
class Figures:
    """One process of the generator over the run from the day's start."""

    process: int
    name: str
    samples: int
    peak_cpu: float
    """The largest share of a core it used in a sample."""
    lowest_host_idle: float
    """The host's smallest idle share (every core) in a sample."""
    worst_loop_lag_ms: float
    """Its event loop's longest stall."""
    mean_loop_lag_ms: float
    """Its event loop's mean lateness over the run."""
    saturated_s: float
    host_cpu_wait: float | None
    """The share of its seconds in which some task on the host waited for a CPU; None where
    the kernel did not tell."""


def figures(samples: Sequence[GeneratorSample], since: float, workers: int = 1) -> list[Figures]:
    """Each process's figures over its samples from `since` (epoch seconds: the day's start)."""
    mine: dict[int, list[GeneratorSample]] = {}
    for sample in samples:
        if _within(sample, since) is not None:
            mine.setdefault(sample.process, []).append(sample)
    out = []
    for process, kept in sorted(mine.items()):
        seconds = sum(s.interval_s for s in kept)
        out.append(
            Figures(
                process=process,
                name=process_name(process, workers),
                samples=len(kept),
                peak_cpu=max(s.cpu for s in kept),
                lowest_host_idle=min(s.host_idle for s in kept),
                worst_loop_lag_ms=max(s.loop_lag_max_ms for s in kept),
                mean_loop_lag_ms=sum(s.loop_lag_mean_ms * s.interval_s for s in kept) / seconds,
                saturated_s=sum(x.seconds for x in stretches(kept, since)),
                host_cpu_wait=_mean_cpu_wait(kept),
            )
        )
    return out


def _mean_cpu_wait(samples: Sequence[GeneratorSample]) -> float | None:
    told = [s for s in samples if not math.isnan(s.host_cpu_wait)]
    seconds = sum(s.interval_s for s in told)
    return sum(s.host_cpu_wait * s.interval_s for s in told) / seconds if seconds else None


def line(run: RunFolder) -> str | None:
    """One line for the closing lines when the generator was saturated during the run, naming
    the process and figure that went furthest; None when it was not, or was not watched."""
    samples, start = run.generator(), run.info.day_start
    if not samples or start is None:
        return None
    found = stretches(samples, start)
    if not found:
        return None
    worst = max(found, key=lambda s: s.excess)
    total = sum(s.seconds for s in found)
    name = process_name(worst.process, run.info.workers)
    return f"saturated for {total:.1f} s of the run ({name}: {worst.why})"
