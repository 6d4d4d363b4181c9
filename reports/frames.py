"""A run's records as pandas frames, on the run's own clock, and exact percentiles of them.

Everything the report says about response times and customer waits is computed here from the raw
records (one row per request attempt, `surge.runfolder`), never from a histogram: percentiles are
nearest-rank (the smallest value with at least p% of the values at or below it), exact however
many records there are. Times are run seconds since the day's first second was due (`t`), so they
line up with the profile's phases and faults.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from surge.runfolder import RunFolder
from surge.visit.wire import ERRORS

PERCENTILES = (50.0, 90.0, 95.0, 99.0, 99.9)
"""The percentiles every table gives, with the maximum beside them."""
ERROR_KINDS = ("5xx", "timeout", "reset", "no_response", "4xx")
"""What went wrong with an attempt that was retried or failed: a 5xx (504 is a timeout), no
response because the connection was reset or timed out or refused, a 4xx that is not a business
refusal. Business refusals (`outcome` refused) are answers, not errors."""
_COLUMNS = (
    "channel",
    "journey",
    "step",
    "name",
    "status",
    "error",
    "retries",
    "outcome",
    "start",
    "end",
)
_NICE_S = (1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600)
"""Window lengths; at least a second, the resolution of the run's lateness record."""


@dataclass(frozen=True)
class Frames:
    """The records of one run, as the analysis reads them."""

    requests: pd.DataFrame
    """One row per attempt: `channel`, `journey` (the visit's business: the SLOs' operations),
    `step`, `name`, `outcome` and `kind` (categoricals), `status`, `retries` (attempts of the
    step before this one), `t` (start, run seconds),
    `response_ms`, `wait_s` (end minus the visit's scheduled start), `visit` (an id)."""
    visits: pd.DataFrame
    """One row per visit that sent a request: `channel`, `journey`, `t` (scheduled, run
    seconds), `start_t` and `end_t` (first send, last answer), `duration_s` (between the two),
    `wait_s` (scheduled to last answer), `failed` (a step gave up)."""
    day_start: float
    """Epoch seconds of the day's t = 0."""
    duration_s: float
    """The day's length in run seconds (the resolved profile's)."""


def frames(run: RunFolder) -> Frames:
    table = run.requests([*_COLUMNS, "scheduled"], dictionary=True)
    data = table.to_pandas()
    day_start = run.info.day_start
    if day_start is None:
        day_start = float(data["scheduled"].min()) if len(data) else run.info.start
    start, end, scheduled = (data[c].to_numpy() for c in ("start", "end", "scheduled"))
    visit, _ = pd.factorize(data["scheduled"], sort=False)
    requests = pd.DataFrame(
        {
            "channel": data["channel"],
            "journey": data["journey"],
            "step": data["step"],
            "name": data["name"],
            "status": data["status"].to_numpy(),
            "retries": data["retries"].to_numpy(),
            "outcome": data["outcome"],
            "kind": _kinds(data),
            "t": start - day_start,
            "response_ms": (end - start) * 1000.0,
            "wait_s": end - scheduled,
            "scheduled_t": scheduled - day_start,
            "visit": visit,
        }
    )
    return Frames(requests, _visits(requests), float(day_start), run.profile.duration_s)


def _kinds(data: pd.DataFrame) -> pd.Categorical:
    """Each attempt's error kind (`ERROR_KINDS`), or "" when it was not an error."""
    status = data["status"].to_numpy()
    timed_out, reset = _matching(data["error"], "timeout|timed out", "reset|broken pipe|eof")
    erred = data["outcome"].isin(ERRORS).to_numpy()
    kinds = ["", *ERROR_KINDS]
    code = np.select(  # codes of `kinds`: a string per row would cost more than the rest
        [
            ~erred,
            status == 504,
            status >= 500,
            (status == 0) & timed_out,
            (status == 0) & reset,
            status == 0,
        ],
        [kinds.index(kind) for kind in ("", "timeout", "5xx", "timeout", "reset", "no_response")],
        default=kinds.index("4xx"),
    )
    return pd.Categorical.from_codes(code, categories=kinds)


def _matching(text: pd.Series, *patterns: str) -> list[np.ndarray]:
    """For each regular expression, which rows of `text` (lowercased) it is found in: matched
    against a categorical's few distinct values, not against every row."""
    values = text.astype("category").array
    categories = pd.Series(values.categories.astype(str)).str.lower()
    found = [categories.str.contains(p, regex=True).to_numpy(dtype=bool) for p in patterns]
    return [np.r_[matches, False][values.codes] for matches in found]  # code -1: missing


