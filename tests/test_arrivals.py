"""The open arrival schedule and the late/dropped accounting (pure: no Locust, no clock).

The statistical checks use fixed seeds, so they never flake; their tolerances are still chosen
several standard deviations wide, so a correct generator passes for any seed and the seeds are not
tuned to luck. A Poisson count with mean m has standard deviation √m, so a 2 % tolerance is more
than 4 standard deviations once m >= (4 / 0.02)² = 40,000.
"""

import itertools
import json
import math
import random

import pytest

from surge.day.arrivals import Arrival, Counts, Lateness, Schedule, Timeliness, arrivals
from surge.day.profile import Segment

# Kolmogorov–Smirnov critical distance at α = 0.001 is 1.95 / √n for large n.
KS_CRITICAL = 1.95


def ks_distance_from_exponential(gaps: list[float], rate: float) -> float:
    """Largest distance between the gaps' empirical distribution and Exp(rate)."""
    ordered = sorted(gaps)
    n = len(ordered)
    distance = 0.0
    for i, gap in enumerate(ordered):
        cdf = 1 - math.exp(-rate * gap)
        distance = max(distance, (i + 1) / n - cdf, cdf - i / n)
    return distance


def gaps_of(times: list[float], start: float = 0.0) -> list[float]:
    return [b - a for a, b in itertools.pairwise([start, *times])]


def cumulative_rate(segments: list[Segment], t: float) -> float:
    """Expected arrivals from 0 to t (Λ(t)); time-rescaling by it turns the process into rate 1."""
    return sum(s.per_second * (min(t, s.end_s) - s.start_s) for s in segments if t > s.start_s)


DAY = [
    Segment(0, 10_000, 5.0),  # 50,000 expected
    Segment(10_000, 12_000, 30.0),  # 60,000: a rush
    Segment(12_000, 20_000, 0.0),  # closed
    # 20,000 to 25,000: no segment, so no arrivals
    Segment(25_000, 35_000, 6.0),  # 60,000
    Segment(35_000, 45_000, 5.0),  # 50,000, right after the previous one
]


def test_a_constant_rate_is_achieved_within_two_percent_over_a_long_span() -> None:
    # 10/s for 10,000 s: 100,000 expected, σ = 316, so 2 % (2,000) is 6.3 σ.
    times = list(arrivals([Segment(0, 10_000, 10.0)], random.Random(1)))
    assert abs(len(times) - 100_000) <= 0.02 * 100_000
    assert times[0] > 0
    assert times[-1] < 10_000


def test_every_segment_of_a_day_gets_its_own_rate_within_two_percent() -> None:
    # Every segment with arrivals expects >= 50,000 (σ <= 245), so 2 % is at least 4.1 σ.
    times = list(arrivals(DAY, random.Random(2)))
    for segment in DAY:
        expected = segment.per_second * (segment.end_s - segment.start_s)
        got = sum(segment.start_s <= t < segment.end_s for t in times)
        assert abs(got - expected) <= 0.02 * expected, segment
    assert not any(20_000 <= t < 25_000 for t in times)
    assert all(a < b for a, b in itertools.pairwise(times))
    assert times[-1] < DAY[-1].end_s


def test_gaps_at_a_constant_rate_are_exponential() -> None:
    # n = 100,000 gaps at rate 4: the mean's σ is 0.32 % of 1/rate, and the coefficient of
    # variation's about 0.5 %, so both tolerances are over 4 σ; the KS bound is α = 0.001.
    rate = 4.0
    gaps = gaps_of(list(arrivals([Segment(0, 25_000, rate)], random.Random(3))))
    n = len(gaps)
    mean = sum(gaps) / n
    sd = math.sqrt(sum((g - mean) ** 2 for g in gaps) / (n - 1))
    assert abs(mean * rate - 1) <= 0.015
    assert abs(sd / mean - 1) <= 0.025
    assert ks_distance_from_exponential(gaps, rate) < KS_CRITICAL / math.sqrt(n)


@pytest.mark.slow
def test_gaps_stay_exponential_across_segment_boundaries_in_rescaled_time() -> None:
    # Time-rescaling theorem: Λ(t_i) of a Poisson process of rate λ(t) is a rate-1 Poisson process,
    # so carrying a wrong draw across a boundary or a gap would show in the rescaled gaps.
    rescaled = [cumulative_rate(DAY, t) for t in arrivals(DAY, random.Random(4))]
    gaps = gaps_of(rescaled)
    assert ks_distance_from_exponential(gaps, 1.0) < KS_CRITICAL / math.sqrt(len(gaps))


