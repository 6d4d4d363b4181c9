"""The collector's settings once the load starts: what the generator's start lag asks of it."""

from __future__ import annotations

import gc

YOUNG_COLLECTION_EVERY = 10_000
"""Allocations between the collector's youngest-generation runs once the load starts."""


def settle() -> None:
    """Freeze what preparing the run built (Locust, the profile, the customers) out of the
    collector's sight before the load starts: full collections that scanned it mid-run paused
    every greenlet for 60-175 ms, the whole p99 of start lag. Young collections then run every
    `YOUNG_COLLECTION_EVERY` allocations rather than 700: a request allocates dozens of objects
    that reference counting frees, so most collections found nothing to do."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(YOUNG_COLLECTION_EVERY, *gc.get_threshold()[1:])
