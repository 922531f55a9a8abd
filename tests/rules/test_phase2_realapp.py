"""The Phase 2 report on exports in the real emergence-app's format, against the simulation's truth.

`tests/data/generate_realapp_logs.py` writes them (textPayload lines with the app's logging
prefix, cost lines, only `debate_start` for debates) with `<name>.truth.json` and the app's own
metrics `<name>.metrics.txt`. Expected figures are computed here from the truth with the
standard library, never by the code under test.
"""

from __future__ import annotations

import json
import math
import random
import statistics
from decimal import Decimal
from pathlib import Path

import pytest

from infra.cli.logfile import iter_entries
from infra.rules.phase2 import FAIL, NO_DATA, PASS, Phase2Accumulator, Phase2Targets
from infra.rules.phase2_metrics import app_metrics, parse_metrics
from tests.conftest import PROJECT_ROOT
from tests.data import generate_realapp_logs as generator

DATA = PROJECT_ROOT / "tests" / "data" / "phase2"
AFTER, BEFORE = DATA / "realapp-after.json", DATA / "realapp-before.json"
TOLERANCE = 2e-6


def truth_of(path: Path) -> dict:
    return json.loads(path.with_name(path.stem + ".truth.json").read_text(encoding="utf-8"))


def accumulate(path: Path) -> Phase2Accumulator:
    with path.open("rb") as stream:
        return Phase2Accumulator("emergence-app").add_all(iter_entries(stream))


def quantiles(values: list[float]) -> tuple[float, float]:
    if len(values) == 1:
        return values[0], values[0]
    cuts = statistics.quantiles(values, n=100, method="inclusive")
    return cuts[49], cuts[94]


def per_analysis(truth: dict) -> float:
    micro = sum(c["micro_usd"] for c in truth["costs"].values())
    return micro / 1e6 / truth["analyses"]["requested"]


@pytest.fixture(scope="module")
def after():
    return accumulate(AFTER), truth_of(AFTER)


@pytest.fixture(scope="module")
def before():
    return accumulate(BEFORE), truth_of(BEFORE)


def test_the_exports_have_the_real_apps_shape():
    for path in (AFTER, BEFORE):
        assert path.stat().st_size < 3_000_000, f"{path.name} is too large to commit"
        entries = json.loads(path.read_text(encoding="utf-8"))
        app = [e for e in entries if e["logName"].endswith(("%2Fstderr", "%2Fstdout"))]
        assert app and all("textPayload" in e and "severity" not in e for e in app)
        assert not any("jsonPayload" in e for e in entries)
        requests = [e for e in entries if e["logName"].endswith("%2Frequests")]
        assert requests and all("httpRequest" in e and "severity" in e for e in requests)
        texts = [e["textPayload"] for e in app]
        assert any("INFO [backend.core.cost_tracker] Coût de " in t for t in texts)
        assert any(
            'INFO [backend.features.debate.service] {"event": "debate_start"' in t for t in texts
        )
        assert not any("durée" in t or "debate_agent_" in t or "debate_end" in t for t in texts)
        assert not any("pour 'neo_analysis'" in t for t in texts)  # the app records no such cost
    after = json.loads(AFTER.read_text(encoding="utf-8"))
    assert after[0]["timestamp"] < after[-1]["timestamp"]  # console download: oldest first
    assert list(after[0]) == [
        "textPayload",
        "insertId",
        "resource",
        "timestamp",
        "labels",
        "logName",
        "receiveTimestamp",
    ]


@pytest.mark.parametrize("which", ["after", "before"])
def test_counts_cache_and_latency_match_the_simulation(which, request):
    acc, truth = request.getfixturevalue(which)
    report = acc.report(Phase2Targets())
    counts, expected = report.counts, truth["entries"]
    assert counts.read == expected["read"] and counts.malformed == 0
    assert counts.other_service == expected["other_service"]
    assert counts.other_resource == expected["other_resource"]
    assert counts.recognised == expected["recognised"]
    assert (report.cache_hits, report.cache_saved) == (
        truth["cache"]["hits"],
        truth["cache"]["saved"],
    )
    latencies = sorted(a["latency"] for a in truth["analyses"]["measurable"])
    p50, p95 = quantiles(latencies)
    summary = report.analyses
    assert summary.count == len(latencies)
    assert summary.p50 == pytest.approx(p50, abs=TOLERANCE)
    assert summary.p95 == pytest.approx(p95, abs=TOLERANCE)
    assert summary.max == pytest.approx(latencies[-1], abs=TOLERANCE)
    assert summary.succeeded == truth["analyses"]["succeeded"]
    assert summary.failed == truth["analyses"]["failed"]
    assert acc.analyses_requested == truth["analyses"]["requested"]
    figures = {f.key: f for f in report.figures}
    assert figures["analysis_latency_p95"].verdict == (PASS if p95 <= 2.0 else FAIL)
    if truth["cache"]["hits"] + truth["cache"]["saved"]:
        rate = truth["cache"]["hits"] / (truth["cache"]["hits"] + truth["cache"]["saved"])
        assert figures["cache_hit_rate"].value == pytest.approx(rate)
    else:
        assert figures["cache_hit_rate"].verdict == NO_DATA  # before Phase 2: no cache at all


