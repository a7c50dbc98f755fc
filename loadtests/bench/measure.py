"""What the bench reads from /proc: the cores it pins to, each process's CPU and RSS, the
machine's busy time (and waiting for it to be quiet), and latency percentiles."""

from __future__ import annotations

import array
import os
import sys
import time
from collections.abc import Iterable

TICK = os.sysconf("SC_CLK_TCK")
CORES = sorted(os.sched_getaffinity(0))
SERVER_CORE = {CORES[0]}
GENERATOR_CORES = {CORES[1]} if len(CORES) > 1 else {CORES[0]}
NODE_CORES = [{CORES[0]}, {CORES[1] if len(CORES) > 1 else CORES[0]}]


def proc_cpu_secs(pid: int) -> float | None:
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except (FileNotFoundError, ProcessLookupError, IndexError):
        return None
    return (int(fields[11]) + int(fields[12])) / TICK


def vm_rss_kb(pid: int) -> int:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise RuntimeError(f"no VmRSS for {pid}")


def service_pids(db_name: str) -> list[int]:
    """Redis, PostgreSQL's shared processes and the backends of our database (read-only, for CPU
    accounting): backends of other databases on a shared server are someone else's load."""
    pids = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/comm") as f:
                    comm = f.read().strip()
                if comm == "redis-server":
                    pids.append(int(entry))
                elif comm == "postgres":
                    with open(f"/proc/{entry}/cmdline", "rb") as f:
                        cmdline = f.read().decode(errors="replace")
                    backend = "(" in cmdline or "[local]" in cmdline
                    if not backend or f" {db_name} " in cmdline:
                        pids.append(int(entry))
            except OSError:
                continue
    return pids


def machine_jiffies() -> tuple[int, int, int]:
    """Busy, total and stolen (by the hypervisor) jiffies of all CPUs."""
    with open("/proc/stat") as f:
        values = [int(v) for v in f.readline().split()[1:9]]  # guest time is inside user
    idle = values[3] + values[4]
    return sum(values) - idle, sum(values), values[7]


def machine_pct(part: int, total: int) -> float:
    """`part` of `total` jiffies of all CPUs, in % of one core."""
    return 100 * len(CORES) * part / total if total else 0.0


class CpuWindow:
    """CPU used by groups of processes between `start()` and `stop()`, in % of one core."""

    def __init__(self, groups: dict[str, list[int]], db_name: str) -> None:
        self.groups, self.db_name = groups, db_name

    def _snap(self) -> dict[str, dict[int, float]]:
        snap = {
            name: {pid: s for pid in pids if (s := proc_cpu_secs(pid)) is not None}
            for name, pids in self.groups.items()
        }
        snap["pg_redis"] = {
            pid: s for pid in service_pids(self.db_name) if (s := proc_cpu_secs(pid)) is not None
        }
        return snap

    def start(self) -> None:
        self.t0, self.s0, self.m0 = time.time(), self._snap(), machine_jiffies()

    def stop(self) -> dict[str, float]:
        t1, s1, m1 = time.time(), self._snap(), machine_jiffies()
        dt = t1 - self.t0
        out = {}
        for name, after in s1.items():
            before = self.s0.get(name, {})
            used = sum(secs - before.get(pid, 0.0) for pid, secs in after.items())
            out[name] = round(100 * used / dt, 1)
        total = m1[1] - self.m0[1]
        out["machine"] = round(machine_pct(m1[0] - self.m0[0], total), 1)
        out["steal"] = round(machine_pct(m1[2] - self.m0[2], total), 1)
        # Other processes, the orchestrator and softirq time not charged to any process.
        out["unaccounted"] = round(
            out["machine"] - out["steal"] - out["server"] - out["generator"] - out["pg_redis"], 1
        )
        return out


def wait_quiet(quiet_secs: int = 2, limit_pct: float = 15.0, patience: float = 180.0) -> float:
    """Wait (up to `patience` s) until other processes use under `limit_pct` of a core for
    `quiet_secs` seconds in a row: on a shared machine, someone's test run would halve our
    figures. Returns the last background level; warns if the machine never got quiet."""
    deadline, quiet, level = time.time() + patience, 0, 0.0
    while time.time() < deadline:
        before = machine_jiffies()
        time.sleep(1)
        after = machine_jiffies()
        level = machine_pct(after[0] - before[0], after[1] - before[1])
        quiet = quiet + 1 if level < limit_pct else 0
        if quiet >= quiet_secs:
            return round(level, 1)
    print(
        f"bench: WARNING: the machine is busy ({level:.0f}% of a core used by other "
        "processes); figures will be low",
        file=sys.stderr,
        flush=True,
    )
    return round(level, 1)


def samples() -> tuple[array.array, array.array]:
    """Receive (or ack) times and their latencies, side by side."""
    return array.array("d"), array.array("d")


def percentiles(values: Iterable[float]) -> dict[str, float | None]:
    data = sorted(values)
    if not data:
        return {"p50_ms": None, "p99_ms": None, "samples": 0}

    def pick(q: float) -> float:
        return round(1000 * data[min(len(data) - 1, int(q * len(data)))], 2)

    return {"p50_ms": pick(0.50), "p99_ms": pick(0.99), "samples": len(data)}


def in_window(times: array.array, values: array.array, t0: float, t1: float) -> list[float]:
    return [v for t, v in zip(times, values, strict=True) if t0 <= t <= t1]
