"""Adopting the hand-made production: which resources `adoptExisting` imports, and their ids.

Today's production was made by hand with gcloud: the Cloud Run service `emergence-app` (public
through an allUsers invoker binding, `--allow-unauthenticated`), the Secret Manager secret
`SMTP_PASSWORD` and the Artifact Registry repository `app`. With `adoptExisting: true` the
program declares them exactly as it always does and adds Pulumi's `import_` option, so the first
`pulumi up` takes them over (import, then update in place) instead of failing with "already
exists". Everything else is new and created: the runtime service account and its roles, a new
secret version holding the stack's password (the live versions are left as they are), the
accessor binding, the image. Enabling an API that is already enabled changes nothing.

Import ids are the first format each resource's pulumi-gcp documentation lists under "Import"
(the same text ships in the installed SDK's docstrings, pulumi_gcp 10.2.0, and comes from
terraform-provider-google's import documentation):
  cloudrunv2.Service            projects/{{project}}/locations/{{location}}/services/{{name}}
      https://www.pulumi.com/registry/packages/gcp/api-docs/cloudrunv2/service/#import
  cloudrunv2.ServiceIamMember   "<service path> <role> <member>" (space separated)
      https://www.pulumi.com/registry/packages/gcp/api-docs/cloudrunv2/serviceiammember/#import
  secretmanager.Secret          projects/{{project}}/secrets/{{secret_id}}
      https://www.pulumi.com/registry/packages/gcp/api-docs/secretmanager/secret/#import
  artifactregistry.Repository   projects/{{project}}/locations/{{location}}/repositories/
                                {{repository_id}}  (one line)
      https://www.pulumi.com/registry/packages/gcp/api-docs/artifactregistry/repository/#import
tests/program/test_adoption.py checks these formats against the installed SDK's own "Import"
sections.

Pure functions only: the CLI (`python -m infra adopt`) and the program share them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # settings are data here: a type, not a dependency
    from infra.config import Settings

SERVICE_TYPE = "gcp:cloudrunv2/service:Service"
INVOKER_TYPE = "gcp:cloudrunv2/serviceIamMember:ServiceIamMember"
SECRET_TYPE = "gcp:secretmanager/secret:Secret"  # noqa: S105 - a type token
REPOSITORY_TYPE = "gcp:artifactregistry/repository:Repository"
INVOKER_ROLE = "roles/run.invoker"
PUBLIC_MEMBER = "allUsers"
SMTP_SECRET_ID = "SMTP_PASSWORD"  # noqa: S105 - the secret's name, as in the guide

# Fields gcloud and the console write on a Cloud Run service that this program never declares:
# left alone, the first `up` after adoption would "fix" them (PITFALLS, Cloud Run). Pulumi
# property names (camelCase), as the engine compares them.
GCLOUD_MANAGED_SERVICE_FIELDS: tuple[str, ...] = (
    "client",
    "clientVersion",
    "annotations",
    "template.annotations",
)


def service_import_id(project: str, region: str, name: str) -> str:
    return f"projects/{project}/locations/{region}/services/{name}"


def secret_import_id(project: str, secret_id: str) -> str:
    return f"projects/{project}/secrets/{secret_id}"


def repository_import_id(project: str, region: str, repository_id: str) -> str:
    return f"projects/{project}/locations/{region}/repositories/{repository_id}"


def iam_member_import_id(resource: str, role: str, member: str) -> str:
    """IAM members import as "<resource path> <role> <member>", space separated."""
    if any(" " in part for part in (resource, role, member)) or not all((resource, role, member)):
        raise ValueError(f"IAM member import id parts must be non-empty words: {resource!r}")
    return f"{resource} {role} {member}"


@dataclass(frozen=True)
class ImportIds:
    """What `adoptExisting` imports; None: declared and created as usual."""

    service: str | None = None
    invoker: str | None = None
    secret: str | None = None
    repository: str | None = None

    def any(self) -> bool:
        return any((self.service, self.invoker, self.secret, self.repository))


NO_IMPORTS = ImportIds()


def import_ids(settings: Settings) -> ImportIds:
    """The import ids for the stack's settings (NO_IMPORTS unless adoptExisting is true)."""
    if not settings.adopt_existing:
        return NO_IMPORTS
    service = service_import_id(settings.project, settings.region, settings.service.name)
    public = settings.service.public_access == "allUsers"
    return ImportIds(
        service=service,
        invoker=iam_member_import_id(service, INVOKER_ROLE, PUBLIC_MEMBER) if public else None,
        secret=(
            secret_import_id(settings.project, SMTP_SECRET_ID)
            if settings.smtp.password_configured
            else None
        ),
        repository=repository_import_id(
            settings.project, settings.region, settings.registry.repository_id
        ),
    )


@dataclass(frozen=True)
class LiveCheck:
    """What must already be true of a live resource for its import to change it in place."""

    what: str
    command: str  # a read-only gcloud command that shows it
    expect: str  # what the command must show


def live_checks(settings: Settings) -> list[LiveCheck]:
    """Read-only checks to run before adopting: replacement-forcing fields must match.

    A mismatch in these fields would make `pulumi up` replace the resource (delete and
    recreate), which for the service means downtime and, with deletion protection, a failure.
    """
    p, r = settings.project, settings.region
    name, repo = settings.service.name, settings.registry.repository_id
    checks = [
        LiveCheck(
            f"Cloud Run service {name} (name, project, region force replacement)",
            f"gcloud run services describe {name} --project {p} --region {r} "
            "--format='value(metadata.name)'",
            f"prints {name}",
        ),
        LiveCheck(
            f"Artifact Registry repository {repo} (format, mode, location, KMS key force "
            "replacement)",
            f"gcloud artifacts repositories describe {repo} --project {p} --location {r} "
            "--format='yaml(format,mode,kmsKeyName)'",
            "format: DOCKER, mode: STANDARD_REPOSITORY, no kmsKeyName",
        ),
        LiveCheck(
            f"cleanup policies of {repo} (the declared ones replace them)",
            f"gcloud artifacts repositories describe {repo} --project {p} --location {r} "
            "--format='yaml(cleanupPolicies,cleanupPolicyDryRun)'",
            "nothing you need to keep beyond the declared KEEP/DELETE pair",
        ),
    ]
    if settings.smtp.password_configured:
        checks.append(
            LiveCheck(
                f"Secret Manager secret {SMTP_SECRET_ID} (replication forces replacement)",
                f"gcloud secrets describe {SMTP_SECRET_ID} --project {p} "
                "--format='yaml(replication)'",
                "replication: automatic: {}",
            )
        )
    if settings.service.public_access == "allUsers":
        checks.append(
            LiveCheck(
                f"public invoker binding on {name} (from --allow-unauthenticated)",
                f"gcloud run services get-iam-policy {name} --project {p} --region {r} "
                "--format=json",
                f"a binding of {INVOKER_ROLE} with member {PUBLIC_MEMBER}",
            )
        )
    return checks
