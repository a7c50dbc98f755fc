"""How big and how long each scenario runs: the full plan, the `--quick` smoke plan, the
scenario names the command line accepts and those run side by side with the Node reference."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Plan:
    duration: float = 6.0  # each measurement window
    warmup: float = 2.0  # load before each window starts
    budget: float = 11 * 60  # seconds: past it, no scenario is run again on a busy machine
    processes: tuple[int, ...] = (1, 2)  # web processes of the fan-out, direct and presence runs
    fanout_sizes: tuple[int, ...] = (1000, 5000)  # followers, each on its own connection
    fanout_two_process_size: int = 1000  # followers of the two-process fan-out run
    fanout_procs: int = 2  # receiver processes
    fanout_moderate: float = 20000  # deliveries/s of the moderate-rate window (both servers)
    fanout_latency_load: float = 0.5  # latency phase rate, as a share of saturation
    pairs_moderate: float = 500  # calls/s of the direct and presence moderate-rate windows
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
    connect_procs: int = 4
    connect_concurrency: int = 25  # handshakes in flight per connecting process
    connect_cap: int = 15000  # stay well under `ulimit -n` on the server
    connect_duration: float = 6.0


FULL = Plan()
QUICK = Plan(
    duration=2.0,
    warmup=1.0,
    budget=120,
    processes=(1,),
    fanout_sizes=(300,),
    direct_pairs=20,
    direct_procs=1,
    presence_pairs=20,
    presence_procs=1,
    memory_steps=(250, 500),
    memory_settle=1.0,
    connect_procs=2,
    connect_cap=3000,
    connect_duration=3.0,
)
SCENARIOS = ("fanout", "direct", "presence", "memory", "connect", "push", "catalog")
SIDE_BY_SIDE = ("fanout", "direct", "presence", "memory", "connect")  # also run on Node
