"""The Phase 2 decisions on hand-built entries: each rule, each edge."""

from __future__ import annotations

import json
import random
import statistics
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from infra.rules.phase2 import (
    FAIL,
    NO_DATA,
    PASS,
    PHASE2_MESSAGE_REGEX,
    CostReading,
    MalformedEntry,
    MetricsError,
    Phase2Accumulator,
    Phase2Targets,
    logging_filter,
    parse_prometheus_counter,
    parse_timestamp,
    percentile,
)
from infra.rules.phase2_render import to_json, to_markdown, to_text

T0 = datetime(2025, 10, 9, 8, 0, tzinfo=UTC)
SERVICE = "emergence-app"


def stamp(seconds: float) -> str:
    return (T0 + timedelta(seconds=seconds)).isoformat().replace("+00:00", "Z")


def entry(seconds: float | None, message=None, *, service=SERVICE, payload=None, text=None):
    e: dict = {
        "resource": {"type": "cloud_run_revision", "labels": {"service_name": service}},
        "logName": "projects/emergence-469005/logs/run.googleapis.com%2Fstdout",
    }
    if seconds is not None:
        e["timestamp"] = stamp(seconds)
    if text is not None:
        e["textPayload"] = text
    elif payload is not None or message is not None:
        e["jsonPayload"] = dict(payload or {})
        if message is not None:
            e["jsonPayload"]["message"] = message
    return e


def start(t, sid="s1"):
    return entry(t, f"Lancement de l'analyse sémantique (persist=True | offline=False) pour {sid}")


def success(t, sid="s1", extra=""):
    return entry(t, f"[MemoryAnalyzer] Analyse réussie avec neo_analysis pour session {sid}{extra}")


def hit(t, sid="s1"):
    return entry(t, f"[MemoryAnalyzer] Cache HIT pour session {sid} (hash=abc12345)")


def saved(t, sid="s1"):
    return entry(t, f"[MemoryAnalyzer] Cache SAVED pour session {sid} (key=memory_analysis:x)")


def debate(t, event, did="debate_1", **fields):
    return entry(t, json.dumps({"event": event, "debate_id": did, **fields}, ensure_ascii=False))


def run(entries, targets=None, cost=None, **kw):
    acc = Phase2Accumulator(SERVICE, **kw)
    acc.add_all(entries)
    return acc.report(targets or Phase2Targets(), cost)


def figure(report, key):
    return next(f for f in report.figures if f.key == key)


# --- what counts ------------------------------------------------------------------------------


def test_only_the_services_cloud_run_entries_count():
    report = run(
        [
            hit(1),
            hit(2, "s2"),
            saved(3),
            entry(4, "[MemoryAnalyzer] Cache HIT pour session x", service="emergence-app-staging"),
            {**hit(5), "resource": {"type": "cloud_run_job", "labels": {"job_name": "x"}}},
            {**hit(6), "resource": {"type": "cloud_run_revision"}},  # no service label
            {k: v for k, v in hit(7).items() if k != "resource"},
        ]
    )
    assert (report.cache_hits, report.cache_saved) == (2, 1)
    assert report.counts.other_service == 2
    assert report.counts.other_resource == 2
    assert report.counts.recognised == 3
    assert figure(report, "cache_hit_rate").value == pytest.approx(2 / 3)


def test_malformed_and_odd_entries_are_counted_never_fatal():
    report = run(
        [
            MalformedEntry("invalid JSON: Expecting value", 10),
            None,
            "une chaîne",
            [1, 2],
            42,
            {"resource": "cloud_run_revision"},
            {"resource": {"type": "cloud_run_revision", "labels": ["emergence-app"]}},
            {"resource": {"type": "cloud_run_revision", "labels": {"service_name": SERVICE}}},
            entry(1, payload={"message": 12}),
            entry(1, payload={"message": None}),
            entry(1, "Connexion WebSocket établie pour la session abc"),
            entry(1, "[MemoryAnalyzer] Cache éviction: 3 entrées supprimées"),
            entry(1, '{"event": "debate_start", "debate_id": '),  # a truncated JSON event
            entry(1, payload={"event": "debate_agent_end", "debate_id": "d", "round": "x"}),
            {**hit(None), "timestamp": "pas une date"},
        ]
    )
    c = report.counts
    assert c.read == 15
    assert c.malformed == 5
    assert c.malformed_reasons == {"invalid JSON: Expecting value": 1, "not a JSON object": 4}
    assert c.other_resource == 1
    assert c.other_service == 1
    assert c.without_message == 3
    assert c.other_message == 2
    assert c.bad_debate_event == 2
    assert c.recognised == 1 and c.undated == 1
    assert report.cache_hits == 1  # an undated HIT still counts for the hit rate


