"""The capacity search's next level (`surge.run.search`): the climb, the model-guided jump, closing
in with probes either side of the estimate and one confirmation, and the endings, on levels
decided by hand."""

from __future__ import annotations

import math

import pytest

from surge.run.search import Done, Level, Next, Range, answer_at, bracket, next_level

RANGE = Range(low=1, high=1024, precision=0.05)


def light(multiple: float, in_flight: float = 0.1) -> Level:
    return Level(multiple, "pass", light=True, in_flight=in_flight)


def sure(multiple: float, status: str = "pass", **more: object) -> Level:
    return Level(multiple, status, sure=True, **more)  # type: ignore[arg-type]


def test_the_climb_starts_at_from_and_grows_four_times_while_the_levels_are_light() -> None:
    assert next_level([], RANGE) == Next(1)
    assert next_level([light(1)], RANGE) == Next(4)
    assert next_level([light(1), light(4)], RANGE) == Next(16)


def test_the_climb_slows_to_1_6_times_once_requests_crowd_in_or_queueing_shows() -> None:
    assert next_level([light(16), light(64, in_flight=2.5)], RANGE) == Next(pytest.approx(102.4))
    unsure_pass = Level(64, "pass", in_flight=0.5)
    assert next_level([light(16), unsure_pass], RANGE) == Next(pytest.approx(102.4))


def test_the_climb_jumps_just_past_the_guides_prediction_within_bounds() -> None:
    """The M/M/c guide sees queueing: the next level goes to 10% past where it predicts the
    objectives break, but never less than 25% up nor more than four times."""
    levels = [light(16), light(64, in_flight=2.5)]
    assert next_level(levels, RANGE, guide=90.0) == Next(pytest.approx(99.0))
    assert next_level(levels, RANGE, guide=60.0) == Next(80.0)
    assert next_level(levels, RANGE, guide=1000.0) == Next(256.0)


def test_every_level_passing_up_to_to_ends_above_the_range() -> None:
    steps = [light(256), light(1024)]
    assert next_level(steps, RANGE) == Done("above_range")
    assert next_level([light(512)], RANGE) == Next(1024)


def test_a_first_level_that_fails_ends_below_the_range() -> None:
    assert next_level([sure(1, "fail")], RANGE) == Done("below_range")
    noisy = [Level(4, "pass", realized=4.4), sure(4.2, "fail")]  # a pass offered above it
    assert next_level(noisy, Range(4, 64, 0.05)) == Next(4)


def test_a_wide_bracket_is_halved_then_probed_either_side_of_the_estimate_then_confirmed() -> None:
    climbed = [light(1), light(4), light(16), light(64, in_flight=2.5), sure(128, "fail")]
    assert next_level(climbed, RANGE) == Next(pytest.approx(90.51, rel=1e-3))
    halved = [*climbed, Level(90.5, "pass")]
    assert next_level(halved, RANGE, estimate=95.0) == Next(pytest.approx(114.0))
    probed = [*halved, sure(114.0, "fail")]
    assert next_level(probed, RANGE, estimate=95.0) == Next(pytest.approx(66.5))
    both = [*probed, sure(66.5)]
    assert next_level(both, RANGE, estimate=95.0) == Next(95.0)
    assert next_level([*both, Level(95.0, "pass")], RANGE, estimate=96.0) == Done("bracketed")


def test_a_level_already_near_the_estimate_confirms_it() -> None:
    levels = [light(64, in_flight=2.5), Level(90.5, "pass"), sure(110, "fail"), sure(64.0)]
    assert next_level(levels, RANGE, estimate=92.0) == Done("bracketed")


def test_a_probe_already_run_or_a_closer_decision_is_not_run_again() -> None:
    levels = [light(64, in_flight=2.5), sure(128, "fail"), Level(90.5, "fail")]
    # The bracket is now the light 64 and the leaning 90.5: the estimate lies in it.
    decided = [*levels, sure(100, "fail"), Level(60, "pass", realized=63.0)]
    assert next_level(decided, RANGE, estimate=85.0) == Next(85.0)


