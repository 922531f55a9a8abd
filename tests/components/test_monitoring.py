"""The monitoring component under the mock engine: filters, thresholds, and a dashboard that
Cloud Monitoring would accept (field names checked against the discovery documents).

The log-based metrics are checked on the real app's lines (the generated exports in its
format, tests/data/generate_realapp_logs.py, and lines quoted from its source at e7b0d75): each
filter is evaluated on the entries, each extractor's regular expression is compiled with RE2
(google-re2, the engine Cloud Logging uses) and applied to the lines, and Python's `re` must
find the same.
"""

from __future__ import annotations

import json
import re

import pytest
import re2

from infra.components import monitoring
from infra.config import Phase2Settings, SettingsError, load_stack_settings
from infra.mockrun import evaluate
from infra.rules.checks import judge_response, parse_check
from infra.rules.phase2 import PHASE2_MESSAGE_REGEX
from tests.conftest import PROJECT_ROOT, TEST_SMTP_PASSWORD
from tests.discovery_helpers import load_discovery, schema_problems
from tests.fakes.cloud_logging import compile_filter

UPTIME = "gcp:monitoring/uptimeCheckConfig:UptimeCheckConfig"
ALERT = "gcp:monitoring/alertPolicy:AlertPolicy"
CHANNEL = "gcp:monitoring/notificationChannel:NotificationChannel"
LOG_METRIC = "gcp:logging/metric:Metric"
DASHBOARD = "gcp:monitoring/dashboard:Dashboard"
COMPONENT = "emergence:monitoring:Monitoring"
DATA = PROJECT_ROOT / "tests" / "data" / "phase2"
EXPORT = DATA / "after-gcloud.json"  # an app that logs JSON (jsonPayload.message)
REAL = DATA / "realapp-after.json"  # the real app: textPayload with its logging prefix
EMAILS = ["ops@example.com", "élodie.martin@example.fr"]


def run(**config):
    return evaluate("prod", config=config, secrets={"smtpPassword": TEST_SMTP_PASSWORD})


@pytest.fixture(scope="module")
def ev():
    return run(alertEmails=EMAILS, errorRatioThresholdPercent=2, errorRatioDurationSeconds=600)


