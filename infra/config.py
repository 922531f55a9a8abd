"""The stack's settings: one frozen object, built once, validated before any resource exists.

Every key is declared once in `KEYS` (type, default, description). `Pulumi.yaml` declares the same
keys for the Pulumi CLI; `tests/settings/test_config.py` keeps the two in step, because Pulumi's
mocks never apply `Pulumi.yaml` defaults.

`load_settings()` reads `pulumi.Config` inside a Pulumi program. `load_stack_settings(stack)`
reads `Pulumi.yaml` and `Pulumi.<stack>.yaml` directly for commands that run outside the
engine (`python -m infra local`, `verify`, ...). Both go through `build_settings()`, which
collects every problem and raises one `SettingsError` naming each key and its fix.
"""

from __future__ import annotations

import base64
import functools
import json
import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

import pulumi

from infra.rules.build_source import build_arg_problems, dockerfile_args
from infra.rules.checks import DEFAULT_CHECK_LINES, CheckSpecError, parse_checks
from infra.rules.spelling import closest

PROJECT = "emergence-cloudrun"
PROJECT_DIR = Path(__file__).resolve().parent.parent

# Cloud Run regions (https://cloud.google.com/run/docs/locations).
CLOUD_RUN_REGIONS = frozenset(
    """
    africa-south1 asia-east1 asia-east2 asia-northeast1 asia-northeast2 asia-northeast3
    asia-south1 asia-south2 asia-southeast1 asia-southeast2 australia-southeast1
    australia-southeast2 europe-central2 europe-north1 europe-north2 europe-southwest1
    europe-west1 europe-west2 europe-west3 europe-west4 europe-west6 europe-west8 europe-west9
    europe-west10 europe-west12 me-central1 me-central2 me-west1 northamerica-northeast1
    northamerica-northeast2 northamerica-south1 southamerica-east1 southamerica-west1
    us-central1 us-east1 us-east4 us-east5 us-south1 us-west1 us-west2 us-west3 us-west4
    """.split()
)

PUBLIC_ACCESS_MODES = ("allUsers", "invokerIamDisabled", "private")

# Cloud Run CPU/memory rules (https://cloud.google.com/run/docs/configuring/services/memory-limits,
# .../cpu): whole CPUs allowed above 1, memory ceiling and floor per CPU count.
_CPU_WHOLE = (1, 2, 4, 6, 8)
_MEMORY_MAX_MIB = {1: 4096, 2: 8192, 4: 16384, 6: 24576, 8: 32768}
_MEMORY_MIN_MIB = {1: 128, 2: 128, 4: 2048, 6: 4096, 8: 4096}

_SERVICE_NAME = re.compile(r"^[a-z](?:[-a-z0-9]{0,47}[a-z0-9])?$")
_PROJECT_ID = re.compile(r"^[a-z][-a-z0-9]{4,28}[a-z0-9]$")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_LABEL = r"[A-Za-z0-9](?:[-A-Za-z0-9]{0,61}[A-Za-z0-9])?"
_HOSTNAME = re.compile(rf"^(?=.{{1,253}}$){_LABEL}(?:\.{_LABEL})*$")
_REPOSITORY_ID = re.compile(r"^[a-z](?:[-a-z0-9]{0,61}[a-z0-9])?$")
_IMAGE_NAME = re.compile(r"^[a-z0-9]+(?:[._-][a-z0-9]+)*(?:/[a-z0-9]+(?:[._-][a-z0-9]+)*)*$")
_ROLE = re.compile(r"^roles/[A-Za-z0-9_.]+$")
_BRANCH = re.compile(r"^(?!-)(?!.*\.\.)(?!.*//)[A-Za-z0-9._/-]+(?<![./])$")


@dataclass(frozen=True)
class Key:
    """One stack setting: `emergence-cloudrun:<name>` (or `gcp:<name>` for the provider's keys)."""

    name: str
    type: str  # Pulumi.yaml type: string | integer | boolean | array
    default: Any
    description: str
    secret: bool = False
    namespace: str = PROJECT

    @property
    def full(self) -> str:
        return f"{self.namespace}:{self.name}"


def _k(name: str, type_: str, default: Any, description: str, **kw: Any) -> Key:
    return Key(name, type_, default, description, **kw)


# Provider keys: read from the `gcp` namespace, declared in Pulumi.<stack>.yaml, not Pulumi.yaml.
GCP_KEYS: tuple[Key, ...] = (
    _k("project", "string", None, "Google Cloud project id.", namespace="gcp"),
    _k("region", "string", None, "Cloud Run and Artifact Registry region.", namespace="gcp"),
)