def test_text_payload_lines_are_read_like_json_messages():
    prefix = "INFO:backend.features.memory.analyzer:"
    report = run(
        [
            entry(0, text=prefix + "[MemoryAnalyzer] Analyse démarrée pour session s1"),
            entry(
                1.5,
                text=prefix + "[MemoryAnalyzer] Analyse réussie avec neo_analysis pour session s1",
            ),
            entry(2, text=prefix + "[MemoryAnalyzer] Cache SAVED pour session s1"),
        ]
    )
    assert report.analyses.count == 1
    assert report.analyses.p50 == pytest.approx(1.5)
    assert report.cache_saved == 1


def test_the_window_excludes_entries_outside_it():
    since = T0.timestamp() + 10
    until = T0.timestamp() + 20
    report = run([hit(5), hit(10), hit(15), hit(20), hit(25), hit(None)], since=since, until=until)
    assert report.cache_hits == 3  # 10, 15 and the undated one (it cannot be placed)
    assert report.counts.outside_window == 3


def test_receive_timestamp_stands_in_for_a_missing_timestamp():
    late_start = start(None)
    late_start["receiveTimestamp"] = stamp(1.0)
    report = run([late_start, success(2.5)])
    assert report.analyses.p50 == pytest.approx(1.5)


def test_timestamps_with_nanoseconds_and_offsets():
    assert parse_timestamp("2025-10-09T08:00:00.123456789Z") == pytest.approx(
        T0.timestamp() + 0.123456
    )
    assert parse_timestamp("2025-10-09T10:00:00+02:00") == T0.timestamp()
    assert parse_timestamp("2025-10-09T08:00:00") == T0.timestamp()  # naive: UTC
    assert parse_timestamp("hier") is None
    assert parse_timestamp(None) is None


# --- analysis latency -------------------------------------------------------------------------


def test_latency_is_start_to_success_per_session():
    report = run(
        [
            start(0, "a"),
            start(0.5, "b"),
            success(1.25, "a"),
            success(4.5, "b"),
            start(300, "a"),
            success(302, "a"),
        ]
    )
    sessions = {s.session: s for s in report.analyses.sessions}
    assert sessions["a"].count == 2
    assert sessions["a"].max == pytest.approx(2.0)
    assert sessions["a"].p50 == pytest.approx(1.625)
    assert sessions["b"].p95 == pytest.approx(4.0)
    assert report.analyses.count == 3
    assert report.analyses.max == pytest.approx(4.0)
    assert report.analyses.sessions[0].session == "b"  # slowest first


def test_concurrent_analyses_of_a_session_pair_first_in_first_out():
    report = run([start(0), start(1), success(2), success(5)])
    assert report.analyses.count == 2
    assert report.analyses.p50 == pytest.approx(3.0)  # 0->2 and 1->5: 2 s and 4 s
    assert report.analyses.max == pytest.approx(4.0)


def test_cache_hit_failure_and_early_ends_close_a_start_without_a_sample():
    report = run(
        [
            start(0),
            hit(0.001),
            start(300),
            entry(345, "[MemoryAnalyzer] Tous fallbacks échoués pour session s1: Timeout"),
            start(600),
            entry(600.1, "Session s1 déjà analysée — skip."),
            start(900),
            entry(900.1, "Historique vide pour s1. Analyse annulée."),
            start(1200),
            entry(1200.2, "Analyse sémantique terminée (persist=True, provider=offline) pour s1."),
            start(1500),
            success(1501),
            entry(
                1501.1, "Analyse sémantique terminée (persist=True, provider=neo_analysis) pour s1."
            ),
        ]
    )
    a = report.analyses
    assert a.count == 1 and a.max == pytest.approx(1.0)
    assert a.served_from_cache == 1
    assert a.failed == 1
    assert a.ended_without_result == 3
    assert a.abandoned == 0 and a.unmatched_success == 0


