"""Observability as code: uptime check, alerts, e-mail channels, Phase 2 log metrics, dashboard.

- An uptime check GETs `<service URL><health path>` over HTTPS and expects what the stack's own
  health check line says (`verifyChecks`, e.g. `health /api/health 200 json status=ok`: status
  200 and the JSON path `$.status` equal to `"ok"`), so the two are never written twice.
- Alert policies: the uptime check failing, and the share of 5xx responses above a threshold
  (Cloud Run's `request_count`, 5xx over all), each notifying the e-mail channels.
- Log-based metrics on the app's own lines (the lines `python -m infra phase2` reads), matched in
  the message wherever the app writes it: `textPayload` (emergence-app logs plain text with its
  `%(asctime)s %(levelname)s [%(name)s]` prefix, which Cloud Run stores as textPayload) or
  `jsonPayload.message` (an app that logs JSON). A metric that only counts matches both fields;
  one that extracts a label or a value comes in two, one per field (`<name>` from textPayload,
  `<name>_json` from jsonPayload.message), because an extractor reads one field: add them up.
  Cache HIT, cache SAVED, analyses requested (the start lines), analysis successes (label
  `provider`), analyses failed, the cost lines (a distribution of USD per paid call, labels
  `agent` and `model`), debate events (labels `event`, `role`, `round`) and each debate agent's
  turn duration from `debate_agent_end` (a distribution). No metric reads a `durée=`: the app
  never writes one; the analysis latency comes from the app's own histogram.
- A dashboard: request count by class, latency p50/p95, instance count, cache hit rate, the app's
  analysis duration p95 (`memory_analysis_duration_seconds`, shown once its metrics reach Cloud
  Monitoring), round-1 turn duration, analyses by provider and the API cost, each Phase 2 chart
  against its target.

The decisions (filters, metric definitions, the dashboard's JSON) are pure functions below; the
component only declares them. `monitoringEnabled: false` leaves the whole component out.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import pulumi
import pulumi_gcp as gcp

from infra.components.options import child_options
from infra.config import Phase2Settings, Settings
from infra.rules.checks import CheckSpec, parse_checks
from infra.rules.phase2 import RESOURCE_TYPE, quote_filter_string

UPTIME_PERIODS = (60, 300, 600, 900)
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
MESSAGE_FIELDS = ("textPayload", "jsonPayload.message")
"""Where an app's log message is: plain text (emergence-app) or a JSON payload's message."""
REQUEST_COUNT = "run.googleapis.com/request_count"
REQUEST_LATENCIES = "run.googleapis.com/request_latencies"
INSTANCE_COUNT = "run.googleapis.com/container/instance_count"
UPTIME_PASSED = "monitoring.googleapis.com/uptime_check/check_passed"
COST_BUCKETS_USD = (1e-5, 5e-5, 1e-4, 5e-4, 1e-3, 5e-3, 0.01, 0.05, 0.1, 0.5, 1.0)
APP_DURATION_METRIC = "memory_analysis_duration_seconds"
"""The MemoryAnalyzer's own histogram (label provider), in the app's Prometheus metrics."""
TURN_BUCKETS_MS = (500, 1000, 1500, 2000, 2500, 3000, 4000, 5000, 7500, 10000, 15000, 30000)


# --- decisions ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class LogLineSpec:
    """One kind of log line: a regex on the message (RE2 syntax, as Cloud Logging reads it), and
    what to extract from it (each extractor a regex with one capturing group)."""

    suffix: str
    description: str
    patterns: tuple[str, ...]  # each must match (ANDed)
    labels: dict[str, tuple[str, str]] = field(default_factory=dict)  # key -> (regex, doc)
    value: str | None = None  # set: a distribution of the captured number
    unit: str = "1"
    bounds: tuple[float, ...] = ()

    @property
    def extracts(self) -> bool:
        return bool(self.labels) or self.value is not None


@dataclass(frozen=True)
class LogMetricSpec:
    """One log-based metric: what it counts (or measures) and how its labels are extracted."""

    suffix: str
    description: str
    match: str  # condition on the entry, ANDed with the service's resource
    labels: dict[str, tuple[str, str]] = field(default_factory=dict)  # key -> (extractor, doc)
    value_extractor: str | None = None  # set: a distribution
    unit: str = "1"
    bounds: tuple[float, ...] = ()
    field: str | None = None  # the one message field it reads (None: either)

    @property
    def distribution(self) -> bool:
        return self.value_extractor is not None


def service_log_filter(service_name: str) -> str:
    return (
        f"resource.type={quote_filter_string(RESOURCE_TYPE)} AND "
        f"resource.labels.service_name={quote_filter_string(service_name)}"
    )


def message_matches(regex: str, fields: tuple[str, ...] = MESSAGE_FIELDS) -> str:
    """`textPayload=~"r"`, or a parenthesised OR over the message fields."""
    terms = [f"{name}=~{quote_filter_string(regex)}" for name in fields]
    return terms[0] if len(terms) == 1 else "(" + " OR ".join(terms) + ")"


def regexp_extract(message_field: str, regex: str) -> str:
    return f"REGEXP_EXTRACT({message_field}, {quote_filter_string(regex)})"


def metric_id(service_name: str, suffix: str) -> str:
    """`emergence_app_phase2_cache_hit`: letters, digits and `_` only, so that PromQL names it
    `logging_googleapis_com:user_emergence_app_phase2_cache_hit` unchanged."""
    return re.sub(r"[^A-Za-z0-9_]", "_", service_name) + "_phase2_" + suffix


def field_suffix(suffix: str, message_field: str) -> str:
    """The metric of a line that reads `message_field` (textPayload keeps the plain name)."""
    return suffix if message_field == MESSAGE_FIELDS[0] else suffix + "_json"


_ROLE = (r'"role": "(\w+)"', "attacker, challenger, mediator.")
_ROUND = (r'"round": (\d+)', "The debate round (1, 2, ...).")


def log_line_specs() -> tuple[LogLineSpec, ...]:
    """The app's lines the metrics watch: the lines `python -m infra phase2` reads."""
    return (
        LogLineSpec(
            "cache_hit",
            "MemoryAnalyzer cache hits (an analysis served from the cache).",
            (r"\[MemoryAnalyzer\] Cache HIT pour session ",),
        ),
        LogLineSpec(
            "cache_saved",
            "MemoryAnalyzer cache saves (an analysis computed, then cached).",
            (r"\[MemoryAnalyzer\] Cache SAVED pour session ",),
        ),
        LogLineSpec(
            "analysis_requested",
            "Memory analyses requested (the analyzer's start line, cache hits included).",
            (
                r"Lancement de l.analyse s[ée]mantique \(persist=|"
                r"\[MemoryAnalyzer\] Analyse d[ée]marr[ée]e pour session ",
            ),
        ),
        LogLineSpec(
            "analysis_success",
            "Memory analyses that succeeded, by provider.",
            (
                r"\[MemoryAnalyzer\] (Analyse r[ée]ussie avec \S+|Fallback \w+ r[ée]ussi) "
                r"pour session ",
            ),
            {
                "provider": (
                    r"\[MemoryAnalyzer\] (?:Analyse r[ée]ussie avec |Fallback )(\w+)",
                    "neo_analysis, or the fallback that answered (Nexus, Anima).",
                )
            },
        ),
        LogLineSpec(
            "analysis_failed",
            "Memory analyses whose every provider failed.",
            (r"\[MemoryAnalyzer\] Tous (les )?fallbacks [ée]chou[ée]s pour session ",),
        ),
        LogLineSpec(
            "api_cost",
            "Cost of each paid LLM call, from the cost tracker's line (USD), by agent and model.",
            (r"Co[uû]t de [0-9]+\.[0-9]+ pour '[^']*' \('[^']*'\) enregistr",),
            {
                "agent": (r"Co[uû]t de [0-9.]+ pour '([^']*)'", "The agent (anima, neo, nexus)."),
                "model": (r"pour '[^']*' \('([^']*)'\) enregistr", "The LLM model called."),
            },
            value=r"Co[uû]t de ([0-9]+\.[0-9]+) pour",
            unit="{USD}",
            bounds=COST_BUCKETS_USD,
        ),
        LogLineSpec(
            "debate_events",
            "Debate events (start, agent turn start/end, end), by event, role and round.",
            (r'"event": "debate_',),
            {
                "event": (r'"event": "(debate_\w+)"', "The debate event."),
                "role": _ROLE,
                "round": _ROUND,
            },
        ),
        LogLineSpec(
            "debate_turn_duration",
            "Debate agent turn duration from debate_agent_end (duration_ms), by role and round.",
            (r'"event": "debate_agent_end"', r'"duration_ms": [0-9]+'),
            {"role": _ROLE, "round": _ROUND},
            value=r'"duration_ms": ([0-9]+)',
            unit="ms",
            bounds=TURN_BUCKETS_MS,
        ),
    )