KEYS: tuple[Key, ...] = (
    # the service
    _k("serviceName", "string", "emergence-app", "Cloud Run service name (the one service)."),
    _k("cpu", "string", "1", "CPU limit per instance: 0.08-1 or 1, 2, 4, 6, 8."),
    _k("memory", "string", "2Gi", "Memory limit per instance, in Mi or Gi (128Mi-32Gi)."),
    _k("cpuIdle", "boolean", True, "Throttle CPU outside requests (request-based billing)."),
    _k("startupCpuBoost", "boolean", True, "Give extra CPU while an instance starts."),
    _k("minInstances", "integer", 0, "Minimum number of instances (0 lets the service idle)."),
    _k("maxInstances", "integer", 4, "Maximum number of instances (caps cost)."),
    _k("concurrency", "integer", 80, "Maximum concurrent requests per instance (1-1000)."),
    _k("requestTimeoutSeconds", "integer", 300, "Request timeout in seconds (1-3600)."),
    _k("containerPort", "integer", 8080, "Port the container listens on ($PORT)."),
    _k("healthPath", "string", "/api/health", "Path probed by the startup and liveness probes."),
    _k("startupProbeInitialDelaySeconds", "integer", 0, "Startup probe initial delay (0-240)."),
    _k("startupProbePeriodSeconds", "integer", 5, "Seconds between startup probes (1-240)."),
    _k("startupProbeTimeoutSeconds", "integer", 3, "Startup probe timeout, below the period."),
    _k("startupProbeFailureThreshold", "integer", 24, "Failed startup probes before giving up."),
    _k("livenessProbePeriodSeconds", "integer", 30, "Seconds between liveness probes (1-3600)."),
    _k("livenessProbeTimeoutSeconds", "integer", 5, "Liveness probe timeout, below the period."),
    _k("livenessProbeFailureThreshold", "integer", 3, "Failed liveness probes before restart."),
    _k(
        "publicAccess",
        "string",
        "allUsers",
        "Who may invoke the service: allUsers (IAM binding), invokerIamDisabled (no IAM check, "
        "for organisations that forbid allUsers) or private.",
    ),
    _k("deletionProtection", "boolean", True, "Refuse to delete the Cloud Run service."),
    _k(
        "runtimeRoles",
        "array",
        ["roles/logging.logWriter", "roles/monitoring.metricWriter"],
        "Project roles granted to the runtime service account (besides secret access).",
    ),
    _k(
        "appEnv",
        "object",
        {},
        "Plain env vars of the app, NAME: value (never a secret: use appSecretEnv).",
    ),
    _k(
        "appSecretEnv",
        "object",
        {},
        "Env vars read from existing Secret Manager secrets, NAME: SECRET_ID:VERSION (a whole "
        "version number, never latest); the runtime account may read each of those secrets.",
    ),
    # e-mail
    _k("emailEnabled", "boolean", True, "EMAIL_ENABLED: send e-mail through SMTP."),
    _k("smtpHost", "string", "smtp.gmail.com", "SMTP_HOST: the server mail is sent through."),
    _k("smtpPort", "integer", 587, "SMTP_PORT (1-65535)."),
    _k("smtpUser", "string", "", "SMTP_USER: the SMTP login, an e-mail address."),
    _k("smtpFromEmail", "string", "", "SMTP_FROM_EMAIL: the sender address."),
    _k("smtpFromName", "string", "ÉMERGENCE", "SMTP_FROM_NAME: the sender's display name."),
    _k("smtpUseTls", "boolean", True, "SMTP_USE_TLS: STARTTLS on the SMTP connection."),
    _k(
        "smtpPassword",
        "string",
        None,
        "SMTP_PASSWORD, stored in Secret Manager. Set only with `pulumi config set --secret`.",
        secret=True,
    ),
    # image and registry
    _k("artifactRepository", "string", "app", "Artifact Registry repository id (Docker)."),
    _k("imageName", "string", "emergence-app", "Image name inside the repository."),
    _k(
        "buildContext",
        "string",
        "app_image",
        "The app's source (the Docker build context), relative to Pulumi.yaml: this "
        "repository's app_image (the reference app) or the app's own checkout, e.g. "
        "../emergencev8.",
    ),
    _k(
        "dockerfile",
        "string",
        "app_image/Dockerfile",
        "Dockerfile path, relative to Pulumi.yaml (the one Dockerfile serves both apps).",
    ),
    _k("buildTarget", "string", "", "Dockerfile stage to build (empty: the last stage)."),
    _k(
        "buildArgs",
        "object",
        {},
        "Docker build arguments (a map of ARG name to string value), the same for pulumi up "
        "and python -m infra local; each must be an ARG of the Dockerfile.",
    ),
    _k(
        "buildInclude",
        "array",
        [],
        "The allow-list: paths of the build context the image ships (.dockerignore syntax, "
        "'!path' leaves one out); empty: the context's own .dockerignore, if it starts with '*'.",
    ),
    _k(
        "appDefaultBranch",
        "string",
        "main",
        "Branch of the app's own checkout whose commits stack prod deploys (the clean-tree "
        "gate checks origin/<branch> there too).",
    ),
    _k(
        "buildCache",
        "string",
        "registry",
        "The image build's layer cache: registry (read and rewritten on every deploy in the "
        "image's buildcache tag, so a fresh builder reuses every unchanged step) or none.",
    ),
    _k("imagesToKeep", "integer", 10, "Recent image versions the registry cleanup always keeps."),
    _k("untaggedImageMaxAgeDays", "integer", 14, "Delete untagged images older than this."),
    # revisions, rollback, checks
    _k("revisionsToKeep", "integer", 3, "Ready revisions kept by retention (1-3)."),
    _k("retentionDryRun", "boolean", False, "Report what retention would delete; delete nothing."),
    _k(
        "rollbackRevision",
        "string",
        "",
        "Pin 100% of traffic to this revision (empty: the latest revision serves).",
    ),
    _k("verifyDeployment", "boolean", True, "Run the post-deploy checks; a failure fails `up`."),
    _k(
        "verifyChecks",
        "array",
        list(DEFAULT_CHECK_LINES),
        "Post-deploy HTTP checks, one line each: '<name> <path> <status> [any|json|html|"
        "prometheus] [<field>=<value>]' (the defaults are the service contract).",
    ),
    _k(
        "verifyAllowedServices",
        "array",
        [],
        "Other Cloud Run services allowed in the region; any other one fails the gate.",
    ),
    _k("monitoringEnabled", "boolean", True, "Declare uptime check, alerts, metrics, dashboard."),
    _k("allowDirtyDeploy", "boolean", False, "Emergency override of the clean-tree gate."),
    _k(
        "defaultBranch",
        "string",
        "main",
        "Branch whose commits stack prod deploys (the clean-tree gate checks origin/<branch>).",
    ),
    _k("adoptExisting", "boolean", False, "Import the hand-made production resources."),
    # monitoring (issue 9): alerts, uptime check
    _k(
        "alertEmails",
        "array",
        [],
        "E-mail addresses notified by the alert policies (empty: alerts without notification).",
    ),
    _k("uptimeCheckPeriodSeconds", "integer", 300, "Uptime check period: 60, 300, 600 or 900 s."),
    _k("uptimeCheckTimeoutSeconds", "integer", 10, "Uptime check timeout in seconds (1-60)."),
    _k(
        "errorRatioThresholdPercent",
        "integer",
        5,
        "Alert when 5xx responses exceed this share of requests (1-100 %).",
    ),
    _k(
        "errorRatioDurationSeconds",
        "integer",
        300,
        "How long the 5xx ratio must stay above the threshold before alerting (0-3600 s).",
    ),
    # the Phase 2 report and dashboard (issue 9)
    _k("phase2CacheHitRateMinPercent", "integer", 40, "Phase 2: minimum cache hit rate (%)."),
    _k(
        "phase2CacheHitRateExpectedMaxPercent",
        "integer",
        50,
        "Phase 2: top of the expected cache hit rate band (%); above it is flagged, not failed.",
    ),
    _k("phase2AnalysisP95TargetMs", "integer", 2000, "Phase 2: analysis latency p95 target (ms)."),
    _k("phase2DebateRound1TargetMs", "integer", 3000, "Phase 2: debate round 1 p50 target (ms)."),
    _k("phase2DebateTotalTargetMs", "integer", 11000, "Phase 2: whole debate p50 target (ms)."),
    _k(
        "phase2CostMetric",
        "string",
        "emergence_api_cost_usd_total",
        "Phase 2: Prometheus counter of API cost (or tokens) read from /api/metrics.",
    ),
    _k(
        "phase2CostBaseline",
        "string",
        "",
        "Phase 2: the cost counter's value over the same window before Phase 2 (empty: unjudged).",
    ),
    _k("phase2CostTargetPercent", "integer", 80, "Phase 2: cost target, % of the baseline."),
)

KEYS_BY_NAME: dict[str, Key] = {k.name: k for k in (*KEYS, *GCP_KEYS)}


# A `pulumi config set|rm` command inside a fix hint: options, the key, and for `set` the
# value (a word, or a `<placeholder>`). with_stack() adds `--stack <name>` after it.
_CONFIG_COMMAND = re.compile(
    r"pulumi config (?:set|rm)(?: --(?:secret|path|plaintext))*"
    r" (?:'[^']*'|[^\s'`<>(),;]+)"
    r"(?: (?:<[^<>]*>|'[^']*'|(?!or\b)[^\s(),;'`<]*[^\s(),;'`<.]))?"
    r"(?![^,;()`]*--stack)"
)


def with_stack(text: str, stack: str) -> str:
    """Every `pulumi config set/rm ...` in `text`, with `--stack <stack>`: a fix hint that
    names no stack changes whichever stack happens to be selected."""
    return _CONFIG_COMMAND.sub(lambda m: f"{m.group(0)} --stack {stack}", text)


class SettingsError(pulumi.RunError):
    """Bad stack settings. Pulumi prints a RunError without a traceback."""

    def __init__(self, stack: str, problems: list[tuple[str, str]]):
        self.stack = stack
        problems = [
            (key, with_stack(message, stack).replace("Pulumi.<stack>.yaml", f"Pulumi.{stack}.yaml"))
            for key, message in problems
        ]
        self.problems = problems
        lines = [f"{key}: {message}" for key, message in problems]
        head = f"for stack '{stack}' (nothing was changed):"
        if len(lines) == 1:  # one line, as every command prints an error
            super().__init__(f"invalid setting {head} {lines[0]}")
        else:
            super().__init__(f"invalid settings {head}\n  - " + "\n  - ".join(lines))

    @property
    def keys(self) -> list[str]:
        return [key for key, _ in self.problems]


@dataclass(frozen=True)
class ProbeSettings:
    path: str
    initial_delay_seconds: int
    period_seconds: int
    timeout_seconds: int
    failure_threshold: int


@dataclass(frozen=True)
class SecretRef:
    """An env var read from an existing Secret Manager secret (appSecretEnv): never created or
    owned by this stack, pinned to a whole version number."""

    name: str  # the env var
    secret_id: str  # a secret of the stack's project
    version: str  # "5", never "latest"

    @property
    def text(self) -> str:
        """The setting's form, `SECRET_ID:VERSION` (what gcloud's --set-secrets takes)."""
        return f"{self.secret_id}:{self.version}"


@dataclass(frozen=True)
class ServiceSettings:
    name: str
    cpu: str
    memory: str
    cpu_idle: bool
    startup_cpu_boost: bool
    min_instances: int
    max_instances: int
    concurrency: int
    request_timeout_seconds: int
    container_port: int
    startup_probe: ProbeSettings
    liveness_probe: ProbeSettings
    public_access: str
    deletion_protection: bool
    runtime_roles: tuple[str, ...]
    env: tuple[tuple[str, str], ...] = ()  # appEnv, sorted by name
    secret_env: tuple[SecretRef, ...] = ()  # appSecretEnv, sorted by name


@dataclass(frozen=True)
class SmtpSettings:
    enabled: bool
    host: str
    port: int
    user: str
    from_email: str
    from_name: str
    use_tls: bool
    password_configured: bool
    # An Output[str] marked secret inside a program, None outside the engine. Never printed.
    password: Any = field(default=None, repr=False, compare=False)

    def env(self) -> dict[str, str]:
        """The plain (non-secret) environment variables the app reads, in the guide's names."""
        return {
            "EMAIL_ENABLED": "1" if self.enabled else "0",
            "SMTP_HOST": self.host,
            "SMTP_PORT": str(self.port),
            "SMTP_USER": self.user,
            "SMTP_FROM_EMAIL": self.from_email,
            "SMTP_FROM_NAME": self.from_name,
            "SMTP_USE_TLS": "1" if self.use_tls else "0",
        }