def test_a_long_draw_in_a_slow_stretch_does_not_spill_into_the_busy_one_after_it() -> None:
    # 50 pairs of a 1 s stretch at 0.01/s and one at 1,000/s: 50,000 expected (σ = 224, 2 % is
    # 4.5 σ). Carrying a slow stretch's overshoot (mean 100 s) past its end would empty the rest.
    segments = []
    for i in range(50):
        segments += [Segment(2 * i, 2 * i + 1, 0.01), Segment(2 * i + 1, 2 * i + 2, 1_000.0)]
    times = list(arrivals(segments, random.Random(21)))
    assert abs(len(times) - 50_000) <= 0.02 * 50_000
    busy = [sum(2 * i + 1 <= t < 2 * i + 2 for t in times) for i in range(50)]
    assert min(busy) > 850  # each is Poisson(1,000): 850 is 4.7 σ below


def test_the_exponential_check_rejects_every_second_arrival() -> None:
    # Keeping every second visit (a round-robin split over two workers) gives Erlang-2 gaps:
    # the right rate, but not Poisson; the check above must be able to tell.
    times = list(arrivals([Segment(0, 25_000, 4.0)], random.Random(3)))[::2]
    gaps = gaps_of(times)
    assert ks_distance_from_exponential(gaps, 2.0) > 10 * KS_CRITICAL / math.sqrt(len(gaps))


def test_start_s_draws_only_the_rest_of_the_profile_at_its_rate() -> None:
    # 5/s over the 10,000 s left: 50,000 expected, σ = 224, 2 % = 4.5 σ.
    times = list(arrivals([Segment(0, 20_000, 5.0)], random.Random(5), start_s=10_000))
    assert times[0] > 10_000
    assert abs(len(times) - 50_000) <= 0.02 * 50_000


def test_arrivals_are_drawn_lazily_so_a_huge_day_costs_nothing_up_front() -> None:
    # A million a second for a day is 8.6e10 visits: materialising them would never finish.
    times = arrivals([Segment(0, 86_400, 1e6)], random.Random(6))
    first = list(itertools.islice(times, 1_000))
    assert all(0 < a < b < 1 for a, b in itertools.pairwise(first))


def test_the_same_rng_state_replays_the_same_arrivals() -> None:
    segments = [Segment(0, 100, 3.0), Segment(100, 200, 7.0)]
    assert list(arrivals(segments, random.Random(7))) == list(arrivals(segments, random.Random(7)))
    assert list(arrivals(segments, random.Random(7))) != list(arrivals(segments, random.Random(8)))


def test_a_zero_rate_or_empty_profile_has_no_arrivals() -> None:
    assert list(arrivals([], random.Random(9))) == []
    assert list(arrivals([Segment(0, 1_000, 0.0)], random.Random(9))) == []
    assert list(arrivals([Segment(5, 5, 9.0)], random.Random(9))) == []


@pytest.mark.parametrize(
    ("segments", "reason"),
    [
        ([Segment(0, 10, 1.0), Segment(5, 20, 1.0)], "segment 1: starts at 5.0 s, before"),
        ([Segment(0, 10, -1.0)], "segment 0: rate -1.0 per second is negative"),
        ([Segment(10, 0, 1.0)], "segment 0: ends at 0.0 s, before it starts at 10.0 s"),
        ([Segment(0, math.inf, 1.0)], "segment 0: start, end and rate must be finite"),
        ([Segment(0, 10, math.nan)], "segment 0: start, end and rate must be finite"),
    ],
)
def test_bad_segments_are_refused_before_the_first_arrival_is_asked_for(
    segments: list[Segment], reason: str
) -> None:
    with pytest.raises(ValueError, match=f"^{reason}"):
        arrivals(segments, random.Random(0))
    with pytest.raises(ValueError, match=f"^{reason}"):
        Schedule({"counter": segments}, seed=0)


CHANNELS = {
    "counter": [Segment(0, 300, 2.0), Segment(300, 600, 6.0)],
    "kiosk": [Segment(0, 600, 3.0)],
}


def test_a_schedule_is_in_time_order_and_numbers_each_channels_visits_from_zero() -> None:
    visits = list(Schedule(CHANNELS, seed=11))
    assert all(a.t < b.t for a, b in itertools.pairwise(visits))
    for channel in CHANNELS:
        numbers = [v.number for v in visits if v.channel == channel]
        assert numbers == list(range(len(numbers)))
        assert len(numbers) > 1_000
    assert isinstance(visits[0], Arrival)
    assert visits[0] == (visits[0].t, visits[0].channel, visits[0].number)


