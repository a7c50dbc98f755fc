"""Push counters, Prometheus-style names (`hugmood_push_..._total`) with few labels and never a
user id. Kept per process; the worker logs them at shutdown and the bench reads them."""

from __future__ import annotations

from collections import Counter

_counts: Counter[tuple[str, tuple[tuple[str, str], ...]]] = Counter()


def inc(name: str, amount: int = 1, **labels: str) -> None:
    _counts[(name, tuple(sorted(labels.items())))] += amount


def value(name: str, **labels: str) -> int:
    return _counts[(name, tuple(sorted(labels.items())))]


def snapshot() -> dict[str, int]:
    """Every counter as `name{label="value",...}` -> count."""
    return {
        name + ("{" + ",".join(f'{k}="{v}"' for k, v in labels) + "}" if labels else ""): count
        for (name, labels), count in sorted(_counts.items())
    }
