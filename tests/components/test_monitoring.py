"""The monitoring component under the mock engine: filters, thresholds, and a dashboard that
Cloud Monitoring would accept (field names checked against the discovery documents)."""

from __future__ import annotations

import json
import re

import pytest

from infra.components import monitoring
from infra.config import Phase2Settings, SettingsError
from infra.mockrun import evaluate
from tests.conftest import PROJECT_ROOT, TEST_SMTP_PASSWORD
from tests.discovery_helpers import load_discovery, schema_problems
from tests.fakes.cloud_logging import compile_filter

UPTIME = "gcp:monitoring/uptimeCheckConfig:UptimeCheckConfig"
ALERT = "gcp:monitoring/alertPolicy:AlertPolicy"
CHANNEL = "gcp:monitoring/notificationChannel:NotificationChannel"
LOG_METRIC = "gcp:logging/metric:Metric"
DASHBOARD = "gcp:monitoring/dashboard:Dashboard"
COMPONENT = "emergence:monitoring:Monitoring"
EXPORT = PROJECT_ROOT / "tests" / "data" / "phase2" / "after-gcloud.json"
EMAILS = ["ops@example.com", "élodie.martin@example.fr"]


def run(**config):
    return evaluate("prod", config=config, secrets={"smtpPassword": TEST_SMTP_PASSWORD})


@pytest.fixture(scope="module")
def ev():
    return run(alertEmails=EMAILS, errorRatioThresholdPercent=2, errorRatioDurationSeconds=600)


@pytest.fixture(scope="module")
def export_entries():
    return json.loads(EXPORT.read_text(encoding="utf-8"))


def alert(ev, word):
    return next(a for a in ev.of_type(ALERT) if word in a.inputs["displayName"])


def metrics_by_name(ev):
    return {m.inputs["name"]: m for m in ev.of_type(LOG_METRIC)}


def wire(value):
    """Inputs as the provider sends them to Google: the engine carries every number as a
    double (protobuf Struct), the provider writes integral ones as JSON integers."""
    if isinstance(value, dict):
        return {k: wire(v) for k, v in value.items()}
    if isinstance(value, list):
        return [wire(v) for v in value]
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def unquote(text: str) -> str:
    """A Logging query-language string literal's content."""
    assert text.startswith('"') and text.endswith('"'), text
    return re.sub(r"\\(.)", r"\1", text[1:-1])


def extractor_regex(extractor: str) -> re.Pattern[str]:
    match = re.fullmatch(r"REGEXP_EXTRACT\(jsonPayload\.message, (\".*\")\)", extractor)
    assert match, extractor
    return re.compile(unquote(match.group(1)))


def test_everything_is_declared_inside_the_component(ev):
    (component,) = ev.of_type(COMPONENT)
    children = [r for r in ev.resources if r.parent == component.urn]
    kinds = sorted(r.type for r in children)
    assert kinds == sorted([UPTIME, ALERT, ALERT, CHANNEL, CHANNEL, DASHBOARD] + [LOG_METRIC] * 6)
    assert all(r.name.startswith("monitoring-") for r in children)


def test_monitoring_can_be_switched_off():
    off = run(monitoringEnabled=False)
    assert not [
        r
        for r in off.resources
        if r.type.startswith(("gcp:monitoring/", "gcp:logging/")) or r.type == COMPONENT
    ]
    assert off.of_type("gcp:cloudrunv2/service:Service")  # the rest is still there


def test_uptime_check_probes_health_and_wants_status_healthy(ev):
    check = ev.one(UPTIME)
    url = ev.one("gcp:cloudrunv2/service:Service").outputs["uri"]
    assert check.inputs["monitoredResource"] == {
        "type": "uptime_url",
        "labels": {"host": url.removeprefix("https://"), "project_id": "emergence-469005"},
    }
    http = check.inputs["httpCheck"]
    assert (http["path"], http["port"], http["useSsl"], http["validateSsl"]) == (
        "/api/health",
        443,
        True,
        True,
    )
    assert http["acceptedResponseStatusCodes"] == [{"statusClass": "STATUS_CLASS_2XX"}]
    assert "serviceAgentAuthentication" not in http  # the service is public
    assert check.inputs["contentMatchers"] == [
        {
            "content": '"healthy"',
            "matcher": "MATCHES_JSON_PATH",
            "jsonPathMatcher": {"jsonPath": "$.status", "jsonMatcher": "EXACT_MATCH"},
        }
    ]
    assert (check.inputs["period"], check.inputs["timeout"]) == ("300s", "10s")
    v3 = load_discovery("monitoring.v3")
    assert schema_problems(v3, "HttpCheck", wire(http)) == []
    for matcher in check.inputs["contentMatchers"]:
        assert schema_problems(v3, "ContentMatcher", matcher) == []