def test_a_channels_visits_are_its_own_seeded_poisson_arrivals() -> None:
    counter = [v.t for v in Schedule(CHANNELS, seed=12) if v.channel == "counter"]
    assert counter == list(arrivals(CHANNELS["counter"], random.Random("12:counter")))


def test_the_same_seed_replays_the_schedule_and_another_seed_changes_it() -> None:
    schedule = Schedule(CHANNELS, seed=13)
    assert list(schedule) == list(schedule)
    assert list(schedule) == list(Schedule(dict(reversed(CHANNELS.items())), seed=13))
    assert list(schedule) == list(Schedule(CHANNELS, seed="13"))
    assert list(Schedule(CHANNELS, seed=14)) != list(schedule)


def test_adding_a_channel_leaves_the_other_channels_visits_unchanged() -> None:
    alone = list(Schedule({"counter": CHANNELS["counter"]}, seed=15))
    with_others = Schedule({**CHANNELS, "online": [Segment(0, 600, 1.0)]}, seed=15)
    assert [v for v in with_others if v.channel == "counter"] == alone


@pytest.mark.slow
def test_worker_shares_partition_the_schedule_and_each_is_poisson_at_a_third_of_the_rate() -> None:
    # 10/s for 12,000 s: 120,000 visits. A share is Binomial(120,000, 1/3): σ = 163, so 2 % of
    # 40,000 (800) is 4.9 σ. Each share's gaps must be Exp(10/3), which every-third-visit is not.
    channels = {"counter": [Segment(0, 12_000, 10.0)]}
    whole = list(Schedule(channels, seed=16))
    shares = [list(Schedule(channels, seed=16, worker=i, workers=3)) for i in range(3)]
    assert sorted(itertools.chain(*shares)) == whole
    assert list(Schedule(channels, seed=16, worker=0, workers=1)) == whole
    for share in shares:
        assert abs(len(share) - len(whole) / 3) <= 0.02 * len(whole) / 3
        gaps = gaps_of([v.t for v in share])
        assert ks_distance_from_exponential(gaps, 10 / 3) < KS_CRITICAL / math.sqrt(len(gaps))


def test_a_worker_split_is_the_same_on_every_worker_and_for_every_run() -> None:
    first = list(Schedule(CHANNELS, seed=17, worker=1, workers=2))
    assert first == list(Schedule(CHANNELS, seed=17, worker=1, workers=2))
    assert first != list(Schedule(CHANNELS, seed=17, worker=0, workers=2))


@pytest.mark.parametrize(("worker", "workers"), [(0, 0), (2, 2), (-1, 2)])
def test_a_worker_outside_the_pool_is_refused(worker: int, workers: int) -> None:
    with pytest.raises(ValueError, match="need 0 <= worker < workers"):
        Schedule(CHANNELS, seed=0, worker=worker, workers=workers)


@pytest.mark.parametrize(
    ("lag", "outcome"),
    [
        (-0.01, Timeliness.ON_TIME),
        (0.0, Timeliness.ON_TIME),
        (0.5, Timeliness.ON_TIME),
        (0.5001, Timeliness.LATE),
        (10.0, Timeliness.LATE),
        (10.0001, Timeliness.DROPPED),
    ],
)
def test_a_visit_is_late_above_half_a_second_and_dropped_above_ten(
    lag: float, outcome: Timeliness
) -> None:
    assert Lateness().record("counter", 100.0, 100.0 + lag) is outcome


def test_thresholds_are_configurable_and_must_be_ordered() -> None:
    lateness = Lateness(late_after_s=0.1, drop_after_s=1.0)
    assert lateness.record("kiosk", 0.0, 0.2) is Timeliness.LATE
    assert lateness.record("kiosk", 0.0, 1.2) is Timeliness.DROPPED
    with pytest.raises(ValueError, match="late_after_s <= drop_after_s"):
        Lateness(late_after_s=2.0, drop_after_s=1.0)
    with pytest.raises(ValueError, match="bucket_s"):
        Lateness(bucket_s=0)