def test_a_start_left_pending_too_long_is_abandoned_not_paired():
    # The success line of the first analysis was lost; 10 minutes later another one runs.
    report = run([start(0), start(600), success(601.5)])
    assert report.analyses.count == 1
    assert report.analyses.max == pytest.approx(1.5)
    assert report.analyses.abandoned == 1


def test_a_success_without_start_uses_the_duration_it_carries():
    report = run(
        [
            success(10, "a", " (durée=1.42s)"),
            success(20, "b", " (duree=850ms)"),
            success(30, "c"),
            start(40, "d"),
            success(41, "d", " (durée=9.99s)"),  # a start exists: timestamps win
        ]
    )
    values = sorted((s.session, s.max) for s in report.analyses.sessions)
    assert values == [
        ("a", pytest.approx(1.42)),
        ("b", pytest.approx(0.85)),
        ("d", pytest.approx(1.0)),
    ]
    assert report.analyses.from_carried_duration == 2
    assert report.analyses.unmatched_success == 1


def test_fallback_successes_count_with_their_provider():
    report = run(
        [
            start(0),
            entry(2, "[MemoryAnalyzer] Analyse neo_analysis échouée (ValueError) pour session s1"),
            entry(4, "[MemoryAnalyzer] Fallback Nexus réussi pour session s1"),
            start(300, "s2"),
            entry(303, "[MemoryAnalyzer] Fallback Anima réussi pour session s2"),
        ]
    )
    assert report.analyses.providers == {"anima": 1, "nexus": 1}
    assert report.analyses.max == pytest.approx(4.0)


# --- debates ----------------------------------------------------------------------------------


def agent(t, event, role, did="debate_1", round_=1, **kw):
    return debate(t, event, did, round=round_, role=role, **kw)


def test_round_one_duration_and_overlap():
    report = run(
        [
            debate(0, "debate_start", agent_order=["neo", "nexus", "anima"], session_id="s"),
            agent(0.05, "debate_agent_start", "attacker", agent="neo"),
            agent(0.06, "debate_agent_start", "challenger", agent="nexus"),
            agent(2.50, "debate_agent_end", "attacker", agent="neo"),
            agent(2.86, "debate_agent_end", "challenger", agent="nexus"),
            agent(3.0, "debate_agent_start", "attacker", round_=2),
            agent(5.0, "debate_agent_end", "attacker", round_=2),
            debate(5.1, "debate_agent_start", phase="synthesis", role="mediator"),
            debate(9.5, "debate_end", status="completed"),
        ]
    )
    (row,) = report.debates
    assert row.round1_seconds == pytest.approx(2.81)
    assert row.overlap is True
    assert row.total_seconds == pytest.approx(9.5)
    assert row.session == "s"
    assert figure(report, "debate_round1_p50").verdict == PASS
    assert figure(report, "debate_total_p50").verdict == PASS
    assert report.counts.recognised == 9


def test_sequential_round_one_is_caught():
    report = run(
        [
            debate(0, "debate_start"),
            agent(0.1, "debate_agent_start", "attacker"),
            agent(2.6, "debate_agent_end", "attacker"),
            agent(2.6, "debate_agent_start", "challenger"),  # starts when the attacker ends
            agent(5.1, "debate_agent_end", "challenger"),
            debate(14.9, "debate_end"),
        ]
    )
    (row,) = report.debates
    assert row.overlap is False
    assert row.round1_seconds == pytest.approx(5.0)
    assert figure(report, "debate_round1_overlap").verdict == FAIL
    assert figure(report, "debate_round1_p50").verdict == FAIL
    assert figure(report, "debate_total_p50").verdict == FAIL  # 14.9 s > 11 s


def test_a_lost_start_line_is_rebuilt_from_duration_ms():
    report = run(
        [
            agent(3.0, "debate_agent_end", "attacker", duration_ms=2900),
            agent(0.2, "debate_agent_start", "challenger"),
            agent(2.0, "debate_agent_end", "challenger"),
        ]
    )
    (row,) = report.debates
    assert row.attacker == (pytest.approx(T0.timestamp() + 0.1), pytest.approx(T0.timestamp() + 3))
    assert row.round1_seconds == pytest.approx(2.9)
    assert row.overlap is True
    assert row.total_seconds is None  # no start/end lines for the debate itself


