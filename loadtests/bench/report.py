"""What a run produces: one row per figure (value, latency percentiles, everyone's CPU and the
scenario's own details), the table printed at the end, and the JSON results file with the git
commit, the machine, the plan and the pinning."""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from .measure import CORES, GENERATOR_CORES, NODE_CORES, SERVER_CORE
from .plan import Plan
from .servers import ROOT, SERVER_ENV

RESULTS = ROOT / "loadtests" / "results"


def row(
    scenario: str,
    measure: str,
    value: float,
    unit: str,
    window: dict | None = None,
    latency: dict | None = None,
    **details: Any,
) -> dict[str, Any]:
    cpu = (window or {}).get("cpu", {})
    return {
        "scenario": scenario,
        "measure": measure,
        "value": round(value, 1),
        "unit": unit,
        "p50_ms": (latency or {}).get("p50_ms"),
        "p99_ms": (latency or {}).get("p99_ms"),
        "latency_samples": (latency or {}).get("samples"),
        "server_cpu_pct": cpu.get("server"),
        "generator_cpu_pct": cpu.get("generator"),
        "pg_redis_cpu_pct": cpu.get("pg_redis"),
        "machine_cpu_pct": cpu.get("machine"),
        "unaccounted_cpu_pct": cpu.get("unaccounted"),
        "steal_cpu_pct": cpu.get("steal"),
        **({"server_cpu_pct_by_node": [cpu["node1"], cpu["node2"]]} if "node1" in cpu else {}),
        **details,
    }


def with_profile(rows: list[dict[str, Any]], window: dict[str, Any]) -> list[dict[str, Any]]:
    """`rows`, the first carrying the py-spy summary of `window` when it was profiled."""
    if "profile" in window:
        rows[0]["profile"] = window["profile"]
    return rows


def fmt(value: Any, digits: int = 1) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:,.{digits}f}"
    return f"{value:,}" if isinstance(value, int) else str(value)


def print_table(rows: list[dict[str, Any]]) -> None:
    header = [
        "server",
        "measure",
        "value",
        "p50 ms",
        "p99 ms",
        "server CPU%",
        "gen CPU%",
        "PG+Redis CPU%",
        "other CPU%",
    ]
    lines = [
        [
            r.get("server", "hugmood"),
            r["measure"],
            f"{fmt(r['value'])} {r['unit']}",
            fmt(r["p50_ms"], 2),
            fmt(r["p99_ms"], 2),
            fmt(r["server_cpu_pct"]),
            fmt(r["generator_cpu_pct"]),
            fmt(r["pg_redis_cpu_pct"]),
            fmt(r["unaccounted_cpu_pct"]),
        ]
        for r in rows
    ]
    widths = [max(len(x) for x in col) for col in zip(header, *lines, strict=True)]
    print()
    for i, line in enumerate([header, *lines]):
        print(
            "  ".join(
                c.ljust(w) if j < 2 else c.rjust(w)
                for j, (c, w) in enumerate(zip(line, widths, strict=True))
            )
        )
        if i == 0:
            print("  ".join("-" * w for w in widths))
    for r in rows:
        for label, prof in (r.get("profile") or {}).items():
            gc = prof.get("gc", {})
            print(
                f"\nprofile {label} ({prof.get('samples', 0)} samples; cyclic GC "
                f"{gc.get('share_of_wall_pct', '?')}% of wall time), top own time:"
            )
            for name, pct in prof.get("top_own", [])[:12]:
                print(f"  {pct:5.1f}%  {name}")


def git(*args: str) -> str:
    try:
        return subprocess.run(
            ["git", *args], cwd=ROOT, capture_output=True, text=True, check=True
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def git_state() -> dict[str, Any]:
    """What the servers run (others may commit meanwhile: see `git_commit_at_end`)."""
    return {
        "git_commit": git("rev-parse", "HEAD"),
        "git_dirty": git("status", "--porcelain", "--untracked-files=no").splitlines(),
    }


def machine() -> dict[str, Any]:
    model = "unknown"
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    return {
        "nproc": os.cpu_count(),
        "cores_used": CORES,
        "cpu_model": model,
        "python": platform.python_version(),
        "kernel": platform.release(),
        "memory_gib": round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1),
    }


def command() -> str:
    """How this run was started, as one would type it again."""
    main = sys.modules["__main__"]
    spec = getattr(main, "__spec__", None)
    argv = ["-m", spec.name.removesuffix(".__main__"), *sys.argv[1:]] if spec else sys.argv
    return " ".join([Path(sys.executable).name, *argv])


def write_results(
    out: Path,
    started: datetime,
    git_at_start: dict[str, Any],
    plan: Plan,
    rows: list[dict],
    comparison: list[dict],
    reference: dict[str, str],
    failures: list[dict],
) -> None:
    result = {
        "started_at": started.isoformat(),
        "finished_at": datetime.now(UTC).isoformat(),
        **git_at_start,
        "git_commit_at_end": git("rev-parse", "HEAD"),
        "command": command(),
        "machine": machine(),
        "reference": reference,
        "plan": asdict(plan),
        "server_env": SERVER_ENV,
        "pinning": {
            "server": sorted(SERVER_CORE),
            "generator": sorted(GENERATOR_CORES),
            "two_process_nodes": [sorted(c) for c in NODE_CORES],
            "two_process_generator": "unpinned",
        },
        "failures": failures,
        "comparison": comparison,
        "results": rows,
    }
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"\nbench: wrote {out}")
