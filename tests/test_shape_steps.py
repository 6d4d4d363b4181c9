"""The pool changes in steps (`surge.harness.dispatch.next_pool`): every change of the user
count is a spawn message that holds each Locust worker's event loop for half a CPU-second, so a
need that wanders by a user or two must not change the count each tick."""

from __future__ import annotations

from itertools import pairwise

from surge.harness.dispatch import next_pool

MOST = 500


def test_a_pool_is_never_smaller_than_its_need_nor_a_quarter_larger_under_the_cap() -> None:
    for need in range(1, 2 * MOST):
        pool = next_pool(need, None, MOST)
        assert need <= pool <= max(need, min(MOST, need * 5 // 4)), need


def test_the_steps_are_four_a_doubling() -> None:
    steps = sorted({next_pool(need, None, MOST) for need in range(16, 64)})
    assert steps == [16, 20, 24, 28, 32, 40, 48, 56, 64]


def test_small_pools_follow_their_need_exactly() -> None:
    assert [next_pool(need, None, MOST) for need in range(1, 9)] == list(range(1, 9))


def test_a_need_wandering_by_two_users_changes_the_pool_at_most_once() -> None:
    needs = [27, 25, 29, 26, 28, 25, 27, 29, 26, 25, 28]
    pools: list[int] = []
    for need in needs:
        pools.append(next_pool(need, pools[-1] if pools else None, MOST))
    assert sum(a != b for a, b in pairwise(pools)) <= 1, pools
    assert all(pool >= need for pool, need in zip(pools, needs, strict=True))


def test_a_pool_sheds_a_quarter_or_more_or_nothing() -> None:
    assert next_pool(21, 28, MOST) == 28  # the step of 24 would shed a seventh
    assert next_pool(17, 28, MOST) == 20  # a step of 20 sheds more than a quarter
    assert next_pool(30, 28, MOST) == 32  # growth is given at once


def test_the_cap_holds_a_pool_below_its_step() -> None:
    assert next_pool(27, None, 25) == 27  # more than the cap only when the need is (the floor)
    assert next_pool(22, None, 23) == 23


def test_a_held_pool_is_not_past_the_cap_either() -> None:
    """A generator past its CPU caps the pool at the users running (`surge.harness.shape.tick`):
    holding the last, larger answer would grow the pool it means to hold."""
    assert next_pool(22, 28, 25) == 25  # not 28