def test_roles_come_from_agent_order_even_when_debate_start_comes_later():
    report = run(
        [
            debate(0.1, "debate_agent_start", round=1, agent="anima"),
            debate(0.1, "debate_agent_start", round=1, agent="neo"),
            debate(2.0, "debate_agent_end", round=1, agent="anima"),
            debate(2.2, "debate_agent_end", round=1, agent="neo"),
            debate(0, "debate_start", agent_order=["anima", "neo", "nexus"]),
        ]
    )
    (row,) = report.debates
    assert row.overlap is True
    assert row.round1_seconds == pytest.approx(2.1)


def test_structured_payload_events_and_message_events_are_equivalent():
    structured = [
        entry(0, payload={"event": "debate_start", "debate_id": "d"}),
        entry(
            0.1,
            payload={
                "event": "debate_agent_start",
                "debate_id": "d",
                "round": 1,
                "role": "attacker",
            },
        ),
        entry(
            0.1,
            payload={
                "event": "debate_agent_start",
                "debate_id": "d",
                "round": "1",
                "role": "challenger",
            },
        ),
        entry(
            2.1,
            payload={
                "event": "debate_agent_end",
                "debate_id": "d",
                "round": 1,
                "role": "attacker",
                "message": "debate_agent_end",
            },
        ),
        entry(
            2.4,
            payload={
                "event": "debate_agent_end",
                "debate_id": "d",
                "round": 1,
                "role": "challenger",
            },
        ),
        entry(8, payload={"event": "debate_end", "debate_id": "d", "status": "completed"}),
    ]
    in_messages = [
        entry(
            e["timestamp"] and (parse_timestamp(e["timestamp"]) - T0.timestamp()),
            json.dumps(e["jsonPayload"]),
        )
        for e in structured
    ]
    a, b = run(structured), run(in_messages)
    assert a.debates[0].to_dict() == b.debates[0].to_dict()
    assert a.debates[0].round1_seconds == pytest.approx(2.3)


def test_failed_debates_count_for_round_one_not_for_the_total():
    report = run(
        [
            debate(0, "debate_start"),
            agent(0.1, "debate_agent_start", "attacker"),
            agent(0.1, "debate_agent_start", "challenger"),
            agent(2.0, "debate_agent_end", "attacker"),
            agent(2.0, "debate_agent_end", "challenger"),
            debate(2.5, "debate_end", status="failed"),
        ]
    )
    assert report.debates[0].round1_seconds == pytest.approx(1.9)
    assert report.debates[0].total_seconds is None
    assert figure(report, "debate_total_p50").verdict == NO_DATA


def test_the_real_apps_debate_start_without_debate_id_keys_on_the_session():
    message = json.dumps(
        {
            "event": "debate_start",
            "session_id": "sess-42",
            "topic": "IA éthique",
            "rounds": 2,
            "agent_order": ["neo", "nexus", "anima"],
            "use_rag": False,
        },
        ensure_ascii=False,
    )
    report = run([entry(0, message)])
    assert report.debates[0].debate_id == "sess-42"
    assert report.counts.recognised == 1


# --- targets and verdicts ---------------------------------------------------------------------


def test_hit_rate_above_the_expected_band_passes_but_is_flagged():
    report = run([hit(i, f"s{i}") for i in range(7)] + [saved(10, "x"), saved(11, "y")])
    f = figure(report, "cache_hit_rate")
    assert f.verdict == PASS
    assert "above the expected band" in f.detail


def test_hit_rate_below_target_fails():
    report = run([hit(0)] + [saved(i, f"s{i}") for i in range(1, 3)])
    assert figure(report, "cache_hit_rate").verdict == FAIL  # 33 %


def test_no_data_is_not_a_pass():
    report = run([])
    assert {f.verdict for f in report.figures} == {NO_DATA}
    assert report.verdict == NO_DATA


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("cache_hit_rate_min", 0),
        ("cache_hit_rate_min", 1.5),
        ("cost_ratio_max", -0.1),
        ("analysis_p95_max_seconds", 0),
        ("debate_total_p50_max_seconds", -3),
        ("cost_baseline", 0),
    ],
)
def test_bad_targets_are_refused_naming_the_field(field, value):
    with pytest.raises(ValueError, match=field):
        Phase2Targets(**{field: value})


