"""Run the policy pack the way the Pulumi engine does, without the Pulumi CLI.

`Pack` drives pulumi-policy's own analyzer servicer (the object its gRPC server dispatches to):
properties travel as a protobuf Struct (so numbers arrive as floats and secrets as signature
maps), unknown values are the engine's sentinel strings, and the config is reconciled like the
CLI's `ReconcilePolicyPackConfig`: schema defaults, then the given config, validated against the
schema. `PolicyPack(...)` itself is never constructed (it starts a server and blocks).
`_PolicyAnalyzerServicer` is internal to pulumi-policy, pinned at 1.21.0 in requirements.txt.
"""

from __future__ import annotations

import copy
import sys
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jsonschema
from google.protobuf import empty_pb2, json_format, struct_pb2
from pulumi.runtime import proto
from pulumi_policy.deserialize import SPECIAL_SECRET_SIG, SPECIAL_SIG_KEY
from pulumi_policy.policy import EnforcementLevel, _PolicyAnalyzerServicer
from pulumi_policy.proxy import UNKNOWN_STRING_VALUE

POLICY_DIR = Path(__file__).resolve().parent.parent / "policy"
if str(POLICY_DIR) not in sys.path:
    # The pack's package is importable as Pulumi imports it: from the policy directory.
    sys.path.insert(0, str(POLICY_DIR))

from emergence_policy import PACK_NAME, POLICIES  # noqa: E402

UNKNOWN = UNKNOWN_STRING_VALUE
PROJECT = "emergence-cloudrun"
GCP_PROVIDER_TYPE = "pulumi:providers:gcp"


def secret(value: Any) -> dict[str, Any]:
    """A value marked secret the way the engine serialises it."""
    return {SPECIAL_SIG_KEY: SPECIAL_SECRET_SIG, "value": value}


def _struct(props: Mapping[str, Any]) -> struct_pb2.Struct:
    struct = struct_pb2.Struct()
    struct.update(dict(props))
    return struct


@dataclass
class Res:
    """One resource as the engine describes it to an analyzer."""

    type: str
    name: str
    props: dict[str, Any]
    stack: str = "prod"
    protect: bool = False
    provider_props: dict[str, Any] | None = None
    # What stack policies see: the resource's state (outputs); its inputs when None.
    state: dict[str, Any] | None = None
    urn: str = ""

    def __post_init__(self) -> None:
        if not self.urn:
            self.urn = f"urn:pulumi:{self.stack}::{PROJECT}::{self.type}::{self.name}"

    def _provider(self) -> proto.AnalyzerProviderResource | None:
        if self.provider_props is None:
            return None
        name = "default_10_2_0"
        return proto.AnalyzerProviderResource(
            type=GCP_PROVIDER_TYPE,
            properties=_struct(self.provider_props),
            urn=f"urn:pulumi:{self.stack}::{PROJECT}::{GCP_PROVIDER_TYPE}::{name}",
            name=name,
        )

    def analyze_request(self) -> proto.AnalyzeRequest:
        return proto.AnalyzeRequest(
            type=self.type,
            properties=_struct(self.props),
            urn=self.urn,
            name=self.name,
            options=proto.AnalyzerResourceOptions(protect=self.protect),
            provider=self._provider(),
        )

    def stack_resource(self) -> proto.AnalyzerResource:
        return proto.AnalyzerResource(
            type=self.type,
            properties=_struct(self.props if self.state is None else self.state),
            urn=self.urn,
            name=self.name,
            options=proto.AnalyzerResourceOptions(protect=self.protect),
            provider=self._provider(),
        )


@dataclass(frozen=True)
class Finding:
    policy: str
    level: str  # "MANDATORY" or "ADVISORY"
    message: str
    urn: str

    @property
    def is_unknown_note(self) -> bool:
        """pulumi-policy's note for a validator that met a value not known yet."""
        return self.level == "ADVISORY" and "during preview" in self.message


@dataclass
class Report:
    findings: list[Finding] = field(default_factory=list)

    @property
    def violated(self) -> set[str]:
        """Names of the policies with a mandatory violation."""
        return {f.policy for f in self.findings if f.level == "MANDATORY"}

    @property
    def unknown_notes(self) -> set[str]:
        return {f.policy for f in self.findings if f.is_unknown_note}

    def messages(self, policy: str) -> list[str]:
        return [f.message for f in self.findings if f.policy == policy]