# buildCache's two words.
CACHE_REGISTRY = "registry"
CACHE_NONE = "none"
CACHE_TAG = "buildcache"  # the registry cache's tag in the image's repository


def registry_host(region: str) -> str:
    """Artifact Registry's Docker host for `region`."""
    return f"{region}-docker.pkg.dev"


def image_repository(region: str, project: str, repository_id: str, image_name: str) -> str:
    """`<region>-docker.pkg.dev/<project>/<repository>/<image>`, without tag or digest."""
    return f"{registry_host(region)}/{project}/{repository_id}/{image_name}"


@dataclass(frozen=True)
class ImageSettings:
    repository_id: str
    image_name: str
    context: Path  # absolute; may not exist (plan without the app's checkout)
    dockerfile: Path  # absolute
    target: str
    platform: str = "linux/amd64"
    build_args: tuple[tuple[str, str], ...] = ()  # buildArgs, sorted by name
    include: tuple[str, ...] = ()  # buildInclude (empty: the context's .dockerignore)
    context_setting: str = "app_image"  # buildContext as written in the stack
    app_default_branch: str = "main"
    cache_ref: str | None = None  # buildCache registry: <image repository>:buildcache

    @property
    def args(self) -> dict[str, str]:
        return dict(self.build_args)

    @property
    def writable_paths(self) -> tuple[str, ...]:
        """APP_WRITABLE_PATHS: what the app writes, created empty and never shipped."""
        return tuple(self.args.get("APP_WRITABLE_PATHS", "").split())

    @property
    def hf_cache_dir(self) -> str:
        """HF_CACHE_DIR: a Hugging Face cache inside the build context, staged for the model."""
        return self.args.get("HF_CACHE_DIR", "").strip()


@dataclass(frozen=True)
class RegistrySettings:
    repository_id: str
    images_to_keep: int
    untagged_max_age_days: int


@dataclass(frozen=True)
class RetentionSettings:
    revisions_to_keep: int
    dry_run: bool


@dataclass(frozen=True)
class MonitoringSettings:
    enabled: bool = True
    alert_emails: tuple[str, ...] = ()
    uptime_period_seconds: int = 300
    uptime_timeout_seconds: int = 10
    error_ratio_threshold_percent: int = 5
    error_ratio_duration_seconds: int = 300


@dataclass(frozen=True)
class Phase2Settings:
    """The Phase 2 goals, judged by `python -m infra phase2` and drawn on the dashboard."""

    cache_hit_rate_min_percent: int = 40
    cache_hit_rate_expected_max_percent: int = 50
    analysis_p95_target_ms: int = 2000
    debate_round1_target_ms: int = 3000
    debate_total_target_ms: int = 11000
    cost_metric: str = "emergence_api_cost_usd_total"
    cost_baseline: float | None = None
    cost_target_percent: int = 80


@dataclass(frozen=True)
class Settings:
    stack: str
    project: str
    region: str
    service: ServiceSettings
    smtp: SmtpSettings
    image: ImageSettings
    registry: RegistrySettings
    retention: RetentionSettings
    rollback_revision: str | None
    verify_deployment: bool
    verify_checks: tuple[str, ...]
    verify_allowed_services: tuple[str, ...]
    allow_dirty_deploy: bool
    default_branch: str
    adopt_existing: bool
    monitoring: MonitoringSettings = field(default_factory=MonitoringSettings)
    phase2: Phase2Settings = field(default_factory=Phase2Settings)

    def plain_env(self) -> dict[str, str]:
        """Every plain env var the service declares: the e-mail settings, then appEnv (the
        program and the local run both call this)."""
        return {**self.smtp.env(), **dict(self.service.env)}

    @property
    def registry_host(self) -> str:
        return registry_host(self.region)

    @property
    def secret_env_names(self) -> tuple[str, ...]:
        """The environment variables the service reads from Secret Manager (values never in
        the settings). `python -m infra local` takes each one's value from the caller's
        environment variable of the same name, or an env file. Every secret env the service
        declares must be listed here."""
        smtp = (SMTP_SECRET_ENV,) if self.smtp.enabled else ()
        return smtp + tuple(ref.name for ref in self.service.secret_env)

    @property
    def image_repository(self) -> str:
        """`<region>-docker.pkg.dev/<project>/<repository>/<image>`, without tag or digest."""
        return image_repository(
            self.region, self.project, self.registry.repository_id, self.image.image_name
        )


# --------------------------------------------------------------------------- reading values


class _Reader:
    """Typed access to raw config strings; records problems instead of raising on the first."""

    def __init__(self, raw: Mapping[str, str | None], secrets_present: set[str]):
        self.raw = raw
        self.secrets_present = secrets_present
        self.problems: list[tuple[str, str]] = []

    def problem(self, name: str, message: str) -> None:
        self.problems.append((KEYS_BY_NAME[name].full, message))

    def _value(self, name: str) -> tuple[Key, str | None]:
        key = KEYS_BY_NAME[name]
        value = self.raw.get(key.full)
        return key, value

    def string(self, name: str) -> str:
        key, value = self._value(name)
        if value is None:
            if key.default is None:
                self.problem(name, f"is not set. Fix: pulumi config set {key.full} <value>")
                return ""
            return str(key.default)
        return value.strip()

    def integer(self, name: str, low: int, high: int, unit: str = "") -> int:
        key, value = self._value(name)
        if value is None:
            return int(key.default)
        text = value.strip()
        try:
            number = int(text)
        except ValueError:
            self.problem(
                name,
                f"{text!r} is not an integer. Fix: pulumi config set {key.full} {key.default}",
            )
            return int(key.default)
        if not low <= number <= high:
            self.problem(
                name,
                f"{number}{unit} is outside {low}..{high}{unit}. "
                f"Fix: pulumi config set {key.full} {key.default}",
            )
        return number

    def boolean(self, name: str) -> bool:
        key, value = self._value(name)
        if value is None:
            return bool(key.default)
        text = value.strip().lower()
        if text in ("true", "false"):
            return text == "true"
        self.problem(
            name,
            f"{value!r} is not a boolean. "
            f"Fix: pulumi config set {key.full} {str(bool(key.default)).lower()}",
        )
        return bool(key.default)

    def string_map(self, name: str) -> dict[str, Any]:
        """An object setting (`NAME: value` in the stack file, JSON text from the engine);
        values are returned as they are, for the caller to judge."""
        key, value = self._value(name)
        if value is None:
            return dict(key.default)
        try:
            items = json.loads(value)
        except (json.JSONDecodeError, RecursionError):
            items = None
        if not isinstance(items, dict):
            self.problem(
                name,
                f"is not a map of NAME: value. Fix: pulumi config set --path '{key.full}.NAME' "
                "<value> (or edit the map in Pulumi.<stack>.yaml)",
            )
            return dict(key.default)
        return items

    def mapping(self, name: str) -> dict[str, str]:
        """An object of string values only (e.g. build arguments, where a YAML number such as
        2.10 would silently become 2.1)."""
        items = self.string_map(name)
        bad = sorted(k for k, v in items.items() if not isinstance(v, str))
        if bad:
            self.problem(
                name,
                f"{', '.join(bad)}: not a string (a YAML number such as 2.10 would become "
                "2.1). Fix: quote the value in Pulumi.<stack>.yaml",
            )
        return {k: v for k, v in items.items() if isinstance(v, str)}

    def string_list(self, name: str) -> tuple[str, ...]:
        key, value = self._value(name)
        if value is None:
            return tuple(key.default)
        try:
            items = json.loads(value)
        except json.JSONDecodeError:
            items = None
        if not isinstance(items, list) or not all(isinstance(i, str) for i in items):
            self.problem(
                name,
                f"{value!r} is not a list of strings. Fix: pulumi config set --path "
                f"'{key.full}[0]' <value> (or edit the list in Pulumi.<stack>.yaml)",
            )
            return tuple(key.default)
        return tuple(items)


def _memory_mib(text: str) -> int | None:
    match = re.fullmatch(r"(\d+)(Mi|Gi)", text)
    if not match:
        return None
    number, unit = int(match.group(1)), match.group(2)
    return number * 1024 if unit == "Gi" else number


