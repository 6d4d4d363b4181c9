"""The profile model: shipped profiles, one-line validation errors, the scaling rules, rates."""

from __future__ import annotations

import itertools
import math
from pathlib import Path

import pytest

from mock_core.faults import FaultIn
from surge.day.profile import (
    CHANNELS,
    MAX_PER_HOUR,
    MIX_JOURNEYS,
    Profile,
    ProfileError,
    list_profiles,
    load_profile,
    profiles_dir,
    resolve,
)
from surge.exits import BadInput

SHIPPED = ["emergency_drill", "new_product_launch", "payday", "post_holiday", "weekday"]
WEEKDAY = (profiles_dir() / "weekday.toml").read_text(encoding="utf-8")
FAULT = '\n[[faults]]\nat = "{at}"\nduration = "{duration}"\nkind = "{kind}"\ntarget = "{target}"\n'


def test_the_five_shipped_profiles_are_listed() -> None:
    assert set(SHIPPED) <= set(list_profiles())


@pytest.mark.parametrize("name", SHIPPED)
def test_a_shipped_profile_loads_and_round_trips_through_json(name: str) -> None:
    profile = load_profile(name)
    assert profile.name == name
    assert Profile.from_dict(profile.to_dict()) == profile
    scaled = profile.scaled(60)
    assert Profile.from_dict(scaled.to_dict()) == scaled


@pytest.mark.parametrize("name", SHIPPED)
def test_a_shipped_profile_has_a_branch_day_with_plausible_rates(name: str) -> None:
    profile = load_profile(name)
    assert len(profile.phases) >= 4  # opening, late morning or lunch, afternoon, closing at least
    assert 6 * 3600 <= profile.duration_s <= 10 * 3600
    peak = max(sum(p.arrivals_per_hour.model_dump().values()) for p in profile.phases)
    assert 20 <= peak <= 400, "a branch serves tens to a few hundred customers an hour at peak"


def test_a_product_launch_is_mostly_wealth_orders_at_the_counter() -> None:
    mix = load_profile("new_product_launch").mix.counter.shares()
    assert max(mix, key=mix.__getitem__) == "wealth_order"


def test_the_emergency_drill_schedules_three_incidents_the_mock_core_accepts_and_a_crash() -> None:
    faults = load_profile("emergency_drill").faults
    assert {(f.kind, f.target) for f in faults} == {
        ("latency", "lane:teller-core"),
        ("lane_down", "lane:fx"),
        ("brownout", "lane:kiosk-gateway"),
        ("crash", "*"),
    }
    for fault in faults:
        if fault.kind != "crash":  # surge rehearse's to do, not the core's (surge.run.crash)
            FaultIn.model_validate(fault.admin_body())  # what POST /admin/faults takes


def test_a_crash_fault_takes_only_its_time_and_downtime(tmp_path: Path) -> None:
    path = tmp_path / "crash.toml"
    aimed = FAULT.format(at="10:00", duration="2m", kind="crash", target="lane:fx")
    path.write_text(WEEKDAY + aimed, encoding="utf-8")
    with pytest.raises(ProfileError, match=r"faults\[0\]\.target: a crash fault takes only at"):
        load_profile(str(path))


def test_the_recovery_bound_is_day_time_and_scales_with_the_day() -> None:
    drill = load_profile("emergency_drill")
    assert drill.slo.recovery_s == 3600
    assert drill.scaled(480).slo.recovery_s == 7.5


def test_a_path_loads_any_toml_file_and_a_clock_time_becomes_an_offset(tmp_path: Path) -> None:
    path = tmp_path / "mine.toml"
    at_ten = FAULT.format(at="10:00", duration="15m", kind="lane_down", target="lane:fx")
    path.write_text(WEEKDAY + at_ten, encoding="utf-8")
    profile = load_profile(str(path))
    assert profile.faults[0].at == 3600
    assert profile.faults[0].duration == 900
    assert profile.wall_clock(profile.faults[0].at) == "10:00"


