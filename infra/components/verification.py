"""Post-deploy verification: the component that gates `pulumi up` on the service contract.

`Verification` owns one `DeploymentCheck` (infra/providers/deployment_check.py). It takes the
service's URL, latest ready revision and image digest as inputs, so it runs after the service; it
runs again whenever one of them changes. With `verifyDeployment` false it is still declared but
checks nothing (its `summary` says so), and the stack exports the switch.

Declare the retention resource with `depends_on=[verification]`: a failed gate then stops the
pruning, so the revisions a rollback needs are still there. `revision_slack=1` (the default)
tells the revision-count check that this deploy's new revision has not been pruned for yet.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import pulumi

from infra.components.options import child_options
from infra.config import Settings
from infra.probes.verify import DEFAULT_POLICY, HttpPolicy
from infra.providers.deployment_check import DeploymentCheck
from infra.rules.checks import DEFAULT_CHECK_LINES, parse_checks

TYPE = "emergence:verification:Verification"


@dataclass
class VerificationArgs:
    enabled: bool
    stack: str
    project: str
    region: str
    service_name: str
    service_url: pulumi.Input[str]
    revision: pulumi.Input[str]  # the service's latest ready revision
    image_digest: pulumi.Input[str]
    checks: Sequence[str] = DEFAULT_CHECK_LINES
    rollback_revision: str | None = None  # when set, traffic must be 100% on it
    revisions_to_keep: int = 3
    allowed_services: Sequence[str] = ()
    admin_api: bool = True  # traffic, leftover services and revision count via the Admin API
    revision_slack: int = 1  # retention prunes after this check (see the module docstring)
    private: bool = False  # publicAccess=private: the checks carry a Google ID token
    http: HttpPolicy = DEFAULT_POLICY

    @classmethod
    def from_settings(
        cls,
        settings: Settings,
        *,
        service_url: pulumi.Input[str],
        revision: pulumi.Input[str],
        image_digest: pulumi.Input[str],
    ) -> VerificationArgs:
        return cls(
            enabled=settings.verify_deployment,
            stack=settings.stack,
            project=settings.project,
            region=settings.region,
            service_name=settings.service.name,
            service_url=service_url,
            revision=revision,
            image_digest=image_digest,
            checks=settings.verify_checks,
            rollback_revision=settings.rollback_revision,
            revisions_to_keep=settings.retention.revisions_to_keep,
            allowed_services=settings.verify_allowed_services,
            private=settings.service.public_access == "private",
        )


class Verification(pulumi.ComponentResource):
    """Fails `pulumi up` when the deployed service breaks the contract (unless switched off)."""

    enabled: bool
    summary: pulumi.Output[str]
    passed: pulumi.Output[bool | None]
    verified_revision: pulumi.Output[str]

    def __init__(
        self, name: str, args: VerificationArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__(TYPE, name, None, opts)
        parse_checks(list(args.checks))  # CheckSpecError names emergence-cloudrun:verifyChecks
        if not 1 <= args.revisions_to_keep <= 3:
            raise ValueError(
                f"Verification: revisions_to_keep {args.revisions_to_keep} not in 1..3"
            )
        if args.revision_slack < 0:
            raise ValueError("Verification: revision_slack must not be negative")
        policy = args.http
        self.check = DeploymentCheck(
            f"{name}-check",
            {
                "enabled": args.enabled,
                "stack": args.stack,
                "project": args.project,
                "region": args.region,
                "serviceName": args.service_name,
                "url": args.service_url,
                "revision": args.revision,
                "imageDigest": args.image_digest,
                "expectedRevision": args.rollback_revision or "",
                "checks": list(args.checks),
                "adminApi": args.admin_api,
                "allowedServices": list(args.allowed_services),
                "revisionsToKeep": args.revisions_to_keep,
                "revisionSlack": args.revision_slack,
                "invokerToken": args.private,
                "http": {
                    "connectTimeout": policy.connect_timeout,
                    "readTimeout": policy.read_timeout,
                    "attempts": policy.attempts,
                    "backoff": policy.backoff,
                    "backoffMax": policy.backoff_max,
                    "budget": policy.budget,
                },
            },
            child_options(self, opts),
        )
        self.enabled = args.enabled
        self.summary = self.check.summary
        self.passed = self.check.passed
        self.verified_revision = self.check.verifiedRevision
        self.register_outputs(
            {
                "enabled": self.enabled,
                "summary": self.summary,
                "passed": self.passed,
                "verifiedRevision": self.verified_revision,
            }
        )
