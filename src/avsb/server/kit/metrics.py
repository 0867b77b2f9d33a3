"""A small in-process metrics registry rendered in the Prometheus text format."""

from __future__ import annotations

import threading
from bisect import bisect_left
from collections import defaultdict
from collections.abc import Callable

_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)
Labels = tuple[tuple[str, str], ...]
REQUESTS_TOTAL = "avsb_http_requests_total"


def _fmt_labels(labels: Labels) -> str:
    if not labels:
        return ""
    body = ",".join(
        f'{k}="{v.replace(chr(92), chr(92) * 2).replace(chr(34), chr(92) + chr(34))}"'
        for k, v in labels
    )
    return "{" + body + "}"


class Metrics:
    """Counters, gauges (read through callbacks) and latency histograms."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counters: dict[str, dict[Labels, float]] = defaultdict(dict)
        self._help: dict[str, str] = {REQUESTS_TOTAL: "HTTP requests answered."}
        self._hist: dict[Labels, list[float]] = {}
        self._gauges: dict[str, Callable[[], float]] = {}

    def inc(self, name: str, labels: Labels = (), amount: float = 1.0, doc: str = "") -> None:
        with self._lock:
            series = self._counters[name]
            series[labels] = series.get(labels, 0.0) + amount
            if doc:
                self._help.setdefault(name, doc)

    def counter(self, name: str, labels: Labels = ()) -> float:
        return self._counters.get(name, {}).get(labels, 0.0)

    def gauge(self, name: str, read: Callable[[], float], doc: str) -> None:
        self._gauges[name] = read
        self._help[name] = doc

    def answered(self, counted: Labels, route: Labels, seconds: float) -> None:
        """One HTTP request answered: counted in `avsb_http_requests_total` under `counted`
        (method, route, status) and its latency observed under `route`, in one lock round."""
        with self._lock:
            series = self._counters[REQUESTS_TOTAL]
            series[counted] = series.get(counted, 0.0) + 1.0
            slot = self._hist.get(route)
            if slot is None:
                slot = self._hist[route] = [0.0] * (len(_BUCKETS) + 2)
            # One bucket per observation (the first bound it fits under; none past the last
            # bound); `render` adds them up into Prometheus's cumulative buckets.
            i = bisect_left(_BUCKETS, seconds)
            if i < len(_BUCKETS):
                slot[i] += 1
            slot[-2] += 1
            slot[-1] += seconds

    def snapshot(self) -> dict[str, float]:
        """Counter totals by name (for diagnostics)."""
        with self._lock:
            return {name: sum(series.values()) for name, series in self._counters.items()}

    def render(self) -> str:
        lines: list[str] = []
        with self._lock:
            for name, series in sorted(self._counters.items()):
                lines.append(f"# HELP {name} {self._help.get(name, name)}")
                lines.append(f"# TYPE {name} counter")
                lines.extend(f"{name}{_fmt_labels(k)} {v}" for k, v in sorted(series.items()))
            hist = "avsb_http_request_duration_seconds"
            lines.append(f"# HELP {hist} Time spent answering HTTP requests.")
            lines.append(f"# TYPE {hist} histogram")
            for labels, slot in sorted(self._hist.items()):
                below = 0.0
                for i, bound in enumerate(_BUCKETS):
                    below += slot[i]
                    le = (*labels, ("le", str(bound)))
                    lines.append(f"{hist}_bucket{_fmt_labels(le)} {below}")
                inf = (*labels, ("le", "+Inf"))
                lines.append(f"{hist}_bucket{_fmt_labels(inf)} {slot[-2]}")
                lines.append(f"{hist}_count{_fmt_labels(labels)} {slot[-2]}")
                lines.append(f"{hist}_sum{_fmt_labels(labels)} {slot[-1]}")
        for name, read in sorted(self._gauges.items()):
            lines.append(f"# HELP {name} {self._help[name]}")
            lines.append(f"# TYPE {name} gauge")
            lines.append(f"{name} {read()}")
        return "\n".join(lines) + "\n"