def _visits(requests: pd.DataFrame) -> pd.DataFrame:
    if requests.empty:
        columns = ("channel", "journey", "t", "start_t", "end_t", "duration_s", "wait_s", "failed")
        return pd.DataFrame({c: pd.Series(dtype=float) for c in columns})
    end_t = requests["t"] + requests["response_ms"] / 1000.0
    grouped = (
        requests.assign(end_t=end_t, failed=requests["outcome"] == "failed")
        .groupby("visit", sort=False)
        .agg(
            channel=("channel", "first"),
            journey=("journey", "first"),
            t=("scheduled_t", "first"),
            first=("t", "min"),
            last=("end_t", "max"),
            failed=("failed", "any"),
        )
    )
    return pd.DataFrame(
        {
            "channel": grouped["channel"],
            "journey": grouped["journey"],
            "t": grouped["t"],
            "start_t": grouped["first"],
            "end_t": grouped["last"],
            "duration_s": grouped["last"] - grouped["first"],
            "wait_s": grouped["last"] - grouped["t"],
            "failed": grouped["failed"],
        }
    ).reset_index(drop=True)


def rank(count: int, percent: float) -> int:
    """The 0-based index of the nearest-rank `percent` percentile among `count` sorted values."""
    return max(1, math.ceil(percent * count / 100 - 1e-9)) - 1


def percentiles(
    values: pd.Series, by: Sequence[pd.Series] = (), ps: Sequence[float] = PERCENTILES
) -> pd.DataFrame:
    """Exact nearest-rank percentiles (columns `p50`, …, and `max`, `count`) of `values`, for
    every group of `by` (one row, index 0, without), the groups in the order of their values.

    The values are put in group order by a stable sort of small group codes, then each group's
    ranks are selected (`np.partition`) rather than the group sorted: linear in the values,
    where a sort by group and value took most of a large run's report."""
    v = values.to_numpy(dtype=np.float64, na_value=np.nan)
    kept = np.isfinite(v)
    if by:
        kept, codes, index = _groups(by, kept)
        counts = np.bincount(codes, minlength=len(index))
        v = v[kept][np.argsort(codes.astype(_narrowest(len(index))), kind="stable")]
    else:
        v = v[kept]
        counts = np.array([len(v)] if len(v) else [], dtype=np.int64)
        index = pd.RangeIndex(len(counts))
    ranks = [np.maximum(1, np.ceil(p * counts / 100 - 1e-9)).astype(np.int64) - 1 for p in ps]
    picked = np.empty((len(counts), len(ps) + 1))
    ends = np.cumsum(counts)
    for g, (start, end) in enumerate(zip(ends - counts, ends, strict=True)):
        wanted = [int(r[g]) for r in ranks] + [int(counts[g]) - 1]
        picked[g] = np.partition(v[start:end], sorted(set(wanted)))[wanted]
    out = pd.DataFrame(picked, index=index, columns=[*(label(p) for p in ps), "max"])
    out["count"] = counts
    return out


def _groups(by: Sequence[pd.Series], rows: np.ndarray) -> tuple[np.ndarray, np.ndarray, pd.Index]:
    """The groups of `by` among `rows` (a mask): the rows with every key present, their groups
    (numbered in the order of the groups' values) and those groups as an index named as `by`."""
    level_codes, levels = [], []
    for series in by:
        array = series.array
        if isinstance(array, pd.Categorical):  # its codes, renumbered in its values' order
            order = array.categories.argsort()
            renumber = np.empty(len(order) + 1, dtype=np.int64)
            renumber[order] = np.arange(len(order))
            renumber[-1] = -1  # a missing value's code
            level_codes.append(renumber[array.codes])
            levels.append(array.categories[order])
        else:
            codes, uniques = pd.factorize(series.to_numpy(), sort=True)
            level_codes.append(codes)
            levels.append(pd.Index(uniques))
    sizes = [max(1, len(level)) for level in levels]
    combined = np.zeros(len(rows), dtype=np.int64)
    for codes, size in zip(level_codes, sizes, strict=True):
        rows = rows & (codes >= 0)
        combined = combined * size + codes
    combined = combined[rows]
    total = math.prod(sizes)
    if total <= 4 * len(combined) + 1024:  # counting beats sorting
        seen = np.bincount(combined, minlength=total) > 0
        present = np.flatnonzero(seen)
        codes = (np.cumsum(seen) - 1)[combined]
    else:
        present, codes = np.unique(combined, return_inverse=True)
    names = [getattr(s, "name", None) or f"k{i}" for i, s in enumerate(by)]
    where = np.unravel_index(present, sizes)
    columns = [level.take(at) for level, at in zip(levels, where, strict=True)]
    if len(columns) == 1:
        return rows, codes, columns[0].rename(names[0])
    return rows, codes, pd.MultiIndex.from_arrays(columns, names=names)


def _narrowest(groups: int) -> type[np.signedinteger]:
    """The narrowest codes for `groups` groups: numpy sorts 16-bit integers by radix."""
    return np.int16 if groups < 2**15 else np.int64


def label(percent: float) -> str:
    """`p95`, `p99.9`: how a percentile is named in tables and in summary.json."""
    return f"p{percent:g}"


def window_s(duration_s: float, windows: int = 120) -> float:
    """A round window length (1 s, 2 s, 5 s …) giving about `windows` windows over a day
    of `duration_s` run seconds: charts of a compressed day and of a real one look alike."""
    wanted = duration_s / windows
    return next((nice for nice in _NICE_S if nice >= wanted), _NICE_S[-1])
