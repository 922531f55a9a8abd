"""The API cost from the app's cost lines, per unit of work, against a baseline (issue 15)."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest

from infra.rules.phase2 import (
    FAIL,
    NO_DATA,
    PASS,
    CostLines,
    Phase2Accumulator,
    Phase2Targets,
)
from infra.rules.phase2_render import to_json, to_markdown, to_text
from tests.rules.test_phase2 import SERVICE, T0, entry, start

PREFIX = "2025-10-09 08:00:00,000 INFO [backend.core.cost_tracker] "


def cost(t, amount: str, agent="anima", model="gpt-4o-mini", **kw):
    """A cost line as the real app logs it: plain text with its logging prefix (textPayload)."""
    line = f"Coût de {amount} pour '{agent}' ('{model}') enregistré."
    return entry(t, text=PREFIX + line, **kw)


def tagged_start(t, sid):
    return entry(t, f"[MemoryAnalyzer] Analyse démarrée pour session {sid}")


def accumulate(entries, **kw) -> Phase2Accumulator:
    return Phase2Accumulator(SERVICE, **kw).add_all(entries)


def figure(report):
    return next(f for f in report.figures if f.key == "api_cost_ratio")


def test_cost_lines_are_summed_exactly_by_agent_and_model():
    acc = accumulate(
        [
            cost(1, "0.000210", "neo_analysis"),  # 'neo_analysis' holds "nalys": still a cost
            cost(2, "0.000210", "neo_analysis"),
            cost(3, "0.000210", "neo_analysis"),
            cost(4, "0.001195", "nexus", "claude-3-5-haiku-20241022"),
            cost(None, "0.100000", "anima"),  # undated: it still cost money
            cost(5, "0.000000", "anima"),
            entry(6, "Coût de 0.5 pour 'anima' ('gpt-4o') enregistré."),  # jsonPayload.message
        ]
    )
    lines = acc.cost_lines()
    assert lines.by_agent_model == (
        ("anima", "gpt-4o", 1, Decimal("0.5")),
        ("anima", "gpt-4o-mini", 2, Decimal("0.100000")),
        ("neo_analysis", "gpt-4o-mini", 3, Decimal("0.000630")),
        ("nexus", "claude-3-5-haiku-20241022", 1, Decimal("0.001195")),
    )
    assert lines.calls == 7
    assert lines.total == Decimal("0.601825")
    assert acc.counts.recognised == 7 and acc.counts.undated == 1


def test_lines_that_only_look_like_cost_lines_are_not_summed():
    acc = accumulate(
        [
            cost(1, "-0.000100"),  # below zero: no cost
            entry(2, text=PREFIX + "Coût de " + "9" * 5000 + " pour 'a' ('m') enregistré."),
            entry(3, text=PREFIX + "Erreur lors de l'enregistrement du coût pour gpt-4o: boom"),
            entry(4, "[ChatService] Réponse générée par neo en 12 ms — coût estimé 0,0012 $"),
        ]
    )
    assert acc.cost_lines().calls == 0
    assert acc.counts.bad_cost_line == 1
    assert acc.cost_lines().unreadable == 1


def test_analyses_requested_are_the_start_lines_of_either_form():
    acc = accumulate([start(1, "a"), start(2, "a"), tagged_start(3, "b"), start(None, "c")])
    assert acc.cost_lines().analyses_requested == 4


def test_the_window_applies_to_cost_lines():
    since, until = T0.timestamp() + 10, T0.timestamp() + 20
    acc = accumulate(
        [cost(5, "1.0"), cost(10, "2.0"), cost(19, "4.0"), cost(20, "8.0")],
        since=since,
        until=until,
    )
    assert acc.cost_lines().total == Decimal("6.0")


def week(analyses: int, costs: list[str], t0: float = 0.0) -> CostLines:
    entries = [start(t0 + i, f"s{i}") for i in range(analyses)]
    entries += [cost(t0 + i, amount) for i, amount in enumerate(costs)]
    return accumulate(entries).cost_lines()


def test_a_quieter_week_does_not_pass_as_a_saving():
    baseline = week(10, ["0.10"] * 10)  # $1.00 for 10 analyses: $0.10 each
    acc = accumulate(
        [start(i, f"s{i}") for i in range(5)] + [cost(i, "0.12") for i in range(5)]
    )  # $0.60 for 5 analyses: 60 % of the total, but $0.12 each
    report = acc.report(Phase2Targets(), baseline=baseline)
    f = figure(report)
    assert f.verdict == FAIL
    assert f.value == pytest.approx(1.2)
    assert "per analysis requested" in f.target and "per analysis requested" in f.shown
    calls = acc.report(Phase2Targets(), baseline=baseline, per="call")
    assert figure(calls).value == pytest.approx(1.2)  # $0.12 a call against $0.10


def test_a_real_saving_passes_and_the_ratio_is_against_the_target():
    baseline = week(10, ["0.10"] * 10)
    acc = accumulate([start(i, f"s{i}") for i in range(20)] + [cost(i, "0.15") for i in range(10)])
    report = acc.report(Phase2Targets(), baseline=baseline)  # $1.50 / 20 = $0.075 each
    assert (figure(report).verdict, figure(report).value) == (PASS, pytest.approx(0.75))
    strict = acc.report(Phase2Targets(cost_ratio_max=0.7), baseline=baseline)
    assert figure(strict).verdict == FAIL
    per_call = acc.report(Phase2Targets(), baseline=baseline, per="call")
    assert figure(per_call).verdict == FAIL  # $0.15 a call against $0.10: dearer calls


@pytest.mark.parametrize(
    ("window", "baseline", "per", "reason"),
    [
        ([], week(1, ["1"]), "analysis", "no cost line"),
        ([cost(1, "1")], week(1, ["1"]), "analysis", "no analysis requested in the window"),
        ([cost(1, "1"), start(1, "s")], None, "analysis", "no baseline"),
        ([cost(1, "1"), start(1, "s")], week(3, []), "analysis", "baseline holds no cost line"),
        ([cost(1, "1"), start(1, "s")], week(0, ["1"]), "analysis", "no analysis requested in"),
        ([cost(1, "1")], week(0, ["0.000000"]), "call", "baseline cost is 0"),
    ],
)
def test_each_missing_piece_is_no_data_with_its_reason(window, baseline, per, reason):
    report = accumulate(window).report(Phase2Targets(), baseline=baseline, per=per)
    assert figure(report).verdict == NO_DATA
    assert reason in figure(report).detail


def test_the_report_prints_both_totals_both_rates_and_the_ratio():
    baseline = week(10, ["0.10"] * 9 + ["0.05"], t0=-86400)
    acc = accumulate(
        [start(i, f"s{i}") for i in range(12)]
        + [cost(i, "0.05") for i in range(8)]
        + [cost(i, "0.01", "nexus", "claude-3-5-haiku-20241022") for i in range(3)]
    )
    report = acc.report(Phase2Targets(), baseline=baseline, baseline_source="before.json")
    text = to_text(report)
    assert "chat replies and debate turns" in text and "record no cost" in text
    for needle in (
        "$0.430000",  # window total
        "$0.950000",  # baseline total
        "$0.035833",  # per analysis requested, window: 0.43 / 12
        "$0.095000",  # baseline: 0.95 / 10
        "ratio: 38% of the baseline per analysis requested (target <= 80%)",
        "baseline: before.json",
        "claude-3-5-haiku-20241022",
    ):
        assert needle in text, needle
    page = to_markdown(report)
    assert "| per analysis requested | $0.035833 | $0.095000 |" in page
    data = json.loads(to_json(report))["cost"]
    assert data["per"] == "analysis requested" and data["ratio"] == pytest.approx(0.377193)
    assert data["window"]["total_usd"] == pytest.approx(0.43)
    assert data["baseline"]["analyses_requested"] == 10
    assert figure(report).verdict == PASS
