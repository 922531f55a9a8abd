"""What the app's own Prometheus metrics say about Phase 2: pure, text in, figures out.

The metrics text is fetched by `infra/probes/metrics.py` (`read_metrics_text(source) -> str`);
everything here is decided on that text:

- `parse_metrics(text)`: the samples, by name, read with prometheus_client's own parser;
- `counter_total(samples, name)`: a counter summed over its label sets (the cost counter an app
  may expose, `phase2CostMetric`);
- `app_metrics(samples, source)`: the MemoryAnalyzer's histogram
  `memory_analysis_duration_seconds` (label `provider`; buckets 0.5 ... 30 s in emergence-app)
  and its cache counters `memory_analysis_cache_hits_total` / `_misses_total`, when present;
  `AppMetrics.minus(start)` is the same over a window (two readings of one instance).

Percentiles from a histogram are bucket estimates, computed like PromQL's `histogram_quantile`:
the rank is found in the cumulative bucket counts and interpolated linearly inside its bucket
(lower bound 0 for the first bucket; a rank in the `+Inf` bucket gives the highest finite
bound). They are never better than the bucket edges: the report says so wherever it shows one.

Values that are no measurement (negative or non-finite counts, buckets that are not cumulative,
no `+Inf` bucket) are never used: the figure says what is wrong with them instead.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

DURATION_METRIC = "memory_analysis_duration_seconds"
CACHE_HITS_METRIC = "memory_analysis_cache_hits_total"
CACHE_MISSES_METRIC = "memory_analysis_cache_misses_total"

Samples = Mapping[str, list[tuple[dict[str, str], float]]]
"""Sample name -> [(labels, value)], in the order of the text."""


class MetricsError(ValueError):
    """The Prometheus text could not be read."""


def parse_metrics(text: str) -> dict[str, list[tuple[dict[str, str], float]]]:
    """Every sample of Prometheus text exposition format, by sample name."""
    from prometheus_client.parser import text_string_to_metric_families  # noqa: PLC0415

    samples: dict[str, list[tuple[dict[str, str], float]]] = {}
    try:
        for family in text_string_to_metric_families(text):
            for sample in family.samples:
                samples.setdefault(sample.name, []).append((dict(sample.labels), sample.value))
    except (ValueError, TypeError, IndexError, KeyError) as exc:
        raise MetricsError(f"not Prometheus text format: {exc}") from exc
    return samples


def _names(name: str) -> tuple[str, ...]:
    """A counter declared as `foo` exposes `foo_total`: accept either spelling."""
    return (name,) if name.endswith("_total") else (name, name + "_total")


def counter_total(samples: Samples, name: str) -> float | None:
    """Sum of every sample called `name` (all label sets); None if absent. It may be negative
    or not finite: the caller judges whether that is a cost."""
    found = [value for n in _names(name) for _labels, value in samples.get(n, ())]
    if not found:
        return None
    return math.fsum(found) if all(math.isfinite(v) for v in found) else sum(found)


def parse_prometheus_counter(text: str, name: str) -> float | None:
    """`counter_total` straight from Prometheus text."""
    return counter_total(parse_metrics(text), name)


def not_an_amount(value: float | None) -> str | None:
    """Why a counter's value is no count (None: it is one)."""
    if value is None:
        return None
    if not math.isfinite(value):
        return f"{value} is not a finite number"
    if value < 0:
        return f"{value:g} is negative (a counter never goes below 0)"
    return None


