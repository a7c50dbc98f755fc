"""`--profile`: py-spy on a server during a measurement window, summarised by own time, and the
servers' cyclic-GC time, accounted by a probe the bench puts on their PYTHONPATH."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

APP_LAYERS = ("hugmood/", "realtime/", "rest/", "socketio/", "engineio/")


@dataclass(frozen=True)
class Profiling:
    keep_dir: Path  # where raw py-spy stacks are kept
    native: bool = False  # --native: C frames too (py-spy then pauses the process per sample)


def py_spy() -> str | None:
    return shutil.which("py-spy") or (
        str(Path(sys.executable).parent / "py-spy")
        if (Path(sys.executable).parent / "py-spy").exists()
        else None
    )


class Profiler:
    """`py-spy record --format raw` on a server for one window, summarised by own time."""

    def __init__(self, pid: int, seconds: float, out: Path, options: Profiling) -> None:
        self.out, self.keep_dir = out, options.keep_dir
        self.proc = subprocess.Popen(  # collapsed stacks: "frame;frame;... count" per line
            [
                py_spy() or "py-spy",
                "record",
                "--pid",
                str(pid),
                "--duration",
                str(int(seconds)),
                "--rate",
                "200",
                "--format",
                "raw",
                *(["--native"] if options.native else ["--nonblocking"]),
                "--output",
                str(out),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )

    def summary(self, top: int = 20) -> dict[str, Any]:
        try:
            self.proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        if not self.out.exists():
            return {"error": "py-spy produced no output"}
        self.keep_dir.mkdir(parents=True, exist_ok=True)
        shutil.copy(self.out, self.keep_dir / self.out.name)
        own: Counter[str] = Counter()
        inclusive: Counter[str] = Counter()
        packages: Counter[str] = Counter()
        total = 0
        for line in self.out.read_text().splitlines():
            stack, _, count = line.rpartition(" ")
            if not stack:
                continue
            n = int(count)
            total += n
            names = []
            for frame in stack.split(";"):
                name, _, where = frame.partition(" (")
                path = where.rstrip(")").rsplit(":", 1)[0]
                names.append((f"{name} ({path})", path))
            own[names[-1][0]] += n
            packages[_package(names[-1][1])] += n
            for name in {name for name, path in names if path.startswith(APP_LAYERS)}:
                inclusive[name] += n
        if not total:
            return {"samples": 0}

        def pct(counter: Counter[str], k: int) -> list[list[Any]]:
            return [[name, round(100 * v / total, 1)] for name, v in counter.most_common(k)]

        return {
            "samples": total,
            "top_own": pct(own, top),
            "by_package": pct(packages, 12),
            "top_inclusive_app": pct(inclusive, top),
        }


def _package(path: str) -> str:
    if "site-packages/" in path:
        path = path.split("site-packages/", 1)[1]
    elif "/lib/python3" in path:
        return "stdlib:" + path.rsplit("/", 1)[-1].removesuffix(".py")
    head = path.lstrip("/").split("/", 1)[0]
    if head.endswith(".py"):
        return "stdlib:" + head.removesuffix(".py")
    return head


# With --profile the servers also account their cyclic-GC pauses (gc.callbacks), through a
# sitecustomize on their PYTHONPATH only: no application code changes.
GC_PROBE = """\
import gc, os, threading, time

_dir = os.environ.get("BENCH_GC_STATS")
if _dir:
    _state = [0.0, 0, 0, 0, 0]  # seconds in gc, collections of gen 0/1/2, objects collected
    _began = [0.0]

    def _account(phase, info):
        if phase == "start":
            _began[0] = time.perf_counter()
        else:
            _state[0] += time.perf_counter() - _began[0]
            _state[1 + info["generation"]] += 1
            _state[4] += info["collected"]

    gc.callbacks.append(_account)
    _path = os.path.join(_dir, f"gc-{os.getpid()}.txt")

    def _write():
        while True:
            time.sleep(0.1)
            with open(_path + ".tmp", "w") as f:
                f.write(" ".join(map(str, _state)))
            os.replace(_path + ".tmp", _path)

    threading.Thread(target=_write, daemon=True).start()
"""


def install_gc_probe(tmp: Path, pythonpath: str | None) -> dict[str, str]:
    """Write the probe under `tmp`; returns the server environment that loads it and where it
    writes (`gc_stats(tmp, pid)` reads it back)."""
    probe = tmp / "gcprobe"
    probe.mkdir()
    (probe / "sitecustomize.py").write_text(GC_PROBE)
    path = os.pathsep.join(filter(None, (str(probe), pythonpath)))
    return {"PYTHONPATH": path, "BENCH_GC_STATS": str(tmp)}


def gc_stats(directory: Path, pid: int) -> list[float] | None:
    try:
        return [float(x) for x in (directory / f"gc-{pid}.txt").read_text().split()]
    except (OSError, ValueError):
        return None


def gc_delta(before: list[float], after: list[float], seconds: float) -> dict[str, Any]:
    """What the probe accounted between two readings `seconds` apart."""
    return {
        "share_of_wall_pct": round(100 * (after[0] - before[0]) / seconds, 1),
        "collections_gen0_1_2": [int(after[i] - before[i]) for i in (1, 2, 3)],
        "collected_objects": int(after[4] - before[4]),
    }