def test_the_content_matcher_accepts_the_contracts_health_answer():
    """What the matcher asks, applied to the service contract's answer and to bad ones."""

    def passes(body: str) -> bool:
        try:
            document = json.loads(body)
        except ValueError:
            return False
        return isinstance(document, dict) and json.dumps(document.get("status")) == '"healthy"'

    assert passes('{"status": "healthy", "version": "1.2.3"}')
    assert not passes('{"status": "degraded"}')
    assert not passes('{"healthy": true}')
    assert not passes("healthy")


def test_private_services_are_checked_with_an_oidc_token():
    check = run(publicAccess="private").one(UPTIME)
    assert check.inputs["httpCheck"]["serviceAgentAuthentication"] == {"type": "OIDC_TOKEN"}


def test_uptime_alert_watches_this_check(ev):
    policy = alert(ev, "/api/health")
    (condition,) = policy.inputs["conditions"]
    threshold = condition["conditionThreshold"]
    check_id = ev.one(UPTIME).outputs["uptimeCheckId"]
    assert threshold["filter"] == (
        'metric.type="monitoring.googleapis.com/uptime_check/check_passed" AND '
        f'resource.type="uptime_url" AND metric.label.check_id="{check_id}"'
    )
    assert threshold["comparison"] == "COMPARISON_GT" and threshold["thresholdValue"] == 1
    (aggregation,) = threshold["aggregations"]
    assert aggregation["perSeriesAligner"] == "ALIGN_NEXT_OLDER"
    assert aggregation["crossSeriesReducer"] == "REDUCE_COUNT_FALSE"
    assert policy.inputs["severity"] == "CRITICAL"
    assert (
        schema_problems(load_discovery("monitoring.v3"), "MetricThreshold", wire(threshold)) == []
    )


def test_five_xx_alert_is_a_ratio_over_the_threshold(ev):
    policy = alert(ev, "5xx")
    threshold = policy.inputs["conditions"][0]["conditionThreshold"]
    assert threshold["thresholdValue"] == 0.02  # errorRatioThresholdPercent=2
    assert threshold["duration"] == "600s"
    assert threshold["comparison"] == "COMPARISON_GT"
    service = 'resource.label.service_name="emergence-app"'
    assert service in threshold["filter"] and service in threshold["denominatorFilter"]
    assert 'metric.label.response_code_class="5xx"' in threshold["filter"]
    assert "response_code_class" not in threshold["denominatorFilter"]
    assert threshold["aggregations"] == threshold["denominatorAggregations"]
    assert threshold["aggregations"][0]["perSeriesAligner"] == "ALIGN_RATE"
    assert (
        schema_problems(load_discovery("monitoring.v3"), "MetricThreshold", wire(threshold)) == []
    )


def test_alerts_notify_one_email_channel_per_address(ev):
    channels = ev.of_type(CHANNEL)
    assert sorted(c.inputs["labels"]["email_address"] for c in channels) == sorted(EMAILS)
    assert all(c.inputs["type"] == "email" for c in channels)
    names = sorted(c.outputs["name"] for c in channels)
    for policy in ev.of_type(ALERT):
        assert sorted(policy.inputs["notificationChannels"]) == names
        assert policy.inputs["documentation"]["mimeType"] == "text/markdown"
        assert "rollbackRevision" in policy.inputs["documentation"]["content"]


def test_without_addresses_alerts_exist_without_channels(prod):
    assert prod.of_type(CHANNEL) == []
    assert all(p.inputs.get("notificationChannels", []) == [] for p in prod.of_type(ALERT))