def log_metric_specs() -> tuple[LogMetricSpec, ...]:
    """Every declared metric: one per line that only counts (matching either message field),
    one per line and field for those that extract (an extractor reads a single field)."""
    specs: list[LogMetricSpec] = []
    for line in log_line_specs():
        if not line.extracts:
            specs.append(
                LogMetricSpec(
                    line.suffix,
                    line.description,
                    " AND ".join(message_matches(p) for p in line.patterns),
                )
            )
            continue
        for message_field in MESSAGE_FIELDS:
            specs.append(
                LogMetricSpec(
                    field_suffix(line.suffix, message_field),
                    f"{line.description} Read from {message_field}.",
                    " AND ".join(message_matches(p, (message_field,)) for p in line.patterns),
                    {
                        key: (regexp_extract(message_field, regex), doc)
                        for key, (regex, doc) in line.labels.items()
                    },
                    None if line.value is None else regexp_extract(message_field, line.value),
                    line.unit,
                    line.bounds,
                    message_field,
                )
            )
    return tuple(specs)


# --- the uptime check's expectation: the stack's health check line ---------------------------


def health_check(check_lines: tuple[str, ...] | None, health_path: str) -> CheckSpec | None:
    """The `verifyChecks` line that checks `health_path` (the first, preferring one named
    `health`), or None when no check looks at it."""
    on_path = [spec for spec in parse_checks(check_lines) if spec.path == health_path]
    named = [spec for spec in on_path if spec.name == "health"]
    return (named or on_path or [None])[0]


