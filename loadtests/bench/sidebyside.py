"""The side-by-side view: each HugMood row next to the Node reference's row of the same measure
from the same run, the ratio hugmood/node, which figures are lower bounds (the load generator
above GENERATOR_LIMIT % of a core: it, not the server, may have been the limit) and whether
HugMood's correctness checks held."""

from __future__ import annotations

from typing import Any

from .report import fmt

GENERATOR_LIMIT = 85.0  # % of a core; above it a figure is a lower bound
# What the Node reference does for each scenario's HugMood path (see loadtests/node/server.js).
NODE_PATH = {
    "fanout": "room publish to the followers' room, ack",
    "presence": "emit to the follower's room, ack",
    "direct": "one pg INSERT, emit to the recipient, ack",
    "memory": "idle connections (JWT, rooms)",
    "connect": "JWT, one query for rooms, hello",
}


def lower_bound(r: dict[str, Any]) -> bool:
    """A figure the generator may have capped (a latency row's may include the generator's
    own queueing; memory rows have no generator figure)."""
    gen = r.get("generator_cpu_pct")
    return gen is not None and gen > GENERATOR_LIMIT


def failed_checks(r: dict[str, Any]) -> dict[str, int]:
    """The non-zero correctness counters of a row (empty: all held)."""
    return {k: v for k, v in (r.get("checks") or {}).items() if v}


def compare(node: list[dict[str, Any]] | None, hugmood: list[dict[str, Any]] | None) -> list[dict]:
    """One entry per measure of either server (HugMood's order first), the other server's
    figure None where it did not run or failed."""
    nodes = {r["measure"]: r for r in node or []}
    ours = {r["measure"]: r for r in hugmood or []}
    out = []
    for measure in [*ours, *(m for m in nodes if m not in ours)]:
        n, h = nodes.get(measure), ours.get(measure)
        some = h or n
        assert some is not None
        ratio = h["value"] / n["value"] if h and n and n["value"] else None
        out.append(
            {
                "scenario": some["scenario"],
                "measure": measure,
                "unit": some["unit"],
                "node_path": NODE_PATH.get(some["scenario"]),
                "ratio": round(ratio, 3) if ratio is not None else None,
                **_side("node", n),
                **_side("hugmood", h),
                "hugmood_checks": h.get("checks") if h else None,
                "hugmood_failed_checks": failed_checks(h) if h else {},
            }
        )
    return out


def _side(name: str, r: dict[str, Any] | None) -> dict[str, Any]:
    """One server's figures of a comparison entry (None: it did not run or failed)."""
    return {
        name: r["value"] if r else None,
        f"{name}_p50_ms": r["p50_ms"] if r else None,
        f"{name}_p99_ms": r["p99_ms"] if r else None,
        f"{name}_generator_cpu_pct": r["generator_cpu_pct"] if r else None,
        f"{name}_lower_bound": bool(r and lower_bound(r)),
    }


def _value(value: float | None, bound: bool) -> str:
    return ("≥ " if bound else "") + fmt(value) if value is not None else "missing"


def print_comparison(entries: list[dict[str, Any]]) -> None:
    header = ["measure", "Node", "HugMood", "ratio", "p99 ms N/H", "gen CPU% N/H", "checks"]
    lines = []
    for e in entries:
        checks = e["hugmood_checks"]
        failed = e["hugmood_failed_checks"]
        lines.append(
            [
                e["measure"],
                _value(e["node"], e["node_lower_bound"]),
                _value(e["hugmood"], e["hugmood_lower_bound"]) + f" {e['unit']}",
                fmt(e["ratio"], 2) if e["ratio"] is not None else "missing",
                f"{fmt(e['node_p99_ms'])}/{fmt(e['hugmood_p99_ms'])}",
                f"{fmt(e['node_generator_cpu_pct'])}/{fmt(e['hugmood_generator_cpu_pct'])}",
                "-" if checks is None else ("ok" if not failed else str(failed)),
            ]
        )
    widths = [max(len(x) for x in col) for col in zip(header, *lines, strict=True)]
    print(
        "\nside by side (ratio = HugMood / Node, same run; ≥: generator above "
        f"{GENERATOR_LIMIT:.0f} % of a core, a lower bound):"
    )
    for i, line in enumerate([header, *lines]):
        print(
            "  ".join(
                c.ljust(w) if j == 0 else c.rjust(w)
                for j, (c, w) in enumerate(zip(line, widths, strict=True))
            )
        )
        if i == 0:
            print("  ".join("-" * w for w in widths))
