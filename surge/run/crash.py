"""The crash drill of `surge rehearse`: the profile's `crash` faults, done to its embedded core.

At a crash fault's `at` (in the day `run.json` says has started) the core is killed with SIGKILL
in the middle of the surge; `duration` later it is started again on the same ledger, port and
admin token (`surge.run.embedded.restart`). The port stays this process's all along (it holds the
listening socket, `surge.run.embedded`): no other process can take it and receive the journeys'
requests, with their PINs, passwords and tokens, while the core is down. Meanwhile the requests
in flight at the kill are reset and retried with the same idempotency keys (`surge.visit.wire`), and
new connections wait in the socket's queue, so the journeys carry on once the core answers, and
the books are proven at the end (`surge.judge.durability`). A core that does not come back has its
port held still, every connection reset at once. Each crash is recorded in incidents.json
(`runfolder.add_crash`: when the core was killed, started again, answered); a core that did not
come back is also a reason the run is not evidence. Against any other target (`--host`) the
harness skips crash faults, one line each.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

from surge import runfolder
from surge.day.profile import CRASH, Fault, Profile
from surge.run import embedded
from surge.runfolder import Crash


@dataclass
class CrashDrill:
    """`poll` it while the run goes (it acts when a crash fault is due), `close` it after."""

    core: embedded.Core
    profile: Profile
    folder: Path
    command: str = "rehearse"
    """The `surge` command running it, which its lines name."""
    _pending: list[tuple[int, Fault]] = field(default_factory=list)
    _down: tuple[int, Fault, float] | None = None
    """The crash under way: its fault's index, the fault, when the core was killed."""

    def __post_init__(self) -> None:
        crashes = [(n, f) for n, f in enumerate(self.profile.faults) if f.kind == CRASH]
        self._pending = sorted(crashes, key=lambda pair: pair[1].at)

    def poll(self, incidents: list[str]) -> None:
        """Kill the core when a crash is due, start it again when its downtime is over; why it
        did not come back, in `incidents`."""
        if not self._pending and self._down is None:
            return
        day_start = runfolder.day_start(self.folder)
        if day_start is None:
            return  # the day has not started
        if self._down is None and time.time() >= day_start + self._pending[0][1].at:
            n, fault = self._pending.pop(0)
            embedded.kill(self.core)
            self._down = (n, fault, time.time())
            self._say(f"killed the embedded mock core (SIGKILL) at {self._clock(day_start)}")
        if self._down is not None and time.time() >= self._down[2] + self._down[1].duration:
            self._restart(day_start, incidents)

    def _restart(self, day_start: float, incidents: list[str]) -> None:
        assert self._down is not None
        n, _, killed_at = self._down
        self._down = None
        restarted_at = time.time()
        try:
            embedded.restart(self.core)
        except embedded.CoreError as error:
            embedded.refuse(self.core)  # the port stays held, and requests fail at once
            runfolder.add_crash(
                self.folder, Crash(fault=n, killed_at=killed_at, restarted_at=restarted_at)
            )
            incidents.append(f"the crash drill's mock core did not come back: {error}")
            self._say(incidents[-1])
            return
        back_at = time.time()
        runfolder.add_crash(
            self.folder,
            Crash(fault=n, killed_at=killed_at, restarted_at=restarted_at, back_at=back_at),
        )
        self._say(
            f"started it again on the same ledger and port: answering at "
            f"{self._clock(day_start)}, {back_at - restarted_at:.2f} s after its start, "
            f"{back_at - killed_at:.2f} s after the kill"
        )

    def close(self) -> None:
        """The run ended: a crash still down is recorded so (the core's ending is a reason the
        run is not evidence, `surge.run.rehearse.run`)."""
        if self._down is None:
            return
        n, _, killed_at = self._down
        self._down = None
        runfolder.add_crash(self.folder, Crash(fault=n, killed_at=killed_at))

    def _clock(self, day_start: float) -> str:
        return self.profile.wall_clock(max(0.0, time.time() - day_start))

    def _say(self, line: str) -> None:
        print(f"surge {self.command}: crash drill: {line}", flush=True)