def json_path(dotted: str) -> str:
    """`status` -> `$.status`, `a.b` -> `$.a.b`; other names in brackets (`$['x-y']`)."""
    out = "$"
    for part in dotted.split("."):
        if re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", part):
            out += "." + part
        else:
            out += "['" + part.replace("\\", "\\\\").replace("'", "\\'") + "']"
    return out


def json_content(value: str) -> str:
    """The JSON text an exact JSON-path match compares with: `ok` -> `"ok"`; a JSON number,
    true, false or null stays as written (the check accepts either for those)."""
    try:
        parsed = json.loads(value)
    except ValueError:
        return json.dumps(value, ensure_ascii=False)
    if isinstance(parsed, bool | int | float) or parsed is None:
        return value
    return json.dumps(value, ensure_ascii=False)


@dataclass(frozen=True)
class UptimeExpectation:
    """What the uptime check requires: an HTTP status (or any 2xx), a JSON field's value."""

    status: int | None = None  # None: any 2xx
    json_path: str | None = None
    content: str | None = None

    @classmethod
    def from_check(cls, spec: CheckSpec | None) -> UptimeExpectation:
        if spec is None:
            return cls()
        if spec.content == "json" and spec.field is not None and spec.value is not None:
            return cls(spec.status, json_path(spec.field), json_content(spec.value))
        return cls(spec.status)

    def describe(self) -> str:
        status = "2xx" if self.status is None else str(self.status)
        if self.json_path is None:
            return status
        return f"{status} with `{self.json_path}` equal to `{self.content}`"