def _fault(at: str, duration: str, kind: str = "lane_down", target: str = "lane:fx") -> str:
    return WEEKDAY + FAULT.format(at=at, duration=duration, kind=kind, target=target)


BROKEN = [
    pytest.param(
        WEEKDAY.replace("cash_deposit = 0.22", "cash_deposit = 0.17"),
        "mix.counter",
        "shares sum to 0.95, not 1",
        id="shares-do-not-sum-to-1",
    ),
    pytest.param(
        WEEKDAY.replace("complaint = 0.07", "complaint = 0.07\nmortgage = 0"),
        "mix.counter.mortgage",
        "unknown field",
        id="unknown-operation",
    ),
    pytest.param(
        WEEKDAY.replace("seed = 101", "seed = 101\ncolour = 1"),
        "colour",
        "unknown field",
        id="unknown-key",
    ),
    pytest.param(
        WEEKDAY.replace("online = 15 }", "online = 15, atm = 3 }"),
        "phases[0].arrivals_per_hour.atm",
        "expected one of: counter, kiosk, online",
        id="unknown-channel",
    ),
    pytest.param(
        WEEKDAY.replace("counter = 28,", "counter = -28,"),
        "phases[1].arrivals_per_hour.counter",
        "greater than or equal to 0",
        id="negative-rate",
    ),
    pytest.param(
        WEEKDAY.replace("branches = 4", 'branches = "four"'),
        "branches",
        "valid integer",
        id="wrong-type",
    ),
    pytest.param(
        WEEKDAY.replace('start = "09:30"', 'start = "9h30"'),
        "phases[1].start",
        "not a time of day",
        id="bad-time",
    ),
    pytest.param(
        WEEKDAY.replace('duration = "30m"', 'duration = "30 minutes"'),
        "phases[0].duration",
        "not a duration",
        id="bad-duration",
    ),
    pytest.param(
        WEEKDAY.replace('start = "11:30"', 'start = "11:45"'),
        "phases[2].start",
        "'lunch_peak' starts at 11:45 but 'morning' ends at 11:30 (a gap of 15m)",
        id="gap-between-phases",
    ),
    pytest.param(
        WEEKDAY.replace('duration = "2h30m"', 'duration = "3h"'),
        "phases[4].start",
        "'closing' starts at 16:00 but 'afternoon' ends at 16:30 (an overlap of 30m)",
        id="overlapping-phases",
    ),
    pytest.param(
        WEEKDAY.replace('day_start = "09:00"', 'day_start = "08:00"'),
        "phases[0].start",
        "but the day starts at 08:00",
        id="first-phase-not-at-day-start",
    ),
    pytest.param(
        WEEKDAY.replace("diversion = 0.15", "diversion = 1.5"),
        "customers.diversion",
        "less than or equal to 1",
        id="share-above-1",
    ),
    pytest.param(
        WEEKDAY.replace("[slo.operations.book]", "[slo.operations.mortgage]"),
        "slo.operations.mortgage",
        "unknown operation",
        id="slo-for-unknown-operation",
    ),
    pytest.param(
        WEEKDAY.replace("p99_ms = 5000", "p99_ms = 1000"),
        "slo.operations.loan_application",
        "p99_ms 1000 is below p95_ms 2500",
        id="p99-below-p95",
    ),
    pytest.param(
        WEEKDAY.replace("complaint = 12\n", ""),
        "staffing.handling_minutes",
        "no handling time for complaint",
        id="counter-operation-without-handling-time",
    ),
    pytest.param(WEEKDAY.replace("seed = 101\n", ""), "seed", "missing", id="missing-field"),
    pytest.param(
        _fault("16:50", "20m"),
        "faults[0]",
        "runs from 16:50 to 17:10, past the day's end at 17:00",
        id="fault-past-the-day",
    ),
    pytest.param(
        _fault("08:50", "20m"),
        "faults[0].at",
        "08:50 is before the day starts at 09:00",
        id="fault-before-the-day",
    ),
    pytest.param(
        _fault("25:00", "20m"), "faults[0].at", "'25:00' is not a time of day", id="bad-fault-time"
    ),
    pytest.param(
        _fault("1h", "20m", kind="meteor"), "faults[0].kind", "'latency'", id="unknown-fault-kind"
    ),
    pytest.param(
        _fault("1h", "20m", kind="brownout", target="*"),
        "faults[0].target",
        "target must be lane:NAME",
        id="lane-fault-without-a-lane",
    ),
    pytest.param(
        _fault("1h", "20m", kind="error", target="fx"),
        "faults[0].target",
        "'fx' is not *, lane:NAME or path:GLOB",
        id="malformed-fault-target",
    ),
    pytest.param(
        _fault("1h", "20m", kind="latency", target="*"),
        "faults[0].latency",
        "needs latency",
        id="latency-fault-without-a-distribution",
    ),
    pytest.param(WEEKDAY.replace("[staffing]", "[staffing"), None, "not valid TOML", id="not-toml"),
]