# --- the histogram ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Histogram:
    """Cumulative buckets: `counts[i]` observations were <= `bounds[i]`; the last bound is +Inf."""

    bounds: tuple[float, ...]
    counts: tuple[float, ...]
    total: float | None = None  # the `_sum` sample (seconds), when present

    @property
    def count(self) -> float:
        return self.counts[-1] if self.counts else 0.0

    def quantile(self, q: float) -> float | None:
        """PromQL's `histogram_quantile(q, ...)` on these buckets (None: no observation)."""
        if not 0.0 <= q <= 1.0:
            raise ValueError(f"q must be within 0..1, got {q}")
        total = self.count
        if total <= 0 or len(self.bounds) < 2:
            return None
        rank = q * total
        index = next(i for i, cumulative in enumerate(self.counts) if cumulative >= rank)
        if index == len(self.bounds) - 1:
            return self.bounds[-2]  # in the +Inf bucket: the highest finite bound
        upper = self.bounds[index]
        if index == 0:
            if upper <= 0:
                return upper
            lower, below = 0.0, 0.0
        else:
            lower, below = self.bounds[index - 1], self.counts[index - 1]
        inside = self.counts[index] - below
        if inside <= 0:
            return upper
        return lower + (upper - lower) * (rank - below) / inside

    def merged(self, other: Histogram) -> Histogram | None:
        """The two added (same buckets), or None when the buckets differ."""
        if self.bounds != other.bounds:
            return None
        totals = None if self.total is None or other.total is None else self.total + other.total
        counts = tuple(a + b for a, b in zip(self.counts, other.counts, strict=True))
        return Histogram(self.bounds, counts, totals)

    def minus(self, start: Histogram) -> Histogram | str:
        """The observations made after `start` (same instance), or why there is no such thing."""
        if self.bounds != start.bounds:
            return "the two readings have different buckets"
        counts = tuple(a - b for a, b in zip(self.counts, start.counts, strict=True))
        if any(c < 0 for c in counts):
            return "the counts went down between the readings (the instance restarted)"
        total = None if self.total is None or start.total is None else self.total - start.total
        return Histogram(self.bounds, counts, total)

    def to_dict(self) -> dict[str, Any]:
        return {
            "count": self.count,
            "sum_seconds": None if self.total is None else round(self.total, 6),
            "p50_seconds": _round(self.quantile(0.5)),
            "p95_seconds": _round(self.quantile(0.95)),
            "buckets": [
                {"le": "+Inf" if math.isinf(b) else b, "count": c}
                for b, c in zip(self.bounds, self.counts, strict=True)
            ],
        }


def _histogram(
    buckets: Iterable[tuple[dict[str, str], float]], total: float | None
) -> Histogram | str:
    """Buckets of one label set -> Histogram, or why they are not a histogram."""
    pairs: dict[float, float] = {}
    for labels, value in buckets:
        try:
            bound = float(labels.get("le", ""))
        except ValueError:
            return f"a bucket's le is {labels.get('le')!r}, not a number"
        if math.isnan(bound) or bound in pairs:
            return "two buckets have the same le" if bound in pairs else "a bucket's le is NaN"
        if not math.isfinite(value) or value < 0:
            return f"a bucket count is {value} (not a count)"
        pairs[bound] = value
    if math.inf not in pairs:
        return "no +Inf bucket"
    bounds = tuple(sorted(pairs))
    counts = tuple(pairs[b] for b in bounds)
    if any(b < a for a, b in itertools.pairwise(counts)):
        return "the bucket counts are not cumulative"
    if total is not None and not math.isfinite(total):
        total = None
    return Histogram(bounds, counts, total)


def _histograms_by(samples: Samples, metric: str, label: str) -> tuple[dict[str, Histogram], str]:
    """Histograms of `metric` keyed by `label` (other labels are added up), and any problem."""
    grouped: dict[str, dict[tuple, list[tuple[dict[str, str], float]]]] = {}
    for labels, value in samples.get(metric + "_bucket", ()):
        key = labels.get(label, "")
        rest = tuple(sorted((k, v) for k, v in labels.items() if k not in ("le", label)))
        grouped.setdefault(key, {}).setdefault(rest, []).append((labels, value))
    sums: dict[tuple, float] = {}
    for labels, value in samples.get(metric + "_sum", ()):
        rest = tuple(sorted((k, v) for k, v in labels.items() if k != label))
        sums[(labels.get(label, ""), *rest)] = value
    result: dict[str, Histogram] = {}
    for key, series in sorted(grouped.items()):
        combined: Histogram | None = None
        for rest, buckets in series.items():
            one = _histogram(buckets, sums.get((key, *rest)))
            if isinstance(one, str):
                return {}, f"{metric}{{{label}={key!r}}}: {one}"
            combined = one if combined is None else combined.merged(one)
            if combined is None:
                return {}, f"{metric}{{{label}={key!r}}}: series with different buckets"
        assert combined is not None
        result[key] = combined
    return result, ""


