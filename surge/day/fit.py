"""`surge profiles fit`: a surge profile built from a CSV of past arrivals (docs/profiles.md).

The history is one row per arrival: `timestamp`, `branch`, `channel`, `operation` (other columns
are ignored). Every row is checked, and the first bad one is refused in one line naming the file,
the line and the column (`BadInput`), so nothing is fitted from records half understood.

The day is cut into 15-minute bins from the first arrival's bin to the last one's, and each bin's
arrivals are counted per channel, over all branches and dates. Neighbouring stretches are then
merged bottom-up into phases: the pair whose rates differ least significantly is merged first,
until every remaining pair differs significantly on some channel.

The significance test is the exact conditional test for two Poisson rates (Przyborowski and
Wilenski, 1940): given k1 + k2 arrivals over exposures t1 and t2, equal rates make k1 binomial
with p = t1 / (t1 + t2), so `scipy.stats.binomtest` decides it. It is chosen because it needs no
large-count approximation (the first and last bins of a day hold a handful of arrivals), it is
exact whatever the common rate is (conditioning removes it), and it is cheap enough to rerun at
every merge (the E-test is more powerful but sums a grid that grows with the counts). A phase is
one rate on all channels, so a pair differs when any channel does. The p-values are
Bonferroni-adjusted for every channel at every boundary of the day (3 x 31 tests for 8 hours),
since the last boundary left in a steady stretch is the most extreme of all its bins' boundaries:
adjusted only for the channels, one steady afternoon in five split on noise in a trial.

Rates are arrivals per hour per branch: a phase's count divided by its hours, by the history's
distinct branches and by its distinct dates (several dates are taken as repeats of one day and
averaged), then multiplied by `scale`, the forecast surge. `branches` is only the profile's
branch count (what a replay multiplies the per-branch rates by): a history from six sample
branches can rehearse sixty.

Only the arrival curve and the business mix come from the history. The rest (seed, customers,
SLOs, staffing) is the default profile's, so the file validates and replays as written; its
faults are not taken (they are a drill's incidents, timed for another day), nor is its lobby
diversion (the history already records where customers went).
"""

from __future__ import annotations

import csv
import itertools
import math
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any, TextIO

import pandas as pd
import tomli_w
from scipy.stats import binomtest

from surge.day.profile import (
    CHANNELS,
    DEFAULT_PROFILE,
    MIX_JOURNEYS,
    Profile,
    format_duration,
    load_profile,
)
from surge.exits import BadInput

COLUMNS = ("timestamp", "branch", "channel", "operation")
BIN_SECONDS = 15 * 60
ALPHA = 0.01
"""The family-wise level at which neighbouring stretches count as different (`merge`)."""
WALL_CLOCK = timezone(timedelta(hours=8))
"""Profiles are Asia/Shanghai wall clock, which has kept UTC+08:00 without daylight saving since
1991: a timestamp with an offset is moved to it, one without is taken as that clock already."""
_RATE_DIGITS = 2
_SHARE_DIGITS = 4
_NAME_UNSAFE = re.compile(r"[^A-Za-z0-9_-]+")


@dataclass(frozen=True)
class History:
    """The checked records: one row per arrival, and where they came from."""

    source: str
    arrivals: pd.DataFrame
    """Columns `date`, `second` (of the wall-clock day), `branch`, `channel`, `operation`."""

    @property
    def branches(self) -> int:
        return int(self.arrivals["branch"].nunique())

    @property
    def days(self) -> int:
        return int(self.arrivals["date"].nunique())


@dataclass(frozen=True)
class Fitted:
    """A fitted profile: the file's tables as written, and the model they validate to."""

    data: dict[str, Any]
    profile: Profile
    history: History
    scale: float


def read_history(path: Path) -> History:
    """The arrivals of a history CSV, every row checked; bad input is one `BadInput` line."""
    source = str(path)
    try:
        with path.open(encoding="utf-8-sig", newline="") as file:
            rows = list(_checked_rows(file, source))
    except FileNotFoundError:
        raise BadInput(f"{source}: file not found") from None
    except IsADirectoryError:
        raise BadInput(f"{source}: is a folder, not a CSV file") from None
    except UnicodeDecodeError:
        raise BadInput(f"{source}: not UTF-8 text") from None
    if not rows:
        raise BadInput(f"{source}: no arrivals after the header")
    frame = pd.DataFrame(rows, columns=["date", "second", "branch", "channel", "operation"])
    return History(source, frame)