@pytest.mark.parametrize("which", ["after", "before"])
def test_cost_lines_sum_to_the_simulations_micro_dollars(which, request):
    acc, truth = request.getfixturevalue(which)
    lines = acc.cost_lines()
    got = {f"{a}|{m}": (calls, usd) for a, m, calls, usd in lines.by_agent_model}
    assert got == {
        key: (c["calls"], Decimal(c["micro_usd"]) / 1_000_000) for key, c in truth["costs"].items()
    }


def test_the_cost_ratio_against_the_baseline_is_per_analysis_requested(after, before):
    (acc, truth), (base, base_truth) = after, before
    report = acc.report(Phase2Targets(), baseline=base.cost_lines(), baseline_source="before")
    figure = next(f for f in report.figures if f.key == "api_cost_ratio")
    expected = per_analysis(truth) / per_analysis(base_truth)
    assert figure.value == pytest.approx(expected, rel=1e-12)
    assert figure.verdict == (PASS if expected <= 0.8 else FAIL)
    calls = acc.report(Phase2Targets(), baseline=base.cost_lines(), per="call")
    per_call = [
        sum(c["micro_usd"] for c in t["costs"].values())
        / sum(c["calls"] for c in t["costs"].values())
        for t in (truth, base_truth)
    ]
    assert next(f for f in calls.figures if f.key == "api_cost_ratio").value == pytest.approx(
        per_call[0] / per_call[1], rel=1e-12
    )


def test_a_quieter_week_at_the_same_prices_fails_although_its_total_is_lower(tmp_path, before):
    base, base_truth = before
    quiet = generator.Scenario(
        **{**generator.SCENARIOS["realapp-before"].__dict__, "name": "quiet", "seed": 7,
           "sessions_per_block": 4, "debates_per_block": 0.4}
    )  # fmt: skip
    path = tmp_path / "quiet.json"
    truth = generator.write(quiet, path).to_dict(quiet)
    total = sum(c["micro_usd"] for c in truth["costs"].values())
    base_total = sum(c["micro_usd"] for c in base_truth["costs"].values())
    assert total / base_total < 0.8  # a comparison of totals would call this a saving
    expected = per_analysis(truth) / per_analysis(base_truth)
    assert expected > 0.8
    report = accumulate(path).report(Phase2Targets(), baseline=base.cost_lines())
    figure = next(f for f in report.figures if f.key == "api_cost_ratio")
    assert (figure.verdict, figure.value) == (FAIL, pytest.approx(expected, rel=1e-12))


def test_every_debate_figure_is_no_data_saying_which_lines_are_missing(after):
    acc, truth = after
    report = acc.report(Phase2Targets())
    assert len(report.debates) == truth["debates_started"] > 0
    figures = {f.key: f for f in report.figures}
    started = f"{truth['debates_started']} debate_start lines"
    for key in ("debate_round1_p50", "debate_round1_overlap"):
        assert figures[key].verdict == NO_DATA
        assert started in figures[key].detail and "debate_agent_start" in figures[key].detail
    assert figures["debate_total_p50"].verdict == NO_DATA
    assert "no debate_end" in figures["debate_total_p50"].detail


def test_the_apps_own_histogram_and_counters_match_the_simulation(after):
    _acc, truth = after
    text = AFTER.with_name("realapp-after.metrics.txt").read_text(encoding="utf-8")
    app = app_metrics(parse_metrics(text), "metrics.txt")
    assert app.problems == ()
    calls = truth["llm_calls"]
    assert {k: v.count for k, v in app.durations.items()} == {k: len(v) for k, v in calls.items()}
    assert (app.cache_hits, app.cache_misses) == (truth["cache"]["hits"], truth["cache"]["misses"])
    everything = sorted(v for values in calls.values() for v in values)
    assert app.duration.total == pytest.approx(math.fsum(everything))
    edges = (0.0, *generator.APP_BUCKETS, math.inf)
    for q in (0.5, 0.95):
        true = everything[math.ceil(q * len(everything)) - 1]
        upper = next(i for i, edge in enumerate(edges) if i and true <= edge)
        assert edges[upper - 1] <= app.duration.quantile(q) <= edges[upper]


def test_the_order_of_the_entries_does_not_matter(after):
    acc, _truth = after
    entries = json.loads(AFTER.read_text(encoding="utf-8"))
    random.Random(11).shuffle(entries)
    shuffled = Phase2Accumulator("emergence-app").add_all(entries)
    assert shuffled.report(Phase2Targets()).to_dict() == acc.report(Phase2Targets()).to_dict()


def test_the_generator_reproduces_the_committed_exports(tmp_path):
    for name, path in generator.committed_files().items():
        fresh = tmp_path / path.name
        generator.write(generator.SCENARIOS[name], fresh)
        for suffix in (".json", ".truth.json", ".metrics.txt"):
            new, old = tmp_path / (name + suffix), DATA / (name + suffix)
            assert new.read_bytes() == old.read_bytes(), f"regenerate {old.name}"
