"""Revision retention, the component: after each deploy, keep the newest ready revisions.

`Retention` (type `emergence:retention:Retention`) owns one Pulumi dynamic resource,
`RevisionRetention` (infra/providers/retention.py), whose Python provider lists the service's
revisions, decides with infra/rules/retention.py and deletes the rest at `pulumi up`; see that
module for when it runs and how it fails.
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi

from infra.components.options import child_options
from infra.config import Settings
from infra.providers.retention import (
    DEFAULT_OPERATION_TIMEOUT,
    MAX_KEEP,
    MIN_KEEP,
    RevisionRetention,
)

RESOURCE_TYPE = "emergence:retention:Retention"


@dataclass
class RetentionArgs:
    """Inputs of `Retention`.

    latest_revision: the service's latest ready revision (cloudrunv2.Service output
        `latest_ready_revision`): retention runs when it changes.
    image_digest: the deployed image digest (also a trigger; optional).
    revisions_to_keep: 1..3 ready revisions to keep (settings key revisionsToKeep).
    dry_run: report only (retentionDryRun).
    pinned_revision: the rollback target (rollbackRevision), never deleted.
    """

    project: pulumi.Input[str]
    location: pulumi.Input[str]
    service_name: pulumi.Input[str]
    latest_revision: pulumi.Input[str]
    image_digest: pulumi.Input[str] = ""
    revisions_to_keep: int = MAX_KEEP
    dry_run: bool = False
    pinned_revision: str = ""
    operation_timeout_seconds: int = DEFAULT_OPERATION_TIMEOUT

    @classmethod
    def from_settings(
        cls,
        settings: Settings,
        *,
        service_name: pulumi.Input[str],
        latest_revision: pulumi.Input[str],
        image_digest: pulumi.Input[str] = "",
    ) -> RetentionArgs:
        return cls(
            project=settings.project,
            location=settings.region,
            service_name=service_name,
            latest_revision=latest_revision,
            image_digest=image_digest,
            revisions_to_keep=settings.retention.revisions_to_keep,
            dry_run=settings.retention.dry_run,
            pinned_revision=settings.rollback_revision or "",
        )

    def validate(self) -> None:
        if isinstance(self.revisions_to_keep, bool) or not isinstance(self.revisions_to_keep, int):
            raise ValueError("RetentionArgs.revisions_to_keep must be an integer")
        if not MIN_KEEP <= self.revisions_to_keep <= MAX_KEEP:
            raise ValueError(
                f"RetentionArgs.revisions_to_keep must be {MIN_KEEP}..{MAX_KEEP} "
                f"(emergence-cloudrun:revisionsToKeep), got {self.revisions_to_keep}"
            )
        if self.operation_timeout_seconds <= 0:
            raise ValueError("RetentionArgs.operation_timeout_seconds must be positive")


class Retention(pulumi.ComponentResource):
    """Keeps the service's newest ready revisions; see the module docstring.

    Outputs: `kept`, `deleted`, `would_delete` (dry run), `summary`.
    """

    def __init__(
        self, name: str, args: RetentionArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        args.validate()
        super().__init__(RESOURCE_TYPE, name, None, opts)
        self.revisions = RevisionRetention(
            f"{name}-revisions",
            {
                "project": args.project,
                "location": args.location,
                "service": args.service_name,
                "revisionsToKeep": args.revisions_to_keep,
                "dryRun": args.dry_run,
                "pinnedRevision": args.pinned_revision,
                "latestRevision": args.latest_revision,
                "imageDigest": args.image_digest,
                "operationTimeoutSeconds": args.operation_timeout_seconds,
            },
            child_options(self, opts),
        )
        self.kept = self.revisions.kept
        self.deleted = self.revisions.deleted
        self.would_delete = self.revisions.wouldDelete
        self.summary = self.revisions.summary
        self.register_outputs(
            {
                "kept": self.kept,
                "deleted": self.deleted,
                "would_delete": self.would_delete,
                "summary": self.summary,
            }
        )