class ConfigError(ValueError):
    """The config the Pulumi CLI would refuse before running the pack."""


def policy_infos() -> list[proto.PolicyInfo]:
    servicer = _servicer()
    return list(servicer.GetAnalyzerInfo(empty_pb2.Empty(), None).policies)


def _servicer() -> _PolicyAnalyzerServicer:
    return _PolicyAnalyzerServicer(PACK_NAME, "0.1.0", POLICIES, EnforcementLevel.MANDATORY)


def reconcile_config(
    infos: Iterable[proto.PolicyInfo], given: Mapping[str, Any] | None
) -> dict[str, tuple[int, dict[str, Any]]]:
    """Per policy (enforcement level, properties): schema defaults overlaid with `given`."""
    given = dict(given or {})
    result: dict[str, tuple[int, dict[str, Any]]] = {}
    errors: list[str] = []
    for info in infos:
        schema = json_format.MessageToDict(info.configSchema.properties)
        props = {k: v["default"] for k, v in schema.items() if "default" in v}
        level = info.enforcementLevel
        override = given.pop(info.name, None)
        if isinstance(override, str):
            level = proto.EnforcementLevel.Value(override.upper())
        elif isinstance(override, Mapping):
            override = dict(override)
            if "enforcementLevel" in override:
                level = proto.EnforcementLevel.Value(override.pop("enforcementLevel").upper())
            props.update(override)
        if schema:
            full = {"type": "object", "properties": schema}
            if info.configSchema.required:
                full["required"] = list(info.configSchema.required)
            validator = jsonschema.Draft7Validator(full)
            errors.extend(f"{info.name}: {e.message}" for e in validator.iter_errors(props))
        result[info.name] = (level, props)
    if given:
        errors.append(f"config for unknown policies: {sorted(given)}")
    if errors:
        raise ConfigError("; ".join(errors))
    return result


class Pack:
    """The pack, configured like `pulumi preview --policy-pack policy --policy-pack-config F`."""

    def __init__(self, config: Mapping[str, Any] | None = None) -> None:
        self.servicer = _servicer()
        infos = self.servicer.GetAnalyzerInfo(empty_pb2.Empty(), None).policies
        request = proto.ConfigureAnalyzerRequest()
        for name, (level, props) in reconcile_config(infos, config).items():
            entry = request.policyConfig[name]
            entry.enforcementLevel = level
            entry.properties.update(props)
        self.servicer.Configure(request, None)

    def _findings(self, response: proto.AnalyzeResponse) -> Iterator[Finding]:
        for diag in response.diagnostics:
            yield Finding(
                policy=diag.policyName,
                level=proto.EnforcementLevel.Name(diag.enforcementLevel),
                message=diag.message,
                urn=diag.urn,
            )

    def analyze(self, resource: Res) -> Report:
        response = self.servicer.Analyze(resource.analyze_request(), None)
        findings = [
            Finding(f.policy, f.level, f.message, f.urn or resource.urn)
            for f in self._findings(response)
        ]
        return Report(findings)

    def analyze_stack(self, resources: Iterable[Res]) -> Report:
        request = proto.AnalyzeStackRequest(resources=[r.stack_resource() for r in resources])
        return Report(list(self._findings(self.servicer.AnalyzeStack(request, None))))

    def preview(self, resources: Iterable[Res]) -> Report:
        """Every resource policy on every resource, then the stack policies."""
        resources = list(resources)
        report = Report()
        for resource in resources:
            report.findings.extend(self.analyze(resource).findings)
        report.findings.extend(self.analyze_stack(resources).findings)
        return report


# --- editing nested properties --------------------------------------------------------------------


def _split(path: str) -> list[str | int]:
    return [int(p) if p.isdigit() else p for p in path.split(".")]


def set_path(props: dict[str, Any], path: str, value: Any) -> None:
    *parents, last = _split(path)
    node: Any = props
    for key in parents:
        node = node[key]
    node[last] = value