def cpu_cores(text: str) -> float | None:
    """A Cloud Run CPU limit (`1`, `0.5`, `500m`) in cores, or None when it is not one."""
    match = re.fullmatch(r"(\d+(?:\.\d+)?)|(\d+)m", text)
    if not match:
        return None
    return float(match.group(1)) if match.group(1) else int(match.group(2)) / 1000


def _check_resources(r: _Reader, cpu: str, memory: str, concurrency: int) -> None:
    cores = cpu_cores(cpu)
    mib = _memory_mib(memory)
    if cores is None or not (0.08 <= cores <= 8) or (cores > 1 and cores not in _CPU_WHOLE):
        r.problem(
            "cpu",
            f"{cpu!r} is not a Cloud Run CPU limit (0.08-1, or 1, 2, 4, 6, 8). "
            "Fix: pulumi config set emergence-cloudrun:cpu 1",
        )
        cores = None
    if mib is None or not (128 <= mib <= 32768):
        r.problem(
            "memory",
            f"{memory!r} is not a Cloud Run memory limit (128Mi to 32Gi, written like 512Mi or "
            "2Gi). Fix: pulumi config set emergence-cloudrun:memory 2Gi",
        )
        mib = None
    if cores is None:
        return
    if cores < 1 and concurrency != 1:
        r.problem(
            "cpu",
            f"a CPU limit below 1 ({cpu}) needs concurrency 1 on Cloud Run. "
            "Fix: pulumi config set emergence-cloudrun:cpu 1",
        )
    if mib is None:
        return
    whole = max(1, int(cores))
    if mib > _MEMORY_MAX_MIB[whole]:
        r.problem(
            "memory",
            f"{memory} is more than Cloud Run allows with {cpu} CPU "
            f"(at most {_MEMORY_MAX_MIB[whole] // 1024}Gi). Fix: pulumi config set "
            f"emergence-cloudrun:memory {_MEMORY_MAX_MIB[whole] // 1024}Gi (or raise "
            "emergence-cloudrun:cpu)",
        )
    if mib < _MEMORY_MIN_MIB[whole]:
        r.problem(
            "memory",
            f"{memory} is less than Cloud Run requires with {cpu} CPU "
            f"(at least {_MEMORY_MIN_MIB[whole] // 1024}Gi). Fix: pulumi config set "
            f"emergence-cloudrun:memory {_MEMORY_MIN_MIB[whole] // 1024}Gi (or lower "
            "emergence-cloudrun:cpu)",
        )


def _probe(r: _Reader, path: str, prefix: str, initial_delay: bool) -> ProbeSettings:
    max_period = 240 if prefix == "startupProbe" else 3600
    delay = r.integer(f"{prefix}InitialDelaySeconds", 0, 240, " s") if initial_delay else 0
    period = r.integer(f"{prefix}PeriodSeconds", 1, max_period, " s")
    timeout = r.integer(f"{prefix}TimeoutSeconds", 1, max_period, " s")
    threshold = r.integer(f"{prefix}FailureThreshold", 1, 100)
    if timeout > period:
        r.problem(
            f"{prefix}TimeoutSeconds",
            f"{timeout} s is longer than the probe period ({period} s); Cloud Run rejects it. "
            f"Fix: pulumi config set emergence-cloudrun:{prefix}TimeoutSeconds {min(period, 3)}",
        )
    return ProbeSettings(path, delay, period, timeout, threshold)


def _location(r: _Reader) -> tuple[str, str]:
    project = _project(r)
    region = r.string("region")
    if region == "" and r.raw.get("gcp:region") is not None:
        r.problem("region", "is empty. Fix: pulumi config set gcp:region europe-west1")
    elif region and region not in CLOUD_RUN_REGIONS:
        r.problem(
            "region",
            f"{region!r} is not a Cloud Run region. Fix: pulumi config set gcp:region "
            "europe-west1 (see https://cloud.google.com/run/docs/locations)",
        )
    return project, region


def _project(r: _Reader) -> str:
    project = r.string("project")
    if project == "" and r.raw.get("gcp:project") is not None:
        r.problem(
            "project",
            "is empty, so every resource name and the image path would lack the project. "
            "Fix: pulumi config set gcp:project emergence-469005",
        )
    elif project and not _PROJECT_ID.match(project):
        r.problem(
            "project",
            f"{project!r} is not a Google Cloud project id (6-30 lowercase letters, digits, "
            "hyphens). Fix: pulumi config set gcp:project emergence-469005",
        )
    return project


def _runtime_roles(r: _Reader) -> tuple[str, ...]:
    roles = r.string_list("runtimeRoles")
    key = KEYS_BY_NAME["runtimeRoles"].full
    bad_roles = [
        role
        for role in roles
        if not _ROLE.match(role) or role in ("roles/owner", "roles/editor", "roles/viewer")
    ]
    if bad_roles:
        r.problem(
            "runtimeRoles",
            f"{', '.join(bad_roles)}: not a predefined role, or a basic role the app must not "
            f"have. Fix: pulumi config set --path '{key}[{roles.index(bad_roles[0])}]' "
            "<a predefined role, such as roles/logging.logWriter>",
        )
    if SECRET_ACCESSOR_ROLE in roles:
        r.problem(
            "runtimeRoles",
            f"{SECRET_ACCESSOR_ROLE} on the whole project would let the app read every secret. "
            f"Fix: pulumi config rm --path '{key}[{roles.index(SECRET_ACCESSOR_ROLE)}]'; each "
            "secret in appSecretEnv (and SMTP_PASSWORD) is granted on that secret alone",
        )
    return roles


def build_settings(
    stack: str,
    raw: Mapping[str, str | None],
    *,
    secrets_present: set[str] | frozenset[str] = frozenset(),
    password: Any = None,
    project_dir: Path = PROJECT_DIR,
) -> Settings:
    """Validate raw config strings (`namespace:key` -> string) into Settings, or raise.

    `secrets_present` names the secret keys that are set (their values are never read here);
    `password` is the SMTP password as a secret Output (program) or None (commands).
    """
    r = _Reader(raw, set(secrets_present))

    project, region = _location(r)

    name = r.string("serviceName")
    if not _SERVICE_NAME.match(name):
        r.problem(
            "serviceName",
            f"{name!r} breaks Cloud Run's naming rules (lowercase letters, digits and hyphens, "
            "start with a letter, no trailing hyphen, at most 49 characters). "
            "Fix: pulumi config set emergence-cloudrun:serviceName emergence-app",
        )

    cpu = r.string("cpu")
    memory = r.string("memory")
    concurrency = r.integer("concurrency", 1, 1000)
    _check_resources(r, cpu, memory, concurrency)
    min_instances = r.integer("minInstances", 0, 1000)
    max_instances = r.integer("maxInstances", 1, 1000)
    if min_instances > max_instances:
        r.problem(
            "minInstances",
            f"{min_instances} is above maxInstances ({max_instances}). Fix: pulumi config set "
            f"emergence-cloudrun:minInstances {min(min_instances, max_instances)}",
        )
    health_path = r.string("healthPath")
    if not health_path.startswith("/"):
        r.problem(
            "healthPath",
            f"{health_path!r} is not a URL path. "
            "Fix: pulumi config set emergence-cloudrun:healthPath /api/health",
        )
    public_access = r.string("publicAccess")
    if public_access not in PUBLIC_ACCESS_MODES:
        r.problem(
            "publicAccess",
            f"{public_access!r} is not one of {', '.join(PUBLIC_ACCESS_MODES)}. "
            "Fix: pulumi config set emergence-cloudrun:publicAccess allUsers",
        )
    roles = _runtime_roles(r)
    env, secret_env = _runtime_env(r)
    service = ServiceSettings(
        name=name,
        cpu=cpu,
        memory=memory,
        cpu_idle=r.boolean("cpuIdle"),
        startup_cpu_boost=r.boolean("startupCpuBoost"),
        min_instances=min_instances,
        max_instances=max_instances,
        concurrency=concurrency,
        request_timeout_seconds=r.integer("requestTimeoutSeconds", 1, 3600, " s"),
        container_port=r.integer("containerPort", 1, 65535),
        startup_probe=_probe(r, health_path, "startupProbe", initial_delay=True),
        liveness_probe=_probe(r, health_path, "livenessProbe", initial_delay=False),
        public_access=public_access,
        deletion_protection=r.boolean("deletionProtection"),
        runtime_roles=roles,
        env=env,
        secret_env=secret_env,
    )

    smtp = _smtp(r, password)
    image, registry = _image_and_registry(r, project_dir, project, region)

    keep = r.integer("revisionsToKeep", 1, 3)
    if registry.images_to_keep < keep:
        r.problem(
            "imagesToKeep",
            f"{registry.images_to_keep} is fewer than revisionsToKeep ({keep}): the registry "
            "cleanup would delete the image of a revision kept for rollback. "
            f"Fix: pulumi config set emergence-cloudrun:imagesToKeep {max(10, keep)}",
        )
    rollback = r.string("rollbackRevision") or None
    if rollback is not None and not rollback.startswith(f"{name}-"):
        r.problem(
            "rollbackRevision",
            f"{rollback!r} is not a revision of service {name!r} (names look like "
            f"{name}-00042-abc). Fix: pick one from `python -m infra revisions`, or clear it "
            "with pulumi config rm emergence-cloudrun:rollbackRevision",
        )

    default_branch = r.string("defaultBranch")
    if not _BRANCH.match(default_branch) or default_branch.endswith(".lock"):
        r.problem(
            "defaultBranch",
            f"{default_branch!r} is not a git branch name. "
            "Fix: pulumi config set emergence-cloudrun:defaultBranch main",
        )

    verify_checks, allowed_services = _verification(r, name)

    settings = Settings(
        stack=stack,
        project=project,
        region=region,
        service=service,
        smtp=smtp,
        image=image,
        registry=registry,
        retention=RetentionSettings(keep, r.boolean("retentionDryRun")),
        rollback_revision=rollback,
        verify_deployment=r.boolean("verifyDeployment"),
        verify_checks=verify_checks,
        verify_allowed_services=allowed_services,
        allow_dirty_deploy=r.boolean("allowDirtyDeploy"),
        default_branch=default_branch,
        adopt_existing=r.boolean("adoptExisting"),
        monitoring=_monitoring(r),
        phase2=_phase2(r),
    )
    if r.problems:
        raise SettingsError(stack, r.problems)
    return settings


