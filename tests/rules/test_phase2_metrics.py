"""The app's own metrics: the MemoryAnalyzer's histogram and cache counters (issue 15).

The Prometheus text is written by prometheus_client itself, with the metric definitions of
emergence-app (`backend/features/memory/analyzer.py` at e7b0d75: names, label, buckets), so the
parser is checked against the real exposition format, not a hand-written imitation.
"""

from __future__ import annotations

import math
import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest

from infra.rules.phase2_metrics import (
    AppMetrics,
    MetricsError,
    app_metrics,
    counter_total,
    parse_metrics,
)
from infra.rules.phase2_metrics import (
    Histogram as Buckets,
)

APP_BUCKETS = (0.5, 1.0, 2.0, 4.0, 6.0, 10.0, 15.0, 20.0, 30.0)


def exposition(durations: dict[str, list[float]], hits: int = 0, misses: int = 0) -> str:
    registry = CollectorRegistry()
    histogram = Histogram(
        "memory_analysis_duration_seconds",
        "Durée des analyses mémoire",
        ["provider"],
        buckets=list(APP_BUCKETS),
        registry=registry,
    )
    hit_counter = Counter(
        "memory_analysis_cache_hits_total", "Nombre total de cache hits", registry=registry
    )
    miss_counter = Counter(
        "memory_analysis_cache_misses_total", "Nombre total de cache misses", registry=registry
    )
    for provider, values in durations.items():
        for value in values:
            histogram.labels(provider=provider).observe(value)
    hit_counter.inc(hits)
    miss_counter.inc(misses)
    return generate_latest(registry).decode()


def test_quantiles_are_histogram_quantile_on_the_buckets():
    buckets = Buckets((0.5, 1.0, 2.0, 4.0, math.inf), (2, 6, 9, 10, 10))
    assert buckets.quantile(0.5) == pytest.approx(0.875)  # rank 5 in (0.5, 1]: 0.5 + 0.5 * 3/4
    assert buckets.quantile(0.95) == pytest.approx(3.0)  # rank 9.5 in (2, 4]: 2 + 2 * 0.5/1
    assert buckets.quantile(0.1) == pytest.approx(0.25)  # rank 1 in the first: 0 + 0.5 * 1/2
    overflow = Buckets((0.5, 1.0, math.inf), (1, 1, 4))
    assert overflow.quantile(0.95) == 1.0  # in +Inf: the highest finite bound
    assert Buckets((1.0, math.inf), (0, 0)).quantile(0.5) is None


@settings(max_examples=60, deadline=None)
@given(st.lists(st.floats(0.01, 40.0), min_size=1, max_size=200), st.sampled_from([0.5, 0.95]))
def test_the_estimate_lies_in_the_bucket_of_the_true_quantile(values, q):
    app = app_metrics(parse_metrics(exposition({"neo_analysis": values})), "m")
    estimate = app.duration.quantile(q)
    ordered = sorted(values)
    true = ordered[max(0, math.ceil(q * len(ordered)) - 1)]  # the rank Prometheus looks for
    edges = (0.0, *APP_BUCKETS, math.inf)
    upper = next(i for i, edge in enumerate(edges) if true <= edge and i > 0)
    lower_edge, upper_edge = edges[upper - 1], edges[upper]
    if math.isinf(upper_edge):
        assert estimate == APP_BUCKETS[-1]
    else:
        assert lower_edge <= estimate <= upper_edge