def _checked_rows(file: TextIO, source: str) -> Iterator[tuple[date, float, str, str, str]]:
    reader = csv.reader(file)
    try:
        header = next(reader, None)
        if header is None:
            raise BadInput(f"{source}: empty (the header {','.join(COLUMNS)} is expected)")
        names = [name.strip().lower() for name in header]
        for column in COLUMNS:
            if column not in names:
                raise BadInput(
                    f"{source}:1: column '{column}': missing from the header "
                    f"(it has: {', '.join(names)}; needed: {', '.join(COLUMNS)})"
                )
        where = [names.index(column) for column in COLUMNS]
        for fields in reader:
            if not any(field.strip() for field in fields):
                continue  # a blank line between records is not an arrival
            line = f"{source}:{reader.line_num}"
            values = {
                column: _present(fields[i] if i < len(fields) else None, line, column)
                for column, i in zip(COLUMNS, where, strict=True)
            }
            yield _checked_row(values, line)
    except csv.Error as exc:
        raise BadInput(f"{source}:{reader.line_num}: not CSV: {exc}") from None


def _present(field: str | None, line: str, column: str) -> str:
    if field is None:
        raise BadInput(f"{line}: column '{column}': missing (the row is shorter than the header)")
    if not field.strip():
        raise BadInput(f"{line}: column '{column}': empty")
    return field.strip()


def _checked_row(values: dict[str, str], line: str) -> tuple[date, float, str, str, str]:
    moment = _wall_clock(values["timestamp"], line)
    channel = values["channel"].lower()
    if channel not in CHANNELS:
        raise BadInput(
            f"{line}: column 'channel': {channel!r} is not a channel ({', '.join(CHANNELS)})"
        )
    operation = values["operation"].lower()
    if operation not in MIX_JOURNEYS[channel]:
        raise BadInput(
            f"{line}: column 'operation': {operation!r} is not a {channel} operation "
            f"({', '.join(MIX_JOURNEYS[channel])})"
        )
    second = moment.hour * 3600 + moment.minute * 60 + moment.second + moment.microsecond / 1e6
    return moment.date(), second, values["branch"], channel, operation


def _wall_clock(text: str, line: str) -> datetime:
    """The profile's wall-clock time of an ISO 8601 timestamp."""
    reason = f"{text!r} is not an ISO 8601 date and time (such as 2024-06-28 09:05:13)"
    # A bare date parses as midnight, which would put a whole day's arrivals in the first bin.
    if "T" not in text.upper() and " " not in text:
        raise BadInput(f"{line}: column 'timestamp': {reason}")
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise BadInput(f"{line}: column 'timestamp': {reason}") from None
    if moment.tzinfo is not None:
        moment = moment.astimezone(WALL_CLOCK).replace(tzinfo=None)
    return moment


