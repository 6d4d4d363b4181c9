"""The capacity search's next step (`surge.search`): the staircase, the bisection, repeats of an
unclear step, and the endings, on verdicts given by hand."""

from __future__ import annotations

import pytest

from surge.search import Done, Next, Range, Step, next_step

RANGE = Range(low=10, high=100, precision=0.05)


def test_the_staircase_starts_at_from_and_doubles_up_to_to() -> None:
    assert next_step([], RANGE) == Next(10)
    assert next_step([Step(10, "pass")], RANGE) == Next(20)
    steps = [Step(10, "pass"), Step(20, "pass"), Step(40, "pass"), Step(80, "pass")]
    assert next_step(steps, RANGE) == Next(100)
    assert next_step([*steps, Step(100, "pass")], RANGE) == Done("above_range", 100, None)


def test_a_failure_is_bisected_until_the_bracket_is_within_the_precision() -> None:
    steps = [Step(10, "pass"), Step(20, "pass"), Step(40, "fail")]
    assert next_step(steps, RANGE) == Next(30)
    steps += [Step(30, "pass")]
    assert next_step(steps, RANGE) == Next(35)
    steps += [Step(35, "fail"), Step(32.5, "pass"), Step(33.75, "fail")]
    assert next_step(steps, RANGE) == Done("bracketed", 32.5, 33.75)


def test_an_unclear_step_is_repeated_twice_then_must_be_decided() -> None:
    assert next_step([Step(10, "unclear")], RANGE) == Next(10, repeat=True)
    assert next_step([Step(10, "unclear", runs=2)], RANGE) == Next(10, repeat=True)
    with pytest.raises(ValueError, match="unclear after 3 runs"):
        next_step([Step(10, "unclear", runs=3)], RANGE)


def test_the_generator_falling_behind_ends_the_search_without_a_limit() -> None:
    steps = [Step(10, "pass"), Step(20, "behind")]
    assert next_step(steps, RANGE) == Done("generator_limit", 10, None)


def test_a_first_step_that_fails_ends_below_the_range() -> None:
    assert next_step([Step(10, "fail")], RANGE) == Done("below_range", None, 10)


def test_a_pass_above_a_failure_does_not_raise_the_answer() -> None:
    """Noise can pass a step above one that failed: the answer stays below the failure."""
    steps = [Step(10, "pass"), Step(20, "fail"), Step(15, "pass"), Step(17.5, "fail")]
    steps += [Step(16.25, "pass"), Step(25, "pass")]
    assert next_step(steps, RANGE) == Next((16.25 + 17.5) / 2)


def test_a_step_whose_run_is_not_evidence_ends_the_search_as_not_valid() -> None:
    steps = [Step(10, "pass"), Step(20, "invalid")]
    assert next_step(steps, RANGE) == Done("not_valid", 10, None)


def test_a_step_that_failed_while_the_generator_was_saturated_ends_the_search_at_its_limit() -> (
    None
):
    """Its slow responses may be the generator's own: never the answer's upper bound."""
    steps = [Step(10, "pass"), Step(20, "fail", saturated=True)]
    assert next_step(steps, RANGE) == Done("generator_limit", 10, None)
    bisecting = [Step(10, "pass"), Step(20, "fail"), Step(15, "fail", saturated=True)]
    assert next_step(bisecting, RANGE) == Done("generator_limit", 10, 20)
    assert next_step([Step(10, "fail", saturated=True)], RANGE) == Done(
        "generator_limit", None, None
    )


def test_a_step_that_passed_while_the_generator_was_saturated_still_passed() -> None:
    assert next_step([Step(10, "pass", saturated=True)], RANGE) == Next(20)
    steps = [Step(10, "pass"), Step(20, "fail"), Step(15, "pass", saturated=True)]
    assert next_step(steps, RANGE) == Next(17.5)
