"""The suite tries a real run once more only when the run itself said a starved generator made it
not valid evidence (`tests.load.unstarved`): any other failure, the machinery's, stands."""

from __future__ import annotations

from contextlib import nullcontext

import pytest

from surge.exits import BAD_INPUT, NOT_VALID, OK
from tests.load import unstarved

SATURATED = (
    "The run is not valid evidence: 2 of 2 workers went missing\nThe generator was saturated"
)


def tries(outcomes: list[tuple[int, str]]) -> list[int]:
    made: list[int] = []

    def attempt(n: int) -> tuple[int, str]:
        made.append(n)
        return outcomes[n - 1]

    said = pytest.warns(UserWarning, match="starved") if len(outcomes) > 1 else nullcontext()
    with said:
        unstarved(attempt, lambda outcome: outcome)
    return made


@pytest.mark.parametrize(
    "said",
    [SATURATED, "not valid evidence\n  generator saturated for 5.6 s of the run (the master)"],
)
def test_a_run_that_says_its_generator_was_saturated_is_tried_once_more(said: str) -> None:
    assert tries([(NOT_VALID, said), (NOT_VALID, said)]) == [1, 2]


@pytest.mark.parametrize(
    ("returncode", "said"),
    [
        (NOT_VALID, "The run is not valid evidence: 3 of 95 planned visits were lost"),
        (BAD_INPUT, "error: --profile: no such file; the generator was saturated"),
        (OK, SATURATED),
    ],
)
def test_any_other_failure_or_a_pass_is_its_first_try(returncode: int, said: str) -> None:
    assert tries([(returncode, said)]) == [1]