def test_expected_band_must_not_end_below_the_minimum():
    with pytest.raises(ValueError, match="expected_max"):
        Phase2Targets(cache_hit_rate_min=0.6, cache_hit_rate_expected_max=0.5)


# --- cost -------------------------------------------------------------------------------------

METRICS = """# HELP emergence_api_cost_usd_total Cumulated LLM API cost (USD)
# TYPE emergence_api_cost_usd_total counter
emergence_api_cost_usd_total{provider="openai",model="gpt-4o-mini"} 1.25
emergence_api_cost_usd_total{provider="anthropic",model="claude"} 2.5
emergence_api_cost_usd_created{provider="openai",model="gpt-4o-mini"} 1.7e9
# TYPE llm_tokens counter
llm_tokens_total{direction="input"} 1200
llm_tokens_total{direction="output"} 300
"""


def test_a_counter_is_summed_over_its_label_sets():
    assert parse_prometheus_counter(METRICS, "emergence_api_cost_usd_total") == pytest.approx(3.75)
    assert parse_prometheus_counter(METRICS, "llm_tokens") == 1500  # `_total` implied
    assert parse_prometheus_counter(METRICS, "absent_total") is None
    with pytest.raises(MetricsError):
        parse_prometheus_counter("<html>not metrics</html>{", "x")


@pytest.mark.parametrize(
    ("spent", "baseline", "verdict"),
    [(3.0, 4.0, PASS), (3.2, 4.0, PASS), (3.3, 4.0, FAIL), (5.0, 4.0, FAIL)],
)
def test_cost_against_the_baseline(spent, baseline, verdict):
    cost = CostReading("emergence_api_cost_usd_total", spent, "metrics.txt")
    report = run([], Phase2Targets(cost_baseline=baseline), cost)
    f = figure(report, "api_cost_ratio")
    assert f.verdict == verdict
    assert f.value == pytest.approx(spent / baseline)


def test_cost_over_a_window_is_the_difference_of_two_readings():
    cost = CostReading("c", value=10.0, source="end", start_value=7.0)
    report = run([], Phase2Targets(cost_baseline=5.0), cost)
    assert figure(report, "api_cost_ratio").value == pytest.approx(0.6)


def test_cost_without_baseline_or_counter_is_no_data():
    no_baseline = run([], Phase2Targets(), CostReading("c", 3.0, "m"))
    assert figure(no_baseline, "api_cost_ratio").verdict == NO_DATA
    absent = run([], Phase2Targets(cost_baseline=3.0), CostReading("c", None, "m"))
    assert "not found" in figure(absent, "api_cost_ratio").detail


# --- percentiles, order, renderings -----------------------------------------------------------


@given(st.lists(st.floats(0, 1e4, allow_nan=False), min_size=2, max_size=200))
def test_percentiles_match_the_standard_library(values):
    values.sort()
    cuts = statistics.quantiles(values, n=100, method="inclusive")
    assert percentile(values, 50) == pytest.approx(cuts[49], abs=1e-9)
    assert percentile(values, 95) == pytest.approx(cuts[94], abs=1e-9)
    assert values[0] <= percentile(values, 95) <= values[-1]


def test_percentile_of_nothing_and_of_one():
    assert percentile([], 95) is None
    assert percentile([3.0], 95) == 3.0


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.tuples(st.integers(0, 3), st.sampled_from("SEHF"), st.integers(0, 4000)),
        max_size=40,
    ),
    st.randoms(use_true_random=False),
)
def test_the_report_is_the_same_whatever_the_entry_order(events, rnd):
    makers = {
        "S": start,
        "E": success,
        "H": hit,
        "F": lambda t, sid: entry(t, f"[MemoryAnalyzer] Tous fallbacks échoués pour session {sid}"),
    }
    # Distinct times per session, so that the order within a session is well defined.
    seen: set = set()
    entries = []
    for session, kind, tenth in events:
        if (session, tenth) in seen:
            continue
        seen.add((session, tenth))
        entries.append(makers[kind](tenth / 10, f"s{session}"))
    shuffled = entries[:]
    rnd.shuffle(shuffled)
    assert run(entries).to_dict() == run(shuffled).to_dict()