def uptime_alert_filter(check_id: str) -> str:
    return (
        f'metric.type="{UPTIME_PASSED}" AND resource.type="uptime_url" '
        f'AND metric.label.check_id="{check_id}"'
    )


def request_filter(service_name: str, response_class: str | None = None) -> str:
    text = (
        f'metric.type="{REQUEST_COUNT}" AND resource.type="{RESOURCE_TYPE}" '
        f'AND resource.label.service_name="{service_name}"'
    )
    if response_class:
        text += f' AND metric.label.response_code_class="{response_class}"'
    return text


def health_host(url: str) -> str:
    """The host an uptime check probes, from the service URL (`https://host[/...]`)."""
    parts = urlsplit(url)
    if parts.scheme != "https" or not parts.hostname:
        raise ValueError(f"the service URL must be https://<host>, got {url!r}")
    return parts.hostname


def _xy(title: str, data_sets: list[dict], y_label: str, thresholds=()) -> dict[str, Any]:
    chart: dict[str, Any] = {
        "dataSets": data_sets,
        "yAxis": {"label": y_label, "scale": "LINEAR"},
        "chartOptions": {"mode": "COLOR"},
    }
    if thresholds:
        chart["thresholds"] = list(thresholds)
    return {"title": title, "xyChart": chart}


def _series(
    filter_: str, aligner: str, reducer: str, group_by=(), *, legend=None, plot="LINE"
) -> dict[str, Any]:
    data: dict[str, Any] = {
        "timeSeriesQuery": {
            "timeSeriesFilter": {
                "filter": filter_,
                "aggregation": {
                    "alignmentPeriod": "60s",
                    "perSeriesAligner": aligner,
                    "crossSeriesReducer": reducer,
                    "groupByFields": list(group_by),
                },
            }
        },
        "plotType": plot,
        "targetAxis": "Y1",
    }
    if legend:
        data["legendTemplate"] = legend
    return data


def _promql(query: str, plot: str = "LINE") -> dict[str, Any]:
    return {"timeSeriesQuery": {"prometheusQuery": query}, "plotType": plot, "targetAxis": "Y1"}


def _threshold(value: float, label: str, direction: str) -> dict[str, Any]:
    return {
        "value": value,
        "label": label,
        "color": "YELLOW",
        "direction": direction,
        "targetAxis": "Y1",
    }