def drop_path(props: dict[str, Any], path: str) -> None:
    *parents, last = _split(path)
    node: Any = props
    for key in parents:
        node = node[key]
    del node[last]


def leaf_and_branch_paths(value: Any, prefix: str = "") -> Iterator[str]:
    """Every path in a props tree: each key, list element and nested value, parents first."""
    children: Iterable[tuple[str | int, Any]]
    if isinstance(value, dict):
        if SPECIAL_SIG_KEY in value:
            return
        children = value.items()
    elif isinstance(value, list):
        children = enumerate(value)
    else:
        return
    for key, child in children:
        path = f"{prefix}.{key}" if prefix else str(key)
        yield path
        yield from leaf_and_branch_paths(child, path)


def with_unknown(resources: list[Res], index: int, path: str) -> list[Res]:
    """A copy of `resources` where the value at `path` of resource `index` is unknown."""
    changed = copy.deepcopy(resources)
    set_path(changed[index].props, path, UNKNOWN)
    return changed


# --- a stack that follows every rule -----------------------------------------------------------

DIGEST = "sha256:" + "0123456789abcdef" * 4
REGISTRY_PATH = "europe-west1-docker.pkg.dev/emergence-469005/app/emergence-app"
RUNTIME_ACCOUNT = "emergence-runtime@emergence-469005.iam.gserviceaccount.com"
GCP_PROVIDER = {"project": "emergence-469005", "region": "europe-west1"}
SERVICE_V2 = "gcp:cloudrunv2/service:Service"
SERVICE_V1 = "gcp:cloudrun/service:Service"
RETENTION_TYPE = "pulumi-python:dynamic/retention:RevisionRetention"  # infra/providers/retention.py


def service_props() -> dict[str, Any]:
    """A Cloud Run v2 service as the guide wants it (camelCase wire names)."""
    return {
        "name": "emergence-app",
        "location": "europe-west1",
        "project": "emergence-469005",
        "deletionProtection": True,
        "ingress": "INGRESS_TRAFFIC_ALL",
        "template": {
            "serviceAccount": RUNTIME_ACCOUNT,
            "scaling": {"minInstanceCount": 0, "maxInstanceCount": 3},
            "containers": [
                {
                    "image": f"{REGISTRY_PATH}@{DIGEST}",
                    "ports": {"containerPort": 8080},
                    "resources": {"limits": {"cpu": "1", "memory": "1Gi"}, "cpuIdle": True},
                    "envs": [
                        {"name": "EMAIL_ENABLED", "value": "1"},
                        {"name": "SMTP_HOST", "value": "smtp.gmail.com"},
                        {"name": "SMTP_PORT", "value": "587"},
                        {"name": "SMTP_USER", "value": "app@example.org"},
                        {
                            "name": "SMTP_PASSWORD",
                            "valueSource": {
                                "secretKeyRef": {"secret": "smtp-password", "version": "3"}
                            },
                        },
                    ],
                    "startupProbe": {
                        "httpGet": {"path": "/api/health", "port": 8080},
                        "periodSeconds": 10,
                        "timeoutSeconds": 5,
                        "failureThreshold": 6,
                    },
                }
            ],
        },
        "traffics": [{"type": "TRAFFIC_TARGET_ALLOCATION_TYPE_LATEST", "percent": 100}],
    }