def test_renderings_carry_every_figure_and_verdict():
    cost = CostReading("emergence_api_cost_usd_total", 3.0, "https://x/api/metrics")
    entries = [start(0), success(1.2), hit(400), saved(2)]
    report = run(entries, Phase2Targets(cost_baseline=4.0), cost)
    text, markdown, as_json = to_text(report), to_markdown(report), json.loads(to_json(report))
    for f in report.figures:
        assert f.label in text and f.label in markdown
    assert "| Cache hit rate | 50.0% (1 HIT / 1 SAVED) |" in markdown
    assert markdown.startswith("# Phase 2 results: emergence-app (2025-10-09)")
    assert [f["verdict"] for f in as_json["figures"]] == [f.verdict for f in report.figures]
    assert as_json["cache"] == {"hits": 1, "saved": 1, "hit_rate": 0.5}
    assert as_json["cost"]["spent"] == 3.0
    assert as_json["analysis_latency"]["sessions"][0]["p95_seconds"] == 1.2


def test_markdown_escapes_table_breaking_characters():
    report = run([start(0, "a|b"), success(1, "a|b")])
    assert "`a\\|b`" in to_markdown(report)


# --- the Cloud Logging filter -----------------------------------------------------------------


def test_the_logging_filter_selects_the_services_phase2_lines():
    text = logging_filter("emergence-app", T0.timestamp(), T0.timestamp() + 3600)
    lines = text.splitlines()
    assert lines[0] == 'resource.type="cloud_run_revision"'
    assert lines[1] == 'resource.labels.service_name="emergence-app"'
    assert lines[2] == 'timestamp>="2025-10-09T08:00:00.000Z"'
    assert lines[3] == 'timestamp<"2025-10-09T09:00:00.000Z"'
    assert 'jsonPayload.message=~"MemoryAnalyzer|nalys|debate_|Coût de"' in lines[4]
    assert 'textPayload=~"' in lines[4]
    assert "timestamp" not in logging_filter("x", None, None)
    assert 'service_name="a\\"b"' in logging_filter('a"b', None, None)


def test_every_recognised_line_matches_the_filter_regex():
    """A line the report recognises but the server-side filter drops would vanish silently."""
    import re

    regex = re.compile(PHASE2_MESSAGE_REGEX)
    lines = [
        "Coût de 0.000210 pour 'anima' ('gpt-4o-mini') enregistré.",
        "2025-10-10 02:12:28,973 INFO [backend.core.cost_tracker] Coût de 0.001195 pour 'nexus' "
        "('claude-3-5-haiku-20241022') enregistré.",
        "Lancement de l'analyse sémantique (persist=True | offline=False) pour s",
        "[MemoryAnalyzer] Analyse démarrée pour session s",
        "[MemoryAnalyzer] Cache HIT pour session s (hash=abc12345)",
        "[MemoryAnalyzer] Cache SAVED pour session s",
        "[MemoryAnalyzer] Analyse réussie avec neo_analysis pour session s",
        "[MemoryAnalyzer] Fallback Nexus réussi pour session s",
        "[MemoryAnalyzer] Tous fallbacks échoués pour session s: x",
        "Session s déjà analysée — skip.",
        "Historique vide pour s. Analyse annulée.",
        "Analyse sémantique terminée (persist=True, provider=offline) pour s.",
        json.dumps({"event": "debate_start", "debate_id": "d"}),
    ]
    for line in lines:
        assert regex.search(line), line
        assert run([entry(0, line)]).counts.recognised == 1, line


def test_random_sessions_do_not_leak_between_each_other():
    rng = random.Random(3)
    entries = []
    for i in range(50):
        t = rng.uniform(0, 1000)
        entries += [start(t, f"s{i}"), success(t + 1 + i / 100, f"s{i}")]
    report = run(entries)
    assert {s.session: round(s.max, 6) for s in report.analyses.sessions} == {
        f"s{i}": round(1 + i / 100, 6) for i in range(50)
    }


# --- odd but valid values never stop the report (issue 16) ------------------------------------