_UPTIME_PERIODS = (60, 300, 600, 900)
_METRIC_NAME = re.compile(r"^[a-zA-Z_:][a-zA-Z0-9_:]*$")


def _monitoring(r: _Reader) -> MonitoringSettings:
    emails = r.string_list("alertEmails")
    bad = [e for e in emails if not _EMAIL.match(e)]
    if bad:
        r.problem(
            "alertEmails",
            f"{', '.join(bad)}: not an e-mail address. Fix: pulumi config set --path "
            "'emergence-cloudrun:alertEmails[0]' ops@example.com",
        )
    period = r.integer("uptimeCheckPeriodSeconds", 60, 900, " s")
    if period not in _UPTIME_PERIODS:
        r.problem(
            "uptimeCheckPeriodSeconds",
            f"{period} s is not an uptime check period Cloud Monitoring accepts "
            "(60, 300, 600, 900). Fix: pulumi config set "
            "emergence-cloudrun:uptimeCheckPeriodSeconds 300",
        )
    timeout = r.integer("uptimeCheckTimeoutSeconds", 1, 60, " s")
    if period in _UPTIME_PERIODS and timeout > period:
        r.problem(
            "uptimeCheckTimeoutSeconds",
            f"{timeout} s is longer than the period ({period} s). Fix: pulumi config set "
            f"emergence-cloudrun:uptimeCheckTimeoutSeconds {min(10, period)}",
        )
    return MonitoringSettings(
        enabled=r.boolean("monitoringEnabled"),
        alert_emails=emails,
        uptime_period_seconds=period,
        uptime_timeout_seconds=timeout,
        error_ratio_threshold_percent=r.integer("errorRatioThresholdPercent", 1, 100, " %"),
        error_ratio_duration_seconds=r.integer("errorRatioDurationSeconds", 0, 3600, " s"),
    )


def _phase2(r: _Reader) -> Phase2Settings:
    low = r.integer("phase2CacheHitRateMinPercent", 1, 100, " %")
    high = r.integer("phase2CacheHitRateExpectedMaxPercent", 1, 100, " %")
    if high < low:
        r.problem(
            "phase2CacheHitRateExpectedMaxPercent",
            f"{high} % is below phase2CacheHitRateMinPercent ({low} %). Fix: pulumi config set "
            f"emergence-cloudrun:phase2CacheHitRateExpectedMaxPercent {max(low, 50)}",
        )
    metric = r.string("phase2CostMetric")
    if not _METRIC_NAME.match(metric):
        r.problem(
            "phase2CostMetric",
            f"{metric!r} is not a Prometheus metric name. Fix: pulumi config set "
            "emergence-cloudrun:phase2CostMetric emergence_api_cost_usd_total",
        )
    baseline_text = r.string("phase2CostBaseline")
    baseline: float | None = None
    if baseline_text:
        try:
            baseline = float(baseline_text)
        except ValueError:
            baseline = None
        if baseline is None or not (baseline > 0 and baseline < float("inf")):
            r.problem(
                "phase2CostBaseline",
                f"{baseline_text!r} is not a positive number. Fix: pulumi config set "
                "emergence-cloudrun:phase2CostBaseline 12.5 (the counter's value over the "
                "same window before Phase 2), or clear it with pulumi config rm "
                "emergence-cloudrun:phase2CostBaseline",
            )
            baseline = None
    return Phase2Settings(
        cache_hit_rate_min_percent=low,
        cache_hit_rate_expected_max_percent=high,
        analysis_p95_target_ms=r.integer("phase2AnalysisP95TargetMs", 1, 600_000, " ms"),
        debate_round1_target_ms=r.integer("phase2DebateRound1TargetMs", 1, 600_000, " ms"),
        debate_total_target_ms=r.integer("phase2DebateTotalTargetMs", 1, 3_600_000, " ms"),
        cost_metric=metric,
        cost_baseline=baseline,
        cost_target_percent=r.integer("phase2CostTargetPercent", 1, 100, " %"),
    )


def load_report_settings(
    stack: str = "prod", project_dir: Path = PROJECT_DIR
) -> tuple[str, str, Phase2Settings]:
    """(project, service name, Phase 2 goals) for `python -m infra phase2`, from the stack file.

    Only the keys the report reads are validated: an unrelated setting (an SMTP password not
    set on this machine) does not stop a report.
    """
    values, secure = read_stack_config(stack, project_dir)
    r = _Reader(values, secure)
    project = _project(r)
    name = r.string("serviceName")
    phase2 = _phase2(r)
    if r.problems:
        raise SettingsError(stack, r.problems)
    return project, name, phase2


SECRET_ACCESSOR_ROLE = "roles/secretmanager.secretAccessor"  # noqa: S105 - a role name
SMTP_SECRET_ENV = "SMTP_PASSWORD"  # noqa: S105 - the env var (and secret id) this stack owns
# Env var names that Cloud Run sets itself (https://cloud.google.com/run/docs/container-contract).
_RESERVED_ENV = re.compile(r"^(?:PORT|K_[A-Z0-9_]*)$")
ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,254}$")
SECRET_LOOKING_ENV = re.compile(r"PASSWORD|SECRET|TOKEN|KEY", re.IGNORECASE)
_SECRET_REF = re.compile(r"^([A-Za-z0-9_-]{1,255}):([1-9][0-9]{0,9})$")


def _env_name_problem(name: str) -> str | None:
    if not ENV_NAME.match(name):
        return (
            f"{name!r} is not an environment variable name (letters, digits and '_', not "
            "starting with a digit)"
        )
    if _RESERVED_ENV.match(name):
        return f"{name} is set by Cloud Run itself (PORT and K_* are reserved)"
    return None


