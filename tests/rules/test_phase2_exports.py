"""The Phase 2 report on the generated exports, checked against the simulation's own truth.

The expected figures are computed here from `<export>.truth.json` (what the generator knows
happened: each analysis's true latency, each debate's true spans) with the standard library's
`statistics.quantiles`, never by calling the code under test.
"""

from __future__ import annotations

import itertools
import json
import random
import statistics
from collections import defaultdict
from pathlib import Path

import pytest

from infra.cli.logfile import iter_entries
from infra.rules.phase2 import FAIL, NO_DATA, PASS, Phase2Accumulator, Phase2Targets
from tests.conftest import PROJECT_ROOT
from tests.data import generate_phase2_logs as generator

DATA = PROJECT_ROOT / "tests" / "data" / "phase2"
EXPORTS = {"after-gcloud": DATA / "after-gcloud.json", "before": DATA / "before.jsonl"}
TOLERANCE = 2e-6  # seconds: timestamps are epoch floats, exact to a fraction of a microsecond


def truth_of(name: str) -> dict:
    return json.loads((DATA / f"{name}.truth.json").read_text(encoding="utf-8"))


def report_of(path: Path, targets: Phase2Targets | None = None):
    accumulator = Phase2Accumulator("emergence-app")
    with path.open("rb") as stream:
        accumulator.add_all(iter_entries(stream))
    return accumulator.report(targets or Phase2Targets())


def quantiles(values: list[float]) -> tuple[float, float]:
    """(p50, p95) by linear interpolation ("inclusive"), as numpy and the report define them."""
    if len(values) == 1:
        return values[0], values[0]
    cuts = statistics.quantiles(values, n=100, method="inclusive")
    return cuts[49], cuts[94]


@pytest.fixture(scope="module", params=sorted(EXPORTS))
def case(request):
    name = request.param
    return name, truth_of(name), report_of(EXPORTS[name])


def test_the_exports_are_realistic_and_small():
    total = 0
    for name, path in EXPORTS.items():
        truth = truth_of(name)
        assert path.stat().st_size < 3_000_000, f"{path.name} is too large to commit"
        total += truth["entries"]["read"]
        text = path.read_text(encoding="utf-8")
        for needle in ("réussie", "sémantique", "Débat", "éthique", "emergence-app-staging"):
            assert needle in text, (name, needle)
    assert total >= 4000
    # The gcloud layout is newest first with local disorder, as `gcloud logging read` prints.
    stamps = [e.get("timestamp") for e in json.loads(EXPORTS["after-gcloud"].read_text())]
    stamps = [s for s in stamps if s]
    assert stamps[0] > stamps[-1]
    assert any(a < b for a, b in itertools.pairwise(stamps))


def test_entry_counts_match_the_simulation(case):
    name, truth, report = case
    expected = truth["entries"]
    counts = report.counts
    assert counts.read == expected["read"]
    assert counts.malformed == expected["malformed"]
    assert counts.other_service == expected["other_service"]
    assert counts.other_resource == expected["other_resource"]
    assert counts.without_message == expected["without_message"]
    assert counts.recognised == expected["recognised"]
    assert counts.bad_debate_event == 0
    if name == "before":
        assert counts.malformed > 0  # the JSON lines export carries corrupt lines


def test_cache_hit_rate_matches_the_simulation(case):
    _, truth, report = case
    hits, saved = truth["cache"]["hits"], truth["cache"]["saved"]
    assert (report.cache_hits, report.cache_saved) == (hits, saved)
    figure = next(f for f in report.figures if f.key == "cache_hit_rate")
    assert figure.value == pytest.approx(hits / (hits + saved))
    assert figure.verdict == (PASS if hits / (hits + saved) >= 0.40 else FAIL)


def test_analysis_latency_matches_the_simulation(case):
    _, truth, report = case
    measurable = truth["analyses"]["measurable"]
    latencies = sorted(a["latency"] for a in measurable)
    p50, p95 = quantiles(latencies)
    summary = report.analyses
    assert summary.count == len(latencies)
    assert summary.p50 == pytest.approx(p50, abs=TOLERANCE)
    assert summary.p95 == pytest.approx(p95, abs=TOLERANCE)
    assert summary.max == pytest.approx(latencies[-1], abs=TOLERANCE)
    assert summary.succeeded == truth["analyses"]["succeeded"]
    assert summary.failed == truth["analyses"]["failed"]
    figure = next(f for f in report.figures if f.key == "analysis_latency_p95")
    assert figure.verdict == (PASS if p95 <= 2.0 else FAIL)