def bin_counts(history: History) -> pd.DataFrame:
    """Arrivals per 15-minute bin (index: the bin's start, seconds of the day) and channel."""
    arrivals = history.arrivals
    bins = (arrivals["second"] // BIN_SECONDS).astype(int)
    counts = pd.crosstab(bins, arrivals["channel"])
    span = range(int(bins.min()), int(bins.max()) + 1)
    counts = counts.reindex(index=span, columns=list(CHANNELS), fill_value=0)
    counts.index = counts.index * BIN_SECONDS
    return counts


@dataclass(frozen=True)
class Stretch:
    """Neighbouring bins taken as one constant rate: their start, length and counts."""

    start_s: int
    length_s: int
    counts: tuple[int, ...]

    def __add__(self, later: Stretch) -> Stretch:
        counts = tuple(a + b for a, b in zip(self.counts, later.counts, strict=True))
        return Stretch(self.start_s, self.length_s + later.length_s, counts)


def differ(first: Stretch, second: Stretch, tests: int) -> float:
    """The p-value of "the two stretches have the same rate on every channel", Bonferroni-adjusted
    for `tests` tests in all."""
    share = first.length_s / (first.length_s + second.length_s)
    lowest = 1.0
    for k1, k2 in zip(first.counts, second.counts, strict=True):
        if k1 + k2:
            lowest = min(lowest, binomtest(k1, k1 + k2, share).pvalue)
    return min(1.0, lowest * tests)


def merge(counts: pd.DataFrame) -> list[Stretch]:
    """The bins merged bottom-up into stretches whose neighbours all differ at level `ALPHA`."""
    stretches = [
        Stretch(int(start), BIN_SECONDS, tuple(int(n) for n in row))
        for start, row in zip(counts.index, counts.to_numpy(), strict=True)
    ]
    tests = len(CHANNELS) * (len(stretches) - 1)
    # pvalues[i] compares stretches i and i + 1; a merge changes only its two neighbours' tests.
    pvalues = [differ(a, b, tests) for a, b in itertools.pairwise(stretches)]
    while pvalues:
        i = max(range(len(pvalues)), key=pvalues.__getitem__)
        if pvalues[i] < ALPHA:
            break
        stretches[i : i + 2] = [stretches[i] + stretches[i + 1]]
        del pvalues[i]
        if i > 0:
            pvalues[i - 1] = differ(stretches[i - 1], stretches[i], tests)
        if i < len(pvalues):
            pvalues[i] = differ(stretches[i], stretches[i + 1], tests)
    return stretches


def fit(history: History, *, name: str, scale: float = 1.0, branches: int | None = None) -> Fitted:
    """The profile of `history`: phases, rates times `scale`, the mix, and the default's rest."""
    if not (math.isfinite(scale) and scale > 0):
        raise BadInput(f"--scale: must be a number above 0, not {scale:g}")
    if branches is not None and branches < 1:
        raise BadInput(f"--branches: must be 1 or more, not {branches}")
    default = load_profile(DEFAULT_PROFILE).to_dict()
    per_branch_day = history.branches * history.days
    phases = []
    for stretch in merge(bin_counts(history)):
        hours = stretch.length_s / 3600
        rates = {
            channel: round(count / hours / per_branch_day * scale, _RATE_DIGITS)
            for channel, count in zip(CHANNELS, stretch.counts, strict=True)
        }
        end = stretch.start_s + stretch.length_s
        phases.append(
            {
                "name": f"{_clock(stretch.start_s)}-{_clock(end)}",
                "start": _clock(stretch.start_s),
                "duration": format_duration(stretch.length_s),
                "arrivals_per_hour": rates,
            }
        )
    described = (
        f"Fitted from {Path(history.source).name}: {len(history.arrivals):,} arrivals at "
        f"{history.branches} branches over {history.days} day(s), rates times {scale:g}"
    )
    data = {
        "name": _NAME_UNSAFE.sub("_", name).strip("_")[:64] or "fitted",
        "description": described[:300],
        "seed": default["seed"],
        "branches": branches or history.branches,
        "day_start": phases[0]["start"],
        "phases": phases,
        "mix": _mix(history, default["mix"]),
        "customers": {**default["customers"], "diversion": 0.0},
        "slo": _without_none(default["slo"]),
        "staffing": default["staffing"],
    }
    profile = Profile.from_dict(data, source=f"{history.source} (fitted)")
    return Fitted(data, profile, history, scale)


def _clock(second: int) -> str:
    hours, minutes = divmod(second // 60, 60)
    return f"{hours:02d}:{minutes:02d}"


def _mix(history: History, default: dict[str, dict[str, float]]) -> dict[str, dict[str, float]]:
    """Each channel's shares of business; a channel the history never saw keeps the default's
    (its rates are 0, but a mix must still sum to 1)."""
    counts = history.arrivals.groupby(["channel", "operation"]).size()
    mix: dict[str, dict[str, float]] = {}
    for channel in CHANNELS:
        seen = counts.get(channel)
        if seen is None:
            mix[channel] = default[channel]
            continue
        total = seen.sum()
        # Every operation is written, 0 for one never seen: the file says what the history lacks.
        shares = {op: round(seen.get(op, 0) / total, _SHARE_DIGITS) for op in MIX_JOURNEYS[channel]}
        # Rounding leaves the sum a few ten-thousandths off 1; the largest share absorbs it.
        largest = max(shares, key=shares.__getitem__)
        shares[largest] = round(shares[largest] + 1 - sum(shares.values()), _SHARE_DIGITS)
        mix[channel] = shares
    return mix


def _without_none(value: Any) -> Any:
    """TOML has no null: a field the model leaves unset is left out of the file."""
    if isinstance(value, dict):
        return {k: _without_none(v) for k, v in value.items() if v is not None}
    return value


def check_output(output: Path) -> None:
    """Refuse an output path before a long history is read for nothing."""
    if output.suffix != ".toml":
        # `--profile` takes a name without .toml for a shipped profile, so the file could not
        # be replayed by its name.
        raise BadInput(f"-o: {output}: a profile file's name ends in .toml")
    if not output.parent.is_dir():
        raise BadInput(f"-o: {output.parent}: no such folder")


def write(fitted: Fitted, output: Path) -> None:
    """The fitted profile as TOML, headed by where, when and at what scale it was fitted."""
    check_output(output)
    when = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    header = (
        f"# Fitted by `surge profiles fit` from {fitted.history.source} on {when}, "
        f"scale {fitted.scale:g}.\n"
        "# Phases, rates (per branch per hour) and the mix are the history's; seed, customers,\n"
        f"# SLOs and staffing are the {DEFAULT_PROFILE} profile's: set them for your branches.\n"
    )
    try:
        output.write_text(header + tomli_w.dumps(fitted.data), encoding="utf-8")
    except OSError as exc:
        raise BadInput(f"-o: {output}: {exc.strerror or exc}") from None