@pytest.mark.parametrize(("text", "field", "reason"), BROKEN)
def test_a_broken_profile_is_refused_with_file_field_and_reason_on_one_line(
    tmp_path: Path, text: str, field: str | None, reason: str
) -> None:
    path = tmp_path / "broken.toml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ProfileError) as caught:
        load_profile(str(path))
    message = str(caught.value)
    assert "\n" not in message
    expected_start = f"{path}: {field}: " if field else f"{path}: "
    assert message.startswith(expected_start), message
    assert reason in message


def test_an_unknown_name_lists_the_shipped_profiles() -> None:
    with pytest.raises(ProfileError, match=r"^nope: no such profile \(shipped: .*payday"):
        load_profile("nope")


def test_a_missing_path_is_file_not_found(tmp_path: Path) -> None:
    with pytest.raises(ProfileError, match=r"nothing\.toml: file not found$"):
        load_profile(str(tmp_path / "nothing.toml"))


def test_from_dict_names_its_source_and_the_field() -> None:
    data = load_profile("weekday").to_dict()
    data["branches"] = 0
    with pytest.raises(ProfileError, match=r"^run\.json: branches: "):
        Profile.from_dict(data, source="run.json")


@pytest.mark.parametrize("name", SHIPPED)
def test_time_scale_divides_durations_and_fault_times_and_keeps_rates(name: str) -> None:
    profile = load_profile(name)
    scaled = profile.scaled(60)
    assert scaled.duration_s == pytest.approx(profile.duration_s / 60)
    assert scaled.time_scale == 60
    for before, after in zip(profile.phases, scaled.phases, strict=True):
        assert after.duration == pytest.approx(before.duration / 60)
        assert after.arrivals_per_hour == before.arrivals_per_hour
        assert after.start == before.start  # the wall-clock label keeps its meaning
    for before, after in zip(profile.faults, scaled.faults, strict=True):
        assert after.at == pytest.approx(before.at / 60)
        assert after.duration == pytest.approx(before.duration / 60)
        assert after.latency == before.latency
    for channel in CHANNELS:
        rates = [s.per_second for s in profile.segments(channel)]
        assert [s.per_second for s in scaled.segments(channel)] == rates


def test_time_scale_1_is_the_identity_and_scales_compose() -> None:
    profile = load_profile("emergency_drill")
    assert profile.scaled(1) == profile
    twice, once = profile.scaled(4).scaled(15), profile.scaled(60)
    assert twice.time_scale == once.time_scale == 60
    assert [f.at for f in twice.faults] == pytest.approx([f.at for f in once.faults])
    assert [p.duration for p in twice.phases] == pytest.approx([p.duration for p in once.phases])


@pytest.mark.parametrize("scale", [0, -2, math.inf, math.nan])
def test_a_time_scale_that_is_not_above_0_is_refused(scale: float) -> None:
    with pytest.raises(ValueError, match="time scale"):
        load_profile("weekday").scaled(scale)