def test_log_metrics_are_the_services_phase2_lines(ev):
    metrics = metrics_by_name(ev)
    assert set(metrics) == {
        f"emergence_app_phase2_{s}"
        for s in (
            "cache_hit",
            "cache_saved",
            "analysis_success",
            "analysis_latency",
            "debate_events",
            "debate_turn_duration",
        )
    }
    for metric in metrics.values():
        assert metric.inputs["filter"].startswith(
            'resource.type="cloud_run_revision" AND '
            'resource.labels.service_name="emergence-app" AND '
        )
        descriptor = metric.inputs["metricDescriptor"]
        assert descriptor["metricKind"] == "DELTA"
        assert {label["key"] for label in descriptor.get("labels", [])} == set(
            metric.inputs.get("labelExtractors", {})
        )
    assert (
        metrics["emergence_app_phase2_cache_hit"].inputs["metricDescriptor"]["labels"][0]["key"]
        == "session"
    )


def test_log_metric_filters_select_exactly_their_lines(ev, export_entries):
    """Each filter, evaluated on the generated export, against an independent count."""
    metrics = metrics_by_name(ev)

    def message(entry):
        return (entry.get("jsonPayload") or {}).get("message") or ""

    ours = [
        e
        for e in export_entries
        if (e.get("resource") or {}).get("labels", {}).get("service_name") == "emergence-app"
    ]
    expected = {
        "cache_hit": sum("] Cache HIT pour session" in message(e) for e in ours),
        "cache_saved": sum("] Cache SAVED pour session" in message(e) for e in ours),
        "analysis_success": sum(
            "] Analyse réussie avec" in message(e)
            or re.search(r"\] Fallback \w+ réussi pour", message(e)) is not None
            for e in ours
        ),
        "analysis_latency": sum("réussi" in message(e) and "(durée=" in message(e) for e in ours),
        "debate_events": sum(message(e).startswith('{"event": "debate_') for e in ours),
        "debate_turn_duration": sum(
            message(e).startswith('{"event": "debate_agent_end"') and "duration_ms" in message(e)
            for e in ours
        ),
    }
    for suffix, count in expected.items():
        matches = compile_filter(metrics[f"emergence_app_phase2_{suffix}"].inputs["filter"])
        found = sum(1 for e in export_entries if matches(e))
        assert found == count > 0, suffix


def test_label_and_value_extractors_read_the_lines(ev):
    metrics = metrics_by_name(ev)
    hit = extractor_regex(
        metrics["emergence_app_phase2_cache_hit"].inputs["labelExtractors"]["session"]
    )
    line = "[MemoryAnalyzer] Cache HIT pour session 3f2a-77 (hash=abc12345)"
    assert hit.search(line).group(1) == "3f2a-77"
    provider = extractor_regex(
        metrics["emergence_app_phase2_analysis_success"].inputs["labelExtractors"]["provider"]
    )
    assert (
        provider.search("[MemoryAnalyzer] Analyse réussie avec neo_analysis pour session x")[1]
        == "neo_analysis"
    )
    assert provider.search("[MemoryAnalyzer] Fallback Nexus réussi pour session x")[1] == "Nexus"
    latency = metrics["emergence_app_phase2_analysis_latency"].inputs
    value = extractor_regex(latency["valueExtractor"])
    assert value.search("... pour session x (durée=1.42s)")[1] == "1.42"
    assert latency["metricDescriptor"]["valueType"] == "DISTRIBUTION"
    bounds = latency["bucketOptions"]["explicitBuckets"]["bounds"]
    assert bounds == sorted(bounds) and 2.0 in bounds  # the target is a bucket edge
    turns = metrics["emergence_app_phase2_debate_turn_duration"].inputs
    event = json.dumps(
        {
            "event": "debate_agent_end",
            "debate_id": "d",
            "round": 1,
            "role": "challenger",
            "agent": "nexus",
            "duration_ms": 2710,
        }
    )
    assert extractor_regex(turns["valueExtractor"]).search(event)[1] == "2710"
    assert extractor_regex(turns["labelExtractors"]["role"]).search(event)[1] == "challenger"
    assert extractor_regex(turns["labelExtractors"]["round"]).search(event)[1] == "1"
    assert 3000 in turns["bucketOptions"]["explicitBuckets"]["bounds"]


