"""The load generator's host over the run (`generator.csv`), and when it was saturated.

A verdict is a claim about the target; while the generator itself was starved of CPU, slow
responses are the harness's own. `saturated` gives those stretches of the run, by the one rule
(`surge.judge.saturation`: the process at 90% of a core or more, its event loop 5 ms late on average
for two seconds running, or stalled 100 ms), for the judgements that must say so (an SLO window,
a capacity step); `generator` gives each process's figures and the samples in the timeline's
windows for the report. docs/report.md, "The generator's host", says why these thresholds.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from reports.timeline import Span
from surge.judge import saturation
from surge.runfolder import GeneratorSample, RunFolder


def saturated(run: RunFolder, day_start: float) -> list[Span]:
    """The stretches of the run when any process of the generator was saturated, in run seconds
    from `day_start` (epoch seconds of the day's t = 0, `Frames.day_start`), in order and never
    overlapping, none before 0 (the preparation is not sampled or judged), some maybe past the
    day's end (its queued visits drained); each named for the process and figure that went
    furthest past its threshold ("the worker of share 1: CPU 98%"). None of them for a folder
    written before the harness watched its host (no `generator.csv`)."""
    samples = run.generator()
    if not samples:
        return []
    return _spans(samples, run, day_start)


def _spans(samples: list[GeneratorSample], run: RunFolder, day_start: float) -> list[Span]:
    workers = run.info.workers
    return [
        Span(
            f"{saturation.process_name(s.process, workers)}: {s.why}",
            s.start - day_start,
            s.end - day_start,
        )
        for s in saturation.stretches(samples, day_start)
    ]


def overlap(spans: list[Span], start: float, end: float) -> float:
    """Seconds of `spans` (non-overlapping, as `saturated` gives them) within [start, end]."""
    return sum(max(0.0, min(end, s.end) - max(start, s.start)) for s in spans)


@dataclass(frozen=True)
class Generator:
    """The generator over the run: each process's figures, when it was saturated, and its
    samples in windows."""

    processes: list[saturation.Figures]
    saturated: list[Span]
    windows: pd.DataFrame
    """Per window of the timeline (`t`, its start in run seconds) and `process`: the most
    `cpu`, the least `host_idle`, the longest `loop_lag_max_ms`, the mean `loop_lag_mean_ms`."""

    @property
    def saturated_s(self) -> float:
        return sum(span.end - span.start for span in self.saturated)

    @property
    def thresholds(self) -> dict[str, float]:
        """The rule's (`surge.judge.saturation`), as summary.json and the report state them."""
        return {
            "cpu": saturation.MAX_CPU,
            "loop_lag_mean_ms": saturation.MAX_LOOP_LAG_MEAN_MS,
            "loop_lag_max_ms": saturation.MAX_LOOP_LAG_MS,
        }


def generator(run: RunFolder, day_start: float, window_s: float) -> Generator | None:
    """The generator's figures over the run, its samples in windows of `window_s`; None for a
    folder written before the harness watched its host."""
    samples = run.generator()
    if not samples:
        return None
    data = pd.DataFrame(samples, columns=list(GeneratorSample._fields))
    middle = data["time"] - data["interval_s"] / 2  # a sample goes in its middle's window
    data = data[middle >= day_start]
    data = data.assign(t=np.floor((middle[data.index] - day_start) / window_s) * window_s)
    windows = (
        data.groupby(["t", "process"])
        .agg(
            cpu=("cpu", "max"),
            host_idle=("host_idle", "min"),
            loop_lag_max_ms=("loop_lag_max_ms", "max"),
            loop_lag_mean_ms=("loop_lag_mean_ms", "mean"),
        )
        .reset_index()
    )
    return Generator(
        processes=saturation.figures(samples, day_start, run.info.workers),
        saturated=_spans(samples, run, day_start),
        windows=windows,
    )
