"""Drift between the running Cloud Run service and what the stack declares, field by field.

`python -m infra adopt` reads the live service (Cloud Run Admin API v2, `GoogleCloudRunV2Service`
JSON) and evaluates the program under the mock engine (the service's inputs, pulumi-gcp names);
`compare()` says what the first `pulumi up` after the import would change on the service:

- env vars and secret references added, removed or changed (plain values shown, never a value
  whose name looks secret; a secret reference is shown as SECRET:VERSION, never its value);
- scaling, resources, request timeout, concurrency, port, service account, startup and
  liveness probes, ingress, traffic, labels, description, container name.

Removing an env var or a secret reference, or changing the service account, is `blocking`:
adopting must be accepted on purpose. Each change the stack can undo has the `pulumi config set
... --stack <stack>` line that keeps what runs. Values only `pulumi up` knows (the image digest,
the SMTP_PASSWORD version this stack creates) are `notes`, not changes. gcloud's own fields
(`client`, `clientVersion`, annotations) are `ignored`: the program ignores changes to them.

Pure: data in, verdict out (the CLI does the reading and the printing).
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

NAMESPACE = "emergence-cloudrun"
LATEST = "TRAFFIC_TARGET_ALLOCATION_TYPE_LATEST"
AFTER_UP = "(known after pulumi up)"
HIDDEN = "(value hidden: the name looks secret)"
SECRET_LOOKING = re.compile(r"PASSWORD|SECRET|TOKEN|KEY", re.IGNORECASE)
DEFAULT_ACCOUNT = re.compile(r"^\d+-compute@developer\.gserviceaccount\.com$")
OWN_SECRET_ENV = "SMTP_PASSWORD"  # noqa: S105 - the env var of the secret this stack owns

# The stack settings each field comes from (tests/rules/test_drift.py checks they exist).
SETTING = {
    "cpu": "cpu",
    "memory": "memory",
    "cpu idle": "cpuIdle",
    "startup CPU boost": "startupCpuBoost",
    "min instances": "minInstances",
    "max instances": "maxInstances",
    "concurrency": "concurrency",
    "request timeout": "requestTimeoutSeconds",
    "port": "containerPort",
}
PROBE_SETTINGS = {
    "startup": {
        "delay": "startupProbeInitialDelaySeconds",
        "period": "startupProbePeriodSeconds",
        "timeout": "startupProbeTimeoutSeconds",
        "failures": "startupProbeFailureThreshold",
    },
    "liveness": {
        "period": "livenessProbePeriodSeconds",
        "timeout": "livenessProbeTimeoutSeconds",
        "failures": "livenessProbeFailureThreshold",
    },
}
# The e-mail env vars and the settings that write them (value in the env -> value to set).
SMTP_SETTINGS: dict[str, tuple[str, Callable[[str], str]]] = {
    "EMAIL_ENABLED": ("emailEnabled", lambda v: "true" if v == "1" else "false"),
    "SMTP_HOST": ("smtpHost", str),
    "SMTP_PORT": ("smtpPort", str),
    "SMTP_USER": ("smtpUser", str),
    "SMTP_FROM_EMAIL": ("smtpFromEmail", str),
    "SMTP_FROM_NAME": ("smtpFromName", str),
    "SMTP_USE_TLS": ("smtpUseTls", lambda v: "true" if v == "1" else "false"),
}
IGNORED_FIELDS = ("client", "clientVersion", "annotations", "template.annotations")


# --------------------------------------------------------------------------- one view of both


@dataclass(frozen=True)
class Env:
    """One env var: a plain value, or a Secret Manager reference."""

    name: str
    value: str | None = None
    secret: str | None = None
    version: str | None = None

    @property
    def is_secret_ref(self) -> bool:
        return self.secret is not None

    def shown(self) -> str:
        if self.is_secret_ref and self.version == AFTER_UP:
            return f"secret {self.secret}, the version this stack creates {AFTER_UP}"
        if self.is_secret_ref:
            return f"secret {self.secret}:{self.version}"
        if SECRET_LOOKING.search(self.name):
            return HIDDEN
        return repr(self.value)


@dataclass(frozen=True)
class Probe:
    kind: str  # "HTTP GET <path>", "TCP", "gRPC" or "none"
    port: int | None = None
    delay: int = 0
    period: int = 10
    timeout: int = 1
    failures: int = 3

    def shown(self) -> str:
        if self.kind == "none":
            return "none"
        return (
            f"{self.kind} :{self.port}, delay {self.delay} s, every {self.period} s, "
            f"timeout {self.timeout} s, {self.failures} failure{'s' if self.failures != 1 else ''}"
        )


@dataclass(frozen=True)
class ServiceView:
    """The fields of a Cloud Run service that the program declares, in one shape."""

    env: tuple[Env, ...] = ()
    image: str = ""
    container_name: str = ""
    cpu: str = ""
    memory: str = ""
    cpu_idle: bool = True
    startup_cpu_boost: bool = False
    port: int = 8080
    min_instances: int = 0
    max_instances: int = 100
    concurrency: int = 80
    timeout_seconds: int = 300
    service_account: str = ""
    startup_probe: Probe = Probe("none")
    liveness_probe: Probe = Probe("none")
    ingress: str = "INGRESS_TRAFFIC_ALL"
    traffic: tuple[str, ...] = ()
    labels: tuple[tuple[str, str], ...] = ()
    description: str = ""

    def env_by_name(self) -> dict[str, Env]:
        return {e.name: e for e in self.env}


def _int(value: Any, default: int) -> int:
    """Google's JSON sends int64 as strings, the engine as floats; unknown -> default."""
    if isinstance(value, bool) or value is None:
        return default
    try:
        return int(float(value))
    except (TypeError, ValueError):
        return default