def test_latency_per_session_matches_the_simulation(case):
    _, truth, report = case
    by_session: dict[str, list[float]] = defaultdict(list)
    for analysis in truth["analyses"]["measurable"]:
        by_session[analysis["session"]].append(analysis["latency"])
    rows = {row.session: row for row in report.analyses.sessions}
    assert set(rows) == set(by_session)
    for session, values in by_session.items():
        values.sort()
        p50, p95 = quantiles(values)
        row = rows[session]
        assert row.count == len(values), session
        assert row.p50 == pytest.approx(p50, abs=TOLERANCE), session
        assert row.p95 == pytest.approx(p95, abs=TOLERANCE), session
        assert row.max == pytest.approx(values[-1], abs=TOLERANCE), session
    # Listed slowest first.
    p95s = [row.p95 for row in report.analyses.sessions]
    assert p95s == sorted(p95s, reverse=True)


def test_debates_match_the_simulation(case):
    name, truth, report = case
    rows = {row.debate_id: row for row in report.debates}
    assert set(rows) == {d["debate_id"] for d in truth["debates"]}
    for debate in truth["debates"]:
        row = rows[debate["debate_id"]]
        assert row.round1_seconds == pytest.approx(debate["round1"], abs=TOLERANCE)
        assert row.overlap is debate["overlap"]
        if debate["total"] is None:
            assert row.total_seconds is None
        else:
            assert row.total_seconds == pytest.approx(debate["total"], abs=TOLERANCE)
    round1 = sorted(d["round1"] for d in truth["debates"])
    totals = sorted(d["total"] for d in truth["debates"] if d["total"] is not None)
    figures = {f.key: f for f in report.figures}
    assert figures["debate_round1_p50"].value == pytest.approx(quantiles(round1)[0], abs=1e-5)
    assert figures["debate_total_p50"].value == pytest.approx(quantiles(totals)[0], abs=1e-5)
    overlapped = all(d["overlap"] for d in truth["debates"])
    assert figures["debate_round1_overlap"].verdict == (PASS if overlapped else FAIL)
    if name == "before":
        assert figures["debate_round1_overlap"].verdict == FAIL
        assert "sequential" in figures["debate_round1_overlap"].detail


def test_verdicts_after_and_before_phase_2():
    after = report_of(EXPORTS["after-gcloud"])
    before = report_of(EXPORTS["before"])
    assert {f.key: f.verdict for f in after.figures} == {
        "cache_hit_rate": PASS,
        "analysis_latency_p95": PASS,
        "debate_round1_p50": PASS,
        "debate_round1_overlap": PASS,
        "debate_total_p50": PASS,
        "api_cost_ratio": NO_DATA,
    }
    assert after.verdict == "incomplete"
    assert before.verdict == FAIL
    assert all(f.verdict == FAIL for f in before.figures if f.key != "api_cost_ratio")


def test_targets_from_settings_change_the_verdicts():
    lenient = Phase2Targets(analysis_p95_max_seconds=10.0, debate_total_p50_max_seconds=20.0)
    report = report_of(EXPORTS["before"], lenient)
    verdicts = {f.key: f.verdict for f in report.figures}
    assert verdicts["analysis_latency_p95"] == PASS
    assert verdicts["debate_total_p50"] == PASS
    assert verdicts["cache_hit_rate"] == FAIL


def test_the_report_does_not_depend_on_entry_order(tmp_path):
    with EXPORTS["after-gcloud"].open("rb") as stream:
        entries = list(iter_entries(stream))
    random.Random(7).shuffle(entries)
    shuffled = Phase2Accumulator("emergence-app").add_all(entries).report(Phase2Targets())
    original = report_of(EXPORTS["after-gcloud"])
    assert shuffled.to_dict() == original.to_dict()


def test_the_same_entries_as_json_lines_give_the_same_report(tmp_path):
    entries = json.loads(EXPORTS["after-gcloud"].read_text(encoding="utf-8"))
    lines = tmp_path / "after.jsonl"
    lines.write_text(
        "".join(json.dumps(e, ensure_ascii=False) + "\n" for e in entries), encoding="utf-8"
    )
    assert report_of(lines).to_dict() == report_of(EXPORTS["after-gcloud"]).to_dict()


def test_the_generator_reproduces_the_committed_exports(tmp_path):
    for name, path in EXPORTS.items():
        fresh = tmp_path / path.name
        generator.write(generator.SCENARIOS[name], fresh)
        assert fresh.read_bytes() == path.read_bytes(), f"regenerate {path.name}"
        truth = tmp_path / f"{name}.truth.json"
        assert truth.read_bytes() == (DATA / f"{name}.truth.json").read_bytes()