@pytest.fixture(scope="module")
def export_entries():
    return json.loads(EXPORT.read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def real_entries():
    return json.loads(REAL.read_text(encoding="utf-8"))


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


def extractor(text: str) -> tuple[str, str]:
    """(field, regex) of `REGEXP_EXTRACT(field, "regex")`."""
    match = re.fullmatch(r"REGEXP_EXTRACT\((textPayload|jsonPayload\.message), (\".*\")\)", text)
    assert match, text
    return match.group(1), unquote(match.group(2))


def extract(text: str, line: str) -> str | None:
    """What Cloud Logging would extract from `line`, with RE2; Python's re must agree."""
    _field, regex = extractor(text)
    compiled = re2.compile(regex)
    assert compiled.groups == 1, regex  # Logging wants exactly one capturing group
    found = compiled.search(line)
    python = re.search(regex, line)
    assert (found is None) == (python is None), (regex, line)
    if found is None:
        return None
    assert found.group(1) == python.group(1)
    return found.group(1)


def filter_regexes(filter_: str) -> list[str]:
    return [unquote(m) for m in re.findall(r'=~("(?:[^"\\]|\\.)*")', filter_)]


# Lines as emergence-app logs them (f-strings of its source at e7b0d75), with the prefix of
# its logging.basicConfig; the session ids and amounts are made up.
SID = "056ff9d6-1c2b-4c8e-9a57-3f0b2c1d4e5f"
ANALYZER = "backend.features.memory.analyzer"


def logged(logger: str, message: str, level: str = "INFO") -> str:
    return f"2025-10-12 08:00:00,000 {level} [{logger}] {message}"


REAL_LINES = {
    "cache_hit": logged(ANALYZER, f"[MemoryAnalyzer] Cache HIT pour session {SID} (hash=585f5168)"),
    "cache_saved": logged(
        ANALYZER,
        f"[MemoryAnalyzer] Cache SAVED pour session {SID} (key=memory_analysis:{SID}:585f5168)",
    ),
    "analysis_requested": logged(
        ANALYZER, f"Lancement de l'analyse sémantique (persist=True | offline=False) pour {SID}"
    ),
    "analysis_success": logged(
        ANALYZER, f"[MemoryAnalyzer] Analyse réussie avec neo_analysis pour session {SID}"
    ),
    "analysis_failed": logged(
        ANALYZER, f"[MemoryAnalyzer] Tous fallbacks échoués pour session {SID}: boom", "ERROR"
    ),
    "api_cost": logged(
        "backend.core.cost_tracker",
        "Coût de 0.001195 pour 'nexus' ('claude-3-5-haiku-20241022') enregistré.",
    ),
    "debate_events": logged(
        "backend.features.debate.service",
        json.dumps(
            {
                "event": "debate_start",
                "session_id": "s",
                "topic": "IA éthique",
                "rounds": 2,
                "agent_order": ["anima", "neo", "nexus"],
                "use_rag": False,
            },
            ensure_ascii=False,
        ),
    ),
    "debate_turn_duration": logged(  # the line docs/phase2.md asks for (the reference app's)
        "app.debate",
        json.dumps(
            {
                "event": "debate_agent_end",
                "debate_id": "debate_1a2b3c4d",
                "round": 1,
                "role": "challenger",
                "agent": "nexus",
                "duration_ms": 2710,
                "ok": True,
            }
        ),
    ),
}


def test_everything_is_declared_inside_the_component(ev):
    (component,) = ev.of_type(COMPONENT)
    children = [r for r in ev.resources if r.parent == component.urn]
    kinds = sorted(r.type for r in children)
    metrics = len(monitoring.log_metric_specs())
    assert metrics == 12  # 4 lines counted in either field + 4 extracting lines, one per field
    assert kinds == sorted(
        [UPTIME, ALERT, ALERT, CHANNEL, CHANNEL, DASHBOARD] + [LOG_METRIC] * metrics
    )
    assert all(r.name.startswith("monitoring-") for r in children)


def test_monitoring_can_be_switched_off():
    off = run(monitoringEnabled=False)
    assert not [
        r
        for r in off.resources
        if r.type.startswith(("gcp:monitoring/", "gcp:logging/")) or r.type == COMPONENT
    ]
    assert off.of_type("gcp:cloudrunv2/service:Service")  # the rest is still there


REAL_CHECKS = [
    "health /api/health 200 json status=ok",
    "metrics /api/metrics/metrics 200 prometheus",
    "auth /api/auth/session 401",
    "docs /docs 200 html",
    "openapi /openapi.json 200 json",
]


def test_uptime_check_probes_health_as_the_stacks_health_check_line_says(ev):
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
    assert "serviceAgentAuthentication" not in http  # the service is public
    assert (check.inputs["period"], check.inputs["timeout"]) == ("300s", "10s")
    # Whatever prod's verifyChecks say (the real app's `status=ok`), the check says the same.
    lines = load_stack_settings("prod", supplied_secrets=["smtpPassword"]).verify_checks
    spec = monitoring.health_check(lines, "/api/health")
    assert http["acceptedResponseStatusCodes"] == [{"statusValue": spec.status}]
    assert check.inputs["contentMatchers"] == [
        {
            "content": json.dumps(spec.value),
            "matcher": "MATCHES_JSON_PATH",
            "jsonPathMatcher": {"jsonPath": f"$.{spec.field}", "jsonMatcher": "EXACT_MATCH"},
        }
    ]
    v3 = load_discovery("monitoring.v3")
    assert schema_problems(v3, "HttpCheck", wire(http)) == []
    for matcher in check.inputs["contentMatchers"]:
        assert schema_problems(v3, "ContentMatcher", matcher) == []


@pytest.mark.parametrize(
    ("stack", "config", "content"),
    [
        ("prod", {"verifyChecks": REAL_CHECKS}, '"ok"'),  # the real emergence-app
        ("reference", {}, '"healthy"'),  # the reference app: the guide's contract
        ("prod", {"verifyChecks": ["health /api/health 200 json checks.db=true"]}, "true"),
    ],
)
def test_the_uptime_matcher_is_the_health_check_line_written_once(stack, config, content):
    evaluation = evaluate(stack, config=config, secrets={"smtpPassword": TEST_SMTP_PASSWORD})
    check = evaluation.one(UPTIME)
    (matcher,) = check.inputs["contentMatchers"]
    assert matcher["content"] == content
    field = {'"ok"': "status", '"healthy"': "status", "true": "checks.db"}[content]
    assert matcher["jsonPathMatcher"] == {"jsonPath": f"$.{field}", "jsonMatcher": "EXACT_MATCH"}
    assert check.inputs["httpCheck"]["acceptedResponseStatusCodes"] == [{"statusValue": 200}]
    policy = alert(evaluation, "/api/health")
    assert f"`$.{field}` equal to `{content}`" in policy.inputs["documentation"]["content"]


def test_without_a_check_on_the_health_path_the_uptime_check_wants_any_2xx():
    evaluation = run(verifyChecks=["docs /docs 200 html"])
    check = evaluation.one(UPTIME)
    assert "contentMatchers" not in check.inputs or not check.inputs["contentMatchers"]
    assert check.inputs["httpCheck"]["acceptedResponseStatusCodes"] == [
        {"statusClass": "STATUS_CLASS_2XX"}
    ]


def json_path_passes(matcher: dict, body: str) -> bool:
    """What MATCHES_JSON_PATH with EXACT_MATCH asks, on a body (dotted `$.a.b` paths)."""
    try:
        node = json.loads(body)
    except ValueError:
        return False
    for part in matcher["jsonPathMatcher"]["jsonPath"].removeprefix("$.").split("."):
        if not isinstance(node, dict) or part not in node:
            return False
        node = node[part]
    return json.dumps(node) == matcher["content"]


@pytest.mark.parametrize(
    ("line", "bodies"),
    [
        (
            "health /api/health 200 json status=ok",
            {  # the real app's answer (main.py at e7b0d75), then wrong ones
                '{"status": "ok", "message": "Emergence Backend is running."}': True,
                '{"status": "healthy"}': False,
                '{"status": "OK"}': False,
                "ok": False,
            },
        ),
        (
            "health /api/health 200 json status=healthy",
            {
                '{"status": "healthy", "version": "1.2.3"}': True,
                '{"status": "degraded"}': False,
                '{"healthy": true}': False,
            },
        ),
        (
            "health /api/health 200 json checks.db=true",
            {'{"checks": {"db": true}}': True, '{"checks": {"db": false}}': False},
        ),
    ],
)
def test_the_uptime_matcher_agrees_with_the_post_deploy_check(line, bodies):
    """The uptime check and `verify` judge the same answers the same way."""
    spec = parse_check(line)
    expected = monitoring.UptimeExpectation.from_check(spec)
    matcher = {
        "content": expected.content,
        "jsonPathMatcher": {"jsonPath": expected.json_path, "jsonMatcher": "EXACT_MATCH"},
    }
    for body, passes in bodies.items():
        assert json_path_passes(matcher, body) is passes, body
        assert judge_response(spec, 200, "application/json", body.encode())[0] is passes, body


def test_json_paths_and_contents_from_check_values():
    assert monitoring.json_path("status") == "$.status"
    assert monitoring.json_path("a.b_c") == "$.a.b_c"
    assert monitoring.json_path("x-y") == "$['x-y']"
    assert monitoring.json_content("ok") == '"ok"'
    assert monitoring.json_content("true") == "true"
    assert monitoring.json_content("1") == "1"
    assert monitoring.json_content('"quoted"') == '"\\"quoted\\""'


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
    counted = ("cache_hit", "cache_saved", "analysis_requested", "analysis_failed")
    extracting = ("analysis_success", "api_cost", "debate_events", "debate_turn_duration")
    assert set(metrics) == {f"emergence_app_phase2_{s}" for s in counted} | {
        f"emergence_app_phase2_{s}{variant}" for s in extracting for variant in ("", "_json")
    }
    for name, metric in metrics.items():
        assert metric.inputs["filter"].startswith(
            'resource.type="cloud_run_revision" AND '
            'resource.labels.service_name="emergence-app" AND '
        )
        descriptor = metric.inputs["metricDescriptor"]
        assert descriptor["metricKind"] == "DELTA"
        assert {label["key"] for label in descriptor.get("labels", [])} == set(
            metric.inputs.get("labelExtractors", {})
        )
        extractors = [*metric.inputs.get("labelExtractors", {}).values()]
        extractors += [metric.inputs["valueExtractor"]] if "valueExtractor" in metric.inputs else []
        fields = {extractor(e)[0] for e in extractors}
        if name.removeprefix("emergence_app_phase2_") in counted:
            assert not extractors  # counts only: it matches the message in either field
            assert "textPayload=~" in metric.inputs["filter"]
            assert "jsonPayload.message=~" in metric.inputs["filter"]
        else:  # extracts: one field, the filter reads only that field (the pair adds up)
            field = "jsonPayload.message" if name.endswith("_json") else "textPayload"
            assert fields == {field}
            other = "textPayload" if field != "textPayload" else "jsonPayload.message"
            assert f"{other}=~" not in metric.inputs["filter"]
        assert "durée" not in metric.inputs["filter"]  # the app never writes one


def test_log_metric_filters_count_the_real_apps_lines(ev, real_entries):
    """Each filter on the export in the real app's format, against the simulation's truth."""
    metrics = metrics_by_name(ev)
    truth = json.loads((DATA / "realapp-after.truth.json").read_text(encoding="utf-8"))
    expected = {
        "cache_hit": truth["cache"]["hits"],
        "cache_saved": truth["cache"]["saved"],
        "analysis_requested": truth["analyses"]["requested"],
        "analysis_success": truth["analyses"]["succeeded"],
        "analysis_failed": truth["analyses"]["failed"],
        "api_cost": sum(c["calls"] for c in truth["costs"].values()),
        "debate_events": truth["debates_started"],
    }
    for suffix, count in expected.items():
        matches = compile_filter(metrics[f"emergence_app_phase2_{suffix}"].inputs["filter"])
        assert sum(1 for e in real_entries if matches(e)) == count, suffix
    for suffix in ("analysis_success", "api_cost", "debate_events", "debate_turn_duration"):
        json_variant = compile_filter(
            metrics[f"emergence_app_phase2_{suffix}_json"].inputs["filter"]
        )
        assert not any(json_variant(e) for e in real_entries), suffix
    assert all(count > 0 for key, count in expected.items() if key != "analysis_failed")


def test_log_metric_filters_count_json_messages_too(ev, export_entries):
    """The same metrics on an app that logs JSON (and some plain text): independent counts."""
    metrics = metrics_by_name(ev)

    def message(entry, field):
        if field == "textPayload":
            return entry.get("textPayload") or ""
        return (entry.get("jsonPayload") or {}).get("message") or ""

    ours = [
        e
        for e in export_entries
        if (e.get("resource") or {}).get("labels", {}).get("service_name") == "emergence-app"
        and (e.get("resource") or {}).get("type") == "cloud_run_revision"
    ]
    both = ("textPayload", "jsonPayload.message")

    def count(test, fields=both):
        return sum(any(test(message(e, f)) for f in fields) for e in ours)

    success = re.compile(r"\] (Analyse réussie avec \S+|Fallback \w+ réussi) pour session ")
    expected = {
        "cache_hit": count(lambda m: "[MemoryAnalyzer] Cache HIT pour session " in m),
        "cache_saved": count(lambda m: "[MemoryAnalyzer] Cache SAVED pour session " in m),
        "analysis_requested": count(
            lambda m: (
                "Lancement de l'analyse sémantique (persist=" in m
                or "[MemoryAnalyzer] Analyse démarrée pour session " in m
            )
        ),
        "analysis_failed": count(lambda m: "[MemoryAnalyzer] Tous fallbacks échoués pour" in m),
        "analysis_success_json": count(
            lambda m: success.search(m) is not None, ("jsonPayload.message",)
        ),
        "analysis_success": count(lambda m: success.search(m) is not None, ("textPayload",)),
        "debate_events_json": count(
            lambda m: m.startswith('{"event": "debate_'), ("jsonPayload.message",)
        ),
        "debate_turn_duration_json": count(
            lambda m: m.startswith('{"event": "debate_agent_end"') and '"duration_ms": ' in m,
            ("jsonPayload.message",),
        ),
    }
    for suffix, wanted in expected.items():
        matches = compile_filter(metrics[f"emergence_app_phase2_{suffix}"].inputs["filter"])
        assert sum(1 for e in export_entries if matches(e)) == wanted > 0, suffix


def test_every_regular_expression_is_one_re2_accepts(ev):
    for metric in metrics_by_name(ev).values():
        for regex in filter_regexes(metric.inputs["filter"]):
            re2.compile(regex)
        for text in [*metric.inputs.get("labelExtractors", {}).values()]:
            assert re2.compile(extractor(text)[1]).groups == 1
    re2.compile(PHASE2_MESSAGE_REGEX)  # the report's own query to Cloud Logging


def test_filters_and_extractors_read_the_real_apps_lines(ev):
    metrics = metrics_by_name(ev)
    for suffix, line in REAL_LINES.items():
        metric = metrics[f"emergence_app_phase2_{suffix}"]
        entry = {
            "resource": {"type": "cloud_run_revision", "labels": {"service_name": "emergence-app"}},
            "textPayload": line,
        }
        assert compile_filter(metric.inputs["filter"])(entry), suffix
        for regex in filter_regexes(metric.inputs["filter"]):  # RE2 and re agree on the match
            assert (re2.search(regex, line) is None) == (re.search(regex, line) is None), regex
        as_json = {**entry, "jsonPayload": {"message": line}}
        del as_json["textPayload"]
        json_metric = metrics.get(f"emergence_app_phase2_{suffix}_json", metric)
        assert compile_filter(json_metric.inputs["filter"])(as_json), suffix

    def labels(suffix, line):
        inputs = metrics[f"emergence_app_phase2_{suffix}"].inputs
        return {k: extract(v, line) for k, v in inputs["labelExtractors"].items()}

    assert labels("analysis_success", REAL_LINES["analysis_success"]) == {
        "provider": "neo_analysis"
    }
    fallback = REAL_LINES["analysis_success"].replace(
        "Analyse réussie avec neo_analysis", "Fallback Nexus réussi"
    )
    assert labels("analysis_success", fallback) == {"provider": "Nexus"}
    cost = metrics["emergence_app_phase2_api_cost"].inputs
    assert labels("api_cost", REAL_LINES["api_cost"]) == {
        "agent": "nexus",
        "model": "claude-3-5-haiku-20241022",
    }
    assert extract(cost["valueExtractor"], REAL_LINES["api_cost"]) == "0.001195"
    assert cost["metricDescriptor"]["valueType"] == "DISTRIBUTION"
    assert cost["metricDescriptor"]["unit"] == "{USD}"
    bounds = cost["bucketOptions"]["explicitBuckets"]["bounds"]
    assert bounds == sorted(bounds) and bounds[0] < 0.0002 < bounds[-1]
    assert labels("debate_events", REAL_LINES["debate_events"]) == {
        "event": "debate_start",
        "role": None,  # the real app's debate_start has no role or round
        "round": None,
    }
    turns = metrics["emergence_app_phase2_debate_turn_duration"].inputs
    assert extract(turns["valueExtractor"], REAL_LINES["debate_turn_duration"]) == "2710"
    assert labels("debate_turn_duration", REAL_LINES["debate_turn_duration"]) == {
        "role": "challenger",
        "round": "1",
    }
    assert 3000 in turns["bucketOptions"]["explicitBuckets"]["bounds"]
    json_turns = metrics["emergence_app_phase2_debate_turn_duration_json"].inputs
    assert extractor(json_turns["valueExtractor"]) == (
        "jsonPayload.message",
        extractor(turns["valueExtractor"])[1],
    )


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
        "memory_analysis_duration_seconds_bucket",  # the app's own histogram, not a durée=
        "logging.googleapis.com/user/emergence_app_phase2_debate_turn_duration",
        "logging.googleapis.com/user/emergence_app_phase2_debate_turn_duration_json",
        "logging_googleapis_com:user_emergence_app_phase2_api_cost_sum",
        "logging_googleapis_com:user_emergence_app_phase2_api_cost_json_sum",
        "logging_googleapis_com:user_emergence_app_phase2_analysis_requested",
    ):
        assert metric in text, metric
    referenced = {
        re.sub(r"_(sum|count|bucket)$", "", name)
        if re.sub(r"_(sum|count|bucket)$", "", name) in metrics_by_name(ev)
        else name
        for name in re.findall(r"user[/_](emergence_app_phase2_\w+?)(?=[\"\\\[])", text)
    }
    assert referenced <= set(metrics_by_name(ev)), referenced - set(metrics_by_name(ev))
    assert "analysis_latency" not in text and "durée" not in text
    thresholds = {
        w["widget"]["title"]: w["widget"]["xyChart"]["thresholds"][0]["value"]
        for w in document["mosaicLayout"]["tiles"]
        if w["widget"].get("xyChart", {}).get("thresholds")
    }
    assert sorted(thresholds.values()) == [0.4, 2.0, 3000]
    targets = next(t for t in document["mosaicLayout"]["tiles"] if "text" in t["widget"])
    for target in ("40%", "2 s", "3 s", "11 s", "80%", "per analysis requested"):
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
