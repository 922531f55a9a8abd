"""The one Cloud Run v2 service, `emergence-app`.

Image by digest; the guide's e-mail settings and the app's own plain env (`appEnv`) as env
vars; SMTP_PASSWORD as a Secret Manager reference pinned to the created version, and the
existing secrets the app reads (`appSecretEnv`) pinned to their versions; startup and liveness
probes on the health path; all traffic on the latest revision, or pinned to one revision for a
rollback.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import pulumi
import pulumi_gcp as gcp

from infra.components.options import child_options
from infra.config import ENV_NAME, SECRET_LOOKING_ENV, ServiceSettings, Settings
from infra.rules.adoption import (
    GCLOUD_MANAGED_SERVICE_FIELDS,
    INVOKER_ROLE,
    PUBLIC_MEMBER,
    iam_member_import_id,
    service_import_id,
)

LATEST = "TRAFFIC_TARGET_ALLOCATION_TYPE_LATEST"
REVISION = "TRAFFIC_TARGET_ALLOCATION_TYPE_REVISION"

_RESERVED_ENV = re.compile(r"^(?:PORT|K_[A-Z0-9_]*)$")  # set by Cloud Run itself
_VERSION = re.compile(r"^[1-9][0-9]*$")


@dataclass
class SecretEnv:
    """An env var read from Secret Manager at instance start."""

    name: str
    secret: pulumi.Input[str]  # secret id
    version: pulumi.Input[str]  # a version number, never "latest"


@dataclass
class AppServiceArgs:
    project: str
    region: str
    settings: ServiceSettings
    image: pulumi.Input[str]  # <repository>@sha256:<digest>
    service_account_email: pulumi.Input[str]
    env: Mapping[str, str] = field(default_factory=dict)
    secret_env: Sequence[SecretEnv] = ()
    rollback_revision: str | None = None
    # Adoption (infra/rules/adoption.py): import the existing service / allUsers invoker binding.
    import_id: str | None = None
    invoker_import_id: str | None = None

    @classmethod
    def from_settings(
        cls,
        settings: Settings,
        *,
        image: pulumi.Input[str],
        service_account_email: pulumi.Input[str],
        secret_env: Sequence[SecretEnv] = (),
        import_id: str | None = None,
        invoker_import_id: str | None = None,
    ) -> AppServiceArgs:
        return cls(
            project=settings.project,
            region=settings.region,
            settings=settings.service,
            image=image,
            service_account_email=service_account_email,
            env=settings.plain_env(),
            secret_env=secret_env,
            rollback_revision=settings.rollback_revision,
            import_id=import_id,
            invoker_import_id=invoker_import_id,
        )


def traffic_targets(rollback_revision: str | None) -> list[dict[str, object]]:
    """Exactly one target at 100%: the latest revision, or the pinned rollback revision."""
    if rollback_revision:
        return [{"type": REVISION, "revision": rollback_revision, "percent": 100}]
    return [{"type": LATEST, "percent": 100}]


def validate_env(env: Mapping[str, str], secret_env: Sequence[SecretEnv]) -> None:
    """The settings refuse all of this by key first (infra/config.py); the component refuses
    it too, for any caller."""
    names = [*env, *(s.name for s in secret_env)]
    for name in names:
        if not ENV_NAME.match(name):
            raise ValueError(f"AppService: {name!r} is not a valid environment variable name")
        if _RESERVED_ENV.match(name):
            raise ValueError(f"AppService: {name} is set by Cloud Run and cannot be declared")
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise ValueError(f"AppService: env vars declared twice: {', '.join(duplicates)}")
    plain_secrets = sorted(n for n in env if SECRET_LOOKING_ENV.search(n))
    if plain_secrets:
        raise ValueError(
            f"AppService: {', '.join(plain_secrets)} look like secrets; pass them as "
            "secret_env (a Secret Manager reference), never as a plain value"
        )
    for s in secret_env:
        if isinstance(s.version, str) and not _VERSION.match(s.version):
            raise ValueError(f"AppService: pin {s.name} to a version number, not {s.version!r}")
        if isinstance(s.version, int) and s.version < 1:
            raise ValueError(f"AppService: pin {s.name} to a version number, not {s.version!r}")


def _check_import_ids(args: AppServiceArgs) -> None:
    """An import id must name the very service (and binding) this component declares."""
    s = args.settings
    service = service_import_id(args.project, args.region, s.name)
    if args.import_id is not None and args.import_id != service:
        raise ValueError(f"AppService: import id {args.import_id!r} is not {service!r}")
    if args.invoker_import_id is not None:
        if s.public_access != "allUsers":
            raise ValueError("AppService: no allUsers invoker binding is declared to import")
        member = iam_member_import_id(service, INVOKER_ROLE, PUBLIC_MEMBER)
        if args.invoker_import_id != member:
            raise ValueError(
                f"AppService: invoker import id {args.invoker_import_id!r} is not {member!r}"
            )


def _require_digest(image: str) -> str:
    if "@sha256:" not in image:
        raise ValueError(f"AppService: the image must be given by digest, got {image!r}")
    return image


class AppService(pulumi.ComponentResource):
    service: gcp.cloudrunv2.Service
    uri: pulumi.Output[str]
    latest_ready_revision: pulumi.Output[str]
    latest_created_revision: pulumi.Output[str]

    def __init__(self, name: str, args: AppServiceArgs, opts: pulumi.ResourceOptions | None = None):
        s = args.settings
        validate_env(args.env, args.secret_env)
        if args.rollback_revision and not args.rollback_revision.startswith(f"{s.name}-"):
            raise ValueError(
                f"AppService: {args.rollback_revision!r} is not a revision of {s.name!r}"
            )
        super().__init__("emergence:service:AppService", name, None, opts)
        _check_import_ids(args)
        image = pulumi.Output.from_input(args.image).apply(_require_digest)
        envs = [
            gcp.cloudrunv2.ServiceTemplateContainerEnvArgs(name=k, value=v)
            for k, v in args.env.items()
        ]
        envs += [
            gcp.cloudrunv2.ServiceTemplateContainerEnvArgs(
                name=ref.name,
                value_source=gcp.cloudrunv2.ServiceTemplateContainerEnvValueSourceArgs(
                    secret_key_ref=gcp.cloudrunv2.ServiceTemplateContainerEnvValueSourceSecretKeyRefArgs(
                        secret=ref.secret,
                        version=ref.version,
                    ),
                ),
            )
            for ref in args.secret_env
        ]
        probe_get = {"path": s.startup_probe.path, "port": s.container_port}
        container = gcp.cloudrunv2.ServiceTemplateContainerArgs(
            name="app",
            image=image,
            ports=gcp.cloudrunv2.ServiceTemplateContainerPortsArgs(
                name="http1", container_port=s.container_port
            ),
            envs=envs,
            resources=gcp.cloudrunv2.ServiceTemplateContainerResourcesArgs(
                limits={"cpu": s.cpu, "memory": s.memory},
                cpu_idle=s.cpu_idle,
                startup_cpu_boost=s.startup_cpu_boost,
            ),
            startup_probe=gcp.cloudrunv2.ServiceTemplateContainerStartupProbeArgs(
                http_get=gcp.cloudrunv2.ServiceTemplateContainerStartupProbeHttpGetArgs(
                    **probe_get
                ),
                initial_delay_seconds=s.startup_probe.initial_delay_seconds,
                period_seconds=s.startup_probe.period_seconds,
                timeout_seconds=s.startup_probe.timeout_seconds,
                failure_threshold=s.startup_probe.failure_threshold,
            ),
            liveness_probe=gcp.cloudrunv2.ServiceTemplateContainerLivenessProbeArgs(
                http_get=gcp.cloudrunv2.ServiceTemplateContainerLivenessProbeHttpGetArgs(
                    path=s.liveness_probe.path, port=s.container_port
                ),
                period_seconds=s.liveness_probe.period_seconds,
                timeout_seconds=s.liveness_probe.timeout_seconds,
                failure_threshold=s.liveness_probe.failure_threshold,
            ),
        )
        self.service = gcp.cloudrunv2.Service(
            f"{name}-service",
            name=s.name,
            project=args.project,
            location=args.region,
            description="emergence-app, deployed by emergence-cloudrun (pulumi up).",
            ingress="INGRESS_TRAFFIC_ALL",
            deletion_protection=s.deletion_protection,
            invoker_iam_disabled=s.public_access == "invokerIamDisabled",
            labels={"managed-by": "pulumi", "app": "emergence"},
            template=gcp.cloudrunv2.ServiceTemplateArgs(
                service_account=args.service_account_email,
                containers=[container],
                scaling=gcp.cloudrunv2.ServiceTemplateScalingArgs(
                    min_instance_count=s.min_instances,
                    max_instance_count=s.max_instances,
                ),
                max_instance_request_concurrency=s.concurrency,
                timeout=f"{s.request_timeout_seconds}s",
            ),
            traffics=[
                gcp.cloudrunv2.ServiceTrafficArgs(**target)
                for target in traffic_targets(args.rollback_revision)
            ],
            opts=child_options(
                self,
                opts,
                custom_timeouts=pulumi.CustomTimeouts(create="15m", update="15m", delete="10m"),
                import_=args.import_id,
                ignore_changes=list(GCLOUD_MANAGED_SERVICE_FIELDS),
            ),
        )
        self.invoker = None
        if s.public_access == "allUsers":
            self.invoker = gcp.cloudrunv2.ServiceIamMember(
                f"{name}-public-invoker",
                project=args.project,
                location=args.region,
                name=self.service.name,
                role=INVOKER_ROLE,
                member=PUBLIC_MEMBER,
                opts=child_options(self, opts, import_=args.invoker_import_id),
            )
        self.uri = self.service.uri
        self.latest_ready_revision = self.service.latest_ready_revision
        self.latest_created_revision = self.service.latest_created_revision
        self.register_outputs(
            {
                "uri": self.uri,
                "latest_ready_revision": self.latest_ready_revision,
                "latest_created_revision": self.latest_created_revision,
            }
        )