def _seconds(text: Any, default: int) -> int:
    """`"300s"` (a google.protobuf.Duration in JSON) -> 300."""
    match = re.fullmatch(r"(\d+)(?:\.\d+)?s", str(text or ""))
    return int(match.group(1)) if match else default


def _probe(probe: Any, port: int, http_key: str, tcp_key: str) -> Probe:
    if not isinstance(probe, Mapping):
        return Probe("none")
    http, tcp = probe.get(http_key), probe.get(tcp_key)
    if isinstance(http, Mapping):
        kind, action = f"HTTP GET {http.get('path') or '/'}", http
    elif isinstance(tcp, Mapping):
        kind, action = "TCP", tcp
    elif isinstance(probe.get("grpc"), Mapping):
        kind, action = "gRPC", probe["grpc"]
    else:
        return Probe("none")
    return Probe(
        kind=kind,
        port=_int(action.get("port"), port) or port,
        delay=_int(probe.get("initialDelaySeconds"), 0),
        period=_int(probe.get("periodSeconds"), 10),
        timeout=_int(probe.get("timeoutSeconds"), 1),
        failures=_int(probe.get("failureThreshold"), 3),
    )


def _traffic(targets: Any) -> tuple[str, ...]:
    shown = []
    for target in targets if isinstance(targets, list) else []:
        if not isinstance(target, Mapping):
            continue
        where = "LATEST" if target.get("type") == LATEST else str(target.get("revision"))
        tag = f" (tag {target['tag']})" if target.get("tag") else ""
        shown.append(f"{_int(target.get('percent'), 0)}% {where}{tag}")
    return tuple(sorted(shown, key=lambda s: (-int(s.split("%")[0]), s)))


def _envs(envs: Any, secret_id: Callable[[str], str]) -> tuple[Env, ...]:
    out = []
    for env in envs if isinstance(envs, list) else []:
        if not isinstance(env, Mapping) or not isinstance(env.get("name"), str):
            continue
        source = env.get("valueSource")
        ref = source.get("secretKeyRef") if isinstance(source, Mapping) else None
        if isinstance(ref, Mapping):
            version = str(ref.get("version") or "latest")
            out.append(Env(env["name"], secret=secret_id(str(ref.get("secret"))), version=version))
        else:
            out.append(Env(env["name"], value=str(env.get("value") or "")))
    return tuple(out)