@pytest.mark.parametrize("name", SHIPPED)
def test_rate_scale_multiplies_every_channel_s_arrivals_and_keeps_every_time(name: str) -> None:
    profile = load_profile(name)
    raised = profile.scaled(rate_scale=1.5)
    assert raised.rate_scale == 1.5
    assert raised.time_scale == 1
    assert raised.duration_s == profile.duration_s
    for before, after in zip(profile.phases, raised.phases, strict=True):
        assert (after.start, after.duration) == (before.start, before.duration)
        for channel in CHANNELS:
            per_hour = getattr(before.arrivals_per_hour, channel)
            assert getattr(after.arrivals_per_hour, channel) == pytest.approx(per_hour * 1.5)
    assert raised.faults == profile.faults
    assert raised.staffing == profile.staffing  # more customers for the same branches
    for channel in CHANNELS:
        rates = [s.per_second * 1.5 for s in profile.segments(channel)]
        assert [s.per_second for s in raised.segments(channel)] == pytest.approx(rates)


def test_rate_and_time_scales_compose_in_either_order_and_record_both_factors() -> None:
    profile = load_profile("emergency_drill")
    both = profile.scaled(60, 2)
    assert (both.time_scale, both.rate_scale) == (60, 2)
    for other in (profile.scaled(60).scaled(rate_scale=2), profile.scaled(4, 0.5).scaled(15, 4)):
        assert (other.time_scale, other.rate_scale) == (60, 2)
        for a, b in zip(other.phases, both.phases, strict=True):
            assert a.duration == pytest.approx(b.duration)
            assert a.arrivals_per_hour.model_dump() == pytest.approx(
                b.arrivals_per_hour.model_dump()
            )
        assert [f.at for f in other.faults] == pytest.approx([f.at for f in both.faults])


def test_a_rate_scaled_profile_round_trips_through_json_with_its_rates_and_factor() -> None:
    raised = load_profile("payday").scaled(60, 1.5)
    data = raised.to_dict()
    assert data["rate_scale"] == 1.5
    assert data["phases"][2]["arrivals_per_hour"] == {"counter": 105, "kiosk": 210, "online": 60}
    assert Profile.from_dict(data) == raised


@pytest.mark.parametrize("scale", [0, -2, math.inf, math.nan])
def test_a_rate_scale_that_is_not_above_0_is_refused(scale: float) -> None:
    with pytest.raises(ValueError, match="rate scale must be a number above 0"):
        load_profile("weekday").scaled(rate_scale=scale)


def test_the_cap_on_arrivals_bounds_what_a_file_writes_not_how_far_a_rate_scale_raises_it() -> None:
    raised = load_profile("payday").scaled(960, 960)
    lunch = next(p for p in raised.phases if p.name == "lunch_peak")
    assert lunch.arrivals_per_hour.kiosk == 134_400  # above MAX_PER_HOUR, as written 140
    assert Profile.from_dict(raised.to_dict()) == raised  # a run folder's profile reads back
    one_branch = load_profile("payday").to_dict() | {"branches": 1}
    faster = Profile.from_dict(one_branch).scaled(rate_scale=1000)
    assert faster.rate("kiosk", lunch_start(faster)) > MAX_PER_HOUR / 3600  # 28 a second


def lunch_start(profile: Profile) -> float:
    start = 0.0
    for phase in profile.phases:
        if phase.name == "lunch_peak":
            return start
        start += phase.duration
    raise AssertionError("no lunch peak")


def test_a_profile_file_writing_more_arrivals_than_the_cap_names_the_field() -> None:
    data = load_profile("payday").to_dict()
    data["phases"][2]["arrivals_per_hour"]["kiosk"] = MAX_PER_HOUR + 1
    with pytest.raises(ProfileError, match=r"^x: phases\[2\]\.arrivals_per_hour\.kiosk: 100001 "):
        Profile.from_dict(data, source="x")