def test_the_apps_metrics_read_by_provider_with_cache_counters():
    rng = random.Random(5)
    durations = {
        "neo_analysis": [rng.uniform(0.6, 1.9) for _ in range(40)],
        "nexus": [rng.uniform(2.0, 3.9) for _ in range(3)],
    }
    app = app_metrics(parse_metrics(exposition(durations, hits=30, misses=44)), "metrics.txt")
    assert app.problems == ()
    assert {k: v.count for k, v in app.durations.items()} == {"neo_analysis": 40, "nexus": 3}
    assert app.duration.count == 43
    assert app.duration.total == pytest.approx(sum(map(sum, durations.values())))
    assert 1.0 <= app.duration.quantile(0.5) <= 2.0
    assert (app.cache_hits, app.cache_misses) == (30, 44)
    assert app.cache_hit_rate == pytest.approx(30 / 74)
    data = app.to_dict()
    assert data["estimate"] == "bucket" and data["analysis_duration"]["count"] == 43
    assert data["analysis_duration"]["buckets"][-1] == {"le": "+Inf", "count": 43}


def test_an_app_whose_metrics_are_off_or_unused_shows_nothing_and_no_problem():
    disabled = "# Metrics disabled. Set CONCEPT_RECALL_METRICS_ENABLED=true to enable.\n"
    for text in (disabled, exposition({}), ""):
        app = app_metrics(parse_metrics(text), "m")
        assert app.duration is None and app.problems == ()
    unused = app_metrics(parse_metrics(exposition({})), "m")
    assert (unused.cache_hits, unused.cache_misses) == (0, 0) and unused.cache_hit_rate is None


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ('memory_analysis_duration_seconds_bucket{provider="x",le="1.0"} 3\n', "no +Inf bucket"),
        (
            'memory_analysis_duration_seconds_bucket{provider="x",le="1.0"} 5\n'
            'memory_analysis_duration_seconds_bucket{provider="x",le="+Inf"} 2\n',
            "not cumulative",
        ),
        (
            'memory_analysis_duration_seconds_bucket{provider="x",le="1.0"} NaN\n'
            'memory_analysis_duration_seconds_bucket{provider="x",le="+Inf"} 2\n',
            "not a count",
        ),
        (
            'memory_analysis_duration_seconds_bucket{provider="x",le="soon"} 1\n'
            'memory_analysis_duration_seconds_bucket{provider="x",le="+Inf"} 2\n',
            "not a number",
        ),
        ("memory_analysis_cache_hits_total -3\n", "negative"),
        ("memory_analysis_cache_misses_total +Inf\n", "not a finite number"),
    ],
)
def test_values_that_are_no_measurement_are_named_never_used(text, problem):
    app = app_metrics(parse_metrics(text), "m")
    assert any(problem in p for p in app.problems), app.problems
    assert app.duration is None or app.duration.count >= 0


def test_a_window_is_the_difference_of_two_readings_of_one_instance():
    before = app_metrics(parse_metrics(exposition({"neo_analysis": [1.5] * 4}, 2, 5)), "a")
    after = app_metrics(
        parse_metrics(exposition({"neo_analysis": [1.5] * 4 + [0.7] * 6}, 9, 11)), "b"
    )
    window = after.minus(before)
    assert window.window and window.problems == ()
    assert window.duration.count == 6 and window.duration.quantile(0.5) == pytest.approx(0.75)
    assert (window.cache_hits, window.cache_misses) == (7, 6)
    restarted = before.minus(after)
    assert any("restarted" in p for p in restarted.problems)
    assert restarted.cache_hits is None


def test_counters_are_summed_over_label_sets_and_kept_as_read():
    samples = parse_metrics(
        'llm_cost_usd_total{agent="anima",model="gpt-4o-mini"} 0.5\n'
        'llm_cost_usd_total{agent="nexus",model="claude"} 0.25\n'
        "bad_total -4\n"
    )
    assert counter_total(samples, "llm_cost_usd") == pytest.approx(0.75)
    assert counter_total(samples, "bad_total") == -4  # the caller flags it
    assert counter_total(samples, "absent") is None
    with pytest.raises(MetricsError):
        parse_metrics("<html>502</html> {")


def test_app_metrics_are_frozen_values():
    app = AppMetrics("m")
    with pytest.raises(AttributeError):
        app.source = "x"  # type: ignore[misc]