def _view(
    service: Mapping[str, Any], *, envs_key: str, ports: Callable[[Any], Any], project: str
) -> ServiceView:
    template = service.get("template") if isinstance(service.get("template"), Mapping) else {}
    containers = template.get("containers") or [{}]
    container = containers[0] if isinstance(containers[0], Mapping) else {}
    port_spec = ports(container.get("ports"))
    port = _int(port_spec.get("containerPort") if isinstance(port_spec, Mapping) else None, 8080)
    resources = (
        container.get("resources") if isinstance(container.get("resources"), Mapping) else {}
    )
    limits = resources.get("limits") if isinstance(resources.get("limits"), Mapping) else {}
    scaling = template.get("scaling") if isinstance(template.get("scaling"), Mapping) else {}
    prefix = f"projects/{project}/secrets/"
    labels = service.get("labels") if isinstance(service.get("labels"), Mapping) else {}
    return ServiceView(
        env=_envs(container.get(envs_key), lambda s: s.removeprefix(prefix)),
        image=str(container.get("image") or ""),
        container_name=str(container.get("name") or ""),
        cpu=str(limits.get("cpu") or ""),
        memory=str(limits.get("memory") or ""),
        cpu_idle=resources.get("cpuIdle", True) is not False,
        startup_cpu_boost=resources.get("startupCpuBoost") is True,
        port=port,
        min_instances=_int(scaling.get("minInstanceCount"), 0),
        max_instances=_int(scaling.get("maxInstanceCount"), 100),
        concurrency=_int(template.get("maxInstanceRequestConcurrency"), 80),
        timeout_seconds=_seconds(template.get("timeout"), 300),
        service_account=str(template.get("serviceAccount") or ""),
        startup_probe=_probe(container.get("startupProbe"), port, "httpGet", "tcpSocket"),
        liveness_probe=_probe(container.get("livenessProbe"), port, "httpGet", "tcpSocket"),
        ingress=str(service.get("ingress") or "INGRESS_TRAFFIC_ALL"),
        traffic=_traffic(service.get("traffic", service.get("traffics"))),
        labels=tuple(sorted((str(k), str(v)) for k, v in labels.items())),
        description=str(service.get("description") or ""),
    )


def live_view(service: Mapping[str, Any], project: str) -> ServiceView:
    """A `GoogleCloudRunV2Service` (the Admin API's JSON) as a view."""
    return _view(
        service,
        envs_key="env",
        ports=lambda p: p[0] if isinstance(p, list) and p else {},
        project=project,
    )


def _known(node: Any, unknown: Callable[[Any], bool]) -> Any:
    """The inputs with every value only `pulumi up` knows replaced by AFTER_UP."""
    if unknown(node):
        return AFTER_UP
    if isinstance(node, Mapping):
        return {k: _known(v, unknown) for k, v in node.items()}
    if isinstance(node, list):
        return [_known(v, unknown) for v in node]
    return node


def declared_view(
    inputs: Mapping[str, Any], project: str, unknown: Callable[[Any], bool] = lambda _v: False
) -> ServiceView:
    """The program's `gcp:cloudrunv2/service:Service` inputs (pulumi-gcp names: `envs`,
    `traffics`, one `ports` object) as a view; unknown values read AFTER_UP."""
    return _view(
        _known(inputs, unknown),
        envs_key="envs",
        ports=lambda p: p if isinstance(p, Mapping) else {},
        project=project,
    )


# --------------------------------------------------------------------------- the verdict


@dataclass(frozen=True)
class Change:
    field: str  # "env OPENAI_API_KEY", "max instances", "service account", ...
    action: str  # "add" | "remove" | "change"
    live: str = ""
    declared: str = ""
    blocking: str = ""  # why it must be accepted ("removal", "service account"), "" if not
    fixes: tuple[str, ...] = ()  # `pulumi config set ... --stack <stack>`: keep what runs
    note: str = ""

    def line(self) -> str:
        mark = {"add": "+", "remove": "-", "change": "~"}[self.action]
        if self.action == "add":
            text = f"  {mark} {self.field}: {self.declared}"
        elif self.action == "remove":
            text = f"  {mark} {self.field}: {self.live}"
        else:
            text = f"  {mark} {self.field}: {self.live} -> {self.declared}"
        return text + (f"  ({self.note})" if self.note else "")


@dataclass(frozen=True)
class Drift:
    changes: tuple[Change, ...] = ()
    notes: tuple[str, ...] = ()  # decided by `pulumi up` (image, created secret version)
    ignored: tuple[str, ...] = IGNORED_FIELDS

    @property
    def matches(self) -> bool:
        return not self.changes

    def blocking(self, accepted: Iterable[str] = ()) -> list[Change]:
        """The changes that must be accepted (`removal`, `service account`) and were not."""
        allowed = set(accepted)
        return [c for c in self.changes if c.blocking and c.blocking not in allowed]

    def fixes(self) -> list[str]:
        return [line for change in self.changes for line in change.fixes]


def _set(stack: str, name: str, value: Any, *, path: bool = False) -> str:
    flag = " --path" if path else ""
    key = f"{NAMESPACE}:{name}"
    if path:  # always quoted, like every --path hint: `[` and `.` mean something to a shell
        key = f"'{key}'" if "'" not in key else shlex.quote(key)
    return f"pulumi config set{flag} {key} {shlex.quote(str(value))} --stack {stack}"


