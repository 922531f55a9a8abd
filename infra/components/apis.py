"""The Google APIs the stack needs, enabled and never disabled on destroy."""

from __future__ import annotations

import re
from dataclasses import dataclass

import pulumi
import pulumi_gcp as gcp

from infra.components.options import child_options
from infra.config import Settings

REQUIRED_APIS: tuple[str, ...] = (
    "run.googleapis.com",
    "artifactregistry.googleapis.com",
    "secretmanager.googleapis.com",
    "iam.googleapis.com",
)
# Uptime checks, alert policies, dashboards and log-based metrics (monitoringEnabled).
MONITORING_APIS: tuple[str, ...] = ("monitoring.googleapis.com", "logging.googleapis.com")

_API = re.compile(r"^[a-z0-9-]+(\.[a-z0-9-]+)*\.googleapis\.com$")


@dataclass
class ProjectApisArgs:
    project: str
    services: tuple[str, ...] = REQUIRED_APIS

    @classmethod
    def from_settings(cls, settings: Settings) -> ProjectApisArgs:
        extra = MONITORING_APIS if settings.monitoring.enabled else ()
        return cls(project=settings.project, services=(*REQUIRED_APIS, *extra))


class ProjectApis(pulumi.ComponentResource):
    """Enables each API; `disable_on_destroy=False` so a destroy never cuts other users off."""

    def __init__(
        self, name: str, args: ProjectApisArgs, opts: pulumi.ResourceOptions | None = None
    ):
        bad = [s for s in args.services if not _API.match(s)]
        if bad:
            raise ValueError(f"ProjectApis: not Google API service names: {', '.join(bad)}")
        if len(set(args.services)) != len(args.services):
            raise ValueError("ProjectApis: a service is listed twice")
        super().__init__("emergence:apis:ProjectApis", name, None, opts)
        self.services = [
            gcp.projects.Service(
                f"{name}-{service.split('.')[0]}",
                project=args.project,
                service=service,
                disable_on_destroy=False,
                disable_dependent_services=False,
                opts=child_options(self, opts),
            )
            for service in args.services
        ]
        self.register_outputs({"services": [s.service for s in self.services]})
