"""How big and how long each scenario runs: the full plan, the `--quick` smoke plan and the
scenario names the command line accepts."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Plan:
    duration: float = 15.0  # each measurement window
    warmup: float = 3.0  # load before each window starts
    fanout_sizes: tuple[int, ...] = (1000, 5000)
    fanout_procs: int = 2  # receiver processes
    fanout_latency_load: float = 0.5  # latency phase rate, as a share of saturation
    fanout_payload: int = 100  # bytes of padding in each fan-out event's data
    direct_pairs: int = 50  # sender connections (each to its own recipient)
    direct_in_flight: int = 4  # hug:send awaiting their ack, per sender connection
    direct_procs: int = 2  # sender processes (and as many recipient processes)
    direct_latency_load: float = 0.5
    presence_pairs: int = 50  # mover connections, each followed by its own watcher connection
    presence_in_flight: int = 4  # presence:set awaiting their ack, per mover connection
    presence_procs: int = 2  # mover processes (and as many watcher processes)
    presence_latency_load: float = 0.5
    memory_steps: tuple[int, ...] = (1000, 5000)
    memory_settle: float = 3.0  # seconds between the last connection and reading RSS
    mood_followers: int = 1000  # connected followers of one user, split over two processes
    mood_updates: int = 30  # mood:update calls, one at a time, each waited for to the last follower
    connect_procs: int = 4
    connect_concurrency: int = 25  # handshakes in flight per connecting process
    connect_cap: int = 15000  # stay well under `ulimit -n` on the server
    connect_duration: float = 10.0


FULL = Plan()
QUICK = Plan(
    duration=3.0,
    warmup=1.0,
    fanout_sizes=(500,),
    direct_pairs=20,
    direct_procs=1,
    presence_pairs=20,
    presence_procs=1,
    memory_steps=(500, 1000),
    memory_settle=1.0,
    connect_procs=2,
    connect_cap=3000,
    connect_duration=3.0,
)
SCENARIOS = ("fanout", "direct", "presence", "mood", "memory", "connect", "push", "catalog")
