"""The exit codes of every command of the harness, and the error that means bad input.

`surge …` and `locust -f loadtests` end with one of these (docs/architecture.md):

- `OK` (0): the run is valid evidence and, where a gate judged it, passed;
- `GATE_FAILED` (1): an SLO, a correctness check or a regression gate failed;
- `BAD_INPUT` (2): a profile, flag, host or folder is wrong, said in one line, nothing started;
- `NOT_VALID` (3): the run is not valid evidence (the generator fell behind its schedule, the
  target was unreachable, workers went missing, the run was cut short), or it read slower
  than its baseline only on a busier host (the embedded core shares the host's CPU).

`mock-core` is not the harness's (it stands for the bank's systems and imports nothing of it), so
it keeps its own copy of `BAD_INPUT`; a test holds the two equal.
"""

from __future__ import annotations

from typing import Final

OK: Final = 0
GATE_FAILED: Final = 1
BAD_INPUT: Final = 2
NOT_VALID: Final = 3


class BadInput(Exception):
    """Bad input, worded as one line naming what is wrong: `file: field: reason` or
    `--flag: reason`. Whoever catches it prints the line and exits `BAD_INPUT`."""