# --- what the report shows ----------------------------------------------------------------------


@dataclass(frozen=True)
class AppMetrics:
    """The MemoryAnalyzer's own figures from one metrics source (or the difference of two)."""

    source: str
    durations: dict[str, Histogram] = field(default_factory=dict)  # by provider
    cache_hits: float | None = None
    cache_misses: float | None = None
    problems: tuple[str, ...] = ()
    window: bool = False  # the difference of two readings (--metrics-start)

    @property
    def duration(self) -> Histogram | None:
        """Every provider's observations together (None: none, or buckets that differ)."""
        merged: Histogram | None = None
        for histogram in self.durations.values():
            merged = histogram if merged is None else merged.merged(histogram)
            if merged is None:
                return None
        return merged

    @property
    def cache_hit_rate(self) -> float | None:
        if self.cache_hits is None or self.cache_misses is None:
            return None
        total = self.cache_hits + self.cache_misses
        return self.cache_hits / total if total > 0 else None

    def minus(self, start: AppMetrics) -> AppMetrics:
        """The same figures over the window between `start` and this reading."""
        problems = list(self.problems) + [p for p in start.problems if p not in self.problems]
        durations: dict[str, Histogram] = {}
        for provider, histogram in self.durations.items():
            before = start.durations.get(provider)
            if before is None:
                durations[provider] = histogram
                continue
            delta = histogram.minus(before)
            if isinstance(delta, str):
                problems.append(f"{DURATION_METRIC}{{provider={provider!r}}}: {delta}")
            else:
                durations[provider] = delta
        if any(p not in self.durations for p in start.durations):
            problems.append(f"{DURATION_METRIC}: a provider of the first reading is gone")
        hits = _counter_delta(self.cache_hits, start.cache_hits, CACHE_HITS_METRIC, problems)
        misses = _counter_delta(
            self.cache_misses, start.cache_misses, CACHE_MISSES_METRIC, problems
        )
        return AppMetrics(self.source, durations, hits, misses, tuple(problems), window=True)

    def to_dict(self) -> dict[str, Any]:
        duration = self.duration
        return {
            "source": self.source,
            "window": self.window,
            "estimate": "bucket",
            "analysis_duration": None if duration is None else duration.to_dict(),
            "analysis_duration_by_provider": {k: v.to_dict() for k, v in self.durations.items()},
            "cache": {
                "hits": self.cache_hits,
                "misses": self.cache_misses,
                "hit_rate": _round(self.cache_hit_rate, 6),
            },
            "problems": list(self.problems),
        }


def _counter_delta(
    end: float | None, start: float | None, name: str, problems: list[str]
) -> float | None:
    if end is None or start is None:
        return end if start is None else None
    if end < start:
        problems.append(f"{name} went down between the readings (the instance restarted)")
        return None
    return end - start


def _cache_counter(samples: Samples, name: str, problems: list[str]) -> float | None:
    value = counter_total(samples, name)
    why = not_an_amount(value)
    if why:
        problems.append(f"{name}: {why}")
        return None
    return value


def app_metrics(samples: Samples, source: str) -> AppMetrics:
    """The MemoryAnalyzer's histogram and cache counters from parsed samples (when present)."""
    problems: list[str] = []
    durations, problem = _histograms_by(samples, DURATION_METRIC, "provider")
    if problem:
        problems.append(problem)
    hits = _cache_counter(samples, CACHE_HITS_METRIC, problems)
    misses = _cache_counter(samples, CACHE_MISSES_METRIC, problems)
    return AppMetrics(source, durations, hits, misses, tuple(problems))


def _round(value: float | None, digits: int = 3) -> float | None:
    return None if value is None else round(value, digits)
