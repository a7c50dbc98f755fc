"""The reference client clock estimator for `time:sync`, and a simulated network to test it.

A sample is one request: the client's send time `t0`, the server's receive and send times `t1`
and `t2` (server clock), and the client's receive time `t3`. With `offset` = server clock -
client clock and one-way delays `up` and `down`:

    t1 = t0 + offset + up        t3 = t2 - offset + down

so each sample bounds the offset from both sides: t2 - t3 <= offset <= t1 - t0. The classic
NTP estimate is the middle of one sample's bounds, ((t1 - t0) + (t2 - t3)) / 2, off by
(up - down) / 2; taking the sample with the lowest round trip (t3 - t0) - (t2 - t1) keeps that
small. `estimate` does better with the same samples: the tightest upper bound and the tightest
lower bound may come from different samples, so it intersects all of them and takes the middle,
off by (min up - min down) / 2 — the smallest delay each way over all samples. (When clocks
jumped during sampling and the bounds cross, it falls back to the lowest round trip.) No
method can see a fixed asymmetry between the two directions: it costs half the asymmetry.
"""

from __future__ import annotations

import random
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Sample:
    t0: float  # client sent (client clock)
    t1: float  # server received (server clock)
    t2: float  # server answered (server clock)
    t3: float  # client received (client clock)

    @property
    def round_trip(self) -> float:
        return (self.t3 - self.t0) - (self.t2 - self.t1)

    @property
    def offset(self) -> float:
        """The NTP estimate of this sample alone."""
        return ((self.t1 - self.t0) + (self.t2 - self.t3)) / 2


def lowest_round_trip(samples: list[Sample]) -> float:
    """The offset of the sample with the lowest round trip (plain NTP)."""
    return min(samples, key=lambda s: s.round_trip).offset


def estimate(samples: list[Sample]) -> float:
    """Server clock minus client clock: the middle of the intersection of every sample's bounds.
    The client starts a group hug at `starts_at - estimate(samples)` on its own clock."""
    if not samples:
        raise ValueError("at least one sample is needed")
    upper = min(s.t1 - s.t0 for s in samples)
    lower = max(s.t2 - s.t3 for s in samples)
    if lower > upper:
        return lowest_round_trip(samples)
    return (upper + lower) / 2


@dataclass(frozen=True, slots=True)
class SimulatedLink:
    """A client behind a network path, for tests and benchmarks (seconds throughout): its clock
    is `offset` behind the server's, each direction takes `base` (plus `asymmetry` upstream)
    plus independent jitter in [0, `jitter`), and the server takes `service` to answer."""

    offset: float
    base: float
    jitter: float
    asymmetry: float = 0.0
    service: float = 0.0002

    def sample(self, rng: random.Random, server_now: float) -> tuple[Sample, float]:
        """One `time:sync` starting at server time `server_now`; also the server time at which
        the answer arrived."""
        t0 = server_now - self.offset
        t1 = server_now + self.base + self.asymmetry + rng.uniform(0, self.jitter)
        t2 = t1 + self.service
        arrived = t2 + self.base + rng.uniform(0, self.jitter)
        return Sample(t0, t1, t2, arrived - self.offset), arrived

    def start_error(self, rng: random.Random, samples: int, gap: float = 0.05) -> float:
        """|local start - true start| for a client that takes `samples` samples `gap` apart."""
        now, taken = 1_000.0, []
        for _ in range(samples):
            sample, now = self.sample(rng, now)
            taken.append(sample)
            now += gap
        starts_at = now + 2.0
        local_start = starts_at - estimate(taken)  # on the client's clock
        return abs((local_start + self.offset) - starts_at)
