"""The shape's side of a capacity search: the run's arrival rate moved to the levels it asks for.

`surge capacity` rewrites its plan (`surge.day.levels.Plan`) in the file it gave the harness
(`--levels`); at each tick the shape calls `follow`, which starts the next level asked for, or
ends the day, `surge.day.levels.LEAD_S` ahead on a whole second: this process's dispatcher (a local
run) or every worker (a master's, through `messages.send_level`) follows the new day from then,
and the caller writes run.json again with it, which is how the search learns when the level
started (docs/capacity.md, "One run"). A level below the one before starts without the visits
still waiting for a user: under a level that overloaded the target they are its backlog, which
would hold the next level's queue up for as long again.
"""

from __future__ import annotations

import math
from dataclasses import replace

from locust.runners import MasterRunner, Runner

from surge.day import levels
from surge.harness import messages
from surge.harness.state import RunState, warn


def follow(run: RunState, runner: Runner | None) -> bool:
    """Move the run to what its plan asks, if anything new; True when its day changed."""
    follower = run.levels
    day = run.fleet or run.dispatcher
    if follower is None or follower.ended or day is None:
        return False
    plan = levels.Plan.read(follower.plan)
    if plan is None:
        return False
    at = float(math.ceil(day.elapsed() + levels.LEAD_S))
    bound = follower.phase.duration_s
    drop = False
    if len(plan.multiples) > len(follower.started):
        if at >= bound:
            return False  # the day ends at its bound first
        multiple = plan.multiples[len(follower.started)]
        drop = multiple < follower.started[-1][0]
        follower.started.append((multiple, at))
        end = bound
    elif plan.end:
        follower.ended = True
        end = min(at, bound)
    else:
        return False
    profile = levels.day(follower.phase, follower.started, end)
    run.settings = replace(run.settings, profile=profile)
    if run.fleet is not None and isinstance(runner, MasterRunner):
        run.fleet.profile = profile
        messages.send_level(runner, profile, at, drop)
    elif run.dispatcher is not None:
        try:
            run.dispatcher.retarget(profile, at, drop)
        except ValueError as error:  # the event loop held up past the level's start
            warn(f"the capacity search's level at {at:g} s could not start on time: {error}")
    return True
