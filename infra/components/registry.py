"""Artifact Registry repository for the app image, with cleanup policies.

Cleanup does not know which images Cloud Run runs, so the KEEP policy retains at least as many
recent versions as revisions are kept (a rollback target's image is never deleted; KEEP beats
DELETE) and only untagged images past an age are deleted.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import pulumi
import pulumi_gcp as gcp

from infra.components.options import child_options
from infra.config import Settings
from infra.rules.adoption import repository_import_id

SECONDS_PER_DAY = 86_400
_REPOSITORY_ID = re.compile(r"^[a-z](?:[-a-z0-9]{0,61}[a-z0-9])?$")


@dataclass
class ArtifactRepositoryArgs:
    project: str
    region: str
    repository_id: str
    images_to_keep: int
    revisions_to_keep: int
    untagged_max_age_days: int
    cleanup_dry_run: bool = False
    import_id: str | None = (
        None  # adoption: import the existing repository (infra/rules/adoption.py)
    )

    @classmethod
    def from_settings(
        cls, settings: Settings, import_id: str | None = None
    ) -> ArtifactRepositoryArgs:
        return cls(
            project=settings.project,
            region=settings.region,
            repository_id=settings.registry.repository_id,
            images_to_keep=settings.registry.images_to_keep,
            revisions_to_keep=settings.retention.revisions_to_keep,
            untagged_max_age_days=settings.registry.untagged_max_age_days,
            import_id=import_id,
        )


def cleanup_policies(
    args: ArtifactRepositoryArgs,
) -> list[gcp.artifactregistry.RepositoryCleanupPolicyArgs]:
    return [
        gcp.artifactregistry.RepositoryCleanupPolicyArgs(
            id="keep-recent-versions",
            action="KEEP",
            most_recent_versions=gcp.artifactregistry.RepositoryCleanupPolicyMostRecentVersionsArgs(
                keep_count=args.images_to_keep,
            ),
        ),
        gcp.artifactregistry.RepositoryCleanupPolicyArgs(
            id="delete-old-untagged",
            action="DELETE",
            condition=gcp.artifactregistry.RepositoryCleanupPolicyConditionArgs(
                tag_state="UNTAGGED",
                # The API returns durations in seconds; any other unit diffs on every preview.
                older_than=f"{args.untagged_max_age_days * SECONDS_PER_DAY}s",
            ),
        ),
    ]


class ArtifactRepository(pulumi.ComponentResource):
    """A Docker repository `<region>-docker.pkg.dev/<project>/<repository_id>`."""

    repository: gcp.artifactregistry.Repository
    url: pulumi.Output[str]

    def __init__(
        self, name: str, args: ArtifactRepositoryArgs, opts: pulumi.ResourceOptions | None = None
    ):
        if not _REPOSITORY_ID.match(args.repository_id):
            raise ValueError(f"ArtifactRepository: bad repository id {args.repository_id!r}")
        if args.images_to_keep < args.revisions_to_keep:
            raise ValueError(
                f"ArtifactRepository: images_to_keep ({args.images_to_keep}) must be at least "
                f"revisions_to_keep ({args.revisions_to_keep}), or rollback images get deleted"
            )
        if args.untagged_max_age_days < 1:
            raise ValueError("ArtifactRepository: untagged_max_age_days must be at least 1")
        expected = repository_import_id(args.project, args.region, args.repository_id)
        if args.import_id is not None and args.import_id != expected:
            raise ValueError(
                f"ArtifactRepository: import id {args.import_id!r} is not {expected!r}"
            )
        super().__init__("emergence:registry:ArtifactRepository", name, None, opts)
        self.repository = gcp.artifactregistry.Repository(
            f"{name}-repository",
            project=args.project,
            location=args.region,
            repository_id=args.repository_id,
            format="DOCKER",
            mode="STANDARD_REPOSITORY",
            description="emergence-app images, pushed by `pulumi up` (emergence-cloudrun).",
            cleanup_policy_dry_run=args.cleanup_dry_run,
            cleanup_policies=cleanup_policies(args),
            opts=child_options(self, opts, import_=args.import_id),
        )
        self.url = pulumi.Output.concat(
            args.region, "-docker.pkg.dev/", args.project, "/", self.repository.repository_id
        )
        self.register_outputs({"url": self.url, "id": self.repository.id})