def test_a_day_scaled_past_the_visits_one_run_may_schedule_is_bad_input() -> None:
    with pytest.raises(BadInput, match=r"^--rate-scale: 1e\+07 gives payday about 81,450,000,000"):
        resolve("payday", rate_scale=1e7)
    same_day = resolve("payday", 960, 960)  # as surge rehearse scales: every visit kept
    assert same_day.expected_visits() == pytest.approx(load_profile("payday").expected_visits())


def test_the_rate_in_each_phase_is_the_phase_rate_times_the_branches() -> None:
    profile = load_profile("payday")
    start = 0.0
    for phase in profile.phases:
        for t in (start, start + phase.duration / 2, start + phase.duration - 1e-6):
            for channel in CHANNELS:
                per_hour = getattr(phase.arrivals_per_hour, channel)
                assert profile.rate(channel, t) == pytest.approx(per_hour * 6 / 3600)
        start += phase.duration


@pytest.mark.parametrize("t", [-1.0, -1e-9, 8 * 3600, 8 * 3600 + 1, 1e9])
def test_the_rate_is_0_outside_the_day(t: float) -> None:
    assert load_profile("payday").rate("counter", t) == 0


def test_an_unknown_channel_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown channel 'atm'"):
        load_profile("weekday").rate("atm", 10)  # type: ignore[arg-type]


@pytest.mark.parametrize("name", SHIPPED)
@pytest.mark.parametrize("scale", [1, 7, 3600])
def test_segments_cover_the_day_contiguously(name: str, scale: float) -> None:
    profile = load_profile(name).scaled(scale)
    for channel in CHANNELS:
        segments = profile.segments(channel)
        assert segments[0].start_s == 0
        assert segments[-1].end_s == pytest.approx(profile.duration_s)
        for before, after in itertools.pairwise(segments):
            assert after.start_s == before.end_s
        assert [s.phase for s in segments] == [p.name for p in profile.phases]


def test_every_mix_names_exactly_its_channels_operations() -> None:
    mix = load_profile("weekday").mix
    for channel in CHANNELS:
        assert tuple(getattr(mix, channel).shares()) == MIX_JOURNEYS[channel]


def test_the_launch_profile_sends_most_wealth_orders_to_the_launch_product() -> None:
    from surge.day.arrivals import Lateness
    from surge.harness.dispatch import Dispatcher
    from surge.visit.customers import Pool
    from surge.visit.values import Customer

    profile = load_profile("new_product_launch")
    assert profile.customers.launch_share == 0.85
    assert load_profile("weekday").customers.launch_share == 0
    customers = [Customer(f"C{n:08d}", "mass", "B001", {"CNY": (f"A{n}",)}) for n in range(4)]
    dispatcher = Dispatcher(profile, 7, Pool(customers), Lateness())
    visits = [dispatcher.journey(arrival) for arrival in dispatcher.schedule()]
    wealth = [v for v in visits if v.journey == "wealth_order"]
    assert len(wealth) > 20
    assert all(not v.launch for v in visits if v.journey != "wealth_order")
    assert 0.7 < sum(v.launch for v in wealth) / len(wealth) < 0.97


def test_the_channels_visited_are_those_with_arrivals_and_where_diversion_sends_business() -> None:
    payday = load_profile("payday")
    assert payday.channels_visited() == {"counter", "kiosk", "online"}
    data = payday.to_dict()
    for phase in data["phases"]:
        phase["arrivals_per_hour"].update(kiosk=0, online=0)
    data["customers"]["diversion"] = 0
    assert Profile.from_dict(data).channels_visited() == {"counter"}
    data["customers"]["diversion"] = 0.1  # cash and enquiries to a kiosk, transfers online
    assert Profile.from_dict(data).channels_visited() == {"counter", "kiosk", "online"}
    data["mix"]["counter"] = {"loan_application": 1.0}
    data["staffing"]["handling_minutes"] = {"loan_application": 30}
    assert Profile.from_dict(data).channels_visited() == {"counter"}