def compliant_stack(stack: str = "prod") -> list[Res]:
    """Every kind of resource the pack judges, each following every rule."""

    def gcp(type_: str, name: str, props: dict[str, Any]) -> Res:
        return Res(type_, name, props, stack=stack, provider_props=dict(GCP_PROVIDER))

    member = f"serviceAccount:{RUNTIME_ACCOUNT}"
    return [
        gcp(SERVICE_V2, "emergence-app-service", service_props()),
        Res(
            RETENTION_TYPE,
            "retention-revisions",
            {
                "project": "emergence-469005",
                "location": "europe-west1",
                "service": "emergence-app",
                "revisionsToKeep": 3,
                "dryRun": False,
                "pinnedRevision": "",
                "latestRevision": "emergence-app-00042-abc",
                "imageDigest": f"{REGISTRY_PATH}@{DIGEST}",
                "operationTimeoutSeconds": 300,
                "__provider": secret("<pickled provider>"),
            },
            stack=stack,
        ),
        gcp(
            "gcp:artifactregistry/repository:Repository",
            "emergence-app-registry",
            {
                "repositoryId": "app",
                "location": "europe-west1",
                "format": "DOCKER",
                "cleanupPolicyDryRun": False,
                "cleanupPolicies": [
                    {
                        "id": "delete-untagged",
                        "action": "DELETE",
                        "condition": {"tagState": "UNTAGGED", "olderThan": "2592000s"},
                    },
                    {"id": "keep-recent", "action": "KEEP", "mostRecentVersions": {"keepCount": 3}},
                ],
            },
        ),
        gcp(
            "gcp:artifactregistry/repositoryIamMember:RepositoryIamMember",
            "emergence-app-registry-reader",
            {
                "repository": "app",
                "location": "europe-west1",
                "role": "roles/artifactregistry.reader",
                "member": member,
            },
        ),
        Res(
            "docker-build:index:Image",
            "emergence-app-image",
            {
                "tags": [f"{REGISTRY_PATH}:deploy-20250101T000000-abc1234"],
                "context": {"location": "app_image"},
                "dockerfile": {"location": "app_image/Dockerfile"},
                "platforms": ["linux/amd64"],
                "target": "runtime",
                "push": True,
                "registries": [
                    {
                        "address": "europe-west1-docker.pkg.dev",
                        "username": "oauth2accesstoken",
                        "password": secret("ya29.token"),
                    }
                ],
            },
            stack=stack,
        ),
        gcp(
            "gcp:serviceaccount/account:Account",
            "emergence-app-runtime",
            {"accountId": "emergence-runtime", "displayName": "emergence-app runtime"},
        ),
        gcp(
            "gcp:secretmanager/secret:Secret",
            "emergence-app-smtp-password",
            {"secretId": "smtp-password", "replication": {"auto": {}}},
        ),
        gcp(
            "gcp:secretmanager/secretVersion:SecretVersion",
            "emergence-app-smtp-password-version",
            {
                "secret": "projects/emergence-469005/secrets/smtp-password",
                "secretData": secret("hunter2"),
                "deletionPolicy": "ABANDON",
            },
        ),
        gcp(
            "gcp:secretmanager/secretIamMember:SecretIamMember",
            "emergence-app-smtp-password-accessor",
            {
                "secretId": "projects/emergence-469005/secrets/smtp-password",
                "role": "roles/secretmanager.secretAccessor",
                "member": member,
            },
        ),
        gcp(
            "gcp:cloudrunv2/serviceIamMember:ServiceIamMember",
            "emergence-app-public",
            {
                "name": "emergence-app",
                "location": "europe-west1",
                "role": "roles/run.invoker",
                "member": "allUsers",
            },
        ),
        gcp(
            "gcp:projects/service:Service",
            "emergence-app-run-api",
            {"service": "run.googleapis.com", "disableOnDestroy": False},
        ),
    ]


def find(resources: list[Res], type_: str, name: str | None = None) -> Res:
    matches = [r for r in resources if r.type == type_ and name in (None, r.name)]
    assert len(matches) == 1, f"{len(matches)} resources of type {type_} named {name or 'any'}"
    return matches[0]


def service_v1_props() -> dict[str, Any]:
    """A Cloud Run v1 service following the same rules (v1 wire names)."""
    return {
        "name": "emergence-app",
        "location": "europe-west1",
        "template": {
            "metadata": {"annotations": {"autoscaling.knative.dev/maxScale": "3"}},
            "spec": {
                "serviceAccountName": RUNTIME_ACCOUNT,
                "containers": [
                    {
                        "image": f"{REGISTRY_PATH}@{DIGEST}",
                        "ports": [{"containerPort": 8080}],
                        "envs": [
                            {"name": "SMTP_HOST", "value": "smtp.gmail.com"},
                            {
                                "name": "SMTP_PASSWORD",
                                "valueFrom": {
                                    "secretKeyRef": {"name": "smtp-password", "key": "3"}
                                },
                            },
                        ],
                        "startupProbe": {"tcpSocket": {"port": 8080}},
                    }
                ],
            },
        },
        "traffics": [{"latestRevision": True, "percent": 100}],
    }
