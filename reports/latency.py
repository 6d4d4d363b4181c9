"""Per channel, per operation and per route: what was sent, how it ended, how long it took.

Two times per request, both exact percentiles of the raw records (`reports.frames`): the
response time (send to answer, what Locust reports) and the customer's wait (the visit's
scheduled start to the answer: what a customer feels, and what a response time hides when the
system or the generator falls behind). Visit times are first send to last answer of a visit.
"""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd

from reports.frames import ERROR_KINDS, PERCENTILES, Frames, label, percentiles
from surge.day.profile import CHANNELS
from surge.visit.wire import ERRORS

OUTCOMES = ("ok", "refused", "retried", "failed")


def table(frames: Frames, keys: Sequence[str]) -> pd.DataFrame:
    """One row per group of `keys` (none: the whole run): counts by outcome and error kind,
    requests per second, the error rate, and percentiles of `response_ms` and `wait_s`."""
    requests = frames.requests
    if requests.empty:  # a run that could not start: the columns, no rows
        return pd.DataFrame(columns=[*keys, *columns()])
    groups = [requests[k] for k in keys]
    if keys:
        counted = requests.groupby(list(keys), observed=True)
        outcomes = counted["outcome"].value_counts().unstack(fill_value=0)
        kinds = counted["kind"].value_counts().unstack(fill_value=0)
    else:
        outcomes = requests["outcome"].value_counts().to_frame().T.reset_index(drop=True)
        kinds = requests["kind"].value_counts().to_frame().T.reset_index(drop=True)
    # Aligned on the groups once, then made into one frame: assigned column by column, each of
    # the thirty columns had pandas compare the groups' index again.
    index = outcomes.index
    counts = pd.DataFrame(
        {
            **{name: _aligned(outcomes.get(name), index) for name in OUTCOMES},
            **{name: _aligned(kinds.get(name), index) for name in ERROR_KINDS},
        },
        index=index,
    )
    total = counts[list(OUTCOMES)].sum(axis=1)
    rates = pd.DataFrame(
        {
            "requests": total,
            "per_s": total / frames.duration_s if frames.duration_s else 0.0,
            "error_rate": counts[list(ERRORS)].sum(axis=1) / total.where(total > 0),
        },
        index=index,
    )
    spreads = []
    for column, prefix in (("response_ms", "response"), ("wait_s", "wait")):
        spread = percentiles(requests[column], groups)[list(_NAMES)]
        spread = spread.set_axis(index) if not keys else spread.reindex(index)
        spreads.append(spread.add_prefix(f"{prefix}_"))
    out = pd.concat([counts, rates, *spreads], axis=1)
    if not keys:
        return out
    out = out.reset_index()
    if "channel" in keys:  # channels in their own order, not by how busy they were
        order = {channel: n for n, channel in enumerate(CHANNELS)}
        out = out.sort_values([*keys], key=lambda c: c.map(order) if c.name == "channel" else c)
    return out.reset_index(drop=True)


def _aligned(counted: pd.Series | None, index: pd.Index) -> pd.Series | int:
    """A count by group on `index`, or 0 when nothing was counted."""
    if counted is None:
        return 0
    return counted if counted.index is index else counted.reindex(index)


def columns() -> list[str]:
    """The columns of a `table`, after its keys."""
    spread = [f"{what}_{name}" for what in ("response", "wait") for name in _NAMES]
    return [*OUTCOMES, *ERROR_KINDS, "requests", "per_s", "error_rate", *spread]


_NAMES = (*(label(p) for p in PERCENTILES), "max")


def visit_times(frames: Frames) -> pd.DataFrame:
    """Per channel and journey: visits, those that failed, and percentiles of their length."""
    visits = frames.visits
    spread = percentiles(visits["duration_s"], [visits["channel"], visits["journey"]])
    failed = visits.groupby(["channel", "journey"], observed=True)["failed"].sum()
    spread["failed"] = failed.reindex(spread.index, fill_value=0)
    return spread.rename(columns={"count": "visits"}).reset_index()