def _runtime_env(r: _Reader) -> tuple[tuple[tuple[str, str], ...], tuple[SecretRef, ...]]:
    """appEnv and appSecretEnv, judged by name before any resource: valid and unreserved
    names, none declared twice (the SMTP variables included), no secret in plain text, and
    references to existing secrets pinned to a version. Values are never repeated."""
    plain_key, secret_key = KEYS_BY_NAME["appEnv"].full, KEYS_BY_NAME["appSecretEnv"].full
    smtp_names = {*SmtpSettings(True, "", 0, "", "", "", True, False).env(), SMTP_SECRET_ENV}
    env: dict[str, str] = {}
    for name, value in sorted(r.string_map("appEnv").items()):
        problem = _env_name_problem(name)
        fix = f"pulumi config rm --path '{plain_key}.{name}'"
        if problem is None and name in smtp_names:
            problem = (
                f"{name} is declared twice: the e-mail settings set it already (emailEnabled, "
                "smtp*)"
            )
        if problem is None and SECRET_LOOKING_ENV.search(name):
            problem = (
                f"{name} looks like a secret (its name holds PASSWORD, SECRET, TOKEN or KEY), "
                "and a plain value sits in the stack file, the state and every revision"
            )
            fix = (
                f"store the value in Secret Manager (gcloud secrets create {name} "
                f"--data-file=-), then {fix} and pulumi config set --path "
                f"'{secret_key}.{name}' {name}:1"
            )
        if problem is None and (value is None or isinstance(value, list | dict)):
            # Numbers and booleans are text as written (`pulumi config set --path` stores
            # `true` and `4` unquoted); a list, a map or nothing is not an env value.
            problem = f"{name} is not text (a {'null' if value is None else type(value).__name__})"
            fix = f"write one quoted value for {name} in Pulumi.<stack>.yaml"
        if problem is not None:
            r.problem("appEnv", f"{problem}. Fix: {fix}")
            continue
        env[name] = config_string(value)
    refs: list[SecretRef] = []
    for name, value in sorted(r.string_map("appSecretEnv").items()):
        fix = f"pulumi config set --path '{secret_key}.{name}' <SECRET_ID>:<version number>"
        problem = _env_name_problem(name)
        if problem is None and name in smtp_names:
            problem = f"{name} is declared twice: the e-mail settings set it already" + (
                " (smtpPassword is the secret this stack creates)"
                if name == SMTP_SECRET_ENV
                else ""
            )
            fix = f"pulumi config rm --path '{secret_key}.{name}'"
        elif problem is None and name in env:
            problem = f"{name} is declared twice: in appEnv and in appSecretEnv"
            fix = f"keep one: pulumi config rm --path '{plain_key}.{name}'"
        match = _SECRET_REF.match(value) if isinstance(value, str) else None
        if problem is None and match is None:
            latest = isinstance(value, str) and value.rsplit(":", 1)[-1].lower() == "latest"
            problem = (
                f"{name}: the reference is not SECRET_ID:VERSION (an existing secret's id and a "
                "whole version number, e.g. OPENAI_API_KEY:5)"
                + (
                    "; latest is refused: a new version would reach instances at random and "
                    "roll no revision"
                    if latest
                    else ""
                )
            )
        if problem is None and match and match.group(1) == SMTP_SECRET_ENV:
            problem = (
                f"{name}: secret {SMTP_SECRET_ENV} is the one this stack creates and owns "
                "(smtpPassword); an env var reads it as SMTP_PASSWORD already"
            )
            fix = f"pulumi config rm --path '{secret_key}.{name}'"
        if problem is not None:
            r.problem("appSecretEnv", f"{problem}. Fix: {fix}")
            continue
        refs.append(SecretRef(name, match.group(1), match.group(2)))
    return tuple(env.items()), tuple(refs)


def _verification(r: _Reader, service_name: str) -> tuple[tuple[str, ...], tuple[str, ...]]:
    checks = r.string_list("verifyChecks")
    full = KEYS_BY_NAME["verifyChecks"].full
    try:
        parse_checks(checks, key=full)
    except CheckSpecError as exc:
        r.problem("verifyChecks", str(exc).removeprefix(f"{full}: "))
    allowed = r.string_list("verifyAllowedServices")
    bad = [n for n in allowed if not _SERVICE_NAME.match(n) or n == service_name]
    if bad:
        r.problem(
            "verifyAllowedServices",
            f"{', '.join(map(repr, bad))}: not another Cloud Run service name. Fix: list only "
            "the names of other services allowed in the region (not the service itself), "
            f"e.g. pulumi config set --path '{KEYS_BY_NAME['verifyAllowedServices'].full}[0]' "
            "<service>",
        )
    return checks, allowed


def _smtp(r: _Reader, password: Any) -> SmtpSettings:
    enabled = r.boolean("emailEnabled")
    host = r.string("smtpHost")
    port = r.integer("smtpPort", 1, 65535)
    user = r.string("smtpUser")
    from_email = r.string("smtpFromEmail")
    from_name = r.string("smtpFromName")
    password_configured = KEYS_BY_NAME["smtpPassword"].full in r.secrets_present
    if host and not _HOSTNAME.match(host):
        r.problem(
            "smtpHost",
            f"{host!r} is not a host name. "
            "Fix: pulumi config set emergence-cloudrun:smtpHost smtp.gmail.com",
        )
    for name, value in (("smtpUser", user), ("smtpFromEmail", from_email)):
        if value and not _EMAIL.match(value):
            r.problem(
                name,
                f"{value!r} is not an e-mail address (no '@' or no domain). "
                f"Fix: pulumi config set emergence-cloudrun:{name} name@example.com",
            )
        elif enabled and not value:
            r.problem(
                name,
                "is empty while emailEnabled is true. "
                f"Fix: pulumi config set emergence-cloudrun:{name} name@example.com "
                "(or pulumi config set emergence-cloudrun:emailEnabled false)",
            )
    if enabled and not host:
        r.problem(
            "smtpHost",
            "is empty while emailEnabled is true. "
            "Fix: pulumi config set emergence-cloudrun:smtpHost smtp.gmail.com",
        )
    if enabled and not password_configured:
        r.problem(
            "smtpPassword",
            "is not set while emailEnabled is true. "
            "Fix: pulumi config set --secret emergence-cloudrun:smtpPassword "
            "(it prompts; the value is stored encrypted)",
        )
    return SmtpSettings(
        enabled=enabled,
        host=host,
        port=port,
        user=user,
        from_email=from_email,
        from_name=from_name,
        use_tls=r.boolean("smtpUseTls"),
        password_configured=password_configured,
        password=password,
    )


def _cache_ref(r: _Reader, image_repository: str) -> str | None:
    """buildCache: the registry cache's ref (registry) or None (none)."""
    setting = r.string("buildCache").strip()
    if setting == CACHE_NONE:
        return None
    if setting != CACHE_REGISTRY:
        r.problem(
            "buildCache",
            f"{setting!r} is neither registry nor none. "
            "Fix: pulumi config set emergence-cloudrun:buildCache registry",
        )
    return f"{image_repository}:{CACHE_TAG}"


def _image_and_registry(
    r: _Reader, project_dir: Path, project: str, region: str
) -> tuple[ImageSettings, RegistrySettings]:
    repository_id = r.string("artifactRepository")
    if not _REPOSITORY_ID.match(repository_id):
        r.problem(
            "artifactRepository",
            f"{repository_id!r} is not an Artifact Registry repository id (lowercase letters, "
            "digits, hyphens). Fix: pulumi config set emergence-cloudrun:artifactRepository app",
        )
    image_name = r.string("imageName")
    if not _IMAGE_NAME.match(image_name):
        r.problem(
            "imageName",
            f"{image_name!r} is not a Docker image name. "
            "Fix: pulumi config set emergence-cloudrun:imageName emergence-app",
        )
    context_setting = r.string("buildContext")
    if not context_setting:
        r.problem(
            "buildContext",
            "is empty. Fix: pulumi config set emergence-cloudrun:buildContext app_image "
            "(the reference app) or the path of the app's checkout, e.g. ../emergencev8",
        )
    # Whether the context exists is settled before any resource (infra/preflight/source.py):
    # `plan` works without the app's checkout, `pulumi up` and `local` stop on it.
    context = (project_dir / (context_setting or ".")).resolve()
    dockerfile = (project_dir / r.string("dockerfile")).resolve()
    declared: dict[str, str | None] = {}
    if not dockerfile.is_file():
        r.problem(
            "dockerfile",
            f"{dockerfile} does not exist. Fix: pulumi config set emergence-cloudrun:dockerfile "
            "app_image/Dockerfile (relative to Pulumi.yaml)",
        )
    else:
        declared = dockerfile_args(dockerfile.read_text(encoding="utf-8", errors="replace"))
    build_args = r.mapping("buildArgs")
    for problem in build_arg_problems(build_args, declared) if dockerfile.is_file() else ():
        r.problem(
            "buildArgs",
            f"{problem}. Fix: pulumi config rm --path "
            "'emergence-cloudrun:buildArgs.<NAME>', or correct the name",
        )
    include = r.string_list("buildInclude")
    for entry in include:
        text = entry.removeprefix("!").strip()
        if not text or text.startswith("/") or ".." in text.split("/"):
            r.problem(
                "buildInclude",
                f"{entry!r} is not a path inside the build context. Fix: list paths relative "
                "to the app's root, e.g. pulumi config set --path "
                "'emergence-cloudrun:buildInclude[0]' src/ (or edit the list in "
                "Pulumi.<stack>.yaml)",
            )
    for name in ("APP_WRITABLE_PATHS", "HF_CACHE_DIR"):
        for path in build_args.get(name, "").split():
            if path.startswith("/") or ".." in path.split("/"):
                r.problem(
                    "buildArgs",
                    f"{name}: {path!r} is not a path inside the app (relative, no '..'). "
                    f"Fix: pulumi config set --path 'emergence-cloudrun:buildArgs.{name}' <path>",
                )
    app_branch = r.string("appDefaultBranch")
    if not _BRANCH.match(app_branch) or app_branch.endswith(".lock"):
        r.problem(
            "appDefaultBranch",
            f"{app_branch!r} is not a git branch name. "
            "Fix: pulumi config set emergence-cloudrun:appDefaultBranch main",
        )
    cache_ref = _cache_ref(r, image_repository(region, project, repository_id, image_name))
    image = ImageSettings(
        repository_id=repository_id,
        image_name=image_name,
        context=context,
        dockerfile=dockerfile,
        target=r.string("buildTarget"),
        build_args=tuple(sorted(build_args.items())),
        include=include,
        context_setting=context_setting,
        app_default_branch=app_branch,
        cache_ref=cache_ref,
    )
    registry = RegistrySettings(
        repository_id=repository_id,
        images_to_keep=r.integer("imagesToKeep", 1, 1000),
        untagged_max_age_days=r.integer("untaggedImageMaxAgeDays", 1, 3650, " days"),
    )
    return image, registry