@pytest.mark.parametrize(
    "when", ["0001-01-01T00:00:00+14:00", "9999-12-31T23:59:59-14:00", "0001-01-01T00:00:00Z"]
)
def test_timestamps_at_the_ends_of_the_calendar_are_read_or_set_aside(when):
    odd = {**hit(None), "timestamp": when}
    report = run([odd, saved(1)])
    assert report.cache_hits == 1
    for render in (to_text, to_markdown, to_json):
        assert "Cache hit rate" in render(report)
    if when.endswith("Z"):
        assert report.first_seen == parse_timestamp(when)  # 0001-01-01 UTC is a real instant
    else:
        assert report.counts.undated == 1  # its UTC instant is outside years 1-9999


def test_a_window_is_never_a_time_outside_the_calendar():
    report = run([hit(0)], since=-1e300, until=1e300)
    assert "Window" in to_text(report) and json.loads(to_json(report))["window"]["since"] is None


@pytest.mark.parametrize("bad", [float("inf"), float("-inf"), float("nan"), 1e300, -5, True])
def test_a_duration_ms_that_is_no_duration_is_ignored(bad):
    report = run(
        [
            agent(3.0, "debate_agent_end", "attacker", duration_ms=bad),
            agent(0.2, "debate_agent_start", "challenger"),
            agent(2.0, "debate_agent_end", "challenger"),
        ]
    )
    (row,) = report.debates
    assert row.attacker is None and row.round1_seconds is None
    assert "Infinity" not in to_json(report) and "NaN" not in to_json(report)
    to_text(report), to_markdown(report)


def test_a_message_event_nested_a_thousand_deep_is_one_unreadable_event():
    deep = '{"event": "debate_start", "debate_id": "d", "x": ' + "[" * 1000 + "]" * 1000 + "}"
    digits = '{"event": "debate_start", "debate_id": "e", "x": ' + "9" * 5000 + "}"
    report = run([entry(0, deep), entry(0, digits), hit(1)])
    assert report.counts.bad_debate_event == 1
    assert [d.debate_id for d in report.debates] == ["e"]
    assert report.cache_hits == 1


@pytest.mark.parametrize("status", [1, 0, True, None, ["completed"], {"s": 1}, ""])
def test_a_debate_end_whose_status_is_not_a_word_does_not_complete_the_debate(status):
    report = run(
        [
            debate(0, "debate_start"),
            debate(9.5, "debate_end", status=status),
        ]
    )
    assert report.debates[0].total_seconds is None
    assert report.counts.bad_debate_event == 1
    assert figure(report, "debate_total_p50").verdict == NO_DATA


# --- NO DATA says what is missing (issue 15) --------------------------------------------------


def test_the_real_apps_debates_are_no_data_naming_the_missing_lines():
    starts = [
        entry(
            i,
            text="2025-10-10 02:12:28,973 INFO [backend.features.debate.service] "
            + json.dumps({"event": "debate_start", "session_id": f"s{i}", "rounds": 2}),
        )
        for i in range(3)
    ]
    report = run(starts)
    for key in ("debate_round1_p50", "debate_round1_overlap"):
        f = figure(report, key)
        assert f.verdict == NO_DATA
        assert "3 debate_start lines but no debate_agent_start/debate_agent_end" in f.detail
        assert "docs/phase2.md" in f.detail
    total = figure(report, "debate_total_p50")
    assert total.verdict == NO_DATA and "no debate_end" in total.detail
    text = to_text(report)
    assert "does not log agent turns" in text and "does not log the end of a debate" in text
    assert "does not log agent turns" in to_markdown(report)


def test_no_data_reasons_without_any_line():
    report = run([])
    details = {f.key: f.detail for f in report.figures}
    assert "no debate lines in the window" in details["debate_round1_p50"]
    assert "no debate_start or debate_end" in details["debate_total_p50"]
    assert "Cache HIT" in details["cache_hit_rate"]
    assert "no analysis start" in details["analysis_latency_p95"]
    assert all(f.detail for f in report.figures)


def test_turns_logged_for_one_role_only_say_so():
    report = run(
        [
            debate(0, "debate_start"),
            agent(0.1, "debate_agent_start", "attacker"),
            agent(2.0, "debate_agent_end", "attacker"),
            debate(3.0, "debate_end", status="failed"),
        ]
    )
    assert "attacker's and challenger's" in figure(report, "debate_round1_p50").detail
    assert "no debate completed" in figure(report, "debate_total_p50").detail