def _env_fixes(env: Env, stack: str) -> tuple[str, ...]:
    """The lines that make the stack declare `env` as it runs (none for our own secret)."""
    if env.name == OWN_SECRET_ENV:
        return ()
    if env.is_secret_ref:
        version = env.version if (env.version or "").isdigit() else "<version number>"
        return (_set(stack, f"appSecretEnv.{env.name}", f"{env.secret}:{version}", path=True),)
    if env.name in SMTP_SETTINGS:
        name, convert = SMTP_SETTINGS[env.name]
        return (_set(stack, name, convert(env.value or "")),)
    if SECRET_LOOKING.search(env.name):
        return (
            f"gcloud secrets create {env.name} --data-file=-   # paste the value; then:",
            _set(stack, f"appSecretEnv.{env.name}", f"{env.name}:1", path=True),
        )
    return (_set(stack, f"appEnv.{env.name}", env.value or "", path=True),)


def _env_note(env: Env) -> str:
    if env.is_secret_ref and not (env.version or "").isdigit():
        return f"live reads version {env.version}: pin the number it resolves to"
    if not env.is_secret_ref and env.name == OWN_SECRET_ENV:
        return "a secret in plain text: the stack reads it from Secret Manager instead"
    if not env.is_secret_ref and SECRET_LOOKING.search(env.name):
        return "a secret in plain text: move it to Secret Manager"
    return ""


def _compare_env(live: ServiceView, declared: ServiceView, stack: str) -> list[Change]:
    changes: list[Change] = []
    had, wants = live.env_by_name(), declared.env_by_name()
    for name in sorted(set(had) | set(wants)):
        old, new = had.get(name), wants.get(name)
        kind = "secret" if (old or new).is_secret_ref else "env"  # type: ignore[union-attr]
        what = f"{kind} {name}"
        if old is None and new is not None:
            changes.append(Change(what, "add", declared=new.shown()))
        elif new is None and old is not None:
            changes.append(
                Change(
                    what,
                    "remove",
                    live=old.shown(),
                    blocking="removal",
                    fixes=_env_fixes(old, stack),
                    note=_env_note(old),
                )
            )
        elif old is not None and new is not None and old != new:
            if old.is_secret_ref and AFTER_UP in (new.version, new.value):
                continue  # the version this stack creates: a note, not a known change
            changes.append(
                Change(
                    what,
                    "change",
                    live=old.shown(),
                    declared=new.shown(),
                    fixes=_env_fixes(old, stack),
                    note=_env_note(old),
                )
            )
    common = [n for n in (e.name for e in live.env) if n in wants]
    if common != [n for n in (e.name for e in declared.env) if n in had] and not changes:
        changes.append(
            Change(
                "env order",
                "change",
                live=", ".join(common),
                declared="the declared order",
                note="the same variables, rewritten in the declared order",
            )
        )
    return changes


def _scalar_changes(live: ServiceView, declared: ServiceView, stack: str) -> list[Change]:
    pairs = {
        "cpu": (live.cpu, declared.cpu),
        "memory": (live.memory, declared.memory),
        "cpu idle": (live.cpu_idle, declared.cpu_idle),
        "startup CPU boost": (live.startup_cpu_boost, declared.startup_cpu_boost),
        "min instances": (live.min_instances, declared.min_instances),
        "max instances": (live.max_instances, declared.max_instances),
        "concurrency": (live.concurrency, declared.concurrency),
        "request timeout": (live.timeout_seconds, declared.timeout_seconds),
        "port": (live.port, declared.port),
    }
    changes = []
    for name, (old, new) in pairs.items():
        if old != new:
            value = str(old).lower() if isinstance(old, bool) else old
            unit = " s" if name == "request timeout" else ""
            changes.append(
                Change(
                    name,
                    "change",
                    live=f"{value}{unit}",
                    declared=f"{str(new).lower() if isinstance(new, bool) else new}{unit}",
                    fixes=(_set(stack, SETTING[name], value),),
                )
            )
    return changes