# --------------------------------------------------------------------------- entry points


def undeclared_keys(names: Iterable[str], stack: str) -> list[tuple[str, str]]:
    """Keys in the project's namespace that Pulumi.yaml does not declare: a typo that would
    otherwise leave the intended setting at its default without a word."""
    declared = {key.name: key for key in KEYS}
    problems = []
    for full in sorted(names):
        namespace, _, name = full.partition(":")
        if namespace != PROJECT or name in declared:
            continue
        guess = closest(name, declared)
        hint = f"; did you mean {PROJECT}:{guess}?" if guess else ""
        then = ""
        if guess:
            secret = " --secret" if declared[guess].secret else ""
            value = "" if secret else " <value>"
            then = f", then pulumi config set{secret} {PROJECT}:{guess}{value}"
        problems.append(
            (
                full,
                f"is not defined by the project configuration (Pulumi.yaml){hint} Fix: "
                f"pulumi config rm {full}{then} (in Pulumi.{stack}.yaml)",
            )
        )
    return problems


def load_settings() -> Settings:
    """Inside a Pulumi program: read `pulumi.Config`, validate, return Settings or raise."""
    stack = pulumi.get_stack()
    typos = undeclared_keys(pulumi.runtime.config.CONFIG.get(), stack)
    if typos:
        raise SettingsError(stack, typos)
    raw: dict[str, str | None] = {}
    configs: dict[str, pulumi.Config] = {}
    secrets_present: set[str] = set()
    password = None
    for key in (*GCP_KEYS, *KEYS):
        cfg = configs.setdefault(key.namespace, pulumi.Config(key.namespace))
        if key.secret:
            value = cfg.get_secret(key.name)
            if value is not None:
                secrets_present.add(key.full)
                password = value
            continue
        raw[key.full] = cfg.get(key.name)
    return build_settings(stack, raw, secrets_present=secrets_present, password=password)


# --------------------------------------------------------------------------- the stack file

STACK_FILE_MAX_BYTES = 256 * 1024  # a stack file is a few KB; this stops a runaway file early
STACK_FILE_MAX_DEPTH = 16  # nesting of maps and lists (stack files need 3)
_CIPHERTEXT = re.compile(r"^[A-Za-z0-9+/=_:-]{16,65536}$")


class _StackFileProblem(Exception):
    """Something in the stack file the program refuses to read; `line` is 1-based."""

    def __init__(self, message: str, line: int | None = None):
        super().__init__(message)
        self.line = line


@functools.cache
def _stack_loader() -> type:
    """A YAML loader that reads stack files the way the Pulumi CLI does (go-yaml v3, the
    YAML 1.2 core schema: `yes`/`on` and dates are text as written, `010` is octal), and
    refuses what a stack file never needs: anchors and aliases (their expansion is unbounded:
    "billion laughs"), duplicate keys (go-yaml refuses them; PyYAML keeps the last one) and
    nesting deeper than STACK_FILE_MAX_DEPTH."""
    import yaml  # noqa: PLC0415 - only the commands need YAML

    class Loader(yaml.SafeLoader):
        yaml_implicit_resolvers: dict[str | None, list[tuple[str, re.Pattern[str]]]] = {}  # noqa: RUF012

        def __init__(self, stream: str) -> None:
            super().__init__(stream)
            self.depth = 0

        def compose_node(self, parent: Any, index: Any) -> Any:
            event = self.peek_event()
            if isinstance(event, yaml.AliasEvent) or getattr(event, "anchor", None):
                raise _StackFileProblem(
                    f"uses a YAML anchor or alias ('&{event.anchor}' / '*{event.anchor}'), "
                    "which a stack file never needs (an alias can expand without bound)",
                    event.start_mark.line + 1,
                )
            self.depth += 1
            if self.depth > STACK_FILE_MAX_DEPTH:
                raise _StackFileProblem(
                    f"nests maps and lists more than {STACK_FILE_MAX_DEPTH} deep",
                    event.start_mark.line + 1,
                )
            try:
                return super().compose_node(parent, index)
            finally:
                self.depth -= 1

        def construct_mapping(self, node: Any, deep: bool = False) -> Any:
            seen: dict[Any, int] = {}
            for key_node, _ in node.value:
                if isinstance(key_node, yaml.ScalarNode):
                    line = key_node.start_mark.line + 1
                    if key_node.value in seen:
                        raise _StackFileProblem(
                            f"writes the key {key_node.value!r} twice (lines "
                            f"{seen[key_node.value]} and {line}); the Pulumi CLI refuses that"
                        )
                    seen[key_node.value] = line
            return super().construct_mapping(node, deep)

    def construct_int(loader: Any, node: Any) -> int | float:
        text = loader.construct_scalar(node).replace("_", "")
        sign, body = (-1, text[1:]) if text[:1] == "-" else (1, text.lstrip("+"))
        try:
            if re.fullmatch(r"0[0-7]+", body):  # go-yaml v3 still reads 010 as octal
                return sign * int(body, 8)
            return sign * int(body, 0)  # decimal, 0b, 0o, 0x
        except ValueError:
            return float(text)  # 09: not octal; go-yaml falls back to a float too

    resolvers = (
        ("tag:yaml.org,2002:null", r"^(?:~|null|Null|NULL|)$", ["~", "n", "N", ""]),
        ("tag:yaml.org,2002:bool", r"^(?:true|True|TRUE|false|False|FALSE)$", list("tTfF")),
        (
            "tag:yaml.org,2002:int",
            r"^[-+]?(?:0b[01_]{1,64}|0o?[0-7_]{1,24}|0x[0-9a-fA-F_]{1,16}|[0-9][0-9_]{0,30})$",
            list("-+0123456789"),
        ),
        (
            "tag:yaml.org,2002:float",
            r"^(?:[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?"
            r"|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$",
            list("-+.0123456789"),
        ),
    )
    for tag, pattern, first in resolvers:
        Loader.add_implicit_resolver(tag, re.compile(pattern), first)
    Loader.add_constructor("tag:yaml.org,2002:int", construct_int)
    return Loader


def _stack_file_error(stack: str, path: Path, detail: str) -> SettingsError:
    return SettingsError(stack, [(path.name, f"{detail}. Fix: correct {path}")])


