"""The reference clock estimator against simulated clocks and networks (fixed seeds), and
`time:sync` against a real server."""

from __future__ import annotations

import random
import statistics
import time

import pytest

from hugmood.group_hugs.clock import Sample, SimulatedLink, estimate, lowest_round_trip
from tests.group_hugs.support import call, people

CLIENTS = 400
SAMPLES = 32


def links(seed: int, jitter: float = 0.05, asymmetry: float = 0.0) -> list[SimulatedLink]:
    """The issue's population: clock offsets within 5 s, base one-way delay 10-150 ms (the same
    both ways), per-message jitter up to `jitter` each way."""
    rng = random.Random(seed)
    return [
        SimulatedLink(rng.uniform(-5, 5), rng.uniform(0.010, 0.150), jitter, asymmetry)
        for _ in range(CLIENTS)
    ]


def p99(errors: list[float]) -> float:
    return statistics.quantiles(errors, n=100)[98]


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_start_skew_p99_is_within_5_ms_with_jitter_up_to_50_ms(seed: int) -> None:
    rng = random.Random(seed * 7919)
    errors = [link.start_error(rng, SAMPLES) for link in links(seed)]
    assert p99(errors) <= 0.005, p99(errors)
    assert max(errors) <= 0.010


def test_intersecting_bounds_beats_the_lowest_round_trip_alone() -> None:
    rng = random.Random(11)
    ours, ntp = [], []
    for link in links(11):
        now, taken = 1000.0, []
        for _ in range(SAMPLES):
            sample, now = link.sample(rng, now)
            taken.append(sample)
        ours.append(abs(estimate(taken) - link.offset))
        ntp.append(abs(lowest_round_trip(taken) - link.offset))
    assert p99(ours) < p99(ntp)
    assert statistics.median(ours) < statistics.median(ntp)


def test_more_jitter_degrades_gracefully_and_fewer_samples_cost_accuracy() -> None:
    rng = random.Random(5)
    calm = p99([link.start_error(rng, SAMPLES) for link in links(5, jitter=0.05)])
    rough = p99([link.start_error(rng, SAMPLES) for link in links(5, jitter=0.2)])
    few = p99([link.start_error(rng, 4) for link in links(5, jitter=0.05)])
    assert calm < rough < 0.025 and calm < few


def test_a_fixed_asymmetry_costs_half_of_it() -> None:
    rng = random.Random(9)
    asymmetry = 0.020  # upstream 20 ms slower than downstream, invisible to any method
    errors = [link.start_error(rng, SAMPLES) for link in links(9, asymmetry=asymmetry)]
    assert abs(statistics.median(errors) - asymmetry / 2) < 0.003


def test_crossed_bounds_fall_back_to_the_lowest_round_trip() -> None:
    # The client's clock jumped 1 s forward between two samples: their bounds cannot agree.
    before = Sample(t0=0.0, t1=10.05, t2=10.05, t3=0.1)
    after = Sample(t0=1.2, t1=10.25, t2=10.25, t3=1.4)
    assert estimate([before, after]) == lowest_round_trip([before, after]) == before.offset
    with pytest.raises(ValueError):
        estimate([])


async def test_time_sync_answers_with_server_times_that_estimate_the_offset(
    nodes, connect, db
) -> None:
    [me] = await people(db, 1)
    client = await connect(nodes[1], me)
    samples = []
    for _ in range(8):
        t0 = time.time() * 1000
        answer = await call(client, "time:sync", {"t0": t0})
        t3 = time.time() * 1000
        assert answer["ok"] and answer["time"]["t0"] == t0
        t1, t2 = answer["time"]["t1"], answer["time"]["t2"]
        assert t0 <= t1 <= t2 <= t3  # one machine, one clock
        samples.append(Sample(t0, t1, t2, t3))
    assert abs(estimate(samples)) < 5  # ms: the same clock, seen through the network
    bad = await call(client, "time:sync", {"t0": "now"})
    assert bad["ok"] is False and bad["error"]["field"] == "t0"