def test_dashboard_is_valid_and_shows_service_and_phase2(ev):
    board = ev.one(DASHBOARD)
    document = json.loads(board.inputs["dashboardJson"])
    assert schema_problems(load_discovery("monitoring.v1"), "Dashboard", document) == []
    text = board.inputs["dashboardJson"]
    for metric in (
        "run.googleapis.com/request_count",
        "run.googleapis.com/request_latencies",
        "run.googleapis.com/container/instance_count",
        "logging_googleapis_com:user_emergence_app_phase2_cache_hit",
        "logging_googleapis_com:user_emergence_app_phase2_cache_saved",
        "logging.googleapis.com/user/emergence_app_phase2_analysis_latency",
        "logging.googleapis.com/user/emergence_app_phase2_debate_turn_duration",
    ):
        assert metric in text, metric
    referenced = set(re.findall(r"user[/_](emergence_app_phase2_\w+?)(?=[\"\\\[])", text))
    assert referenced <= set(metrics_by_name(ev))
    thresholds = {
        w["widget"]["title"]: w["widget"]["xyChart"]["thresholds"][0]["value"]
        for w in document["mosaicLayout"]["tiles"]
        if w["widget"].get("xyChart", {}).get("thresholds")
    }
    assert sorted(thresholds.values()) == [0.4, 2.0, 3000]
    targets = next(t for t in document["mosaicLayout"]["tiles"] if "text" in t["widget"])
    for target in ("40%", "2 s", "3 s", "11 s", "80%"):
        assert target in targets["widget"]["text"]["content"]
    assert board.dependencies and set(board.dependencies) >= {m.urn for m in ev.of_type(LOG_METRIC)}


def test_dashboard_tiles_fit_the_grid_without_overlap():
    document = monitoring.dashboard("emergence-app", Phase2Settings(), 5)
    columns = document["mosaicLayout"]["columns"]
    cells = set()
    for tile in document["mosaicLayout"]["tiles"]:
        assert tile["xPos"] + tile["width"] <= columns
        for x in range(tile["xPos"], tile["xPos"] + tile["width"]):
            for y in range(tile["yPos"], tile["yPos"] + tile["height"]):
                assert (x, y) not in cells
                cells.add((x, y))


def test_targets_from_settings_reach_the_dashboard():
    document = json.dumps(
        monitoring.dashboard(
            "emergence-app",
            Phase2Settings(cache_hit_rate_min_percent=45, analysis_p95_target_ms=1500),
            5,
        )
    )
    assert '"value": 0.45' in document and '"value": 1.5' in document
    assert "at least 45%" in document


@pytest.mark.parametrize(
    ("config", "key"),
    [
        ({"alertEmails": ["pas-une-adresse"]}, "alertEmails"),
        ({"uptimeCheckPeriodSeconds": 30}, "uptimeCheckPeriodSeconds"),
        ({"errorRatioThresholdPercent": 150}, "errorRatioThresholdPercent"),
    ],
)
def test_bad_monitoring_settings_stop_the_program(config, key):
    with pytest.raises(SettingsError) as caught:
        run(**config)
    assert f"emergence-cloudrun:{key}" in caught.value.keys


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"alert_emails": ("x",)}, "not e-mail addresses"),
        ({"alert_emails": ("a@b.fr", "a@b.fr")}, "listed twice"),
        ({"uptime_period_seconds": 120}, "uptime period"),
        ({"uptime_timeout_seconds": 90}, "uptime timeout"),
        ({"error_ratio_threshold_percent": 0}, "5xx threshold"),
        ({"health_path": "api/health"}, "must start with /"),
    ],
)
def test_the_component_refuses_bad_inputs(changes, message):
    args = monitoring.MonitoringArgs(
        project="emergence-469005", service_name="emergence-app", service_url="https://x.run.app"
    )
    for name, value in changes.items():
        setattr(args, name, value)
    with pytest.raises(ValueError, match=message):
        monitoring.Monitoring("m", args)


def test_health_host_needs_an_https_url():
    assert monitoring.health_host("https://a-1.europe-west1.run.app") == "a-1.europe-west1.run.app"
    with pytest.raises(ValueError, match="https"):
        monitoring.health_host("http://a.run.app")