def read_stack_file(stack: str, project_dir: Path = PROJECT_DIR) -> dict[str, Any]:
    """`Pulumi.<stack>.yaml` as a mapping; SettingsError naming the file and the fix when it is
    missing, unreadable, too large, not YAML, uses what a stack file never needs (anchors and
    aliases, duplicate keys, deep nesting), or its `config` is not a mapping."""
    import yaml  # noqa: PLC0415 - only the commands need YAML

    path = project_dir / f"Pulumi.{stack}.yaml"
    if not path.is_file():
        known = sorted(
            p.name[len("Pulumi.") : -len(".yaml")] for p in project_dir.glob("Pulumi.*.yaml")
        )
        raise SettingsError(
            stack,
            [
                (
                    path.name,
                    f"no such stack file in {project_dir} (stacks here: "
                    f"{', '.join(known) or 'none'}). Fix: pick one of those stacks (--stack), "
                    f"or create this one with pulumi stack init {stack} and set gcp:project "
                    "and gcp:region in it",
                )
            ],
        )
    try:
        with path.open("rb") as handle:
            data = handle.read(STACK_FILE_MAX_BYTES + 1)
        if len(data) > STACK_FILE_MAX_BYTES:
            raise _StackFileProblem(
                f"is larger than {STACK_FILE_MAX_BYTES // 1024} KB, far more than a stack "
                "file holds"
            )
        text = data.decode("utf-8").removeprefix("\ufeff")
        document = yaml.load(text, Loader=_stack_loader()) or {}  # noqa: S506 - a SafeLoader
    except _StackFileProblem as exc:
        where = f" at line {exc.line}" if exc.line else ""
        raise _stack_file_error(stack, path, f"{exc}{where}") from None
    except (OSError, UnicodeDecodeError, yaml.YAMLError, ValueError, RecursionError) as exc:
        mark = getattr(exc, "problem_mark", None)
        if isinstance(exc, yaml.YAMLError) and mark is not None:
            detail = f"{getattr(exc, 'problem', None) or 'not YAML'} at line {mark.line + 1}"
        else:
            detail = " ".join(str(getattr(exc, "strerror", None) or exc).split())[:200]
        raise SettingsError(
            stack, [(path.name, f"cannot be read ({detail}). Fix: correct or restore {path}")]
        ) from None
    config = document.get("config") if isinstance(document, dict) else None
    if (
        not isinstance(document, dict)
        or not isinstance(config or {}, dict)
        or not all(isinstance(name, str) for name in config or {})
    ):
        raise SettingsError(
            stack,
            [
                (
                    path.name,
                    "is not a Pulumi stack file (want a mapping with a 'config:' mapping of "
                    f"key: value). Fix: correct {path}",
                )
            ],
        )
    return document


_ODD_TAGS = {"bytes": "!!binary", "set": "!!set", "tuple": "!!omap or !!pairs"}


def _odd_value(value: Any) -> str | None:
    """What makes a YAML value one no setting takes (None when it is plain data)."""
    odd: str | None = None
    if value is None:
        odd = "null"
    elif isinstance(value, float):
        odd = None if math.isfinite(value) else f"the number {value}"
    elif isinstance(value, list):
        odd = next((o for o in map(_odd_value, value) if o), None)
    elif isinstance(value, dict):
        if not all(isinstance(k, str) for k in value):
            return "a map whose keys are not all text"
        inner = (_odd_value(v) for v in value.values() if v is not None)  # null: judged later
        odd = next((o for o in inner if o), None)
    elif not isinstance(value, bool | str | int):
        kind = type(value).__name__
        tag = _ODD_TAGS.get(kind, "!!timestamp" if kind in ("date", "datetime") else kind)
        odd = f"a {tag} value"
    return odd


def _secure_ciphertext(value: Any) -> str | None:
    """The ciphertext of a `secure:` value, or None when it is not one Pulumi writes: a
    mapping with the single key `secure` holding base64 text (`v1:<nonce>:<ciphertext>` for
    a passphrase)."""
    if not (isinstance(value, dict) and list(value) == ["secure"]):
        return None
    text = value["secure"]
    if not isinstance(text, str) or not _CIPHERTEXT.match(text):
        return None
    parts = text.split(":")
    if parts[0] == "v1" and len(parts) == 3:
        parts = parts[1:]
    elif len(parts) != 1:
        return None
    try:
        for part in parts:
            base64.b64decode(part, validate=True)
    except ValueError:
        return None
    return text


def _value_problem(full: str, value: Any, file: str) -> str | None:
    """Why a plain stack value is refused (None: it is read as the CLI reads it)."""
    odd = _odd_value(value)
    if odd == "null":
        return (
            f"has no value in {file} (the Pulumi CLI reads that as an empty string today, as "
            f"null later). Fix: write '' for empty, or pulumi config rm {full}"
        )
    if odd is not None:
        return (
            f"holds {odd} in {file}, which no setting takes. Fix: write it as plain (quoted) "
            f"text, or pulumi config set {full} <value>"
        )
    key = next((k for k in (*KEYS, *GCP_KEYS) if k.full == full), None)
    wants = {"array": list, "object": dict}.get(key.type) if key else None
    if key and isinstance(value, list | dict) and not (wants and isinstance(value, wants)):
        shape = {"array": "a list", "object": "a map"}.get(key.type, f"one {key.type}")
        given = "a list" if isinstance(value, list) else "a map"
        return (
            f"must be {shape} (type '{key.type}' in Pulumi.yaml), not {given}. Fix: correct "
            f"it in {file}"
        )
    return None


def read_stack_config(
    stack: str, project_dir: Path = PROJECT_DIR
) -> tuple[dict[str, str], set[str]]:
    """Read `Pulumi.<stack>.yaml`: (plain values as config strings, names of secure keys).

    Values reach the program as the Pulumi CLI hands them over (strings as written, numbers
    and booleans as JSON text, lists and maps as JSON). Refused, each by its key and all at
    once: a key of the project that Pulumi.yaml does not declare (a typo), a key written twice
    (`smtpPort` and `emergence-cloudrun:smtpPort`), a null, a YAML value no setting takes
    (`!!binary`, `!!set`, `!!timestamp`, infinity), a list or map where Pulumi.yaml declares a
    single value (and the reverse), a secret key in plain text and a malformed `secure:`
    value. Secure values are never decrypted here (only their presence is reported) and no
    refused value is repeated.
    """
    document = read_stack_file(stack, project_dir)
    values: dict[str, str] = {}
    secure: set[str] = set()
    problems: list[tuple[str, str]] = []
    secret_keys = {key.full for key in KEYS if key.secret}
    fulls: dict[str, str] = {}
    file = f"Pulumi.{stack}.yaml"
    for name, value in (document.get("config") or {}).items():
        full = name if ":" in name else f"{PROJECT}:{name}"
        if full in fulls:
            problems.append(
                (
                    full,
                    f"is set twice in {file}, as {fulls[full]!r} and as {name!r}. Fix: "
                    f"keep one of them",
                )
            )
            continue
        fulls[full] = name
        if isinstance(value, dict) and "secure" in value:
            if _secure_ciphertext(value) is None:
                problems.append(
                    (
                        full,
                        f"its secure: value in {file} is not a ciphertext the Pulumi CLI "
                        f"writes. Fix: pulumi config set --secret {full} (it prompts; if a "
                        "password was typed there by hand, treat it as leaked)",
                    )
                )
            else:
                secure.add(full)
            continue
        if full in secret_keys:  # the value itself is never repeated, not even here
            problems.append(
                (
                    full,
                    f"is written in plain text in {file}, so the secret is in the file (and in "
                    f"git once committed). Fix: pulumi config rm {full}, then pulumi config set "
                    f"--secret {full} (it prompts), and change the password: treat the old one "
                    "as leaked",
                )
            )
            continue
        problem = _value_problem(full, value, file)
        if problem is not None:
            problems.append((full, problem))
            continue
        values[full] = config_string(value)
    problems += undeclared_keys(fulls, stack)
    if problems:
        raise SettingsError(stack, problems)
    return values, secure


def _go_float(value: float) -> str:
    """A float as Go's encoding/json writes it (what the Pulumi CLI passes): 10.0 -> "10"."""
    text = repr(value)
    if 1e-6 <= abs(value) < 1e21 and "e" in text:
        text = format(Decimal(text), "f")
    if text.endswith(".0"):
        text = text[:-2]
    return text


def config_string(value: Any) -> str:
    """How the Pulumi CLI hands a YAML value to the program: strings as is, the rest as JSON
    text (numbers and booleans as Go writes them)."""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return _go_float(value)
    return json.dumps(value, ensure_ascii=False)


def load_stack_settings(
    stack: str = "prod",
    project_dir: Path = PROJECT_DIR,
    *,
    supplied_secrets: Iterable[str] = (),
) -> Settings:
    """Outside the engine (CLI commands): settings from the stack file, secrets not decrypted.

    `supplied_secrets` names secret keys (e.g. "smtpPassword") the caller provides itself, such
    as `infra local` reading SMTP_PASSWORD from its environment.
    """
    values, secure = read_stack_config(stack, project_dir)
    secure |= {KEYS_BY_NAME[name].full for name in supplied_secrets}
    return build_settings(stack, values, secrets_present=secure, project_dir=project_dir)