def test_a_light_level_near_the_pass_probe_does_not_stand_for_it() -> None:
    """It was not decided, and not for want of time: the probe is run."""
    levels = [light(64, in_flight=2.5), sure(128, "fail"), Level(90.5, "pass")]
    levels += [sure(108, "fail")]
    assert next_level(levels, RANGE, estimate=95.0) == Next(pytest.approx(66.5))


def test_levels_surely_passed_and_failed_within_the_precision_end_the_search() -> None:
    levels = [sure(100), sure(104, "fail")]
    assert next_level(levels, RANGE, estimate=102.0) == Done("bracketed")


def test_the_generator_falling_behind_ends_the_search_without_a_limit() -> None:
    assert next_level([light(10), Level(20, "behind")], RANGE) == Done("generator_limit")


def test_a_level_that_failed_while_the_generator_was_saturated_is_searched_below_not_over() -> None:
    """Its slow responses may be the generator's own: never the answer's upper bound, and never
    climbed over (x262 leaned to failing while saturated, and the climb went on to x419, far
    past the lane's capacity). One stall of 100 ms may be all it saw, so the search goes on
    between the highest level that passed and it, sure or leaning alike."""
    for failed in (sure(20, "fail", saturated=True), Level(20, "fail", saturated=True)):
        once = [light(10), failed]
        assert next_level(once, RANGE) == Next(pytest.approx(math.sqrt(200)))
        assert bracket(once) == (once[0], None)
    again = [light(10), sure(20, "fail", saturated=True), sure(20, "fail")]
    assert bracket(again) == (again[0], again[-1])  # failed with the generator keeping up


def test_a_multiple_that_failed_twice_while_the_generator_was_saturated_ends_the_search() -> None:
    """With no room below (the first level, say) it is run again; twice is the generator's
    limit, never the target's."""
    first = [sure(20, "fail", saturated=True)]
    assert next_level(first, Range(20, 1024, 0.05)) == Next(20)
    twice = [*first, Level(20, "fail", saturated=True)]
    assert next_level(twice, Range(20, 1024, 0.05)) == Done("generator_limit")
    assert bracket(twice) == (None, None)


def test_a_level_that_passed_while_the_generator_was_saturated_still_passed() -> None:
    assert next_level([Level(10, "pass", saturated=True)], RANGE) == Next(pytest.approx(16))


def test_a_level_whose_run_is_not_evidence_ends_the_search_as_not_valid() -> None:
    assert next_level([light(10), Level(20, "invalid")], RANGE) == Done("not_valid")


def test_a_level_not_decided_must_be_decided_first() -> None:
    with pytest.raises(ValueError, match="x20 is not decided"):
        next_level([light(10), Level(20, "unclear")], RANGE)


def test_the_bracket_stands_on_the_rates_offered_and_leaves_a_pass_above_a_failure_out() -> None:
    """Noise can pass a level above one that failed: the answer stays below the failure."""
    passed, failed, above = Level(80, "pass", realized=84.0), Level(90, "fail"), Level(95, "pass")
    assert bracket([passed, failed, above]) == (passed, failed)
    assert passed.rate == 84.0
    assert bracket([passed, failed, above], sure=True) == (None, None)


def test_the_answer_is_the_estimate_only_between_the_levels_either_side_as_they_leaned() -> None:
    """A level at 101.9 leaned to failing (not decided), one at 127.5 surely failed: an estimate
    of 101.5 stands below the first, one of 105 would contradict it (it once was the answer),
    and then the highest level that passed is."""
    levels = [
        sure(60.0, realized=60.0),
        Level(78.1, "pass", realized=78.1),
        Level(101.9, "fail", realized=101.9),
        sure(127.5, "fail", realized=127.5),
    ]
    assert answer_at(levels, 95.0) == (95.0, "crossing")
    assert answer_at(levels, 105.0) == (78.1, "highest_pass")
    assert answer_at(levels, None) == (78.1, "highest_pass")