def test_counts_are_kept_per_channel_and_per_bucket_of_scheduled_time() -> None:
    lateness = Lateness(bucket_s=0.5)
    for channel, scheduled, started in [
        ("counter", 0.1, 0.1),
        ("counter", 0.4, 1.4),  # late, but counted where it was due
        ("kiosk", 0.6, 0.6),
        ("kiosk", 1.7, 30.0),
        ("counter", 1.9, 2.0),
    ]:
        lateness.record(channel, scheduled, started)
    assert lateness.counts("counter") == Counts(on_time=2, late=1, dropped=0)
    assert lateness.counts("kiosk") == Counts(on_time=1, late=0, dropped=1)
    assert lateness.counts("online") == Counts()
    assert lateness.counts() == Counts(3, 1, 1)
    assert lateness.counts().total == 5
    assert lateness.over_time() == [
        (0.0, Counts(1, 1, 0)),
        (0.5, Counts(1, 0, 0)),
        (1.5, Counts(1, 0, 1)),
    ]
    assert lateness.over_time("kiosk") == [(0.5, Counts(1, 0, 0)), (1.5, Counts(0, 0, 1))]


def test_lag_percentiles_are_exact_nearest_rank_on_known_lags() -> None:
    lateness = Lateness()
    lags_ms = list(range(1, 101))
    random.Random(18).shuffle(lags_ms)
    for ms in lags_ms:
        lateness.record("counter", 50.0, 50.0 + ms / 1000)
    assert lateness.lag_percentile(50) == 0.050
    assert lateness.lag_percentile(95) == 0.095
    assert lateness.lag_percentile(99) == 0.099
    assert lateness.lag_percentile(99.5) == 0.100  # rank 99.5 rounds up to the 100th
    assert lateness.lag_percentile(100) == 0.100
    assert lateness.lag_percentile(0.1) == 0.001


def test_lags_keep_the_microsecond_below_ten_ms_and_four_digits_above() -> None:
    for lag, kept in [(0.0056789, 0.005679), (1.234567, 1.234), (0.0200049, 0.02)]:
        lateness = Lateness()
        lateness.record("counter", 0.0, lag)
        assert lateness.lag_percentile(50) == kept


def test_dropped_visits_and_early_starts_do_not_add_lag() -> None:
    lateness = Lateness()
    assert lateness.lag_percentile(99) is None
    lateness.record("counter", 5.0, 4.9)
    lateness.record("counter", 5.0, 60.0)
    assert lateness.lag_percentile(100) == 0.0
    with pytest.raises(ValueError, match="outside"):
        lateness.lag_percentile(0)


def random_visits(seed: int, n: int) -> list[tuple[str, float, float]]:
    rng = random.Random(seed)
    visits = []
    for _ in range(n):
        scheduled = rng.uniform(0, 60)
        lag = rng.choice([rng.uniform(-0.01, 0.5), rng.uniform(0.5, 10), rng.uniform(10, 20)])
        visits.append((rng.choice(["counter", "kiosk", "online"]), scheduled, scheduled + lag))
    return visits


def test_merging_workers_parts_equals_recording_every_visit_in_one_place() -> None:
    visits = random_visits(19, 3_000)
    whole, first, second = Lateness(), Lateness(), Lateness()
    for i, visit in enumerate(visits):
        whole.record(*visit)
        (first if i % 3 else second).record(*visit)
    first.merge(second)
    assert first.to_dict() == whole.to_dict()
    assert first.counts() == whole.counts()
    assert [first.lag_percentile(p) for p in (50, 95, 99)] == [
        whole.lag_percentile(p) for p in (50, 95, 99)
    ]
    assert all(n > 0 for n in whole.counts())


def test_lateness_kept_with_other_settings_is_not_merged() -> None:
    with pytest.raises(ValueError, match="cannot merge"):
        Lateness().merge(Lateness(bucket_s=5.0))


def plain(value: object) -> bool:
    if isinstance(value, dict):
        return all(isinstance(k, str) and plain(v) for k, v in value.items())
    if isinstance(value, list):
        return all(plain(v) for v in value)
    return type(value) in (str, int, float)


def test_the_plain_dict_form_round_trips_through_json() -> None:
    lateness = Lateness(late_after_s=0.25, bucket_s=2.0)
    for visit in random_visits(20, 500):
        lateness.record(*visit)
    data = lateness.to_dict()
    assert plain(data)
    again = Lateness.from_dict(json.loads(json.dumps(data)))
    assert again.to_dict() == data
    assert (again.late_after_s, again.bucket_s) == (0.25, 2.0)
    assert again.over_time("kiosk") == lateness.over_time("kiosk")
    assert again.lag_percentile(99) == lateness.lag_percentile(99)