def _probe_changes(live: ServiceView, declared: ServiceView, stack: str) -> list[Change]:
    changes = []
    for which, old, new in (
        ("startup", live.startup_probe, declared.startup_probe),
        ("liveness", live.liveness_probe, declared.liveness_probe),
    ):
        if old == new:
            continue
        fixes: list[str] = []
        note = ""
        if old.kind.startswith("HTTP GET ") and new.kind.startswith("HTTP GET "):
            if old.kind != new.kind:
                fixes.append(_set(stack, "healthPath", old.kind.removeprefix("HTTP GET ")))
            for attr, key in PROBE_SETTINGS[which].items():
                if getattr(old, attr) != getattr(new, attr):
                    fixes.append(_set(stack, key, getattr(old, attr)))
        else:
            note = "the program declares an HTTP probe on healthPath"
        changes.append(
            Change(
                f"{which} probe",
                "change",
                live=old.shown(),
                declared=new.shown(),
                fixes=tuple(fixes),
                note=note,
            )
        )
    return changes


def _traffic_change(live: ServiceView, declared: ServiceView, stack: str) -> list[Change]:
    if live.traffic == declared.traffic:
        return []
    fixes: tuple[str, ...] = ()
    note = ""
    serving = [t for t in live.traffic if t.startswith("100% ") and not t.startswith("100% LATEST")]
    if serving:
        revision = serving[0].removeprefix("100% ").split(" (tag", 1)[0]
        fixes = (_set(stack, "rollbackRevision", revision),)
        note = "new revisions would take the traffic; rollbackRevision keeps it pinned"
    if any("(tag " in t for t in live.traffic):
        note = (note + "; " if note else "") + "tag URLs stop working"
    return [
        Change(
            "traffic",
            "change",
            live="; ".join(live.traffic) or "none",
            declared="; ".join(declared.traffic),
            fixes=fixes,
            note=note,
        )
    ]


def _informational(live: ServiceView, declared: ServiceView) -> list[Change]:
    changes = []
    if live.ingress != declared.ingress:
        changes.append(Change("ingress", "change", live=live.ingress, declared=declared.ingress))
    if live.labels != declared.labels:
        shown = {
            side: ", ".join(f"{k}={v}" for k, v in labels) or "none"
            for side, labels in (("live", live.labels), ("declared", declared.labels))
        }
        changes.append(Change("labels", "change", live=shown["live"], declared=shown["declared"]))
    if live.description != declared.description:
        changes.append(
            Change(
                "description",
                "change",
                live=repr(live.description),
                declared=repr(declared.description),
            )
        )
    if live.container_name != declared.container_name:
        changes.append(
            Change(
                "container name",
                "change",
                live=repr(live.container_name),
                declared=repr(declared.container_name),
            )
        )
    return changes


def compare(live: ServiceView, declared: ServiceView, *, stack: str) -> Drift:
    """What `pulumi up` would change on the live service once it is adopted."""
    changes: list[Change] = []
    notes: list[str] = []
    if declared.service_account == AFTER_UP:
        notes.append(f"service account: {live.service_account} -> the runtime account {AFTER_UP}")
    elif live.service_account != declared.service_account:
        changes.append(
            Change(
                "service account",
                "change",
                live=(live.service_account or "(none)")
                + (
                    " (the default compute account)"
                    if DEFAULT_ACCOUNT.match(live.service_account) or not live.service_account
                    else ""
                ),
                declared=declared.service_account,
                blocking="service account",
                note="the dedicated runtime account; it has only the runtime roles and secrets",
            )
        )
    changes += _compare_env(live, declared, stack)
    changes += _scalar_changes(live, declared, stack)
    changes += _probe_changes(live, declared, stack)
    changes += _traffic_change(live, declared, stack)
    changes += _informational(live, declared)
    if live.image != declared.image:
        notes.append(
            f"image: {live.image or 'none'} -> the image `pulumi up` builds from this checkout"
        )
    had = live.env_by_name().get(OWN_SECRET_ENV)
    own = declared.env_by_name().get(OWN_SECRET_ENV)
    if own is not None and own.version == AFTER_UP and had is not None and had.is_secret_ref:
        notes.append(
            f"secret {OWN_SECRET_ENV}: {had.shown()} -> the version this stack creates from "
            "smtpPassword"
        )
    return Drift(tuple(changes), tuple(notes))


def summary(blocking: Sequence[Change]) -> str:
    """'removes 2 env vars or secret refs and changes the service account'."""
    removals = sum(1 for c in blocking if c.blocking == "removal")
    parts = []
    if removals:
        plural = "s" if removals > 1 else ""
        parts.append(f"removes {removals} env var{plural} or secret ref{plural}")
    if any(c.blocking == "service account" for c in blocking):
        parts.append("changes the service account")
    return " and ".join(parts)