def dashboard(service_name: str, phase2: Phase2Settings, error_threshold_percent: int) -> dict:
    """The Cloud Monitoring dashboard (monitoring v1 `Dashboard`), as a dict."""
    svc = f'resource.type="{RESOURCE_TYPE}" AND resource.label.service_name="{service_name}"'
    user = "logging.googleapis.com/user/"
    hit = "logging_googleapis_com:user_" + metric_id(service_name, "cache_hit")
    saved = "logging_googleapis_com:user_" + metric_id(service_name, "cache_saved")
    hit_rate = f"sum(rate({hit}[1h])) / (sum(rate({hit}[1h])) + sum(rate({saved}[1h])))"
    app_p95 = f"histogram_quantile(0.95, sum by (le) (rate({APP_DURATION_METRIC}_bucket[1h])))"

    def per_field(suffix: str) -> list[str]:
        """The metric of a line for each message field (their series add up)."""
        return [f"{user}{metric_id(service_name, field_suffix(suffix, f))}" for f in MESSAGE_FIELDS]

    def promql(suffix: str) -> list[str]:
        return [
            "logging_googleapis_com:user_" + metric_id(service_name, field_suffix(suffix, f))
            for f in MESSAGE_FIELDS
        ]

    cost_text, cost_json = promql("api_cost")
    requested = "logging_googleapis_com:user_" + metric_id(service_name, "analysis_requested")
    cost_per_analysis = (
        f"((sum(rate({cost_text}_sum[1d])) or vector(0)) + "
        f"(sum(rate({cost_json}_sum[1d])) or vector(0))) / sum(rate({requested}[1d]))"
    )
    targets = "\n".join(
        [
            "**Phase 2 targets** (checked by `python -m infra phase2`)",
            "",
            f"- Cache hit rate HIT/(HIT+SAVED): at least {phase2.cache_hit_rate_min_percent}% "
            f"(expected {phase2.cache_hit_rate_min_percent}-"
            f"{phase2.cache_hit_rate_expected_max_percent}%)",
            f"- Memory analysis latency p95: under {phase2.analysis_p95_target_ms / 1000:g} s "
            "(was 4-6 s)",
            f"- Debate round 1 p50: under {phase2.debate_round1_target_ms / 1000:g} s, attacker "
            "and challenger overlapping (was 5 s)",
            f"- Whole debate p50: under {phase2.debate_total_target_ms / 1000:g} s (was 15 s)",
            f"- API cost per analysis requested: at most {phase2.cost_target_percent}% of the "
            "baseline's (the cost lines; `python -m infra phase2 --baseline-file ...`)",
            "",
            f"Alerting: uptime of `/api/health`, 5xx above {error_threshold_percent}% of requests.",
        ]
    )
    request_count = f'metric.type="{REQUEST_COUNT}" AND {svc}'
    latencies = f'metric.type="{REQUEST_LATENCIES}" AND {svc}'
    widgets = [
        {"title": "Phase 2 targets", "text": {"content": targets, "format": "MARKDOWN"}},
        _xy(
            "Requests per second by response class",
            [
                _series(
                    request_count,
                    "ALIGN_RATE",
                    "REDUCE_SUM",
                    ["metric.label.response_code_class"],
                    plot="STACKED_BAR",
                )
            ],
            "requests/s",
        ),
        _xy(
            "Request latency (ms)",
            [
                _series(latencies, "ALIGN_DELTA", "REDUCE_PERCENTILE_50", legend="p50"),
                _series(latencies, "ALIGN_DELTA", "REDUCE_PERCENTILE_95", legend="p95"),
            ],
            "ms",
        ),
        _xy(
            "Instances",
            [
                _series(
                    f'metric.type="{INSTANCE_COUNT}" AND {svc}',
                    "ALIGN_MAX",
                    "REDUCE_SUM",
                    ["metric.label.state"],
                    plot="STACKED_AREA",
                )
            ],
            "instances",
        ),
        _xy(
            "Memory analysis cache hit rate (1 h)",
            [_promql(hit_rate)],
            "HIT / (HIT + SAVED)",
            [_threshold(phase2.cache_hit_rate_min_percent / 100, "Phase 2 target", "BELOW")],
        ),
        _xy(
            "Memory analysis duration p95 (s): the app's histogram, once its metrics reach "
            "Cloud Monitoring",
            [_promql(app_p95)],
            "s",
            [_threshold(phase2.analysis_p95_target_ms / 1000, "Phase 2 target", "ABOVE")],
        ),
        _xy(
            "Debate round 1 turn duration p50 (ms), by role",
            [
                _series(
                    f'metric.type="{metric}" AND {svc} AND metric.label.round="1"',
                    "ALIGN_DELTA",
                    "REDUCE_PERCENTILE_50",
                    ["metric.label.role"],
                )
                for metric in per_field("debate_turn_duration")
            ],
            "ms",
            [_threshold(phase2.debate_round1_target_ms, "Phase 2 round-1 target", "ABOVE")],
        ),
        _xy(
            "Memory analyses per second, by provider",
            [
                _series(
                    f'metric.type="{metric}" AND {svc}',
                    "ALIGN_RATE",
                    "REDUCE_SUM",
                    ["metric.label.provider"],
                    plot="STACKED_BAR",
                )
                for metric in per_field("analysis_success")
            ],
            "analyses/s",
        ),
        _xy(
            "API cost (USD per hour), by agent: the cost lines",
            [
                _promql(f"sum by (agent) (rate({metric}_sum[1h])) * 3600", "STACKED_AREA")
                for metric in (cost_text, cost_json)
            ],
            "USD/h",
        ),
        _xy(
            "API cost per analysis requested (USD, 1 day)",
            [_promql(cost_per_analysis)],
            "USD",
        ),
    ]
    tiles = []
    for index, widget in enumerate(widgets):
        tiles.append(
            {
                "xPos": (index % 2) * 24,
                "yPos": (index // 2) * 16,
                "width": 24,
                "height": 16,
                "widget": widget,
            }
        )
    return {
        "displayName": f"{service_name}: service and Phase 2",
        "mosaicLayout": {"columns": 48, "tiles": tiles},
        "labels": {"emergence-cloudrun": ""},
    }


# --- the component ------------------------------------------------------------------------------


@dataclass
class MonitoringArgs:
    project: str
    service_name: str
    service_url: pulumi.Input[str]
    health_path: str = "/api/health"
    alert_emails: tuple[str, ...] = ()
    uptime_period_seconds: int = 300
    uptime_timeout_seconds: int = 10
    error_ratio_threshold_percent: int = 5
    error_ratio_duration_seconds: int = 300
    phase2: Phase2Settings = field(default_factory=Phase2Settings)
    authenticated: bool = False  # the service is private: the check presents an OIDC token
    health_check: CheckSpec | None = None  # the verifyChecks line on health_path, if any

    @classmethod
    def from_settings(cls, settings: Settings, service_url: pulumi.Input[str]) -> MonitoringArgs:
        m = settings.monitoring
        return cls(
            project=settings.project,
            service_name=settings.service.name,
            service_url=service_url,
            health_path=settings.service.startup_probe.path,
            alert_emails=m.alert_emails,
            uptime_period_seconds=m.uptime_period_seconds,
            uptime_timeout_seconds=m.uptime_timeout_seconds,
            error_ratio_threshold_percent=m.error_ratio_threshold_percent,
            error_ratio_duration_seconds=m.error_ratio_duration_seconds,
            phase2=settings.phase2,
            authenticated=settings.service.public_access == "private",
            health_check=health_check(settings.verify_checks, settings.service.startup_probe.path),
        )


def _check_args(args: MonitoringArgs) -> None:
    problems = []
    bad = [e for e in args.alert_emails if not _EMAIL.match(e)]
    if bad:
        problems.append(f"not e-mail addresses: {', '.join(bad)}")
    if len(set(args.alert_emails)) != len(args.alert_emails):
        problems.append("an alert e-mail address is listed twice")
    if args.uptime_period_seconds not in UPTIME_PERIODS:
        problems.append(f"uptime period must be one of {UPTIME_PERIODS} s")
    if not 1 <= args.uptime_timeout_seconds <= min(60, args.uptime_period_seconds):
        problems.append("uptime timeout must be 1-60 s and within the period")
    if not 1 <= args.error_ratio_threshold_percent <= 100:
        problems.append("the 5xx threshold must be 1-100 %")
    if not 0 <= args.error_ratio_duration_seconds <= 3600:
        problems.append("the 5xx duration must be 0-3600 s")
    if not args.health_path.startswith("/"):
        problems.append(f"health path {args.health_path!r} must start with /")
    if problems:
        raise ValueError("Monitoring: " + "; ".join(problems))


class Monitoring(pulumi.ComponentResource):
    """Uptime check, alert policies, e-mail channels, Phase 2 log metrics and a dashboard."""

    def __init__(self, name: str, args: MonitoringArgs, opts: pulumi.ResourceOptions | None = None):
        _check_args(args)
        super().__init__("emergence:monitoring:Monitoring", name, None, opts)
        child = child_options(self, opts)
        service = args.service_name

        self.channels = [
            gcp.monitoring.NotificationChannel(
                f"{name}-email-{index}",
                project=args.project,
                type="email",
                display_name=f"{service} alerts ({email})",
                labels={"email_address": email},
                opts=child,
            )
            for index, email in enumerate(args.alert_emails)
        ]
        channel_names = [c.name for c in self.channels]

        expected = UptimeExpectation.from_check(args.health_check)
        accepted = (
            gcp.monitoring.UptimeCheckConfigHttpCheckAcceptedResponseStatusCodeArgs(
                status_class="STATUS_CLASS_2XX"
            )
            if expected.status is None
            else gcp.monitoring.UptimeCheckConfigHttpCheckAcceptedResponseStatusCodeArgs(
                status_value=expected.status
            )
        )
        http_check = gcp.monitoring.UptimeCheckConfigHttpCheckArgs(
            path=args.health_path,
            port=443,
            use_ssl=True,
            validate_ssl=True,
            request_method="GET",
            accepted_response_status_codes=[accepted],
            service_agent_authentication=(
                gcp.monitoring.UptimeCheckConfigHttpCheckServiceAgentAuthenticationArgs(
                    type="OIDC_TOKEN"
                )
                if args.authenticated
                else None
            ),
        )
        self.uptime_check = gcp.monitoring.UptimeCheckConfig(
            f"{name}-health",
            project=args.project,
            display_name=f"{service} {args.health_path}",
            period=f"{args.uptime_period_seconds}s",
            timeout=f"{args.uptime_timeout_seconds}s",
            http_check=http_check,
            monitored_resource=gcp.monitoring.UptimeCheckConfigMonitoredResourceArgs(
                type="uptime_url",
                labels={
                    "project_id": args.project,
                    "host": pulumi.Output.from_input(args.service_url).apply(health_host),
                },
            ),
            content_matchers=[
                gcp.monitoring.UptimeCheckConfigContentMatcherArgs(
                    content=expected.content,
                    matcher="MATCHES_JSON_PATH",
                    json_path_matcher=(
                        gcp.monitoring.UptimeCheckConfigContentMatcherJsonPathMatcherArgs(
                            json_path=expected.json_path, json_matcher="EXACT_MATCH"
                        )
                    ),
                )
            ]
            if expected.json_path is not None
            else None,
            opts=child,
        )

        alignment = f"{max(1200, 2 * args.uptime_period_seconds)}s"
        self.uptime_alert = gcp.monitoring.AlertPolicy(
            f"{name}-uptime-alert",
            project=args.project,
            display_name=f"{service}: {args.health_path} failing",
            combiner="OR",
            severity="CRITICAL",
            conditions=[
                gcp.monitoring.AlertPolicyConditionArgs(
                    display_name=f"{args.health_path} uptime check failing",
                    condition_threshold=gcp.monitoring.AlertPolicyConditionConditionThresholdArgs(
                        filter=self.uptime_check.uptime_check_id.apply(uptime_alert_filter),
                        comparison="COMPARISON_GT",
                        threshold_value=1,
                        duration="60s",
                        aggregations=[
                            gcp.monitoring.AlertPolicyConditionConditionThresholdAggregationArgs(
                                alignment_period=alignment,
                                per_series_aligner="ALIGN_NEXT_OLDER",
                                cross_series_reducer="REDUCE_COUNT_FALSE",
                                group_by_fields=["resource.label.*"],
                            )
                        ],
                        trigger=gcp.monitoring.AlertPolicyConditionConditionThresholdTriggerArgs(
                            count=1
                        ),
                    ),
                )
            ],
            notification_channels=channel_names,
            documentation=gcp.monitoring.AlertPolicyDocumentationArgs(
                mime_type="text/markdown",
                subject=f"{service} health check failing",
                content=(
                    f"The uptime check on `{args.health_path}` fails from more than one region: "
                    f"the service does not answer {expected.describe()}.\n\n"
                    "Look at the latest revision's logs; to roll back, set "
                    "`emergence-cloudrun:rollbackRevision` to a previous revision and `pulumi up`."
                ),
            ),
            alert_strategy=gcp.monitoring.AlertPolicyAlertStrategyArgs(auto_close="1800s"),
            opts=child,
        )

        ratio = args.error_ratio_threshold_percent / 100
        aggregation = dict(
            alignment_period="300s",
            per_series_aligner="ALIGN_RATE",
            cross_series_reducer="REDUCE_SUM",
            group_by_fields=["resource.label.service_name"],
        )
        self.error_alert = gcp.monitoring.AlertPolicy(
            f"{name}-5xx-alert",
            project=args.project,
            display_name=f"{service}: 5xx above {args.error_ratio_threshold_percent}%",
            combiner="OR",
            severity="ERROR",
            conditions=[
                gcp.monitoring.AlertPolicyConditionArgs(
                    display_name=f"5xx responses above {args.error_ratio_threshold_percent}% "
                    "of requests",
                    condition_threshold=gcp.monitoring.AlertPolicyConditionConditionThresholdArgs(
                        filter=request_filter(service, "5xx"),
                        denominator_filter=request_filter(service),
                        comparison="COMPARISON_GT",
                        threshold_value=ratio,
                        duration=f"{args.error_ratio_duration_seconds}s",
                        evaluation_missing_data="EVALUATION_MISSING_DATA_INACTIVE",
                        aggregations=[
                            gcp.monitoring.AlertPolicyConditionConditionThresholdAggregationArgs(
                                **aggregation
                            )
                        ],
                        denominator_aggregations=[
                            gcp.monitoring.AlertPolicyConditionConditionThresholdDenominatorAggregationArgs(
                                **aggregation
                            )
                        ],
                    ),
                )
            ],
            notification_channels=channel_names,
            documentation=gcp.monitoring.AlertPolicyDocumentationArgs(
                mime_type="text/markdown",
                subject=f"{service}: too many 5xx",
                content=(
                    f"More than {args.error_ratio_threshold_percent}% of requests to {service} "
                    f"answered 5xx for {args.error_ratio_duration_seconds} s. Check the error "
                    "logs of the latest revision; roll back with "
                    "`emergence-cloudrun:rollbackRevision` if it started with a deploy."
                ),
            ),
            alert_strategy=gcp.monitoring.AlertPolicyAlertStrategyArgs(auto_close="1800s"),
            opts=child,
        )

        base_filter = service_log_filter(service)
        self.log_metrics = {}
        for spec in log_metric_specs():
            labels = [
                gcp.logging.MetricMetricDescriptorLabelArgs(
                    key=key, value_type="STRING", description=doc
                )
                for key, (_extractor, doc) in spec.labels.items()
            ]
            self.log_metrics[spec.suffix] = gcp.logging.Metric(
                f"{name}-{spec.suffix.replace('_', '-')}",
                project=args.project,
                name=metric_id(service, spec.suffix),
                description=spec.description,
                filter=f"{base_filter} AND {spec.match}",
                label_extractors={k: extractor for k, (extractor, _) in spec.labels.items()},
                metric_descriptor=gcp.logging.MetricMetricDescriptorArgs(
                    metric_kind="DELTA",
                    value_type="DISTRIBUTION" if spec.distribution else "INT64",
                    unit=spec.unit,
                    labels=labels,
                    display_name=f"{service} Phase 2: {spec.suffix.replace('_', ' ')}",
                ),
                value_extractor=spec.value_extractor,
                bucket_options=(
                    gcp.logging.MetricBucketOptionsArgs(
                        explicit_buckets=gcp.logging.MetricBucketOptionsExplicitBucketsArgs(
                            bounds=list(spec.bounds)
                        )
                    )
                    if spec.distribution
                    else None
                ),
                opts=child,
            )

        self.dashboard = gcp.monitoring.Dashboard(
            f"{name}-dashboard",
            project=args.project,
            dashboard_json=json.dumps(
                dashboard(service, args.phase2, args.error_ratio_threshold_percent),
                ensure_ascii=False,
                sort_keys=True,
            ),
            # The charts read the log metrics: create those first.
            opts=pulumi.ResourceOptions.merge(
                child, pulumi.ResourceOptions(depends_on=list(self.log_metrics.values()))
            ),
        )
        self.register_outputs(
            {
                "uptimeCheckId": self.uptime_check.uptime_check_id,
                "alertPolicies": [self.uptime_alert.name, self.error_alert.name],
                "notificationChannels": channel_names,
                "logMetrics": [m.name for m in self.log_metrics.values()],
                "dashboard": self.dashboard.id,
            }
        )
